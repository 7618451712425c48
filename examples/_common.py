"""The command line every example shares: --runtime, --speed, and one topic."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from fleetview import AgentError, SchemaError
from fleetview.errors import FleetError


def run_example(
    main: Callable[..., Awaitable[None]],
    doc: str,
    topic: tuple[str, str] | None = None,
) -> int:
    """Parse the shared options (and `--NAME` for `topic=(NAME, default)`), run `main`."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument(
        "--runtime",
        choices=("api", "tmux", "sim"),
        default=None,
        help="where agents run (default: api when ANTHROPIC_API_KEY is set)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=20.0,
        help="sim only: how much faster than real time (default 20)",
    )
    if topic is not None:
        parser.add_argument(f"--{topic[0]}", default=topic[1])
    args = parser.parse_args()
    extra = [getattr(args, topic[0])] if topic is not None else []
    try:
        asyncio.run(main(args.runtime, args.speed, *extra))
    except (AgentError, SchemaError, FleetError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
