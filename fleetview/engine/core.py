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
from fleetview.engine.persist import PersistMixin, append_lines
from fleetview.engine.runs import RunsMixin
from fleetview.errors import Conflict, FleetError, Invalid, NotFound
from fleetview.models import (
    Agent,
    AgentSpec,
    EngineStatus,
    Event,
    Gate,
    Message,
    Run,
    Snapshot,
    Task,
    utcnow,
)
from fleetview.paths import FleetPaths
from fleetview.runtimes import load_runtime
from fleetview.runtimes.base import RunOutcome
from fleetview.store import Statement, Store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fleetview.runtimes.base import Runtime

log = logging.getLogger("fleetview.engine")


class Engine(PersistMixin, RunsMixin, BoardMixin, MailMixin):
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
            append_lines(tail_copy, pending)
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


def _default_model(runtime: str) -> str | None:
    return {"api": "claude-sonnet-5-5", "sim": "claude-sonnet-5-5"}.get(runtime)
