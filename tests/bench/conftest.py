"""The benches are scripts, not an installed package: put the repo first so `bench` imports."""

import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[2])
if REPO not in sys.path:
    sys.path.insert(0, REPO)
