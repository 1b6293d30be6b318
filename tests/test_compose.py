"""Compose files as projects: what is read, how, and what is refused (no runtime)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from oblako_backends import ConfigurationError, ContainerSpec, HealthCommand, InvalidSpecError
from oblako_backends.cli import main as cli
from oblako_backends.project import load


def compose(tmp_path: Path, text: str, name: str = "compose.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _no_project_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBLAKO_PROJECT", raising=False)


def spec_of(path: Path, service: str, project: str | None = None):  # type: ignore[no-untyped-def]
    (found,) = [d for d in load(path, project=project).services if d.name == service]
    return found


def test_the_keys_local_stacks_use_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAG", "7")
    (tmp_path / ".env").write_text("GREETING=from-dotenv\nTAG=ignored-the-environment-wins\n")
    (tmp_path / "web.env").write_text("# a comment\nFROM_FILE='quoted'\n")
    (tmp_path / "conf").mkdir()
    path = compose(
        tmp_path,
        """
name: shop
services:
  web:
    image: localhost/web:${TAG}
    ports: ["127.0.0.1:18100:8080", "18101-18102:9001-9002/udp", "7000", {target: 81, published: 18110}]
    environment: [A=1, "B=${GREETING}", "C=${MISSING:-fallback}", "D=$$literal"]
    env_file: web.env
    volumes: ["data:/data", "./conf:/conf:ro,z", {type: volume, source: shared, target: /shared, read_only: true}]
    command: "serve --port 8080"
    working_dir: /srv
    user: "1000"
    extra_hosts: ["host.docker.internal:host-gateway", "v6=::1"]
    labels: {team: shop}
    depends_on: {db: {condition: service_healthy}}
  db:
    image: localhost/db:1
    environment: {PASSWORD: secret, DEBUG: true}
    depends_on: [cache]
  cache:
    image: localhost/cache:1
    container_name: my-cache
volumes:
  data: {}
  shared: {external: true}
""",
    )
    stack = load(path)
    assert stack.name == "shop"  # the file's `name:`
    web = spec_of(path, "web").spec
    assert web.name == "shop-web-1" and web.image == "localhost/web:7"
    assert {(p.container_port, p.protocol, p.host_port) for p in web.ports} == {
        (8080, "tcp", 18100), (9001, "udp", 18101), (9002, "udp", 18102), (7000, "tcp", None), (81, "tcp", 18110)
    }  # fmt: skip
    assert dict(web.environment) == {
        "A": "1",
        "B": "from-dotenv",
        "C": "fallback",
        "D": "$literal",
        "FROM_FILE": "quoted",
    }
    assert {(v.source, v.target, v.read_only) for v in web.volumes} == {
        ("shop_data", "/data", False), (str(tmp_path / "conf"), "/conf", True), ("shared", "/shared", True)
    }  # fmt: skip
    assert web.command == ("serve", "--port", "8080") and web.working_dir == "/srv" and web.user == "1000"
    assert dict(web.extra_hosts) == {"host.docker.internal": "host-gateway", "v6": "::1"}
    assert web.labels["team"] == "shop"
    assert spec_of(path, "web").depends_on == ("db",) and spec_of(path, "db").depends_on == ("cache",)
    assert dict(spec_of(path, "db").spec.environment) == {"PASSWORD": "secret", "DEBUG": "true"}
    assert spec_of(path, "cache").container_name == "my-cache"
    assert [d.name for wave in stack.waves() for d in wave] == ["cache", "db", "web"]


@pytest.mark.parametrize(
    ("service", "complaint"),
    [
        (
            "    imag: x:1\n",
            r"compose.yaml:3: services.web.imag: not a key of a Compose service; did you mean 'image'\?",
        ),
        ("    image: x:1\n    healthcheck: {test: [CMD]}\n", r"healthcheck: test is \[\"CMD\", args...\]"),
        ("    image: x:1\n    healthcheck: {test: [CMD-SHELL, a, b]}\n", r"healthcheck: test is"),
        (
            "    image: x:1\n    healthcheck: {test: true}\n",
            r":4: services.web.healthcheck.test: must be a string or a list",
        ),
        (
            "    image: x:1\n    healthcheck: {test: x, interval: 10}\n",
            r":4: services.web.healthcheck.interval: must be a string",
        ),
        ("    image: x:1\n    healthcheck: {test: x, timeout: 1y}\n", r"healthcheck: timeout: a duration"),
        ("    image: x:1\n    healthcheck: {test: x, interval: 0s}\n", r"invalid health.interval 0.0"),
        ("    image: x:1\n    healthcheck: {test: x, retries: 0}\n", r"invalid health.retries 0"),
        ("    image: x:1\n    healthcheck: {test: x, retries: 'x3'}\n", r"invalid health.retries 'x3'"),
        (
            "    image: x:1\n    healthcheck: {test: x, every: 1s}\n",
            r":4: services.web.healthcheck.every: not a key here",
        ),
        ("    image: x:1\n    ports: ['myhost:80:80']\n", r"a host address is an IP address, not 'myhost'"),
        ("    image: x:1\n    ports: ['8000-8001:80']\n", "ranges differ in length"),
        ("    image: x:1\n    volumes: ['undeclared:/d']\n", "not declared under the top-level `volumes:`"),
        ("    image: x:1\n    volumes: ['data:/d:rslave']\n", "options are ro, rw, z and Z"),
        (
            "    image: x:1\n    environment: {A: '${REQUIRED:?set REQUIRED first}'}\n",
            "required variable REQUIRED is missing a value: set",
        ),
        ("    build: {context: ., dockerfile: ../Dockerfile}\n", "must be a path inside the build context"),
        ("    build: {context: ., dockerfile: /etc/passwd}\n", "must be a path inside the build context"),
        ("    command: sh\n", "required"),
        ("    image: x:1\n    ports: [{target: 80, published: '8000-8001'}]\n", "'8000-8001' is not a port number"),
        ("    image: x:1\n    ports: [{target: 80, published: x}]\n", "published: 'x' is not a port number"),
        ("    image: x:1\n    ports: [{target: 0}]\n", "target: 0 is not a port number"),
        ("    image: x:1\n    env_file: [{required: false}]\n", r":4: services.web.env_file\[0\]: needs `path`"),
        (
            "    image: x:1\n    volumes: [{type: bind, source: 1, target: /x}]\n",
            r"volumes\[0\].source: must be a string",
        ),
        (
            "    image: x:1\n    volumes: [{type: bind, source: /x, target: 1}]\n",
            r"volumes\[0\].target: must be a string",
        ),
    ],
)
def test_what_cannot_be_run_is_refused_naming_file_service_and_key(
    tmp_path: Path, service: str, complaint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUIRED", raising=False)
    path = compose(tmp_path, "services:\n  web:\n" + service)
    with pytest.raises(ConfigurationError, match=complaint) as info:
        load(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("healthcheck", "command"),
    [
        ("{test: [CMD, pg_isready, -U, app]}", ("pg_isready", "-U", "app")),
        ("{test: [CMD-SHELL, 'curl -f localhost || exit 1']}", ("/bin/sh", "-c", "curl -f localhost || exit 1")),
        ("{test: 'wget -q -O- localhost:8080'}", ("/bin/sh", "-c", "wget -q -O- localhost:8080")),
    ],
)
def test_a_healthcheck_becomes_the_containers_own_check(tmp_path: Path, healthcheck: str, command: tuple[str]) -> None:
    timing = "interval: 1m30s, timeout: 500ms, retries: 5, start_period: 1.5s"
    body = f"    image: x:1\n    healthcheck: {healthcheck[:-1]}, {timing}}}\n"
    (web,) = load(compose(tmp_path, "services:\n  web:\n" + body)).services
    assert web.spec.health == HealthCommand(command, interval=90, timeout=0.5, retries=5, start_period=1.5)
    assert web.ready_timeout >= 1.5 + 6 * 90.5  # up waits long enough for the check's own retries


@pytest.mark.parametrize("off", ["{test: [NONE]}", "{test: x, disable: true}"])
def test_a_disabled_healthcheck_is_none(tmp_path: Path, off: str) -> None:
    (web,) = load(compose(tmp_path, f"services:\n  web:\n    image: x:1\n    healthcheck: {off}\n")).services
    assert web.spec.health is None


def test_a_dockerfile_of_its_own_is_read_from_inside_the_context(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dev.Dockerfile").write_text("FROM scratch\n")
    path = compose(tmp_path, "services:\n  web:\n    build: {context: app, dockerfile: Dev.Dockerfile}\n")
    (web,) = load(path).services
    assert (web.build, web.dockerfile) == (tmp_path / "app", "Dev.Dockerfile")


def test_a_service_joins_each_network_it_names_answering_to_its_name_on_each(tmp_path: Path) -> None:
    path = compose(
        tmp_path, "services:\n  web:\n    image: x:1\n    networks: [default, backend]\nnetworks:\n  backend:\n"
    )
    (web,) = load(path).services
    assert [(n.name, n.aliases) for n in web.spec.networks] == [
        (f"{tmp_path.name}_backend", ("web",)),
        (f"{tmp_path.name}_default", ("web",)),
    ]
    assert (web.spec.network, web.spec.aliases) == (f"{tmp_path.name}_backend", ("web",))


def test_a_network_not_declared_is_refused_as_compose_refuses_it(tmp_path: Path) -> None:
    path = compose(tmp_path, "services:\n  web:\n    image: x:1\n    networks: [default, backend]\n")
    with pytest.raises(ConfigurationError, match=r"services.web.networks.backend: no network 'backend' under"):
        load(path)


def test_keys_without_local_effect_warn_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deploy = "{replicas: 2, resources: {limits: {memory: 1g}, reservations: {cpus: '0.5'}}}"
    path = compose(tmp_path, f"services:\n  web:\n    image: x:1\n    deploy: {deploy}\n")
    assert cli(["config", "-f", str(path)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == [  # replicas and the memory limit are applied: not said
        f"oblako-backends: warning: {path}:4: services.web.deploy.resources.reservations.cpus: ignored "
        "(it changes nothing for a local run)"
    ]


def test_yaml_is_read_safely(tmp_path: Path) -> None:
    path = compose(tmp_path, "services: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigurationError, match="not valid YAML"):
        load(path)


def test_without_f_compose_files_are_found_first_then_oblako_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "oblako.toml").write_text("[services.toml-web]\nimage = 'x:1'\n")
    assert cli(["config"]) == 0
    assert "toml-web" in capsys.readouterr().out
    compose(tmp_path, "services:\n  yaml-web:\n    image: x:1\n", "docker-compose.yml")
    assert cli(["config"]) == 0
    assert "yaml-web" in capsys.readouterr().out
    compose(tmp_path, "services:\n  first-choice:\n    image: x:1\n", "compose.yaml")
    assert cli(["config"]) == 0
    assert "first-choice" in capsys.readouterr().out


def test_every_interpolation_form_and_passed_through_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_SHELL", "shell-value")
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.delenv("UNSET", raising=False)
    path = compose(
        tmp_path,
        "services:\n  web:\n    image: x:1\n"
        "    volumes: ['data:/d:rw']\n"
        "    environment:\n"
        "      - FROM_SHELL\n"  # alone: this shell's value
        "      - BARE=$FROM_SHELL\n"
        "      - COLON_DEFAULT=${EMPTY:-used-when-empty}\n"
        "      - DASH_DEFAULT=${EMPTY-not-used-when-empty}\n"
        "      - UNSET_DEFAULT=${UNSET-used-when-unset}\n"
        "      - UNSET_ALONE\n"  # alone and unset: left out
        "volumes: {data: {name: fixed-name}}\n",
    )
    spec = spec_of(path, "web", project="p").spec
    assert dict(spec.environment) == {
        "FROM_SHELL": "shell-value",
        "BARE": "shell-value",
        "COLON_DEFAULT": "used-when-empty",
        "DASH_DEFAULT": "",
        "UNSET_DEFAULT": "used-when-unset",
    }
    assert [(v.source, v.read_only) for v in spec.volumes] == [("fixed-name", False)]


def test_restart_policies_are_read_and_an_unknown_one_is_warned_not_applied(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for i, policy in enumerate(("unless-stopped", "on-failure:3", "no", "sometimes")):  # Compose's config reads each
        (tmp_path / str(i)).mkdir()
        path = compose(tmp_path / str(i), f"services:\n  web:\n    image: x:1\n    restart: {policy}\n")
        assert cli(["config", "-f", str(path)]) == 0
        warned = capsys.readouterr().err.splitlines()
        if policy == "sometimes":
            assert warned == [
                f"oblako-backends: warning: {path}:4: services.web.restart: not a restart policy Docker knows; "
                "not applied"
            ]
        else:
            assert warned == []
            assert load(path).services[0].spec.restart == policy


def test_a_service_others_wait_to_complete_runs_once_and_restart_no_needs_no_capability(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compose's default policy is `no`: made explicit for a one-off others wait for (a runtime
    whose default restarts, as Kubernetes' Deployment does, must know it ends), left unset
    for the others; and `no` asks nothing of a backend, so none drops it with a warning."""
    from oblako_backends.project.run import adapt

    path = compose(
        tmp_path,
        "services:\n  migrate:\n    image: x:1\n  keep:\n    image: x:1\n    restart: on-failure\n"
        "  web:\n    image: x:1\n    depends_on:\n"
        "      migrate: {condition: service_completed_successfully}\n"
        "      keep: {condition: service_completed_successfully}\n",
    )
    project = load(path)
    assert {d.name: d.spec.restart for d in project.services} == {"migrate": "no", "keep": "on-failure", "web": None}
    _, said = adapt(project, frozenset(), "bare")  # a backend with no capability at all
    assert [line for line in said if "restart" in line] == [
        "keep: restart: bare cannot apply it (capability 'restart'); the service runs without it"
    ]
    capsys.readouterr()
    assert cli(["config", "--json", "-f", str(path)]) == 0  # it prints the file, not the default made explicit
    written = json.loads(capsys.readouterr().out)["services"]
    assert "restart" not in written["migrate"] and written["keep"]["restart"] == "on-failure"


def test_a_backend_without_health_or_names_refuses_them_in_run_and_up_says_what_it_does_instead(
    tmp_path: Path,
) -> None:
    from oblako_backends import OblakoBackendError, get_backend
    from oblako_backends.project.run import down, up

    memory = get_backend("memory")  # declares neither "health" nor "service_names"
    with pytest.raises(OblakoBackendError, match="cannot run a health check inside the container"):
        memory.run(name="checked", image="x:1", health={"command": ["true"]})
    with pytest.raises(OblakoBackendError, match="cannot give containers names that others resolve"):
        memory.run(name="named", image="x:1", aliases=["named"])
    path = compose(tmp_path, "services:\n  web:\n    image: x:1\n    healthcheck: {test: 'true', interval: 1s}\n")
    stack = load(path, "plain")
    with pytest.warns(UserWarning) as said:
        up(stack, memory)
    assert [str(w.message) for w in said] == [
        "service names do not resolve on memory: services reach each other through their published ports "
        "on the host (host.docker.internal)",
        "web: memory cannot run health checks inside the container; waiting for its first published port, "
        "from the host instead",
    ]
    info = memory.inspect("plain-web-1")
    assert info is not None and info.state == "running" and info.health is None
    assert down(stack, memory) == {}


def test_up_drops_each_option_the_backend_cannot_apply_with_one_line_per_field_and_service(tmp_path: Path) -> None:
    from oblako_backends import OblakoBackendError, get_backend
    from oblako_backends.project.run import down, up

    memory = get_backend("memory")  # declares none of the Compose options' capabilities
    with pytest.raises(OblakoBackendError):
        memory.run(name="refused", image="x:1", hostname="h")
    path = compose(
        tmp_path,
        "services:\n  web:\n    image: x:1\n    hostname: h\n    domainname: d.example\n    tty: true\n"
        "  db:\n    image: x:1\n    cap_drop: [ALL]\n",
    )
    stack = load(path, "dropped")
    with pytest.warns(UserWarning) as said:
        up(stack, memory)
    dropped = sorted(str(w.message) for w in said if "cannot apply it" in str(w.message))
    assert dropped == sorted(
        f"{service}: {field}: memory cannot apply it (capability {capability!r}); the service runs without it"
        for service, field, capability in (
            ("web", "hostname", "hostname"),
            ("web", "domainname", "hostname"),
            ("web", "tty", "tty"),
            ("db", "cap_drop", "security"),
        )
    )
    info = memory.inspect("dropped-web-1")
    assert info is not None and info.state == "running"
    assert down(stack, memory) == {}


def test_an_address_named_for_a_port_stays_with_that_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An address in the file is the user's decision: OBLAKO_BIND_ADDRESS widens only the others."""
    monkeypatch.setenv("OBLAKO_BIND_ADDRESS", "0.0.0.0")
    path = compose(
        tmp_path,
        "services:\n  web:\n    image: a\n"
        '    ports: ["127.0.0.1:18933:80", "18934:81", {target: 82, host_ip: 127.0.0.1}]\n',
    )
    ports = {p.container_port: (p.host_ip, p.host_port) for p in spec_of(path, "web").spec.ports}
    assert ports == {80: ("127.0.0.1", 18933), 81: (None, 18934), 82: ("127.0.0.1", None)}


BAD_SETTINGS = [  # each class of bad value this stop's new inputs take, and what the refusal names
    ({".env": 'A="never closed\n'}, {}, r"\.env:1: a value opened with \" is never closed"),
    ({".env": "1BAD=secret-value\n"}, {}, r"\.env:1: '1BAD': expected KEY=VALUE, KEY being a variable name"),
    ({".env": "A=${B\n"}, {}, r"\.env:1: A: invalid interpolation"),
    ({"app.env": "-x=1\n"}, {}, r"app\.env:1: '-x': expected KEY=VALUE"),
    ({}, {"COMPOSE_PROJECT_NAME": "Bad Name!"}, "COMPOSE_PROJECT_NAME"),
    ({".env": "COMPOSE_PROJECT_NAME=-leading\n"}, {}, "COMPOSE_PROJECT_NAME"),
    ({}, {"COMPOSE_FILE": "missing.yaml"}, r"can't read the Compose file .*missing\.yaml"),
    ({}, {"COMPOSE_PROFILES": ""}, None),  # blank: no profile, the file reads
]


@pytest.mark.parametrize("files, env, refused", BAD_SETTINGS)
def test_bad_dotenv_lines_and_compose_settings_are_refused_naming_what(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    files: dict[str, str],
    env: dict[str, str],
    refused: str | None,
) -> None:
    import re

    for name in ("COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "COMPOSE_PROFILES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    compose(tmp_path, "services:\n  web:\n    image: x:1\n    env_file: [{path: app.env, required: false}]\n")
    monkeypatch.chdir(tmp_path)
    code = cli(["config", "--json"])
    err = capsys.readouterr().err
    if refused is None:
        assert code == 0, err
    else:
        assert code == 2 and re.search(refused, err), err
        assert "secret-value" not in err  # what follows `=` may be a secret: never shown


def test_doctor_reach_refuses_a_bad_image_before_starting_anything(capsys: pytest.CaptureFixture[str]) -> None:
    from oblako_backends import get_backend

    assert cli(["doctor", "--backend", "memory", "--reach", "Not An Image"]) == 2
    assert "invalid image" in capsys.readouterr().err
    assert not [c.name for c in get_backend("memory").list() if (c.project or "").startswith("oblako-doctor-")]


def test_a_build_context_without_its_dockerfile_is_read_and_refused_by_up_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Compose reads such a file (its build fails later); `config` prints it, `up` names what is missing."""
    path = compose(tmp_path, "services:\n  web:\n    build: {context: ., dockerfile: Other.Dockerfile}\n")
    assert cli(["config", "-f", str(path)]) == 0
    capsys.readouterr()
    assert cli(["up", "--backend", "memory", "-f", str(path)]) == 2
    assert f"services.web: build: {tmp_path} has no Other.Dockerfile to build" in capsys.readouterr().err


def test_one_source_mounted_at_two_targets_keeps_both_mounts(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    path = compose(
        tmp_path,
        "services:\n  web:\n    image: x:1\n    volumes: ['data:/a', 'data:/b:ro', './conf:/c1', './conf:/c2']\n"
        "volumes:\n  data: {}\n",
    )
    (web,) = load(path, "shop").services
    mounts = [(v.source, v.target, v.read_only) for v in web.spec.volumes]
    conf = str(tmp_path / "conf")
    assert mounts == [("shop_data", "/a", False), ("shop_data", "/b", True), (conf, "/c1", False), (conf, "/c2", False)]
    assert ContainerSpec(**web.spec.to_kwargs()) == web.spec  # oblako's shape keeps both too


def test_service_completed_successfully_is_read_as_a_dependency_to_wait_for(tmp_path: Path) -> None:
    path = compose(
        tmp_path,
        "services:\n  migrate:\n    image: x:1\n  web:\n    image: x:1\n"
        "    depends_on: {migrate: {condition: service_completed_successfully}}\n",
    )
    migrate, web = load(path, "shop").services
    assert (web.depends_on, web.completed) == (("migrate",), ("migrate",))
    assert migrate.completed == ()  # what it waits for runs first (test_compose_engines proves the wait)


def test_a_port_s_wider_host_address_is_read_as_compose_reads_it_and_listens_where_oblako_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = compose(
        tmp_path,
        "services:\n  web:\n    image: x:1\n"
        "    ports: ['0.0.0.0:8080:80', {target: 81, published: 8081, host_ip: 10.1.2.3}]\n",
    )
    with pytest.warns(UserWarning) as said:
        (web,) = load(path, "shop").services
    assert [(p.container_port, p.host_ip, p.host_port) for p in web.spec.ports] == [(80, None, 8080), (81, None, 8081)]
    assert [str(w.message).split(": ", 1)[1] for w in said] == [
        f"services.web.ports: host address {a}: the port listens on OBLAKO_BIND_ADDRESS (default 127.0.0.1) "
        f"instead; set OBLAKO_BIND_ADDRESS={a} to listen there"
        for a in ("0.0.0.0", "10.1.2.3")
    ]
    assert cli(["config", "--json", "-f", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)["services"]["web"]["ports"]
    assert [p.get("host_ip") for p in printed] == ["0.0.0.0", "10.1.2.3"]  # as Compose prints them


def test_build_keys_a_backend_cannot_apply_are_refused_one_line_each_before_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The memory backend builds (an implementation without the `build` argument, as written
    before it existed) but declares neither build_options nor build_secrets."""
    (tmp_path / "Dockerfile").write_text("FROM x:1\n")
    (tmp_path / "tok.txt").write_text("s3cret\n")
    path = compose(
        tmp_path,
        "services:\n  web:\n    image: x:1\n  app:\n    image: localhost/app:1\n"
        "    build: {context: ., target: final, args: {A: '1'}, secrets: [tok]}\n"
        "secrets:\n  tok: {file: tok.txt}\n",
    )
    for command in ("up", "build"):
        assert cli([command, "--backend", "memory", "-f", str(path)]) == 2
        err = capsys.readouterr().err
        cannot = "the memory backend cannot apply it"
        assert f"{path}: services.app.build.target: {cannot} (capability 'build_options')" in err
        assert "services.app.build.args: the memory backend cannot apply it" in err
        assert "services.app.build.secrets: the memory backend cannot apply it (capability 'build_secrets')" in err
        assert "docker buildx build --secret" in err and "nothing was built or started" in err
        assert "s3cret" not in err
    from oblako_backends import get_backend

    assert get_backend("memory").list() == []  # web was not started either


def test_a_build_without_build_keys_still_reaches_an_implementation_that_takes_no_build_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x:1\n")
    path = compose(tmp_path, "services:\n  app:\n    image: localhost/app:1\n    build: {context: ., labels: {}}\n")
    assert cli(["build", "--backend", "memory", "-f", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == ["app: localhost/app:1"]


def test_selinux_relabelling_is_refused_by_the_facade_and_dropped_by_up_with_a_line_where_not_applied(
    tmp_path: Path,
) -> None:
    from oblako_backends import OblakoBackendError, get_backend
    from oblako_backends.project.run import down, up

    memory = get_backend("memory")  # no capability 'selinux'
    with pytest.raises(OblakoBackendError, match=r"cannot apply volumes \(capabilities selinux\)"):
        memory.run(name="refused", image="x:1", volumes={str(tmp_path): {"bind": "/d", "mode": "rw", "selinux": "Z"}})
    (tmp_path / "d").mkdir()
    path = compose(tmp_path, "services:\n  web:\n    image: x:1\n    volumes: ['./d:/d:z', './d:/e']\n")
    stack = load(path, "relabel")
    with pytest.warns(UserWarning) as said:
        up(stack, memory)
    assert "web: volumes: /d: :z/:Z (SELinux relabelling): memory cannot apply it (capability 'selinux'); " \
        "mounted without it" in [str(w.message) for w in said]  # fmt: skip
    assert down(stack, memory) == {}


def test_a_relabelled_mount_keeps_its_option_through_oblakos_keyword_shape() -> None:
    spec = ContainerSpec(name="w", image="x:1", volumes={"/srv": {"bind": "/d", "mode": "ro", "selinux": "z"}})
    assert [(v.read_only, v.selinux) for v in spec.volumes] == [(True, "z")]
    assert ContainerSpec(**spec.to_kwargs()) == spec
    plain = ContainerSpec(name="w", image="x:1", volumes={"/srv": {"bind": "/d", "mode": "ro"}})
    assert spec.fingerprint() != plain.fingerprint()  # relabelled or not: another container
    assert "selinux" not in json.dumps(plain.to_kwargs())  # unchanged for a mount without it
    with pytest.raises(InvalidSpecError, match="selinux"):
        ContainerSpec(name="w", image="x:1", volumes={"/srv": {"bind": "/d", "selinux": "shared"}})
