"""The command line: kubectl/docker style verbs over the engine's API.

Only the client and the models are imported up front so a command starts
fast; the TUI, the demo and the daemon's server are imported when asked for.
Every expected failure is one line on stderr (`fleetview: error: ...`) and
exit code 1; bad usage is exit code 2; there is never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from fleetview.cli.commands import COMMANDS, Handler, UsageError
from fleetview.cli.output import PROG
from fleetview.cli.parser import build_parser
from fleetview.client import FleetClient
from fleetview.errors import EngineUnavailable, FleetError
from fleetview.sanitize import sanitize

__all__ = ["build_parser", "main"]


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
