"""`fleetview demo` as a user runs it: in a terminal (a tmux pane on a private
socket), showing a moving simulated fleet, and leaving nothing behind — its
daemon stopped and its throwaway home removed — whether it is quit with `q`
or its terminal goes away (an ssh drop, a killed pane)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_for

from fleetview.daemon import read_record
from fleetview.paths import FleetPaths
from fleetview.tui.demo import teardown


class Terminal:
    """A 120x40 tmux pane running `fleetview demo`, with TMPDIR pointed into the test."""

    def __init__(self, tmp_path: Path) -> None:
        self.socket = str(tmp_path / "tmux.sock")
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir()
        env = {**os.environ, "TMPDIR": str(self.tmpdir), "TERM": "xterm-256color"}
        for name in ("FLEETVIEW_HOME", "FLEETVIEW_API_URL", "TMUX"):
            env.pop(name, None)
        fleetview = Path(sys.executable).with_name("fleetview")
        self.tmux("new-session", "-d", "-x", "120", "-y", "40", f"{fleetview} demo", env=env)

    def tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            ["tmux", "-S", self.socket, "-f", "/dev/null", *args],
            env=env,
            check=False,  # kill-server on a gone server is fine; a bad start shows on screen
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def home(self) -> Path:
        homes = list(self.tmpdir.glob("fleetview-demo-*"))
        assert len(homes) == 1, homes
        return homes[0]


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(tmp_path)
    yield term
    term.tmux("kill-server")
    for home in term.tmpdir.glob("fleetview-demo-*"):  # only if the test failed
        teardown(home)


def started(term: Terminal) -> tuple[Path, int]:
    """The demo's home and daemon pid, once its fleet is on screen."""
    wait_for(lambda: list(term.tmpdir.glob("fleetview-demo-*")), timeout=30)
    home = term.home()
    wait_for(lambda: read_record(FleetPaths(home)), timeout=30)
    wait_for(lambda: "oncall" in term.screen() and "planner" in term.screen(), timeout=30)
    record = read_record(FleetPaths(home))
    assert record is not None
    return home, int(record["pid"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return (
        Path(f"/proc/{pid}").exists()
        and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


def test_demo_shows_a_working_fleet_and_q_leaves_nothing(terminal: Terminal) -> None:
    home, pid = started(terminal)
    screen = terminal.screen()
    assert "demo (simulated)" in screen and "agents" in screen
    wait_for(lambda: "working" in terminal.screen(), timeout=30)  # the fleet moves
    terminal.tmux("send-keys", "q")
    wait_for(lambda: not home.exists() and not alive(pid), timeout=20)


def test_demo_whose_terminal_goes_away_leaves_nothing(terminal: Terminal) -> None:
    home, pid = started(terminal)
    terminal.tmux("kill-server")  # the pane's process gets SIGHUP, as on an ssh drop
    wait_for(lambda: not home.exists() and not alive(pid), timeout=20)
