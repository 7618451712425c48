"""How the tmux runtime knows each agent's status: one watcher task, hooks first,
then the pane's title and screen; see tmux.py's docstring for the whole picture."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fleetview.errors import Invalid
from fleetview.runtimes.tmux_clis import (
    CodexRolloutTail,
    TranscriptTail,
    aider_session_cost,
    codex_home,
    find_codex_rollout,
    parse_statusline,
    session_file_status,
    status_for_hook,
)
from fleetview.runtimes.tmux_control import ControlClient, TmuxCommandError
from fleetview.runtimes.tmux_screen import read_screen, read_title
from fleetview.runtimes.tmux_server import (
    ANCHOR,
    SESSION_PREFIX,
    ensure_server,
)
from fleetview.runtimes.tmux_watch import (
    AgentWatch,
    PaneInfo,
)

if TYPE_CHECKING:
    from fleetview.runtimes.base import AgentHandle
    from fleetview.runtimes.tmux import TmuxRuntime

log = logging.getLogger("fleetview.runtimes.tmux")

TICK = 0.3
FULL_EVERY = 2.0
"""Seconds between full listings (pid, size, foreground command); other ticks list cheap fields."""
RECAPTURE_BUSY = 2.0
"""A starting/working/waiting pane whose cursor has not moved is still captured this often."""
RECAPTURE_IDLE = 6.0
HOOK_TRUST = 15.0
"""Seconds a hook-reported status outranks the screen."""
CLAIM_GRACE = 30.0
SCREEN_TAIL = 25
"""Lines around the cursor read for status (prompts, spinners, choice lists)."""


class StatusMixin:
    """Status and the watcher of TmuxRuntime."""

    # -- status ---------------------------------------------------------------------

    def _set(
        self: TmuxRuntime, watch: AgentWatch, status: str, source: str, detail: str | None = None
    ) -> None:
        now = time.monotonic()
        if status == watch.status and source == watch.source and now - watch.status_set_at < 10:
            if status in ("working", "waiting") and source != "event":
                watch.busy_at = now
            return
        watch.status_set_at = now
        changed = status != watch.status
        if status in ("working", "waiting") and source != "event":
            watch.busy_at = now
        watch.status = status
        watch.source = source
        watch.handle.set_status(status, source, detail)  # type: ignore[arg-type]
        if changed and status == "waiting":
            self._post_question(watch)
        if status != "waiting":
            watch.posted_question = ""
        watch.changed.set()

    def _post_question(self: TmuxRuntime, watch: AgentWatch) -> None:
        question = watch.question or "the agent is waiting for you"
        if question == watch.posted_question:
            return
        watch.posted_question = question
        body = "\n".join(watch.choices)
        if watch.choices:
            body += f"\n\nanswer with: fleetview agent keys {watch.handle.agent.name} <number>"
        with contextlib.suppress(Exception):
            watch.handle.message(
                subject=question[:300], body=body, type="decision_gate", priority="high"
            )

    async def hook(self: TmuxRuntime, handle: AgentHandle, payload: dict[str, Any]) -> None:
        watch = self._watches.get(handle.agent.id)
        if watch is None:
            raise Invalid(f"agent {handle.agent.name!r} is not running on tmux")
        event = str(payload.get("event") or "")
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        assert isinstance(data, dict)
        if event == "statusline":
            line = parse_statusline(data)
            if line.cost_usd is not None:
                watch.statusline = True
                handle.set_cost(line.cost_usd)
            if line.context_tokens is not None:
                handle.set_context(line.context_tokens, line.context_window)
            return
        transcript = data.get("transcript_path")
        if transcript and not watch.statusline:
            if watch.transcript is None or str(watch.transcript.path) != transcript:
                watch.transcript = TranscriptTail(Path(transcript))
            for usage, model, prompt_tokens in watch.transcript.read():
                handle.add_usage(usage, model)
                handle.set_context(prompt_tokens)
        if event == "codex-notify":
            self._codex_usage(watch, time.monotonic(), force=True)
        status, detail = status_for_hook(event, data)
        watch.hook_at = time.monotonic()
        self._unstall(watch)
        if status is None:
            if detail:
                handle.set_detail(detail)
            return
        watch.hook_status = status
        if status == "waiting":
            watch.question = str(data.get("message") or detail or "permission needed")
            await self._capture(watch)  # the choices, if the screen shows them
        self._set(watch, status, "hook", detail)

    # -- the watcher -------------------------------------------------------------------

    async def _watch_loop(self: TmuxRuntime) -> None:
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except TmuxCommandError as exc:
                log.warning("tmux watcher: %s", exc)
                await asyncio.sleep(1.0)
                if self.home is not None:
                    with contextlib.suppress(Exception):
                        await self._ensure_client_only()
            except Exception:
                log.exception("tmux watcher tick failed")
            await asyncio.sleep(TICK)

    async def _ensure_client_only(self: TmuxRuntime) -> None:
        assert self.socket is not None
        if self.client is None or not self.client.alive:
            await ensure_server(self.socket)
            self.client = ControlClient(self.socket, ANCHOR)
            await self.client.start()

    async def _tick(self: TmuxRuntime) -> None:
        if not self._watches and self._first_start is None:
            return
        now = time.monotonic()
        shells = any(w.kind == "shell" and not w.stopped for w in self._watches.values())
        full = shells or now - self._full_at >= FULL_EVERY or self._first_start is None
        panes = await self._sessions(full)
        if full:
            self._full_at = now
        for agent_id, watch in list(self._watches.items()):
            if watch.stopped or watch.restarting or watch.gave_up:
                continue
            pane = panes.get(watch.session)
            if pane is None or pane.dead:
                if not watch.dead:
                    code = pane.dead_status if pane is not None else "session gone"
                    self._on_death(watch, code)
                continue
            if pane.pane_id != watch.pane_id:
                watch.pane_id = pane.pane_id
            moved = pane.signature != watch.signature
            if pane.full:
                moved = moved or pane.command != watch.command
                watch.pid = pane.pid
                watch.height = pane.height
                watch.command = pane.command
            else:
                pane.pid, pane.height, pane.command = watch.pid, watch.height, watch.command
            watch.cursor_y = pane.cursor_y
            watch.signature = pane.signature
            # only panes that moved are captured: a spinner redrawn in place is not
            # news; the periodic recapture catches CLIs that change state in place
            since = now - watch.captured_at
            due = (
                moved
                or watch.captured_at == 0.0
                or watch.status in ("starting", "working", "waiting")
                and since > RECAPTURE_BUSY
                or since > RECAPTURE_IDLE
            )
            if due:
                await self._capture(watch)
                self._judge(watch, pane, now)
            if watch.kind == "codex":
                self._codex_usage(watch, now)
            self._check_stall(watch, now)
        if (
            not self._reconciled
            and self._first_start is not None
            and now - self._first_start > CLAIM_GRACE
        ):
            self._reconciled = True
            claimed = {w.session for w in self._watches.values()}
            for name in panes:
                if name.startswith(SESSION_PREFIX) and name not in claimed:
                    with contextlib.suppress(TmuxCommandError):
                        await self._cmd("kill-session", "-t", f"={name}")

    def _codex_usage(self: TmuxRuntime, watch: AgentWatch, now: float, force: bool = False) -> None:
        """Tokens, cost and context from the agent's Codex rollout JSONL.

        The file is the newest `$CODEX_HOME/sessions/*/*/*/rollout-*.jsonl`
        written since the agent started whose session_meta cwd is the agent's
        cwd and that no other agent has claimed; looked for every 2 s until
        found, then every 15 s for a newer one (a new session in the same CLI)."""
        if not force and now - watch.rollout_checked < 2.0:
            return
        watch.rollout_checked = now
        agent = watch.handle.agent
        if watch.rollout is None or now - watch.rollout_found > 15.0:
            watch.rollout_found = now
            env = agent.config.get("env") or {}
            claimed = {
                str(w.rollout.path)
                for w in self._watches.values()
                if w is not watch and w.rollout is not None
            }
            path = find_codex_rollout(
                codex_home(env if isinstance(env, dict) else {}),
                agent.cwd or str(Path.home()),
                watch.started_wall,
                claimed,
            )
            if path is not None and (watch.rollout is None or watch.rollout.path != path):
                watch.rollout = CodexRolloutTail(path)
                if watch.seed_rollout:
                    watch.rollout.read()  # counted before the daemon restarted
                    watch.seed_rollout = False
        if watch.rollout is None:
            return
        found = watch.rollout.read()
        handle = watch.handle
        if found.usage is not None:
            handle.add_usage(found.usage, found.model)
        if found.context_tokens is not None:
            handle.set_context(found.context_tokens, found.context_window)

    async def _capture(self: TmuxRuntime, watch: AgentWatch) -> None:
        if watch.pane_id is None:
            return
        try:
            # the lines around the cursor: where prompts, spinners and choice lists are
            bottom = min(watch.height - 1, watch.cursor_y + 5)
            top = max(0, bottom - SCREEN_TAIL + 1)
            lines = await self._cmd(
                "capture-pane", "-p", "-S", str(top), "-E", str(bottom), "-t", watch.pane_id
            )
        except TmuxCommandError:
            return
        watch.captured_at = time.monotonic()
        digest = hashlib.blake2b("\n".join(lines).encode(), digest_size=8).hexdigest()
        if digest != watch.screen_hash:
            watch.screen_hash = digest
            watch.changed_at = watch.captured_at
            self._unstall(watch)
        watch.lines = lines
        watch.top = top
        if watch.kind == "aider":
            cost = aider_session_cost(lines)
            if cost is not None and cost != watch.handle.agent.cost_usd:
                watch.handle.set_cost(cost)
        reading = read_screen(lines)
        if reading.status == "waiting":
            watch.question = reading.question
            watch.choices = reading.choices

    def _judge(self: TmuxRuntime, watch: AgentWatch, pane: PaneInfo, now: float) -> None:
        reading = read_screen(watch.lines, pane.cursor_y - watch.top)
        screen = reading.status
        source = "screen"
        if watch.kind == "shell" and screen != "waiting":
            # a shell is idle when it is its own foreground process
            shell = os.path.basename(shlex.split(watch.handle.agent.command or "sh")[0])
            screen = "idle" if pane.command == shell else "working"
        if screen in (None, "idle") and read_title(pane.title) == "working":
            screen, source = "working", "title"
        if screen is None and watch.status == "starting" and now - watch.changed_at > 2.0:
            screen = "idle"  # up, quiet and no prompt we know: call it idle
        # hooks first: a fresh hook report outranks the screen, except that a
        # visible choice list (waiting) or its disappearance is always believed
        hook_fresh = watch.hook_status is not None and now - watch.hook_at < HOOK_TRUST
        if watch.kind == "claude" and not hook_fresh and pane.pid:
            home = Path(watch.handle.agent.config.get("env", {}).get("HOME") or Path.home())
            from_file = session_file_status(home, pane.pid)
            if from_file is not None and screen != "waiting":
                self._set(watch, from_file, "hook")
                return
        if hook_fresh:
            # a visible choice list is believed at once; anything else waits for
            # the next hook, or for the hook report to go stale (HOOK_TRUST)
            if screen == "waiting" and watch.status != "waiting":
                self._set(watch, "waiting", source, reading.question)
            return
        if screen is None:
            return
        detail = reading.question if screen == "waiting" else ("" if screen == "idle" else None)
        self._set(watch, screen, source, detail)
