"""The ``oblako-backends`` command: see what is installed, diagnose, and run containers.

Exit codes: 0 success, 1 the operation failed (cause on stderr), 2 bad usage or configuration.
What only some commands need (specs, services files, Compose) is imported inside them, so a
quick command such as `ps` starts as fast as a plain docker-py script (bench/ps.py).
"""

from __future__ import annotations

from .completion import completion_script
from .display import ProgressDisplay
from .parser import COMMANDS, _command_in, build_parser, main

__all__ = ["COMMANDS", "ProgressDisplay", "_command_in", "build_parser", "completion_script", "main"]
