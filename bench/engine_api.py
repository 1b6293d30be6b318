#!/usr/bin/env python3
"""Engine API requests and lifecycle time of the layer against docker-py, on one real daemon.

    .venv/bin/python bench/engine_api.py [--rounds 15] [--containers 10] [--engine unix:///path.sock]

Without --engine it starts a private Docker Engine (scripts/runtimes.py) and stops it after.
Prints figures; asserts nothing. Goals (issue 3):
  - Service.start of a new container: at most 3 requests (the seed's path takes 5);
  - status of every owned container: 1 request, however many there are;
  - run, status, logs, stop, remove through the layer: at most 1.05 x the same calls made
    directly with docker-py, interleaved, ratio of medians.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import runtimes  # noqa: E402

IMAGE = runtimes.TEST_IMAGE


class Counter:
    """Counts the HTTP requests a docker-py client sends (each is one Engine API call)."""

    def __init__(self, api: Any):
        self.count = 0
        original = api.send

        def send(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        api.send = send

    @contextmanager
    def measure(self, into: list[int]) -> Iterator[None]:
        before = self.count
        yield
        into.append(self.count - before)


def name() -> str:
    return f"bench-{uuid.uuid4().hex[:8]}"


def seed_start(client: Any, container: str) -> None:
    """What oblako's Service.start does today through the seed module: 5 requests."""
    import docker.errors

    client.images.get(IMAGE)  # ensure_image
    with contextlib.suppress(docker.errors.NotFound):
        client.containers.get(container)  # status
    client.containers.run(IMAGE, name=container, detach=True, ports={"8080/tcp": ("127.0.0.1", None)})


def request_counts(url: str, containers: int) -> None:
    import docker
    from oblako_backends import Service, get_backend

    backend = get_backend("docker", base_url=url)
    counter = Counter(backend.plugin.api)
    client = docker.DockerClient(base_url=url, version="auto")
    direct = Counter(client.api)
    starts: list[int] = []
    for _ in range(3):
        svc = Service(name(), IMAGE, backend=backend, ports={"8080/tcp": None})
        with counter.measure(starts):
            svc.start()
        backend.remove(svc.container_name)
    seeds: list[int] = []
    for _ in range(3):
        container = name()
        with direct.measure(seeds):
            seed_start(client, container)
        client.containers.get(container).remove(force=True)
    from oblako_backend_docker.endpoints import inside_a_container

    beside = " (in a container, the first on a connection also looks up the bridge: beside_the_engine)"
    print(f"Service.start, new container: {starts} requests (goal <= 3){beside if inside_a_container() else ''}; "
          f"the seed's path: {seeds}")  # fmt: skip

    fresh = get_backend("docker", base_url=url)
    fresh.plugin.api  # noqa: B018  (connect; the connection's /_ping is not counted)
    fixed: list[int] = []
    with Counter(fresh.plugin.api).measure(fixed):
        svc = Service(name(), IMAGE, backend=fresh, ports={"8080/tcp": runtimes.free_port()})
        svc.start()
    fresh.remove(svc.container_name)
    print(f"Service.start with a fixed host port, first on its connection: {fixed[0]} requests (+1 bridge lookup)")

    made = [name() for _ in range(containers)]
    for container in made:
        backend.run(name=container, image=IMAGE)
    listed: list[int] = []
    with counter.measure(listed):
        states = {c.name: c.state for c in backend.list()}
    assert set(made) <= set(states)
    print(f"status of all {len(states)} owned containers via list(): {listed[0]} request (goal 1)")
    for container in made:
        backend.remove(container)
    client.close()


def lifecycle_ratio(url: str, rounds: int) -> None:
    import docker
    from oblako_backends import get_backend

    backend = get_backend("docker", base_url=url)
    client = docker.DockerClient(base_url=url, version="auto")

    def layer() -> None:
        container = name()
        backend.run(name=container, image=IMAGE, ports={"8080/tcp": None})
        backend.status(container)
        backend.logs(container, tail=50)
        backend.stop(container, timeout=10)
        backend.remove(container)

    def direct() -> None:
        container = client.containers.run(
            IMAGE, name=name(), detach=True, ports={"8080/tcp": ("127.0.0.1", None)}, labels={"bench": "1"}
        )
        container.reload()
        container.logs(tail=50)
        container.stop(timeout=10)
        container.remove()

    timings: dict[str, list[float]] = {"layer": [], "docker-py": []}
    cases: list[tuple[str, Callable[[], None]]] = [("layer", layer), ("docker-py", direct)]
    layer()  # warm both paths up (connections, image cache)
    direct()
    for i in range(rounds):
        for label, case in cases if i % 2 == 0 else cases[::-1]:  # interleaved, order alternating
            started = time.perf_counter()
            case()
            timings[label].append(time.perf_counter() - started)
    ours, theirs = (statistics.median(timings[k]) for k in ("layer", "docker-py"))
    print(f"lifecycle run/status/logs/stop/remove, median of {rounds}:")
    print(f"  layer {ours * 1000:.1f} ms, docker-py {theirs * 1000:.1f} ms, ratio {ours / theirs:.3f} (goal <= 1.05)")
    client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--containers", type=int, default=10)
    parser.add_argument("--engine", help="a Docker Engine API URL to use instead of starting one")
    args = parser.parse_args()
    with runtimes.docker_for_bench(args.engine) as url:
        print(f"engine: {url}")
        request_counts(url, args.containers)
        lifecycle_ratio(url, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
