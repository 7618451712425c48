"""The tmux runtime with a real tmux server on a private socket and the real Engine.

Each test gets its own FLEETVIEW_HOME (hence its own private tmux server),
and the server is killed on teardown. Agents are `bash --norc` and
tests/fake_agent_cli.py, which behaves like a terminal agent CLI.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from fleetview.engine.core import Engine
from fleetview.models import AgentSpec, RunRequest
from fleetview.paths import FleetPaths
from fleetview.runtimes.tmux_server import session_name, tmux_socket

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")

FAKE_CLI = Path(__file__).with_name("fake_agent_cli.py")


def fake_command(log: Path, work: float = 0.8, extra: str = "") -> str:
    return (
        shlex.join([sys.executable, str(FAKE_CLI), "--log", str(log), "--work", str(work)]) + extra
    )


def tmux(socket: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["tmux", "-S", str(socket), *args], check=False, capture_output=True, text=True
    )


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Engine]:
    home = tmp_path / "home"
    engine = Engine(FleetPaths(home), api_url="http://127.0.0.1:9")
    await engine.open()
    yield engine
    await engine.close()
    socket = tmux_socket(home)
    tmux(socket, "kill-server")
    if socket.exists():
        socket.unlink()


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until predicate() holds; fails the test after `timeout`."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def inputs(log: Path) -> list[str]:
    if not log.exists():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [row["input"] for row in rows if "input" in row]


async def test_shell_agent_runs_a_multiline_prompt(fleet: Engine, tmp_path: Path) -> None:
    await fleet.create_agent(
        AgentSpec(name="sh", runtime="tmux", command="bash --norc", cwd=str(tmp_path))
    )
    await until(lambda: fleet.get_agent("sh").status == "idle", 5, "shell idle")
    run = await fleet.send(
        "sh",
        RunRequest(
            prompt="echo \"agent=$FLEETVIEW_AGENT_NAME\"\necho 'two; $HOME ~ #{x}'\nsleep 1"
        ),
    )
    await until(lambda: fleet.get_agent("sh").status == "working", 3, "shell working")
    run = await fleet.wait_run(run.id, 10)
    assert run.status == "completed"
    assert "agent=sh" in run.text
    assert "two; $HOME ~ #{x}" in run.text  # tmux syntax passed through as data
    screen = "\n".join(await fleet.logs("sh", 50))
    assert "agent=sh" in screen
    assert fleet.get_agent("sh").status == "idle"


async def test_env_and_private_server(fleet: Engine, tmp_path: Path) -> None:
    default = subprocess.run(  # noqa: ASYNC221 - a 3 ms tmux call in a test
        ["tmux", "ls"], check=False, capture_output=True, text=True, env={**os.environ, "TMUX": ""}
    )
    log = tmp_path / "fake.log"
    agent = await fleet.create_agent(
        AgentSpec(name="envy", runtime="tmux", command=fake_command(log), cwd=str(tmp_path))
    )
    await until(lambda: log.exists() and log.read_text().endswith("\n"), 5, "fake CLI up")
    env = json.loads(log.read_text().splitlines()[0])["env"]
    assert env == {
        "FLEETVIEW_AGENT_ID": agent.id,
        "FLEETVIEW_AGENT_NAME": "envy",
        "FLEETVIEW_HOME": str(fleet.paths.home),
        "FLEETVIEW_API_URL": "http://127.0.0.1:9",
    }
    socket = tmux_socket(fleet.paths.home)
    assert socket.is_relative_to(fleet.paths.home) or str(socket).startswith("/tmp/fleetview-")
    sessions = tmux(socket, "ls", "-F", "#{session_name}").stdout.split()
    assert session_name(agent.id) in sessions
    # the user's default server is untouched: same answer as before, no fleetview session
    after = subprocess.run(  # noqa: ASYNC221
        ["tmux", "ls"], check=False, capture_output=True, text=True, env={**os.environ, "TMUX": ""}
    )
    assert after.stdout == default.stdout
    assert "fv-" not in after.stdout


async def test_fake_cli_working_waiting_answered_idle(fleet: Engine, tmp_path: Path) -> None:
    log = tmp_path / "fake.log"
    await fleet.create_agent(
        AgentSpec(
            name="fake",
            runtime="tmux",
            command=fake_command(log, extra=" --title"),
            cwd=str(tmp_path),
        )
    )
    await until(lambda: fleet.get_agent("fake").status == "idle", 5, "fake idle")
    run = await fleet.send("fake", RunRequest(prompt="please write the notes"))
    t_working = await until(lambda: fleet.get_agent("fake").status == "working", 2, "working")
    t_waiting = await until(lambda: fleet.get_agent("fake").status == "waiting", 4, "waiting")
    agent = fleet.get_agent("fake")
    assert agent.status_source in ("screen", "title")
    assert "Do you want to proceed?" in agent.detail
    gates = [m for m in fleet.list_messages() if m.type == "decision_gate"]
    assert gates and gates[0].priority == "high"
    assert "Do you want to proceed?" in gates[0].subject
    assert "1. Yes" in gates[0].body and "2. No" in gates[0].body
    assert not fleet.get_run(run.id).done  # waiting keeps the run open
    await fleet.send_keys("fake", ["1"])
    t_idle = await until(lambda: fleet.get_run(run.id).done, 5, "run done after the answer")
    run = fleet.get_run(run.id)
    assert run.status == "completed"
    assert "Wrote notes.txt" in run.text
    assert fleet.get_agent("fake").status == "idle"
    assert inputs(log) == ["please write the notes"]
    assert max(t_working, t_idle) < 2.0 and t_waiting < 4.0


async def test_big_multiline_prompt_arrives_whole(fleet: Engine, tmp_path: Path) -> None:
    log = tmp_path / "fake.log"
    await fleet.create_agent(
        AgentSpec(
            name="big", runtime="tmux", command=fake_command(log, work=0.2), cwd=str(tmp_path)
        )
    )
    await until(lambda: fleet.get_agent("big").status == "idle", 5, "idle")
    lines = [
        f"line {i:02d}: $HOME ~ ; #{{pane_id}} \\ 'q' \"dq\" é ✓ " + "x" * 60 for i in range(50)
    ]
    prompt = "\n".join(lines)
    assert len(prompt.encode()) > 5000
    run = await fleet.send("big", RunRequest(prompt=prompt))
    run = await fleet.wait_run(run.id, 10)
    assert run.status == "completed"
    assert inputs(log) == [prompt]  # one submission, every byte, newlines kept


async def test_dead_pane_restarts_then_escalates(fleet: Engine, tmp_path: Path) -> None:
    log = tmp_path / "fake.log"
    await fleet.create_agent(
        AgentSpec(name="mortal", runtime="tmux", command=fake_command(log), cwd=str(tmp_path))
    )
    await until(lambda: fleet.get_agent("mortal").status == "idle", 5, "idle")
    socket = tmux_socket(fleet.paths.home)
    agent = fleet.get_agent("mortal")
    pid = int(
        tmux(socket, "display", "-p", "-t", f"={session_name(agent.id)}:", "#{pane_pid}").stdout
    )
    os.kill(pid, 9)
    seen = await until(lambda: fleet.get_agent("mortal").status == "starting", 2, "death seen")
    assert seen < 2.0
    await until(lambda: fleet.get_agent("mortal").restarts == 1, 3, "restart")
    await until(lambda: fleet.get_agent("mortal").status == "idle", 5, "idle again")
    run = await fleet.wait_run((await fleet.send("mortal", RunRequest(prompt="hi"))).id, 5)
    assert run.status == "completed"

    # a command that always dies: 3 deaths within 60 s -> error + escalation
    await fleet.create_agent(
        AgentSpec(
            name="crashy",
            runtime="tmux",
            command="bash --norc -c 'sleep 0.2; exit 7'",
            cwd=str(tmp_path),
        )
    )
    await until(lambda: fleet.get_agent("crashy").status == "error", 8, "gave up")
    assert fleet.get_agent("crashy").restarts == 2
    escalations = [m for m in fleet.list_messages() if m.type == "escalation"]
    assert (
        escalations and escalations[0].priority == "urgent" and "crashy" in escalations[0].subject
    )
    await asyncio.sleep(1.0)
    assert fleet.get_agent("crashy").status == "error"  # no more restarts


async def test_readoption_after_engine_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    socket = tmux_socket(home)
    log = tmp_path / "fake.log"
    engines: list[Engine] = []
    try:
        engine = Engine(FleetPaths(home), api_url="")
        engines.append(engine)
        await engine.open()
        keep = await engine.create_agent(
            AgentSpec(
                name="keep", runtime="tmux", command=fake_command(log, work=0.2), cwd=str(tmp_path)
            )
        )
        gone = await engine.create_agent(
            AgentSpec(name="gone", runtime="tmux", command="bash --norc", cwd=str(tmp_path))
        )
        await until(lambda: engine.get_agent("keep").status == "idle", 5, "idle")
        target = "=" + session_name(keep.id) + ":"
        pid = tmux(socket, "display", "-p", "-t", target, "#{pane_pid}").stdout
        await engine.close()
        # the sessions outlive the engine
        assert session_name(keep.id) in tmux(socket, "ls").stdout

        engine2 = Engine(FleetPaths(home), api_url="")
        engines.append(engine2)
        await engine2.open()
        runtime = engine2._runtime("tmux")
        await until(lambda: len(getattr(runtime, "_watches", {})) == 2, 5, "both re-adopted")
        await until(lambda: engine2.get_agent("keep").status == "idle", 5, "re-adopted idle")
        again = tmux(socket, "display", "-p", "-t", target, "#{pane_pid}").stdout
        assert again == pid  # the same process: adopted, not restarted
        run = await engine2.wait_run(
            (await engine2.send("keep", RunRequest(prompt="after restart"))).id, 5
        )
        assert run.status == "completed"
        assert inputs(log) == ["after restart"]
        # an agent that no longer exists (as if deleted while the engine was down)
        killed = await runtime.reconcile({keep.id})
        assert killed == [session_name(gone.id)]
        assert session_name(gone.id) not in tmux(socket, "ls").stdout
    finally:
        for each in engines:
            await each.close()
        tmux(socket, "kill-server")


async def test_stop_and_delete_kill_the_session(fleet: Engine, tmp_path: Path) -> None:
    agent = await fleet.create_agent(
        AgentSpec(name="tmp", runtime="tmux", command="bash --norc", cwd=str(tmp_path))
    )
    socket = tmux_socket(fleet.paths.home)
    assert session_name(agent.id) in tmux(socket, "ls").stdout
    await fleet.stop_agent("tmp")
    assert session_name(agent.id) not in tmux(socket, "ls").stdout
    await asyncio.sleep(0.8)
    assert fleet.get_agent("tmp").status == "stopped"  # the supervisor leaves it alone
    await fleet.restart_agent("tmp")
    assert session_name(agent.id) in tmux(socket, "ls").stdout
    await fleet.delete_agent("tmp")
    assert session_name(agent.id) not in tmux(socket, "ls").stdout


@pytest.mark.parametrize("name", ["a;b", "x y", "$(id)", "a:b", "a.b:c", "-t", "`x`", "a#{b}", "é"])
async def test_names_with_metacharacters_refused(fleet: Engine, name: str) -> None:
    with pytest.raises(Exception) as info:
        await fleet.create_agent(AgentSpec(name=name, runtime="tmux", command="bash --norc"))
    assert "invalid name" in str(info.value)


async def test_working_but_silent_is_flagged_stalled(fleet: Engine, tmp_path: Path) -> None:
    await fleet.create_agent(
        AgentSpec(
            name="quiet",
            runtime="tmux",
            command="bash --norc",
            cwd=str(tmp_path),
            config={"stall_seconds": 1},
        )
    )
    await until(lambda: fleet.get_agent("quiet").status == "idle", 5, "idle")
    run = await fleet.send("quiet", RunRequest(prompt="sleep 30"))
    await until(lambda: fleet.get_agent("quiet").stalled, 4, "stalled flag")
    agent = fleet.get_agent("quiet")
    assert agent.status == "working" and "stalled" in agent.detail
    await fleet.send_keys("quiet", ["C-c"])  # interrupt: back at the prompt, no longer stalled
    await until(lambda: fleet.get_run(run.id).done, 5, "run ends")
    assert not fleet.get_agent("quiet").stalled


async def test_cancelled_run_interrupts_the_cli(fleet: Engine, tmp_path: Path) -> None:
    log = tmp_path / "fake.log"
    await fleet.create_agent(
        AgentSpec(name="fk", runtime="tmux", command=fake_command(log, work=30), cwd=str(tmp_path))
    )
    await until(lambda: fleet.get_agent("fk").status == "idle", 5, "idle")
    run = await fleet.send("fk", RunRequest(prompt="think hard"))
    await until(lambda: fleet.get_agent("fk").status == "working", 3, "working")
    await asyncio.sleep(0.5)
    await fleet.cancel_run(run.id)
    await until(lambda: fleet.get_run(run.id).status == "cancelled", 2, "run cancelled")
    interrupted = lambda: any(
        json.loads(row).get("interrupted") for row in log.read_text().splitlines() if row
    )
    await until(interrupted, 2, "Escape reached the CLI")
    await until(lambda: fleet.get_agent("fk").status == "idle", 3, "idle again")
