"""oblako-backend-example: a third-party backend, written the way docs/writing-a-backend.md says.

It drives a Docker Engine through the `docker` command line (argv lists, a deadline on every
call) instead of the Engine API, so it shares no code with the first-party docker backend.
"""

from .plugin import ExamplePlugin

__all__ = ["ExamplePlugin"]
