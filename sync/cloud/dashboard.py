"""The creator's dashboard: per event and box, the figures the synced data gives, server-rendered.

Only what sync carried is used: the receipt lines (appliance/ledger/figures.py computes sales,
revenue and bank evidence exactly as the box's Numbers do), the funnel minutes (views, carts,
orders, paid per minute, with their conversion latency histograms) and the boxes' canary
decisions. Definitions (docs/dashboard.md):
live minutes = funnel minutes synced (minutes with any attendee step); revenue per live minute
= revenue / live minutes from the first whole minute; conversion = paid / menu views; the
conversion latency's median and p90 come from the merged histograms (per box, per event); the
bank-confirmed share = standing sales with a bank evidence line / standing sales (the receipt
does not name the rail, so it is one share for every rail); the edge decision rate = decisions
taken on the box / all decisions about it (the cloud takes none, so 100% of what was synced).
Plain HTML and inline SVG, no script; a creator sees only their own events (others: 404).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from appliance.domain.money import Money, exponent
from appliance.flags.errors import DefinitionError
from appliance.flags.evaluate import FlagSet
from appliance.ledger.figures import (
    Latencies,
    SalesFigures,
    merge,
    per_live_minute,
    sales_figures,
    share,
)
from sync.cloud.creator_store import CreatorTables, EdgeDecision
from sync.cloud.creators import ID, password_matches
from sync.cloud.flag_routes import keys_of, tables_of
from sync.cloud.latency_view import latency_chart, latency_text
from sync.cloud.pass_overs import PassOverTables, overs_section
from sync.cloud.sessions import (
    COOKIE,
    Attempts,
    claimed,
    cookie_header,
    creator_of,
    make_cookie,
    session_key,
)

HTML = "text/html; charset=utf-8"
MAX_FORM = 4096
STYLE = """body{font:16px/1.4 system-ui,sans-serif;margin:0 auto;max-width:52rem;padding:1rem}
table{border-collapse:collapse;width:100%;table-layout:fixed}td,th{border-bottom:1px solid
#ccc;padding:.3rem;text-align:left;overflow-wrap:anywhere}h1,h2{overflow-wrap:anywhere}
td.n{text-align:right}section{margin:1.5rem 0}h1{font-size:1.4rem}h2{font-size:1.2rem}
.off{color:#a00;font-weight:bold}svg{width:100%;height:auto}
form.inline{display:inline}label,input,button{display:block;font-size:1rem;margin:.3rem 0}"""
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True, slots=True)
class BoxFigures:
    """One box's figures on the dashboard."""

    device: str
    sales: SalesFigures
    live_minutes: int
    menu: int
    cart: int
    ordered: int
    paid: int
    decisions: list[EdgeDecision]
    latencies: Latencies = field(default_factory=Latencies)  # all synced minutes merged

    @property
    def per_live_minute(self) -> float | None:
        """Revenue per live minute (minor units)."""
        return per_live_minute(self.sales.revenue, self.live_minutes)

    @property
    def conversion(self) -> float | None:
        """Paid / menu views."""
        return share(self.paid, self.menu)

    @property
    def bank_share(self) -> float | None:
        """Bank-confirmed standing sales / standing sales."""
        return share(self.sales.bank_confirmed, self.sales.sales)


def box_figures(
    device: str,
    lines: list[str],
    funnel: list[tuple[str, int, int, int, int]],
    decisions: list[EdgeDecision],
    latencies: list[Latencies] | None = None,
) -> BoxFigures:
    """A box's figures from its synced receipt lines, funnel minutes (and their conversion
    latency histograms) and decisions."""
    return BoxFigures(
        device, sales_figures(lines), len(funnel), sum(r[1] for r in funnel),
        sum(r[2] for r in funnel), sum(r[3] for r in funnel), sum(r[4] for r in funnel),
        [d for d in decisions if d.device == device], merge(latencies or []),
    )  # fmt: skip


def money(minor: float | None, currency: str) -> str:
    """An amount in major units with its currency, or '—'."""
    if minor is None or not currency:
        return "—" if minor is None else f"{minor:g}"
    if float(minor).is_integer():
        return f"{Money(int(minor), currency).decimal()} {currency}"
    digits = exponent(currency)
    return f"{minor / 10**digits:.{digits + 2}f} {currency}"


def percent(value: float | None) -> str:
    """'42.0%' or '—'."""
    return "—" if value is None else f"{value:.1%}"


def bar_chart(points: dict[str, int], label: str) -> str:
    """An inline SVG bar chart of `points` (minute -> value), with a title for screen readers."""
    if not points:
        return "<p>No sales yet.</p>"
    top, width = max(points.values()) or 1, 300
    step = width / max(len(points), 15)  # a few minutes still look like bars, not a block
    bars = "".join(
        f'<rect x="{i * step:.1f}" y="{100 - 90 * v / top:.1f}" width="{max(step - 1, 1):.1f}"'
        f' height="{90 * v / top:.1f}" fill="#2a6"><title>{html.escape(m)}: {v}</title></rect>'
        for i, (m, v) in enumerate(points.items())
    )
    return (
        f'<svg viewBox="0 0 {width} 100" role="img" aria-label="{html.escape(label)}">'
        f"<title>{html.escape(label)}</title>{bars}</svg>"
    )


def _page(
    title: str, body: str, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return Response(text, status, {**HEADERS, **(headers or {})}, HTML)


def _login_form(
    error: str = "", status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    shown = f'<p role="alert" class="off">{html.escape(error)}</p>' if error else ""
    return _page(
        "Stallbox — creator login",
        "<h1>Creator login</h1>" + shown + '<form method="post" action="/dashboard/login">'
        '<label for="creator">Creator id</label><input id="creator" name="creator" required'
        ' autocomplete="username"><label for="password">Password</label><input id="password"'
        ' name="password" type="password" required autocomplete="current-password">'
        "<button>Log in</button></form>",
        status, headers,
    )  # fmt: skip


async def _session(request: Request) -> str | None:
    """The logged-in creator: the cookie's MAC verifies under her current password's key."""
    value = request.cookies.get(COOKIE)
    creator = claimed(value)
    if creator is None or not ID.fullmatch(creator):
        return None
    stored = await tables_of(request).password_hash(creator)
    if stored is None:
        return None
    return creator_of(session_key(keys_of(request).session_secret, stored), value, time.time())


def _to_login() -> Response:
    return Response(status_code=303, headers={"Location": "/dashboard/login", **HEADERS})


async def login_page(request: Request) -> Response:
    """GET /dashboard/login: the form."""
    return _login_form()


async def login(request: Request) -> Response:
    """POST /dashboard/login: a creator id and password in; a session cookie out, or 401/429."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return _login_form("The form is too large.", 413)
    form = parse_qs(body.decode("utf-8", "replace"))
    creator = (form.get("creator") or [""])[0].strip()
    password = (form.get("password") or [""])[0]
    attempts: Attempts = request.app.state.login_attempts
    keys = (f"c:{creator}", f"a:{request.client.host if request.client else '-'}")
    wait = attempts.wait(*keys)
    if wait > 0:
        return _login_form(
            f"Too many failed logins: try again in {wait:.0f} s.", 429,
            {"Retry-After": str(int(wait) + 1)},
        )  # fmt: skip
    stored = await tables_of(request).password_hash(creator) if ID.fullmatch(creator) else None
    if stored is None or not await asyncio.to_thread(password_matches, password, stored):
        attempts.failed(*keys)
        return _login_form("Wrong creator id or password.", 401)
    attempts.succeeded(*keys)
    key = session_key(keys_of(request).session_secret, stored)
    value = make_cookie(key, creator, time.time())
    secure = request.url.scheme == "https"
    return Response(
        status_code=303,
        headers={"Location": "/dashboard", "Set-Cookie": cookie_header(value, secure=secure)},
    )


async def logout(request: Request) -> Response:
    """POST /dashboard/logout: end the session."""
    secure = request.url.scheme == "https"
    return Response(
        status_code=303,
        headers={"Location": "/dashboard/login", "Set-Cookie": cookie_header("", secure=secure, max_age=0)},
    )  # fmt: skip


_LOGOUT = (
    '<form class="inline" method="post" action="/dashboard/logout"><button>Log out</button></form>'
)


async def home(request: Request) -> Response:
    """GET /dashboard: the creator's events."""
    creator = await _session(request)
    if creator is None:
        return _to_login()
    events = sorted({a.event for a in await tables_of(request).devices_of(creator)})
    items = "".join(
        f'<li><a href="/dashboard/events/{html.escape(e)}">{html.escape(e)}</a></li>'
        for e in events
    )
    return _page(
        f"{creator} — events",
        f"<h1>{html.escape(creator)}: events</h1><ul>{items or '<li>No box assigned yet.</li>'}</ul>"
        + _LOGOUT,
    )


def _experiments(flags_wire: str | None) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each experiment of the event's flag set: its control and canary arms."""
    if flags_wire is None:
        return {}
    try:
        text = json.loads(flags_wire)["payload"]
        payload = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        flags = FlagSet.from_document(payload["flags"])
    except (ValueError, KeyError, TypeError, DefinitionError):
        return {}
    keys = flags.keys()  # a FlagSet is no mapping: its keys, sorted
    return {key: arms for key in keys if (arms := flags.arms(key)) is not None}


def _arm_rows(box: BoxFigures, experiments: dict[str, tuple[str, tuple[str, ...]]]) -> str:
    rows = []
    flags = sorted(set(experiments) | {d.flag for d in box.decisions})
    for flag in flags:
        control, canaries = experiments.get(flag, ("", ()))
        decided = {d.variant: d for d in box.decisions if d.flag == flag}
        for variant in dict.fromkeys([*canaries, *decided]):
            d = decided.get(variant)
            figures: dict[str, Any] = json.loads(d.figures) if d else {}
            arms = [figures.get("control") or {}, figures.get("canary") or {}]
            shown = " · ".join(
                f"{name} {a.get('views', '—')} views, {a.get('paid', '—')} paid, p95 "
                f"{a.get('latency_p95_ms') or '—'} ms"
                for name, a in zip((control or "control", variant), arms, strict=True)
            )
            verdict = (
                f'<span class="{html.escape(d.verdict)}">{html.escape(d.verdict)}</span>: '
                f"{html.escape(d.reason)} ({html.escape(d.at)})" if d else "measuring"
            )  # fmt: skip
            rows.append(
                f'<tr class="arm" data-flag="{html.escape(flag)}" data-variant="{html.escape(variant)}">'
                f"<td>{html.escape(flag)}</td><td>{html.escape(variant)}</td>"
                f'<td class="verdict">{verdict}</td><td>{html.escape(shown) if d else "—"}</td></tr>'
            )
    if not rows:
        return "<p>No experiments.</p>"
    return (
        "<table><tr><th>Flag</th><th>Canary arm</th><th>Box decided</th><th>Arms' figures</th>"
        f"</tr>{''.join(rows)}</table>"
    )


def _box_section(box: BoxFigures, experiments: dict[str, tuple[str, tuple[str, ...]]]) -> str:
    cur = box.sales.currency
    rows = [
        ("revenue", "Revenue", money(box.sales.revenue, cur)),
        ("sales", "Sales (voided not counted)", str(box.sales.sales)),
        ("voided", "Voided", str(box.sales.voided)),
        ("live-minutes", "Live minutes", str(box.live_minutes)),
        ("per-live-minute", "Revenue per live minute", money(box.per_live_minute, cur)),
        ("funnel", "Menu → cart → order → paid", f"{box.menu} → {box.cart} → {box.ordered} → {box.paid}"),
        ("conversion", "Conversion (paid / menu views)", percent(box.conversion)),
        ("conversion-latency", "Conversion latency (first view → paid)",
         latency_text(box.latencies)),
        ("bank-share", "Bank-confirmed share (all rails)",
         f"{percent(box.bank_share)} ({box.sales.bank_confirmed}/{box.sales.sales})"),
        ("edge-rate", "Edge decision rate",
         f"{percent(1.0 if box.decisions else None)} of {len(box.decisions)}"),
    ]  # fmt: skip
    table = "".join(
        f'<tr><th scope="row">{label}</th><td class="n" id="{key}-{box.device}">'
        f"{html.escape(value)}</td></tr>"
        for key, label, value in rows
    )
    chart = bar_chart(box.sales.by_minute, f"Revenue per minute of box {box.device}")
    return (
        f'<section id="box-{box.device}"><h2>Box {box.device}</h2><table>{table}</table>'
        f"<h3>Revenue per minute</h3>{chart}{_latency_chart(box.latencies, box.device)}"
        f"<h3>Experiments</h3>{_arm_rows(box, experiments)}</section>"
    )


async def event_page(request: Request) -> Response:
    """GET /dashboard/events/{event}: per box of the creator's event, its figures and arms."""
    creator = await _session(request)
    if creator is None:
        return _to_login()
    event: str = request.path_params["event"]
    tables: CreatorTables = tables_of(request)
    devices = [a.device for a in await tables.devices_of(creator) if a.event == event]
    if not devices:  # not this creator's event (or no box yet): nothing to show either way
        return _page("Not found", "<h1>No such event</h1>", 404)
    decisions = await tables.decisions(devices)
    stored = await tables.flags(creator, event)
    experiments = _experiments(stored.wire if stored else None)
    sections, boxes = [], []
    for device in devices:
        lines = [line for line, _ in await tables.receipt_rows(device)]
        latencies = [h for _, h in await tables.conversion_rows(device)]
        box = box_figures(device, lines, await tables.funnel_rows(device), decisions, latencies)
        boxes.append(box)
        sections.append(_box_section(box, experiments))
    sections.append(overs_section(await PassOverTables(tables.store).overs(devices)))
    return _page(
        f"{event} — {creator}",
        f'<p><a href="/dashboard">← events</a></p><h1>{html.escape(creator)} / '
        f"{html.escape(event)}</h1>{_event_section(boxes)}{''.join(sections)}{_LOGOUT}",
    )


def _latency_chart(latencies: Latencies, where: str) -> str:
    chart = latency_chart(latencies, f"Conversion latencies of {where} by bucket")
    return f"<h3>Conversion latency</h3>{chart}" if chart else ""


def _event_section(boxes: list[BoxFigures]) -> str:
    """The event's figures over all its boxes: for now its conversion latency."""
    latencies = merge(box.latencies for box in boxes)
    return (
        '<section id="event"><h2>All boxes</h2><table><tr><th scope="row">Conversion latency'
        f' (first view → paid)</th><td class="n" id="conversion-latency-event">'
        f"{html.escape(latency_text(latencies))}</td></tr></table>"
        f"{_latency_chart(latencies, 'the event')}</section>"
    )


def routes() -> list[BaseRoute]:
    """The dashboard's routes."""
    return [
        Route("/dashboard", home),
        Route("/dashboard/login", login_page),
        Route("/dashboard/login", login, methods=["POST"]),
        Route("/dashboard/logout", logout, methods=["POST"]),
        Route("/dashboard/events/{event}", event_page),
    ]
