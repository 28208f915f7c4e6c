"""How the HTTP processes run: the garbage collector kept out of a rush's tail latency."""

from __future__ import annotations

import gc

from appliance.serving import GC_GEN0_THRESHOLD, tune_gc


def test_tune_gc_freezes_what_starting_made_and_raises_the_young_threshold() -> None:
    before = gc.get_threshold()
    try:
        tune_gc()
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 10_000  # every module, class and function loaded so far
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
