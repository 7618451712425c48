"""FleetState: events folded into the fleet the TUI draws (no textual needed)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

from fleetview.models import Event
from fleetview.tui.sample import FROZEN_NOW, frozen_clock, sample_snapshot
from fleetview.tui.state import AgentOutput, FleetState, age, cost_text, meter


def event(seq: int, kind: str, entity: str, data: dict, seconds: float = 0) -> Event:
    return Event(
        seq=seq, ts=FROZEN_NOW + timedelta(seconds=seconds), kind=kind, entity_id=entity, data=data
    )


def loaded() -> FleetState:
    state = FleetState(frozen_clock)
    state.load(sample_snapshot())
    state.take_dirty(("agents", "board", "inbox", "meters", "detail"))
    return state


def test_events_update_entities_and_mark_views_dirty() -> None:
    state = loaded()
    agent = state.agents["a00"].model_copy(update={"status": "idle", "cost_usd": 2.0})
    state.apply(event(101, "agent.updated", "a00", agent.model_dump(mode="json"), 60))
    assert state.agents["a00"].status == "idle"
    assert state.take_dirty(("agents", "inbox")) == {"agents", "inbox"}
    state.apply(event(102, "task.deleted", "1", {"id": 1}))
    assert 1 not in state.tasks and state.take_dirty(("board",)) == {"board"}
    state.apply(event(102, "task.deleted", "2", {"id": 2}))  # replayed seq: ignored
    assert 2 in state.tasks
    state.apply(event(103, "agent.deleted", "a01", {"id": "a01"}))
    assert "a01" not in state.agents


def test_agent_tree_puts_children_under_parents() -> None:
    names = [(a.name, depth) for a, depth in loaded().agent_tree()]
    assert names.index(("helper", 1)) == names.index(("builder-1", 0)) + 1


def test_needs_you_lists_gates_and_waiting_agents_without_gates() -> None:
    state = loaded()
    needs = state.needs_you()
    assert [(n.kind, n.who) for n in needs] == [("gate", "builder-2")]
    scout = state.agents["a05"].model_copy(update={"status": "waiting", "detail": "a question"})
    state.apply(event(101, "agent.updated", "a05", scout.model_dump(mode="json")))
    assert [(n.kind, n.who) for n in state.needs_you()] == [
        ("gate", "builder-2"),
        ("agent", "scout"),
    ]


def test_output_is_sanitised_and_split_into_lines() -> None:
    state = loaded()
    state.apply(event(101, "agent.output", "a00", {"text": "hel", "stream": "text"}))
    state.apply(
        event(
            102,
            "agent.output",
            "a00",
            {"text": "lo\x1b[2J\x1b]0;pwned\x07\nnext", "stream": "text"},
        )
    )
    out = state.outputs["a00"]
    assert list(out.lines) == ["hello"] and out.partial == "next" and out.total == 1
    assert out.since(0) == ["hello"] and out.since(1) == []


def test_text_left_open_ends_where_a_tool_call_starts() -> None:
    out = AgentOutput()
    out.add("Checking the directory.", "text")
    out.add("$ ls\n", "tool")
    out.add("README.md\n", "tool")
    assert list(out.lines) == ["Checking the directory.", "$ ls", "README.md"]
    assert list(out.tools) == ["$ ls", "README.md"] and out.tools_since(1) == ["README.md"]


def test_cost_per_hour_over_the_last_ten_minutes() -> None:
    state = loaded()
    base = state.total_cost()[0]
    agent = state.agents["a00"]
    for minute in range(1, 21):
        agent = agent.model_copy(update={"cost_usd": (agent.cost_usd or 0) + 0.1})
        state.apply(
            event(100 + minute, "agent.updated", "a00", agent.model_dump(mode="json"), minute * 60)
        )
    now = (FROZEN_NOW + timedelta(minutes=20)).timestamp()
    assert abs(state.cost_per_hour(now) - 6.0) < 0.01  # $0.10 a minute
    assert abs(state.total_cost()[0] - base - 2.0) < 1e-9


def test_formatting() -> None:
    assert age(FROZEN_NOW - timedelta(seconds=3), FROZEN_NOW) == "now"
    assert age(FROZEN_NOW - timedelta(seconds=17), FROZEN_NOW) == "15s"
    assert age(FROZEN_NOW - timedelta(minutes=4), FROZEN_NOW) == "4m"
    assert cost_text(None) == "unpriced" and cost_text(0.5) == "$0.500"
    assert cost_text(None, "tmux") == "unknown" and cost_text(None, "api") == "unpriced"
    assert cost_text(0.5, "tmux") == "$0.500"
    assert meter(None) == "?" and meter(0.5, 4) == "██░░  50%"


def test_state_and_models_import_without_textual() -> None:
    code = (
        "import sys, fleetview.tui.state, fleetview.tui.sample; assert 'textual' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
