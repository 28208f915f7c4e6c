"""The console's kept-alive HTTP (tui/keepalive.py) against a real server on port 0.

The node closes a kept connection after a while of silence; the next request must open a new
one rather than fail. An answer that says `Connection: close` is not reused. The event stream
goes on a connection of its own and is read line by line as it arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tui.errors import TransportError
from tui.keepalive import MAX_ANSWER, MAX_LINE, KeptAlive, Lines


class Server:
    """Answers each request with its connection's number; closes after `per_connection`."""

    def __init__(self, per_connection: int, close_header: bool = False) -> None:
        self.per_connection, self.close_header = per_connection, close_header
        self.connections = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        for _ in range(self.per_connection):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break  # the client closed its end
            length = next(
                (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")),
                0,
            )  # fmt: skip
            body = await reader.readexactly(length)
            text = b"%d:%s" % (number, body)
            extra = b"Connection: close\r\n" if self.close_header else b""
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(text), extra, text)
            )
            await writer.drain()
        writer.close()


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    """A raw HTTP/1.1 server on 127.0.0.1, port 0."""
    per_connection, close_header = request.param
    state = Server(per_connection, close_header)
    srv = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    async with srv:
        yield state


@asynccontextmanager
async def client(url: str) -> AsyncIterator[KeptAlive]:
    """A transport as the console builds one, over plain HTTP here."""
    http = KeptAlive(url, timeout_s=5)
    try:
        yield http
    finally:
        await http.aclose()


async def collect(stream: Lines, timeout: float, seen: list[str]) -> None:
    """Append the stream's lines to `seen` until it ends or fails."""
    async for line in stream.lines(timeout):
        seen.append(line)


async def until(check: object, seconds: float = 5) -> None:
    """Wait for a condition with a deadline."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.mark.anyio
@pytest.mark.parametrize("server", [(100, False)], indirect=True)
async def test_requests_share_one_kept_connection(server: Server) -> None:
    """Ten requests, one connection; bodies and answers intact."""
    async with client(server.url) as http:
        for n in range(10):
            answer = await http.post("/x", b"n%d" % n)
            assert answer.status_code == 200
            assert answer.content == b"1:n%d" % n
    assert server.connections == 1


@pytest.mark.anyio
@pytest.mark.parametrize("server", [(1, False)], indirect=True)
async def test_a_connection_the_server_closed_is_not_reused(server: Server) -> None:
    """The server closes after each answer (as after its keep-alive timeout): a new one each time."""
    async with client(server.url) as http:
        assert (await http.request("GET", "/a")).content == b"1:"
        await until(lambda: all(not conn.usable() for conn in http._idle))
        assert (await http.request("GET", "/b")).content == b"2:"
    assert server.connections == 2


@pytest.mark.anyio
@pytest.mark.parametrize("server", [(100, True)], indirect=True)
async def test_connection_close_is_honoured(server: Server) -> None:
    """An answer saying `Connection: close` is not kept for the next request."""
    async with client(server.url) as http:
        assert (await http.request("GET", "/a")).content == b"1:"
        assert (await http.request("GET", "/b")).content == b"2:"


@pytest.mark.anyio
async def test_a_server_that_is_gone_is_a_transport_error() -> None:
    """Nothing listening: a TransportError caused by the OSError; the client says NodeUnreachable."""
    srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    srv.close()
    await srv.wait_closed()
    async with client(f"http://127.0.0.1:{port}") as http:
        with pytest.raises(TransportError) as failed:
            await http.request("GET", "/")
    assert isinstance(failed.value.__cause__, OSError)


async def stream_server(chunks: list[bytes], done: asyncio.Event) -> asyncio.Server:
    """Answers one request with a chunked body sent chunk by chunk, then waits for `done`."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for chunk in chunks:
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            await asyncio.sleep(0.01)  # separate reads on the client's side
        await done.wait()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.anyio
async def test_a_stream_yields_lines_as_they_arrive_and_a_silent_one_times_out() -> None:
    """Lines split across chunks come out whole; a stream silent past its read timeout is a
    TransportError (the client reconnects), not a hang."""
    done = asyncio.Event()
    srv = await stream_server([b"event: or", b"der\ndata: {}\n", b"\n"], done)
    url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    async with srv, client(url) as http:
        stream = await http.stream("/api/events", {"Accept": "text/event-stream"}, 5)
        assert stream.status_code == 200
        seen: list[str] = []
        with pytest.raises(TransportError, match="did not answer in time"):
            await collect(stream, 0.5, seen)
        stream.close()
        done.set()
    assert seen == ["event: order", "data: {}", ""]


@pytest.mark.anyio
async def test_a_stream_the_server_cuts_is_a_transport_error() -> None:
    """The node going away mid-stream (no last chunk) is a TransportError, not a clean end."""
    done = asyncio.Event()
    done.set()
    srv = await stream_server([b"data: 1\n\n"], done)
    url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    async with srv, client(url) as http:
        stream = await http.stream("/api/events", {}, 5)
        seen: list[str] = []
        with pytest.raises(TransportError, match="closed the event stream"):
            await collect(stream, 5, seen)
        stream.close()
    assert seen == ["data: 1", ""]


@pytest.mark.anyio
async def test_an_endless_answer_or_event_line_is_a_transport_error() -> None:
    """A node that never ends an answer's body, or an event line, is cut off at its bound
    instead of filling the console's memory."""
    line = b"x" * 65_536  # no newline: one line that never ends
    chunks = [line] * (MAX_LINE // len(line) + 2)
    done = asyncio.Event()
    done.set()
    srv = await stream_server(chunks, done)
    url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    async with srv, client(url) as http:
        stream = await http.stream("/api/events", {}, 5)
        with pytest.raises(TransportError, match="line over"):
            await collect(stream, 5, [])
        stream.close()

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = b"y" * 1_048_576
        with contextlib.suppress(ConnectionError):
            for _ in range(MAX_ANSWER // len(block) + 2):  # bounded: just past the limit
                writer.write(b"%x\r\n%s\r\n" % (len(block), block))
                await writer.drain()
        writer.close()

    srv = await asyncio.start_server(endless, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}"
    async with srv, client(url) as http:
        with pytest.raises(TransportError, match="answer is over"):
            await http.request("GET", "/api/orders")
