"""Console benchmark: start to first interactive screen, peak RSS, keystroke to QR shown.

Runs a real node (temp state, Pix rail, loopback only) and the console headless in child
processes, built by the same factory as `stallbox console`:
- start: from spawning `python` to the sell screen showing the node's catalogue (median of 5);
- key to QR: from the tender key on the tender dialog to the pay screen's QR painted at full
  size (the order is opened before the key; the tender request and the QR are what is timed),
  p50;
- peak RSS: the largest ru_maxrss of the children;
- key to display: from the same tender key to a customer display (the /display page in headless
  Chromium, paired with the console) drawing the QR: the page stamps the animation frame that
  shows it (performance.timeOrigin + now, the same wall clock as the child's), p50.
Ends with one JSON line. Goals here: start <= 1.0 s, RSS <= 80 MB, key to QR <= 100 ms, key to
display <= 150 ms. Without Debian's chromium it exits 4 naming the package, before measuring.

Usage: python bench/console.py [--starts 5] [--sales 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:1] = [str(REPO)]  # the repo, not bench/, first

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


def chromium() -> str:
    """Debian's chromium, the customer display's browser; MissingTool naming the package."""
    from bench.honest import require

    return require("chromium", "chromium", "bench/console.py")


PIX = """
[rails.pix]
kind = "pix"
key = "+5511999998888"
merchant = "PASTELARIA DEMO"
city = "SAO PAULO"
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `stallbox ARGS`."""
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args], capture_output=True, text=True,
        check=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def start_node(state: Path) -> tuple[subprocess.Popen[str], str, str]:
    """Initialise `state`, start the node on free loopback ports; return it, its operator URL
    and its attendee URL."""
    cli("init", "--state", str(state))
    with (state / "stallbox.toml").open("a") as config:
        config.write(PIX)
    node = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "node", "--state", str(state), "--host",
         "127.0.0.1", "--port", "0", "--operator-port", "0", "--interfaces", "loopback", "--no-mdns"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert node.stdout is not None
    for line in node.stdout:
        if match := re.search(r"listening on (http://\S+) .*operator on (https://\S+)", line):
            return node, match[2], match[1]
    raise SystemExit("the node did not start")


def pair(state: Path, url: str, console_state: Path) -> str:
    """Pair like a console, write the console state file; return the operator token."""
    import httpx

    from appliance.ledger.identity import fingerprint, load_key
    from appliance.tls import state_dir_context
    from tui.pairing import pair_blocking
    from tui.state import ConsoleState

    code = cli("pair", "--state", str(state)).stdout.split()[2]
    with httpx.Client(base_url=url, verify=state_dir_context(state)) as http:
        answer = pair_blocking(http, code, "bench", fingerprint(load_key(state).public))
    ConsoleState(console_state).pin(url, answer.node_id, answer.fingerprint, answer.token)
    return answer.token


async def child(mode: str, url: str, console_state: Path, sales: int) -> None:
    """In a child process: start the console headless and measure."""
    from tui.startup_gc import pause

    pause()  # as `stallbox console` does before importing the console (tui/startup_gc.py)
    from tui.app import ConsoleSettings, build_app
    from tui.screens.sell import SellScreen
    from tui.screens.tender import TenderScreen

    app = build_app(ConsoleSettings(node_url=url, state_path=console_state, poll_s=5.0))
    async with app.run_test(size=(120, 40)) as pilot:

        async def until(check: object) -> None:
            deadline = time.monotonic() + 60
            while not check():  # type: ignore[operator]
                if time.monotonic() > deadline:  # say where it stuck: the screen, the link
                    screen = type(app.screen).__name__
                    where = ""
                    from tui.screens.pay import PayScreen  # what the bench needs, after the start
                    from tui.widgets.qr import QrCode

                    if isinstance(app.screen, PayScreen):  # what the pay screen got, and shows
                        pay, code = app.screen, app.screen.query_one(QrCode)
                        where = (
                            f" (tendered {pay.tendered is not None}, refused {pay.refused},"
                            f" code {code.size} classes {sorted(code.classes)}, lines"
                            f" {len(code.lines)}, painted {code.painted == code.payload})"
                        )
                    raise SystemExit(f"timed out on {screen}{where}, link {app.link}")
                await asyncio.sleep(0.0005)

        await until(lambda: isinstance(app.screen, SellScreen) and bool(app.screen.items))
        print("READY", flush=True)
        if mode == "start":
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            cpu = time.process_time()  # the start's own CPU: what a busy machine does not move
            print(json.dumps({"key_to_qr_ms": [], "rss_mb": rss, "cpu_s": cpu}), flush=True)
            return
        from tui.screens.confirm import ConfirmAction  # the sales' checks, after the start
        from tui.screens.pay import PayScreen
        from tui.widgets.qr import QrCode

        timings = []
        await pilot.press("2")
        for _ in range(sales):
            await pilot.press("enter")
            await until(lambda: isinstance(app.screen, TenderScreen))
            started = time.perf_counter()

            def qr_shown() -> bool:
                """The pay screen is up and this sale's QR painted at full size. (Painted, not
                only laid out: the pay screen is kept from sale to sale, so its QR widget has
                its size before the new code is drawn.)"""
                screen = app.screen
                if not isinstance(screen, PayScreen) or screen.tendered is None:
                    return False
                found = screen.query(QrCode)
                if not found:
                    return False
                qr = found.first()
                return (
                    bool(qr.lines)
                    and qr.size.width >= len(qr.lines[0])
                    and qr.painted == screen.tendered.payload
                )

            # pilot.press waits for the app to go idle (screen transitions included): press
            # in a task so the clock stops when the QR is there, not when Pilot returns.
            press = asyncio.create_task(pilot.press("1"))
            await until(qr_shown)
            timings.append(time.perf_counter() - started)
            await press
            await pilot.press("escape")  # cancel (asked: the code was shown): the cart stays
            await until(lambda: isinstance(app.screen, ConfirmAction | SellScreen))
            if isinstance(app.screen, ConfirmAction):
                await pilot.press("y")
            await until(lambda: isinstance(app.screen, SellScreen))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"key_to_qr_ms": [t * 1000 for t in timings], "rss_mb": rss}), flush=True)


async def display_child(
    url: str, attendee: str, console_state: Path, sales: int, code: str
) -> None:
    """In a child process: a console and a paired customer display; time key to display QR."""
    from playwright.async_api import async_playwright

    from tui.app import ConsoleSettings, build_app
    from tui.screens.confirm import ConfirmAction
    from tui.screens.sell import SellScreen
    from tui.screens.tender import TenderScreen

    app = build_app(ConsoleSettings(node_url=url, state_path=console_state, poll_s=5.0))
    async with async_playwright() as playwright, app.run_test(size=(120, 40)) as pilot:
        browser = await playwright.chromium.launch(executable_path=chromium(), args=FLAGS)
        page = await browser.new_page(viewport={"width": 390, "height": 844})

        async def until(check: object) -> None:
            deadline = time.monotonic() + 20
            while not await check():  # type: ignore[operator]
                if time.monotonic() > deadline:
                    raise SystemExit("timed out")
                await asyncio.sleep(0.001)

        async def on_sell() -> bool:
            return isinstance(app.screen, SellScreen) and bool(app.screen.items)

        await until(on_sell)
        await page.goto(f"{attendee}/display")
        await page.evaluate(
            "c => fetch('/display/pair', {method: 'POST', body: JSON.stringify({code: c}),"
            " headers: {'Content-Type': 'application/json'}})",
            code,
        )
        await page.reload()
        shown = "() => [document.body.dataset.phase, window.stallboxDrawnAt || 0]"
        print("READY", flush=True)
        timings = []
        await pilot.press("2")
        for _ in range(sales):
            await pilot.press("enter")
            await until(lambda: asyncio.sleep(0, isinstance(app.screen, TenderScreen)))
            started = time.time() * 1000
            press = asyncio.create_task(pilot.press("1"))
            while True:  # polled over CDP; the page's own stamp says when the frame was drawn
                phase, at = await page.evaluate(shown)
                if phase == "pay" and at > started:
                    break
                if time.time() * 1000 - started > 20_000:
                    raise SystemExit("the display never showed the QR")
                await asyncio.sleep(0.001)
            timings.append(at - started)
            await press
            await pilot.press("escape")  # cancel (asked: the code was shown): display idle
            await until(
                lambda: asyncio.sleep(0, isinstance(app.screen, ConfirmAction | SellScreen))
            )
            if isinstance(app.screen, ConfirmAction):
                await pilot.press("y")
            await until(lambda: asyncio.sleep(0, isinstance(app.screen, SellScreen)))

            async def left_pay() -> bool:
                return bool((await page.evaluate(shown))[0] != "pay")

            await until(left_pay)
        await browser.close()
        print(json.dumps({"key_to_display_ms": timings}), flush=True)


def display_code(state: Path, url: str, console_state: Path) -> str:
    """A display code for the console named "console" (the bench console's default name)."""
    import httpx

    from appliance.tls import state_dir_context
    from tui.state import ConsoleState

    pinned = ConsoleState(console_state).node(url)
    assert pinned is not None and pinned.token
    auth = {"Authorization": f"Bearer {pinned.token}"}
    with httpx.Client(base_url=url, verify=state_dir_context(state), headers=auth) as http:
        answer = http.post("/api/display/code", json={"console": "console"})
        answer.raise_for_status()
        return str(answer.json()["code"])


def run_child(
    mode: str,
    url: str,
    console_state: Path,
    sales: int,
    attendee: str = "",
    code: str = "",
    preexec_fn: Callable[[], None] | None = None,
) -> tuple[float, list[str]]:
    """Spawn a child (through `preexec_fn`, e.g. into bench/pi.py's throttled CPU); return
    seconds from spawn to READY and the lines it printed."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", mode, "--node", url, "--console-state",
         str(console_state), "--sales", str(sales), "--attendee", attendee, "--code", code],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=preexec_fn,
    )  # fmt: skip
    assert proc.stdout is not None
    ready = None
    lines = []
    for line in proc.stdout:
        if line.strip() == "READY" and ready is None:
            ready = time.perf_counter() - started
        lines.append(line.strip())
    if proc.wait(120) != 0 or ready is None:
        raise SystemExit(f"console child failed: {lines}")
    return ready, lines


def main() -> None:
    """Run the benchmark and print the JSON line last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--sales", type=int, default=20)
    parser.add_argument("--child", choices=["start", "sales", "display"])
    parser.add_argument("--node")
    parser.add_argument("--attendee", default="")
    parser.add_argument("--code", default="")
    parser.add_argument("--console-state", type=Path)
    args = parser.parse_args()
    if args.child == "display":
        asyncio.run(
            display_child(args.node, args.attendee, args.console_state, args.sales, args.code)
        )
        return
    if args.child:
        asyncio.run(child(args.child, args.node, args.console_state, args.sales))
        return

    # the parent's alone: a child measures the console's start, not the bench's imports
    from bench.honest import BenchError, MissingTool, as_installed, fail, print_machine

    try:
        chromium()
    except MissingTool as exc:
        sys.exit(fail(exc))
    machine = print_machine("bench/console.py")
    try:
        as_installed(REPO)  # bytecode, as an installed box has it (bench/honest.py)
    except BenchError as exc:
        sys.exit(fail(exc))
    with tempfile.TemporaryDirectory() as tmp:
        state, console_state = Path(tmp) / "state", Path(tmp) / "console.json"
        node, url, attendee = start_node(state)
        try:
            pair(state, url, console_state)
            run_child("start", url, console_state, 0)  # warm the OS file cache once
            started = [run_child("start", url, console_state, 0) for _ in range(args.starts)]
            _, lines = run_child("sales", url, console_state, args.sales)
            code = display_code(state, url, console_state)
            _, shown = run_child("display", url, console_state, args.sales, attendee, code)
            to_display = statistics.median(json.loads(shown[-1])["key_to_display_ms"])
        finally:
            node.terminate()
            node.wait(10)
    result = json.loads(lines[-1])
    key_to_qr = statistics.median(result["key_to_qr_ms"])
    start_s = statistics.median(s for s, _ in started)
    start_rss = max(json.loads(out[-1])["rss_mb"] for _, out in started)
    start_cpu = statistics.median(json.loads(out[-1])["cpu_s"] for _, out in started)
    peak = max(start_rss, result["rss_mb"])
    print(f"start to sell screen: median {start_s:.3f} s of {args.starts} (goal <= 1.0 s),"
          f" {start_cpu:.3f} s of the console's CPU")  # fmt: skip
    print(
        f"RSS at the sell screen {start_rss:.1f} MB; after {args.sales} sales {result['rss_mb']:.1f} MB"
    )
    print(f"peak RSS {peak:.1f} MB (goal <= 80 MB)")
    print(f"keystroke to QR: p50 {key_to_qr:.1f} ms of {args.sales} (goal <= 100 ms)")
    print(f"keystroke to customer display QR: p50 {to_display:.1f} ms (goal <= 150 ms)")
    print(
        json.dumps(
            {
                "bench": "console",
                "start_s": round(start_s, 3),
                "start_cpu_s": round(start_cpu, 3),
                "peak_rss_mb": round(peak, 1),
                "key_to_qr_p50_ms": round(key_to_qr, 1),
                "key_to_display_p50_ms": round(to_display, 1),
                "start_s_rounds": [round(s, 3) for s, _ in started],
                "machine": machine,
            }
        )
    )


if __name__ == "__main__":
    main()
