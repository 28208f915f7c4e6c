"""Simulated phones for the node benches: drop claims, each phone from its own loopback address.

The node limits claims per client address (a cookie is the client's to rotate), so one address
for every phone would measure its refusals. Each phone opens its own connection, as a phone at
a stall does; the time of a claim includes that loopback connect. A phone is raw HTTP/1.1 on
asyncio's streams (see `claim`). A round in which no claim
was accepted measured nothing and says so (Unmeasured), whatever its latencies.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from bench.honest import Unmeasured, pct


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
    operator: httpx.Client, quantity: int, lead_s: float = 1.0, per_attendee: int = 1
) -> tuple[int, datetime]:
    """A cash drop of `quantity` coffees starting in `lead_s`; its id and start."""
    starts = datetime.now(UTC) + timedelta(seconds=lead_s)
    answer = operator.post("/api/drops", json={
        "sku": "coffee", "quantity": quantity, "starts_at": starts.isoformat(), "hold_s": 600,
        "per_attendee": per_attendee,
    })  # fmt: skip
    if answer.status_code != 201 and answer.status_code != 200:
        raise Unmeasured(f"the node refused the drop: {answer.status_code} {answer.text}")
    return int(answer.json()["id"]), starts


CLAIM_BODY = b"qty=1&tender=cash"


async def claim(host: str, port: int, drop_id: int, source: str) -> tuple[int, bytes]:
    """One phone's claim on its own new connection: (status, the answer's first bytes).

    Raw HTTP/1.1 on asyncio's streams, as light as wrk: the load generator must cost far less
    than the node, or it measures itself. (An httpx client per phone cost ~1 ms of CPU per
    claim and resolved even numeric addresses in anyio's thread pool.)
    """
    reader, writer = await asyncio.open_connection(host, port, local_addr=(source, 0))
    try:
        writer.write(
            b"POST /d/%d/claim HTTP/1.1\r\nHost: %s:%d\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s"
            % (drop_id, host.encode(), port, len(CLAIM_BODY), CLAIM_BODY)
        )
        head = await reader.readuntil(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), head[:200]
    finally:
        writer.close()


async def claims(
    url: str, drop_id: int, count: int, clients: int, deadline_s: float = 300
) -> tuple[list[float], int]:
    """`count` claims, `clients` at a time, each by another phone; (latencies, accepted)."""
    latencies: list[float] = []
    accepted = 0
    queue = iter(range(count))
    where = httpx.URL(url)
    host, port = where.host, where.port or 80

    async def phone() -> None:
        nonlocal accepted
        for n in queue:
            t0 = time.perf_counter()
            status, head = await claim(host, port, drop_id, phone_address(n))
            latencies.append(time.perf_counter() - t0)
            if status == 303:
                accepted += 1
            elif status != 409:
                raise Unmeasured(f"a claim answered {status}: {head!r}")

    await asyncio.wait_for(asyncio.gather(*(phone() for _ in range(clients))), deadline_s)
    return latencies, accepted


def floor_round(url: str, *, count: int, clients: int) -> ClaimRound:
    """The same phones, the same requests, against bench/hello.py's claim that does nothing."""
    started = time.perf_counter()
    latencies, accepted = asyncio.run(claims(url, 1, count, clients))
    return _round(latencies, accepted, time.perf_counter() - started)


def _round(latencies: list[float], accepted: int, elapsed: float) -> ClaimRound:
    """Latency percentiles and the rate of a round's answers."""
    if accepted == 0:
        raise Unmeasured(f"no request of {len(latencies)} was answered 303")
    return ClaimRound(
        pct(latencies, 0.5) * 1e3,
        pct(latencies, 0.99) * 1e3,
        accepted / elapsed,
        accepted,
        len(latencies) - accepted,
    )


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
    return _round(latencies, accepted, elapsed)


def kept_address(n: int) -> str:
    """Kept-alive phone n's address: apart from the other rounds' (the node's per-address limits)."""
    return f"127.2.{n // 250}.{n % 250 + 1}"


async def kept_claims(
    url: str, drop_id: int, phones: int, each: int, deadline_s: float = 300
) -> tuple[list[float], int]:
    """`phones` phones, each on one kept-alive connection, each claiming `each` units in turn.

    As a phone that loaded the drop page keeps its connection for the claim: the connection is
    opened before the first claim's clock starts. (latencies, accepted).
    """
    where = httpx.URL(url)
    host, port = where.host, where.port or 80
    latencies: list[float] = []
    accepted = 0
    request = (
        b"POST /d/%d/claim HTTP/1.1\r\nHost: %s:%d\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s"
        % (drop_id, host.encode(), port, len(CLAIM_BODY), CLAIM_BODY)
    )

    async def phone(n: int) -> None:
        nonlocal accepted
        reader, writer = await asyncio.open_connection(host, port, local_addr=(kept_address(n), 0))
        try:
            for _ in range(each):
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = re.search(rb"(?im)^content-length: *([0-9]+)", head)
                if length is None:
                    raise Unmeasured(f"a kept-alive claim's answer has no length: {head[:200]!r}")
                await reader.readexactly(int(length[1]))
                latencies.append(time.perf_counter() - t0)
                status = int(head.split(b" ", 2)[1])
                if status == 303:
                    accepted += 1
                elif status != 409:
                    raise Unmeasured(f"a kept-alive claim answered {status}: {head[:200]!r}")
        finally:
            writer.close()

    await asyncio.wait_for(asyncio.gather(*(phone(n) for n in range(phones))), deadline_s)
    return latencies, accepted


def kept_round(
    operator: httpx.Client, url: str, *, phones: int, each: int, quantity: int
) -> ClaimRound:
    """`phones` x `each` claims on kept-alive connections, on a fresh drop of `each` per attendee."""
    drop_id, starts = schedule_drop(operator, quantity, per_attendee=each)
    time.sleep(max(0.0, (starts - datetime.now(UTC)).total_seconds()) + 0.1)
    started = time.perf_counter()
    latencies, accepted = asyncio.run(kept_claims(url, drop_id, phones, each))
    return _round(latencies, accepted, time.perf_counter() - started)
