"""The scanner's key burst on the sell screen (tui/pass_scan.py): what it takes, what it leaves."""

from __future__ import annotations

from tui.pass_scan import MAX_GAP_S, ScanBuffer, refusal_words


def feed(buffer: ScanBuffer, text: str, start: float = 0.0, step: float = 0.001) -> list[bool]:
    return [buffer.feed(c, c, start + i * step)[0] for i, c in enumerate(text)]


def test_a_burst_is_taken_whole_and_enter_hands_it_over() -> None:
    buffer = ScanBuffer()
    assert all(feed(buffer, "SBP1:6BF 9$%*+-./:"))
    assert buffer.feed("enter", "\r", 0.1) == (True, "SBP1:6BF 9$%*+-./:")
    assert not buffer.active


def test_a_stray_capital_s_gives_the_next_key_back() -> None:
    buffer = ScanBuffer()
    assert feed(buffer, "S1") == [True, False]  # "1" is an item's hotkey again
    assert not buffer.active
    assert buffer.feed("enter", "\r", 1.0) == (False, None)  # Enter tenders as before


def test_a_stalled_burst_is_dropped() -> None:
    buffer = ScanBuffer()
    feed(buffer, "SBP")
    assert buffer.feed("1", "1", 1 + MAX_GAP_S) == (False, None)
    assert not buffer.active


def test_reasons_in_words() -> None:
    assert refusal_words("revoked: pass 00 is revoked") == (
        "Pass refused: this pass was revoked by its creator."
    )
    assert refusal_words("something new") == "Pass refused: something new"
