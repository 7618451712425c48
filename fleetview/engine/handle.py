"""The AgentHandle the engine gives each runtime: the only way a runtime
changes an agent. Changes are coalesced and written by the engine's flusher,
so a chatty agent costs one event per tick, not one per token."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetview.engine.costs import add_cost
from fleetview.models import Agent, Usage, utcnow

if TYPE_CHECKING:
    from fleetview.engine.core import Engine
    from fleetview.models import AgentStatus, StatusSource

OUTPUT_TAIL = 400
"""Lines of output each agent keeps in memory for `logs` and the detail view."""


class EngineHandle:
    """One agent as its runtime sees it (implements runtimes.base.AgentHandle)."""

    def __init__(self, engine: Engine, agent_id: str) -> None:
        self._engine = engine
        self.agent_id = agent_id
        self._output: list[tuple[str, str]] = []
        self._state: dict[str, Any] | None = None
        self._line = ""
        self.closed = False

    @property
    def agent(self) -> Agent:
        return self._engine._agents[self.agent_id]

    @property
    def home(self) -> Path:
        return self._engine.paths.home

    @property
    def paths(self):
        return self._engine.paths

    @property
    def api_url(self) -> str:
        return self._engine.api_url

    def _touch(self) -> None:
        if not self.closed:
            self._engine._dirty_agents.add(self.agent_id)

    def output(self, text: str, stream: str = "text") -> None:
        if self.closed or not text:
            return
        if self._output and self._output[-1][1] == stream:
            self._output[-1] = (self._output[-1][0] + text, stream)
        else:
            self._output.append((text, stream))
        self._engine._dirty_output.add(self.agent_id)
        if stream in ("text", "tool"):
            agent = self.agent
            if agent.status == "working" and agent.status_source == "event":
                agent.status_at = utcnow()  # output confirms the agent is at work
            # the detail is the last *finished* line: a half-streamed word says nothing
            self._line += text
            if "\n" in self._line:
                finished, self._line = self._line.rsplit("\n", 1)
                lines = [line.strip() for line in finished.splitlines() if line.strip()]
                if lines:
                    agent.detail = lines[-1][:200]
            self._touch()

    def take_output(self) -> list[tuple[str, str]]:
        out, self._output = self._output, []
        return out

    def set_status(
        self, status: AgentStatus, source: StatusSource = "event", detail: str | None = None
    ) -> None:
        agent = self.agent
        if agent.status != status or agent.status_source != source:
            self._engine._urgent_agents.add(self.agent_id)
        agent.status = status
        agent.status_source = source
        agent.status_at = utcnow()
        if detail is not None:
            agent.detail = detail[:200]
        if status != "working":
            agent.stalled = False
        self._touch()

    def note_restart(self, why: str) -> None:
        """The runtime restarted the agent by itself (a supervisor's respawn)."""
        self.agent.restarts += 1
        self.agent.detail = why[:200]
        self._touch()

    def set_stalled(self, stalled: bool, detail: str | None = None) -> None:
        """Working, but no sign of life for too long (or alive again)."""
        self.agent.stalled = stalled
        if detail is not None:
            self.agent.detail = detail[:200]
        self._touch()

    def set_detail(self, detail: str) -> None:
        self.agent.detail = detail[:200]
        self._touch()

    def add_usage(self, usage: Usage, model: str | None = None) -> None:
        agent = self.agent
        model = model or agent.model
        cost = self._engine.prices.cost(model, usage)
        agent.usage = agent.usage + usage
        agent.cost_usd = add_cost(agent.cost_usd, cost)
        run = self._engine._current_run(self.agent_id)
        if run is not None:
            run.usage = run.usage + usage
            run.cost_usd = add_cost(run.cost_usd, cost)
            run.model = model
            self._engine._dirty_runs.add(run.id)
        if agent.context_window is None:
            agent.context_window = self._engine.prices.context_window(model)
        self._touch()

    def set_context(self, tokens: int, window: int | None = None) -> None:
        agent = self.agent
        agent.context_tokens = tokens
        if window:
            agent.context_window = window
        elif agent.context_window is None:
            agent.context_window = self._engine.prices.context_window(agent.model)
        self._touch()

    def set_cost(self, cost_usd: float | None) -> None:
        self.agent.cost_usd = cost_usd
        self._touch()

    def update_config(self, **values: Any) -> None:
        self.agent.config.update(values)
        self._touch()

    async def ask(self, question: str, options: list[str]) -> str:
        return await self._engine._ask(self.agent_id, question, options)

    def message(
        self, subject: str, body: str = "", type: str = "status", priority: str = "normal"
    ) -> None:
        asyncio.get_running_loop().create_task(
            self._engine._agent_message(self.agent_id, subject, body, type, priority)
        )

    def state(self) -> dict[str, Any]:
        return dict(self._state or {})

    async def save_state(self, state: dict[str, Any]) -> None:
        self._state = dict(state)
        await self._engine._save_state(self.agent_id, self._state)

    def load_state(self, state: dict[str, Any] | None) -> None:
        self._state = state
