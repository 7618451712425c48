"""How the SDK reaches the engine: one FleetClient per event loop and engine URL.

The SDK never runs agents itself: it talks to the daemon (FLEETVIEW_API_URL,
default http://127.0.0.1:7777), starting it when none runs, so a program's
agents show up live in the TUI and keep their history after it exits.
An httpx client belongs to the loop it was made on, so clients are cached per
running loop (a second `asyncio.run` gets a fresh one).
"""

from __future__ import annotations

import asyncio
import os

from fleetview.client import FleetClient
from fleetview.sdk.errors import AgentError

_Key = tuple[int, str | None, str | None]
_clients: dict[_Key, tuple[asyncio.AbstractEventLoop, FleetClient]] = {}
_connecting: dict[_Key, asyncio.Future[FleetClient]] = {}

RUNTIMES = ("api", "tmux", "sim")
NO_KEY = (
    "no ANTHROPIC_API_KEY is set, so there is no runtime to run agents on: "
    "set it, or pass runtime='sim' (or FLEETVIEW_RUNTIME=sim) for an offline simulation"
)


def default_runtime(explicit: str | None = None) -> str:
    """runtime= argument, else FLEETVIEW_RUNTIME, else `api` when ANTHROPIC_API_KEY is set.

    Without a key and without a choice this is an AgentError rather than a
    silent simulation: a program that meant to do real work must not get
    invented results.
    """
    runtime = explicit or os.environ.get("FLEETVIEW_RUNTIME", "").strip() or None
    if runtime is None:
        if os.environ.get("ANTHROPIC_API_KEY"):
            return "api"
        raise AgentError(NO_KEY)
    if runtime not in RUNTIMES:
        raise AgentError(f"unknown runtime {runtime!r}: use {', '.join(RUNTIMES)}")
    return runtime


async def get_client(api_url: str | None = None) -> FleetClient:
    """The shared client for this loop and URL, attaching to (or starting) the engine."""
    loop = asyncio.get_running_loop()
    url = api_url.rstrip("/") if api_url else None
    if url is not None and url == _env_url():
        url = None
    key = (id(loop), url or _env_url(), os.environ.get("FLEETVIEW_HOME"))
    for stale in [k for k, (lp, _) in _clients.items() if lp.is_closed()]:
        del _clients[stale]
    found = _clients.get(key)
    if found is not None and found[0] is loop:
        return found[1]
    pending = _connecting.get(key)
    if pending is not None:
        return await asyncio.shield(pending)
    future: asyncio.Future[FleetClient] = loop.create_future()
    _connecting[key] = future
    try:
        client = await _connect(url)
    except BaseException as exc:
        future.set_exception(exc)
        future.exception()  # retrieved: waiters re-raise it, nobody logs it
        raise
    finally:
        _connecting.pop(key, None)
    _clients[key] = (loop, client)
    future.set_result(client)
    return client


def forget_client(client: FleetClient) -> None:
    """Drop a client whose engine went away, so the next call attaches afresh
    (starting the engine again if none runs: agents and results persist)."""
    for key, (_, cached) in list(_clients.items()):
        if cached is client:
            del _clients[key]


async def close_clients() -> None:
    """Close this loop's clients (the runner calls it; programs may, too)."""
    loop = asyncio.get_running_loop()
    for key, (lp, client) in list(_clients.items()):
        if lp is loop:
            del _clients[key]
            await client.aclose()


def _env_url() -> str | None:
    url = os.environ.get("FLEETVIEW_API_URL", "").strip().rstrip("/")
    return url or None


async def _connect(url: str | None) -> FleetClient:
    if url is None:
        return await FleetClient.connect()
    from fleetview.daemon import ensure_daemon

    found_url, token = await asyncio.to_thread(ensure_daemon, None, True, url)
    return FleetClient(found_url, token)
