"""The client's requests through an httpx transport: the tests' seam (httpx.MockTransport).

The console itself never loads this module (nor httpx): it talks to the node through
tui/keepalive.py. Tests that answer for the node in-process hand `NodeClient` an httpx
transport, and this adapter gives it the same `Wire` the console uses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import httpx

from tui.errors import TransportError
from tui.keepalive import Answer


class HttpxStream:
    """An httpx answer being streamed, as `tui.keepalive.Lines`."""

    def __init__(self, answer: httpx.Response) -> None:
        self._answer = answer
        self.status_code = answer.status_code

    async def read_all(self, timeout: float | None) -> bytes:
        """The whole body."""
        return await self._answer.aread()

    async def lines(self, timeout: float | None) -> AsyncIterator[str]:
        """The body's lines."""
        try:
            async for line in self._answer.aiter_lines():
                yield line
        except httpx.TransportError as exc:
            raise TransportError(f"{exc!r}") from exc

    def close(self) -> None:
        """Nothing to close: the mock's answer is in memory."""


class HttpxWire:
    """`tui.keepalive.Wire` over an httpx transport."""

    def __init__(self, base_url: str, transport: httpx.AsyncBaseTransport, timeout_s: float):
        self.base_url = base_url
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, transport=transport)

    async def request(
        self, method: str, path: str, content: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Answer:
        """Send one request and read its whole answer."""
        try:
            answer = await self._http.request(
                method, path, content=content or None, headers=headers
            )
        except httpx.TransportError as exc:
            raise TransportError(f"{exc!r}") from exc
        return Answer(answer.status_code, answer.content, list(answer.headers.raw))

    async def post(self, path: str, content: bytes) -> Answer:
        """POST `content` to `path`."""
        return await self.request("POST", path, content)

    async def stream(self, path: str, headers: Mapping[str, str], connect_s: float) -> HttpxStream:
        """GET `path` (the mock answers whole)."""
        request = self._http.build_request("GET", path, headers=dict(headers))
        try:
            return HttpxStream(await self._http.send(request, stream=True))
        except httpx.TransportError as exc:
            raise TransportError(f"{exc!r}") from exc

    async def aclose(self) -> None:
        """Close httpx's client."""
        await self._http.aclose()
