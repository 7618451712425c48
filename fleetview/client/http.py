"""FleetClient: one method per API route, returning fleetview.models.

Error responses become the engine's own FleetError class again
(`error_for_status`), and a refused connection becomes EngineUnavailable, so
callers handle one family of errors whatever the transport did.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from fleetview.errors import EngineUnavailable, FleetError, error_for_status
from fleetview.models import (
    HUMAN,
    Agent,
    AgentSpec,
    ContextResult,
    EngineStatus,
    Event,
    Gate,
    Message,
    MessageSpec,
    Run,
    RunRequest,
    Snapshot,
    Task,
    TaskSpec,
)
from fleetview.paths import FleetPaths

M = TypeVar("M", bound=BaseModel)

_AGENTS = TypeAdapter(list[Agent])
_RUNS = TypeAdapter(list[Run])
_RESULTS = TypeAdapter(list[ContextResult])
_TASKS = TypeAdapter(list[Task])
_MESSAGES = TypeAdapter(list[Message])
_GATES = TypeAdapter(list[Gate])


class FleetClient:
    """An engine at `url`, reached with `token`. Use `await FleetClient.connect()`."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=5.0),
            trust_env=False,
            verify=False,  # plain http on loopback: skip loading CA certificates (~50 ms)
        )

    @classmethod
    async def connect(cls, paths: FleetPaths | None = None, autostart: bool = True) -> FleetClient:
        """A client for this home's engine, starting the engine if none runs."""
        from fleetview.daemon import attach_url, ensure_daemon

        paths = paths or FleetPaths.from_env()
        quick = attach_url(paths)
        if quick is not None:  # a live record: check it answers on this client's connection
            client = cls(*quick)
            try:
                await client.status()
                return client
            except EngineUnavailable:
                await client.aclose()
            except BaseException:
                await client.aclose()
                raise
        url, token = await asyncio.to_thread(ensure_daemon, paths, autostart)
        return cls(url, token)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- transport ------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        kwargs: dict[str, Any] = {}
        if json is not None:
            kwargs["json"] = json
        if params:
            kwargs["params"] = {k: v for k, v in params.items() if v is not None}
        if timeout is not None:
            kwargs["timeout"] = httpx.Timeout(timeout, connect=5.0)
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise EngineUnavailable(
                f"the engine at {self.url} did not answer in time ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            raise EngineUnavailable(_unreachable(self.url, exc)) from None
        if response.status_code >= 400:
            raise _error_from(response)
        return response.json()

    # ---- engine -----------------------------------------------------------------------

    async def status(self) -> EngineStatus:
        return EngineStatus.model_validate(await self._call("GET", "/v1/status"))

    async def snapshot(self, messages_limit: int | None = None) -> Snapshot:
        data = await self._call("GET", "/v1/snapshot", params={"messages_limit": messages_limit})
        return Snapshot.model_validate(data)

    async def shutdown(self) -> None:
        await self._call("POST", "/v1/shutdown")

    # ---- agents -----------------------------------------------------------------------

    async def list_agents(self) -> list[Agent]:
        return _AGENTS.validate_python(await self._call("GET", "/v1/agents"))

    async def get_agent(self, ref: str) -> Agent:
        return Agent.model_validate(await self._call("GET", f"/v1/agents/{_seg(ref)}"))

    async def create_agent(self, spec: AgentSpec) -> Agent:
        return Agent.model_validate(await self._call("POST", "/v1/agents", json=_dump(spec)))

    async def spawn_agent(self, parent_ref: str, spec: AgentSpec) -> Agent:
        data = await self._call("POST", f"/v1/agents/{_seg(parent_ref)}/spawn", json=_dump(spec))
        return Agent.model_validate(data)

    async def delete_agent(self, ref: str) -> None:
        await self._call("DELETE", f"/v1/agents/{_seg(ref)}")

    async def delete_all_agents(self) -> int:
        return int((await self._call("DELETE", "/v1/agents"))["deleted"])

    async def restart_agent(self, ref: str) -> Agent:
        return Agent.model_validate(await self._call("POST", f"/v1/agents/{_seg(ref)}/restart"))

    async def stop_agent(self, ref: str) -> Agent:
        return Agent.model_validate(await self._call("POST", f"/v1/agents/{_seg(ref)}/stop"))

    async def send(self, ref: str, req: RunRequest) -> Run:
        data = await self._call("POST", f"/v1/agents/{_seg(ref)}/runs", json=_dump(req))
        return Run.model_validate(data)

    async def send_keys(self, ref: str, keys: list[str]) -> None:
        await self._call("POST", f"/v1/agents/{_seg(ref)}/keys", json={"keys": keys})

    async def logs(self, ref: str, lines: int = 200) -> list[str]:
        data = await self._call("GET", f"/v1/agents/{_seg(ref)}/logs", params={"lines": lines})
        return list(data["lines"])

    async def hook(self, ref: str, payload: dict[str, Any]) -> None:
        await self._call("POST", f"/v1/agents/{_seg(ref)}/hook", json=payload)

    # ---- runs and results -------------------------------------------------------------

    async def list_runs(self, agent_ref: str | None = None, limit: int = 50) -> list[Run]:
        data = await self._call("GET", "/v1/runs", params={"agent": agent_ref, "limit": limit})
        return _RUNS.validate_python(data)

    async def get_run(self, run_id: int) -> Run:
        return Run.model_validate(await self._call("GET", f"/v1/runs/{run_id}"))

    async def wait_run(self, run_id: int, timeout: float) -> Run:
        """The run once done, or as it stands after `timeout` seconds (long-polls)."""
        data = await self._call(
            "GET", f"/v1/runs/{run_id}", params={"wait": timeout}, timeout=timeout + 10.0
        )
        return Run.model_validate(data)

    async def cancel_run(self, run_id: int) -> Run:
        """Cancel a queued or running run."""
        return Run.model_validate(await self._call("POST", f"/v1/runs/{run_id}/cancel"))

    async def recall(
        self, agent: str | None = None, limit: int = 20, query: str | None = None
    ) -> list[ContextResult]:
        params = {"agent": agent, "limit": limit, "query": query}
        return _RESULTS.validate_python(await self._call("GET", "/v1/results", params=params))

    async def get_result(self, result_id: int) -> ContextResult:
        return ContextResult.model_validate(await self._call("GET", f"/v1/results/{result_id}"))

    # ---- tasks ------------------------------------------------------------------------

    async def list_tasks(self) -> list[Task]:
        return _TASKS.validate_python(await self._call("GET", "/v1/tasks"))

    async def get_task(self, task_id: int) -> Task:
        return Task.model_validate(await self._call("GET", f"/v1/tasks/{task_id}"))

    async def add_task(self, spec: TaskSpec) -> Task:
        return Task.model_validate(await self._call("POST", "/v1/tasks", json=_dump(spec)))

    async def move_task(self, task_id: int, column: str) -> Task:
        data = await self._call("POST", f"/v1/tasks/{task_id}/move", json={"column": column})
        return Task.model_validate(data)

    async def assign_task(self, task_id: int, agent_ref: str | None) -> Task:
        data = await self._call("POST", f"/v1/tasks/{task_id}/assign", json={"agent": agent_ref})
        return Task.model_validate(data)

    async def add_dep(self, task_id: int, dep_id: int) -> Task:
        data = await self._call("POST", f"/v1/tasks/{task_id}/deps", json={"dep": dep_id})
        return Task.model_validate(data)

    async def remove_dep(self, task_id: int, dep_id: int) -> Task:
        return Task.model_validate(await self._call("DELETE", f"/v1/tasks/{task_id}/deps/{dep_id}"))

    async def remove_task(self, task_id: int) -> None:
        await self._call("DELETE", f"/v1/tasks/{task_id}")

    # ---- messages ---------------------------------------------------------------------

    async def list_messages(
        self, recipient: str | None = None, unread_only: bool = False, limit: int | None = None
    ) -> list[Message]:
        params = {"recipient": recipient, "unread": unread_only or None, "limit": limit}
        return _MESSAGES.validate_python(await self._call("GET", "/v1/messages", params=params))

    async def get_message(self, message_id: int) -> Message:
        return Message.model_validate(await self._call("GET", f"/v1/messages/{message_id}"))

    async def thread(self, message_id: int) -> list[Message]:
        return _MESSAGES.validate_python(
            await self._call("GET", f"/v1/messages/{message_id}/thread")
        )

    async def delete_message(self, message_id: int) -> None:
        await self._call("DELETE", f"/v1/messages/{message_id}")

    async def send_message(self, spec: MessageSpec) -> Message:
        return Message.model_validate(await self._call("POST", "/v1/messages", json=_dump(spec)))

    async def reply(self, message_id: int, body: str, sender: str = HUMAN) -> Message:
        data = await self._call(
            "POST", f"/v1/messages/{message_id}/reply", json={"body": body, "sender": sender}
        )
        return Message.model_validate(data)

    async def mark_read(self, message_id: int) -> Message:
        return Message.model_validate(await self._call("POST", f"/v1/messages/{message_id}/read"))

    # ---- gates ------------------------------------------------------------------------

    async def list_gates(self, status: str | None = None) -> list[Gate]:
        data = await self._call("GET", "/v1/gates", params={"status": status})
        return _GATES.validate_python(data)

    async def get_gate(self, gate_id: int) -> Gate:
        return Gate.model_validate(await self._call("GET", f"/v1/gates/{gate_id}"))

    async def resolve_gate(self, gate_id: int, resolution: str) -> Gate:
        data = await self._call(
            "POST", f"/v1/gates/{gate_id}/resolve", json={"resolution": resolution}
        )
        return Gate.model_validate(data)

    # ---- events -----------------------------------------------------------------------

    async def events(self, since: int = 0) -> AsyncIterator[Event]:
        """Every event with seq > `since`, then live ones, in order, until the stream ends."""
        try:
            async with self._http.stream(
                "GET",
                "/v1/events",
                params={"since": since},
                timeout=httpx.Timeout(None, connect=5.0),
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _error_from(response)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield Event.model_validate_json(line)
        except httpx.HTTPError as exc:
            raise EngineUnavailable(_unreachable(self.url, exc)) from None


def _unreachable(url: str, exc: Exception) -> str:
    return f"no engine at {url}: {exc or type(exc).__name__}"


def _seg(ref: str) -> str:
    """A path segment: agent names are validated, but refs come from users."""
    from urllib.parse import quote

    return quote(str(ref), safe="")


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _error_from(response: httpx.Response) -> FleetError:
    try:
        message = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}: {response.text[:200].strip()}"
    return error_for_status(response.status_code, message)
