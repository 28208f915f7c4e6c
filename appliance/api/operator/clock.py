"""Operator routes of the box's clock: what time the box thinks it is, and setting it.

`GET /api/clock` answers the box's time, the last receipt's, and an alarm when the clock is
behind the last receipt or before the build date (receipts then carry the later time:
appliance/domain/clock.py); the last alarm recorded and how many receipts had one. `POST
/api/clock` with `{"now": ISO time}` sets the box's time from the console device's clock
(appliance/services/box_clock.py); it is recorded.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.api.node import Node
from appliance.api.operator.operator import body, json_response, node_of, operator
from appliance.api.season_schemas import ClockOut, SetClock
from appliance.domain.clock import ClockError, receipt_time
from appliance.services.box_clock import record_set, recorded_alarms


async def clock_out(node: Node) -> ClockOut:
    """The clock as the console shows it."""
    now = node.clock()
    last, recorded, count = await recorded_alarms(node.box)
    alarm = receipt_time(now, last).alarm
    return ClockOut(
        box_time=now.isoformat(), system_time=datetime.now(UTC).isoformat(),
        offset_s=round(node.clock.offset.total_seconds(), 3),
        last_receipt=None if last is None else last.isoformat(), alarm=alarm,
        last_alarm=recorded, alarms=count,
    )  # fmt: skip


@operator
async def get_clock(request: Request) -> Response:
    """The box's time, the last receipt's, and any clock alarm."""
    return json_response(await clock_out(node_of(request)))


@operator
async def set_clock(request: Request) -> Response:
    """Set the box's time from the console device's clock (recorded)."""
    node = node_of(request)
    asked = await body(request, SetClock)
    try:
        when = datetime.fromisoformat(asked.now.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):  # 2099-12-31T23:59-05:00 overflows to UTC
        raise ClockError("not a time this box can be set to", "now") from None
    before = node.clock()
    node.clock.set_to(when)
    await node.box.writer.run(record_set(before, node.clock(), asked.operator))
    node.events.publish("clock", {"offset_s": node.clock.offset.total_seconds()})
    return json_response(await clock_out(node))


def routes() -> list[BaseRoute]:
    """The clock routes."""
    return [Route("/api/clock", get_clock), Route("/api/clock", set_clock, methods=["POST"])]
