"""A fake Anthropic Messages API on 127.0.0.1, for the real SDK to talk to.

It is a small HTTP/1.1 server on raw asyncio streams, in a thread with its own
event loop, so tests (on pytest's loop) and the benchmark can both use it and
a fault can be exactly what the network would do: a connection closed in the
middle of a chunked SSE body, a body that is not JSON, a 429 with
`retry-after`. Each test scripts a queue of `Reply`/`Fault` items; when the
queue is empty `default` (a callable of the request body) answers. Every
request body and its headers are recorded for assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_ids = itertools.count(1)


def usage(
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_5m: int | None = None,
    cache_1h: int | None = None,
    cache_read: int | None = None,
) -> dict[str, Any]:
    """A usage object as the API sends it (cache fields None when absent)."""
    writes = None if cache_5m is None and cache_1h is None else (cache_5m or 0) + (cache_1h or 0)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": writes,
        "cache_read_input_tokens": cache_read,
        "cache_creation": None
        if writes is None
        else {
            "ephemeral_5m_input_tokens": cache_5m or 0,
            "ephemeral_1h_input_tokens": cache_1h or 0,
        },
    }


@dataclass
class Reply:
    """One successful response: content blocks, a stop reason, usage, a delay."""

    content: list[dict[str, Any]]
    stop_reason: str = "end_turn"
    usage: dict[str, Any] = field(default_factory=usage)
    delay: float = 0.0
    hang_after_start: float = 0.0
    """Seconds to stall after message_start (to test cancellation)."""

    @classmethod
    def text(cls, text: str, **kw: Any) -> Reply:
        return cls([{"type": "text", "text": text}], **kw)

    @classmethod
    def tool(cls, name: str, input: dict[str, Any], text: str | None = None, **kw: Any) -> Reply:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        blocks.append(
            {"type": "tool_use", "id": f"toolu_{next(_ids):06d}", "name": name, "input": input}
        )
        kw.setdefault("stop_reason", "tool_use")
        return cls(blocks, **kw)


@dataclass
class Fault:
    """One failed response: an HTTP error, a cut stream or a malformed body."""

    kind: str  # "status" | "cut" | "malformed" | "sse_error"
    status: int = 500
    error_type: str = "api_error"
    message: str = "fault"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def http(cls, status: int, error_type: str, retry_after: str | None = None) -> Fault:
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        return cls("status", status, error_type, f"{error_type} (fake)", headers)

    @classmethod
    def rate_limited(cls, retry_after: str = "0") -> Fault:
        return cls.http(429, "rate_limit_error", retry_after)

    @classmethod
    def overloaded(cls) -> Fault:
        return cls.http(529, "overloaded_error")

    @classmethod
    def server_error(cls) -> Fault:
        return cls.http(500, "api_error")

    @classmethod
    def unauthorized(cls) -> Fault:
        return cls.http(401, "authentication_error")

    @classmethod
    def cut(cls) -> Fault:
        """SSE starts (message_start, a text delta) and the connection is closed."""
        return cls("cut")

    @classmethod
    def malformed(cls) -> Fault:
        """A 200 SSE stream whose first event's data is not JSON."""
        return cls("malformed")


class FakeAnthropic:
    """The fake server; `start()` returns its base URL."""

    def __init__(
        self, default: Callable[[dict[str, Any]], Reply] | None = None, delay: float = 0.0
    ) -> None:
        self.default = default or (lambda body: Reply.text("ok"))
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.connections = 0
        self.reject_forcing: set[str] = set()
        """Models that answer a forced tool_choice with a 400, as Opus 5.5 does."""
        self._script: deque[Reply | Fault] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push(self, *items: Reply | Fault) -> None:
        with self._lock:
            self._script.extend(items)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def start(self) -> str:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)  # gather() below needs it when no task is open
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-anthropic", daemon=True)
        self._thread.start()
        ready.wait(5)
        return self.url

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    # -- HTTP ---------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                method, path, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                keep = await self._respond(method, path.split("?")[0], headers, body, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _respond(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        writer: asyncio.StreamWriter,
    ) -> bool:
        if method != "POST" or path != "/v1/messages":
            await _send_json(
                writer,
                404,
                {
                    "type": "error",
                    "error": {"type": "not_found_error", "message": f"{method} {path}"},
                },
            )
            return True
        body = json.loads(raw or b"{}")
        forced = (body.get("tool_choice") or {}).get("type") in ("tool", "any")
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if forced and body.get("model") in self.reject_forcing:
                item: Reply | Fault | None = Fault.http(400, "invalid_request_error")
                item.message = "tool_choice forcing tool use is not supported with this model"
            else:
                item = self._script.popleft() if self._script else None
        if item is None:
            item = self.default(body)
        if isinstance(item, Fault):
            return await self._fault(item, writer)
        delay = item.delay or self.delay
        if delay:
            await asyncio.sleep(delay)
        message = _message(body.get("model", "claude-test"), item)
        if not body.get("stream"):
            await _send_json(writer, 200, message)
            return True
        await _start_sse(writer)
        for index, (event, data) in enumerate(_sse_events(message)):
            await _send_chunk(writer, _sse(event, data))
            if index == 0 and item.hang_after_start:
                await asyncio.sleep(item.hang_after_start)
        await _send_chunk(writer, b"")
        return True

    async def _fault(self, fault: Fault, writer: asyncio.StreamWriter) -> bool:
        if fault.kind == "status":
            await _send_json(
                writer,
                fault.status,
                {"type": "error", "error": {"type": fault.error_type, "message": fault.message}},
                fault.headers,
            )
            return True
        await _start_sse(writer)
        if fault.kind == "malformed":
            await _send_chunk(writer, b"event: message_start\ndata: {not json at all\n\n")
            await _send_chunk(writer, b"")
            return True
        if fault.kind == "sse_error":
            await _send_chunk(
                writer,
                _sse(
                    "error",
                    {
                        "type": "error",
                        "error": {"type": fault.error_type, "message": fault.message},
                    },
                ),
            )
            await _send_chunk(writer, b"")
            return True
        message = _message("claude-test", Reply.text("this will be cut off"))
        for event, data in _sse_events(message)[:3]:
            await _send_chunk(writer, _sse(event, data))
        await writer.drain()
        writer.transport.abort()
        return False


def _message(model: str, reply: Reply) -> dict[str, Any]:
    return {
        "id": f"msg_{next(_ids):08d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": reply.usage,
    }


def _sse_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    usage_start = dict(message["usage"], output_tokens=1)
    start = dict(message, content=[], stop_reason=None, usage=usage_start)
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            text = block["text"]
            for piece in [text[i : i + 16] for i in range(0, len(text), 16)] or [""]:
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
                )
        elif block["type"] == "thinking":
            start_block = {"type": "thinking", "thinking": "", "signature": ""}
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": start_block},
                )
            )
            text = block["thinking"]
            for piece in [text[i : i + 16] for i in range(0, len(text), 16)]:
                delta = {"type": "thinking_delta", "thinking": piece}
                events.append(
                    (
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index, "delta": delta},
                    )
                )
            delta = {"type": "signature_delta", "signature": block["signature"]}
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        elif block["type"] != "tool_use":  # e.g. redacted_thinking: whole in its start
            events.append(
                (
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                )
            )
        else:
            events.append(
                (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": block["id"],
                            "name": block["name"],
                            "input": {},
                        },
                    },
                )
            )
            encoded = json.dumps(block["input"])
            for i in range(0, len(encoded), 12):
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": index,
                            "delta": {
                                "type": "input_json_delta",
                                "partial_json": encoded[i : i + 12],
                            },
                        },
                    )
                )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("ping", {"type": "ping"}))
    final = message["usage"]
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {
                    k: final[k]
                    for k in (
                        "input_tokens",
                        "output_tokens",
                        "cache_creation_input_tokens",
                        "cache_read_input_tokens",
                    )
                },
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _send_json(
    writer: asyncio.StreamWriter,
    status: int,
    payload: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> None:
    body = json.dumps(payload).encode()
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    writer.write(
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        f"request-id: req_fake\r\n{extra}\r\n".encode()
        + body
    )
    await writer.drain()


async def _start_sse(writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n"
        b"request-id: req_fake\r\n\r\n"
    )
    await writer.drain()


async def _send_chunk(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    await writer.drain()


_REASONS = {
    200: "OK",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    529: "Overloaded",
}


def main() -> None:
    """`python tests/fake_anthropic.py --delay 0.05`: serve until killed (for bench/)."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--text", default="ok, done.", help="the reply text")
    args = parser.parse_args()
    server = FakeAnthropic(default=lambda body: Reply.text(args.text), delay=args.delay)
    print(server.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
