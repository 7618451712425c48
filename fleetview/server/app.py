"""The engine's HTTP API: JSON under /v1 on loopback, every request with the token.

The server is a thin translation layer: each route calls one engine method with
a model from fleetview.models and returns a model; a FleetError becomes its
status code and ``{"error": message}``; a bad request body becomes a 422 whose
one-line message names the field. Live updates are served by /v1/events as
NDJSON, one Event per line, resumable from a sequence number.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from fleetview.errors import FleetError
from fleetview.models import (
    Agent,
    AgentSpec,
    ContextResult,
    EngineStatus,
    Gate,
    Message,
    MessageSpec,
    Run,
    RunRequest,
    Snapshot,
    Task,
    TaskSpec,
)
from fleetview.models.domain import Column

if TYPE_CHECKING:
    from fleetview.engine import Engine

log = logging.getLogger("fleetview.server")

_END = object()
"""Put in a stream's queue to end it."""
STREAM_BUFFER = 2000
"""Events held per stream before the reader's slowness holds the subscription back."""
HEARTBEAT_SECONDS = 10.0
"""A blank line this often keeps idle streams (and dead-peer detection) alive."""
MAX_WAIT_SECONDS = 300.0
"""The longest a `GET /v1/runs/{id}?wait=` long-poll is held open."""


# ---- request bodies that are not domain models -----------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeysBody(_Body):
    """Raw keys for a tmux agent (`agent keys NAME KEY...`)."""

    keys: list[str] = Field(min_length=1)


class MoveBody(_Body):
    """The column a task card moves to."""

    column: Column


class AssignBody(_Body):
    """The agent a task goes to; null unassigns."""

    agent: str | None = None


class DepBody(_Body):
    """A task the task depends on."""

    dep: int


class ReplyBody(_Body):
    """A reply in a message's thread."""

    body: str = Field(min_length=1)
    sender: str = "human"


class ResolveBody(_Body):
    """The human's choice for a gate."""

    resolution: str = Field(min_length=1)


class Deleted(BaseModel):
    """How many things a delete removed."""

    deleted: int


class Lines(BaseModel):
    """An agent's recent output lines (raw: clients sanitise before display)."""

    lines: list[str]


class Ok(BaseModel):
    """An acknowledgement for actions without a result."""

    ok: bool = True


# ---- errors and auth ---------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def describe_validation_error(exc: RequestValidationError) -> str:
    """One line naming the first bad field, e.g. `invalid body: field 'name': ...`."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ())]
    where = loc[0] if loc else "request"
    field = ".".join(loc[1:])
    kind = first.get("type", "")
    message = str(first.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind == "json_invalid":
        return f"invalid {where}: not valid JSON ({first.get('ctx', {}).get('error', message)})"
    if kind == "missing" and not field:
        return f"invalid {where}: a JSON {where} is required"
    if kind == "extra_forbidden":
        message = "unknown field"
    if field:
        return f"invalid {where}: field {field!r}: {message}"
    return f"invalid {where}: {message}"


class TokenAuth:
    """Pure ASGI middleware: every HTTP request needs `Authorization: Bearer <token>`.

    Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass straight through.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = b""
            for name, value in scope.get("headers", ()):
                if name == b"authorization":
                    given = value
                    break
            if not secrets.compare_digest(given, self.expected):
                reason = "missing token" if not given else "wrong token"
                response = _error(
                    401,
                    f"unauthorized: {reason} "
                    "(send Authorization: Bearer <the token in FLEETVIEW_HOME/token>)",
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


# ---- the app -----------------------------------------------------------------------


def create_app(engine: Engine, token: str, shutdown: Callable[[], None] | None = None) -> FastAPI:
    """The API over `engine`; `shutdown` is called (soon after replying) by POST /v1/shutdown."""
    app = FastAPI(
        title="fleetview engine",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(TokenAuth, token=token)
    streams: set[asyncio.Queue[Any]] = set()

    def end_streams() -> None:
        """End every open event stream (the engine is shutting down; clients reconnect)."""
        for queue in streams:
            while queue.full():  # dropped events are re-sent: the client resumes from its seq
                queue.get_nowait()
            queue.put_nowait(_END)

    app.state.end_streams = end_streams

    @app.exception_handler(FleetError)
    async def _fleet_error(request: Request, exc: FleetError) -> JSONResponse:
        return _error(exc.status_code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, describe_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"no such route: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"method not allowed: {request.method} {request.url.path}"
        else:
            message = str(exc.detail)
        return _error(exc.status_code, message)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    # -- engine ------------------------------------------------------------------

    @app.get("/v1/status")
    async def status() -> EngineStatus:
        return await _v(engine.status())

    @app.get("/v1/snapshot")
    async def snapshot(messages_limit: int | None = Query(None, ge=0)) -> Snapshot:
        return await _v(engine.snapshot(messages_limit=messages_limit))

    @app.post("/v1/shutdown")
    async def shutdown_engine() -> Ok:
        if shutdown is not None:
            asyncio.get_running_loop().call_later(0.05, shutdown)
        return Ok()

    # -- agents ------------------------------------------------------------------

    @app.get("/v1/agents")
    async def list_agents() -> list[Agent]:
        return await _v(engine.list_agents())

    @app.post("/v1/agents", status_code=201)
    async def create_agent(spec: AgentSpec) -> Agent:
        return await _v(engine.create_agent(spec))

    @app.delete("/v1/agents")
    async def delete_all_agents() -> Deleted:
        return Deleted(deleted=await _v(engine.delete_all_agents()))

    @app.get("/v1/agents/{ref}")
    async def get_agent(ref: str) -> Agent:
        return await _v(engine.get_agent(ref))

    @app.delete("/v1/agents/{ref}")
    async def delete_agent(ref: str) -> Deleted:
        await engine.delete_agent(ref)
        return Deleted(deleted=1)

    @app.post("/v1/agents/{ref}/spawn", status_code=201)
    async def spawn_agent(ref: str, spec: AgentSpec) -> Agent:
        return await _v(engine.spawn_agent(ref, spec))

    @app.post("/v1/agents/{ref}/restart")
    async def restart_agent(ref: str) -> Agent:
        return await _v(engine.restart_agent(ref))

    @app.post("/v1/agents/{ref}/stop")
    async def stop_agent(ref: str) -> Agent:
        return await _v(engine.stop_agent(ref))

    @app.post("/v1/agents/{ref}/runs", status_code=201)
    async def send(ref: str, req: RunRequest) -> Run:
        return await _v(engine.send(ref, req))

    @app.get("/v1/agents/{ref}/runs")
    async def agent_runs(ref: str, limit: int = Query(50, ge=1, le=1000)) -> list[Run]:
        return await _v(engine.list_runs(agent_ref=ref, limit=limit))

    @app.post("/v1/agents/{ref}/keys")
    async def send_keys(ref: str, body: KeysBody) -> Ok:
        await engine.send_keys(ref, body.keys)
        return Ok()

    @app.get("/v1/agents/{ref}/logs")
    async def logs(ref: str, lines: int = Query(200, ge=1, le=100_000)) -> Lines:
        return Lines(lines=await _v(engine.logs(ref, lines=lines)))

    @app.post("/v1/agents/{ref}/hook")
    async def hook(ref: str, payload: Annotated[dict[str, Any], Body()]) -> Ok:
        await engine.hook(ref, payload)
        return Ok()

    # -- runs and results ----------------------------------------------------------

    @app.get("/v1/runs")
    async def list_runs(
        agent: str | None = None, limit: int = Query(50, ge=1, le=1000)
    ) -> list[Run]:
        return await _v(engine.list_runs(agent_ref=agent, limit=limit))

    @app.get("/v1/runs/{run_id}")
    async def get_run(run_id: int, wait: float = Query(0, ge=0)) -> Run:
        if wait > 0:
            return await _v(engine.wait_run(run_id, timeout=min(wait, MAX_WAIT_SECONDS)))
        return await _v(engine.get_run(run_id))

    @app.post("/v1/runs/{run_id}/cancel")
    async def cancel_run(run_id: int) -> Run:
        return await engine.cancel_run(run_id)

    @app.get("/v1/results")
    async def recall(
        agent: str | None = None,
        limit: int = Query(20, ge=1, le=1000),
        query: str | None = None,
    ) -> list[ContextResult]:
        return await _v(engine.recall(agent=agent, limit=limit, query=query))

    @app.get("/v1/results/{result_id}")
    async def get_result(result_id: int) -> ContextResult:
        return await _v(engine.get_result(result_id))

    # -- tasks ---------------------------------------------------------------------

    @app.get("/v1/tasks")
    async def list_tasks() -> list[Task]:
        return await _v(engine.list_tasks())

    @app.post("/v1/tasks", status_code=201)
    async def add_task(spec: TaskSpec) -> Task:
        return await _v(engine.add_task(spec))

    @app.get("/v1/tasks/{task_id}")
    async def get_task(task_id: int) -> Task:
        return await _v(engine.get_task(task_id))

    @app.delete("/v1/tasks/{task_id}")
    async def remove_task(task_id: int) -> Deleted:
        await engine.remove_task(task_id)
        return Deleted(deleted=1)

    @app.post("/v1/tasks/{task_id}/move")
    async def move_task(task_id: int, body: MoveBody) -> Task:
        return await _v(engine.move_task(task_id, body.column))

    @app.post("/v1/tasks/{task_id}/assign")
    async def assign_task(task_id: int, body: AssignBody) -> Task:
        return await _v(engine.assign_task(task_id, body.agent))

    @app.post("/v1/tasks/{task_id}/deps")
    async def add_dep(task_id: int, body: DepBody) -> Task:
        return await _v(engine.add_dep(task_id, body.dep))

    @app.delete("/v1/tasks/{task_id}/deps/{dep_id}")
    async def remove_dep(task_id: int, dep_id: int) -> Task:
        return await _v(engine.remove_dep(task_id, dep_id))

    # -- messages ------------------------------------------------------------------

    @app.get("/v1/messages")
    async def list_messages(
        recipient: str | None = None,
        unread: bool = False,
        limit: int | None = Query(None, ge=1),
    ) -> list[Message]:
        return await _v(engine.list_messages(recipient=recipient, unread_only=unread, limit=limit))

    @app.post("/v1/messages", status_code=201)
    async def send_message(spec: MessageSpec) -> Message:
        return await _v(engine.send_message(spec))

    @app.get("/v1/messages/{message_id}")
    async def get_message(message_id: int) -> Message:
        return await _v(engine.get_message(message_id))

    @app.delete("/v1/messages/{message_id}")
    async def delete_message(message_id: int) -> Deleted:
        await engine.delete_message(message_id)
        return Deleted(deleted=1)

    @app.get("/v1/messages/{message_id}/thread")
    async def thread(message_id: int) -> list[Message]:
        return await _v(engine.thread(message_id))

    @app.post("/v1/messages/{message_id}/reply", status_code=201)
    async def reply(message_id: int, body: ReplyBody) -> Message:
        return await _v(engine.reply(message_id, body.body, sender=body.sender))

    @app.post("/v1/messages/{message_id}/read")
    async def mark_read(message_id: int) -> Message:
        return await _v(engine.mark_read(message_id))

    # -- gates ---------------------------------------------------------------------

    @app.get("/v1/gates")
    async def list_gates(status: str | None = None) -> list[Gate]:
        return await _v(engine.list_gates(status=status))

    @app.get("/v1/gates/{gate_id}")
    async def get_gate(gate_id: int) -> Gate:
        return await _v(engine.get_gate(gate_id))

    @app.post("/v1/gates/{gate_id}/resolve")
    async def resolve_gate(gate_id: int, body: ResolveBody) -> Gate:
        return await _v(engine.resolve_gate(gate_id, body.resolution))

    # -- events --------------------------------------------------------------------

    @app.get("/v1/events")
    async def events(since: int = Query(0, ge=0)) -> StreamingResponse:
        return StreamingResponse(
            _event_lines(engine, since, streams),
            media_type="application/x-ndjson",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return app


async def _v(value: Any) -> Any:
    """The value, awaited if the engine method was a coroutine (sync and async both fine)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def _event_lines(
    engine: Engine, since: int, streams: set[asyncio.Queue[Any]]
) -> AsyncIterator[bytes]:
    """NDJSON chunks: every queued event in one write, a blank line when idle.

    A pump task reads the engine's subscription into a queue, so waiting for the
    next event can time out (heartbeat) without cancelling the subscription.
    """
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=STREAM_BUFFER)
    done = _END
    streams.add(queue)

    async def pump() -> None:
        try:
            async with contextlib.aclosing(engine.subscribe(since)) as stream:
                async for event in stream:
                    await queue.put(event)  # backpressure: a slow reader slows its replay
        except asyncio.CancelledError:
            raise
        except Exception:  # the stream ends; the client reconnects from its last seq
            log.exception("event subscription failed")
        await queue.put(done)

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for wraps the get in a task
                # of its own, one more turn of a busy loop before each batch goes out
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    item = await queue.get()
            except TimeoutError:
                yield b"\n"
                continue
            batch: list[bytes] = []
            while True:
                if item is done:
                    if batch:
                        yield b"".join(batch)
                    return
                batch.append(item.ndjson())
                if queue.empty() or len(batch) >= 500:
                    break
                item = queue.get_nowait()
            yield b"".join(batch)
    finally:
        streams.discard(queue)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
