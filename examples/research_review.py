"""Parallel research, then implement, then a review/fix loop (at most 3 rounds).

    python examples/research_review.py --runtime sim     # offline, simulated agents
    python examples/research_review.py                   # real agents (ANTHROPIC_API_KEY)

Two copies of one researcher definition work in parallel (they become
`researcher` and `researcher-2` in the fleet), an implementer builds on both
results, and a separate reviewer judges with a schema until it approves.
Watch it live with `fleetview` in another terminal.
"""

from __future__ import annotations

import asyncio
import sys

from _common import run_example

from fleetview import Agent

RESEARCHER = "You research software questions and report findings as short bullet lists."
IMPLEMENTER = "You are a careful Python developer. Make small, tested changes."
REVIEWER = "You review code changes strictly: correctness first, then tests, then style."


async def main(runtime: str | None, speed: float, topic: str) -> None:
    config = {"speed": speed} if runtime == "sim" else None
    first = Agent("researcher", prompt=RESEARCHER, runtime=runtime, config=config)
    second = Agent("researcher", prompt=RESEARCHER, runtime=runtime, config=config)
    dev = Agent("implementer", prompt=IMPLEMENTER, runtime=runtime, config=config)
    reviewer = Agent("reviewer", prompt=REVIEWER, runtime=runtime, config=config)

    print(f"research: two researchers in parallel on {topic!r}")
    r1, r2 = await asyncio.gather(
        first.arun(f"Survey existing libraries for: {topic}"),
        second.arun(f"Survey published approaches and their trade-offs for: {topic}"),
    )
    print(f"  {first.fleet_name}: {r1.summary}")
    print(f"  {second.fleet_name}: {r2.summary}")

    impl = await dev.arun(f"Implement {topic}, choosing the best approach found.", context=[r1, r2])
    print(f"implement: {dev.fleet_name}: {impl.summary} ({impl.file})")

    approved = False
    for round_no in range(1, 4):
        review = await reviewer.arun(
            "Review this implementation. Approve it only if it is correct and tested.",
            context=[impl],
            schema={"approved": "bool", "issues": "list"},
        )
        issues = [str(i) for i in review["issues"]]
        print(f"review round {round_no}: approved={review['approved']} issues={len(issues)}")
        if review["approved"]:
            approved = True
            break
        if round_no < 3:
            listed = "\n".join(f"- {i}" for i in issues) or "- (no details given)"
            impl = await dev.arun(f"Fix these review issues:\n{listed}", context=[review])
            print(f"  fix: {impl.summary}")

    print("done:", "approved" if approved else "not approved after 3 rounds")
    for agent in (first, second, dev, reviewer):
        await agent.aclose()


def cli() -> int:
    return run_example(main, __doc__, ("topic", "rate limiting for the public API"))


if __name__ == "__main__":
    sys.exit(cli())
