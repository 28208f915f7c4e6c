"""`stallbox console` starts without the node's config code: appliance/cli.py imports it lazily.

The CLI's module is imported before every subcommand, the console's included; with the config
(msgspec types for every section, payments, flags, passes, cryptography) at its top it cost
~0.09 s of CPU here before the console's own start, ~0.6 s on a Pi 4
(docs/performance/2026-12-05-console-start-without-httpx.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, sys
import appliance.cli
heavy = ("appliance.config", "cryptography", "msgspec", "appliance.payments", "appliance.flags")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_the_cli_module_loads_no_config_code() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=60,
        check=True,
    )  # fmt: skip
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
