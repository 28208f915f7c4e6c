"""The status bar and the node-down banner every screen shows, fed by the app's link signal."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Static

from tui.link import (
    Link,
    bank_text,
    cloud_text,
    node_text,
    outbox_text,
    storage_banner,
    storage_text,
)


def unsubscribe(widget: Widget) -> None:
    """Drop the widget's link subscription (a Signal holds its subscribers until told)."""
    link_changed = getattr(widget.app, "link_changed", None)
    if link_changed is not None:
        link_changed.unsubscribe(widget)


class StatusBar(Horizontal):
    """Node and cloud reachability, the outbox depth, and the disk and money alarms."""

    def compose(self) -> ComposeResult:
        yield Static(id="status-node", classes="status-part")
        yield Static(id="status-cloud", classes="status-part")
        yield Static(id="status-outbox", classes="status-part")
        yield Static(id="status-storage", classes="status-part")
        yield Static(id="status-bank", classes="status-part")

    def on_mount(self) -> None:
        link_changed = getattr(self.app, "link_changed", None)
        if link_changed is not None:
            link_changed.subscribe(self, self.show)
        self.show(getattr(self.app, "link", Link()))

    def show(self, link: Link) -> None:
        """Show one link state."""
        for part, (label, kind) in (
            ("#status-node", node_text(link)),
            ("#status-cloud", cloud_text(link)),
            ("#status-outbox", outbox_text(link)),
        ):
            widget = self.query_one(part, Static)
            widget.update(label)
            widget.set_classes(f"status-part {kind}")
        for part, (label, kind) in (("#status-storage", storage_text(link)),
                                    ("#status-bank", bank_text(link))):  # fmt: skip
            alarm = self.query_one(part, Static)
            alarm.update(label)
            alarm.set_classes(f"status-part {kind}")
            alarm.display = bool(label)  # only an alarm takes room

    def on_unmount(self) -> None:
        unsubscribe(self)


class NodeBanner(Static):
    """A loud line while the node is unreachable (nothing is sent) or its disk is full."""

    def on_mount(self) -> None:
        link_changed = getattr(self.app, "link_changed", None)
        if link_changed is not None:
            link_changed.subscribe(self, self.show)
        self.show(getattr(self.app, "link", Link()))

    def on_unmount(self) -> None:
        unsubscribe(self)

    def show(self, link: Link) -> None:
        """Visible only while the node is down or its disk is full."""
        full = storage_banner(link)
        self.display = link.node == "down" or bool(full)
        if link.node == "down":
            self.update(
                f"✖ NODE UNREACHABLE ({link.url}) — reconnecting, try {link.attempts}. "
                "Nothing is sent until it is back."
            )
        elif full:
            self.update(full)
