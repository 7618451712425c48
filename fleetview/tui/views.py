"""The four main views: Agents, Board, Inbox, Meters.

Each view redraws from the FleetState when the app's repaint tick says it is
visible and dirty. Tables are updated cell by cell where the rows stay the
same, and rebuilt only when rows come or go, so a busy fleet costs few bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option

from fleetview.models import COLUMNS, HUMAN, Agent, Message, Task
from fleetview.tui.state import (
    FleetState,
    NeedsYou,
    age,
    cost_text,
    meter,
    one_line,
    short_model,
    tokens_text,
)
from fleetview.tui.widgets import (
    STATUS_SYMBOL,
    FleetList,
    FleetTable,
    Line,
    ReadonlyAware,
    styled,
    theme_style,
)

if TYPE_CHECKING:
    from fleetview.tui.app import FleetviewApp

BOARD_COLUMNS = COLUMNS[:4]
ROW_EVERY = 5.0
"""Seconds between redraws of one agent's row while its status stays the same.

Its "doing" cell follows output word by word and its cost/context move with every
tool call; drawing each change would cost ~1 KB a row over ssh."""
AGED_STATUSES = ("working", "waiting", "starting")
"""Statuses whose age is shown in the table (an idle fleet then never redraws)."""


def status_text(agent: Agent, now: datetime) -> str:
    """`working 15s`, `waiting 2m`, `idle` (stall marked with !)."""
    text = agent.status + ("!" if agent.stalled else "")
    if agent.status in AGED_STATUSES:
        text += f" {age(agent.status_at, now)}"
    return text


HIDDEN_OFFSET = 1_000
"""Rows a hidden view is moved down by: far below any terminal."""
INBOX_WINDOW = 500
BOARD_WINDOW = 60
"""Cards shown per column (the rest are counted; a filter searches them all)."""
"""Messages shown at once (newest first); a filter searches them all."""


def _matches(needle: str, *haystack: str | None) -> bool:
    if not needle:
        return True
    needle = needle.lower()
    return any(needle in (h or "").lower() for h in haystack)


class FleetView(ReadonlyAware, Vertical):
    """A main view: knows how to redraw itself from the state."""

    view_name: ClassVar[str] = ""

    @property
    def fleet_app(self) -> FleetviewApp:
        return self.app  # type: ignore[return-value]

    def refresh_view(self, state: FleetState, now: datetime, needle: str, full: bool) -> None:
        raise NotImplementedError

    def prewarm(self) -> None:
        """Work a first showing would do, done while hidden (see FleetviewApp.prewarm)."""

    def focus_main(self) -> None:
        """Give focus to the view's main widget."""

    def set_shown(self, shown: bool) -> None:
        """Show this view, or move it out of sight and out of the focus chain.

        An inline offset and `can_focus` touch no stylesheet rule: toggling a class or
        `display`/`visibility` would restyle (and, for display, resize) every widget in
        the view, and the tables and lists would re-render all their lines."""
        self.styles.offset = (0, 0) if shown else (0, HIDDEN_OFFSET)
        for widget in self.query(".fv-focusable"):
            widget.can_focus = shown
        if isinstance(self, MetersView):
            self.can_focus = shown

    def _focus(self, widget: Widget) -> None:
        """Focus now, not after the next idle (Widget.focus defers it): a view switch
        then shows its new focus, key bar and content in one frame."""
        self.screen.set_focus(widget)

    def on_resize(self) -> None:
        self.fleet_app.state.dirty.add(self.view_name)


# ---- agents -------------------------------------------------------------------------------


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

    def focus_main(self) -> None:
        self._focus(self.table)

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
                cells = {agent.id: self._cells(agent, depth, now, cols) for agent, depth in rows}
                current = table.current_key
                if layout != self._layout or full:
                    table.clear(columns=True)
                    for key, label, width in cols:
                        table.add_column(label, key=key, width=width)
                    self._layout = layout
                else:
                    table.clear()
                for key in keys:
                    table.add_row(*cells[key], key=key)
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
            self._update_row(key, old, new, col_keys)

    def _update_row(
        self, key: str, old: tuple[Text, ...], new: tuple[Text, ...], col_keys: list[str]
    ) -> None:
        for index, cell in enumerate(new):
            if old[index] != cell:
                self.table.set_cell(key, col_keys[index], cell)
        self._cache[key] = new

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


class CardList(FleetList):
    """One board column's cards."""


class BoardView(FleetView):
    """plan → build → review → ship; done folded into a count."""

    view_name = "board"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New task", id="board.new"),
        Binding("H", "move_left", "Move ←", id="board.move_left"),
        Binding("L", "move_right", "Move →", id="board.move_right"),
        Binding("a", "assign", "Assign", id="board.assign"),
        Binding("D", "add_dep", "Add dep", id="board.add_dep"),
        Binding("d", "delete", "Delete", id="board.delete"),
        Binding("h,left", "pane(-1)", "◀ Column", show=False, id="board.pane_left"),
        Binding("l,right,tab", "pane(1)", "Column ▶", show=False, id="board.pane_right"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._signatures: dict[str, tuple[Any, ...]] = {}
        self.current_column = 0

    def compose(self) -> ComposeResult:
        yield Line("", id="board-done")
        with Horizontal(id="board-columns"):
            for column in BOARD_COLUMNS:
                with Vertical(classes="board-column", id=f"col-{column}"):
                    yield Line(column, classes="column-title", id=f"title-{column}")
                    yield CardList(id=f"cards-{column}", classes="cards fv-focusable")

    def cards(self, index: int) -> CardList:
        return self.query_one(f"#cards-{BOARD_COLUMNS[index]}", CardList)

    def focus_main(self) -> None:
        self._focus(self.cards(self.current_column))

    def on_descendant_focus(self, event: Any) -> None:
        widget = event.widget
        if isinstance(widget, CardList) and widget.id:
            self.current_column = BOARD_COLUMNS.index(widget.id.removeprefix("cards-"))
            for column in BOARD_COLUMNS:
                self.query_one(f"#col-{column}").set_class(
                    widget.id == f"cards-{column}", "-current"
                )

    @property
    def selected(self) -> Task | None:
        task_id = self.cards(self.current_column).current_id
        return self.fleet_app.state.tasks.get(int(task_id)) if task_id else None

    def _card(self, task: Task, width: int) -> Text:
        app = self.app
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"#{task.id} ", style="dim")
        text.append(one_line(task.title, max(8, width - len(str(task.id)) - 2)), style="bold")
        text.append("\n")
        symbol = STATUS_SYMBOL.get(task.status, "·")
        text.append(f"{symbol} {task.status}", style=theme_style(app, task.status))
        if task.assignee:
            text.append(f" @{task.assignee}")
        if task.cost_usd != 0.0:
            text.append(f" {cost_text(task.cost_usd)}", style="dim")
        if task.deps:
            text.append("\n⇠ " + ",".join(f"#{d}" for d in task.deps[:6]), style="dim")
        return text

    def refresh_view(self, state: FleetState, now: datetime, needle: str, full: bool) -> None:
        done = state.column("done")
        self.query_one("#board-done", Line).show(
            Text(
                f"done: {len(done)} cards (folded)   ·   {len(state.tasks)} tasks in all",
                style="dim",
            )
        )
        for index, column in enumerate(BOARD_COLUMNS):
            matching = [
                t for t in state.column(column) if _matches(needle, t.title, t.assignee, t.status)
            ]
            tasks = matching[:BOARD_WINDOW]
            cards = self.cards(index)
            width = max(10, (self.app.size.width // 4) - 4)
            signature = (
                width,
                len(matching),
                tuple(
                    (t.id, t.title, t.status, t.assignee, t.cost_usd, tuple(t.deps)) for t in tasks
                ),
            )
            if not full and self._signatures.get(column) == signature:
                continue
            self._signatures[column] = signature
            more = f", {len(tasks)} shown" if len(matching) > len(tasks) else ""
            self.query_one(f"#title-{column}", Line).show(
                Text(f"{column} ({len(matching)}{more})", style="bold")
            )
            current = cards.current_id
            cards.clear_options()
            cards.add_options([Option(self._card(t, width), id=str(t.id)) for t in tasks])
            if current is not None:
                try:
                    cards.highlighted = cards.get_option_index(current)
                except Exception:  # noqa: BLE001 - the card left this column
                    cards.highlighted = 0 if tasks else None
            elif tasks:
                cards.highlighted = 0

    def prewarm(self) -> None:
        """Measure the cards while hidden, so the first switch here does not.
        (OptionList._update_lines is private; textual is pinned exactly.)"""
        for index in range(len(BOARD_COLUMNS)):
            self.cards(index)._update_lines()

    def action_pane(self, step: int) -> None:
        self.current_column = (self.current_column + step) % len(BOARD_COLUMNS)
        self.focus_main()

    def action_new(self) -> None:
        self.fleet_app.new_task(BOARD_COLUMNS[self.current_column])

    def _move(self, step: int) -> None:
        task = self.selected
        if task is None:
            return
        index = COLUMNS.index(task.column) + step
        if 0 <= index < len(COLUMNS):
            self.fleet_app.move_task(task.id, COLUMNS[index])

    def action_move_left(self) -> None:
        self._move(-1)

    def action_move_right(self) -> None:
        self._move(1)

    def action_assign(self) -> None:
        task = self.selected
        if task:
            self.fleet_app.assign_task(task.id)

    def action_add_dep(self) -> None:
        task = self.selected
        if task:
            self.fleet_app.add_dep(task.id)

    def action_delete(self) -> None:
        task = self.selected
        if task:
            self.fleet_app.delete_task(task.id, task.title)


# ---- inbox --------------------------------------------------------------------------------


class InboxView(FleetView):
    """Needs-you on top (open gates, waiting agents), then mail, newest first."""

    view_name = "inbox"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Open", id="inbox.open"),
        Binding("R", "reply", "Reply", id="inbox.reply"),
        Binding("m", "mark_read", "Mark read", id="inbox.mark_read"),
        Binding("c", "compose", "Compose", id="inbox.compose"),
        Binding("tab", "switch_pane", "Pane", show=False, id="inbox.pane"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._needs_sig: tuple[Any, ...] = ()
        self._mail_keys: list[str] = []
        self._mail_cache: dict[str, tuple[Text, ...]] = {}
        self._mail_layout: tuple[int, ...] = ()
        self._needs: dict[str, NeedsYou] = {}
        self._mail_memo: dict[tuple[Any, ...], tuple[Text, ...]] = {}

    def compose(self) -> ComposeResult:
        yield Line("needs you", id="needs-title")
        yield FleetTable(id="needs-table", classes="fv-focusable")
        yield Line("inbox", id="mail-title")
        yield FleetTable(id="mail-table", classes="fv-focusable")

    @property
    def mail(self) -> FleetTable:
        return self.query_one("#mail-table", FleetTable)

    @property
    def needs(self) -> FleetTable:
        return self.query_one("#needs-table", FleetTable)

    def focus_main(self) -> None:
        self._focus(self.mail)

    @property
    def selected(self) -> Message | None:
        key = self.mail.current_key
        return self.fleet_app.state.messages.get(int(key)) if key else None

    def _mail_columns(self) -> list[tuple[str, str, int]]:
        width = max(60, self.app.size.width)
        if width >= 110:
            fixed = [
                ("mark", "", 2),
                ("age", "Age", 4),
                ("from", "From", 14),
                ("to", "To", 12),
                ("type", "Type", 13),
            ]
        else:
            fixed = [("mark", "", 2), ("age", "Age", 4), ("from", "From", 12)]
        used = sum(w for _, _, w in fixed) + 2 * (len(fixed) + 1) + 2
        return [*fixed, ("subject", "Subject", max(10, width - used))]

    def _mail_cells(
        self, message: Message, now: datetime, cols: list[tuple[str, str, int]]
    ) -> tuple[Text, ...]:
        unread = message.read_at is None
        bold = "bold" if unread else ""
        out: list[Text] = []
        for key, _, width in cols:
            if key == "mark":
                mark = ("●" if unread else " ") + {"urgent": "‼", "high": "!"}.get(
                    message.priority, " "
                )
                out.append(
                    styled(
                        mark,
                        theme_style(
                            self.app, message.priority if message.priority != "normal" else "accent"
                        ),
                    )
                )
            elif key == "age":
                out.append(styled(age(message.created_at, now), "dim"))
            elif key == "from":
                out.append(styled(one_line(message.sender, width), bold))
            elif key == "to":
                out.append(styled(one_line(message.recipient, width)))
            elif key == "type":
                out.append(styled(message.type, "dim"))
            elif key == "subject":
                style = theme_style(self.app, "urgent") if message.priority == "urgent" else bold
                out.append(styled(one_line(message.subject, width), style))
        return tuple(out)

    def refresh_view(self, state: FleetState, now: datetime, needle: str, full: bool) -> None:
        needs = state.needs_you()
        self._needs = {f"{n.kind}:{n.ref}": n for n in needs}
        signature = tuple((n.kind, n.ref, n.text) for n in needs)
        table = self.needs
        if full or signature != self._needs_sig or not table.columns:
            self._needs_sig = signature
            current = table.current_key
            table.clear(columns=True)
            width = max(60, self.app.size.width)
            table.add_column("", key="kind", width=5)
            table.add_column("Who", key="who", width=14)
            table.add_column("Needs", key="text", width=max(10, width - 33))
            for n in needs:
                table.add_row(
                    styled(
                        "gate" if n.kind == "gate" else "wait", theme_style(self.app, "waiting")
                    ),
                    styled(n.who, "bold"),
                    styled(
                        one_line(
                            n.text + (f"  [{' / '.join(n.options)}]" if n.options else ""), 200
                        )
                    ),
                    key=f"{n.kind}:{n.ref}",
                )
            table.move_to_key(current)
            table.styles.height = min(len(needs), 6) + 1 if needs else 1
            self.query_one("#needs-title", Line).show(
                Text(
                    f"needs you ({len(needs)})" + ("" if needs else " — nothing"),
                    style=theme_style(self.app, "waiting") if needs else "dim",
                )
            )
        messages = (
            state.inbox()
            if not needle
            else [
                m
                for m in state.inbox()
                if _matches(needle, m.subject, m.sender, m.recipient, m.type, m.priority)
            ]
        )
        shown = messages[:INBOX_WINDOW]
        unread = state.unread_count()
        more = (
            f" · showing newest {INBOX_WINDOW} of {len(messages)}"
            if len(messages) > INBOX_WINDOW
            else ""
        )
        self.query_one("#mail-title", Line).show(
            Text(
                f"inbox · {len(state.messages)} messages · {unread} unread for {HUMAN}{more}",
                style="bold",
            )
        )
        cols = self._mail_columns()
        layout = tuple(w for _, _, w in cols)
        keys = [str(m.id) for m in shown]
        # a row's cells depend on its read mark, its age and the layout: reuse them when
        # none changed, so switching to the inbox does not re-render INBOX_WINDOW rows
        memo = {} if full else self._mail_memo
        self._mail_memo = {}
        cells: dict[str, tuple[Text, ...]] = {}
        for m in shown:
            memo_key = (m.id, m.read_at, age(m.created_at, now), layout)
            row = memo.get(memo_key)
            if row is None:
                row = self._mail_cells(m, now, cols)
            self._mail_memo[memo_key] = cells[str(m.id)] = row
        mail = self.mail
        if full or layout != self._mail_layout or keys != self._mail_keys:
            current = mail.current_key
            if full or layout != self._mail_layout:
                mail.clear(columns=True)
                for key, label, width in cols:
                    mail.add_column(label, key=key, width=width)
                self._mail_layout = layout
            else:
                mail.clear()
            for key in keys:
                mail.add_row(*cells[key], key=key)
            self._mail_keys = keys
            self._mail_cache = cells
            mail.move_to_key(current)
            return
        col_keys = [key for key, _, _ in cols]
        for key in keys:
            old, new = self._mail_cache.get(key), cells[key]
            if old != new:
                for index, cell in enumerate(new):
                    if old is None or old[index] != cell:
                        mail.set_cell(key, col_keys[index], cell)
        self._mail_cache = cells

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "needs-table":
            need = self._needs.get(str(event.row_key.value))
            if need:
                self.fleet_app.answer_need(need)
        else:
            self.action_open()

    def action_switch_pane(self) -> None:
        if self.mail.has_focus:
            self.needs.focus()
        else:
            self.mail.focus()

    def action_open(self) -> None:
        if self.needs.has_focus:
            need = self._needs.get(self.needs.current_key or "")
            if need:
                self.fleet_app.answer_need(need)
            return
        message = self.selected
        if message:
            self.fleet_app.open_thread(message.id)

    def action_reply(self) -> None:
        message = self.selected
        if message:
            self.fleet_app.reply_message(message.id, message.subject)

    def action_mark_read(self) -> None:
        message = self.selected
        if message:
            self.fleet_app.mark_read(message.id)

    def action_compose(self) -> None:
        self.fleet_app.compose_message()


# ---- meters -------------------------------------------------------------------------------


class MetersView(FleetView):
    """Agents by status, spend and spend rate, tokens, the busiest and costliest agents."""

    view_name = "meters"
    can_focus = True  # else the focus (and its keys) stays on a hidden view's table

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._last: str = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="meters-body")

    def focus_main(self) -> None:
        self._focus(self)

    def refresh_view(self, state: FleetState, now: datetime, needle: str, full: bool) -> None:
        app = self.app
        counts = state.status_counts()
        total, unpriced = state.total_cost()
        rate = state.cost_per_hour(float(int(now.timestamp()) // 10 * 10))
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
        unknown = sum(
            1 for a in state.agents.values() if a.cost_usd is None and a.runtime == "tmux"
        )
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
        tasks: dict[str, int] = {}
        for task in state.tasks.values():
            tasks[task.column] = tasks.get(task.column, 0) + 1
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
            top("busiest (tokens)", state.busiest(5), lambda a: tokens_text(a.usage.total)),
            top(
                "most expensive",
                state.most_expensive(5),
                lambda a: cost_text(a.cost_usd, a.runtime),
            ),
        )
        body = Group(
            Text(f"agents ({len(state.agents)})", style="bold underline"),
            status_table,
            Text(""),
            spend,
            Text(""),
            lists,
        )
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
                [a.id for a in state.busiest(5)],
                [a.id for a in state.most_expensive(5)],
            )
        )
        if key != self._last or full:
            self._last = key
            self.query_one("#meters-body", Static).update(body)


VIEW_CLASSES: tuple[type[FleetView], ...] = (AgentsView, BoardView, InboxView, MetersView)
_ = OptionList  # re-exported type for tests
