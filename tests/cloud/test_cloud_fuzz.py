"""Fuzz every public cloud route on both stores: huge integers, malformed paths, junk bodies.

Issue 22: a 23-digit seq and a funnel minute with a huge count were 500s with a traceback. Now
whatever comes in, the answer is never a 5xx, a 4xx has a JSON body naming the problem, and it
writes exactly one structured log line (`event=client_error …`) and no traceback. Hypothesis
draws the requests; the count is bounded ($STALLBOX_CLOUD_FUZZ_EXAMPLES, default 150 a store).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from cloudfix import ADMIN, CloudClient, StoreOpener, make_chain, open_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pgserver import pg_server

from appliance.ledger.receipt import b64
from appliance.ledger.wire import MAX_INT, line_digest

__all__ = ["open_store", "pg_server"]  # fixtures, used by name

EXAMPLES = int(os.environ.get("STALLBOX_CLOUD_FUZZ_EXAMPLES", "150"))
HUGE = [10**22, 2**63, 2**63 - 1, 2**64, MAX_INT, MAX_INT + 1, -1, -(2**63), 10**30]
ints = st.sampled_from(HUGE) | st.integers(-(2**80), 2**80) | st.integers(0, 50)
segments = st.one_of(
    ints.map(str),
    st.text(max_size=30),
    st.sampled_from(["%00", "..", "%2F", "x" * 300, "\x00", "é", "١٢٣", "²", "0" * 40]),
)


@dataclass
class Fuzzed:
    """A cloud app with one enrolled device that holds receipts, and the log lines it wrote."""

    loop: asyncio.AbstractEventLoop
    client: CloudClient
    device: str
    token: str
    line: str
    records: list[logging.LogRecord]


class Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(("httpx", "httpcore")):  # the test's own client
            self.into.append(record)


@pytest.fixture
def fuzzed(open_store: StoreOpener) -> Iterator[Fuzzed]:
    loop = asyncio.new_event_loop()
    chain = make_chain(12)
    client = loop.run_until_complete(_start(open_store))
    token = loop.run_until_complete(client.enrol(chain))
    posted = loop.run_until_complete(client.post(chain, token, chain.batch(0, 11)))
    assert posted.status_code == 200, posted.text
    records: list[logging.LogRecord] = []
    handler = Collect(records)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield Fuzzed(loop, client, chain.device, token, chain.receipts[5].line, records)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        loop.run_until_complete(client.close())
        loop.close()


async def _start(open_store: StoreOpener) -> CloudClient:
    return CloudClient(await open_store())


def _batch(draw: st.DrawFn, line: str) -> Any:
    receipt = {"seq": draw(ints), "line": draw(st.sampled_from([line, "x", "\x00"])), "items": "[]"}
    return {
        "v": draw(st.sampled_from([1, 2, 2**70])),
        "from_seq": draw(ints),
        "prev_hash": draw(st.sampled_from([b64(bytes(16)), "", "A" * 22])),
        "receipts": draw(st.lists(st.just(receipt), max_size=2)),
        "known_size": draw(ints),
    }


def _funnel(draw: st.DrawFn) -> Any:
    minute = draw(
        st.sampled_from(["2026-11-28T18:00", "9999-12-31T23:59", "2026-02-30T10:00", "0000"])
        | st.text(max_size=20)
    )
    counts = {k: draw(ints) for k in ("menu", "cart", "order", "paid")}
    return {"v": 1, "minutes": [{"minute": minute, **counts}]}


@st.composite
def requests(draw: st.DrawFn, device: str, line: str) -> tuple[str, str, bytes | None, bool]:
    """(method, path, body, authenticated) for one route, with hostile values where they go."""
    real = draw(st.booleans())
    dev = device if real else quote(draw(segments), safe="")
    seq = draw(ints.map(str) | segments)
    digest = line_digest(line) if draw(st.booleans()) else quote(draw(segments), safe="")
    seg = quote(seq, safe="") or "0"
    kind = draw(st.sampled_from(["batch", "funnel", "enrol", "json", "bytes"]))
    value: Any
    if kind == "batch":
        value = _batch(draw, line)
    elif kind == "funnel":
        value = _funnel(draw)
    elif kind == "enrol":
        value = {"token": draw(st.text(max_size=20)), "public_key": draw(st.text(max_size=40)),
                 "name": draw(st.text(max_size=80))}  # fmt: skip
    else:
        value = draw(st.recursive(st.none() | ints | st.text(max_size=10), st.lists, max_leaves=5))
    body = draw(st.binary(max_size=40)) if kind == "bytes" else json.dumps(value).encode()
    index, size = quote(str(draw(ints)), safe=""), quote(draw(segments), safe="")
    routes = [
        ("POST", "/v1/enrol", body),
        ("GET", f"/v1/devices/{dev}/head", None),
        ("POST", f"/v1/devices/{dev}/receipts", body),
        ("POST", f"/v1/devices/{dev}/funnel", body),
        ("POST", f"/v1/relay/devices/{dev}/receipts", body),
        ("GET", f"/v1/devices/{dev}/key", None),
        ("GET", f"/v1/devices/{dev}/receipts/{seg}/{digest or 'x'}", None),
        ("GET", f"/v1/devices/{dev}/receipts/{seg}/{digest or 'x'}/evidence", None),
        ("GET", f"/v1/devices/{dev}/receipts/{seg}", None),
        ("GET", "/v1/checkpoint", None),
        ("GET", f"/v1/proof/inclusion?index={index}&size={size}", None),
        ("GET", f"/v1/proof/consistency?first={index}&size={size}", None),
        ("GET", "/v1/log", None),
        ("GET", "/v1/log/epochs", None),
        ("POST", "/v1/log/checkpoints", body),
        ("GET", "/api/devices", None),
        ("GET", "/healthz", None),
        ("GET", "/v", None),
        ("GET", f"/{quote(draw(segments), safe='')}/{seg}", None),
    ]
    method, path, payload = draw(st.sampled_from(routes))
    return method, path, payload, draw(st.booleans())


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_route_answers_5xx_and_a_refusal_logs_one_line(
    fuzzed: Fuzzed, data: st.DataObject
) -> None:
    method, path, body, authenticated = data.draw(requests(fuzzed.device, fuzzed.line))
    headers = {"Content-Type": "application/json"}
    if authenticated:
        headers["Authorization"] = f"Bearer {ADMIN if path == '/api/devices' else fuzzed.token}"
    fuzzed.records.clear()
    answer = fuzzed.loop.run_until_complete(
        fuzzed.client.http.request(method, path, content=body, headers=headers)
    )
    assert answer.status_code < 500, (method, path, body, answer.text)
    assert not any(r.exc_info for r in fuzzed.records), (method, path, answer.text)
    if answer.status_code >= 400 and answer.status_code != 409:
        assert answer.json()["error"], answer.text
        lines = [r.getMessage() for r in fuzzed.records]
        assert len(lines) == 1 and lines[0].startswith("event=client_error "), lines
        assert "\n" not in lines[0]


def test_a_23_digit_seq_and_a_huge_funnel_count_are_4xx(fuzzed: Fuzzed) -> None:
    """The two 500s of issue 22, on both stores."""

    def call(method: str, path: str, body: Any = None) -> Any:
        auth = {"Authorization": f"Bearer {fuzzed.token}"}
        return fuzzed.loop.run_until_complete(
            fuzzed.client.http.request(method, path, json=body, headers=auth)
        )

    digest = line_digest(fuzzed.line)
    answer = call("GET", f"/v1/devices/{fuzzed.device}/receipts/{10**22}/{digest}")
    assert answer.status_code == 404 and answer.json()["error"].startswith("seq:")
    minute = {"minute": "2026-11-28T18:00", "menu": 10**22, "cart": 0, "order": 0, "paid": 0}
    answer = call("POST", f"/v1/devices/{fuzzed.device}/funnel", {"v": 1, "minutes": [minute]})
    assert answer.status_code == 422 and "minutes[0].menu" in answer.json()["error"]
    for field in ("from_seq", "known_size"):
        batch = {"v": 1, "from_seq": 0, "prev_hash": "A" * 22, "receipts": [], field: 10**22}
        answer = call("POST", f"/v1/devices/{fuzzed.device}/receipts", batch)
        assert answer.status_code == 422 and field in answer.json()["error"], answer.text
    answer = call("GET", f"/v1/proof/inclusion?index={10**22}&size=3")
    assert answer.status_code == 400 and answer.json()["error"].startswith("index:")
