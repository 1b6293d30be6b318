"""Compose files checked against the Compose Specification's JSON schema, the one Docker Compose
v2.40 checks them with (compose-spec.json, vendored: see compose-spec.README.md).

As Compose does, each file is checked once interpolated. A refusal names the file, the line and
the path of the offending key (`services.web.ports[0]`) and says what is wrong with it, never
the value itself: values may be secrets. Of several faults, the most specific is told (the
deepest, as Compose picks it). A file is first checked by `conforms`, which knows the few
rules this schema uses and says only yes or no; jsonschema (slow to import: a tenth of a second
in every command) is imported only to explain a refusal.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..reading import Lines, Override, Reset

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

SCHEMA = "compose-spec.json"
_TYPES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer"}
_TYPES |= {"number": "a number", "boolean": "a boolean", "null": "null"}
_WHOSE = {"services": "a Compose service", "networks": "a network", "volumes": "a volume"}
_WHOSE |= {"secrets": "a secret", "configs": "a config", "models": "a model"}


@functools.cache
def schema() -> dict[str, Any]:
    """The vendored schema, parsed."""
    parsed: dict[str, Any] = json.loads(resources.files(__package__).joinpath(SCHEMA).read_text("utf-8"))
    return parsed


def service_keys() -> frozenset[str]:
    """Every key a Compose service may have (besides `x-` extensions)."""
    return frozenset(schema()["definitions"]["service"]["properties"])


def top_level_keys() -> frozenset[str]:
    """Every top-level key of a Compose file (besides `x-` extensions)."""
    return frozenset(schema()["properties"])


@functools.cache
def _validator() -> Validator:
    from jsonschema import Draft7Validator

    return Draft7Validator(schema())


def check(file: Path, data: Any, lines: Lines) -> None:
    """Refuse `data` (a Compose file, interpolated) if the schema does, naming where and why."""
    plain = _plain(data)
    if conforms(plain):
        return
    worst: ValidationError | None = None
    for error in _validator().iter_errors(plain):
        error = _most_specific(error)
        if worst is None or _specificity(error) > _specificity(worst):
            worst = error
    if worst is not None:
        path, what = _explain(worst)
        line = lines.line(path)
        raise ConfigurationError(f"{file}{f':{line}' if line else ''}: {dotted(path) or '(top level)'}: {what}")


# The JSON Schema (draft 7) rules `conforms` applies, and the words that only describe.
_RULES = frozenset(
    {"type", "$ref", "properties", "patternProperties", "additionalProperties", "items", "oneOf", "uniqueItems"}
) | {"required", "enum", "minimum", "maximum", "pattern"}
_NOTES = frozenset({"description", "deprecated", "default", "$schema", "$id", "title", "definitions"})


class _Unknown(Exception):
    """A rule `conforms` does not apply: jsonschema decides."""


def conforms(document: Any) -> bool:
    """Does `document` (as `_plain` makes it) satisfy the vendored schema? Exactly what
    jsonschema's Draft7Validator answers, for the rules this schema uses; a rule it does not
    know leaves the answer to jsonschema."""
    try:
        return _conforms(document, schema())
    except _Unknown:
        return _validator().is_valid(document)


def _conforms(value: Any, rules: Any) -> bool:
    if rules is True or rules == {}:
        return True
    if rules is False:
        return False
    if "$ref" in rules:  # draft 7: a $ref's siblings are ignored
        ref = str(rules["$ref"])
        if not ref.startswith("#/definitions/"):
            raise _Unknown(ref)
        return _conforms(value, schema()["definitions"][ref.removeprefix("#/definitions/")])
    unknown = rules.keys() - _RULES - _NOTES
    if unknown:
        raise _Unknown(", ".join(sorted(unknown)))
    if "type" in rules:
        kinds = rules["type"]
        if not any(_is(value, kind) for kind in ([kinds] if isinstance(kinds, str) else kinds)):
            return False
    if "enum" in rules and not any(_same(value, each) for each in rules["enum"]):
        return False
    if isinstance(value, dict) and not _mapping_conforms(value, rules):
        return False
    if isinstance(value, list):
        if "items" in rules:
            if not isinstance(rules["items"], dict):
                raise _Unknown("items as a list")
            if not all(_conforms(item, rules["items"]) for item in value):
                return False
        if rules.get("uniqueItems") and any(_same(a, b) for i, a in enumerate(value) for b in value[i + 1 :]):
            return False
    if _is(value, "number"):
        if "minimum" in rules and value < rules["minimum"]:
            return False
        if "maximum" in rules and value > rules["maximum"]:
            return False
    if isinstance(value, str) and "pattern" in rules and not re.search(rules["pattern"], value):
        return False
    return "oneOf" not in rules or sum(_conforms(value, each) for each in rules["oneOf"]) == 1


def _mapping_conforms(value: dict[str, Any], rules: dict[str, Any]) -> bool:
    if any(key not in value for key in rules.get("required", ())):
        return False
    known: dict[str, Any] = rules.get("properties", {})
    patterns: dict[str, Any] = rules.get("patternProperties", {})
    extra = rules.get("additionalProperties", True)
    for key, item in value.items():
        matched = False
        if key in known:
            matched = True
            if not _conforms(item, known[key]):
                return False
        for pattern, each in patterns.items():
            if re.search(pattern, key):
                matched = True
                if not _conforms(item, each):
                    return False
        if not matched and not _conforms(item, extra):
            return False
    return True


def _is(value: Any, kind: str) -> bool:
    """JSON Schema's types of a parsed value (a bool is no number; 1.0 is an integer)."""
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    kinds: dict[str, Any] = {"string": str, "object": dict, "array": list, "boolean": bool, "null": type(None)}
    if kind not in kinds:
        raise _Unknown(f"type {kind}")
    return isinstance(value, kinds[kind])


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, and lists and mappings are equal item by item; one object
    is itself (as jsonschema holds: a NaN a YAML alias lists twice is a duplicate)."""
    if a is b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False  # one a mapping or list, the other not
    return bool(a == b)


def dotted(path: Sequence[str | int]) -> str:
    """A path as errors write it: `services.web.ports[0]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _plain(value: Any) -> Any:
    """The document as Compose validates it: `!reset` values gone, `!override` ones as given,
    keys as strings."""
    if isinstance(value, Override):
        return _plain(value.value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [_plain(v) for v in value if not isinstance(v, Reset)]
    return value


def _most_specific(error: ValidationError) -> ValidationError:
    """Of an error and the errors under it (each alternative of a oneOf), the deepest."""
    best = error
    for cause in error.context or ():
        cause = _most_specific(cause)
        if best is error or _specificity(cause) > _specificity(best):
            best = cause
    return best


def _specificity(error: ValidationError) -> tuple[int, bool]:
    """Deeper is more specific (a key that should not be there, deeper than its mapping); at one
    depth, a fault within a form the value has beats one saying it should have another form."""
    return len(error.absolute_path) + (1 if error.validator == "additionalProperties" else 0), error.validator != "type"


def _explain(error: ValidationError) -> tuple[list[str | int], str]:
    """The path an error is about, and what is wrong there, in words that never quote the value."""
    path: list[str | int] = list(error.absolute_path)
    rule, instance = error.validator, error.instance
    wanted: Any = error.validator_value
    rules: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
    if rule == "additionalProperties" and isinstance(instance, dict):
        known = rules.get("properties", {})
        extra = [k for k in instance if k not in known and not _matches(rules, k)]
        if extra:
            key = extra[0]
            if not known:  # a map of names (services, volumes...), not of keys
                rule = " or ".join(rules.get("patternProperties", {}))
                return [*path, key], f"not a name allowed here (it must match {rule})"
            near = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            whose = _WHOSE.get(str(path[0])) if len(path) == 2 else None
            where = f"a key of {whose}" if whose else "a key of a Compose file" if not path else "a key here"
            return [*path, key], f"not {where}{hint}"
    if rule == "type":
        kinds: list[str] = []
        for each in error.parent.context or () if error.parent is not None else (error,):  # a oneOf's forms
            if each.validator == "type" and each.absolute_path == error.absolute_path:
                said: Any = each.validator_value
                kinds += [k for k in ([said] if isinstance(said, str) else said) if k not in kinds]
        said = [_TYPES.get(k, k) for k in kinds]
        return path, "must be " + (f"{', '.join(said[:-1])} or {said[-1]}" if len(said) > 1 else said[0])
    if rule == "enum":
        return path, "must be one of " + ", ".join(json.dumps(v) for v in wanted)
    if rule == "const":
        return path, f"must be {json.dumps(wanted)}"
    if rule == "required" and isinstance(instance, dict):
        missing = [k for k in wanted if k not in instance]
        return path, f"needs `{missing[0] if missing else wanted[0]}`"
    if rule in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[rule]
        return path, f"must be {sign} {wanted}"
    if rule == "pattern":
        return path, f"must match {wanted}"
    if rule in ("minItems", "maxItems"):
        return path, f"must have {'at least' if rule == 'minItems' else 'at most'} {wanted} items"
    if rule in ("minProperties", "maxProperties"):
        return path, f"must have {'at least' if rule == 'minProperties' else 'at most'} {wanted} keys"
    if rule == "uniqueItems":
        return path, "must not list an item twice"
    if rule == "oneOf":
        return path, "matches more than one of the forms allowed here; give only one"
    if rule == "not":
        return path, "is not allowed in this form here"
    if rule == "dependencies":
        return path, "needs other keys with it: " + ", ".join(
            f"{k} needs {', '.join(v) if isinstance(v, list) else 'a condition'}" for k, v in wanted.items()
        )
    return path, f"is not valid here (the Compose Specification's `{rule}` rule)"


def _matches(schema: dict[str, Any], key: str) -> bool:
    return any(re.search(pattern, key) for pattern in schema.get("patternProperties", {}))
