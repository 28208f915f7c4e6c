"""Issue 11's acceptance: a stranger sending wrong codes from another address for 3 minutes.

The vendor, from 127.0.0.1, asks for a fresh code (`stallbox pair`) every 5 s, types it in 3 s
later and pairs within 10 s of asking, every time, while tests/e2e/pair_attacker.py runs PAKE
pairing with random codes from 127.0.0.2 as fast as the node lets it; both over TLS to the
operator port (the vendor pinned, like a console). The attacker never pairs, and spends at most
its address's share of each code (so its chance per code stays at most SOURCE_FAILURES_PER_CODE
/ 10^6, and no more than CODE_FAILURES / 10^6 for any number of addresses).
Duration: STALLBOX_PAIR_ATTACK_S, 60 s in the suite (which must stay under 15 minutes); the
issue's 3 minutes is `STALLBOX_PAIR_ATTACK_S=180 ./dev test tests/e2e/test_pairing_attack.py`
(run and passed on 2026-12-04 in three whole-suite runs: 183 s each).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nodeproc import REPO, run_cli, start_node

from appliance.services.pairing import SOURCE_FAILURES_PER_CODE
from tui.pairing import pair_blocking

ATTACK_S = float(os.environ.get("STALLBOX_PAIR_ATTACK_S", "60"))
ATTACKER_ADDRESS = "127.0.0.2"
VENDOR_BOUND_S = 10.0
VENDOR_EVERY_S = 5.0  # the vendor's pace: a fresh code every 5 s...
VENDOR_TYPING_S = 3.0  # ...typed into the console 3 s later: the attacker's window on each code


@pytest.mark.slow
@pytest.mark.serial  # the vendor must pair within 10 s while an attacker runs flat out
def test_wrong_codes_from_another_address_never_stop_the_vendor(tmp_path: Path) -> None:
    node = start_node(tmp_path / "s")
    attacker = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("pair_attacker.py")), node.operator_url,
         ATTACKER_ADDRESS, node.fingerprint, str(ATTACK_S)],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    took: list[float] = []
    try:
        deadline = time.monotonic() + ATTACK_S
        with node.client() as http:
            while time.monotonic() < deadline:
                asked = time.monotonic()
                code = run_cli("pair", "--state", str(node.state)).stdout.split()[2]
                time.sleep(VENDOR_TYPING_S)  # the vendor reads the code and types it in
                answer = pair_blocking(http, code, "vendor", node.fingerprint)
                took.append(time.monotonic() - asked)
                assert answer.token and took[-1] < VENDOR_BOUND_S, took
                time.sleep(max(0.0, asked + VENDOR_EVERY_S - time.monotonic()))  # pace, not a wait
        out, _ = attacker.communicate(timeout=60)
    finally:
        attacker.kill()
        node.stop()
    counts = json.loads(out.strip().splitlines()[-1])
    print(
        f"\nattack {ATTACK_S:g} s: {len(took)} vendor pairings, median {statistics.median(took):.2f} s,"
        f" max {max(took):.2f} s; attacker {counts}"
    )
    assert counts["paired"] == 0
    assert counts["wrong"] >= SOURCE_FAILURES_PER_CODE  # it did get to guess: the test can fail
    assert counts["limited"] > 0  # and the node's limits, not its own pace, stopped it
    # one address spent at most its share of each code the vendor asked for (and of the last)
    assert counts["guesses"] <= SOURCE_FAILURES_PER_CODE * (len(took) + 1), counts
