"""`fleetview demo`: the TUI on a simulated fleet in a throwaway home.

A temp FLEETVIEW_HOME and a free loopback port, so it never touches a real
fleet; a daemon started there; a dozen sim agents, about twenty tasks with
dependencies, mail including an urgent escalation and an agent waiting for
input; and a driver that keeps handing idle agents new work. On quit the
daemon is stopped and the home removed. No API key, no network.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from fleetview.client import FleetClient
from fleetview.errors import FleetError
from fleetview.models import AgentSpec, MessageSpec, RunRequest, TaskSpec

AGENTS = [
    # name, model, config
    ("planner", "claude-opus-5-5", {"seed": 1}),
    ("architect", "claude-opus-4-8", {"seed": 2, "ask_rate": 0.3}),
    ("builder-api", "claude-sonnet-5-5", {"seed": 3, "fail_rate": 0.15}),
    ("builder-ui", "claude-sonnet-5-5", {"seed": 4}),
    ("builder-db", "claude-sonnet-4-6", {"seed": 5, "ask_rate": 0.2}),
    ("tester", "claude-haiku-5-5", {"seed": 6, "fail_rate": 0.25}),
    ("reviewer", "claude-opus-5", {"seed": 7, "ask_rate": 0.25}),
    ("docs", "claude-haiku-4-5", {"seed": 8}),
    ("security", "claude-sonnet-5", {"seed": 9, "fail_rate": 0.1}),
    ("release", "claude-haiku-5-5", {"seed": 10}),
    ("triage", "claude-haiku-3-5", {"seed": 11, "ask_rate": 0.2}),
]
CHILD = ("builder-api.fix-1", "builder-api", {"seed": 12})
API_LOOP = ("builder-ui", "docs", "release")
"""Agents that run the api runtime's real loop (tools, usage, persistence) behind a
simulated model: the demo exercises the real api path, still offline. Their bash
tool calls are read-only (ls, pwd, wc) and run in the demo's workspace."""

WORKSPACE_FILES = {
    "README.md": "# demo-app\n\nA made-up project for `fleetview demo` (nothing here is real).\n",
    "src/app.py": 'def handle(request):\n    return {"ok": True}\n',
    "tests/test_app.py": 'from src.app import handle\n\n\ndef test_ok():\n    assert handle({})["ok"]\n',
}

TASKS = [
    # title, column, dep indexes, assignee
    ("Write the product brief", "done", [], "planner"),
    ("Sketch the data model", "done", [0], "architect"),
    ("Choose the HTTP framework", "plan", [], "architect"),
    ("Plan the auth flow", "plan", [], "security"),
    ("Break the epic into stories", "plan", [0], "planner"),
    ("Design the rate limiter", "plan", [2], None),
    ("REST endpoints for agents", "build", [1], "builder-api"),
    ("Board UI columns", "build", [], "builder-ui"),
    ("Migrations for the task table", "build", [1], "builder-db"),
    ("Retry with backoff in the client", "build", [6], "builder-api.fix-1"),
    ("Inbox threading", "build", [], None),
    ("Fuzz the sanitizer", "build", [], "security"),
    ("Review the endpoints", "review", [6], "reviewer"),
    ("Review the migrations", "review", [8], "reviewer"),
    ("Integration tests", "review", [6, 8], "tester"),
    ("Docs for the CLI", "review", [], "docs"),
    ("Changelog for 0.2", "ship", [12, 13], "release"),
    ("Tag and publish 0.2", "ship", [16], "release"),
    ("Announce the release", "ship", [17], "docs"),
    ("Triage the bug backlog", "plan", [], "triage"),
]

WORK = [
    "Tidy the error messages in the CLI",
    "Add a test for the empty inbox",
    "Profile the board refresh",
    "Check the price table against the docs",
    "Refactor the event replay loop",
    "Look for unchecked None in the handlers",
    "Write the upgrade notes",
    "Reduce flakiness in the slow tests",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_workspace(home: Path) -> Path:
    """A small made-up project inside the demo home: the api-loop agents' cwd."""
    workspace = home / "workspace"
    for name, text in WORKSPACE_FILES.items():
        path = workspace / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return workspace


async def seed(client: FleetClient, speed: float = 1.0, workspace: Path | None = None) -> None:
    """Create the demo fleet: agents, a spawned child, tasks with deps, mail, a waiting agent.

    With a workspace, the API_LOOP agents run the api runtime's loop there."""
    for name, model, config in AGENTS:
        api_loop = workspace is not None and name in API_LOOP
        await client.create_agent(
            AgentSpec(
                name=name,
                runtime="sim",
                model=model,
                prompt=f"You are {name}, part of a small product team. [simulated]",
                cwd=str(workspace) if api_loop else None,
                config={"speed": speed, **config, **({"loop": "api"} if api_loop else {})},
            )
        )
    child, parent, config = CHILD
    await client.spawn_agent(parent, AgentSpec(name=child, config=config))
    ids: list[int] = []
    for title, column, deps, assignee in TASKS:
        task = await client.add_task(
            TaskSpec(
                title=title,
                column="plan" if column == "done" else column,  # type: ignore[arg-type]
                deps=[ids[d] for d in deps],
                assignee=None if column == "done" else assignee,
            )
        )
        if column == "done":  # finished work: moving a card to done completes it
            task = await client.move_task(task.id, "done")
        ids.append(task.id)
    await client.send_message(
        MessageSpec(
            to="@all",
            subject="Sprint goal: ship 0.2 by Friday",
            body="Endpoints, board UI and migrations first; reviews as they land.",
            type="dispatch",
        )
    )
    await client.send_message(
        MessageSpec(
            to="human",
            sender="security",
            type="escalation",
            priority="urgent",
            subject="Token found in a log line: rotate it?",
            body="[simulated] builder-api printed an API token in its output. Rotate it and purge the log?",
        )
    )
    await client.send_message(
        MessageSpec(
            to="human",
            sender="docs",
            type="handoff",
            priority="high",
            subject="Docs need a reviewer",
            body="[simulated] The CLI docs are ready for a look.",
        )
    )
    await client.send_message(
        MessageSpec(
            to="human",
            sender="planner",
            type="status",
            subject="Plan posted to the board",
            body="[simulated] Twenty cards across plan/build/review/ship.",
        )
    )
    # an agent that stops to ask the human: a high ask_rate makes its first step a question
    await client.create_agent(
        AgentSpec(
            name="oncall",
            runtime="sim",
            model="claude-sonnet-5-5",
            prompt="You are on call. [simulated]",
            config={"speed": speed, "seed": 13, "ask_rate": 1.0},
        )
    )
    await client.send("oncall", RunRequest(prompt="Clear the stale build artifacts"))


GATE_PATIENCE = 45.0
"""Seconds the demo's driver leaves a question for you before answering it itself."""


async def drive(
    client: FleetClient,
    interval: float = 2.0,
    stop: asyncio.Event | None = None,
    busy: int = 5,
) -> None:
    """Keep the fleet moving: top up to about `busy` working agents every few seconds."""
    rng = random.Random(42)
    while stop is None or not stop.is_set():
        await asyncio.sleep(interval)
        try:
            agents = await client.list_agents()
            working = sum(a.status == "working" for a in agents)
            idle = [a for a in agents if a.status == "idle" and a.name != "oncall"]
            rng.shuffle(idle)
            for agent in idle[: max(0, busy - working)]:
                await client.send(agent.name, RunRequest(prompt=rng.choice(WORK)))
            # questions left unanswered for a while get the first choice, so the
            # fleet does not end up all waiting; oncall's stays for you to answer
            now = datetime.now(UTC)
            for gate in await client.list_gates("pending"):
                old = (now - gate.created_at).total_seconds() > GATE_PATIENCE
                if old and gate.agent_name != "oncall":
                    await client.resolve_gate(gate.id, "1")
            if rng.random() < 0.15:
                tasks = [
                    t
                    for t in await client.list_tasks()
                    if t.column in ("plan", "build", "review", "ship") and t.status == "completed"
                ]
                if tasks:
                    task = rng.choice(tasks)
                    order = ["plan", "build", "review", "ship", "done"]
                    await client.move_task(task.id, order[order.index(task.column) + 1])
        except FleetError:
            continue


def make_home() -> Path:
    """A throwaway home and a free port, set in this process's environment for the daemon."""
    home = Path(tempfile.mkdtemp(prefix="fleetview-demo-"))
    os.environ["FLEETVIEW_HOME"] = str(home)
    os.environ["FLEETVIEW_API_URL"] = f"http://127.0.0.1:{free_port()}"
    os.environ.pop("FLEETVIEW_AGENT_NAME", None)
    return home


def teardown(home: Path) -> None:
    """Stop the demo's daemon and remove its home."""
    from fleetview.daemon import stop_daemon
    from fleetview.paths import FleetPaths

    with contextlib.suppress(Exception):
        stop_daemon(FleetPaths(home))
    shutil.rmtree(home, ignore_errors=True)


def run_demo() -> int:
    """`fleetview demo`."""
    from fleetview.daemon import ensure_daemon
    from fleetview.paths import FleetPaths
    from fleetview.tui.app import FleetviewApp

    home = make_home()
    try:
        url, token = ensure_daemon(FleetPaths(home))

        async def seeded() -> None:
            async with FleetClient(url, token) as client:
                await seed(client, workspace=make_workspace(home))

        asyncio.run(seeded())
        app = FleetviewApp(
            FleetClient(url, token), background=[drive], banner="demo (simulated)", home=home
        )
        for hangup in (signal.SIGHUP, signal.SIGTERM):
            signal.signal(hangup, _end_demo)
        app.run()
    finally:
        teardown(home)
    return 0


def _end_demo(signum: int, frame: object) -> None:
    """A closed terminal (ssh drops, the tmux pane is killed) or a kill ends the demo
    as `q` does: its daemon is stopped and its home removed, not left running."""
    raise SystemExit(128 + signum)
