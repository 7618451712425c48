"""Small reusable pieces: vim-keyed tables and lists, status styles from the theme."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from itertools import chain, zip_longest
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual.app import App
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable, Label, OptionList
from textual.widgets._data_table import Row
from textual.widgets.data_table import ColumnKey, DuplicateKey, RowDoesNotExist, RowKey

MUTATING_ACTIONS = frozenset(
    {
        "new",
        "delete",
        "restart",
        "send",
        "move_left",
        "move_right",
        "assign",
        "add_dep",
        "reply",
        "mark_read",
        "compose",
        "answer",
        "send_prompt",
        "focus_prompt",
        "pause",
    }
)
"""Actions that change the fleet: hidden everywhere under --readonly."""

STATUS_SYMBOL = {
    "ready": "●",
    "blocked": "⊘",
    "failed": "✗",
    "dispatched": "▶",
    "completed": "✓",
    "pending": "○",
}


def theme_style(app: App[object], name: str) -> str:
    """A rich style string for a status, from the current theme's variables."""
    variables = app.theme_variables
    mapping = {
        "working": "success",
        "ready": "success",
        "completed": "",
        "waiting": "warning",
        "blocked": "warning",
        "error": "error",
        "failed": "error",
        "urgent": "error",
        "starting": "accent",
        "dispatched": "accent",
        "high": "warning",
        "primary": "primary",
        "accent": "accent",
        "success": "success",
        "warning": "warning",
    }
    var = mapping.get(name)
    if name in ("idle", "stopped", "completed", "pending", "muted"):
        return "dim"
    if not var:
        return ""
    colour = variables.get(var, "")
    if not colour.startswith("#"):
        return ""
    bold = " bold" if name in ("waiting", "error", "failed", "urgent", "dispatched") else ""
    return colour[:7] + bold


def styled(text: str, style: str = "") -> Text:
    """Untrusted text as a Text (never parsed as markup)."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


class ReadonlyAware:
    """Hides every mutating action when the app runs with --readonly."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        app = getattr(self, "app", None)
        return not (action in MUTATING_ACTIONS and getattr(app, "readonly", False))


class Shelf:
    """Something that can be put out of sight while staying mounted (a main view)."""

    shown: bool = True


class QuietBlur:
    """Mixin for a focusable widget: losing focus while out of sight skips the restyle.

    A view switch blurs the old view's table after moving it away, and restyling a
    table (it and its component classes) cost a few ms of the switch for a look no
    one sees. The restyle is owed instead (`blur_pending`) and paid when the widget
    is shown again: by the focus it then gets, or by Shelf owners calling settle()."""

    blur_pending: bool = False

    def watch_has_focus(self, has_focus: bool) -> None:
        if not has_focus and any(
            isinstance(node, Shelf) and not node.shown
            for node in self.ancestors_with_self  # type: ignore[attr-defined]
        ):
            self.blur_pending = True
            return
        self.blur_pending = False
        super().watch_has_focus(has_focus)  # type: ignore[misc]

    def settle(self) -> None:
        """Pay an owed restyle now."""
        if self.blur_pending:
            self.blur_pending = False
            super().watch_has_focus(False)  # type: ignore[misc]


class SteadyScrollbars:
    """Mixin for a ScrollView whose scrollbars are updated by a layout pass only when a size changed.

    ScrollView._size_updated compares the virtual size the compositor passes (the
    widget's own box) with its real one (all its rows), so every layout pass found a
    change: each table and list, shown or hidden, recomputed its scrollbars and
    repainted them, and a view switch (which moves views, a layout pass) paid for it.
    A scrollbar depends only on the sizes compared here, so an unchanged key means
    nothing to redo. (_size_updated is private; textual is pinned exactly.)"""

    _sized_for: tuple[Size, Size, Size] | None = None

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        key = (size, container_size, self.virtual_size)
        if key == self._sized_for:
            return False
        self._sized_for = key
        return super()._size_updated(size, virtual_size, container_size, layout)  # type: ignore[misc]


ELSEWHERE = Coordinate(-2, -2)
"""The cursor (or hover) as a line not under it sees it: on no row, not even the header."""
CELL_CACHE = 10_000
"""Rendered cells a table keeps (DataTable keeps as many)."""


class FleetTable(QuietBlur, SteadyScrollbars, DataTable[Text]):
    """A DataTable with j/k/g/G, one row cursor, zebra stripes off (fewer bytes)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="move.down"),
        Binding("k", "cursor_up", "Up", show=False, id="move.up"),
        Binding("g", "scroll_top", "Top", show=False, id="move.top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="move.bottom"),
    ]

    _frame_style: Style | None = None

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._styled_for: tuple[object, ...] | None = None
        self._cells: LRUCache[
            tuple[object, ...], tuple[object, tuple[int, int], list[list[Segment]]]
        ]
        self._cells = LRUCache(CELL_CACHE)

    @property
    def rich_style(self) -> Style:
        """The widget's style, worked out once per render_lines rather than per line.

        DOMNode.rich_style walks every ancestor's styles on each call, and
        DataTable.render_line asks for it for every line (~3 ms a screenful)."""
        style = self._frame_style
        return style if style is not None else super().rich_style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_style = super().rich_style  # styles cannot change during a render
        try:
            return super().render_lines(crop)
        finally:
            self._frame_style = None

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """A cell's lines, reused until that cell (not any cell) changes.

        DataTable keys its cell cache by a counter every change bumps, so one age
        ticking, or a filter letter moving the rows, re-rendered every visible cell
        through rich (~30 ms a screenful); a view shown after a minute away paid that
        in its first frame. Here the key is what the lines are made of: the cell's own
        object (cells are replaced, never edited in place), its width and its styles.
        Where the cell sits is only in the mouse meta of its segments ({"row",
        "column"}, which a click reads), so lines drawn for another place get that
        meta rewritten rather than drawn again. A theme change clears this cache
        (notify_style_update). (_render_cell and the attributes below are private;
        textual is pinned exactly.)"""
        label, cells = self._get_row_renderables(row_index)
        cell = label if column_index == -1 else cells[column_index]
        if row_index == -1:
            row_height = self.header_height
        else:
            row_key = self._row_locations.get_key(row_index)
            row = self.rows.get(row_key) if row_key is not None else None
            row_height = row.height if row is not None else 0
        key = (
            id(cell),
            width,
            row_height,
            base_style,
            cursor,
            hover,
            row_index == -1,
            column_index == -1,
            row_index < self.fixed_rows or column_index < self.fixed_columns,
            self.show_cursor,
            self._show_hover_cursor,
            self.cell_padding,
            self._pseudo_class_state,
        )
        place = (row_index, column_index)
        cached = self._cells.get(key)
        if cached is not None and cached[0] is cell:
            if cached[1] == place:
                return cached[2]
            meta = Style.from_meta({"row": row_index, "column": column_index})
            lines = [
                [Segment(text, meta if style is None else style + meta) for text, style, _ in line]
                for line in cached[2]
            ]
        else:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cells[key] = (cell, place, lines)
        return lines

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """A line, reused while the cursor neither comes to its row nor leaves it.

        DataTable keys its line and row caches by the cursor's coordinate, so after
        any cursor move every line was new to them, and the first frame that showed
        the whole table again (a switch back to the view) rebuilt each line. With a
        row cursor a line depends only on whether the cursor (or hover) is on its row:
        that is what the key holds here. (Private API; textual is pinned exactly.)"""
        if self.cursor_type != "row":
            return super()._render_line(y, x1, x2, base_style)
        width = self.size.width
        try:
            row_key, y_offset_in_row = self._get_offsets(y)
        except LookupError:
            return Strip.blank(width, base_style)
        row_index = self._row_locations.get(row_key)
        if row_index is None:  # the header
            row_index = -1
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        if cursor.row != row_index:
            cursor = ELSEWHERE
        if hover.row != row_index:
            hover = ELSEWHERE
        cache_key = (
            y,
            x1,
            x2,
            width,
            cursor,
            hover,
            base_style,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        strip = self._line_cache.get(cache_key)
        if strip is not None:
            return strip
        fixed, scrollable = self._render_line_in_row(
            row_key, y_offset_in_row, base_style, cursor_location=cursor, hover_location=hover
        )
        fixed_width = sum(
            column.get_render_width(self) for column in self.ordered_columns[: self.fixed_columns]
        )
        fixed_line: list[Segment] = list(chain.from_iterable(fixed)) if fixed else []
        scrollable_line: list[Segment] = list(chain.from_iterable(scrollable))
        segments = fixed_line + line_crop(scrollable_line, x1 + fixed_width, x2, width)
        strip = Strip(segments).adjust_cell_length(width, base_style).simplify()
        self._line_cache[cache_key] = strip
        return strip

    def notify_style_update(self) -> None:
        """Keep the rendered lines when only focus or hover changed.

        DataTable drops every rendered line and cell on any restyle, and gaining focus
        is a restyle: each view switch then re-rendered a screenful of rows (~2 ms a
        line). Those caches are keyed by the pseudo-class state already, so they stay
        right; only the per-state component styles are recomputed. A theme change
        still clears everything."""
        styled_for = (self.app.theme, self.app.ansi_color)
        if styled_for != self._styled_for:
            self._styled_for = styled_for
            self._cells.clear()
            super().notify_style_update()
            return
        Widget.notify_style_update(self)
        self._styles_cache.clear()
        self._get_styles_to_render_cell.cache_clear()
        self.refresh()

    def action_scroll_top(self) -> None:
        if self.row_count:
            self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        if self.row_count:
            self.move_cursor(row=self.row_count - 1)

    def add_keyed_rows(self, rows: Iterable[tuple[str, Sequence[Text]]]) -> None:
        """add_row for each (key, cells), one-line rows, at a fraction of the cost.

        add_row rebuilds the ordered columns twice, sets the cursor (a reactive) and
        bumps the change counter per row, and on idle every new row's cells are
        measured for the column widths: ~0.1 ms a row, so typing a filter letter or a
        message arriving cost 10-50 ms to refill 100-500 rows. Here that is done once
        for all rows, and cells are measured only if some column sizes itself to
        them (ours have fixed widths; the table's size is then set at once, not on
        idle). Same structures as add_row fills; DataTable's internals are private
        (textual is pinned exactly)."""
        columns = self.ordered_columns
        measure = any(column.auto_width for column in columns)
        locations, data, meta = self._row_locations, self._data, self.rows
        was_empty, added = not meta, False
        for key, cells in rows:
            row_key = RowKey(key)
            if row_key in locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            if len(cells) > len(columns):
                raise ValueError("More values provided than there are columns.")
            locations[row_key] = len(meta)
            data[row_key] = {column.key: cell for column, cell in zip_longest(columns, cells)}
            meta[row_key] = Row(row_key, 1, None, False)
            if measure:
                self._new_rows.add(row_key)
            added = True
        if measure or self._new_rows:
            self._require_update_dimensions = True  # measured on idle, as add_row does
        else:
            # nothing to measure: the new size now, so the rows (or none, after clear)
            # are laid out and drawn in the coming frame (a filter letter's echo), not
            # one after it
            self._require_update_dimensions = False
            self._update_dimensions(())
        if not added:
            return
        self.cursor_coordinate = self.cursor_coordinate
        if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()  # a cell for the cursor has appeared (as add_row does)
        self._update_count += 1
        self.check_idle()

    def set_cells(self, changes: Iterable[tuple[str, str, Text]]) -> None:
        """Like update_cell for each (row key, column key, value), but repaints only the
        rows that changed (update_cell repaints the whole table, which resends every
        visible line to the terminal), and bumps DataTable's change counter once: each
        bump made the next row lookup recount every row's offset."""
        rows: set[int] = set()
        for row_key, column_key, value in changes:
            row, column = RowKey(row_key), ColumnKey(column_key)
            index = self._row_locations.get(row)
            if index is None or column not in self._column_locations:
                continue
            self._data[row][column] = value
            rows.add(index)
        if rows:
            self._update_count += 1
            for index in sorted(rows):
                self.refresh_row(index)

    @property
    def current_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - an out-of-range cursor means no row
            return None
        return str(key.value) if key.value is not None else None

    def move_to_key(self, key: str | None) -> None:
        if key is None:
            return
        with contextlib.suppress(RowDoesNotExist):  # the row is gone
            self.move_cursor(row=self.get_row_index(key), animate=False, scroll=True)


class FleetList(QuietBlur, SteadyScrollbars, OptionList):
    """An OptionList with j/k/g/G."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="move.down"),
        Binding("k", "cursor_up", "Up", show=False, id="move.up"),
        Binding("g", "first", "Top", show=False, id="move.top"),
        Binding("G", "last", "Bottom", show=False, id="move.bottom"),
    ]

    @property
    def current_id(self) -> str | None:
        if self.highlighted is None or not self.option_count:
            return None
        try:
            return self.get_option_at_index(self.highlighted).id
        except Exception:  # noqa: BLE001
            return None


LINE_TEXTS = 8
"""Texts a Line keeps the strips of."""


class Line(Label):
    """A one-line label that repaints only when its text changes, and without a layout pass
    (Static.update re-lays-out the whole screen; a fixed-size line does not need it).
    As wide as its parent unless styled otherwise, so new text never needs a wider box."""

    DEFAULT_CSS = """
    Line {
        width: 1fr;
        height: 1;
    }
    """

    def __init__(self, text: str = "", **kwargs: object) -> None:
        super().__init__(text, **kwargs)  # type: ignore[arg-type]
        self._text: Text | None = None
        self._drawn: dict[tuple[object, ...], Any] = {}

    def show(self, text: Text, layout: bool = False) -> None:
        if text != self._text:
            self._text = text
            self.update(text, layout=layout)

    def _render_content(self) -> None:
        """Reuse the strips of a text shown before (the key bar has one text per view,
        and drawing one through Content took ~1 ms of each view switch).
        (Widget._render_content and _render_cache are private; textual is pinned.)"""
        text = self._text
        if text is None:
            super()._render_content()
            return
        key = (
            self.size,
            self.visual_style,
            text.plain,
            tuple(text.spans),
            text.style,
            text.justify,
            text.overflow,
            text.no_wrap,
        )
        drawn = self._drawn.get(key)
        if drawn is None:
            super()._render_content()
            if len(self._drawn) >= LINE_TEXTS:
                del self._drawn[next(iter(self._drawn))]
            self._drawn[key] = self._render_cache
        else:
            self._render_cache = drawn
            self._dirty_regions.clear()


class KeyBar(Line):
    """One line of the screen's keys, from its active bindings (the data STYLE asks for).

    Textual's Footer recomposes a widget per key on every binding change, which
    made a view switch cost a restyle of dozens of widgets; this is one line of
    text, redrawn only when the keys it shows change.
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.call_after_refresh(self.bindings_changed, self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen[object]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        app = self.app
        key_style = (theme_style(app, "accent") + " bold").strip()
        text = Text(no_wrap=True, overflow="ellipsis")
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.show or not active.enabled or binding.action in seen:
                continue
            if (binding.id or "").startswith("view."):  # the header shows 1-4 already
                continue
            seen.add(binding.action)
            text.append(f" {app.get_key_display(binding)} ", style=key_style)
            text.append(f"{binding.description} ")
        text.append(" ^p ", style=key_style)
        text.append("palette")
        self.show(text)
