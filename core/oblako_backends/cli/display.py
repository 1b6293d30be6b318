"""What a person sees: JSON, tables, progress lines, one-line warnings."""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from typing import Any

from ..models import ContainerInfo


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def ports_text(info: ContainerInfo) -> str:
    return ", ".join(f"{p.host_ip}:{p.host_port}->{p.container_port}/{p.protocol}" for p in info.ports) or "-"


class ProgressDisplay:
    """Pull and build progress on stderr, one line per image aggregated over its layers.

    On a terminal each image's line is redrawn in place; otherwise an image's latest line is
    printed at most once a second (and its last one when it is done). Other lines (a service
    started, ready) always print. `quiet` shows none of it.
    """

    LAYER = re.compile(
        r"(?P<layer>[0-9a-f]{12}) (?P<status>[A-Za-z ]+?)(?: \[[=> ]*\]\s*(?P<done>\S+)/(?P<size>\S+))?$"
    )
    FINISHED = ("Pull complete", "Already exists", "Download complete")

    def __init__(self, stream: Any = None, *, quiet: bool = False, interval: float = 1.0):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = interval
        self.layers: dict[str, dict[str, str]] = {}  # image: {layer: its latest status}
        self.shown: dict[str, float] = {}  # image: when its line was last printed (plain output)
        self.drawn: list[str] = []  # images whose lines are on screen, in order (terminal)
        self.lock = threading.Lock()

    def __call__(self, line: str, key: str = "", prefix: str = "") -> None:
        """One progress line. Layer lines are aggregated into one line for `key` (an image, or
        `[service]`); any other line prints as it is, after `prefix`."""
        if self.quiet:
            return
        with self.lock:
            layer = self.LAYER.match(line)
            if not key or layer is None:
                self._plain(prefix + line)
                return
            self.layers.setdefault(key, {})[layer["layer"]] = (
                f"{layer['status']} {layer['done']}/{layer['size']}" if layer["done"] else layer["status"]
            )
            self._image_line(key)

    def summary(self, key: str) -> str:
        layers = self.layers.get(key, {})
        finished = sum(1 for status in layers.values() if status in self.FINISHED)
        moving = [status for status in layers.values() if status not in self.FINISHED]
        return f"{key} pulling: {finished}/{len(layers)} layers done" + (f", {moving[0]}" if moving else "")

    def _image_line(self, image: str) -> None:
        text = self.summary(image)
        if self.tty:
            if image not in self.drawn:
                self.drawn.append(image)
                self.stream.write(text + "\n")
            else:
                up = len(self.drawn) - self.drawn.index(image)
                self.stream.write(f"\x1b[{up}A\r\x1b[K{text}\x1b[{up}B\r")
            self.stream.flush()
            return
        now = time.monotonic()
        done = all(status in self.FINISHED for status in self.layers[image].values())
        if done or now - self.shown.get(image, -self.interval) >= self.interval:
            self.shown[image] = now
            self._plain(text)

    def _plain(self, line: str) -> None:
        self.drawn = []  # a plain line scrolls the drawn block away: later updates start a new one
        self.stream.write(line + "\n")
        self.stream.flush()


def warn_on_one_line(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
    print(f"oblako-backends: warning: {message}", file=sys.stderr)
