"""Textual's Footer without its leak: key hints for every screen, and no old hints kept alive.

Each FooterKey data-binds the Footer's `compact` reactive, which stores `(key, callback)` on the
Footer; Textual prunes that list only when `compact` changes (textual#6666, open), which it never
does here. The Footer recomposes its keys whenever a screen's bindings change, so a long-lived
screen's Footer kept every FooterKey it ever made — about 0.8 MB per sale at the till. After each
recompose, drop the entries of keys that are no longer attached.

It also recomposes only when the hints it would show changed: Textual rebuilds (mounts and
styles) every key whenever the screen says its bindings changed, which a kept screen (the pay
screen, refilled each sale) says each time it is shown again, with the same three keys.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer


class ConsoleFooter(Footer):
    """The Footer, pruning watchers of the keys its last recompose replaced."""

    shown: tuple[Any, ...] | None = None  # what the last recompose showed

    def hints(self) -> tuple[Any, ...] | None:
        """What a recompose would show now (None: not known yet, so always recompose)."""
        if not getattr(self, "_bindings_ready", False) or not self.is_attached:
            return None
        return (
            self.compact,
            self.show_command_palette,
            *(
                (binding.key, binding.description, binding.action, enabled, tooltip)
                for _, binding, enabled, tooltip in self.screen.active_bindings.values()
                if binding.show
            ),
        )

    async def recompose(self) -> None:
        hints = self.hints()
        if hints is not None and hints == self.shown and self.children:
            return
        await super().recompose()
        self.shown = hints
        watchers: dict[str, list[tuple[object, object]]] = getattr(self, "__watchers", {})
        for entries in watchers.values():
            entries[:] = [entry for entry in entries if getattr(entry[0], "is_attached", True)]
