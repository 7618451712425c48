"""The real Claude Code CLI as a tmux agent, offline against tests/fake_anthropic.py.

Runs only when the pinned CLI is installed (.ci/install-claude.sh puts it in
.ci/node). The fleet is the real daemon (hooks POST to it), driven through
the real CLI: create, send, keys; status, cost and context come from Claude
Code's own hooks and statusLine; the supervisor restarts a killed pane; a
kill -9'd daemon's successor re-adopts the same session.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from fleetview.runtimes.tmux_server import session_name, tmux_socket
from tests.conftest import FleetCLI, fleet_env
from tests.fake_anthropic import FakeAnthropic, Reply

ROOT = Path(__file__).resolve().parent.parent
CLAUDE = os.environ.get("FLEETVIEW_CLAUDE_BIN") or str(ROOT / ".ci/node/node_modules/.bin/claude")
if not Path(CLAUDE).exists():
    CLAUDE = shutil.which("claude") or ""

pytestmark = [
    pytest.mark.skipif(not CLAUDE, reason="Claude Code CLI not installed (.ci/install-claude.sh)"),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed"),
]
KEY = "sk-ant-fleetview-test-0123456789abcdefghij"


def wait(predicate: Any, timeout: float, what: str) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


def test_real_claude_code(tmp_path: Path) -> None:
    cwd = tmp_path / "work"
    cwd.mkdir()

    def answer(body: dict[str, Any]) -> Reply:
        messages = body.get("messages") or []
        if '"tool_result"' in json.dumps(messages[-1:]):
            return Reply.text("All done, wrote the file.")
        if body.get("tools") and "please write" in json.dumps(messages):
            return Reply.tool("Write", {"file_path": str(cwd / "notes.txt"), "content": "hello\n"})
        return Reply.text("ok")

    fake = FakeAnthropic(default=answer)
    url = fake.start()
    user_home = tmp_path / "user"
    user_home.mkdir()
    (user_home / ".claude.json").write_text(
        json.dumps(
            {
                "hasCompletedOnboarding": True,
                "customApiKeyResponses": {"approved": [KEY[-20:]], "rejected": []},
                "projects": {str(cwd): {"hasTrustDialogAccepted": True}},
            }
        )
    )
    home = tmp_path / "fleet"
    env = fleet_env(home)
    env.update(
        HOME=str(user_home),
        ANTHROPIC_BASE_URL=url,
        ANTHROPIC_API_KEY=KEY,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL="1",
    )
    cli = FleetCLI(home, env)
    socket = tmux_socket(home)

    def agent() -> dict[str, Any]:
        return cli.api("GET", "/v1/agents/cc")

    try:
        cli.ok(
            "agent",
            "create",
            "cc",
            "--runtime",
            "tmux",
            "--command",
            f"{CLAUDE} --permission-mode default",
            "--cwd",
            str(cwd),
        )
        wait(lambda: agent()["status"] == "idle", 30, "claude idle")
        cli.ok("agent", "send", "cc", "please write notes")
        t = wait(lambda: agent()["status"] in ("working", "waiting"), 2, "working")
        assert t < 2
        wait(lambda: agent()["status"] == "waiting", 20, "permission prompt")
        inbox = cli.api("GET", "/v1/messages")
        gates = [m for m in inbox if m["type"] == "decision_gate"]
        assert gates, inbox
        # the choice list on screen is often seen before the PermissionRequest hook lands
        assert agent()["status_source"] in ("hook", "screen")
        cli.ok("agent", "keys", "cc", "1")
        t = wait(lambda: agent()["status"] == "idle", 5, "idle after the answer")
        assert (cwd / "notes.txt").read_text() == "hello\n"
        assert t < 2.0 + 1.0  # within 2 s of the turn ending (+ the model's reply)
        a = agent()
        assert a["status_source"] == "hook", a  # the Stop hook, not the screen
        wait(lambda: (agent()["cost_usd"] or 0) > 0, 10, "cost from the statusLine")
        assert agent()["context_tokens"] > 0

        # kill the pane's process: the supervisor restarts it
        target = "=" + session_name(a["id"]) + ":"
        pid = subprocess.run(
            ["tmux", "-S", str(socket), "display", "-p", "-t", target, "#{pane_pid}"],
            check=False,
            capture_output=True,
            text=True,
        ).stdout.strip()
        os.kill(int(pid), signal.SIGKILL)
        wait(lambda: agent()["restarts"] >= 1, 5, "restart")
        wait(lambda: agent()["status"] == "idle", 30, "idle after restart")

        # kill -9 the daemon: its successor re-adopts the same session
        pid = subprocess.run(
            ["tmux", "-S", str(socket), "display", "-p", "-t", target, "#{pane_pid}"],
            check=False,
            capture_output=True,
            text=True,
        ).stdout.strip()
        os.kill(cli.daemon_pid(), signal.SIGKILL)
        time.sleep(0.5)
        cli.ok("status")  # starts a new engine
        wait(lambda: agent()["status"] == "idle", 30, "re-adopted")
        again = subprocess.run(
            ["tmux", "-S", str(socket), "display", "-p", "-t", target, "#{pane_pid}"],
            check=False,
            capture_output=True,
            text=True,
        ).stdout.strip()
        assert again == pid
    finally:
        cli.stop()
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], check=False, capture_output=True)
        fake.stop()
