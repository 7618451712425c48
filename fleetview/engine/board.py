"""Tasks: the board's cards and the DAG beneath them.

A task is `ready` when every dependency is completed, `blocked` while any
is not. An assigned, ready task that has not been tried yet is dispatched
to its agent as a run; the run's end completes or fails the task, and its
cost rolls up onto the card. Moving a card to `done` completes it; moving a
finished card to another column opens it again for that stage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetview.engine.costs import add_cost
from fleetview.errors import Conflict, Invalid, NotFound
from fleetview.models import COLUMNS, RunRequest, Task, TaskSpec, utcnow
from fleetview.store import StoreError

if TYPE_CHECKING:
    from fleetview.engine.core import Engine


class BoardMixin:
    """Task operations of the Engine."""

    def list_tasks(self: Engine) -> list[Task]:
        return sorted(self._tasks.values(), key=lambda t: t.id)

    def get_task(self: Engine, task_id: int) -> Task:
        task = self._tasks.get(int(task_id))
        if task is None:
            raise NotFound(f"unknown task {task_id}")
        return task

    async def add_task(self: Engine, spec: TaskSpec) -> Task:
        for dep in spec.deps:
            self.get_task(dep)
        assignee = self.get_agent(spec.assignee).name if spec.assignee else None
        task = Task(
            id=self._alloc("tasks"),
            title=spec.title,
            spec=spec.spec,
            column=spec.column,
            deps=sorted(set(spec.deps)),
            assignee=assignee,
        )
        self._tasks[task.id] = task
        changed = self._recompute_tasks()
        try:
            await self._save_tasks(task, *changed)
        except StoreError:  # not saved: not on the board either
            del self._tasks[task.id]
            raise
        await self._dispatch_ready()
        return task

    async def move_task(self: Engine, task_id: int, column: str) -> Task:
        task = self.get_task(task_id)
        if column not in COLUMNS:
            raise Invalid(f"unknown column {column!r}: use {', '.join(COLUMNS)}")
        if column == task.column:
            return task
        task.column = column  # type: ignore[assignment]
        if column == "done":
            task.status = "completed"
        elif task.status in ("completed", "failed"):
            task.status = "pending"  # a new stage: recomputed to ready or blocked below
        changed = self._recompute_tasks()
        await self._save_tasks(task, *changed)
        await self._dispatch_ready()
        return task

    async def assign_task(self: Engine, task_id: int, agent_ref: str | None) -> Task:
        task = self.get_task(task_id)
        task.assignee = self.get_agent(agent_ref).name if agent_ref else None
        if task.status in ("completed", "failed") and task.column != "done":
            task.status = "pending"
            task.attempts = 0
        changed = self._recompute_tasks()
        await self._save_tasks(task, *changed)
        await self._dispatch_ready()
        return task

    async def add_dep(self: Engine, task_id: int, dep_id: int) -> Task:
        task = self.get_task(task_id)
        dep = self.get_task(dep_id)
        if dep.id == task.id:
            raise Conflict(f"task {task.id} cannot depend on itself")
        path = self._dep_path(dep.id, task.id)
        if path is not None:
            cycle = " -> ".join(str(i) for i in [task.id, *path])
            raise Conflict(f"dependency cycle: {cycle}")
        if dep.id not in task.deps:
            task.deps = sorted([*task.deps, dep.id])
        changed = self._recompute_tasks()
        await self._save_tasks(task, *changed)
        return task

    async def remove_dep(self: Engine, task_id: int, dep_id: int) -> Task:
        task = self.get_task(task_id)
        if dep_id not in task.deps:
            raise NotFound(f"task {task_id} does not depend on {dep_id}")
        task.deps = [d for d in task.deps if d != dep_id]
        changed = self._recompute_tasks()
        await self._save_tasks(task, *changed)
        await self._dispatch_ready()
        return task

    async def remove_task(self: Engine, task_id: int) -> None:
        task = self.get_task(task_id)
        del self._tasks[task.id]
        dependents = [t for t in self._tasks.values() if task.id in t.deps]
        for other in dependents:
            other.deps = [d for d in other.deps if d != task.id]
        changed = self._recompute_tasks()
        statements = [("DELETE FROM tasks WHERE id = ?", (task.id,))]
        events = [self.events.make("task.deleted", task.id, {"id": task.id})]
        for other in {t.id: t for t in [*dependents, *changed]}.values():
            rows, evs = self._changed("task.updated", other)
            statements += rows
            events += evs
        await self._commit(statements, events)
        await self._dispatch_ready()

    # -- internals -------------------------------------------------------------

    def _dep_path(self: Engine, start: int, goal: int) -> list[int] | None:
        """A path start -> ... -> goal along dependencies, if one exists."""
        stack: list[tuple[int, list[int]]] = [(start, [start])]
        seen: set[int] = set()
        while stack:
            node, path = stack.pop()
            if node == goal:
                return path
            if node in seen:
                continue
            seen.add(node)
            task = self._tasks.get(node)
            for dep in task.deps if task else []:
                stack.append((dep, [*path, dep]))
        return None

    def _recompute_tasks(self: Engine) -> list[Task]:
        """Set ready/blocked from the DAG; returns the tasks whose status changed."""
        changed: list[Task] = []
        for task in self._tasks.values():
            if task.status in ("completed", "dispatched", "failed"):
                continue
            deps_done = all(
                (dep := self._tasks.get(d)) is None or dep.status == "completed" for d in task.deps
            )
            status = "ready" if deps_done else "blocked"
            if task.status != status:
                task.status = status  # type: ignore[assignment]
                changed.append(task)
        return changed

    async def _save_tasks(self: Engine, *tasks: Task) -> None:
        unique = list({t.id: t for t in tasks}.values())
        for task in unique:
            task.updated_at = utcnow()
        await self._save("task.updated", *unique)

    async def _dispatch_ready(self: Engine) -> None:
        """Send each assigned, ready, untried task to its agent."""
        for task in self.list_tasks():
            if task.status != "ready" or not task.assignee or task.attempts > 0:
                continue
            if task.column == "done":
                continue
            agent_id = self._by_name.get(task.assignee)
            agent = self._agents.get(agent_id) if agent_id else None
            if agent is None or agent.status in ("stopped", "error"):
                continue
            task.attempts += 1
            task.status = "dispatched"
            await self._save_tasks(task)
            prompt = f"Task #{task.id} ({task.column}): {task.title}"
            if task.spec:
                prompt += f"\n\n{task.spec}"
            await self.send(agent.name, RunRequest(prompt=prompt, task_id=task.id))

    async def _task_dispatched(self: Engine, run) -> None:
        task = self._tasks.get(run.task_id)
        if task is not None and task.status != "dispatched":
            task.status = "dispatched"
            await self._save_tasks(task)

    async def _task_run_finished(self: Engine, run) -> None:
        task = self._tasks.get(run.task_id)
        if task is None:
            return
        cost: float | None = 0.0
        for other in self._runs.values():
            if other.task_id == task.id:
                cost = add_cost(cost, other.cost_usd)
        task.cost_usd = cost
        if run.status == "completed":
            task.status = "completed"
            result = run.text.strip().splitlines()[0] if run.text.strip() else ""
            task.result = result[:200]
        elif run.status in ("failed", "interrupted", "cancelled"):
            task.status = "failed"
            task.result = run.error
        changed = self._recompute_tasks()
        await self._save_tasks(task, *changed)
        await self._dispatch_ready()
