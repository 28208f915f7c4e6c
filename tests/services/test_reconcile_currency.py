"""A statement of an account in another currency judges none of the box's sales.

Its credits cannot pay a sale in the box's currency, so it cannot show one unpaid either: before,
a USD export imported on a BRL box covered the sales' times and signed an `unmatched` line for
each of them — a permanent accusation in the ledger from a wrong file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from services_support import Clock
from test_reconcile_dry_run import MAP, sell
from test_reconcile_record import evidence_lines, states

from appliance.cli import main
from appliance.errors import ExitCode
from appliance.services.box import Box


def test_a_statement_in_another_currency_signs_no_unmatched_line(
    box: Box, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pastel, _, _, _ = sell(box, clock)  # Pix at 18:00, 18:05, 18:10Z (BRL)
    box.close()
    state = tmp_path / "state"
    (tmp_path / "usd.toml").write_text(MAP.replace('"BRL"', '"USD"'), encoding="utf-8")
    usd = tmp_path / "usd-account.csv"
    usd.write_text(  # 17:00Z to 23:00Z: the sales' times, in dollars (same figures even)
        "Quando;Id;Mensagem;Valor\n"
        f"2026-11-26 14:00 -0300;U1;pedido {pastel};9,50\n"
        "2026-11-26 20:00 -0300;U2;rent;30,00\n",
        encoding="utf-8",
    )
    args = [str(usd), "--map", str(tmp_path / "usd.toml"), "--state", str(state)]
    assert main(["reconcile", *args]) == ExitCode.FAILED  # three sales still without evidence
    out = capsys.readouterr().out
    assert evidence_lines(state) == []
    assert "recorded 0 evidence line(s)" in out and out.count("not judged: order") == 3
    assert list(states(state).values()) == ["unverified"] * 3
