"""Errors every layer shares: each maps to one HTTP status and one CLI line.

The engine raises them, the server turns them into ``{"error": ...}`` with the
status below, and the client turns that back into the same class, so the CLI,
the TUI and the SDK all show the engine's own one-line reason.
"""

from __future__ import annotations


class FleetError(Exception):
    """An expected failure with a message fit for one line on stderr."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotFound(FleetError):
    """Unknown agent, task, message, run or gate."""

    status_code = 404


class Conflict(FleetError):
    """The request clashes with what exists: a duplicate name, a cycle, a busy agent."""

    status_code = 409


class Invalid(FleetError):
    """A value outside what is allowed (a bad name, an unknown column)."""

    status_code = 422


class Unauthorized(FleetError):
    """A request without the fleet's token."""

    status_code = 401


class EngineUnavailable(FleetError):
    """No engine answers for this FLEETVIEW_HOME and none could be started."""

    status_code = 503


class RuntimeFailure(FleetError):
    """A runtime could not do what was asked (tmux missing, no API key, ...)."""

    status_code = 502


ERRORS_BY_STATUS: dict[int, type[FleetError]] = {
    cls.status_code: cls
    for cls in (NotFound, Conflict, Invalid, Unauthorized, EngineUnavailable, RuntimeFailure)
}


def error_for_status(status: int, message: str) -> FleetError:
    """Rebuild the engine's error class from an HTTP status (client side)."""
    return ERRORS_BY_STATUS.get(status, FleetError)(message)
