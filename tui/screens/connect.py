"""Finding a node and pairing with it; pinning its key fingerprint.

Without --node the console browses mDNS for as long as this screen is up and lists each node
as soon as its answer arrives (name, address, key fingerprint), so a node that a loaded LAN
announces late still shows, and other Stallbox nodes nearby do not hide it.

Pairing exchanges the 6-digit code from `stallbox pair` for a token; the token and
the node's fingerprint go to the console state file (0600). A node whose fingerprint differs from
the pinned one gets a loud warning that must be confirmed by typing "trust" — never a silent
reconnect.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Static

from tui.client import NodeClient
from tui.errors import ConsoleError, KeyChanged
from tui.messages import ActionFailed, KeyMismatch, NodeHeard, Paired
from tui.pairing import unix_path
from tui.screens.base import ConsoleModal, ConsoleScreen


class ConnectScreen(ConsoleScreen):
    """Pick a node and pair."""

    TITLE = "CONNECT"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back", id="connect-back"),
    ]

    def __init__(self, url: str | None, note: str = "") -> None:
        super().__init__()
        self.url = url or ""
        self.note = note
        self.found: list[tuple[str, str, str]] = []  # (url, node id, fingerprint)
        self.trusted_key: str | None = None  # a changed key the vendor typed "trust" for

    def compose_body(self) -> ComposeResult:
        with Vertical(id="connect-body"):
            yield Static(self.node_text(), id="connect-node")
            yield Static(self.note, id="connect-note")
            yield Static("", id="found-count")  # discovery's own line: never the status's
            table: DataTable[str] = DataTable(id="found", cursor_type="row")
            yield table
            yield Input(
                self.url, placeholder="node operator URL, e.g. https://192.168.1.20:8443", id="url"
            )
            yield Input(
                placeholder="pairing code (run `stallbox pair` on the box)",
                id="code",
                max_length=6,
                restrict=r"[0-9]*",
            )
            yield Static("", id="connect-status")

    def on_mount(self) -> None:
        table = self.query_one("#found", DataTable)
        table.add_columns("node", "address", "key fingerprint")
        if not self.console.settings.node_url:
            self.query_one("#found-count", Static).update("Looking for nodes on the LAN…")
            self.discover()
        else:
            table.display = False
            self.query_one("#found-count", Static).display = False
        self.query_one("#code" if self.url else "#url", Input).focus()
        code = self.console.take_pair_code()  # the command line's code is good for one pairing
        if unix_path(self.url) is not None:  # the on-box console: the socket is the proof
            self.query_one("#connect-status", Static).update(f"Pairing over {self.url}…")
            self.pair(self.url, "")
        elif code and self.url:  # given on the command line (the demo does): pair right away
            self.query_one("#code", Input).value = code
            self.query_one("#connect-status", Static).update(f"Pairing with {self.url}…")
            self.pair(self.url.rstrip("/"), code)

    def node_text(self) -> str:
        """The node in use (if any) and the stall's page for phones, as the node reports it."""
        link, stats = self.console.link, self.console.stats
        if self.console.client is None or not link.url:
            return ""
        text = f"Connected to {link.url} (node {link.node}). Esc: back. Or pair with another node:"
        if stats is not None and stats.stall_url:
            text = f"Stall page for phones: {stats.stall_url}\n{text}"
        return text

    @work(exclusive=True, group="discover", exit_on_error=False)
    async def discover(self) -> None:
        """Browse mDNS while this screen is up; each node is listed as soon as it answers."""
        from appliance.discovery import Browser, FoundNode

        def found(node: FoundNode) -> None:
            if node.operator_url:  # no operator port in TXT: nothing a console can pin over TLS
                self.post_message(
                    NodeHeard(node.name, node.operator_url, node.node_id, node.fingerprint)
                )

        settings = self.console.settings
        browser = Browser("loopback" if settings.interfaces == "loopback" else "all", found)
        try:
            browser.start()
            await asyncio.sleep(settings.discover_s)
            if not self.found:
                self.query_one("#found-count", Static).update(
                    "No node answered yet; type its URL (still listening)."
                )
            await asyncio.Event().wait()  # until the screen goes and cancels this worker
        except OSError as exc:
            self.post_message(ActionFailed(f"mDNS browsing failed: {exc}"))
        finally:
            await browser.close()

    def on_node_heard(self, message: NodeHeard) -> None:
        """Add the node to the list (rows never move, so a cursor on one stays on it)."""
        table = self.query_one("#found", DataTable)
        entry = (message.url, message.node_id, message.fingerprint)
        urls = [url for url, _, _ in self.found]
        if message.url in urls:
            row = urls.index(message.url)
            self.found[row] = entry
            table.update_cell_at(Coordinate(row, 2), message.fingerprint)
        else:
            self.found.append(entry)
            table.add_row(message.name, message.url, message.fingerprint)
        # its own line: a picked node's fingerprint or a key warning in the status stays put
        self.query_one("#found-count", Static).update(f"{len(self.found)} node(s) found.")

    @on(DataTable.RowSelected, "#found")
    def picked(self, event: DataTable.RowSelected) -> None:
        url, node_id, fingerprint = self.found[event.cursor_row]
        self.query_one("#url", Input).value = url
        pin = self.console.state.check(url, node_id, fingerprint)
        status = self.query_one("#connect-status", Static)
        if pin.changed and pin.known is not None:
            status.update(
                f"⚠ KEY CHANGED: pinned {pin.known.fingerprint}, node says {fingerprint}. "
                "You will be asked to confirm."
            )
            status.add_class("alarm")
        else:
            status.update(f"Fingerprint {fingerprint}")
        self.query_one("#code", Input).focus()

    @on(Input.Submitted, "#url")
    def url_submitted(self) -> None:
        self.query_one("#code", Input).focus()

    @on(Input.Submitted, "#code")
    def code_submitted(self, event: Input.Submitted) -> None:
        url = self.query_one("#url", Input).value.strip().rstrip("/")
        code = event.value.strip()
        if not url.startswith(("https://", "unix:")):
            self.say(
                "The node's operator URL starts with https:// (`stallbox node` prints it), "
                "or unix: for the on-box socket.",
                error=True,
            )
            return
        if len(code) != 6 and unix_path(url) is None:
            self.say("The pairing code has 6 digits.", error=True)
            return
        self.query_one("#connect-status", Static).update(f"Pairing with {url}…")
        self.pair(url, code)

    @work(exclusive=True, group="pair", exit_on_error=False)
    async def pair(self, url: str, code: str, trusted_key: str | None = None) -> None:
        """Run the PAKE over TLS, pinned if this URL has a key (or pair on the box with no code)."""
        known = self.console.state.node(url)
        client = NodeClient(url, pin=trusted_key or (known.fingerprint if known else None))
        name = self.console.settings.name
        try:
            if client.on_box:
                answer = await client.pair_local(name)
            else:  # binds the key the TLS handshake proved (client.peer_fingerprint)
                answer = await client.pair(code, name)
        except KeyChanged as exc:  # nothing was sent: ask before pairing with another key
            self.post_message(KeyMismatch(url, exc.pinned, exc.shown, code))
            return
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Pairing failed: {exc}"))
            return
        finally:
            await client.close()
        self.post_message(Paired(url, answer))

    def on_key_mismatch(self, message: KeyMismatch) -> None:
        message.stop()
        self.app.push_screen(
            KeyChangedScreen(message.pinned, message.shown),
            lambda answer: self.retry_trusting(message, answer == "trust"),
        )

    def retry_trusting(self, message: KeyMismatch, trusted: bool) -> None:
        """Pair with the new key once the vendor typed "trust"; otherwise send nothing."""
        if trusted and message.code:
            self.trusted_key = message.shown
            self.pair(message.url, message.code, message.shown)
        else:
            self.query_one("#code", Input).value = ""
            self.query_one("#connect-status", Static).update(
                "Not connected: the node's key was not trusted."
            )

    def on_paired(self, message: Paired) -> None:
        answer = message.answer
        pin = self.console.state.check(message.url, answer.node_id, answer.fingerprint)
        if pin.changed and pin.known is not None and answer.fingerprint != self.trusted_key:
            self.app.push_screen(
                KeyChangedScreen(pin.known.fingerprint, answer.fingerprint),
                lambda trusted: self.trust(message, trusted == "trust"),
            )
        else:
            self.trust(message, True)

    def trust(self, message: Paired, trusted: bool | None) -> None:
        """Pin and attach, or refuse to use the node."""
        if not trusted:
            self.query_one("#code", Input).value = ""
            self.query_one("#connect-status", Static).update(
                "Not connected: the node's key was not trusted."
            )
            return
        answer = message.answer
        self.console.state.pin(message.url, answer.node_id, answer.fingerprint, answer.token)
        self.dismiss(None)
        self.console.attach(message.url, answer.token)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.query_one("#code", Input).value = ""
        self.query_one("#connect-status", Static).update(message.text)
        self.say(message.text, error=True)

    def action_leave(self) -> None:
        """Back to the console if it is attached to a node."""
        if self.console.client is not None:
            self.dismiss(None)


class KeyChangedScreen(ConsoleModal):
    """The loud warning: a known node now shows another key."""

    def __init__(self, pinned: str, shown: str) -> None:
        super().__init__()
        self.pinned = pinned
        self.shown = shown

    def compose(self) -> ComposeResult:
        with Vertical(id="key-changed", classes="dialog alarm"):
            yield Static("⚠ THE NODE'S KEY HAS CHANGED", classes="dialog-title")
            yield Static(
                f"pinned: {self.pinned}\nnow:    {self.shown}\n\n"
                "A rekeyed (`stallbox rekey`), replaced or re-initialised box has a new key; so "
                "would an impostor on the LAN. Check the fingerprint on the box (`stallbox "
                "ledger pubkey`).\n"
                'Type "trust" and Enter to pin the new key, Esc to refuse.'
            )
            yield Input(placeholder="trust", id="trust")

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.dismiss(None)

    @on(Input.Submitted, "#trust")
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss("trust" if event.value.strip().lower() == "trust" else None)
