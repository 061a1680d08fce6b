"""The JSON Schema of a scenario file, generated from the pydantic models, for editors and validators.

It describes the YAML a person writes, which is more than a resolved :class:`Scenario`:

- durations may be written ``90m``, ``72h``, ``3d`` or as a number of minutes;
- the loader merges a file over the defaults, so a block that has a default
  (``users.sessions_per_day``, ``engagement.skip``, ``creators.video_length``) may give only
  the keys it changes, while a list (``ladder``, ``featured``) replaces the default whole;
- a list of named entries (``featured``, ``users.regions``, ``users.devices``) may instead be
  a map from a name to that entry's changes, ``featured: {my_channel: {hook: 0.7}}``, as in
  a file that ``extends:`` another;
- the top level also takes ``extends:`` and the ``sweep:`` block.

A value the loader would refuse outright (a wrong type, an unknown key, a number out of
range, a gate without its ``type``) is refused here too. Checks across keys (shares summing
to 1, a ladder that grows, niche topics from ``topics``) are the loader's alone:
``tiktok-sim validate`` is the full check.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from tiktok_sim.scenario.durations import format_duration, parse_duration
from tiktok_sim.scenario.schema import Scenario
from tiktok_sim.scenario.sweep import SWEEP_KEY, SweepBlock

DIALECT = "http://json-schema.org/draft-07/schema#"
"""Draft 7: the newest that VS Code's YAML extension (and most editors) validate against."""
REF = "#/definitions/{model}"
DURATION_TEXT: dict[str, Any] = {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*[smhd]\s*$"}
"""A duration as text (see :func:`~tiktok_sim.scenario.durations.parse_duration`)."""
_BOUNDS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}
"""pydantic writes a bound it checks after a validator under its own name: these are JSON Schema's."""
_PATCH = "Changes"
"""Suffix of the definition of a block given as changes to a default (no key is required)."""


class _Generator(GenerateJsonSchema):
    """pydantic's generator, but a duration is a number of minutes or a text such as ``72h``."""

    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        """The validated value's schema; a duration also takes its text form."""
        inner = super().function_before_schema(schema)
        if schema["function"].get("function") is parse_duration:
            return {"anyOf": [inner, dict(DURATION_TEXT)]}
        return inner


def scenario_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 7) of a scenario file, as a JSON object."""
    strict = Scenario.model_json_schema(ref_template=REF, schema_generator=_Generator)
    sweep = SweepBlock.model_json_schema(ref_template=REF, schema_generator=_Generator)
    defs: dict[str, Any] = strict.pop("$defs")
    clashes = set(defs) & set(sweep.get("$defs", {}))
    if clashes:  # a renamed model would silently validate against the other's definition
        raise ValueError(f"scenario and sweep: block define the same models: {sorted(clashes)}")
    defs |= sweep.pop("$defs", {})
    for node in _schemas(*defs.values(), strict, sweep):
        _tidy(node)
    for node in _schemas(*defs.values(), strict):
        _tag_required(node, defs)
    _Patcher(defs).over(strict, Scenario().model_dump(mode="json"), "Scenario")
    top = defs.pop(f"Scenario{_PATCH}")  # the file itself is changes to the defaults
    top["properties"] = {
        "extends": {"type": "string", "minLength": 1,
                    "description": "a scenario file this one changes, relative to this file, in its folder or below"},
        **top["properties"],
        SWEEP_KEY: {**sweep, "description": "what `tiktok-sim sweep FILE` varies; not part of the scenario"},
    }  # fmt: skip
    return {
        "$schema": DIALECT,
        "title": "tiktok-sim scenario",
        "description": "A tiktok-sim scenario file: it lists only what it changes; every other key takes its default.",
        **{k: v for k, v in top.items() if k not in ("title", "description")},
        "definitions": _used(top, defs),
    }


def schema_json() -> str:
    """:func:`scenario_json_schema` as indented JSON text, ending with a newline."""
    return json.dumps(scenario_json_schema(), indent=2) + "\n"


_BY_KEY = ("properties", "$defs", "definitions")
"""Keywords whose value maps names to schemas."""
_ONE = ("items", "additionalProperties", "propertyNames")
_MANY = ("anyOf", "oneOf", "allOf", "prefixItems", "items")


def _schemas(*roots: dict[str, Any]) -> list[dict[str, Any]]:
    """Every schema inside ``roots`` (themselves included), never a value such as a ``default``."""
    found, stack = [], list(roots)
    while stack:
        node = stack.pop()
        found.append(node)
        stack += [s for key in _BY_KEY for s in node.get(key, {}).values()]
        stack += [node[key] for key in _ONE if isinstance(node.get(key), dict)]
        stack += [s for key in _MANY if isinstance(node.get(key), list) for s in node[key]]
    return found


def _used(top: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """The definitions ``top`` refers to, directly or through others, by name."""
    used: set[str] = set()
    stack = [top]
    while stack:
        for node in _schemas(stack.pop()):
            name = _ref_name(node)
            if name is not None and name not in used:
                used.add(name)
                stack.append(defs[name])
    return {name: defs[name] for name in sorted(used)}


def _tidy(node: dict[str, Any]) -> None:
    """Draft 7: bounds under their keywords, tuples as lists of ``items``, no OpenAPI ``discriminator``.

    A duration's default is shown as text, as a scenario would write it.
    """
    node.pop("discriminator", None)
    if "prefixItems" in node:
        node["items"] = node.pop("prefixItems")
    bounds = {_BOUNDS[k]: node.pop(k) for k in list(node) if k in _BOUNDS}
    branches = node.get("anyOf") or []
    durations = [b for b in branches if b.get("type") == "string" and b.get("pattern") == DURATION_TEXT["pattern"]]
    target = next((b for b in branches if b.get("type") == "number"), node) if durations else node
    target.update(bounds)
    if durations and isinstance(node.get("default"), int | float):
        node["default"] = format_duration(float(node["default"]))


def _tag_required(node: dict[str, Any], defs: dict[str, Any]) -> None:
    """A member of a tagged union must name its ``type`` (pydantic cannot pick one otherwise)."""
    for branch in node.get("oneOf", []):
        member = defs.get(_ref_name(branch) or "")
        if member is not None and "type" in member.get("properties", {}):
            member["required"] = ["type", *(k for k in member.get("required", []) if k != "type")]


def _ref_name(node: Any) -> str | None:
    """The definition a ``{"$ref": "#/definitions/Name"}`` node points to."""
    ref = node.get("$ref") if isinstance(node, dict) else None
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


class _Patcher:
    """Loosens a strict schema to what the loader accepts when it merges a value over a default."""

    def __init__(self, defs: dict[str, Any]) -> None:
        self.defs = defs

    def over(self, node: dict[str, Any], default: Any, name: str | None = None) -> dict[str, Any]:
        """The schema of a value written where the loader merges it over ``default``.

        A block over a default block may give any of its keys; a tagged union takes changes to
        the default's member; a list of named entries takes a map of changes by name. Anything
        else replaces the default and must be whole.
        """
        ref = _ref_name(node)
        target = self.defs[ref] if ref else node
        annotations = {k: v for k, v in node.items() if k in ("description", "default", "title")}
        if isinstance(default, dict) and "properties" in target:
            return {**annotations, **self._changes(ref or name or "Block", target, default)}
        if isinstance(default, dict) and "oneOf" in target:
            member = next((m for m in target["oneOf"] if self._tag(m) == default.get("type")), None)
            if member is not None:
                strict = {k: v for k, v in target.items() if k not in annotations}
                return {**annotations, "anyOf": [strict, self.over(member, default)]}
        item = self.defs.get(_ref_name(node.get("items")) or "")
        if node.get("type") == "array" and item is not None and "name" in item.get("properties", {}):
            by_name = {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": self.over(node["items"], {}),
                "description": "changes to entries of the list by their name (in a file that extends another)",
            }
            return {**annotations, "anyOf": [{k: v for k, v in node.items() if k not in annotations}, by_name]}
        return node

    def _tag(self, member: dict[str, Any]) -> Any:
        """The ``type`` a tagged union's member takes."""
        definition = self.defs.get(_ref_name(member) or "", member)
        return definition.get("properties", {}).get("type", {}).get("const")

    def _changes(self, name: str, target: dict[str, Any], default: dict[str, Any]) -> dict[str, Any]:
        """A reference to the definition of ``target`` with no key required, each key loosened in turn."""
        patched = f"{name}{_PATCH}"
        if patched not in self.defs:
            self.defs[patched] = {}  # claimed first: a model that contains itself stops here
            loose = copy.deepcopy({k: v for k, v in target.items() if k != "required"})
            loose["title"] = f"{target.get('title', name)} (changes)"
            props = loose.get("properties", {})
            for key, value in props.items():
                props[key] = self.over(value, default.get(key))
            self.defs[patched] = loose
        return {"$ref": REF.format(model=patched)}
