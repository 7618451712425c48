"""A lean reader of the Messages API's event stream, on the official client.

`LeanMessages(client)` has the shape `run_loop` needs from `client.messages`
(`stream(**params)` → an async context manager whose stream yields events and
offers `get_final_message()`). The request is the SDK's own —
`client.messages.with_streaming_response.create(stream=True, ...)`: its
headers, auth, base URL, timeouts and status errors (`APIStatusError` with
`retry-after`) — but the server-sent events are read here, as plain JSON,
instead of through the SDK's `MessageStream`.

Why: at a few hundred agents the daemon is bound by CPU, and the SDK's stream
helper builds a typed model for every event and a new snapshot of the whole
message for every delta (measured: about a third of the CPU of a turn). This
reader keeps one dict per message and yields only what the loop reads: `text`
deltas, `content_block_start` (with the block's type and name),
`content_block_stop` and `message_stop`. An `error` event is raised as the
SDK raises it: an `APIStatusError` carrying the error's type and message.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

_TOOL_INPUT_BLOCKS = ("tool_use", "server_tool_use", "mcp_tool_use")
"""Blocks whose `input` arrives as `input_json_delta` pieces."""


class LeanMessages:
    """`client.messages` for the loop, reading the event stream itself."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def stream(self, **params: Any) -> _StreamManager:
        return _StreamManager(self.client, params)


class _StreamManager:
    def __init__(self, client: Any, params: dict[str, Any]) -> None:
        self.client = client
        self.params = params
        self._request: Any = None

    async def __aenter__(self) -> LeanStream:
        self._request = self.client.messages.with_streaming_response.create(
            **self.params, stream=True
        )
        response = await self._request.__aenter__()
        return LeanStream(response.http_response)

    async def __aexit__(self, *exc: object) -> None:
        if self._request is not None:
            await self._request.__aexit__(*exc)


class LeanStream:
    """Events of one response, accumulated into one message as they come."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.message: dict[str, Any] = {"content": [], "usage": {}, "stop_reason": None}
        self._inputs: dict[int, list[str]] = {}

    async def __aiter__(self):
        async for kind, data in _aread_events(self.response):
            event = self._apply(kind, data)
            if event is not None:
                yield event

    def _apply(self, kind: str | None, raw: str) -> SimpleNamespace | None:
        if kind is None or kind == "ping" or not raw:  # the SDK skips unnamed events too
            return None
        if kind == "error":
            raise _status_error(self.response, raw)
        data = json.loads(raw)
        kind = data.get("type", kind)
        if kind == "content_block_delta":
            delta = data["delta"]
            block = self.message["content"][data["index"]]
            dtype = delta["type"]
            if dtype == "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
                return SimpleNamespace(type="text", text=delta["text"])
            if dtype == "input_json_delta":
                self._inputs.setdefault(data["index"], []).append(delta["partial_json"])
            elif dtype == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
            elif dtype == "signature_delta":
                block["signature"] = delta["signature"]
            elif dtype == "citations_delta":
                block.setdefault("citations", []).append(delta["citation"])
            return None
        if kind == "content_block_start":
            block = dict(data["content_block"])
            content = self.message["content"]
            content.append(block)
            return SimpleNamespace(
                type=kind,
                index=data["index"],
                content_block=SimpleNamespace(type=block["type"], name=block.get("name")),
            )
        if kind == "content_block_stop":
            index = data["index"]
            block = self.message["content"][index]
            if block["type"] in _TOOL_INPUT_BLOCKS:
                pieces = self._inputs.pop(index, None)
                if pieces is not None:
                    text = "".join(pieces)
                    block["input"] = json.loads(text) if text else {}
            return SimpleNamespace(type=kind, index=index)
        if kind == "message_start":
            message = dict(data["message"])
            message["content"] = list(message.get("content") or [])
            message["usage"] = dict(message.get("usage") or {})
            self.message = message
            return None
        if kind == "message_delta":
            delta = data.get("delta") or {}
            self.message["stop_reason"] = delta.get("stop_reason")
            self.message["stop_sequence"] = delta.get("stop_sequence")
            usage = data.get("usage") or {}
            self.message["usage"].update((k, v) for k, v in usage.items() if v is not None)
            return None
        if kind == "message_stop":
            return SimpleNamespace(type=kind)
        return None  # event types this reader does not know are skipped, as the SDK does

    async def get_final_message(self) -> SimpleNamespace:
        message = self.message
        usage = dict(message["usage"])
        creation = usage.get("cache_creation")
        usage["cache_creation"] = SimpleNamespace(**creation) if creation else None
        return SimpleNamespace(
            id=message.get("id"),
            model=message.get("model"),
            content=[_block(b) for b in message["content"]],
            stop_reason=message.get("stop_reason"),
            stop_sequence=message.get("stop_sequence"),
            usage=SimpleNamespace(**usage),
        )


def _block(raw: dict[str, Any]) -> SimpleNamespace:
    """A content block with attribute access (and `model_dump`, as the SDK's have)."""
    kept = {k: v for k, v in raw.items() if v is not None}
    return SimpleNamespace(**raw, model_dump=lambda **_: dict(kept))


async def _aread_events(response: Any):
    """(event name, data) for each server-sent event of the response body."""
    pending = b""
    async for chunk in response.aiter_bytes():
        pending += chunk
        if b"\r" in pending:  # CRLF or CR line ends; a CR at the end may start a CRLF
            held = pending.endswith(b"\r")
            body = pending[:-1] if held else pending
            pending = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if held else b"")
        while True:
            end = pending.find(b"\n\n")
            if end < 0:
                break
            block, pending = pending[:end], pending[end + 2 :]
            event = _parse(block)
            if event is not None:
                yield event
    # an event cut off by the end of the body is dropped, as the SDK does


def _parse(block: bytes) -> tuple[str | None, str] | None:
    kind: str | None = None
    data: list[str] = []
    for line in block.decode().split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            kind = value
        elif field == "data":
            data.append(value)
    if kind is None and not data:
        return None
    return kind, "\n".join(data)


def _status_error(response: Any, raw: str) -> Exception:
    """An `error` event as the SDK raises it (its type and message kept)."""
    import anthropic

    try:
        body: Any = json.loads(raw)
        message = f"{body}"
    except ValueError:
        body, message = raw, raw or f"Error code: {response.status_code}"
    return anthropic.APIStatusError(message, response=response, body=body)
