"""A server that is not the node, at an address a console may try: it records what it reads.

Modes: "404" and "500" (TLS with a key of its own, answering that status to everything),
"plain" (no TLS at all), "proxy" (TLS with its own key, relaying to the real node's operator
plane). Runs on its own event loop in a thread, so a test (or a Textual console) can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from pathlib import Path

from nodeproc import NodeProcess

from appliance.ledger.identity import create_key
from appliance.tls import build_certificate, pinned_context


def port_of(url: str) -> int:
    """The port of an http(s)://host:port URL."""
    return int(url.rsplit(":", 1)[1])


class Impostor:
    """A server at some address that is not the node: it records every byte it could read."""

    def __init__(self, tmp: Path, mode: str, upstream: NodeProcess | None = None) -> None:
        self.mode, self.upstream = mode, upstream
        self.received = bytearray()  # what a console sent it (decrypted: it ends the TLS)
        self.returned = bytearray()  # as a proxy: what the real node answered through it
        tmp.mkdir(parents=True, exist_ok=True)
        key = create_key(tmp)  # its own key: it cannot have the node's
        self.context: ssl.SSLContext | None = None
        if mode != "plain":
            cert = tmp / "impostor.pem"
            der = build_certificate(key, "impostor")
            cert.write_text(ssl.DER_cert_to_PEM_cert(der))
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert, tmp / "device.key")
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Impostor:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        )
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()
        server.close()
        pending = asyncio.all_tasks(self.loop)  # connections still open: end them here
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.run_until_complete(server.wait_closed())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ssl.SSLError, asyncio.IncompleteReadError):
            if self.mode == "proxy":
                await self._proxy(reader, writer)
                return
            status = b"500 Internal Server Error" if self.mode == "500" else b"404 Not Found"
            while data := await reader.read(65_536):
                self.received += data
                writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        writer.close()

    async def _proxy(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self.upstream is not None
        der = ssl.PEM_cert_to_DER_cert((self.upstream.state / "operator.crt").read_text())
        up_reader, up_writer = await asyncio.open_connection(
            "127.0.0.1", port_of(self.upstream.operator_url), ssl=pinned_context(der)
        )

        async def pump(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, seen: bytearray
        ) -> None:
            while data := await src.read(65_536):
                seen += data
                dst.write(data)
                await dst.drain()

        await asyncio.gather(
            pump(reader, up_writer, self.received), pump(up_reader, writer, self.returned)
        )
