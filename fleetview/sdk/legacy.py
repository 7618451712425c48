"""The legacy `Orchestrate` API and the runner that calls `async def main(orch)`.

Programs written for the older form keep working:

    async def main(orch):
        await orch.agent("coder", prompt="...")
        result = await orch.run("do X", to="coder")

`orch.agent` creates an `Agent` at once and files it under the name given;
`orch.run(..., to=NAME)` is that Agent's `arun`. Run such a program with
`python -m fleetview.sdk program.py`, or call `fleetview.sdk.run(main)`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Self

from fleetview.models import ContextResult
from fleetview.sdk.agent import Agent, recall
from fleetview.sdk.connection import close_clients
from fleetview.sdk.errors import AgentError


class Orchestrate:
    """A named set of Agents, for programs written against the legacy API.

    `runtime` and `api_url` are the defaults for the agents it creates.
    """

    def __init__(self, runtime: str | None = None, api_url: str | None = None) -> None:
        self.runtime = runtime
        self.api_url = api_url
        self.agents: dict[str, Agent] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def agent(
        self,
        name: str,
        prompt: str | None = None,
        model: str | None = None,
        runtime: str | None = None,
        tools: Sequence[str] | None = None,
        **options: Any,
    ) -> Agent:
        """Create the agent `name` in the fleet now (a name used before returns that Agent)."""
        existing = self.agents.get(name)
        if existing is not None and not existing.closed:
            return existing
        agent = Agent(
            name,
            prompt=prompt,
            model=model,
            runtime=runtime or self.runtime,
            tools=tools,
            api_url=self.api_url,
            **options,
        )
        await agent.start()
        self.agents[name] = agent
        return agent

    async def run(
        self,
        prompt: str,
        to: str | Agent,
        context: Sequence[ContextResult | int] | None = None,
        schema: Any = None,
        **options: Any,
    ) -> ContextResult:
        """`prompt` for the agent `to` (a name given to `agent()`, or an Agent)."""
        target = to if isinstance(to, Agent) else self.agents.get(to)
        if target is None:
            known = ", ".join(sorted(self.agents)) or "none yet"
            raise AgentError(
                f"no agent {to!r} in this program: create it with "
                f"`await orch.agent({to!r}, prompt=...)` (agents: {known})",
                agent=str(to),
            )
        return await target.arun(prompt, context=context, schema=schema, **options)

    async def recall(
        self, agent: str | Agent | None = None, limit: int = 20, query: str | None = None
    ) -> list[ContextResult]:
        """Earlier results (see `fleetview.recall`)."""
        return await recall(agent=agent, limit=limit, query=query, api_url=self.api_url)

    async def close(self, name: str) -> None:
        """Delete one agent from the fleet."""
        agent = self.agents.pop(name, None)
        if agent is not None:
            await agent.aclose()

    async def aclose(self) -> None:
        """Delete every agent this Orchestrate created."""
        for name in list(self.agents):
            await self.close(name)


MainFunction = Callable[..., Awaitable[Any]]


def run(main: MainFunction, *, runtime: str | None = None, api_url: str | None = None) -> Any:
    """Run `async def main(orch)` (or `async def main()`) to completion; its return value.

    The agents stay in the fleet afterwards, as they do for the Agent API:
    the TUI keeps showing them and their history.
    """
    return asyncio.run(run_async(main, runtime=runtime, api_url=api_url))


async def run_async(
    main: MainFunction, *, runtime: str | None = None, api_url: str | None = None
) -> Any:
    """`run` for a caller already inside an event loop."""
    orch = Orchestrate(runtime=runtime, api_url=api_url)
    try:
        if _takes_argument(main):
            return await main(orch)
        return await main()
    finally:
        await close_clients()


def _takes_argument(main: MainFunction) -> bool:
    try:
        params = inspect.signature(main).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )
