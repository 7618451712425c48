"""How the command line prints: aligned tables, ages, costs, JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from fleetview.models import (
    Agent,
)
from fleetview.sanitize import sanitize

PROG = "fleetview"


def _print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        print(value.model_dump_json(indent=2, by_alias=True))
    elif isinstance(value, list):
        print(json.dumps([_jsonable(v) for v in value], indent=2))
    else:
        print(json.dumps(value, indent=2, default=str))


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return value


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Aligned columns (the last one unpadded); cells are sanitised and kept to one line."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in [list(headers), *cells]:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = sanitize(str(value)).replace("\n", " ").replace("\t", " ")
    return text if len(text) <= 60 else text[:59] + "…"


def age(when: datetime | None, now: datetime | None = None) -> str:
    """`3s`, `4m`, `2h`, `5d`: how long ago, compactly."""
    if when is None:
        return "-"
    now = now or datetime.now(UTC)
    seconds = max(0, int((now - when).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def cost(value: float | None, runtime: str | None = None) -> str:
    """A dollar figure; None is `unknown` for a CLI agent that reports none, else `unpriced`."""
    if value is None:
        return "unknown" if runtime == "tmux" else "unpriced"
    return f"${value:.4f}"


def context_percent(agent: Agent) -> str:
    fraction = agent.context_fraction
    return "-" if fraction is None else f"{fraction * 100:.0f}%"


def _fields(pairs: Sequence[tuple[str, Any]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k + ':':<{width + 1}} {_cell(v)}" for k, v in pairs)
