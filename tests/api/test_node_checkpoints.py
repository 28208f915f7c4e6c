"""A running node takes the WAL's checkpoints off its commits: a sale's COMMIT never copies the log."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from node_support import attendee_app
from starlette.testclient import TestClient

from appliance.store.checkpoint import BACKSTOP_PAGES


def autocheckpoint(conn: sqlite3.Connection) -> int:
    """The pages of log past which this connection's COMMIT copies the log itself."""
    return int(conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])


def test_a_running_node_leaves_checkpoints_to_its_checkpointer(tmp_path: Path) -> None:
    app = attendee_app(tmp_path / "state")
    with TestClient(app) as client:
        assert client.portal is not None
        node = app.state.node
        writer = node.box.writer
        deadline = time.monotonic() + 10
        while True:  # take_over is the checkpointer task's first step
            pages = client.portal.call(writer.run, autocheckpoint)  # on the node's own loop
            if pages == BACKSTOP_PAGES:
                break
            assert time.monotonic() < deadline, f"the writer still checkpoints every {pages} pages"
            time.sleep(0.01)
        assert any(t.get_name() == "wal-checkpoint" and not t.done() for t in node._tasks)
    assert node.checkpointer._thread._shutdown  # closed with the node
