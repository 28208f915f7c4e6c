"""The uvicorn server both HTTP processes run (the node and the cloud): bind first, exit 0 on TERM.

Kept apart from the node's app so `stallbox cloud` can use it without importing the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Iterator

import uvicorn


class GracefulServer(uvicorn.Server):
    """uvicorn, but SIGTERM ends the process with exit 0 after a graceful stop.

    uvicorn re-raises the captured signal once it has shut down, so the process would die of
    SIGTERM (exit -15) and systemd would log a failure for a clean stop. Here the loop's own
    signal handlers ask for the same graceful shutdown, and nothing is re-raised.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


def bind(host: str, port: int) -> socket.socket:
    """Bind and listen before anything else, so READY really means reachable."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=2048)
    sock.set_inheritable(True)
    return sock
