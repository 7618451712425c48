"""The async client of the engine's HTTP API, used by the TUI, the CLI and the SDK.

Importing this package stays light (httpx and the models only): it is on the
start-up path of every command.
"""

from __future__ import annotations

from fleetview.client.http import FleetClient

__all__ = ["FleetClient"]
