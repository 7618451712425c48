"""The whole command line, as in DESIGN.md (argparse)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from fleetview.cli.output import PROG
from fleetview.models import COLUMNS, MESSAGE_TYPES, RUNTIMES


def _config_pair(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, as in DESIGN.md."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Create, command, watch and delete a fleet of AI agents. "
        "With no command, open the TUI (starting the engine if needed).",
    )
    parser.add_argument(
        "--readonly",
        action="store_true",
        help="TUI: watch only; hide every action that changes the fleet",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("demo", help="TUI on a simulated fleet in a throwaway home")
    sub.add_parser("serve", help="run the engine in the foreground")
    p = sub.add_parser("status", help="engine status")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = sub.add_parser(
        "down",
        help="stop the engine (agents keep running)",
        description="Stop this FLEETVIEW_HOME's engine. Agents are not stopped: tmux agents "
        "keep running in their tmux sessions and are re-adopted by the next engine; "
        "runs in flight on api/sim agents are marked interrupted. With --all, every "
        "agent is stopped first (tmux sessions end); their records stay.",
    )
    p.add_argument("--all", action="store_true", help="stop every agent too, then the engine")

    # agent
    agent = sub.add_parser("agent", help="create, command and remove agents")
    asub = agent.add_subparsers(dest="action", metavar="ACTION", required=True)

    def agent_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("name", metavar="NAME")
        p.add_argument("--runtime", choices=RUNTIMES, default="sim")
        p.add_argument("--model", "-m")
        p.add_argument("--prompt", "-p", default="", help="system prompt")
        p.add_argument(
            "--command", dest="agent_command", metavar="CMD", help="tmux: the agent CLI to run"
        )
        p.add_argument("--cwd", metavar="DIR")
        p.add_argument("--tool", dest="tools", action="append", default=[], metavar="TOOL")
        p.add_argument(
            "--config",
            action="extend",
            nargs="+",
            type=_config_pair,
            default=[],
            metavar="KEY=VALUE",
            help="runtime option (repeatable), e.g. speed=0.05",
        )
        p.add_argument("--json", action="store_true")

    agent_options(asub.add_parser("create", help="create an agent"))
    p = asub.add_parser("spawn", help="create a child of PARENT")
    p.add_argument("parent", metavar="PARENT")
    agent_options(p)
    p = asub.add_parser("list", help="list agents")
    p.add_argument("--json", action="store_true")
    p = asub.add_parser("show", help="show one agent and its recent runs")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--json", action="store_true")
    p = asub.add_parser("send", help="give an agent a prompt")
    p.add_argument("name", metavar="NAME")
    p.add_argument("prompt", metavar="PROMPT")
    p.add_argument("--wait", action="store_true", help="wait and print the result")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S")
    p.add_argument("--context", type=int, action="append", default=[], metavar="RESULT_ID")
    p.add_argument("--json", action="store_true")
    p = asub.add_parser("keys", help="send raw keys to a tmux agent")
    p.add_argument("name", metavar="NAME")
    p.add_argument("keys", metavar="KEY", nargs="+")
    p = asub.add_parser("logs", help="an agent's recent output (sanitised)")
    p.add_argument("name", metavar="NAME")
    p.add_argument("-n", "--lines", type=int, default=200, metavar="N")
    p = asub.add_parser("rm", help="delete an agent (or --all)")
    p.add_argument("name", metavar="NAME", nargs="?")
    p.add_argument("--all", action="store_true", help="delete every agent")
    for verb, text in (("restart", "restart an agent"), ("stop", "stop an agent")):
        p = asub.add_parser(verb, help=text)
        p.add_argument("name", metavar="NAME")
        p.add_argument("--json", action="store_true")

    # task
    task = sub.add_parser("task", help="the task board")
    tsub = task.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = tsub.add_parser("add", help="add a task")
    p.add_argument("title", metavar="TITLE")
    p.add_argument("--spec", "-s", default="")
    p.add_argument("--dep", type=int, action="append", default=[], metavar="ID")
    p.add_argument("--column", "-c", default="plan", metavar="C", help="/".join(COLUMNS))
    p.add_argument("--json", action="store_true")
    p = tsub.add_parser("list", help="list tasks")
    p.add_argument("--json", action="store_true")
    p = tsub.add_parser("show", help="show a task")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true")
    p = tsub.add_parser("move", help="move a task to a column")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("column", metavar="COLUMN", help="/".join(COLUMNS))
    p.add_argument("--json", action="store_true")
    p = tsub.add_parser("assign", help="assign a task to an agent")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("agent", metavar="AGENT", help="agent name, or - to unassign")
    p.add_argument("--json", action="store_true")
    p = tsub.add_parser("dep", help="make task ID depend on task DEP")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("dep", type=int, metavar="DEP")
    p.add_argument("--rm", action="store_true", help="remove the dependency instead")
    p.add_argument("--json", action="store_true")
    p = tsub.add_parser("rm", help="remove a task")
    p.add_argument("id", type=int, metavar="ID")

    # msg
    msg = sub.add_parser("msg", help="messages between you and the agents")
    msub = msg.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = msub.add_parser("send", help="send a message")
    p.add_argument("--to", required=True, metavar="R", help="agent, human, @all, @idle, @RUNTIME")
    p.add_argument("--subject", required=True, metavar="S")
    p.add_argument("--body", default="", metavar="B")
    p.add_argument(
        "--type", default="status", choices=MESSAGE_TYPES, metavar="T", help="/".join(MESSAGE_TYPES)
    )
    p.add_argument(
        "--priority",
        default="normal",
        choices=("normal", "high", "urgent"),
        metavar="P",
        help="normal/high/urgent",
    )
    p.add_argument("--json", action="store_true")
    p = msub.add_parser("inbox", help="list messages (newest first)")
    p.add_argument("--unread", action="store_true")
    p.add_argument("--to", metavar="R", help="only messages to R")
    p.add_argument("-n", "--limit", type=int, metavar="N")
    p.add_argument("--json", action="store_true")
    p = msub.add_parser("show", help="show a message and its thread")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true")
    p = msub.add_parser("reply", help="reply in a message's thread")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--body", required=True, metavar="B")
    p.add_argument("--json", action="store_true")
    p = msub.add_parser("read", help="mark a message read")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("--json", action="store_true")

    # gate
    gate = sub.add_parser("gate", help="human decisions agents are waiting for")
    gsub = gate.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = gsub.add_parser("list", help="list gates")
    p.add_argument("--status", choices=("pending", "resolved", "timeout"))
    p.add_argument("--json", action="store_true")
    p = gsub.add_parser("resolve", help="answer a gate")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("choice", metavar="CHOICE")
    p.add_argument("--json", action="store_true")
    return parser
