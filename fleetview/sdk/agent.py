"""`Agent`: one fleet agent driven from a Python program.

An Agent object is lazy: it becomes a fleet agent on first use, under the
first free name (`research`, then `research-2`, ...), so each object is its
own agent and fan-out over one definition is real parallelism. Its `arun`
calls are one session on that agent; concurrent calls queue on it (an
asyncio.Lock keeps them in call order, and a schema retry directly follows
the answer it corrects). Everything goes through the engine daemon, so the
TUI shows these agents live.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from fleetview.client import FleetClient
from fleetview.errors import Conflict, EngineUnavailable, FleetError, NotFound
from fleetview.models import Agent as AgentRecord
from fleetview.models import AgentSpec, ContextResult, Run, RunRequest, check_name
from fleetview.sdk.connection import default_runtime, forget_client, get_client
from fleetview.sdk.definitions import AgentDefinition, find_definition, load_definition
from fleetview.sdk.errors import AgentError, SchemaError
from fleetview.sdk.schema import OutputSchema, normalize_schema, retry_prompt

POLL_SECONDS = 10.0
"""One long-poll for a run's end; a hung engine is noticed within this + the client's 10 s."""
CREATE_ATTEMPTS = 200
RESULT_RETRIES = 40

_claimed: set[tuple[str | None, str]] = set()
"""Fleet names this process is creating or holds, per engine URL (None: the default)."""


class Agent:
    """A fleet agent for a program: `await agent.arun(prompt, context=[...], schema=...)`.

    Configuration comes from `./.claude/agents/NAME.md`, else
    `~/.claude/agents/NAME.md` (keyword arguments override it); a name with
    no definition needs `prompt=`. `runtime` defaults to FLEETVIEW_RUNTIME,
    else `api` when ANTHROPIC_API_KEY is set; with neither, construction
    raises AgentError (pass `runtime="sim"` for an offline simulation).
    `config` holds runtime options (sim: speed, seed, fail_rate, ...); for sim
    agents FLEETVIEW_SIM_SPEED sets a default speed.
    """

    def __init__(
        self,
        name: str,
        prompt: str | None = None,
        model: str | None = None,
        runtime: str | None = None,
        tools: Sequence[str] | None = None,
        api_url: str | None = None,
        *,
        config: dict[str, Any] | None = None,
        cwd: str | Path | None = None,
        _parent: Agent | None = None,
    ) -> None:
        try:
            check_name(name)
        except ValueError as exc:
            raise AgentError(str(exc), agent=name) from None
        self.name = name
        self.api_url = api_url if api_url is not None else (_parent.api_url if _parent else None)
        self.parent = _parent
        self.children: list[Agent] = []
        definition: AgentDefinition | None
        if _parent is None and prompt is None:
            definition = load_definition(name)
        else:
            definition = find_definition(name)
        self.definition = definition
        self._given: dict[str, Any] = {}
        """Only what was said (argument or definition): a spawned child inherits the rest."""
        if _parent is None:
            self._given["runtime"] = default_runtime(runtime or (definition and definition.runtime))
        elif runtime is not None:
            self._given["runtime"] = default_runtime(runtime)
        chosen_prompt = (
            prompt if prompt is not None else (definition.prompt if definition else None)
        )
        if chosen_prompt is not None:
            self._given["prompt"] = chosen_prompt
        chosen_model = model or (definition.model if definition and _parent is None else None)
        if chosen_model:
            self._given["model"] = chosen_model
        if tools is not None:
            self._given["tools"] = list(tools)
        elif definition is not None and definition.tools and _parent is None:
            self._given["tools"] = list(definition.tools)
        merged_config = {**(definition.config if definition else {}), **(config or {})}
        sim_speed = os.environ.get("FLEETVIEW_SIM_SPEED", "").strip()
        if sim_speed and self._given.get("runtime") == "sim" and "speed" not in merged_config:
            try:
                merged_config["speed"] = float(sim_speed)
            except ValueError:
                raise AgentError(f"FLEETVIEW_SIM_SPEED={sim_speed!r} is not a number") from None
        if merged_config:
            self._given["config"] = merged_config
        if cwd is not None:
            self._given["cwd"] = str(Path(cwd).expanduser().resolve())
        elif _parent is None:
            self._given["cwd"] = os.getcwd()
        self.record: AgentRecord | None = None
        """The fleet agent as the engine last reported it (None until first use)."""
        self.closed = False
        self._claim: tuple[str | None, str] | None = None
        self._locks: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = {}

    # -- what it is ------------------------------------------------------------------

    @property
    def fleet_name(self) -> str | None:
        """Its name in the fleet (`research-2`), once created."""
        return self.record.name if self.record else None

    @property
    def id(self) -> str | None:
        return self.record.id if self.record else None

    @property
    def runtime(self) -> str | None:
        if self.record:
            return self.record.runtime
        return self._given.get("runtime") or (self.parent.runtime if self.parent else None)

    @property
    def model(self) -> str | None:
        if self.record:
            return self.record.model
        return self._given.get("model") or (self.parent.model if self.parent else None)

    @property
    def prompt(self) -> str:
        if self.record:
            return self.record.prompt
        return self._given.get("prompt") or (self.parent.prompt if self.parent else "")

    @property
    def tools(self) -> list[str]:
        if self.record:
            return list(self.record.tools)
        if "tools" in self._given:
            return list(self._given["tools"])
        return self.parent.tools if self.parent else []

    def __repr__(self) -> str:
        where = self.fleet_name or "not created yet"
        return f"<Agent {self.name!r} ({where}, runtime={self.runtime})>"

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def spawn(
        self,
        name: str,
        prompt: str | None = None,
        model: str | None = None,
        tools: Sequence[str] | None = None,
        runtime: str | None = None,
        *,
        config: dict[str, Any] | None = None,
    ) -> Agent:
        """A child agent under this one, inheriting its model, tools, runtime and config.

        Created (after its parent) on first use; shown under its parent in the
        TUI, and closed with it.
        """
        self._check_open()
        child = Agent(
            name,
            prompt=prompt,
            model=model,
            runtime=runtime,
            tools=tools,
            config=config,
            _parent=self,
        )
        self.children.append(child)
        return child

    async def start(self) -> Agent:
        """Create the fleet agent now rather than on the first `arun`."""
        self._check_open()
        client = await get_client(self.api_url)
        try:
            await self._ensure(client)
        except EngineUnavailable:
            forget_client(client)
            raise
        return self

    async def aclose(self) -> None:
        """Delete the fleet agent (its children first); its results stay for `recall`."""
        if self.closed:
            return
        for child in list(self.children):
            await child.aclose()
        self.closed = True
        record, self.record = self.record, None
        if record is not None:
            client = await get_client(self.api_url)
            try:
                await client.delete_agent(record.id)
            except NotFound:
                pass
        if self._claim is not None:
            _claimed.discard(self._claim)
            self._claim = None

    # -- work --------------------------------------------------------------------------

    async def arun(
        self,
        prompt: str,
        context: Sequence[ContextResult | int] | None = None,
        schema: Any = None,
        *,
        timeout: float | None = None,
        task: int | None = None,
    ) -> ContextResult:
        """Run `prompt` on this agent and return its ContextResult.

        `context` results are given to the agent with where they came from.
        `schema` (short form, JSON schema or pydantic model) makes the agent
        return data, checked here; one violation is told to the agent for a
        retry, a second raises SchemaError. A failed run raises AgentError
        with the agent's reason; `timeout` bounds the whole call.
        """
        if not isinstance(prompt, str) or not prompt.strip():
            raise ValueError("arun() needs a non-empty prompt")
        self._check_open()
        output = normalize_schema(schema) if schema is not None else None
        context_ids = [_result_id(item) for item in context or ()]
        if timeout is None:
            return await self._arun(prompt, context_ids, output, task)
        try:
            return await asyncio.wait_for(self._arun(prompt, context_ids, output, task), timeout)
        except TimeoutError:
            raise AgentError(
                f"agent {self.fleet_name or self.name!r} did not finish within {timeout:g} s "
                "(its run was cancelled)",
                agent=self.fleet_name or self.name,
                reason="timeout",
            ) from None

    async def _arun(
        self, prompt: str, context_ids: list[int], output: OutputSchema | None, task: int | None
    ) -> ContextResult:
        async with self._lock():
            self._check_open()
            client = await get_client(self.api_url)
            try:
                return await self._arun_on(client, prompt, context_ids, output, task)
            except EngineUnavailable:
                forget_client(client)
                raise

    async def _arun_on(
        self,
        client: FleetClient,
        prompt: str,
        context_ids: list[int],
        output: OutputSchema | None,
        task: int | None,
    ) -> ContextResult:
        await self._ensure(client)
        run = await self._run_once(client, prompt, context_ids, output, task)
        if output is not None:
            violations = output.violations(run.data)
            if violations:
                retry = retry_prompt(prompt, violations)
                run = await self._run_once(client, retry, [], output, task)
                violations = output.violations(run.data)
                if violations:
                    result = await self._result(client, run)
                    raise SchemaError(
                        f"agent {run.agent_name!r} returned data that breaks the schema "
                        f"twice: {'; '.join(violations[:5])}",
                        agent=run.agent_name,
                        violations=violations,
                        result=result,
                    )
        return await self._result(client, run)

    async def _run_once(
        self,
        client: FleetClient,
        prompt: str,
        context_ids: list[int],
        output: OutputSchema | None,
        task: int | None,
    ) -> Run:
        assert self.record is not None
        request = RunRequest(
            prompt=prompt,
            context_ids=context_ids,
            schema=output.json_schema if output else None,
            task_id=task,
        )
        try:
            run = await client.send(self.record.id, request)
        except NotFound as exc:
            if "agent" in str(exc):
                raise AgentError(
                    f"agent {self.record.name!r} is no longer in the fleet (deleted?)",
                    agent=self.record.name,
                    reason=str(exc),
                ) from None
            raise
        except Conflict as exc:
            raise AgentError(str(exc), agent=self.record.name) from None
        try:
            while not run.done:
                run = await client.wait_run(run.id, POLL_SECONDS)
        except asyncio.CancelledError:  # a timeout or a cancelled caller: stop the run too
            with contextlib.suppress(Exception):
                await asyncio.shield(client.cancel_run(run.id))
            raise
        if run.status != "completed":
            reason = run.error or run.status
            raise AgentError(
                f"agent {run.agent_name!r} {run.status}: {reason}",
                agent=run.agent_name,
                reason=reason,
                run=run,
            )
        return run

    async def _result(self, client: FleetClient, run: Run) -> ContextResult:
        if run.result_id is None:
            raise AgentError(
                f"agent {run.agent_name!r} finished run {run.id} without a result",
                agent=run.agent_name,
                run=run,
            )
        # the engine marks a run done just before its result row is committed, so a
        # poll landing in between sees result_id before get_result can: wait it out
        for _ in range(RESULT_RETRIES):
            try:
                return await client.get_result(run.result_id)
            except NotFound:
                await asyncio.sleep(0.05)
        return await client.get_result(run.result_id)

    # -- plumbing ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise AgentError(f"agent {self.name!r} was closed", agent=self.name)

    def _lock(self, kind: str = "run") -> asyncio.Lock:
        """A lock of this loop (an Agent may outlive one `asyncio.run`)."""
        loop = asyncio.get_running_loop()
        found = self._locks.get(kind)
        if found is None or found[0] is not loop:
            found = (loop, asyncio.Lock())
            self._locks[kind] = found
        return found[1]

    async def _ensure(self, client: FleetClient) -> AgentRecord:
        if self.record is not None:
            return self.record
        async with self._lock("create"):
            if self.record is not None:
                return self.record
            parent_ref: str | None = None
            if self.parent is not None:
                parent_ref = (await self.parent._ensure(client)).id
            self.record = await self._create(client, parent_ref)
            return self.record

    async def _create(self, client: FleetClient, parent_ref: str | None) -> AgentRecord:
        """Create under the first free name: NAME, NAME-2, NAME-3, ..."""
        url = client.url
        for _ in range(CREATE_ATTEMPTS):
            taken = {a.name for a in await client.list_agents()}
            taken |= {name for (u, name) in _claimed if u == url}
            name = first_free_name(self.name, taken)
            claim = (url, name)
            _claimed.add(claim)
            spec = AgentSpec(name=name, **self._given)
            try:
                if parent_ref is not None:
                    record = await client.spawn_agent(parent_ref, spec)
                else:
                    record = await client.create_agent(spec)
            except Conflict:
                _claimed.discard(claim)
                continue
            except FleetError as exc:
                _claimed.discard(claim)
                if isinstance(exc, EngineUnavailable):
                    raise
                raise AgentError(
                    f"could not create agent {name!r}: {exc}", agent=name, reason=str(exc)
                ) from None
            except BaseException:
                _claimed.discard(claim)
                raise
            self._claim = claim
            return record
        raise AgentError(f"could not find a free name for agent {self.name!r}", agent=self.name)


def first_free_name(base: str, taken: set[str]) -> str:
    """`base` if free, else the first free `base-N` (N >= 2), within 64 characters."""
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"-{n}"
        candidate = base[: 64 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


def _result_id(item: Any) -> int:
    if isinstance(item, ContextResult):
        return item.id
    if isinstance(item, int) and not isinstance(item, bool):
        return item
    raise TypeError(f"context items must be ContextResults (or result ids), not {item!r}")


async def recall(
    agent: str | Agent | None = None,
    limit: int = 20,
    query: str | None = None,
    *,
    api_url: str | None = None,
) -> list[ContextResult]:
    """Earlier results, newest first: of agents named `agent` (or its `agent-N` copies),
    whose text contains `query`. They outlive the agents that made them."""
    name: str | None
    if isinstance(agent, Agent):
        name = agent.fleet_name or agent.name
        api_url = api_url or agent.api_url
    else:
        name = agent
    client = await get_client(api_url)
    try:
        return await client.recall(agent=name, limit=limit, query=query)
    except EngineUnavailable:
        forget_client(client)
        raise
