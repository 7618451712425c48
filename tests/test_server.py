"""The loopback HTTP API, against a real daemon subprocess on a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import httpx
import pytest
from conftest import FleetCLI, free_port, wait_for

from fleetview.client import FleetClient
from fleetview.daemon import DEFAULT_PORT
from fleetview.errors import Invalid, NotFound, Unauthorized
from fleetview.models import AgentSpec, RunRequest, TaskSpec
from fleetview.paths import FleetPaths


def _started(cli: FleetCLI) -> tuple[str, str]:
    """Start the daemon through the CLI; (url, token)."""
    cli.ok("status")
    return cli.env["FLEETVIEW_API_URL"], cli.paths.token.read_text().strip()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_route_needs_the_token(shared_cli: FleetCLI) -> None:
    url, token = _started(shared_cli)
    for method, path in (
        ("GET", "/v1/agents"),
        ("GET", "/v1/status"),
        ("POST", "/v1/shutdown"),
        ("GET", "/v1/events"),
    ):
        missing = httpx.request(method, url + path, trust_env=False)
        wrong = httpx.request(method, url + path, headers=_auth("x" * len(token)), trust_env=False)
        for response in (missing, wrong):
            assert response.status_code == 401, (path, response.text)
            assert "unauthorized" in response.json()["error"]
    # the refused shutdown did nothing
    assert httpx.get(url + "/v1/status", headers=_auth(token), trust_env=False).status_code == 200
    assert stat.S_IMODE(os.stat(shared_cli.paths.token).st_mode) == 0o600


def test_bad_request_bodies_name_the_field(shared_cli: FleetCLI) -> None:
    url, token = _started(shared_cli)
    response = httpx.post(
        url + "/v1/agents", json={"name": "a b"}, headers=_auth(token), trust_env=False
    )
    assert response.status_code == 422
    assert response.json()["error"].startswith("invalid body: field 'name': invalid name 'a b'")
    response = httpx.post(
        url + "/v1/tasks", json={"title": "t", "colour": "x"}, headers=_auth(token), trust_env=False
    )
    assert response.status_code == 422
    assert "'colour'" in response.json()["error"]
    response = httpx.get(
        url + "/v1/runs/1", params={"wait": "soon"}, headers=_auth(token), trust_env=False
    )
    assert response.status_code == 422
    assert "field 'wait'" in response.json()["error"]


def _listening_addresses(port: int) -> list[str]:
    """Local addresses of LISTEN sockets on `port`, from /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                lines = handle.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":
                found.append(address)
    return found


def test_listens_on_loopback_only(shared_cli: FleetCLI) -> None:
    url, _ = _started(shared_cli)
    port = int(url.rsplit(":", 1)[1])
    assert _listening_addresses(port) == ["0100007F"]  # 127.0.0.1, nothing else


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com"])
def test_non_loopback_url_is_refused(fleet_cli: FleetCLI, host: str) -> None:
    bad = {"FLEETVIEW_API_URL": f"http://{host}:{free_port()}"}
    result = fleet_cli("serve", env=bad, timeout=10)
    assert result.returncode == 1
    assert "not loopback" in result.stderr and "Traceback" not in result.stderr
    result = fleet_cli("agent", "list", env=bad, timeout=10)
    assert result.returncode == 1 and "not loopback" in result.stderr
    assert not fleet_cli.paths.daemon.exists()


def test_second_engine_for_a_home_is_refused(shared_cli: FleetCLI) -> None:
    url, _ = _started(shared_cli)
    pid = shared_cli.daemon_pid()
    result = shared_cli("serve", timeout=10)
    assert result.returncode == 1
    assert f"an engine already runs for {shared_cli.home} (pid {pid}, {url})" in result.stderr


async def test_event_stream_is_ordered_and_resumable(shared_cli: FleetCLI) -> None:
    url, token = _started(shared_cli)
    async with FleetClient(url, token) as client:
        start = (await client.status()).seq
        received: list = []
        arrived: dict[str, float] = {}

        async def read() -> None:
            async for event in client.events(since=start):
                received.append(event)
                if event.kind == "agent.created":
                    arrived[event.data["name"]] = time.perf_counter()

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.3)
        names = [f"ev{i}" for i in range(5)]
        latencies = []
        for name in names:
            await client.create_agent(AgentSpec(name=name))
            sent = time.perf_counter()
            for _ in range(200):
                if name in arrived:
                    break
                await asyncio.sleep(0.005)
            latencies.append(arrived[name] - sent)
        await client.add_task(TaskSpec(title="after the agents"))
        for _ in range(200):
            if any(e.kind.startswith("task.") for e in received):
                break
            await asyncio.sleep(0.01)
        reader.cancel()
        seqs = [e.seq for e in received]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs) and seqs[0] > start
        created = [e.data["name"] for e in received if e.kind == "agent.created"]
        assert created == names
        assert max(latencies) < 0.5, latencies  # pushed, not polled

        # resume from the middle: exactly the events after that seq, same order
        middle = received[len(received) // 2].seq
        replay: list = []

        async def read_again() -> None:
            async for event in client.events(since=middle):
                replay.append(event)
                if event.seq == seqs[-1]:
                    return

        await asyncio.wait_for(read_again(), 5)
        assert [e.seq for e in replay] == [s for s in seqs if s > middle]


async def test_long_poll_returns_the_finished_run(shared_cli: FleetCLI) -> None:
    url, token = _started(shared_cli)
    async with FleetClient(url, token) as client:
        await client.create_agent(AgentSpec(name="poller", runtime="sim", config={"speed": 50}))
        run = await client.send("poller", RunRequest(prompt="say hello"))
        done = await client.wait_run(run.id, timeout=8)
        assert done.status == "completed" and done.text
        assert (await client.get_run(run.id)).status == "completed"
        results = await client.recall(agent="poller")
        assert results and results[0].run_id == run.id and results[0].text == done.text
        assert (await client.get_result(results[0].id)).summary == results[0].summary
        assert run.id in [r.id for r in await client.list_runs("poller")]
        with pytest.raises(Invalid, match="hook"):
            await client.hook("poller", {"event": "Stop"})
        with pytest.raises(NotFound):
            await client.get_run(999_999)
    async with FleetClient(url, "wrong") as client:
        with pytest.raises(Unauthorized):
            await client.list_agents()


def test_stale_record_is_cleaned_up_and_a_new_engine_starts(fleet_cli: FleetCLI) -> None:
    fleet_cli.paths.ensure()
    fleet_cli.paths.daemon.write_text(
        json.dumps({"pid": 999_999_999 % 4_000_000, "url": "http://127.0.0.1:1", "started_at": "x"})
    )
    out = fleet_cli.json("status")
    assert out["pid"] == fleet_cli.daemon_pid() != 999_999_999 % 4_000_000
    fleet_cli.ok("down")
    assert not fleet_cli.paths.daemon.exists()
    wait_for(lambda: not _alive(out["pid"]))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_port_falls_back_when_7777_is_taken(fleet_cli: FleetCLI) -> None:
    env = {k: v for k, v in fleet_cli.env.items() if k != "FLEETVIEW_API_URL"}
    cli = FleetCLI(fleet_cli.home, env)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # if someone else holds 7777, fine too
            squatter.bind(("127.0.0.1", DEFAULT_PORT))
            squatter.listen()
        try:
            status = cli.json("status")  # URL comes from daemon.json, not the environment
            assert status["url"].startswith("http://127.0.0.1:")
            assert not status["url"].endswith(f":{DEFAULT_PORT}")
            assert json.loads(cli.paths.daemon.read_text())["url"] == status["url"]
        finally:
            cli.stop()


def test_sigterm_stops_cleanly_and_the_token_is_reused(fleet_cli: FleetCLI) -> None:
    def serve() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "fleetview", "serve"],
            env=fleet_cli.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first = serve()
    wait_for(lambda: fleet_cli.paths.daemon.exists(), timeout=8)
    token = fleet_cli.paths.token.read_text()
    assert stat.S_IMODE(os.stat(fleet_cli.paths.token).st_mode) == 0o600
    record = json.loads(fleet_cli.paths.daemon.read_text())
    assert record["pid"] == first.pid and record["url"] == fleet_cli.env["FLEETVIEW_API_URL"]
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=8) == 0
    assert not fleet_cli.paths.daemon.exists()
    assert "Traceback" not in first.stderr.read()  # type: ignore[union-attr]

    second = serve()
    try:
        wait_for(lambda: fleet_cli.paths.daemon.exists(), timeout=8)
        assert fleet_cli.paths.token.read_text() == token
    finally:
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=8) == 0
    assert not fleet_cli.paths.daemon.exists()


async def test_down_ends_open_event_streams_promptly(fleet_cli: FleetCLI) -> None:
    url, token = _started(fleet_cli)
    async with FleetClient(url, token) as client:
        seen: list = []

        async def read() -> None:
            async for event in client.events(since=0):
                seen.append(event)

        reader = asyncio.create_task(read())
        await asyncio.sleep(0.3)
        started = time.monotonic()
        down = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fleetview", "down", env=fleet_cli.env
        )
        assert await down.wait() == 0
        await asyncio.wait_for(reader, 5)  # the stream ends cleanly; a client reconnects
        assert time.monotonic() - started < 3
        assert seen and seen[0].seq >= 1


async def test_idle_stream_sends_heartbeats(
    fleet_home: FleetPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process server on a real engine, with the heartbeat interval shortened."""
    import uvicorn

    from fleetview.engine import Engine
    from fleetview.server import app as server_app

    monkeypatch.setattr(server_app, "HEARTBEAT_SECONDS", 0.2)
    fleet_home.ensure()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        engine = Engine(fleet_home, api_url=url)
        await engine.open()
        server = uvicorn.Server(
            uvicorn.Config(server_app.create_app(engine, "tok"), lifespan="off", log_config=None)
        )
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                await asyncio.sleep(0.01)
            lines: list[str] = []
            http = httpx.AsyncClient(trust_env=False, headers=_auth("tok"))
            async with http, http.stream("GET", url + "/v1/events", params={"since": 0}) as resp:
                assert resp.headers["content-type"].startswith("application/x-ndjson")
                async for line in resp.aiter_lines():
                    lines.append(line)
                    if lines.count("") >= 2:
                        break
            events = [json.loads(line) for line in lines if line]
            assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
            assert lines.count("") == 2
        finally:
            server.should_exit = True
            await serving
            await engine.close()
