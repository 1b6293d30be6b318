"""Several Compose files merged into one, by the Compose Specification's merge rules.

Mappings merge key by key, the later file winning a conflict; sequences append. Except:
`command`, `entrypoint` and `healthcheck.test` are replaced; `ports`, `volumes`, `secrets`,
`configs` and `devices` are unique resources, replaced by a later one of the same key (a
port's address, published port, target and protocol; a volume's or device's target; a secret's
or config's target, else its name); `environment`, `labels`, `extra_hosts`, `sysctls` and
`depends_on`, as lists or maps, merge as maps; `tmpfs`, `dns` and `dns_search`, one or a
list, append what is not there yet. A value tagged `!override` replaces the
earlier one whatever its key; a key tagged `!reset` is removed (`settled` removes the tags left
once every file is merged). tests/test_compose_oracle.py compares the result with Compose's own.
"""

from __future__ import annotations

from typing import Any

from ..reading import Override, Reset

REPLACED = frozenset({"command", "entrypoint"})
AS_MAPS = {"environment": "=", "labels": "=", "extra_hosts": ":", "sysctls": "="}  # and their list form's separator
ONE_OR_MANY = frozenset({"tmpfs", "dns", "dns_search"})


def merge(base: Any, override: Any, where: tuple[str, ...] = ()) -> Any:
    """`override` merged onto `base` (two parsed, interpolated Compose documents)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if isinstance(value, Reset):
                merged.pop(key, None)
            elif isinstance(value, Override) or key not in base:
                merged[key] = value
            else:
                merged[key] = merge(base[key], value, (*where, str(key)))
        return merged
    if len(where) == 3 and where[0] == "services":
        return _service_key(where[2], base, override)
    if where[-2:] == ("healthcheck", "test") or not (isinstance(base, list) and isinstance(override, list)):
        return override
    return base + override


def _service_key(key: str, base: Any, override: Any) -> Any:
    if key in REPLACED:
        return override
    if key in AS_MAPS:
        return {**_as_map(base, AS_MAPS[key]), **_as_map(override, AS_MAPS[key])}
    if key == "depends_on":
        return {**_dependencies(base), **_dependencies(override)}
    if key in ONE_OR_MANY:
        return list(dict.fromkeys(_one_or_many(base) + _one_or_many(override)))
    if key in UNIQUE and isinstance(base, list) and isinstance(override, list):
        identity = UNIQUE[key]
        kept = {identity(item): item for item in base}
        kept.update({identity(item): item for item in override})
        return list(kept.values())
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def _as_map(value: Any, separator: str) -> dict[Any, Any]:
    if isinstance(value, dict):
        return dict(value)
    out: dict[Any, Any] = {}
    for item in value if isinstance(value, list) else []:
        text = str(item)
        key, found, rest = text.partition("=" if "=" in text or separator == "=" else separator)
        out[key] = rest if found else None
    return out


def _one_or_many(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _dependencies(value: Any) -> dict[Any, Any]:
    if isinstance(value, dict):
        return dict(value)
    return {name: {"condition": "service_started"} for name in value} if isinstance(value, list) else {}


def _port_key(item: Any) -> Any:
    if isinstance(item, dict):
        return (item.get("host_ip"), str(item.get("published")), str(item.get("target")), item.get("protocol", "tcp"))
    return str(item)


def _volume_key(item: Any) -> Any:
    if isinstance(item, dict):
        return item.get("target")
    parts = str(item).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _file_key(item: Any) -> Any:
    """A secret's or config's: its target if given, else its name."""
    if isinstance(item, dict):
        return item.get("target") or item.get("source")
    return str(item)


UNIQUE = {
    "ports": _port_key,
    "volumes": _volume_key,
    "devices": _volume_key,
    "secrets": _file_key,
    "configs": _file_key,
}


def settled(value: Any) -> Any:
    """`value` with the `!reset` keys left in it removed and `!override` values unwrapped."""
    if isinstance(value, Override):
        return settled(value.value)
    if isinstance(value, dict):
        return {k: settled(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [settled(v) for v in value if not isinstance(v, Reset)]
    return value
