"""Variables as Docker Compose v2 reads them: `.env` files and `${...}` in Compose files.

Interpolation: `$$` is a literal `$`; `$NAME` and `${NAME}`; `${NAME:-default}` and
`${NAME-default}` (the default itself interpolated, so defaults nest), `${NAME:?error}` and
`${NAME?error}`, `${NAME:+other}` and `${NAME+other}`; a `$` before anything else is itself.
An unterminated or malformed `${` is an error naming the file and the key.

`.env` and `env_file` lines: `KEY=value`, `export KEY=value`, or a bare `KEY` (taken from the
variables given, if set). Unquoted values end at ` #` (a comment) and are trimmed and
interpolated; "double-quoted" ones may span lines, know `\\n \\r \\t \\\\ \\" \\$` and are
interpolated; 'single-quoted' ones are taken as written. Tests compare each rule with Compose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from ..reading import Override, read_text

Lookup = Callable[[str], "str | None"]
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "$": "$"}


class _Invalid(Exception):
    """A malformed `${...}`: the caller names where it was."""


def interpolate(value: Any, lookup: Lookup, path: Path, where: str = "") -> Any:
    """Every string in `value` (a parsed Compose file) interpolated; keys are not."""
    if isinstance(value, dict):
        return {k: interpolate(v, lookup, path, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, lookup, path, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Override):
        return Override(interpolate(value.value, lookup, path, where))
    if not isinstance(value, str):
        return value
    try:
        return substitute(value, lookup, f"{path}: {where}")
    except _Invalid:
        raise ConfigurationError(
            f"{path}: {where}: invalid interpolation (a `${{` unclosed, or not followed by a variable name); "
            "write $$ for a literal $"
        ) from None


def substitute(text: str, lookup: Lookup, where: str) -> str:
    """`text` with its variables replaced. `where` names the key, for a required variable's error."""
    out: list[str] = []
    i = 0
    while i < len(text):
        dollar = text.find("$", i)
        if dollar < 0:
            out.append(text[i:])
            break
        out.append(text[i:dollar])
        following = text[dollar + 1 : dollar + 2]
        if following == "$":
            out.append("$")
            i = dollar + 2
        elif following == "{":
            value, i = _braced(text, dollar + 2, lookup, where)
            out.append(value)
        elif (name := NAME.match(text, dollar + 1)) is not None:
            out.append(lookup(name.group()) or "")
            i = name.end()
        else:
            out.append("$")
            i = dollar + 1
    return "".join(out)


def _braced(text: str, start: int, lookup: Lookup, where: str) -> tuple[str, int]:
    """The value of the `${...}` whose name starts at `start`, and where the text goes on."""
    name = NAME.match(text, start)
    if name is None:
        raise _Invalid
    i = name.end()
    if text.startswith("}", i):
        return lookup(name.group()) or "", i + 1
    operator = next((op for op in _OPERATORS if text.startswith(op, i)), None)
    if operator is None:
        raise _Invalid
    end = _closing(text, i + len(operator))
    argument = text[i + len(operator) : end]
    current = lookup(name.group())
    unset = current is None or (operator.startswith(":") and current == "")
    if operator.endswith("-"):
        return (substitute(argument, lookup, where) if unset else str(current)), end + 1
    if operator.endswith("+"):
        return ("" if unset else substitute(argument, lookup, where)), end + 1
    if unset:
        said = substitute(argument, lookup, where)
        raise ConfigurationError(
            f"{where}: required variable {name.group()} is missing a value" + (f": {said}" if said else "")
        )
    return str(current), end + 1


def _closing(text: str, i: int) -> int:
    """The index of the `}` that closes a `${` whose argument starts at `i` (braces nest)."""
    depth = 0
    while i < len(text):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise _Invalid


def dotenv(path: Path, lookup: Lookup) -> dict[str, str]:
    """A `.env` or `env_file`: each value interpolated with `lookup` first, then the file's own
    earlier values."""
    found: dict[str, str] = {}

    def known(name: str) -> str | None:
        given = lookup(name)
        return given if given is not None else found.get(name)

    text = read_text(path, "env file").replace("\r\n", "\n")
    i, line = 0, 1
    while i < len(text):
        end = text.find("\n", i)
        end = len(text) if end < 0 else end
        statement = text[i:end].strip()
        if not statement or statement.startswith("#"):
            i, line = end + 1, line + 1
            continue
        key, separator, rest = text[i:end].partition("=")
        key = key.strip().removeprefix("export ").strip()
        if not NAME.fullmatch(key):
            # The key only: what follows `=` may be a secret.
            raise ConfigurationError(f"{path}:{line}: {key!r}: expected KEY=VALUE, KEY being a variable name")
        if not separator:
            inherited = lookup(key)
            if inherited is not None:
                found[key] = inherited
            i, line = end + 1, line + 1
            continue
        value_start = text.index("=", i) + 1
        while text[value_start : value_start + 1] in (" ", "\t"):
            value_start += 1
        value, after = _value(text, value_start, path, line)
        if value[1]:
            try:
                found[key] = substitute(value[0], known, f"{path}:{line}: {key}")
            except _Invalid:
                raise ConfigurationError(
                    f"{path}:{line}: {key}: invalid interpolation; write $$ for a literal $"
                ) from None
        else:
            found[key] = value[0]
        line += text.count("\n", i, after) + 1
        i = after + 1
    return found


def _value(text: str, start: int, path: Path, line: int) -> tuple[tuple[str, bool], int]:
    """((the value, whether to interpolate it), the index of the newline that ends it)."""
    quote = text[start : start + 1]
    if quote in ("'", '"'):
        out: list[str] = []
        i = start + 1
        while i < len(text) and text[i] != quote:
            if quote == '"' and text[i] == "\\" and i + 1 < len(text):
                escaped = text[i + 1]
                out.append(_ESCAPES.get(escaped, "\\" + escaped) if escaped != "$" else "$$")
                i += 2
                continue
            out.append(text[i])
            i += 1
        if i >= len(text):
            raise ConfigurationError(f"{path}:{line}: a value opened with {quote} is never closed")
        end = text.find("\n", i)
        return ("".join(out), quote == '"'), len(text) if end < 0 else end
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    value = text[start:end]
    comment = re.search(r"[ \t]#", value)
    if comment is not None:
        value = value[: comment.start()]
    return (value.strip(), True), end


def variables(directory: Path, environment: Mapping[str, str], env_files: Sequence[Path] | None = None) -> Lookup:
    """What `${...}` in a Compose file reads: the environment, over the `.env` beside the file,
    or over `env_files` instead (`--env-file`, each later one over those before), as Compose."""
    values: dict[str, str] = {}
    if env_files is None:
        dotenv_path = directory / ".env"
        values = dotenv(dotenv_path, environment.get) if dotenv_path.is_file() else {}
    for path in env_files or ():
        if not path.is_file():
            raise ConfigurationError(f"--env-file: couldn't find env file {path}")
        values.update(dotenv(path, lambda name: environment.get(name, values.get(name))))
    values.update(environment)
    return values.get
