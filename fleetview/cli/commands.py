"""One handler per command group: agent, task, msg, gate, status."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from fleetview.cli.output import _cell, _fields, _print_json, age, context_percent, cost, table
from fleetview.client import FleetClient
from fleetview.errors import FleetError, Invalid
from fleetview.models import (
    COLUMNS,
    HUMAN,
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

Handler = Callable[[FleetClient, argparse.Namespace], Any]


def _list_out(
    items: Sequence[Any], args: argparse.Namespace, rows: Callable[[Any], str], empty: str
) -> int:
    """A list command's output: JSON, the table, or what to do when it is empty."""
    if args.json:
        _print_json(items)
    elif items:
        print(rows(items))
    else:
        print(empty)
    return 0


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
        return _list_out(
            agents, args, agent_rows, "no agents (create one: fleetview agent create NAME)"
        )
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
        return _list_out(tasks, args, task_rows, "no tasks (add one: fleetview task add TITLE)")
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
        return _list_out(messages, args, message_rows, "no messages")
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
