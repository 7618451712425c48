"""The engine headless: agents, runs, the task DAG, mail, gates, costs, events."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError

from fleetview.engine import Engine
from fleetview.errors import Conflict, Invalid, NotFound
from fleetview.models import AgentSpec, MessageSpec, RunRequest, TaskSpec, Usage
from fleetview.paths import FleetPaths

FAST = {"speed": 200}


@pytest.fixture
async def engine(tmp_path):
    engine = Engine(FleetPaths(tmp_path))
    await engine.open()
    yield engine
    await engine.close()


async def reopen(engine: Engine) -> Engine:
    await engine.close()
    again = Engine(engine.paths)
    await again.open()
    return again


async def test_create_list_show_delete_agents(engine):
    alpha = await engine.create_agent(AgentSpec(name="alpha", model="opus", config=FAST))
    await engine.create_agent(AgentSpec(name="beta", config=FAST))
    assert [a.name for a in engine.list_agents()] == ["alpha", "beta"]
    assert alpha.model == "claude-opus-5-5"  # alias resolved to the current id
    assert alpha.status == "idle"
    assert engine.get_agent(alpha.id).name == "alpha"
    await engine.delete_agent("alpha")
    assert [a.name for a in engine.list_agents()] == ["beta"]
    with pytest.raises(NotFound, match="unknown agent 'alpha'"):
        engine.get_agent("alpha")
    assert await engine.delete_all_agents() == 1
    assert engine.list_agents() == []


async def test_duplicate_and_bad_names_are_refused(engine):
    await engine.create_agent(AgentSpec(name="dup", config=FAST))
    with pytest.raises(Conflict, match="already exists"):
        await engine.create_agent(AgentSpec(name="dup", config=FAST))
    for bad in ["a b", "a;b", "$(rm -rf)", "x" * 65, "", "-rf", "#{pane}", "a\nb"]:
        with pytest.raises(ValidationError, match="invalid name"):
            AgentSpec(name=bad)
    with pytest.raises(Invalid, match="not a directory"):
        await engine.create_agent(AgentSpec(name="nowhere", cwd="/does/not/exist"))
    assert [a.name for a in engine.list_agents()] == ["dup"]


async def test_spawn_inherits_the_parents_config(engine):
    parent = await engine.create_agent(
        AgentSpec(name="lead", model="haiku", prompt="be brief", tools=["bash"], config=FAST)
    )
    child = await engine.spawn_agent("lead", AgentSpec(name="helper", prompt="css only"))
    assert child.parent_id == parent.id
    assert (child.runtime, child.model, child.tools) == (parent.runtime, parent.model, ["bash"])
    assert child.prompt == "css only" and child.config["speed"] == FAST["speed"]


async def test_a_run_streams_output_usage_and_cost_then_keeps_its_result(engine):
    await engine.create_agent(AgentSpec(name="worker", model="claude-sonnet-5-5", config=FAST))
    run = await engine.send("worker", RunRequest(prompt="fix the flaky test"))
    run = await engine.wait_run(run.id, 10)
    assert run.status == "completed"
    assert run.usage.output_tokens > 0
    price = engine.prices.price("claude-sonnet-5-5")
    assert run.cost_usd == pytest.approx(price.cost(run.usage), abs=1e-12)
    agent = engine.get_agent("worker")
    assert agent.status == "idle" and agent.cost_usd == pytest.approx(run.cost_usd)
    assert 0 < agent.context_tokens < agent.context_window
    logs = await engine.logs("worker")
    assert any("[simulated]" in line for line in logs)
    [result] = await engine.recall("worker")
    assert result.run_id == run.id and result.summary.startswith("[simulated] Done")
    assert "fix the flaky test" in Path(result.file).read_text()


async def test_runs_of_one_agent_execute_in_order(engine):
    await engine.create_agent(AgentSpec(name="serial", config=FAST))
    runs = [await engine.send("serial", RunRequest(prompt=f"step {i}")) for i in range(4)]
    done = [await engine.wait_run(r.id, 10) for r in runs]
    assert [r.status for r in done] == ["completed"] * 4
    starts = [r.started_at for r in done]
    finishes = [r.finished_at for r in done]
    assert all(finishes[i] <= starts[i + 1] for i in range(3))


async def test_an_unpriced_model_is_never_zero(engine):
    await engine.create_agent(AgentSpec(name="mystery", model="gpt-9-turbo", config=FAST))
    run = await engine.wait_run((await engine.send("mystery", RunRequest(prompt="go"))).id, 10)
    assert run.status == "completed" and run.usage.total > 0
    assert run.cost_usd is None and engine.get_agent("mystery").cost_usd is None
    assert engine.fleet_cost() is None
    assert engine.status().unpriced_agents == 1


async def test_costs_are_tokens_times_the_table_for_every_model(engine):
    usage = Usage(
        input_tokens=1234,
        output_tokens=567,
        cache_write_5m_tokens=89,
        cache_write_1h_tokens=10,
        cache_read_tokens=4321,
    )
    for model, price in engine.prices.prices.items():
        expected = (
            1234 * price.input
            + 567 * price.output
            + 89 * price.cache_write_5m
            + 10 * price.cache_write_1h
            + 4321 * price.cache_read
        ) / 1e6
        assert engine.prices.cost(model, usage) == pytest.approx(expected, abs=1e-9)
        assert engine.prices.cost(f"{model}-20260101", usage) == pytest.approx(expected, abs=1e-9)
    assert engine.prices.taken


async def test_stop_cancels_the_run_in_flight(engine):
    await engine.create_agent(AgentSpec(name="slow", config={"speed": 0.2}))
    run = await engine.send("slow", RunRequest(prompt="long job"))
    await asyncio.sleep(0.3)
    assert engine.get_agent("slow").status == "working"
    await engine.stop_agent("slow")
    run = await engine.wait_run(run.id, 3)
    assert run.status == "cancelled"
    assert engine.get_agent("slow").status == "stopped"
    with pytest.raises(Conflict, match="stopped"):
        await engine.send("slow", RunRequest(prompt="again"))
    await engine.restart_agent("slow")
    assert engine.get_agent("slow").status == "idle"
    assert engine.get_agent("slow").restarts == 1


async def test_a_run_in_flight_at_a_crash_is_marked_interrupted(engine, tmp_path):
    await engine.create_agent(AgentSpec(name="victim", config={"speed": 0.1}))
    run = await engine.send("victim", RunRequest(prompt="work"))
    await asyncio.sleep(0.3)
    # what a kill -9 leaves behind: the database files as they are mid-run
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for name in ("fleet.db", "fleet.db-wal"):
        shutil.copy(tmp_path / name, crashed / name)
    with sqlite3.connect(crashed / "fleet.db") as conn:
        (data,) = conn.execute("SELECT data FROM runs WHERE id = ?", (run.id,)).fetchone()
    assert json.loads(data)["status"] == "running"

    again = Engine(FleetPaths(crashed))
    await again.open()
    try:
        assert again.get_run(run.id).status == "interrupted"
        await asyncio.sleep(0.2)
        assert again.get_agent("victim").status == "idle"
    finally:
        await again.close()


async def test_task_dag_readiness_dispatch_and_cycles(engine):
    await engine.create_agent(AgentSpec(name="builder", config=FAST))
    design = await engine.add_task(TaskSpec(title="design the API"))
    build = await engine.add_task(TaskSpec(title="build it", deps=[design.id], assignee="builder"))
    ship = await engine.add_task(TaskSpec(title="ship it", deps=[build.id], column="ship"))
    assert [t.status for t in engine.list_tasks()] == ["ready", "blocked", "blocked"]
    with pytest.raises(Conflict, match=f"dependency cycle: {design.id} -> {ship.id}"):
        await engine.add_dep(design.id, ship.id)
    with pytest.raises(Conflict, match="itself"):
        await engine.add_dep(design.id, design.id)
    with pytest.raises(Invalid, match="unknown column 'qa'"):
        await engine.move_task(design.id, "qa")
    with pytest.raises(NotFound, match="unknown task 99"):
        await engine.move_task(99, "build")

    await engine.move_task(design.id, "done")  # completes it: build is ready and dispatched
    for _ in range(100):
        if engine.get_task(build.id).status == "completed":
            break
        await asyncio.sleep(0.05)
    built = engine.get_task(build.id)
    assert built.status == "completed" and built.attempts == 1
    assert built.cost_usd and built.cost_usd > 0
    assert engine.get_task(ship.id).status == "ready"
    await engine.remove_task(build.id)
    assert engine.get_task(ship.id).deps == []


async def test_messages_groups_threads_and_read_marks(engine):
    await engine.create_agent(AgentSpec(name="a1", config=FAST))
    await engine.create_agent(AgentSpec(name="a2", config=FAST))
    broadcast = await engine.send_message(MessageSpec(to="@all", subject="standup"))
    assert broadcast.members == ["a1", "a2"]
    idle = await engine.send_message(MessageSpec(to="@idle", subject="anyone free?"))
    assert idle.members == ["a1", "a2"]
    with pytest.raises(NotFound, match="unknown recipient 'nobody'"):
        await engine.send_message(MessageSpec(to="nobody", subject="x"))
    with pytest.raises(Invalid, match="unknown group"):
        await engine.send_message(MessageSpec(to="@everyone", subject="x"))
    question = await engine.send_message(
        MessageSpec(to="human", sender="a1", subject="which db?", priority="urgent")
    )
    answer = await engine.reply(question.id, "sqlite")
    assert answer.thread_id == question.thread_id and answer.recipient == "a1"
    assert [m.id for m in engine.thread(answer.id)] == [question.id, answer.id]
    assert engine.get_message(question.id).read_at is not None  # replying read it
    await engine.mark_read(broadcast.id)
    assert [m.id for m in engine.list_messages(unread_only=True)] == [answer.id, idle.id]
    assert engine.list_messages()[0].id == answer.id  # newest first
    with pytest.raises(NotFound, match="unknown message 999"):
        await engine.mark_read(999)


async def test_an_agent_waiting_for_a_human_goes_on_when_answered(engine):
    await engine.create_agent(AgentSpec(name="asker", config={**FAST, "ask_rate": 1.0}))
    run = await engine.send("asker", RunRequest(prompt="clean up"))
    for _ in range(100):
        if engine.list_gates("pending") and engine.list_messages():
            break
        await asyncio.sleep(0.02)
    [gate] = engine.list_gates("pending")
    assert engine.get_agent("asker").status == "waiting"
    [ask] = [m for m in engine.list_messages() if m.type == "decision_gate"]
    assert ask.sender == "asker" and ask.payload["gate_id"] == gate.id
    await engine.send_keys("asker", ["1"])
    run = await engine.wait_run(run.id, 10)
    assert run.status == "completed"
    assert engine.get_gate(gate.id).resolution == gate.options[0]
    assert engine.get_message(ask.id).read_at is not None


async def test_every_change_is_an_event_in_order_and_resumable(engine):
    seen = []

    async def watch(since: int) -> None:
        async for event in engine.subscribe(since):
            seen.append(event)

    watcher = asyncio.create_task(watch(0))
    await engine.create_agent(AgentSpec(name="evented", config=FAST))
    task = await engine.add_task(TaskSpec(title="t"))
    await engine.move_task(task.id, "build")
    await engine.send_message(MessageSpec(to="evented", subject="hi"))
    await engine.delete_agent("evented")
    await asyncio.sleep(0.3)
    watcher.cancel()
    seqs = [e.seq for e in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gaps
    kinds = [e.kind for e in seen]
    for kind in ["agent.created", "task.updated", "message.created", "agent.deleted"]:
        assert kind in kinds
    assert (
        kinds.index("agent.created") < kinds.index("message.created") < kinds.index("agent.deleted")
    )

    middle = seen[len(seen) // 2].seq
    resumed = []
    async for event in engine.subscribe(middle):
        resumed.append(event.seq)
        if event.seq == seqs[-1]:
            break
    assert resumed == [s for s in seqs if s > middle]


async def test_everything_survives_a_restart(engine):
    await engine.create_agent(AgentSpec(name="keeper", config=FAST))
    task = await engine.add_task(TaskSpec(title="remember me", spec="details"))
    message = await engine.send_message(MessageSpec(to="keeper", subject="note", body="b"))
    run = await engine.wait_run((await engine.send("keeper", RunRequest(prompt="x"))).id, 10)
    engine = await reopen(engine)
    try:
        assert engine.get_agent("keeper").cost_usd == pytest.approx(run.cost_usd)
        assert engine.get_task(task.id).spec == "details"
        assert engine.get_message(message.id).body == "b"
        assert engine.get_run(run.id).status == "completed"
        assert any("Done" in line for line in await engine.logs("keeper"))
    finally:
        await engine.close()


async def test_a_sim_agent_can_run_the_api_loop_behind_a_simulated_model(engine, tmp_path):
    """The demo's honest path: the api runtime's own loop, a simulated model, no network."""
    await engine.create_agent(
        AgentSpec(name="looped", cwd=str(tmp_path), config={"loop": "api", "speed": 50, "seed": 3})
    )
    run = await engine.wait_run(
        (await engine.send("looped", RunRequest(prompt="look around"))).id, 20
    )
    assert run.status == "completed", run.error
    assert run.usage.output_tokens > 0 and run.cost_usd and run.cost_usd > 0
    assert engine.get_agent("looped").context_tokens > 0
    second = await engine.wait_run((await engine.send("looped", RunRequest(prompt="again"))).id, 20)
    assert second.status == "completed"
    assert engine.get_agent("looped").context_tokens > engine.get_run(run.id).usage.input_tokens


async def test_cancel_one_run_queued_or_in_flight(engine):
    await engine.create_agent(AgentSpec(name="busy", config={"speed": 0.2}))
    first = await engine.send("busy", RunRequest(prompt="long"))
    second = await engine.send("busy", RunRequest(prompt="queued behind"))
    await asyncio.sleep(0.3)
    queued = await engine.cancel_run(second.id)
    assert queued.status == "cancelled"
    running = await engine.cancel_run(first.id)
    assert running.status == "cancelled" and running.error == "cancelled by the user"
    assert engine.get_agent("busy").status == "idle"  # the agent itself goes on
    with pytest.raises(Conflict, match="already cancelled"):
        await engine.cancel_run(first.id)
    third = await engine.send("busy", RunRequest(prompt="next"))
    assert (await engine.wait_run(third.id, 0.5)).status in ("running", "completed")


def test_a_long_prompt_is_billed_at_the_models_long_tier():
    from fleetview.engine.costs import default_prices

    prices = default_prices()
    short = Usage(input_tokens=90_000, output_tokens=1_000)
    long = Usage(input_tokens=60_000, cache_read_tokens=50_000, output_tokens=1_000)
    assert prices.cost("claude-haiku-5-5", short) == pytest.approx(
        (90_000 * 0.1 + 1_000 * 0.5) / 1e6, abs=1e-12
    )
    assert prices.cost("claude-haiku-5-5", long) == pytest.approx(
        (60_000 * 0.5 + 50_000 * 0.05 + 1_000 * 2.5) / 1e6, abs=1e-12
    )


async def test_a_full_disk_is_one_clear_error_and_loses_nothing(engine):
    """SQLite's own 'database or disk is full', made real with a page limit."""
    from fleetview.store import StoreError

    await engine.create_agent(AgentSpec(name="before", config=FAST))
    [(pages,)] = await engine.store.fetchall("PRAGMA page_count")
    await engine.store.submit([(f"PRAGMA max_page_count = {pages}", ())])
    with pytest.raises(StoreError, match="could not save: database or disk is full"):
        for i in range(200):
            await engine.add_task(TaskSpec(title=f"filler {i} " + "x" * 150, spec="y" * 2000))
    tasks_before = len(engine.list_tasks())
    await engine.store.submit([("PRAGMA max_page_count = 1073741823", ())])
    await engine.create_agent(AgentSpec(name="after", config=FAST))  # the engine goes on
    again = await reopen(engine)
    try:
        assert {a.name for a in again.list_agents()} >= {"before", "after"}
        assert len(again.list_tasks()) == tasks_before  # what was refused is not shown
    finally:
        await again.close()
