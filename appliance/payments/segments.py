"""The shortest QR data for a payload: numeric, alphanumeric and byte segments chosen by
dynamic programming over the whole text (ISO/IEC 18004 §7.4 allows any mix of modes).

qrcode's own chunking (`optimize=20`) only splits out long runs of one mode, so an EMVCo payload
— short runs of digits (tags, lengths, amounts) between names and keys — mostly stays in byte
mode. Here every split is weighed with the exact bit costs of versions 1-9 (mode indicator,
character count, data), which is what matters when a code must fit a small screen: a 135-byte
Pix code with an e-mail key needs version 6 at level L as qrcode chunks it, and fits version 5
(818 of 864 bits) as chunked here. The decoded text is the same, byte for byte.
"""

from __future__ import annotations

from qrcode import util

ALPHANUMERIC = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
MODES = (util.MODE_NUMBER, util.MODE_ALPHA_NUM, util.MODE_8BIT_BYTE)


def _fits(char: str, mode: int) -> bool:
    if mode == util.MODE_NUMBER:
        return "0" <= char <= "9"
    return char in ALPHANUMERIC if mode == util.MODE_ALPHA_NUM else True


def _bits(text: str, mode: int) -> int:
    """One segment's size in versions 1-9: 4-bit mode, character count, then the data."""
    return _size(mode, len(text), len(text.encode()))


def _size(mode: int, chars: int, octets: int) -> int:
    """`_bits` of a segment of `chars` characters that are `octets` bytes in UTF-8."""
    if mode == util.MODE_NUMBER:
        return 4 + 10 + chars // 3 * 10 + (0, 4, 7)[chars % 3]
    if mode == util.MODE_ALPHA_NUM:
        return 4 + 9 + chars // 2 * 11 + chars % 2 * 6
    return 4 + 8 + 8 * octets


def _run_starts(payload: str, mode: int) -> list[int]:
    """For each end index, where the run of characters before it that `mode` can hold starts."""
    starts = list(range(len(payload) + 1))
    for i, char in enumerate(payload):
        if _fits(char, mode):
            starts[i + 1] = starts[i]
    return starts


def shortest_segments(payload: str) -> list[util.QRData]:
    """The payload as the sequence of segments with the fewest bits.

    For each end, every split is weighed (the last segment's start and mode) and the first of
    equal costs in (start, mode) order is kept. A byte segment's cost is linear in its bytes,
    so the best byte start is a running minimum rather than a loop over every earlier start: a
    QR on the console's pay screen waits for this (6 of 7.5 ms before,
    docs/performance/2026-12-04-console-drain-postgres-perf-pi.md).
    """
    n = len(payload)
    octets = [0] * (n + 1)  # UTF-8 bytes of payload[:i]
    for i, char in enumerate(payload):
        octets[i + 1] = octets[i] + len(char.encode())
    narrow = [(index, MODES[index], _run_starts(payload, MODES[index])) for index in (0, 1)]
    cost = [0] * (n + 1)
    origin = [(0, 0)] * (n + 1)  # (start, mode) of the last segment of the best prefix
    byte_key, byte_start = 0, 0  # min over starts of cost - 8 * octets, and its first start
    for end in range(1, n + 1):
        key = cost[end - 1] - 8 * octets[end - 1]
        if end == 1 or key < byte_key:
            byte_key, byte_start = key, end - 1
        best = (byte_key + 12 + 8 * octets[end], byte_start, 2)
        for index, mode, starts in narrow:
            for start in range(starts[end], end):
                chosen = (cost[start] + _size(mode, end - start, 0), start, index)
                if chosen < best:
                    best = chosen
        cost[end] = best[0]
        origin[end] = (best[1], MODES[best[2]])
    segments: list[util.QRData] = []
    end = n
    while end > 0:
        start, mode = origin[end]
        segments.append(util.QRData(payload[start:end].encode(), mode=mode))
        end = start
    return segments[::-1]
