"""The Python SDK: program the fleet with `from fleetview import Agent`.

    researcher = Agent("research")               # .claude/agents/research.md
    r = await researcher.arun("check GitHub")    # a ContextResult
    review = await Agent("reviewer").arun("review", context=[r],
                                          schema={"status": "str", "issues": "list"})

Agents live in the engine daemon (started when none runs), so the TUI shows
them live. The legacy `Orchestrate` API and its runner (`run(main)`,
`python -m fleetview.sdk program.py`) keep working.
"""

from __future__ import annotations

from fleetview.models import ContextResult
from fleetview.sdk.agent import Agent, recall
from fleetview.sdk.errors import AgentError, SchemaError
from fleetview.sdk.legacy import Orchestrate
from fleetview.sdk.legacy import run as run  # the legacy runner: fleetview.sdk.run(main)

__all__ = ["Agent", "AgentError", "ContextResult", "Orchestrate", "SchemaError", "recall"]
