"""A stranger or a fake box on the LAN against redemption sharing (docs/security.md, "Neighbours").

A box's own signed messages are not secret (every peer it pushes to, and anyone who pulls from
its public route, gets some). Played back to it they must not count: not as a peer's redemptions
(its own counted twice) and not as a peer in sight (it would redeem more than its share while
the real peers are cut off). One box answering at two addresses (a fake box proxying a real one)
is one box. Two or three real nodes in process, as in test_pass_peers.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from test_pass_peers import (
    allowance_pass,
    market,
    push_body,
    redeem,
    sharing,
    stored_peer_rows,
    wait_until,
)

from appliance.passes.peer_message import WireRedemption
from appliance.services.pass_peers import PATH


def test_a_box_s_own_messages_played_back_do_not_count(tmp_path: Path) -> None:
    text, card = allowance_pass(2)
    row = WireRedemption(1, card.pass_id, "fair/0", 1, 2, "2026-12-04T20:00:00Z", "")

    async def scenario() -> None:
        async with market(tmp_path) as (net, planes):
            a = planes["a"]
            assert a.node is not None
            own = push_body(
                a.node.box.key, (a.node.state_dir / "passes" / "box.delegation").read_bytes(), row
            )
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=a.attendee, client=("127.0.0.2", 1)),
                base_url="http://a",
            ) as stranger:
                answer = await stranger.post(PATH, content=own)
            assert answer.status_code == 403 and "own key" in answer.json()["error"], answer.text
            assert stored_peer_rows(a) == 0
            # A fake box at http://f that only plays a's own answers back to it (it forwards
            # every request to a): b is cut off, so a must not think its peer is in sight.
            peers = sharing(a)
            peers.peers.pop("http://b")
            net.apps["f"] = a.attendee
            peers.add_peer("http://f")
            assert await redeem(a, text) == 1
            await wait_until("a tried the fake", lambda: bool(peers.peers["http://f"].problem))
            assert "own key" in peers.peers["http://f"].problem
            assert not peers.in_sight() and peers.peers["http://f"].box == ""
            assert stored_peer_rows(a) == 0

    asyncio.run(scenario())


def test_one_box_at_two_addresses_is_one_peer(tmp_path: Path) -> None:
    text, _ = allowance_pass(3)

    async def scenario() -> None:
        async with market(tmp_path, "abc") as (net, planes):
            a = planes["a"]
            peers = sharing(a)
            peers.peers.pop("http://c")  # c is cut off from a
            net.apps["f"] = planes["b"].attendee  # a fake box proxying b
            peers.add_peer("http://f")
            assert await redeem(a, text) == 1
            await wait_until(
                "b acknowledged at both addresses",
                lambda: all(peers.peers[u].sent >= 1 for u in ("http://b", "http://f")),
            )
            await peers._settle()
            assert peers._marked == 0  # b twice is not b and c: not every other box holds it
            assert not peers.in_sight()

    asyncio.run(scenario())
