"""Test support for oblako-backends and for backend authors: the in-memory reference backend."""

from .memory import MemoryPlugin

__all__ = ["MemoryPlugin"]
