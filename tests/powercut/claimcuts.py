"""Power cuts in a claim storm: simulated phones claiming a limited drop on the real node.

A cycle mounts the surviving bytes, starts a fresh node, schedules a drop when none is open
(scheduling answered is acknowledged too), and lets phones, each from its own 127.x address as
on a venue LAN, claim one unit each, CONCURRENCY at once, until the power goes. Afterwards, on
the surviving bytes: every claim a phone was answered (303 to its pay page) is there, held, with
its order; a drop's units taken equal what its claims hold and never pass its quantity; and the
claims acknowledged for a drop over all its power-ons never pass its quantity either (a claim
lost to a cut would let the restarted node sell that unit again: an oversold drop). Holds last
HOLD_S, longer than a drop is used, so no unit comes back by expiry during the run.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import launch
from forkserver import ForkServer
from lossymount import LossyMount
from nodecuts import RUN_DIR, Console, NodeTally, check, pair
from nodeproc import NodeProcess, run_cli

QUANTITY = 120
HOLD_S = 600  # drops.max_hold_s
DROP_LIFE_S = 300  # a drop is replaced before any hold could expire
CONCURRENCY = 12
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
NO_TLS = ssl.create_default_context()  # plain HTTP never uses it; one context for all phones


@dataclass
class ClaimTally:
    """What the cuts in claim storms found (node-side fields in `node`)."""

    node: NodeTally = field(default_factory=NodeTally)
    claims: int = 0  # claims acknowledged to a phone
    lost: int = 0
    gone: set[str] = field(default_factory=set)  # answered claims found lost (counted once)
    oversold: set[int] = field(default_factory=set)  # drops
    statuses: Counter[int] = field(default_factory=Counter)
    drop: int = 0  # the drop being claimed, 0 for none
    drop_since: float = 0.0
    acked: dict[int, set[str]] = field(default_factory=dict)  # drop id -> order ids answered
    phone: int = 0  # phones never repeat an address


def address(n: int) -> str:
    """Phone n's own source address on loopback (127.2.0.1 upwards)."""
    return f"127.2.{n // 250 % 250}.{n % 250 + 1}"


async def storm(url: str, tally: ClaimTally, drop: int, stop: threading.Event) -> list[str]:
    """Phones claim one unit each, CONCURRENCY at once, until stopped or the node is gone."""
    acks: list[str] = []
    gone = asyncio.Event()

    async def phone() -> None:
        while not stop.is_set() and not gone.is_set():
            tally.phone += 1
            transport = httpx.AsyncHTTPTransport(local_address=address(tally.phone), verify=NO_TLS)
            async with httpx.AsyncClient(base_url=url, transport=transport, timeout=10) as client:
                try:
                    answer = await client.post(
                        f"/d/{drop}/claim", content=b"qty=1&tender=cash", headers=FORM
                    )
                except httpx.HTTPError:
                    gone.set()  # the power went
                    return
            tally.statuses[answer.status_code] += 1
            if answer.status_code == 303:  # Location: /o/{order id}/pay
                acks.append(answer.headers["location"].split("/")[2])

    await asyncio.gather(*(phone() for _ in range(CONCURRENCY)))
    return acks


def schedule(node: NodeProcess, tally: ClaimTally) -> None:
    """Open a new drop now (the last one sold out or is getting old)."""
    with node.client(tally.node.token) as api:
        answer = api.post("/api/drops", json={
            "sku": "coffee", "quantity": QUANTITY, "starts_at": datetime.now(UTC).isoformat(),
            "per_attendee": 1, "hold_s": HOLD_S,
        })  # fmt: skip
    assert answer.status_code == 201, answer.text
    tally.drop, tally.drop_since = int(answer.json()["id"]), time.monotonic()
    tally.acked[tally.drop] = set()


def cut_claims(disk: Path, mnt: Path, rng: random.Random, tally: ClaimTally) -> None:
    """Start the node on the surviving bytes, storm a drop, cut at a random moment."""
    mount = LossyMount.start(disk, mnt, seed=rng.randrange(2**32))
    node: NodeProcess | None = None
    stop, acks = threading.Event(), []
    storming: threading.Thread | None = None
    try:
        if not (disk / "state" / "stallbox.db").exists():
            assert run_cli("init", "--state", str(mnt / "state")).returncode == 0
        node = launch.node(tally.node.forks, mnt / "state", RUNTIME_DIRECTORY=RUN_DIR)
        if not tally.node.token:
            pair(node, Console(tally.node))
        old = time.monotonic() - tally.drop_since > DROP_LIFE_S
        if not tally.drop or old or len(tally.acked[tally.drop]) >= QUANTITY:
            schedule(node, tally)
        drop, url = tally.drop, node.url

        def run() -> None:
            acks.extend(asyncio.run(storm(url, tally, drop, stop)))

        storming = threading.Thread(target=run, daemon=True)
        storming.start()
        deadline = time.monotonic() + 10
        while not tally.statuses and time.monotonic() < deadline:  # the first answer
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.5))
        mount.cut(tear=rng.random() < 0.5, reorder=rng.random() < 0.3)
    except AssertionError as exc:
        tally.node.failed_starts += 1
        tally.node.problems.append(f"claim cut: a start failed: {str(exc)[-600:]}")
        mount.cut()
    finally:
        stop.set()
        if node is not None:
            node.process.kill()
            node.process.wait(10)
        if storming is not None:
            storming.join(20)
        mount.unmount()
    tally.node.hit(mount.points())
    if tally.drop:
        tally.acked[tally.drop].update(acks)
        tally.claims += len(acks)
    check_claims(disk / "state", tally)
    check(disk / "state", tally.node)


def check_claims(state: Path, tally: ClaimTally) -> None:
    """Every answered claim held; no drop's units taken or answered claims past its quantity."""
    db = state / "stallbox.db"
    if not db.exists():
        return
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        drops = {i: (q, t) for i, q, t in conn.execute("SELECT id, quantity, taken FROM drops")}
        held = dict(conn.execute(
            "SELECT order_id, drop_id FROM drop_claims WHERE state IN ('held', 'paid')"
        ).fetchall())  # fmt: skip
        units = dict(conn.execute(
            "SELECT drop_id, sum(qty) FROM drop_claims WHERE state IN ('held', 'paid')"
            " GROUP BY drop_id"
        ).fetchall())  # fmt: skip
    except sqlite3.OperationalError:  # cut before the schema: nothing scheduled yet
        return
    finally:
        conn.close()
    problems = tally.node.problems
    for drop, orders in list(tally.acked.items()):
        if drop not in drops:
            problems.append(f"drop {drop}: scheduled and answered, gone after a cut")
            tally.lost += len(orders - tally.gone)  # and every claim answered on it
            tally.gone |= orders
            tally.drop = 0 if tally.drop == drop else tally.drop  # the next cycle schedules anew
            continue
        quantity, taken = drops[drop]
        lost = {o for o in orders if held.get(o) != drop} - tally.gone
        if lost:
            tally.lost += len(lost)
            tally.gone |= lost
            problems.append(f"drop {drop}: {len(lost)} answered claims lost in a cut")
        if (len(orders) > quantity or taken > quantity) and drop not in tally.oversold:
            tally.oversold.add(drop)
            problems.append(f"drop {drop}: oversold ({len(orders)} answered, {taken} taken)")
        if taken != units.get(drop, 0):
            problems.append(f"drop {drop}: {taken} units taken but claims hold {units.get(drop)}")


def run_claims(
    disk: Path, mnt: Path, rng: random.Random, cuts: int, forks: ForkServer | None = None
) -> ClaimTally:
    """`cuts` power cuts in claim storms."""
    tally = ClaimTally(NodeTally(forks=forks))
    for _ in range(cuts):
        one_claims(disk, mnt, rng, tally)
    return tally


def one_claims(disk: Path, mnt: Path, rng: random.Random, tally: ClaimTally) -> None:
    """One cut in a claim storm, counted."""
    cut_claims(disk, mnt, rng, tally)
    tally.node.cuts += 1
    tally.node.kinds["claims"] = tally.node.kinds.get("claims", 0) + 1
