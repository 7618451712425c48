"""Schemas for `arun(schema=...)`: three ways to say it, one JSON schema to send.

A program may write the short form ``{"status": "str", "issues": "list"}``,
a JSON schema, or a pydantic model class. All become one JSON object schema
(the engine and every runtime only know JSON schema), and the data an agent
returns is checked against what the program wrote: pydantic models validate
with pydantic itself, everything else with the runtimes' JSON-schema checker.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

SHORT_TYPES: dict[str, str] = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "list": "array",
    "dict": "object",
}
_PY_TYPES: dict[type, str] = {
    str: "str",
    int: "int",
    float: "float",
    bool: "bool",
    list: "list",
    dict: "dict",
}
_JSON_SCHEMA_KEYS = (
    "$schema",
    "$ref",
    "$defs",
    "properties",
    "type",
    "anyOf",
    "oneOf",
    "allOf",
    "items",
    "required",
    "additionalProperties",
)


@dataclass(frozen=True)
class OutputSchema:
    """What a run is asked to return, and how to check what came back."""

    json_schema: dict[str, Any]
    model: type[BaseModel] | None = None

    def violations(self, data: dict[str, Any] | None) -> list[str]:
        """Every way `data` breaks the schema, one line each; empty when it fits."""
        if data is None:
            return ["$: no structured data was returned"]
        if self.model is not None:
            try:
                self.model.model_validate(data)
            except ValidationError as exc:
                return [
                    f"$.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                    if err["loc"]
                    else f"$: {err['msg']}"
                    for err in exc.errors()
                ]
            return []
        from fleetview.runtimes.api_schema import validate

        return validate(data, self.json_schema)


def normalize_schema(schema: Any) -> OutputSchema:
    """The one JSON object schema behind the short form, a JSON schema or a model class.

    Raises TypeError/ValueError (a programming error, not an agent's) for
    something that is none of the three.
    """
    if isinstance(schema, OutputSchema):
        return schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return OutputSchema(_inline_refs(schema.model_json_schema()), model=schema)
    if not isinstance(schema, dict) or not schema:
        raise TypeError(
            "schema must be a dict such as {'status': 'str'}, a JSON schema, "
            f"or a pydantic model class, not {schema!r}"
        )
    if _is_short_form(schema):
        return OutputSchema(_from_short_form(schema))
    if any(key in schema for key in _JSON_SCHEMA_KEYS):
        result = _inline_refs(copy.deepcopy(schema))
        if result.get("type", "object") != "object" and "properties" not in result:
            raise ValueError("a JSON schema for arun() must describe an object (type: object)")
        result.setdefault("type", "object")
        return OutputSchema(result)
    bad = {k: v for k, v in schema.items() if _short_name(v) is None}
    field, value = next(iter(bad.items()))
    raise ValueError(
        f"schema field {field!r} has type {value!r}: use one of "
        f"{'|'.join(SHORT_TYPES)} (or pass a JSON schema / pydantic model)"
    )


def _short_name(value: Any) -> str | None:
    if isinstance(value, str) and value.strip() in SHORT_TYPES:
        return value.strip()
    if isinstance(value, type):
        return _PY_TYPES.get(value)
    return None


def _is_short_form(schema: dict[str, Any]) -> bool:
    return all(isinstance(k, str) and _short_name(v) is not None for k, v in schema.items())


def _from_short_form(schema: dict[str, Any]) -> dict[str, Any]:
    properties = {
        field: {"type": SHORT_TYPES[_short_name(kind) or "str"]} for field, kind in schema.items()
    }
    return {"type": "object", "properties": properties, "required": list(schema)}


def _inline_refs(schema: dict[str, Any], depth: int = 8) -> dict[str, Any]:
    """Replace local `#/$defs/X` refs by their definitions (pydantic nests models that way).

    Runtimes fill and check plain schemas; a recursive model stops at `depth`
    with an untyped object.
    """
    defs = schema.pop("$defs", None) or schema.pop("definitions", None) or {}

    def resolve(node: Any, level: int) -> Any:
        if isinstance(node, list):
            return [resolve(item, level) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
            target = defs.get(ref.rsplit("/", 1)[1])
            if target is None or level >= depth:
                return {"type": "object"}
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return {**resolve(copy.deepcopy(target), level + 1), **extra}
        return {key: resolve(value, level) for key, value in node.items()}

    return resolve(schema, 0)


def retry_prompt(prompt: str, violations: list[str]) -> str:
    """The follow-up that tells the agent exactly what was wrong with its data."""
    listed = "\n".join(f"- {line}" for line in violations[:20])
    return (
        "Your structured result did not match the required schema:\n"
        f"{listed}\n\n"
        "Answer the same request again, returning data that matches the schema exactly.\n"
        f"The request was:\n{prompt}"
    )
