"""The loopback HTTP API over the engine (FastAPI). See app.py."""

from __future__ import annotations

from fleetview.server.app import create_app

__all__ = ["create_app"]
