"""Reading a user's file within bounds: its size, how deep it nests and, for YAML, how far its
aliases expand. A hostile or broken file is refused in bounded time and memory, with an error
naming the file, instead of exhausting either (a 656-byte alias bomb once grew past 2.9 GB).

Compose v2 refuses the same documents: duplicate keys, excessive aliasing, excessive depth.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    import yaml

MAX_BYTES = 4 * 1024 * 1024  # a large real Compose file is ~100 KB
MAX_DEPTH = 100  # nesting levels, counted through aliases; real files use fewer than 15
MAX_VALUES = 200_000  # values aliases may add, expanded, beyond the file's own (a 656-byte bomb: 3.4e9)


@dataclass(frozen=True)
class Override:
    """A value tagged `!override`: it replaces what earlier files (or an extended service) say
    of its key, instead of merging with it (project/merge.py)."""

    value: Any


@dataclass(frozen=True)
class Reset:
    """A value tagged `!reset`: its key is removed from what earlier files (or an extended
    service) say, and from the file itself (project/merge.py)."""


RESET = Reset()


def read_text(path: Path, what: str) -> str:
    """The file's text, refused if it is larger than MAX_BYTES or not UTF-8."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError(f"can't read the {what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise ConfigurationError(f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MiB; a {what} is never that big")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def load_yaml(path: Path, text: str) -> Any:
    """One YAML document, read safely (no Python tags), refused if a mapping repeats a key,
    or if it nests deeper than MAX_DEPTH or expands to more than MAX_VALUES values."""
    return load_yaml_lines(path, text)[0]


def load_yaml_lines(path: Path, text: str) -> tuple[Any, Lines]:
    """load_yaml's document, and where its keys and items are (Lines)."""
    import yaml

    loader = _bounded_loader()(text, path)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Lines(None)
        _check_expansion(path, node)
        return loader.construct_document(node), Lines(node)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path} is not valid YAML: {exc}") from None
    finally:
        loader.dispose()


class Lines:
    """The lines of a YAML document's keys and items, by path (keys, and indexes in lists), as
    the document reads once constructed: a `<<` merge's keys are where the merged mapping
    writes them. Found on demand, so a document whose lines are never asked costs nothing."""

    def __init__(self, root: Any) -> None:
        self._root = root
        self._index: dict[int, dict[str, tuple[int, Any]]] = {}  # id(mapping node) -> key -> (line, value)

    def find(self, path: Sequence[str | int]) -> tuple[int | None, bool]:
        """The 1-based line of the deepest key or item of `path` present, if any, and whether
        that was all of `path`."""
        node, line = self._root, None
        for part in path:
            found = self._child(node, part)
            if found is None:
                return line, False
            line, node = found
        return line, True

    def line(self, path: Sequence[str | int]) -> int | None:
        """The line of `path`'s key or item, or of the nearest enclosing one present."""
        return self.find(path)[0]

    def _child(self, node: Any, part: str | int) -> tuple[int, Any] | None:
        import yaml

        if isinstance(node, yaml.SequenceNode):
            if isinstance(part, int) and 0 <= part < len(node.value):
                item = node.value[part]
                return item.start_mark.line + 1, item
            return None
        if isinstance(node, yaml.MappingNode):
            return self._keys(node).get(str(part))
        return None

    def _keys(self, node: Any) -> dict[str, tuple[int, Any]]:
        import yaml

        known = self._index.get(id(node))
        if known is not None:
            return known
        keys: dict[str, tuple[int, Any]] = {}
        merged: list[Any] = []
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag == "tag:yaml.org,2002:merge":
                merged.extend(value.value if isinstance(value, yaml.SequenceNode) else [value])
            elif isinstance(key, yaml.ScalarNode):
                keys[key.value] = (key.start_mark.line + 1, value)
        for source in merged:  # the mapping's own keys win, then the first merged mapping's
            if isinstance(source, yaml.MappingNode):
                for name, found in self._keys(source).items():
                    keys.setdefault(name, found)
        self._index[id(node)] = keys
        return keys


def check_depth(path: Path, data: Any) -> None:
    """Refuse data (a parsed TOML file) nested deeper than MAX_DEPTH; iterative, so any depth."""
    stack = [(data, 1)]
    while stack:
        value, level = stack.pop()
        if level > MAX_DEPTH:
            raise too_deep(path)
        if isinstance(value, dict):
            stack.extend((v, level + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, level + 1) for v in value)


def too_deep(path: Path) -> ConfigurationError:
    """The error for a file nested too deeply (also when a parser ran out of stack on one)."""
    return ConfigurationError(f"{path} nests deeper than {MAX_DEPTH} levels; flatten it")


@functools.cache
def _bounded_loader() -> Callable[[str, Path], yaml.SafeLoader]:
    """PyYAML's safe loader, refusing duplicate keys and counting depth as it composes (its
    composer recurses, so a deep file would otherwise end in a RecursionError), and typing
    plain scalars as Compose v2 does (scalars.py) rather than by YAML 1.1's rules."""
    import re

    import yaml

    from . import scalars

    class BoundedLoader(yaml.SafeLoader):
        yaml_implicit_resolvers: dict[Any, Any] = {}  # none of YAML 1.1's: those below

        def __init__(self, text: str, file: Path) -> None:
            super().__init__(text)
            self.file = file
            self.depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self.depth += 1
            try:
                if self.depth > MAX_DEPTH:
                    raise too_deep(self.file)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                line = key_node.start_mark.line + 1
                if key_node.value in seen:
                    raise ConfigurationError(
                        f"{self.file}: line {line}: key {key_node.value!r} is already defined at line "
                        f"{seen[key_node.value]}; a mapping names each key once"
                    )
                seen[key_node.value] = line
            return super().construct_mapping(node, deep)

        def construct_number(self, node: Any) -> Any:
            return scalars.number(self.construct_scalar(node))

    BoundedLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(scalars.BOOL), list("tTfF"))
    BoundedLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(scalars.NULL), ["~", "n", "N", ""])
    BoundedLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])
    BoundedLoader.add_implicit_resolver(scalars.NUMBER_TAG, re.compile(scalars.NUMBER), list("-+0123456789."))
    BoundedLoader.add_constructor(scalars.NUMBER_TAG, BoundedLoader.construct_number)

    def construct_reset(loader: BoundedLoader, node: Any) -> Reset:
        return RESET

    def construct_override(loader: BoundedLoader, node: Any) -> Override:
        if isinstance(node, yaml.MappingNode):
            return Override(loader.construct_mapping(node, deep=True))
        if isinstance(node, yaml.SequenceNode):
            return Override(loader.construct_sequence(node, deep=True))
        # A scalar: typed as if it had no tag.
        plain = node.style is None
        tag = loader.resolve(yaml.ScalarNode, node.value, (plain, not plain))  # type: ignore[no-untyped-call]
        return Override(loader.construct_object(yaml.ScalarNode(tag, node.value, style=node.style), deep=True))

    BoundedLoader.add_constructor("!reset", construct_reset)
    BoundedLoader.add_constructor("!override", construct_override)
    return BoundedLoader


def _check_expansion(path: Path, root: Any) -> None:
    """Count the values `root` stands for with every alias expanded, each node once (memoized),
    so the count itself takes time linear in the file however far the aliases would expand."""
    import yaml

    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (values, height)
    visiting: set[int] = set()
    limit = sys.getrecursionlimit() - 50
    most = MAX_VALUES + _distinct_nodes(root)  # aliases may add MAX_VALUES; the file's own size is bounded

    def visit(node: Any, level: int) -> tuple[int, int]:
        if level > min(MAX_DEPTH, limit):
            raise too_deep(path)
        known = sizes.get(id(node))
        if known is not None:
            if level + known[1] - 1 > MAX_DEPTH:
                raise too_deep(path)
            return known
        if id(node) in visiting:
            raise ConfigurationError(f"{path}: an alias refers to the value that contains it; YAML here is a tree")
        visiting.add(id(node))
        children: list[Any] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        values, height = 1, 1
        for child in children:
            child_values, child_height = visit(child, level + 1)
            values += child_values
            height = max(height, child_height + 1)
            if values > most:
                raise ConfigurationError(
                    f"{path}: its aliases add more than {MAX_VALUES:,} values; Compose refuses such "
                    "documents too (excessive aliasing)"
                )
        visiting.discard(id(node))
        sizes[id(node)] = (values, height)
        return values, height

    visit(root, 1)


def _distinct_nodes(root: Any) -> int:
    """How many nodes the document has as written (each alias's target counted once)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node.value, list):
            for child in node.value:
                stack.extend(child if isinstance(child, tuple) else (child,))
    return len(seen)
