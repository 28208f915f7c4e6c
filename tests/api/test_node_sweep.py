"""The expiry sweep outlives a failed write: holds return once the store answers again."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from appliance.api import node as node_module
from appliance.api.app import Planes
from appliance.config import load_config
from appliance.services.box import init_state
from appliance.store.errors import StoreError


def test_a_failed_sweep_is_retried_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_module, "EXPIRY_SWEEP_S", 0.02)
    state = tmp_path / "state"
    init_state(state, "BRL", datetime.now(UTC))
    app = Planes(
        load_config(state / "stallbox.toml"), state, port=0, operator_port=0, advertise=False
    ).attendee
    with TestClient(app):
        node = app.state.node
        real, calls = node.drops.expire_holds, []

        async def failing_once() -> list[str]:
            calls.append(time.monotonic())
            if len(calls) == 1:
                raise StoreError("stallbox.db: database or disk is full")
            return list(await real())

        node.drops.expire_holds = failing_once
        deadline = time.monotonic() + 10
        while len(calls) < 3:
            assert time.monotonic() < deadline, f"the sweep stopped after {len(calls)} run(s)"
            time.sleep(0.01)
