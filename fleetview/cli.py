"""The command line: kubectl/docker style verbs over the engine's API.

Only the client and the models are imported up front so a command starts
fast; the TUI, the demo and the daemon's server are imported when asked for.
Every expected failure is one line on stderr (`fleetview: error: ...`) and
exit code 1; bad usage is exit code 2; there is never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from fleetview.client import FleetClient
from fleetview.errors import EngineUnavailable, FleetError, Invalid
from fleetview.models import (
    COLUMNS,
    HUMAN,
    MESSAGE_TYPES,
    RUNTIMES,
    Agent,
    AgentSpec,
    Message,
    MessageSpec,
    Run,
    RunRequest,
    Task,
    TaskSpec,
)
from fleetview.sanitize import sanitize

PROG = "fleetview"


# ---- output helpers -------------------------------------------------------------------


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


# ---- argument parsing -------------------------------------------------------------------


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


# ---- commands -------------------------------------------------------------------------


Handler = Callable[[FleetClient, argparse.Namespace], Any]


async def cmd_status(client: FleetClient, args: argparse.Namespace) -> int:
    status = await client.status()
    if args.json:
        _print_json(status)
        return 0
    agents = ", ".join(f"{n} {s}" for s, n in sorted(status.agents.items()) if n) or "none"
    unpriced = f" (+{status.unpriced_agents} unpriced)" if status.unpriced_agents else ""
    print(
        _fields(
            [
                ("engine", f"pid {status.pid} at {status.url} (up {age(status.started_at)})"),
                ("home", status.home),
                ("version", status.version),
                ("agents", agents),
                ("tasks", status.tasks),
                ("messages", status.messages),
                ("cost", f"{cost(status.cost_usd)}{unpriced}"),
                ("seq", status.seq),
            ]
        )
    )
    return 0


def agent_rows(agents: Sequence[Agent]) -> str:
    now = datetime.now(UTC)
    rows = [
        (
            a.name,
            a.runtime,
            a.model or ("simulated" if a.runtime == "sim" else "-"),
            f"{a.status} {age(a.status_at, now)}" + (" (stalled)" if a.stalled else ""),
            cost(a.cost_usd, a.runtime),
            context_percent(a),
            a.detail or "",
        )
        for a in agents
    ]
    return table(("NAME", "RUNTIME", "MODEL", "STATUS", "COST", "CONTEXT%", "DETAIL"), rows)


def run_rows(runs: Sequence[Run]) -> str:
    rows = [
        (r.id, r.status, age(r.created_at), cost(r.cost_usd), r.error or r.prompt) for r in runs
    ]
    return table(("RUN", "STATUS", "AGE", "COST", "PROMPT / ERROR"), rows)


def _agent_spec(args: argparse.Namespace, parent: str | None = None) -> AgentSpec:
    values: dict[str, Any] = {
        "name": args.name,
        "runtime": args.runtime,
        "prompt": args.prompt,
        "config": dict(args.config),
    }
    for key, value in (("model", args.model), ("command", args.agent_command), ("cwd", args.cwd)):
        if value is not None:
            values[key] = value
    if args.cwd:
        values["cwd"] = os.path.abspath(args.cwd)
    if args.tools:
        values["tools"] = args.tools
    if parent:
        values["parent"] = parent
    return _model(AgentSpec, values)


def _model(cls: type[BaseModel], values: dict[str, Any]) -> Any:
    """Build a request model; a bad value is one line naming the field."""
    try:
        return cls.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        raise Invalid(f"{field}: {message}" if field else message) from None


async def cmd_agent(client: FleetClient, args: argparse.Namespace) -> int:
    action = args.action
    if action in ("create", "spawn"):
        if action == "create":
            agent = await client.create_agent(_agent_spec(args))
        else:
            agent = await client.spawn_agent(args.parent, _agent_spec(args))
        if args.json:
            _print_json(agent)
        else:
            print(f"agent {agent.name} created ({agent.runtime}, {agent.status})")
        return 0
    if action == "list":
        agents = await client.list_agents()
        if args.json:
            _print_json(agents)
        elif agents:
            print(agent_rows(agents))
        else:
            print("no agents (create one: fleetview agent create NAME)")
        return 0
    if action == "show":
        agent = await client.get_agent(args.name)
        if args.json:
            _print_json(agent)
            return 0
        runs = await client.list_runs(agent.name, limit=10)
        print(
            _fields(
                [
                    ("name", agent.name),
                    ("id", agent.id),
                    ("runtime", agent.runtime + (" (simulated)" if agent.runtime == "sim" else "")),
                    ("model", agent.model),
                    (
                        "status",
                        f"{agent.status} {age(agent.status_at)} (from {agent.status_source})",
                    ),
                    ("detail", agent.detail),
                    ("parent", agent.parent_id),
                    ("cwd", agent.cwd),
                    ("command", agent.command),
                    ("cost", cost(agent.cost_usd, agent.runtime)),
                    (
                        "tokens",
                        (
                            f"{agent.usage.input_tokens} in, {agent.usage.output_tokens} out, "
                            f"{agent.usage.cache_read_tokens} cache read"
                        ),
                    ),
                    (
                        "context",
                        (
                            f"{agent.context_tokens} / {agent.context_window or '-'} "
                            f"({context_percent(agent)})"
                        ),
                    ),
                    ("runs", agent.runs),
                    ("restarts", agent.restarts),
                    ("created", agent.created_at.isoformat(timespec="seconds")),
                ]
            )
        )
        if runs:
            print()
            print(run_rows(runs))
        return 0
    if action == "send":
        req = _model(RunRequest, {"prompt": args.prompt, "context_ids": args.context})
        run = await client.send(args.name, req)
        if not args.wait:
            if args.json:
                _print_json(run)
            else:
                print(f"run {run.id} queued for {run.agent_name}")
            return 0
        deadline = time.monotonic() + args.timeout
        while not run.done and (left := deadline - time.monotonic()) > 0:
            run = await client.wait_run(run.id, min(left, 300.0))
        if args.json:
            _print_json(run)
        elif run.status == "completed":
            print(sanitize(run.text))
        if run.status == "completed":
            return 0
        if not run.done:
            raise FleetError(f"run {run.id} still {run.status} after {args.timeout:g} s")
        raise FleetError(f"run {run.id} {run.status}: {sanitize(run.error or 'no reason given')}")
    if action == "keys":
        await client.send_keys(args.name, args.keys)
        return 0
    if action == "logs":
        if args.lines < 1:
            raise Invalid("-n must be at least 1")
        for line in await client.logs(args.name, args.lines):
            print(sanitize(line))
        return 0
    if action == "rm":
        if args.all == bool(args.name):
            raise UsageError("agent rm: give NAME or --all (not both)")
        if args.all:
            count = await client.delete_all_agents()
            print(f"deleted {count} agent{'s' if count != 1 else ''}")
        else:
            await client.delete_agent(args.name)
            print(f"agent {args.name} deleted")
        return 0
    if action in ("restart", "stop"):
        method = client.restart_agent if action == "restart" else client.stop_agent
        agent = await method(args.name)
        if args.json:
            _print_json(agent)
        else:
            verb = "restarted" if action == "restart" else "stopped"
            print(f"agent {agent.name} {verb} ({agent.status})")
        return 0
    raise UsageError(f"unknown agent action {action!r}")


def task_rows(tasks: Sequence[Task]) -> str:
    rows = [
        (
            t.id,
            t.column,
            t.status,
            t.assignee or "-",
            ",".join(map(str, t.deps)) or "-",
            cost(t.cost_usd),
            t.title,
        )
        for t in tasks
    ]
    return table(("ID", "COLUMN", "STATUS", "ASSIGNEE", "DEPS", "COST", "TITLE"), rows)


def _task_out(task: Task, args: argparse.Namespace, verb: str) -> int:
    if getattr(args, "json", False):
        _print_json(task)
    else:
        print(f"task {task.id} {verb} ({task.column}, {task.status})")
    return 0


async def cmd_task(client: FleetClient, args: argparse.Namespace) -> int:
    action = args.action
    if action == "add":
        if args.column not in COLUMNS:
            raise Invalid(f"unknown column {args.column!r}: use {', '.join(COLUMNS)}")
        spec = _model(
            TaskSpec,
            {"title": args.title, "spec": args.spec, "deps": args.dep, "column": args.column},
        )
        return _task_out(await client.add_task(spec), args, "added")
    if action == "list":
        tasks = await client.list_tasks()
        if args.json:
            _print_json(tasks)
        elif tasks:
            print(task_rows(tasks))
        else:
            print("no tasks (add one: fleetview task add TITLE)")
        return 0
    if action == "show":
        task = await client.get_task(args.id)
        if args.json:
            _print_json(task)
            return 0
        print(
            _fields(
                [
                    ("id", task.id),
                    ("title", task.title),
                    ("column", task.column),
                    ("status", task.status),
                    ("assignee", task.assignee),
                    ("deps", ", ".join(map(str, task.deps)) or "-"),
                    ("attempts", task.attempts),
                    ("cost", cost(task.cost_usd)),
                    ("updated", age(task.updated_at) + " ago"),
                ]
            )
        )
        if task.spec:
            print("\n" + sanitize(task.spec))
        if task.result:
            print("\nresult:\n" + sanitize(task.result))
        return 0
    if action == "move":
        if args.column not in COLUMNS:
            raise Invalid(f"unknown column {args.column!r}: use {', '.join(COLUMNS)}")
        return _task_out(await client.move_task(args.id, args.column), args, "moved")
    if action == "assign":
        agent = None if args.agent == "-" else args.agent
        return _task_out(await client.assign_task(args.id, agent), args, "assigned")
    if action == "dep":
        if args.rm:
            return _task_out(await client.remove_dep(args.id, args.dep), args, "updated")
        return _task_out(await client.add_dep(args.id, args.dep), args, "updated")
    if action == "rm":
        await client.remove_task(args.id)
        print(f"task {args.id} removed")
        return 0
    raise UsageError(f"unknown task action {action!r}")


def message_rows(messages: Sequence[Message]) -> str:
    rows = [
        (
            m.id,
            "*" if m.unread else "",
            m.priority,
            m.type,
            m.sender,
            m.recipient,
            age(m.created_at),
            m.subject,
        )
        for m in messages
    ]
    return table(("ID", "NEW", "PRIORITY", "TYPE", "FROM", "TO", "AGE", "SUBJECT"), rows)


def _message_text(m: Message) -> str:
    head = _fields(
        [
            ("id", f"{m.id} (thread {m.thread_id})"),
            ("from", m.sender),
            ("to", m.recipient),
            ("type", m.type),
            ("priority", m.priority),
            ("subject", m.subject),
            ("sent", m.created_at.isoformat(timespec="seconds")),
            ("read", m.read_at.isoformat(timespec="seconds") if m.read_at else "unread"),
        ]
    )
    return head + ("\n\n" + sanitize(m.body) if m.body else "")


async def cmd_msg(client: FleetClient, args: argparse.Namespace) -> int:
    action = args.action
    if action == "send":
        sender = os.environ.get("FLEETVIEW_AGENT_NAME") or HUMAN
        spec = _model(
            MessageSpec,
            {
                "to": args.to,
                "subject": args.subject,
                "body": args.body,
                "type": args.type,
                "priority": args.priority,
                "sender": sender,
            },
        )
        message = await client.send_message(spec)
        if args.json:
            _print_json(message)
        else:
            print(f"message {message.id} sent to {message.recipient}")
        return 0
    if action == "inbox":
        messages = await client.list_messages(
            recipient=args.to, unread_only=args.unread, limit=args.limit
        )
        if args.json:
            _print_json(messages)
        elif messages:
            print(message_rows(messages))
        else:
            print("no messages")
        return 0
    if action == "show":
        message = await client.get_message(args.id)
        if args.json:
            _print_json(message)
            return 0
        thread = await client.thread(args.id)
        print(_message_text(message))
        others = [m for m in thread if m.id != message.id]
        if others:
            print("\nthread:")
            for other in others:
                print(
                    f"  #{other.id} {other.sender} -> {other.recipient} "
                    f"({age(other.created_at)} ago): {_cell(other.subject)}"
                )
                for line in sanitize(other.body).splitlines():
                    print(f"    {line}")
        return 0
    if action == "reply":
        sender = os.environ.get("FLEETVIEW_AGENT_NAME") or HUMAN
        message = await client.reply(args.id, args.body, sender=sender)
        if args.json:
            _print_json(message)
        else:
            print(f"reply {message.id} sent to {message.recipient}")
        return 0
    if action == "read":
        message = await client.mark_read(args.id)
        if args.json:
            _print_json(message)
        else:
            print(f"message {message.id} marked read")
        return 0
    raise UsageError(f"unknown msg action {action!r}")


async def cmd_gate(client: FleetClient, args: argparse.Namespace) -> int:
    if args.action == "list":
        gates = await client.list_gates(status=args.status)
        if args.json:
            _print_json(gates)
        elif gates:
            rows = [
                (
                    g.id,
                    g.status,
                    g.agent_name or "-",
                    g.task_id or "-",
                    " / ".join(g.options) or "-",
                    g.resolution or "-",
                    g.question,
                )
                for g in gates
            ]
            headers = ("ID", "STATUS", "AGENT", "TASK", "OPTIONS", "RESOLUTION", "QUESTION")
            print(table(headers, rows))
        else:
            print("no gates")
        return 0
    gate = await client.resolve_gate(args.id, args.choice)
    if args.json:
        _print_json(gate)
    else:
        print(f"gate {gate.id} {gate.status}: {gate.resolution}")
    return 0


COMMANDS: dict[str, Handler] = {
    "status": cmd_status,
    "agent": cmd_agent,
    "task": cmd_task,
    "msg": cmd_msg,
    "gate": cmd_gate,
}


class UsageError(Exception):
    """Bad usage that argparse could not catch (exit code 2)."""


# ---- entry points ---------------------------------------------------------------------


async def _with_client(handler: Handler, args: argparse.Namespace) -> int:
    client = await FleetClient.connect()
    try:
        return int(await handler(client, args) or 0)
    finally:
        await client.aclose()


async def _stop_every_agent() -> int:
    client = await FleetClient.connect()  # starts one if needed: tmux agents outlive engines
    try:
        agents = [a for a in await client.list_agents() if a.status != "stopped"]
        for agent in agents:
            await client.stop_agent(agent.name)
        return len(agents)
    finally:
        await client.aclose()


def _down(stop_agents: bool = False) -> int:
    from fleetview.daemon import stop_daemon
    from fleetview.paths import FleetPaths

    paths = FleetPaths.from_env()
    stopped = None
    if stop_agents:
        try:
            stopped = asyncio.run(_stop_every_agent())
        except EngineUnavailable:
            stopped = None
    pid = stop_daemon(paths)
    if pid is None:
        print(f"no engine running for {paths.home}")
    elif stopped is not None:
        print(f"{stopped} agents stopped; engine (pid {pid}) stopped")
    else:
        print(f"engine (pid {pid}) stopped; agents in tmux keep running")
    return 0


def _serve() -> int:
    """`fleetview serve`; an unexpected crash is logged in full and told in one line."""
    from fleetview.daemon import serve

    try:
        return serve()
    except FleetError:
        raise
    except Exception as exc:
        import logging

        logging.getLogger("fleetview.daemon").exception("the engine crashed")
        raise FleetError(f"the engine crashed: {type(exc).__name__}: {exc}") from None


def _run_tui(demo: bool, readonly: bool = False) -> int:
    module = "fleetview.tui.demo" if demo else "fleetview.tui.app"
    try:
        if demo:
            from fleetview.tui.demo import run_demo as entry
        else:
            from fleetview.tui.app import run_tui as entry
    except ImportError as exc:
        if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
            raise FleetError(
                f"the TUI is not available in this build ({module} is missing)"
            ) from None
        raise FleetError(f"the TUI could not start: {exc}") from None
    return int((entry() if demo else entry(readonly=readonly)) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit code (0 ok, 1 failed, 2 bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return _run_tui(demo=False, readonly=args.readonly)
        if args.command == "demo":
            return _run_tui(demo=True)
        if args.command == "serve":
            return _serve()
        if args.command == "down":
            return _down(stop_agents=args.all)
        return asyncio.run(_with_client(COMMANDS[args.command], args))
    except FleetError as exc:
        print(f"{PROG}: error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1


def _one_line(text: str) -> str:
    return " ".join(sanitize(text).split()) or "unknown error"


if __name__ == "__main__":
    sys.exit(main())
