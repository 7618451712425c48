"""What the tmux runtime tracks per pane and per agent (plain data)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleetview.runtimes.tmux_clis import CodexRolloutTail, TranscriptTail

if TYPE_CHECKING:
    from fleetview.runtimes.base import AgentHandle

FAST_FORMAT = "\t".join(  # noqa: FLY002 - one field per line
    [
        "#{pane_id}",
        "#{session_name}",
        "#{pane_dead}",
        "#{pane_dead_status}",
        "#{cursor_x}",
        "#{cursor_y}",
        "#{history_size}",
        "#{pane_title}",  # last: it may contain anything
    ]
)
"""Every tick: cheap fields only. A pane whose cursor, scrollback or title moved is captured."""

PANE_FORMAT = "\t".join(  # noqa: FLY002 - one field per line
    [
        "#{pane_id}",
        "#{session_name}",
        "#{pane_dead}",
        "#{pane_dead_status}",
        "#{cursor_x}",
        "#{cursor_y}",
        "#{history_size}",
        "#{window_activity}",
        "#{pane_height}",
        "#{pane_pid}",
        "#{pane_current_command}",  # costs the server a /proc read per pane
        "#{pane_title}",
    ]
)
"""Every few seconds (and for shells every tick): everything."""


@dataclass
class PaneInfo:
    """One row of the watcher's `list-panes -a` (FAST_FORMAT or PANE_FORMAT)."""

    pane_id: str
    session: str
    dead: bool
    dead_status: str
    cursor_x: int
    cursor_y: int
    history: int
    title: str
    full: bool = False
    activity: int = 0
    height: int = 0
    pid: int = 0
    command: str = ""

    @property
    def signature(self) -> tuple[int, int, int, str]:
        """What moves when a CLI prints something other than a redraw in place."""
        return (self.cursor_x, self.cursor_y, self.history, self.title)


@dataclass
class AgentWatch:
    """What the runtime tracks about one agent."""

    handle: AgentHandle
    session: str
    kind: str = "other"
    pane_id: str | None = None
    pid: int = 0
    stopped: bool = False
    gave_up: bool = False
    dead: bool = False
    restarting: bool = False
    crashes: deque[float] = field(default_factory=lambda: deque(maxlen=10))
    screen_hash: str = ""
    changed_at: float = field(default_factory=time.monotonic)
    captured_at: float = 0.0
    status: str = "starting"
    source: str = "event"
    status_set_at: float = 0.0
    busy_at: float = 0.0
    """When a source other than fleetview itself last said working or waiting."""
    hook_status: str | None = None
    hook_at: float = 0.0
    question: str = ""
    choices: list[str] = field(default_factory=list)
    posted_question: str = ""
    statusline: bool = False
    transcript: TranscriptTail | None = None
    stalled: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    lines: list[str] = field(default_factory=list)
    top: int = 0
    """Screen line of lines[0]: only SCREEN_TAIL lines around the cursor are captured."""
    height: int = 50
    cursor_y: int = 0
    signature: tuple[int, int, int, str] | None = None
    command: str = ""
    """The pane's foreground command, from the last full listing."""
    started_wall: float = 0.0
    """time.time() when fleetview started the CLI (0: re-adopted, start unknown)."""
    rollout: CodexRolloutTail | None = None
    rollout_checked: float = 0.0
    rollout_found: float = 0.0
    seed_rollout: bool = False
    """Re-adopted: usage already in the rollout file was counted before; skip it."""


def parse_pane(row: str) -> PaneInfo | None:
    """A FAST_FORMAT or PANE_FORMAT row, or None if it does not parse."""
    parts = row.split("\t", 11)
    try:
        if len(parts) >= 12:
            return PaneInfo(
                parts[0],
                parts[1],
                parts[2] == "1",
                parts[3],
                int(parts[4] or 0),
                int(parts[5] or 0),
                int(parts[6] or 0),
                parts[11],
                full=True,
                activity=int(parts[7] or 0),
                height=int(parts[8] or 0),
                pid=int(parts[9] or 0),
                command=parts[10],
            )
        parts = row.split("\t", 7)
        if len(parts) < 8:
            return None
        return PaneInfo(
            parts[0],
            parts[1],
            parts[2] == "1",
            parts[3],
            int(parts[4] or 0),
            int(parts[5] or 0),
            int(parts[6] or 0),
            parts[7],
        )
    except ValueError:
        return None
