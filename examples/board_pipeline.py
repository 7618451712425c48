"""Plan -> build -> review -> ship over a list of tasks that move across the board.

    python examples/board_pipeline.py --runtime sim

Each task becomes a card (`fleetview task list`, or the TUI's board). A
planner writes the plan, a builder per task builds it (the builders run in
parallel), a reviewer checks it with a schema (one fix allowed), and a
shipper ships it; the card moves plan -> build -> review -> ship -> done, and
each run is booked to the card so its cost rolls up.
"""

from __future__ import annotations

import asyncio
import sys

from _common import run_example

from fleetview import Agent
from fleetview.client import FleetClient
from fleetview.models import TaskSpec

TASKS = [
    "Add a /healthz endpoint",
    "Paginate GET /v1/items",
    "Log request ids on every error",
]


async def pipeline(
    client: FleetClient,
    title: str,
    planner: Agent,
    reviewer: Agent,
    shipper: Agent,
    runtime: str | None,
    config: dict | None,
) -> str:
    task = await client.add_task(TaskSpec(title=title, column="plan"))
    print(f"#{task.id} {title}: plan")
    plan = await planner.arun(f"Write a short plan for: {title}", task=task.id)

    await client.move_task(task.id, "build")
    builder = Agent(
        "builder", prompt="You implement plans exactly, with tests.", runtime=runtime, config=config
    )
    build = await builder.arun(f"Implement: {title}", context=[plan], task=task.id)
    print(f"#{task.id} {title}: built by {builder.fleet_name}")

    await client.move_task(task.id, "review")
    review = await reviewer.arun(
        f"Review the change for: {title}",
        context=[plan, build],
        schema={"approved": "bool", "feedback": "str"},
        task=task.id,
    )
    if not review["approved"]:
        print(f"#{task.id} {title}: review asked for a fix")
        build = await builder.arun(f"Fix: {review['feedback']}", context=[review], task=task.id)
    await builder.aclose()

    await client.move_task(task.id, "ship")
    await shipper.arun(f"Ship: {title}", context=[build], task=task.id)
    final = await client.move_task(task.id, "done")
    print(f"#{task.id} {title}: shipped (column {final.column}, status {final.status})")
    return final.column


async def main(runtime: str | None, speed: float) -> None:
    config = {"speed": speed} if runtime == "sim" else None
    planner = Agent(
        "planner", prompt="You plan small changes in 3-5 steps.", runtime=runtime, config=config
    )
    reviewer = Agent(
        "reviewer", prompt="You review changes strictly.", runtime=runtime, config=config
    )
    shipper = Agent(
        "shipper", prompt="You merge and release approved changes.", runtime=runtime, config=config
    )
    client = await FleetClient.connect()
    try:
        columns = await asyncio.gather(
            *(
                pipeline(client, title, planner, reviewer, shipper, runtime, config)
                for title in TASKS
            )
        )
        print(f"board: {columns.count('done')} of {len(TASKS)} tasks done")
        for task in await client.list_tasks():
            if task.title in TASKS:
                cost = "unpriced" if task.cost_usd is None else f"${task.cost_usd:.4f}"
                print(f"  #{task.id} [{task.column}] {task.title} ({cost})")
    finally:
        for agent in (planner, reviewer, shipper):
            await agent.aclose()
        await client.aclose()


def cli() -> int:
    return run_example(main, __doc__)


if __name__ == "__main__":
    sys.exit(cli())
