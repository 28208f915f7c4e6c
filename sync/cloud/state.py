"""The cloud's state dir: its log signing key, admin token, log origin, backend and database.

Each is created once, at first start, with mode 0600 in a 0700 dir, and never replaced: a new log
key would make every checkpoint a device holds unverifiable, so a garbled one is an error. Files
are created by writing a temp file and hard-linking it into place, so several cloud processes
starting together on one state dir (and one PostgreSQL) all end up with the same key.

The state dir remembers its backend (`backend`: sqlite or postgres) from the first command that
opened a store, so a later command that forgets `--postgres` is an error, not a new empty SQLite
log. The default origin is derived from the log key, so two clouds never share one by accident.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.durable import make_dirs
from appliance.ledger.wire import epoch_origin
from sync.cloud.sqlite_store import DB_NAME, SqliteStore
from sync.cloud.store import CloudStore
from sync.errors import CloudStateError

STATE_ENV = "STALLBOX_CLOUD_STATE"
DSN_ENV = "STALLBOX_CLOUD_DSN"
DEFAULT_STATE = Path("/var/lib/stallbox-cloud")
LOG_KEY = "log.key"
ADMIN_TOKEN = "admin.token"  # noqa: S105 - a file name
ORIGIN = "origin"
BACKEND = "backend"
MAX_EPOCHS = 64  # how many later epochs `known_origins` names (one a restore from backup)
ORIGIN_PREFIX = "stallbox.cloud/"


def default_state_dir() -> Path:
    """Return $STALLBOX_CLOUD_STATE, else /var/lib/stallbox-cloud."""
    return Path(os.environ.get(STATE_ENV) or DEFAULT_STATE)


def prepare(state: Path) -> None:
    """Create the state dir (0700) if it is missing, durably (a power cut must not undo it)."""
    try:
        make_dirs(state, mode=0o700)
    except OSError as exc:
        raise CloudStateError(f"{state}: cannot create the state dir ({exc.strerror})") from None


def _create_once(path: Path, data: bytes) -> None:
    """Create `path` (0600) holding `data` unless it exists; atomic against other processes."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_private(path: Path) -> bytes:
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise CloudStateError(f"{path}: cannot read ({exc.strerror})") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CloudStateError(
            f"{path}: mode {stat.S_IMODE(info.st_mode):04o} lets others read it; "
            f"run `chmod 600 {path}`"
        )
    return data


def log_key(state: Path) -> Ed25519PrivateKey:
    """Load the log signing key, creating it (PEM, 0600) at first start."""
    path = state / LOG_KEY
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _create_once(path, pem)
    try:
        key = serialization.load_pem_private_key(_read_private(path), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise CloudStateError(
            f"{path}: garbled, not a PEM Ed25519 private key; restore it from a backup "
            "(a new key would orphan every checkpoint the devices hold)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CloudStateError(f"{path}: holds a {type(key).__name__}, not an Ed25519 key")
    return key


def log_key_if_any(state: Path) -> Ed25519PrivateKey | None:
    """Load the log signing key if the state dir has one (never create it)."""
    return log_key(state) if (state / LOG_KEY).exists() else None


def known_origins(state: Path) -> list[str]:
    """Return the origin fixed in the state dir and those of its later epochs (`epoch_origin`)."""
    path = state / ORIGIN
    if not path.exists():
        return []
    base = origin(state)
    return [base, *(epoch_origin(base, e) for e in range(2, MAX_EPOCHS + 1))]


def admin_token(state: Path) -> str:
    """Load the admin token for /api/devices, creating it (0600) at first start."""
    path = state / ADMIN_TOKEN
    if not path.exists():
        _create_once(path, secrets.token_urlsafe(32).encode("ascii") + b"\n")
    token = _read_private(path).decode("ascii", "replace").strip()
    if len(token) < 16:
        raise CloudStateError(f"{path}: holds no usable token; delete it to make a new one")
    return token


def default_origin(signer: Ed25519PrivateKey) -> str:
    """Return "stallbox.cloud/<16 hex digits of SHA-256 of the log's public key>"."""
    raw = signer.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return ORIGIN_PREFIX + hashlib.sha256(raw).hexdigest()[:16]


def origin(state: Path, wanted: str | None = None, signer: Ed25519PrivateKey | None = None) -> str:
    """Return the log's origin line, fixed at first start (by default derived from the log key).

    Devices check every checkpoint against it, so it never changes after; `wanted` only names it
    the first time, and a different one later is an error. Derived from the key, not the host
    name, two clouds on one host (or two hosts named alike) never share an origin by default.
    """
    path = state / ORIGIN
    if not path.exists():
        name = wanted or default_origin(signer or log_key(state))
        if not name or any(c.isspace() or c == "+" for c in name):
            raise CloudStateError(f"origin: {name!r} has a space or '+'")
        _create_once(path, name.encode("utf-8") + b"\n")
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CloudStateError(f"{path}: cannot read ({exc})") from None
    if wanted and wanted != stored:
        raise CloudStateError(f"origin: this log is {stored!r}; it cannot become {wanted!r}")
    return stored


def backend(state: Path, dsn: str | None) -> str:
    """Return the state dir's backend ("sqlite" or "postgres"), recording it at first use.

    CloudStateError if this command asks for the other one: forgetting `--postgres` must not
    start a new, empty SQLite log beside the real one (nor the reverse).
    """
    wanted = "postgres" if dsn else "sqlite"
    path = state / BACKEND
    if not path.exists():
        legacy = (state / LOG_KEY).exists() and not (state / DB_NAME).exists()
        first = "postgres" if legacy else ("sqlite" if (state / DB_NAME).exists() else wanted)
        _create_once(path, first.encode("ascii") + b"\n")
    try:
        stored = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise CloudStateError(f"{path}: cannot read ({exc})") from None
    if stored not in ("sqlite", "postgres"):
        raise CloudStateError(f"{path}: holds {stored[:20]!r}, not sqlite or postgres")
    if stored == "postgres" and wanted == "sqlite":
        raise CloudStateError(
            f"--postgres: the store of {state} is PostgreSQL ({path}); pass --postgres DSN or "
            f"set ${DSN_ENV} (without it this would start a new, empty SQLite log)"
        )
    if stored == "sqlite" and wanted == "postgres":
        raise CloudStateError(
            f"--postgres: the store of {state} is the SQLite file {state / DB_NAME} ({path}); "
            "leave out --postgres, or use another state dir for a PostgreSQL log"
        )
    return stored


async def open_store(state: Path, dsn: str | None) -> CloudStore:
    """Open the state dir's store: PostgreSQL at `dsn`, else its SQLite file (see `backend`)."""
    prepare(state)
    backend(state, dsn)
    if dsn:
        from sync.cloud.postgres_store import PostgresStore

        return await PostgresStore.open(dsn)
    return await SqliteStore.open(state / DB_NAME)
