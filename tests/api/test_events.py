"""The event hub's fan-out: a pay page's stream hears its own order only (api/events.py).

Hostile-attendee review: every pay page's stream heard every event and filtered it itself, so
a stranger holding thousands of them open (256 per address) made each sale wake them all: with
4,000 open, an order cost the node 120 ms of CPU instead of 2.
"""

from __future__ import annotations

import asyncio

from appliance.api.events import EventHub


def test_an_orders_event_reaches_its_pay_pages_and_the_consoles_and_no_other_stream() -> None:
    async def scenario() -> None:
        hub = EventHub()
        others = [hub.stream(order=f"{n:024x}") for n in range(2000)]
        for other in others:
            assert await anext(other) == "retry: 2000\n\n"  # subscribed
        mine, console = hub.stream(order="mine"), hub.stream()
        assert await anext(mine) == await anext(console) == "retry: 2000\n\n"
        assert hub.subscribers == 2002
        for n in range(10):
            hub.publish("order", {"id": "mine", "state": f"s{n}"})
        hub.publish("drop", {"id": 7, "left": 3})
        assert "s0" in await anext(mine) and "s0" in await anext(console)
        assert [q.qsize() for q in hub._subscribers] == [10]  # the rest of the console's
        waiting = {key: sum(q.qsize() for q in qs) for key, qs in hub._by_order.items()}
        assert waiting.pop("mine") == 9 and set(waiting.values()) == {0}  # no other stream woken
        for stream in (*others, mine, console):
            await stream.aclose()
        assert hub.subscribers == 0 and not hub._by_order

    asyncio.run(scenario())
