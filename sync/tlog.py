"""RFC 9162 Merkle log maths: hashing, proofs, and an append-only tree over stored subtrees.

The cloud must prove that it kept every receipt (inclusion) and never rewrote its history
(consistency), and the daemon must check those proofs without trusting the cloud. This module is
pure (hashlib only), so both sides share one implementation, and storage-agnostic, so the cloud's
SQLite and PostgreSQL stores only keep the hashes of *complete subtrees* — the perfect subtrees of
2**level leaves that start at leaf index * 2**level, named by `SubtreeId(level, index)`:

* `Frontier` is the right edge of the tree, one complete-subtree root per set bit of its size.
  Appending a leaf costs O(log n) hashes and returns the subtrees it completed: exactly the rows a
  store inserts. Nothing is ever rehashed.
* The root of any past size and every proof are right folds of O(log n) complete subtrees, which
  stay valid forever once complete. `plan_inclusion` / `plan_consistency` / `root_subtrees` name
  the subtrees needed (one batched query), and `ProofPlan.assemble` builds the proof from whatever
  the store returned — an async store does plan, await fetch, assemble. `inclusion_proof`,
  `consistency_proof` and `root_at` do all three against a synchronous `SubtreeSource`.
* `verify_inclusion` / `verify_consistency` follow RFC 9162 §2.1.3.2 and §2.1.4.2 and reject every
  malformed proof, with the semantics of the transparency-dev/merkle vectors in
  tests/sync/vectors/tlog/: a consistency proof from size 0 is an error, equal sizes need an empty
  proof and equal roots, and every proof element and leaf hash has 32 bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sync.errors import LogError, ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


@dataclass(frozen=True, slots=True, order=True)
class SubtreeId:
    """A complete subtree: the 2**level leaves starting at leaf index * 2**level."""

    level: int
    index: int


@dataclass(frozen=True, slots=True)
class Subtree:
    """A complete subtree and its hash, as a store persists it."""

    level: int
    index: int
    hash: bytes

    @property
    def id(self) -> SubtreeId:
        """Return the subtree's (level, index) key."""
        return SubtreeId(self.level, self.index)


class SubtreeSource(Protocol):
    """Storage that can look up complete-subtree hashes, many at a time."""

    def subtree_hashes(self, ids: Sequence[SubtreeId]) -> Mapping[SubtreeId, bytes]:
        """Return the hashes of those `ids` it holds; missing ones are simply left out."""
        ...


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 hash of one log entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 hash of an interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(what: str, value: bytes, error: type[LogError] = LogError) -> None:
    if len(value) != HASH_SIZE:
        raise error(f"{what} has {len(value)} bytes, a SHA-256 hash has {HASH_SIZE}")


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Fold the roots of adjacent complete subtrees, left to right, into the root of their range."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def _split(n: int) -> int:
    """Return the largest power of two strictly below n (n >= 2), RFC 9162's split point k."""
    return 1 << ((n - 1).bit_length() - 1)


def _cover(start: int, end: int) -> tuple[SubtreeId, ...]:
    """Split leaves [start, end) into maximal aligned complete subtrees, left to right.

    For every range an RFC 9162 tree or proof uses, the right fold of these is the range's MTH.
    """
    out: list[SubtreeId] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        out.append(SubtreeId(level, start >> level))
        start += 1 << level
    return tuple(out)


def root_subtrees(size: int) -> tuple[SubtreeId, ...]:
    """Return the complete subtrees whose fold is the root of the tree of `size` leaves."""
    if size < 0:
        raise LogError(f"tree size {size} is negative")
    return _cover(0, size)


def root_from_subtrees(size: int, hashes: Mapping[SubtreeId, bytes]) -> bytes:
    """Return the root of the tree of `size` leaves from its `root_subtrees` hashes."""
    ids = root_subtrees(size)
    return _fold(_lookup(ids, hashes)) if ids else EMPTY_ROOT


def _lookup(ids: Iterable[SubtreeId], hashes: Mapping[SubtreeId, bytes]) -> list[bytes]:
    out: list[bytes] = []
    for sid in ids:
        value = hashes.get(sid)
        if value is None:
            raise LogError(f"subtree (level {sid.level}, index {sid.index}) is not stored")
        _check_hash(f"stored subtree (level {sid.level}, index {sid.index})", value)
        out.append(value)
    return out


@dataclass(frozen=True)
class ProofPlan:
    """The complete subtrees a proof needs, grouped by proof element, in proof order.

    `last_leaf` is fetched too, though no proof element uses it: a proof for a size the log has
    not reached could otherwise be assembled from the subtrees that do exist.
    """

    parts: tuple[tuple[SubtreeId, ...], ...]
    last_leaf: SubtreeId

    @property
    def subtrees(self) -> tuple[SubtreeId, ...]:
        """Return every subtree to fetch, each once."""
        ids = [sid for part in self.parts for sid in part]
        return tuple(dict.fromkeys([*ids, self.last_leaf]))

    def assemble(self, hashes: Mapping[SubtreeId, bytes]) -> list[bytes]:
        """Build the proof from fetched subtree hashes; LogError if one is missing."""
        _lookup([self.last_leaf], hashes)
        return [_fold(_lookup(part, hashes)) for part in self.parts]


def plan_inclusion(index: int, size: int) -> ProofPlan:
    """Plan the RFC 9162 §2.1.3.1 inclusion proof of leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise LogError(f"leaf index {index} is not in a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    parts = tuple(_cover(a, b) for a, b in reversed(ranges))
    return ProofPlan(parts, SubtreeId(0, size - 1))


def plan_consistency(size1: int, size2: int) -> ProofPlan:
    """Plan the RFC 9162 §2.1.4.1 consistency proof between trees of size1 <= size2 leaves."""
    if size1 <= 0:
        raise LogError(f"a consistency proof from size {size1} proves nothing")
    if size1 > size2:
        raise LogError(f"size1 {size1} is larger than size2 {size2}")
    ranges: list[tuple[int, int]] = []
    lo, hi, m, whole = 0, size2, size1, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        ranges.append((lo, hi))
    parts = tuple(_cover(a, b) for a, b in reversed(ranges))
    return ProofPlan(parts, SubtreeId(0, size2 - 1))


def _fetch(source: SubtreeSource, plan: ProofPlan) -> list[bytes]:
    return plan.assemble(source.subtree_hashes(plan.subtrees))


def root_at(size: int, source: SubtreeSource) -> bytes:
    """Return the root of the tree's first `size` leaves from stored complete subtrees."""
    return root_from_subtrees(size, source.subtree_hashes(root_subtrees(size)))


def inclusion_proof(index: int, size: int, source: SubtreeSource) -> list[bytes]:
    """Return the inclusion proof of leaf `index` in the tree of `size` leaves."""
    return _fetch(source, plan_inclusion(index, size))


def consistency_proof(size1: int, size2: int, source: SubtreeSource) -> list[bytes]:
    """Return the consistency proof from the tree of `size1` leaves to the tree of `size2`."""
    return _fetch(source, plan_consistency(size1, size2))


class Frontier:
    """The right edge of a tree: one complete-subtree root per set bit of its size, largest first.

    Enough to append in O(log n) and to know the current root; rebuild it after a restart from
    the stored subtrees named by `root_subtrees(size)`.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise LogError(f"tree size {size} is negative")
        if len(hashes) != size.bit_count():
            raise LogError(f"a tree of size {size} has {size.bit_count()} edge subtrees")
        for h in hashes:
            _check_hash("frontier hash", h)
        self._size = size
        self._hashes = list(hashes)

    @classmethod
    def from_subtrees(cls, size: int, hashes: Mapping[SubtreeId, bytes]) -> Frontier:
        """Rebuild the frontier of a tree of `size` leaves from its stored `root_subtrees`."""
        return cls(size, _lookup(root_subtrees(size), hashes))

    @property
    def size(self) -> int:
        """Return the number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Return the edge subtrees' hashes, largest (leftmost) first."""
        return tuple(self._hashes)

    def subtrees(self) -> list[Subtree]:
        """Return the edge subtrees with their ids, largest (leftmost) first."""
        return [
            Subtree(sid.level, sid.index, h)
            for sid, h in zip(root_subtrees(self._size), self._hashes, strict=True)
        ]

    def root(self) -> bytes:
        """Return the root of the tree of the current size."""
        return _fold(self._hashes) if self._hashes else EMPTY_ROOT

    def append(self, leaf: bytes) -> list[Subtree]:
        """Append one leaf hash; return the subtrees it completed, the leaf itself first."""
        _check_hash("leaf hash", leaf)
        index, level, value = self._size, 0, leaf
        completed = [Subtree(0, index, leaf)]
        while (self._size >> level) & 1:
            value = node_hash(self._hashes.pop(), value)
            level += 1
            completed.append(Subtree(level, index >> level, value))
        self._hashes.append(value)
        self._size += 1
        return completed


class MemoryTree:
    """A log held in a dict of complete subtrees, stored as the cloud's stores store them."""

    def __init__(self) -> None:
        self._frontier = Frontier()
        self._subtrees: dict[SubtreeId, bytes] = {}

    @property
    def size(self) -> int:
        """Return the number of leaves in the log."""
        return self._frontier.size

    def root(self) -> bytes:
        """Return the root of the log at its current size."""
        return self._frontier.root()

    def append(self, leaf: bytes) -> list[Subtree]:
        """Append one leaf hash, store the subtrees it completed and return them."""
        completed = self._frontier.append(leaf)
        self._subtrees.update((s.id, s.hash) for s in completed)
        return completed

    def subtree_hashes(self, ids: Sequence[SubtreeId]) -> dict[SubtreeId, bytes]:
        """Return the stored hashes among `ids`."""
        return {sid: self._subtrees[sid] for sid in ids if sid in self._subtrees}

    def _check_size(self, size: int) -> None:
        if size > self.size:
            raise LogError(f"tree size {size} is beyond the log's size {self.size}")

    def root_at(self, size: int) -> bytes:
        """Return the root of the log's first `size` leaves."""
        self._check_size(size)
        return root_at(size, self)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return the inclusion proof of leaf `index` in the log's first `size` leaves."""
        self._check_size(size)
        return inclusion_proof(index, size, self)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        """Return the consistency proof between the log's first `size1` and `size2` leaves."""
        self._check_size(size2)
        return consistency_proof(size1, size2, self)


def tree_root(leaves: Iterable[bytes]) -> bytes:
    """Return the root of the tree of these leaf hashes."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def _inclusion_proof_size(index: int, size: int) -> int:
    inner = (index ^ (size - 1)).bit_length()
    return inner + (index >> inner).bit_count()


def _consistency_proof_size(size1: int, size2: int) -> int:
    inner = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> inner).bit_count()
    shift = (size1 & -size1).bit_length() - 1
    seeded = size1 == 1 << shift  # size1 is a power of two: its root seeds the proof
    return inner - shift + border + (0 if seeded else 1)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `proof` shows `leaf` at `index` in the tree of `size` with `root`."""
    _check_hash("leaf hash", leaf, ProofError)
    for i, element in enumerate(proof):
        _check_hash(f"proof element {i}", element, ProofError)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    want = _inclusion_proof_size(index, size)
    if len(proof) != want:
        raise ProofError(f"inclusion proof has {len(proof)} hashes, expected {want}")
    # RFC 9162 §2.1.3.2
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise ProofError unless `proof` shows the tree (size1, root1) is a prefix of (size2, root2)."""
    for i, element in enumerate(proof):
        _check_hash(f"proof element {i}", element, ProofError)
    if size1 <= 0:
        raise ProofError(f"a consistency proof from size {size1} proves nothing")
    if size1 > size2:
        raise ProofError(f"size1 {size1} is larger than size2 {size2}")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty consistency proof")
        if root1 != root2:
            raise ProofError("equal sizes but different roots")
        return
    want = _consistency_proof_size(size1, size2)
    if len(proof) != want:
        raise ProofError(f"consistency proof has {len(proof)} hashes, expected {want}")
    # RFC 9162 §2.1.4.2
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != root1:
        raise ProofError("consistency proof does not lead to root1")
    if sr != root2:
        raise ProofError("consistency proof does not lead to root2")
