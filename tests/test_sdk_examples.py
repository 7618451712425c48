"""Programs as users run them: the issue's program, the three examples and the
legacy runner, as subprocesses against one daemon on the sim runtime, and
again on the api runtime against the fake Messages API (tests/fake_anthropic.py).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import fleet_env, stop_fleet
from fake_anthropic import FakeAnthropic, Reply

# FakeAnthropic.stop() can raise in its own thread when no connection is open
# (asyncio.gather() of nothing outside a running loop); that is its teardown, not ours.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TIMEOUT = 90.0

ISSUE_PROGRAM = """
import asyncio
from fleetview import Agent, recall

async def main():
    researcher = Agent("research")                      # definition from .claude/agents/research.md
    dev = Agent("frontend_dev", prompt="React expert")  # inline
    fast = Agent("research", model="haiku")             # keeps prompt/tools, overrides model
    r1, r2 = await asyncio.gather(researcher.arun("check GitHub"), researcher.arun("check papers"))
    impl = await dev.arun("implement", context=[r1, r2])
    review = await Agent("reviewer").arun("review this", context=[impl],
                                          schema={"status": "str", "issues": "list"})
    print(review["status"], impl.text, impl.summary, impl.file)
    helper = dev.spawn("css_helper", prompt="Handle CSS only")
    await helper.arun("fix spacing", context=[impl])
    past = await recall(agent="research", limit=10)    # earlier ContextResults
    print("RECALLED", len(past), "FAST", fast.model)
    await dev.aclose()

asyncio.run(main())
"""

LEGACY_PROGRAM = """
from fleetview import Orchestrate

async def main(orch):
    await orch.agent("coder", prompt="You write code.")
    result = await orch.run("do X", to="coder")
    print("LEGACY", result.agent_name, result.summary)

if __name__ == "__main__":
    raise SystemExit("the runner must not run this block")
"""


def make_project(root: Path) -> tuple[Path, Path]:
    """A project dir with research.md, and a HOME with reviewer.md."""
    project, user = root / "project", root / "user"
    (project / ".claude" / "agents").mkdir(parents=True)
    (user / ".claude" / "agents").mkdir(parents=True)
    (project / ".claude" / "agents" / "research.md").write_text(
        "---\nname: research\ndescription: Finds things out\ntools: Read, Grep, Bash\n"
        "model: sonnet\n---\nYou research questions thoroughly.\n"
    )
    (user / ".claude" / "agents" / "reviewer.md").write_text(
        "---\nname: reviewer\nmodel: opus\n---\nYou review code strictly.\n"
    )
    (project / "issue_program.py").write_text(ISSUE_PROGRAM)
    (project / "legacy_program.py").write_text(textwrap.dedent(LEGACY_PROGRAM))
    return project, user


class Fleet:
    """Runs programs as subprocesses against one fleet home."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.home = Path(env["FLEETVIEW_HOME"])
        self.project, user = make_project(root)
        self.env = {**env, "HOME": str(user)}

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(  # noqa: PLW1510
            [sys.executable, *args],
            cwd=self.project,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def ok(self, *args: str, **env: str) -> str:
        result = self.run(*args, **env)
        assert result.returncode == 0, (result.stdout, result.stderr)
        return result.stdout

    def stop(self) -> None:
        stop_fleet(self.home, self.env)


@pytest.fixture(scope="module")
def sim_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("sdk-sim")
    env = fleet_env(root / "fleet")
    env.pop("ANTHROPIC_API_KEY", None)
    env.update(FLEETVIEW_RUNTIME="sim", FLEETVIEW_SIM_SPEED="50")
    fleet = Fleet(root, env)
    yield fleet
    fleet.stop()


def fill(schema: dict[str, Any]) -> Any:
    """A value of the schema's type (what a cooperative model would report)."""
    kind = schema.get("type", "string")
    if kind == "object":
        return {name: fill(prop) for name, prop in schema.get("properties", {}).items()}
    return {
        "string": "APPROVED",
        "integer": 0,
        "number": 0.5,
        "boolean": True,
        "array": ["write it", "test it"],
    }.get(kind, "APPROVED")


def cooperative_model(body: dict[str, Any]) -> Reply:
    tools = {tool["name"]: tool for tool in body.get("tools", [])}
    if "report" in tools:
        return Reply.tool("report", fill(tools["report"]["input_schema"]), text="Reporting.")
    return Reply.text("Done: looked at it and made the change.\n\nDetails follow.")


@pytest.fixture(scope="module")
def api_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Fleet, FakeAnthropic]]:
    fake = FakeAnthropic(default=cooperative_model)
    url = fake.start()
    root = tmp_path_factory.mktemp("sdk-api")
    env = fleet_env(root / "fleet")
    env.pop("FLEETVIEW_RUNTIME", None)
    env.pop("ANTHROPIC_AUTH_TOKEN", None)
    env.update(ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY="sk-ant-test-sdk-0123456789")
    fleet = Fleet(root, env)
    yield fleet, fake
    fleet.stop()
    fake.stop()


# ---- sim -------------------------------------------------------------------------------


def test_issue_program_on_sim(sim_fleet: Fleet) -> None:
    out = sim_fleet.ok("issue_program.py")
    assert "[simulated]" in out and str(sim_fleet.home / "context") in out
    assert "RECALLED 2 FAST haiku" in out
    listed = sim_fleet.ok("-m", "fleetview", "agent", "list")
    assert "research" in listed and "reviewer" in listed and "frontend_dev" not in listed


def test_issue_program_without_a_runtime_says_so(sim_fleet: Fleet) -> None:
    env = {k: v for k, v in sim_fleet.env.items() if k != "FLEETVIEW_RUNTIME"}
    result = subprocess.run(  # noqa: PLW1510
        [sys.executable, "issue_program.py"],
        cwd=sim_fleet.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1
    assert "ANTHROPIC_API_KEY" in result.stderr and "runtime='sim'" in result.stderr


EXPECTED = [
    (
        "research_review.py",
        ["research: two researchers", "researcher-2:", "review round 1:", "done: "],
    ),
    ("board_pipeline.py", ["board: 3 of 3 tasks done", "[done] Add a /healthz endpoint"]),
    ("scout_plan_build.py", ["scout: ", "plan: ", "build: builder", "check: passing="]),
]


@pytest.mark.parametrize("example,expect", EXPECTED)
def test_examples_on_sim(sim_fleet: Fleet, example: str, expect: list[str]) -> None:
    out = sim_fleet.ok(str(EXAMPLES / example), "--runtime", "sim", "--speed", "50")
    for line in expect:
        assert line in out, out


def test_examples_need_a_runtime(sim_fleet: Fleet) -> None:
    env = {k: v for k, v in sim_fleet.env.items() if k != "FLEETVIEW_RUNTIME"}
    result = subprocess.run(  # noqa: PLW1510
        [sys.executable, str(EXAMPLES / "scout_plan_build.py")],
        cwd=sim_fleet.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "runtime='sim'" in result.stderr


def test_legacy_runner(sim_fleet: Fleet) -> None:
    out = sim_fleet.ok("-m", "fleetview.sdk", "legacy_program.py")
    assert "LEGACY coder" in out
    result = sim_fleet.run("-m", "fleetview.sdk", "nope.py")
    assert result.returncode == 2 and "no such program" in result.stderr


# ---- api (fake Messages API) ---------------------------------------------------------------


def test_issue_program_on_api(api_fleet: tuple[Fleet, FakeAnthropic]) -> None:
    fleet, fake = api_fleet
    out = fleet.ok("issue_program.py")
    assert out.startswith("APPROVED Done: looked at it")
    assert "RECALLED 2" in out
    systems = [str(r.get("system")) for r in fake.requests]
    assert any("You research questions thoroughly." in s for s in systems)
    assert any("You review code strictly." in s for s in systems)
    models = {r["model"] for r in fake.requests}
    assert any("opus" in m for m in models) and any("sonnet" in m for m in models)
    # context results reached the model with their origin
    assert any('<context from="research"' in str(r["messages"]) for r in fake.requests)


@pytest.mark.parametrize("example,expect", EXPECTED)
def test_examples_on_api(
    api_fleet: tuple[Fleet, FakeAnthropic], example: str, expect: list[str]
) -> None:
    fleet, _ = api_fleet
    out = fleet.ok(str(EXAMPLES / example), "--runtime", "api")
    for line in expect:
        assert line in out, out
    assert "[simulated]" not in out
