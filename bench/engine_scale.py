"""Engine scale: N sim agents working at once against one daemon.

Reports events persisted per second, p50/p99 latency from an event's
creation (its `ts`, stamped by the engine) to its arrival at a stream client,
daemon RSS per agent and daemon CPU. Targets on a 2-core machine: >= 5,000
events/s, p99 < 100 ms, < 300 KB per agent.

    python bench/engine_scale.py [--agents 500] [--seconds 30] [--speed 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

from fleetview.daemon import ensure_daemon, read_record, stop_daemon
from fleetview.paths import FleetPaths


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--speed", type=float, default=4.0, help="sim speed factor")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="fleetview-bench-"))
    os.environ["FLEETVIEW_HOME"] = str(home)
    os.environ["FLEETVIEW_API_URL"] = f"http://127.0.0.1:{free_port()}"
    paths = FleetPaths(home)
    url, token = ensure_daemon(paths)
    pid = int(read_record(paths)["pid"])
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
            await asyncio.sleep(0.5)
            base_rss = rss_kb(pid)
            limits = asyncio.Semaphore(32)

            async def create(i: int) -> None:
                async with limits:
                    r = await http.post(
                        "/v1/agents",
                        json={
                            "name": f"bench-{i:04d}",
                            "runtime": "sim",
                            "config": {"speed": args.speed, "seed": i, "steps": 40},
                        },
                    )
                    r.raise_for_status()

            await asyncio.gather(*(create(i) for i in range(args.agents)))
            await asyncio.sleep(1.0)
            idle_rss = rss_kb(pid)
            start_seq = (await http.get("/v1/status")).json()["seq"]

            latencies: list[float] = []
            received = 0

            async def stream() -> None:
                nonlocal received
                async with http.stream(
                    "GET", "/v1/events", params={"since": start_seq}, timeout=None
                ) as response:
                    async for line in response.aiter_lines():
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        now = time.time()
                        created = datetime.fromisoformat(event["ts"]).timestamp()
                        latencies.append((now - created) * 1000)
                        received += 1

            reader = asyncio.create_task(stream())

            async def keep_busy(i: int) -> None:
                # long runs (up to 40 tool steps each): enough work for the whole window
                for n in range(8):
                    async with limits:
                        await http.post(
                            f"/v1/agents/bench-{i:04d}/runs", json={"prompt": f"bench task {n}"}
                        )

            await asyncio.gather(*(keep_busy(i) for i in range(args.agents)))
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            seq0 = (await http.get("/v1/status")).json()["seq"]
            latencies.clear()
            await asyncio.sleep(args.seconds)
            status = (await http.get("/v1/status")).json()
            cpu1, t1 = cpu_seconds(pid), time.monotonic()
            busy_rss = rss_kb(pid)
            reader.cancel()
            working = status["agents"].get("working", 0)

        elapsed = t1 - t0
        events = status["seq"] - seq0
        lat = sorted(latencies)
        p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
        print(f"agents                {args.agents} ({working} working at the end)")
        print(f"window                {elapsed:.1f} s")
        print(f"events persisted/s    {events / elapsed:,.0f}   (target >= 5,000)")
        print(f"stream latency p50    {p(0.50):.1f} ms")
        print(f"stream latency p99    {p(0.99):.1f} ms   (target < 100 ms; {len(lat):,} events)")
        print(
            f"daemon RSS            base {base_rss / 1024:.0f} MB, idle fleet {idle_rss / 1024:.0f} MB,"
            f" busy {busy_rss / 1024:.0f} MB"
        )
        print(
            f"RSS per agent         {(busy_rss - base_rss) / args.agents:.0f} KB   (target < 300 KB)"
        )
        print(f"daemon CPU            {100 * (cpu1 - cpu0) / elapsed:.0f}% of one core")
        print(f"mean latency          {statistics.fmean(lat) if lat else float('nan'):.1f} ms")
    finally:
        stop_daemon(paths)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
