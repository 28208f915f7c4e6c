"""`stallbox passes`: a creator's key, and the delegation it grants a box at enrolment.

A box sells and issues passes offline under a delegation (docs/passes.md, "Selling a pass"):
a COSE_Sign1 by the creator's key naming the box's public key and a window. Where a cloud keeps
the creator's key, the cloud makes it; a creator who keeps the key on a laptop makes it here:

    stallbox passes keygen --out ana.key                 # once; prints the public key (hex)
    stallbox passes delegate --creator-key ana.key --issuer creator:ana \\
        --box-key "$(stallbox ledger pubkey --state /var/lib/stallbox)" --out ana.delegation

then copies the file into the box's state dir and names it in `[passes] delegation`.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.errors import ExitCode, StallboxError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
DAY_S = 86_400


class PassesCliError(StallboxError):
    """A `stallbox passes` argument is unusable (a key that is not one, a file already there)."""

    exit_code = ExitCode.USAGE


def _box_key(args: argparse.Namespace) -> Ed25519PublicKey:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from appliance.ledger.identity import load_key, parse_public_key

    if args.state:
        return load_key(Path(args.state)).public
    text = str(args.box_key).strip()
    if HEX_KEY.fullmatch(text):
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    return parse_public_key(text)


def _write_new(path: Path, data: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise PassesCliError(f"--out {path}: already exists; refusing to replace it") from None
    except OSError as exc:
        raise PassesCliError(f"--out {path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def cmd_keygen(args: argparse.Namespace) -> int:
    """Make a creator key file (PEM PKCS#8, mode 0600); print its raw public key in hex."""
    from appliance.ledger.identity import create_key
    from appliance.passes.cose import raw_public

    out = Path(args.out)
    key = create_key(out.parent, out.name)
    print(f"{raw_public(key.public).hex()}  (put it in [passes] creators of every box)")
    return ExitCode.OK


def cmd_delegate(args: argparse.Namespace) -> int:
    """Sign the creator's delegation to a box key; write it to --out."""
    from appliance.ledger.identity import load_key
    from appliance.passes.cose import raw_public
    from appliance.passes.model import MAX_TEXT
    from appliance.passes.trust import delegate

    if not 0 < len(args.issuer) <= MAX_TEXT:
        raise PassesCliError(f"--issuer: 1-{MAX_TEXT} characters")
    if not 1 <= args.days <= 3660:
        raise PassesCliError("--days: 1-3660")
    creator_file = Path(args.creator_key)
    creator = load_key(creator_file.parent, creator_file.name)
    box = _box_key(args)
    start = int(args.start) if args.start is not None else int(time.time())
    window = (start, start + args.days * DAY_S)
    document = delegate(creator.private, args.issuer, box, args.label[:MAX_TEXT], window)
    _write_new(Path(args.out), document)
    print(f"{args.out}: {args.issuer} delegates to box key {raw_public(box).hex()} "
          f"from {window[0]} until {window[1]} (Unix seconds)")  # fmt: skip
    return ExitCode.OK


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `passes keygen` and `passes delegate`."""
    passes = sub.add_parser("passes", help="a creator key and its delegation to a box (passes)")
    actions = passes.add_subparsers(dest="passes_command", required=True, metavar="ACTION")
    keygen = actions.add_parser("keygen", help="make a creator key file (0600)")
    keygen.add_argument("--out", required=True, help="the key file to create")
    keygen.set_defaults(run=cmd_keygen)
    grant = actions.add_parser("delegate", help="let a box issue the creator's passes")
    grant.add_argument("--creator-key", required=True, help="the creator's key file (keygen)")
    grant.add_argument("--issuer", required=True, help="the creator's id, e.g. creator:ana")
    which = grant.add_mutually_exclusive_group(required=True)
    which.add_argument("--box-key", help="the box's public key: `stallbox ledger pubkey`, or hex")
    which.add_argument("--state", help="or the box's state dir (run on the box itself)")
    grant.add_argument("--days", type=int, default=365, help="how long it lasts (default 365)")
    grant.add_argument("--start", type=int, help="valid from, Unix seconds (default now)")
    grant.add_argument("--label", default="box", help="a name for the box (default box)")
    grant.add_argument("--out", required=True, help="the delegation file to create")
    grant.set_defaults(run=cmd_delegate)
