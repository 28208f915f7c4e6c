"""Pairing a customer display: the URL to open on the spare phone and the code to type there."""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from tui.client import NodeClient
from tui.display import display_code
from tui.errors import ConsoleError
from tui.messages import ActionDone, ActionFailed
from tui.screens.base import ConsoleModal


class DisplayPairScreen(ConsoleModal):
    """The code a customer display types to follow this console (valid 5 minutes, used once)."""

    code = url = ""

    DEFAULT_CSS = """
    DisplayPairScreen { align: center middle; }
    #display-code { text-style: bold; padding: 1 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss_none", "Close", id="display-close"),
        Binding("enter", "dismiss_none", "Close", id="display-done", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="display-dialog", classes="dialog"):
            yield Static("Customer display", classes="dialog-title")
            yield Static("Asking the node for a code…", id="display-how")
            yield Static("", id="display-code")
            yield Static("Esc: close. A new code replaces this console's display.", classes="hint")

    def on_mount(self) -> None:
        client = self.console.client
        if client is not None:
            self.fetch(client)

    @work(exclusive=True, group="display-code", exit_on_error=False)
    async def fetch(self, client: NodeClient) -> None:
        """POST /api/display/code for this console."""
        try:
            answer = await display_code(client, self.console.settings.name)
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"No display code: {exc}"))
            return
        self.code, self.url = answer.code, answer.url
        self.post_message(ActionDone(answer.code))

    def on_action_done(self, message: ActionDone) -> None:
        message.stop()
        self.query_one("#display-how", Static).update(
            f"On the phone or tablet facing the customer, open\n\n  {self.url}\n\nand type:"
        )
        self.query_one("#display-code", Static).update(" ".join(message.text))

    def on_action_failed(self, message: ActionFailed) -> None:
        message.stop()
        self.query_one("#display-how", Static).update(message.text)

    def action_dismiss_none(self) -> None:
        """Close the dialog."""
        self.dismiss(None)
