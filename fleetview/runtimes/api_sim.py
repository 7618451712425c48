"""A simulated model behind the api runtime's own loop, offline and seeded.

`SimulatedMessages` has the shape the loop needs from `AsyncAnthropic().messages`
(`stream(**params)` → an async context manager whose stream yields
Anthropic-shaped events and offers `get_final_message()`), so
`ApiRuntime(messages_client=SimulatedMessages())` runs the real loop — tools,
report validation, usage, context meter, persistence — with no network and no
`import anthropic`. What it says is canned and labelled as simulated; its
bash calls are read-only (`ls`, `pwd`, `date`, `wc`) and really run.

Usage is estimated honestly from the request's size (about 4 characters a
token): the history before the newest turn is counted as cache reads, the
newest turn as a 5-minute cache write plus plain input.
"""

from __future__ import annotations

import asyncio
import json
import random
from types import SimpleNamespace
from typing import Any

SAFE_COMMANDS = ("ls", "pwd", "date", "ls -la | head -20", "wc -l * 2>/dev/null | tail -1")
PHRASES = (
    "Looking at the request.",
    "Checking the working directory first.",
    "That gives me enough to go on.",
    "Here is what I found.",
    "The change is small and contained.",
    "Nothing else needs to move.",
)


class SimulatedMessages:
    """A stand-in for `client.messages`: seeded, offline, Anthropic-shaped."""

    def __init__(self, seed: int = 0, chunk_delay: float = 0.02, tool_rate: float = 0.5) -> None:
        self.seed = seed
        self.chunk_delay = chunk_delay
        self.tool_rate = tool_rate
        self.requests = 0

    def stream(self, **params: Any) -> _SimStreamManager:
        self.requests += 1
        rng = random.Random(
            f"{self.seed}:{params.get('system', '')}:{len(params.get('messages', []))}"
        )
        return _SimStreamManager(_respond(params, rng, self.tool_rate), self.chunk_delay)


class _SimStreamManager:
    def __init__(self, message: SimpleNamespace, chunk_delay: float) -> None:
        self.stream = _SimStream(message, chunk_delay)

    async def __aenter__(self) -> _SimStream:
        return self.stream

    async def __aexit__(self, *exc: object) -> None:
        return None


class _SimStream:
    """Yields events as the SDK's MessageStream does (the subset the loop reads)."""

    def __init__(self, message: SimpleNamespace, chunk_delay: float) -> None:
        self.message = message
        self.chunk_delay = chunk_delay

    async def __aiter__(self):
        yield SimpleNamespace(type="message_start", message=self.message)
        for index, block in enumerate(self.message.content):
            yield SimpleNamespace(type="content_block_start", index=index, content_block=block)
            if block.type == "text":
                words = block.text.split(" ")
                for at in range(0, len(words), 4):
                    if self.chunk_delay:
                        await asyncio.sleep(self.chunk_delay)
                    piece = " ".join(words[at : at + 4]) + (" " if at + 4 < len(words) else "")
                    yield SimpleNamespace(type="text", text=piece, snapshot="")
            elif self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            yield SimpleNamespace(type="content_block_stop", index=index, content_block=block)
        yield SimpleNamespace(type="message_delta", usage=self.message.usage)
        yield SimpleNamespace(type="message_stop", message=self.message)

    async def get_final_message(self) -> SimpleNamespace:
        return self.message


def _respond(params: dict[str, Any], rng: random.Random, tool_rate: float) -> SimpleNamespace:
    messages = params.get("messages", [])
    tools = {t["name"]: t for t in params.get("tools", [])}
    last = messages[-1]["content"] if messages else []
    last_blocks = last if isinstance(last, list) else [{"type": "text", "text": last}]
    after_tool = any(b.get("type") == "tool_result" for b in last_blocks)
    errored = any(b.get("is_error") for b in last_blocks)
    forced = (params.get("tool_choice") or {}).get("name")
    content: list[SimpleNamespace] = []
    stop = "end_turn"
    if forced or ("report" in tools and (after_tool or errored)):
        schema = tools["report"]["input_schema"]
        content.append(_tool_use(rng, "report", _sample(schema, rng)))
        stop = "tool_use"
    elif "bash" in tools and not after_tool and rng.random() < tool_rate:
        content.append(_text(f"[simulated] {rng.choice(PHRASES)}"))
        content.append(_tool_use(rng, "bash", {"command": rng.choice(SAFE_COMMANDS)}))
        stop = "tool_use"
    else:
        sentences = " ".join(rng.choice(PHRASES) for _ in range(rng.randint(2, 5)))
        content.append(_text(f"[simulated] {sentences}"))
        if "report" in tools:
            content.append(_tool_use(rng, "report", _sample(tools["report"]["input_schema"], rng)))
            stop = "tool_use"
    return SimpleNamespace(
        id=f"msg_sim_{rng.randrange(16**8):08x}",
        type="message",
        role="assistant",
        model=params.get("model"),
        content=content,
        stop_reason=stop,
        stop_sequence=None,
        usage=_usage(params, content),
    )


def _text(text: str) -> SimpleNamespace:
    return SimpleNamespace(type="text", text=text)


def _tool_use(rng: random.Random, name: str, args: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(
        type="tool_use", id=f"toolu_sim_{rng.randrange(16**10):010x}", name=name, input=args
    )


def _sample(schema: dict[str, Any], rng: random.Random) -> Any:
    """A value that satisfies the schema subset api_schema.validate checks."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        return {k: _sample(v, rng) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        count = max(schema.get("minItems", 1), min(2, schema.get("maxItems", 2)))
        return [_sample(schema.get("items", {}), rng) for _ in range(count)]
    if kind in ("integer", "number"):
        low, high = schema.get("minimum", 0), schema.get("maximum", 10)
        return rng.randint(int(low), int(high)) if kind == "integer" else float(low + high) / 2
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    text = "simulated " + rng.choice(("result", "value", "answer"))
    return text[: schema.get("maxLength", len(text))].ljust(schema.get("minLength", 0), ".")


def _usage(params: dict[str, Any], content: list[SimpleNamespace]) -> SimpleNamespace:
    messages = params.get("messages", [])
    history = len(json.dumps(messages[:-1])) // 4 if len(messages) > 1 else 0
    newest = len(json.dumps(messages[-1:])) // 4
    fixed = (len(str(params.get("system", ""))) + len(json.dumps(params.get("tools", [])))) // 4
    output = (
        sum(len(getattr(b, "text", "") or json.dumps(getattr(b, "input", {}))) for b in content)
        // 4
        + 1
    )
    return SimpleNamespace(
        input_tokens=newest + 3,
        output_tokens=output,
        cache_creation_input_tokens=fixed if not history else 0,
        cache_read_input_tokens=history + (fixed if history else 0) or None,
        cache_creation=SimpleNamespace(
            ephemeral_5m_input_tokens=fixed if not history else 0, ephemeral_1h_input_tokens=0
        ),
    )
