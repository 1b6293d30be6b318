"""Plain YAML scalars typed as Docker Compose v2 types them, and written back as it writes them.

Compose reads YAML with Go's yaml.v3, which follows YAML 1.2's core schema with Go's number
syntax: `no`, `on` and `yes` stay text, `22:22` is text (YAML 1.1 read it as 1342, base 60),
`017` is octal, `1_000` is 1000, `1e3` is a number. Where a string is wanted (environment,
labels), Compose writes a number as Go's shortest `%g` does: 1000 for 1e3, `+Inf`, `NaN`. PyYAML
implements YAML 1.1, so the loader uses these rules instead (reading.py), and
tests/test_compose_oracle.py compares both with Compose itself.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

BOOL = r"^(?:true|True|TRUE|false|False|FALSE)$"
NULL = r"^(?:~|null|Null|NULL|)$"
NUMBER = r"^[-+]?[0-9.]"  # what Go's yaml.v3 tries as a number; `number` says whether it is one
NUMBER_TAG = "tag:oblako-backends,2026:number"  # the loader's own tag for those: `number` decides
_GO_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_INF = re.compile(r"[-+]?\.(?:inf|Inf|INF)")
_NAN = re.compile(r"\.(?:nan|NaN|NAN)")
_BASES = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}
_DIGITS = {16: "0123456789abcdefABCDEF", 10: "0123456789", 8: "01234567", 2: "01"}
INT64 = range(-(2**63), 2**63)
UINT64 = range(0, 2**64)


def number(text: str) -> int | float | str:
    """A plain scalar that starts like a number, as yaml.v3 resolves it: an int (Go's base
    prefixes and leading-0 octal; `_` ignored), else a float, else the text itself."""
    if _INF.fullmatch(text):
        return -math.inf if text.startswith("-") else math.inf
    if _NAN.fullmatch(text):
        return math.nan
    plain = text.replace("_", "")
    whole = _go_int(plain)
    if whole is not None and (whole in INT64 or whole in UINT64):
        return whole
    if _GO_FLOAT.fullmatch(plain):
        value = float(plain)
        return value if not math.isinf(value) else text  # Go refuses what overflows: it stays text
    return text


def _go_int(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 0, ...) without the range check: sign, then 0x/0o/0b or a
    leading 0 (octal), else decimal."""
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    base = _BASES.get(digits[:2], 0)
    if base:
        digits = digits[2:]
    elif len(digits) > 1 and digits.startswith("0"):
        base, digits = 8, digits[1:]
    else:
        base = 10
    if not digits or any(c not in _DIGITS[base] for c in digits):
        return None
    return sign * int(digits, base)


def go_bool(value: object) -> bool:
    """A boolean key as Compose reads it once interpolated: YAML's true, or text Go's
    strconv.ParseBool reads as true (`1`, `t`, `true`, `TRUE`, ...); "false" stays false."""
    if isinstance(value, bool):
        return value
    return isinstance(value, (str, int)) and str(value) in ("1", "t", "T", "true", "True", "TRUE")


def text(value: object) -> str:
    """A scalar as Compose writes it where text is wanted: true/false, integers as they are,
    floats as Go's shortest `%g` (an exponent below 1e-4 and from 1e6: 1e+06), +Inf, NaN."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0" if math.copysign(1, value) > 0 else "-0"
    shortest = Decimal(repr(value))
    exponent = shortest.adjusted()
    if -4 <= exponent < 6:  # strconv.FormatFloat(f, 'g', -1, 64): shortest digits, %e outside this
        fixed = format(shortest, "f")
        return fixed.rstrip("0").rstrip(".") if "." in fixed else fixed
    sign, digits, _ = shortest.normalize().as_tuple()
    mantissa = str(digits[0]) + ("." + "".join(map(str, digits[1:])) if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if exponent >= 0 else '-'}{abs(exponent):02d}"
