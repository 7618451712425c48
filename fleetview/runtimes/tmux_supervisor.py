"""The supervisor half of the tmux runtime: deaths, restarts with backoff, stalls.

A dead pane (`remain-on-exit` keeps it, with its exit status) is seen by the
watcher's next tick and respawned in place (`respawn-pane -k`, same session,
same environment) after 0.5, 1, 2 ... s. Three deaths within 60 s stop the
restarts: the agent goes `error` and an urgent `escalation` message says why,
with the last screen. A `working` agent whose screen has not changed and
that has sent no hook for `config["stall_seconds"]` (default 300) is flagged
stalled until it shows a sign of life.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleetview.runtimes.tmux_watch import AgentWatch, PaneInfo

log = logging.getLogger(__name__)

CRASH_WINDOW = 60.0
CRASH_LIMIT = 3


class SupervisorMixin:
    """Mixed into TmuxRuntime, which provides the attributes declared here."""

    if TYPE_CHECKING:
        _watches: dict[str, AgentWatch]
        _tasks: set[asyncio.Task[Any]]

        async def _sessions(self) -> dict[str, PaneInfo]: ...
        async def _cmd(self, *tokens: str) -> list[str]: ...
        async def _create_session(self, watch: AgentWatch) -> None: ...

    def _check_stall(self, watch: AgentWatch, now: float) -> None:
        if watch.status != "working" or watch.stalled:
            return
        limit = float(watch.handle.agent.config.get("stall_seconds", 300))
        last = max(watch.changed_at, watch.hook_at)
        if now - last > limit:
            watch.stalled = True
            watch.handle.set_stalled(
                True, f"stalled: no screen change or hook for {int(now - last)}s"
            )

    def _unstall(self, watch: AgentWatch) -> None:
        if watch.stalled:
            watch.stalled = False
            watch.handle.set_stalled(False, "active again")

    def _on_death(self, watch: AgentWatch, code: str) -> None:
        now = time.monotonic()
        watch.dead = True
        watch.crashes.append(now)
        recent = [t for t in watch.crashes if now - t <= CRASH_WINDOW]
        handle = watch.handle
        handle.output(f"[fleetview] the agent's process exited ({code})\n", "status")
        watch.changed.set()
        if len(recent) >= CRASH_LIMIT:
            watch.gave_up = True
            watch.status = "error"
            watch.source = "event"
            handle.set_status(
                "error",
                "event",
                f"exited {len(recent)} times within {int(CRASH_WINDOW)}s; restarts stopped",
            )
            with contextlib.suppress(Exception):
                handle.message(
                    subject=f"{handle.agent.name} keeps crashing: restarts stopped",
                    body=(
                        f"The process exited {len(recent)} times within {int(CRASH_WINDOW)} s "
                        f"(last: {code}). Fix the command, then `fleetview agent restart "
                        f"{handle.agent.name}`.\nLast screen:\n" + "\n".join(watch.lines[-15:])
                    ),
                    type="escalation",
                    priority="urgent",
                )
            return
        delay = min(0.5 * 2 ** (len(recent) - 1), 30.0)
        watch.status = "starting"
        watch.source = "event"
        handle.set_status("starting", "event", f"exited ({code}); restarting in {delay:g}s")
        watch.restarting = True
        task = asyncio.get_running_loop().create_task(self._restart_later(watch, delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restart_later(self, watch: AgentWatch, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            if watch.stopped or self._watches.get(watch.handle.agent.id) is not watch:
                return
            panes = await self._sessions()
            pane = panes.get(watch.session)
            if pane is not None:
                await self._cmd("respawn-pane", "-k", "-t", pane.pane_id)
                watch.pane_id = pane.pane_id
            else:
                await self._create_session(watch)
            watch.dead = False
            watch.screen_hash = ""
            watch.changed_at = time.monotonic()
            watch.captured_at = 0.0
            watch.status_set_at = time.monotonic()
            self._note_restart(watch, "restarted by the supervisor")
        except Exception as exc:  # noqa: BLE001 - reported as the agent's error
            log.warning("tmux restart of %s failed: %s", watch.handle.agent.name, exc)
            watch.handle.set_status("error", "event", f"restart failed: {exc}")
            watch.gave_up = True
        finally:
            watch.restarting = False

    def _note_restart(self, watch: AgentWatch, why: str) -> None:
        handle = watch.handle
        handle.note_restart(why)
        handle.output(f"[fleetview] {why}\n", "status")
