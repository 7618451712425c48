"""What the tmux runtime tracks per pane and per agent (plain data)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fleetview.runtimes.tmux_clis import TranscriptTail

if TYPE_CHECKING:
    from fleetview.runtimes.base import AgentHandle

PANE_FORMAT = "\t".join(  # noqa: FLY002 - one field per line
    [
        "#{pane_id}",
        "#{session_name}",
        "#{pane_dead}",
        "#{pane_dead_status}",
        "#{window_activity}",
        "#{cursor_y}",
        "#{pane_height}",
        "#{pane_pid}",
        "#{pane_current_command}",
        "#{pane_title}",
    ]
)


@dataclass
class PaneInfo:
    """One row of the watcher's `list-panes -a` (see PANE_FORMAT)."""

    pane_id: str
    session: str
    dead: bool
    dead_status: str
    activity: int
    cursor_y: int
    height: int
    pid: int
    command: str
    title: str


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


def parse_pane(row: str) -> PaneInfo | None:
    """A PANE_FORMAT row, or None if it does not parse."""
    parts = row.split("\t", 9)
    if len(parts) < 10:
        return None
    try:
        return PaneInfo(
            parts[0],
            parts[1],
            parts[2] == "1",
            parts[3],
            int(parts[4] or 0),
            int(parts[5] or 0),
            int(parts[6] or 0),
            int(parts[7] or 0),
            parts[8],
            parts[9],
        )
    except ValueError:
        return None
