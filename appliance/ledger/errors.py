"""The ledger's error tree."""

from appliance.errors import StateError


class LedgerError(Exception):
    """Base of every ledger error."""


class ReceiptFormatError(LedgerError):
    """A receipt line does not follow the grammar of docs/receipt-format.md."""


class SignatureInvalid(LedgerError):
    """A receipt's signature does not verify under the key it names."""


class ChainBroken(LedgerError):
    """A chain of receipts is not whole: the first bad seq, the reason and the rule's number.

    `rule` is the number of the rule it breaks in docs/receipt-format.md ("Verifying a chain").
    """

    def __init__(self, seq: int | None, reason: str, rule: int | None = None) -> None:
        self.seq = seq
        self.reason = reason
        self.rule = rule
        super().__init__(f"seq {seq}: {reason}" if seq is not None else reason)


class KeyFileError(StateError):
    """The device key file is missing, unreadable, garbled or too open; never replaced silently."""


class PakeError(LedgerError):
    """A pairing run failed: wrong code, tampered message, or a different box fingerprint."""
