"""The tmux runtime: terminal agent CLIs, each in its own session on a private server.

- Sessions: one private tmux server per FLEETVIEW_HOME (tmux_server.py), one
  session `fv-<agent id>` per agent, `remain-on-exit on`. The command is
  split with `shlex.split` and exec'd directly by tmux as an argv (never a
  shell string); write `bash -lc '...'` yourself if you want a shell. The
  environment carries FLEETVIEW_AGENT_ID/NAME/HOME/API_URL plus
  `config["env"]`.
- Watching: ONE control-mode client (tmux_control.py) and one watcher task.
  Each tick (0.3 s) sends one `list-panes -a` through it with cheap fields
  (cursor, scrollback size, title, dead); the full listing (pid, size,
  foreground command) only every 2 s, or every tick while a shell agent
  runs. A pane is captured (25 lines around the cursor, through the same
  client) only when its cursor, scrollback or title moved -- a spinner
  redrawn in place is not news -- and otherwise every 2 s while
  starting/working/waiting, every 6 s when idle. No tmux process is spawned
  per agent per poll.
- Input: the prompt is written to a 0600 file, `load-buffer` + `paste-buffer
  -p -r -d` (bracketed paste, LF kept), a short pause, then `Enter`.
- A run completes when the agent is back at `idle` after the paste (having
  shown `working`, or after a short grace for agents too quick to be seen
  busy). `waiting` keeps the run open until a human answers (`agent keys`)
  and the agent goes idle. A pane that dies fails the run. A run the engine
  cancels with a reason (stop, delete, restart) interrupts the CLI: Escape,
  or C-c for a shell or Aider; an engine shutting down interrupts nothing.
- Known CLIs (tmux_clis.py): Claude Code gets `--settings FILE` (hooks +
  statusLine); Codex gets `-c notify=[...]`, and its tokens/context come
  from its session rollout JSONL (token_count events); Gemini CLI gets its
  own system settings file (GEMINI_CLI_SYSTEM_SETTINGS_PATH, the replaced
  system settings copied in) whose hooks report `gemini:EVENT`.
- Status, hooks first: hook reports (tmux_hook.py via the engine) and
  Claude's ~/.claude/sessions/<pid>.json win while fresh (15 s; only a
  visible choice list can override them); otherwise the
  screen (tmux_screen.py: busy patterns before prompt patterns) and the
  pane title decide. Entering `waiting` posts a high-priority
  `decision_gate` message with the question and its choices.
- Supervisor: dead panes are seen on the next tick (<= 0.3 s) and respawned
  with backoff (0.5, 1, 2 ... s); 3 deaths within 60 s stop restarts, mark
  the agent `error` and post an `escalation`. `working` with no screen
  change, hook or output for `config["stall_seconds"]` (default 300) is
  flagged stalled.
- Re-adoption: `start()` adopts a live `fv-<id>` session. Sessions of agents
  that no longer exist are killed by `reconcile(known_ids)`, or, failing
  that, when not claimed within 30 s of the first `start()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetview.errors import Invalid, RuntimeFailure
from fleetview.runtimes.base import RunOutcome
from fleetview.runtimes.tmux_clis import (
    cli_kind,
    gemini_env,
    prepare_argv,
)
from fleetview.runtimes.tmux_control import ControlClient, TmuxCommandError, quote
from fleetview.runtimes.tmux_screen import read_screen
from fleetview.runtimes.tmux_server import (
    ANCHOR,
    SESSION_PREFIX,
    ensure_server,
    kill_server,
    session_name,
    tmux_socket,
)
from fleetview.runtimes.tmux_status import (
    StatusMixin,
)
from fleetview.runtimes.tmux_supervisor import SupervisorMixin
from fleetview.runtimes.tmux_watch import (
    FAST_FORMAT,
    PANE_FORMAT,
    AgentWatch,
    PaneInfo,
    parse_pane,
)

if TYPE_CHECKING:
    from fleetview.runtimes.base import AgentHandle, RunInput

log = logging.getLogger(__name__)

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class TmuxRuntime(StatusMixin, SupervisorMixin):
    """Runs terminal agent CLIs in tmux; see the module docstring."""

    name = "tmux"
    manages_status = True

    def __init__(self) -> None:
        self.socket: Path | None = None
        self.home: Path | None = None
        self.client: ControlClient | None = None
        self._watches: dict[str, AgentWatch] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._setup_lock = asyncio.Lock()
        self._first_start: float | None = None
        self._reconciled = False
        self._full_at = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- server and client ---------------------------------------------------

    async def _ensure(self, home: Path) -> ControlClient:
        async with self._setup_lock:
            if self.home is None:
                self.home = Path(home)
                self.socket = tmux_socket(self.home)
            elif Path(home) != self.home:
                raise RuntimeFailure("one tmux runtime serves one FLEETVIEW_HOME")
            assert self.socket is not None
            if self.client is None or not self.client.alive:
                await ensure_server(self.socket)
                self.client = ControlClient(self.socket, ANCHOR)
                await self.client.start()
            if self._watcher is None or self._watcher.done():
                self._watcher = asyncio.create_task(self._watch_loop(), name="tmux-watcher")
            return self.client

    async def _cmd(self, *tokens: str, raw: str = "") -> list[str]:
        """One tmux command through the control client; tokens are quoted."""
        if self.client is None or not self.client.alive:
            if self.home is None:
                raise RuntimeFailure("the tmux runtime has not started")
            await self._ensure(self.home)
        assert self.client is not None
        line = " ".join([tokens[0], *(quote(t) for t in tokens[1:])])
        if raw:
            line += " " + raw
        return await self.client.command(line)

    async def _sessions(self, full: bool = True) -> dict[str, PaneInfo]:
        """Every pane on the server by session name (one command)."""
        out = await self._cmd("list-panes", "-a", "-F", PANE_FORMAT if full else FAST_FORMAT)
        panes: dict[str, PaneInfo] = {}
        for row in out:
            pane = parse_pane(row)
            if pane is None:
                continue
            panes.setdefault(pane.session, pane)
        return panes

    # -- lifecycle -------------------------------------------------------------

    async def start(self, handle: AgentHandle) -> None:
        agent = handle.agent
        if not agent.command or not agent.command.strip():
            raise Invalid("a tmux agent needs a command")
        await self._ensure(handle.home)
        if self._first_start is None:
            self._first_start = time.monotonic()
        watch = self._watches.get(agent.id)
        if watch is None:
            watch = AgentWatch(handle=handle, session=session_name(agent.id))
            self._watches[agent.id] = watch
        watch.restarting = True  # keep the watcher off until the session is up
        try:
            await self._start(watch, handle)
        finally:
            watch.restarting = False

    async def _start(self, watch: AgentWatch, handle: AgentHandle) -> None:
        agent = handle.agent
        watch.handle = handle
        watch.stopped = False
        watch.gave_up = False
        watch.dead = False
        watch.kind = cli_kind(shlex.split(agent.command))
        panes = await self._sessions()
        pane = panes.get(watch.session)
        if pane is not None:
            watch.pane_id = pane.pane_id
            watch.pid = pane.pid
            if pane.dead:
                # re-adopted a dead pane: respawn now (counts as a restart, not a crash)
                await self._cmd("respawn-pane", "-k", "-t", pane.pane_id)
                self._note_restart(watch, "respawned a dead pane found on start")
            else:
                handle.output("[fleetview] re-adopted the live tmux session\n", "status")
                watch.seed_rollout = watch.rollout is None
            watch.status = "starting"
        else:
            await self._create_session(watch)
        handle.set_status("starting", "event", "tmux session up")
        watch.status = "starting"
        watch.status_set_at = time.monotonic()
        watch.captured_at = 0.0

    def _agent_dir(self, agent_id: str) -> Path:
        assert self.home is not None
        path = self.home / "runtimes" / "tmux" / agent_id
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return path

    async def _create_session(self, watch: AgentWatch) -> None:
        handle = watch.handle
        agent = handle.agent
        argv = shlex.split(agent.command or "")
        if not argv:
            raise Invalid("a tmux agent needs a command")
        argv = prepare_argv(argv, self._agent_dir(agent.id) / "claude-settings.json")
        if len(argv) == 1:
            argv = ["env", "--", argv[0]]  # one argument would be run by `sh -c`: never
        env = {
            "FLEETVIEW_AGENT_ID": agent.id,
            "FLEETVIEW_AGENT_NAME": agent.name,
            "FLEETVIEW_HOME": str(handle.home),
            "FLEETVIEW_API_URL": handle.api_url or "",
        }
        extra = agent.config.get("env") or {}
        if isinstance(extra, dict):
            for key, value in extra.items():
                if not ENV_NAME.match(str(key)):
                    raise Invalid(f"bad environment variable name {key!r}")
                env[str(key)] = str(value)
        if watch.kind == "gemini":
            env.update(gemini_env(self._agent_dir(agent.id) / "gemini-settings.json", env))
        tokens = ["new-session", "-d", "-s", watch.session, "-c", agent.cwd or str(Path.home())]
        for key, value in env.items():
            tokens += ["-e", f"{key}={value}"]
        tokens += ["-P", "-F", "#{pane_id} #{pane_pid}", "--", *argv]
        try:
            out = await self._cmd(*tokens)
        except TmuxCommandError as exc:
            raise RuntimeFailure(f"tmux could not start {argv[0]!r}: {exc}") from None
        if out:
            pane_id, _, pid = out[0].partition(" ")
            watch.pane_id = pane_id
            watch.pid = int(pid or 0)
        watch.dead = False
        watch.screen_hash = ""
        watch.changed_at = time.monotonic()
        watch.started_wall = time.time() - 1.0
        watch.rollout = None
        watch.seed_rollout = False

    async def stop(self, handle: AgentHandle) -> None:
        watch = self._watches.get(handle.agent.id)
        if watch is None:
            return
        watch.stopped = True
        with contextlib.suppress(TmuxCommandError, RuntimeFailure):
            await self._cmd("kill-session", "-t", f"={watch.session}")
        watch.pane_id = None
        watch.changed.set()

    async def delete(self, handle: AgentHandle) -> None:
        await self.stop(handle)
        self._watches.pop(handle.agent.id, None)
        if self.home is not None:
            path = self.home / "runtimes" / "tmux" / handle.agent.id
            for child in path.glob("*") if path.exists() else []:
                with contextlib.suppress(OSError):
                    child.unlink()
            with contextlib.suppress(OSError):
                path.rmdir()

    async def reconcile(self, known_ids: set[str] | list[str]) -> list[str]:
        """Kill sessions of agents that no longer exist; the killed session names."""
        if self.home is None:
            return []
        self._reconciled = True
        known = {session_name(i) for i in known_ids}
        killed = []
        for name in await self._sessions():
            if name.startswith(SESSION_PREFIX) and name not in known:
                with contextlib.suppress(TmuxCommandError):
                    await self._cmd("kill-session", "-t", f"={name}")
                killed.append(name)
        return killed

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watcher
            self._watcher = None
        for task in list(self._tasks):
            task.cancel()
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def kill_server(self) -> None:
        """Stop every agent session (for `down --all` and tests)."""
        await self.close()
        if self.socket is not None:
            await kill_server(self.socket)

    # -- input and output -----------------------------------------------------------

    def _live(self, handle: AgentHandle) -> AgentWatch:
        watch = self._watches.get(handle.agent.id)
        if watch is None or watch.pane_id is None or watch.stopped:
            raise Invalid(f"agent {handle.agent.name!r} has no running tmux session")
        return watch

    async def send_keys(self, handle: AgentHandle, keys: list[str]) -> None:
        watch = self._live(handle)
        for key in keys:
            if not key or len(key) > 64 or "\n" in key:
                raise Invalid(f"bad key {key!r}: one tmux key name or a short literal per argument")
        await self._cmd("send-keys", "-t", watch.pane_id or "", *keys)
        watch.captured_at = 0.0  # look again on the next tick

    async def logs(self, handle: AgentHandle, lines: int) -> list[str] | None:
        watch = self._watches.get(handle.agent.id)
        if watch is None or watch.pane_id is None:
            return None
        try:
            out = await self._cmd(
                "capture-pane", "-p", "-J", "-S", f"-{max(lines, 1)}", "-t", watch.pane_id
            )
        except TmuxCommandError:
            return None
        while out and not out[-1].strip():
            out.pop()
        return out[-lines:]

    async def execute(self, handle: AgentHandle, job: RunInput) -> RunOutcome:
        watch = self._live(handle)
        config = handle.agent.config
        ready_timeout = float(config.get("ready_timeout", 30))
        deadline = time.monotonic() + ready_timeout
        while watch.status == "starting" and time.monotonic() < deadline and not watch.dead:
            await self._wait_change(watch, 0.5)
        if watch.dead or watch.pane_id is None:
            return RunOutcome(status="failed", error="the agent's process is not running")
        pane = watch.pane_id
        prompt = job.full_prompt
        path = self._agent_dir(handle.agent.id) / "prompt.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(prompt)
        marker = await self._cmd("display-message", "-p", "-t", pane, "#{history_size} #{cursor_y}")
        hist0, _, cy0 = (marker[0] if marker else "0 0").partition(" ")
        start_line = int(hist0 or 0) + int(cy0 or 0)
        buffer = f"fv-{handle.agent.id}"
        await self._cmd("load-buffer", "-b", buffer, str(path))
        await self._cmd("paste-buffer", "-p", "-r", "-d", "-b", buffer, "-t", pane)
        try:
            await asyncio.sleep(float(config.get("enter_delay", 0.2)))
            await self._cmd("send-keys", "-t", pane, "Enter")
            started = time.monotonic()
            self._set(watch, "working", "event", f"run {job.run.id}: {prompt.strip()[:80]}")
            grace = float(config.get("idle_grace", 1.5))
            while True:
                await self._wait_change(watch, 0.5)
                if watch.stopped:
                    return RunOutcome(status="failed", error="the agent was stopped")
                if watch.dead:
                    return RunOutcome(
                        status="failed", error="the agent's process exited during the run"
                    )
                now = time.monotonic()
                if watch.status == "idle" and watch.status_set_at > started:
                    quiet = now - watch.changed_at
                    if watch.busy_at > started or (now - started > grace and quiet > 0.8):
                        break
        except asyncio.CancelledError:
            # the engine cancels a run it gives a reason for (stop, delete, restart);
            # an engine shutting down gives none, and the agent works on unseen
            if job.run.error:
                await self._interrupt(watch)
            raise
        text = await self._text_since(watch, start_line)
        return RunOutcome(status="completed", text=text, stop_reason="idle")

    async def _interrupt(self, watch: AgentWatch) -> None:
        """Interrupt what the CLI is doing: Escape for agent CLIs, C-c for shells and Aider."""
        if watch.pane_id is None or watch.dead or watch.stopped:
            return
        key = "C-c" if watch.kind in ("shell", "aider") else "Escape"
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._cmd("send-keys", "-t", watch.pane_id, key), 1.0)
        watch.handle.output(f"[fleetview] run cancelled: sent {key}\n", "status")
        watch.captured_at = 0.0

    async def _text_since(self, watch: AgentWatch, start_line: int) -> str:
        if watch.pane_id is None:
            return ""
        try:
            marker = await self._cmd(
                "display-message", "-p", "-t", watch.pane_id, "#{history_size}"
            )
            start = start_line - int(marker[0] if marker else 0)
            out = await self._cmd("capture-pane", "-p", "-J", "-S", str(start), "-t", watch.pane_id)
        except (TmuxCommandError, ValueError):
            return ""
        while out and not out[-1].strip():
            out.pop()
        if out and read_screen(out[-1:]).status == "idle":
            out.pop()  # the prompt the agent came back to
        return "\n".join(out).strip("\n")

    async def _wait_change(self, watch: AgentWatch, timeout: float) -> None:
        watch.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.changed.wait(), timeout)


def create_runtime() -> TmuxRuntime:
    return TmuxRuntime()
