#!/usr/bin/env python3
"""Start-up cost of the layer, in fresh interpreters. Prints figures; asserts nothing.

    .venv/bin/python bench/startup.py [--runs 21]

Goals (issue 2): get_backend("docker") <= 1.25 x `import docker`;
list_backends() <= 2 x a bare interpreter start.

The project's sources are byte-compiled first, as pip does when it installs a wheel:
an editable checkout under PYTHONDONTWRITEBYTECODE would otherwise recompile them in every
process while docker-py, installed from a wheel, does not.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "bare interpreter": "pass",
    "import docker": "import docker",
    "get_backend('docker')": "from oblako_backends import get_backend; get_backend('docker')",
    "list_backends()": "from oblako_backends import list_backends; list_backends()",
}


def median_seconds(code: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs
    root = Path(__file__).resolve().parent.parent
    for source in [root / "core", *root.glob("plugins/*/src")]:
        compileall.compile_dir(source, quiet=1)
    for code in CASES.values():  # warm the OS file cache once
        median_seconds(code, 1)
    # interleave the cases round by round so drift on the machine hits all of them alike
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, code in CASES.items():
            samples[name].append(median_seconds(code, 1))
    med = {name: statistics.median(values) for name, values in samples.items()}
    print(f"fresh-process medians over {runs} runs (python {sys.version.split()[0]}):")
    for name, value in med.items():
        print(f"  {name:24} {value * 1000:7.1f} ms")
    ratio_get = med["get_backend('docker')"] / med["import docker"]
    ratio_list = med["list_backends()"] / med["bare interpreter"]
    print(f"get_backend('docker') / import docker   = {ratio_get:.2f}  (goal <= 1.25)")
    print(f"list_backends() / bare interpreter      = {ratio_list:.2f}  (goal <= 2.00)")


if __name__ == "__main__":
    main()
