"""`python -m fleetview.sdk program.py [args...]`: run a legacy `async def main(orch)`.

The program is loaded under its own name (so its `if __name__ == "__main__"`
block stays quiet), `sys.argv` is what it would have seen, and an expected
failure (AgentError, SchemaError, EngineUnavailable, ...) is one line on
stderr with exit status 1.
"""

from __future__ import annotations

import runpy
import sys

from fleetview.errors import FleetError


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    runtime = None
    while args and args[0].startswith("--runtime"):
        option = args.pop(0)
        if "=" in option:
            runtime = option.split("=", 1)[1]
        elif args:
            runtime = args.pop(0)
    if not args or args[0] in ("-h", "--help"):
        print(
            "usage: python -m fleetview.sdk [--runtime api|tmux|sim] PROGRAM.py [ARGS...]\n"
            "runs the program's `async def main(orch)` against the fleet",
            file=sys.stderr if not args else sys.stdout,
        )
        return 2 if not args else 0
    path = args[0]
    sys.argv = args
    try:
        namespace = runpy.run_path(path, run_name="__fleetview_program__")
    except FileNotFoundError:
        print(f"fleetview: error: no such program: {path}", file=sys.stderr)
        return 2
    entry = namespace.get("main")
    if entry is None or not callable(entry):
        print(f"fleetview: error: {path} defines no `async def main(orch)`", file=sys.stderr)
        return 2
    from fleetview.sdk.legacy import run

    try:
        run(entry, runtime=runtime)
    except FleetError as exc:
        print(f"fleetview: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
