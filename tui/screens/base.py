"""What every main screen shares: a title line, the node banner, the status bar and key hints."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from textual._styles_cache import StylesCache
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import ModalScreen, Screen
from textual.signal import Signal
from textual.widgets import Static

from tui.widgets.footer import ConsoleFooter
from tui.widgets.status import NodeBanner, StatusBar

T = TypeVar("T")
NAV_HINT = "F2 Sell F3 Orders F4 Drops F5 Sync F6 Numbers F9 Node ^T Theme"

if TYPE_CHECKING:
    from tui.app import StallboxConsole


def release_widget_caches() -> None:
    """Let the widgets of a closed screen go.

    Textual's StylesCache.get_inner_outer is an lru_cache(1024) on a method, so it keeps up to
    1024 StylesCache objects — with every rendered line of their widgets — alive after their
    widgets are gone: ~1 MB per sale screen here until it fills. It only maps two colours to two
    styles, so emptying it when a screen closes costs nothing.
    """
    StylesCache.get_inner_outer.cache_clear()


class ConsoleScreen(Screen[object]):
    """A full screen with the console's frame around `compose_body`."""

    TITLE = ""

    def __init__(self) -> None:
        super().__init__()
        self._signals: list[Signal[Any]] = []

    @property
    def console(self) -> StallboxConsole:
        """The app, typed."""
        return cast("StallboxConsole", self.app)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="title-bar"):
            yield Static(self.TITLE, classes="screen-title")
            yield Static(NAV_HINT, classes="nav-hint")
        yield NodeBanner(classes="banner")
        yield from self.compose_body()
        yield StatusBar(classes="status-bar")
        yield ConsoleFooter()

    def listen(self, signal: Signal[T], callback: Callable[[T], object]) -> None:
        """Subscribe to one of the app's signals until this screen is unmounted."""
        signal.subscribe(self, callback)
        self._signals.append(signal)

    def on_unmount(self) -> None:
        for signal in self._signals:  # a Signal keeps its subscribers alive until told
            signal.unsubscribe(self)
        release_widget_caches()

    def compose_body(self) -> ComposeResult:
        """The screen's own widgets."""
        yield from ()

    def say(self, text: str, error: bool = False) -> None:
        """One line for the vendor, as a toast."""
        # never markup: a line may carry what an attendee typed (a note, a pass's holder)
        self.notify(text, severity="error" if error else "information", markup=False)


class ConsoleModal(ModalScreen[str | None]):
    """A small dialog over a screen (few widgets: not worth a cache release on the way to pay)."""

    @property
    def console(self) -> StallboxConsole:
        """The app, typed."""
        return cast("StallboxConsole", self.app)
