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


def human_duration(seconds: float) -> str:
    """A duration as Docker's CLI words one ("About a minute", "3 hours"), for CREATED."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole < 60:
        return "1 second" if whole == 1 else f"{whole} seconds"
    minutes = whole // 60
    if minutes < 60:
        return "About a minute" if minutes == 1 else f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 14:
        return f"{hours // 24} days"
    if hours < 24 * 60:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 730:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds // 3600) // 24 // 365} years"


def compose_status(info: ContainerInfo) -> str:
    """STATUS as Compose's `ps` has it, without the uptime (not every runtime can tell it)."""
    if info.state == "running":
        return "Up" + (f" ({info.health})" if info.health is not None else "")
    if info.starting or info.waiting:
        return "Created"
    return "Exited" + (f" ({info.exit_code})" if info.exit_code is not None else "")


def compose_command(info: ContainerInfo, truncate: bool = True) -> str:
    """COMMAND as Compose's `ps` shows it: quoted, cut to 20 characters unless --no-trunc."""
    text = info.command if not truncate or len(info.command) <= 20 else info.command[:19] + "\u2026"
    return f'"{text}"'


def ps_json(info: ContainerInfo, now: float) -> dict[str, Any]:
    """One container as a line of Compose's `ps --format json` (the keys every backend can fill)."""
    created = info.created
    return {
        "Name": info.name,
        "Image": info.image,
        "Command": f'"{info.command}"',
        "Project": info.project or "",
        "Service": info.service or "",
        "Created": None if created is None else int(created),
        "CreatedAt": "" if created is None else time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(created)),
        "RunningFor": "" if created is None else f"{human_duration(now - created)} ago",
        "State": "running" if info.state == "running" else "created" if info.starting or info.waiting else "exited",
        "Status": compose_status(info),
        "Health": "" if info.health is None else str(info.health),
        "ExitCode": info.exit_code or 0,
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(info.labels.items())),
        "Publishers": [
            {"URL": p.host_ip, "TargetPort": p.container_port, "PublishedPort": p.host_port, "Protocol": p.protocol}
            for p in info.ports
        ],
        "Backend": info.backend,
    }


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
