"""The engine daemon: `fleetview serve`, and `ensure_daemon` for every client.

One engine per FLEETVIEW_HOME, guarded by an flock on daemon.lock. The daemon
binds 127.0.0.1 only, writes daemon.json {pid, url, started_at} once it
answers, and removes it on a clean exit; a record whose pid is dead is stale
and is removed by the next client. Clients (CLI, TUI, SDK) call
`ensure_daemon`, which attaches to the running engine or starts one in the
background. Heavy imports (uvicorn, fastapi, the engine) happen only in
`serve`, so clients stay fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import gc
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fleetview.errors import EngineUnavailable, FleetError, Invalid, Unauthorized
from fleetview.paths import FleetPaths

DEFAULT_PORT = 7777
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
START_TIMEOUT = 10.0

log = logging.getLogger("fleetview.daemon")


# ---- shared helpers ------------------------------------------------------------------


def parse_api_url(url: str) -> tuple[str, int | None]:
    """(host, port) of a FLEETVIEW_API_URL; refuses anything but http on loopback."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise Invalid(f"FLEETVIEW_API_URL {url!r} is not an http://127.0.0.1:PORT URL")
    host = parts.hostname
    if host not in LOOPBACK_HOSTS:
        raise Invalid(
            f"FLEETVIEW_API_URL host {host!r} is not loopback: the engine listens on 127.0.0.1 only"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise Invalid(f"FLEETVIEW_API_URL {url!r}: {exc}") from None
    return host, port


def env_api_url() -> str | None:
    """FLEETVIEW_API_URL without a trailing slash, if set."""
    url = os.environ.get("FLEETVIEW_API_URL", "").strip()
    return url.rstrip("/") or None


def load_or_create_token(paths: FleetPaths) -> str:
    """The fleet's API token, created once with mode 0600 and reused after."""
    paths.ensure()
    try:
        token = paths.token.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    tmp = paths.token.with_name(f"token.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token + "\n")
    os.replace(tmp, paths.token)
    return token


def read_token(paths: FleetPaths) -> str | None:
    """The token if the file exists (clients never create it)."""
    try:
        return paths.token.read_text().strip() or None
    except FileNotFoundError:
        return None


def read_record(paths: FleetPaths) -> dict[str, Any] | None:
    """daemon.json, or None if missing or unreadable."""
    try:
        record = json.loads(paths.daemon.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (zombies of our own children excluded)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (e.g. a killed daemon we spawned, not yet reaped) is dead
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def log_tail(paths: FleetPaths) -> str:
    """The last non-empty line of the daemon log, for error messages."""
    try:
        with open(paths.log, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 8192))
            lines = handle.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return "no log"
    for line in reversed(lines):
        if line.strip():
            from fleetview.sanitize import sanitize

            return sanitize(line.strip())
    return "empty log"


# ---- client side: attach or start ---------------------------------------------------


def _probe(url: str, token: str) -> int | None:
    """HTTP status of GET /v1/status, or None if nothing answers."""
    import httpx

    try:
        response = httpx.get(
            f"{url}/v1/status",
            headers={"Authorization": f"Bearer {token}"},
            timeout=2.0,
            trust_env=False,
            verify=False,
        )
    except httpx.HTTPError:
        return None
    return response.status_code


def attach_url(paths: FleetPaths) -> tuple[str, str] | None:
    """(url, token) from a record whose pid is alive, without asking it anything."""
    url = env_api_url()
    if url:
        parse_api_url(url)
    record = read_record(paths)
    if record is None or not pid_alive(int(record.get("pid") or 0)):
        return None
    url = url or str(record.get("url") or "")
    token = read_token(paths)
    return (url, token) if url and token else None


def _attach(paths: FleetPaths, api_url: str | None = None) -> tuple[str, str] | None:
    """(url, token) of a live, answering engine for this home, else None.

    A record with a dead pid is stale and removed.
    """
    record = read_record(paths)
    if record is None:
        return None
    pid = int(record.get("pid") or 0)
    if not pid_alive(pid):
        with contextlib.suppress(FileNotFoundError):
            paths.daemon.unlink()
        return None
    url = api_url or str(record.get("url") or "")
    token = read_token(paths)
    if not url or not token:
        return None
    status = _probe(url, token)
    if status == 200:
        return url, token
    if status == 401:
        raise Unauthorized(f"the engine at {url} refused the token in {paths.token}")
    return None


def ensure_daemon(
    paths: FleetPaths | None = None, autostart: bool = True, api_url: str | None = None
) -> tuple[str, str]:
    """(url, token) of this home's engine, starting it in the background if needed.

    `api_url` (else FLEETVIEW_API_URL, else the engine's record) is where it
    answers, and where a started engine listens. Raises EngineUnavailable (with
    the daemon log's last line) if none answers within 10 s.
    """
    paths = paths or FleetPaths.from_env()
    url = (api_url or "").rstrip("/") or env_api_url()
    if url:
        parse_api_url(url)
    found = _attach(paths, url)
    if found:
        return found
    if not autostart:
        where = url or "this home"
        raise EngineUnavailable(
            f"no engine running for {paths.home} ({where}): run `fleetview serve`"
        )
    record = read_record(paths)
    proc: subprocess.Popen[bytes] | None = None
    if record is None:
        proc = spawn_daemon(paths, url)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        found = _attach(paths, url)
        if found:
            return found
        if proc is not None and proc.poll() is not None:
            # it exited: keep waiting only if another engine holds the lock (a race)
            holder = _lock_pid(paths)
            if not holder or holder == proc.pid or not pid_alive(holder):
                break
        time.sleep(0.05)
    record = read_record(paths)
    if proc is None and record is not None and pid_alive(int(record.get("pid") or 0)):
        where = url or record.get("url")
        raise EngineUnavailable(
            f"the engine for {paths.home} (pid {record.get('pid')}) does not answer at {where}"
            f" (log: {paths.log})"
        )
    raise EngineUnavailable(
        f"the engine for {paths.home} did not start: {log_tail(paths)} (log: {paths.log})"
    )


def spawn_daemon(paths: FleetPaths, api_url: str | None = None) -> subprocess.Popen[bytes]:
    """Start `python -m fleetview serve` detached from this terminal and session."""
    paths.ensure()
    env = dict(os.environ)
    env["FLEETVIEW_HOME"] = str(paths.home)
    if api_url:
        env["FLEETVIEW_API_URL"] = api_url
    # the daemon must import this very fleetview, installed or not
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    with open(paths.log, "ab") as log_file, open(os.devnull, "rb") as devnull:
        return subprocess.Popen(
            [sys.executable, "-m", "fleetview", "serve"],
            stdin=devnull,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            close_fds=True,
            env=env,
            cwd=str(paths.home),
        )


def stop_daemon(paths: FleetPaths, timeout: float = 10.0) -> int | None:
    """Ask this home's engine to shut down and wait for it; its pid, or None if none ran."""
    record = read_record(paths)
    if record is None:
        return None
    pid = int(record.get("pid") or 0)
    if not pid_alive(pid):
        with contextlib.suppress(FileNotFoundError):
            paths.daemon.unlink()
        return None
    url = env_api_url() or str(record.get("url") or "")
    token = read_token(paths) or ""
    import httpx

    asked = False
    with contextlib.suppress(httpx.HTTPError):
        response = httpx.post(
            f"{url}/v1/shutdown",
            headers={"Authorization": f"Bearer {token}"},
            timeout=5.0,
            trust_env=False,
            verify=False,
        )
        asked = response.status_code == 200
    if not asked:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return pid
        time.sleep(0.05)
    raise FleetError(f"the engine (pid {pid}) did not stop within {timeout:.0f} s")


# ---- server side: `fleetview serve` ---------------------------------------------------


def _bind(port: int | None) -> socket.socket:
    """A listening loopback socket: `port` exactly, or 7777 falling back to a free port."""

    def make(p: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", p))
        except OSError:
            sock.close()
            raise
        sock.listen(2048)
        sock.set_inheritable(True)
        return sock

    if port is not None:
        try:
            return make(port)
        except OSError as exc:
            raise FleetError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    try:
        return make(DEFAULT_PORT)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise FleetError(f"cannot listen on 127.0.0.1:{DEFAULT_PORT}: {exc.strerror}") from None
        return make(0)


def _setup_logging(paths: FleetPaths) -> None:
    handler = logging.FileHandler(paths.log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def tune_interpreter() -> None:
    """Interpreter settings the engine runs with (the benchmarks use them too)."""
    # The store's writer thread takes the GIL back once per row it writes; with the
    # default 5 ms switch interval a busy event loop makes a large commit crawl
    # (measured: stream p99 171 -> 85 ms in-process at 5,000 events/s).
    sys.setswitchinterval(0.001)
    # The engine keeps the fleet in memory (long-lived objects) and makes many
    # short-lived ones per event: the default thresholds ran full collections
    # often enough to stall the event stream (in-process p99 97 -> 47 ms with these).
    gc.set_threshold(50_000, 50, 1000)


def serve(paths: FleetPaths | None = None) -> int:
    """Run the engine in the foreground until SIGTERM/SIGINT or POST /v1/shutdown."""
    tune_interpreter()
    paths = (paths or FleetPaths.from_env()).ensure()
    url = env_api_url()
    port = parse_api_url(url)[1] if url else None
    if url and port is None:
        port = 80
    lock_fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            record = read_record(paths) or {}
            pid = record.get("pid") or _lock_pid(paths) or "?"
            where = record.get("url") or "starting"
            print(
                f"fleetview: error: an engine already runs for {paths.home} (pid {pid}, {where})",
                file=sys.stderr,
            )
            return 1
        os.ftruncate(lock_fd, 0)
        os.write(lock_fd, f"{os.getpid()}\n".encode())
        token = load_or_create_token(paths)
        sock = _bind(port)
        _setup_logging(paths)
        return asyncio.run(_serve(paths, sock, token))
    finally:
        with contextlib.suppress(OSError):
            os.close(lock_fd)


def _lock_pid(paths: FleetPaths) -> int | None:
    try:
        return int(paths.lock.read_text().strip() or 0) or None
    except (OSError, ValueError):
        return None


async def _serve(paths: FleetPaths, sock: socket.socket, token: str) -> int:
    import uvicorn

    from fleetview.engine import Engine
    from fleetview.server import create_app

    class _Server(uvicorn.Server):
        """uvicorn without its own signal capture (we handle signals on our loop)."""

        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[override]
            yield

    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    engine = Engine(paths, api_url=url)
    await engine.open()
    gc.freeze()  # the loaded fleet is long-lived: keep it out of every collection
    server: _Server | None = None

    app = create_app(engine, token, shutdown=lambda: request_exit())

    def request_exit() -> None:
        app.state.end_streams()  # open event streams would hold the shutdown up
        if server is not None:
            server.should_exit = True

    try:
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            ws="none",
        )
        server = _Server(config)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, request_exit)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.01)
        if server.started:
            _write_record(paths, url)
            log.info("engine %s listening on %s (home %s)", os.getpid(), url, paths.home)
            print(f"fleetview engine on {url} (home {paths.home}, pid {os.getpid()})", flush=True)
        await serving
    finally:
        _remove_record(paths)
        await engine.close()
        sock.close()
        log.info("engine %s stopped", os.getpid())
    return 0


def _write_record(paths: FleetPaths, url: str) -> None:
    record = {"pid": os.getpid(), "url": url, "started_at": datetime.now(UTC).isoformat()}
    tmp = paths.daemon.with_name(f"daemon.json.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record) + "\n")
    os.replace(tmp, paths.daemon)


def _remove_record(paths: FleetPaths) -> None:
    record = read_record(paths)
    if record and record.get("pid") == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            Path(paths.daemon).unlink()
