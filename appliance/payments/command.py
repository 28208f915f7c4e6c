"""`stallbox qr`: a payment code on the terminal or in a file; without --amount, the stall's sign."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from appliance.config import Config
from appliance.domain.errors import DomainError
from appliance.domain.money import Money
from appliance.errors import ExitCode
from appliance.payments.errors import PaymentError
from appliance.payments.registry import RailRegistry


def add_qr_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Declare `stallbox qr`."""
    qr = subparsers.add_parser(
        "qr", parents=[common], help="print a payment QR code or write it to a file"
    )
    qr.add_argument("--rail", required=True, help="a rail from [rails.NAME] in the config")
    qr.add_argument("--amount", help="amount in major units, e.g. 18.50 (omit for a reusable sign)")
    qr.add_argument("--ref", help="payment reference (letters and digits)")
    out = qr.add_mutually_exclusive_group()
    out.add_argument("--png", metavar="FILE", type=Path, help="write a PNG instead of printing")
    out.add_argument("--svg", metavar="FILE", type=Path, help="write an SVG instead of printing")


def run_qr(args: argparse.Namespace, config: Config) -> int:
    """Make the code; one clear line on stderr and a non-zero exit on bad input."""
    registry = RailRegistry.from_config(config.rails, config.currency)
    try:
        amount = None if args.amount is None else Money.parse(args.amount, config.currency)
        code = registry.qr(args.rail, amount, args.ref)
    except (DomainError, PaymentError) as exc:
        field = "--amount" if isinstance(exc, DomainError) else "--rail/--ref"
        print(f"stallbox: {field}: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        if args.png:
            args.png.write_bytes(code.png())
        elif args.svg:
            args.svg.write_text(code.svg, encoding="utf-8")
        else:
            print(code.terminal(ansi=sys.stdout.isatty()))
    except OSError as exc:
        print(f"stallbox: {args.png or args.svg}: cannot write ({exc.strerror})", file=sys.stderr)
        return ExitCode.USAGE
    print(code.payload, file=sys.stderr)
    return ExitCode.OK
