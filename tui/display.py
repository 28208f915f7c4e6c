"""What the console tells its customer display and its receipt printer, from what it already does.

A mixin of the app, so the screens stay as they are: the sell screen posts `CartShown` when it
draws its cart, and the rest is heard from messages that bubble up from the screens (an order
opened, a tender chosen, the cash typed in) and from the node's own events (the order paid,
cancelled or expired; a `printer` alarm). Updates go to the node one at a time, in order, from
one worker, so a display never shows an older step after a newer one; consecutive cart updates
are folded into the last. After a sale the node is asked to print the receipt (with the change,
for cash); `p` on the receipt screen reprints it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING

from textual.message import Message
from textual.widgets import Input

from appliance.api.schemas import (
    DisplayCart,
    DisplayCodeOut,
    DisplayCodeRequest,
    DisplayLine,
    DisplayOrder,
    DisplayShown,
    ItemOut,
    PrinterOut,
    PrintQueued,
    PrintRequest,
)
from tui.client import NodeClient
from tui.errors import ConsoleError, Refused
from tui.messages import EventReceived, NodeChecked, NodeLost, OrderOpened, Tendered

if TYPE_CHECKING:
    from tui.app import StallboxConsole

ENDED = {"cancelled", "expired", "voided"}
MAX_WAITING = 16  # display updates kept while the node is unreachable


class CartShown(Message):
    """The sell screen drew its cart (empty: nothing being rung up)."""

    def __init__(self, lines: list[DisplayLine]) -> None:
        super().__init__()
        self.lines = lines


def cart_lines(cart: Mapping[str, int], items: Mapping[str, ItemOut]) -> list[DisplayLine]:
    """The cart as a display's lines (items the catalogue no longer has are left out)."""
    return [
        DisplayLine(item.name[:64], min(qty, 999), item.price * min(qty, 999))
        for sku, qty in cart.items()
        if (item := items.get(sku)) is not None and qty > 0
    ]


async def display_code(client: NodeClient, console: str) -> DisplayCodeOut:
    """A one-time code for this console's customer display."""
    return await client._typed(
        DisplayCodeOut, "POST", "/api/display/code", DisplayCodeRequest(console)
    )


async def show(client: NodeClient, update: DisplayCart | DisplayOrder) -> DisplayShown:
    """Set what this console's customer display shows."""
    path = "/api/display" if isinstance(update, DisplayCart) else "/api/display/order"
    return await client._typed(DisplayShown, "POST", path, update)


async def print_receipt(
    client: NodeClient, order_id: str, received: int | None, reprint: bool
) -> PrintQueued:
    """Ask the node to print (queue) a paid order's receipt."""
    path = f"/api/orders/{order_id}/print"
    return await client._typed(PrintQueued, "POST", path, PrintRequest(received, reprint))


async def printer_state(client: NodeClient) -> PrinterOut:
    """The node's receipt printer: configured, its last outcome."""
    return await client._typed(PrinterOut, "GET", "/api/printer")


class DisplayHooks:
    """The app's side of the customer display and the printer (mixed into StallboxConsole)."""

    _cd_order: str | None = None  # the order this console is selling now
    _cd_sent: tuple[str, str | None] = ("", None)  # (phase, order) last queued
    _cd_received: int | None = None  # cash typed on the pay screen, minor units
    _cd_queue: deque[DisplayCart | DisplayOrder] | None = None
    _cd_busy: bool = False
    _cd_cart: list[DisplayLine] | None = None  # the cart last drawn (shown again after a cancel)
    _cd_printer_asked = False  # the printer's state asked since the node was last reached

    def _to_display(
        self, phase: str, order_id: str | None = None, lines: list[DisplayLine] | None = None
    ) -> None:
        app: StallboxConsole = self  # type: ignore[assignment]
        if phase in ("pay", "paid") and self._cd_sent == (phase, order_id):
            return  # heard twice (the screen's message and the node's event): sent once
        self._cd_sent = (phase, order_id)
        received = self._cd_received if phase == "paid" else None
        name = app.settings.name
        update: DisplayCart | DisplayOrder = (
            DisplayOrder(name, phase, order_id, received)  # type: ignore[arg-type]
            if order_id is not None and phase in ("pay", "paid")
            else DisplayCart(name, lines or [], order_id)
        )
        queue = self._cd_queue = self._cd_queue or deque()
        if (
            isinstance(update, DisplayCart)
            and queue
            and isinstance(queue[-1], DisplayCart)
            and queue[-1].order_id is None
            and (len(queue) > 1 or not self._cd_busy)  # never the one being sent
        ):
            queue[-1] = update  # only the latest cart matters (but never drop an order's link)
        else:
            queue.append(update)
        self._resend_display()

    async def _send_display(self, client: NodeClient) -> None:
        queue = self._cd_queue
        try:
            while queue:
                try:
                    await show(client, queue[0])
                except Refused:
                    pass  # the node said no (an order that moved on): nothing to send again
                except ConsoleError:
                    return  # not reached: sent again when a check finds the node (below)
                queue.popleft()
        finally:
            self._cd_busy = False

    def _resend_display(self) -> None:
        app: StallboxConsole = self  # type: ignore[assignment]
        if self._cd_queue and not self._cd_busy and app.client is not None:
            while len(self._cd_queue) > MAX_WAITING:  # a long outage: the latest steps matter
                self._cd_queue.popleft()
            self._cd_busy = True
            client = app.client

            async def send() -> None:  # a function, not a coroutine: none is left if never run
                await self._send_display(client)

            app.run_worker(send, group="display", exit_on_error=False)  # type: ignore[arg-type]  # textual infers Never here

    def on_cart_shown(self, message: CartShown) -> None:
        self._cd_cart = message.lines
        self._to_display("cart" if message.lines else "idle", None, message.lines)

    def on_order_opened(self, message: OrderOpened) -> None:
        self._cd_order, self._cd_received = message.order.id, None
        # the cart became this order: the node shows its payment here as soon as it is tendered
        self._to_display("cart", message.order.id, self._cd_cart)

    def on_tendered(self, message: Tendered) -> None:
        order = message.answer.order
        self._cd_order = order.id
        self._to_display("pay", order.id)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "received":
            from tui.screens.pay import parse_minor

            self._cd_received = parse_minor(event.value)

    def on_event_received(self, message: EventReceived) -> None:
        event = message.event
        if event.kind == "printer":
            self._printer_event(dict(event.data))
            return
        order_id, state = event.data.get("id"), event.data.get("state")
        if event.kind != "order" or order_id is None or order_id != self._cd_order:
            return
        if state == "awaiting_payment":
            self._to_display("pay", order_id)
        elif state == "paid" and not event.data.get("ready"):
            self._to_display("paid", order_id)
            self._queue_print(order_id, self._cd_received, reprint=False)
            self._cd_order = None
        elif state in ENDED:  # back to the cart the console still holds (or idle)
            self._to_display("cart", None, self._cd_cart)
            self._cd_order = None

    def on_node_checked(self, message: NodeChecked) -> None:
        app: StallboxConsole = self  # type: ignore[assignment]
        self._resend_display()  # what the display missed while the node was away
        if not self._cd_printer_asked and app.client is not None:
            self._cd_printer_asked = True  # a printer that failed before this console started
            app.run_worker(self._ask_printer(app.client), group="print", exit_on_error=False)

    def on_node_lost(self, message: NodeLost) -> None:
        self._cd_printer_asked = False

    async def _ask_printer(self, client: NodeClient) -> None:
        try:
            state = await printer_state(client)
        except ConsoleError:
            return  # an older node, or gone again: the monitor says so
        if state.configured and not state.ok:
            self._printer_event({"ok": False, "error": state.error})

    def _printer_event(self, data: dict[str, object]) -> None:
        app: StallboxConsole = self  # type: ignore[assignment]
        if data.get("ok"):
            app.notify("The printer printed again.", title="Printer")
        else:
            app.notify(
                f"Receipt not printed: {data.get('error')}. Check power, paper and cable; "
                "p on the receipt prints it again.",
                title="PRINTER ALARM",
                severity="error",
                timeout=30,
            )

    def _queue_print(self, order_id: str, received: int | None, reprint: bool) -> None:
        app: StallboxConsole = self  # type: ignore[assignment]
        if app.client is not None:
            job = self._print_job(app.client, order_id, received, reprint)
            app.run_worker(job, group="print", exit_on_error=False)

    async def _print_job(
        self, client: NodeClient, order_id: str, received: int | None, reprint: bool
    ) -> None:
        app: StallboxConsole = self  # type: ignore[assignment]
        try:
            await print_receipt(client, order_id, received, reprint)
        except Refused as exc:
            if exc.field == "printer":  # no printer on this box: nothing to say after a sale
                if reprint:
                    app.notify("No receipt printer is configured on the node.", severity="warning")
                return
            app.notify(f"Receipt not printed: {exc}", severity="error", title="Printer")
        except ConsoleError as exc:
            app.notify(f"Receipt not printed: {exc}", severity="error", title="Printer")
        else:
            if reprint:
                app.notify("Receipt sent to the printer.", title="Printer")

    def reprint(self, order_id: str) -> None:
        """Print a paid order's receipt again (`p` on the receipt screen)."""
        self._queue_print(order_id, None, reprint=True)

    def action_display(self) -> None:
        """Show the code that pairs a customer display with this console."""
        from tui.screens.display_pair import DisplayPairScreen

        app: StallboxConsole = self  # type: ignore[assignment]
        if app.client is None:
            app.notify("Pair with a node first.", severity="warning")
            return
        app.push_screen(DisplayPairScreen())
