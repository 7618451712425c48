"""SVG snapshots of each view at 80x24 and 120x40, on a fixed fleet with a frozen clock."""

from __future__ import annotations

from typing import Any

import pytest

from fleetview.tui.app import FleetviewApp
from fleetview.tui.sample import frozen_clock, sample_snapshot

VIEWS = {
    "agents": ["1"],
    "board": ["2"],
    "inbox": ["3"],
    "meters": ["4"],
    "detail": ["1", "enter"],
    "help": ["2", "question_mark"],
}


def make_app() -> FleetviewApp:
    return FleetviewApp(snapshot=sample_snapshot(), clock=frozen_clock)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_view_snapshot(snap_compare: Any, view: str, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=VIEWS[view], terminal_size=size)
