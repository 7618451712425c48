"""The command line as a user runs it: real subprocesses, a real daemon, real SQLite.

Set-up that is not the behaviour under test goes through the HTTP API
(`cli.api`), and independent error cases run at once (`fails_many`), since
every CLI start pays ~0.3 s of imports.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import FleetCLI, wait_for


def test_agent_create_list_show_send(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    out = cli.ok(
        "agent",
        "create",
        "alpha",
        "--runtime",
        "sim",
        "--model",
        "claude-sonnet-5-5",
        "--prompt",
        "be brief",
        "--cwd",
        str(cli.home),
        "--config",
        "speed=50",
        "seed=3",
    )
    assert "alpha" in out
    agent = cli.json("agent", "show", "alpha")
    assert agent["name"] == "alpha" and agent["runtime"] == "sim"
    assert agent["config"] == {"speed": 50, "seed": 3} and agent["prompt"] == "be brief"
    assert agent["cwd"] == str(cli.home)

    done = cli.ok("agent", "send", "alpha", "write the tests", "--wait", "--timeout", "8")
    assert "[simulated] Done: write the tests" in done
    queued = cli.ok("agent", "send", "alpha", "another one")
    assert queued.startswith("run ")

    listed = cli.ok("agent", "list")
    header, *rows = listed.splitlines()
    assert header.split() == ["NAME", "RUNTIME", "MODEL", "STATUS", "COST", "CONTEXT%", "DETAIL"]
    row = next(r for r in rows if r.startswith("alpha "))
    assert header.index("RUNTIME") == row.index("sim")  # aligned columns
    status = row[header.index("STATUS") : header.index("COST")].split()
    assert status[0] in ("idle", "working") and status[1][:-1].isdigit()  # `working 3s`
    assert "$" in row and "%" in row
    assert [a["name"] for a in cli.json("agent", "list")].count("alpha") == 1

    show = cli.ok("agent", "show", "alpha")
    assert "simulated" in show and "completed" in show


def test_agent_spawn_stop_restart_rm(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    parent = cli.api("POST", "/v1/agents", {"name": "papa", "config": {"speed": 50}})
    child = cli.json("agent", "spawn", "papa", "papa-kid", "--config", "speed=50")
    assert child["parent_id"] == parent["id"]
    assert cli.json("agent", "stop", "papa-kid")["status"] == "stopped"
    assert cli.json("agent", "restart", "papa-kid")["status"] != "stopped"
    assert "papa-kid deleted" in cli.ok("agent", "rm", "papa-kid")
    assert "papa-kid" in cli.fails("agent", "show", "papa-kid")


def test_logs_are_sanitised(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    cli.api("POST", "/v1/agents", {"name": "noisy", "config": {"speed": 50}})
    evil = "title\x1b]0;pwned\x07 red\x1b[31mRED\x1b[0m bell\x07 dcs\x1bPq#0\x1b\\ end"
    run = cli.api("POST", "/v1/agents/noisy/runs", {"prompt": evil})
    assert cli.api("GET", f"/v1/runs/{run['id']}?wait=8")["status"] == "completed"
    out = cli.ok("agent", "logs", "noisy", "-n", "50")
    assert "title redRED bell dcs end" in out
    assert not any(ch in out for ch in "\x1b\x07\x9b\x9d")
    assert len(cli.ok("agent", "logs", "noisy", "-n", "2").splitlines()) <= 2


def test_agent_errors_are_one_line(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    cli.api("POST", "/v1/agents", {"name": "dup"})
    lines = cli.fails_many(
        ("agent", "show", "ghost"),
        ("agent", "send", "ghost", "hi"),
        ("agent", "logs", "ghost"),
        ("agent", "rm", "ghost"),
        ("agent", "restart", "ghost"),
        ("agent", "stop", "ghost"),
        ("agent", "keys", "ghost", "Enter"),
        ("agent", "spawn", "ghost", "kid"),
        ("agent", "create", "dup"),
        ("agent", "keys", "dup", "Enter"),  # sim agents take no keys while idle
    )
    assert all("ghost" in line for line in lines[:8]), lines
    assert "dup" in lines[8] and "exists" in lines[8]


def test_bad_names_and_usage(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    bad_names = ("a;b", "$(x)", "a b", "-rf", "x" * 65)
    lines = cli.fails_many(*[("agent", "create", "--", bad) for bad in bad_names])
    assert all("invalid name" in line for line in lines), lines
    assert all(a["name"] not in bad_names for a in cli.api("GET", "/v1/agents"))
    cli.fails_many(
        ("agent", "create", "r1", "--runtime", "cobol"),
        ("agent", "rm"),
        ("agent", "frobnicate"),
        ("agent",),
        ("task", "show", "notanumber"),
        ("msg", "send", "--to", "x", "--subject", "x", "--type", "gossip"),
        ("msg", "send", "--subject", "x"),
        code=2,
    )


def test_send_wait_exits_1_when_the_run_fails(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    cli.api("POST", "/v1/agents", {"name": "flaky", "config": {"speed": 50, "fail_rate": 1}})
    line = cli.fails("agent", "send", "flaky", "do it", "--wait", "--timeout", "8")
    assert "failed" in line and "[simulated]" in line


def test_tasks(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    cli.api("POST", "/v1/agents", {"name": "worker"})
    first = cli.json("task", "add", "design the API", "--spec", "REST, JSON")
    second = cli.json("task", "add", "build it", "--dep", str(first["id"]), "--column", "build")
    assert second["deps"] == [first["id"]] and second["column"] == "build"
    assert second["status"] == "blocked"
    assert {t["id"] for t in cli.json("task", "list")} >= {first["id"], second["id"]}
    assert "REST, JSON" in cli.ok("task", "show", str(first["id"]))
    assert cli.json("task", "show", str(second["id"]))["title"] == "build it"

    assert cli.json("task", "move", str(first["id"]), "review")["column"] == "review"
    assert cli.json("task", "assign", str(first["id"]), "worker")["assignee"] == "worker"
    table = cli.ok("task", "list").splitlines()
    assert table[0].split()[:4] == ["ID", "COLUMN", "STATUS", "ASSIGNEE"]
    row = next(line for line in table if "design the API" in line)
    assert row.split()[:2] == [str(first["id"]), "review"] and row.split()[3] == "worker"
    assert cli.json("task", "assign", str(first["id"]), "-")["assignee"] is None
    assert cli.json("task", "dep", str(second["id"]), str(first["id"]), "--rm")["deps"] == []
    assert cli.json("task", "dep", str(first["id"]), str(second["id"]))["deps"] == [second["id"]]
    assert "removed" in cli.ok("task", "rm", str(second["id"]))
    assert second["id"] not in [t["id"] for t in cli.api("GET", "/v1/tasks")]


def test_task_errors(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    first = cli.api("POST", "/v1/tasks", {"title": "one"})
    second = cli.api("POST", "/v1/tasks", {"title": "two", "deps": [first["id"]]})
    lines = cli.fails_many(
        ("task", "dep", str(first["id"]), str(second["id"])),
        ("task", "move", str(first["id"]), "limbo"),
        ("task", "add", "x", "--column", "limbo"),
        ("task", "show", "4242"),
        ("task", "move", "4242", "plan"),
        ("task", "assign", str(first["id"]), "ghost"),
        ("task", "rm", "4242"),
        ("task", "dep", str(first["id"]), "4242"),
    )
    assert "cycle" in lines[0], lines
    assert "limbo" in lines[1] and "limbo" in lines[2] and "4242" in lines[3]


def test_messages(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    cli.api("POST", "/v1/agents", {"name": "mailee"})
    sent = cli.json(
        "msg",
        "send",
        "--to",
        "mailee",
        "--subject",
        "status?",
        "--body",
        "how goes",
        "--type",
        "dispatch",
        "--priority",
        "high",
    )
    assert sent["sender"] == "human" and sent["recipient"] == "mailee"
    assert sent["type"] == "dispatch" and sent["priority"] == "high"
    from_agent = cli.json(
        "msg", "send", "--to", "human", "--subject", "done", env={"FLEETVIEW_AGENT_NAME": "mailee"}
    )
    assert from_agent["sender"] == "mailee"
    inbox = cli.ok("msg", "inbox")
    assert "SUBJECT" in inbox.splitlines()[0] and "status?" in inbox
    assert from_agent["id"] in [m["id"] for m in cli.json("msg", "inbox", "--unread")]

    reply = cli.json("msg", "reply", str(from_agent["id"]), "--body", "thanks")
    assert reply["thread_id"] == from_agent["thread_id"]
    show = cli.ok("msg", "show", str(from_agent["id"]))
    assert "subject:  done" in show and "thanks" in show
    assert cli.json("msg", "show", str(sent["id"]))["body"] == "how goes"
    assert cli.json("msg", "read", str(from_agent["id"]))["read_at"] is not None
    unread = cli.api("GET", "/v1/messages?unread=true")
    assert from_agent["id"] not in [m["id"] for m in unread]
    cli.fails_many(
        ("msg", "show", "9999"), ("msg", "reply", "9999", "--body", "x"), ("msg", "read", "9999")
    )


def test_gates(shared_cli: FleetCLI) -> None:
    cli = shared_cli
    cli.api("POST", "/v1/agents", {"name": "asker", "config": {"speed": 50, "ask_rate": 1}})
    cli.api("POST", "/v1/agents/asker/runs", {"prompt": "needs a decision"})
    gate = wait_for(
        lambda: next(
            (g for g in cli.api("GET", "/v1/gates?status=pending") if g["agent_name"] == "asker"),
            None,
        )
    )
    assert gate["id"] in [g["id"] for g in cli.json("gate", "list", "--status", "pending")]
    assert "QUESTION" in cli.ok("gate", "list").splitlines()[0]
    resolved = cli.json("gate", "resolve", str(gate["id"]), gate["options"][0])
    assert resolved["status"] == "resolved" and resolved["resolution"] == gate["options"][0]
    cli.fails("gate", "resolve", "9999", "Yes")


def test_status_rm_all_and_down(fleet_cli: FleetCLI) -> None:
    cli = fleet_cli
    status = cli.json("status")
    assert status["pid"] == cli.daemon_pid() and status["home"] == str(cli.home)
    cli.api("POST", "/v1/agents", {"name": "one"})
    cli.api("POST", "/v1/agents", {"name": "two"})
    assert "agents:   2 idle" in cli.ok("status")
    assert "deleted 2 agents" in cli.ok("agent", "rm", "--all")
    assert cli.api("GET", "/v1/agents") == []
    assert "agents keep running" in " ".join(cli.ok("down", "--help").split())
    assert "stopped" in cli.ok("down")
    assert not cli.paths.daemon.exists()
    wait_for(lambda: not _alive(status["pid"]))
    assert "no engine" in cli.ok("down")


def test_wrong_token_is_unauthorized(fleet_cli: FleetCLI) -> None:
    cli = fleet_cli
    cli.ok("status")
    real = cli.paths.token.read_text()
    cli.paths.token.write_text("not-the-token\n")
    try:
        assert "token" in cli.fails("agent", "list")
    finally:
        cli.paths.token.write_text(real)
    cli.ok("agent", "list")


def test_help_and_unknown_command(fleet_cli: FleetCLI) -> None:
    help_, unknown = fleet_cli.many(("--help",), ("nonsense",))
    assert help_.returncode == 0 and "agent" in help_.stdout
    assert unknown.returncode == 2 and "Traceback" not in unknown.stderr


def test_kill_9_recovery(fleet_cli: FleetCLI) -> None:
    cli = fleet_cli
    cli.ok("status")
    cli.api("POST", "/v1/agents", {"name": "quick", "config": {"speed": 50}})
    cli.api("POST", "/v1/agents", {"name": "slow", "config": {"speed": 0.05}})
    task = cli.api("POST", "/v1/tasks", {"title": "survive a crash"})
    message = cli.api("POST", "/v1/messages", {"to": "quick", "subject": "keep me"})
    quick = cli.api("POST", "/v1/agents/quick/runs", {"prompt": "finish first"})
    assert cli.api("GET", f"/v1/runs/{quick['id']}?wait=8")["status"] == "completed"
    run = cli.api("POST", "/v1/agents/slow/runs", {"prompt": "take forever"})
    wait_for(lambda: cli.api("GET", "/v1/agents/slow")["status"] == "working")
    time.sleep(0.2)  # let it stream some output

    old_pid = cli.daemon_pid()
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: not _alive(old_pid))

    agents = {a["name"]: a for a in cli.json("agent", "list")}  # autostarts a new engine
    assert cli.daemon_pid() != old_pid
    assert set(agents) == {"quick", "slow"}
    assert agents["slow"]["status"] != "working"
    assert cli.json("task", "show", str(task["id"]))["title"] == "survive a crash"
    assert cli.json("msg", "show", str(message["id"]))["subject"] == "keep me"
    rows = {
        line.split()[0]: line
        for line in cli.ok("agent", "show", "slow").splitlines()
        if line.split()[:1] and line.split()[0].isdigit()
    }
    assert "interrupted" in rows[str(run["id"])]
    assert cli.api("GET", f"/v1/runs/{quick['id']}")["status"] == "completed"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_sanitize_strips_escapes_and_controls() -> None:
    from fleetview.sanitize import sanitize

    assert sanitize("\x1b[1;31mred\x1b[0m") == "red"
    assert sanitize("a\x1b]0;evil title\x07b") == "ab"  # OSC ended by BEL
    assert sanitize("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b") == "alinkb"  # OSC 8, ST
    assert sanitize("a\x1bP+q544e\x1b\\b") == "ab"  # DCS
    assert sanitize("a\x1b(Bb\x1b7c\x1bcd") == "abcd"  # charset, save cursor, reset
    assert sanitize("a\x9b2Jb\x9d0;t\x9cc") == "abc"  # 8-bit CSI and OSC
    assert sanitize("line\r\nnext\ttab\x00\x08\x7f\x85") == "line\nnext\ttab"
    assert sanitize("unterminated \x1b]0;title") == "unterminated "
    assert sanitize("héllo ✓ 日本") == "héllo ✓ 日本"


def test_client_and_cli_imports_stay_light() -> None:
    code = (
        "import sys, fleetview.client, fleetview.cli, fleetview.daemon;"
        "heavy = {'fastapi', 'uvicorn', 'textual', 'anthropic', 'starlette', 'libtmux'};"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_concurrent_first_commands_start_one_engine(fleet_cli: FleetCLI) -> None:
    results = fleet_cli.many(*[("agent", "list", "--json")] * 4)
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr for r in results]
    assert all(json.loads(r.stdout) == [] for r in results)
    serving = [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit()
        and _reads(f"/proc/{pid}/cmdline").endswith(b"fleetview\0serve\0")
        and f"FLEETVIEW_HOME={fleet_cli.home}\0".encode() in _reads(f"/proc/{pid}/environ")
    ]
    assert serving == [str(fleet_cli.daemon_pid())]


def _reads(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b""


def test_down_all_stops_every_agent_and_they_stay_stopped(fleet_cli: FleetCLI) -> None:
    cli = fleet_cli
    cli.api("POST", "/v1/agents", {"name": "one"})
    cli.api("POST", "/v1/agents", {"name": "two"})
    assert "2 agents stopped" in cli.ok("down", "--all")
    assert not cli.paths.daemon.exists()
    # the next engine re-adopts the fleet but does not start what the user stopped
    agents = cli.json("agent", "list")
    assert sorted(a["name"] for a in agents) == ["one", "two"]
    assert {a["status"] for a in agents} == {"stopped"}
