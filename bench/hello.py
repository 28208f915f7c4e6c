"""The floor for bench/node.py: a Starlette hello-world under the node's uvicorn settings."""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def hello(request: Request) -> PlainTextResponse:
    """Hello, world."""
    return PlainTextResponse("hello, world")


app = Starlette(routes=[Route("/", hello)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False, proxy_headers=False)  # fmt: skip
