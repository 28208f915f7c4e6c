"""Handing a pass over at the console: its QR code full screen, for the buyer to scan or photograph.

A pass product sold at the console (cash, no attendee phone in the sale) is issued by the node
when the payment is confirmed; nobody's phone kept it. So after the receipt, the console asks
the node for the order's passes (`GET /api/orders/{id}/passes`) and shows each one's QR here,
with no frame around it, so the code is as large as the screen allows: the buyer scans it with
the phone's camera (the text is the pass itself, `SBP1:…`) or photographs it. The code is
built off the event loop at the highest error-correction level that fits (tui/widgets/qr.py).
Enter shows the next pass, then returns to the receipt; Esc returns at once.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from appliance.api.pass_schemas import IssuedPassOut
from tui.widgets.qr import QrCode, fit_lines

CAPTION_H = 2  # the caption's lines under the code


class PassDrawn(Message):
    """One pass's code was built (lines empty: no block glyphs on this screen)."""

    def __init__(self, index: int, lines: tuple[str, ...]) -> None:
        super().__init__()
        self.index = index
        self.lines = lines


class PassHandoverScreen(Screen[None]):
    """The order's issued passes, one QR code at a time, full screen."""

    DEFAULT_CSS = """
    #handover-code { height: auto; max-height: 1fr; }
    #handover-qr { width: auto; height: auto; max-height: 100%; }
    #handover-qr.too-small { width: 1fr; color: $warning; padding: 1; }
    #handover-caption { width: 100%; height: 2; text-align: center; text-style: bold; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "next_pass", "Next pass / done", id="handover-next"),
        Binding("escape", "dismiss_all", "Back to the receipt", id="handover-done"),
    ]

    def __init__(
        self, passes: list[IssuedPassOut], order_number: int, blocks: str, elsewhere: str
    ) -> None:
        super().__init__()
        self.passes = passes
        self.order_number = order_number
        self.blocks = blocks
        self.elsewhere = elsewhere  # where the buyer finds the pass when the code does not fit
        self.index = 0

    def compose(self) -> ComposeResult:
        with Center(id="handover-code"):
            yield QrCode(id="handover-qr")
        yield Static("", id="handover-caption")

    def on_mount(self) -> None:
        self.draw(0)

    @work(exclusive=True, group="handover", exit_on_error=False)
    async def draw(self, index: int) -> None:
        """Build pass `index`'s code for the whole screen, off the event loop."""
        width, height = self.app.size
        text = self.passes[index].text
        _, lines = await asyncio.to_thread(
            fit_lines, text, self.blocks, ((width, height - CAPTION_H),)
        )
        self.post_message(PassDrawn(index, lines))

    def on_pass_drawn(self, message: PassDrawn) -> None:
        if message.index != self.index:
            return
        one = self.passes[message.index]
        code = self.query_one("#handover-qr", QrCode)
        code.elsewhere = self.elsewhere
        code.show(one.text, message.lines)
        more = "Enter: next pass" if self.index + 1 < len(self.passes) else "Enter: done"
        self.query_one("#handover-caption", Static).update(
            Content(  # the holder is the first line of the attendee's note: text, never markup
                f"PASS {self.index + 1} of {len(self.passes)} · {one.holder} · order "
                f"#{self.order_number}\nThe buyer scans or photographs this code · {more}"
            )
        )

    def action_next_pass(self) -> None:
        """The next pass's code, or back to the receipt after the last."""
        if self.index + 1 >= len(self.passes):
            self.dismiss(None)
            return
        self.index += 1
        self.draw(self.index)

    def action_dismiss_all(self) -> None:
        """Back to the receipt."""
        self.dismiss(None)
