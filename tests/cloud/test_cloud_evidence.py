"""The cloud accepts payment evidence lines and answers a sale's state (both stores).

GET /v1/devices/{device}/receipts/{seq}/{digest}/evidence is what the /v page shows under "Bank
evidence": a sale's last evidence line decides (docs/receipt-format.md "Payment evidence").
"""

from __future__ import annotations

from typing import Any

from cloudfix import CloudClient, StoreOpener, evidence_chain, open_store, run_with_cloud
from pgserver import pg_server

from appliance.ledger.wire import line_digest

__all__ = ["open_store", "pg_server"]  # fixtures, used by name


def test_evidence_is_ingested_and_a_sale_shows_its_last_state(open_store: StoreOpener) -> None:
    chain = evidence_chain()

    async def scenario(client: CloudClient) -> None:
        token = await client.enrol(chain)

        async def state(seq: int) -> Any:
            line = chain.receipts[seq].line if seq < len(chain.receipts) else "not held"
            where = f"/v1/devices/{chain.device}/receipts/{seq}/{line_digest(line)}"
            answer = await client.http.get(f"{where}/evidence")
            return answer.json() if answer.status_code == 200 else answer.status_code

        assert (await client.post(chain, token, chain.batch(0, 3))).status_code == 200
        assert (await state(1))["state"] == "unmatched"
        assert await state(2) == {
            "device": chain.device, "seq": 2, "state": "unverified", "evidence_seq": None
        }  # fmt: skip
        assert (await client.post(chain, token, chain.batch(4, 5))).status_code == 200
        assert await state(1) == {
            "device": chain.device, "seq": 1, "state": "bank", "evidence_seq": 4
        }  # fmt: skip
        assert (await state(2))["evidence_seq"] == 5
        assert await state(0) == 404  # the start receipt is no sale
        assert await state(3) == 404  # nor is an evidence line
        assert await state(9) == 404  # nor a receipt the cloud does not hold

    run_with_cloud(open_store, scenario)
