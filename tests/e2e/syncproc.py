"""Real processes for sync tests: a ledger full of sales, a cloud, enrolment, a flaky link."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
from nodeproc import READY_LINE, REPO, run_cli

from appliance.ledger.receipt import ReceiptType
from appliance.ledger.wire import Head
from appliance.services.box import Box, init_state
from appliance.services.cloud_account import cloud_tls, load_account

T0 = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)


def make_sales(state: Path, count: int, *, chunk: int = 1000) -> int:
    """Initialise `state` if needed and append `count` signed sale receipts; return the head seq."""
    if not (state / "device.key").exists():
        init_state(state, "BRL", T0)
    box = Box.open(state, "BRL")
    try:
        done = 0
        while done < count:
            n = min(chunk, count - done)

            def append(conn: object, n: int = n, start: int = done) -> int:
                seq = 0
                for i in range(start, start + n):
                    qty = 1 + i % 3
                    items = [{"name": "Pastel", "qty": qty, "sku": "pastel", "unit": 950}]
                    receipt = box.append(
                        conn,  # type: ignore[arg-type]
                        kind=ReceiptType.SALE,
                        at=T0 + timedelta(seconds=i),
                        total=950 * qty,
                        items=items,
                        ref=f"{i % 1000:03d}X",
                    )
                    seq = receipt.seq
                return seq

            head = box.writer.run_sync(append)
            done += n
        return int(head) if count else -1
    finally:
        box.close()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    """A `stallbox` subprocess and everything it printed."""

    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    url: str = ""
    state: Path | None = None

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, like a power cut for this process."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then wait; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def text(self) -> str:
        return "".join(self.output)


def spawn(
    *args: str, ready: str | None = None, deadline_s: float = 20.0, prefix: Sequence[str] = ()
) -> Proc:
    """Start `stallbox ARGS` (after `prefix`, e.g. `ip netns exec NS`); with `ready`, wait for
    a line matching READY_LINE (the URL)."""
    process = subprocess.Popen(
        [*prefix, sys.executable, "-m", "appliance.cli", *args], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    proc = Proc(process)
    threading.Thread(target=lambda: proc.output.extend(process.stdout or []), daemon=True).start()
    return proc if ready is None else wait_ready(proc, args[0], deadline_s)


def wait_ready(proc: Proc, what: str, deadline_s: float = 20.0) -> Proc:
    """Wait until `proc` printed a line matching READY_LINE; set its url from it (kill it and
    fail if it exits first or the deadline passes)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for line in list(proc.output):
            if match := READY_LINE.search(line):
                proc.url = match[1]
                return proc
        if proc.process.poll() is not None:
            time.sleep(0.1)
            raise AssertionError(f"stallbox {what} exited early:\n{proc.text()}")
        time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"stallbox {what} not ready in time:\n{proc.text()}")


def start_cloud(state: Path, port: int = 0, *extra: str) -> Proc:
    """Run `stallbox cloud` on 127.0.0.1:`port` with its state in `state`."""
    cloud = spawn(
        "cloud", "serve", "--state", str(state), "--host", "127.0.0.1", "--port", str(port), *extra,
        ready="listening",
    )  # fmt: skip
    cloud.state = state
    return cloud


def enrol(
    box_state: Path, cloud_state: Path, url: str, *extra: str, ca_file: Path | None = None
) -> None:
    """Enrol the box in `box_state` with the cloud, as an operator would with the two commands."""
    token = run_cli("cloud", "enrol-token", "--state", str(cloud_state), *extra)
    assert token.returncode == 0, token.stderr
    trust = ("--ca-file", str(ca_file)) if ca_file else ()
    done = run_cli(
        "enrol", url, token.stdout.strip().split()[-1], "--state", str(box_state), *trust
    )
    assert done.returncode == 0, done.stderr


def cloud_head(box_state: Path, url: str | None = None) -> Head:
    """The cloud's head for the enrolled box, asked with the box's own token."""
    account = load_account(box_state)
    answer = httpx.get(
        f"{url or account.url}/v1/devices/{account.device}/head",
        headers={"Authorization": f"Bearer {account.api_token}"}, timeout=10,
        verify=cloud_tls(account.ca_file),
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    return msgspec.json.decode(answer.content, type=Head)


class FlakyProxy:
    """A TCP proxy on 127.0.0.1 that cuts connections at random moments (a bad uplink)."""

    def __init__(self, target_port: int, *, cut_probability: float = 0.0, seed: int = 1) -> None:
        self.target_port = target_port
        self.cut_probability = cut_probability
        self.rng = random.Random(seed)
        self.cuts = 0
        self.up = True
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._closed = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self.cut_probability and self.rng.random() < self.cut_probability:
                    self.cuts += 1
                    dst.sendall(data[: len(data) // 2])
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._close_pair(src, dst)

    def _close_pair(self, *socks: socket.socket) -> None:
        for sock in socks:
            with self._lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def cut_all(self) -> None:
        """Drop every open connection now (the link went down mid-batch)."""
        with self._lock:
            socks = list(self._open)
        self.cuts += len(socks) // 2
        self._close_pair(*socks)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        self.cut_all()
