"""The SDK's own errors: an agent that failed, and a result that broke its schema.

Both are FleetErrors, so a program (or the runner) can catch every expected
failure of the fleet with one `except FleetError` and print one line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fleetview.errors import FleetError

if TYPE_CHECKING:
    from fleetview.models import ContextResult, Run


class AgentError(FleetError):
    """An agent could not do what it was asked; `reason` is the agent's own words.

    Also raised for SDK misuse that only the fleet can detect: an unknown
    definition, a closed Agent, no runtime to run on.
    """

    status_code = 502

    def __init__(
        self,
        message: str,
        *,
        agent: str | None = None,
        reason: str | None = None,
        run: Run | None = None,
    ) -> None:
        super().__init__(message)
        self.agent = agent
        self.reason = reason if reason is not None else message
        self.run = run


class SchemaError(AgentError):
    """The agent's structured result broke the schema twice (the first answer and one retry).

    `violations` lists what was wrong with the last answer, `result` is that
    answer (its text and data are kept for inspection).
    """

    def __init__(
        self,
        message: str,
        *,
        agent: str | None = None,
        violations: list[str],
        result: ContextResult | None = None,
    ) -> None:
        super().__init__(message, agent=agent, reason="; ".join(violations))
        self.violations = violations
        self.result = result
