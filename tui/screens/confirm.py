"""One question before anything that cannot be taken back (void, cancel, quitting with orders
waiting): the dialog names what it acts on, and only a second key does it.

The same key again (or `y`) answers yes; Esc or `n` keeps things as they are. Anything else is
ignored, so a stray keystroke never confirms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from tui.errors import ConsoleError
from tui.screens.base import ConsoleModal

if TYPE_CHECKING:
    from tui.app import StallboxConsole

YES = "yes"


class ConfirmAction(ConsoleModal):
    """Asks once; dismisses with YES or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "keep", "Keep", id="confirm-keep"),
    ]

    def __init__(self, question: str, key: str, verb: str, *, again: bool = True) -> None:
        super().__init__()
        self.question = question
        self.key = key
        self.verb = verb
        self.again = again  # False: `key` was not the key that asked (Esc on the pay screen)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog alarm", id="confirm-box"):
            yield Static(self.question, classes="dialog-title", id="confirm-question")
            again = " again" if self.again else ""
            yield Static(f"{self.key}{again} (or y): {self.verb} · Esc (or n): keep it")

    def on_key(self, event: events.Key) -> None:
        char = event.character or ""
        if char in (self.key, "y"):
            event.stop()
            self.dismiss(YES)
        elif char == "n":
            event.stop()
            self.dismiss(None)

    def action_keep(self) -> None:
        """Do nothing."""
        self.dismiss(None)


def quit_or_ask(app: StallboxConsole) -> None:
    """Quit at once if no order waits for payment; otherwise ask first (README: `q` quits)."""
    if not isinstance(app.screen, ConfirmAction):
        app.run_worker(_quit_or_ask(app), group="quit", exclusive=True, exit_on_error=False)


async def _quit_or_ask(app: StallboxConsole) -> None:
    waiting = 0
    if app.client is not None and app.link.node == "up":
        try:
            waiting = len(await app.client.orders("awaiting_payment"))
        except ConsoleError:
            waiting = 0  # the node cannot say: nothing to protect here
    if waiting == 0:
        app.exit(0)
        return
    question = f"{waiting} order(s) are waiting for payment (F3). Quit anyway?"
    app.push_screen(
        ConfirmAction(question, "q", "quit"), lambda answer: app.exit(0) if answer == YES else None
    )
