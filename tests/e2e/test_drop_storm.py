"""A drop storm: 1,000 simulated phones against 200 units on a real node process; a scalper.

Exactly 200 are claimed, none oversold, no 5xx; after the hold time the unpaid holds return their
units and can be claimed again. Each phone has its own address, as on the venue LAN: on Linux all
of 127.0.0.0/8 reaches loopback, so each binds its socket to its own 127.x.y.z source address.
A scalper on one address gets one unit of a one-per-attendee drop, whatever its cookies say.
The load is bounded in count and time and stays on loopback.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from nodeproc import NodeProcess, start_node

pytestmark = pytest.mark.serial  # a load test: 1000 phones against one node

PHONES = 1000
UNITS = 200
HOLD_S = 20  # longer than the storm takes, so no hold expires during it
CONCURRENCY = 100
DEADLINE_S = 90
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NO_TLS = ssl.create_default_context()  # one context for every phone: plain HTTP never uses it


def address(n: int) -> str:
    """Phone n's own source address on loopback (127.1.0.1 upwards; 127.0.0.1 is the operator)."""
    return f"127.1.{n // 250}.{n % 250 + 1}"


def phone_client(url: str, n: int) -> httpx.AsyncClient:
    """An HTTP client whose connections come from phone n's address."""
    transport = httpx.AsyncHTTPTransport(local_address=address(n), verify=NO_TLS)
    return httpx.AsyncClient(base_url=url, transport=transport, timeout=30)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[NodeProcess]:
    running = start_node(tmp_path / "state")
    yield running
    running.stop()


async def storm(url: str, drop_id: int, phones: range) -> Counter[int]:
    """Every phone claims one unit once, from its own address; return the count of each status."""
    statuses: Counter[int] = Counter()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def phone(n: int) -> None:
        async with gate, phone_client(url, n) as client:
            answer = await client.post(
                f"/d/{drop_id}/claim", content=b"qty=1&tender=cash", headers=FORM
            )
            statuses[answer.status_code] += 1

    await asyncio.wait_for(asyncio.gather(*(phone(n) for n in phones)), DEADLINE_S)
    return statuses


def test_1000_phones_200_units(node: NodeProcess) -> None:
    token = node.pair()
    with node.client(token) as api, node.phone() as browser:
        starts = datetime.now(UTC) + timedelta(seconds=2)
        drop = api.post("/api/drops", json={
            "sku": "coffee", "quantity": UNITS, "starts_at": starts.isoformat(),
            "per_attendee": 1, "hold_s": HOLD_S,
        }).json()  # fmt: skip
        before = browser.get(f"/d/{drop['id']}")
        assert before.status_code == 200 and 'id="countdown"' in before.text
        early = browser.post(f"/d/{drop['id']}/claim", content=b"qty=1&tender=cash",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert early.status_code == 409 and 'data-error="not_open"' in early.text
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        unknown = browser.post("/d/99999/claim", content=b"qty=1", headers=form)
        assert unknown.status_code == 404 and unknown.json()["error"] == "no drop 99999"
        slash = browser.post(f"/d/{drop['id']}/claim/", headers=form)  # the router's, not a claim
        assert slash.status_code == 307 and slash.headers["location"].endswith("/claim")
        assert browser.get(f"/d/{drop['id']}/claim").status_code == 405
        while datetime.now(UTC) < starts:
            time.sleep(0.05)

        started = time.monotonic()
        statuses = asyncio.run(storm(node.url, drop["id"], range(PHONES)))
        took = time.monotonic() - started
        assert took < HOLD_S, f"the storm took {took:.1f} s, longer than the hold"
        assert statuses == Counter({303: UNITS, 409: PHONES - UNITS}), statuses
        assert api.get("/api/drops").json()[0]["left"] == 0
        held = api.get("/api/orders", params={"state": "awaiting_payment"}).json()
        assert len(held) == UNITS
        assert sum(line["qty"] for order in held for line in order["lines"]) == UNITS

        deadline = started + HOLD_S + 10
        while api.get("/api/drops").json()[0]["left"] != UNITS:
            assert time.monotonic() < deadline, "expired holds did not return their units"
            time.sleep(0.2)
        again = asyncio.run(storm(node.url, drop["id"], range(PHONES, PHONES + 5)))
        assert again == Counter({303: 5})
        transport = httpx.HTTPTransport(local_address=address(PHONES + 5))
        with httpx.Client(base_url=node.url, transport=transport) as phone:
            claimed = phone.post(
                f"/d/{drop['id']}/claim", content=b"qty=1&tender=cash", headers=FORM
            )
            assert claimed.status_code == 303
            pay_page = phone.get(claimed.headers["location"]).text
        place = f'id="place">Posição na fila: {UNITS + 6} · Em estoque: {UNITS - 6}<'
        assert place in pay_page  # place in line, units left (in the stall's pt-BR)
        assert api.get("/api/drops").json()[0]["left"] == UNITS - 6


async def scalp(url: str, drop_id: int) -> Counter[int]:
    """One address: 100 claims each with another cookie the node issued, then 50 with none."""
    scalper = 9999  # one address, far from the honest phones'
    async with phone_client(url, scalper) as client:
        cookies = []
        for _ in range(100):  # the menu hands a fresh, validly signed id to a cookie-less client
            menu = await client.get("/", headers={"Cookie": ""})
            cookies.append(menu.cookies["sbv"])
            client.cookies.clear()
        assert len(set(cookies)) == 100
        forged = [f"phone{n:05d}" for n in range(100)]  # and ids the node never issued
        gate = asyncio.Semaphore(20)

        async def claim(cookie: str | None) -> int:
            async with gate:
                headers = {**FORM, **({"Cookie": f"sbv={cookie}"} if cookie else {})}
                answer = await client.post(
                    f"/d/{drop_id}/claim", content=b"qty=1&tender=cash", headers=headers
                )
                client.cookies.clear()
                return answer.status_code

        claims = [claim(c) for c in [*cookies, *forged, *([None] * 50)]]
        return Counter(await asyncio.wait_for(asyncio.gather(*claims), DEADLINE_S))


def test_a_scalper_on_one_address_gets_one_unit_whatever_its_cookies(node: NodeProcess) -> None:
    token = node.pair()
    with node.client(token) as api:
        too_long = api.post("/api/drops", json={
            "sku": "coffee", "quantity": 50, "starts_at": datetime.now(UTC).isoformat(), "hold_s": 601,
        })  # fmt: skip
        assert too_long.status_code == 409 and too_long.json()["field"] == "hold_s", too_long.text
        drop = api.post("/api/drops", json={
            "sku": "coffee", "quantity": 50, "starts_at": datetime.now(UTC).isoformat(), "per_attendee": 1,
        }).json()  # fmt: skip
        assert drop["hold_s"] == 120  # drops.hold_s: short by default
        statuses = asyncio.run(scalp(node.url, drop["id"]))
        assert statuses[303] == 1, statuses
        assert set(statuses) <= {303, 409, 429}, statuses
        assert api.get("/api/drops").json()[0]["left"] == 49
        honest = asyncio.run(storm(node.url, drop["id"], range(10)))  # others still get theirs
        assert honest == Counter({303: 10}), honest
