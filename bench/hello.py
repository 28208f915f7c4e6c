"""The floor for bench/node.py: a Starlette hello-world under the node's uvicorn settings.

`GET /` is the hello-world wrk loads on kept-alive connections. `POST /d/{id}/claim` is the
same hello-world for the phones (bench/phones.py): it reads the form and answers 303 with a
Location, as a claim is answered, doing nothing else: the phones' floor, one new connection per
request (docs/performance/2026-12-05-drop-claims-claims-first.md).
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route


async def hello(request: Request) -> PlainTextResponse:
    """Hello, world."""
    return PlainTextResponse("hello, world")


async def claimed(request: Request) -> Response:
    """A claim's answer with no claim behind it."""
    await request.body()
    return Response(status_code=303, headers={"Location": "/o/0000000100000000000000/pay"})


app = Starlette(
    routes=[Route("/", hello), Route("/d/{drop_id:int}/claim", claimed, methods=["POST"])]
)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False, proxy_headers=False)  # fmt: skip
