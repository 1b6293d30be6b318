#!/usr/bin/env python3
"""What a project's localhost forwards cost on Kubernetes: N small HTTP services, each on a fixed port.

    OBLAKO_TEST_KUBECONFIG=... OBLAKO_TEST_K8S_CONTAINERD=... .venv/bin/python bench/forwards.py [--services 4,12,32]

For each N: one Compose file of N busybox httpd services, each publishing one fixed port, is
brought `up` in a namespace of its own on the real cluster the kubeconfig names; then it prints
the host processes serving the forwards (every process whose command line names the project's
forward state directory or its namespace: the forwarder, or kubectl port-forwards and their
supervisors), their resident memory in all, the time from the start of `up` to every port
answering HTTP 200, and the time `down` takes (and what is left after it). The test image is
built on a private Docker Engine and imported into the cluster's containerd, as the cluster
tests do, unless it is there already. Prints figures; asserts nothing. Goal (issue 23): for
12 services at most 2 processes and 100 MiB in all.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import runtimes  # noqa: E402

BASE_PORT = 18700
SERVICE = """  s{i}:
    image: {image}
    ports: ["{port}:8080"]
    command: ["sh", "-c", "mkdir /tmp/www && echo s{i} > /tmp/www/index.html; exec httpd -f -p 8080 -h /tmp/www"]
"""


def kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = ["kubectl", f"--kubeconfig={kubeconfig}", "--request-timeout=60s", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def load_image(containerd: str, engine: str | None) -> None:
    """The test image into the cluster's containerd, unless it is there."""
    ctr = runtimes.locate("ctr") or "ctr"
    listed = subprocess.run(
        [ctr, "-a", containerd, "-n", "k8s.io", "images", "ls", "-q"], capture_output=True, text=True, timeout=60
    )
    if runtimes.TEST_IMAGE in listed.stdout.split():
        return
    import docker

    with runtimes.docker_for_bench(engine) as url, tempfile.TemporaryDirectory() as tmp:
        api = docker.APIClient(base_url=url, version="auto", timeout=120)
        with open(Path(tmp) / "image.tar", "wb") as out:
            for chunk in api.get_image(runtimes.TEST_IMAGE):
                out.write(chunk)
        api.close()
        argv = [ctr, "-a", containerd, "-n", "k8s.io", "images", "import", str(Path(tmp) / "image.tar")]
        subprocess.run(argv, check=True, capture_output=True, timeout=300)


def forward_processes(marks: list[str]) -> dict[int, float]:
    """PID -> resident MiB of every process whose argv names one of `marks`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if any(mark in arg for arg in argv for mark in marks):
            rss = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
            found[int(entry.name)] = rss / 1024
    return found


def serving(port: int, body: str) -> bool:
    with contextlib.suppress(OSError):
        return runtimes.http_get("127.0.0.1", port, timeout=2) == (200, body)
    return False


def one(services: int, kubeconfig: str, work: Path) -> tuple[int, float, float, float, int]:
    from oblako_backends.cli import main as cli

    namespace = f"oblako-bench-{uuid.uuid4().hex[:6]}"
    state = work / f"state-{services}"
    os.environ.update(OBLAKO_K8S_NAMESPACE=namespace, OBLAKO_K8S_STATE_DIR=str(state), KUBECONFIG=kubeconfig)
    ports = [BASE_PORT + i for i in range(services)]
    path = work / f"compose-{services}.yaml"
    path.write_text(
        "services:\n" + "".join(SERVICE.format(i=i, image=runtimes.TEST_IMAGE, port=p) for i, p in enumerate(ports))
    )
    marks = [str(state), f"--namespace={namespace}"]
    command = ["--backend", "kubernetes", "-f", str(path), "-p", f"fw{services}"]
    try:
        started = time.perf_counter()
        if cli(["up", *command]) != 0:
            raise SystemExit(f"up of {services} services failed")
        waiting = dict(enumerate(ports))
        while waiting:
            waiting = {i: p for i, p in waiting.items() if not serving(p, f"s{i}\n")}
            if time.perf_counter() - started > 600:
                raise SystemExit(f"ports {sorted(waiting.values())} never served")
        up = time.perf_counter() - started
        processes = forward_processes(marks)
        started = time.perf_counter()
        if cli(["down", *command]) != 0:
            raise SystemExit(f"down of {services} services failed")
        down = time.perf_counter() - started
        left = len(forward_processes(marks)) + sum(serving(p, f"s{i}\n") for i, p in enumerate(ports))
    finally:
        kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false")
    return len(processes), sum(processes.values()), up, down, left


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", default="4,12,32", help="comma-separated project sizes")
    parser.add_argument("--kubeconfig", default=os.environ.get("OBLAKO_TEST_KUBECONFIG", ""))
    parser.add_argument("--containerd", default=os.environ.get("OBLAKO_TEST_K8S_CONTAINERD", ""))
    parser.add_argument("--engine", help="a Docker Engine API URL to build the test image on")
    args = parser.parse_args()
    if not args.kubeconfig:
        parser.error("name the cluster: --kubeconfig or OBLAKO_TEST_KUBECONFIG")
    if args.containerd:
        load_image(args.containerd, args.engine)
    version = json.loads(kubectl(args.kubeconfig, "version", "--output=json").stdout or "{}")
    print(f"cluster: Kubernetes {(version.get('serverVersion') or {}).get('gitVersion', '?')}")
    print("services  forward processes  RSS MiB  up to every port serving  down  left after down")
    with tempfile.TemporaryDirectory(prefix="oblako-bench-") as tmp:
        for size in (int(n) for n in args.services.split(",")):
            count, rss, up, down, left = one(size, args.kubeconfig, Path(tmp))
            print(f"{size:8}  {count:17}  {rss:7.0f}  {up:22.1f} s  {down:4.1f} s  {left}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
