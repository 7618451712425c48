"""Runtimes behind one protocol (see base.py); loaded lazily by name.

Each module `fleetview.runtimes.<name>` exposes `create_runtime() -> Runtime`.
Lazy loading keeps `import anthropic` (1.5-2 s) off every path that does not
run an api agent.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from fleetview.errors import Invalid

if TYPE_CHECKING:
    from fleetview.runtimes.base import Runtime


def load_runtime(name: str) -> Runtime:
    """The runtime called `name`, freshly created."""
    if name not in ("api", "tmux", "sim"):
        raise Invalid(f"unknown runtime {name!r}: use api, tmux or sim")
    module = importlib.import_module(f"fleetview.runtimes.{name}")
    return module.create_runtime()
