"""One tmux control-mode client: every tmux command of the runtime, over one pipe.

Spawning `tmux` costs ~3 ms and a process per call; a control client answers
the same command in 0.2-2 ms with no process at all (see STACK.md). The
runtime keeps exactly one of these per private server, attached to a small
anchor session with `-f no-output`, so it receives no `%output` stream; it
only sends commands (one per line) and reads their `%begin ... %end` reply
blocks, which come back in order.

Arbitrary text (paths, keys, prompts) is passed as a double-quoted token with
octal escapes for every byte outside a small safe set, so `$`, `~`, `;`,
`#{...}` and newlines reach tmux as data, never as syntax.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from pathlib import Path

log = logging.getLogger(__name__)

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _./,:=@%+-")


def quote(text: str) -> str:
    """`text` as one tmux token that tmux reads back byte for byte."""
    out = ['"']
    for byte in text.encode("utf-8"):
        out.append(chr(byte) if byte in _SAFE else f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


class TmuxCommandError(Exception):
    """tmux answered a command with `%error`."""


class ControlClient:
    """A `tmux -C` client on a private socket; `command()` returns reply lines."""

    def __init__(self, socket: Path, session: str) -> None:
        self.socket = socket
        self.session = session
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: deque[asyncio.Future[list[str]]] = deque()
        self._ready = asyncio.Event()
        self._lock = asyncio.Lock()
        self.closed = asyncio.Event()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.returncode is None and not self.closed.is_set()

    async def start(self, timeout: float = 5.0) -> None:
        """Attach (no output stream) and wait until tmux says the client is in."""
        self._proc = await asyncio.create_subprocess_exec(
            "tmux",
            "-u",
            "-S",
            str(self.socket),
            "-C",
            "attach-session",
            "-t",
            f"={self.session}",
            "-f",
            "no-output",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=16 * 1024 * 1024,
        )
        self._reader = asyncio.create_task(self._read_loop(), name="tmux-control-reader")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            await self.close()
            raise

    async def _read_loop(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        block: list[str] | None = None
        ours = False
        tag = ""
        try:
            while True:
                raw = await self._proc.stdout.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\n")
                if block is not None:
                    if line in (f"%end {tag}", f"%error {tag}"):
                        if ours and self._pending:
                            fut = self._pending.popleft()
                            if not fut.done():
                                if line.startswith("%error"):
                                    fut.set_exception(TmuxCommandError("\n".join(block)))
                                else:
                                    fut.set_result(block)
                        block = None
                        continue
                    block.append(line)
                    continue
                if line.startswith("%begin "):
                    block = []
                    tag = line[len("%begin ") :]
                    ours = tag.split(" ")[-1] == "1"
                elif line.startswith("%session-changed"):
                    self._ready.set()
                elif line.startswith("%exit"):
                    break
        except Exception:  # pragma: no cover - defensive: never leave futures hanging
            log.exception("tmux control reader failed")
        finally:
            self.closed.set()
            while self._pending:
                fut = self._pending.popleft()
                if not fut.done():
                    fut.set_exception(TmuxCommandError("tmux control client closed"))

    async def command(self, line: str, timeout: float = 10.0) -> list[str]:
        """Run one tmux command line (already quoted); its output lines."""
        if not self.alive or self._proc is None or self._proc.stdin is None:
            raise TmuxCommandError("tmux control client is not running")
        if "\n" in line:
            raise ValueError("one command per line")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[str]] = loop.create_future()
        async with self._lock:  # keep write order == reply order
            self._pending.append(fut)
            self._proc.stdin.write(line.encode("utf-8") + b"\n")
            await self._proc.stdin.drain()
        return await asyncio.wait_for(fut, timeout)

    async def close(self) -> None:
        """Detach (the server and its sessions live on)."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._reader is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(self._reader, 2)
        self._proc = None
