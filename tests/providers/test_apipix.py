"""The API Pix connector against answers made here (httpx.MockTransport): pages, tokens, lies.

The real process over mutual TLS is tests/e2e/test_psp.py; here each failure mode is one answer.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.providers.apipix import ApiPix
from appliance.providers.errors import ProviderLied, ProviderRefused, ProviderUnreachable
from appliance.providers.settings import Credentials, ProviderSettings

SETTINGS = ProviderSettings("apipix", "pix", "psp", "https://psp.test/api/v2",
                            "https://psp.test/oauth/token", "pix.read", 1.0, 60.0, 1.0, 24)  # fmt: skip
START = datetime.datetime(2026, 12, 4, 18, 0, tzinfo=datetime.UTC)
PIX = {"endToEndId": "E18236120202612041800abcdefghijk", "txid": "001X", "valor": "18.50",
       "horario": "2026-12-04T18:01:02.345Z"}  # fmt: skip


@pytest.fixture
def credentials(tmp_path: Path) -> Credentials:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))  # fmt: skip
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "c.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))  # fmt: skip
    return Credentials(tmp_path / "c.pem", tmp_path / "c.key", None, "id", "s3cr3t-v4lue")


def connector(
    credentials: Credentials, pix: Callable[[httpx.Request], httpx.Response]
) -> tuple[ApiPix, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/oauth/token":
            assert request.headers["authorization"].startswith("Basic ")
            assert b"grant_type=client_credentials" in request.content
            return httpx.Response(200, json={"access_token": f"t{len(seen)}", "expires_in": 3600})
        return pix(request)

    return ApiPix(SETTINGS, credentials, transport=httpx.MockTransport(handle)), seen


def listing(items: list[dict[str, str]], pages: int = 1) -> httpx.Response:
    return httpx.Response(200, json={"parametros": {"paginacao": {"quantidadeDePaginas": pages}},
                                     "pix": items})  # fmt: skip


def ask(api: ApiPix) -> list[object]:
    async def go() -> list[object]:
        try:
            return list(await api.credits(START, START + datetime.timedelta(hours=1)))
        finally:
            await api.aclose()

    return asyncio.run(go())


def test_every_page_is_read_with_one_token(credentials: Credentials) -> None:
    def pix(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["paginacao.paginaAtual"])
        assert request.url.params["inicio"] == "2026-12-04T18:00:00Z"
        assert request.headers["authorization"] == "Bearer t1"
        return listing([{**PIX, "endToEndId": PIX["endToEndId"][:-1] + str(page)}], pages=3)

    api, seen = connector(credentials, pix)
    found = ask(api)
    assert len(found) == 3 and seen.count("POST /oauth/token") == 1


def test_a_stale_token_is_replaced_once(credentials: Credentials) -> None:
    def pix(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer t1":
            return httpx.Response(403, json={"type": "x", "title": "Acesso Negado", "status": 403})
        return listing([PIX])

    api, seen = connector(credentials, pix)
    assert len(ask(api)) == 1 and seen.count("POST /oauth/token") == 2


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (lambda r: httpx.Response(503), ProviderUnreachable),
        (lambda r: httpx.Response(429), ProviderUnreachable),
        (
            lambda r: (_ for _ in ()).throw(httpx.ConnectTimeout("slow", request=r)),
            ProviderUnreachable,
        ),
        (
            lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
            ProviderUnreachable,
        ),
        (lambda r: httpx.Response(403), ProviderRefused),
        (lambda r: httpx.Response(400), ProviderRefused),
        (lambda r: httpx.Response(200, content=b"<html>"), ProviderLied),
        (lambda r: listing([{**PIX, "valor": "18.5"}]), ProviderLied),
        (lambda r: listing([{**PIX, "endToEndId": "E123"}]), ProviderLied),
        (lambda r: listing([{**PIX, "horario": "2026-12-04T18:01:02"}]), ProviderLied),
        (lambda r: listing([{**PIX, "txid": "has space"}]), ProviderLied),
        (lambda r: listing([{"valor": "1.00", "horario": "2026-12-04T18:01:02Z"}]), ProviderLied),
    ],
)
def test_each_failure_is_its_own_error(
    credentials: Credentials,
    answer: Callable[[httpx.Request], httpx.Response],
    error: type[Exception],
) -> None:
    api, _ = connector(credentials, answer)
    with pytest.raises(error):
        ask(api)


def test_a_refused_token_request_is_refused(credentials: Credentials) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client"})

    api = ApiPix(SETTINGS, credentials, transport=httpx.MockTransport(handle))
    with pytest.raises(ProviderRefused, match="token"):
        ask(api)


def test_the_secret_is_never_in_the_credentials_repr(credentials: Credentials) -> None:
    assert "s3cr3t-v4lue" not in repr(credentials) and "s3cr3t-v4lue" not in str(credentials)


def test_the_payee_key_is_read_and_a_malformed_one_refused(credentials: Credentials) -> None:
    key = "0b6f6b4e-3c1e-4a1e-9d55-2f4c8e1a7b10"  # an EVP (the API's Pix.chave, maxLength 77)
    api, _ = connector(credentials, lambda r: listing([{**PIX, "chave": key}]))
    (found,) = ask(api)
    assert getattr(found, "chave", None) == key and found.paid_to(key.upper())  # type: ignore[attr-defined]
    assert not found.paid_to("+5511999990001")  # type: ignore[attr-defined]
    api, _ = connector(credentials, lambda r: listing([{**PIX, "chave": "x" * 78}]))
    with pytest.raises(ProviderLied, match=r"chave"):
        ask(api)
