"""A payment the PSP already confirmed is not used again, by its statement line, for another sale.

The bank watch signs a `bank` line for sale A naming the PSP's credit (`id:<endToEndId>`). The
account's statement lists the same payment under the bank's own transaction id, with A's
reference in its text. Sale A is settled, so the import leaves it out; before, the credit was
then free to pay sale B of the same amount by time alone, and B — a payer who showed a fake
screen — got a `bank` line for A's money: one payment counted for two sales.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from services_support import Clock
from test_bank_watch import SETTINGS, FakeProvider, pay
from test_checkout import PrintedRails
from test_reconcile_dry_run import MAP
from test_reconcile_record import evidence_lines, states

from appliance.cli import main
from appliance.errors import ExitCode
from appliance.services.bank_watch import BankWatch
from appliance.services.box import Box
from appliance.services.checkout import Checkout

E2E = "E1823612000000000000000000000001"  # pay(..., n=1)'s end-to-end id


@pytest.mark.parametrize("names", ["reference", "end-to-end id"])
def test_a_provider_confirmed_payment_does_not_pay_a_second_sale_by_amount(
    box: Box, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str], names: str
) -> None:
    provider = FakeProvider()
    checkout = Checkout(box, clock=clock, payments=PrintedRails())
    watch = BankWatch(checkout, provider, SETTINGS, lambda k, d: None, clock=clock)

    async def scenario() -> tuple[str, str]:
        paid = await checkout.place_order([("pastel", 1)], "pix")  # 18:00Z
        clock.advance(minutes=2)
        pay(provider, clock, paid.reference, 950, 1)
        assert len(await watch.poll_once()) == 1  # A: sold and bank-confirmed by the PSP
        fake = await checkout.place_order([("pastel", 1)], "pix")  # 18:02Z, same amount
        await checkout.confirm(fake.order.id)  # by sight: a fake screen
        return paid.reference, fake.order.id

    reference, fake = asyncio.run(scenario())
    box.close()
    state = tmp_path / "state"
    column_map = MAP + 'end_to_end_id = "E2E"\n'
    (tmp_path / "bank.toml").write_text(column_map, encoding="utf-8")
    text, e2e = (f"PIX RECEBIDO pedido {reference}", "") if names == "reference" else ("", E2E)
    statement = tmp_path / "extrato.csv"
    statement.write_text(  # A's payment under the bank's id, and a later line to cover B's time
        "Quando;Id;E2E;Mensagem;Valor\n"
        f"2026-11-26 15:02 -0300;BANK-0001;{e2e};{text};9,50\n"
        "2026-11-26 20:00 -0300;BANK-0002;;aluguel;30,00\n",
        encoding="utf-8",
    )
    args = [str(statement), "--map", str(tmp_path / "bank.toml"), "--state", str(state)]
    code = main(["reconcile", *args])
    assert code == ExitCode.FAILED  # B: unmatched, to look at
    capsys.readouterr()
    assert [ref for ref, _ in evidence_lines(state)] == ["b1", "u3"]  # A sold at 1, banked at 2
    assert states(state)[fake] == "unmatched"
