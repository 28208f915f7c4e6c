"""`stallbox demo`: a scripted session on a sample stall, for a first look with no setup.

It makes a state dir (a temporary one unless --state is given), configures a stall with cash and
Pix, and plays a short evening: a cash sale, a Pix sale with its QR code, a Pix sale over the
offline limit (refused, then overridden by the operator), a void and the daily close. Each step
prints the signed receipt line; at the end the whole chain is verified.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from appliance.config import CONFIG_NAME, Config, load_config, sample_config
from appliance.errors import ExitCode
from appliance.ledger.receipt import Receipt

DEMO_RAILS = """
[policy.rails.pix]
per_sale_limit = "50.00"
exposure_limit = "500.00"

[rails.pix]
kind = "pix"
key = "demo@stallbox.example"
merchant = "PASTELARIA DEMO"
city = "SAO PAULO"
"""


def _show(out: TextIO, title: str, receipt: Receipt | None) -> None:
    print(f"\n== {title}", file=out)
    if receipt is not None:
        print(f"   receipt seq {receipt.seq} ({len(receipt.line)} chars):", file=out)
        print(f"   {receipt.line}", file=out)


async def play(state: Path, config: Config, out: TextIO) -> int:
    """Play the scripted evening against an initialised state dir."""
    from appliance.domain.errors import TenderRefused
    from appliance.payments.registry import RailRegistry
    from appliance.services.box import Box
    from appliance.services.checkout import Checkout
    from appliance.services.ledger_files import verify_state
    from appliance.store.orders import sync_catalog

    rails = RailRegistry.from_config(config.rails, config.currency)
    box = Box.open(state, config.currency)
    try:
        checkout = Checkout(box, limits=config.rail_limits, payments=rails)
        await box.writer.run(lambda conn: sync_catalog(conn, config.catalog))
        print(f"Stall {config.stall_name!r}, device {box.device_id}, state dir {state}", file=out)

        order = await checkout.create_order()
        await checkout.add_line(order.id, "pastel", 2)
        await checkout.add_line(order.id, "coffee", 1)
        cash = await checkout.choose_tender(order.id, "cash")
        sold = await checkout.confirm(order.id)
        _show(
            out,
            f"Cash sale {cash.reference}: {cash.order.total} ({sold.decision.reason})",
            sold.receipt,
        )

        order = await checkout.create_order()
        await checkout.add_line(order.id, "coffee", 3)
        pix = await checkout.choose_tender(order.id, "pix")
        assert pix.payload is not None
        print(f"\n== Pix order {pix.reference}: {pix.order.total}; the attendee scans:", file=out)
        print(rails.qr("pix", pix.order.total, pix.reference).terminal(), file=out)
        print(f"   payload: {pix.payload}", file=out)
        sold = await checkout.confirm(order.id)
        _show(out, f"Payment seen on the payer's phone: {sold.decision.reason}", sold.receipt)
        first_sale = order.id

        order = await checkout.create_order()
        await checkout.add_line(order.id, "pastel", 6)
        print(
            f"\n== Pix offered for {order.id[:8]}…: {await checkout.offered_for(order.id)}",
            file=out,
        )
        try:  # refused at tender, before any QR is shown: the payer is never invited to pay
            await checkout.choose_tender(order.id, "pix")
        except TenderRefused as exc:
            print(f"   refused at tender: {exc}", file=out)
        big = await checkout.choose_tender(
            order.id, "pix", operator="ana", override_reason="regular customer"
        )
        sold = await checkout.confirm(order.id)
        print(f"   Pix order {big.reference}: {big.order.total}", file=out)
        _show(out, f"Operator override at tender: {sold.decision.reason}", sold.receipt)

        void = await checkout.void(first_sale)
        _show(out, f"Void of the Pix sale (receipt seq {void.ref})", void)
        close = await checkout.close_day()
        _show(out, "Daily close", close)
    finally:
        box.close()

    summary = verify_state(state)
    print(
        f"\nChain verified: {summary.count} receipts, seq 0..{summary.head.next_seq - 1}, "
        f"every signature, link and item hash checks.",
        file=out,
    )
    return ExitCode.OK


def run_demo(state: Path | None, out: TextIO = sys.stdout) -> int:
    """Set up a sample stall and play the scripted session; return the exit code."""
    from appliance.services.box import init_state

    temporary = state is None
    state_dir = Path(tempfile.mkdtemp(prefix="stallbox-demo-")) if state is None else state
    try:
        fresh = not (state_dir / CONFIG_NAME).exists()
        init_state(state_dir, "BRL", datetime.now(UTC))
        if fresh:
            (state_dir / CONFIG_NAME).write_text(
                sample_config("BRL") + DEMO_RAILS, encoding="utf-8"
            )
        config = load_config(state_dir / CONFIG_NAME)
        code = asyncio.run(play(state_dir, config, out))
        if temporary:
            print("(a temporary state dir; `stallbox demo --state DIR` keeps one)", file=out)
        else:
            print(f"Try: stallbox ledger verify --state {state_dir}", file=out)
        return code
    finally:
        if temporary:
            shutil.rmtree(state_dir, ignore_errors=True)
