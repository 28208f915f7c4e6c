"""A second, minimal verifier written from docs/receipt-format.md alone checks every vector.

Nothing here imports `appliance`: the grammar, the hashes, the signing input and the fourteen
chain rules are re-read from the document, and Ed25519 and RFC 8785 come from their own
libraries (cryptography, rfc8785). The vectors are tests/ledger/vectors/receipts.json, which
tests/ledger/test_vectors.py holds equal to the document's. If this verifier and the reference
disagree on any vector, one of them (or the document) is wrong.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

VECTORS = json.loads(
    (Path(__file__).resolve().parent / "vectors" / "receipts.json").read_text(encoding="ascii")
)
EPOCH, SEQ, TOTAL = "0|[1-9][0-9]{0,2}", "0|[1-9][0-9]{0,9}", "0|[1-9][0-9]{0,11}"
B64 = "[A-Za-z0-9_-]"
LINE = re.compile(
    "SR1;(?P<device>[a-z2-7]{10});(?P<key>[a-z2-7]{10});(?P<epoch>"
    + EPOCH
    + ");(?P<seq>"
    + SEQ
    + ");(?P<time>[0-9]{8}T[0-9]{6}Z);(?P<type>start|sale|void|close|rekey|fail|evidence);"
    "(?P<currency>[A-Z]{3});(?P<total>"
    + TOTAL
    + ");(?P<items>"
    + B64
    + "{22});(?P<prev>"
    + B64
    + "{22});(?P<ref>[A-Za-z0-9-]{0,12});(?P<sig>"
    + B64
    + "{86})"
)
NO_MONEY = ("start", "rekey", "fail")
NO_REF = ("start", "close", "rekey", "fail")
CLOSE_KEYS = {"from_seq", "to_seq", "sales", "gross", "voids", "voided"}


class Broken(Exception):
    def __init__(self, seq: int, rule: int) -> None:
        super().__init__(f"seq {seq}: rule {rule}")
        self.seq, self.rule = seq, rule


def unb64(text: str, size: int) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != size or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
        raise ValueError("not canonical")
    return raw


def h16(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()[:16]


def key_id(raw: bytes) -> str:
    return base64.b32encode(hashlib.sha256(raw).digest()).decode()[:10].lower()


def parse(line: str) -> dict[str, Any] | None:
    """The fields of a line that follows the grammar, else None (rule 1)."""
    match = LINE.fullmatch(line) if line.isascii() and len(line) <= 230 else None
    if match is None:
        return None
    f: dict[str, Any] = match.groupdict()
    try:
        datetime.strptime(f["time"], "%Y%m%dT%H%M%SZ")
        f["items"], f["prev"], f["sig"] = (
            unb64(f["items"], 16),
            unb64(f["prev"], 16),
            unb64(f["sig"], 64),
        )
    except ValueError:
        return None
    if f["type"] == "void" and not re.fullmatch(SEQ, f["ref"]):
        return None
    if f["type"] == "evidence" and not re.fullmatch(f"[bu](?:{SEQ})", f["ref"]):
        return None
    for name in ("epoch", "seq", "total"):
        f[name] = int(f[name])
    return f


@dataclass
class Chain:
    keys: dict[str, bytes]
    last: dict[str, Any] | None = None
    last_line: str = ""
    used: set[str] = field(default_factory=set)
    named: str | None = None
    standing: dict[int, dict[str, Any]] = field(default_factory=dict)
    since_close: dict[str, int] = field(default_factory=dict)
    last_close: int = -1
    evidence: dict[int, list[str]] = field(default_factory=dict)  # sale seq -> letters so far


def check(chain: Chain, line: str, canonical: str, seq: int) -> None:
    """Rules 1 to 13 for the line due at `seq`, from the document's list."""
    f, last = parse(line), chain.last
    if f is None:
        raise Broken(seq, 1)
    if f["seq"] != seq:
        raise Broken(seq, 2)
    if last and f["device"] != last["device"]:
        raise Broken(seq, 3)
    want_epoch = 0 if last is None else last["epoch"] + (last["type"] == "rekey")
    if f["epoch"] != want_epoch:
        raise Broken(seq, 4)
    if f["epoch"] == 0 and f["key"] != f["device"]:
        raise Broken(seq, 5)
    if last and last["type"] == "rekey":
        if f["key"] in chain.used or f["key"] != (chain.named or f["key"]):
            raise Broken(seq, 5)
    elif last and f["key"] != last["key"]:
        raise Broken(seq, 5)
    body = line.rsplit(";", 1)[0]
    try:
        public = Ed25519PublicKey.from_public_bytes(chain.keys[f["key"]])
        public.verify(f["sig"], b"stallbox receipt v1\n" + body.encode())
    except (KeyError, InvalidSignature):
        raise Broken(seq, 6) from None
    if f["prev"] != (h16(chain.last_line.encode()) if last else bytes(16)):
        raise Broken(seq, 7)
    if (seq == 0) != (f["type"] == "start"):
        raise Broken(seq, 8)
    if last and f["currency"] != last["currency"]:
        raise Broken(seq, 9)
    unmatched = f["type"] == "evidence" and f["ref"][0] == "u"
    if (f["type"] in NO_REF and f["ref"]) or ((f["type"] in NO_MONEY or unmatched) and f["total"]):
        raise Broken(seq, 10)
    if f["type"] == "void":
        sale = chain.standing.get(int(f["ref"]))
        if sale is None or (sale["total"], sale["items"]) != (f["total"], f["items"]):
            raise Broken(seq, 11)
    if f["type"] == "evidence":
        letter, sale = f["ref"][0], chain.standing.get(int(f["ref"][1:]))
        before = chain.evidence.get(int(f["ref"][1:]), [])
        if sale is None or "b" in before or letter in before:
            raise Broken(seq, 11)
        if letter == "b" and f["total"] != sale["total"]:
            raise Broken(seq, 11)
    if f["type"] == "close" and f["total"] != chain.since_close.get("gross", 0):
        raise Broken(seq, 12)
    check_items(chain, f, canonical, seq)
    remember(chain, f, line, canonical)


def check_items(chain: Chain, f: dict[str, Any], canonical: str, seq: int) -> None:
    """Rule 13: the items at hand."""
    items = json.loads(canonical)
    if rfc8785.dumps(items) != canonical.encode() or h16(canonical.encode()) != f["items"]:
        raise Broken(seq, 13)
    kind, ok = f["type"], True
    if kind in ("sale", "void"):
        ok = sum(i["qty"] * i["unit"] for i in items) == f["total"]
    elif kind == "start":
        raw = unb64(items.get("pubkey", ""), 32)
        ok = set(items) == {"device", "pubkey"} and items["device"] == f["device"]
        ok = ok and key_id(raw) == f["device"] and chain.keys.get(f["device"]) == raw
    elif kind == "close":
        counts = {"sales": 0, "gross": 0, "voids": 0, "voided": 0} | chain.since_close
        want = {"from_seq": chain.last_close + 1, "to_seq": seq - 1, **counts}
        ok = set(items) == CLOSE_KEYS and items == want and items["gross"] == f["total"]
    elif kind == "rekey":
        new = key_id(unb64(items["pubkey"], 32))
        ok = set(items) == {"epoch", "pubkey"} and items["epoch"] == f["epoch"] + 1
        ok = ok and new not in chain.used | {f["key"]}
    elif kind == "evidence":
        state = {"b": "bank", "u": "unmatched"}[f["ref"][0]]
        ok = set(items) == {"state", "source", "credit"} and items["state"] == state
        ok = ok and all(isinstance(items[k], str) for k in items) and items["source"] != ""
        ok = ok and (items["credit"] != "") == (state == "bank")
    if not ok:
        raise Broken(seq, 13)


def remember(chain: Chain, f: dict[str, Any], line: str, canonical: str) -> None:
    chain.used.add(f["key"])
    chain.named = None
    s = chain.since_close
    if f["type"] == "sale":
        chain.standing[f["seq"]] = f
        s["sales"], s["gross"] = s.get("sales", 0) + 1, s.get("gross", 0) + f["total"]
    elif f["type"] == "void":
        del chain.standing[int(f["ref"])]
        s["voids"], s["voided"] = s.get("voids", 0) + 1, s.get("voided", 0) + f["total"]
    elif f["type"] == "close":
        chain.since_close, chain.last_close = {}, f["seq"]
    elif f["type"] == "evidence":
        chain.evidence.setdefault(int(f["ref"][1:]), []).append(f["ref"][0])
    elif f["type"] == "rekey":
        chain.named = key_id(unb64(json.loads(canonical)["pubkey"], 32))
    chain.last, chain.last_line = f, line


def verify(lines: list[str], items: list[str], keys: list[str], head: str | None) -> int:
    """Verify a whole chain from seq 0 (and rule 14 against `head`); return its length."""
    chain = Chain({key_id(raw): raw for raw in (unb64(k, 32) for k in keys)})
    head_seq, _, head_hash = (head or "-1:").partition(":")
    for seq, (line, canonical) in enumerate(zip(lines, items, strict=True)):
        check(chain, line, canonical, seq)
        if seq == int(head_seq) and h16(line.encode()) != unb64(head_hash, 16):
            raise Broken(seq, 14)
    if len(lines) <= int(head_seq):
        raise Broken(len(lines), 14)
    return len(lines)


def test_the_valid_chain_verifies() -> None:
    chain = VECTORS["chain"]
    lines = [v["line"] for v in chain]
    items = [v["items_canonical"] for v in chain]
    keys = VECTORS["rules"][0]["public_keys"]
    head = f"{len(lines) - 1}:" + base64.urlsafe_b64encode(h16(lines[-1].encode())).decode()
    assert verify(lines, items, keys, head.rstrip("=")) == 8
    for v in chain:
        assert v["signing_input"] == "stallbox receipt v1\n" + v["line"].rsplit(";", 1)[0]


@pytest.mark.parametrize("case", VECTORS["rules"], ids=lambda case: case["name"])
def test_each_rule_vector_breaks_its_rule(case: dict[str, Any]) -> None:
    first = VECTORS["chain"][: case["after"]]
    lines = [v["line"] for v in first] + case["lines"]
    items = [v["items_canonical"] for v in first] + case["items_canonical"]
    with pytest.raises(Broken) as caught:
        verify(lines, items, case["public_keys"], case["head"])
    assert {"seq": caught.value.seq, "rule": caught.value.rule} == case["broken_at"]
