"""Cached token checks: as strict as uncached ones, revocation included, and bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import cli
from appliance.ledger.identity import create_key
from appliance.services.pairing import Pairing, PairingError, TokenClaims
from appliance.services.token_cache import TokenCache

NOW = 1_800_000_000.0


@pytest.fixture
def node(tmp_path: Path) -> Pairing:
    return Pairing(tmp_path, create_key(tmp_path), "node-1", clock=lambda: NOW)


def test_revocation_takes_effect_at_once_on_a_cached_token(
    node: Pairing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = node.issue("till", 0, NOW)
    verified: list[str] = []
    verify = node._verify

    def counting(token: str) -> TokenClaims:
        verified.append(token)
        return verify(token)

    monkeypatch.setattr(node, "_verify", counting)
    for _ in range(3):
        assert node.check(token).name == "till"
    assert verified == [token]  # verified once, then served from the cache
    assert cli.main(["pair", "--revoke", "--yes", "--state", str(tmp_path)]) == 0  # as the vendor
    with pytest.raises(PairingError, match="revoked"):
        node.check(token)
    fresh = node.issue("till", 1, NOW)
    assert node.check(fresh).epoch == 1


def test_a_cached_token_still_expires(node: Pairing) -> None:
    token = node.issue("till", 0, NOW)
    assert node.check(token, NOW + 10).name == "till"
    with pytest.raises(PairingError, match="expired"):
        node.check(token, NOW + 13 * 3600)


def test_forged_tokens_are_refused_and_not_kept(node: Pairing) -> None:
    token = node.issue("till", 0, NOW)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(PairingError, match="invalid token"):
            node.check(forged)
    assert node._tokens.get(forged) is None


def test_the_epoch_is_read_only_when_the_file_changed(tmp_path: Path) -> None:
    path = tmp_path / "pairing.json"
    path.write_text("0")
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        return int(path.read_text())

    cache: TokenCache[int] = TokenCache(path, read)
    assert [cache.epoch() for _ in range(5)] == [0] * 5 and len(reads) == 1
    (tmp_path / "new").write_text("7")
    (tmp_path / "new").replace(path)  # how the pairing file is written: a new inode
    assert cache.epoch() == 7 and len(reads) == 2


def test_the_cache_is_bounded(tmp_path: Path) -> None:
    cache: TokenCache[TokenClaims] = TokenCache(tmp_path / "pairing.json", lambda: 0, size=3)
    for n in range(5):
        cache.put(f"t{n}", TokenClaims("x", 0, 1, 0, str(n)))
    assert [cache.get(f"t{n}") is not None for n in range(5)] == [False, False, True, True, True]
