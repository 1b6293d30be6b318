"""Compose's tmpfs, secrets, configs and resource keys read into ContainerSpec (no runtime):
what lands in the spec, what is refused and how it is said, and that a secret's content is
never shown. tests/test_compose_oracle.py compares the same keys with Compose itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from oblako_backends import ConfigurationError, ContainerSpec
from oblako_backends.cli import main as cli
from oblako_backends.options import FileSpec
from oblako_backends.project import load
from oblako_backends.project.compose import byte_count

SECRET = "hunter2-do-not-show"


@pytest.fixture(autouse=True)
def _no_project_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBLAKO_PROJECT", raising=False)


def spec(tmp_path: Path, service: str, top: str = "") -> ContainerSpec:
    """The spec of service `web`, whose keys are `service` (indented by 4)."""
    path = tmp_path / "compose.yaml"
    path.write_text(f"{top}services:\n  web:\n    image: busybox\n{service}")
    (web,) = load(path).services
    return web.spec


def refused(tmp_path: Path, service: str, top: str = "") -> str:
    with pytest.raises(ConfigurationError) as caught:
        spec(tmp_path, service, top)
    return str(caught.value)


def test_tmpfs_short_forms_and_tmpfs_volumes_are_tmpfs_mounts(tmp_path: Path) -> None:
    assert spec(tmp_path, "    tmpfs: /run\n").tmpfs == {"/run": ""}
    got = spec(
        tmp_path,
        "    tmpfs: [/run, '/tmp:size=64m,mode=1777']\n"
        "    volumes:\n"
        "      - {type: tmpfs, target: /cache, tmpfs: {size: 1g, mode: 0o1777}}\n"
        "      - {type: tmpfs, target: /scratch}\n"
        "      - data:/data\n"
        "volumes: {data: }\n",
    )
    assert got.tmpfs == {
        "/cache": "size=1073741824,mode=1777",
        "/run": "",
        "/scratch": "",
        "/tmp": "size=64m,mode=1777",
    }
    assert [v.target for v in got.volumes] == ["/data"]  # the tmpfs ones are not volumes


DEFINED = (
    "secrets:\n"
    "  token: {file: ./token.txt}\n"
    "  from_env: {environment: TOKEN_VAR}\n"
    "configs:\n"
    "  app: {file: conf/app.conf}\n"
    "  inline: {content: 'port=80'}\n"
)


def test_secrets_and_configs_are_files_read_from_their_definitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token.txt").write_text(SECRET)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "app.conf").write_text("a=1\n")
    (tmp_path / ".env").write_text("TOKEN_VAR=from-dotenv\n")
    monkeypatch.delenv("TOKEN_VAR", raising=False)
    got = spec(
        tmp_path,
        "    secrets:\n"
        "      - token\n"
        "      - {source: token, target: renamed, mode: 0400}\n"
        "      - {source: from_env, target: /etc/abs, mode: '0440'}\n"
        "    configs: [app, {source: inline, target: etc/inline.conf}]\n",
        DEFINED,
    )
    token = str(tmp_path / "token.txt")
    assert got.files == (
        FileSpec("/app", b"a=1\n", 0o444, str(tmp_path / "conf" / "app.conf")),
        FileSpec("/etc/abs", b"from-dotenv", 0o440),  # the variable as interpolation reads it
        FileSpec("/etc/inline.conf", b"port=80", 0o444),
        FileSpec("/run/secrets/renamed", SECRET.encode(), 0o400, token),  # relative: under /run/secrets
        FileSpec("/run/secrets/token", SECRET.encode(), 0o444, token),
    )
    assert SECRET not in repr(got) and SECRET not in repr(got.files)
    assert SECRET not in str(got.fingerprint())


def test_the_shell_s_variable_wins_over_dotenv_for_an_environment_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("TOKEN_VAR=from-dotenv\n")
    monkeypatch.setenv("TOKEN_VAR", "from-shell")
    top = "secrets:\n  from_env: {environment: TOKEN_VAR}\n"
    assert spec(tmp_path, "    secrets: [from_env]\n", top).files[0].content == b"from-shell"


def test_external_secrets_and_configs_are_said_once_and_left_out(tmp_path: Path) -> None:
    top = "secrets:\n  vault: {external: true}\nconfigs:\n  shared: {external: true}\n"
    with pytest.warns(UserWarning) as said:
        got = spec(tmp_path, "    secrets: [vault]\n    configs: [shared]\n", top)
    assert got.files == ()
    messages = [str(w.message) for w in said if "external" in str(w.message)]
    assert messages == [
        f"{tmp_path / 'compose.yaml'}:8: services.web.secrets: secrets.vault, configs.shared: external: "
        "not applied by this layer; the service runs without them"
    ]


def test_an_undefined_secret_or_config_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    message = refused(tmp_path, "    secrets: [nope]\n")
    assert message == (
        f"{path}:4: services.web.secrets[0]: 'nope' is not defined; define it under the top-level `secrets:` "
        "(with file or environment)"
    )
    assert "services.web.configs[0]: 'other' is not defined" in refused(tmp_path, "    configs: [other]\n")


def test_a_missing_secret_file_is_refused_naming_where_and_the_path(tmp_path: Path) -> None:
    message = refused(tmp_path, "    secrets: [token]\n", "secrets:\n  token: {file: ./missing.txt}\n")
    assert message == (
        f"{tmp_path / 'compose.yaml'}:6: services.web.secrets[0]: secrets.token: {tmp_path / 'missing.txt'} "
        "is not a file"
    )


def test_an_unset_variable_for_a_secret_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    message = refused(tmp_path, "    secrets: [s]\n", "secrets:\n  s: {environment: NOT_SET_HERE}\n")
    assert "services.web.secrets[0]: secrets.s: the variable NOT_SET_HERE it is read from is not set" in message


def test_two_secrets_at_one_path_are_refused_without_showing_either(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text(SECRET)
    (tmp_path / "b.txt").write_text(SECRET + "-other")
    top = "secrets:\n  a: {file: a.txt}\n  b: {file: b.txt}\n"
    message = refused(tmp_path, "    secrets: [a, {source: b, target: a}]\n", top)
    assert "services.web.secrets[1]: /run/secrets/a: another secret or config is put at this path" in message
    assert SECRET not in message
    (tmp_path / "c").mkdir()
    same = spec(tmp_path / "c", "    secrets: [s, s]\n", "secrets:\n  s: {file: ../a.txt}\n")
    assert [f.target for f in same.files] == ["/run/secrets/s"]  # the same one twice: once, as Compose


def test_a_secret_s_content_is_never_in_config_s_output_or_a_trace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "token.txt").write_text(SECRET)
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  web:\n    image: busybox\n    secrets: [token]\nsecrets:\n  token: {file: token.txt}\n"
    )
    assert cli(["config", "--json", "--show-environment", "-f", str(path)]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert '"file": "' + str(tmp_path / "token.txt") in out


@pytest.mark.parametrize(
    ("mode", "want"), [("0400", 0o400), ("'0400'", 0o400), ("'600'", 0o600), ("292", 0o444), ("0o440", 0o440)]
)
def test_a_file_mode_is_read_as_compose_reads_it(tmp_path: Path, mode: str, want: int) -> None:
    """A number is a number (YAML's 0400 is octal), text is octal, as in Compose."""
    (tmp_path / "s.txt").write_text("x")
    got = spec(tmp_path, f"    secrets: [{{source: s, mode: {mode}}}]\n", "secrets:\n  s: {file: s.txt}\n")
    assert got.files[0].mode == want


RESOURCES = """\
    mem_limit: 64m
    mem_reservation: 1.5g
    shm_size: 1000000
    cpus: "1.5"
    pids_limit: 100
    ulimits: {nofile: {soft: 1024, hard: 4096}, nproc: 65535}
    sysctls: ["net.core.somaxconn=1024", "kernel.msgmax=65536"]
    devices: ["/dev/fuse", "/dev/sda:/dev/xvda:r", {source: /dev/kvm, target: /dev/kvm}]
"""


def test_resource_keys_are_read_in_the_spec_s_units(tmp_path: Path) -> None:
    got = spec(tmp_path, RESOURCES)
    assert (got.mem_limit, got.mem_reservation, got.shm_size) == (64 * 2**20, 3 * 2**29, 1_000_000)
    assert (got.cpus, got.pids_limit) == (1.5, 100)
    assert got.ulimits == {"nofile": (1024, 4096), "nproc": (65535, 65535)}
    assert got.sysctls == {"kernel.msgmax": "65536", "net.core.somaxconn": "1024"}
    assert got.devices == ("/dev/fuse:/dev/fuse:rwm", "/dev/sda:/dev/xvda:r", "/dev/kvm:/dev/kvm:rwm")
    mapped = spec(tmp_path, "    sysctls: {net.ipv4.ip_forward: 1, vm.overcommit: true}\n")
    assert mapped.sysctls == {"net.ipv4.ip_forward": "1", "vm.overcommit": "true"}


def test_deploy_resources_set_the_limits_and_equal_service_keys_agree(tmp_path: Path) -> None:
    deploy = (
        "    deploy:\n      resources:\n"
        "        limits: {memory: 128m, cpus: '0.25', pids: 50}\n"
        "        reservations: {memory: 32m}\n"
    )
    got = spec(tmp_path, deploy)
    assert (got.mem_limit, got.cpus, got.pids_limit, got.mem_reservation) == (2**27, 0.25, 50, 2**25)
    both = spec(tmp_path, deploy + "    mem_limit: 134217728\n    cpus: 0.25\n    pids_limit: 50\n")
    assert (both.mem_limit, both.cpus, both.pids_limit) == (2**27, 0.25, 50)


@pytest.mark.parametrize(
    ("key", "deploy"),
    [
        ("mem_limit: 64m", "limits: {memory: 128m}"),
        ("cpus: 0.5", "limits: {cpus: '0.25'}"),
        ("pids_limit: 10", "limits: {pids: 50}"),
        ("mem_reservation: 1m", "reservations: {memory: 2m}"),
    ],
)
def test_distinct_service_and_deploy_values_are_refused_as_compose_refuses_them(
    tmp_path: Path, key: str, deploy: str
) -> None:
    message = refused(tmp_path, f"    {key}\n    deploy:\n      resources:\n        {deploy}\n")
    name, part = key.split(":")[0], deploy.split(":")[0] + "." + deploy.split("{")[1].split(":")[0]
    assert f"services.web.deploy.resources.{part}: can't set distinct values on '{name}' and " in message


def test_deploy_parts_not_read_are_said_and_gpus_are_said_not_applied(tmp_path: Path) -> None:
    deploy = (
        "    deploy:\n      labels: {a: b}\n      resources:\n"
        "        reservations: {cpus: '0.5', devices: [{capabilities: [gpu]}]}\n"
    )
    with pytest.warns(UserWarning) as said:
        spec(tmp_path, deploy)
    messages = sorted(re.sub(r"^.*services\.web\.", "", str(w.message)) for w in said)
    assert messages == [
        "deploy.labels: ignored (it changes nothing for a local run)",
        "deploy.resources.reservations.cpus: ignored (it changes nothing for a local run)",
        "deploy.resources.reservations.devices: not applied yet by this layer; the service runs without them",
    ]


def test_a_cdi_device_is_said_and_left_out(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match=r"services\.web\.devices: 'nvidia.com/gpu=all': not a device path"):
        got = spec(tmp_path, "    devices: [nvidia.com/gpu=all, /dev/fuse]\n")
    assert got.devices == ("/dev/fuse:/dev/fuse:rwm",)


BAD = {
    "mem_limit: 12x": r":4: services\.web\.mem_limit: '12x' is not a size",
    "shm_size: -5m": r":4: services\.web\.shm_size: '-5m' is not a size",
    "cpus: lots": r":4: services\.web\.cpus: 'lots' is not a number of CPUs",
    "pids_limit: many": r":4: services\.web\.pids_limit: 'many' is not a number of processes",
    "ulimits: {nofile: {soft: 9, hard: 1}}": r":4: services\.web\.ulimits: invalid ulimits\['nofile'\]",
    "ulimits: {nofile: {soft: 9}}": r":4: services\.web\.ulimits\.nofile: needs `hard`",  # the schema's
    "sysctls: {'Bad Name': 1}": r":4: services\.web\.sysctls: invalid sysctls 'Bad Name'",
    "devices: ['/dev/fuse:rw']": r":4: services\.web\.devices: invalid devices '/dev/fuse:rw:rwm'",
    "tmpfs: relative/path": r":4: services\.web\.tmpfs: invalid tmpfs 'relative/path'",
    "tmpfs: ['/x:size=1 g']": r":4: services\.web\.tmpfs: invalid tmpfs\['/x'\]",
    "volumes: [{type: tmpfs, target: x}]": r":4: services\.web\.volumes: invalid tmpfs 'x'",
    "volumes: [{type: tmpfs, target: /x, tmpfs: {size: 1q}}]": r":4: services\.web\.volumes: /x: tmpfs\.size: '1q'",
    "deploy: {resources: {limits: {memory: lots}}}": r":4: services\.web\.deploy\.resources\.limits\.memory: 'lots'",
}


@pytest.mark.parametrize("line", BAD)
def test_a_bad_value_is_refused_naming_the_file_the_service_and_the_key(tmp_path: Path, line: str) -> None:
    message = refused(tmp_path, f"    {line}\n")
    assert message.startswith(str(tmp_path / "compose.yaml")), message
    assert re.search(BAD[line], message), message


def test_a_bad_secret_mode_or_target_is_refused_naming_the_entry(tmp_path: Path) -> None:
    (tmp_path / "s.txt").write_text(SECRET)
    top = "secrets:\n  s: {file: s.txt}\n"
    message = refused(tmp_path, "    secrets: [{source: s, mode: '999'}]\n", top)
    where = f"{tmp_path / 'compose.yaml'}:6: services.web.secrets[0]"
    assert message == f"{where}: mode: '999' is not a file mode like 0440 or \"0440\""
    assert SECRET not in message


SIZES = {"64m": 64 * 2**20, "1.5g": 3 * 2**29, "1 m": 2**20, "1KiB": 1024, "1Mb": 2**20, "1t": 2**40, "1e3": 1000}


@pytest.mark.parametrize("text", SIZES)
def test_sizes_are_read_as_go_units_reads_them(text: str) -> None:
    assert byte_count(text) == SIZES[text]


@pytest.mark.parametrize("text", ["12x", "-5m", "1.5.5m", "m", "1kbb", "1bk"])
def test_what_is_not_a_size_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        byte_count(text)


def test_an_included_file_s_secrets_are_read_from_its_own_directory(tmp_path: Path) -> None:
    """As Compose reads them: the included project's definitions join, their files its own."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "s.txt").write_text(SECRET)
    (tmp_path / "sub" / "compose.yaml").write_text(
        "services:\n  inner:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s: {file: ./s.txt}\n"
    )
    path = tmp_path / "compose.yaml"
    path.write_text("include: [sub/compose.yaml]\nservices:\n  web:\n    image: busybox\n    secrets: [s]\n")
    for service in load(path).services:
        assert service.spec.files == (
            FileSpec("/run/secrets/s", SECRET.encode(), 0o444, str(tmp_path / "sub" / "s.txt")),
        )
