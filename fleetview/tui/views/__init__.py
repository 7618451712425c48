"""The four views of the main screen, one module each."""

from __future__ import annotations

from fleetview.tui.views.agents import AgentsView
from fleetview.tui.views.base import FleetView, status_text
from fleetview.tui.views.board import BoardView
from fleetview.tui.views.inbox import InboxView
from fleetview.tui.views.meters import MetersView

__all__ = ["AgentsView", "BoardView", "FleetView", "InboxView", "MetersView", "status_text"]
