"""The api runtime's own event-stream reader (api_stream.py) against the SDK's.

Both read the same bytes from tests/fake_anthropic.py through the real
`AsyncAnthropic` client; what the agent loop takes from a response (the text
as it streams, tool calls, the content sent back as history, usage, the stop
reason, and how a fault is classified) must be the same.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import pytest
from fake_anthropic import FakeAnthropic, Fault, Reply, _message, _sse, _sse_events, usage

from fleetview.runtimes.api_loop import _content_params, classify, response_usage
from fleetview.runtimes.api_stream import LeanMessages, LeanStream

PARAMS = {
    "model": "claude-sonnet-5-5",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "hi"}],
}

THINKING = {
    "type": "thinking",
    "thinking": "Let me weigh both options carefully.",
    "signature": "sig-Abc123==",
}
REDACTED = {"type": "redacted_thinking", "data": "EncryptedOpaqueBlob=="}
REPLIES = {
    "text": Reply.text("Hello — a reply longer than one delta, with ünïcode ✓."),
    "tool": Reply.tool("bash", {"command": "ls -la", "timeout": 5}, text="Looking first."),
    "thinking+tool+cache": Reply(
        [
            THINKING,
            {"type": "text", "text": "Done thinking."},
            *Reply.tool("report", {"ok": True}).content,
        ],
        stop_reason="tool_use",
        usage=usage(input_tokens=12, output_tokens=40, cache_5m=300, cache_1h=50, cache_read=900),
    ),
    "redacted": Reply([REDACTED, {"type": "text", "text": "Short."}], stop_reason="max_tokens"),
}


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(fake: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    sdk = anthropic.AsyncAnthropic(base_url=fake.url, api_key="sk-ant-test", max_retries=0)
    yield sdk
    await sdk.close()


async def read(messages: Any) -> tuple[list[tuple[Any, ...]], Any]:
    """What the loop sees of one response: its events and its final message."""
    seen: list[tuple[Any, ...]] = []
    async with messages.stream(**PARAMS) as stream:
        async for event in stream:
            if event.type == "text":
                seen.append(("text", event.text))
            elif event.type == "content_block_start":
                seen.append(
                    ("start", event.content_block.type, getattr(event.content_block, "name", None))
                )
            elif event.type in ("content_block_stop", "message_stop"):
                seen.append((event.type,))
        final = await stream.get_final_message()
    return seen, final


@pytest.mark.parametrize("name", list(REPLIES))
async def test_lean_reader_reads_what_the_sdk_reads(
    name: str, fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.push(REPLIES[name], REPLIES[name])
    sdk_events, sdk_final = await read(client.messages)
    lean_events, lean_final = await read(LeanMessages(client))
    assert lean_events == sdk_events
    assert "".join(e[1] for e in lean_events if e[0] == "text") == "".join(
        b["text"] for b in REPLIES[name].content if b["type"] == "text"
    )
    assert _content_params(lean_final) == _content_params(sdk_final) == REPLIES[name].content
    assert response_usage(lean_final.usage) == response_usage(sdk_final.usage)
    assert lean_final.stop_reason == sdk_final.stop_reason == REPLIES[name].stop_reason


@pytest.mark.parametrize(
    "fault",
    [Fault("sse_error", error_type="overloaded_error"), Fault.malformed(), Fault.overloaded()],
)
async def test_faults_are_classified_as_the_sdks_are(
    fault: Fault, fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    fake.push(fault, fault)
    raised = []
    for messages in (client.messages, LeanMessages(client)):
        with pytest.raises(Exception) as info:
            await read(messages)
        raised.append(classify(info.value))
    assert raised[0] == raised[1]
    assert raised[0][0] in ("overloaded", "fatal")


class Body:
    """An HTTP body that arrives in the chunks given (as a network splits it)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.status_code = 200

    async def aiter_bytes(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def split(data: bytes, sizes: Iterator[int]) -> list[bytes]:
    chunks, at = [], 0
    while at < len(data):
        size = next(sizes)
        chunks.append(data[at : at + size])
        at += size
    return chunks


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("chunking", ["whole", "bytes", "random"])
async def test_any_chunking_and_line_end_reads_the_same(line_end: bytes, chunking: str) -> None:
    base = REPLIES["thinking+tool+cache"]
    text = {"type": "text", "text": "Naïve — ✓ multi-byte text split anywhere."}
    reply = Reply([*base.content[:2], text, *base.content[2:]], base.stop_reason, base.usage)
    message = _message("claude-sonnet-5-5", reply)
    data = b"".join(_sse(event, body) for event, body in _sse_events(message))
    data = b": a comment line\n\n" + data
    data = data.replace(b"\n", line_end)
    rng = random.Random(7)
    sizes: Iterator[int] = {
        "whole": iter([len(data)]),
        "bytes": iter(lambda: 1, 0),
        "random": iter(lambda: rng.randint(1, 40), 0),
    }[chunking]
    stream = LeanStream(Body(split(data, sizes)))
    texts = [event.text async for event in stream if event.type == "text"]
    final = await stream.get_final_message()
    assert _content_params(final) == reply.content
    assert "".join(texts) == "Done thinking.Naïve — ✓ multi-byte text split anywhere."
    assert response_usage(final.usage).cache_write_1h_tokens == 50
    assert final.usage.cache_read_input_tokens == 900 and final.stop_reason == "tool_use"


async def test_a_tool_input_that_is_not_json_is_a_malformed_response() -> None:
    events = [
        ("message_start", {"type": "message_start", "message": _message("m", Reply([]))}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "t", "name": "bash", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"command": '},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ]
    stream = LeanStream(Body([b"".join(_sse(e, d) for e, d in events)]))
    with pytest.raises(json.JSONDecodeError) as info:
        async for _ in stream:
            pass
    assert classify(info.value)[0] == "fatal"
    assert classify(info.value)[1].startswith("malformed response")
