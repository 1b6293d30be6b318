"""``OBLAKO_TRACE=1``: every hook call, its arguments, outcome and duration, through `logging`.

The records go to the ``oblako_backends.trace`` logger at DEBUG. Setting the variable also
gives that logger a stderr handler of its own (once), so the lines show without any logging
configuration; an application that configures logging gets them through its handlers too.
Arguments appear as their `repr`, and `ContainerSpec`'s masks environment values.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

log = logging.getLogger(__name__)
_local = threading.local()


def _shorten(value: object, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _to_stderr() -> None:
    """The trace's own stderr handler, added once, writing "oblako trace: ..." lines."""
    if any(getattr(h, "oblako_trace", False) for h in log.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("oblako trace: %(message)s"))
    handler.oblako_trace = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)


def install_tracing(pm: pluggy.PluginManager) -> None:
    """Report hook calls through pluggy's call monitoring (it sees wrappers' effects too)."""
    _to_stderr()

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
        log.debug("%s(%s) %s in %.1f ms", hook_name, args, result, elapsed_ms)

    pm.add_hookcall_monitoring(before, after)
