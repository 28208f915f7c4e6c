"""Money truth on the console, with a real node, a real test PSP (mutual TLS) and the console.

Issue 14: a Pix order paid at the PSP is confirmed by the node itself and the console shows
"bank ✓" with no keypress (pay screen, Orders); a sale confirmed by sight that a statement
uploaded to the running node (POST /api/reconcile) finds no credit for raises the console's
UNMATCHED alarm on every screen and shows on the Numbers screen.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from console_support import (
    PIX,
    console,
    paired_settings,
    shown,
    until,
    until_shown,
)
from nodeproc import NodeProcess, run_cli, start_node
from pspproc import PspProcess, give_credentials, provider_config, start_psp
from textual.pilot import Pilot

from tui.screens.confirm import ConfirmAction
from tui.screens.pay import PayScreen

pytestmark = pytest.mark.anyio

MAP = ('delimiter = ";"\ndecimal = ","\ndate_format = "%Y-%m-%d %H:%M %z"\ncurrency = "BRL"\n'
       '[columns]\ndate = "Quando"\namount = "Valor"\nid = "Id"\ntext = ["Mensagem"]\n')  # fmt: skip


@pytest.fixture
def psp(tmp_path: Path) -> Iterator[PspProcess]:
    running = start_psp(tmp_path / "psp")
    yield running
    running.stop()


@pytest.fixture
def node(tmp_path: Path, psp: PspProcess) -> Iterator[NodeProcess]:
    state = tmp_path / "state"
    assert run_cli("init", "--state", str(state)).returncode == 0
    with (state / "stallbox.toml").open("a", encoding="utf-8") as config:
        config.write(PIX + provider_config(psp.url))
    give_credentials(state, psp.tls)
    running = start_node(state)
    yield running
    if running.process.poll() is None:
        running.stop()


async def sell_pix(pilot: Pilot[Any]) -> PayScreen:
    """Ring up two pastels on Pix from the Sell screen; the pay screen once the QR is up."""
    await until_shown(pilot, "Pastel")
    await pilot.press("2", "2")
    await until_shown(pilot, "2 x Pastel")
    await pilot.press("enter")
    await until_shown(pilot, "1  PIX (QR)")
    await pilot.press("1")
    await until(pilot, lambda: isinstance(pilot.app.screen, PayScreen), "the pay screen")
    pay = pilot.app.screen
    assert isinstance(pay, PayScreen)
    await until(pilot, lambda: pay.tendered is not None, "the node's answer to the tender")
    return pay


async def test_the_bank_confirms_with_no_keypress_and_a_fake_screen_raises_the_alarm(
    node: NodeProcess, psp: PspProcess, tmp_path: Path
) -> None:
    settings = paired_settings(node, tmp_path / "console.json")
    app = console(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        pay = await sell_pix(pilot)
        assert pay.tendered is not None
        await pilot.press("escape")  # about to cancel when the bank pays: the question is moot
        await until(pilot, lambda: isinstance(app.screen, ConfirmAction), "the cancel question")
        total = pay.order.total
        credit = psp.pay(pay.tendered.reference, f"{total // 100}.{total % 100:02d}")
        await until_shown(pilot, "✔ PAID · bank ✓")  # no key pressed since the QR
        assert not isinstance(app.screen, ConfirmAction)
        await pilot.press("enter")
        await pilot.press("f3")
        await until_shown(pilot, "paid · bank ✓")

        await pilot.press("f2")
        by_sight = await sell_pix(pilot)  # the payer shows a (fake) payment screen
        await pilot.press("enter")
        await until_shown(pilot, "✔ PAID")
        assert "bank ✓" not in shown(app)
        await pilot.press("enter")

        now = datetime.now(UTC)
        stamp = "%Y-%m-%d %H:%M +0000"
        statement = ("Quando;Id;Mensagem;Valor\n"
                     f"{now - timedelta(hours=1):{stamp}};E1;aluguel;30,00\n"
                     f"{now:{stamp}};{credit['endToEndId']};pix;{credit['valor'].replace('.', ',')}\n"
                     f"{now + timedelta(hours=2):{stamp}};E2;outro;6,00\n")  # fmt: skip
        body = {"statements": [{"name": "extrato.csv",
                                "content": base64.b64encode(statement.encode()).decode()}],
                "column_map": MAP}  # fmt: skip
        with node.client(node.pair()) as api:  # the vendor's laptop, say: the node keeps running
            answer = api.post("/api/reconcile", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["unmatched_sales"] == [by_sight.order.id]
        await until_shown(pilot, "✖ 1 UNMATCHED sale(s): check with the bank")
        await pilot.press("f3")
        await until_shown(pilot, "UNMATCHED ✗")
        await pilot.press("f6")
        await until_shown(pilot, "UNMATCHED ✗ 1: check with the bank")
        assert "50% ✓ 1/2" in shown(app)
