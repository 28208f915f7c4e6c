"""The stall's numbers: revenue per live minute with a sparkline, conversion latency, edge
decision rate, sales by rail, the bank-confirmed share of QR sales by rail and top items.

One definition of a sale everywhere: a paid order that was not voided. Every figure (the count,
the revenue, by rail, top items) counts those only; voided sales are shown apart, beside them.

Stats arrive with the app's periodic check; the rest (/metrics, paid orders) is fetched when the
screen is shown and every few seconds while it stays shown.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from appliance.api.bank_schemas import BankOut
from appliance.api.schemas import StatsOut
from tui.client import NodeClient
from tui.errors import ConsoleError
from tui.flags_view import flag_lines
from tui.messages import ActionFailed, NumbersFetched
from tui.money import money
from tui.screens.base import ConsoleScreen

REFRESH_S = 5.0
TOP = 5


def seconds_text(value: float | None) -> str:
    """'42 s' or '—'."""
    return "—" if value is None else f"{value:.0f} s"


def bank_share_lines(bank: BankOut | None) -> list[str]:
    """Bank-confirmed share by rail: of the standing QR sales, how many the bank confirmed."""
    lines = ["Bank-confirmed (✓) by rail:"]
    if bank is None:
        return [*lines, "  — (the node does not say)"]
    for rail, sums in sorted(bank.rails.items()):
        share = f"{sums.bank / sums.sales:.0%}" if sums.sales else "—"
        lines.append(
            f"  {rail:<7}{share:>4} ✓ {sums.bank}/{sums.sales} unverified {sums.unverified}"
        )
        if sums.unmatched:
            lines.append(f"  {'':<7}UNMATCHED ✗ {sums.unmatched}: check with the bank")
    if not bank.rails:
        lines.append("  none yet")
    return lines


class NumbersScreen(ConsoleScreen):
    """How the stall is doing."""

    TITLE = "NUMBERS"

    def compose_body(self) -> ComposeResult:
        with Vertical(id="numbers-body"):
            yield Static(id="num-revenue", classes="figure")
            yield Sparkline([], id="num-spark")
            with Horizontal(id="numbers-row"):
                yield Static(id="num-left", classes="panel")
                yield Static(id="num-right", classes="panel")

    def on_mount(self) -> None:
        self.listen(self.console.stats_changed, self.show_stats)
        self.set_interval(REFRESH_S, self.reload)
        if self.console.stats is not None:
            self.show_stats(self.console.stats)
        self.reload()

    def on_screen_resume(self) -> None:
        self.reload()

    def show_stats(self, stats: StatsOut) -> None:
        """Revenue, its sparkline and the edge decision rate."""
        per_minute = stats.revenue_per_live_minute
        locale = self.console.money_locale
        rate = "—" if per_minute is None else money(round(per_minute), stats.currency, locale)
        voided = ""
        if stats.voided:
            voided = f" · voided {stats.voided} ({money(stats.voided_revenue, stats.currency, locale)}, not counted)"
        self.query_one("#num-revenue", Static).update(
            f"Revenue {money(stats.revenue, stats.currency, locale)} · {stats.sales} sales · "
            f"per live minute {rate}{voided}"
        )
        samples = list(self.console.revenue_samples)
        steps = [max(0.0, b - a) for a, b in pairwise(samples)]
        self.query_one("#num-spark", Sparkline).data = steps or [0.0]

    def reload(self) -> None:
        """Fetch /metrics and the paid orders while shown."""
        if self.is_current and self.console.client is not None and self.console.link.up:
            self.fetch(self.console.client)

    @work(exclusive=True, group="numbers", exit_on_error=False)
    async def fetch(self, client: NodeClient) -> None:
        """GET /metrics and the paid orders."""
        try:
            metrics = await client.metrics()
            paid = await client.orders("paid")
            bank = await client.bank()
            flags = await client.flags()
        except ConsoleError as exc:
            self.post_message(ActionFailed(f"Numbers not loaded: {exc}"))
            return
        self.post_message(NumbersFetched(metrics, paid, bank, flags))

    def on_numbers_fetched(self, message: NumbersFetched) -> None:
        metrics = message.metrics
        stats = self.console.stats
        edge = "—"
        if stats is not None and stats.edge_decision_rate is not None:
            edge = f"{stats.edge_decision_rate:.0%} of {stats.decisions}"
        by_rail: Counter[str] = Counter(order.tender or "cash" for order in message.paid)
        lines = [
            f"Conversion p50   {seconds_text(metrics.conversion_p50_s)}",
            f"Conversion p90   {seconds_text(metrics.conversion_p90_s)}",
            f"Edge decisions   {edge}",
            "Sales by rail (voided not counted):",
        ]
        lines += [f"  {rail:<10} {count}" for rail, count in sorted(by_rail.items())]
        if not by_rail:
            lines.append("  none yet")
        if stats is not None and stats.voided:
            lines.append(f"  voided     {stats.voided}")
        lines += bank_share_lines(message.bank)
        lines += flag_lines(message.flags)
        self.query_one("#num-left", Static).update("\n".join(lines))
        units: Counter[str] = Counter()
        for order in message.paid:
            for line in order.lines:
                if not line.sku.startswith("pass:"):  # a pass's discount is no item sold
                    units[line.name] += line.qty
        top = ["Top items:"] + [f"  {qty:>4} x {name}" for name, qty in units.most_common(TOP)]
        if not units:
            top.append("  none yet")
        self.query_one("#num-right", Static).update("\n".join(top))

    def on_action_failed(self, message: ActionFailed) -> None:
        if message.text:
            self.say(message.text, error=True)
