"""The sync package's error tree: one base, one branch per concern; extend it, don't fork it.

SyncError
├── LogError            the Merkle log was asked something it cannot answer (bad sizes,
│   │                   a subtree hash missing from storage)
│   └── ProofError      an inclusion or consistency proof is malformed or does not verify:
│                       the cloud may be lying, so callers must never advance past it
└── NoteError           a signed note or checkpoint is malformed
    ├── SignatureError  no trusted signature verifies, or a trusted key's signature is bad
    └── VerifierKeyError  a "<name>+<hash>+<key>" verifier key string is malformed
└── CloudError          the reference cloud (sync/cloud/) refuses a request or cannot run
    ├── BatchInvalid    a batch is malformed (version, sizes, seqs): a 400/413 naming the field
    ├── AuthError       no token, an unknown one, or one for another device: a 401/403
    ├── EnrolRefused    an enrol token is unknown, used or expired, or the public key is bad
    └── CloudStateError the cloud's state dir, key files or database cannot be used
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


class CloudError(SyncError):
    """Base of the errors the cloud ingest service raises on purpose."""


class BatchInvalid(CloudError):
    """A batch is malformed; the message names the field, `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class AuthError(CloudError):
    """A request carries no token, an unknown one, or one for another or a revoked device."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class EnrolRefused(CloudError):
    """An enrolment names an unknown, used or expired token, or a key that is not Ed25519."""


class CloudStateError(CloudError):
    """The cloud's state dir, its key files or its database cannot be used."""
