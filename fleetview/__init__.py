"""fleetview: create, command, watch and delete a fleet of AI agents.

`from fleetview import Agent` is the SDK; the import is lazy so that the CLI
and the TUI do not pay for what they do not use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_SDK_NAMES = {"Agent", "ContextResult", "recall", "Orchestrate", "AgentError", "SchemaError"}


def __getattr__(name: str) -> Any:
    if name in _SDK_NAMES:
        from fleetview import sdk

        return getattr(sdk, name)
    if name == "EngineUnavailable":
        from fleetview.errors import EngineUnavailable

        return EngineUnavailable
    raise AttributeError(f"module 'fleetview' has no attribute {name!r}")
