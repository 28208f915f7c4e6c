"""The state dir's disk as the node reports it: ok, low or full."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.services import disk


@pytest.mark.parametrize(
    ("full", "free", "state"),
    [
        (False, 10 << 20, "ok"),
        (False, 1 << 20, "low"),
        (True, 10 << 20, "full"),
        (False, 0, "full"),
    ],
)
def test_the_disk_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, full: bool, free: int, state: str
) -> None:
    monkeypatch.setattr(disk, "free_bytes", lambda directory: free)
    assert disk.storage(tmp_path, full=full, warn_below=2 << 20) == disk.Storage(state, free)  # type: ignore[arg-type]
