"""The api runtime: agents that think with Claude through the official SDK.

Each api agent gets an `AsyncAnthropic` client of its own (created on first
use, so `import anthropic` stays off every other path), all sharing one TLS
context; their own retries are off because the loop (api_loop.py) retries
visibly, keeping the agent `working` with a detail such as `rate limited,
retry in 12s`. Responses are streamed through the SDK's streaming response
and read by api_stream.py. The key comes from ANTHROPIC_API_KEY or the SDK's
own config and ANTHROPIC_BASE_URL is honoured; the key is scrubbed from every
text the runtime reports and is not passed to bash tools.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fleetview.engine.costs import PriceTable
from fleetview.errors import Invalid
from fleetview.runtimes.api_loop import LoopContext, LoopSettings, run_loop
from fleetview.runtimes.api_stream import LeanMessages
from fleetview.runtimes.api_tools import agent_env
from fleetview.runtimes.base import AgentHandle, RunInput, RunOutcome

DEFAULT_MODEL = "claude-sonnet-5-5"
NO_FORCED_TOOL_CHOICE = ("claude-fable-5-1", "claude-opus-5-5", "claude-sonnet-5-5")
"""Models documented to answer a forced tool_choice with a 400 (their docs'
"forced tool use returns an error"); others found to do so are added at run time."""
MISSING_KEY = "ANTHROPIC_API_KEY is not set"


class ApiRuntime:
    """Agents on the Anthropic Messages API (streaming, tools, retries)."""

    name = "api"

    def __init__(self, messages_client: Any | None = None) -> None:
        self._clients: dict[str, LeanMessages] = {}
        """Each agent's messages client, by agent id."""
        self._tls: Any = None
        """One TLS context for every agent's pool (loading the CA store costs ~30 ms)."""
        self._messages = messages_client
        self._secrets: list[str] = []
        self._prices: PriceTable | None = None
        self._envs: dict[str, dict[str, str]] = {}
        self._no_forcing: set[str] = set()

    # -- client -----------------------------------------------------------------

    def _messages_client(self, handle: AgentHandle) -> Any:
        """The messages client for this agent; raises RuntimeError(MISSING_KEY) without a key.

        One client (one HTTP pool) per agent, not one for the fleet: the pool
        under the SDK checks every idle connection of its own before each
        request, so a shared pool makes every request cost more the more
        agents sit between turns. A client costs about 5 KB.
        """
        if self._messages is not None:
            return self._messages
        lean = self._clients.get(handle.agent.id)
        if lean is not None:
            return lean
        import anthropic  # lazily: 1.5-2 s, only when an api agent runs

        try:
            if self._tls is None:
                import httpx2  # the SDK's HTTP library

                self._tls = httpx2.create_ssl_context()  # as the SDK's own default pool does
            client = anthropic.AsyncAnthropic(
                max_retries=0, http_client=anthropic.DefaultAsyncHttpxClient(verify=self._tls)
            )
        except Exception as exc:  # noqa: BLE001 - e.g. a broken profile in the SDK config
            raise RuntimeError(self.scrub(" ".join(str(exc).split())) or MISSING_KEY) from None
        if client.api_key is None and client.auth_token is None and client.credentials is None:
            raise RuntimeError(MISSING_KEY)
        self._secrets = [s for s in (client.api_key, client.auth_token) if s]
        lean = self._clients[handle.agent.id] = LeanMessages(client)
        return lean

    def _current_secrets(self) -> list[str]:
        secrets = self._secrets or [
            v for k in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN") if (v := os.environ.get(k))
        ]
        return [s for s in secrets if len(s) >= 8]

    def scrub(self, text: str) -> str:
        """`text` with every credential replaced, for anything that leaves the runtime."""
        for secret in self._current_secrets():
            text = text.replace(secret, "[redacted]")
        return text

    def _price_table(self, handle: AgentHandle) -> PriceTable:
        if self._prices is None:
            self._prices = PriceTable.load(handle.home)
        return self._prices

    # -- protocol ---------------------------------------------------------------

    async def start(self, handle: AgentHandle) -> None:
        """Nothing to start: an api agent exists between requests as its conversation."""
        handle.set_status("idle", "event")

    async def execute(self, handle: AgentHandle, job: RunInput) -> RunOutcome:
        agent = handle.agent
        try:
            messages = self._messages_client(handle)
        except RuntimeError as exc:
            reason = str(exc)
            handle.set_status("error", "event", reason)
            return RunOutcome(status="failed", error=reason, stop_reason="error")
        model = agent.model or DEFAULT_MODEL
        try:
            settings = LoopSettings.from_config(agent.config, agent.tools)
        except ValueError as exc:
            return RunOutcome(status="failed", error=str(exc), stop_reason="error")
        cwd = self._cwd(handle)
        ctx = LoopContext(
            model=model,
            cwd=cwd,
            env=self._env(handle),
            window=self._price_table(handle).context_window(model),
            secrets=tuple(self._current_secrets()),
            can_force_tool=self._can_force(model),
            on_forcing_rejected=lambda: self._no_forcing.add(model),
        )
        return await run_loop(messages, handle, job, settings, ctx)

    def _can_force(self, model: str) -> bool:
        name = model.removeprefix("sim:")
        if name in self._no_forcing:
            return False
        return not any(
            name == m or name.startswith((m + "-", m + "[")) for m in NO_FORCED_TOOL_CHOICE
        )

    def _env(self, handle: AgentHandle) -> dict[str, str]:
        """The bash tools' environment for this agent (built once per agent)."""
        agent = handle.agent
        env = self._envs.get(agent.id)
        if env is None:
            env = self._envs[agent.id] = agent_env(
                {
                    "FLEETVIEW_AGENT_ID": agent.id,
                    "FLEETVIEW_AGENT_NAME": agent.name,
                    "FLEETVIEW_HOME": str(handle.home),
                    "FLEETVIEW_API_URL": handle.api_url,
                }
            )
        return env

    def _cwd(self, handle: AgentHandle) -> Path:
        agent = handle.agent
        if agent.cwd:
            return Path(agent.cwd).expanduser()
        path = handle.home / "runtimes" / "api" / agent.id
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def send_keys(self, handle: AgentHandle, keys: list[str]) -> None:
        raise Invalid(f"agent {handle.agent.name!r} runs on the api runtime: it has no terminal")

    async def logs(self, handle: AgentHandle, lines: int) -> list[str] | None:
        return None

    async def stop(self, handle: AgentHandle) -> None:
        """The engine cancels a running request; there is no process to stop."""

    async def delete(self, handle: AgentHandle) -> None:
        import shutil

        self._envs.pop(handle.agent.id, None)
        lean = self._clients.pop(handle.agent.id, None)
        if lean is not None:
            await lean.client.close()
        shutil.rmtree(handle.home / "runtimes" / "api" / handle.agent.id, ignore_errors=True)

    async def hook(self, handle: AgentHandle, payload: dict[str, Any]) -> None:
        return None

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for lean in clients:
            await lean.client.close()


def create_runtime() -> ApiRuntime:
    """The api runtime, as `load_runtime("api")` builds it."""
    return ApiRuntime()
