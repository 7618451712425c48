"""The engine: owns every agent and every write.

State lives in memory (dicts of models) and in the store; reads are served
from memory, writes go to the store and the event log together. Mutations a
client asked for are awaited until committed before they return
(acknowledged = durable); the high-rate changes a runtime reports (output,
usage, status) are coalesced and flushed on a short tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetview import __version__
from fleetview.engine.board import BoardMixin
from fleetview.engine.costs import PriceTable, add_cost
from fleetview.engine.events import EventLog
from fleetview.engine.handle import OUTPUT_TAIL, EngineHandle
from fleetview.engine.mail import MailMixin
from fleetview.errors import Conflict, FleetError, Invalid, NotFound
from fleetview.models import (
    Agent,
    AgentSpec,
    ContextResult,
    EngineStatus,
    Event,
    Gate,
    Message,
    Run,
    RunRequest,
    Snapshot,
    Task,
    utcnow,
)
from fleetview.paths import FleetPaths
from fleetview.runtimes import load_runtime
from fleetview.runtimes.base import RunInput, RunOutcome
from fleetview.store import Statement, Store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fleetview.runtimes.base import Runtime

log = logging.getLogger("fleetview.engine")

FLUSH_INTERVAL = 0.1
"""Seconds between flushes of coalesced runtime output and status changes."""
DETAIL_INTERVAL = 0.5
"""Seconds between flushes of an agent's or run's other changes (usage, detail)."""


def _dump(model: Any) -> str:
    return model.model_dump_json()


def summarize(text: str, limit: int = 120) -> str:
    """One line for a result: its first non-empty line, shortened."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return "(no output)"


class Engine(BoardMixin, MailMixin):
    """Creates, commands and deletes agents; keeps tasks, messages and gates."""

    def __init__(self, paths: FleetPaths, api_url: str = "") -> None:
        self.paths = paths
        self.api_url = api_url
        self.store = Store(paths.db)
        self.events = EventLog(self.store)
        self.prices = PriceTable.load(paths.home)
        self.started_at = utcnow()
        self._agents: dict[str, Agent] = {}
        self._by_name: dict[str, str] = {}
        self._handles: dict[str, EngineHandle] = {}
        self._runs: dict[int, Run] = {}
        self._run_done: dict[int, asyncio.Event] = {}
        self._queues: dict[str, asyncio.Queue[int]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._executing: dict[str, asyncio.Task[RunOutcome]] = {}
        self._outputs: dict[str, deque[str]] = {}
        self._runtimes: dict[str, Runtime] = {}
        self._tasks: dict[int, Task] = {}
        self._messages: dict[int, Message] = {}
        self._gates: dict[int, Gate] = {}
        self._gate_waiters: dict[int, asyncio.Future[str]] = {}
        self._dirty_agents: set[str] = set()
        self._urgent_agents: set[str] = set()
        self._tick = 0
        self._dirty_output: set[str] = set()
        self._dirty_runs: set[int] = set()
        self._next_id: dict[str, int] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------

    async def open(self) -> None:
        """Load the fleet, mark interrupted runs, re-adopt every agent."""
        self.paths.ensure()
        await self.store.open()
        await self.events.load()
        for data in await self.store.fetch_json("agents"):
            agent = Agent.model_validate(data)
            self._agents[agent.id] = agent
            self._by_name[agent.name] = agent.id
        for data in await self.store.fetch_json("runs"):
            run = Run.model_validate(data)
            self._runs[run.id] = run
        for data in await self.store.fetch_json("tasks"):
            task = Task.model_validate(data)
            self._tasks[task.id] = task
        for data in await self.store.fetch_json("messages"):
            message = Message.model_validate(data)
            self._messages[message.id] = message
        for data in await self.store.fetch_json("gates"):
            gate = Gate.model_validate(data)
            self._gates[gate.id] = gate
        for table in ("runs", "results", "tasks", "messages", "gates"):
            self._next_id[table] = await self.store.max_id(table) + 1
        states = {
            row[0]: json.loads(row[1])
            for row in await self.store.fetchall("SELECT agent_id, data FROM agent_state")
        }
        for agent_id, rows in (await self._load_output_tails()).items():
            self._outputs[agent_id] = rows
        statements: list[Statement] = []
        events: list[Event] = []
        requeue: list[Run] = []
        for run in sorted(self._runs.values(), key=lambda r: r.id):
            if run.status == "running":
                run.status = "interrupted"
                run.error = "the engine stopped while this run was in flight"
                run.finished_at = utcnow()
                statements.append(self._run_row(run))
                events.append(self.events.make("run.updated", run.id, run.model_dump(mode="json")))
            elif run.status == "queued":
                requeue.append(run)
        for gate in self._gates.values():
            if gate.status == "pending" and gate.run_id is not None:
                run = self._runs.get(gate.run_id)
                if run is None or run.done:
                    gate.status = "timeout"
                    gate.resolution = "interrupted: the engine restarted"
                    gate.resolved_at = utcnow()
                    statements.append(self._gate_row(gate))
                    events.append(
                        self.events.make("gate.updated", gate.id, gate.model_dump(mode="json"))
                    )
        for agent in self._agents.values():
            agent.current_run_id = None
            if agent.status in ("working", "waiting", "starting"):
                agent.status = "starting"
                agent.detail = "re-adopting after an engine restart"
        events.append(self.events.make("engine.started", "engine", {"pid": os.getpid()}))
        await self._commit(statements, events)
        self._flusher = asyncio.create_task(self._flush_loop(), name="engine-flusher")
        starts = []
        for agent in list(self._agents.values()):
            handle = self._make_handle(agent)
            handle.load_state(states.get(agent.id))
            self._start_worker(agent)
            if agent.status != "stopped":  # a stopped agent stays stopped until restarted
                starts.append(self._start_runtime(agent.id))
        self._spawn(self._adopt(starts))
        for run in requeue:
            self._queues[run.agent_id].put_nowait(run.id)
            self._run_done.setdefault(run.id, asyncio.Event())
        self._recompute_tasks()

    async def close(self) -> None:
        """Stop workers (runs in flight are interrupted), flush, close the store.

        Agents that live outside the engine (tmux sessions) keep running.
        """
        if self._closed:
            return
        self._closed = True
        for worker in self._workers.values():
            worker.cancel()
        for worker in list(self._workers.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
        for task in list(self._background):
            task.cancel()
        for runtime in self._runtimes.values():
            with contextlib.suppress(Exception):
                await runtime.close()
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self._flush(everything=True)
        await self.store.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # -- persistence helpers -------------------------------------------------

    def _alloc(self, table: str) -> int:
        value = self._next_id[table]
        self._next_id[table] = value + 1
        return value

    @staticmethod
    def _agent_row(agent: Agent, raw: str | None = None) -> Statement:
        sql = (
            "INSERT INTO agents (id, name, data) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET name=excluded.name, data=excluded.data"
        )
        return (sql, (agent.id, agent.name, raw or _dump(agent)))

    @staticmethod
    def _run_row(run: Run, raw: str | None = None) -> Statement:
        return (
            "INSERT OR REPLACE INTO runs (id, agent_id, data) VALUES (?, ?, ?)",
            (run.id, run.agent_id, raw or _dump(run)),
        )

    @staticmethod
    def _task_row(task: Task, raw: str | None = None) -> Statement:
        return (
            "INSERT OR REPLACE INTO tasks (id, data) VALUES (?, ?)",
            (task.id, raw or _dump(task)),
        )

    @staticmethod
    def _message_row(message: Message, raw: str | None = None) -> Statement:
        return (
            "INSERT OR REPLACE INTO messages (id, thread_id, data) VALUES (?, ?, ?)",
            (message.id, message.thread_id, raw or _dump(message)),
        )

    @staticmethod
    def _gate_row(gate: Gate, raw: str | None = None) -> Statement:
        return (
            "INSERT OR REPLACE INTO gates (id, data) VALUES (?, ?)",
            (gate.id, raw or _dump(gate)),
        )

    def _submit(
        self,
        statements: list[Statement],
        events: list[Event],
        files: list[tuple[Path, str]] | None = None,
    ) -> asyncio.Future[None]:
        """Queue rows and events for one transaction (events publish after it)."""
        all_rows = statements + self.events.rows(events)
        return self.store.submit(
            all_rows, after_commit=lambda: self.events.publish(events), files=files or ()
        )

    async def _commit(
        self,
        statements: list[Statement],
        events: list[Event],
        files: list[tuple[Path, str]] | None = None,
    ) -> None:
        """Write rows and events in one transaction and wait until it is committed."""
        await self._submit(statements, events, files)

    def _changed(self, kind: str, entity: Any) -> tuple[list[Statement], list[Event]]:
        """Row + event for one created/updated entity."""
        row = {
            "agent": self._agent_row,
            "run": self._run_row,
            "task": self._task_row,
            "message": self._message_row,
            "gate": self._gate_row,
        }[kind.split(".")[0]]
        # one encoding serves the row, the event row and the stream (pydantic's
        # encoder, then decoded for in-process readers: cheaper than dump + dumps)
        raw = entity.model_dump_json()
        data = json.loads(raw)
        return [row(entity, raw)], [self.events.make(kind, entity.id, data, raw=raw)]

    async def _save(self, kind: str, *entities: Any) -> None:
        statements: list[Statement] = []
        events: list[Event] = []
        for entity in entities:
            rows, evs = self._changed(kind, entity)
            statements += rows
            events += evs
        await self._commit(statements, events)

    async def _save_state(self, agent_id: str, state: dict[str, Any]) -> None:
        """Queue a runtime's state; not awaited to disk.

        The store commits in order, so the state is on disk before the end of
        the run that wrote it is acknowledged; waiting here would only add a
        commit round trip to every turn of every agent.
        """
        future = self.store.submit(
            [
                (
                    "INSERT OR REPLACE INTO agent_state (agent_id, data) VALUES (?, ?)",
                    (agent_id, json.dumps(state, default=str)),
                )
            ]
        )
        future.add_done_callback(lambda f: f.cancelled() or f.exception())

    async def _load_output_tails(self) -> dict[str, deque[str]]:
        tails: dict[str, deque[str]] = {}
        for agent_id in self._agents:
            rows = await self.store.fetchall(
                "SELECT data FROM events WHERE entity_id = ? AND kind = 'agent.output' "
                "ORDER BY seq DESC LIMIT 200",
                (agent_id,),
            )
            lines: deque[str] = deque(maxlen=OUTPUT_TAIL)
            for (data,) in reversed(rows):
                _append_lines(lines, json.loads(data).get("text", ""))
            tails[agent_id] = lines
        return tails

    # -- the flusher ---------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self._flush()
            except Exception:
                log.exception("flush failed")

    async def _flush(self, everything: bool = False) -> None:
        """Write the coalesced changes runtimes reported since the last tick."""
        statements, events = self._collect(everything)
        if statements or events:
            await self._commit(statements, events)

    def _commit_soon(self, statements: list[Statement], events: list[Event]) -> None:
        """Queue a write without waiting for it (failures are logged by the store)."""
        all_rows = statements + self.events.rows(events)
        future = self.store.submit(all_rows, after_commit=lambda: self.events.publish(events))
        future.add_done_callback(lambda f: f.cancelled() or f.exception())

    def _collect(
        self, everything: bool = False, only: str | None = None
    ) -> tuple[list[Statement], list[Event]]:
        """Rows and events for what runtimes reported since the last collection.

        With `only`, just that agent's output and its run (a run's end carries them).
        """
        statements: list[Statement] = []
        events: list[Event] = []
        if only is None:
            outputs, self._dirty_output = self._dirty_output, set()
        else:
            outputs = {only} & self._dirty_output
            self._dirty_output -= outputs
        for agent_id in outputs:
            handle = self._handles.get(agent_id)
            if handle is None or agent_id not in self._agents:
                continue
            for text, stream in handle.take_output():
                _append_lines(self._outputs.setdefault(agent_id, deque(maxlen=OUTPUT_TAIL)), text)
                events.append(
                    self.events.make("agent.output", agent_id, {"text": text, "stream": stream})
                )
        if only is not None:
            # the caller writes the agent and its run itself (their end carries
            # every change since), so neither is written twice
            run = self._current_run(only)
            if run is not None:
                self._dirty_runs.discard(run.id)
            runs: set[int] = set()
            agents: set[str] = set()
        elif everything:
            runs, self._dirty_runs = self._dirty_runs, set()
            agents, self._dirty_agents = self._dirty_agents, set()
            self._urgent_agents.clear()
        else:
            # Status changes go out every tick. Usage and detail wait their turn:
            # each tick takes one slice of the fleet, so every agent is written at
            # most once per DETAIL_INTERVAL and no tick has to encode all of them.
            self._tick += 1
            slices = max(1, round(DETAIL_INTERVAL / FLUSH_INTERVAL))
            turn = self._tick % slices
            runs = {r for r in self._dirty_runs if r % slices == turn}
            self._dirty_runs -= runs
            agents = {
                a
                for a in self._dirty_agents
                if a in self._urgent_agents or _slot(a, slices) == turn
            }
            self._dirty_agents -= agents
            self._urgent_agents.clear()
        for run_id in runs:
            run = self._runs.get(run_id)
            if run is not None:
                rows, evs = self._changed("run.updated", run)
                statements += rows
                events += evs
        for agent_id in agents:
            agent = self._agents.get(agent_id)
            if agent is not None:
                agent.updated_at = utcnow()
                rows, evs = self._changed("agent.updated", agent)
                statements += rows
                events += evs
        return statements, events

    # -- agents --------------------------------------------------------------

    def list_agents(self) -> list[Agent]:
        return sorted(self._agents.values(), key=lambda a: a.created_at)

    def get_agent(self, ref: str) -> Agent:
        agent_id = self._by_name.get(ref, ref)
        agent = self._agents.get(agent_id)
        if agent is None:
            raise NotFound(f"unknown agent {ref!r}")
        return agent

    def _runtime(self, name: str) -> Runtime:
        runtime = self._runtimes.get(name)
        if runtime is None:
            runtime = load_runtime(name)
            self._runtimes[name] = runtime
        return runtime

    def _make_handle(self, agent: Agent) -> EngineHandle:
        handle = EngineHandle(self, agent.id)
        self._handles[agent.id] = handle
        self._outputs.setdefault(agent.id, deque(maxlen=OUTPUT_TAIL))
        return handle

    async def create_agent(self, spec: AgentSpec) -> Agent:
        """Create an agent and start it on its runtime."""
        if spec.name in self._by_name:
            raise Conflict(f"an agent named {spec.name!r} already exists")
        parent_id = self.get_agent(spec.parent).id if spec.parent else None
        self._runtime(
            spec.runtime
        )  # an unknown or unavailable runtime fails here, before any write
        if spec.runtime == "tmux" and not spec.command:
            raise Invalid("a tmux agent needs --command (the program to run)")
        cwd = spec.cwd
        if cwd is not None:
            path = Path(cwd).expanduser()
            if not path.is_dir():
                raise Invalid(f"cwd {cwd!r} is not a directory")
            cwd = str(path.resolve())
        model = spec.model
        if model and self.prices.resolve(model) and model in self.prices.aliases:
            model = self.prices.resolve(model)
        agent = Agent(
            id=os.urandom(4).hex(),
            name=spec.name,
            runtime=spec.runtime,
            model=model or _default_model(spec.runtime),
            prompt=spec.prompt,
            tools=spec.tools,
            command=spec.command,
            cwd=cwd or os.getcwd(),
            parent_id=parent_id,
            config=spec.config,
            status="starting",
        )
        agent.context_window = self.prices.context_window(agent.model)
        if agent.runtime == "tmux" or self.prices.resolve(agent.model) is None:
            agent.cost_usd = None  # unknown until the CLI reports it / unpriced model
        self._agents[agent.id] = agent
        self._by_name[agent.name] = agent.id
        self._make_handle(agent)
        try:
            await self._save("agent.created", agent)
        except Exception:
            self._forget(agent.id)
            raise
        self._start_worker(agent)
        await self._start_runtime(agent.id)
        return self._agents[agent.id]

    async def spawn_agent(self, parent_ref: str, spec: AgentSpec) -> Agent:
        """A child that inherits its parent's runtime, model, tools, cwd and config."""
        parent = self.get_agent(parent_ref)
        given = spec.model_fields_set
        child = spec.model_copy(
            update={
                "parent": parent.id,
                "runtime": spec.runtime if "runtime" in given else parent.runtime,
                "model": spec.model if "model" in given else parent.model,
                "tools": spec.tools if "tools" in given else list(parent.tools),
                "cwd": spec.cwd if "cwd" in given else parent.cwd,
                "command": spec.command if "command" in given else parent.command,
                "prompt": spec.prompt if "prompt" in given else parent.prompt,
                "config": {**parent.config, **spec.config},
            }
        )
        return await self.create_agent(child)

    async def _adopt(self, starts: list[Any]) -> None:
        """Start (re-adopt) every agent, then let each runtime drop what has no agent."""
        await asyncio.gather(*starts)
        known = set(self._agents)
        for name in ("tmux",):  # runtimes that keep things outside the engine
            try:
                runtime = self._runtime(name)
            except Exception as exc:  # noqa: BLE001 - tmux missing: nothing to reconcile
                log.debug("no %s runtime to reconcile: %s", name, exc)
                continue
            reconcile = getattr(runtime, "reconcile", None)
            if reconcile is not None:
                try:
                    removed = await reconcile(known)
                except Exception as exc:  # noqa: BLE001 - a failed clean-up must not stop the engine
                    log.warning("%s reconcile failed: %s", name, exc)
                    continue
                if removed:
                    log.info("removed %d %s sessions of deleted agents", len(removed), name)

    async def _start_runtime(self, agent_id: str) -> None:
        agent = self._agents.get(agent_id)
        handle = self._handles.get(agent_id)
        if agent is None or handle is None:
            return
        try:
            await self._runtime(agent.runtime).start(handle)
        except FleetError as exc:
            handle.set_status("error", "event", str(exc))
        except Exception as exc:
            log.exception("runtime start failed for %s", agent.name)
            handle.set_status("error", "event", f"could not start: {exc}")
        else:
            runtime = self._runtime(agent.runtime)
            if getattr(runtime, "manages_status", False):
                return  # its watcher says when the agent is idle
            if self._agents.get(agent_id) is agent and agent.status == "starting":
                handle.set_status("idle", "event", "")

    def _start_worker(self, agent: Agent) -> None:
        self._queues[agent.id] = asyncio.Queue()
        self._workers[agent.id] = asyncio.create_task(
            self._worker(agent.id), name=f"agent-{agent.name}"
        )

    def _forget(self, agent_id: str) -> None:
        agent = self._agents.pop(agent_id, None)
        if agent is not None:
            self._by_name.pop(agent.name, None)
        handle = self._handles.pop(agent_id, None)
        if handle is not None:
            handle.closed = True
        self._outputs.pop(agent_id, None)
        self._queues.pop(agent_id, None)
        self._dirty_agents.discard(agent_id)
        self._dirty_output.discard(agent_id)

    async def _cancel_work(self, agent_id: str, reason: str) -> list[Run]:
        """Cancel the run in flight and every queued run of an agent."""
        changed: list[Run] = []
        queue = self._queues.get(agent_id)
        while queue is not None and not queue.empty():
            run = self._runs.get(queue.get_nowait())
            if run is not None and not run.done:
                self._finish_run(run, "cancelled", error=reason)
                changed.append(run)
        execution = self._executing.get(agent_id)
        current = self._current_run(agent_id)
        if execution is not None and not execution.done():
            if current is not None:
                current.error = reason
            execution.cancel()
            done = self._run_done.get(current.id) if current is not None else None
            if done is not None:  # wait until the worker has recorded the cancellation
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=1.5)
        return changed

    async def delete_agent(self, ref: str) -> None:
        """Cancel its work, remove it from its runtime and from the fleet."""
        agent = self.get_agent(ref)
        handle = self._handles[agent.id]
        cancelled = await self._cancel_work(agent.id, "the agent was deleted")
        worker = self._workers.pop(agent.id, None)
        if worker is not None:
            worker.cancel()
        try:
            await self._runtime(agent.runtime).delete(handle)
        except Exception as exc:  # noqa: BLE001 - the record goes regardless; log why
            log.warning("runtime delete of %s: %s", agent.name, exc)
        for gate in list(self._gates.values()):
            if gate.agent_id == agent.id and gate.status == "pending":
                await self._close_gate(gate, "cancelled: the agent was deleted", status="timeout")
        self._forget(agent.id)
        statements = [
            ("DELETE FROM agents WHERE id = ?", (agent.id,)),
            ("DELETE FROM agent_state WHERE agent_id = ?", (agent.id,)),
        ]
        events = [self.events.make("agent.deleted", agent.id, {"name": agent.name})]
        for run in cancelled:
            rows, evs = self._changed("run.updated", run)
            statements += rows
            events += evs
        await self._commit(statements, events)
        self._notify_done(*cancelled)

    async def delete_all_agents(self) -> int:
        names = [agent.name for agent in self.list_agents()]
        # children first so no parent vanishes under a living child
        names.sort(key=lambda n: self.get_agent(n).parent_id is None)
        for name in names:
            await self.delete_agent(name)
        return len(names)

    async def stop_agent(self, ref: str) -> Agent:
        """Cancel its work and stop it on its runtime; the record stays."""
        agent = self.get_agent(ref)
        cancelled = await self._cancel_work(agent.id, "the agent was stopped")
        await self._runtime(agent.runtime).stop(self._handles[agent.id])
        handle = self._handles[agent.id]
        handle.set_status("stopped", "event", "stopped by the user")
        self._dirty_agents.discard(agent.id)
        await self._save("agent.updated", agent)
        if cancelled:
            await self._save("run.updated", *cancelled)
            self._notify_done(*cancelled)
        return agent

    async def restart_agent(self, ref: str) -> Agent:
        """Stop and start again on its runtime (a crashed or stuck agent)."""
        agent = self.get_agent(ref)
        cancelled = await self._cancel_work(agent.id, "the agent was restarted")
        if cancelled:
            await self._save("run.updated", *cancelled)
            self._notify_done(*cancelled)
        runtime = self._runtime(agent.runtime)
        with contextlib.suppress(Exception):
            await runtime.stop(self._handles[agent.id])
        agent.restarts += 1
        agent.status = "starting"
        agent.detail = "restarting"
        await self._save("agent.updated", agent)
        await self._start_runtime(agent.id)
        return agent

    # -- runs ----------------------------------------------------------------

    async def send(self, ref: str, request: RunRequest) -> Run:
        """Queue a command for an agent; runs of one agent go one at a time, in order."""
        agent = self.get_agent(ref)
        if agent.status == "stopped":
            raise Conflict(f"agent {agent.name!r} is stopped: restart it first")
        for result_id in request.context_ids:
            await self.get_result(result_id)
        if request.task_id is not None:
            self.get_task(request.task_id)
        run = Run(
            id=self._alloc("runs"),
            agent_id=agent.id,
            agent_name=agent.name,
            prompt=request.prompt,
            context_ids=request.context_ids,
            output_schema=request.output_schema,
            task_id=request.task_id,
            model=agent.model,
        )
        self._runs[run.id] = run
        self._run_done[run.id] = asyncio.Event()
        saved = self._submit(*self._changed("run.updated", run))
        # queued at once: its row is committed before anything the run itself writes
        self._queues[agent.id].put_nowait(run.id)
        try:
            await saved
        except FleetError:  # not saved, so never acknowledged: do not run it either
            self._runs.pop(run.id, None)
            self._run_done.pop(run.id, None)
            raise
        return run

    async def cancel_run(self, run_id: int) -> Run:
        """Cancel one run: dropped if still queued, interrupted if in flight."""
        run = self.get_run(run_id)
        if run.done:
            raise Conflict(f"run {run.id} is already {run.status}")
        if run.status == "queued":  # its worker skips runs that are done
            self._finish_run(run, "cancelled", "cancelled by the user")
            await self._save("run.updated", run)
            self._notify_done(run)
            return run
        execution = self._executing.get(run.agent_id)
        current = self._current_run(run.agent_id)
        if execution is not None and current is run and not execution.done():
            run.error = "cancelled by the user"
            execution.cancel()
            done = self._run_done.get(run.id)
            if done is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=1.5)
        return run

    def get_run(self, run_id: int) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFound(f"unknown run {run_id}")
        return run

    def list_runs(self, agent_ref: str | None = None, limit: int = 50) -> list[Run]:
        runs = list(self._runs.values())
        if agent_ref is not None:
            agent_id = self.get_agent(agent_ref).id
            runs = [r for r in runs if r.agent_id == agent_id]
        return sorted(runs, key=lambda r: r.id, reverse=True)[:limit]

    async def wait_run(self, run_id: int, timeout: float) -> Run:
        """The run once its end is committed (result saved), or as it is at `timeout`."""
        run = self.get_run(run_id)
        done = self._run_done.get(run_id)
        if done is None and not run.done:
            done = self._run_done.setdefault(run_id, asyncio.Event())
        if done is not None:  # not finished, or finished but not yet committed
            # asyncio.timeout, not wait_for: no task of its own for every wait
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await done.wait()
        return self.get_run(run_id)

    def _current_run(self, agent_id: str) -> Run | None:
        agent = self._agents.get(agent_id)
        if agent is None or agent.current_run_id is None:
            return None
        return self._runs.get(agent.current_run_id)

    def _finish_run(self, run: Run, status: str, error: str | None = None) -> None:
        run.status = status  # type: ignore[assignment]
        run.error = error if error is not None else run.error
        run.finished_at = utcnow()

    def _notify_done(self, *runs: Run) -> None:
        """Wake `wait_run` callers; called once the run's end is committed."""
        for run in runs:
            event = self._run_done.pop(run.id, None)
            if event is not None:
                event.set()

    async def _worker(self, agent_id: str) -> None:
        queue = self._queues[agent_id]
        while True:
            run_id = await queue.get()
            run = self._runs.get(run_id)
            if run is None or run.done:
                continue
            try:
                await self._execute(agent_id, run)
            except asyncio.CancelledError:
                if not run.done:
                    self._finish_run(run, "interrupted", "the engine stopped during this run")
                    with contextlib.suppress(Exception):
                        await asyncio.shield(self._save("run.updated", run))
                    self._notify_done(run)
                raise
            except Exception as exc:
                log.exception("run %s failed in the engine", run.id)
                if not run.done:
                    self._finish_run(run, "failed", f"engine error: {exc}")
                    await self._save("run.updated", run)
                    self._notify_done(run)

    async def _execute(self, agent_id: str, run: Run) -> None:
        agent = self._agents[agent_id]
        handle = self._handles[agent_id]
        runtime = self._runtime(agent.runtime)
        context = [await self.get_result(i) for i in run.context_ids]
        run.status = "running"
        run.started_at = utcnow()
        agent.current_run_id = run.id
        agent.runs += 1
        if not getattr(runtime, "manages_status", False):
            handle.set_status("working", "event", f"run {run.id}: {summarize(run.prompt, 80)}")
        self._dirty_agents.discard(agent_id)
        # not awaited: nobody was promised this state, and the store keeps the order
        statements, events = self._changed("agent.updated", agent)
        rows, evs = self._changed("run.updated", run)
        self._commit_soon(statements + rows, events + evs)
        if run.task_id is not None:
            await self._task_dispatched(run)
        execution = asyncio.create_task(runtime.execute(handle, RunInput(run=run, context=context)))
        self._executing[agent_id] = execution
        try:
            outcome = await execution
        except asyncio.CancelledError:
            if self._closed or asyncio.current_task().cancelling():  # type: ignore[union-attr]
                raise
            outcome = RunOutcome(status="cancelled", error=run.error or "cancelled")
        except FleetError as exc:
            outcome = RunOutcome(status="failed", error=str(exc))
        except Exception as exc:
            log.exception("runtime %s raised on run %s", agent.runtime, run.id)
            outcome = RunOutcome(status="failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._executing.pop(agent_id, None)
        await self._record_outcome(agent_id, run, outcome)

    async def _record_outcome(self, agent_id: str, run: Run, outcome: RunOutcome) -> None:
        agent = self._agents.get(agent_id)
        handle = self._handles.get(agent_id)
        run.text = outcome.text
        run.data = outcome.data
        run.stop_reason = outcome.stop_reason
        if outcome.status == "cancelled":
            status = "cancelled"
        else:
            status = "completed" if outcome.status == "completed" else "failed"
        result: ContextResult | None = None
        files: list[tuple[Path, str]] = []
        if status == "completed":
            result = ContextResult(
                id=self._alloc("results"),
                run_id=run.id,
                agent_id=run.agent_id,
                agent_name=run.agent_name,
                prompt=run.prompt,
                text=outcome.text,
                summary=summarize(outcome.text),
                data=outcome.data or {},
            )
            path, markdown = self._result_file(result)
            files.append((path, markdown))
            result.file = str(path)
            run.result_id = result.id
        # no await from here to the commit: events must be committed in seq order
        pending, pending_events = self._collect(only=agent_id)  # its output and usage first
        self._finish_run(run, status, outcome.error)
        statements, events = self._changed("run.updated", run)
        statements, events = pending + statements, pending_events + events
        if result is not None:
            result_raw = _dump(result)
            statements.append(
                (
                    (
                        "INSERT INTO results (id, agent_id, agent_name, created_at, text, data) "
                        "VALUES (?, ?, ?, ?, ?, ?)"
                    ),
                    (
                        result.id,
                        result.agent_id,
                        result.agent_name,
                        result.created_at.isoformat(),
                        result.text,
                        result_raw,
                    ),
                )
            )
            events.append(
                self.events.make(
                    "result.created", result.id, json.loads(result_raw), raw=result_raw
                )
            )
        if agent is not None and handle is not None:
            agent.current_run_id = None
            runtime = self._runtime(agent.runtime)
            if not getattr(runtime, "manages_status", False) and agent.status not in (
                "error",
                "stopped",
            ):
                if status == "failed":
                    handle.set_status("idle", "event", f"run {run.id} failed: {outcome.error}")
                else:
                    handle.set_status("idle", "event", f"run {run.id} {status}")
            self._dirty_agents.discard(agent_id)
            rows, evs = self._changed("agent.updated", agent)
            statements += rows
            events += evs
        # The worker goes on to the next run at once; whoever waits for this one
        # is woken when its end is committed (ends commit in order, before
        # anything the next run writes).
        saved = self._submit(statements, events, files)
        saved.add_done_callback(lambda f: (f.cancelled() or f.exception(), self._notify_done(run)))
        if run.task_id is not None:
            self._spawn(self._after_task_run(saved, run))

    async def _after_task_run(self, saved: asyncio.Future[None], run: Run) -> None:
        with contextlib.suppress(FleetError):
            await saved
        await self._task_run_finished(run)

    def _result_file(self, result: ContextResult) -> tuple[Path, str]:
        """Where a result's markdown copy goes, and its text (the store writes it)."""
        path = self.paths.context / f"{result.id}.md"
        lines = [
            f"# {result.summary}",
            "",
            f"- agent: {result.agent_name}",
            f"- run: {result.run_id}",
            f"- created: {result.created_at.isoformat()}",
            "",
            "## Prompt",
            "",
            result.prompt,
            "",
            "## Result",
            "",
            result.text,
        ]
        if result.data:
            lines += ["", "## Data", "", "```json", json.dumps(result.data, indent=2), "```"]
        return path, "\n".join(lines) + "\n"

    async def get_result(self, result_id: int) -> ContextResult:
        rows = await self.store.fetchall("SELECT data FROM results WHERE id = ?", (result_id,))
        if not rows:
            raise NotFound(f"unknown result {result_id}")
        return ContextResult.model_validate_json(rows[0][0])

    async def recall(
        self, agent: str | None = None, limit: int = 20, query: str | None = None
    ) -> list[ContextResult]:
        """Earlier results, newest first, by agent name (or its numbered copies) and text."""
        sql = "SELECT data FROM results WHERE 1=1"
        params: list[Any] = []
        if agent:
            sql += " AND (agent_name = ? OR agent_name GLOB ?)"
            params += [agent, f"{agent}-[0-9]*"]
        if query:
            sql += " AND text LIKE ?"
            params.append(f"%{query}%")
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        return [
            ContextResult.model_validate_json(r[0]) for r in await self.store.fetchall(sql, params)
        ]

    # -- terminal-ish ----------------------------------------------------------

    async def send_keys(self, ref: str, keys: list[str]) -> None:
        """Raw keys for the agent's terminal; for an agent waiting in `ask`, its answer."""
        agent = self.get_agent(ref)
        if not keys:
            raise Invalid("no keys given")
        if await self._answer_pending(agent.id, keys):
            return
        await self._runtime(agent.runtime).send_keys(self._handles[agent.id], keys)

    async def logs(self, ref: str, lines: int = 200) -> list[str]:
        """The agent's recent screen (tmux) or output (api, sim)."""
        agent = self.get_agent(ref)
        screen = await self._runtime(agent.runtime).logs(self._handles[agent.id], lines)
        if screen is not None:
            return screen[-lines:]
        handle = self._handles[agent.id]
        pending = "".join(text for text, _ in handle._output)
        tail = list(self._outputs.get(agent.id, ()))
        if pending:
            tail_copy: deque[str] = deque(tail, maxlen=OUTPUT_TAIL)
            _append_lines(tail_copy, pending)
            tail = list(tail_copy)
        return [line.rstrip("\n") for line in tail[-lines:]]

    async def hook(self, ref: str, payload: dict[str, Any]) -> None:
        agent = self.get_agent(ref)
        runtime = self._runtime(agent.runtime)
        hook = getattr(runtime, "hook", None)
        if hook is None:
            raise Invalid(f"the {agent.runtime} runtime takes no hooks")
        await hook(self._handles[agent.id], payload)

    # -- views -----------------------------------------------------------------

    def snapshot(self, messages_limit: int | None = None, runs_limit: int = 500) -> Snapshot:
        messages = self.list_messages(limit=messages_limit)
        return Snapshot(
            seq=self.events.published,
            agents=self.list_agents(),
            tasks=self.list_tasks(),
            messages=messages,
            gates=self.list_gates(),
            runs=self.list_runs(limit=runs_limit),
        )

    def status(self) -> EngineStatus:
        counts: dict[str, int] = {}
        total: float = 0.0
        unpriced = 0
        for agent in self._agents.values():
            counts[agent.status] = counts.get(agent.status, 0) + 1
            if agent.cost_usd is None:
                unpriced += 1
            else:
                total += agent.cost_usd
        return EngineStatus(
            pid=os.getpid(),
            url=self.api_url,
            home=str(self.paths.home),
            version=__version__,
            started_at=self.started_at,
            seq=self.events.published,
            agents=counts,
            tasks=len(self._tasks),
            messages=len(self._messages),
            cost_usd=total,
            unpriced_agents=unpriced,
        )

    def subscribe(self, since: int = 0) -> AsyncIterator[Event]:
        return self.events.subscribe(since)

    def fleet_cost(self) -> float | None:
        total: float | None = 0.0
        for agent in self._agents.values():
            total = add_cost(total, agent.cost_usd)
        return total


def _slot(agent_id: str, slices: int) -> int:
    """A stable slice for an agent id, spreading the fleet over the ticks."""
    return sum(map(ord, agent_id)) % slices


def _append_lines(lines: deque[str], text: str) -> None:
    """Append text to a line buffer, continuing the last line if it had no newline."""
    parts = text.split("\n")
    if lines and not lines[-1].endswith("\n"):
        lines[-1] = lines[-1] + parts[0]
        parts = parts[1:]
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if last and part == "":
            break
        lines.append(part if last else part + "\n")
    # lines keep their newline so a continued line is told from a finished one


def _default_model(runtime: str) -> str | None:
    return {"api": "claude-sonnet-5-5", "sim": "claude-sonnet-5-5"}.get(runtime)
