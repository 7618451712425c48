"""Hooks first: Claude Code settings, the hook program, hook reports, costs.

The CLI here is tests/fake_agent_cli.py behind an executable named `claude`,
so the runtime treats it as Claude Code (adds `--settings FILE`); hook
reports are delivered the way the server delivers them (engine.hook).
"""

from __future__ import annotations

import asyncio
import json
import shlex
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

from fleetview.engine.core import Engine
from fleetview.models import AgentSpec, RunRequest
from fleetview.runtimes.tmux_clis import (
    CLAUDE_HOOK_EVENTS,
    TranscriptTail,
    aider_session_cost,
    cli_kind,
    parse_statusline,
)
from fleetview.runtimes.tmux_screen import read_screen
from tests.test_tmux_runtime import FAKE_CLI, fleet, inputs, until  # noqa: F401  (fixture)


def fake_claude(tmp_path: Path, log: Path) -> str:
    exe = tmp_path / "bin" / "claude"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text(
        f"#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_CLI))} "
        f'--log {shlex.quote(str(log))} --work 5 "$@"\n'
    )
    exe.chmod(0o755)
    return shlex.quote(str(exe))


async def test_claude_gets_settings_and_hooks_drive_status(fleet: Engine, tmp_path: Path) -> None:  # noqa: F811
    log = tmp_path / "fake.log"
    agent = await fleet.create_agent(
        AgentSpec(name="cc", runtime="tmux", command=fake_claude(tmp_path, log), cwd=str(tmp_path))
    )
    await until(lambda: log.exists() and log.read_text().endswith("\n"), 5, "fake claude up")
    settings_path = json.loads(log.read_text().splitlines()[0])["settings"]
    assert settings_path and Path(settings_path).is_relative_to(fleet.paths.runtimes)
    settings = json.loads(Path(settings_path).read_text())
    assert set(settings["hooks"]) == set(CLAUDE_HOOK_EVENTS)
    command = settings["hooks"]["PermissionRequest"][0]["hooks"][0]["command"]
    assert "fleetview.runtimes.tmux_hook PermissionRequest" in command
    assert "tmux_hook statusline" in settings["statusLine"]["command"]

    await until(lambda: fleet.get_agent("cc").status == "idle", 5, "idle")
    run = await fleet.send("cc", RunRequest(prompt="go"))
    await until(lambda: inputs(log) == ["go"], 3, "prompt delivered")
    await fleet.hook("cc", {"event": "UserPromptSubmit", "data": {"prompt": "go"}})
    assert fleet.get_agent("cc").status == "working"
    assert fleet.get_agent("cc").status_source == "hook"
    await fleet.hook("cc", {"event": "PermissionRequest", "data": {"tool_name": "Write"}})
    agent = fleet.get_agent("cc")
    assert (agent.status, agent.status_source) == ("waiting", "hook")
    await until(lambda: any(m.type == "decision_gate" for m in fleet.list_messages()), 2, "inbox")
    # the screen still shows the spinner: a fresh hook outranks it
    await asyncio.sleep(0.7)
    assert fleet.get_agent("cc").status == "waiting"
    await fleet.hook("cc", {"event": "PostToolUse", "data": {"tool_name": "Write"}})
    await fleet.hook(
        "cc",
        {
            "event": "statusline",
            "data": {
                "cost": {"total_cost_usd": 0.0123},
                "context_window": {
                    "context_window_size": 200000,
                    "current_usage": {
                        "input_tokens": 1000,
                        "cache_creation_input_tokens": 200,
                        "cache_read_input_tokens": 300,
                    },
                },
            },
        },
    )
    agent = fleet.get_agent("cc")
    assert agent.cost_usd == 0.0123
    assert (agent.context_tokens, agent.context_window) == (1500, 200000)
    await fleet.hook("cc", {"event": "Stop", "data": {}})
    await until(lambda: fleet.get_run(run.id).done, 3, "run done on Stop")
    assert fleet.get_run(run.id).status == "completed"
    assert inputs(log) == ["go"]


def test_statusline_fields_and_transcript_tail(tmp_path: Path) -> None:
    line = parse_statusline(
        {"cost": {"total_cost_usd": 1.5}, "context_window": {"total_input_tokens": 42}}
    )
    assert (line.cost_usd, line.context_tokens) == (1.5, 42)
    assert parse_statusline({}).cost_usd is None  # unknown, not $0
    assert (
        aider_session_cost(["Tokens: 2k sent, 1 received. Cost: $0.01 message, $0.45 session."])
        == 0.45
    )
    assert aider_session_cost(["no cost here"]) is None
    assert [cli_kind([p]) for p in ("/x/claude", "codex", "aider", "bash", "python")] == [
        "claude",
        "codex",
        "aider",
        "shell",
        "other",
    ]

    path = tmp_path / "t.jsonl"
    msg = {
        "message": {
            "id": "m1",
            "model": "claude-x",
            "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 7},
        }
    }
    path.write_text(
        json.dumps(msg) + "\n" + json.dumps(msg) + "\n" + '{"message": {"id": "m2", "usa'
    )
    tail = TranscriptTail(path)
    found = tail.read()
    assert len(found) == 1 and found[0][0].input_tokens == 10 and found[0][2] == 17
    with path.open("a") as fh:  # the partial line completes later
        fh.write('ge": {"input_tokens": 3, "output_tokens": 1}}}\n')
        fh.write(json.dumps(msg) + "\n")
    found = tail.read()
    assert [u.input_tokens for u, _, _ in found] == [3]


def test_screen_patterns() -> None:
    busy = ["> old prompt", "", "⠙ Thinking… (3s · esc to interrupt)", "", "> "]
    assert read_screen(busy).status == "working"  # busy before prompt
    waiting = read_screen(
        ["Bash command", "Do you want to proceed?", "❯ 1. Yes", "  2. No", "", "Esc to cancel"]
    )
    assert waiting.status == "waiting" and waiting.choices == ["1. Yes", "2. No"]
    answered = ["Do you want to proceed?", "❯ 1. Yes", "  2. No", "Wrote it", "done", "> "]
    assert read_screen(answered).status == "idle"
    assert read_screen(["bash-5.2$ "]).status == "idle"
    assert read_screen(["compiling...", "still going"]).status is None


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Recorder.seen.append((self.path, self.headers["Authorization"], body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def test_hook_program_posts_and_never_blocks(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sekrit\n")
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "PATH": "/usr/bin:/bin",
        "FLEETVIEW_API_URL": f"http://127.0.0.1:{server.server_port}",
        "FLEETVIEW_AGENT_ID": "abc123",
        "FLEETVIEW_AGENT_NAME": "cc",
        "FLEETVIEW_HOME": str(tmp_path),
    }
    try:
        out = subprocess.run(
            [sys.executable, "-m", "fleetview.runtimes.tmux_hook", "statusline"],
            input=json.dumps({"cost": {"total_cost_usd": 0.5}}),
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=10,
            cwd=Path(__file__).parent.parent,
        )
        assert out.returncode == 0 and "fleetview · cc · $0.5000" in out.stdout
        path, auth, body = _Recorder.seen[-1]
        assert path == "/v1/agents/abc123/hook" and auth == "Bearer sekrit"
        assert body == {"event": "statusline", "data": {"cost": {"total_cost_usd": 0.5}}}
    finally:
        server.shutdown()
    # engine down: still exit 0, quickly
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "fleetview.runtimes.tmux_hook", "Stop"],
        input="{not json",
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=10,
        cwd=Path(__file__).parent.parent,
    )
    assert out.returncode == 0 and time.monotonic() - start < 2.0
