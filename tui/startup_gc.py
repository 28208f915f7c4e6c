"""The console's start without the cyclic garbage collector, then the collector back on.

A console's start (importing Textual, parsing the stylesheet, composing the first screen)
allocates a few hundred thousand objects and frees almost none, so the collector's passes over
them are wasted: with it off until the first catalogue is drawn the start took 3-9% less CPU
here (docs/performance/2026-12-05-console-start-without-collector.md), ~0.1 s on a Pi 4.
`stallbox console` pauses it before importing the console; the app resumes it once the
first catalogue is drawn, or after RESUME_AFTER_S at most (a console that cannot reach its
node yet). Resuming first moves what the start built to the permanent generation
(`gc.freeze`), so later collections do not walk it either. A process that never paused the
collector (the tests, other entry points) is left exactly as it was.
"""

from __future__ import annotations

import gc

RESUME_AFTER_S = 5.0  # at most this long after the app mounts, the collector is back on


def pause() -> None:
    """Switch the cyclic collector off for the start (the entry point calls it before imports)."""
    gc.disable()


def resume() -> None:
    """Freeze what the start built and switch the collector back on, if pause() switched it off."""
    if gc.isenabled():
        return
    gc.freeze()
    gc.enable()
