"""Start the box's processes for a power-on: forked from the fork server, or exec'd.

The same commands and the same readiness waits as tests/e2e (nodeproc.start_node,
syncproc.spawn); only how the interpreter starts differs (forkserver.py says why a forked
child is as fresh as an exec'd one for a power-cut test). The node runs with --no-mdns: it
awaits mDNS name probing (~1 s, RFC 6762 §8.1) before it listens, and advertising holds no
data a power cut could lose.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from forkserver import ForkServer, enabled

sys.path.append(str(Path(__file__).resolve().parents[1] / "e2e"))
from nodeproc import NODE_READY, REPO, NodeProcess, start_node
from syncproc import Proc
from syncproc import spawn as exec_spawn


@pytest.fixture(scope="module")
def forks() -> Iterator[ForkServer | None]:
    """A fork server for the module's tests (None with POWERCUT_FORK=0: every process exec'd)."""
    server = ForkServer() if enabled() else None
    yield server
    if server is not None:
        server.close()


def spawn(forks: ForkServer | None, *args: str, **env: str) -> Proc:
    """Start `stallbox ARGS` (not waiting for it); its output is collected in the Proc."""
    if forks is None:
        assert not env, "exec'd processes take the test's environment"
        return exec_spawn(*args)
    forked = forks.spawn(list(args), {**os.environ, "PYTHONPATH": str(REPO), **env})
    proc = Proc(cast(Any, forked))
    threading.Thread(target=lambda: proc.output.extend(forked.stdout or []), daemon=True).start()
    return proc


def node(forks: ForkServer | None, state: Path, deadline_s: float = 30, **env: str) -> NodeProcess:
    """Start `stallbox node` on `state` (initialised) and wait until it listens."""
    if forks is None:
        return start_node(state, "--no-mdns", deadline_s=deadline_s, **env)
    args = ["node", "--state", str(state), "--host", "127.0.0.1", "--port", "0"]
    args += ["--operator-port", "0", "--interfaces", "loopback", "--no-mdns"]
    proc = spawn(forks, *args, **env)
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for line in list(proc.output):
            if match := NODE_READY.search(line):
                return NodeProcess(proc.process, match[1], state, proc.output, match[2])
        if proc.process.poll() is not None:
            time.sleep(0.1)
            raise AssertionError("node exited early:\n" + proc.text())
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("node not ready in time:\n" + proc.text())
