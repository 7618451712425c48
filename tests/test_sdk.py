"""The SDK against a real engine daemon (sim runtime), on a temp FLEETVIEW_HOME.

One daemon serves the module (start-up costs ~1 s); tests use their own agent
names. Definitions live in a temp project dir (the cwd) and a temp HOME.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import fleet_env, free_port, stop_fleet
from pydantic import BaseModel

from fleetview import Agent, AgentError, ContextResult, Orchestrate, SchemaError, recall
from fleetview.client import FleetClient
from fleetview.errors import EngineUnavailable
from fleetview.paths import FleetPaths
from fleetview.sdk.agent import first_free_name
from fleetview.sdk.connection import close_clients
from fleetview.sdk.definitions import load_definition
from fleetview.sdk.legacy import run_async
from fleetview.sdk.schema import normalize_schema

SPEED = "50"


def write_definition(directory: Path, name: str, body: str, **meta: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = ["---", f"name: {name}"]
    for key, value in meta.items():
        lines.append(f"{key}: {json.dumps(value) if not isinstance(value, str) else value}")
    lines += ["---", body, ""]
    path = directory / f"{name}.md"
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A module-wide fleet: env pointed at a temp home, cwd a project with definitions."""
    root = tmp_path_factory.mktemp("sdk")
    home, project, user = root / "fleet", root / "project", root / "user"
    project.mkdir()
    write_definition(
        project / ".claude" / "agents",
        "research",
        "You research questions thoroughly.",
        description="Finds things out",
        tools="Read, Grep, Bash",
        model="sonnet",
    )
    write_definition(
        user / ".claude" / "agents", "reviewer", "You review code strictly.", model="opus"
    )
    with pytest.MonkeyPatch.context() as mp:
        env = fleet_env(home)
        for key in ("FLEETVIEW_HOME", "FLEETVIEW_API_URL"):
            mp.setenv(key, env[key])
        mp.setenv("HOME", str(user))
        mp.setenv("FLEETVIEW_RUNTIME", "sim")
        mp.setenv("FLEETVIEW_SIM_SPEED", SPEED)
        mp.delenv("ANTHROPIC_API_KEY", raising=False)
        mp.delenv("FLEETVIEW_AGENT_NAME", raising=False)
        mp.chdir(project)
        yield {"home": home, "project": project, "user": user}
        stop_fleet(home, dict(os.environ))


@pytest.fixture
async def client(fleet: dict[str, Path]) -> Any:
    found = await FleetClient.connect()
    yield found
    await found.aclose()
    await close_clients()


# ---- the issue's program -------------------------------------------------------------


async def test_the_issue_program(fleet: dict[str, Path], client: FleetClient) -> None:
    researcher = Agent("research")
    dev = Agent("frontend_dev", prompt="React expert")
    fast = Agent("research", model="haiku")
    r1, r2 = await asyncio.gather(researcher.arun("check GitHub"), researcher.arun("check papers"))
    impl = await dev.arun("implement", context=[r1, r2])
    review = await Agent("reviewer").arun(
        "review this", context=[impl], schema={"status": "str", "issues": "list"}
    )
    assert isinstance(review["status"], str) and isinstance(review["issues"], list)
    assert impl.text and "\n" not in impl.summary and Path(impl.file or "").is_file()
    assert Path(impl.file or "").parent == fleet["home"] / "context"
    helper = dev.spawn("css_helper", prompt="Handle CSS only")
    await helper.arun("fix spacing", context=[impl])
    past = await recall(agent="research", limit=10)
    assert {r1.id, r2.id} <= {c.id for c in past}
    assert all(isinstance(c, ContextResult) for c in past)

    # the definition was used, and the second run of one Agent went to the same agent
    record = await client.get_agent("research")
    assert record.prompt == "You research questions thoroughly."
    assert record.tools == ["Read", "Grep", "Bash"] and record.model == "claude-sonnet-5-5"
    assert r1.agent_name == r2.agent_name == "research" and r1.id < r2.id
    assert (await client.get_agent("reviewer")).model == "claude-opus-5-5"  # ~/.claude, alias
    # the override keeps prompt/tools and changes the model; it is its own agent
    await fast.arun("quick look")
    assert fast.fleet_name == "research-2"
    fast_record = await client.get_agent("research-2")
    assert fast_record.prompt == record.prompt and fast_record.tools == record.tools
    assert fast_record.model != record.model and "haiku" in (fast_record.model or "")
    # the child shows under its parent, inheriting runtime/model/tools
    child = await client.get_agent(helper.fleet_name or "")
    assert (
        child.parent_id == dev.id and child.runtime == "sim" and child.prompt == "Handle CSS only"
    )
    await dev.aclose()
    names = {a.name for a in await client.list_agents()}
    assert "frontend_dev" not in names and "css_helper" not in names and "research" in names
    # results outlive their agents
    assert (await recall(agent="frontend_dev"))[0].id == impl.id
    for agent in (researcher, fast):
        await agent.aclose()


# ---- agents, names, sessions, concurrency ----------------------------------------------


def test_first_free_name() -> None:
    assert first_free_name("a", set()) == "a"
    assert first_free_name("a", {"a", "a-2"}) == "a-3"
    assert len(first_free_name("x" * 64, {"x" * 64})) == 64


async def test_each_agent_object_is_its_own_agent(
    fleet: dict[str, Path], client: FleetClient
) -> None:
    agents = [Agent("twin", prompt="p") for _ in range(3)]
    assert all(a.fleet_name is None for a in agents)  # lazy: nothing created yet
    assert "twin" not in {a.name for a in await client.list_agents()}
    results = await asyncio.gather(*(a.arun(f"job {i}") for i, a in enumerate(agents)))
    assert sorted(r.agent_name for r in results) == ["twin", "twin-2", "twin-3"]
    for a in agents:
        await a.aclose()


async def test_fifty_concurrent_aruns(fleet: dict[str, Path], client: FleetClient) -> None:
    agents = [Agent("fan", prompt="You check one source.") for _ in range(50)]
    started = time.monotonic()
    results = await asyncio.gather(*(a.arun(f"check source {i}") for i, a in enumerate(agents)))
    elapsed = time.monotonic() - started
    assert len({r.agent_name for r in results}) == 50
    assert [r.prompt for r in results] == [f"check source {i}" for i in range(50)]
    assert elapsed < 20, elapsed
    await asyncio.gather(*(a.aclose() for a in agents))
    assert not [a for a in await client.list_agents() if a.name.startswith("fan")]


async def test_concurrent_calls_on_one_agent_queue_in_order(
    fleet: dict[str, Path], client: FleetClient
) -> None:
    dev = Agent("queuer", prompt="p")
    results = await asyncio.gather(*(dev.arun(f"step {i}") for i in range(8)))
    assert {r.agent_name for r in results} == {"queuer"}
    assert [r.prompt for r in results] == [f"step {i}" for i in range(8)]
    runs = sorted(await client.list_runs("queuer"), key=lambda r: r.id)
    assert [r.prompt for r in runs] == [f"step {i}" for i in range(8)]
    spans = [(r.started_at, r.finished_at) for r in runs]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # one at a time
    await dev.aclose()


async def test_sequential_calls_continue_one_session(
    fleet: dict[str, Path], client: FleetClient
) -> None:
    dev = Agent("sess", prompt="p")
    await dev.arun("set up project")
    first_id = dev.id
    await dev.arun("add auth")
    await dev.arun("write tests")
    assert dev.id == first_id
    record = await client.get_agent(first_id or "")
    assert record.runs == 3 and record.context_tokens > 0
    await dev.aclose()


async def test_async_with_closes_and_closed_agent_refuses(
    fleet: dict[str, Path], client: FleetClient
) -> None:
    async with Agent("scoped", prompt="p") as agent:
        await agent.arun("hello")
        assert "scoped" in {a.name for a in await client.list_agents()}
    assert "scoped" not in {a.name for a in await client.list_agents()}
    with pytest.raises(AgentError, match="closed"):
        await agent.arun("again")


# ---- schemas -----------------------------------------------------------------------------


class Verdict(BaseModel):
    approved: bool
    score: int
    notes: list[str]


class Finding(BaseModel):
    title: str


class Report(BaseModel):
    top: Finding
    count: int


def test_schema_normalisation() -> None:
    short = normalize_schema(
        {"status": "str", "n": "int", "x": "float", "ok": "bool", "items": "list", "meta": "dict"}
    ).json_schema
    assert short["type"] == "object" and short["required"] == [
        "status",
        "n",
        "x",
        "ok",
        "items",
        "meta",
    ]
    assert [p["type"] for p in short["properties"].values()] == [
        "string",
        "integer",
        "number",
        "boolean",
        "array",
        "object",
    ]
    assert normalize_schema({"type": "str"}).json_schema["properties"] == {
        "type": {"type": "string"}
    }
    js = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    assert normalize_schema(js).json_schema == js
    nested = normalize_schema(Report).json_schema
    assert "$defs" not in json.dumps(nested) and "$ref" not in json.dumps(nested)
    assert nested["properties"]["top"]["properties"]["title"]["type"] == "string"
    with pytest.raises(ValueError, match="str\\|int\\|float\\|bool\\|list\\|dict"):
        normalize_schema({"a": "string", "b": "int"})
    with pytest.raises(TypeError):
        normalize_schema(["a"])
    check = normalize_schema({"status": "str", "issues": "list"})
    assert check.violations({"status": "ok", "issues": []}) == []
    assert check.violations({"status": 1}) == [
        "$: missing required property 'issues'",
        "$.status: expected string, got integer",
    ]
    assert normalize_schema(Verdict).violations({"approved": True, "score": "x", "notes": []})


async def test_schema_three_forms(fleet: dict[str, Path]) -> None:
    agent = Agent("schemer", prompt="p")
    short = await agent.arun(
        "check build", schema={"passing": "bool", "failures": "int", "summary": "str"}
    )
    assert isinstance(short["passing"], bool) and isinstance(short["failures"], int)
    js = await agent.arun(
        "rate it",
        schema={
            "type": "object",
            "properties": {"score": {"type": "integer"}, "level": {"enum": ["low", "high"]}},
            "required": ["score", "level"],
        },
    )
    assert isinstance(js["score"], int) and js["level"] in ("low", "high")
    model = await agent.arun("judge", schema=Verdict)
    Verdict.model_validate(model.data)
    nested = await agent.arun("report", schema=Report)
    assert isinstance(Report.model_validate(nested.data).top.title, str)
    await agent.aclose()


async def test_schema_violation_then_fix(fleet: dict[str, Path], client: FleetClient) -> None:
    agent = Agent("fixer", prompt="p", config={"bad_schema_runs": 1})
    result = await agent.arun("review this", schema={"status": "str", "issues": "list"})
    assert isinstance(result["status"], str) and isinstance(result["issues"], list)
    runs = sorted(await client.list_runs("fixer"), key=lambda r: r.id)
    assert len(runs) == 2
    assert runs[0].data == {"status": {"unexpected": True}, "issues": {"unexpected": True}}
    assert "did not match the required schema" in runs[1].prompt
    assert "$.status: expected string, got object" in runs[1].prompt
    assert "review this" in runs[1].prompt
    await agent.aclose()


async def test_persistent_violation_is_schema_error(
    fleet: dict[str, Path], client: FleetClient
) -> None:
    agent = Agent("stubborn", prompt="p", config={"bad_schema_runs": 5})
    with pytest.raises(SchemaError) as caught:
        await agent.arun("review this", schema=Verdict)
    assert caught.value.agent == "stubborn"
    assert any("approved" in v for v in caught.value.violations)
    assert caught.value.result is not None and caught.value.result.data
    assert isinstance(caught.value, AgentError)
    assert len(await client.list_runs("stubborn")) == 2  # the answer and one retry, no more
    await agent.aclose()


# ---- definitions -------------------------------------------------------------------------


def test_definitions_both_locations_and_overrides(fleet: dict[str, Path]) -> None:
    project = fleet["project"] / ".claude" / "agents"
    user = fleet["user"] / ".claude" / "agents"
    write_definition(user, "dual", "user prompt", model="opus", tools=["bash"])
    write_definition(project, "dual", "project prompt", model="haiku", tools="Read, Edit")
    write_definition(user, "solo", "solo prompt", tools="Bash")
    (user / "oddfile.md").write_text("---\nname: byname\nmodel: inherit\n---\nfound by name\n")
    dual = Agent("dual")
    assert (dual.prompt, dual.model, dual.tools) == ("project prompt", "haiku", ["Read", "Edit"])
    assert load_definition("dual").path == project / "dual.md"
    solo = Agent("solo", model="sonnet", tools=["bash", "report"])
    assert (solo.prompt, solo.model, solo.tools) == ("solo prompt", "sonnet", ["bash", "report"])
    inline = Agent("solo", prompt="inline wins")
    assert inline.prompt == "inline wins" and inline.tools == ["Bash"]
    byname = Agent("byname")
    assert byname.prompt == "found by name" and byname.model is None


def test_unknown_definition_names_the_paths(fleet: dict[str, Path]) -> None:
    with pytest.raises(AgentError) as caught:
        Agent("nobody")
    message = str(caught.value)
    assert str(fleet["project"] / ".claude" / "agents" / "nobody.md") in message
    assert str(fleet["user"] / ".claude" / "agents" / "nobody.md") in message
    assert "prompt=" in message
    with pytest.raises(AgentError, match="invalid name"):
        Agent("bad name", prompt="p")


def test_default_runtime(fleet: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETVIEW_RUNTIME")
    with pytest.raises(AgentError, match="ANTHROPIC_API_KEY.*runtime='sim'"):
        Agent("x", prompt="p")
    assert Agent("x", prompt="p", runtime="sim").runtime == "sim"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-test")
    assert Agent("x", prompt="p").runtime == "api"
    with pytest.raises(AgentError, match="unknown runtime"):
        Agent("x", prompt="p", runtime="cloud")


# ---- recall, legacy, failures ------------------------------------------------------------


async def test_recall(fleet: dict[str, Path]) -> None:
    a, b, other = (
        Agent("scout", prompt="p"),
        Agent("scout", prompt="p"),
        Agent("scribe", prompt="p"),
    )
    r1 = await a.arun("look at architecture")
    r2 = await b.arun("look at tests")
    await other.arun("write architecture notes")
    mine = await recall(agent="scout")
    assert [c.id for c in mine] == [r2.id, r1.id]  # newest first, scout and scout-2
    assert [c.id for c in await recall(agent="scout", limit=1)] == [r2.id]
    assert [c.id for c in await recall(agent="scout", query="architecture")] == [r1.id]
    assert {c.agent_name for c in await recall(query="architecture")} >= {"scout", "scribe"}
    assert [c.id for c in await recall(agent=b)] == [r2.id]
    for agent in (a, b, other):
        await agent.aclose()


async def test_legacy_orchestrate(fleet: dict[str, Path], client: FleetClient) -> None:
    async def main(orch: Orchestrate) -> ContextResult:
        coder = await orch.agent("coder", prompt="You write code.")
        assert coder.fleet_name == "coder"  # created at once
        assert await orch.agent("coder") is coder
        result = await orch.run("do X", to="coder")
        checked = await orch.run("check X", to="coder", context=[result], schema={"ok": "bool"})
        assert isinstance(checked["ok"], bool)
        with pytest.raises(AgentError, match="no agent 'ghost'"):
            await orch.run("boo", to="ghost")
        past = await orch.recall(agent="coder")
        assert [c.id for c in past] == [checked.id, result.id]
        return result

    result = await run_async(main)
    assert result.agent_name == "coder" and result.prompt == "do X"
    assert "coder" in {a.name for a in await client.list_agents()}  # stays after the program
    async with Orchestrate() as orch:
        await orch.agent("legacy2", prompt="p")
    assert "legacy2" not in {a.name for a in await client.list_agents()}


async def test_agent_failure_is_agent_error(fleet: dict[str, Path]) -> None:
    agent = Agent("doomed", prompt="p", config={"fail_rate": 1.0})
    with pytest.raises(AgentError) as caught:
        await agent.arun("try")
    assert caught.value.agent == "doomed"
    assert caught.value.reason.startswith("[simulated] ")
    assert caught.value.run is not None and caught.value.run.status == "failed"
    assert caught.value.reason in str(caught.value)
    await agent.aclose()


async def test_deleted_agent_is_agent_error(fleet: dict[str, Path], client: FleetClient) -> None:
    agent = Agent("vanish", prompt="p")
    await agent.arun("hi")
    await client.delete_agent("vanish")
    with pytest.raises(AgentError, match="no longer in the fleet"):
        await agent.arun("again")


async def test_timeout_cancels_the_run_in_the_fleet(
    fleet: dict[str, Path], client: FleetClient
) -> None:
    agent = Agent("slowpoke", prompt="p", config={"speed": 0.5})
    with pytest.raises(AgentError, match="did not finish within 0.3 s"):
        await agent.arun("take your time", timeout=0.3)
    [run] = await client.list_runs("slowpoke")
    assert run.status == "cancelled"
    await agent.aclose()


async def test_engine_death_is_engine_unavailable(
    fleet: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "doomed-fleet"
    monkeypatch.setenv("FLEETVIEW_HOME", str(home))
    monkeypatch.setenv("FLEETVIEW_API_URL", f"http://127.0.0.1:{free_port()}")
    try:
        agent = Agent("longrun", prompt="p", config={"speed": 0.05})
        await agent.start()
        running = asyncio.create_task(agent.arun("a long job"))
        await asyncio.sleep(0.5)
        assert not running.done()
        pid = int(json.loads(FleetPaths(home).daemon.read_text())["pid"])
        os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(EngineUnavailable):
            await asyncio.wait_for(running, 10)
        assert time.monotonic() - started < 5
        # the next call attaches afresh: a new engine, with the fleet as it was kept
        again = await Agent("after", prompt="p", config={"speed": 50}).arun("hi", timeout=20)
        assert again.agent_name == "after"
        client = await FleetClient.connect()
        assert "longrun" in {a.name for a in await client.list_agents()}
        (interrupted,) = await client.list_runs("longrun")
        assert interrupted.status == "interrupted"
        await client.aclose()
    finally:
        await close_clients()
        stop_fleet(home, dict(os.environ))


async def test_an_explicit_api_url_starts_and_reaches_its_own_engine(
    fleet: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "elsewhere"
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("FLEETVIEW_HOME", str(home))
    monkeypatch.delenv("FLEETVIEW_API_URL")
    try:
        agent = Agent("remote", prompt="p", api_url=url)
        result = await agent.arun("hello")
        assert result.agent_name == "remote"
        record = json.loads(FleetPaths(home).daemon.read_text())
        assert record["url"] == url  # the engine it started listens where it was told
        assert os.environ.get("FLEETVIEW_API_URL") is None  # and the environment is untouched
        await agent.aclose()
    finally:
        await close_clients()
        stop_fleet(home, {**fleet_env(home), "FLEETVIEW_API_URL": url})
