#!/usr/bin/env python3
"""`oblako-backends ps` in a fresh process against a docker-py script listing the same
containers, interleaved, on a private Docker Engine with 10 of our containers running.

    .venv/bin/python bench/ps.py [--rounds 21] [--url unix:///path/to/docker.sock]

Prints medians and the ratio; asserts nothing. Goal (issue 13): at most 1.15x.

Both sides run from byte-compiled modules, as after `pip install` (pip compiles what it
installs; an editable checkout under PYTHONDONTWRITEBYTECODE=1 would recompile ours on
every start and measure that instead).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import runtimes  # noqa: E402

PEER = """
import docker
client = docker.APIClient(base_url={url!r}, version="auto")
for c in client.containers(filters={{"label": "oblako.managed-by=oblako-backends"}}):
    print(c["Names"][0].lstrip("/"), c["State"], c["Image"])
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True, timeout=60)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--url", help="an engine to use (default: a private one started for the run)")
    args = parser.parse_args()
    with runtimes.docker_for_bench(args.url) as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OBLAKO_", "DOCKER_", "PYTHONDONTWRITE"))}
        env["DOCKER_HOST"] = url
        sources = [str(ROOT / "core"), *map(str, ROOT.glob("plugins/*/src"))]
        subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], check=True, timeout=300)
        from oblako_backends import get_backend

        os.environ["DOCKER_HOST"] = url
        backend = get_backend("docker")
        names = [f"bench-ps-{i}" for i in range(10)]
        for name in names:
            backend.run(name=name, image=runtimes.TEST_IMAGE)
        try:
            ours_argv = [str(Path(sys.executable).parent / "oblako-backends"), "ps"]
            peer_argv = [sys.executable, "-c", PEER.format(url=url)]
            ours, peer = [], []
            for _ in range(args.rounds):  # interleaved, so drift hits both alike
                ours.append(timed(ours_argv, env))
                peer.append(timed(peer_argv, env))
        finally:
            for name in names:
                backend.remove(name)
    a, b = statistics.median(ours), statistics.median(peer)
    print(f"10 containers, median of {args.rounds}, fresh process each, on Docker Engine ({url}):")
    print(f"  oblako-backends ps   {a * 1000:6.1f} ms")
    print(f"  docker-py script     {b * 1000:6.1f} ms")
    print(f"  ratio                {a / b:.2f} (goal <= 1.15)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
