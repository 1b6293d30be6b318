"""oblako-backend-apple: oblako's containers on Apple's `container` CLI (macOS 26+).

There is no Docker API and no Python SDK: every operation is one `container` command, an
argv list with a deadline.
"""

from .plugin import ApplePlugin

__all__ = ["ApplePlugin"]
