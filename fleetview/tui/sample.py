"""A fixed fleet (a Snapshot at a fixed time) for snapshot tests and offline previews."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleetview.models import Agent, Gate, Message, Run, Snapshot, Task, Usage

FROZEN_NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)

_AGENTS = [
    # name, model, status, detail, cost, ctx tokens, window, parent
    (
        "planner",
        "claude-opus-5-5",
        "working",
        "Read(docs/design.md)",
        1.2345,
        412_000,
        1_000_000,
        None,
    ),
    (
        "builder-1",
        "claude-sonnet-5-5",
        "working",
        "Bash(pytest -q tests/)",
        0.4210,
        88_000,
        1_000_000,
        None,
    ),
    (
        "builder-2",
        "claude-sonnet-5-5",
        "waiting",
        "Allow edit to src/app.py?",
        0.3120,
        51_000,
        1_000_000,
        None,
    ),
    (
        "helper",
        "claude-haiku-5-5",
        "idle",
        "done: Task #4 (build): add retries",
        0.0123,
        9_000,
        1_000_000,
        "builder-1",
    ),
    (
        "reviewer",
        "claude-opus-4-8",
        "error",
        "tests failed: 3 of 41",
        2.1000,
        180_000,
        200_000,
        None,
    ),
    ("scout", "mystery-model-9", "idle", "ready", None, 0, None, None),
    (
        "shipper",
        "claude-haiku-4-5",
        "stopped",
        "stopped by the user",
        0.0500,
        12_000,
        200_000,
        None,
    ),
    ("claude-cli", "claude-sonnet-5-5", "idle", "❯ (prompt)", None, 0, None, None),
]
_RUNTIME = {"claude-cli": "tmux"}
"""Agents that are not sim (a tmux CLI reports no cost: `unknown`)."""

_TASKS = [
    # id, title, column, status, deps, assignee, cost
    (1, "Sketch the retry policy", "plan", "ready", [], "planner", 0.0),
    (2, "Decide on async-only API", "plan", "blocked", [1], None, 0.0),
    (3, "Add retries to the HTTP client", "build", "dispatched", [1], "builder-1", 0.21),
    (4, "Pin behaviour with tests", "build", "completed", [], "helper", 0.05),
    (5, "Split parsing from I/O", "build", "failed", [], "builder-2", 0.33),
    (6, "Review the client changes", "review", "blocked", [3], "reviewer", 0.0),
    (7, "Review docs", "review", "ready", [], None, 0.0),
    (8, "Cut release 0.2", "ship", "pending", [6], "shipper", 0.0),
    (9, "Set up the repo", "done", "completed", [], "planner", 0.12),
]


def sample_snapshot(now: datetime = FROZEN_NOW) -> Snapshot:
    """Eight agents (one child, one unpriced, one tmux CLI with unknown cost), nine cards, mail with an urgent escalation."""
    agents: list[Agent] = []
    ids: dict[str, str] = {}
    for index, (name, model, status, detail, cost, ctx, window, parent) in enumerate(_AGENTS):
        agent_id = f"a{index:02d}"
        ids[name] = agent_id
        agents.append(
            Agent(
                id=agent_id,
                name=name,
                runtime=_RUNTIME.get(name, "sim"),
                model=model,
                status=status,  # type: ignore[arg-type]
                status_at=now - timedelta(seconds=3 + index * 17),
                detail=detail,
                usage=Usage(
                    input_tokens=1000 * (index + 1),
                    output_tokens=400 * (index + 2),
                    cache_read_tokens=5000 * index,
                ),
                cost_usd=cost,
                context_tokens=ctx,
                context_window=window,
                parent_id=ids.get(parent) if parent else None,
                runs=index,
                created_at=now - timedelta(minutes=30 - index),
                updated_at=now,
            )
        )
    tasks = [
        Task(
            id=i,
            title=title,
            column=column,
            status=status,
            deps=deps,
            assignee=assignee,  # type: ignore[arg-type]
            cost_usd=cost,
            created_at=now - timedelta(minutes=20),
            updated_at=now,
        )
        for i, title, column, status, deps, assignee, cost in _TASKS
    ]
    messages = [
        Message(
            id=1,
            thread_id=1,
            sender="planner",
            recipient="human",
            type="status",
            subject="Plan ready for review",
            body="Three stages; see task #1.",
            created_at=now - timedelta(minutes=12),
            read_at=now - timedelta(minutes=10),
        ),
        Message(
            id=2,
            thread_id=2,
            sender="human",
            recipient="@all",
            members=["planner", "builder-1"],
            type="dispatch",
            subject="Focus on the client retries",
            body="",
            created_at=now - timedelta(minutes=9),
            read_at=now - timedelta(minutes=9),
        ),
        Message(
            id=3,
            thread_id=3,
            sender="builder-2",
            recipient="human",
            type="decision_gate",
            priority="high",
            subject="Allow edit to src/app.py? [simulated]",
            body="1. Yes\n2. No",
            payload={"gate_id": 1},
            created_at=now - timedelta(minutes=2),
        ),
        Message(
            id=4,
            thread_id=4,
            sender="reviewer",
            recipient="human",
            type="escalation",
            priority="urgent",
            subject="reviewer needs help: tests failed: 3 of 41",
            body="Run 7 failed and I cannot continue without a decision.",
            created_at=now - timedelta(seconds=40),
        ),
        Message(
            id=5,
            thread_id=5,
            sender="helper",
            recipient="human",
            type="worker_done",
            subject="Task #4 done",
            body="Pinned with 6 tests.",
            created_at=now - timedelta(seconds=20),
        ),
    ]
    gates = [
        Gate(
            id=1,
            agent_id=ids["builder-2"],
            agent_name="builder-2",
            task_id=5,
            run_id=5,
            question="Allow edit to src/app.py? [simulated]",
            options=["Yes", "No"],
            created_at=now - timedelta(minutes=2),
        ),
    ]
    runs = [
        Run(
            id=i,
            agent_id=ids["planner"],
            agent_name="planner",
            prompt=f"step {i} of the plan",
            status="completed" if i < 3 else "running",
            cost_usd=0.1 * i,
            created_at=now - timedelta(minutes=10 - i),
        )
        for i in range(1, 4)
    ]
    return Snapshot(seq=100, agents=agents, tasks=tasks, messages=messages, gates=gates, runs=runs)


def frozen_clock() -> datetime:
    return FROZEN_NOW
