"""The fleet as the TUI knows it: a snapshot plus every event applied since.

Pure Python (no textual): the bridge worker feeds events in, the views read
derived lists out, and `take_dirty()` tells the repaint tick which views have
anything new, so an idle fleet costs no repaint at all.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fleetview.models import HUMAN, Agent, Event, Gate, Message, Run, Snapshot, Task
from fleetview.sanitize import sanitize

OUTPUT_LINES = 500
"""Lines of output kept per agent (the detail view's log keeps its own cap)."""
TOOL_LINES = 100
RUNS_KEPT = 5_000
COST_WINDOW = 600.0
"""Seconds of cost history behind `cost/hour`."""

Clock = Callable[[], datetime]

VIEWS = ("agents", "board", "inbox", "meters")


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class AgentOutput:
    """Finished output lines of one agent (sanitised), plus the line being written."""

    lines: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_LINES))
    tools: deque[str] = field(default_factory=lambda: deque(maxlen=TOOL_LINES))
    partial: str = ""
    partial_stream: str = "text"
    total: int = 0
    """How many lines were ever finished: a view remembers how many it has shown."""
    tools_total: int = 0

    def add(self, text: str, stream: str) -> None:
        text = sanitize(text.replace("\r\n", "\n"))
        if self.partial and stream != self.partial_stream:
            # a sentence left open by the model ends where a tool call starts
            self._finish(self.partial, self.partial_stream)
            self.partial = ""
        parts = (self.partial + text).split("\n")
        self.partial = parts.pop()
        self.partial_stream = stream
        for line in parts:
            self._finish(line, stream)

    def _finish(self, line: str, stream: str) -> None:
        self.lines.append(line)
        self.total += 1
        if stream == "tool":
            self.tools.append(line)
            self.tools_total += 1

    def tools_since(self, seen: int) -> list[str]:
        """Tool lines finished after the first `seen`."""
        new = self.tools_total - seen
        if new <= 0:
            return []
        kept = list(self.tools)
        return kept[-min(new, len(kept)) :]

    def since(self, seen: int) -> list[str]:
        """Lines finished after the first `seen` (as many as are still kept)."""
        new = self.total - seen
        if new <= 0:
            return []
        kept = list(self.lines)
        return kept[-min(new, len(kept)) :]


@dataclass
class NeedsYou:
    """One row of the inbox's "needs you" section: a waiting agent or an open gate."""

    kind: str  # "gate" | "agent"
    ref: str
    who: str
    text: str
    options: list[str] = field(default_factory=list)


class FleetState:
    """Agents, tasks, messages, gates and runs, kept current by `apply`."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.seq = 0
        self.agents: dict[str, Agent] = {}
        self.tasks: dict[int, Task] = {}
        self.messages: dict[int, Message] = {}
        self.gates: dict[int, Gate] = {}
        self.runs: dict[int, Run] = {}
        self.outputs: dict[str, AgentOutput] = {}
        self.cost_samples: deque[tuple[float, float]] = deque()
        self.dirty: set[str] = set()
        self.changed_agents: set[str] = set()
        self._unread: tuple[int, int] = (-1, 0)
        self._inbox: tuple[tuple[int, int], list[Message]] = ((-1, -1), [])
        """Agents updated since the agents view last drew them."""
        self.structure_version = 0
        """Bumped when agents are added or removed (the agents table reorders)."""

    # ---- input ----------------------------------------------------------------

    def load(self, snapshot: Snapshot) -> None:
        """Replace everything with a snapshot (the start, or a full resync)."""
        self.seq = snapshot.seq
        self.agents = {a.id: a for a in snapshot.agents}
        self.tasks = {t.id: t for t in snapshot.tasks}
        self.messages = {m.id: m for m in snapshot.messages}
        self.gates = {g.id: g for g in snapshot.gates}
        self.runs = {r.id: r for r in snapshot.runs}
        self._unread = (-1, 0)
        self._inbox = ((-1, -1), [])
        self.structure_version += 1
        self._sample_cost(self.clock().timestamp())
        self.dirty |= {*VIEWS, "detail"}

    def apply_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.apply(event)

    def apply(self, event: Event) -> None:
        """Fold one event in; events at or below the current seq are ignored."""
        if event.seq <= self.seq:
            return
        self.seq = event.seq
        kind, data = event.kind, event.data
        if kind in ("agent.created", "agent.updated"):
            agent = Agent.model_validate(data)
            old = self.agents.get(agent.id)
            self.agents[agent.id] = agent
            self.changed_agents.add(agent.id)
            if old is None or old.parent_id != agent.parent_id:
                self.structure_version += 1
            if old is None or old.cost_usd != agent.cost_usd:
                self._sample_cost(event.ts.timestamp())
            self.dirty |= {"agents", "meters", "detail"}
            if old is None or old.status != agent.status:
                self.dirty.add("inbox")
        elif kind == "agent.deleted":
            self.agents.pop(event.entity_id, None)
            self.outputs.pop(event.entity_id, None)
            self.structure_version += 1
            self.dirty |= {"agents", "meters", "inbox", "detail"}
        elif kind == "agent.output":
            out = self.outputs.setdefault(event.entity_id, AgentOutput())
            out.add(str(data.get("text", "")), str(data.get("stream", "text")))
            self.dirty.add("output")
        elif kind == "run.updated":
            run = Run.model_validate(data)
            self.runs[run.id] = run
            if len(self.runs) > RUNS_KEPT:
                for run_id in sorted(self.runs)[: len(self.runs) - RUNS_KEPT]:
                    del self.runs[run_id]
            self.dirty.add("detail")
        elif kind == "task.updated":
            task = Task.model_validate(data)
            self.tasks[task.id] = task
            self.dirty |= {"board", "meters"}
        elif kind == "task.deleted":
            self.tasks.pop(_int(event.entity_id), None)
            self.dirty |= {"board", "meters"}
        elif kind in ("message.created", "message.updated"):
            message = Message.model_validate(data)
            self.messages[message.id] = message
            self.dirty |= {"inbox", "meters"}
        elif kind == "message.deleted":
            self.messages.pop(_int(event.entity_id), None)
            self.dirty |= {"inbox", "meters"}
        elif kind == "gate.updated":
            gate = Gate.model_validate(data)
            self.gates[gate.id] = gate
            self.dirty |= {"inbox", "meters"}

    def add_missing_messages(self, messages: Iterable[Message]) -> None:
        """Older messages fetched after the first snapshot; what events brought stays."""
        added = False
        for message in messages:
            if message.id not in self.messages:
                self.messages[message.id] = message
                added = True
        if added:
            self._unread = (-1, 0)
            self._inbox = ((-1, -1), [])
            self.dirty |= {"inbox", "meters"}

    def take_dirty(self, views: Iterable[str]) -> set[str]:
        """Which of `views` changed since they were last taken (and forget them)."""
        taken = self.dirty.intersection(views)
        self.dirty -= taken
        return taken

    def _sample_cost(self, ts: float) -> None:
        total = self.total_cost()[0]
        samples = self.cost_samples
        if samples and ts - samples[-1][0] < 1.0:
            samples[-1] = (samples[-1][0], total)
        else:
            samples.append((ts, total))
        while len(samples) > 2 and samples[1][0] < ts - COST_WINDOW - 60:
            samples.popleft()

    # ---- derived ----------------------------------------------------------------

    def agent_tree(self) -> list[tuple[Agent, int]]:
        """Agents in creation order, each child right under its parent, with its depth."""
        children: dict[str | None, list[Agent]] = {}
        for agent in sorted(self.agents.values(), key=lambda a: (a.created_at, a.name)):
            parent = agent.parent_id if agent.parent_id in self.agents else None
            children.setdefault(parent, []).append(agent)
        ordered: list[tuple[Agent, int]] = []

        def walk(parent: str | None, depth: int) -> None:
            for agent in children.get(parent, []):
                ordered.append((agent, depth))
                if depth < 8:
                    walk(agent.id, depth + 1)

        walk(None, 0)
        return ordered

    def agent_by_name(self, name: str) -> Agent | None:
        for agent in self.agents.values():
            if agent.name == name:
                return agent
        return None

    def column(self, column: str) -> list[Task]:
        return sorted((t for t in self.tasks.values() if t.column == column), key=lambda t: t.id)

    def inbox(self) -> list[Message]:
        """Newest first (cached per seq and size: the inbox asks once a second)."""
        key = (self.seq, len(self.messages))
        if self._inbox[0] != key:
            self._inbox = (key, sorted(self.messages.values(), key=lambda m: m.id, reverse=True))
        return self._inbox[1]

    def unread_count(self) -> int:
        """Unread messages to the human (cached per seq: the header asks 4 times a second)."""
        if self._unread[0] != self.seq:
            count = sum(
                1 for m in self.messages.values() if m.read_at is None and m.recipient == HUMAN
            )
            self._unread = (self.seq, count)
        return self._unread[1]

    def needs_you(self) -> list[NeedsYou]:
        """Open gates first (newest first), then waiting agents without an open gate."""
        rows: list[NeedsYou] = []
        gated: set[str] = set()
        for gate in sorted(self.gates.values(), key=lambda g: g.id, reverse=True):
            if gate.status != "pending":
                continue
            if gate.agent_id:
                gated.add(gate.agent_id)
            rows.append(
                NeedsYou(
                    "gate",
                    str(gate.id),
                    gate.agent_name or "-",
                    sanitize(gate.question),
                    list(gate.options),
                )
            )
        for agent, _ in self.agent_tree():
            if agent.status == "waiting" and agent.id not in gated:
                rows.append(NeedsYou("agent", agent.id, agent.name, sanitize(agent.detail)))
        return rows

    def runs_of(self, agent_id: str) -> list[Run]:
        return sorted(
            (r for r in self.runs.values() if r.agent_id == agent_id),
            key=lambda r: r.id,
            reverse=True,
        )

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for agent in self.agents.values():
            counts[agent.status] = counts.get(agent.status, 0) + 1
        return counts

    def total_cost(self) -> tuple[float, int]:
        """(sum of priced costs, number of unpriced agents)."""
        total = 0.0
        unpriced = 0
        for agent in self.agents.values():
            if agent.cost_usd is None:
                unpriced += 1
            else:
                total += agent.cost_usd
        return total, unpriced

    def total_tokens(self) -> int:
        return sum(a.usage.total for a in self.agents.values())

    def cost_per_hour(self, now: float | None = None) -> float:
        """Spend rate over the last 10 minutes (or since the first sample, if later)."""
        if now is None:
            now = self.clock().timestamp()
        if not self.cost_samples:
            return 0.0
        current = self.total_cost()[0]
        start = now - COST_WINDOW
        base_ts, base_cost = self.cost_samples[0]
        for ts, cost in self.cost_samples:
            if ts > start:
                break
            base_ts, base_cost = ts, cost
        base_ts = max(base_ts, start)
        elapsed = now - base_ts
        if elapsed < 1.0:
            return 0.0
        return max(0.0, current - base_cost) / elapsed * 3600.0

    def busiest(self, n: int = 5) -> list[Agent]:
        return sorted(self.agents.values(), key=lambda a: (-a.usage.total, a.name))[:n]

    def most_expensive(self, n: int = 5) -> list[Agent]:
        return sorted(self.agents.values(), key=lambda a: (-(a.cost_usd or 0.0), a.name))[:n]


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return -1


# ---- formatting shared by the views (plain strings, testable) -----------------------


def age(when: datetime | None, now: datetime) -> str:
    """Compact and coarse, so a table cell changes rarely: `now`, `15s`, `4m`, `2h`, `5d`."""
    if when is None:
        return "-"
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 5:
        return "now"
    if seconds < 60:
        return f"{seconds // 5 * 5}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def cost_text(value: float | None, runtime: str = "") -> str:
    """`$0.123`; without a figure, `unknown` for a tmux agent (its CLI reported none)
    and `unpriced` for the rest (tokens are counted but the model has no price)."""
    if value is None:
        return "unknown" if runtime == "tmux" else "unpriced"
    if value < 10:
        return f"${value:.3f}"
    return f"${value:,.2f}"


def meter(fraction: float | None, width: int = 8) -> str:
    """A bar and a percentage: `████░░░░ 52%`, or `?` without a known window."""
    if fraction is None:
        return "?"
    fraction = max(0.0, min(1.0, fraction))
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled) + f" {fraction * 100:3.0f}%"


def short_model(model: str | None) -> str:
    if not model:
        return "-"
    return model.removeprefix("claude-")


def tokens_text(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 1_000:
        return f"{n / 1_000:.1f}k"
    return str(n)


def one_line(text: str, limit: int = 80) -> str:
    text = " ".join(sanitize(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
