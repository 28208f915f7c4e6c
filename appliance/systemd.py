"""systemd integration with the stdlib only: sd_notify and the watchdog.

`Type=notify` units wait for READY=1, which the node sends only after its socket is bound;
WATCHDOG=1 is sent from the event loop at half of WATCHDOG_USEC, so a wedged loop gets the
process restarted; STATUS= shows the outbox depth in `systemctl status`. Outside systemd
(NOTIFY_SOCKET unset) every call is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify datagrams to $NOTIFY_SOCKET, if there is one."""

    def __init__(self, address: str | None = None) -> None:
        address = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._address: str | bytes | None = None
        if address:
            # An address starting with @ is in the abstract namespace.
            self._address = b"\0" + address[1:].encode() if address.startswith("@") else address

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notify socket."""
        return self._address is not None

    def notify(self, *fields: str) -> None:
        """Send fields like 'READY=1' or 'STATUS=...'; errors are logged, never raised."""
        if self._address is None:
            return
        message = "\n".join(fields).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(self._address)
                sock.sendall(message)
        except OSError as exc:
            log.warning("sd_notify failed: %s", exc)

    def ready(self, status: str = "") -> None:
        """Tell systemd the service is up (after the socket is bound)."""
        self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, status: str) -> None:
        """Set the one-line status `systemctl status` shows."""
        self.notify(f"STATUS={status}")

    def stopping(self) -> None:
        """Tell systemd a clean shutdown has begun."""
        self.notify("STOPPING=1")


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None if not asked for."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not an integer", usec)
        return None


async def keep_watchdog(
    notifier: Notifier, interval: float, status: Callable[[], str] | None = None
) -> None:
    """Ping the watchdog from the event loop forever (cancel to stop); refresh STATUS with it.

    `status` must not raise (give it a value already computed, such as a cached outbox depth).
    """
    while True:
        fields = ["WATCHDOG=1"]
        if status is not None:
            fields.append(f"STATUS={status()}")
        notifier.notify(*fields)
        await asyncio.sleep(interval)
