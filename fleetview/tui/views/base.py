"""What every view shares: the base class, windows, filtering, status text."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from textual.containers import Vertical
from textual.geometry import Region
from textual.scroll_view import ScrollView
from textual.widget import Widget

from fleetview.models import COLUMNS, Agent
from fleetview.tui.state import (
    FleetState,
    age,
)
from fleetview.tui.widgets import (
    QuietBlur,
    ReadonlyAware,
    Shelf,
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


def _render_all(widget: Widget) -> None:
    """Render a widget's lines and its scrollbars' (into their caches) at its laid-out size."""
    width, height = widget.outer_size
    if not (width and height) or not widget.display:
        return
    widget.render_lines(Region(0, 0, width, height))
    if isinstance(widget, ScrollView):
        if widget.show_vertical_scrollbar:
            _render_all(widget.vertical_scrollbar)
        if widget.show_horizontal_scrollbar:
            _render_all(widget.horizontal_scrollbar)


class FleetView(QuietBlur, Shelf, ReadonlyAware, Vertical):
    """A main view: knows how to redraw itself from the state."""

    view_name: ClassVar[str] = ""
    moves_with_clock: ClassVar[bool] = True
    """Shows ages or rates, so a switch here redraws it even if the fleet did not change."""
    drawn_needle: str | None = None
    """The filter the view was last drawn with."""
    focus_self: ClassVar[bool] = False
    """A view with nothing focusable inside takes focus itself (else the keys stay
    on a hidden view's table)."""

    @property
    def fleet_app(self) -> FleetviewApp:
        return self.app  # type: ignore[return-value]

    def refresh_view(self, state: FleetState, now: datetime, needle: str, full: bool) -> None:
        raise NotImplementedError

    def redraw(self, state: FleetState, now: datetime, needle: str, full: bool) -> None:
        """refresh_view, remembering the filter it drew with."""
        self.refresh_view(state, now, needle, full)
        self.drawn_needle = needle

    def prewarm(self) -> None:
        """Work a first showing would do, done ahead (see FleetviewApp.prewarm): render
        every line of the view as a switch will show it, the main widget focused, and
        as `/` or `:` leaves it, the main widget blurred.

        The tables and lists keep what they render keyed by their focus state (see
        FleetTable.notify_style_update), so the first switch here, and the first
        filter opened on it, reuse these lines instead of rendering a screenful of
        cells (~30 ms on a big fleet). The focus is only worn for the render
        (`has_focus` drives `:focus`; the screen's focus and the events that go with
        it are left alone)."""
        main = self.main_widget()
        for widget in self.walk_children(Widget, with_self=True):
            if widget is not main:
                _render_all(widget)
        focused = main.has_focus
        try:
            for state in (not focused, focused):  # the other state first: end as it was
                main.has_focus = state
                _render_all(main)
        finally:
            main.has_focus = focused

    def main_widget(self) -> Widget:
        """The widget a switch to this view focuses."""
        return self

    def focus_main(self) -> None:
        """Give focus to the view's main widget."""
        self._focus(self.main_widget())

    def set_shown(self, shown: bool) -> None:
        """Show this view, or move it out of sight and out of the focus chain.

        An inline offset and `can_focus` touch no stylesheet rule: toggling a class or
        `display`/`visibility` would restyle (and, for display, resize) every widget in
        the view, and the tables and lists would re-render all their lines."""
        self.shown = shown
        self.styles.offset = (0, 0) if shown else (0, HIDDEN_OFFSET)
        for widget in self.query(".fv-focusable"):
            widget.can_focus = shown
        if self.focus_self:
            self.can_focus = shown
        if shown:  # what lost focus while away restyles now, bar what the switch focuses
            main = self.main_widget()
            for widget in self.walk_children(Widget, with_self=True):
                if isinstance(widget, QuietBlur) and widget is not main:
                    widget.settle()

    def _focus(self, widget: Widget) -> None:
        """Focus now, not after the next idle (Widget.focus defers it): a view switch
        then shows its new focus, key bar and content in one frame."""
        self.screen.set_focus(widget)

    def on_resize(self) -> None:
        self.fleet_app.state.dirty.add(self.view_name)


# ---- agents -------------------------------------------------------------------------------
