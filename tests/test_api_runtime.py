"""The api runtime through the real `anthropic` SDK and the real Engine.

The SDK talks real HTTP to tests/fake_anthropic.py on 127.0.0.1, scripted per
test; the Engine keeps a real SQLite store in a temp FLEETVIEW_HOME.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fake_anthropic import FakeAnthropic, Fault, Reply, usage

from fleetview.engine.core import Engine
from fleetview.models import Agent, AgentSpec, Run, RunRequest
from fleetview.paths import FleetPaths

TEST_KEY = "sk-ant-test-Zq8SECRETkey-0123456789"
FAST = {"retry_base_delay": 0.01, "retry_max_delay": 0.05}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAnthropic]:
    """The fake Messages API, with the SDK's env pointed at it."""
    server = FakeAnthropic()
    url = server.start()
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY)
    monkeypatch.delenv("ANTHROPIC_AUTH_TOKEN", raising=False)
    yield server
    server.stop()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FleetPaths:
    monkeypatch.setenv("FLEETVIEW_HOME", str(tmp_path / "home"))
    return FleetPaths(tmp_path / "home")


@pytest.fixture
async def engine(home: FleetPaths, fake: FakeAnthropic) -> AsyncIterator[Engine]:
    eng = Engine(home, api_url="")
    await eng.open()
    yield eng
    await eng.close()


async def make_agent(
    engine: Engine,
    name: str = "a1",
    model: str = "claude-sonnet-5-5",
    prompt: str = "You are terse.",
    cwd: Path | None = None,
    **config: Any,
) -> Agent:
    return await engine.create_agent(
        AgentSpec(
            name=name,
            runtime="api",
            model=model,
            prompt=prompt,
            cwd=str(cwd) if cwd else None,
            config={**FAST, **config},
        )
    )


async def run(
    engine: Engine,
    name: str,
    prompt: str,
    schema: dict[str, Any] | None = None,
    timeout: float = 4.0,
) -> Run:
    request = RunRequest(prompt=prompt, schema=schema) if schema else RunRequest(prompt=prompt)
    queued = await engine.send(name, request)
    return await engine.wait_run(queued.id, timeout)


def texts(message: dict[str, Any]) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") if b["type"] == "text" else json.dumps(b) for b in content)


# -- the loop -------------------------------------------------------------------------


async def test_conversation_with_bash_continues_after_restart(
    home: FleetPaths, fake: FakeAnthropic, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    fake.push(
        Reply.tool("bash", {"command": "echo hello > note.txt; cat note.txt"}, text="Writing."),
        Reply.text("Done: the note says hello."),
    )
    engine = Engine(home)
    await engine.open()
    try:
        await make_agent(engine, "keeper", cwd=work)
        first = await run(engine, "keeper", "write a note")
        assert first.status == "completed", first.error
        assert first.text == "Done: the note says hello."
        assert (work / "note.txt").read_text() == "hello\n"
        request = fake.requests[1]
        assert request["stream"] is True
        assert request["model"] == "claude-sonnet-5-5"
        assert request["system"] == "You are terse."
        assert [t["name"] for t in request["tools"]] == ["bash"]
        result = request["messages"][2]["content"][0]
        assert result["type"] == "tool_result" and "hello" in result["content"]
        assert "exit status 0" in result["content"]
        logs = "\n".join(await engine.logs("keeper"))
        assert "$ echo hello > note.txt; cat note.txt" in logs
        assert "Done: the note says hello." in logs
    finally:
        await engine.close()

    fake.push(Reply.text("You asked me to write a note."))
    engine = Engine(home)
    await engine.open()
    try:
        second = await run(engine, "keeper", "what did I ask before?")
        assert second.status == "completed", second.error
    finally:
        await engine.close()
    history = fake.requests[-1]["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant", "user"]
    assert texts(history[0]) == "write a note"
    assert "note.txt" in texts(history[1])
    assert texts(history[3]) == "Done: the note says hello."
    assert texts(history[4]) == "what did I ask before?"


async def test_schema_output_valid(engine: Engine, fake: FakeAnthropic) -> None:
    schema = {
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "files": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["count", "files"],
    }
    fake.push(Reply.tool("report", {"count": 2, "files": ["a.py", "b.py"]}))
    await make_agent(engine)
    done = await run(engine, "a1", "count files", schema=schema)
    assert done.status == "completed", done.error
    assert done.data == {"count": 2, "files": ["a.py", "b.py"]}
    tools = {t["name"]: t for t in fake.requests[0]["tools"]}
    assert tools["report"]["input_schema"]["required"] == ["count", "files"]
    result = await engine.get_result(done.result_id)
    assert result["count"] == 2


async def test_schema_output_invalid_then_fixed(engine: Engine, fake: FakeAnthropic) -> None:
    schema = {
        "type": "object",
        "properties": {"count": {"type": "integer"}, "level": {"enum": ["low", "high"]}},
        "required": ["count", "level"],
    }
    fake.push(
        Reply.tool("report", {"count": "two", "level": "mid"}),
        Reply.tool("report", {"count": 2, "level": "low"}),
    )
    await make_agent(engine)
    done = await run(engine, "a1", "assess", schema=schema)
    assert done.status == "completed", done.error
    assert done.data == {"count": 2, "level": "low"}
    rejected = fake.requests[1]["messages"][-1]["content"][0]
    assert rejected["is_error"] is True
    assert "$.count: expected integer" in rejected["content"]
    assert "$.level" in rejected["content"]


async def test_schema_report_forced_when_model_ends_without_it(
    engine: Engine, fake: FakeAnthropic
) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    fake.push(Reply.text("All fine."), Reply.tool("report", {"ok": True}))
    await make_agent(engine, model="claude-opus-5")
    done = await run(engine, "a1", "check", schema=schema)
    assert done.status == "completed", done.error
    assert done.data == {"ok": True}
    assert "tool_choice" not in fake.requests[0]
    assert fake.requests[1]["tool_choice"] == {"type": "tool", "name": "report"}


async def test_schema_report_forced_on_final_turn(engine: Engine, fake: FakeAnthropic) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    fake.push(Reply.tool("bash", {"command": "true"}), Reply.tool("report", {"ok": False}))
    await make_agent(engine, model="claude-haiku-4-5", max_turns=2)
    done = await run(engine, "a1", "check", schema=schema)
    assert done.status == "completed", done.error
    assert "tool_choice" not in fake.requests[0]
    assert fake.requests[1]["tool_choice"] == {"type": "tool", "name": "report"}


async def test_report_asked_in_words_where_forcing_is_refused(
    engine: Engine, fake: FakeAnthropic
) -> None:
    """Opus 5.5, Fable 5.1 and Sonnet 5.5 answer a forced tool_choice with a 400."""
    fake.reject_forcing = {"claude-sonnet-5-5", "claude-opus-4-8"}
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    fake.push(Reply.text("All fine."), Reply.tool("report", {"ok": True}))
    await make_agent(engine, "known", model="claude-sonnet-5-5", max_turns=3)
    done = await run(engine, "known", "check", schema=schema)
    assert done.status == "completed", done.error
    assert all("tool_choice" not in r for r in fake.requests)
    assert "Call the report tool now" in texts(fake.requests[1]["messages"][-1])

    # a model not known to refuse: the 400 is seen once, the request is resent unforced,
    # and later runs on that model ask in words from the start
    fake.requests.clear()
    fake.push(
        Reply.text("fine"),
        Reply.tool("report", {"ok": True}),
        Reply.text("fine"),
        Reply.tool("report", {"ok": False}),
    )
    await make_agent(engine, "learner", model="claude-opus-4-8")
    first = await run(engine, "learner", "check", schema=schema)
    assert first.status == "completed", first.error
    assert [("tool_choice" in r) for r in fake.requests] == [False, True, False]
    second = await run(engine, "learner", "again", schema=schema)
    assert second.status == "completed" and second.data == {"ok": False}
    assert all("tool_choice" not in r for r in fake.requests[3:])


async def test_last_turn_asks_for_report_in_words_where_forcing_is_refused(
    engine: Engine, fake: FakeAnthropic
) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    fake.push(Reply.tool("bash", {"command": "true"}), Reply.tool("report", {"ok": True}))
    await make_agent(engine, model="claude-opus-5-5", max_turns=2)
    done = await run(engine, "a1", "check", schema=schema)
    assert done.status == "completed", done.error
    last = fake.requests[1]["messages"][-1]["content"]
    assert [b["type"] for b in last] == ["tool_result", "text"]
    assert "last turn" in last[1]["text"] and "tool_choice" not in fake.requests[1]


async def test_context_full_drops_the_oldest_turns(engine: Engine, fake: FakeAnthropic) -> None:
    await make_agent(engine)
    for index in range(3):
        fake.push(Reply.text(f"answer {index}"))
        assert (await run(engine, "a1", f"question {index}")).status == "completed"
    too_long = Fault.http(400, "invalid_request_error")
    too_long.message = "prompt is too long: 1000123 tokens > 1000000 maximum"
    fake.push(too_long, Reply.text("fits again"))
    done = await run(engine, "a1", "question 3")
    assert done.status == "completed" and done.text == "fits again"
    assert len(fake.requests[-2]["messages"]) == 7
    resent = fake.requests[-1]["messages"]
    assert [texts(m) for m in resent] == ["question 2", "answer 2", "question 3"]
    assert "context full" in "\n".join(await engine.logs("a1"))


async def test_max_tokens_is_truncation(engine: Engine, fake: FakeAnthropic) -> None:
    fake.push(Reply.text("a very long answer that", stop_reason="max_tokens"))
    await make_agent(engine)
    done = await run(engine, "a1", "write a novel")
    assert done.status == "failed"
    assert done.stop_reason == "max_tokens"
    assert done.error == "truncated: hit max_tokens"


async def test_pause_turn_is_continued(engine: Engine, fake: FakeAnthropic) -> None:
    fake.push(Reply.text("Thinking so far.", stop_reason="pause_turn"), Reply.text("Finished."))
    await make_agent(engine)
    done = await run(engine, "a1", "long job")
    assert done.status == "completed" and done.text == "Finished."
    assert len(fake.requests) == 2
    assert texts(fake.requests[1]["messages"][-1]) == "Thinking so far."


async def test_turn_limit(engine: Engine, fake: FakeAnthropic) -> None:
    fake.push(Reply.tool("bash", {"command": "true"}), Reply.tool("bash", {"command": "true"}))
    await make_agent(engine, max_turns=2)
    done = await run(engine, "a1", "loop forever")
    assert done.status == "failed" and done.stop_reason == "max_turns"
    assert "turn limit" in done.error


async def test_effort_passed_only_when_set(engine: Engine, fake: FakeAnthropic) -> None:
    await make_agent(engine, "plain")
    await make_agent(engine, "eager", effort="high", max_tokens=1234)
    assert (await run(engine, "plain", "hi")).status == "completed"
    assert (await run(engine, "eager", "hi")).status == "completed"
    assert "output_config" not in fake.requests[0]
    assert fake.requests[1]["output_config"] == {"effort": "high"}
    assert fake.requests[1]["max_tokens"] == 1234


async def test_thinking_passthrough_and_bad_config(engine: Engine, fake: FakeAnthropic) -> None:
    thinking = {"type": "adaptive", "display": "summarized"}
    await make_agent(engine, "thinker", thinking=thinking)
    await make_agent(engine, "broken", max_turns="many")
    assert (await run(engine, "thinker", "hi")).status == "completed"
    assert fake.requests[0]["thinking"] == thinking
    bad = await run(engine, "broken", "hi")
    assert bad.status == "failed" and bad.error == "api config max_turns='many': expected int"
    assert len(fake.requests) == 1


async def test_bash_timeout_and_output_cap(engine: Engine, fake: FakeAnthropic) -> None:
    fake.push(
        Reply.tool("bash", {"command": "head -c 100000 /dev/zero | tr '\\0' x"}),
        Reply.tool("bash", {"command": "sleep 30"}),
        Reply.text("ok"),
    )
    await make_agent(engine, bash_timeout=0.3, bash_output_cap=1000)
    started = time.monotonic()
    done = await run(engine, "a1", "go")
    assert done.status == "completed", done.error
    assert time.monotonic() - started < 3
    capped = fake.requests[1]["messages"][-1]["content"][0]["content"]
    assert capped.split("\n")[0] == "x" * 1000 and "[output truncated]" in capped
    timed_out = fake.requests[2]["messages"][-1]["content"][0]
    assert "timed out" in timed_out["content"] and timed_out["is_error"] is True


# -- usage, cost, context ---------------------------------------------------------------


def _price_rows() -> dict[str, dict[str, float]]:
    data = json.loads(resources.files("fleetview.data").joinpath("prices.json").read_text())
    return data["models"]


async def test_cost_arithmetic_for_every_model(engine: Engine, fake: FakeAnthropic) -> None:
    tokens = {
        "input_tokens": 123_457,
        "output_tokens": 65_432,
        "cache_5m": 7_777,
        "cache_1h": 3_333,
        "cache_read": 99_999,
    }
    fake.default = lambda body: Reply.text("priced", usage=usage(**tokens))
    rows = _price_rows()
    assert len(rows) >= 10
    for index, model in enumerate(rows):
        await make_agent(engine, f"m{index}", model=model)
    runs = await asyncio.gather(*(run(engine, f"m{i}", "hi") for i in range(len(rows))))
    for index, (model, price) in enumerate(rows.items()):
        done = runs[index]
        assert done.status == "completed", (model, done.error)
        prompt = sum(tokens[k] for k in ("input_tokens", "cache_5m", "cache_1h", "cache_read"))
        if "long_prompt" in price and prompt > price["long_prompt"]["threshold_tokens"]:
            price = price["long_prompt"]  # this request is billed at the long tier
        expected = (
            tokens["input_tokens"] * price["input"]
            + tokens["output_tokens"] * price["output"]
            + tokens["cache_5m"] * price["cache_write_5m"]
            + tokens["cache_1h"] * price["cache_write_1h"]
            + tokens["cache_read"] * price["cache_read"]
        ) / 1_000_000
        assert done.cost_usd == pytest.approx(expected, abs=1e-9), model
        agent = engine.get_agent(f"m{index}")
        assert agent.cost_usd == pytest.approx(expected, abs=1e-9), model
        assert done.usage.cache_write_5m_tokens == 7_777
        assert done.usage.cache_write_1h_tokens == 3_333
        assert done.usage.cache_read_tokens == 99_999


async def test_usage_sums_over_turns_and_absent_cache_is_zero(
    engine: Engine, fake: FakeAnthropic
) -> None:
    fake.push(
        Reply.tool("bash", {"command": "true"}, usage=usage(100, 10)),
        Reply.text("ok", usage=usage(200, 20, cache_read=50)),
    )
    await make_agent(engine, model="claude-opus-5-5")
    done = await run(engine, "a1", "go")
    assert done.usage.input_tokens == 300 and done.usage.output_tokens == 30
    assert done.usage.cache_read_tokens == 50 and done.usage.cache_write_5m_tokens == 0
    assert done.cost_usd == pytest.approx((300 * 4 + 30 * 20 + 50 * 0.2) / 1e6, abs=1e-12)


async def test_context_meter_is_last_request(engine: Engine, fake: FakeAnthropic) -> None:
    fake.push(
        Reply.tool(
            "bash",
            {"command": "true"},
            usage=usage(1000, 10, cache_5m=200, cache_1h=100, cache_read=5000),
        ),
        Reply.text("ok", usage=usage(40, 5, cache_read=6300)),
    )
    await make_agent(engine, model="claude-sonnet-4-5")
    await run(engine, "a1", "go")
    agent = engine.get_agent("a1")
    assert agent.context_tokens == 6340
    assert agent.context_window == 200_000
    fake.push(Reply.text("ok", usage=usage(1000, 10, cache_5m=200, cache_1h=100, cache_read=5000)))
    await run(engine, "a1", "again")
    assert engine.get_agent("a1").context_tokens == 6300


# -- faults -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.rate_limited("0"),
        Fault.overloaded(),
        Fault.server_error(),
        Fault.cut(),
        Fault("sse_error", error_type="overloaded_error"),
    ],
    ids=["429", "529", "500", "cut", "sse-overloaded"],
)
async def test_transient_faults_are_retried(
    engine: Engine, fake: FakeAnthropic, fault: Fault
) -> None:
    fake.push(fault, fault, Reply.text("recovered"))
    await make_agent(engine)
    done = await run(engine, "a1", "hi")
    assert done.status == "completed", done.error
    assert done.text == "recovered"
    assert len(fake.requests) == 3
    assert engine.get_agent("a1").status == "idle"


async def test_retry_after_is_honoured_and_agent_stays_working(
    engine: Engine, fake: FakeAnthropic
) -> None:
    fake.push(Fault.rate_limited("1"), Reply.text("after the wait"))
    await make_agent(engine)
    started = time.monotonic()
    queued = await engine.send("a1", RunRequest(prompt="hi"))
    seen: list[tuple[str, str]] = []
    while not engine.get_run(queued.id).done and time.monotonic() - started < 4:
        agent = engine.get_agent("a1")
        seen.append((agent.status, agent.detail))
        await asyncio.sleep(0.05)
    done = await engine.wait_run(queued.id, 1)
    assert done.status == "completed", done.error
    assert time.monotonic() - started >= 0.95
    assert ("working", "rate limited, retry in 1s") in seen
    assert all(status != "waiting" for status, _ in seen)


async def test_retries_give_up(engine: Engine, fake: FakeAnthropic) -> None:
    fake.push(*[Fault.server_error()] * 3)
    await make_agent(engine, max_retries=2)
    done = await run(engine, "a1", "hi")
    assert done.status == "failed" and "gave up after 2 retries" in done.error


async def test_unauthorized_makes_agent_error(engine: Engine, fake: FakeAnthropic) -> None:
    fake.push(Fault.unauthorized())
    await make_agent(engine)
    done = await run(engine, "a1", "hi")
    assert done.status == "failed"
    assert "401" in done.error and "\n" not in done.error
    agent = engine.get_agent("a1")
    assert agent.status == "error" and "401" in agent.detail
    assert len(fake.requests) == 1


async def test_malformed_response_fails_run_not_engine(engine: Engine, fake: FakeAnthropic) -> None:
    fake.push(Fault.malformed(), Reply.text("fine again"))
    await make_agent(engine)
    done = await run(engine, "a1", "hi")
    assert done.status == "failed" and done.error.startswith("malformed response")
    again = await run(engine, "a1", "hi again")
    assert again.status == "completed" and again.text == "fine again"


async def test_missing_key(
    home: FleetPaths, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    monkeypatch.setenv("HOME", str(home.home))  # no SDK profile from the real home
    engine = Engine(home)
    await engine.open()
    try:
        await make_agent(engine)
        done = await run(engine, "a1", "hi")
        assert done.status == "failed" and done.error == "ANTHROPIC_API_KEY is not set"
        assert engine.get_agent("a1").status == "error"
        assert fake.requests == []
    finally:
        await engine.close()


async def test_one_failing_agent_does_not_affect_another(
    engine: Engine, fake: FakeAnthropic
) -> None:
    def by_agent(body: dict[str, Any]) -> Reply | Fault:
        if body.get("system") == "bad":
            return Fault.unauthorized()
        return Reply.text("good", delay=0.05)

    fake.default = by_agent  # type: ignore[assignment]
    await make_agent(engine, "bad", prompt="bad")
    await make_agent(engine, "good", prompt="good")
    bad, good = await asyncio.gather(run(engine, "bad", "x"), run(engine, "good", "x"))
    assert bad.status == "failed" and good.status == "completed"
    assert engine.get_agent("good").status == "idle"


# -- cancellation -------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["stop", "delete"])
async def test_cancel_during_stream_within_a_second(
    engine: Engine, fake: FakeAnthropic, how: str
) -> None:
    fake.push(Reply.text("never finished", hang_after_start=30))
    await make_agent(engine)
    queued = await engine.send("a1", RunRequest(prompt="hang"))
    deadline = time.monotonic() + 3
    while not fake.requests and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    started = time.monotonic()
    if how == "stop":
        await engine.stop_agent("a1")
    else:
        await engine.delete_agent("a1")
    done = await engine.wait_run(queued.id, 1)
    assert time.monotonic() - started < 1.0
    assert done.status == "cancelled"


async def test_cancel_during_bash_kills_the_command(
    engine: Engine, fake: FakeAnthropic, tmp_path: Path
) -> None:
    marker = tmp_path / "late"
    fake.push(Reply.tool("bash", {"command": f"sleep 1; touch {marker}"}))
    await make_agent(engine)
    queued = await engine.send("a1", RunRequest(prompt="sleep"))
    deadline = time.monotonic() + 3
    while "bash" not in engine.get_agent("a1").detail and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await engine.stop_agent("a1")
    done = await engine.wait_run(queued.id, 1)
    assert time.monotonic() - started < 1.0 and done.status == "cancelled"
    await asyncio.sleep(1.2)
    assert not marker.exists()


# -- secrets --------------------------------------------------------------------------------


async def test_key_is_never_stored_or_logged(
    home: FleetPaths, fake: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    leaky = Fault.http(400, "invalid_request_error")
    leaky.message = f"bad request with key {TEST_KEY}"
    fake.push(
        Reply.tool("bash", {"command": "echo key=$ANTHROPIC_API_KEY; env | grep -c ANTHROPIC_API"}),
        Reply.text(f"I will not say {TEST_KEY}"),
        leaky,
        Fault.unauthorized(),
    )
    engine = Engine(home)
    await engine.open()
    try:
        await make_agent(engine)
        first = await run(engine, "a1", "leak it")
        assert first.status == "completed" and TEST_KEY not in first.text
        second = await run(engine, "a1", "again")
        assert second.status == "failed" and TEST_KEY not in (second.error or "")
        assert "[redacted]" in (second.error or "")
        third = await run(engine, "a1", "once more")
        assert third.status == "failed"
        tool_text = fake.requests[1]["messages"][-1]["content"][0]["content"]
        assert "key=\n" in tool_text
    finally:
        await engine.close()
    sent = fake.headers[0]
    assert TEST_KEY in (sent.get("x-api-key", "") + sent.get("authorization", ""))
    for path in home.home.rglob("*"):
        if path.is_file():
            assert TEST_KEY.encode() not in path.read_bytes(), path
    assert TEST_KEY not in caplog.text


# -- the simulated model on the same loop (issue item 6) --------------------------------------


async def test_simulated_messages_drive_the_real_loop(engine: Engine, fake: FakeAnthropic) -> None:
    from fleetview.runtimes.api import ApiRuntime
    from fleetview.runtimes.api_sim import SimulatedMessages

    simulated = SimulatedMessages(seed=7, chunk_delay=0, tool_rate=1.0)
    engine._runtimes["sim"] = ApiRuntime(messages_client=simulated)  # the sim seat, for this test
    await engine.create_agent(AgentSpec(name="demo", runtime="sim", prompt="demo agent"))
    first = await run(engine, "demo", "look around")
    assert first.status == "completed", first.error
    assert first.text.startswith("[simulated]")
    logs = "\n".join(await engine.logs("demo"))
    assert "$ " in logs and "[exit status 0]" in logs
    schema = {
        "type": "object",
        "properties": {
            "files": {"type": "integer", "minimum": 1},
            "verdict": {"enum": ["ok", "bad"]},
        },
        "required": ["files", "verdict"],
    }
    second = await run(engine, "demo", "report", schema=schema)
    assert second.status == "completed", second.error
    assert second.data["verdict"] in ("ok", "bad") and second.data["files"] >= 1
    agent = engine.get_agent("demo")
    assert agent.usage.input_tokens > 0 and agent.usage.cache_read_tokens > 0
    assert agent.context_tokens > 0
    assert fake.requests == []


def test_api_runtime_with_simulated_model_never_imports_anthropic(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = f"""
import asyncio, sys
from pathlib import Path
from fleetview.models import Agent, Run
from fleetview.runtimes.base import RunInput
from fleetview.runtimes.api import ApiRuntime
from fleetview.runtimes.api_sim import SimulatedMessages

class Handle:
    agent = Agent(id="x1", name="x", runtime="sim", cwd={str(tmp_path)!r})
    home = Path({str(tmp_path)!r}); api_url = ""; _state = {{}}
    def output(self, text, stream="text"): pass
    def set_status(self, status, source="event", detail=None): pass
    def set_detail(self, detail): pass
    def add_usage(self, usage, model=None): pass
    def set_context(self, tokens, window=None): pass
    def state(self): return dict(self._state)
    async def save_state(self, state): self._state = dict(state)

runtime = ApiRuntime(messages_client=SimulatedMessages(chunk_delay=0, tool_rate=1.0))
run = Run(id=1, agent_id="x1", agent_name="x", prompt="hi")
outcome = asyncio.run(runtime.execute(Handle(), RunInput(run=run)))
assert outcome.status == "completed", outcome
assert "anthropic" not in sys.modules
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_daemon_end_to_end_keeps_the_key_out_of_every_file(
    fake: FakeAnthropic, fleet_cli: Any
) -> None:
    """Through the `fleetview` CLI and daemon: the run works, the key reaches no file."""
    import os

    env = {k: os.environ[k] for k in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}
    fake.push(
        Reply.tool("bash", {"command": "echo key=$ANTHROPIC_API_KEY"}),
        Reply.text(f"all done, not saying {TEST_KEY}"),
    )
    created = fleet_cli("agent", "create", "e2e", "--runtime", "api", env=env)
    assert created.returncode == 0, created.stderr
    sent = fleet_cli("agent", "send", "e2e", "say hi", "--wait", env=env)
    assert sent.returncode == 0, sent.stderr
    assert "all done, not saying [redacted]" in sent.stdout
    assert TEST_KEY in fake.headers[0].get("x-api-key", "") + fake.headers[0].get(
        "authorization", ""
    )
    files = [p for p in fleet_cli.home.rglob("*") if p.is_file()]  # db, -wal, log, context
    assert any(p.name == "daemon.log" for p in files)
    stored = b"".join(p.read_bytes() for p in files)
    assert b"echo key=$ANTHROPIC_API_KEY" in stored  # the run's output was persisted...
    assert TEST_KEY.encode() not in stored  # ...and the key nowhere
