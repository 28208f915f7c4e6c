"""`stallbox print-test`: a test page on the configured receipt printer, before the market opens.

It prints what a receipt is made of (text at the paper's width, a raster QR, the cut) so the
vendor sees that the device string, the width and the profile are right. It talks to the
printer directly, not through the node: run it while the node is stopped, or on a printer the
node is not printing to at that moment. Errors are one line naming the key or the device.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from appliance.config import Config
from appliance.errors import ExitCode, StallboxError
from appliance.printing.errors import NoPrinter, PrinterError, describe
from appliance.printing.spec import check_spec

ConfigLoader = Callable[[argparse.Namespace], Config]


def add_print_test_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    load: ConfigLoader,
) -> None:
    """Declare `stallbox print-test`; it reads the config with `load`."""
    parser = subparsers.add_parser(
        "print-test", parents=[common], help="print a test page on the receipt printer",
        description="Print a test page on [printer] device (or --device): the stall's name,"
        " the paper width, a ruler of columns and a QR code as a raster image.",
    )  # fmt: skip
    parser.add_argument("--device", help="a device string instead of [printer] device")
    parser.add_argument("--width", type=int, choices=[58, 80], help="paper width in mm")
    parser.set_defaults(run=lambda args: run_print_test(args, load(args)))


def run_print_test(args: argparse.Namespace, config: Config) -> int:
    """Print the test page; 0 when the printer took it, 1 with one line on stderr if not."""
    from escpos.exceptions import Error as EscposError

    from appliance.printing.device import opener
    from appliance.printing.escpos_job import PaperSettings
    from appliance.printing.queue import device_sink, render_test_page

    device = check_spec(args.device) if args.device is not None else config.printer_device
    paper = PaperSettings(
        width_mm=args.width or config.printer_width_mm, locale=config.locale,
        cut=config.printer_cut, drawer=False, profile=config.printer_profile,
    )  # fmt: skip
    try:
        if not device:
            raise NoPrinter("no printer: set [printer] device in the config, or give --device")
        send = device_sink(opener(device, paper.profile_name))
        try:
            send(render_test_page(paper, config.stall_name, device))
        except (OSError, ValueError, EscposError) as exc:  # pyusb, pyserial: OSError
            raise PrinterError(f"{device}: {describe(exc)}") from None
    except StallboxError as exc:
        print(f"stallbox: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    print(f"test page sent to {device} ({paper.width_mm} mm, profile {paper.profile_name})")
    return ExitCode.OK
