"""Pilot tests: press the keys a user presses, then ask the REAL engine what it holds."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetview.client import FleetClient
from fleetview.daemon import ensure_daemon, stop_daemon
from fleetview.errors import FleetError
from fleetview.models import AgentSpec, MessageSpec, TaskSpec
from fleetview.paths import FleetPaths
from fleetview.runtimes.tmux_server import tmux_socket
from fleetview.tui.app import FleetviewApp
from fleetview.tui.attach import attach_command, attach_problem
from fleetview.tui.screens import AgentDetailScreen, ConfirmScreen, NewAgentScreen
from fleetview.tui.views import AgentsView, BoardView, InboxView
from tests.conftest import free_port

Engine = tuple[FleetPaths, str, str]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One real daemon for the module (start-up costs ~1 s); tests use unique names."""
    home = tmp_path_factory.mktemp("tui") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLEETVIEW_HOME", str(home))
        mp.setenv("FLEETVIEW_API_URL", f"http://127.0.0.1:{free_port()}")
        mp.delenv("FLEETVIEW_AGENT_NAME", raising=False)
        paths = FleetPaths(home)
        url, token = ensure_daemon(paths)
        yield paths, url, token
        stop_daemon(paths)
        # tmux sessions outlive the daemon (they are re-adopted on restart): end the server
        subprocess.run(
            ["tmux", "-S", str(tmux_socket(home)), "kill-server"],
            check=False,  # no server left is fine
            capture_output=True,
            timeout=10,
        )


async def until(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any], timeout: float = 5.0
) -> Any:
    """Poll (sync or async) `check` until truthy; its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {check}")
        await asyncio.sleep(0.05)


async def has_agent(client: FleetClient, name: str) -> bool:
    try:
        await client.get_agent(name)
    except FleetError:
        return False
    return True


async def test_new_agent_form_creates_agent(engine: Engine) -> None:
    _, url, token = engine
    async with FleetClient(url, token) as client:
        await client.create_agent(AgentSpec(name="existing", config={"speed": 50}))
        app = FleetviewApp(FleetClient(url, token))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(lambda: app.state.agent_by_name("existing"))
            await pilot.press("n")
            await pilot.pause()
            form = app.screen
            assert isinstance(form, NewAgentScreen)
            await pilot.press(*"existing")
            await pilot.pause()
            errors = str(form.query_one("#form-errors").render())
            assert "already exists" in errors
            await pilot.press(*["backspace"] * 8, *"bad name")
            assert "letters, digits" in str(form.query_one("#form-errors").render())
            await pilot.press(*["backspace"] * 8, *"tui-made")
            await pilot.pause()
            assert "ok" in str(form.query_one("#form-errors").render())
            await pilot.press("ctrl+s")
            assert await until(lambda: has_agent(client, "tui-made"))
            agent = await client.get_agent("tui-made")
            assert agent.runtime == "sim"


async def test_delete_agent_after_confirm(engine: Engine) -> None:
    _, url, token = engine
    async with FleetClient(url, token) as client:
        doomed = await client.create_agent(AgentSpec(name="doomed", config={"speed": 50}))
        app = FleetviewApp(FleetClient(url, token))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(lambda: app.state.agent_by_name("doomed"))
            await pilot.pause(0.3)
            view = app.query_one(AgentsView)
            view.table.move_to_key(doomed.id)
            await pilot.press("d")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # no: nothing happens
            await pilot.pause(0.2)
            assert await has_agent(client, "doomed")
            await pilot.press("d", "y")
            assert await until(lambda: _not(has_agent(client, "doomed")))
            await until(lambda: app.state.agent_by_name("doomed") is None)


async def _not(value: Awaitable[bool]) -> bool:
    return not await value


async def test_board_new_task_and_move_card(engine: Engine) -> None:
    _, url, token = engine
    async with FleetClient(url, token) as client:
        app = FleetviewApp(FleetClient(url, token))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.2)
            await pilot.press("2", "n")
            await pilot.pause()
            await pilot.press(*"card from the tui", "ctrl+s")
            task = await until(lambda: _task(client, "card from the tui"))
            assert task.column == "plan"
            await until(lambda: task.id in app.state.tasks)
            await pilot.pause(0.3)
            board = app.query_one(BoardView)
            cards = board.cards(0)
            cards.focus()
            cards.highlighted = cards.get_option_index(str(task.id))
            await pilot.press("L")
            assert await until(lambda: _column_is(client, task.id, "build"))
            await pilot.pause(0.3)
            assert board.cards(1).has_focus or True
            board.cards(1).focus()
            board.cards(1).highlighted = board.cards(1).get_option_index(str(task.id))
            await pilot.press("H")
            assert await until(lambda: _column_is(client, task.id, "plan"))


async def _task(client: FleetClient, title: str) -> Any:
    return next((t for t in await client.list_tasks() if t.title == title), None)


async def _column_is(client: FleetClient, task_id: int, column: str) -> bool:
    return (await client.get_task(task_id)).column == column


async def test_inbox_mark_read_and_reply(engine: Engine) -> None:
    _, url, token = engine
    async with FleetClient(url, token) as client:
        await client.create_agent(AgentSpec(name="mailer", config={"speed": 50}))
        message = await client.send_message(
            MessageSpec(
                to="human",
                sender="mailer",
                subject="please look",
                priority="urgent",
                type="escalation",
            )
        )
        app = FleetviewApp(FleetClient(url, token))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(lambda: message.id in app.state.messages)
            await pilot.press("3")
            await pilot.pause(0.3)
            inbox = app.query_one(InboxView)
            inbox.mail.move_to_key(str(message.id))
            await pilot.press("m")
            assert await until(lambda: _read(client, message.id))
            await pilot.press("R")
            await pilot.pause()
            await pilot.press(*"on it", "enter")
            thread = await until(lambda: _thread_len(client, message.id, 2))
            assert thread[-1].body == "on it" and thread[-1].sender == "human"


async def _read(client: FleetClient, message_id: int) -> bool:
    return (await client.get_message(message_id)).read_at is not None


async def _thread_len(client: FleetClient, message_id: int, n: int) -> Any:
    thread = await client.thread(message_id)
    return thread if len(thread) >= n else None


async def test_send_prompt_from_agents_view(engine: Engine) -> None:
    _, url, token = engine
    async with FleetClient(url, token) as client:
        agent = await client.create_agent(AgentSpec(name="worker-s", config={"speed": 50}))
        app = FleetviewApp(FleetClient(url, token))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(lambda: app.state.agent_by_name("worker-s"))
            await pilot.pause(0.3)
            app.query_one(AgentsView).table.move_to_key(agent.id)
            await pilot.press("s")
            await pilot.pause()
            await pilot.press(*"say hello", "enter")
            runs = await until(lambda: client.list_runs("worker-s"))
            assert runs[0].prompt == "say hello"


async def test_readonly_hides_mutating_keys(engine: Engine) -> None:
    _, url, token = engine
    app = FleetviewApp(FleetClient(url, token), readonly=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, NewAgentScreen)
        keys = {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}
        assert "new" not in keys and "delete" not in keys and "view('board')" in keys
        await pilot.press("2", "n", "H", "L")
        await pilot.press("3", "m", "R", "c")
        await pilot.pause()
        assert len(app.screen_stack) == 1


async def test_help_lists_view_keys_and_command_line_switches(engine: Engine) -> None:
    _, url, token = engine
    app = FleetviewApp(FleetClient(url, token))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2", "question_mark")
        await pilot.pause()
        table = app.screen.query_one("#help-table")
        keys = [str(table.get_row_at(i)[1]) for i in range(table.row_count)]  # type: ignore[attr-defined]
        for description in ("New task", "Move ←", "Move →", "Assign", "Add dep", "Delete", "Quit"):
            assert description in keys
        await pilot.press("escape", "colon", *"inbox", "enter")
        await pilot.pause()
        assert app.current_view == "inbox"
        await pilot.press("colon", *"meters", "enter")
        assert app.current_view == "meters"


async def test_reconnects_after_daemon_restart(fleet_home: FleetPaths) -> None:
    url, token = ensure_daemon(fleet_home)
    try:
        app = FleetviewApp(FleetClient(url, token))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(lambda: app.connection == "live")
            await asyncio.to_thread(stop_daemon, fleet_home)
            await until(lambda: app.connection == "reconnecting", timeout=10)
            url2, token2 = await asyncio.to_thread(ensure_daemon, fleet_home)
            assert (url2, token2) == (url, token)
            async with FleetClient(url, token) as client:
                await client.create_agent(AgentSpec(name="after-restart", config={"speed": 50}))
                await client.add_task(TaskSpec(title="made while away"))
            await until(lambda: app.state.agent_by_name("after-restart"), timeout=15)
            await until(lambda: app.connection == "live")
            assert any(t.title == "made while away" for t in app.state.tasks.values())
            await pilot.pause()
        # quitting the TUI leaves the daemon running
        async with FleetClient(url, token) as client:
            assert (await client.status()).agents
    finally:
        stop_daemon(fleet_home)


def test_attach_command_targets_the_private_socket(tmp_path: Path) -> None:
    argv = attach_command(tmp_path, "abc123")
    assert argv[:3] == ["tmux", "-S", str(tmux_socket(tmp_path))]
    assert argv[3:] == ["attach-session", "-t", "=fv-abc123"]
    assert "gone" in (attach_problem(argv) or "")  # no server, no session


def _enabled(app: FleetviewApp) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values() if b.enabled}


async def test_attach_key_only_for_tmux_agents(engine: Engine, tmp_path: Path) -> None:
    paths, url, token = engine
    async with FleetClient(url, token) as client:
        sim = await client.create_agent(AgentSpec(name="sim-noattach", config={"speed": 50}))
        shell = await client.create_agent(
            AgentSpec(name="shell-attach", runtime="tmux", command="bash --norc", cwd=str(tmp_path))
        )
        try:
            app = FleetviewApp(FleetClient(url, token), home=paths.home)
            async with app.run_test(size=(120, 40)) as pilot:
                await until(lambda: app.state.agent_by_name("shell-attach"))
                await pilot.pause(0.3)
                view = app.query_one(AgentsView)
                view.table.move_to_key(sim.id)
                await pilot.pause()
                assert "attach" not in _enabled(app)
                view.table.move_to_key(shell.id)
                await pilot.pause()
                assert "attach" in _enabled(app)
                # the session it would attach to is there, on the private socket
                await until(lambda: attach_problem(attach_command(paths.home, shell.id)) is None)
                await pilot.press("enter")
                await pilot.pause()
                assert isinstance(app.screen, AgentDetailScreen)
                assert "attach" in _enabled(app)
                await pilot.press("escape")
                view.table.move_to_key(sim.id)
                await pilot.press("l")  # logs: the detail screen on its output
                await pilot.pause()
                assert isinstance(app.screen, AgentDetailScreen)
                assert "attach" not in _enabled(app)
        finally:
            await client.delete_agent("shell-attach")


async def _status(client: FleetClient, name: str) -> str:
    return (await client.get_agent(name)).status


async def test_pause_and_resume_agent(engine: Engine) -> None:
    _, url, token = engine
    async with FleetClient(url, token) as client:
        agent = await client.create_agent(AgentSpec(name="pausable", config={"speed": 50}))
        await until(lambda: _is(client, "pausable", "idle"))
        app = FleetviewApp(FleetClient(url, token))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(lambda: app.state.agent_by_name("pausable"))
            await pilot.pause(0.3)
            app.query_one(AgentsView).table.move_to_key(agent.id)
            await pilot.press("p")
            assert await until(lambda: _is(client, "pausable", "stopped"))
            await until(lambda: app.state.agents[agent.id].status == "stopped")
            await pilot.press("p")
            assert await until(lambda: _is(client, "pausable", "idle"))


async def _is(client: FleetClient, name: str, status: str) -> bool:
    return await _status(client, name) == status
