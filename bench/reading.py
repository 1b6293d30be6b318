#!/usr/bin/env python3
"""Reading a Compose file grows linearly with its size. Prints figures; asserts nothing.

    .venv/bin/python bench/reading.py

For each shape (one long `command:` word, many short words, many services) and size, the
median seconds of `oblako-backends config -f FILE` in a fresh process, and the time per MB:
linear reading keeps that last column flat as the size doubles. Side by side, shlex.split on
the same long word, which is quadratic (what `command:` strings went through before).
"""

from __future__ import annotations

import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SIZES = (250_000, 500_000, 1_000_000, 2_000_000)
SHAPES: dict[str, Callable[[int], str]] = {
    "one long command word": lambda n: f"services:\n  web:\n    image: busybox\n    command: {'a' * n}\n",
    "many short words": lambda n: f"services:\n  web:\n    image: busybox\n    command: {'ab ' * (n // 3)}\n",
    "many services": lambda n: (
        "services:\n" + "".join(f"  s{i}:\n    image: busybox\n    command: [sleep, '{i}']\n" for i in range(n // 50))
    ),
}


def seconds(argv: list[str], runs: int = 3) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, timeout=600, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    cli = [sys.executable, "-m", "oblako_backends.cli", "config", "-f"]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "compose.yaml"
        print(f"{'shape':24} {'bytes':>10} {'seconds':>8} {'s per MB':>9}")
        for shape, make in SHAPES.items():
            for size in SIZES:
                path.write_text(make(size))
                taken = seconds([*cli, str(path)])
                megabytes = path.stat().st_size / 1e6
                print(f"{shape:24} {path.stat().st_size:>10} {taken:>8.2f} {taken / megabytes:>9.2f}")
    print(f"\n{'shlex.split, one word':24} {'bytes':>10} {'seconds':>8} {'s per MB':>9}")
    for size in SIZES[:3]:
        started = time.perf_counter()
        shlex.split("a" * size)
        taken = time.perf_counter() - started
        print(f"{'':24} {size:>10} {taken:>8.2f} {taken / (size / 1e6):>9.2f}")


if __name__ == "__main__":
    main()
