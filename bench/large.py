#!/usr/bin/env python3
"""A large project: `up` and `down` of N services (default 500) on a private Docker Engine and a
private rootful Podman, each started for the run and stopped after it.

    .venv/bin/python bench/large.py [--services 500] [--jobs N] [--engines docker,podman]

Each service is the busybox test image, ready once its log says so; no ports (500 published
ports would measure the port proxies instead). The Docker Engine makes networks from a /20
pool, as a stock engine's 192.168.0.0/16 pool does; Podman makes /24s, so `up` gives the
project a larger subnet. Prints, per engine: the seconds `up` and `down` took, how many services
came up, whether `up` failed (and why, first line), what the project network's subnet was,
and what `down` left behind (containers, the network). Asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import runtimes  # noqa: E402

SERVICE = """
[services.s{i}]
image = "{image}"
command = ["sh", "-c", "echo ready; trap 'exit 0' TERM; sleep 3600 & wait"]
health = {{ log = "ready", timeout = 300 }}
"""


@contextmanager
def podman_for_bench() -> Iterator[str]:
    """A private rootful Podman API service for the run, the test image built on it; its
    containers (which outlive the service) removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="oblako-bench-podman-"))
    daemon = runtimes.start_podman(directory)
    try:
        runtimes.build_test_image(daemon.url)
        yield daemon.url
    finally:
        try:
            runtimes.remove_all_containers(daemon.url)
        finally:
            daemon.stop()
            shutil.rmtree(directory, ignore_errors=True)


def left_behind(url: str, project: str, network: str) -> tuple[int, bool]:
    """(containers of the project, whether its network exists), asked of the engine directly."""
    import docker

    api = docker.APIClient(base_url=url, version="1.41", timeout=120)
    try:
        containers = api.containers(all=True, filters={"label": f"oblako.project={project}"})
        networks = [n for n in api.networks(names=[network]) if n.get("Name") == network]
    finally:
        api.close()
    return len(containers), bool(networks)


def measure(engine: str, url: str, services: int, jobs: int | None) -> None:
    from oblako_backends import get_backend
    from oblako_backends.project import default_network, load
    from oblako_backends.project.run import ProjectError, down, up

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "services.toml"
        path.write_text("".join(SERVICE.format(i=i, image=runtimes.TEST_IMAGE) for i in range(services)))
        backend = get_backend(engine, base_url=url)
        stack = load(path, project="large")
        network = default_network(stack.name)
        failed = ""
        started = time.perf_counter()
        try:
            outcomes = up(stack, backend, jobs=jobs)
            ready = sum(1 for o in outcomes if o.started and not o.error)
        except ProjectError as exc:
            failed = str(exc).splitlines()[0]
            ready = services - len(exc.outcomes)
        up_seconds = time.perf_counter() - started
        room = backend.network_capacity(network)
        started = time.perf_counter()
        errors = down(stack, backend, jobs=jobs)
        down_seconds = time.perf_counter() - started
        containers, network_left = left_behind(url, stack.name, network)
    print(f"{engine} ({url}), {services} services, jobs {jobs or 'default'}:")
    print(f"  up   {up_seconds:7.1f} s: {'all ready' if not failed else f'FAILED ({ready} ready?): {failed[:300]}'}")
    if room is not None:
        print(f"       network {network} on {room.subnet}: addresses for {room.addresses} containers")
    print(f"  down {down_seconds:7.1f} s, one run: {len(errors)} errors{': ' + str(errors)[:300] if errors else ''}")
    print(f"       left behind: {containers} containers, network {'STILL THERE' if network_left else 'removed'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--jobs", type=int, help="services at once (default: the layer's, OBLAKO_JOBS)")
    parser.add_argument("--engines", default="docker,podman", help="comma list of docker, podman")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "docker" in engines:
        with runtimes.docker_for_bench(network_size=20) as url:
            measure("docker", url, args.services, args.jobs)
    if "podman" in engines:
        with podman_for_bench() as url:
            measure("podman", url, args.services, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
