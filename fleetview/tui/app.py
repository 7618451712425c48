"""FleetviewApp: the TUI, a client of the engine daemon.

One bridge worker reads the event stream into a FleetState; a repaint tick
(4×/s) redraws only the visible view, and only if something changed. When
the stream breaks, the header says "reconnecting" and the bridge retries with
backoff, resuming from the last seq it applied, so nothing is missed.
Quitting leaves the daemon and its agents running.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.theme import Theme
from textual.widgets import Input

from fleetview.client import FleetClient
from fleetview.errors import FleetError
from fleetview.models import Snapshot
from fleetview.tui.actions import FleetActions
from fleetview.tui.commands import BindingsProvider, parse_command
from fleetview.tui.compositor import install as install_compositor
from fleetview.tui.screens import (
    AgentDetailScreen,
    HelpScreen,
    MainScreen,
)
from fleetview.tui.state import (
    VIEWS,
    Clock,
    FleetState,
    cost_text,
    one_line,
    system_clock,
)
from fleetview.tui.views import AgentsView, BoardView, FleetView, InboxView, MetersView
from fleetview.tui.widgets import MUTATING_ACTIONS, KeyBar, Line, theme_style

install_compositor()  # covered widgets are neither rendered nor cut (see compositor.py)

STYLES = Path(__file__).resolve().parent.parent / "styles"
REPAINT_INTERVAL = 0.25
"""Seconds between repaint ticks: at most 4 redraws a second, none while idle."""
PREWARM_AFTER = 0.3
"""Seconds after the fleet (or its older messages) arrives before hidden views are warmed."""
PREWARM_STEP = 0.05
"""Seconds between warming one hidden view and the next."""
FIRST_MESSAGES = 1_000
"""Messages in the first snapshot; older ones are fetched once the first frame is up."""
Background = Callable[[FleetClient], Awaitable[None]]
GC_THRESHOLD = (10_000, 20, 20)
"""gc thresholds once the fleet is loaded (CPython's are 700, 10, 10)."""


def settle_heap() -> None:
    """Move what is loaded so far out of the garbage collector's sight (gc.freeze).

    A big fleet is ~100k long-lived objects (20,000 messages...); each full
    collection walked them all and stalled a frame by ~150 ms, at random moments.
    Frozen objects are never collected, so this is called only on state that lives
    as long as the TUI: after the snapshot and after the older messages. Rendering
    then still makes short-lived objects by the ten thousand (strips, caches), so
    collections run less often too; each young collection stays small and quick."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD[0], GC_THRESHOLD[1], GC_THRESHOLD[2])


def rate_time(now: datetime) -> float:
    """The clock for cost/hour, in 10 s steps, so an idle header does not tick."""
    return float(int(now.timestamp()) // 10 * 10)


class FleetviewApp(FleetActions, App[int]):
    """Watch and command the fleet. `client=None` with a `snapshot` shows a fixed fleet."""

    TITLE = "fleetview"
    CSS_PATH: ClassVar[list[str | Path]] = [  # type: ignore[misc]
        STYLES / "global.tcss",
        STYLES / "main.tcss",
        STYLES / "detail.tcss",
        STYLES / "dialogs.tcss",
    ]
    COMMANDS = App.COMMANDS | {BindingsProvider}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "view('agents')", "Agents", id="view.agents"),
        Binding("2", "view('board')", "Board", id="view.board"),
        Binding("3", "view('inbox')", "Inbox", id="view.inbox"),
        Binding("4", "view('meters')", "Meters", id="view.meters"),
        Binding("slash", "filter", "Filter", id="app.filter"),
        Binding("colon", "command_line", "Command", id="app.command"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("escape", "back", "Back", show=False, id="app.back"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("ctrl+p", "command_palette", "Palette", show=False, id="app.palette"),
    ]

    def __init__(
        self,
        client: FleetClient | None = None,
        *,
        snapshot: Snapshot | None = None,
        clock: Clock | None = None,
        readonly: bool = False,
        background: Iterable[Background] = (),
        banner: str = "",
        home: Path | None = None,
    ) -> None:
        super().__init__()
        self.client = client
        self.home = home
        """The fleet home (FleetPaths.home): where the private tmux socket is, for attach."""
        self.static_snapshot = snapshot
        self.clock = clock or system_clock
        self.readonly = readonly
        self.background = list(background)
        self.banner = banner
        self.state = FleetState(self.clock)
        self.connection = "connecting" if client else "static"
        self.needle = ""
        self.current_view = "agents"
        self._ticks = 0
        self._topbar = ""
        self._full: set[str] = set()

    # ---- layout -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="topbar"):
            yield Line("", id="tabs")
            yield Line("", id="status")
        # all four views stay mounted, laid over each other at the same size; a switch only
        # moves them (FleetView.set_shown), so no widget is restyled or resized and no
        # table throws away its rendered lines
        with Container(id="views"):
            yield AgentsView(id="agents", classes="view")
            yield BoardView(id="board", classes="view")
            yield InboxView(id="inbox", classes="view")
            yield MetersView(id="meters", classes="view")
        yield Input(placeholder="filter (esc clears)", id="filter")
        yield Input(
            placeholder=":agents :board :inbox :meters :new :compose :theme NAME :q", id="cmdline"
        )
        yield KeyBar(id="keybar")

    def get_default_screen(self) -> Screen[int]:
        return MainScreen(id="_default")

    @property
    def current_theme(self) -> Theme:
        """The theme, without App.current_theme's copy of every registered theme: Textual
        asks for it twice per widget it renders. (_registered_themes is private; textual
        is pinned exactly.)"""
        theme = self._registered_themes.get(self.theme)
        return theme if theme is not None else super().current_theme

    def now(self) -> datetime:
        return self.clock()

    def view(self, name: str | None = None) -> FleetView:
        return self.query_one(f"#{name or self.current_view}", FleetView)

    def on_mount(self) -> None:
        for widget_id in ("#filter", "#cmdline"):
            box = self.query_one(widget_id, Input)
            box.display = False
            box.cursor_blink = False
        for name in VIEWS:
            self.view(name).set_shown(name == self.current_view)
        if self.static_snapshot is not None:
            self.state.load(self.static_snapshot)
        if self.client is not None:
            self.run_worker(self._bridge(), name="bridge", group="bridge", exclusive=True)
            for job in self.background:
                self.run_worker(job(self.client), group="background")
        self.view().focus_main()
        self.repaint(force=True)
        self.set_interval(REPAINT_INTERVAL, self.repaint)

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.aclose()

    def watch_theme(self) -> None:
        self._full |= set(VIEWS)
        self.state.dirty |= set(VIEWS)

    # ---- the bridge ---------------------------------------------------------------

    async def _bridge(self) -> None:
        """Snapshot once, then the event stream; on a break, retry and resume from seq."""
        assert self.client is not None
        client = self.client
        delay = 0.25
        loaded = False
        while True:
            try:
                if not loaded:
                    # the newest messages first, so the first frame comes fast; the rest after
                    self.state.load(await client.snapshot(messages_limit=FIRST_MESSAGES))
                    settle_heap()
                    loaded = True
                    self.repaint()  # the fleet now, not at the next tick
                    self.set_timer(PREWARM_AFTER, self.prewarm)
                    if len(self.state.messages) >= FIRST_MESSAGES:
                        self.run_worker(self._older_messages(), group="backfill")
                else:
                    await client.status()
                self.set_connection("live")
                delay = 0.25
                async for event in client.events(since=self.state.seq):
                    self.state.apply(event)
                    if self.connection != "live":
                        self.set_connection("live")
                self.set_connection("reconnecting")
            except FleetError:
                self.set_connection("reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a bad line must not kill the bridge
                self.log.error(f"bridge: {exc!r}")
                self.set_connection("reconnecting")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _older_messages(self) -> None:
        """Fill in the messages the first snapshot left out (newer versions win)."""
        assert self.client is not None
        try:
            messages = await self.client.list_messages()
        except FleetError:
            return
        self.state.add_missing_messages(messages)
        settle_heap()
        self.set_timer(PREWARM_AFTER, self.prewarm)  # the inbox and meters count them all now

    def set_connection(self, value: str) -> None:
        if value != self.connection:
            self.connection = value
            self.repaint_topbar()

    # ---- repaint --------------------------------------------------------------------

    def repaint(self, force: bool = False) -> None:
        """Redraw what is visible and changed; everything else waits until it is shown."""
        try:
            self._repaint(force)
        except NoMatches:  # shutting down: the widgets are already gone
            pass

    def _repaint(self, force: bool) -> None:
        self._ticks += 1
        screen = self.screen
        now = self.now()
        if isinstance(screen, AgentDetailScreen):
            dirty = self.state.take_dirty(("detail", "output"))
            if dirty or self._ticks % 4 == 0:
                screen.refresh_detail()
        elif not isinstance(screen, ModalScreen) or force:
            name = self.current_view
            dirty = self.state.take_dirty((name,))
            # ages (`working 15s`) move with the clock: re-check once a second
            aging = self._ticks % 4 == 0 and name in ("agents", "inbox", "meters")
            full = name in self._full
            if dirty or aging or full or force:
                self._full.discard(name)
                self.view(name).redraw(self.state, now, self.needle, full)
            self.state.dirty.discard("output")
            self.state.dirty.discard("detail")
        if force or self._ticks % 4 == 0:  # the header changes at most once a second
            self.repaint_topbar()

    def prewarm(self, names: tuple[str, ...] | None = None) -> None:
        """Fill the hidden views after the first frame (and again once the older
        messages are in), so the first switch to each is as quick as the later ones
        (they then redraw only what changed). It starts once what is on screen has
        settled (the table's scrollbar, the header's counts) and does one view at a
        time with a pause between, so visible updates and a key pressed meanwhile
        wait for one view's warm-up at most (~100-170 ms cold on a big fleet)."""
        todo = tuple(VIEWS) if names is None else names
        if not todo:
            return
        name, rest = todo[0], todo[1:]
        try:
            view = self.view(name)
            if name != self.current_view:
                self.state.dirty.discard(name)
                view.redraw(self.state, self.now(), self.needle, name in self._full)
                self._full.discard(name)
            view.prewarm()  # the shown one too: its lines as a first `/` leaves them
        except NoMatches:  # shutting down
            return
        if rest:
            self.set_timer(PREWARM_STEP, lambda: self.prewarm(rest))

    def repaint_topbar(self) -> None:
        state = self.state
        counts = state.status_counts()
        total, unpriced = state.total_cost()
        rate = state.cost_per_hour(rate_time(self.now()))
        tabs = Text(" ", no_wrap=True)
        tabs.append("fleetview" if self.size.width >= 100 else "fv", style="bold")
        if self.banner:
            tabs.append(f" {self.banner}", style=theme_style(self, "accent"))
        tabs.append("  ")
        for index, name in enumerate(VIEWS, 1):
            style = "reverse bold" if name == self.current_view else "dim"
            label = name.capitalize() if self.size.width >= 100 or name == self.current_view else ""
            tabs.append(f" {index}{' ' if label else ''}{label} ", style=style)
        status = Text(justify="right", no_wrap=True, overflow="ellipsis")
        status.append(f"{len(state.agents)} agents {counts.get('working', 0)}▶")
        if counts.get("waiting"):
            status.append(f" {counts['waiting']}⏸", style=theme_style(self, "waiting"))
        if counts.get("error"):
            status.append(f" {counts['error']}✗", style=theme_style(self, "error"))
        status.append(f" │ {cost_text(total)}{'+?' if unpriced else ''} ${rate:.2f}/h")
        unread = state.unread_count()
        if unread:
            status.append(f" │ {unread}✉", style="bold")
        if self.readonly:
            status.append(" │ ro", style=theme_style(self, "accent"))
        if self.needle:
            status.append(f" │ /{one_line(self.needle, 16)}", style=theme_style(self, "accent"))
        conn = {
            "live": ("● live", "success"),
            "reconnecting": ("◌ reconnecting", "error"),
            "connecting": ("◌ connecting…", "warning"),
            "static": ("■ snapshot", "muted"),
        }[self.connection]
        status.append(" │ ")
        status.append(conn[0], style=theme_style(self, conn[1]))
        status.append(" ")
        key = tabs.plain + status.plain + self.connection
        if key != self._topbar:
            self._topbar = key
            # the tabs are as wide as their text: a layout pass only when that width changes
            tabs_line = self.query_one("#tabs", Line)
            tabs_line.show(
                tabs, layout=tabs_line._text is None or len(tabs_line._text) != len(tabs)
            )
            self.query_one("#status", Line).show(status)

    # ---- app actions -------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MUTATING_ACTIONS and self.readonly:
            return False
        return not (action == "quit" and isinstance(self.screen, ModalScreen))

    def action_view(self, name: str) -> None:
        """Switch views in one frame: the four views stay mounted (only their offset moves),
        focus moves at once, and the view, key bar and header are redrawn in one batch
        (and the garbage collector waits for that frame)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.collect_after_frame()
        with self.batch_update():
            if name != self.current_view:
                self.view().set_shown(False)
                self.view(name).set_shown(True)
            self.current_view = name
            view = self.view(name)
            if view.moves_with_clock or view.drawn_needle != self.needle:
                self.state.dirty.add(name)  # else it is redrawn only if the fleet changed
            view.focus_main()
            self.repaint()
            self.repaint_topbar()
            self.query_one("#keybar", KeyBar).bindings_changed(self.screen)

    def action_filter(self) -> None:
        self.open_prompt(self.query_one("#filter", Input))

    def action_command_line(self) -> None:
        box = self.query_one("#cmdline", Input)
        box.value = ""
        self.open_prompt(box)

    def open_prompt(self, box: Input) -> None:
        """Show the filter or command line on the key bar's line, as lazygit does: the
        views keep their size, so no table is laid out or drawn again for it."""
        self.query_one("#keybar", KeyBar).display = False
        box.display = True
        box.focus()

    def close_prompt(self, box: Input) -> None:
        """Give the line back to the key bar (an active filter stays in the top bar)."""
        box.display = False
        self.query_one("#keybar", KeyBar).display = True
        self.repaint_topbar()  # its /needle is the filter's now (typing updates it each second)

    @on(Input.Blurred, "#filter, #cmdline")
    def prompt_left(self, event: Input.Blurred) -> None:
        if event.input.display:  # e.g. a click on the table: the line goes back to the keys
            self.close_prompt(event.input)

    def action_back(self) -> None:
        for widget_id in ("#filter", "#cmdline"):
            box = self.query_one(widget_id, Input)
            if box.display:
                if widget_id == "#filter":
                    box.value = ""
                    self.set_needle("")
                self.close_prompt(box)
                self.view().focus_main()
                return
        if self.needle:
            self.query_one("#filter", Input).value = ""
            self.set_needle("")
            self.repaint_topbar()

    def collect_after_frame(self) -> None:
        """Hold the garbage collector until the next frame is sent: a young collection
        (2-8 ms; redrawing a view makes tens of thousands of short-lived objects)
        otherwise lands inside about every other view switch or filter keystroke."""
        if gc.isenabled():
            gc.disable()
            self.call_after_refresh(gc.enable)

    def set_needle(self, needle: str) -> None:
        self.collect_after_frame()
        self.needle = needle
        self.state.dirty.add(self.current_view)
        self.repaint()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.set_needle(event.value.strip())

    @on(Input.Submitted, "#filter")
    def filter_done(self, event: Input.Submitted) -> None:
        self.close_prompt(event.input)
        self.view().focus_main()

    @on(Input.Submitted, "#cmdline")
    def command_done(self, event: Input.Submitted) -> None:
        self.close_prompt(event.input)
        self.view().focus_main()
        self.run_command(event.value)

    def run_command(self, text: str) -> None:
        """`:agents`, `:board 2`... see commands.parse_command."""
        parsed = parse_command(text)
        if parsed is None:
            self.notify(f"unknown command: {one_line(text, 40)} (try :help)", severity="error")
            return
        action, argument = parsed
        if action == "view":
            self.action_view(argument)
        elif action == "quit":
            self.exit(0)
        elif action == "help":
            self.action_help()
        elif action == "filter":
            self.query_one("#filter", Input).value = argument
            self.set_needle(argument)
        elif action == "theme":
            if argument in self.available_themes:
                self.theme = argument
            else:
                self.notify(f"themes: {', '.join(sorted(self.available_themes))}", severity="error")
        elif action == "new":
            if self.current_view == "board":
                self.new_task("plan")
            else:
                self.new_agent()
        elif action == "compose":
            self.compose_message()

    def action_help(self) -> None:
        rows: list[tuple[str, str]] = []
        ours: list[bool] = []
        seen: set[tuple[str, str]] = set()
        for key, active in self.screen.active_bindings.items():
            if not active.enabled or not active.binding.description:
                continue
            if active.binding.action in ("command_palette",) and key != "ctrl+p":
                continue
            row = (self.get_key_display(active.binding), active.binding.description)
            if row not in seen:
                seen.add(row)
                rows.append(row)
                ours.append(active.binding.id is not None)
        ordered = [r for r, o in zip(rows, ours) if o] + [r for r, o in zip(rows, ours) if not o]
        self.push_screen(HelpScreen(ordered))


def run_tui(readonly: bool = False) -> int:
    """`fleetview`: attach to (or start) this home's engine and open the TUI."""
    import os

    from fleetview.daemon import ensure_daemon
    from fleetview.paths import FleetPaths

    readonly = readonly or os.environ.get("FLEETVIEW_READONLY", "") not in ("", "0")
    paths = FleetPaths.from_env()
    url, token = ensure_daemon(paths)
    app = FleetviewApp(FleetClient(url, token), readonly=readonly, home=paths.home)
    app.run()
    return 0
