"""The expiry sweep outlives a failed write: holds return once the store answers again."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from node_support import attendee_app
from starlette.testclient import TestClient

from appliance.api import node as node_module
from appliance.store.errors import StoreError


def test_a_failed_sweep_is_retried_not_fatal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(node_module, "EXPIRY_SWEEP_S", 0.02)
    app = attendee_app(tmp_path / "state")
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
