"""The served OpenAPI document is what the code does: schemathesis, every check on, against a
real node process.

`api_target` is the one place that says where the API is and how TLS is checked, so the operator
plane can move to its own TLS port by changing that fixture alone. The document is built from
the node's route table (appliance/api/openapi.py), so new routes are fuzzed as soon as they
exist. STALLBOX_SCHEMATHESIS_EXAMPLES (default 20) and STALLBOX_SCHEMATHESIS_SEED (default 1)
tune the run; CI uses the defaults.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from nodeproc import NodeProcess, start_node

CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES = os.environ.get("STALLBOX_SCHEMATHESIS_EXAMPLES", "20")
SEED = os.environ.get("STALLBOX_SCHEMATHESIS_SEED", "1")


@dataclass(frozen=True)
class ApiTarget:
    """Where the node's HTTP API answers and how to check its TLS certificate."""

    base_url: str
    tls_verify: str  # "true", "false", or the path of a CA bundle (schemathesis --tls-verify)
    token: str


@pytest.fixture(scope="module")
def api_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node of its own: the fuzzer opens orders, confirms and voids them, schedules drops."""
    node = start_node(tmp_path_factory.mktemp("openapi") / "state")
    yield node
    if node.process.poll() is None:
        node.stop()


@pytest.fixture(scope="module")
def api_target(api_node: NodeProcess) -> ApiTarget:
    """The one switch: the operator plane's TLS port. schemathesis checks host names, which a
    box's certificate does not carry (its key is its identity), so the pin is proven here first,
    with the state dir's certificate as the only trust anchor, and schemathesis skips the check."""
    with api_node.client() as pinned:  # fails in the handshake unless it is this box's key
        assert pinned.get("/api/openapi.json").status_code == 200
    return ApiTarget(base_url=api_node.operator_url, tls_verify="false", token=api_node.pair())


def test_schemathesis_with_every_check_finds_no_failure(
    api_target: ApiTarget, tmp_path: Path
) -> None:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st), "--no-color", "--config-file", str(CONFIG), "run",
        f"{api_target.base_url}/api/openapi.json", "--checks", "all",
        "--header", f"Authorization: Bearer {api_target.token}",
        "--tls-verify", api_target.tls_verify, "--max-examples", EXAMPLES, "--seed", SEED,
        "--workers", "1", "--request-timeout", "10",
    ]  # fmt: skip
    run = subprocess.run(  # in tmp_path: schemathesis keeps a cache folder in its directory
        command, capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path
    )
    report = run.stdout[-20000:] + run.stderr[-4000:]
    assert run.returncode == 0, report
    counted = re.search(r"(\d+) generated, (\d+) passed", run.stdout)
    assert counted is not None and counted[1] == counted[2] and int(counted[1]) > 100, report
