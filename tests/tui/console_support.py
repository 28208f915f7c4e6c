"""Helpers and fixtures for the console tests: a node with a Pix rail, waiting on conditions,
screen text.

Screen text comes from the console's own SVG screenshot (App.export_screenshot): each <text>
element is put back on its cell grid, so assertions and snapshots see what a vendor sees.
The fixtures (a stall node per module, a console paired with it, Textual's asyncio) are named
for pytest in tests/tui/conftest.py; test modules import the helpers they use by name.
"""

from __future__ import annotations

import html
import io
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cairosvg
import httpx
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "e2e"))
from nodeproc import REPO, NodeProcess, run_cli, start_node
from PIL import Image
from textual.app import App
from textual.pilot import Pilot

from tui.app import ConsoleSettings, StallboxConsole, build_app
from tui.screens.pay import PayScreen
from tui.state import ConsoleState

PIX = """
[rails.pix]
kind = "pix"
key = "demo@stallbox.example"
merchant = "PASTELARIA DEMO"
city = "SAO PAULO"

[policy.rails.pix]
per_sale_limit = "50.00"
"""
CHAR_W = 20 * 0.61  # rich's SVG export: font size 20, aspect 0.61, line height 1.22
LINE_H = 20 * 1.22
TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>(.*?)</text>', re.S)
SNAPSHOTS = Path(__file__).parent / "snapshots"


@pytest.fixture(scope="module")
def stall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node with a Pix rail, shared by the tests of one module."""
    node = start_stall(tmp_path_factory.mktemp("stall") / "state")
    yield node
    if node.process.poll() is None:
        node.stop()


@pytest.fixture
def app(stall: NodeProcess, tmp_path: Path) -> StallboxConsole:
    """A console paired with the module's stall, its state file tmp_path/console.json."""
    return console(paired_settings(stall, tmp_path / "console.json"))


@pytest.fixture
def anyio_backend() -> str:
    """Pilot tests run on asyncio (Textual's loop)."""
    return "asyncio"


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def init_state(state: Path) -> None:
    """`stallbox init` plus a Pix rail with a 50.00 per-sale limit."""
    assert run_cli("init", "--state", str(state)).returncode == 0
    with (state / "stallbox.toml").open("a") as config:
        config.write(PIX)


def start_stall(
    state: Path, port: int | None = None, attendee_port: int | None = None
) -> NodeProcess:
    """A node on `state` (initialised with the Pix rail if new), its operator plane (what the
    console talks to) on `port` if given, its attendee plane on `attendee_port` if given."""
    if not (state / "device.key").exists():
        init_state(state)
    extra: tuple[str, ...] = ("--operator-port", str(port)) if port else ()
    extra += ("--port", str(attendee_port)) if attendee_port else ()
    return start_node(state, *extra)


def paired_settings(node: NodeProcess, state_file: Path, poll_s: float = 0.3) -> ConsoleSettings:
    """Settings for a console already paired with `node` (token and fingerprint pinned)."""
    answer = pair_answer(node)
    console_state = ConsoleState(state_file)
    url = node.operator_url
    console_state.pin(url, answer["node_id"], answer["fingerprint"], answer["token"])
    return ConsoleSettings(node_url=url, state_path=state_file, poll_s=poll_s)


def pairing_code(node: NodeProcess) -> str:
    """A fresh one-time code from `stallbox pair`."""
    return run_cli("pair", "--state", str(node.state)).stdout.split()[2]


def pair_answer(node: NodeProcess) -> dict[str, str]:
    """Pair like a console (the PAKE over TLS); the node's answer (token, node id, fingerprint)."""
    answer = node.pair_answer()
    return {"token": answer.token, "node_id": answer.node_id, "fingerprint": answer.fingerprint}


def node_api(node: NodeProcess, state_file: Path) -> httpx.Client:
    """The node's operator API with the token the console stored in `state_file`."""
    pinned = ConsoleState(state_file).node(node.operator_url)
    assert pinned is not None and pinned.token
    return node.client(pinned.token)


def console(settings: ConsoleSettings) -> StallboxConsole:
    """The app, built by the same factory as `stallbox console`."""
    return build_app(settings)


async def until(
    pilot: Pilot[Any], check: Callable[[], bool], what: str, timeout: float = 15.0
) -> None:
    """Wait until `check()` holds, or fail after `timeout` showing the screen."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting for {what}; the screen shows:\n{shown(pilot.app)}"
            )
        await pilot.pause(0.02)


async def until_shown(pilot: Pilot[Any], text: str, timeout: float = 15.0) -> None:
    """Wait until the screen shows `text`."""
    await until(pilot, lambda: text in shown(pilot.app), repr(text), timeout)


async def coffee_in_cash(pilot: Pilot[Any]) -> PayScreen:
    """Sell one coffee (key 1), Enter, `c` for cash: the pay screen once the node's reference
    shows on it."""
    await until_shown(pilot, "Coffee")
    await pilot.press("1", "enter")
    await until_shown(pilot, "c  cash")
    await pilot.press("c")
    await until(pilot, lambda: isinstance(pilot.app.screen, PayScreen), "the pay screen")
    await until_shown(pilot, "REF 0")
    pay = pilot.app.screen
    assert isinstance(pay, PayScreen)
    return pay


def svg_text(svg: str, width: int, height: int, strip: bool = True) -> str:
    """The characters of an exported SVG screenshot, as lines of text."""
    grid = [[" "] * width for _ in range(height)]
    for x, y, content in TEXT.findall(svg):
        row = round((float(y) - 20) / LINE_H)
        col = round(float(x) / CHAR_W)
        for offset, char in enumerate(html.unescape(content).replace("\xa0", " ")):
            if 0 <= row < height and 0 <= col + offset < width:
                grid[row][col + offset] = char
    lines = ("".join(line) for line in grid)
    return "\n".join(line.rstrip() if strip else line for line in lines)


def shown(app: App[Any], strip: bool = True) -> str:
    """What the app's screen shows now (full-width lines if not `strip`)."""
    width, height = app.size
    return svg_text(app.export_screenshot(), width, height, strip)


ARTIFACTS = Path(os.environ.get("STALLBOX_ARTIFACTS", REPO / "artifacts"))


def screenshot_png(app: App[Any], keep: str | None = None) -> Image.Image:
    """The app's SVG screenshot rasterised with cairosvg (needs the Fira Code font).

    With `keep`, the PNG is also saved under $STALLBOX_ARTIFACTS for a person to look at.
    """
    png = cairosvg.svg2png(bytestring=app.export_screenshot().encode())
    if keep is not None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / keep).write_bytes(png)
    return Image.open(io.BytesIO(png))


MASKS: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # QR codes (checked by decoding instead) and sparkline bars: a run of blocks and the spaces
    # around it becomes one run of ▒ of the same length, so only the layout is compared.
    (re.compile(r"[ ▀▄█▁▂▃▅▆▇]*[▀▄█▁▂▃▅▆▇][ ▀▄█▁▂▃▅▆▇]*"), lambda m: "▒" * len(m[0])),
    (re.compile(r"(https?)://127\.0\.0\.1:\d+"), r"\1://NODE"),
    (re.compile(r"\b\d{1,2}:\d{2}(:\d{2})?\b"), "##:##"),
    (re.compile(r"\bin \d+h\d{2}m\b"), "in #h##m"),
    (re.compile(r"oldest \d+[smhd]"), "oldest #"),
    (re.compile(r"(Oldest unsynced\s+)\d+[smhd]"), r"\1#"),
    (re.compile(r"per live minute (—|BRL [\d.]+)"), "per live minute #"),
    (re.compile(r"SHA256:[0-9a-f:]+"), "SHA256:#"),
    (re.compile(r"\d{4}-\d{2}-\d{2} ##:## UTC \(\d+[smhd] ago\)"), "#DATE#"),
    # an order's age, after its 4-character reference: same width, whatever the seconds
    (re.compile(r"(?<=[0-9A-Z]{4}  )\d{1,2}[smh]\s+"), lambda m: "age".ljust(len(m[0]))),
]


def masked(text: str) -> str:
    """Screen text with what changes run to run (times, ports, QR modules) masked."""
    for pattern, replacement in MASKS:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.split("\n"))


def check_snapshot(name: str, text: str) -> None:
    """Compare with tests/tui/snapshots/NAME.txt; write it when missing or when asked to."""
    path = SNAPSHOTS / f"{name}.txt"
    text = masked(text)
    if not path.exists() or os.environ.get("STALLBOX_UPDATE_SNAPSHOTS"):
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")[:-1]
    assert text == expected, (
        f"snapshot {name} differs (STALLBOX_UPDATE_SNAPSHOTS=1 to accept):\n{text}\n--- expected:\n{expected}"
    )


async def pick(pilot: Pilot[Any], connect: Any, node: NodeProcess) -> str:
    """Wait for `node`'s own announcement in the list (other nodes may be listed before and
    after it, more than the screen shows), select its row; return its fingerprint."""

    def listed() -> bool:
        return node.operator_url in [url for url, _, _ in connect.found]

    await until(pilot, listed, f"{node.operator_url} in the list", timeout=30)
    row = [url for url, _, _ in connect.found].index(node.operator_url)
    fingerprint: str = connect.found[row][2]
    assert (
        fingerprint.startswith("SHA256:") and "decoy" not in fingerprint
    )  # not one of the test's decoys
    connect.query_one("#found").focus()
    await pilot.press(*["down"] * row, "enter")
    await until_shown(pilot, f"Fingerprint {fingerprint}")
    assert node.operator_url in shown(pilot.app)  # the row is on screen, the URL field holds it
    return fingerprint
