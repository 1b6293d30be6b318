"""``OBLAKO_TRACE=1``: print every hook call, its arguments, outcome and duration to stderr."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

_local = threading.local()


def _shorten(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def install_tracing(pm: pluggy.PluginManager) -> None:
    """Report hook calls through pluggy's call monitoring (it sees wrappers' effects too)."""

    def before(hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        stack = getattr(_local, "stack", None)
        if stack is None:
            stack = _local.stack = []
        stack.append(time.perf_counter())

    def after(outcome: Any, hook_name: str, impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        elapsed_ms = (time.perf_counter() - _local.stack.pop()) * 1000
        args = ", ".join(f"{k}={_shorten(v)}" for k, v in kwargs.items())
        exc = outcome.exception
        result = f"raised {type(exc).__name__}: {exc}" if exc else f"-> {_shorten(outcome.get_result())}"
        print(f"oblako trace: {hook_name}({args}) {result} in {elapsed_ms:.1f} ms", file=sys.stderr)

    pm.add_hookcall_monitoring(before, after)
