"""Sync at a glance: outbox depth, oldest unsynced receipt, last cloud contact and checkpoint.

Outbox figures come from /api/stats with every check; the rest from the node's /api/sync (what
the sync daemon last wrote). A node without /api/sync (404) shows those lines as "unknown"
rather than guess. A stopped stream (the cloud answered 409, a proof did not verify) is an alarm:
receipts stay safe in the outbox, but nothing more is sent until someone looks. A drop's rush
is not: the daemon holds uploads on purpose and says until when, and this screen says so.
"""

from __future__ import annotations

from datetime import UTC, datetime

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from appliance.api.pass_peers_schemas import PassPeersOut
from appliance.api.schemas import SyncOut
from tui.link import Link, age_text, cloud_text, outbox_text, pause_text
from tui.screens.base import ConsoleScreen

UNKNOWN = "unknown"


def contact_text(sync: SyncOut | None, now: datetime) -> str:
    """'2026-11-28 13:02 UTC (3m ago)' or unknown."""
    if sync is None or not sync.last_contact:
        return UNKNOWN
    try:
        at = datetime.fromisoformat(sync.last_contact.replace("Z", "+00:00"))
    except ValueError:
        return sync.last_contact
    ago = age_text(max(0.0, (now - at).total_seconds()))
    via = f" via {sync.via}" if sync.via and sync.via != "cloud" else ""
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({ago} ago){via}"


OLD_OUTBOX_S = 30.0  # an outbox older than this beside "cloud ok" gets a reason


def contact_age(sync: SyncOut | None, now: datetime) -> float | None:
    """Seconds since the daemon last reached the cloud, or None if unknown."""
    if sync is None or not sync.last_contact:
        return None
    try:
        at = datetime.fromisoformat(sync.last_contact.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (now - at).total_seconds())


def outbox_reason(link: Link, sync: SyncOut | None, now: datetime) -> str:
    """Why receipts still wait although the cloud answers (empty if they do not wait long)."""
    if link.paused_until and (sync is None or not sync.stopped):
        return (
            f"Sync {pause_text(link)}: checkout comes first while a drop that just opened has "
            "units; the outbox is sent after, nothing is lost."
        )
    oldest = link.oldest_unsynced_s
    if not link.outbox_depth or oldest is None or oldest < OLD_OUTBOX_S or sync is None:
        return ""
    if sync.stopped or sync.last_error:
        return ""  # the problem line says why
    contact = contact_age(sync, now)
    if contact is None:
        return "Why the wait: the sync daemon has not reached the cloud yet (is `stallbox sync` running?)."
    if contact > oldest:
        return (
            f"Why the wait: the daemon last reached the cloud {age_text(contact)} ago, before "
            "these receipts; they go on its next round (is `stallbox sync` still running?)."
        )
    return (
        f"Why the wait: the cloud answered {age_text(contact)} ago but has not acknowledged these "
        "receipts yet (a batch in flight, or the daemon backing off: see `stallbox sync`)."
    )


def checkpoint_text(sync: SyncOut | None) -> str:
    """'tree size 120, receipts up to seq 119' or unknown."""
    if sync is None or not sync.checkpoint:
        return UNKNOWN
    return f"tree size {sync.tree_size}, acknowledged up to seq {sync.acked_seq}"


PASSES_POLL_S = 3.0


def passes_text(view: PassPeersOut | None) -> str:
    """One line on pass redemptions between boxes: peers in sight, over-redemptions found."""
    if view is None or not view.sharing:
        return ""
    heard = sum(1 for p in view.peers if p.in_sight)
    sight = "in sight" if view.in_sight else "OUT OF SIGHT: each box redeems only its share"
    overs = view.over_redemptions
    waiting = sum(1 for o in overs if not o.reported)
    found = f"{len(overs)} over-redemption(s) found" + (
        f", {waiting} not yet at the cloud" if waiting else ""
    )
    return f"Pass boxes            {heard + 1} of {view.boxes} {sight}; {found}"


class SyncScreen(ConsoleScreen):
    """Where the receipts are on their way to the cloud."""

    TITLE = "SYNC"

    def compose_body(self) -> ComposeResult:
        with Vertical(id="sync-body"):
            yield Static(id="sync-outbox", classes="figure")
            yield Static(id="sync-oldest", classes="figure")
            yield Static(id="sync-cloud", classes="figure")
            yield Static(id="sync-why", classes="hint")
            yield Static(id="sync-contact", classes="figure")
            yield Static(id="sync-checkpoint", classes="figure")
            yield Static(id="sync-passes", classes="figure")
            yield Static(id="sync-problem", classes="problem")
            yield Static(id="sync-note", classes="hint")

    def on_mount(self) -> None:
        self.listen(self.console.link_changed, self.show)
        self.show(self.console.link)
        self.query_one("#sync-passes", Static).display = False  # shown only for a sharing box
        self.set_interval(PASSES_POLL_S, self.show_passes)

    async def show_passes(self) -> None:
        """Ask the node how its passes' redemptions travel between boxes (docs/passes.md)."""
        client = self.console.client
        if client is None:
            return
        try:
            view = await client.pass_peers()
        except Exception:  # noqa: BLE001 - the link line already says when the node is away
            return
        line = self.query_one("#sync-passes", Static)
        text = passes_text(view)
        line.update(text)
        line.display = bool(text)

    def show(self, link: Link) -> None:
        """Draw what is known."""
        sync = self.console.sync
        _, kind = outbox_text(link)
        depth = link.outbox_depth if link.outbox_depth is not None else "?"
        oldest = age_text(link.oldest_unsynced_s) if link.outbox_depth else "—"
        cloud, cloud_kind = cloud_text(link)
        rows = {
            "#sync-outbox": (f"Outbox depth          {depth}", kind),
            "#sync-oldest": (f"Oldest unsynced       {oldest}", ""),
            "#sync-cloud": (f"Cloud                 {cloud}", cloud_kind),
            "#sync-contact": (f"Last cloud contact    {contact_text(sync, datetime.now(UTC))}", ""),
            "#sync-checkpoint": (f"Last checkpoint ok    {checkpoint_text(sync)}", ""),
        }
        for selector, (text, css) in rows.items():
            widget = self.query_one(selector, Static)
            widget.update(text)
            widget.set_classes(f"figure {css}".strip())
        problem = ""
        if sync is not None and sync.stopped:
            problem = f"✖ SYNC STOPPED: {sync.stopped}"
        elif sync is not None and sync.last_error:
            problem = f"Last attempt failed: {sync.last_error} (the daemon retries)"
        if sync is not None and sync.incident:  # the cloud's log rolled back: always shown
            problem = f"⚠ CLOUD INCIDENT: {sync.incident}" + (f"\n{problem}" if problem else "")
        self.query_one("#sync-problem", Static).update(problem)
        self.query_one("#sync-why", Static).update(outbox_reason(link, sync, datetime.now(UTC)))
        note = (
            "This node does not report its sync state (no /api/sync): cloud figures unknown."
            if sync is None
            else ""
        )
        self.query_one("#sync-note", Static).update(note)
