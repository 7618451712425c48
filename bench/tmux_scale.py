"""100 tmux agents changing state at random: how fast and how cheaply fleetview sees it.

    python bench/tmux_scale.py [--agents 100] [--seconds 20]

Every agent is tests/fake_agent_cli.py, which logs each state change
(working / waiting / idle) with its wall time. A driver subprocess (its CPU
is not counted) pastes random prompts into random panes through its own
control client: `sleep N` (working then idle) and, now and then, `write`
(working, waiting, answered with `1` a moment later).

Phase A: the real Engine with the tmux runtime watches the fleet. Reported:
p50/p95 latency from a CLI's state change to the engine's status, and CPU
(engine process + tmux server) as % of one core.
Phase B: the same fleet and driver, watched the way the popular peer does
it: one `tmux capture-pane` process per agent every 500 ms. Reported: CPU
(the watcher, its children and the tmux server) and the ratio B / A.
Targets: p95 < 1 s, engine < 15 % of a core, >= 5x cheaper than B.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleetview.engine.core import Engine
from fleetview.models import AgentSpec
from fleetview.paths import FleetPaths
from fleetview.runtimes.tmux_control import ControlClient, quote
from fleetview.runtimes.tmux_server import ANCHOR, session_name, tmux_socket

FAKE = ROOT / "tests" / "fake_agent_cli.py"
TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu(socket: Path) -> float:
    pid = subprocess.run(
        ["tmux", "-S", str(socket), "display", "-p", "#{pid}"],
        check=False,
        capture_output=True,
        text=True,
    ).stdout.strip()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


async def drive(socket: Path, sessions: list[str], seconds: float, seed: int) -> None:
    """Random prompts into random panes (run in its own process)."""
    rng = random.Random(seed)
    client = ControlClient(socket, ANCHOR)
    await client.start()
    busy_until = {s: 0.0 for s in sessions}
    end = time.monotonic() + seconds
    pending: list[tuple[float, str]] = []
    while time.monotonic() < end:
        now = time.monotonic()
        for due, target in [p for p in pending if p[0] <= now]:
            pending.remove((due, target))
            await client.command(f"send-keys -t {quote('=' + target + ':')} 1")
        for target in sessions:
            if busy_until[target] > now or rng.random() > 0.08:
                continue
            work = rng.uniform(0.8, 3.0)
            prompt = f"sleep {work:.1f}" + (" and write" if rng.random() < 0.25 else "")
            await client.command(f"send-keys -t {quote('=' + target + ':')} -l {quote(prompt)}")
            await client.command(f"send-keys -t {quote('=' + target + ':')} Enter")
            busy_until[target] = now + work + 3.5
            if "write" in prompt:
                pending.append((now + work + rng.uniform(1.0, 2.0), target))
        await asyncio.sleep(0.1)
    await client.close()


def start_driver(
    socket: Path, sessions: list[str], seconds: float, seed: int
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--drive",
            str(socket),
            "--seconds",
            str(seconds),
            "--seed",
            str(seed),
            *sessions,
        ]
    )


def read_events(path: Path) -> list[tuple[float, str]]:
    rows = []
    for line in path.read_text().splitlines() if path.exists() else []:
        t, _, state = line.partition(" ")
        if rows and rows[-1][1] == state:
            continue
        rows.append((float(t), state))
    return rows


async def phase_engine(
    engine: Engine,
    names: list[str],
    events: dict[str, Path],
    socket: Path,
    sessions: list[str],
    seconds: float,
) -> tuple[list[float], int, float]:
    seen: dict[str, list[tuple[float, str]]] = {n: [] for n in names}
    start_wall = time.time()
    driver = start_driver(socket, sessions, seconds, 1)
    cpu0, srv0, t0 = time.process_time(), server_cpu(socket), time.monotonic()
    while driver.poll() is None:
        now = time.time()
        for name in names:
            status = engine.get_agent(name).status
            if not seen[name] or seen[name][-1][1] != status:
                seen[name].append((now, status))
        await asyncio.sleep(0.02)
    end_wall = time.time()
    elapsed = time.monotonic() - t0
    own, srv = time.process_time() - cpu0, server_cpu(socket) - srv0
    print(
        f"  phase A: engine process {own / elapsed * 100:.1f}%, tmux server {srv / elapsed * 100:.1f}%"
    )
    cpu = (own + srv) / elapsed
    latencies: list[float] = []
    missed = 0
    for name in names:
        changes = [e for e in read_events(events[name]) if e[0] >= start_wall + 0.5]
        for i, (t, state) in enumerate(changes):
            if t > end_wall - 1.0:
                break  # too close to the end of the phase to be judged
            nxt = changes[i + 1][0] if i + 1 < len(changes) else float("inf")
            hit = next((s for s in seen[name] if s[0] >= t and s[1] == state), None)
            if hit is None or hit[0] > nxt + 0.05:
                if nxt - t > 0.6:  # states shorter than two ticks may pass unseen
                    missed += 1
            else:
                latencies.append(hit[0] - t)
    return latencies, missed, cpu


async def phase_baseline(socket: Path, sessions: list[str], seconds: float) -> float:
    """The fleet and the driver with nobody watching: the tmux server's own cost."""
    driver = start_driver(socket, sessions, seconds, 3)
    srv0, t0 = server_cpu(socket), time.monotonic()
    while driver.poll() is None:
        await asyncio.sleep(0.2)
    return (server_cpu(socket) - srv0) / (time.monotonic() - t0)


async def phase_polling(socket: Path, sessions: list[str], seconds: float) -> float:
    driver = start_driver(socket, sessions, seconds, 2)
    cpu0, srv0, t0 = own_cpu(), server_cpu(socket), time.monotonic()

    async def capture(target: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "tmux",
            "-S",
            str(socket),
            "capture-pane",
            "-p",
            "-t",
            f"={target}:",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await proc.communicate()

    while driver.poll() is None:
        tick = time.monotonic()
        await asyncio.gather(*(capture(s) for s in sessions))
        await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))
    elapsed = time.monotonic() - t0
    own, srv = own_cpu() - cpu0, server_cpu(socket) - srv0
    print(
        f"  phase B: watcher + children {own / elapsed * 100:.1f}%, tmux server {srv / elapsed * 100:.1f}%"
    )
    return (own + srv) / elapsed


async def main(agents: int, seconds: float) -> None:
    home = Path(tempfile.mkdtemp(prefix="fv-bench-"))
    socket = tmux_socket(home)
    engine = Engine(FleetPaths(home), api_url="")
    await engine.open()
    names = [f"a{i:03d}" for i in range(agents)]
    events = {n: home / f"{n}.events" for n in names}
    try:
        t0 = time.monotonic()
        for name in names:
            cmd = shlex.join(
                [sys.executable, str(FAKE), "--work", "1", "--events", str(events[name])]
            )
            await engine.create_agent(
                AgentSpec(name=name, runtime="tmux", command=cmd, cwd=str(home))
            )
        sessions = [session_name(engine.get_agent(n).id) for n in names]
        while any(engine.get_agent(n).status != "idle" for n in names):
            await asyncio.sleep(0.1)
        print(f"{agents} agents up and idle in {time.monotonic() - t0:.1f}s")
        await asyncio.sleep(2)
        latencies, missed, cpu_a = await phase_engine(
            engine, names, events, socket, sessions, seconds
        )
        await engine.close()
        await asyncio.sleep(4)  # let the fleet settle
        cpu_b = await phase_polling(socket, sessions, seconds)
        await asyncio.sleep(4)
        base = await phase_baseline(socket, sessions, seconds)
        q = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [float("nan")] * 99
        print(f"state changes seen: {len(latencies)} (missed, of states lasting > 0.6 s: {missed})")
        print(
            f"latency state change -> engine status: p50 {q[49] * 1000:.0f} ms, p95 {q[94] * 1000:.0f} ms,"
            f" max {max(latencies) * 1000:.0f} ms"
        )
        print(
            f"CPU watching with the engine (engine + tmux server): {cpu_a * 100:.1f}% of one core"
        )
        print(
            f"CPU per-agent capture-pane every 500 ms (+ tmux server): {cpu_b * 100:.1f}% of one core"
        )
        print(f"ratio: {cpu_b / cpu_a:.1f}x cheaper")
        print(f"tmux server with nobody watching (the fleet's own cost): {base * 100:.1f}%")
        print(
            f"net cost of watching: engine {(cpu_a - base) * 100:.1f}% vs polling {(cpu_b - base) * 100:.1f}%"
            f" -> {(cpu_b - base) / max(cpu_a - base, 1e-9):.1f}x cheaper"
        )
    finally:
        subprocess.run(["tmux", "-S", str(socket), "kill-server"], check=False, capture_output=True)  # noqa: ASYNC221


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--drive", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("sessions", nargs="*")
    args = parser.parse_args()
    if args.drive:
        asyncio.run(drive(Path(args.drive), args.sessions, args.seconds, args.seed))
    else:
        asyncio.run(main(args.agents, args.seconds))
