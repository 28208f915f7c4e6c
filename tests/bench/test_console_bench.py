"""The console bench still measures what bench/pi.py asks it for.

No other test drives the bench's console children, so a console change they did not expect
broke bench/pi.py silently once: Esc on a shown payment code began to ask before cancelling,
and the children stopped at "timed out on ConfirmAction". One start and two sales, ~7 s.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_console_bench_starts_sells_and_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "console.py"), "--starts", "1", "--sales", "2"],
        capture_output=True, text=True, timeout=240, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["bench"] == "console"
    assert figures["start_s"] > 0 and figures["peak_rss_mb"] > 0
    assert figures["key_to_qr_p50_ms"] > 0 and figures["key_to_display_p50_ms"] > 0
