"""200 api agents at once against the fake Messages API (not run by CI).

The fake server runs in its own process (so it does not share this process's
GIL) and answers every request after a fixed delay. The same workload — N
agents, each making R sequential single-turn requests — runs twice in this
process:

1. through fleetview: a real Engine (SQLite store, event log, flusher) with N
   api agents, R `engine.send` runs each;
2. through a plain asyncio + `anthropic` loop: N tasks sharing one
   AsyncAnthropic, R `messages.stream(...)` calls each, sending the same
   request an api agent sends (system prompt, the bash tool, the history).

The two alternate `--repeat` times (this 2-core box is noisy) and the
medians are compared.

It reports turns/s of both and their ratio (target >= 0.9), and the engine's
resident memory per agent. A third figure runs the api runtime's loop with
bare handles (no store, no events), to tell the loop's cost from the engine's:
the runtime reads the event stream itself (api_stream.py), so its loop alone
is faster than the plain one, and the difference between it and the full
engine is the engine's bookkeeping per turn.

    python bench/api_fanout.py [--agents 200] [--runs 5] [--delay 0.05]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetview.engine.core import Engine
from fleetview.models import AgentSpec, RunRequest
from fleetview.paths import FleetPaths

MODEL = "claude-sonnet-5-5"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def fleetview_run(home: Path, agents: int, runs: int) -> tuple[float, float, int]:
    """(seconds, MB of RSS added per agent, failed runs) through the Engine."""
    engine = Engine(FleetPaths(home))
    await engine.open()
    before = rss_mb()
    try:
        names = [f"bench-{i:03d}" for i in range(agents)]
        for name in names:
            await engine.create_agent(
                AgentSpec(name=name, runtime="api", model=MODEL, prompt="You are a benchmark.")
            )

        async def one_agent(name: str) -> int:
            failed = 0
            for index in range(runs):
                run = await engine.send(name, RunRequest(prompt=f"turn {index}"))
                run = await engine.wait_run(run.id, 120)
                failed += run.status != "completed"
            return failed

        # warm up: the first request pays `import anthropic` and the connection setup
        await one_agent_warm(engine, names[0])
        started = time.perf_counter()
        failures = sum(await asyncio.gather(*(one_agent(n) for n in names)))
        elapsed = time.perf_counter() - started
        per_agent = (rss_mb() - before) / agents
    finally:
        await engine.close()
    return elapsed, per_agent, failures


async def one_agent_warm(engine: Engine, name: str) -> None:
    run = await engine.send(name, RunRequest(prompt="warm up"))
    await engine.wait_run(run.id, 60)


class BareHandle:
    """The least an AgentHandle can be: no store, no events (to split the cost)."""

    def __init__(self, index: int, home: Path) -> None:
        from fleetview.models import Agent

        self.agent = Agent(
            id=f"bare{index}",
            name=f"bare-{index}",
            runtime="api",
            model=MODEL,
            prompt="You are a benchmark.",
            cwd=str(home),
        )
        self.home = home
        self.api_url = ""
        self._state: dict = {}

    def output(self, text: str, stream: str = "text") -> None: ...
    def set_status(self, status: str, source: str = "event", detail: str | None = None) -> None: ...
    def set_detail(self, detail: str) -> None: ...
    def add_usage(self, usage: object, model: str | None = None) -> None: ...
    def set_context(self, tokens: int, window: int | None = None) -> None: ...

    def state(self) -> dict:
        return dict(self._state)

    async def save_state(self, state: dict) -> None:
        self._state = dict(state)


async def runtime_only_run(home: Path, agents: int, runs: int) -> float:
    """Seconds for the workload through the api runtime's loop with bare handles."""
    from fleetview.models import Run
    from fleetview.runtimes.api import ApiRuntime
    from fleetview.runtimes.base import RunInput

    runtime = ApiRuntime()
    handles = [BareHandle(i, home) for i in range(agents)]

    async def one_agent(handle: BareHandle) -> None:
        for index in range(runs):
            run = Run(
                id=index,
                agent_id=handle.agent.id,
                agent_name=handle.agent.name,
                prompt=f"turn {index}",
            )
            await runtime.execute(handle, RunInput(run=run))  # type: ignore[arg-type]

    await one_agent(BareHandle(-1, home))
    started = time.perf_counter()
    await asyncio.gather(*(one_agent(h) for h in handles))
    elapsed = time.perf_counter() - started
    await runtime.close()
    return elapsed


async def plain_run(agents: int, runs: int) -> tuple[float, int]:
    """(seconds, failed requests) through a bare asyncio + anthropic loop."""
    import anthropic

    from fleetview.runtimes.api_tools import BASH_TOOL

    client = anthropic.AsyncAnthropic(max_retries=0)
    failures = 0

    async def one_agent(index: int) -> None:
        nonlocal failures
        messages: list[dict] = []
        for turn in range(runs):
            messages.append({"role": "user", "content": [{"type": "text", "text": f"turn {turn}"}]})
            try:
                async with client.messages.stream(
                    model=MODEL,
                    max_tokens=8192,
                    system="You are a benchmark.",
                    messages=messages,
                    tools=[BASH_TOOL],
                ) as stream:
                    async for _ in stream:
                        pass
                    final = await stream.get_final_message()
                messages.append(
                    {
                        "role": "assistant",
                        "content": [{"type": "text", "text": final.content[0].text}],
                    }
                )
            except Exception:  # noqa: BLE001 - a failed request is counted, not fatal
                failures += 1

    await one_agent(-1)
    started = time.perf_counter()
    await asyncio.gather(*(one_agent(i) for i in range(agents)))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5, help="sequential turns per agent")
    parser.add_argument("--delay", type=float, default=0.05, help="fake server delay (s)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="alternate the two workloads this many times; report medians",
    )
    args = parser.parse_args()
    from fleetview.daemon import tune_interpreter

    tune_interpreter()  # as the daemon runs; it applies to both loops alike
    import anthropic  # noqa: F401  - loaded up front so it is not counted as agents' memory

    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_anthropic.py"), "--delay", str(args.delay)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        os.environ["ANTHROPIC_BASE_URL"] = url
        os.environ.setdefault("ANTHROPIC_API_KEY", "sk-ant-bench-key")
        turns = args.agents * args.runs
        fv_times, plain_times, bare_times, memory = [], [], [], []
        fv_failed = plain_failed = 0
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                seconds, mb_per_agent, failed = asyncio.run(
                    fleetview_run(Path(tmp) / "home", args.agents, args.runs)
                )
            fv_times.append(seconds)
            memory.append(mb_per_agent)
            fv_failed += failed
            seconds, failed = asyncio.run(plain_run(args.agents, args.runs))
            plain_times.append(seconds)
            plain_failed += failed
            with tempfile.TemporaryDirectory() as tmp:
                bare_times.append(asyncio.run(runtime_only_run(Path(tmp), args.agents, args.runs)))
    finally:
        server.terminate()
        server.wait(5)
    fv_time, plain_time = statistics.median(fv_times), statistics.median(plain_times)
    mb_per_agent = max(memory)
    fv_rate, plain_rate = turns / fv_time, turns / plain_time
    print("fleetview runs (s): " + ", ".join(f"{t:.2f}" for t in fv_times))
    print("plain runs (s):     " + ", ".join(f"{t:.2f}" for t in plain_times))
    print("runtime-only (s):   " + ", ".join(f"{t:.2f}" for t in bare_times))
    bare_rate = turns / statistics.median(bare_times)
    ideal = args.agents / args.delay if args.delay else float("inf")
    print(
        f"agents={args.agents} turns/agent={args.runs} server delay={args.delay * 1000:.0f} ms"
        f" (ideal {ideal:.0f} turns/s)"
    )
    print(
        f"fleetview engine : {turns} turns in {fv_time:6.2f} s = {fv_rate:7.1f} turns/s"
        f"  (failed {fv_failed})"
    )
    print(
        f"plain anthropic  : {turns} turns in {plain_time:6.2f} s = {plain_rate:7.1f} turns/s"
        f"  (failed {plain_failed})"
    )
    print(f"api runtime alone: {bare_rate:7.1f} turns/s (loop without the engine: bare handles)")
    print(
        f"ratio fleetview/plain = {fv_rate / plain_rate:.2f} (target >= 0.9); "
        f"runtime-alone/plain = {bare_rate / plain_rate:.2f}"
    )
    overhead = (fv_time - statistics.median(bare_times)) / turns * 1000
    print(
        f"engine bookkeeping: {overhead:.2f} ms of wall time per turn (fleetview - runtime alone)"
    )
    print(f"engine memory: {mb_per_agent * 1024:.0f} KB RSS per agent (worst of the repeats)")


if __name__ == "__main__":
    main()
