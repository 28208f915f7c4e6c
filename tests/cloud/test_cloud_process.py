"""`stallbox cloud` and `stallbox enrol` as real processes; two clouds sharing one PostgreSQL."""

from __future__ import annotations

import base64
import json
import stat
import threading
from pathlib import Path

import httpx
import msgspec
from cloudfix import Chain, make_chain
from nodeproc import run_cli
from pgserver import new_database, pg_server
from syncproc import start_cloud

from appliance.ledger.identity import load_key
from appliance.ledger.wire import BatchAck, encode, line_digest
from sync.checkpoint import parse_verifier_key, verify_checkpoint
from sync.tlog import leaf_hash, verify_consistency, verify_inclusion

__all__ = ["pg_server"]  # a fixture, used by name


def test_cloud_process_enrol_cli_ingest_and_clean_stop(tmp_path: Path) -> None:
    cloud_state, box = tmp_path / "cloud", tmp_path / "box"
    assert run_cli("init", "--state", str(box)).returncode == 0
    cloud = start_cloud(cloud_state)
    try:
        assert stat.S_IMODE(cloud_state.stat().st_mode) == 0o700
        for name in ("log.key", "admin.token"):
            assert stat.S_IMODE((cloud_state / name).stat().st_mode) & 0o077 == 0, name
        token = run_cli("cloud", "enrol-token", "--state", str(cloud_state))
        assert token.returncode == 0, token.stderr
        enrolled = run_cli("enrol", cloud.url, token.stdout.strip(), "--state", str(box))
        assert enrolled.returncode == 0, enrolled.stderr
        record = json.loads((box / "cloud.json").read_text())
        assert stat.S_IMODE((box / "cloud.json").stat().st_mode) == 0o600
        assert record["api_token"] not in enrolled.stdout + enrolled.stderr
        key = load_key(box)
        assert record["device"] == key.key_id and record["url"] == cloud.url
        again = run_cli("enrol", cloud.url, token.stdout.strip(), "--state", str(box))
        assert (
            again.returncode == 1
            and "token" in again.stderr
            and len(again.stderr.splitlines()) == 1
        )
        bad_url = run_cli("enrol", "ftp://x", "t", "--state", str(box))
        assert bad_url.returncode == 2 and bad_url.stderr.startswith("stallbox: URL:")

        chain = make_chain(50, key=key)  # the box's own key; its start receipt is rebuilt here
        with httpx.Client(base_url=cloud.url, timeout=10) as http:
            headers = {"Authorization": f"Bearer {record['api_token']}"}
            answer = http.post(
                f"/v1/devices/{chain.device}/receipts", content=encode(chain.batch(0, 49)),
                headers=headers,
            )  # fmt: skip
            assert answer.status_code == 200, answer.text
            assert answer.json()["head"]["seq"] == 49
        listing = run_cli("cloud", "devices", "--state", str(cloud_state))
        assert listing.returncode == 0 and key.key_id in listing.stdout
        assert " 49 " in listing.stdout
        revoked = run_cli("cloud", "revoke", key.key_id, "--yes", "--state", str(cloud_state))
        assert revoked.returncode == 0, revoked.stderr
        missing = run_cli("cloud", "revoke", "nosuchdev", "--yes", "--state", str(cloud_state))
        assert missing.returncode == 1 and missing.stderr.startswith("stallbox: DEVICE:")
    finally:
        assert cloud.stop() == 0, "".join(cloud.output)


def _push(url: str, chain: Chain, token: str, errors: list[str], notes: list[str]) -> None:
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            for first in range(0, len(chain.receipts), 25):
                last = min(first + 24, len(chain.receipts) - 1)
                answer = http.post(
                    f"/v1/devices/{chain.device}/receipts", content=encode(chain.batch(first, last)),
                    headers={"Authorization": f"Bearer {token}"},
                )  # fmt: skip
                if answer.status_code != 200:
                    errors.append(answer.text)
                    return
                notes.append(msgspec.json.decode(answer.content, type=BatchAck).checkpoint)
    except httpx.HTTPError as exc:  # pragma: no cover - reported below
        errors.append(repr(exc))


def test_two_clouds_on_one_postgres_keep_one_consistent_log(pg_server: str, tmp_path: Path) -> None:
    dsn = new_database(pg_server)
    state = tmp_path / "cloud"
    clouds = [start_cloud(state, 0, "--postgres", dsn) for _ in range(2)]
    try:
        chains = [make_chain(150) for _ in range(4)]
        tokens = []
        for i, chain in enumerate(chains):
            token = run_cli("cloud", "enrol-token", "--state", str(state), "--postgres", dsn)
            answer = httpx.post(
                clouds[i % 2].url + "/v1/enrol",
                json={"token": token.stdout.strip(), "public_key": _raw(chain)},
            )
            assert answer.status_code == 201, answer.text
            tokens.append(answer.json()["api_token"])
        errors: list[str] = []
        notes: list[str] = []
        threads = [
            threading.Thread(
                target=_push, args=(clouds[i % 2].url, chain, tokens[i], errors, notes)
            )
            for i, chain in enumerate(chains)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors

        with httpx.Client(base_url=clouds[0].url) as http:
            log = http.get("/v1/log").json()
            verifier = parse_verifier_key(log["verifier_key"])
            cp = verify_checkpoint(http.get("/v1/checkpoint").text, verifier)
            assert cp.size == 600
            indexes = set()
            for chain in chains:
                for seq in range(0, 150, 7):
                    digest = line_digest(chain.receipts[seq].line)
                    entry = http.get(f"/v1/devices/{chain.device}/receipts/{seq}/{digest}").json()
                    assert entry["line"] == chain.receipts[seq].line
                    proof = [base64.b64decode(h) for h in entry["inclusion"]]
                    opened = verify_checkpoint(entry["checkpoint"], verifier)
                    line = chain.receipts[seq].line.encode()
                    verify_inclusion(
                        leaf_hash(line), entry["index"], opened.size, proof, opened.root_hash
                    )
                    indexes.add(entry["index"])
            assert len(indexes) == 4 * len(range(0, 150, 7))
        # the other process serves the same log, and every tree either process acknowledged
        # (24 batches, interleaved) is a prefix of it
        with httpx.Client(base_url=clouds[1].url) as http:
            assert verify_checkpoint(http.get("/v1/checkpoint").text, verifier) == cp
            sizes = set()
            for note in notes:
                old = verify_checkpoint(note, verifier)
                sizes.add(old.size)
                answer = http.get("/v1/proof/consistency", params={"first": old.size, "size": 600})
                hashes = [base64.b64decode(h) for h in answer.json()["hashes"]]
                verify_consistency(old.size, 600, hashes, old.root_hash, cp.root_hash)
            assert len(sizes) == 24  # every append made its own tree size: none was lost
    finally:
        for cloud in clouds:
            assert cloud.stop() == 0, "".join(cloud.output)


def _raw(chain: Chain) -> str:
    from appliance.ledger.identity import public_key_text

    return public_key_text(chain.key.public)
