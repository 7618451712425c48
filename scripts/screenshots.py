"""Render each TUI view of the demo fleet to screenshots/*.svg (120x40).

Run: python scripts/screenshots.py  — starts a throwaway demo daemon, lets the
simulated fleet work for a while, saves agents/board/inbox/meters/detail, and
removes the home again.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from fleetview.client import FleetClient
from fleetview.daemon import ensure_daemon
from fleetview.paths import FleetPaths
from fleetview.tui.app import FleetviewApp
from fleetview.tui.demo import drive, make_home, make_workspace, seed, teardown

OUT = Path(__file__).resolve().parent.parent / "screenshots"
SIZE = (120, 40)
WARMUP = 10.0


async def render(url: str, token: str, home: Path) -> None:
    async with FleetClient(url, token) as client:
        await seed(client, speed=2.0, workspace=make_workspace(home))
    app = FleetviewApp(
        FleetClient(url, token),
        background=[lambda c: drive(c, interval=1.0)],
        banner="demo (simulated)",
        home=home,
    )
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.sleep(WARMUP)
        for key, name in (("1", "agents"), ("2", "board"), ("3", "inbox"), ("4", "meters")):
            await pilot.press(key)
            await pilot.pause(0.5)
            app.save_screenshot(f"{name}.svg", path=str(OUT))
        await pilot.press("1", "j")
        await pilot.press("enter")
        await pilot.pause(2.0)
        app.save_screenshot("detail.svg", path=str(OUT))


def main() -> int:
    OUT.mkdir(exist_ok=True)
    home = make_home()
    try:
        url, token = ensure_daemon(FleetPaths(home))
        asyncio.run(render(url, token, home))
    finally:
        teardown(home)
    print("\n".join(str(p) for p in sorted(OUT.glob("*.svg"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
