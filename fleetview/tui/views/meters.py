"""The fleet meters: agents by status, cost and its rate, tokens, top agents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from fleetview.models import COLUMNS, Agent
from fleetview.tui.state import (
    FleetState,
    cost_text,
    one_line,
    tokens_text,
)
from fleetview.tui.views.base import (
    FleetView,
)
from fleetview.tui.widgets import (
    theme_style,
)


class MetersView(FleetView):
    """Agents by status, spend and spend rate, tokens, the busiest and costliest agents."""

    view_name = "meters"
    focus_self = True
    can_focus = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._last: str = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="meters-body")

    def refresh_view(self, state: FleetState, now: datetime, needle: str, full: bool) -> None:
        counts = state.status_counts()
        total, unpriced = state.total_cost()
        rate = state.cost_per_hour(float(int(now.timestamp()) // 10 * 10))
        unknown = sum(
            1 for a in state.agents.values() if a.cost_usd is None and a.runtime == "tmux"
        )
        tasks: dict[str, int] = {}
        for task in state.tasks.values():
            tasks[task.column] = tasks.get(task.column, 0) + 1
        busiest, costliest = state.busiest(5), state.most_expensive(5)
        key = repr(
            (
                counts,
                round(total, 4),
                unpriced,
                unknown,
                round(rate, 2),
                state.total_tokens(),
                tasks,
                len(state.messages),
                state.unread_count(),
                [a.id for a in busiest],
                [a.id for a in costliest],
            )
        )
        if key == self._last and not full:
            return  # the same figures: nothing to build
        self._last = key
        app = self.app
        n_agents = max(1, len(state.agents))
        status_table = Table.grid(padding=(0, 1))
        status_table.add_column(width=9)
        status_table.add_column(width=4, justify="right")
        status_table.add_column()
        for status in ("working", "waiting", "idle", "starting", "error", "stopped"):
            n = counts.get(status, 0)
            bar = "█" * round(24 * n / n_agents)
            status_table.add_row(
                Text(status, style=theme_style(app, status)),
                str(n),
                Text(bar, style=theme_style(app, status)),
            )
        spend = Table.grid(padding=(0, 1))
        spend.add_column(width=14)
        spend.add_column()
        gaps = [
            f"+{n} {word}"
            for n, word in ((unpriced - unknown, "unpriced"), (unknown, "unknown"))
            if n
        ]
        spend.add_row(
            "total cost",
            Text(cost_text(total), style="bold")
            + Text(f"  ({', '.join(gaps)})" if gaps else "", style="dim"),
        )
        spend.add_row(
            "cost / hour",
            Text(f"${rate:,.2f}/h", style="bold") + Text("  over the last 10 min", style="dim"),
        )
        spend.add_row("tokens", tokens_text(state.total_tokens()))
        spend.add_row("tasks", " · ".join(f"{c} {tasks.get(c, 0)}" for c in COLUMNS))
        spend.add_row("messages", f"{len(state.messages)} ({state.unread_count()} unread)")
        spend.add_row(
            "open gates", str(sum(1 for g in state.gates.values() if g.status == "pending"))
        )

        def top(title: str, agents: list[Agent], value: Any) -> Table:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(width=18)
            grid.add_column(justify="right")
            grid.add_row(Text(title, style="bold underline"), "")
            for agent in agents:
                grid.add_row(Text(one_line(agent.name, 18)), Text(value(agent)))
            return grid

        lists = Table.grid(padding=(0, 4))
        lists.add_row(
            top("busiest (tokens)", busiest, lambda a: tokens_text(a.usage.total)),
            top("most expensive", costliest, lambda a: cost_text(a.cost_usd, a.runtime)),
        )
        body = Group(
            Text(f"agents ({len(state.agents)})", style="bold underline"),
            status_table,
            Text(""),
            spend,
            Text(""),
            lists,
        )
        self.query_one("#meters-body", Static).update(body)
