"""What the TUI keeps between frames (cells, lines, prewarmed views, owed restyles)
draws the same screen as drawing it all afresh."""

from __future__ import annotations

from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.geometry import Region
from textual.pilot import Pilot

from fleetview.tui.app import FleetviewApp
from fleetview.tui.sample import frozen_clock, sample_snapshot
from fleetview.tui.widgets import FleetTable


def make_app() -> FleetviewApp:
    return FleetviewApp(snapshot=sample_snapshot(), clock=frozen_clock)


async def screen_after(keys: list[str], prewarm: bool = False) -> str:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        if prewarm:
            app.prewarm()
            await pilot.pause(0.5)  # one view at a time, PREWARM_STEP apart
        await press(pilot, keys)
        return app.export_screenshot()


async def press(pilot: Pilot[int], keys: list[str]) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.pause()


def rendered(table: FleetTable, fresh: bool = False) -> list[str]:
    """The table's lines as text with styles; `fresh` drops every cache first."""
    if fresh:
        table._clear_caches()
        table._cells.clear()
    width, height = table.outer_size
    return [
        "".join(
            f"{segment.style}|{segment.style and segment.style.meta}|{segment.text}"
            for segment in strip
        )
        for strip in table.render_lines(Region(0, 0, width, height))
    ]


async def test_table_caches_draw_what_a_fresh_render_draws() -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one("#agents-table", FleetTable)
        await press(pilot, ["j", "j", "2", "1", "k"])
        first = table.current_key
        assert first is not None
        table.set_cells([(first, "model", Text("zz-new"))])
        await pilot.pause()
        kept = rendered(table)
        assert any("zz-new" in line for line in kept)
        assert kept == rendered(table, fresh=True)


async def test_prewarmed_views_look_the_same() -> None:
    for keys in (
        ["2"],
        ["3"],
        ["4"],
        ["2", "1"],
        ["3", "tab", "1", "3"],
        ["slash"],
        ["2", "slash"],
    ):
        assert await screen_after(keys, prewarm=True) == await screen_after(keys), keys


async def test_blur_while_hidden_is_restyled_when_shown() -> None:
    """The needs table loses focus while the inbox is away; back on the inbox it
    looks unfocused, as on a first visit."""
    assert await screen_after(["3", "tab", "1", "3"]) == await screen_after(["3"])


async def test_rows_moved_by_a_filter_keep_their_cells_and_get_their_new_place() -> None:
    """Cells drawn at one row and reused at another carry the new row in their mouse
    meta (a click selects by it)."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one("#agents-table", FleetTable)
        await press(pilot, ["slash", "b", "u", "enter"])
        assert 0 < table.row_count < len(app.state.agents)
        assert rendered(table) == rendered(table, fresh=True)
        await press(pilot, ["slash", "escape"])  # the filter cleared: every row back
        assert table.row_count == len(app.state.agents)
        assert rendered(table) == rendered(table, fresh=True)


async def test_the_filter_and_command_line_take_the_key_bars_line() -> None:
    """`/` and `:` open on the key bar's line, so the views keep their size (no
    table is laid out again); enter gives the line back, the filter stays on."""
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        views, keybar = app.query_one("#views"), app.query_one("#keybar")
        box, size = app.query_one("#filter"), views.size
        table = app.query_one("#agents-table", FleetTable)
        await press(pilot, ["slash"])
        assert box.display and box.has_focus and not keybar.display
        assert views.size == size
        await press(pilot, ["b", "u", "enter"])
        assert not box.display and keybar.display and views.size == size
        assert 0 < table.row_count < len(app.state.agents) and app.needle == "bu"
        assert "/bu" in str(app.query_one("#status").render())
        await press(pilot, ["colon"])
        assert app.query_one("#cmdline").display and not keybar.display
        await press(pilot, ["escape"])
        assert not app.query_one("#cmdline").display and keybar.display
        assert app.needle == "bu"  # closing the command line keeps the filter
        await press(pilot, ["escape"])
        assert app.needle == "" and table.row_count == len(app.state.agents)
        assert "/bu" not in str(app.query_one("#status").render())


class TwoTables(App[None]):
    def compose(self) -> ComposeResult:
        with Horizontal():
            yield FleetTable(id="one")
            yield FleetTable(id="bulk")


async def test_bulk_added_rows_match_add_row() -> None:
    app = TwoTables()
    async with app.run_test(size=(120, 20)) as pilot:
        one, bulk = app.query_one("#one", FleetTable), app.query_one("#bulk", FleetTable)
        rows = [(f"r{i}", (Text(f"row {i}"), Text(str(i * 7), style="bold"))) for i in range(30)]
        for table in (one, bulk):
            table.add_column("Name", key="name", width=10)
            table.add_column("N", key="n", width=4)
        for key, cells in rows:
            one.add_row(*cells, key=key)
        bulk.add_keyed_rows(rows)
        app.set_focus(None)  # the same look for both (the first would be focused)
        await pilot.pause()
        assert bulk.row_count == one.row_count == 30
        assert bulk.virtual_size == one.virtual_size
        assert bulk.current_key == one.current_key == "r0"
        assert rendered(bulk) == rendered(one)
        assert bulk.get_row_index("r29") == 29 and bulk.get_row("r3") == list(rows[3][1])


async def test_lines_shown_again_draw_as_the_first_time() -> None:
    """The key bar and header reuse the strips of a text they showed before."""
    board_again = await screen_after(["2", "1", "3", "2"])
    assert board_again == await screen_after(["2"])
    assert "Assign" in board_again and "Restart" not in board_again  # the board's keys
    agents_again = await screen_after(["4", "1", "2", "1"])
    assert "Restart" in agents_again and "Assign" not in agents_again
