"""A receipt is found at the cloud by the digest of its own line, not by counting seq (issue 22).

Whoever holds one receipt (a customer's QR) must not walk every sale of the stall: without a
receipt's line, every seq answers the same 404, held or not, and the `prev` a receipt carries
(the hash of the line before) does not find its neighbour either.
"""

from __future__ import annotations

import base64

from cloudfix import CloudClient, StoreOpener, make_chain, open_store, run_with_cloud
from pgserver import pg_server

from appliance.ledger.receipt import parse_receipt
from appliance.ledger.wire import line_digest

__all__ = ["open_store", "pg_server"]  # fixtures, used by name


def test_walking_seq_reveals_nothing_without_the_line(open_store: StoreOpener) -> None:
    chain = make_chain(20)

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)
        assert (await client.post(chain, token, chain.batch(0, 19))).status_code == 200
        base = f"/v1/devices/{chain.device}/receipts"
        held = chain.receipts[8].line  # a sale
        found = await client.http.get(f"{base}/8/{line_digest(held)}")
        assert found.status_code == 200 and found.json()["line"] == held
        evidence = await client.http.get(f"{base}/8/{line_digest(held)}/evidence")
        assert evidence.status_code == 200, evidence.text

        prev = parse_receipt(held).prev_hash  # what receipt 8 says about receipt 7
        guesses = [
            line_digest(held),  # another receipt's digest
            base64.urlsafe_b64encode(prev + bytes(16)).decode().rstrip("="),
            "A" * 43,
        ]
        bodies = set()
        for seq in range(0, 25):  # held seqs and seqs past the head alike
            for guess in guesses:
                if seq == 8 and guess == line_digest(held):
                    continue
                for suffix in ("", "/evidence"):
                    answer = await client.http.get(f"{base}/{seq}/{guess}{suffix}")
                    assert answer.status_code == 404, (seq, guess, answer.text)
                    bodies.add((suffix, answer.text))
            bare = await client.http.get(f"{base}/{seq}")  # the old walkable route is gone
            assert bare.status_code in (404, 405), bare.text
        assert len(bodies) == 2  # one answer for every seq: nothing tells a held one apart

    run_with_cloud(open_store, scenario)
