"""Where a fleet keeps its files. One engine per FLEETVIEW_HOME.

FLEETVIEW_HOME/
  fleet.db        SQLite store (WAL)
  token           the API token (mode 0600)
  daemon.json     pid, url, started_at of the running engine
  daemon.lock     held (flock) by the running engine
  daemon.log      the engine's log
  context/        markdown copies of ContextResults (<id>.md)
  runtimes/       files runtimes keep per agent (tmux socket, settings)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_API_URL = "http://127.0.0.1:7777"


def default_home() -> Path:
    """FLEETVIEW_HOME, else the platform's user data dir."""
    env = os.environ.get("FLEETVIEW_HOME")
    if env:
        return Path(env).expanduser().resolve()
    from platformdirs import user_data_dir

    return Path(user_data_dir("fleetview", appauthor=False))


@dataclass(frozen=True)
class FleetPaths:
    """The files of one fleet home."""

    home: Path

    @classmethod
    def from_env(cls) -> FleetPaths:
        return cls(default_home())

    @property
    def db(self) -> Path:
        return self.home / "fleet.db"

    @property
    def token(self) -> Path:
        return self.home / "token"

    @property
    def daemon(self) -> Path:
        return self.home / "daemon.json"

    @property
    def lock(self) -> Path:
        return self.home / "daemon.lock"

    @property
    def log(self) -> Path:
        return self.home / "daemon.log"

    @property
    def context(self) -> Path:
        return self.home / "context"

    @property
    def runtimes(self) -> Path:
        return self.home / "runtimes"

    def ensure(self) -> FleetPaths:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.context.mkdir(exist_ok=True)
        self.runtimes.mkdir(exist_ok=True)
        return self
