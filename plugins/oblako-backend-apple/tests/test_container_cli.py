"""argv building, JSON parsing and error reading over the CLI's documented outputs. No Mac needed.

The recorded outputs follow apple/container 0.5: docs/command-reference.md for commands and
flags, and the Codable types in Sources/ContainerClient (ContainerSnapshot, ContainerConfiguration,
PublishPort, Attachment) for the JSON of `container ls --format json`.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from oblako_backend_apple import container_cli
from oblako_backends import RUNNING, STOPPED, ContainerSpec

# `container ls --all --format json`, one running and one stopped container.
LS_JSON = json.dumps(
    [
        {
            "status": "running",
            "configuration": {
                "id": "web",
                "image": {"reference": "docker.io/library/nginx:latest", "descriptor": {"digest": "sha256:ab"}},
                "labels": {"oblako.managed-by": "oblako-backends", "oblako.service": "web"},
                "publishedPorts": [
                    {"hostAddress": "127.0.0.1", "hostPort": 8080, "containerPort": 80, "proto": "tcp", "count": 1}
                ],
                "mounts": [],
                "initProcess": {"executable": "/docker-entrypoint.sh", "arguments": ["nginx"], "environment": []},
                "platform": {"os": "linux", "architecture": "arm64"},
                "runtimeHandler": "container-runtime-linux",
            },
            "networks": [
                {"network": "default", "hostname": "web", "address": "192.168.64.3/24", "gateway": "192.168.64.1"}
            ],
        },
        {
            "status": "stopped",
            "configuration": {
                "id": "batch",
                "image": {"reference": "docker.io/library/busybox:latest"},
                "labels": {},
                "publishedPorts": [
                    {"hostAddress": "0.0.0.0", "hostPort": 9000, "containerPort": 9000, "proto": "udp", "count": 2}
                ],
                "initProcess": {"executable": "sh", "arguments": []},
            },
            "networks": [],
        },
    ]
)


def test_ls_json_becomes_container_infos() -> None:
    web, batch = (container_cli.info(s) for s in container_cli.snapshots(LS_JSON))
    assert (web.name, web.state, web.image, web.owned) == ("web", RUNNING, "docker.io/library/nginx:latest", True)
    assert web.endpoint(80) == ("127.0.0.1", 8080)
    assert (batch.state, batch.owned) == (STOPPED, False)
    assert [(p.container_port, p.host_port, p.protocol) for p in batch.ports] == [
        (9000, 9000, "udp"),
        (9001, 9001, "udp"),
    ]
    assert container_cli.gateway_of(container_cli.snapshots(LS_JSON)) == "192.168.64.1"
    assert container_cli.snapshots("") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("container CLI version 0.5.0 (build: release, commit: 3f2e1a0)", (0, 5, 0)),
        ("container CLI version 1.1 (build: release)", (1, 1, 0)),
        ("something else", None),
    ],
)
def test_version_is_read_from_the_version_line(text: str, expected: tuple[int, int, int] | None) -> None:
    assert container_cli.version(text) == expected


@pytest.mark.parametrize(
    ("image", "qualified"),
    [
        ("busybox", "docker.io/library/busybox"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("bitnami/redis:7", "docker.io/bitnami/redis:7"),
        ("localhost/oblako-test:1", "localhost/oblako-test:1"),
        ("ghcr.io/org/app:1", "ghcr.io/org/app:1"),
        ("127.0.0.1:5000/x:1", "127.0.0.1:5000/x:1"),
    ],
)
def test_docker_hub_short_names_are_qualified(image: str, qualified: str) -> None:
    assert container_cli.qualify(image) == qualified


def test_run_argv_is_a_list_with_every_flag_in_the_documented_form(tmp_path: Path) -> None:
    spec = ContainerSpec(
        name="db",
        image="postgres:16",
        ports={"5432/tcp": 15432},
        environment={"PGHOST": "host.docker.internal", "A": "b c; rm -rf /"},
        volumes={
            "pg-data": {"bind": "/var/lib/postgresql/data", "mode": "rw"},
            "/etc/conf": {"bind": "/conf", "mode": "ro"},
        },
        working_dir="/srv",
        user="999",
        labels={"team": "data"},
        command=["postgres", "-c", "fsync=off"],
    )
    env_file = tmp_path / "env"
    argv = container_cli.run_argv(spec, {"5432/tcp": 15432}, ("127.0.0.1",), tmp_path, env_file)
    assert argv == [
        "run", "--detach", "--name=db",
        "--publish=127.0.0.1:15432:5432/tcp",
        f"--env-file={env_file}",
        "--volume=/etc/conf:/conf:ro",
        f"--volume={tmp_path}/pg-data:/var/lib/postgresql/data",
        "--workdir=/srv",
        "--user=999",
        "--label=team=data",
        "--", "docker.io/library/postgres:16", "postgres", "-c", "fsync=off",
    ]  # fmt: skip
    assert container_cli.env_file_text(spec.environment, "192.168.64.1") == "A=b c; rm -rf /\nPGHOST=192.168.64.1\n"


HOSTILE = "--publish=0.0.0.0:1:1"
RUN_OPTIONS = ("--name=", "--publish=", "--env-file=", "--volume=", "--workdir=", "--user=", "--label=")


def test_no_user_value_becomes_an_argv_token_of_its_own(tmp_path: Path) -> None:
    """Every token before the image is an option with its value glued on: a hostile value
    (one that looks like an option) can never be read as one."""
    spec = ContainerSpec(
        name="web",
        image="busybox",
        ports={"80/tcp": 8080},
        environment={"KEY": HOSTILE, "discovery.type": "-single-node"},
        labels={"team": HOSTILE, "x": "--rm"},
        volumes={"data": {"bind": "/d"}},
        command=["--entrypoint", "sh"],
    )
    argv = container_cli.run_argv(spec, {"80/tcp": 8080}, ("127.0.0.1",), tmp_path, tmp_path / "env")
    image_at = argv.index("docker.io/library/busybox")
    options = argv[2 : image_at - 1]
    assert argv[:2] == ["run", "--detach"] and argv[image_at - 1] == "--"
    assert all(token.startswith(RUN_OPTIONS) for token in options), options
    assert f"--label=team={HOSTILE}" in options and "--label=x=--rm" in options
    assert not any(HOSTILE in token for token in argv if not token.startswith("--label="))  # env: only in the file
    assert argv[image_at + 1 :] == ["--entrypoint", "sh"]  # after the image: the container's own arguments


def test_an_entrypoint_is_one_option_and_the_rest_leads_the_arguments(tmp_path: Path) -> None:
    spec = ContainerSpec(name="web", image="busybox", entrypoint=["sh", "-c"], command=["echo hi"])
    argv = container_cli.run_argv(spec, {}, ("127.0.0.1",), tmp_path, None)
    assert argv[-5:] == ["--entrypoint=sh", "--", "docker.io/library/busybox", "-c", "echo hi"]


def test_env_values_go_to_the_file_and_lines_it_cannot_carry_are_refused() -> None:
    from oblako_backends import InvalidSpecError

    assert container_cli.env_file_text({"A": "x=y # not a comment"}, "") == "A=x=y # not a comment\n"
    with pytest.raises(InvalidSpecError, match=r"environment\['A'\].*line break") as info:
        container_cli.env_file_text({"A": "secret\nB=injected"}, "")
    assert "secret" not in str(info.value)
    with pytest.raises(InvalidSpecError, match="comment"):
        container_cli.env_file_text({"#A": "1"}, "")


def test_the_cli_is_found_on_path_or_named_explicitly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "container"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert container_cli.locate() == str(fake)
    assert container_cli.locate(str(fake)) == str(fake)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert container_cli.locate() is None or container_cli.locate() in container_cli.HOMEBREW


def test_a_missing_cli_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from oblako_backends import get_backend

    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("OBLAKO_APPLE_CLI", raising=False)
    probe = get_backend("apple").probe()  # this machine is not a Mac: that is the reason given
    assert not probe.reachable and "needs macOS 26 or later on Apple silicon (this machine: Linux" in probe.error
    # On a Mac that qualifies (as Python's platform module would report one), the missing CLI is the reason.
    import platform

    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    monkeypatch.setattr(platform, "mac_ver", lambda: ("26.1", ("", "", ""), "arm64"))
    probe = get_backend("apple").probe()
    assert not probe.reachable and "brew install container" in probe.hint and "macOS 26" in probe.hint


def test_a_port_with_an_address_named_is_published_there_only(tmp_path: Path) -> None:
    """OBLAKO_BIND_ADDRESS's addresses are for ports that name none."""
    spec = ContainerSpec(name="web", image="busybox", ports={"80/tcp": ("127.0.0.1", 8080), "81/tcp": 8081})
    argv = container_cli.run_argv(spec, {"80/tcp": 8080, "81/tcp": 8081}, ("0.0.0.0",), tmp_path, None)
    assert [t for t in argv if t.startswith("--publish=")] == [
        "--publish=127.0.0.1:8080:80/tcp",
        "--publish=0.0.0.0:8081:81/tcp",
    ]


def test_the_documented_compose_options_become_glued_run_flags(tmp_path: Path) -> None:
    spec = ContainerSpec(
        name="web",
        image="busybox",
        tmpfs={"/run": "", "/scratch": "size=64m"},
        dns=["192.0.2.53", "2001:db8::53"],
        dns_search=["corp.example"],
        tty=True,
        stdin_open=True,
        platform="linux/amd64",
        stop_signal="USR1",
        command=["sh"],
    )
    argv = container_cli.run_argv(spec, {}, ("127.0.0.1",), tmp_path, None)
    assert argv == [
        "run", "--detach", "--name=web",
        "--tmpfs=/run", "--tmpfs=/scratch",
        "--dns=192.0.2.53", "--dns=2001:db8::53", "--dns-search=corp.example",
        "--tty", "--interactive", "--platform=linux/amd64",
        f"--label={container_cli.STOP_SIGNAL_LABEL}=SIGUSR1",
        "--", "docker.io/library/busybox", "sh",
    ]  # fmt: skip
    # `--tmpfs PATH` carries no mount options: those are named, so the plugin can say they are dropped.
    assert container_cli.tmpfs_options_dropped(spec) == ["/scratch"]


def test_every_declared_compose_capability_changes_what_run_or_stop_is_told(tmp_path: Path) -> None:
    """No capability is declared that the CLI cannot apply: each field of each declared one
    (options.FIELD_CAPABILITY) changes `container run`'s argv; stop_grace_period is the
    `stop --time` that `down` passes, so it needs nothing at run."""
    from oblako_backend_apple import ApplePlugin
    from oblako_backends.options import FIELD_CAPABILITY

    values: dict[str, object] = {
        "tmpfs": ["/run"],
        "dns": ["192.0.2.53"],
        "dns_search": ["corp.example"],
        "tty": True,
        "stdin_open": True,
        "platform": "linux/arm64",
        "stop_signal": "SIGINT",
    }
    plain = container_cli.run_argv(ContainerSpec(name="a", image="busybox"), {}, (), tmp_path, None)
    for field, capability in FIELD_CAPABILITY.items():
        if capability not in ApplePlugin.capabilities or field == "stop_grace_period":
            continue
        spec = ContainerSpec(name="a", image="busybox", **{field: values[field]})  # type: ignore[arg-type]
        assert container_cli.run_argv(spec, {}, (), tmp_path, None) != plain, field
    assert not {"resources", "security", "hostname", "read_only", "init"} & ApplePlugin.capabilities


def test_exec_argv_keeps_env_values_in_the_file_and_the_command_as_given(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    argv = container_cli.exec_argv("web", ("--env=X=1", "sh", "-c", "exit 7"), env_file, "/tmp", "1000:1000")
    # After the container's id the CLI passes every token through unread.
    assert argv == [
        "exec", f"--env-file={env_file}", "--workdir=/tmp", "--user=1000:1000",
        "--", "web", "--env=X=1", "sh", "-c", "exit 7",
    ]  # fmt: skip
    assert container_cli.exec_argv("web", ("true",), None, None, None) == ["exec", "--", "web", "true"]


NOT_FOUND = 'Error: notFound: "get failed: container web not found"'
NOT_RUNNING = 'Error: invalidState: "container web is not running"'


@pytest.mark.parametrize(
    ("stderr", "said"),
    [(NOT_FOUND + "\n", NOT_FOUND), ("some output\n" + NOT_RUNNING, NOT_RUNNING), ("to-stderr\n", None), ("", None)],
)
def test_the_clis_own_errors_are_told_from_the_commands_output(stderr: str, said: str | None) -> None:
    assert container_cli.cli_error(stderr) == said


def test_the_1_x_listing_shape_is_read_too() -> None:
    """From 1.0, `ls --format json` prints ManagedContainer: {id, configuration, status:
    {state, networks, startedDate}}, and an attachment's gateway is `ipv4Gateway`. Neither
    shape has an exit code, so none is reported."""
    listed = json.dumps(
        [
            {
                "id": "web",
                "configuration": {"id": "web", "image": {"reference": "docker.io/library/nginx:latest"}, "labels": {}},
                "status": {
                    "state": "running",
                    "networks": [{"network": "default", "ipv4Gateway": "192.168.65.1"}],
                },
            },
            {"id": "batch", "configuration": {"id": "batch"}, "status": {"state": "stopped", "networks": []}},
        ]
    )
    web, batch = (container_cli.info(s) for s in container_cli.snapshots(listed))
    assert (web.name, web.state, batch.name, batch.state) == ("web", RUNNING, "batch", STOPPED)
    assert batch.exit_code is None
    assert container_cli.gateway_of(container_cli.snapshots(listed)) == "192.168.65.1"


def standin_parser() -> ModuleType:
    """The stand-in's reading of a command line (`options`: swift-argument-parser's rule,
    options up to the first argument or `--`), to read back what the plugin builds."""
    path = Path(__file__).parent / "standin" / "container"
    loader = importlib.machinery.SourceFileLoader("apple_standin", str(path))
    spec = importlib.util.spec_from_loader("apple_standin", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_network_is_one_glued_option_of_run_and_create_and_create_is_built_by_name(tmp_path: Path) -> None:
    spec = ContainerSpec(name="web", image="busybox", network="demo_default", labels={"x": "--network=evil"})
    run = container_cli.run_argv(spec, {}, (), tmp_path, None)
    create = container_cli.run_argv(spec, {}, (), tmp_path, None, "create")
    assert run[:3] == ["run", "--detach", "--name=web"] and create[:2] == ["create", "--name=web"]
    assert run[2:] == create[1:]  # the same options, built by name: create has no --detach
    parse = standin_parser().options
    for argv in (run, create):
        given, rest = parse(argv[0], argv[1:])
        assert [value for flag, value in given if flag == "--network"] == ["demo_default"]
        assert ("--label", "x=--network=evil") in given
        assert rest == ["docker.io/library/busybox"]
    with pytest.raises(ValueError, match="not 'exec'"):
        container_cli.run_argv(spec, {}, (), tmp_path, None, "exec")


def test_every_network_is_its_own_glued_option_the_first_first(tmp_path: Path) -> None:
    """Several networks: `--network` once per network, in the order joined (0.5 attaches them
    in that order, and publishes ports on the first: docs/how-to.md)."""
    spec = ContainerSpec(name="web", image="busybox", networks=["demo_front", "demo_back", "demo_admin"])
    argv = container_cli.run_argv(spec, {}, (), tmp_path, None)
    given, rest = standin_parser().options("run", argv[1:])
    assert [value for flag, value in given if flag == "--network"] == ["demo_front", "demo_back", "demo_admin"]
    assert rest == ["docker.io/library/busybox"]


@pytest.mark.parametrize("hostile", ["-n", "--all", "--label=a=b", "--"])
def test_a_network_or_container_name_starting_with_a_dash_is_never_read_as_an_option(hostile: str) -> None:
    """A name is refused before any argv is built (ContainerSpec and the network checks); and
    were one to get through, every argv puts it after `--`, where the CLI reads no option."""
    from oblako_backends import InvalidSpecError

    with pytest.raises(InvalidSpecError):
        ContainerSpec(name="web", image="busybox", network=hostile)
    with pytest.raises(InvalidSpecError):
        ContainerSpec(name=hostile, image="busybox")
    assert not container_cli.NETWORK_ID_RE.fullmatch(hostile)
    parse = standin_parser().options
    for argv in (container_cli.network_create_argv(hostile, {"oblako.project": "-p"}),):
        given, rest = parse("network create", argv[2:])
        assert (given, rest) == ([("--label", "oblako.project=-p")], [hostile])
    given, rest = parse("network delete", container_cli.network_delete_argv(hostile)[2:])
    assert (given, rest) == ([], [hostile])
    given, rest = parse("exec", container_cli.exec_argv(hostile, ("--user=root", "sh"), None, None, None)[1:])
    assert (given, rest) == ([], [hostile, "--user=root", "sh"])


def test_network_ls_json_gives_labels_subnets_and_who_is_attached() -> None:
    """`container network ls --format json` is an array of PrintableNetwork (id, state, config
    with labels, status with address and gateway while running), as NetworkList.swift prints it."""
    listed = container_cli.networks(
        json.dumps(
            [
                {"id": "default", "state": "running", "config": {"id": "default", "mode": "nat"},
                 "status": {"address": "192.168.64.0/24", "gateway": "192.168.64.1"}},
                {"id": "demo_default", "state": "created",
                 "config": {"id": "demo_default", "mode": "nat", "subnet": "192.168.70.0/24",
                            "labels": {"oblako.managed-by": "oblako-backends"}}},
            ]
        )
    )  # fmt: skip
    assert set(listed) == {"default", "demo_default"}
    assert container_cli.network_labels(listed["default"]) == {}
    assert container_cli.network_labels(listed["demo_default"]) == {"oblako.managed-by": "oblako-backends"}
    assert container_cli.network_subnet(listed["default"]) == "192.168.64.0/24"
    assert container_cli.network_subnet(listed["demo_default"]) == "192.168.70.0/24"
    assert container_cli.attached(container_cli.snapshots(LS_JSON), "default") == ("web",)
    assert container_cli.attached(container_cli.snapshots(LS_JSON), "demo_default") == ()
