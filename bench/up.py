#!/usr/bin/env python3
"""`up` of independent services: concurrent start against one after another, on a real engine.

    .venv/bin/python bench/up.py [--services 8] [--rounds 3] [--engine unix:///path.sock]

Each service takes about a second to become ready (it sleeps 1 s, then says so in its log).
Prints figures; asserts nothing. Goal (issue 4): concurrent wall time at most 0.5 x sequential.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import runtimes  # noqa: E402

SERVICE = """
[services.s{i}]
image = "{image}"
ports = ["8080"]
command = ["sh", "-c", "sleep 1; echo ready; trap 'exit 0' TERM; sleep 600 & wait"]
health = {{ log = "ready" }}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", help="a Docker Engine API URL to use instead of starting one")
    args = parser.parse_args()

    from oblako_backends import get_backend
    from oblako_backends.project import load
    from oblako_backends.project.run import down, up

    with runtimes.docker_for_bench(args.engine) as url, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "services.toml"
        path.write_text("".join(SERVICE.format(i=i, image=runtimes.TEST_IMAGE) for i in range(args.services)))
        backend = get_backend("docker", base_url=url)
        stack = load(path)
        timings: dict[str, list[float]] = {"concurrent": [], "one after another": []}
        for i in range(args.rounds):
            for label, jobs in [("concurrent", None), ("one after another", 1)][:: 1 if i % 2 == 0 else -1]:
                started = time.perf_counter()
                up(stack, backend, jobs=jobs)
                timings[label].append(time.perf_counter() - started)
                down(stack, backend)
        together, alone = (statistics.median(timings[k]) for k in timings)
        print(f"engine: {url}")
        print(f"up of {args.services} services, median of {args.rounds}:")
        ratio = together / alone
        print(f"  concurrent {together:.2f} s, one after another {alone:.2f} s, ratio {ratio:.2f} (goal <= 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
