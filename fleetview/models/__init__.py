"""Pydantic models shared by every layer (no I/O here)."""

from __future__ import annotations

from fleetview.models.domain import *
from fleetview.models.domain import (  # noqa: F401  (explicit for type checkers)
    AGENT_STATUSES,
    COLUMNS,
    HUMAN,
    MESSAGE_TYPES,
    RUNTIMES,
    Agent,
    AgentSpec,
    ContextResult,
    EngineStatus,
    Event,
    Gate,
    Message,
    MessageSpec,
    Run,
    RunRequest,
    Snapshot,
    Task,
    TaskSpec,
    Usage,
    check_name,
    utcnow,
)
