"""The one protocol every runtime (api, tmux, sim) implements.

The engine never special-cases a runtime. It calls `start` when an agent is
created or re-adopted, `execute` once per queued run (runs of one agent are
executed one at a time, in order), and `stop`/`delete` when asked. A runtime
reports everything it sees through the `AgentHandle` it is given: output,
tool calls, status, usage. The handle coalesces and persists; the runtime
never touches the store or the event log itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fleetview.models import Agent, AgentStatus, ContextResult, Run, StatusSource, Usage


@dataclass
class RunOutcome:
    """What one executed run produced.

    `status` is `completed` or `failed` (the engine marks cancelled and
    interrupted runs itself). `stop_reason` carries the model's reason where
    there is one (`end_turn`, `max_tokens` — reported as truncation — ...).
    """

    status: str = "completed"
    text: str = ""
    data: dict[str, Any] | None = None
    error: str | None = None
    stop_reason: str | None = None


@dataclass
class RunInput:
    """A run as a runtime receives it: the prompt, the context it was given."""

    run: Run
    context: list[ContextResult] = field(default_factory=list)

    @property
    def full_prompt(self) -> str:
        """The prompt with each context result's text and origin before it."""
        if not self.context:
            return self.run.prompt
        parts = []
        for result in self.context:
            parts.append(
                f'<context from="{result.agent_name}" result="{result.id}">\n'
                f"{result.text}\n</context>"
            )
        parts.append(self.run.prompt)
        return "\n\n".join(parts)


class AgentHandle(Protocol):
    """The engine as one agent's runtime sees it."""

    @property
    def agent(self) -> Agent:
        """The agent's current record (read-only; change it through the methods)."""

    @property
    def home(self) -> Path:
        """FLEETVIEW_HOME, for files the runtime keeps (settings, transcripts)."""

    @property
    def api_url(self) -> str:
        """The engine's URL, for the agent's environment (FLEETVIEW_API_URL)."""

    def output(self, text: str, stream: str = "text") -> None:
        """Append agent output (coalesced before it reaches the event stream).

        `stream` is `text` for the agent's words, `tool` for a tool call line,
        `status` for fleetview's own notes. The text may contain anything the
        agent printed; clients sanitise it before display.
        """

    def set_status(
        self, status: AgentStatus, source: StatusSource = "event", detail: str | None = None
    ) -> None:
        """Record a status with where it came from; a repeat only refreshes its age."""

    def set_detail(self, detail: str) -> None:
        """What the agent is doing now (last tool call, retry note, ...)."""

    def note_restart(self, why: str) -> None:
        """The runtime restarted the agent by itself (counted in `restarts`)."""

    def set_stalled(self, stalled: bool, detail: str | None = None) -> None:
        """Flag (or clear) a working agent that shows no sign of life."""

    def add_usage(self, usage: Usage, model: str | None = None) -> None:
        """Add one response's tokens to the current run and the agent, priced by model."""

    def set_context(self, tokens: int, window: int | None = None) -> None:
        """The last request's prompt size (input + cache writes + reads)."""

    def set_cost(self, cost_usd: float | None) -> None:
        """For runtimes that only know a running total (a CLI's statusLine)."""

    def update_config(self, **values: Any) -> None:
        """Persist runtime state in the agent's config (session ids, offsets)."""

    async def ask(self, question: str, options: list[str]) -> str:
        """Stop for a human: the agent goes `waiting`, a gate and a message are
        created, and this returns the chosen option (or typed reply)."""

    def message(
        self, subject: str, body: str = "", type: str = "status", priority: str = "normal"
    ) -> None:
        """Post a message from this agent to the human's inbox."""

    def state(self) -> dict[str, Any]:
        """The runtime's private, persisted per-agent state (e.g. a conversation)."""

    async def save_state(self, state: dict[str, Any]) -> None:
        """Persist the runtime's private state (awaited: it survives a kill -9)."""


class Runtime(Protocol):
    """A way to run agents. One instance serves every agent of its kind."""

    name: str

    async def start(self, handle: AgentHandle) -> None:
        """Bring the agent up (or re-adopt it after a daemon restart); set its status."""

    async def execute(self, handle: AgentHandle, job: RunInput) -> RunOutcome:
        """Carry out one run. Cancellation (stop/delete) arrives as CancelledError."""

    async def send_keys(self, handle: AgentHandle, keys: list[str]) -> None:
        """Raw keys for the agent's terminal (tmux); others raise Invalid."""

    async def logs(self, handle: AgentHandle, lines: int) -> list[str] | None:
        """The agent's recent screen, if the runtime has one; None to use the output log."""

    async def stop(self, handle: AgentHandle) -> None:
        """Stop the agent's process or session; its record stays."""

    async def delete(self, handle: AgentHandle) -> None:
        """Remove everything the runtime made for the agent."""

    async def hook(self, handle: AgentHandle, payload: dict[str, Any]) -> None:
        """A report from the agent's own hooks (POST /v1/agents/{ref}/hook)."""

    async def reconcile(self, known_ids: set[str]) -> list[str]:
        """Optional: after every agent was started, remove what belongs to no agent."""

    async def close(self) -> None:
        """The engine is shutting down: release shared resources, leave agents running."""
