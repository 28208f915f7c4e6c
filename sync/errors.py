"""The sync package's error tree: one base, one branch per concern; extend it, don't fork it.

SyncError
├── LogError            the Merkle log was asked something it cannot answer (bad sizes,
│   │                   a subtree hash missing from storage)
│   └── ProofError      an inclusion or consistency proof is malformed or does not verify:
│                       the cloud may be lying, so callers must never advance past it
└── NoteError           a signed note or checkpoint is malformed
    ├── SignatureError  no trusted signature verifies, or a trusted key's signature is bad
    └── VerifierKeyError  a "<name>+<hash>+<key>" verifier key string is malformed
"""


class SyncError(Exception):
    """Base of every error the sync package raises on purpose."""


class LogError(SyncError):
    """The Merkle log was asked for something impossible or its stored state is incomplete."""


class ProofError(LogError):
    """A Merkle proof is malformed or does not match the roots it claims to link."""


class NoteError(SyncError):
    """A signed note or checkpoint does not follow c2sp.org/signed-note or tlog-checkpoint."""


class SignatureError(NoteError):
    """A note carries no valid signature from a trusted key, or a trusted key's signature fails."""


class VerifierKeyError(NoteError):
    """A verifier key string is not '<name>+<8 hex digits>+<base64(0x01 || Ed25519 key)>'."""
