"""What the console knows about its link to the node and the cloud, and how to say it.

One frozen value, published by the app on every change (a Textual Signal) and shown by the
status bar and the banner on every screen. Each state is a word and a symbol as well as a
colour, so it reads the same for colour-blind vendors and in a monochrome terminal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Literal

from appliance.api.bank_schemas import BankOut
from appliance.api.schemas import SyncOut

NodeState = Literal["unpaired", "connecting", "up", "down", "untrusted"]
CloudState = Literal["reachable", "unreachable", "stopped", "unknown"]
StorageState = Literal["ok", "low", "full", "unknown"]


@dataclass(frozen=True, slots=True)
class Link:
    """The node's and the cloud's reachability and the outbox, as last seen."""

    url: str | None = None
    node: NodeState = "unpaired"
    cloud: CloudState = "unknown"
    outbox_depth: int | None = None
    oldest_unsynced_s: float | None = None
    storage: StorageState = "unknown"  # the node's disk, from /api/stats
    free_bytes: int | None = None
    attempts: int = 0  # failed checks in a row while down
    unmatched: int = 0  # standing QR sales a statement showed no credit for (GET /api/bank)
    bank: str = "off"  # the payment provider's link: off, idle, ok, unreachable, refused
    bank_reports: int = 0  # credits the provider listed that confirmed nothing
    error: str = ""
    paused_until: str = ""  # HH:MM (the stall's zone) a drop's rush holds uploads until; "" if not

    @property
    def up(self) -> bool:
        """The node answered the last check."""
        return self.node == "up"


def cloud_state(sync: SyncOut | None) -> CloudState:
    """The cloud as the node's sync daemon last saw it (unknown from a node without /api/sync)."""
    if sync is None:
        return "unknown"
    if sync.stopped:
        return "stopped"
    if sync.last_error:
        return "unreachable"
    return "reachable" if sync.last_contact else "unknown"


def pause_clock(sync: SyncOut | None, zone: tzinfo | None) -> str:
    """HH:MM in `zone` until which the daemon holds uploads for a drop; empty while it sends."""
    if sync is None or sync.paused is None:
        return ""
    try:
        return f"{datetime.fromisoformat(sync.paused.until).astimezone(zone):%H:%M}"
    except ValueError:
        return sync.paused.until


def pause_text(link: Link) -> str:
    """The words for a held sync, in the status bar and on F5; empty while it sends."""
    if not link.paused_until:
        return ""
    return f"paused for the drop until {link.paused_until} (resumes by itself)"


def storage_state(text: str) -> StorageState:
    """The node's `storage` word from /api/stats (unknown from a node without it)."""
    if text in ("ok", "low", "full"):
        return text  # type: ignore[return-value]
    return "unknown"


def age_text(seconds: float | None) -> str:
    """A short age: 42s, 7m, 3h, 2d; a dash when unknown."""
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f}s"
    if seconds < 5400:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def node_text(link: Link) -> tuple[str, str]:
    """(label, css class) for the node part of the status bar."""
    if link.node == "up":
        return "✔ node up", "ok"
    if link.node == "down":
        return "✖ NODE DOWN", "bad"
    if link.node == "unpaired":
        return "○ not paired", "muted"
    if link.node == "untrusted":
        return "⚠ KEY CHANGED", "bad"
    return "… node connecting", "warn"


def cloud_text(link: Link) -> tuple[str, str]:
    """(label, css class) for the cloud part; a drop's pause instead while it holds uploads."""
    if link.paused_until and link.cloud != "stopped":
        return f"⏸ {pause_text(link)}", "ok"
    if link.cloud == "reachable":
        return "✔ cloud ok", "ok"
    if link.cloud == "unreachable":
        return "✖ cloud offline", "warn"
    if link.cloud == "stopped":
        return "✖ SYNC STOPPED", "bad"
    return "? cloud: unknown", "muted"


def outbox_text(link: Link) -> tuple[str, str]:
    """(label, css class) for the outbox part: amber from 50 receipts or 30 minutes."""
    if link.outbox_depth is None:
        return "outbox ?", "muted"
    label = f"outbox {link.outbox_depth}"
    if link.paused_until:  # held on purpose: the cloud part says until when
        return label, "ok"
    if link.outbox_depth and link.oldest_unsynced_s is not None:
        label += f" (oldest {age_text(link.oldest_unsynced_s)})"
    late = link.outbox_depth >= 50 or (link.oldest_unsynced_s or 0) >= 1800
    return label, "warn" if late else "ok"


def storage_text(link: Link) -> tuple[str, str]:
    """(label, css class) for the storage alarm; an empty label while the disk is fine."""
    if link.storage == "full":
        return "✖ DISK FULL: sales refused", "bad"
    if link.storage == "low":
        free = "" if link.free_bytes is None else f" ({link.free_bytes / 2**20:.0f} MiB free)"
        return f"⚠ disk low{free}", "warn"
    return "", "ok"


def money_alarms(bank: BankOut | None) -> dict[str, Any]:
    """The Link fields GET /api/bank sets: unmatched sales, the provider's link, its reports."""
    if bank is None:  # a node from before /api/bank
        return {"unmatched": 0, "bank": "off", "bank_reports": 0}
    unmatched = sum(rail.unmatched for rail in bank.rails.values())
    return {"unmatched": unmatched, "bank": bank.link, "bank_reports": len(bank.problems)}


FINDINGS = {
    "wrong_amount": "wrong amount",
    "unknown_txid": "unknown txid",
    "duplicate_e2eid": "end-to-end id used twice",
    "paid_twice": "order paid twice",
}


def bank_report(data: Mapping[str, Any]) -> str:
    """One line for a credit the provider listed that confirmed nothing (a `bank` event)."""
    what = FINDINGS.get(str(data.get("problem")), str(data.get("problem")))
    minor = int(data.get("amount") or 0)
    amount = f"{data.get('currency', '')} {minor // 100}.{minor % 100:02d}"
    return f"{what.upper()}: {amount} txid {data.get('txid') or '-'}: {data.get('detail', '')}; nothing confirmed"


def bank_text(link: Link) -> tuple[str, str]:
    """(label, css class) for the money alarm; an empty label while the bank has nothing to say.

    Unmatched sales first: a statement covering their time shows no credit, so the payment
    screen the vendor saw may have been fake.
    """
    if link.unmatched:
        return f"✖ {link.unmatched} UNMATCHED sale(s): check with the bank", "bad"
    if link.bank == "refused":
        return "✖ bank refused the credentials", "bad"
    if link.bank_reports:
        return f"⚠ bank: {link.bank_reports} credit(s) confirmed nothing", "warn"
    if link.bank == "unreachable":
        return "⚠ bank link down: offline policy", "warn"
    return "", "ok"


def storage_banner(link: Link) -> str:
    """The banner line while the node's disk is full; empty otherwise."""
    if link.storage != "full":
        return ""
    return (
        "✖ THE BOX'S DISK IS FULL — new sales and orders are refused (507); reads still work. "
        'Free space on the box (see operations.md, "When the disk is full"); no restart needed.'
    )
