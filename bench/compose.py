#!/usr/bin/env python3
"""One 8-service Compose file brought up to all-ready and taken down again: oblako-backends
against docker-compose on Docker Engine, and against podman-compose on Podman, interleaved.

    .venv/bin/python bench/compose.py [--services 8] [--rounds 3]

"All-ready" is the same for everyone: every published port answers HTTP 200. oblako-backends
waits for that itself; the peers return once the containers started, so the script then polls
the ports the same way. Needs Debian's docker-compose and podman-compose (installed when
missing, as root). Prints figures; asserts nothing. Goal (issue 12): at most 0.7x each peer.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
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
PEERS = {"docker-compose": "docker-compose", "podman-compose": "podman-compose"}
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


def compare(label: str, ours: dict[str, list[str]], env: dict[str, str], work: Path, ports: list[int], rounds: int,
            url: str) -> None:  # fmt: skip
    """Time `up` to all-ready and `down` for oblako-backends, the peer tool `label` (run the same
    way: project `bench`, detached) and the engine's floor, interleaved; print the medians."""
    theirs = {"up": [label, "-p", "bench", "up", "-d"], "down": [label, "-p", "bench", "down"]}
    floor = {
        step: [sys.executable, "-c", FLOOR, url, runtimes.TEST_IMAGE, step, *map(str, ports)] for step in ("up", "down")
    }
    times: dict[str, dict[str, list[float]]] = {
        who: {"up": [], "down": []} for who in ("oblako-backends", label, "engine floor")
    }  # fmt: skip
    for i in range(rounds):
        order = [("oblako-backends", ours), (label, theirs), ("engine floor", floor)]
        for who, argv in order if i % 2 == 0 else order[::-1]:
            started = time.perf_counter()
            run(argv["up"], env, work)
            all_ready(ports)
            times[who]["up"].append(time.perf_counter() - started)
            started = time.perf_counter()
            run(argv["down"], env, work)
            times[who]["down"].append(time.perf_counter() - started)
    for step in ("up", "down"):
        mine, peer, least = (statistics.median(times[who][step]) for who in ("oblako-backends", label, "engine floor"))
        print(
            f"  {step:4} oblako-backends {mine:6.2f} s, {label} {peer:6.2f} s, ratio {mine / peer:.2f} (goal <= 0.7); "
            f"engine floor {least:.2f} s = {least / peer:.2f} x {label}, oblako-backends {mine - least:+.2f} s above it"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    missing = [pkg for pkg, command in PEERS.items() if shutil.which(command) is None]
    if missing and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, stdout=sys.stderr, timeout=900)
    ports = [BASE_PORT + i for i in range(args.services)]
    cli = [sys.executable, "-m", "oblako_backends.cli"]
    with tempfile.TemporaryDirectory(prefix="oblako-bench-compose-") as tmp:
        work = Path(tmp) / "bench"
        work.mkdir()
        text = "services:" + "".join(
            SERVICE.format(i=i, image=runtimes.TEST_IMAGE, port=port, command=json.dumps(COMMAND))
            for i, port in enumerate(ports)
        )
        (work / "compose.yaml").write_text(text)
        ours = {"up": [*cli, "up", "-p", "bench"], "down": [*cli, "down", "-p", "bench"]}

        docker_dir = Path(tmp) / "docker"
        daemon = runtimes.start_dockerd(docker_dir)
        try:
            runtimes.build_test_image(daemon.url)
            env = {**os.environ, "DOCKER_HOST": daemon.url, "OBLAKO_CONTAINER_BACKEND": "docker"}
            print(f"{args.services} services, median of {args.rounds}, on Docker Engine ({daemon.url}):")
            compare("docker-compose", ours, env, work, ports, args.rounds, daemon.url)
        finally:
            daemon.stop()

        podman_dir = Path(tmp) / "podman"
        daemon = runtimes.start_podman(podman_dir)
        try:
            runtimes.build_test_image(daemon.url)
            storage = podman_dir / "storage.conf"  # the podman CLI on the service's own storage
            storage.write_text(
                f'[storage]\ndriver = "overlay"\ngraphroot = "{podman_dir / "storage"}"\n'
                f'runroot = "{podman_dir / "run"}"\n'
            )
            env = {
                **runtimes.podman_env(podman_dir),
                "CONTAINERS_STORAGE_CONF": str(storage),
                "CONTAINER_HOST": daemon.url,
                "OBLAKO_CONTAINER_BACKEND": "podman",
            }
            print(f"{args.services} services, median of {args.rounds}, on Podman ({daemon.url}):")
            compare("podman-compose", ours, env, work, ports, args.rounds, daemon.url)
        finally:
            runtimes.remove_all_containers(daemon.url)
            daemon.stop()
            unmount_below(podman_dir)  # the podman CLI leaves its storage mounted
    return 0


def unmount_below(directory: Path) -> None:
    """Unmount what is still mounted under `directory` (ours alone: the path is our temp dir)."""
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(str(directory))]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, timeout=30, capture_output=True)


if __name__ == "__main__":
    sys.exit(main())
