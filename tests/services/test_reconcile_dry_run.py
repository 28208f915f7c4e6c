"""`stallbox reconcile --dry-run`: a real ledger's paid rail sales against a statement file."""

from __future__ import annotations

from pathlib import Path

import pytest
from services_support import Clock, run

from appliance.cli import main
from appliance.domain.money import Money
from appliance.errors import ExitCode
from appliance.services.box import Box
from appliance.services.checkout import Checkout
from appliance.services.reconcile import sales_from_state

MAP = """
delimiter = ";"
decimal = ","
date_format = "%Y-%m-%d %H:%M %z"
currency = "BRL"
[columns]
date = "Quando"
amount = "Valor"
id = "Id"
text = ["Mensagem"]
"""


class PrintedRails:
    def rail_names(self) -> list[str]:
        return ["pix"]

    def payload(self, rail: str, amount: Money, reference: str) -> str:
        return f"{rail}:{amount.decimal()}:{reference}"


def sell(box: Box, clock: Clock) -> list[str]:
    """Three Pix sales and one cash sale, confirmed a few minutes apart; their references."""
    checkout = Checkout(box, clock=clock, payments=PrintedRails())

    async def go() -> list[str]:
        refs = []
        for tender, sku, qty in [
            ("pix", "pastel", 1),
            ("pix", "coffee", 1),
            ("pix", "pastel", 2),
            ("cash", "coffee", 1),
        ]:
            order = await checkout.create_order(lines=[(sku, qty)])
            tendered = await checkout.choose_tender(order.id, tender)
            await checkout.confirm(order.id)
            refs.append(tendered.reference)
            clock.advance(minutes=5)
        return refs

    return run(go())  # type: ignore[return-value]


def test_dry_run_reports_matched_unmatched_and_what_to_do(
    box: Box, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pastel, _, two_pastels, _ = sell(box, clock)
    sales = sales_from_state(tmp_path / "state")
    assert [(s.rail, s.amount.minor) for s in sales] == [("pix", 950), ("pix", 600), ("pix", 1900)]
    statement = tmp_path / "extrato.csv"
    statement.write_text(
        "Quando;Id;Mensagem;Valor\n"
        f"2026-11-26 15:01 -0300;E1;pedido {pastel};9,50\n"
        "2026-11-26 15:06 -0300;E2;;6,00\n"
        "2026-11-26 15:30 -0300;E3;aluguel;30,00\n",
        encoding="utf-8",
    )
    (tmp_path / "bank.toml").write_text(MAP, encoding="utf-8")
    argv = ["reconcile", "--dry-run", str(statement), "--map", str(tmp_path / "bank.toml")]
    code = main([*argv, "--state", str(tmp_path / "state")])
    out = capsys.readouterr().out
    assert code == ExitCode.FAILED  # one sale has no credit: something to look at
    matched, unmatched_sale, unmatched_credit = out.splitlines()
    assert matched.startswith("matched 2:") and "(reference)" in matched and "(scored)" in matched
    assert (
        unmatched_sale.startswith("UNMATCHED SALE")
        and f"19.00 BRL at 2026-11-26 18:10Z (ref {two_pastels})" in unmatched_sale
    )
    assert "fake" in unmatched_sale
    assert unmatched_credit.startswith(
        f"unmatched credit 30.00 BRL on 2026-11-26 18:30Z [{statement}: line 4]"
    )
    # the database file works as well as its state dir
    assert main([*argv, "--sales-from", str(tmp_path / "state" / "stallbox.db")]) == ExitCode.FAILED


def test_bad_files_are_one_line(
    box: Box, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<Document><Stmt>", encoding="utf-8")
    state = ["--state", str(tmp_path / "state")]
    assert main(["reconcile", str(bad), "--sales-from", str(bad), *state]) == ExitCode.USAGE
    assert "--dry-run" in capsys.readouterr().err
    assert main(["reconcile", "--dry-run", str(bad), *state]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"stallbox: {bad}: line 1") and err.count("\n") == 1
    assert (
        main(["reconcile", "--dry-run", str(bad), "--state", str(tmp_path / "none")])
        == ExitCode.STATE
    )
