"""Codex and Gemini CLI integration: rollout JSONL usage, Gemini hook settings.

Parsers are tested on fixture files written here with realistic lines; the
engine-level test runs tests/fake_agent_cli.py behind an executable named
`codex` that writes a Codex-like rollout file under its CODEX_HOME.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from fleetview.engine.core import Engine
from fleetview.models import AgentSpec, RunRequest
from fleetview.runtimes.tmux_clis import (
    GEMINI_HOOK_EVENTS,
    GEMINI_SETTINGS_ENV,
    CodexRolloutTail,
    cli_kind,
    codex_home,
    find_codex_rollout,
    gemini_env,
    gemini_settings,
    status_for_hook,
)
from tests.test_tmux_runtime import FAKE_CLI, fleet, inputs, until  # noqa: F401  (fixture)

LIMITS = {
    "primary": {"used_percent": 3.0, "window_minutes": 299, "resets_in_seconds": 9000},
    "secondary": {"used_percent": 41.0, "window_minutes": 10079, "resets_in_seconds": 86000},
}


def line(kind: str, payload: dict) -> str:
    return json.dumps({"timestamp": "2025-10-20T09:14:03.120Z", "type": kind, "payload": payload})


def token_count(total: dict, last: dict) -> str:
    info = {"total_token_usage": total, "last_token_usage": last, "model_context_window": 272000}
    return line("event_msg", {"type": "token_count", "info": info, "rate_limits": LIMITS})


def usage(inp: int, cached: int, out: int, reasoning: int) -> dict:
    return {
        "input_tokens": inp,
        "cached_input_tokens": cached,
        "output_tokens": out,
        "reasoning_output_tokens": reasoning,
        "total_tokens": inp + out,
    }


def session_meta(cwd: str) -> str:
    return line(
        "session_meta",
        {
            "id": "0199fd2e-5f1a-7e31-9a0b-3c1d2e4f5a6b",
            "timestamp": "2025-10-20T09:14:03.101Z",
            "cwd": cwd,
            "originator": "codex_cli_rs",
            "cli_version": "0.47.0",
            "instructions": None,
            "source": "cli",
            "model_provider": "openai",
            "git": {"commit_hash": "3f2a1b0", "branch": "main"},
        },
    )


TURN_1 = [
    line(
        "response_item",
        {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "<environment_context>..."}],
        },
    ),
    line("event_msg", {"type": "user_message", "message": "fix the flaky test", "images": []}),
    line(
        "turn_context",
        {
            "cwd": "/work/proj",
            "approval_policy": "on-request",
            "sandbox_policy": {"mode": "workspace-write"},
            "model": "gpt-5-codex",
            "effort": "medium",
            "summary": "auto",
        },
    ),
    line("event_msg", {"type": "token_count", "info": None, "rate_limits": LIMITS}),
    line(
        "response_item",
        {"type": "reasoning", "summary": [], "content": None, "encrypted_content": "gAAAAB"},
    ),
    line("event_msg", {"type": "agent_message", "message": "Fixed: the test awaited twice."}),
    token_count(usage(8812, 3072, 411, 256), usage(8812, 3072, 411, 256)),
    token_count(usage(8812, 3072, 411, 256), usage(8812, 3072, 411, 256)),  # repeated
]
TURN_2 = token_count(usage(18500, 11776, 650, 320), usage(9688, 8704, 239, 64))


def test_codex_rollout_tail(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2025-10-20T09-14-03-0199fd2e.jsonl"
    text = "\n".join([session_meta("/work/proj"), *TURN_1]) + "\n"
    path.write_text(text + TURN_2[:40])  # the last line is still being written
    tail = CodexRolloutTail(path)
    got = tail.read()
    assert got.usage is not None
    assert (got.usage.input_tokens, got.usage.cache_read_tokens, got.usage.output_tokens) == (
        8812 - 3072,
        3072,
        411,
    )  # the repeated token_count is not counted twice
    assert got.model == "gpt-5-codex"
    assert (got.context_tokens, got.context_window) == (9223, 272000)
    assert tail.read().usage is None  # still partial: nothing new
    with open(path, "a") as fh:
        fh.write(TURN_2[40:] + "\n")
    got = tail.read()
    assert got.usage is not None
    assert (got.usage.input_tokens, got.usage.cache_read_tokens, got.usage.output_tokens) == (
        (18500 - 11776) - (8812 - 3072),
        11776 - 3072,
        650 - 411,
    )
    assert got.context_tokens == 9688 + 239
    assert tail.total.input_tokens + tail.total.cache_read_tokens == 18500


def test_find_codex_rollout(tmp_path: Path) -> None:
    home = tmp_path / "codex"
    day = home / "sessions" / "2025" / "10" / "20"
    day.mkdir(parents=True)
    work, other = tmp_path / "work", tmp_path / "other"
    work.mkdir()
    other.mkdir()
    old = day / "rollout-2025-10-20T08-00-00-a.jsonl"
    old.write_text(session_meta(str(work)) + "\n")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    since = time.time() - 60
    assert find_codex_rollout(home, str(work), since) is None  # older than the agent
    mine = day / "rollout-2025-10-20T09-14-03-b.jsonl"
    mine.write_text(session_meta(str(work)) + "\n")
    (day / "rollout-2025-10-20T09-14-04-c.jsonl").write_text(session_meta(str(other)) + "\n")
    (day / "rollout-2025-10-20T09-14-05-d.jsonl").write_text(session_meta(str(work))[:30])
    assert find_codex_rollout(home, str(work), since) == mine
    assert find_codex_rollout(home, str(work), since, {str(mine)}) is None  # claimed
    assert codex_home({"CODEX_HOME": str(home)}) == home
    assert codex_home({"HOME": "/h"}) in (
        Path("/h/.codex"),
        Path(os.environ.get("CODEX_HOME", "-")),
    )


def fake_codex(tmp_path: Path, log: Path) -> str:
    exe = tmp_path / "bin" / "codex"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text(
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_CLI))} "
        f'--log {shlex.quote(str(log))} --work 0.5 --rollout "$@"\n'
    )
    exe.chmod(0o755)
    return shlex.quote(str(exe))


async def test_codex_usage_from_its_rollout(fleet: Engine, tmp_path: Path) -> None:  # noqa: F811
    log = tmp_path / "fake.log"
    work = tmp_path / "work"
    work.mkdir()
    home = tmp_path / "codex-home"
    await fleet.create_agent(
        AgentSpec(
            name="cx",
            runtime="tmux",
            command=fake_codex(tmp_path, log),
            cwd=str(work),
            config={"env": {"CODEX_HOME": str(home)}},
        )
    )
    await until(lambda: fleet.get_agent("cx").status == "idle", 5, "idle")
    config = json.loads(log.read_text().splitlines()[0])["config"]
    assert any(c.startswith("notify=") and "codex-notify" in c for c in config)
    for prompt in ("one", "two"):
        run = await fleet.send("cx", RunRequest(prompt=prompt))
        await until(lambda r=run: fleet.get_run(r.id).status == "completed", 10, "run done")
    agent = fleet.get_agent("cx")
    await until(lambda: fleet.get_agent("cx").usage.output_tokens == 100, 5, "usage")
    agent = fleet.get_agent("cx")
    assert agent.usage.input_tokens == 1200 and agent.usage.cache_read_tokens == 800
    assert agent.context_tokens == 1050 and agent.context_window == 272000


def test_gemini_settings_keep_the_replaced_system_settings(tmp_path: Path) -> None:
    system = tmp_path / "system.json"
    user_hook = {"matcher": "*", "hooks": [{"type": "command", "command": "audit.sh"}]}
    system.write_text(
        json.dumps(
            {
                "security": {"auth": {"selectedType": "oauth-personal"}},
                "hooksConfig": {"notifications": False},
                "hooks": {"BeforeTool": [user_hook]},
            }
        )
    )
    target = tmp_path / "agent" / "gemini-settings.json"
    target.parent.mkdir()
    env = gemini_env(target, {GEMINI_SETTINGS_ENV: str(system)})
    assert env == {GEMINI_SETTINGS_ENV: str(target)}
    assert target.stat().st_mode & 0o777 == 0o600
    settings = json.loads(target.read_text())
    assert settings["security"] == {"auth": {"selectedType": "oauth-personal"}}
    assert settings["hooksConfig"] == {"notifications": False, "enabled": True}
    assert set(settings["hooks"]) == set(GEMINI_HOOK_EVENTS)
    before = settings["hooks"]["BeforeTool"]
    assert before[0] == user_hook  # the admin's hook stays, ours comes after
    ours = before[1]["hooks"][0]
    assert ours["type"] == "command" and ours["timeout"] == 5000  # milliseconds for Gemini
    argv = shlex.split(ours["command"])
    assert argv[-3:] == ["-m", "fleetview.runtimes.tmux_hook", "gemini:BeforeTool"]
    assert json.loads(system.read_text())["hooks"]["BeforeTool"] == [user_hook]  # untouched
    # no system settings to keep: ours alone
    fresh = gemini_settings(None)
    assert fresh["hooksConfig"] == {"enabled": True}
    assert all(len(groups) == 1 for groups in fresh["hooks"].values())


def test_gemini_hook_status_mapping() -> None:
    assert status_for_hook("gemini:BeforeAgent", {"prompt": "go"})[0] == "working"
    assert status_for_hook("gemini:BeforeTool", {"tool_name": "write_file"}) == (
        "working",
        "tool: write_file",
    )
    assert status_for_hook("gemini:AfterTool", {"tool_name": "write_file"})[0] == "working"
    waiting = status_for_hook(
        "gemini:Notification",
        {
            "notification_type": "ToolPermission",
            "message": "Tool write_file requires editing",
            "details": {"tool_name": "write_file", "file_path": "/w/a.txt"},
        },
    )
    assert waiting == ("waiting", "Tool write_file requires editing")
    assert status_for_hook("gemini:AfterAgent", {"prompt_response": "Done."}) == ("idle", "Done.")
    assert status_for_hook("gemini:SessionEnd", {"reason": "exit"})[0] is None
    assert cli_kind(["/usr/local/bin/gemini", "--yolo"]) == "gemini"


def test_gemini_hook_program_prints_json_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEETVIEW_")}
    done = subprocess.run(
        [sys.executable, "-m", "fleetview.runtimes.tmux_hook", "gemini:AfterAgent"],
        input='{"hook_event_name": "AfterAgent", "prompt_response": "ok"}',
        capture_output=True,
        text=True,
        env=env,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0
    assert json.loads(done.stdout) == {}


def fake_gemini(tmp_path: Path, log: Path) -> str:
    exe = tmp_path / "bin" / "gemini"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text(
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_CLI))} "
        f'--log {shlex.quote(str(log))} --work 5 "$@"\n'
    )
    exe.chmod(0o755)
    return shlex.quote(str(exe))


async def test_gemini_agent_gets_settings_and_hooks_drive_status(
    fleet: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    log = tmp_path / "fake.log"
    await fleet.create_agent(
        AgentSpec(name="gm", runtime="tmux", command=fake_gemini(tmp_path, log), cwd=str(tmp_path))
    )
    await until(lambda: log.exists() and log.read_text().endswith("\n"), 5, "fake gemini up")
    path = Path(json.loads(log.read_text().splitlines()[0])["env"][GEMINI_SETTINGS_ENV])
    assert path.is_relative_to(fleet.paths.runtimes)
    assert set(json.loads(path.read_text())["hooks"]) == set(GEMINI_HOOK_EVENTS)
    await until(lambda: fleet.get_agent("gm").status == "idle", 5, "idle")
    run = await fleet.send("gm", RunRequest(prompt="go"))
    await until(lambda: inputs(log) == ["go"], 3, "prompt delivered")
    await fleet.hook("gm", {"event": "gemini:BeforeAgent", "data": {"prompt": "go"}})
    assert (fleet.get_agent("gm").status, fleet.get_agent("gm").status_source) == (
        "working",
        "hook",
    )
    await fleet.hook(
        "gm",
        {
            "event": "gemini:Notification",
            "data": {"notification_type": "ToolPermission", "message": "Allow write_file?"},
        },
    )
    assert fleet.get_agent("gm").status == "waiting"
    await until(lambda: any(m.type == "decision_gate" for m in fleet.list_messages()), 2, "inbox")
    await fleet.hook("gm", {"event": "gemini:AfterAgent", "data": {"prompt_response": "ok"}})
    await until(lambda: fleet.get_run(run.id).done, 3, "run done on AfterAgent")
    assert fleet.get_run(run.id).status == "completed"
