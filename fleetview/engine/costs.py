"""Prices as data: tokens x USD per million, per model, from a dated table.

The table ships in the package (fleetview/data/prices.json); a user's own
FLEETVIEW_HOME/prices.json, if present, is laid over it. A model missing from
the table is *unpriced*: cost None, never $0.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fleetview.models import Usage

_DATE_SUFFIX = re.compile(r"-(20\d{6}|20\d\d-\d\d-\d\d)$")


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens for one model, and its context window."""

    model: str
    input: float
    output: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    context_window: int | None = None
    long_prompt: dict | None = None
    """A dearer tier for requests whose prompt exceeds `threshold_tokens` (all five
    rates given); applies to every token of such a request, output included."""

    def cost(self, usage: Usage) -> float:
        """USD for one request's usage (a tiered model needs per-request usage)."""
        tier = self.long_prompt
        if tier and usage.prompt_tokens > tier["threshold_tokens"]:
            rates = ModelPrice(
                model=self.model, **{k: v for k, v in tier.items() if k != "threshold_tokens"}
            )
            return rates.cost(usage)
        return (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_write_5m_tokens * self.cache_write_5m
            + usage.cache_write_1h_tokens * self.cache_write_1h
            + usage.cache_read_tokens * self.cache_read
        ) / 1_000_000


class PriceTable:
    """Look up a model's price by id, dated id (claude-x-20250929) or alias."""

    def __init__(self, data: dict) -> None:
        self.taken: str = data.get("taken", "unknown")
        self.aliases: dict[str, str] = dict(data.get("aliases", {}))
        self.prices: dict[str, ModelPrice] = {
            model: ModelPrice(model=model, **values) for model, values in data["models"].items()
        }

    @classmethod
    def load(cls, home: Path | None = None) -> PriceTable:
        data = json.loads(resources.files("fleetview.data").joinpath("prices.json").read_text())
        if home is not None and (home / "prices.json").is_file():
            override = json.loads((home / "prices.json").read_text())
            data["models"].update(override.get("models", {}))
            data["aliases"].update(override.get("aliases", {}))
            data["taken"] = override.get("taken", data["taken"])
        return cls(data)

    def resolve(self, model: str | None) -> str | None:
        """The table's id for a model name, or None if it is not in the table."""
        if not model:
            return None
        name = model.strip()
        name = name.removeprefix("sim:")
        name = self.aliases.get(name, name)
        if name in self.prices:
            return name
        name = name.removesuffix("[1m]")
        undated = _DATE_SUFFIX.sub("", name)
        undated = self.aliases.get(undated, undated)
        if undated in self.prices:
            return undated
        if f"{undated}-0" in self.prices:
            return f"{undated}-0"
        return None

    def price(self, model: str | None) -> ModelPrice | None:
        key = self.resolve(model)
        return self.prices.get(key) if key else None

    def cost(self, model: str | None, usage: Usage) -> float | None:
        """USD for `usage` on `model`, or None when the model is unpriced."""
        price = self.price(model)
        return None if price is None else price.cost(usage)

    def context_window(self, model: str | None) -> int | None:
        price = self.price(model)
        return price.context_window if price else None


@lru_cache(maxsize=1)
def default_prices() -> PriceTable:
    """The packaged table (cached: it never changes at run time)."""
    return PriceTable.load()


def add_cost(total: float | None, cost: float | None) -> float | None:
    """Sum costs where an unpriced part makes the whole unpriced."""
    if total is None or cost is None:
        return None
    return total + cost
