"""Attach to a tmux agent's session: what to run, and whether it can run.

The TUI runs the command inside `App.suspend()`, so the terminal belongs to the
agent's session until the user detaches (prefix d); the TUI then comes back
where it was. The command always names the fleet's private socket (`-S`), so
the user's own tmux server is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from fleetview.runtimes.tmux_server import attach_argv


def attach_command(home: Path, agent_id: str) -> list[str]:
    """`tmux -S <private socket> attach-session -t =fv-<id>` for this fleet home."""
    return attach_argv(home, agent_id)


def attach_env() -> dict[str, str]:
    """The environment for the attach: without $TMUX, so it works from inside tmux
    (the target is another server, so this is not the nesting tmux warns about)."""
    env = dict(os.environ)
    env.pop("TMUX", None)
    return env


def attach_problem(argv: list[str]) -> str | None:
    """Why attaching cannot work right now (tmux missing, session gone), else None."""
    if shutil.which(argv[0]) is None:
        return "tmux is not installed"
    target = argv[argv.index("-t") + 1]
    check = [*argv[: argv.index("attach-session")], "has-session", "-t", target]
    try:
        done = subprocess.run(check, capture_output=True, timeout=5, env=attach_env(), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"tmux did not answer: {exc}"
    if done.returncode != 0:
        return f"its tmux session {target.lstrip('=')} is gone"
    return None
