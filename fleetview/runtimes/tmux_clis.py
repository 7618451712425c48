"""What fleetview knows about specific agent CLIs: Claude Code, Codex, Gemini, Aider.

Claude Code gets its own settings file (`claude --settings FILE`; the user's
~/.claude files are never edited) whose hooks and statusLine run
`python -m fleetview.runtimes.tmux_hook EVENT`, which posts to the engine.
Codex gets `-c notify=[...]` with the same program. Hook reports map to a
status here; cost comes from the statusLine JSON, else from the transcript
JSONL (tailed by offset, a partial last line kept for later, each
`message.id` counted once); Aider's cost from the line it prints. Anything
else: cost unknown.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fleetview.models import Usage

CLAUDE_HOOK_EVENTS = (
    "UserPromptSubmit",
    "PreToolUse",
    "PostToolUse",
    "PermissionRequest",
    "Notification",
    "Stop",
    "SessionEnd",
)


GEMINI_HOOK_EVENTS = (
    "BeforeAgent",
    "BeforeTool",
    "AfterTool",
    "AfterAgent",
    "Notification",
    "SessionEnd",
)
"""Gemini CLI (>= 0.26: `hooksConfig.enabled`) hook events fleetview listens to."""
GEMINI_HOOK_PREFIX = "gemini:"
GEMINI_SYSTEM_SETTINGS = Path("/etc/gemini-cli/settings.json")
GEMINI_SETTINGS_ENV = "GEMINI_CLI_SYSTEM_SETTINGS_PATH"

SHELLS = ("bash", "sh", "zsh", "fish", "dash", "ksh")


def cli_kind(argv: list[str]) -> str:
    """`claude`, `codex` or `other`, from the program's base name."""
    if not argv:
        return "other"
    base = os.path.basename(argv[0])
    if base in ("claude", "claude-code"):
        return "claude"
    if base == "codex":
        return "codex"
    if base == "gemini":
        return "gemini"
    if base == "aider":
        return "aider"
    if base in SHELLS:
        return "shell"
    return "other"


def hook_argv(event: str) -> list[str]:
    return [sys.executable, "-m", "fleetview.runtimes.tmux_hook", event]


def claude_settings(event_timeout: int = 5) -> dict[str, Any]:
    """The per-agent Claude Code settings: one hook per event, plus statusLine."""
    hooks: dict[str, Any] = {}
    for event in CLAUDE_HOOK_EVENTS:
        hooks[event] = [
            {
                "matcher": "",
                "hooks": [
                    {
                        "type": "command",
                        "command": shlex.join(hook_argv(event)),
                        "timeout": event_timeout,
                    }
                ],
            }
        ]
    return {
        "hooks": hooks,
        "statusLine": {
            "type": "command",
            "command": shlex.join(hook_argv("statusline")),
            "padding": 0,
        },
    }


def gemini_settings(base: dict[str, Any] | None = None, timeout_ms: int = 5000) -> dict[str, Any]:
    """Gemini CLI system settings for one agent: `base` (the system settings it
    replaces, kept whole) plus one fleetview hook per event, appended to any
    hooks `base` already has for that event."""
    settings: dict[str, Any] = json.loads(json.dumps(base)) if isinstance(base, dict) else {}
    config = settings.get("hooksConfig")
    settings["hooksConfig"] = {**(config if isinstance(config, dict) else {}), "enabled": True}
    hooks = settings.get("hooks")
    hooks = dict(hooks) if isinstance(hooks, dict) else {}
    for event in GEMINI_HOOK_EVENTS:
        groups = hooks.get(event)
        groups = list(groups) if isinstance(groups, list) else []
        groups.append(
            {
                "matcher": "*" if event in ("BeforeTool", "AfterTool") else "",
                "hooks": [
                    {
                        "name": f"fleetview-{event}",
                        "type": "command",
                        "command": shlex.join(hook_argv(GEMINI_HOOK_PREFIX + event)),
                        "timeout": timeout_ms,
                    }
                ],
            }
        )
        hooks[event] = groups
    settings["hooks"] = hooks
    return settings


def gemini_env(settings_file: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """Write the agent's Gemini settings; the env var that points Gemini CLI at them.

    GEMINI_CLI_SYSTEM_SETTINGS_PATH replaces the system settings layer (the
    one that overrides user and project settings), so the settings it
    replaced -- the path it had, else /etc/gemini-cli/settings.json -- are
    copied in first. The user's ~/.gemini and the project's .gemini files are
    never written."""
    env = env or {}
    current = Path(env.get(GEMINI_SETTINGS_ENV) or os.environ.get(GEMINI_SETTINGS_ENV) or "")
    if not str(current) or str(current) == ".":
        current = GEMINI_SYSTEM_SETTINGS
    base: dict[str, Any] | None = None
    if current != settings_file:
        try:
            loaded = json.loads(current.read_text())
            base = loaded if isinstance(loaded, dict) else None
        except (OSError, ValueError):
            base = None
    fd = os.open(settings_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(gemini_settings(base), fh, indent=2)
    return {GEMINI_SETTINGS_ENV: str(settings_file)}


def prepare_argv(argv: list[str], settings_file: Path) -> list[str]:
    """The command with fleetview's integration flags added for known CLIs."""
    kind = cli_kind(argv)
    if kind == "claude" and "--settings" not in argv:
        settings_file.write_text(json.dumps(claude_settings(), indent=2))
        return [argv[0], "--settings", str(settings_file), *argv[1:]]
    if kind == "codex":
        notify = json.dumps(hook_argv("codex-notify"))
        return [argv[0], "-c", f"notify={notify}", *argv[1:]]
    return list(argv)


def status_for_hook(event: str, data: dict[str, Any]) -> tuple[str | None, str]:
    """(status or None, detail) for one hook report."""
    if event == "UserPromptSubmit":
        return "working", "prompt submitted"
    if event == "PreToolUse":
        return "working", f"tool: {data.get('tool_name', '?')}"
    if event == "PostToolUse":
        return "working", f"done: {data.get('tool_name', '?')}"
    if event == "PermissionRequest":
        return "waiting", f"permission: {data.get('tool_name', '?')}"
    if event == "Notification":
        kind = str(data.get("notification_type") or "")
        msg = str(data.get("message") or "")
        if kind == "idle_prompt" or "waiting for your input" in msg.lower():
            return "idle", msg
        if kind == "permission_prompt" or "permission" in msg.lower():
            return "waiting", msg
        return None, msg
    if event == "Stop":
        return "idle", "turn finished"
    if event == "SessionEnd":
        return None, f"session ended: {data.get('reason', '')}"
    if event.startswith(GEMINI_HOOK_PREFIX):
        return _gemini_status(event[len(GEMINI_HOOK_PREFIX) :], data)
    if event == "codex-notify":
        if data.get("type") == "agent-turn-complete":
            return "idle", str(data.get("last-assistant-message") or "turn complete")[:200]
        return None, ""
    return None, ""


def _gemini_status(event: str, data: dict[str, Any]) -> tuple[str | None, str]:
    if event == "BeforeAgent":
        return "working", "prompt submitted"
    if event == "BeforeTool":
        return "working", f"tool: {data.get('tool_name', '?')}"
    if event == "AfterTool":
        return "working", f"done: {data.get('tool_name', '?')}"
    if event == "AfterAgent":
        return "idle", str(data.get("prompt_response") or "turn finished")[:200]
    if event == "Notification":
        msg = str(data.get("message") or "")
        if data.get("notification_type") == "ToolPermission" or "permission" in msg.lower():
            return "waiting", msg or "permission needed"
        return None, msg
    if event == "SessionEnd":
        return None, f"session ended: {data.get('reason', '')}"
    return None, ""


AIDER_COST = re.compile(r"Cost: \$([\d.]+) message, \$([\d.]+) session")


def aider_session_cost(lines: list[str]) -> float | None:
    """Aider prints `Cost: $0.0012 message, $0.0450 session.` after each reply."""
    for line in reversed(lines):
        match = AIDER_COST.search(line)
        if match:
            return float(match.group(2))
    return None


def session_file_status(home: Path, pid: int) -> str | None:
    """Claude Code's own ~/.claude/sessions/<pid>.json status, mapped to ours."""
    path = home / ".claude" / "sessions" / f"{pid}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    status = str(data.get("status") or "")
    return {"busy": "working", "idle": "idle", "waiting": "waiting"}.get(status)


@dataclass
class StatusLineData:
    cost_usd: float | None = None
    context_tokens: int | None = None
    context_window: int | None = None
    model: str | None = None


def parse_statusline(data: dict[str, Any]) -> StatusLineData:
    """Cost and context from Claude Code's statusLine JSON (fields vary by version)."""
    out = StatusLineData()
    cost = data.get("cost") or {}
    if isinstance(cost, dict) and cost.get("total_cost_usd") is not None:
        try:
            out.cost_usd = float(cost["total_cost_usd"])
        except (TypeError, ValueError):
            pass
    ctx = data.get("context_window") or {}
    if isinstance(ctx, dict):
        window = ctx.get("context_window_size") or ctx.get("size")
        if isinstance(window, int):
            out.context_window = window
        current = ctx.get("current_usage")
        if isinstance(current, dict):
            out.context_tokens = sum(
                int(current.get(k) or 0)
                for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            )
        elif isinstance(ctx.get("total_input_tokens"), int):
            out.context_tokens = int(ctx["total_input_tokens"])
    model = data.get("model")
    if isinstance(model, dict):
        out.model = model.get("id")
    return out


@dataclass
class TranscriptTail:
    """Reads a Claude Code transcript JSONL incrementally."""

    path: Path
    offset: int = 0
    seen: set[str] = field(default_factory=set)

    def read(self) -> list[tuple[Usage, str | None, int]]:
        """New (usage, model, prompt_tokens) per assistant message not seen before."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []  # only a partial line so far
        self.offset += end + 1
        found: list[tuple[Usage, str | None, int]] = []
        for raw in chunk[: end + 1].splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            message = entry.get("message") if isinstance(entry, dict) else None
            if not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
                continue
            mid = message.get("id")
            if not mid or mid in self.seen:
                continue
            self.seen.add(mid)
            u = message["usage"]
            cache = u.get("cache_creation") or {}
            w1h = int(cache.get("ephemeral_1h_input_tokens") or 0)
            usage = Usage(
                input_tokens=int(u.get("input_tokens") or 0),
                output_tokens=int(u.get("output_tokens") or 0),
                cache_write_5m_tokens=int(u.get("cache_creation_input_tokens") or 0) - w1h,
                cache_write_1h_tokens=w1h,
                cache_read_tokens=int(u.get("cache_read_input_tokens") or 0),
            )
            found.append((usage, message.get("model"), usage.prompt_tokens))
        return found


# -- Codex: session rollout JSONL ------------------------------------------------------


def codex_home(env: dict[str, str] | None = None) -> Path:
    """$CODEX_HOME (the agent's env first, then ours), else ~/.codex of the agent's HOME."""
    env = env or {}
    value = env.get("CODEX_HOME") or os.environ.get("CODEX_HOME")
    if value:
        return Path(value).expanduser()
    return Path(env.get("HOME") or Path.home()) / ".codex"


def _rollout_meta(path: Path) -> dict[str, Any] | None:
    """The session_meta payload of a rollout file (its first line), if complete."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(1 << 20)
    except OSError:
        return None
    if not first.endswith(b"\n"):
        return None
    try:
        entry = json.loads(first)
    except ValueError:
        return None
    if not isinstance(entry, dict) or entry.get("type") != "session_meta":
        return None
    payload = entry.get("payload")
    return payload if isinstance(payload, dict) else None


def find_codex_rollout(
    home: Path, cwd: str, since: float, exclude: set[str] | frozenset[str] = frozenset()
) -> Path | None:
    """The newest `sessions/YYYY/MM/DD/rollout-*.jsonl` modified at or after `since`
    (wall time) whose session_meta cwd is `cwd`; paths in `exclude` (claimed by
    other agents) are skipped. Only the two newest day directories are looked at."""
    sessions = home / "sessions"
    try:
        days = sorted(sessions.glob("[0-9]*/[0-9]*/[0-9]*"))[-2:]
    except OSError:
        return None
    want = os.path.realpath(cwd)
    best: tuple[float, Path] | None = None
    for day in days:
        for path in day.glob("rollout-*.jsonl"):
            if str(path) in exclude:
                continue
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if mtime < since or (best is not None and mtime <= best[0]):
                continue
            meta = _rollout_meta(path)
            if meta is None or os.path.realpath(str(meta.get("cwd") or "")) != want:
                continue
            best = (mtime, path)
    return best[1] if best else None


@dataclass
class CodexUsage:
    """What one batch of new rollout lines says: tokens since the last batch, context."""

    usage: Usage | None = None
    model: str | None = None
    context_tokens: int | None = None
    context_window: int | None = None


def _codex_usage(data: dict[str, Any]) -> Usage:
    """OpenAI counts cached input inside input_tokens; ours are disjoint.
    output_tokens already includes the reasoning tokens."""
    inp = int(data.get("input_tokens") or 0)
    cached = min(int(data.get("cached_input_tokens") or 0), inp)
    return Usage(
        input_tokens=inp - cached,
        cache_read_tokens=cached,
        output_tokens=int(data.get("output_tokens") or 0),
    )


@dataclass
class CodexRolloutTail:
    """Reads a Codex rollout JSONL incrementally (by offset; a partial last line waits).

    Usage is taken from the cumulative `total_token_usage` of `token_count`
    events, as the difference from the last one seen: Codex repeats
    token_count events (e.g. for rate-limit updates), so summing
    `last_token_usage` would count a turn twice."""

    path: Path
    offset: int = 0
    total: Usage = field(default_factory=Usage)
    model: str | None = None

    def read(self) -> CodexUsage:
        out = CodexUsage()
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read()
        except OSError:
            return out
        end = chunk.rfind(b"\n")
        if end < 0:
            return out
        self.offset += end + 1
        for raw in chunk[: end + 1].splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("payload"), dict):
                continue
            payload = entry["payload"]
            if entry.get("type") == "turn_context" and payload.get("model"):
                self.model = str(payload["model"])
                continue
            if entry.get("type") != "event_msg" or payload.get("type") != "token_count":
                continue
            info = payload.get("info")
            if not isinstance(info, dict):
                continue  # rate limits only
            total = info.get("total_token_usage")
            if isinstance(total, dict):
                now = _codex_usage(total)
                fields = ("input_tokens", "output_tokens", "cache_read_tokens")
                if any(getattr(now, f) < getattr(self.total, f) for f in fields):
                    delta = now  # a new conversation in the same file: start over
                else:
                    delta = Usage(**{f: getattr(now, f) - getattr(self.total, f) for f in fields})
                self.total = now
                if delta.total:
                    out.usage = delta if out.usage is None else out.usage + delta
            last = info.get("last_token_usage")
            if isinstance(last, dict):
                tokens = last.get("total_tokens")
                if not isinstance(tokens, int):
                    tokens = int(last.get("input_tokens") or 0) + int(
                        last.get("output_tokens") or 0
                    )
                out.context_tokens = tokens
            window = info.get("model_context_window")
            if isinstance(window, int) and window > 0:
                out.context_window = window
        out.model = self.model
        return out
