"""The agent loop of the api runtime, over any Anthropic-shaped messages client.

`run_loop` drives one run: it appends the prompt to the agent's persisted
conversation, streams a response, reports text and tool calls as they come,
prices each response, runs tools, and repeats until the model ends its turn,
calls `report` with valid data, or a limit is hit. It takes a *messages
client* — anything with `stream(**params)` returning an async context
manager whose stream iterates Anthropic stream events and offers
`get_final_message()` — so the real `AsyncAnthropic().messages` and the
offline `SimulatedMessages` (api_sim.py) run the very same loop.

Faults are classified by shape, not by importing the SDK: a status error
(429, 5xx, 529/overloaded) is retried with exponential backoff honouring
`retry-after`; a cut connection retries the turn; 401/403 and other 4xx fail
the run with one line; a malformed response fails it with the raw reason.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fleetview.models import Usage
from fleetview.runtimes.api_schema import report_input_schema, validate
from fleetview.runtimes.api_tools import BASH_TOOL, REPORT_TOOL_NAME, report_tool, run_bash
from fleetview.runtimes.base import AgentHandle, RunInput, RunOutcome

log = logging.getLogger("fleetview.runtimes.api")

TOOL_OUTPUT_ECHO = 2000
"""How much of a tool's result is echoed to the agent's output log."""


@dataclass
class LoopSettings:
    """An api agent's knobs, read from its config (all optional)."""

    max_turns: int = 20
    max_tokens: int = 8192
    effort: str | None = None
    bash: bool = True
    bash_timeout: float = 120.0
    bash_output_cap: int = 30_000
    max_retries: int = 8
    retry_base_delay: float = 1.0
    retry_max_delay: float = 60.0
    report_reminders: int = 2
    thinking: dict[str, Any] | None = None
    """Passed through as `thinking`, e.g. {"type": "adaptive", "display": "summarized"}."""

    @classmethod
    def from_config(cls, config: dict[str, Any], tools: list[str]) -> LoopSettings:
        """Settings from an agent's config; ValueError names a bad value."""
        settings = cls()
        for name in cls.__dataclass_fields__:
            value = config.get(name)
            if value is None:
                continue
            if name == "effort":
                settings.effort = str(value)
            elif name == "thinking":
                if not isinstance(value, dict):
                    raise ValueError(f"api config thinking={value!r}: expected an object")
                settings.thinking = value
            else:
                kind = type(getattr(settings, name))
                try:
                    setattr(settings, name, kind(value))
                except (TypeError, ValueError):
                    raise ValueError(
                        f"api config {name}={value!r}: expected {kind.__name__}"
                    ) from None
        if tools and "bash" not in {str(tool).lower() for tool in tools}:  # Claude Code says "Bash"
            settings.bash = False
        return settings


REPORT_NOW = "Call the report tool now with the result, matching its schema."
LAST_TURN = "This is your last turn: call the report tool now with the result."


class ForcingRejected(Exception):
    """The model refused a forced tool_choice (400): ask in words instead."""


class ContextFull(Exception):
    """The conversation no longer fits the model's window (a 400): trim and resend."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RunFailed(Exception):
    """Ends a run as `failed` with a one-line reason."""

    def __init__(self, reason: str, stop_reason: str | None = None, auth: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.stop_reason = stop_reason
        self.auth = auth


@dataclass
class LoopContext:
    """What the loop needs besides the handle: where and how to act.

    `secrets` (the API key) are replaced by `[redacted]` in everything the
    loop reports or persists: output, errors, and the saved conversation.
    """

    model: str
    cwd: Path
    env: dict[str, str]
    window: int | None
    secrets: tuple[str, ...] = ()
    can_force_tool: bool = True
    """False for models that answer a forced `tool_choice` with a 400 (Opus 5.5,
    Fable 5.1, Sonnet 5.5): the report is then asked for in words instead."""
    on_forcing_rejected: Callable[[], None] | None = None

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def scrub_value(self, value: Any) -> Any:
        """`value` (JSON-like) with every string scrubbed."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub_value(v) for k, v in value.items()}
        return value


REDACTED = "[redacted]"


class StreamScrubber:
    """Scrubs secrets from streamed text even when one is split across chunks.

    It holds back the longest tail that could be the start of a secret until
    the next chunk (or `flush`) shows whether it is one.
    """

    def __init__(self, ctx: LoopContext) -> None:
        self.ctx = ctx
        self.pending = ""

    def feed(self, text: str) -> str:
        if not self.ctx.secrets:
            return text
        buffer = self.ctx.scrub(self.pending + text)
        hold = 0
        for secret in self.ctx.secrets:
            for size in range(min(len(secret) - 1, len(buffer)), hold, -1):
                if buffer.endswith(secret[:size]):
                    hold = size
                    break
        self.pending = buffer[len(buffer) - hold :] if hold else ""
        return buffer[: len(buffer) - hold]

    def flush(self) -> str:
        rest, self.pending = self.pending, ""
        return self.ctx.scrub(rest)


async def run_loop(
    messages_client: Any,
    handle: AgentHandle,
    job: RunInput,
    settings: LoopSettings,
    ctx: LoopContext,
) -> RunOutcome:
    """Carry out one run on the agent's conversation; never raises but CancelledError."""
    state = dict(handle.state())
    conversation: list[dict[str, Any]] = list(state.get("messages", []))
    _append_user(conversation, [{"type": "text", "text": job.full_prompt}])
    schema = job.run.output_schema
    report_schema = report_input_schema(schema) if schema else None
    tools: list[dict[str, Any]] = [BASH_TOOL] if settings.bash else []
    if report_schema is not None:
        tools.append(report_tool(report_schema))

    async def commit() -> None:
        state["messages"] = conversation
        await handle.save_state(state)

    last_text = ""
    reminders = 0
    force_report = False
    try:
        for turn in range(settings.max_turns):
            final_step = turn == settings.max_turns - 1
            params: dict[str, Any] = {
                "model": ctx.model,
                "max_tokens": settings.max_tokens,
                "messages": conversation,
            }
            if handle.agent.prompt:
                params["system"] = handle.agent.prompt
            if tools:
                params["tools"] = tools
            wants_report = report_schema is not None and (force_report or final_step)
            if wants_report and ctx.can_force_tool:
                params["tool_choice"] = {"type": "tool", "name": REPORT_TOOL_NAME}
            elif wants_report and final_step and not force_report:
                _append_user(conversation, [{"type": "text", "text": LAST_TURN}])
            if settings.effort:
                params["output_config"] = {"effort": settings.effort}
            if settings.thinking:
                params["thinking"] = settings.thinking
            message = None
            for _attempt in range(4):
                try:
                    message = await _request(messages_client, handle, params, settings, ctx)
                    break
                except ForcingRejected:
                    ctx.can_force_tool = False
                    if ctx.on_forcing_rejected is not None:
                        ctx.on_forcing_rejected()
                    del params["tool_choice"]
                    if final_step and not force_report:
                        _append_user(conversation, [{"type": "text", "text": LAST_TURN}])
                except ContextFull as full:
                    dropped = _drop_oldest_half(conversation)
                    if not dropped:
                        raise RunFailed(full.reason, stop_reason="error") from None
                    note = f"context full: dropped the {dropped} oldest messages"
                    handle.set_detail(note)
                    handle.output(f"[{note}]\n", "status")
            if message is None:
                raise RunFailed("the request could not be made to fit", stop_reason="error")
            _record_usage(handle, message, ctx)
            content = ctx.scrub_value(_content_params(message))
            text = "".join(b["text"] for b in content if b["type"] == "text")
            if text.strip():
                last_text = text
            stop = message.stop_reason

            if stop == "max_tokens":
                kept = [b for b in content if b["type"] == "text"]
                if kept:
                    conversation.append({"role": "assistant", "content": kept})
                await commit()
                raise RunFailed("truncated: hit max_tokens", stop_reason="max_tokens")
            if content:
                conversation.append({"role": "assistant", "content": content})
            if stop == "pause_turn":
                await commit()
                continue
            tool_uses = [b for b in content if b["type"] == "tool_use"]
            if tool_uses:
                results, data = await _run_tools(handle, tool_uses, report_schema, settings, ctx)
                _append_user(conversation, results)
                await commit()
                if data is not None:
                    return RunOutcome(
                        status="completed",
                        text=ctx.scrub(last_text or json.dumps(data)),
                        data=data,
                        stop_reason=stop,
                    )
                force_report = False
                continue
            if stop == "refusal":
                await commit()
                raise RunFailed("the model refused the request", stop_reason=stop)
            if report_schema is not None:
                if reminders >= settings.report_reminders:
                    await commit()
                    raise RunFailed(
                        "the model ended without calling the report tool", stop_reason=stop
                    )
                reminders += 1
                force_report = True
                _append_user(conversation, [{"type": "text", "text": REPORT_NOW}])
                await commit()
                continue
            await commit()
            return RunOutcome(status="completed", text=ctx.scrub(last_text), stop_reason=stop)
        await commit()
        raise RunFailed(f"turn limit reached ({settings.max_turns} turns)", stop_reason="max_turns")
    except RunFailed as failure:
        reason = ctx.scrub(failure.reason)
        if failure.auth:
            handle.set_status("error", "event", reason)
        handle.output(f"[failed: {reason}]\n", "status")
        return RunOutcome(
            status="failed",
            text=ctx.scrub(last_text),
            error=reason,
            stop_reason=failure.stop_reason,
        )


async def _request(
    client: Any,
    handle: AgentHandle,
    params: dict[str, Any],
    settings: LoopSettings,
    ctx: LoopContext,
) -> Any:
    """One response, streamed; retried on transient faults; RunFailed otherwise."""
    attempt = 0
    while True:
        try:
            return await _stream_once(client, handle, params, ctx)
        except asyncio.CancelledError:
            raise
        except RunFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - classified below; unknown ones fail the run
            kind, reason, retry_after = classify(exc)
            reason = ctx.scrub(reason)
            if kind == "auth":
                raise RunFailed(reason, stop_reason="error", auth=True) from None
            if kind == "fatal" and "tool_choice" in params and _is_bad_request(exc):
                raise ForcingRejected(reason) from None
            if kind == "fatal" and _is_bad_request(exc) and "too long" in reason.lower():
                raise ContextFull(reason) from None
            if kind == "fatal":
                log.warning("api run failed: %s", reason)
                raise RunFailed(reason, stop_reason="error") from None
            attempt += 1
            if attempt > settings.max_retries:
                raise RunFailed(
                    f"gave up after {settings.max_retries} retries: {reason}", stop_reason="error"
                ) from None
            delay = (
                retry_after
                if retry_after is not None
                else min(
                    settings.retry_max_delay,
                    settings.retry_base_delay * 2 ** (attempt - 1) * (1 + random.random() / 4),
                )
            )
            label = {
                "rate": "rate limited",
                "overloaded": "overloaded",
                "server": "server error",
                "cut": "connection lost",
            }[kind]
            note = f"{label}, retry in {max(1, math.ceil(delay))}s"
            handle.set_detail(note)
            handle.output(f"[{note}: {reason}]\n", "status")
            await asyncio.sleep(delay)


async def _stream_once(
    client: Any, handle: AgentHandle, params: dict[str, Any], ctx: LoopContext
) -> Any:
    """Stream one response to the end, echoing text and tool calls as they arrive."""
    scrubber = StreamScrubber(ctx)
    async with client.stream(**params) as stream:
        saw_stop = False
        async for event in stream:
            kind = getattr(event, "type", None)
            if kind == "text":
                handle.output(scrubber.feed(event.text), "text")
            elif kind == "content_block_start" and event.content_block.type == "tool_use":
                handle.set_detail(f"calling {event.content_block.name}")
            elif kind == "content_block_stop":
                handle.output(scrubber.flush(), "text")
            elif kind == "message_stop":
                saw_stop = True
        handle.output(scrubber.flush(), "text")
        if not saw_stop:
            raise StreamCut("the response stream ended before message_stop")
        return await stream.get_final_message()


class StreamCut(Exception):
    """The stream ended early: the turn is retried."""


def classify(exc: BaseException) -> tuple[str, str, float | None]:
    """(kind, one-line reason, retry-after seconds) for an exception of a request.

    kind: `auth`, `rate`, `overloaded`, `server`, `cut` (the last four retried)
    or `fatal`.
    """
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    if isinstance(status, int):
        error_type = getattr(exc, "type", None) or ""
        api_message = getattr(exc, "api_message", None) or ""
        reason = f"HTTP {status}"
        if error_type or api_message:
            reason += f" {error_type}: {api_message}".rstrip(": ")
        reason = _one_line(reason)
        retry_after = _retry_after(exc)
        if status in (401, 403) or error_type in ("authentication_error", "permission_error"):
            return "auth", reason, None
        if status == 429 or error_type == "rate_limit_error":
            return "rate", reason, retry_after
        if status == 529 or error_type == "overloaded_error":
            return "overloaded", reason, retry_after
        if status >= 500 or error_type == "api_error":
            return "server", reason, retry_after
        if status == 200:  # an `error` event inside a stream without a known type
            return "server", reason, retry_after
        return "fatal", reason, None
    if isinstance(exc, StreamCut):
        return "cut", str(exc), None
    if (
        name in ("APIConnectionError", "APITimeoutError")
        or module.startswith(("httpx", "httpcore", "h11", "anyio"))
        or isinstance(exc, (ConnectionError, TimeoutError, OSError))
    ):
        return "cut", _one_line(f"{name}: {exc}" if str(exc) else name), None
    if isinstance(exc, json.JSONDecodeError):
        return "fatal", _one_line(f"malformed response: {exc} in {exc.doc[:120]!r}"), None
    if isinstance(exc, (ValueError, KeyError, TypeError, AttributeError, IndexError)):
        return "fatal", _one_line(f"malformed response: {name}: {exc}"), None
    return "fatal", _one_line(f"{name}: {exc}"), None


def _is_bad_request(exc: BaseException) -> bool:
    return getattr(exc, "status_code", None) == 400 and (
        getattr(exc, "type", None) in (None, "invalid_request_error")
    )


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if 0 <= seconds <= 3600:
            return seconds
    return None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _record_usage(handle: AgentHandle, message: Any, ctx: LoopContext) -> None:
    usage = response_usage(message.usage)
    handle.add_usage(usage, ctx.model)
    handle.set_context(usage.prompt_tokens, ctx.window)


def response_usage(raw: Any) -> Usage:
    """A response's usage split the way it is priced (absent cache fields count 0)."""
    creation = getattr(raw, "cache_creation", None)
    write_5m = (getattr(creation, "ephemeral_5m_input_tokens", None) or 0) if creation else 0
    write_1h = (getattr(creation, "ephemeral_1h_input_tokens", None) or 0) if creation else 0
    total_writes = getattr(raw, "cache_creation_input_tokens", None) or 0
    if total_writes > write_5m + write_1h:
        write_5m += total_writes - write_5m - write_1h
    return Usage(
        input_tokens=raw.input_tokens or 0,
        output_tokens=raw.output_tokens or 0,
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        cache_read_tokens=getattr(raw, "cache_read_input_tokens", None) or 0,
    )


def _content_params(message: Any) -> list[dict[str, Any]]:
    """The response's content as request params, to send back as history."""
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        kind = block.type
        if kind == "text":
            blocks.append({"type": "text", "text": block.text})
        elif kind == "tool_use":
            blocks.append(
                {
                    "type": "tool_use",
                    "id": block.id,
                    "name": block.name,
                    "input": block.input if isinstance(block.input, dict) else {},
                }
            )
        elif kind == "thinking":
            blocks.append(
                {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
            )
        elif kind == "redacted_thinking":
            blocks.append({"type": "redacted_thinking", "data": block.data})
        else:
            blocks.append(block.model_dump(mode="json", exclude_none=True))
    return blocks


def _drop_oldest_half(conversation: list[dict[str, Any]]) -> int:
    """Drop about the older half, starting again at a plain user turn; how many went."""
    for index in range(max(1, len(conversation) // 2), len(conversation)):
        message = conversation[index]
        content = message["content"]
        plain = isinstance(content, str) or all(b.get("type") == "text" for b in content)
        if message["role"] == "user" and plain:
            del conversation[:index]
            return index
    return 0


def _append_user(conversation: list[dict[str, Any]], blocks: list[dict[str, Any]]) -> None:
    """Add a user turn, merging with a trailing user turn (after a cancel or a failure)."""
    if conversation and conversation[-1]["role"] == "user":
        last = conversation[-1]
        content = last["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        last["content"] = [*content, *blocks]
    else:
        conversation.append({"role": "user", "content": list(blocks)})


async def _run_tools(
    handle: AgentHandle,
    tool_uses: list[dict[str, Any]],
    report_schema: dict[str, Any] | None,
    settings: LoopSettings,
    ctx: LoopContext,
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Tool results for each call, and the report's data if a valid report came."""
    results: list[dict[str, Any]] = []
    data: dict[str, Any] | None = None
    for call in tool_uses:
        name, args = call["name"], call["input"]
        if name == "bash" and settings.bash:
            command = args.get("command") if isinstance(args, dict) else None
            if not isinstance(command, str) or not command.strip():
                results.append(_result(call, "bash needs a non-empty 'command' string", True))
                continue
            handle.output(f"$ {ctx.scrub(command)}\n", "tool")
            handle.set_detail(f"bash: {_one_line(ctx.scrub(command), 80)}")
            outcome = await run_bash(
                command, ctx.cwd, ctx.env, settings.bash_timeout, settings.bash_output_cap
            )
            text = ctx.scrub(outcome.as_tool_text())
            echo = text if len(text) <= TOOL_OUTPUT_ECHO else text[:TOOL_OUTPUT_ECHO] + "…\n"
            handle.output(echo if echo.endswith("\n") else echo + "\n", "tool")
            results.append(_result(call, text, outcome.timed_out))
        elif name == REPORT_TOOL_NAME and report_schema is not None:
            handle.output(f"report {ctx.scrub(json.dumps(args))[:TOOL_OUTPUT_ECHO]}\n", "tool")
            errors = validate(args, report_schema)
            if errors:
                handle.set_detail("report rejected: " + _one_line(errors[0], 80))
                results.append(
                    _result(
                        call,
                        "The report does not match the schema:\n"
                        + "\n".join(errors)
                        + "\nFix these and call report again.",
                        True,
                    )
                )
            else:
                data = dict(args)
                results.append(_result(call, "Report recorded.", False))
        else:
            results.append(_result(call, f"unknown tool {name!r}", True))
    return results, data


def _result(call: dict[str, Any], text: str, is_error: bool) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call["id"], "content": text}
    if is_error:
        block["is_error"] = True
    return block
