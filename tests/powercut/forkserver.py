"""A warm start for the processes a power-on starts: fork an interpreter that imported them once.

Each power-on starts a fresh `stallbox node` (and `sync`, `cloud serve`); on the test VM most of
their 2-3 s start is Python importing modules. The fork server imports those modules once and
then does nothing else: it opens no file on the lossy mount, starts no thread and no event
loop, reads no config and no state dir. Per start it forks a child that sets its stdio,
working directory, environment and argv, and runs `appliance.cli.main(ARGS)`, the function
`python -m appliance.cli ARGS` runs. Everything the child knows about the box it reads from
the surviving bytes after the fork; what it shares with the server is imported code, never
state about the box. So for what a power cut can change it is as fresh as an exec'd process
(and `random` reseeds in a forked child; OpenSSL reseeds on fork). POWERCUT_FORK=0 turns it
off: every process is then exec'd.

    python tests/powercut/forkserver.py SOCKET [--weak]   (serves until its stdin closes)

--weak (teeth tests only) opens every database with synchronous=NORMAL in the children, the bug
the power-cut tests must catch.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]
PRELOAD = (
    "appliance.cli", "appliance.api.server", "appliance.payments.command", "sync.command",
    "sync.cloud.command", "uvloop", "_strptime",
)  # fmt: skip


def enabled() -> bool:
    """Whether the harness forks its processes (POWERCUT_FORK, default on)."""
    return os.environ.get("POWERCUT_FORK", "1") != "0"


# -- the server ----------------------------------------------------------------------------


def serve(path: str, weak: bool = False) -> int:
    """Import PRELOAD, then fork a child per request until stdin closes."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    if weak:
        from sell_child import weaken

        weaken()
    # What the node's tune_gc does once started, done before forking: the collector then
    # skips what the imports made (and a child does not copy every page to scan it).
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    children: dict[int, socket.socket] = {}
    while True:
        readable, _, _ = select.select([listener, sys.stdin], [], [], 0.01)
        reap(children)
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1):
            return 0  # the test is done
        if listener in readable:
            conn, _ = listener.accept()
            data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
            request = json.loads(data)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                for other in children.values():
                    other.close()
                child(conn, fds, request)  # never returns
            for fd in fds:
                os.close(fd)
            conn.sendall(f"{pid}\n".encode())
            children[pid] = conn


def reap(children: dict[int, socket.socket]) -> None:
    """Tell each ended child's client its exit code."""
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = children.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            conn.close()


def child(conn: socket.socket, fds: list[int], request: dict[str, Any]) -> None:
    """In the forked child: become `stallbox ARGS` with the request's stdio, cwd and env."""
    conn.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [str(REPO / "appliance" / "cli.py"), *request["argv"]]
    code = 1
    try:
        from appliance.cli import main

        code = main(request["argv"])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - what the interpreter would print, then exit 1
        traceback.print_exc()
    finally:  # what a normal interpreter exit does: threading's exit hooks, join threads, atexit,
        # flush. The hooks come first: concurrent.futures registers one there that tells its
        # idle worker threads to end; joining them without it waits forever (a cloud that has
        # served a batch then hung on SIGTERM).
        shutdown: Callable[[], None] = getattr(threading, "_shutdown")  # noqa: B009 - private
        shutdown()
        atexit._run_exitfuncs()
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


# -- the client ----------------------------------------------------------------------------


@dataclass
class Forked:
    """A forked `stallbox` process, with what the test uses of subprocess.Popen."""

    pid: int
    conn: socket.socket
    stdout: IO[str] | None
    returncode: int | None = None
    _buffer: bytes = field(default=b"", repr=False)

    def poll(self) -> int | None:
        """The exit code if it ended, else None."""
        if self.returncode is None:
            self._read(block=False)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the end (subprocess.TimeoutExpired after `timeout`)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"stallbox (pid {self.pid})", timeout or 0)
            self._read(block=True, timeout=left)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL, as a power cut does to a process."""
        self.send_signal(signal.SIGKILL)

    def send_signal(self, sig: int) -> None:
        """Signal the process if it has not ended (its pid is not reused before we read that)."""
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def _read(self, block: bool, timeout: float | None = None) -> None:
        ready, _, _ = select.select([self.conn], [], [], timeout if block else 0)
        if not ready:
            return
        data = self.conn.recv(64)
        self._buffer += data
        if b"\n" in self._buffer and self._buffer.startswith(b"exit "):
            self.returncode = int(self._buffer.split()[1])
            self.conn.close()
        elif not data:  # the server went away: treat as killed
            self.returncode = -9
            self.conn.close()


class ForkServer:
    """The server process, started once per test run."""

    def __init__(self, weak: bool = False) -> None:
        self.dir = tempfile.mkdtemp(prefix="sbx-fork-")
        self.path = os.path.join(self.dir, "fork.sock")
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            [sys.executable, __file__, self.path, *(["--weak"] if weak else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            cwd=REPO, env=env,
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line != b"READY\n":
            self.process.kill()
            raise RuntimeError(f"the fork server did not start: {line!r}")

    def spawn(self, argv: list[str], env: dict[str, str], text_stdout: bool = True) -> Forked:
        """Fork `stallbox ARGV` with stdout and stderr into one pipe read by the caller."""
        read, write = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.path)
            request = {"argv": argv, "env": env, "cwd": str(REPO)}
            socket.send_fds(conn, [json.dumps(request).encode()], [null, write, write])
        finally:
            os.close(write)
            os.close(null)
        pid = b""
        while not pid.endswith(b"\n"):
            chunk = conn.recv(1)
            if not chunk:
                raise RuntimeError("the fork server closed the connection")
            pid += chunk
        stdout = open(read, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by GC
        return Forked(int(pid), conn, stdout)

    def close(self) -> None:
        """Stop the server (its running children are the caller's to kill)."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
            os.rmdir(self.dir)


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], weak="--weak" in sys.argv[2:]))
