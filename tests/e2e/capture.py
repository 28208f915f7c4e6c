"""A packet capture on the loopback interface for tests, with a raw AF_PACKET socket (root).

What a stranger on the Wi-Fi would record: every TCP segment to or from the ports given,
grouped into one byte stream per direction of each connection, so a test can search them for
secrets and replay the client's side to the server. No tcpdump needed: the socket sees each
frame on `lo` (outgoing copies only, so every segment is counted once), and a thread reads it
until stopped. Retransmissions may repeat bytes in a stream; that only makes a search stricter.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from collections import defaultdict
from dataclasses import dataclass, field

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ETH_HEADER = 14


def can_capture() -> bool:
    """Whether this process may open a raw packet socket (root or CAP_NET_RAW)."""
    if os.geteuid() == 0:
        return True
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)).close()
    except PermissionError:
        return False
    return True


Flow = tuple[int, int]  # (source port, destination port)


@dataclass
class Capture:
    """Segments seen on lo to or from `ports`, as byte streams per (source, destination) port."""

    ports: set[int]
    streams: dict[Flow, bytearray] = field(default_factory=lambda: defaultdict(bytearray))
    segments: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _sock: socket.socket | None = None

    def __enter__(self) -> Capture:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind(("lo", 0))
        sock.settimeout(0.1)
        self._sock = sock
        self._thread = threading.Thread(target=self._read, name="capture", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._sock is not None:
            self._sock.close()

    def _read(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                frame, address = self._sock.recvfrom(65_535)
            except TimeoutError:
                continue
            if address[2] != PACKET_OUTGOING:
                continue
            self._segment(frame[ETH_HEADER:])

    def _segment(self, packet: bytes) -> None:
        if len(packet) < 20 or packet[0] >> 4 != 4 or packet[9] != socket.IPPROTO_TCP:
            return  # the nodes in these tests listen on 127.0.0.1: IPv4 only
        ip_len = (packet[0] & 0x0F) * 4
        total = struct.unpack("!H", packet[2:4])[0]
        tcp = packet[ip_len:total]
        if len(tcp) < 20:
            return
        source, destination = struct.unpack("!HH", tcp[:4])
        if source not in self.ports and destination not in self.ports:
            return
        payload = tcp[(tcp[12] >> 4) * 4 :]
        if payload:
            self.streams[(source, destination)] += payload
            self.segments += 1

    def everything(self) -> bytes:
        """Every payload byte seen, all streams joined."""
        return b"".join(bytes(stream) for stream in self.streams.values())

    def to_server(self, port: int) -> list[bytes]:
        """What clients sent to `port`, one byte string per connection."""
        return [bytes(data) for (_, dst), data in self.streams.items() if dst == port]
