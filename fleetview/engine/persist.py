"""Persistence of the engine: rows, events, one transaction per change, and the
flusher that coalesces what runtimes report (output, status, usage).

Every event is submitted to the store before the next await after it is made,
so the store commits events in seq order (subscribers rely on it).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from fleetview.engine.handle import OUTPUT_TAIL
from fleetview.models import Agent, Event, Gate, Message, Run, Task, utcnow
from fleetview.store import Statement

if TYPE_CHECKING:
    from fleetview.engine.core import Engine

log = logging.getLogger("fleetview.engine")

FLUSH_INTERVAL = 0.1
"""Seconds between flushes of coalesced runtime output and status changes."""
DETAIL_INTERVAL = 0.5
"""Seconds between flushes of an agent's or run's other changes (usage, detail)."""


def _dump(model: Any) -> str:
    return model.model_dump_json()


def _slot(agent_id: str, slices: int) -> int:
    """A stable slice for an agent id, spreading the fleet over the ticks."""
    return sum(map(ord, agent_id)) % slices


def append_lines(lines: deque[str], text: str) -> None:
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


class PersistMixin:
    """Rows, events and the flusher of the Engine."""

    def _alloc(self: Engine, table: str) -> int:
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

    def _submit(self, statements: list[Statement], events: list[Event]) -> asyncio.Future[None]:
        """Queue rows and events for one transaction (events publish after it)."""
        all_rows = statements + self.events.rows(events)
        return self.store.submit(all_rows, after_commit=lambda: self.events.publish(events))

    async def _commit(self, statements: list[Statement], events: list[Event]) -> None:
        """Write rows and events in one transaction and wait until it is committed."""
        await self._submit(statements, events)

    def _changed(self: Engine, kind: str, entity: Any) -> tuple[list[Statement], list[Event]]:
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

    async def _save(self: Engine, kind: str, *entities: Any) -> None:
        statements: list[Statement] = []
        events: list[Event] = []
        for entity in entities:
            rows, evs = self._changed(kind, entity)
            statements += rows
            events += evs
        await self._commit(statements, events)

    async def _save_state(self: Engine, agent_id: str, state: dict[str, Any]) -> None:
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

    async def _load_output_tails(self: Engine) -> dict[str, deque[str]]:
        tails: dict[str, deque[str]] = {}
        for agent_id in self._agents:
            rows = await self.store.fetchall(
                "SELECT data FROM events WHERE entity_id = ? AND kind = 'agent.output' "
                "ORDER BY seq DESC LIMIT 200",
                (agent_id,),
            )
            lines: deque[str] = deque(maxlen=OUTPUT_TAIL)
            for (data,) in reversed(rows):
                append_lines(lines, json.loads(data).get("text", ""))
            tails[agent_id] = lines
        return tails

    # -- the flusher ---------------------------------------------------------

    async def _flush_loop(self: Engine) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            try:
                await self._flush()
            except Exception:
                log.exception("flush failed")

    async def _flush(self: Engine, everything: bool = False) -> None:
        """Write the coalesced changes runtimes reported since the last tick."""
        statements, events = self._collect(everything)
        if statements or events:
            await self._commit(statements, events)

    def _commit_soon(self: Engine, statements: list[Statement], events: list[Event]) -> None:
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
                append_lines(self._outputs.setdefault(agent_id, deque(maxlen=OUTPUT_TAIL)), text)
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
