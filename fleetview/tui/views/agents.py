"""The agents view: status and freshness, what each does, cost, context meter."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import DataTable

from fleetview.models import Agent
from fleetview.tui.state import (
    FleetState,
    cost_text,
    meter,
    one_line,
    short_model,
)
from fleetview.tui.views.base import (
    ROW_EVERY,
    FleetView,
    _matches,
    status_text,
)
from fleetview.tui.widgets import (
    FleetTable,
    styled,
    theme_style,
)


class AgentsView(FleetView):
    """Every agent: status and freshness, what it does, cost, context meter."""

    view_name = "agents"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="agents.open"),
        Binding("n", "new", "New", id="agents.new"),
        Binding("d", "delete", "Delete", id="agents.delete"),
        Binding("r", "restart", "Restart", id="agents.restart"),
        Binding("s", "send", "Send", id="agents.send"),
        Binding("p", "pause", "Pause/resume", id="agents.pause"),
        Binding("a", "attach", "Attach", id="agents.attach"),
        Binding("l", "logs", "Logs", id="agents.logs"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._keys: list[str] = []
        self._cache: dict[str, tuple[Text, ...]] = {}
        self._kept: dict[str, tuple[Text, ...]] = {}
        """Every agent's last cells, shown or filtered out (reused when unchanged)."""
        self._layout: tuple[int, ...] = ()
        self._depth: dict[str, int] = {}
        self._row_at: dict[str, float] = {}
        self._pending: set[str] = set()
        self._structure = -1
        self._needle = ""
        self._aged_at = 0.0
        self._attachable = False

    def compose(self) -> ComposeResult:
        yield FleetTable(id="agents-table", classes="fv-focusable")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "attach":  # only a tmux agent has a session to attach to
            agent = self.selected
            return agent is not None and agent.runtime == "tmux"
        return super().check_action(action, parameters)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        agent = self.selected
        attachable = agent is not None and agent.runtime == "tmux"
        if attachable != self._attachable:  # the key bar changes only when `a` comes or goes
            self._attachable = attachable
            self.refresh_bindings()

    @property
    def table(self) -> FleetTable:
        return self.query_one("#agents-table", FleetTable)

    def main_widget(self) -> Widget:
        return self.table

    @property
    def selected(self) -> Agent | None:
        key = self.table.current_key
        return self.fleet_app.state.agents.get(key) if key else None

    def _columns(self) -> list[tuple[str, str, int]]:
        width = max(60, self.app.size.width)
        wide = width >= 110
        if wide:
            fixed = [
                ("name", "Name", 18),
                ("runtime", "Rt", 4),
                ("model", "Model", 12),
                ("status", "Status", 13),
                ("cost", "Cost", 9),
                ("ctx", "Context", 13),
            ]
        else:
            fixed = [
                ("name", "Name", 14),
                ("model", "Model", 10),
                ("status", "Status", 12),
                ("cost", "Cost", 8),
                ("ctx", "Ctx", 4),
            ]
        used = sum(w for _, _, w in fixed) + 2 * (len(fixed) + 1) + 2
        doing = ("doing", "Doing", max(10, width - used))
        return [*fixed[:-2], doing, *fixed[-2:]]

    def _doing(self, agent: Agent) -> str:
        """The last finished output line while working (a tool call or a sentence), else
        the engine's detail (which can be a word in mid-stream)."""
        if agent.status == "working":
            output = self.fleet_app.state.outputs.get(agent.id)
            if output is not None and output.lines:
                line = output.lines[-1].strip()
                if line:
                    return line.removeprefix("⏺ ")
        return agent.detail

    def _cells(
        self, agent: Agent, depth: int, now: datetime, cols: list[tuple[str, str, int]]
    ) -> tuple[Text, ...]:
        app = self.app
        out: list[Text] = []
        for key, _, width in cols:
            if key == "name":
                prefix = "  " * depth + ("└ " if depth else "")
                out.append(styled(prefix + agent.name, "bold" if depth == 0 else ""))
            elif key == "runtime":
                out.append(styled(agent.runtime))
            elif key == "model":
                out.append(styled(short_model(agent.model)))
            elif key == "status":
                out.append(styled(status_text(agent, now), theme_style(app, agent.status)))
            elif key == "doing":
                out.append(
                    styled(
                        one_line(self._doing(agent), width), "dim" if agent.status == "idle" else ""
                    )
                )
            elif key == "cost":
                out.append(
                    styled(
                        cost_text(agent.cost_usd, agent.runtime),
                        "dim" if agent.cost_usd is None else "",
                    )
                )
            elif key == "ctx":
                fraction = agent.context_fraction
                if width < 8:
                    text = "?" if fraction is None else f"{fraction * 100:.0f}%"
                else:
                    text = meter(fraction, 6)
                style = ""
                if fraction is not None and fraction > 0.8:
                    style = theme_style(app, "warning")
                out.append(styled(text, style))
        return tuple(out)

    def refresh_view(self, state: FleetState, now: datetime, needle: str, full: bool) -> None:
        """Rebuild when rows come, go or reorder; else update only the cells that changed.

        Only agents the state marks as changed are re-rendered; a row whose status
        word stays the same is redrawn at most every ROW_EVERY seconds, and ages are
        re-checked once a second.
        """
        table = self.table
        cols = self._columns()
        layout = tuple(w for _, _, w in cols)
        changed, state.changed_agents = state.changed_agents, set()
        if (
            full
            or layout != self._layout
            or state.structure_version != self._structure
            or needle != self._needle
            or (needle and changed)
        ):
            rows = [
                (agent, depth)
                for agent, depth in state.agent_tree()
                if _matches(
                    needle, agent.name, agent.model, agent.status, agent.runtime, agent.detail
                )
            ]
            keys = [agent.id for agent, _ in rows]
            self._depth = {agent.id: depth for agent, depth in rows}
            if full or layout != self._layout or keys != self._keys:
                cells = {}
                for agent, depth in rows:
                    # an unchanged row keeps its cell objects, whose rendered lines the
                    # table then reuses (FleetTable._render_cell): a filter letter or a
                    # new agent does not re-render every row
                    row = self._cells(agent, depth, now, cols)
                    old = self._kept.get(agent.id)
                    cells[agent.id] = old if old == row else row
                self._kept = {
                    key: row for key, row in self._kept.items() if key in state.agents
                } | cells
                current = table.current_key
                if layout != self._layout or full:
                    table.clear(columns=True)
                    for key, label, width in cols:
                        table.add_column(label, key=key, width=width)
                    self._layout = layout
                else:
                    table.clear()
                table.add_keyed_rows((key, cells[key]) for key in keys)
                self._keys = keys
                self._cache = cells
                self._row_at = {}
                self._structure = state.structure_version
                self._needle = needle
                table.move_to_key(current)
                return
            self._structure = state.structure_version
            self._needle = needle
        col_keys = [key for key, _, _ in cols]
        status_index = col_keys.index("status")
        clock = now.timestamp()
        todo = (changed | self._pending) & set(self._cache)
        self._pending = set()
        if clock - self._aged_at >= 1.0:  # ages move with the clock
            self._aged_at = clock
            for key in self._keys:
                agent = state.agents.get(key)
                if (
                    agent is not None
                    and key not in todo
                    and self._cache[key][status_index].plain != status_text(agent, now)
                ):
                    todo.add(key)
        changes: list[tuple[str, str, Text]] = []
        for key in todo:
            agent = state.agents.get(key)
            if agent is None:
                continue
            old = self._cache[key]
            new = self._cells(agent, self._depth.get(key, 0), now, cols)
            if old == new:
                continue
            same_status = old[status_index].plain.split(" ")[0] == agent.status
            if same_status and clock - self._row_at.get(key, 0.0) < ROW_EVERY:
                self._pending.add(key)  # coalesce: this row was drawn moments ago
                continue
            self._row_at[key] = clock
            changes.extend(
                (key, col_keys[index], cell) for index, cell in enumerate(new) if old[index] != cell
            )
            self._cache[key] = self._kept[key] = new
        table.set_cells(changes)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        agent = self.selected
        if agent:
            self.fleet_app.open_agent(agent.id)

    def action_new(self) -> None:
        self.fleet_app.new_agent()

    def action_delete(self) -> None:
        agent = self.selected
        if agent:
            self.fleet_app.delete_agent(agent.name)

    def action_restart(self) -> None:
        agent = self.selected
        if agent:
            self.fleet_app.restart_agent(agent.name)

    def action_send(self) -> None:
        agent = self.selected
        if agent:
            self.fleet_app.prompt_agent(agent.name)

    def action_pause(self) -> None:
        agent = self.selected
        if agent:
            self.fleet_app.pause_agent(agent.name)

    def action_attach(self) -> None:
        agent = self.selected
        if agent:
            self.fleet_app.attach_agent(agent.id)

    def action_logs(self) -> None:
        """l: the agent's output (the detail screen opens on it, scrolled to the end)."""
        self.action_open()


# ---- board --------------------------------------------------------------------------------
