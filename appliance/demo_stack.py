"""`stallbox demo`: the whole box on one machine — node, sync, an embedded cloud and the console.

A newcomer sees a sale go from payment QR to signed receipt to the cloud's Merkle log without
writing any config: the demo makes a state dir with a sample stall (menu, Pix and cash, a drop a
minute away), starts `stallbox cloud`, enrols the box with it, starts `stallbox node` and
`stallbox sync` as the real processes they are on a box, pairs a console and opens it.

`--headless --duration S` plays simulated attendees instead of the console: phones order from
the menu (Pix or cash) and claim drop units, the operator confirms over the API, and at the end
the demo waits for the sync daemon and exits 0 only if the cloud's head for the device equals the
device's last seq. mDNS stays on 127.0.0.1 unless `--lan` is given.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TextIO
from urllib.parse import urlsplit

import httpx

from appliance.config import CONFIG_NAME, sample_config
from appliance.errors import ExitCode, StallboxError

READY = re.compile(r"listening on (http://\S+)")
OPERATOR = re.compile(r"operator on (https://\S+)")
DEMO_PORT = 8080
DEMO_OPERATOR_PORT = 8443
DEMO_CONFIG = """
[policy.rails.pix]
per_sale_limit = "80.00"
exposure_limit = "5000.00"

[rails.pix]
kind = "pix"
key = "demo@stallbox.example"
merchant = "PASTELARIA DEMO"
city = "SAO PAULO"
"""
MENU = ("pastel", "coffee")
SYNC_WAIT_S = 60  # headless: how long the demo waits for the cloud to reach the device's head
# Uploads wait while a drop that still has units is in its rush ([sync] drop_rush_s, 120 s by
# default): the demo's is short, so a sale made then reaches the cloud while one watches, and a
# short headless run (a drop left unsold) still ends within SYNC_WAIT_S.
DEMO_RUSH_S = 20


@dataclass
class Child:
    """One `stallbox` process of the demo and what it printed."""

    name: str
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    url: str = ""
    operator_url: str = ""


class Stack:
    """Starts the demo's processes, and stops them in reverse order, whatever happens."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.children: list[Child] = []

    def start(self, name: str, *args: str, ready: bool = False, deadline_s: float = 30) -> Child:
        """Start `stallbox ARGS`; with `ready`, wait for its "listening on URL" line."""
        process = subprocess.Popen(
            [sys.executable, "-m", "appliance.cli", *args], stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        child = Child(name, process)
        self.children.append(child)
        threading.Thread(target=self._collect, args=(child,), daemon=True).start()
        deadline = time.monotonic() + deadline_s
        while ready and not child.url:
            if process.poll() is not None or time.monotonic() > deadline:
                raise StallboxError(f"demo: {name} did not start:\n{''.join(child.output)[-2000:]}")
            time.sleep(0.05)
        return child

    def _collect(self, child: Child) -> None:
        assert child.process.stdout is not None
        for line in child.process.stdout:
            child.output.append(line)
            if not child.operator_url and (match := OPERATOR.search(line)):
                child.operator_url = match[1]
            if not child.url and (match := READY.search(line)):
                child.url = match[1]

    def stop(self) -> None:
        """SIGTERM every child, newest first; SIGKILL what does not end in 10 s."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        for child in reversed(self.children):
            try:
                child.process.wait(10)
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()


def cli(*args: str) -> str:
    """Run a short `stallbox` command; its stdout, or StallboxError with its stderr."""
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise StallboxError(f"demo: stallbox {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def prepare(state: Path, lan: bool) -> None:
    """Make the sample stall (once): key, ledger, config with Pix and cash, loopback mDNS."""
    from appliance.services.box import init_state

    box = state / "box"
    fresh = not (box / CONFIG_NAME).exists()
    init_state(box, "BRL", datetime.now(UTC))
    if fresh:
        text = (
            sample_config("BRL").replace("drop_rush_s = 120", f"drop_rush_s = {DEMO_RUSH_S}", 1)
            + DEMO_CONFIG
        )
        if not lan:
            text = text.replace('interfaces = "all"', 'interfaces = "loopback"')
        (box / CONFIG_NAME).write_text(text, encoding="utf-8")


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_stack(stack: Stack, state: Path, *, lan: bool, headless: bool) -> tuple[str, str]:
    """Start cloud, enrol the box, start node and sync; return the node's two URLs.

    The cloud runs on loopback in plain HTTP: the sync daemon accepts http:// only for a
    loopback host, and the demo's cloud never leaves this machine.
    """
    box, cloud_state = state / "box", state / "cloud"
    cloud = stack.start(
        "cloud", "cloud", "serve", "--state", str(cloud_state), "--host", "127.0.0.1",
        "--port", "0", ready=True,
    )  # fmt: skip
    if not (box / "cloud.json").exists():
        token = cli("cloud", "enrol-token", "--state", str(cloud_state)).split()[-1]
        cli("enrol", cloud.url, token, "--state", str(box), "--name", "demo stall")
    host = "0.0.0.0" if lan else "127.0.0.1"  # noqa: S104 - only with --lan
    port = DEMO_PORT if not headless and _port_free(DEMO_PORT) else 0
    op_port = DEMO_OPERATOR_PORT if not headless and _port_free(DEMO_OPERATOR_PORT) else 0
    node = stack.start(
        "node", "node", "--state", str(box), "--host", host, "--port", str(port),
        "--operator-port", str(op_port), "--interfaces", "all" if lan else "loopback", ready=True,
    )  # fmt: skip
    stack.start("sync", "sync", "--state", str(box))
    return node.url, node.operator_url


def operator_client(operator_url: str, state: Path, token: str | None = None) -> httpx.Client:
    """An operator-plane client pinned to the box's certificate (read from its state dir)."""
    from appliance.tls import state_dir_context

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=operator_url, timeout=10, headers=headers, verify=state_dir_context(state / "box")
    )


def pair(operator_url: str, state: Path) -> str:
    """Pair like a console does: a one-time code from the box, run through the PAKE over TLS."""
    from appliance.ledger.identity import fingerprint, load_key
    from appliance.services.pairing import new_code
    from tui.pairing import pair_blocking

    key = fingerprint(load_key(state / "box").public)
    with operator_client(operator_url, state) as api:
        return pair_blocking(api, new_code(state / "box"), "demo", key).token


def run_console(url: str, state: Path, lan: bool) -> int:
    """The console in the foreground, as its own process like on a box, paired with a fresh code."""
    from appliance.services.pairing import new_code

    console = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "console", "--node", url,
         "--console-state", str(state / "console.json"), "--name", "demo",
         "--interfaces", "all" if lan else "loopback", "--pair-code", new_code(state / "box")],
    )  # fmt: skip
    try:
        return console.wait()
    finally:  # the demo was stopped (SIGTERM): the console first, by SIGINT, on which Textual
        if console.poll() is None:  # gives the terminal back (SIGTERM would leave it raw)
            console.send_signal(signal.SIGINT)
            try:
                console.wait(10)
            except subprocess.TimeoutExpired:
                console.kill()
                console.wait()


def _clock(drop: dict[str, object]) -> str:
    """A drop's start as a person reads it: 21:04:05 UTC, not the API's ISO 8601 with microseconds."""
    return datetime.fromisoformat(str(drop["starts_at"])).strftime("%H:%M:%S %Z")


def schedule_drop(api: httpx.Client, starts_in: timedelta) -> dict[str, object]:
    """A limited drop of 20 coffees, a few units per phone, starting soon."""
    starts = datetime.now(UTC) + starts_in
    answer = api.post(
        "/api/drops",
        json={"sku": "coffee", "quantity": 20, "starts_at": starts.isoformat(), "hold_s": 120,
              "per_attendee": 2},
    )  # fmt: skip
    answer.raise_for_status()
    return dict(answer.json())


def phone_client(url: str, n: int, tls: ssl.SSLContext) -> httpx.Client:
    """Simulated phone n: its own loopback address, as each phone on a venue LAN has its own.

    The node limits attendees per client address (docs/security.md, "Fair drops"), so phones
    sharing 127.0.0.1 would be one attendee. On Linux all of 127.0.0.0/8 reaches loopback.
    """
    port = urlsplit(url).port
    transport = httpx.HTTPTransport(
        local_address=f"127.2.{n // 250 % 250}.{n % 250 + 1}", verify=tls
    )
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", transport=transport, timeout=10)


def attendee_sale(phone: httpx.Client, api: httpx.Client, rng: random.Random) -> int | None:
    """One phone orders from the menu page's form, the operator confirms; the receipt seq.

    None when an item sold out before the confirmation: the vendor cancels, as at a real stall.
    """
    phone.get("/")  # a new phone: it views the menu first, which gives it its visitor cookie
    wanted = {sku: str(rng.randint(1, 3)) for sku in rng.sample(MENU, rng.randint(1, 2))}
    tender = rng.choice(["pix", "cash"])
    placed = phone.post("/order", data={**wanted, "tender": tender, "note": ""})
    if placed.status_code == 409 and tender != "cash":  # over the Pix limit: the cart offers cash
        placed = phone.post("/order", data={**wanted, "tender": "cash", "note": ""})
    if placed.status_code != 303:
        raise StallboxError(f"demo: order refused ({placed.status_code}): {placed.text[:200]}")
    order_id = placed.headers["location"].split("/")[2]
    done = api.post(f"/api/orders/{order_id}/confirm", json={})  # stands on the tender's decision
    if done.status_code == 409 and " left" in done.json().get("error", ""):
        api.post(f"/api/orders/{order_id}/cancel", json={}).raise_for_status()
        return None
    if done.status_code != 200:
        raise StallboxError(f"demo: confirm refused ({done.status_code}): {done.text[:300]}")
    return int(done.json()["receipt"]["seq"])


def drop_claim(phone: httpx.Client, api: httpx.Client, drop_id: object) -> int | None:
    """One phone claims a drop unit and pays cash at the stall; None if sold out."""
    phone.get(f"/d/{drop_id}")
    claimed = phone.post(f"/d/{drop_id}/claim", data={"qty": "1", "tender": "cash"})
    if claimed.status_code != 303:
        return None
    order_id = claimed.headers["location"].split("/")[2]
    done = api.post(f"/api/orders/{order_id}/confirm", json={})
    done.raise_for_status()
    return int(done.json()["receipt"]["seq"])


def simulate(
    url: str, operator_url: str, state: Path, token: str, duration: float, out: TextIO
) -> int:
    """Attendees and sales for `duration` seconds; return the device's last seq."""
    rng = random.Random(7)
    deadline = time.monotonic() + duration
    sales = claims = 0
    last = -1
    tls = ssl.create_default_context()  # one for every phone (plain HTTP never uses it)
    with operator_client(operator_url, state, token) as api:
        drop = schedule_drop(api, timedelta(seconds=min(10.0, duration / 3)))
        print(f"drop #{drop['id']}: 20 coffees at {_clock(drop)}", file=out, flush=True)
        for n in itertools.count():
            if time.monotonic() >= deadline:
                break
            with phone_client(url, n, tls) as phone:
                seq = None
                if datetime.fromisoformat(str(drop["starts_at"])) <= datetime.now(UTC):
                    seq = drop_claim(phone, api, drop["id"])
                    claims += seq is not None
                if seq is None:
                    seq = attendee_sale(phone, api, rng)
                    sales += seq is not None
            last = max(last, -1 if seq is None else seq)
            time.sleep(rng.uniform(0.05, 0.3))
        stats = api.get("/api/stats").json()
    from tui.money import money  # as the console writes it (the demo runs the console too)

    print(
        f"{sales} menu sales and {claims} drop claims; revenue "
        f"{money(stats['revenue'], stats['currency'], stats.get('locale') or 'en')}; "
        f"last receipt seq {last}",
        file=out,
        flush=True,
    )
    return last


def wait_synced(url: str, token: str, state: Path, deadline_s: float, out: TextIO) -> bool:
    """Wait until the cloud's head for the device equals the device's last seq."""
    from appliance.services.cloud_account import load_account

    account = load_account(state / "box")
    cloud = httpx.Client(
        base_url=account.url, timeout=10, headers={"Authorization": f"Bearer {account.api_token}"}
    )
    node = operator_client(url, state, token)
    deadline = time.monotonic() + deadline_s
    with cloud, node:
        while True:
            synced = node.get("/api/sync").json()
            device_head = synced["acked_seq"] + synced["outbox_depth"]
            cloud_head = cloud.get(f"/v1/devices/{account.device}/head").json()["seq"]
            if cloud_head == device_head or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    verdict = "equals" if cloud_head == device_head else "DIFFERS FROM"
    print(f"cloud head seq {cloud_head} {verdict} device seq {device_head}", file=out)
    if synced["stopped"]:
        print(f"sync stopped: {synced['stopped']}", file=out)
    return bool(cloud_head == device_head)


def run_stack_demo(
    state: Path | None, *, headless: bool, duration: float, lan: bool, out: TextIO = sys.stdout
) -> int:
    """Run the whole box; headless, exit 0 only if the cloud caught up with the device."""
    temporary = state is None
    state_dir = Path(tempfile.mkdtemp(prefix="stallbox-demo-")) if state is None else state
    stack = Stack(out)
    previous = _interrupt_on_sigterm()
    try:
        prepare(state_dir, lan)
        url, operator_url = start_stack(stack, state_dir, lan=lan, headless=headless)
        print(f"stall: {url}/  (menu; the printable sign is {url}/sign)", file=out, flush=True)
        print(f"operator plane: {operator_url} (TLS, pinned)", file=out, flush=True)
        if not headless:  # the README's "limited drop a minute away", in the console too
            with operator_client(operator_url, state_dir, pair(operator_url, state_dir)) as api:
                drop = schedule_drop(api, timedelta(minutes=1))
            print(f"drop #{drop['id']}: 20 coffees at {_clock(drop)} (console: F4)", file=out)
            print("the stall's URL is also on the console's Node screen (F9)", file=out, flush=True)
            return run_console(operator_url, state_dir, lan)
        token = pair(operator_url, state_dir)
        last = simulate(url, operator_url, state_dir, token, duration, out)
        synced = wait_synced(operator_url, token, state_dir, SYNC_WAIT_S, out)
        return ExitCode.OK if synced and last > 0 else ExitCode.FAILED
    finally:
        stack.stop()
        if temporary:
            import shutil

            shutil.rmtree(state_dir, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt_on_sigterm() -> Callable[[int, FrameType | None], object] | int | None:
    """SIGTERM (`timeout`, a service manager) ends the demo as Ctrl-C does: children stopped,
    the temporary state removed; without it the node, sync and cloud outlived the demo, holding
    ports 8080 and 8443. Returns the handler it replaced (None off the main thread: unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, interrupt)
    return signal.SIG_DFL if previous is None else previous
