"""`stallbox qr`, called the way cli.py calls it: files that scan, a sign, one-line refusals."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest
from decode import decode_png, decode_svg

from appliance.config import Config, parse_config
from appliance.errors import ExitCode
from appliance.payments import emv
from appliance.payments.command import add_qr_parser, run_qr

CONFIG = parse_config(
    '[stall]\ncurrency = "BRL"\n'
    '[rails.pix]\nkind = "pix"\nkey = "a@b.co"\nmerchant = "PASTEL DA ANA"\ncity = "RECIFE"\n'
    'max_amount = "500"\n'
    '[rails.cash]\nkind = "cash"\n'
)


def qr_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="stallbox")
    add_qr_parser(parser.add_subparsers(dest="command"))  # the lead's wiring, without `common`
    return parser.parse_args(["qr", *argv])


def test_a_png_and_an_svg_scan_to_the_printed_payload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png, svg = tmp_path / "order.png", tmp_path / "order.svg"
    assert (
        run_qr(
            qr_args("--rail", "pix", "--amount", "18.50", "--ref", "0Z8H", "--png", str(png)),
            CONFIG,
        )
        == 0
    )
    payload = capsys.readouterr().err.strip()
    assert decode_png(png.read_bytes()) == (payload, "M")
    assert emv.lookup(emv.parse(payload), "54") == "18.50"
    assert emv.lookup(emv.parse(payload), "62.05") == "0Z8H"
    assert (
        run_qr(
            qr_args("--rail", "pix", "--amount", "18.50", "--ref", "0Z8H", "--svg", str(svg)),
            CONFIG,
        )
        == 0
    )
    size = int(svg.read_text().split('viewBox="0 0 ')[1].split(" ")[0])
    assert decode_svg(svg.read_text(), size) == (payload, "M")


def test_without_an_amount_it_prints_the_stalls_sign(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_qr(qr_args("--rail", "pix"), CONFIG) == ExitCode.OK
    out, err = capsys.readouterr()
    assert "█" in out and "\x1b[" not in out  # not a TTY here: no colour codes
    parsed = emv.parse(err.strip())
    assert "54" not in parsed and emv.lookup(parsed, "62.05") == "***"
    assert "01" not in parsed  # Pix signs leave 01 out, as the Banco Central static example


@pytest.mark.parametrize(
    ("argv", "code", "line"),
    [
        (["--rail", "pix", "--amount", "1.234"], ExitCode.USAGE, "stallbox: --amount: '1.234' has 3 decimals, BRL allows 2"),
        (["--rail", "pix", "--amount", "abc"], ExitCode.USAGE, "stallbox: --amount: 'abc' is not a decimal amount"),
        (["--rail", "pix", "--amount", "600"], ExitCode.USAGE, "stallbox: --amount: rail 'pix': 600.00 BRL is over its maximum 500.00 BRL"),
        (["--rail", "pix", "--amount", "0"], ExitCode.USAGE, "stallbox: --amount: rail 'pix': amount 0.00 BRL must be positive"),
        (["--rail", "upi"], ExitCode.USAGE, "stallbox: --rail: rail 'upi' is not configured (payment rails: pix)"),
        (["--rail", "cash"], ExitCode.USAGE, "stallbox: --rail: rail 'cash' is cash, which has no code"),
        (["--rail", "pix", "--ref", "ORDER 7"], ExitCode.USAGE, "stallbox: --ref: rail 'pix': reference 'ORDER 7': 1-25 letters or digits"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_option(
    argv: list[str], code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_qr(qr_args(*argv), CONFIG) == code
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith(line)


def test_raw_rail_tables_are_validated_too(capsys: pytest.CaptureFixture[str]) -> None:
    raw = {"pix": {"kind": "pix", "key": "a@b.co", "merchant": "M", "city": "SAO PAULO CAPITA"}}
    config = dataclasses.replace(Config(path=None), rails=raw)  # type: ignore[arg-type]
    assert run_qr(qr_args("--rail", "pix"), config) == ExitCode.CONFIG
    assert capsys.readouterr().err == (
        "stallbox: stallbox.toml: rails.pix.city: 16 characters, at most 15\n"
    )


def test_an_unwritable_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "missing" / "qr.png"
    assert run_qr(qr_args("--rail", "pix", "--png", str(target)), CONFIG) == ExitCode.FAILED
    assert capsys.readouterr().err.startswith(f"stallbox: {target}: cannot write")


def test_png_and_svg_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        qr_args("--rail", "pix", "--png", "a.png", "--svg", "a.svg")
