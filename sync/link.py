"""Know the moment the uplink may be back, so the daemon retries at once instead of after backoff.

A box at a market loses its uplink for minutes at a time; waiting out a 300 s backoff after the
phone hotspot reconnects would leave receipts unsynced for no reason. The kernel announces every
link, address and route change on a netlink socket (stdlib `socket`, allowed by the unit's
RestrictAddressFamilies=AF_NETLINK); any message there wakes the daemon. Where netlink is not
available the watcher simply never fires and backoff alone decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

log = logging.getLogger(__name__)

# <linux/rtnetlink.h> multicast groups
_RTMGRP_LINK = 0x1
_RTMGRP_IPV4_IFADDR = 0x10
_RTMGRP_IPV4_ROUTE = 0x40
_RTMGRP_IPV6_IFADDR = 0x100
_RTMGRP_IPV6_ROUTE = 0x400
_GROUPS = (
    _RTMGRP_LINK
    | _RTMGRP_IPV4_IFADDR
    | _RTMGRP_IPV4_ROUTE
    | _RTMGRP_IPV6_IFADDR
    | _RTMGRP_IPV6_ROUTE
)


class LinkWatcher:
    """An asyncio.Event set whenever the kernel reports a link, address or route change."""

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        self._sock: socket.socket | None = None

    def start(self) -> None:
        """Subscribe to rtnetlink; on systems without it, log once and stay quiet."""
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
            sock.bind((0, _GROUPS))
            sock.setblocking(False)
        except (OSError, AttributeError) as exc:
            log.info("no netlink (%s): link changes will wait for the next retry", exc)
            return
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._sock is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._sock.recv(65536):
                self.changed.set()

    def close(self) -> None:
        """Unsubscribe and close the socket."""
        if self._sock is not None:
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None
