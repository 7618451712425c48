"""The domain: agents, runs, results, tasks, messages, gates, usage, events.

Plain pydantic, no I/O. The store persists these as JSON, the server sends
them, the client parses them and the TUI shows them, so a field has one name
everywhere.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

AgentStatus = Literal["starting", "idle", "working", "waiting", "error", "stopped"]
AGENT_STATUSES: tuple[str, ...] = ("starting", "idle", "working", "waiting", "error", "stopped")
StatusSource = Literal["event", "hook", "title", "screen", "timer"]
RuntimeName = Literal["api", "tmux", "sim"]
RUNTIMES: tuple[str, ...] = ("api", "tmux", "sim")
Column = Literal["plan", "build", "review", "ship", "done"]
COLUMNS: tuple[str, ...] = ("plan", "build", "review", "ship", "done")
TaskStatus = Literal["pending", "ready", "dispatched", "completed", "failed", "blocked"]
RunStatus = Literal["queued", "running", "completed", "failed", "interrupted", "cancelled"]
MessageType = Literal[
    "status", "dispatch", "worker_done", "merge_ready", "escalation", "handoff", "decision_gate"
]
MESSAGE_TYPES: tuple[str, ...] = (
    "status",
    "dispatch",
    "worker_done",
    "merge_ready",
    "escalation",
    "handoff",
    "decision_gate",
)
Priority = Literal["normal", "high", "urgent"]
GateStatus = Literal["pending", "resolved", "timeout"]

NAME_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HUMAN = "human"
"""The sender/recipient name of the person at the keyboard."""


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the models use."""
    return datetime.now(UTC)


def check_name(name: str) -> str:
    """Refuse names that could smuggle shell or tmux syntax, in one line."""
    if not NAME_PATTERN.match(name or ""):
        raise ValueError(f"invalid name {name!r}: use 1-64 of letters, digits, '.', '_' or '-'")
    if name.startswith(("-", ".")):
        raise ValueError(f"invalid name {name!r}: must not start with '-' or '.'")
    return name


class Usage(BaseModel):
    """Tokens of one response, one run or one agent, split the way they are priced."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_write_5m_tokens=self.cache_write_5m_tokens + other.cache_write_5m_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
        )

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )

    @property
    def prompt_tokens(self) -> int:
        """What one request put into the context window (input + cache writes + reads)."""
        return (
            self.input_tokens
            + self.cache_write_5m_tokens
            + self.cache_write_1h_tokens
            + self.cache_read_tokens
        )


class AgentSpec(BaseModel):
    """What a user asks for when creating an agent (the API's request body)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    runtime: RuntimeName = "sim"
    model: str | None = None
    prompt: str = ""
    tools: list[str] = Field(default_factory=list)
    command: str | None = None
    cwd: str | None = None
    parent: str | None = None
    """Name or id of the parent agent, for spawned children."""
    config: dict[str, Any] = Field(default_factory=dict)
    """Runtime options (sim: seed, speed, fail_rate, ask_rate; api: max_turns, effort...)."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)


class Agent(BaseModel):
    """One member of the fleet, as the engine holds it."""

    id: str
    name: str
    runtime: RuntimeName
    model: str | None = None
    prompt: str = ""
    tools: list[str] = Field(default_factory=list)
    command: str | None = None
    cwd: str | None = None
    parent_id: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    status: AgentStatus = "starting"
    status_source: StatusSource = "event"
    status_at: datetime = Field(default_factory=utcnow)
    """When the status was last confirmed by its source (for `working 3s`)."""
    detail: str = ""
    """What it is doing now: last tool call, last output line, or why it stopped."""
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = 0.0
    """None means unpriced (a model missing from the price table), never $0."""
    context_tokens: int = 0
    context_window: int | None = None
    restarts: int = 0
    runs: int = 0
    current_run_id: int | None = None
    stalled: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def context_fraction(self) -> float | None:
        if not self.context_window:
            return None
        return min(1.0, self.context_tokens / self.context_window)


class RunRequest(BaseModel):
    """A command for an agent (the API's request body for `agent send`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt: str = Field(min_length=1)
    context_ids: list[int] = Field(default_factory=list)
    """Earlier ContextResults whose text is given to the agent with their origin."""
    output_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    """A JSON schema the result's `data` must satisfy."""
    task_id: int | None = None


class Run(BaseModel):
    """One command given to an agent, and what came of it."""

    model_config = ConfigDict(populate_by_name=True)

    id: int
    agent_id: str
    agent_name: str
    prompt: str
    context_ids: list[int] = Field(default_factory=list)
    output_schema: dict[str, Any] | None = None
    task_id: int | None = None
    status: RunStatus = "queued"
    result_id: int | None = None
    text: str = ""
    data: dict[str, Any] | None = None
    error: str | None = None
    stop_reason: str | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = 0.0
    model: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status in ("completed", "failed", "interrupted", "cancelled")


class ContextResult(BaseModel):
    """A run's result, kept so later runs and `recall()` can use it."""

    id: int
    run_id: int
    agent_id: str
    agent_name: str
    prompt: str = ""
    text: str
    summary: str
    data: dict[str, Any] = Field(default_factory=dict)
    file: str | None = None
    created_at: datetime = Field(default_factory=utcnow)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


class TaskSpec(BaseModel):
    """A new task (the API's request body for `task add`)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    spec: str = ""
    column: Column = "plan"
    deps: list[int] = Field(default_factory=list)
    assignee: str | None = None


class Task(BaseModel):
    """A card on the board, a node in the task DAG."""

    id: int
    title: str
    spec: str = ""
    column: Column = "plan"
    status: TaskStatus = "pending"
    deps: list[int] = Field(default_factory=list)
    assignee: str | None = None
    """Agent name."""
    attempts: int = 0
    result: str | None = None
    cost_usd: float | None = 0.0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class MessageSpec(BaseModel):
    """A new message (the API's request body for `msg send`)."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1)
    """An agent name, `human`, or a group: `@all`, `@idle`, `@<runtime>`."""
    subject: str = Field(min_length=1, max_length=300)
    body: str = ""
    type: MessageType = "status"
    priority: Priority = "normal"
    sender: str = HUMAN
    payload: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    """Mail between the human and agents, threaded."""

    id: int
    thread_id: int
    sender: str
    recipient: str
    members: list[str] = Field(default_factory=list)
    """The agents a group recipient resolved to when it was sent."""
    type: MessageType = "status"
    priority: Priority = "normal"
    subject: str
    body: str = ""
    payload: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    read_at: datetime | None = None
    delivered_at: datetime | None = None

    @property
    def unread(self) -> bool:
        return self.read_at is None


class Gate(BaseModel):
    """A human decision that blocks work: a question with options."""

    id: int
    agent_id: str | None = None
    agent_name: str | None = None
    task_id: int | None = None
    run_id: int | None = None
    question: str
    options: list[str] = Field(default_factory=list)
    status: GateStatus = "pending"
    resolution: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    resolved_at: datetime | None = None


class Event(BaseModel):
    """One change, in order. `seq` is monotonic; clients resume from it.

    `kind` is `<entity>.<verb>` (agent.created, agent.updated, agent.deleted,
    agent.output, run.updated, task.updated, task.deleted, message.created,
    message.updated, gate.updated, result.created, engine.started). For
    created/updated events `data` holds the whole entity; for deleted, its id;
    for agent.output, ``{"text": ..., "stream": "text"|"tool"|"status"}``.
    """

    seq: int
    ts: datetime
    kind: str
    entity_id: str
    data: dict[str, Any] = Field(default_factory=dict)

    _line: bytes | None = PrivateAttr(default=None)
    """The event as one NDJSON line, made once by the engine for every stream."""

    def ndjson(self) -> bytes:
        """This event as one line of the event stream."""
        if self._line is None:
            self._line = self.model_dump_json().encode() + b"\n"
        return self._line


class EngineStatus(BaseModel):
    """What `fleetview status` shows."""

    pid: int
    url: str
    home: str
    version: str
    started_at: datetime
    seq: int
    agents: dict[str, int]
    tasks: int
    messages: int
    cost_usd: float
    unpriced_agents: int


class Snapshot(BaseModel):
    """Everything a client needs to draw the fleet, as of event `seq`."""

    seq: int
    agents: list[Agent]
    tasks: list[Task]
    messages: list[Message]
    gates: list[Gate]
    runs: list[Run] = Field(default_factory=list)
