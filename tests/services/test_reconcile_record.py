"""`stallbox reconcile FILE…`: the outcome signed as evidence lines, once, through one writer."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from services_support import Clock
from test_reconcile_dry_run import MAP, sell

from appliance.cli import main
from appliance.errors import ExitCode
from appliance.ledger.receipt import parse_receipt
from appliance.services.box import Box
from appliance.services.state_dir import lock_state
from appliance.store.evidence import payment_states


def evidence_lines(state: Path) -> list[tuple[str, str]]:
    """(ref, items) of every evidence line, in seq order."""
    with closing(sqlite3.connect(state / "stallbox.db")) as conn:
        rows = conn.execute("SELECT line, items FROM receipts WHERE kind = 'evidence' ORDER BY seq")
        return [(parse_receipt(line).ref, items) for line, items in rows]


def states(state: Path) -> dict[str, str]:
    with closing(sqlite3.connect(state / "stallbox.db")) as conn:
        ids = [row[0] for row in conn.execute("SELECT id FROM orders ORDER BY number")]
        return dict(payment_states(conn, ids))


def test_record_bank_and_unmatched_once_then_a_late_credit_supersedes(
    box: Box, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pastel, _, two_pastels, _ = sell(box, clock)  # Pix at 18:00, 18:05, 18:10Z; cash at 18:15Z
    box.close()  # the test's own writer: the command opens the state dir by itself
    state = tmp_path / "state"
    (tmp_path / "bank.toml").write_text(MAP, encoding="utf-8")
    first = tmp_path / "extrato-1.csv"
    first.write_text(  # runs from 18:01Z to 23:00Z: covers the third sale, without its credit
        "Quando;Id;Mensagem;Valor\n"
        f"2026-11-26 15:01 -0300;E1;pedido {pastel};9,50\n"
        "2026-11-26 15:06 -0300;E2;;6,00\n"
        "2026-11-26 20:00 -0300;E3;aluguel;30,00\n",
        encoding="utf-8",
    )
    args = ["--map", str(tmp_path / "bank.toml"), "--state", str(state)]
    assert main(["reconcile", str(first), *args]) == ExitCode.FAILED  # one sale unmatched
    out = capsys.readouterr().out
    assert "recorded 3 evidence line(s)" in out
    lines = evidence_lines(state)
    assert [ref for ref, _ in lines] == ["b1", "b2", "u3"]
    assert '"credit":"id:E1"' in lines[0][1] and '"state":"unmatched"' in lines[2][1]
    assert list(states(state).values()) == ["bank", "bank", "unmatched"]  # cash: no state
    assert main(["ledger", "verify", "--state", str(state)]) == ExitCode.OK

    assert main(["reconcile", str(first), *args]) == ExitCode.FAILED  # again: nothing new
    assert "recorded 0 evidence line(s)" in capsys.readouterr().out
    assert len(evidence_lines(state)) == 3

    second = tmp_path / "extrato-2.csv"  # overlaps the first, and has the late credit
    second.write_text(
        "Quando;Id;Mensagem;Valor\n"
        f"2026-11-26 15:01 -0300;E1;pedido {pastel};9,50\n"
        f"2026-11-26 21:00 -0300;E4;pedido {two_pastels};19,00\n",
        encoding="utf-8",
    )
    assert main(["reconcile", str(first), str(second), *args]) == ExitCode.OK
    assert [ref for ref, _ in evidence_lines(state)] == ["b1", "b2", "u3", "b3"]
    assert list(states(state).values()) == ["bank", "bank", "bank"]
    assert main(["reconcile", str(second), str(first), *args]) == ExitCode.OK
    assert len(evidence_lines(state)) == 4
    assert main(["ledger", "verify", "--state", str(state)]) == ExitCode.OK


def test_refused_while_a_node_holds_the_state_dir(
    box: Box, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sell(box, clock)
    statement = tmp_path / "extrato.csv"
    statement.write_text("Quando;Id;Mensagem;Valor\n2026-11-26 20:00 -0300;E3;x;30,00\n")
    (tmp_path / "bank.toml").write_text(MAP, encoding="utf-8")
    state = tmp_path / "state"
    args = [str(statement), "--map", str(tmp_path / "bank.toml"), "--state", str(state)]
    with lock_state(state, "stallbox node"):
        assert main(["reconcile", *args]) == ExitCode.STATE
    err = capsys.readouterr().err
    assert "in use by stallbox node" in err and err.count("\n") == 1
    assert evidence_lines(state) == []


def test_a_sale_no_statement_covers_is_listed_not_judged(
    box: Box, clock: Clock, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pastel, _, _, _ = sell(box, clock)  # Pix at 18:00, 18:05, 18:10Z
    box.close()
    state = tmp_path / "state"
    (tmp_path / "bank.toml").write_text(MAP, encoding="utf-8")
    early = tmp_path / "extrato.csv"
    early.write_text(  # ends at 19:06Z: covers the 18:05 sale (no credit), not the 18:10 one
        "Quando;Id;Mensagem;Valor\n"
        f"2026-11-26 15:01 -0300;E1;pedido {pastel};9,50\n"
        "2026-11-26 16:06 -0300;E9;aluguel;30,00\n",
        encoding="utf-8",
    )
    args = [str(early), "--map", str(tmp_path / "bank.toml"), "--state", str(state)]
    assert main(["reconcile", *args]) == ExitCode.FAILED
    out = capsys.readouterr().out
    assert [ref for ref, _ in evidence_lines(state)] == ["b1", "u2"]
    assert "not judged: order" in out and "at 2026-11-26 18:10Z" in out
    assert list(states(state).values()) == ["bank", "unmatched", "unverified"]
