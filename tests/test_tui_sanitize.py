"""Escape sequences in agent output (clear screen, title change, OSC 52) render inert."""

from __future__ import annotations

from datetime import timedelta

from fleetview.models import Event
from fleetview.tui.app import FleetviewApp
from fleetview.tui.sample import FROZEN_NOW, frozen_clock, sample_snapshot

HOSTILE = (
    "before\x1b[2J\x1b[H clear"
    " \x1b]0;pwned\x07title"
    " \x1b]52;c;cm0gLXJmIH4=\x07clip"
    " \x9b31mred\x1b[0m after\n"
)


async def test_hostile_output_renders_inert() -> None:
    snapshot = sample_snapshot()
    planner = snapshot.agents[0]
    planner.detail = "Bash(\x1b]0;pwned\x07ls \x1b[2J)"
    app = FleetviewApp(snapshot=snapshot, clock=frozen_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        app.state.apply(
            Event(
                seq=101,
                ts=FROZEN_NOW + timedelta(seconds=1),
                kind="agent.output",
                entity_id=planner.id,
                data={"text": HOSTILE, "stream": "text"},
            )
        )
        await pilot.pause()
        agents_svg = app.export_screenshot()
        await pilot.press("enter")
        await pilot.pause()
        detail_svg = app.export_screenshot()
    for svg in (agents_svg, detail_svg):
        assert "\x1b" not in svg and "\x9b" not in svg and "\x07" not in svg
        assert "pwned" not in svg
        assert "cm0gLXJmIH4" not in svg
        assert "[2J" not in svg and "]52;" not in svg
    assert "before" in detail_svg and "after" in detail_svg
    assert "Bash(ls" in agents_svg.replace("\xa0", " ").replace("&#160;", " ")
