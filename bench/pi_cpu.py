"""A Raspberry Pi's CPU budget on this machine: one CPU under a quota calibrated to Nx slower.

The box's processes run on the first CPU in a control group whose CPU quota is set so that a
fixed Python workload runs `slowdown` times slower than on that CPU unthrottled (7 for a Pi 4's
core against this VM's). The quota is cgroup v2 `cpu.max` where the v2 hierarchy has the cpu
controller, else cgroup v1 `cpu.cfs_quota_us`; the period is short (10 ms, longer only when
the share needed falls below the kernel's 1 ms minimum quota), so a throttled process runs in
slices of ~1.4 ms rather than stalling for tens of ms. The share is found by measuring: start at
1/slowdown, run the workload, scale the share by wanted/measured, until within 10%. The
unthrottled figure is the workload's CPU time, not its wall time: on a shared machine other
loads stretch the wall time, and a Pi is N times slower than this core, not than this core's
share of a busy moment. Throttled, the wall time counts (quota waits and other loads alike),
so the share found also absorbs what the other loads take; the JSON line reports it.

The group's weight against everything else on its CPU is the kernel's maximum (v1 cpu.shares,
v2 cpu.weight): the quota caps the box at a Pi's share, and the weight lets it have that share
even while other loads (seven engineers' test suites here) want the same CPU. At the default
weight the group got one task's share of a contended CPU: the quota found moved 1,266-1,855 µs
per 10 ms between runs of one hour, and a Pi that gets half its core now and then is not a Pi.

The box's CPU never idles: a spinner at SCHED_IDLE (the lowest class: it runs only when nothing
else on that CPU can, the throttled box included) keeps it busy. Without it, on this VM, the
same 1/7 quota made the workload 7.5-14.6x slower from one second to the next (median 9.1,
stdev 2.0, 24 runs), the box's figures moving with it (a round whose idle box measured 13.9x
gave the menu a 705 ms p99 and the console a 4.0 s start); with it, 7.5-9.7x (median 8.25, stdev
0.63), interleaved with those 24. The likely cause: a throttled group on an otherwise idle CPU
lets the virtual CPU halt, and its quota's refill then waits for the host to wake it, so the
periods stretch. A Pi's core is slow, not stop-and-go, and never waits on a host.

Where no cgroup can be created (not root, a read-only cgroupfs), the fallback is labelled as
such: a duty cycle that SIGSTOPs and SIGCONTs the box's processes (on the same one CPU), run
1/slowdown of every 10 ms period, calibrated the same way. It is coarser (a whole process
stops, in-flight syscalls included) and is named in the bench's JSON line ("method").
"""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.honest import Unmeasured

PERIOD_US = 10_000
V1_SHARES_MAX = 262_144  # the group's weight against other loads on its CPU: the kernel's maximum
V2_WEIGHT_MAX = 10_000
MIN_QUOTA_US = 1_000
WORKLOAD = """
import time
def work():
    table = {}
    for i in range(40_000):
        table[str(i)] = i * i
    return sum(len(key) for key in table)
t0, c0 = time.perf_counter(), time.process_time()
for _ in range(3):
    work()
print(time.perf_counter() - t0, time.process_time() - c0)
"""
SPINNER = """
import os, sys
parent = int(sys.argv[1])
while os.getppid() == parent:  # ends with the bench, even one killed outright
    for _ in range(100_000):
        pass
"""
V2_ROOT = Path("/sys/fs/cgroup")
V1_CPU = Path("/sys/fs/cgroup/cpu")


def quota_for(share: float) -> tuple[int, int]:
    """(quota us, period us) for `share` of one CPU: a 10 ms period, longer only when the
    quota would fall under the kernel's 1 ms minimum."""
    share = max(0.005, min(1.0, share))
    period = max(PERIOD_US, round(MIN_QUOTA_US / share))
    return max(MIN_QUOTA_US, round(share * period)), period


@dataclass(frozen=True, slots=True)
class Calibration:
    """What calibration measured: the workload's seconds unthrottled and under the quota."""

    method: str
    quota_us: int
    period_us: int
    base_s: float
    throttled_s: float
    steps: int

    @property
    def slowdown(self) -> float:
        """The measured slowdown."""
        return self.throttled_s / self.base_s


class Throttle:
    """A one-CPU, Nx-slower place for the box's processes; `enter` is their preexec_fn."""

    def __init__(self, cpu: int) -> None:
        self.cpu = cpu
        self.method = ""
        self.group: Path | None = None
        self.quota_us = PERIOD_US
        self.period_us = PERIOD_US
        self._procs_file = "cgroup.procs"
        self._pids: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._why_not = ""
        self._create()
        self._spinner = subprocess.Popen(
            [sys.executable, "-c", SPINNER, str(os.getpid())], preexec_fn=self._idle_class
        )  # see the module's docstring: the CPU never idles, so the quota's periods do not stretch

    def _idle_class(self) -> None:
        """preexec_fn for the spinner: on the box's CPU, in the SCHED_IDLE class."""
        os.sched_setaffinity(0, {self.cpu})
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))

    def _create(self) -> None:
        name = f"stallbox-pi-{os.getpid()}"
        controllers = V2_ROOT / "cgroup.controllers"
        try:
            if controllers.exists() and "cpu" in controllers.read_text().split():
                group = V2_ROOT / name
                group.mkdir()
                with contextlib.suppress(OSError):  # a weight is a help, the quota the budget
                    (group / "cpu.weight").write_text(str(V2_WEIGHT_MAX))
                self.group, self.method = group, "cgroup v2 cpu.max"
                return
            self._why_not = "cgroup v2 has no cpu controller here"
            if (V1_CPU / "cpu.cfs_quota_us").exists():
                group = V1_CPU / name
                group.mkdir()
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                with contextlib.suppress(OSError):
                    (group / "cpu.shares").write_text(str(V1_SHARES_MAX))
                self.group, self.method = group, "cgroup v1 cpu.cfs_quota_us"
                return
            self._why_not += "; no cgroup v1 cpu hierarchy at /sys/fs/cgroup/cpu"
        except OSError as exc:
            self._why_not += f"; cannot create a cgroup ({exc.strerror}: {exc.filename})"
        self.method = f"duty cycle SIGSTOP/SIGCONT (fallback: {self._why_not.strip('; ')})"
        self._thread = threading.Thread(target=self._duty, daemon=True)
        self._thread.start()

    @property
    def share(self) -> float:
        """The CPU share allowed: quota / period."""
        return self.quota_us / self.period_us

    def set_share(self, share: float) -> None:
        """Allow `share` of one CPU, over the shortest period (>= 10 ms) that can say it."""
        self.quota_us, self.period_us = quota_for(share)
        if self.group is None:
            return
        if self.method.startswith("cgroup v2"):
            (self.group / "cpu.max").write_text(f"{self.quota_us} {self.period_us}")
        else:
            quota, period = self.group / "cpu.cfs_quota_us", self.group / "cpu.cfs_period_us"
            quota.write_text("-1")  # so that any new period is accepted, then the quota
            period.write_text(str(self.period_us))
            quota.write_text(str(self.quota_us))

    def enter(self) -> None:
        """preexec_fn: move this (child) process into the box's place: the group and the CPU."""
        os.sched_setaffinity(0, {self.cpu})
        if self.group is not None:
            (self.group / self._procs_file).write_text(str(os.getpid()))

    def watch(self, pid: int) -> None:
        """Throttle `pid` too (the duty cycle needs to know the processes; a group does not)."""
        self._pids.add(pid)

    def _duty(self) -> None:
        while not self._stop.is_set():
            on = self.quota_us / 1e6
            self._signal(signal.SIGCONT)
            time.sleep(on)
            self._signal(signal.SIGSTOP)
            time.sleep(max(0.0, self.period_us / 1e6 - on))
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        for pid in list(self._pids):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                self._pids.discard(pid)

    def run_workload(self, throttled: bool) -> float:
        """Seconds the fixed workload took in a child on our CPU: throttled, its wall time;
        unthrottled, its CPU time (the core's own speed, whatever else runs on it now)."""
        preexec = self.enter if throttled else (lambda: os.sched_setaffinity(0, {self.cpu}))
        child = subprocess.Popen([sys.executable, "-c", WORKLOAD], stdout=subprocess.PIPE,
                                 text=True, preexec_fn=preexec)  # fmt: skip
        if throttled and self.group is None:
            self.watch(child.pid)
        out, _ = child.communicate(timeout=300)
        if child.returncode != 0:
            raise Unmeasured(f"the calibration workload failed ({child.returncode})")
        wall, cpu = (float(word) for word in out.split())
        return wall if throttled else cpu

    def calibrate(self, slowdown: float, steps: int = 5) -> Calibration:
        """Find the quota that makes the workload `slowdown` times slower; medians of 3 runs."""
        base = statistics.median(self.run_workload(False) for _ in range(3))
        self.set_share(1 / slowdown)
        throttled = base
        for step in range(1, steps + 1):
            throttled = statistics.median(self.run_workload(True) for _ in range(3))
            measured = throttled / base
            if abs(measured - slowdown) / slowdown <= 0.10:
                return Calibration(
                    self.method, self.quota_us, self.period_us, base, throttled, step
                )  # fmt: skip
            self.set_share(self.share * measured / slowdown)
        raise Unmeasured(
            f"calibration did not reach {slowdown}x in {steps} steps (last {throttled / base:.2f}x"
            f" at quota {self.quota_us} us per {self.period_us} us; base {base * 1e3:.0f} ms):"
            " the machine is too busy for a stable quota"
        )

    def close(self) -> None:
        """Stop the spinner and the duty cycle, or remove the group (its processes must have exited)."""
        self._spinner.kill()
        self._spinner.wait()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1)
        if self.group is not None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    self.group.rmdir()
                    return
                except OSError:
                    time.sleep(0.1)
            with contextlib.suppress(OSError):
                self.group.rmdir()
