"""Benchmark: the TUI at 120x40 in a pty, attached to a big sim fleet (not run by CI).

Fleet: 500 sim agents, 2,000 tasks, 20,000 messages (scale with --scale).
Reports time to first full frame, p50/p95 key→frame latency (j, a view switch,
`/` opening the filter line, typing in the filter), and CPU% and bytes/s
written to the terminal while 100 agents are busy and while the fleet is
idle. `--raw` prints every latency too.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from fleetview.client import FleetClient
from fleetview.daemon import ensure_daemon, stop_daemon
from fleetview.models import AgentSpec, MessageSpec, RunRequest, TaskSpec
from fleetview.paths import FleetPaths
from fleetview.tui.demo import free_port, make_home, teardown


async def gather_batched(coros: list, size: int = 64) -> None:
    for i in range(0, len(coros), size):
        await asyncio.gather(*coros[i : i + size])


async def seed(url: str, token: str, agents: int, tasks: int, messages: int) -> None:
    async with FleetClient(url, token) as c:
        await gather_batched(
            [
                c.create_agent(
                    AgentSpec(
                        name=f"a{i:04d}", model="claude-haiku-5-5", config={"speed": 1.0, "seed": i}
                    )
                )
                for i in range(agents)
            ]
        )
        await gather_batched(
            [
                c.add_task(
                    TaskSpec(title=f"task {i}", column=("plan", "build", "review", "ship")[i % 4])
                )
                for i in range(tasks)
            ]
        )
        await gather_batched(
            [
                c.send_message(
                    MessageSpec(to="human", sender=f"a{i % agents:04d}", subject=f"message {i}")
                )
                for i in range(messages)
            ]
        )


class Pty:
    """The TUI in a pseudo-terminal; a thread records (time, bytes) of everything it writes."""

    def __init__(self, cols: int = 120, rows: int = 40) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
        self.start = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fleetview"],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.chunks: list[tuple[float, int]] = []
        self.recent: list[tuple[float, bytes]] = []  # (time, bytes) of the last few seconds
        self.text = bytearray()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if not ready:
                if self.proc.poll() is not None:
                    return
                continue
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            with self.lock:
                now = time.monotonic()
                self.chunks.append((now, len(data)))
                self.text += data[-4096:]
                self.recent.append((now, data))
                if len(self.recent) > 256:
                    del self.recent[:128]

    def send(self, data: bytes) -> float:
        t = time.monotonic()
        os.write(self.master, data)
        return t

    def frame_after(self, t0: float, quiet: float = 0.03, timeout: float = 2.0) -> float | None:
        """Seconds from t0 to the last byte of the first burst after t0."""
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            time.sleep(0.005)
            with self.lock:
                after = [t for t, _ in self.chunks if t >= t0]
            if after and time.monotonic() - after[-1] > quiet:
                return after[-1] - t0
        return None

    def frame_showing(self, t0: float, marker: bytes, timeout: float = 2.0) -> float | None:
        """Seconds from t0 to the write that completes `marker` (text only the new view
        draws). Unlike frame_after, a repaint tick that happens to land near the key
        neither shortens nor stretches the figure."""
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            time.sleep(0.002)
            with self.lock:
                after = [(t, d) for t, d in self.recent if t >= t0]
            seen = b""
            for t, data in after:
                seen += data
                if marker in seen:
                    return t - t0
        return None

    def bytes_between(self, a: float, b: float) -> int:
        with self.lock:
            return sum(n for t, n in self.chunks if a <= t <= b)

    def cpu(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.send(b"q")
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def measure(tui: Pty, seconds: float) -> tuple[float, float]:
    c0, t0 = tui.cpu(), time.monotonic()
    time.sleep(seconds)
    c1, t1 = tui.cpu(), time.monotonic()
    return tui.bytes_between(t0, t1) / (t1 - t0), 100 * (c1 - c0) / (t1 - t0)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--home",
        type=Path,
        default=None,
        help="keep the seeded fleet here and reuse it next time (seeding takes ~2 min)",
    )
    parser.add_argument("--keys-only", action="store_true", help="skip the busy/idle phases")
    parser.add_argument("--raw", action="store_true", help="also print every latency (ms)")
    args = parser.parse_args()
    n_agents, n_tasks, n_msgs = (int(x * args.scale) for x in (500, 2000, 20000))
    if args.home is not None:
        home = args.home.resolve()
        reuse = (home / "fleet.db").exists()
        home.mkdir(parents=True, exist_ok=True)
        os.environ["FLEETVIEW_HOME"] = str(home)
        os.environ["FLEETVIEW_API_URL"] = f"http://127.0.0.1:{free_port()}"
        os.environ.pop("FLEETVIEW_AGENT_NAME", None)
    else:
        home, reuse = make_home(), False
    try:
        url, token = ensure_daemon(FleetPaths(home))
        t = time.monotonic()
        if reuse:
            print(f"reusing the fleet in {home}")
        else:
            asyncio.run(seed(url, token, n_agents, n_tasks, n_msgs))
            print(
                f"seeded {n_agents} agents, {n_tasks} tasks, {n_msgs} messages in {time.monotonic() - t:.1f} s"
            )
        tui = Pty()
        while b"live" not in tui.text and time.monotonic() - tui.start < 30:
            time.sleep(0.01)
        first = tui.frame_after(tui.start, quiet=0.2, timeout=30)
        print(f"first full frame: {first:.2f} s" if first else "first frame: none")
        time.sleep(1)
        keys: dict[str, list[float]] = {
            "j": [],
            "view switch": [],
            "/ opens filter": [],
            "/ filter typing": [],
        }
        for _ in range(30):
            keys["j"].append(tui.frame_after(tui.send(b"j")) or 2.0)
        by_view: dict[str, list[float]] = {}
        # text that only the new view draws, so the frame that shows it can be told apart
        markers = {b"1": b"Context", b"2": b"folded", b"3": b"unread for", b"4": b"cost / hour"}
        for i in range(20):  # 2 3 4 1 2 ...: each key changes the view (the TUI starts on 1)
            key = b"2341"[i % 4 : i % 4 + 1]
            latency = tui.frame_showing(tui.send(key), markers[key]) or 2.0
            time.sleep(0.3)
            keys["view switch"].append(latency)
            by_view.setdefault(key.decode(), []).append(latency)
        tui.send(b"1")
        time.sleep(0.3)
        for _ in range(10):  # `/` itself: the frame that shows the filter line
            keys["/ opens filter"].append(tui.frame_showing(tui.send(b"/"), b"esc clears") or 2.0)
            time.sleep(0.3)
            tui.send(b"\x1b")
            time.sleep(0.3)
        tui.send(b"/")
        time.sleep(0.3)
        for ch in b"a001" * 4:
            keys["/ filter typing"].append(tui.frame_after(tui.send(bytes([ch]))) or 2.0)
        tui.send(b"\x1b")
        time.sleep(0.5)
        if args.raw:
            print({k: [round(v * 1000) for v in vs] for k, vs in keys.items()})
        for name, values in keys.items():
            print(f"{name:16s} p50 {pct(values, 0.5):6.1f} ms  p95 {pct(values, 0.95):6.1f} ms")
        print(
            "  view switch by key: "
            + "  ".join(
                f"{k}: {pct(v, 0.5):.0f}/{max(v) * 1000:.0f} ms" for k, v in sorted(by_view.items())
            )
        )
        if args.keys_only:
            tui.stop()
            return 0

        async def busy() -> None:
            async with FleetClient(url, token) as c:
                await gather_batched(
                    [
                        c.send(f"a{i:04d}", RunRequest(prompt="work for a while"))
                        for i in range(min(100, n_agents))
                    ]
                )

        asyncio.run(busy())
        time.sleep(1)
        rate, cpu = measure(tui, 10)
        print(f"100 busy: {rate / 1024:.2f} KB/s, CPU {cpu:.1f}% of one core")
        time.sleep(25)  # let the runs finish
        rate, cpu = measure(tui, 10)
        print(f"idle:     {rate / 1024:.3f} KB/s, CPU {cpu:.1f}% of one core")
        tui.stop()
    finally:
        if args.home is None:
            teardown(home)
        else:
            stop_daemon(FleetPaths(home))
    return 0


if __name__ == "__main__":
    sys.exit(main())
