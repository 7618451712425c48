"""Scout -> plan -> build: look around, decide the steps, build them in parallel.

    python examples/scout_plan_build.py --runtime sim

A scout surveys the codebase, a planner turns that into a list of steps (a
schema makes it data the program can loop over), and one builder per step
works in parallel, spawned under the planner so the TUI shows them as its
children. A final check reports whether everything passes.
"""

from __future__ import annotations

import asyncio
import sys

from _common import run_example

from fleetview import Agent

DEFAULT_STEPS = ["write the data model", "add the endpoint", "add tests"]


async def main(runtime: str | None, speed: float, goal: str) -> None:
    config = {"speed": speed} if runtime == "sim" else None
    scout = Agent(
        "scout",
        prompt="You explore codebases and report structure and risks.",
        runtime=runtime,
        config=config,
    )
    planner = Agent(
        "planner",
        prompt="You turn findings into small, ordered build steps.",
        runtime=runtime,
        config=config,
    )

    found = await scout.arun(f"Survey the codebase for the goal: {goal}")
    print(f"scout: {found.summary}")

    plan = await planner.arun(
        f"Plan the work for: {goal}. Give 2-5 independent steps.",
        context=[found],
        schema={"steps": "list", "risk": "str"},
    )
    steps = [str(s) for s in plan["steps"] if str(s).strip()]
    if len(steps) < 2:  # a simulated planner invents its list; keep the demo meaningful
        steps = steps + DEFAULT_STEPS[len(steps) :]
    print(f"plan: {len(steps)} steps (risk: {plan['risk']})")

    builders = [planner.spawn("builder", prompt=f"You build exactly one step: {s}") for s in steps]
    results = await asyncio.gather(
        *(
            builder.arun(f"Build this step: {step}", context=[found, plan])
            for builder, step in zip(builders, steps, strict=True)
        )
    )
    for builder, step, result in zip(builders, steps, results, strict=True):
        print(f"build: {builder.fleet_name} ({step}): {result.summary}")

    check = await scout.arun(
        "Check that everything builds and the tests pass.",
        context=results,
        schema={"passing": "bool", "failures": "int"},
    )
    print(f"check: passing={check['passing']} failures={check['failures']}")
    await planner.aclose()  # closes its builders first
    await scout.aclose()


def cli() -> int:
    return run_example(main, __doc__, ("goal", "a CSV export of the orders table"))


if __name__ == "__main__":
    sys.exit(cli())
