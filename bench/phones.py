"""Simulated phones for the node benches: drop claims, each phone from its own loopback address.

The node limits claims per client address (a cookie is the client's to rotate), so one address
for every phone would measure its refusals. Each phone opens its own connection, as a phone at
a stall does; the time of a claim includes that loopback connect. A round in which no claim
was accepted measured nothing and says so (Unmeasured), whatever its latencies.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from bench.honest import Unmeasured


@dataclass(frozen=True, slots=True)
class ClaimRound:
    """One round of claims on a fresh drop."""

    p50_ms: float
    p99_ms: float
    per_s: float
    accepted: int
    refused: int


def phone_address(n: int) -> str:
    """Phone n's own source address: all of 127.0.0.0/8 reaches loopback on Linux."""
    return f"127.1.{n // 250}.{n % 250 + 1}"


def schedule_drop(
    operator: httpx.Client, quantity: int, lead_s: float = 1.0
) -> tuple[int, datetime]:
    """A cash drop of `quantity` coffees starting in `lead_s`; its id and start."""
    starts = datetime.now(UTC) + timedelta(seconds=lead_s)
    answer = operator.post("/api/drops", json={
        "sku": "coffee", "quantity": quantity, "starts_at": starts.isoformat(), "hold_s": 600,
    })  # fmt: skip
    if answer.status_code != 201 and answer.status_code != 200:
        raise Unmeasured(f"the node refused the drop: {answer.status_code} {answer.text}")
    return int(answer.json()["id"]), starts


async def claims(
    url: str, drop_id: int, count: int, clients: int, deadline_s: float = 300
) -> tuple[list[float], int]:
    """`count` claims, `clients` at a time, each by another phone; (latencies, accepted)."""
    latencies: list[float] = []
    accepted = 0
    queue = iter(range(count))
    no_tls = ssl.create_default_context()  # shared: a context per client costs ~ms of CPU

    async def phone() -> None:
        nonlocal accepted
        for n in queue:
            transport = httpx.AsyncHTTPTransport(local_address=phone_address(n), verify=no_tls)
            async with httpx.AsyncClient(base_url=url, transport=transport, timeout=30) as client:
                t0 = time.perf_counter()
                answer = await client.post(
                    f"/d/{drop_id}/claim", content=b"qty=1&tender=cash",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )  # fmt: skip
                latencies.append(time.perf_counter() - t0)
                if answer.status_code == 303:
                    accepted += 1
                elif answer.status_code != 409:
                    raise Unmeasured(f"a claim answered {answer.status_code}: {answer.text[:200]}")

    await asyncio.wait_for(asyncio.gather(*(phone() for _ in range(clients))), deadline_s)
    return latencies, accepted


def claim_round(
    operator: httpx.Client, url: str, *, quantity: int, count: int, clients: int
) -> ClaimRound:
    """One round of `count` claims by `clients` phones at once on a fresh drop of `quantity`."""
    drop_id, starts = schedule_drop(operator, quantity)
    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.1)
    started = time.perf_counter()
    latencies, accepted = asyncio.run(claims(url, drop_id, count, clients))
    elapsed = time.perf_counter() - started
    if accepted == 0:
        raise Unmeasured(f"no claim of {len(latencies)} was accepted on drop {drop_id}")
    latencies.sort()
    return ClaimRound(
        latencies[len(latencies) // 2] * 1e3,
        latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
        accepted / elapsed,
        accepted,
        len(latencies) - accepted,
    )
