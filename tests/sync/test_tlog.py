"""The Merkle log against the transparency-dev vectors and a literal transcription of RFC 9162.

The oracle below (`mth`, `path`, `subproof`) recomputes everything from the leaves, exactly as
RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1 define it; sync.tlog builds the same values from stored
complete subtrees and must agree for every size.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.errors import LogError, ProofError
from sync.tlog import (
    EMPTY_ROOT,
    Frontier,
    MemoryTree,
    ProofPlan,
    Subtree,
    SubtreeId,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    plan_consistency,
    plan_inclusion,
    root_at,
    root_from_subtrees,
    root_subtrees,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# transparency-dev/merkle testdata (Apache-2.0), vendored: see vectors/tlog/SOURCE.md and LICENSE.
VECTORS = Path(__file__).resolve().parent / "vectors" / "tlog"
# The 8-entry reference tree of RFC 6962's tests, which the vectors' happy paths are proofs in.
REFERENCE_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]


# --- the oracle: RFC 9162 transcribed literally ---------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _k(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def entries(n: int) -> list[bytes]:
    return [f"receipt {i}".encode() for i in range(n)]


def tree_of(leaves: list[bytes]) -> MemoryTree:
    tree = MemoryTree()
    for data in leaves:
        tree.append(leaf_hash(data))
    return tree


def flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- the transparency-dev vectors -------------------------------------------------------------


def vector_files() -> list[Path]:
    if not VECTORS.is_dir():
        # Parametrizing over nothing would skip silently: fail every run instead.
        return [VECTORS / "MISSING"]
    return sorted(VECTORS.rglob("*.json"))


def test_the_vectors_are_all_there() -> None:
    assert VECTORS.is_dir(), f"Merkle vectors missing at {VECTORS}"
    assert len(list((VECTORS / "inclusion").rglob("*.json"))) >= 98
    assert len(list((VECTORS / "consistency").rglob("*.json"))) >= 98


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def run_vector(case: dict[str, Any]) -> None:
    proof = [b64(p) for p in case["proof"] or []]
    if "leafIdx" in case:
        verify_inclusion(
            b64(case["leafHash"]), case["leafIdx"], case["treeSize"], proof, b64(case["root"])
        )
    else:
        verify_consistency(
            case["size1"], case["size2"], proof, b64(case["root1"]), b64(case["root2"])
        )


@pytest.mark.parametrize("file", vector_files(), ids=lambda p: str(p.relative_to(VECTORS)))
def test_vector(file: Path) -> None:
    case = json.loads(file.read_text(encoding="utf-8"))
    if case["wantErr"]:
        with pytest.raises(ProofError):
            run_vector(case)
    else:
        run_vector(case)


@pytest.mark.parametrize("file", sorted(VECTORS.glob("*/*/happy-path.json")), ids=str)
def test_happy_path_proofs_are_what_we_generate(file: Path) -> None:
    """Our proofs over the reference tree are byte for byte the ones the vectors carry."""
    case = json.loads(file.read_text(encoding="utf-8"))
    tree = tree_of(REFERENCE_LEAVES)
    want = [b64(p) for p in case["proof"] or []]
    if "leafIdx" in case:
        assert tree.inclusion_proof(case["leafIdx"], case["treeSize"]) == want
        assert tree.root_at(case["treeSize"]) == b64(case["root"])
    else:
        assert tree.consistency_proof(case["size1"], case["size2"]) == want
        assert tree.root_at(case["size1"]) == b64(case["root1"])
        assert tree.root_at(case["size2"]) == b64(case["root2"])


# --- hashing and the frontier ----------------------------------------------------------------


def test_hashes_are_rfc9162() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert tree_root([]) == EMPTY_ROOT


def test_frontier_root_equals_recursive_root_for_every_size_to_300() -> None:
    leaves = entries(300)
    frontier = Frontier()
    assert frontier.root() == mth([])
    for n in range(1, 301):
        frontier.append(leaf_hash(leaves[n - 1]))
        assert frontier.size == n
        assert len(frontier.hashes) == n.bit_count()
        assert frontier.root() == mth(leaves[:n]), n


def test_roots_of_past_sizes_come_from_stored_subtrees() -> None:
    leaves = entries(300)
    tree = tree_of(leaves)
    for n in range(301):
        assert tree.root_at(n) == mth(leaves[:n]), n
        assert Frontier.from_subtrees(n, tree.subtree_hashes(root_subtrees(n))).root() == mth(
            leaves[:n]
        )


def test_append_returns_exactly_the_complete_subtrees_with_their_hashes() -> None:
    leaves = entries(77)
    frontier = Frontier()
    stored: dict[SubtreeId, bytes] = {}
    for i, data in enumerate(leaves):
        completed = frontier.append(leaf_hash(data))
        assert completed[0] == Subtree(0, i, leaf_hash(data))
        for s in completed:
            assert s.id not in stored
            stored[s.id] = s.hash
    want = {SubtreeId(level, index) for level in range(8) for index in range(len(leaves) >> level)}
    assert set(stored) == want
    for sid, value in stored.items():
        start = sid.index << sid.level
        assert value == mth(leaves[start : start + (1 << sid.level)])
    # about 2n rows: what a store keeps for O(log n) appends and proofs
    assert len(stored) < 2 * len(leaves)


def test_frontier_rejects_inconsistent_state() -> None:
    with pytest.raises(LogError):
        Frontier(3, [b"\x00" * 32])
    with pytest.raises(LogError):
        Frontier(1, [b"\x00" * 31])
    with pytest.raises(LogError):
        Frontier().append(b"short")
    with pytest.raises(LogError):
        Frontier(-1)


# --- proof generation --------------------------------------------------------------------------


def test_generated_proofs_match_the_rfc_for_every_pair_up_to_40() -> None:
    leaves = entries(40)
    tree = tree_of(leaves)
    for n in range(1, 41):
        for i in range(n):
            assert tree.inclusion_proof(i, n) == path(i, leaves[:n]), (i, n)
        for m in range(1, n + 1):
            assert tree.consistency_proof(m, n) == subproof(m, leaves[:n], True), (m, n)


def test_plans_fetch_each_subtree_once_and_assemble_from_any_mapping() -> None:
    leaves = entries(21)
    tree = tree_of(leaves)
    plan = plan_inclusion(5, 21)
    assert isinstance(plan, ProofPlan)
    assert len(plan.subtrees) == len(set(plan.subtrees))
    assert plan.assemble(tree.subtree_hashes(plan.subtrees)) == path(5, leaves)
    cplan = plan_consistency(6, 21)
    assert cplan.assemble(tree.subtree_hashes(cplan.subtrees)) == subproof(6, leaves, True)
    assert root_from_subtrees(21, tree.subtree_hashes(root_subtrees(21))) == mth(leaves)
    assert root_subtrees(21) == (SubtreeId(4, 0), SubtreeId(2, 4), SubtreeId(0, 20))


def test_missing_subtrees_and_impossible_requests_are_log_errors() -> None:
    tree = tree_of(entries(5))
    with pytest.raises(LogError, match="not stored"):
        plan_inclusion(0, 8).assemble({})
    with pytest.raises(LogError):
        root_at(8, tree)  # complete subtree (3, 0) does not exist yet
    with pytest.raises(LogError):
        inclusion_proof(5, 6, tree)  # its path exists, but leaf 5 does not
    with pytest.raises(LogError):
        consistency_proof(4, 6, tree)
    with pytest.raises(LogError):
        tree.inclusion_proof(0, 6)
    with pytest.raises(LogError):
        tree.root_at(6)
    for index, size in [(5, 5), (-1, 5), (0, 0)]:
        with pytest.raises(LogError):
            plan_inclusion(index, size)
    for size1, size2 in [(0, 5), (3, 2), (-1, 5)]:
        with pytest.raises(LogError):
            plan_consistency(size1, size2)
    assert consistency_proof(5, 5, tree) == []
    with pytest.raises(LogError):
        root_subtrees(-1)


# --- verification --------------------------------------------------------------------------------


def test_every_bit_flip_breaks_every_proof_of_a_small_tree() -> None:
    leaves = entries(11)
    tree = tree_of(leaves)
    for n in (1, 2, 5, 8, 11):
        root = tree.root_at(n)
        for i in range(n):
            leaf, proof = leaf_hash(leaves[i]), tree.inclusion_proof(i, n)
            verify_inclusion(leaf, i, n, proof, root)
            for bit in range(256):
                with pytest.raises(ProofError):
                    verify_inclusion(flip(leaf, bit), i, n, proof, root)
                with pytest.raises(ProofError):
                    verify_inclusion(leaf, i, n, proof, flip(root, bit))
                for j in range(len(proof)):
                    bad = [*proof[:j], flip(proof[j], bit), *proof[j + 1 :]]
                    with pytest.raises(ProofError):
                        verify_inclusion(leaf, i, n, bad, root)


def test_malformed_proofs_are_rejected() -> None:
    """Wrong lengths, sizes and indexes fail. (A root alone does not fix the tree size: a proof
    can also fit a larger size of the same shape, which is why checkpoints sign size and root.)"""
    leaves = entries(13)
    tree = tree_of(leaves)
    leaf, root, proof = leaf_hash(leaves[6]), tree.root(), tree.inclusion_proof(6, 13)
    extra = b"\x00" * 32
    bad_inclusions = [
        (leaf, 6, 13, [*proof, extra], root),
        (leaf, 6, 13, [extra, *proof], root),
        (leaf, 6, 13, proof[:-1], root),
        (leaf, 6, 13, [*proof[:-1], proof[-1][:31]], root),
        (leaf, 6, 13, [*proof[:-1], proof[-1] + b"\x00"], root),
        (leaf[:31], 6, 13, proof, root),
        (leaf, 13, 13, proof, root),
        (leaf, -1, 13, proof, root),
        (leaf, 6, 0, proof, root),
        (leaf, 6, 8, proof, root),
        (leaf, 7, 13, proof, root),
        (leaf, 6, 13, list(reversed(proof)), root),
    ]
    for case in bad_inclusions:
        with pytest.raises(ProofError):
            verify_inclusion(*case)
    root4, cproof = tree.root_at(4), tree.consistency_proof(4, 13)
    verify_consistency(4, 13, cproof, root4, root)
    bad_consistencies = [
        (4, 13, [*cproof, extra], root4, root),
        (4, 13, cproof[:-1], root4, root),
        (4, 13, [], root4, root),
        (0, 13, cproof, EMPTY_ROOT, root),
        (0, 0, [], EMPTY_ROOT, EMPTY_ROOT),
        (13, 4, cproof, root, root4),
        (5, 13, cproof, root4, root),
        (4, 5, cproof, root4, root),
        (13, 13, [extra], root, root),
        (13, 13, [], root, root4),
        (4, 13, [cproof[0][:31], *cproof[1:]], root4, root),
    ]
    for size1, size2, p, r1, r2 in bad_consistencies:
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, p, r1, r2)
    verify_consistency(13, 13, [], root, root)


@st.composite
def tree_and_sizes(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(min_value=1, max_value=600))
    i = draw(st.integers(min_value=0, max_value=n - 1))
    return n, i


_BIG = entries(600)
_BIG_TREE = tree_of(_BIG)


@settings(max_examples=150, deadline=None)
@given(tree_and_sizes(), st.integers(min_value=0, max_value=255), st.data())
def test_random_inclusion_proofs_verify_and_any_bit_flip_fails(
    sizes: tuple[int, int], bit: int, data: st.DataObject
) -> None:
    n, i = sizes
    root, leaf = _BIG_TREE.root_at(n), leaf_hash(_BIG[i])
    proof = _BIG_TREE.inclusion_proof(i, n)
    assert root == mth(_BIG[:n])
    verify_inclusion(leaf, i, n, proof, root)
    target = data.draw(st.integers(min_value=-2, max_value=len(proof) - 1))
    if target == -2:
        leaf = flip(leaf, bit)
    elif target == -1:
        root = flip(root, bit)
    else:
        proof = [*proof[:target], flip(proof[target], bit), *proof[target + 1 :]]
    with pytest.raises(ProofError):
        verify_inclusion(leaf, i, n, proof, root)


@settings(max_examples=150, deadline=None)
@given(tree_and_sizes(), st.integers(min_value=0, max_value=255), st.data())
def test_random_consistency_proofs_verify_and_any_bit_flip_fails(
    sizes: tuple[int, int], bit: int, data: st.DataObject
) -> None:
    n, m = sizes[0], sizes[1] + 1  # 1 <= m <= n
    root1, root2 = _BIG_TREE.root_at(m), _BIG_TREE.root_at(n)
    proof = _BIG_TREE.consistency_proof(m, n)
    verify_consistency(m, n, proof, root1, root2)
    target = data.draw(st.integers(min_value=-2, max_value=len(proof) - 1))
    if target == -2:
        root1 = flip(root1, bit)
    elif target == -1:
        root2 = flip(root2, bit)
    else:
        proof = [*proof[:target], flip(proof[target], bit), *proof[target + 1 :]]
    with pytest.raises(ProofError):
        verify_consistency(m, n, proof, root1, root2)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=600), st.data())
def test_a_rewritten_leaf_breaks_consistency_with_the_old_checkpoint(
    n: int, data: st.DataObject
) -> None:
    """A cloud that alters a stored leaf cannot prove its new tree extends the old checkpoint."""
    m = data.draw(st.integers(min_value=1, max_value=n - 1))
    victim = data.draw(st.integers(min_value=0, max_value=m - 1))
    forged = list(_BIG[:n])
    forged[victim] = b"rewritten"
    forged_tree = tree_of(forged)
    with pytest.raises(ProofError):
        verify_consistency(
            m, n, forged_tree.consistency_proof(m, n), _BIG_TREE.root_at(m), forged_tree.root()
        )
