"""Textual's Footer without its leak: key hints for every screen, and no old hints kept alive.

Each FooterKey data-binds the Footer's `compact` reactive, which stores `(key, callback)` on the
Footer; Textual prunes that list only when `compact` changes (textual#6666, open), which it never
does here. The Footer recomposes its keys whenever a screen's bindings change, so a long-lived
screen's Footer kept every FooterKey it ever made — about 0.8 MB per sale at the till. After each
recompose, drop the entries of keys that are no longer attached.
"""

from __future__ import annotations

from textual.widgets import Footer


class ConsoleFooter(Footer):
    """The Footer, pruning watchers of the keys its last recompose replaced."""

    async def recompose(self) -> None:
        await super().recompose()
        watchers: dict[str, list[tuple[object, object]]] = getattr(self, "__watchers", {})
        for entries in watchers.values():
            entries[:] = [entry for entry in entries if getattr(entry[0], "is_attached", True)]
