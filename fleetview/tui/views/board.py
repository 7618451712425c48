"""The board: plan / build / review / ship columns of cards."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets.option_list import Option

from fleetview.models import COLUMNS, Task
from fleetview.tui.state import (
    FleetState,
    cost_text,
    one_line,
)
from fleetview.tui.views.base import (
    BOARD_COLUMNS,
    BOARD_WINDOW,
    FleetView,
    _matches,
)
from fleetview.tui.widgets import (
    STATUS_SYMBOL,
    FleetList,
    Line,
    theme_style,
)


class CardList(FleetList):
    """One board column's cards."""


class BoardView(FleetView):
    """plan → build → review → ship; done folded into a count."""

    view_name = "board"
    moves_with_clock = False
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

    def main_widget(self) -> Widget:
        return self.cards(self.current_column)

    def on_descendant_focus(self, event: Any) -> None:
        widget = event.widget
        if isinstance(widget, CardList) and widget.id:
            self.current_column = BOARD_COLUMNS.index(widget.id.removeprefix("cards-"))
            self._mark_current()

    def _mark_current(self) -> None:
        """Outline the current column (the one whose cards have focus)."""
        for index, column in enumerate(BOARD_COLUMNS):
            self.query_one(f"#col-{column}").set_class(index == self.current_column, "-current")

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
        """Render the board as the first switch here shows it: its current column
        outlined and focused (FleetView.prewarm)."""
        self._mark_current()
        super().prewarm()

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
