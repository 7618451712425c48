"""The api runtime's tools: `bash` and the structured `report`.

bash runs the model's command with `bash -c` as one argv element (no string
of ours is ever interpolated into it) in the agent's cwd, in its own process
group so a timeout or a cancel kills everything it started. Output is capped
and marked truncated. The environment is the daemon's minus the Anthropic
credentials, plus the FLEETVIEW_* variables naming the agent and its fleet.
It is not a sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASH_TOOL: dict[str, Any] = {
    "name": "bash",
    "description": (
        "Run a bash command in the agent's working directory and return its combined "
        "stdout and stderr and exit status. Long output is truncated; commands time out."
    ),
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string", "description": "The bash command to run."}},
        "required": ["command"],
    },
}

REPORT_TOOL_NAME = "report"
SECRET_ENV = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")


def report_tool(input_schema: dict[str, Any]) -> dict[str, Any]:
    """The structured-report tool for a run that carries a schema."""
    return {
        "name": REPORT_TOOL_NAME,
        "description": (
            "Report the final result of this task as structured data matching the input "
            "schema. Call it exactly once, when the work is done; the call ends the task."
        ),
        "input_schema": input_schema,
    }


@dataclass
class BashResult:
    """What one bash call produced, already capped."""

    output: str
    exit_code: int | None
    truncated: bool
    timed_out: bool

    def as_tool_text(self) -> str:
        notes = []
        if self.timed_out:
            notes.append("[timed out: the command was killed]")
        if self.truncated:
            notes.append("[output truncated]")
        if self.exit_code is not None:
            notes.append(f"[exit status {self.exit_code}]")
        body = self.output if self.output else "(no output)"
        return body + ("\n" if not body.endswith("\n") else "") + " ".join(notes)


def agent_env(extra: dict[str, str]) -> dict[str, str]:
    """The daemon's environment without API credentials, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}
    env.update(extra)
    return env


async def run_bash(
    command: str, cwd: Path, env: dict[str, str], timeout: float, cap: int
) -> BashResult:
    """Run `command`; kill its process group on timeout or cancellation."""
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        command,
        cwd=str(cwd),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    kept = bytearray()
    truncated = False
    timed_out = False

    async def drain() -> None:
        nonlocal truncated
        assert process.stdout is not None
        while chunk := await process.stdout.read(65536):
            room = cap - len(kept)
            if room > 0:
                kept.extend(chunk[:room])
            if len(chunk) > max(room, 0):
                truncated = True

    try:
        try:
            await asyncio.wait_for(drain(), timeout)
        except TimeoutError:
            timed_out = True
        if timed_out:
            _kill_group(process)
        exit_code = await process.wait()
    finally:
        if process.returncode is None:
            _kill_group(process)
            with contextlib.suppress(BaseException):  # reaped even when we are cancelled
                await asyncio.shield(process.wait())
    return BashResult(
        output=kept.decode("utf-8", errors="replace"),
        exit_code=None if timed_out else exit_code,
        truncated=truncated,
        timed_out=timed_out,
    )


def _kill_group(process: asyncio.subprocess.Process) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
