"""`docker top`'s table from Podman's own top (the libpod endpoint's ps descriptors).

Podman reads these from /proc (its psgo library), whatever the image holds; their titles and
some formats differ from `ps -ef`'s, which Docker's top shows, so each is renamed and, where
the format differs, rewritten: one table whichever engine ran the container.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

from oblako_backends.models import Processes


def _same(value: str, now: float) -> str:
    return value


def _whole_percent(value: str, now: float) -> str:
    """`ps -ef`'s C (CPU use, whole percent) from a %CPU such as "0.000"."""
    try:
        return str(int(float(value)))
    except ValueError:
        return value


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def seconds(value: str) -> float | None:
    """A Go duration as Podman writes one ("0s", "1m2.5s", "12ms") in seconds; None if not one."""
    text = value.strip()
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def _clock(value: str, now: float) -> str:
    """`ps`'s TIME ([DD-]HH:MM:SS) from a Go duration (as given when it is not one)."""
    found = seconds(value)
    if found is None:
        return value
    days, rest = divmod(int(found), 86400)
    clock = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def started(elapsed: str, now: float) -> str:
    """`ps -ef`'s STIME from the elapsed time: HH:MM within a day, MmmDD within the year, else
    the year (local time, as ps writes it). Podman's own start time is not asked for: its
    value has spaces, which newer Podman's top endpoint splits at."""
    found = seconds(elapsed)
    if found is None:
        return elapsed
    start, today = time.localtime(now - found), time.localtime(now)
    if found < 86400:
        return time.strftime("%H:%M", start)
    return time.strftime("%b%d", start) if start.tm_year == today.tm_year else str(start.tm_year)


# (descriptor, the title Podman gives it, Docker's title, the value as `ps -ef` writes it)
COLUMNS: tuple[tuple[str, str, str, Callable[[str, float], str]], ...] = (
    ("user", "USER", "UID", _same),
    ("pid", "PID", "PID", _same),
    ("ppid", "PPID", "PPID", _same),
    ("pcpu", "%CPU", "C", _whole_percent),
    ("etime", "ELAPSED", "STIME", started),
    ("tty", "TTY", "TTY", _same),
    ("time", "TIME", "TIME", _clock),
    ("args", "COMMAND", "CMD", _same),
)
DESCRIPTORS = ",".join(c[0] for c in COLUMNS)


def as_docker(titles: Sequence[str], rows: Sequence[Sequence[str]], now: float | None = None) -> Processes:
    """Podman's answer to `ps_args=DESCRIPTORS` as Docker's table (STIME counted back from
    `now`, None: the current time). A title Podman did not give is left out (so a missing
    command column shows as missing, never as another's values)."""
    given = [str(t).strip() for t in titles]
    current = time.time() if now is None else now
    picked = [(given.index(podman), docker, rewrite) for _, podman, docker, rewrite in COLUMNS if podman in given]
    return Processes(
        tuple(docker for _, docker, _ in picked),
        tuple(tuple(rw(str(row[i]).strip() if i < len(row) else "", current) for i, _, rw in picked) for row in rows),
    )
