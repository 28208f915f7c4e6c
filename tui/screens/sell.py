"""Selling with one hand: catalogue with hotkeys and search, the cart, then a tender.

The cart lives in the console until the vendor presses Enter; then the order is opened with all
its lines in one request (one transaction on the node), the tender is chosen in a small dialog,
and the pay screen takes over. A cancelled payment keeps the cart; a paid one clears it.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import DataTable, Input, Static

from appliance.api.schemas import ItemOut, OrderOut, StatsOut, TenderOut
from tui.client import NodeClient
from tui.display import CartShown, cart_lines
from tui.errors import ConsoleError, Refused
from tui.messages import ActionDone, ActionFailed, CatalogLoaded, OrderOpened
from tui.money import money
from tui.pass_scan import PassChecked, PassRejected, ScanBuffer, is_pass, refusal_words
from tui.screens.base import ConsoleScreen

if TYPE_CHECKING:  # the pay step is imported when the first catalogue is drawn, not at start
    from tui.screens.pay import PayScreen

HOTKEYS = "1234567890abcdefghijklmnopqrstuvwxyz"
COLUMNS = ("key", "item", "price", "stock")


class SellScreen(ConsoleScreen):
    """Catalogue, cart, tender."""

    TITLE = "SELL"
    AUTO_FOCUS = ""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "checkout", "Tender", id="sell-tender"),
        Binding("slash", "search", "Search", id="sell-search"),
        Binding("plus", "more", "+1", id="sell-more"),
        Binding("minus", "less", "-1", id="sell-less"),
        Binding("up", "pick(-1)", "Line up", id="sell-up", show=False),
        Binding("down", "pick(1)", "Line down", id="sell-down", show=False),
        Binding("backspace", "remove", "Remove", id="sell-remove"),
        Binding("escape", "clear", "Clear", id="sell-clear"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[ItemOut] = []
        self.shown: list[ItemOut] = []
        self.cart: dict[str, int] = {}
        self.current: str | None = None
        self.opening = False  # an order is being opened: a second Enter must not open another
        self.scan = ScanBuffer()  # a USB scanner typing a pass (tui/pass_scan.py)
        self.pass_text: str | None = None  # a pass the node verified, for the next order
        self.pay: PayScreen | None = None  # the pay screen, kept and refilled for each sale

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="sell-body"):
            with Vertical(id="catalog-pane"):
                yield Input(placeholder="/ search, Enter adds the first match", id="search")
                table: DataTable[str] = DataTable(id="catalog", cursor_type="none")
                table.can_focus = False
                yield table
            with Vertical(id="cart-pane"):
                yield Static("Cart is empty — press an item's key", id="cart")
                yield Static("", id="cart-total", classes="big-total")
                shown_pass = Static("", id="cart-pass")
                shown_pass.display = False  # takes a line only while a pass is read
                yield shown_pass

    def on_mount(self) -> None:
        self.query_one("#catalog", DataTable).add_columns(*COLUMNS)
        self.listen(self.console.node_returned, lambda _: self.load_catalog())
        self.listen(self.console.stats_changed, self.locale_known)
        self.drawn_locale = self.console.money_locale
        self.load_catalog()

    def locale_known(self, stats: StatsOut) -> None:
        """The node said the stall's locale: write the prices its way."""
        if self.console.money_locale != self.drawn_locale:
            self.drawn_locale = self.console.money_locale
            self.filter(self.query_one("#search", Input).value)
            self.show_cart()

    def load_catalog(self) -> None:
        """Fetch the catalogue (with stock) if a node is attached."""
        if self.console.client is not None:
            self.fetch_catalog(self.console.client)

    @work(exclusive=True, group="catalog", exit_on_error=False)
    async def fetch_catalog(self, client: NodeClient) -> None:
        """GET /api/catalog."""
        try:
            self.post_message(CatalogLoaded(await client.catalog()))
        except ConsoleError as exc:
            self.console.catalog_drawn.set()  # nothing to draw: the monitor need not wait
            self.post_message(ActionFailed(f"Catalogue not loaded: {exc}"))

    def on_catalog_loaded(self, message: CatalogLoaded) -> None:
        self.items = message.items
        self.filter(self.query_one("#search", Input).value)
        self.show_cart()
        self.call_after_refresh(self.console.catalog_drawn.set)

    def filter(self, text: str) -> None:
        """Show the items matching `text` (all when empty), with their hotkeys."""
        wanted = text.strip().lower()
        self.shown = [i for i in self.items if wanted in i.name.lower() or wanted in i.sku]
        rows = [
            (
                HOTKEYS[index] if index < len(HOTKEYS) else "",
                item.name,
                money(item.price, item.currency, self.console.money_locale),
                "∞" if item.stock is None else str(item.stock),
            )
            for index, item in enumerate(self.items)
        ]
        # Widths set here, from every item: Textual's auto widths settle only when the app is
        # idle, so a refill under load could show "Coff" for "Coffee" (and jump as you search).
        widths = [
            max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(COLUMNS)
        ]  # no items yet: the headers
        table = self.query_one("#catalog", DataTable)
        table.clear(columns=True)
        for label, width in zip(COLUMNS, widths, strict=True):
            table.add_column(label, width=width)
        table.add_rows(
            row for row, item in zip(rows, self.items, strict=True) if item in self.shown
        )

    @on(Input.Changed, "#search")
    def searched(self, event: Input.Changed) -> None:
        self.filter(event.value)

    @on(Input.Submitted, "#search")
    def search_submitted(self, event: Input.Submitted) -> None:
        if is_pass(event.value):  # a pass typed or pasted into the search box
            self.read_pass(event.value.strip())
        elif self.shown:
            self.add(self.shown[0].sku)
        event.input.value = ""
        self.set_focus(None)

    def on_key(self, event: events.Key) -> None:
        if isinstance(self.focused, Input):
            if event.key == "escape":
                self.query_one("#search", Input).value = ""
                self.set_focus(None)
                event.stop()
            return
        taken, scanned = self.scan.feed(event.key, event.character, time.monotonic())
        if taken:  # a scanner's burst: its keys are no hotkeys, its Enter no tender
            event.stop()
            event.prevent_default()
            if scanned is not None:
                self.read_pass(scanned)
            return
        char = event.character or ""
        if len(char) == 1 and char in HOTKEYS:
            index = HOTKEYS.index(char)
            if index < len(self.items):
                self.add(self.items[index].sku)
                event.stop()

    def on_paste(self, event: events.Paste) -> None:
        if is_pass(event.text):
            event.stop()
            self.read_pass(event.text.strip())

    def read_pass(self, text: str) -> None:
        """Have the node verify a pass read here; it applies to the next order."""
        client = self.console.usable_client()
        if client is not None:
            self.check_pass(client, text)

    @work(exclusive=True, group="pass", exit_on_error=False)
    async def check_pass(self, client: NodeClient, text: str) -> None:
        """POST /api/passes/read."""
        try:
            self.post_message(PassChecked(text, await client.read_pass(text)))
        except Refused as exc:
            self.post_message(PassRejected(refusal_words(exc.error)))
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Pass not read: {exc}"))

    def on_pass_checked(self, message: PassChecked) -> None:
        self.pass_text = message.text
        card = message.card
        self.show_pass(f"PASS {card.holder}: {'; '.join(card.grants)}")
        self.say(f"Pass of {card.holder} read: it applies to this sale.")

    def on_pass_rejected(self, message: PassRejected) -> None:
        self.pass_text = None
        self.show_pass(message.words)
        self.say(message.words, error=True)

    def show_pass(self, text: str) -> None:
        """The line under the total about the pass read (hidden when there is none)."""
        line = self.query_one("#cart-pass", Static)
        line.update(Content(text))  # a pass's holder may be an attendee's note: never markup
        line.display = bool(text)

    def add(self, sku: str, qty: int = 1) -> None:
        """Put `qty` of an item in the cart (or take it out when qty < 0)."""
        left = self.cart.get(sku, 0) + qty
        if left > 0:
            self.cart[sku] = left
            self.current = sku
        else:
            self.cart.pop(sku, None)
            self.current = next(reversed(self.cart), None) if self.cart else None
        self.show_cart()

    def show_cart(self) -> None:
        """Draw the cart and its total."""
        by_sku = {i.sku: i for i in self.items}
        self.post_message(CartShown(cart_lines(self.cart, by_sku)))  # the customer display
        if not self.cart:
            self.query_one("#cart", Static).update("Cart is empty — press an item's key")
            self.query_one("#cart-total", Static).update("")
            return
        text = Text()
        total, currency = 0, ""
        for sku, qty in self.cart.items():
            item = by_sku.get(sku)
            name = item.name if item else sku
            line = (item.price * qty) if item else 0
            total += line
            currency = item.currency if item else currency
            mark = "▶ " if sku == self.current else "  "
            text.append(
                f"{mark}{qty:>3} x {name:<14.14} {money(line, currency, self.console.money_locale):>12}\n"
            )
        self.query_one("#cart", Static).update(text)
        self.query_one("#cart-total", Static).update(
            f"TOTAL {money(total, currency, self.console.money_locale)}"
        )

    def action_search(self) -> None:
        """Focus the search box."""
        self.query_one("#search", Input).focus()

    def action_more(self) -> None:
        """One more of the current line."""
        if self.current:
            self.add(self.current)

    def action_less(self) -> None:
        """One less of the current line."""
        if self.current:
            self.add(self.current, -1)

    def action_remove(self) -> None:
        """Remove the current line."""
        if self.current:
            self.add(self.current, -self.cart.get(self.current, 0))

    def action_pick(self, step: int) -> None:
        """Move the current-line marker."""
        skus = list(self.cart)
        if skus:
            at = skus.index(self.current) if self.current in skus else 0
            self.current = skus[(at + step) % len(skus)]
            self.show_cart()

    def action_clear(self) -> None:
        """Empty the cart (and drop the pass read for it)."""
        self.cart.clear()
        self.current = None
        self.pass_text = None
        self.show_pass("")
        self.show_cart()

    def action_checkout(self) -> None:
        """Open the order and choose a tender."""
        if not self.cart:
            self.say("The cart is empty.", error=True)
            return
        if self.opening:
            return
        client = self.console.usable_client()
        if client is not None:
            self.opening = True
            self.open_order(client, dict(self.cart), self.pass_text)

    @work(exclusive=True, group="sale", exit_on_error=False)
    async def open_order(
        self, client: NodeClient, lines: dict[str, int], pass_text: str | None = None
    ) -> None:
        """POST /api/orders with every line (and the pass read), then learn the tenders."""
        try:
            order = await client.create_order(lines)
            if pass_text is not None:
                try:
                    order = await client.apply_pass(order.id, pass_text)
                except Refused as exc:  # e.g. revoked since it was read: no sale with it
                    await client.cancel(order.id)
                    self.post_message(PassRejected(refusal_words(exc.error)))
                    self.post_message(ActionFailed("Order not opened; Enter sells at full price."))
                    return
            tenders, offered = await client.tenders(), await client.offered(order.id)
            self.post_message(OrderOpened(order, tenders, offered))
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Order not opened: {exc}"))

    def on_order_opened(self, message: OrderOpened) -> None:
        from tui.screens.tender import TenderScreen  # loaded by the monitor after the start

        self.opening = False
        order = message.order
        self.app.push_screen(
            TenderScreen(order, message.tenders, message.offered),
            lambda tender: self.tender_chosen(order, tender),
        )

    def tender_chosen(self, order: OrderOut, tender: str | None) -> None:
        """Go on with the chosen tender, or cancel the order (the cart is kept)."""
        client = self.console.usable_client()
        if client is None:
            return
        if tender is None:
            self.cancel_order(client, order.id)
        else:  # the tender goes out now, while the pay screen is shown: the QR comes sooner
            from tui.widgets.qr import qr_sides

            sides = qr_sides(self.console.size, self.console.qr_blocks, tender)
            sent = asyncio.ensure_future(client.tender(order.id, tender, qr_sides=sides))
            self.app.push_screen(self.pay_screen(order, tender, sent), self.pay_done)

    def pay_screen(
        self, order: OrderOut, tender: str, sent: asyncio.Future[TenderOut]
    ) -> PayScreen:
        """The pay screen, kept from sale to sale and refilled (composing one costs more CPU
        than anything else between the tender key and the QR:
        docs/performance/2026-12-05-keystroke-to-qr.md)."""
        from tui.screens.pay import PayScreen

        if self.pay is None:
            self.pay = PayScreen(order, tender, sent)
            self.app.install_screen(self.pay, f"pay-{id(self)}")  # installed: kept when popped
        else:
            self.pay.refill(order, tender, sent)
        return self.pay

    def pay_done(self, answer: object) -> None:
        """Paid: clear the cart and show the receipt. Cancelled: keep the cart."""
        from tui.screens.receipt import Paid, ReceiptScreen

        if not isinstance(answer, Paid):
            return
        self.action_clear()
        self.load_catalog()
        self.app.push_screen(ReceiptScreen(answer.answer, answer.change))

    @work(exclusive=True, group="sale", exit_on_error=False)
    async def cancel_order(self, client: NodeClient, order_id: str) -> None:
        """POST cancel for an order whose tender dialog was closed."""
        try:
            order = await client.cancel(order_id)
            self.post_message(ActionDone(f"Order #{order.number} cancelled; the cart is kept."))
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Cancel failed: {exc}"))

    def on_action_failed(self, message: ActionFailed) -> None:
        self.opening = False
        self.say(message.text, error=True)

    def on_action_done(self, message: ActionDone) -> None:
        self.say(message.text)
