"""Shared fixtures: a throwaway fleet home, and the CLI run as a real subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fleetview.paths import FleetPaths

CLI_TIMEOUT = 30.0


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fleet_env(home: Path, port: int | None = None) -> dict[str, str]:
    """os.environ for a CLI/daemon subprocess bound to `home` (and its own port)."""
    env = dict(os.environ)
    env.pop("FLEETVIEW_AGENT_NAME", None)
    env["FLEETVIEW_HOME"] = str(home)
    env["FLEETVIEW_API_URL"] = f"http://127.0.0.1:{port or free_port()}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stop_fleet(home: Path, env: dict[str, str]) -> None:
    """`fleetview down`, then kill -9 whatever daemon the record still names."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        subprocess.run(  # noqa: PLW1510 (best effort)
            [sys.executable, "-m", "fleetview", "down"],
            env=env,
            capture_output=True,
            timeout=CLI_TIMEOUT,
        )
    record = FleetPaths(home).daemon
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(json.loads(record.read_text())["pid"]), signal.SIGKILL)


class FleetCLI:
    """Runs `python -m fleetview ...` against one home, like a user in a shell."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.paths = FleetPaths(home)
        self.env = env

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: PLW1510 (callers check the code)
            [sys.executable, "-m", "fleetview", *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def many(self, *commands: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
        """Run independent commands at once (each CLI start costs ~0.4 s of imports)."""
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "fleetview", *args],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in commands
        ]
        results = []
        for args, proc in zip(commands, procs):
            out, err = proc.communicate(timeout=CLI_TIMEOUT)
            results.append(subprocess.CompletedProcess(list(args), proc.returncode, out, err))
        return results

    def fails_many(self, *commands: tuple[str, ...], code: int = 1) -> list[str]:
        """Like `fails` for several commands run at once; their error lines."""
        lines = []
        for result in self.many(*commands):
            assert result.returncode == code, (result.args, result.stdout, result.stderr)
            assert "Traceback" not in result.stderr, result.stderr
            err = result.stderr.strip().splitlines()
            if code == 2:
                assert err and "error: " in err[-1], result.stderr
            else:
                assert len(err) == 1 and err[0].startswith("fleetview: error: "), result.stderr
            lines.append(err[-1])
        return lines

    def ok(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run a command that must succeed; its stdout."""
        result = self(*args, env=env)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    def json(self, *args: str, env: dict[str, str] | None = None) -> Any:
        return json.loads(self.ok(*args, "--json", env=env))

    def fails(self, *args: str, code: int = 1) -> str:
        """Run a command that must fail with one clean line on stderr; that line."""
        result = self(*args)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        if code == 2:  # bad usage: argparse's usage lines, then one error line
            assert lines and "error: " in lines[-1], result.stderr
            return lines[-1]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("fleetview: error: "), lines[0]
        return lines[0]

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Set-up through the HTTP API (fast; CLI behaviour is what the tests check)."""
        import httpx

        if not self.paths.daemon.exists():
            self.ok("status")  # starts the engine
        token = self.paths.token.read_text().strip()
        response = httpx.request(
            method,
            self.env["FLEETVIEW_API_URL"] + path,
            json=body,
            trust_env=False,
            verify=False,
            headers={"Authorization": f"Bearer {token}"},
            timeout=CLI_TIMEOUT,
        )
        assert response.status_code < 300, response.text
        return response.json()

    def daemon_pid(self) -> int:
        return int(json.loads(self.paths.daemon.read_text())["pid"])

    def stop(self) -> None:
        stop_fleet(self.home, self.env)


@pytest.fixture
def fleet_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FleetPaths:
    """A fresh FLEETVIEW_HOME with its own free-port FLEETVIEW_API_URL (set in os.environ)."""
    home = tmp_path / "home"
    monkeypatch.setenv("FLEETVIEW_HOME", str(home))
    monkeypatch.setenv("FLEETVIEW_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("FLEETVIEW_AGENT_NAME", raising=False)
    return FleetPaths(home)


@pytest.fixture
def fleet_cli(fleet_home: FleetPaths) -> Iterator[FleetCLI]:
    """The CLI as a subprocess on `fleet_home`; the daemon it starts is torn down after."""
    cli = FleetCLI(fleet_home.home, fleet_env(fleet_home.home, _port_of(os.environ)))
    yield cli
    cli.stop()


@pytest.fixture(scope="module")
def shared_cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetCLI]:
    """One daemon for a whole test module (startup costs ~1 s); use unique names per test."""
    home = tmp_path_factory.mktemp("shared") / "home"
    cli = FleetCLI(home, fleet_env(home))
    yield cli
    cli.stop()


def _port_of(env: os._Environ[str] | dict[str, str]) -> int:
    return int(env["FLEETVIEW_API_URL"].rsplit(":", 1)[1])


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, step: float = 0.02) -> object:
    """Poll until `predicate()` is truthy; its value (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")
        time.sleep(step)
