"""Reading a fan pass at the sell screen: a USB scanner's key burst, and a refusal in words.

A USB QR scanner acts as a keyboard: it types the pass (`SBP1:` and Base45, all capitals,
digits and a few signs) in a fast burst and ends with Enter. On the sell screen lower-case
letters and digits are item hotkeys, so a burst must not become items: a capital `S` (no
hotkey) starts a capture, every key after it goes to the capture while it still reads as a
pass (`SBP1:` first) and keeps coming fast, and Enter hands the text over. A stray `S` is
dropped at the next key that could not follow it. Typing or pasting a pass into the search box
(`/`) and pressing Enter works as well (sell.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message

from appliance.api.pass_schemas import PassOut

PREFIX = "SBP1:"
MAX_GAP_S = 0.5  # longer between two keys of one burst: a person, not a scanner
MAX_LENGTH = 2048

REASONS = {  # the verifier's reasons (appliance/passes/errors.py), in words for the vendor
    "revoked": "this pass was revoked by its creator",
    "expired": "this pass has expired",
    "not_yet_valid": "this pass is not valid yet",
    "bad_signature": "this pass is forged or damaged: its signature does not verify",
    "undelegated": "this pass is not signed by any creator this box trusts",
    "wrong_issuer": "this pass names another creator than the one whose key signed it",
    "malformed": "this is not a readable pass",
}


def refusal_words(error: str) -> str:
    """The node's 409 error (`reason: detail`) as a sentence for the vendor."""
    words = REASONS.get(error.partition(":")[0].strip())
    return f"Pass refused: {words}." if words else f"Pass refused: {error}"


def is_pass(text: str) -> bool:
    """Whether typed or pasted text is a pass (rather than a search)."""
    return text.strip().startswith(PREFIX)


@dataclass
class ScanBuffer:
    """Collects a scanner's burst; `feed` says whether it took the key."""

    chars: list[str] = field(default_factory=list)
    last: float = 0.0

    @property
    def active(self) -> bool:
        """A capture is under way."""
        return bool(self.chars)

    def feed(self, key: str, char: str | None, now: float) -> tuple[bool, str | None]:
        """Offer one key at time `now`: (taken, the pass text when Enter ends a burst)."""
        if self.chars and now - self.last > MAX_GAP_S:
            self.chars.clear()  # the burst stalled: whatever it was, it was no scan
        if not self.chars:
            if char == PREFIX[0]:
                self.chars.append(char)
                self.last = now
                return True, None
            return False, None
        if key == "enter":
            text = "".join(self.chars)
            self.chars.clear()
            return (True, text) if is_pass(text) else (False, None)
        if char is None or len(char) != 1 or not char.isprintable():
            self.chars.clear()
            return False, None
        candidate = "".join(self.chars) + char
        if len(candidate) > MAX_LENGTH or not (
            candidate.startswith(PREFIX) or PREFIX.startswith(candidate)
        ):
            self.chars.clear()
            return False, None
        self.chars.append(char)
        self.last = now
        return True, None


class PassChecked(Message):
    """The node verified a pass read at the console."""

    def __init__(self, text: str, card: PassOut) -> None:
        super().__init__()
        self.text = text
        self.card = card


class PassRejected(Message):
    """The node refused a pass read at the console; `words` say why."""

    def __init__(self, words: str) -> None:
        super().__init__()
        self.words = words
