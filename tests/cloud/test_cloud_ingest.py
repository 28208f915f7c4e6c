"""Ingest through the real app on both stores: enrolment, idempotence, gaps, forks, tampering, proofs."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from cloudfix import (
    ADMIN,
    ORIGIN,
    Chain,
    CloudClient,
    StoreOpener,
    make_chain,
    open_store,
    run_with_cloud,
)
from pgserver import pg_server

from appliance.cli import build_parser
from appliance.ledger.receipt import b64
from appliance.ledger.wire import (
    MAX_BATCH_RECEIPTS,
    Batch,
    BatchAck,
    Conflict,
    LogEntry,
    Proof,
    line_digest,
)
from sync.checkpoint import Checkpoint, parse_verifier_key, verify_checkpoint
from sync.cloud.store import CloudStore
from sync.tlog import leaf_hash, verify_consistency, verify_inclusion


def unb64(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def check_ack(
    ack: BatchAck, chain: Chain, client: CloudClient, known: tuple[int, bytes] | None
) -> Checkpoint:
    """The ack's checkpoint is signed by the log key and proves the batch's last receipt in it."""
    verifier = parse_verifier_key(client.cloud.log.verifier_key)
    cp = verify_checkpoint(ack.checkpoint, verifier, origin=ORIGIN)
    line = chain.receipts[ack.head.seq].line
    verify_inclusion(
        leaf_hash(line.encode()), ack.last_index, cp.size, unb64(ack.inclusion), cp.root_hash
    )
    if known is not None:
        verify_consistency(known[0], cp.size, unb64(ack.consistency), known[1], cp.root_hash)
    return cp


__all__ = ["open_store", "pg_server"]  # fixtures, used by name


def test_enrol_ingest_idempotent_and_proofs(open_store: StoreOpener) -> None:
    chain = make_chain(40)

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)
        head = await client.http.get(
            f"/v1/devices/{chain.device}/head", headers={"Authorization": f"Bearer {token}"}
        )
        assert head.json() == {
            "device": chain.device,
            "seq": -1,
            "hash": "A" * 22,
            "quarantined": 0,
        }

        first = await client.post(chain, token, chain.batch(0, 19))
        assert first.status_code == 200, first.text
        ack = msgspec.json.decode(first.content, type=BatchAck)
        assert (ack.head.seq, ack.head.hash) == (19, b64(chain.receipts[19].hash))
        cp1 = check_ack(ack, chain, client, None)
        assert cp1.size == 20 and ack.last_index == 19 and ack.consistency == []

        again = await client.post(chain, token, chain.batch(0, 19, known_size=cp1.size))
        assert again.status_code == 200, again.text  # a repeat is acknowledged again
        assert msgspec.json.decode(again.content, type=BatchAck).head.seq == 19

        overlap = await client.post(chain, token, chain.batch(10, 39, known_size=cp1.size))
        assert overlap.status_code == 200, overlap.text
        ack2 = msgspec.json.decode(overlap.content, type=BatchAck)
        cp2 = check_ack(ack2, chain, client, (cp1.size, cp1.root_hash))
        assert cp2.size == 40 and ack2.head.seq == 39

        # the public endpoints prove the same things
        line7 = chain.receipts[7].line
        entry = await client.http.get(f"/v1/devices/{chain.device}/receipts/7/{line_digest(line7)}")
        found = msgspec.json.decode(entry.content, type=LogEntry)
        verifier = parse_verifier_key(client.cloud.log.verifier_key)
        cp = verify_checkpoint(found.checkpoint, verifier)
        assert found.line == chain.receipts[7].line and found.index == 7
        verify_inclusion(
            leaf_hash(found.line.encode()), 7, cp.size, unb64(found.inclusion), cp.root_hash
        )
        note = (await client.http.get("/v1/checkpoint")).text
        assert verify_checkpoint(note, verifier).size == 40
        proof = await client.http.get("/v1/proof/consistency", params={"first": 20, "size": 40})
        hashes = unb64(msgspec.json.decode(proof.content, type=Proof).hashes)
        verify_consistency(20, 40, hashes, cp1.root_hash, cp2.root_hash)
        proof = await client.http.get("/v1/proof/inclusion", params={"index": 33, "size": 40})
        hashes = unb64(msgspec.json.decode(proof.content, type=Proof).hashes)
        line = chain.receipts[33].line.encode()
        verify_inclusion(leaf_hash(line), 33, 40, hashes, cp2.root_hash)
        key = (await client.http.get(f"/v1/devices/{chain.device}/key")).json()
        assert key["raw_public_key"] == b64(chain.key.public.public_bytes_raw())
        assert (await client.http.get("/v1/log")).json()["origin"] == ORIGIN
        bad = await client.http.get("/v1/proof/inclusion", params={"index": 3, "size": 41})
        assert bad.status_code == 400 and "size" in bad.json()["error"]

    run_with_cloud(open_store, scenario)


def test_gap_is_quarantined_and_nothing_past_it_is_accepted(open_store: StoreOpener) -> None:
    chain = make_chain(30)

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)
        assert (await client.post(chain, token, chain.batch(0, 9))).status_code == 200
        gap = await client.post(chain, token, chain.batch(15, 20))
        assert gap.status_code == 409
        conflict = msgspec.json.decode(gap.content, type=Conflict)
        assert conflict.reason == "gap" and conflict.seq == 10
        assert conflict.head.seq == 9 and conflict.head.quarantined == 1
        # a dropped receipt inside a batch is a gap too; the part before it is kept
        wire = chain.wire(10, 20)
        dropped = msgspec.structs.replace(chain.batch(10, 20), receipts=wire[:3] + wire[4:])
        answer = await client.post(chain, token, dropped)
        conflict = msgspec.json.decode(answer.content, type=Conflict)
        assert (answer.status_code, conflict.reason, conflict.seq) == (409, "gap", 13)
        assert conflict.head.seq == 12 and conflict.head.quarantined == 2
        filled = await client.post(chain, token, chain.batch(13, 29))
        assert filled.status_code == 200
        assert msgspec.json.decode(filled.content, type=BatchAck).head.seq == 29
        rows = await client.store.quarantine_rows(chain.device)
        assert [(r.reason, r.seq) for r in rows] == [("gap", 10), ("gap", 13)]
        report = await client.http.get("/api/devices", headers={"Authorization": f"Bearer {ADMIN}"})
        (device,) = report.json()
        assert device["head"]["seq"] == 29 and device["head"]["quarantined"] == 2
        assert device["last_problem"].startswith("gap: seq 13")
        assert (await client.http.get("/api/devices")).status_code == 401

    run_with_cloud(open_store, scenario)


def test_tampering_is_refused_and_quarantined(open_store: StoreOpener) -> None:
    chain = make_chain(12)
    other = make_chain(12)

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)
        assert (await client.post(chain, token, chain.batch(0, 5))).status_code == 200

        def with_line(seq: int, line: str, items: str | None = None) -> Batch:
            batch = chain.batch(seq, seq)
            wire = msgspec.structs.replace(
                batch.receipts[0], line=line, items=items or chain.items[seq]
            )
            return msgspec.structs.replace(batch, receipts=[wire])

        line = chain.receipts[6].line
        changed = line.replace(";3700;", ";3799;")  # a changed byte in the total
        answers = {}
        answers["signature"] = await client.post(chain, token, with_line(6, changed))
        fork_line = other.receipts[5].line.replace(other.device, chain.device)
        answers["fork"] = await client.post(chain, token, with_line(5, fork_line))
        answers["items"] = await client.post(
            chain, token, with_line(6, line, chain.items[6].replace("950", "951"))
        )
        answers["format"] = await client.post(chain, token, with_line(6, line[:-3]))
        parts = other.receipts[6].line.split(";")
        foreign = ";".join([parts[0], chain.device, *parts[2:]])  # signed by another key
        answers["signature-key"] = await client.post(chain, token, with_line(6, foreign))
        for name, answer in answers.items():
            assert answer.status_code == 409, (name, answer.text)
            conflict = msgspec.json.decode(answer.content, type=Conflict)
            assert conflict.reason == name.split("-")[0], (name, conflict)
            assert conflict.head.seq == 5
        bad_prev = msgspec.structs.replace(chain.batch(6, 8), prev_hash=b64(bytes(16)))
        conflict = msgspec.json.decode(
            (await client.post(chain, token, bad_prev)).content, type=Conflict
        )
        assert conflict.reason == "chain" and conflict.seq == 6
        rows = await client.store.quarantine_rows(chain.device)
        assert len(rows) == 6 and changed in {r.line for r in rows}
        again = await client.post(chain, token, with_line(6, changed))  # a repeat bumps, not adds
        assert msgspec.json.decode(again.content, type=Conflict).head.quarantined == 6
        assert (await client.post(chain, token, chain.batch(6, 11))).status_code == 200

    run_with_cloud(open_store, scenario)


def test_auth_revocation_and_enrol_tokens(open_store: StoreOpener) -> None:
    chain, stranger = make_chain(5), make_chain(5)

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)
        other_token = await client.enrol(stranger)
        cases = {
            "none": ({}, 401),
            "unknown": ({"Authorization": "Bearer nope"}, 401),
            "other device": ({"Authorization": f"Bearer {other_token}"}, 403),
        }
        for name, (headers, status) in cases.items():
            answer = await client.http.post(
                f"/v1/devices/{chain.device}/receipts", content=b"{}", headers=headers
            )
            assert answer.status_code == status, name
        # an unenrolled key cannot post anywhere
        unenrolled = make_chain(3)
        answer = await client.post(unenrolled, token, unenrolled.batch(0, 2))
        assert answer.status_code == 403
        # a one-time token works once, an expired one never
        one = await client.cloud.new_enrol_token()
        # base64url may start with "-", which `stallbox enrol URL TOKEN` would take for an option
        tokens = [one] + [await client.cloud.new_enrol_token() for _ in range(200)]
        for fresh in tokens:
            args = build_parser().parse_args(["enrol", "http://cloud.test", fresh])
            assert args.token == fresh
        body = {"token": one, "public_key": "x", "name": ""}
        assert (await client.http.post("/v1/enrol", json=body)).status_code == 400
        body["public_key"] = chain.key.public.public_bytes_raw().hex()
        answer = await client.http.post("/v1/enrol", json=body)
        assert answer.status_code == 400 and "public key" in answer.json()["error"]
        expired = await client.cloud.new_enrol_token(ttl=timedelta(seconds=-1))
        from appliance.ledger.identity import public_key_text

        for used in (expired, "made-up"):
            body = {"token": used, "public_key": public_key_text(unenrolled.key.public)}
            answer = await client.http.post("/v1/enrol", json=body)
            assert answer.status_code == 403 and answer.json()["error"].startswith("token:")
        # revoked: refused with 409 "revoked" for receipts, 403 for the head
        assert await client.store.revoke(chain.device)
        answer = await client.post(chain, token, chain.batch(0, 4))
        assert answer.status_code == 409 and answer.json()["reason"] == "revoked"
        head = await client.http.get(
            f"/v1/devices/{chain.device}/head", headers={"Authorization": f"Bearer {token}"}
        )
        assert head.status_code == 403
        new_token = await client.enrol(chain)  # enrolling again lifts it, with a new token
        assert (await client.post(chain, token, chain.batch(0, 4))).status_code == 401
        assert (await client.post(chain, new_token, chain.batch(0, 4))).status_code == 200

    run_with_cloud(open_store, scenario)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"not json", 400, "body"),
        (b'{"v":1,"from_seq":"0","prev_hash":"","receipts":[]}', 422, "from_seq"),
        (b'{"v":1,"from_seq":0,"prev_hash":"","receipts":[],"extra":1}', 422, "extra"),
        (
            b'{"v":2,"from_seq":0,"prev_hash":"AAAAAAAAAAAAAAAAAAAAAA","receipts":[{"seq":0,"line":"","items":""}]}',
            400,
            "v",
        ),
        (
            b'{"v":1,"from_seq":0,"prev_hash":"AAAAAAAAAAAAAAAAAAAAAA","receipts":[]}',
            400,
            "receipts",
        ),
        (
            b'{"v":1,"from_seq":0,"prev_hash":"AAA","receipts":[{"seq":0,"line":"","items":""}]}',
            400,
            "prev_hash",
        ),
        (
            b'{"v":1,"from_seq":0,"prev_hash":"AAAAAAAAAAAAAAAAAAAAAA","receipts":[{"seq":0}]}',
            422,
            "receipts[0].line",
        ),
        (b" " * (256 * 1024 + 1), 413, "body"),
    ],
)
def test_bad_input_names_the_field(body: bytes, status: int, field: str, tmp_path: Path) -> None:
    from sync.cloud.sqlite_store import SqliteStore

    chain = make_chain(1)

    async def opener() -> CloudStore:
        return await SqliteStore.open(tmp_path / "c.db")

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)
        answer = await client.http.post(
            f"/v1/devices/{chain.device}/receipts", content=body,
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        assert answer.status_code == status, answer.text
        assert answer.json()["error"].startswith(field), answer.text

    run_with_cloud(opener, scenario)


def test_too_many_receipts_is_413(tmp_path: Path) -> None:
    from sync.cloud.sqlite_store import SqliteStore

    chain = make_chain(MAX_BATCH_RECEIPTS + 1)

    async def opener() -> CloudStore:
        return await SqliteStore.open(tmp_path / "c.db")

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)
        answer = await client.post(chain, token, chain.batch(0, MAX_BATCH_RECEIPTS))
        assert answer.status_code == 413 and answer.json()["error"].startswith("receipts")

    run_with_cloud(opener, scenario)


def test_funnel_minutes_are_stored_replaced_and_checked(open_store: StoreOpener) -> None:
    chain = make_chain(2)

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)
        url, auth = f"/v1/devices/{chain.device}/funnel", {"Authorization": f"Bearer {token}"}
        minute = {"minute": "2026-11-28T18:00", "menu": 9, "cart": 4, "order": 3, "paid": 2}
        answer = await client.http.post(url, json={"v": 1, "minutes": [minute]}, headers=auth)
        assert answer.status_code == 200 and answer.json() == {"stored": 1}
        grown = {**minute, "paid": 3}
        later = {**minute, "minute": "2026-11-28T18:01"}
        answer = await client.http.post(url, json={"v": 1, "minutes": [grown, later]}, headers=auth)
        assert answer.json() == {"stored": 2}
        future = (datetime.now(UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
        bad = [
            ({"v": 1, "minutes": [{**minute, "minute": "18:00"}]}, 400, "minutes[0].minute"),
            ({"v": 1, "minutes": [{**minute, "minute": "2026-02-30T10:00"}]}, 400, "minute"),
            ({"v": 1, "minutes": [{**minute, "menu": -1}]}, 422, "minutes[0].menu"),
            ({"v": 1, "minutes": [{**minute, "cart": 2**63}]}, 422, "minutes[0].cart"),
            ({"v": 1, "minutes": [{**minute, "paid": 10**30}]}, 422, "minutes[0].paid"),
            ({"v": 1, "minutes": [{**minute, "minute": future}]}, 422, "in the future"),
            ({"v": 2, "minutes": []}, 400, "v:"),
        ]
        for body, status, field in bad:
            answer = await client.http.post(url, json=body, headers=auth)
            assert answer.status_code == status and field in answer.json()["error"], body
        assert (await client.http.post(url, json={"v": 1, "minutes": []})).status_code == 401

    run_with_cloud(open_store, scenario)
