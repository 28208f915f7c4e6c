"""Fuzz the operator API with hypothesis against the real app and a real ledger.

Whatever comes in — random JSON, random bytes (raw bytes inside JSON strings too), wrong types,
times out of any sane range, unknown ids — the answer is never a 5xx, a 4xx always has a JSON
body naming the problem, and a refused request changes nothing stored (a dump of the whole
database is compared before and after).
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

with warnings.catch_warnings():  # starlette suggests httpx2; the httpx we pin works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from appliance.api.app import Planes
from appliance.config import load_config
from appliance.ledger.identity import load_key
from appliance.services.box import init_state
from appliance.services.pairing import Pairing

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["sku", "qty", "lines", "note", "tender", "operator", "override_reason", "code", "name",
          "quantity", "starts_at", "per_attendee", "hold_s"]  # fmt: skip
# Raw bytes inside a JSON string (a 0xff there was a 500 with a traceback: issue 12).
raw_in_json = st.tuples(st.sampled_from(FIELDS), st.binary(min_size=1, max_size=8)).map(
    lambda fv: b'{"' + fv[0].encode() + b'":"' + fv[1].replace(b'"', b"") + b'"}'
)
# Times anywhere in datetime's range, with any offset, and a few just out of it.
any_time = st.one_of(
    st.datetimes(timezones=st.timezones() | st.just(UTC)).map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59-23:59", "0001-01-01T00:00+23:59", "9999-12-31T23:59Z",
                     "0001-01-01T00:00:00Z", "2026-02-30T10:00Z", "2026-13-01T10:00Z"]),
)  # fmt: skip
drop_bodies = st.fixed_dictionaries(
    {"sku": st.sampled_from(["pastel", "coffee"]), "starts_at": any_time},
    optional={
        "quantity": st.integers(-(2**40), 2**40),
        "per_attendee": st.integers(-(2**40), 2**40),
        "hold_s": st.integers(-(2**40), 2**40),
    },
).map(lambda v: json.dumps(v).encode())
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5).map(
        lambda v: json.dumps(v).encode()
    ),
    st.binary(max_size=64),
    raw_in_json,
    drop_bodies,
)
ENDPOINTS = [
    ("POST", "/api/orders"), ("POST", "/api/orders/{id}/lines"), ("POST", "/api/orders/{id}/lines/remove"),
    ("POST", "/api/orders/{id}/tender"), ("POST", "/api/orders/{id}/confirm"), ("POST", "/api/orders/{id}/cancel"),
    ("POST", "/api/orders/{id}/void"), ("POST", "/api/drops"), ("POST", "/api/pair/start"), ("POST", "/api/pair/finish"),
    ("POST", "/relay/v1/devices/{text}/batches"), ("GET", "/api/orders?state={text}"), ("GET", "/api/decisions?limit={text}"), ("GET", "/api/orders/{id}"),
]  # fmt: skip


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path, str]]:
    state = tmp_path_factory.mktemp("fuzz") / "state"
    init_state(state, "BRL", datetime.now(UTC))
    config = load_config(state / "stallbox.toml")
    app = Planes(config, state, port=0, operator_port=0, advertise=False).operator
    token = Pairing(state, load_key(state), "fuzz").issue("fuzz", 0, datetime.now(UTC).timestamp())
    with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
        order = client.post("/api/orders", json={"lines": [{"sku": "pastel", "qty": 1}]}).json()
        yield client, state, order["id"]


def dump(state: Path) -> str:
    conn = sqlite3.connect(state / "stallbox.db")
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=bodies,
    text=st.text(max_size=12),
    real_id=st.booleans(),
)
def test_no_5xx_and_refusals_change_nothing(
    api: tuple[TestClient, Path, str],
    endpoint: tuple[str, str],
    body: bytes,
    text: str,
    real_id: bool,
) -> None:
    client, state, order_id = api
    method, template = endpoint
    junk = quote(text, safe="") or "x"
    path = template.replace("{id}", order_id if real_id else junk).replace("{text}", junk)
    before = dump(state)
    answer = client.request(method, path, content=body if method == "POST" else None)
    assert answer.status_code < 500, (method, path, body, answer.text)
    if answer.status_code >= 400:
        problem: dict[str, Any] = answer.json()
        assert problem["error"]
        assert dump(state) == before, (method, path, body, answer.text)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(raw_in_json, drop_bodies),
    path=st.sampled_from(["/api/drops", "/api/pair/start"]),
)
def test_raw_bytes_and_far_times_are_4xx_naming_the_field(
    api: tuple[TestClient, Path, str], body: bytes, path: str
) -> None:
    """Issue 12: a 0xff in a JSON string and a drop starting 9999-12-31 were 500s."""
    client, state, _ = api
    before = dump(state)
    answer = client.post(path, content=body)
    assert answer.status_code < 500, (path, body, answer.text)
    if answer.status_code >= 400:
        assert answer.json()["error"], answer.text
        assert dump(state) == before, (path, body, answer.text)
    if answer.status_code == 422 and b"starts_at" in body and b"T" in body:
        assert answer.json()["field"] in ("starts_at", "quantity", "per_attendee", "hold_s", "sku")
