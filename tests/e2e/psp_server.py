"""A test PSP: the API Pix endpoints the node's connector uses, over mutual TLS, as a process.

    python tests/e2e/psp_server.py --state FILE --cert C --key K --ca CA --client-id ID
        (the client secret comes in $PSP_CLIENT_SECRET, never on the command line)

Serves `POST /oauth/token` (client credentials, HTTP Basic), `GET /api/v2/pix?inicio&fim`
(pages: paginacao.paginaAtual / itensPorPagina) and `GET /api/v2/pix/{e2eid}`, answering only
clients whose certificate the test CA signed (CERT_REQUIRED) and only with a bearer token it
issued. Every answer is checked against BCB's published OpenAPI document before it is sent
(tests/e2e/apipix_schema.py); one that does not conform is answered 500 and counted, and
`GET /_test/violations` tells the test.

Test controls (same TLS): `POST /_test/pix` records a received Pix, as the PSP would when a
payer pays (`txid`, `valor`, optional `endToEndId`, `horario`) — a lying PSP is one the test
feeds a wrong amount, an unknown txid or a reused end-to-end id; `POST /_test/hang` leaves
every later /pix request unanswered, so a kill lands in the middle of a poll. The Pix list is kept in
`--state` (written atomically), so a PSP killed and started again still has every credit.
Prints `listening on https://127.0.0.1:PORT` when it accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import socket
import ssl
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent))
from apipix_schema import problems

PIX_LIST, PIX_ONE = "/pix", "/pix/{e2eid}"


class Psp:
    """The PSP's state: its client, issued tokens, received Pix (in a file) and violations."""

    def __init__(self, state: Path, client_id: str, secret: str) -> None:
        self.state, self.client_id, self.secret = state, client_id, secret
        self.tokens: set[str] = set()
        self.violations: list[str] = []
        self.requests = 0
        self.hang = False  # test control: the next /pix requests never get an answer

    def pix(self) -> list[dict[str, Any]]:
        if not self.state.exists():
            return []
        loaded: list[dict[str, Any]] = json.loads(self.state.read_text("utf-8"))
        return loaded

    def add(self, pix: dict[str, Any]) -> None:
        tmp = self.state.with_suffix(".tmp")
        tmp.write_text(json.dumps([*self.pix(), pix]), "utf-8")
        os.replace(tmp, self.state)


def answer(psp: Psp, path: str, status: int, body: Any) -> Response:
    """Send `body` only if it conforms to the document; else 500 and count the violation."""
    found = problems(path, "get", status, body)
    if found:
        psp.violations.extend(found)
        return JSONResponse({"violations": found}, 500)
    media = "application/json" if status == 200 else "application/problem+json"
    return JSONResponse(body, status, media_type=media)


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    """An RFC 7807 body as the API Pix shapes it (schema Problema)."""
    kind = {403: "AcessoNegado", 404: "NaoEncontrado"}.get(status, "ServicoIndisponivel")
    return {"type": f"https://pix.bcb.gov.br/api/v2/error/{kind}", "title": title,
            "status": status, "detail": detail}  # fmt: skip


def authorised(psp: Psp, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    return header.startswith("Bearer ") and header[7:] in psp.tokens


async def token(request: Request) -> Response:
    """OAuth2 client credentials (RFC 6749 §4.4), the client authenticated by HTTP Basic."""
    psp: Psp = request.app.state.psp
    psp.requests += 1
    expected = base64.b64encode(f"{psp.client_id}:{psp.secret}".encode()).decode()
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    if request.headers.get("authorization") != f"Basic {expected}":
        return JSONResponse({"error": "invalid_client"}, 401)
    if form.get("grant_type") != "client_credentials":
        return JSONResponse({"error": "unsupported_grant_type"}, 400)
    issued = secrets.token_urlsafe(24)
    psp.tokens.add(issued)
    return JSONResponse({"access_token": issued, "token_type": "Bearer", "expires_in": 3600,
                         "scope": str(form.get("scope", "pix.read"))})  # fmt: skip


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def list_pix(request: Request) -> Response:
    """GET /pix?inicio&fim: the Pix received in the window, one page."""
    psp: Psp = request.app.state.psp
    psp.requests += 1
    if psp.hang:
        await asyncio.Event().wait()  # until the process is killed: a poll cut in the middle
    if not authorised(psp, request):
        return answer(psp, PIX_LIST, 403, problem(403, "Acesso Negado", "token inválido"))
    query = request.query_params
    start, end = _time(query["inicio"]), _time(query["fim"])
    page = int(query.get("paginacao.paginaAtual", "0"))
    size = int(query.get("paginacao.itensPorPagina", "100"))
    found = [p for p in psp.pix() if start <= _time(p["horario"]) <= end]
    pages = max(1, -(-len(found) // size))
    body = {
        "parametros": {"inicio": query["inicio"], "fim": query["fim"],
                       "paginacao": {"paginaAtual": page, "itensPorPagina": size,
                                     "quantidadeDePaginas": pages,
                                     "quantidadeTotalDeItens": len(found)}},
        "pix": found[page * size : (page + 1) * size],
    }  # fmt: skip
    return answer(psp, PIX_LIST, 200, body)


async def one_pix(request: Request) -> Response:
    """GET /pix/{e2eid}: one Pix, or 404."""
    psp: Psp = request.app.state.psp
    psp.requests += 1
    if not authorised(psp, request):
        return answer(psp, PIX_ONE, 403, problem(403, "Acesso Negado", "token inválido"))
    wanted = request.path_params["e2eid"]
    for pix in psp.pix():
        if pix["endToEndId"] == wanted:
            return answer(psp, PIX_ONE, 200, pix)
    return answer(psp, PIX_ONE, 404, problem(404, "Não Encontrado", f"Pix {wanted}"))


def e2eid(at: datetime) -> str:
    """A well-formed end-to-end id: E, a payer ISPB, yyyyMMddHHmm, 11 random characters."""
    return "E18236120" + at.strftime("%Y%m%d%H%M") + secrets.token_hex(6)[:11]


async def pay(request: Request) -> Response:
    """Test control: record a received Pix (as when a payer pays)."""
    psp: Psp = request.app.state.psp
    asked = await request.json()
    at = datetime.now(UTC)
    pix = {"endToEndId": asked.get("endToEndId") or e2eid(at), "valor": asked["valor"],
           "horario": asked.get("horario") or at.isoformat(timespec="milliseconds")}  # fmt: skip
    if asked.get("txid"):
        pix["txid"] = asked["txid"]
    psp.add(pix)
    return JSONResponse(pix, 201)


async def hang(request: Request) -> Response:
    """Test control: from now on, leave every /pix request unanswered."""
    request.app.state.psp.hang = True
    return JSONResponse({"hang": True})


async def violations(request: Request) -> Response:
    """Test control: the answers that did not conform, and how many API requests came."""
    psp: Psp = request.app.state.psp
    return JSONResponse({"violations": psp.violations, "requests": psp.requests})


def main(argv: list[str]) -> int:
    """Serve the test PSP until killed."""
    parser = argparse.ArgumentParser()
    for name in ("--state", "--cert", "--key", "--ca", "--client-id"):
        parser.add_argument(name, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    psp = Psp(Path(args.state), args.client_id, os.environ["PSP_CLIENT_SECRET"])
    app = Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/api/v2/pix", list_pix), Route("/api/v2/pix/{e2eid}", one_pix),
        Route("/_test/pix", pay, methods=["POST"]), Route("/_test/violations", violations),
        Route("/_test/hang", hang, methods=["POST"]),
    ])  # fmt: skip
    app.state.psp = psp
    for path in (PIX_LIST, PIX_ONE):  # build the validators before the first request waits on it
        problems(path, "get", 200, {})
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(64)
    config = uvicorn.Config(
        app, log_level="warning", ssl_certfile=args.cert, ssl_keyfile=args.key,
        ssl_ca_certs=args.ca, ssl_cert_reqs=ssl.CERT_REQUIRED,
    )  # fmt: skip
    print(f"listening on https://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
