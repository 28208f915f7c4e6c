"""A connector for BCB's API Pix (github.com/bacen/pix-api): the Pix a PSP received.

The PSP receiving for the vendor exposes the standard API: OAuth2 client credentials at its
token URL and every call over mutual TLS with the certificate it issued (Manual de Segurança
do Pix). The node only reads: `GET /pix?inicio&fim` (scope `pix.read`), every page, and turns
each `Pix` object (endToEndId, txid, valor, horario) into a ProviderCredit. The txid filter is
not used: static QR txids are 1-25 characters, which the API's TxId pattern has refused
(bacen/pix-api#269), and one window query answers for every waiting order at once.

One long-lived httpx client (DESIGN §6: a new one costs ~21 ms for its SSL context); the token
is kept until shortly before it expires and fetched again after a 401.
"""

from __future__ import annotations

import re
import ssl
import time
from datetime import UTC, datetime

import httpx
import msgspec

from appliance.domain.errors import MoneyError
from appliance.domain.money import Money
from appliance.domain.provider_match import ProviderCredit
from appliance.providers.errors import ProviderLied, ProviderRefused, ProviderUnreachable
from appliance.providers.settings import Credentials, ProviderSettings

PAGE_SIZE = 100
MAX_PAGES = 50  # 5,000 Pix in one window: far past a stall's day; the rest waits a poll
TOKEN_MARGIN_S = 30.0
E2E = re.compile(r"[a-zA-Z0-9]{32}")
VALOR = re.compile(r"\d{1,10}\.\d{2}")
TXID = re.compile(r"[a-zA-Z0-9]{1,35}")


class _Token(msgspec.Struct):
    access_token: str
    expires_in: int = 3600


class _Pix(msgspec.Struct):
    endToEndId: str
    valor: str
    horario: str
    txid: str = ""
    chave: str = ""  # the payee's key (the API's Pix.chave, at most 77 characters)


class _Paginacao(msgspec.Struct):
    quantidadeDePaginas: int = 1


class _Parametros(msgspec.Struct):
    paginacao: _Paginacao = msgspec.field(default_factory=_Paginacao)


class _Consulta(msgspec.Struct):
    parametros: _Parametros = msgspec.field(default_factory=_Parametros)
    pix: list[_Pix] = []


def rfc3339(at: datetime) -> str:
    """A UTC time as the API's query wants it: 2026-12-04T18:00:00Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tls_context(credentials: Credentials) -> ssl.SSLContext:
    """Verify the PSP (its CA file, else the system's) and show it the client certificate."""
    cafile = str(credentials.ca_file) if credentials.ca_file else None
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(credentials.cert_file, credentials.key_file)
    return context


def credit_of(pix: _Pix, where: str) -> ProviderCredit:
    """One `Pix` object as a ProviderCredit; ProviderLied naming the field if it is malformed."""
    if not E2E.fullmatch(pix.endToEndId):
        raise ProviderLied(f"{where}.endToEndId: {pix.endToEndId!r} is not 32 letters/digits")
    if not VALOR.fullmatch(pix.valor):
        raise ProviderLied(f"{where}.valor: {pix.valor!r} is not an amount like 18.50")
    if pix.txid and not TXID.fullmatch(pix.txid):
        raise ProviderLied(f"{where}.txid: {pix.txid!r} is not 1-35 letters/digits")
    try:
        at = datetime.fromisoformat(pix.horario)
        amount = Money.parse(pix.valor, "BRL")
    except (ValueError, MoneyError) as exc:
        raise ProviderLied(f"{where}.horario: {pix.horario!r}: {exc}") from None
    if at.tzinfo is None:
        raise ProviderLied(f"{where}.horario: {pix.horario!r} has no offset (RFC 3339)")
    if len(pix.chave) > 77 or not pix.chave.isprintable():
        raise ProviderLied(f"{where}.chave: not a Pix key (at most 77 printable characters)")
    return ProviderCredit(pix.endToEndId, pix.txid, amount, at.astimezone(UTC), pix.chave)


class ApiPix:
    """The API Pix connector (appliance.providers.base.Provider)."""

    def __init__(
        self,
        settings: ProviderSettings,
        credentials: Credentials,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.name = settings.name
        self.settings = settings
        self._auth = (credentials.client_id, credentials.client_secret)
        self._client = httpx.AsyncClient(
            verify=tls_context(credentials), timeout=settings.timeout_s, transport=transport,
            headers={"Accept": "application/json"},
        )  # fmt: skip
        self._token: tuple[str, float] | None = None  # (token, monotonic expiry)

    async def credits(self, start: datetime, end: datetime) -> list[ProviderCredit]:
        """Every Pix received from `start` to `end`, all pages (at most MAX_PAGES)."""
        found: list[ProviderCredit] = []
        page, pages = 0, 1
        while page < min(pages, MAX_PAGES):
            params = {"inicio": rfc3339(start), "fim": rfc3339(end),
                      "paginacao.paginaAtual": str(page),
                      "paginacao.itensPorPagina": str(PAGE_SIZE)}  # fmt: skip
            body = await self._get("/pix", params)
            try:
                answer = msgspec.json.decode(body, type=_Consulta)
            except msgspec.DecodeError as exc:
                raise ProviderLied(f"GET /pix page {page}: {exc}") from None
            found.extend(credit_of(p, f"pix[{i}]") for i, p in enumerate(answer.pix))
            pages = max(1, answer.parametros.paginacao.quantidadeDePaginas)
            page += 1
        return found

    async def _get(self, path: str, params: dict[str, str]) -> bytes:
        """GET with a bearer token; one retry with a fresh token after a 401 or 403 (the API
        Pix answers a stale token with 403 AcessoNegado, e.g. after the PSP restarted)."""
        for attempt in (0, 1):
            token = await self._bearer()
            response = await self._send(
                "GET", self.settings.base_url + path, params=params,
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            if response.status_code in (401, 403) and attempt == 0:
                self._token = None
                continue
            _check(response, f"GET {path}")
            return response.content
        raise AssertionError("unreachable")  # pragma: no cover

    async def _bearer(self) -> str:
        """The cached access token, or a new one by client credentials."""
        if self._token is not None and time.monotonic() < self._token[1]:
            return self._token[0]
        response = await self._send(
            "POST", self.settings.token_url, auth=self._auth,
            data={"grant_type": "client_credentials", "scope": self.settings.scope},
        )  # fmt: skip
        _check(response, "token")
        try:
            token = msgspec.json.decode(response.content, type=_Token)
        except msgspec.DecodeError as exc:
            raise ProviderLied(f"token: {exc}") from None
        life = max(1.0, token.expires_in - TOKEN_MARGIN_S)
        self._token = (token.access_token, time.monotonic() + life)
        return token.access_token

    async def _send(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        try:
            return await self._client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException:
            raise ProviderUnreachable(f"{method} {url}: no answer in time") from None
        except httpx.TransportError as exc:
            raise ProviderUnreachable(f"{method} {url}: {exc or type(exc).__name__}") from None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _check(response: httpx.Response, what: str) -> None:
    """Map an answer's status: 5xx/429 unreachable (retry), other 4xx refused (an alarm)."""
    status = response.status_code
    if status < 300:
        return
    if status >= 500 or status == 429:
        raise ProviderUnreachable(f"{what}: the PSP answered {status}")
    raise ProviderRefused(f"{what}: the PSP refused with {status} (check the credentials)")
