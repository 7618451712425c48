"""Agent definitions from `.claude/agents/NAME.md`, the format Claude Code uses.

A definition is a markdown file whose YAML front matter names the agent and
may give `description`, `tools` (a list or a comma-separated string) and
`model` (`sonnet`/`opus`/`haiku` aliases are resolved to current ids by the
engine's price table); the body is the system prompt. The project's
`./.claude/agents/` is searched before the user's `~/.claude/agents/`, so a
project can override a personal definition of the same name. fleetview also
reads two optional keys of its own: `runtime` and `config`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetview.sdk.errors import AgentError

MODEL_INHERIT = {"", "inherit", "default"}


@dataclass(frozen=True)
class AgentDefinition:
    """One parsed definition file."""

    name: str
    prompt: str = ""
    description: str = ""
    tools: list[str] = field(default_factory=list)
    model: str | None = None
    runtime: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def search_dirs(cwd: Path | None = None, home: Path | None = None) -> list[Path]:
    """Where definitions are looked for, first match wins."""
    cwd = cwd or Path.cwd()
    home = home or Path(os.path.expanduser("~"))
    return [cwd / ".claude" / "agents", home / ".claude" / "agents"]


def find_definition(
    name: str, cwd: Path | None = None, home: Path | None = None
) -> AgentDefinition | None:
    """The definition named `name` (file NAME.md, else front matter `name:`), or None."""
    dirs = search_dirs(cwd, home)
    for directory in dirs:
        path = directory / f"{name}.md"
        if path.is_file():
            return parse_definition(path)
    for directory in dirs:  # a file named otherwise whose front matter says `name: NAME`
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.md")):
            try:
                definition = parse_definition(path)
            except AgentError:
                continue
            if definition.name == name:
                return definition
    return None


def load_definition(
    name: str, cwd: Path | None = None, home: Path | None = None
) -> AgentDefinition:
    """Like find_definition, but a missing one is an AgentError naming the paths searched."""
    definition = find_definition(name, cwd, home)
    if definition is None:
        searched = " and ".join(str(d / f"{name}.md") for d in search_dirs(cwd, home))
        raise AgentError(
            f"no definition for agent {name!r}: searched {searched}; create one or pass prompt=...",
            agent=name,
        )
    return definition


def parse_definition(path: Path) -> AgentDefinition:
    """Front matter + body of one file; a malformed file is an AgentError naming it."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AgentError(f"cannot read agent definition {path}: {exc.strerror}") from None
    meta: dict[str, Any] = {}
    body = text
    lines = text.splitlines(keepends=True)
    if lines and lines[0].strip() == "---":
        end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
        if end is None:
            raise AgentError(f"agent definition {path}: front matter has no closing '---'")
        try:
            loaded = yaml.safe_load("".join(lines[1:end])) or {}
        except yaml.YAMLError as exc:
            raise AgentError(f"agent definition {path}: bad YAML front matter: {exc}") from None
        if not isinstance(loaded, dict):
            raise AgentError(f"agent definition {path}: front matter must be a mapping")
        meta = loaded
        body = "".join(lines[end + 1 :])
    model = meta.get("model")
    model = None if model is None or str(model).strip().lower() in MODEL_INHERIT else str(model)
    config = meta.get("config") or {}
    if not isinstance(config, dict):
        raise AgentError(f"agent definition {path}: 'config' must be a mapping")
    runtime = meta.get("runtime")
    return AgentDefinition(
        name=str(meta.get("name") or path.stem),
        prompt=body.strip(),
        description=str(meta.get("description") or ""),
        tools=parse_tools(meta.get("tools")),
        model=model.strip() if model else None,
        runtime=str(runtime) if runtime else None,
        config=dict(config),
        path=path,
    )


def parse_tools(value: Any) -> list[str]:
    """`Read, Grep, Bash` or a YAML list, as a list of names."""
    if value is None:
        return []
    if isinstance(value, str):
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, (list, tuple)):
        return [str(t).strip() for t in value if str(t).strip()]
    return [str(value)]
