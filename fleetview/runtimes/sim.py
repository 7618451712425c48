"""sim: an offline, seeded, honest simulation of a coding agent.

It streams text, makes (pretend) tool calls, reports token usage on the
model it names, and takes realistic time. Everything it writes is labelled
`[simulated]`: no file is read or changed, no network is used. Asked to
(config `fail_rate`, `ask_rate`), it sometimes fails or stops to ask the
human, so every status the TUI shows has something real behind it. A sim
agent created plainly just does its work.

Config (agent.config): seed (int), speed (float, 1 = realistic; larger is
faster), fail_rate, ask_rate (0..1), steps (max tool steps per run),
bad_schema_runs (the first N runs that carry a schema return data of the
wrong shape, to exercise schema retries), loop ("api" runs the api
runtime's real agent loop — tools, report validation, usage, persistence —
against a simulated model, offline; see api_sim.py).
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from fleetview.errors import Invalid
from fleetview.models import Usage
from fleetview.runtimes.base import AgentHandle, RunInput, RunOutcome

LABEL = "[simulated]"

TOOLS = [
    (
        "Read",
        [
            "src/app.py",
            "README.md",
            "tests/test_api.py",
            "pyproject.toml",
            "src/models.py",
            "docs/design.md",
            "src/server/routes.py",
            "package.json",
        ],
    ),
    ("Grep", ["'def handle_'", "'TODO'", "'class .*Error'", "'async def'", "'import httpx'"]),
    (
        "Bash",
        [
            "pytest -q tests/",
            "ruff check .",
            "git diff --stat",
            "npm test",
            "mypy src/",
            "git log --oneline -5",
        ],
    ),
    ("Edit", ["src/app.py", "src/models.py", "tests/test_api.py", "src/server/routes.py"]),
    ("Write", ["src/feature.py", "tests/test_feature.py", "docs/notes.md"]),
]

THOUGHTS = [
    "Let me look at how this is structured first.",
    "The failing case comes from an unchecked None in the handler.",
    "I'll add a test that pins the behaviour before changing it.",
    "This module mixes parsing and I/O; splitting them keeps the fix small.",
    "The edge case is an empty list: the loop never sets the result.",
    "Running the suite to see where we stand.",
    "That passes now; checking the neighbouring code paths too.",
    "The API returns 422 here, which matches the spec.",
]

QUESTIONS = [
    ("Allow edit to src/app.py?", ["Yes", "Yes, and don't ask again", "No"]),
    ("Run `rm -rf build/` to clear stale artifacts?", ["Yes", "No"]),
    ("Two designs fit: keep the sync API or go async-only?", ["Keep sync", "Async only"]),
]

FAILURES = [
    "tests failed: 3 of 41 (test_api.py::test_retry_after)",
    "could not resolve merge conflict in src/models.py",
    "command timed out: npm test (120 s)",
]


class SimRuntime:
    """Runs every sim agent in the engine's event loop."""

    name = "sim"

    def __init__(self) -> None:
        self._api_loops: dict[str, Any] = {}

    async def start(self, handle: AgentHandle) -> None:
        handle.output(f"{LABEL} agent ready ({handle.agent.model})\n", "status")

    def _api_loop(self, handle: AgentHandle) -> Any:
        """The api runtime over a simulated model, one per agent (its own seed)."""
        agent = handle.agent
        loop = self._api_loops.get(agent.id)
        if loop is None:
            from fleetview.runtimes.api import ApiRuntime
            from fleetview.runtimes.api_sim import SimulatedMessages

            speed = max(0.01, float(agent.config.get("speed", 1.0)))
            messages = SimulatedMessages(
                seed=int(agent.config.get("seed", 0)), chunk_delay=0.05 / speed
            )
            loop = self._api_loops[agent.id] = ApiRuntime(messages_client=messages)
        return loop

    async def execute(self, handle: AgentHandle, job: RunInput) -> RunOutcome:
        agent = handle.agent
        if agent.config.get("loop") == "api":
            return await self._api_loop(handle).execute(handle, job)
        config = agent.config
        speed = max(0.01, float(config.get("speed", 1.0)))
        rng = random.Random(f"{config.get('seed', 0)}:{agent.name}:{job.run.id}")
        model = agent.model or "claude-sonnet-5-5"
        state = handle.state()
        history = int(state.get("context_tokens", 2_000))

        async def pause(low: float, high: float) -> None:
            await asyncio.sleep(rng.uniform(low, high) / speed)

        handle.output(f"{LABEL} {job.run.prompt.splitlines()[0][:160]}\n", "status")
        steps = rng.randint(2, int(config.get("steps", 5)))
        prompt_tokens = history + len(job.full_prompt) // 4
        for step in range(steps):
            thought = rng.choice(THOUGHTS)
            for word in thought.split(" "):
                handle.output(word + " ")
                await pause(0.02, 0.08)
            handle.output("\n")
            tool, args = rng.choice(TOOLS)
            call = f"{tool}({rng.choice(args)})"
            handle.output(f"⏺ {call} {LABEL}\n", "tool")
            handle.set_detail(f"{call}")
            await pause(0.3, 1.5)
            output_tokens = rng.randint(80, 600)
            read = int(prompt_tokens * 0.9) if step else 0
            usage = Usage(
                input_tokens=prompt_tokens - read,
                output_tokens=output_tokens,
                cache_read_tokens=read,
            )
            handle.add_usage(usage, model)
            handle.set_context(prompt_tokens)
            prompt_tokens += output_tokens + rng.randint(200, 2_500)
            if step == 0 and rng.random() < float(config.get("ask_rate", 0.0)):
                question, options = rng.choice(QUESTIONS)
                answer = await handle.ask(f"{question} {LABEL}", options)
                handle.output(f"{LABEL} human answered: {answer}\n", "status")
                if answer.lower().startswith("no"):
                    await handle.save_state({"context_tokens": prompt_tokens})
                    return RunOutcome(
                        status="failed", error=f"stopped: the human declined ({question})"
                    )
        await handle.save_state({**state, "context_tokens": prompt_tokens})
        state = handle.state()
        if rng.random() < float(config.get("fail_rate", 0.0)):
            reason = rng.choice(FAILURES)
            handle.output(f"{LABEL} error: {reason}\n", "status")
            if rng.random() < 0.5:
                handle.message(
                    f"{agent.name} needs help: {reason}",
                    f"{LABEL} Run {job.run.id} failed and I cannot continue without a decision.",
                    type="escalation",
                    priority="urgent",
                )
            return RunOutcome(status="failed", error=f"{LABEL} {reason}")
        data = _fake_data(job.run.output_schema, rng) if job.run.output_schema else None
        if data is not None:
            bad_left = int(state.get("bad_schema_left", config.get("bad_schema_runs", 0)))
            if bad_left > 0:
                data = {key: {"unexpected": True} for key in data}  # wrong type for every field
                await handle.save_state(
                    {"context_tokens": prompt_tokens, "bad_schema_left": bad_left - 1}
                )
        summary = f"{LABEL} Done: {job.run.prompt.splitlines()[0][:100]}"
        text = (
            f"{summary}\n\n"
            f"{LABEL} Changed {rng.randint(1, 6)} files, {rng.randint(3, 60)} tests pass.\n"
        )
        if data is not None:
            text += f"\n{json.dumps(data)}\n"
        handle.output(text, "text")
        return RunOutcome(status="completed", text=text, data=data, stop_reason="end_turn")

    async def send_keys(self, handle: AgentHandle, keys: list[str]) -> None:
        raise Invalid(
            f"agent {handle.agent.name!r} is not waiting for input (sim agents take keys only then)"
        )

    async def logs(self, handle: AgentHandle, lines: int) -> list[str] | None:
        return None

    async def stop(self, handle: AgentHandle) -> None:
        return None

    async def delete(self, handle: AgentHandle) -> None:
        self._api_loops.pop(handle.agent.id, None)

    async def hook(self, handle: AgentHandle, payload: dict[str, Any]) -> None:
        raise Invalid("sim agents take no hooks")

    async def close(self) -> None:
        return None


def _fake_data(schema: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Values of the right type for each property of a JSON schema."""
    properties = schema.get("properties", {})
    return {name: _fake_value(prop, name, rng) for name, prop in properties.items()}


def _fake_value(prop: dict[str, Any], name: str, rng: random.Random) -> Any:
    if "enum" in prop:
        return rng.choice(prop["enum"])
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer":
        return rng.randint(0, 10)
    if kind == "number":
        return round(rng.uniform(0, 1), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        item = prop.get("items", {"type": "string"})
        return [_fake_value(item, name, rng) for _ in range(rng.randint(0, 3))]
    if kind == "object":
        return _fake_data(prop, rng)
    return f"{LABEL} {name}"


def create_runtime() -> SimRuntime:
    return SimRuntime()
