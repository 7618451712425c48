"""The private tmux server of one FLEETVIEW_HOME, and how to reach it.

The socket lives under FLEETVIEW_HOME/runtimes (or, when that path is too
long for a unix socket, under a per-user dir in /tmp named by a hash of the
home). tmux is always called with `-S SOCKET` and `-f /dev/null`: the user's
default server and ~/.tmux.conf are never touched. An anchor session
(`_fleetview`) keeps the server up and gives the control client somewhere to
attach; every agent lives in its own session `fv-<agent id>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from pathlib import Path

from fleetview.errors import RuntimeFailure

ANCHOR = "_fleetview"
SESSION_PREFIX = "fv-"
_MAX_SOCKET = 100

GLOBAL_OPTIONS = [
    ("remain-on-exit", "on"),  # a dead pane stays, with its exit status: the supervisor's signal
    ("history-limit", "10000"),
    ("default-size", "160x50"),
    ("exit-empty", "off"),
    ("destroy-unattached", "off"),
    ("focus-events", "on"),  # Claude Code asks for it
]


def tmux_socket(home: Path) -> Path:
    """The socket path of the fleet's private tmux server."""
    path = Path(home) / "runtimes" / "tmux.sock"
    if len(str(path)) <= _MAX_SOCKET:
        return path
    digest = hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:16]
    return Path("/tmp") / f"fleetview-{os.getuid()}" / f"{digest}.sock"


def session_name(agent_id: str) -> str:
    return f"{SESSION_PREFIX}{agent_id}"


def attach_argv(home: Path, agent_id: str) -> list[str]:
    """What the TUI runs (inside app.suspend()) to hand the terminal to an agent."""
    return [
        "tmux",
        "-S",
        str(tmux_socket(home)),
        "attach-session",
        "-t",
        f"={session_name(agent_id)}",
    ]


async def run_tmux(socket: Path, *args: str, timeout: float = 10.0) -> tuple[int, str, str]:
    """One tmux process on the private socket (setup only; watching uses control mode)."""
    proc = await asyncio.create_subprocess_exec(
        "tmux",
        "-u",
        "-S",
        str(socket),
        "-f",
        "/dev/null",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeFailure(f"tmux {args[0]} timed out") from None
    return proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


async def ensure_server(socket: Path) -> None:
    """Start the private server (and its anchor session) unless it already runs."""
    if shutil.which("tmux") is None:
        raise RuntimeFailure("tmux is not installed (the tmux runtime needs tmux >= 3.2)")
    socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    code, _, _ = await run_tmux(socket, "has-session", "-t", f"={ANCHOR}")
    if code == 0:
        return
    if socket.exists():
        socket.unlink()  # a stale socket of a dead server
    code, _, err = await run_tmux(
        socket, "new-session", "-d", "-s", ANCHOR, "--", "sleep", "2147483647"
    )
    if code != 0:
        raise RuntimeFailure(f"could not start the private tmux server: {err.strip()}")
    for option, value in GLOBAL_OPTIONS:
        await run_tmux(socket, "set-option", "-g", option, value)
    os.chmod(socket, 0o600)


async def kill_server(socket: Path) -> None:
    """Stop the private server and every agent session on it; remove the socket."""
    await run_tmux(socket, "kill-server")
    if socket.exists():
        socket.unlink()
