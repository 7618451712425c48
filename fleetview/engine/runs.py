"""Runs: a command queued for an agent, executed by its runtime, and its result.

Runs of one agent execute one at a time, in order, in the agent's worker
task. A run's end (its output, usage, state and result) is committed in one
transaction; whoever waits for it is woken once that is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetview.errors import Conflict, FleetError, NotFound
from fleetview.models import ContextResult, Run, RunRequest, utcnow
from fleetview.runtimes.base import RunInput, RunOutcome

if TYPE_CHECKING:
    from fleetview.engine.core import Engine

log = logging.getLogger("fleetview.engine")


def summarize(text: str, limit: int = 120) -> str:
    """One line for a result: its first non-empty line, shortened."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return "(no output)"


class RunsMixin:
    """Run operations of the Engine."""

    async def send(self: Engine, ref: str, request: RunRequest) -> Run:
        """Queue a command for an agent; runs of one agent go one at a time, in order."""
        agent = self.get_agent(ref)
        if agent.status == "stopped":
            raise Conflict(f"agent {agent.name!r} is stopped: restart it first")
        for result_id in request.context_ids:
            await self._load_result(result_id)
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

    async def cancel_run(self: Engine, run_id: int) -> Run:
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

    def get_run(self: Engine, run_id: int) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFound(f"unknown run {run_id}")
        return run

    def list_runs(self: Engine, agent_ref: str | None = None, limit: int = 50) -> list[Run]:
        runs = list(self._runs.values())
        if agent_ref is not None:
            agent_id = self.get_agent(agent_ref).id
            runs = [r for r in runs if r.agent_id == agent_id]
        return sorted(runs, key=lambda r: r.id, reverse=True)[:limit]

    async def wait_run(self: Engine, run_id: int, timeout: float) -> Run:
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

    def _current_run(self: Engine, agent_id: str) -> Run | None:
        agent = self._agents.get(agent_id)
        if agent is None or agent.current_run_id is None:
            return None
        return self._runs.get(agent.current_run_id)

    def _finish_run(self: Engine, run: Run, status: str, error: str | None = None) -> None:
        run.status = status  # type: ignore[assignment]
        run.error = error if error is not None else run.error
        run.finished_at = utcnow()

    def _notify_done(self: Engine, *runs: Run) -> None:
        """Wake `wait_run` callers; called once the run's end is committed."""
        for run in runs:
            event = self._run_done.pop(run.id, None)
            if event is not None:
                event.set()

    async def _worker(self: Engine, agent_id: str) -> None:
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

    async def _execute(self: Engine, agent_id: str, run: Run) -> None:
        agent = self._agents[agent_id]
        handle = self._handles[agent_id]
        runtime = self._runtime(agent.runtime)
        context = [await self._load_result(i) for i in run.context_ids]
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

    async def _record_outcome(self: Engine, agent_id: str, run: Run, outcome: RunOutcome) -> None:
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
            # its markdown copy is written when the result is first handed out
            result.file = str(self.paths.context / f"{result.id}.md")
            run.result_id = result.id
        # no await from here to the commit: events must be committed in seq order
        pending, pending_events = self._collect(only=agent_id)  # its output and usage first
        self._finish_run(run, status, outcome.error)
        statements, events = self._changed("run.updated", run)
        statements, events = pending + statements, pending_events + events
        if result is not None:
            result_raw = result.model_dump_json()
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
        saved = self._submit(statements, events)
        saved.add_done_callback(lambda f: (f.cancelled() or f.exception(), self._notify_done(run)))
        if run.task_id is not None:
            self._spawn(self._after_task_run(saved, run))

    async def _after_task_run(self: Engine, saved: asyncio.Future[None], run: Run) -> None:
        with contextlib.suppress(FleetError):
            await saved
        await self._task_run_finished(run)

    @staticmethod
    def _result_markdown(result: ContextResult) -> str:
        """The text of a result's markdown copy."""
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
        return "\n".join(lines) + "\n"

    async def _handed_out(self: Engine, results: list[ContextResult]) -> list[ContextResult]:
        """`results`, each with its markdown copy on disk (written on first hand-out).

        Not every run's result is read as a file, and creating a file costs more
        than the rest of a run's bookkeeping together (0.5-0.8 ms of CPU on
        the benchmark box), so the copy is made when a client is given it.
        """
        missing = [r for r in results if r.file and not Path(r.file).exists()]
        if missing:
            await asyncio.to_thread(
                _write_copies, [(Path(r.file or ""), self._result_markdown(r)) for r in missing]
            )
        return results

    async def get_result(self: Engine, result_id: int) -> ContextResult:
        """A result, for a client (its markdown copy is on disk)."""
        [result] = await self._handed_out([await self._load_result(result_id)])
        return result

    async def _load_result(self: Engine, result_id: int) -> ContextResult:
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
        rows = await self.store.fetchall(sql, params)
        return await self._handed_out([ContextResult.model_validate_json(r[0]) for r in rows])


def _write_copies(files: list[tuple[Path, str]]) -> None:
    """Write results' markdown copies (in a thread); a failure is logged, not raised."""
    for path, text in files:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as exc:  # a copy beside the database: log, do not fail
            log.warning("could not write %s: %s", path, exc)
