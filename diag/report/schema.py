"""The JSON Schema (draft 2020-12) of the report document, shipped as `schema.json`.

`ddiag schema` prints it. Saved reports are checked against it before they are rendered
or diffed, with the small validator below: it implements exactly the keywords the schema
uses (`KEYWORDS`), so ddiag needs no schema library at run time. The tests validate with
`jsonschema` as the reference and check that the schema stays within `KEYWORDS`.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

# Keywords that constrain a value, implemented by `validate`.
ASSERTIONS = frozenset(
    {
        "type",
        "const",
        "enum",
        "pattern",
        "minimum",
        "maximum",
        "required",
        "properties",
        "additionalProperties",
        "items",
        "anyOf",
        "$ref",
    }
)
# Keywords that only annotate or hold definitions.
ANNOTATIONS = frozenset({"$schema", "$defs", "title", "description", "format"})
KEYWORDS = ASSERTIONS | ANNOTATIONS
MAX_ERRORS = 5

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def schema_text() -> str:
    """The schema exactly as shipped in the package."""
    return files("diag.report").joinpath("schema.json").read_text(encoding="utf-8")


@cache
def _schema() -> dict[str, Any]:
    return json.loads(schema_text())


def schema() -> dict[str, Any]:
    return json.loads(json.dumps(_schema()))  # a copy: callers may not change the cached one


def _resolve(ref: str) -> dict[str, Any]:
    if not ref.startswith("#/"):
        raise ValueError(f"only local references are supported, not {ref!r}")
    node: Any = _schema()
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _errors(value: Any, rule: dict[str, Any], where: str) -> list[str]:
    if "$ref" in rule:
        referred = _errors(value, _resolve(rule["$ref"]), where)
        if referred:
            return referred
    if "anyOf" in rule and all(_errors(value, option, where) for option in rule["anyOf"]):
        return [f"{where}: {_short(value)} matches none of the allowed forms"]
    if "type" in rule:
        types = [rule["type"]] if isinstance(rule["type"], str) else rule["type"]
        if not any(_TYPES[t](value) for t in types):
            return [f"{where}: expected {' or '.join(types)}, got {_short(value)}"]
    if "const" in rule and not _equal(value, rule["const"]):
        return [f"{where}: must be {_short(rule['const'])}, not {_short(value)}"]
    if "enum" in rule and not any(_equal(value, option) for option in rule["enum"]):
        return [f"{where}: {_short(value)} is not one of {', '.join(map(str, rule['enum']))}"]
    if isinstance(value, str) and "pattern" in rule and not re.search(rule["pattern"], value):
        return [f"{where}: {_short(value)} does not match {rule['pattern']}"]
    if _TYPES["number"](value):
        if "minimum" in rule and value < rule["minimum"]:
            return [f"{where}: {value} is less than {rule['minimum']}"]
        if "maximum" in rule and value > rule["maximum"]:
            return [f"{where}: {value} is more than {rule['maximum']}"]
    found: list[str] = []
    if isinstance(value, dict):
        properties = rule.get("properties", {})
        found += [
            f"{where}: missing {key!r}" for key in rule.get("required", ()) if key not in value
        ]
        for key, item in value.items():
            if key in properties:
                found += _errors(item, properties[key], f"{where}.{key}")
            elif rule.get("additionalProperties", True) is False:
                found.append(f"{where}: unexpected key {key!r}")
    if isinstance(value, list) and "items" in rule:
        for index, item in enumerate(value):
            found += _errors(item, rule["items"], f"{where}[{index}]")
    return found


def validate(doc: Any) -> list[str]:
    """What makes `doc` invalid against the schema, as `$.path: problem` lines (empty: valid)."""
    return _errors(doc, _schema(), "$")[:MAX_ERRORS]
