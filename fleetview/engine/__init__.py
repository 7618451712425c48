"""The engine: lifecycle of agents, the task DAG, mail, costs, the event log."""

from __future__ import annotations

from fleetview.engine.core import Engine
from fleetview.engine.runs import summarize

__all__ = ["Engine", "summarize"]
