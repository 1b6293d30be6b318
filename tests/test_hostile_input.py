"""Hostile input: each class of bad value is refused with InvalidSpecError naming the field,
before any runtime is touched. Every property here asserts refusal, never "accepted or refused"."""

from __future__ import annotations

import math
import string
from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from oblako_backends import ContainerSpec, InvalidSpecError, Service, get_backend
from oblako_backends.cli import main as cli
from oblako_backends.spec import parse_port

SECRET = "s3cr3t-value-never-shown"


def refused(field: str, value: object) -> InvalidSpecError:
    fields: dict[str, object] = {"name": "ok", "image": "busybox", field: value}
    with pytest.raises(InvalidSpecError) as info:
        ContainerSpec(**fields)
    assert info.value.field.startswith(field), info.value
    return info.value


# -- extra_hosts -------------------------------------------------------------------------------

ipv6 = st.ip_addresses(v=6).map(str)
ipv4 = st.ip_addresses(v=4).map(str)
junk = st.text(min_size=1, max_size=20)


@given(st.one_of(ipv4, ipv6), junk)
def test_an_address_with_a_scope_or_any_suffix_is_refused(address: str, suffix: str) -> None:
    refused("extra_hosts", {"db": f"{address}%{suffix}"})


@given(st.one_of(ipv4, ipv6), st.sampled_from([" ", "\n", "\t", "\r\n"]), st.one_of(ipv4, st.just("x")))
def test_an_address_with_whitespace_is_refused(address: str, space: str, rest: str) -> None:
    refused("extra_hosts", {"db": f"{address}{space}{rest}"})
    refused("extra_hosts", {"db": f"{space}{address}"})


@given(st.integers(0, 2**128 - 1))
def test_an_address_given_as_a_number_is_refused(number: int) -> None:
    refused("extra_hosts", {"db": number})


@given(
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    st.sampled_from(["\n", " ", "\t", "/", "_", "%", ":", "\x00", "é"]),
    st.from_regex(r"[a-z]{0,8}", fullmatch=True),
)
def test_a_host_name_with_any_other_character_is_refused(head: str, bad: str, tail: str) -> None:
    refused("extra_hosts", {f"{head}{bad}{tail}": "10.0.0.1"})


def test_the_reported_etc_hosts_injection_is_refused() -> None:
    refused("extra_hosts", {"evil": "fe80::1%x\n10.6.6.6 metadata.internal"})


def test_plain_addresses_and_host_gateway_stay_valid() -> None:
    spec = ContainerSpec(name="ok", image="busybox", extra_hosts={"a": "10.1.2.3", "b": "fe80::1", "c": "host-gateway"})
    assert dict(spec.extra_hosts) == {"a": "10.1.2.3", "b": "fe80::1", "c": "host-gateway"}


# -- environment keys ---------------------------------------------------------------------------

key_text = st.text(alphabet=string.ascii_letters + string.digits + "_.", min_size=0, max_size=8)


@given(key_text, key_text, st.sampled_from(["=", "\x00", " ", "\t", "\n", "\r", "\x0b"]))
def test_an_env_key_with_a_separator_or_whitespace_is_refused(head: str, tail: str, bad: str) -> None:
    refused("environment", {f"{head}{bad}{tail}": "1"})


@given(key_text)
def test_an_env_key_starting_with_a_dash_is_refused(rest: str) -> None:
    refused("environment", {f"-{rest}": "1"})


def test_empty_env_keys_are_refused_and_dotted_keys_stay_valid() -> None:
    refused("environment", {"": "1"})
    assert ContainerSpec(name="ok", image="busybox", environment={"discovery.type": "single-node"}).environment


# -- image references ----------------------------------------------------------------------------


@given(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.characters(min_codepoint=128, max_codepoint=0x2FFF))
def test_non_ascii_in_any_part_of_an_image_reference_is_refused(word: str, char: str) -> None:
    for image in (f"busybox:{word}{char}", f"{word}{char}/x:1", f"localhost/{word}{char}"):
        refused("image", image)


# -- volumes ---------------------------------------------------------------------------------------

path_part = st.from_regex(r"[a-z0-9_.-]{1,8}", fullmatch=True).filter(lambda p: p not in (".", ".."))


@given(path_part, path_part)
def test_a_colon_in_a_source_or_target_is_refused(a: str, b: str) -> None:
    refused("volumes", {f"/{a}:{b}": {"bind": "/data"}})
    refused("volumes", {"data": {"bind": f"/{a}:{b}"}})


@given(st.sampled_from(["/", "//", "/.", "/./", "/tmp/..", "///"]))
def test_mounting_the_host_root_or_over_the_container_root_is_refused(root: str) -> None:
    refused("volumes", {root: {"bind": "/host"}})
    refused("volumes", {"data": {"bind": root}})


@given(path_part, st.sampled_from(["/", "//", "/.", "/./"]))
def test_two_spellings_of_one_target_are_refused(part: str, trailer: str) -> None:
    error = refused("volumes", {"a": {"bind": f"/{part}"}, "b": {"bind": f"/{part}{trailer}"}})
    assert "same path" in str(error)


# -- ports ------------------------------------------------------------------------------------------

odd_digits = st.characters(categories=["Nd", "No"]).filter(lambda c: not c.isascii())


@given(odd_digits, st.integers(1, 9))
def test_non_ascii_digits_in_a_port_are_invalid_spec_errors(digit: str, n: int) -> None:
    for text in (f"{n}{digit}:80", f"80{digit}", f"{digit}:{n}"):
        with pytest.raises(InvalidSpecError):
            key, host = parse_port(text)
            ContainerSpec(name="ok", image="busybox", ports={key: host})


def test_two_services_claiming_one_host_port_are_refused_by_up_before_anything_starts(tmp_path: Path) -> None:
    """Compose reads such a file (`config` prints it too); no run can start both."""
    from oblako_backends import ConfigurationError, get_backend
    from oblako_backends.project import load
    from oblako_backends.project.run import up

    path = tmp_path / "s.toml"
    path.write_text(
        "[services.a]\nimage = 'x:1'\nports = ['9000:80']\n[services.b]\nimage = 'x:1'\nports = ['9000:81']\n"
    )
    project = load(path)
    memory = get_backend("memory")
    with pytest.raises(
        ConfigurationError, match=r"services.b: ports: host port 9000/tcp is also claimed by services.a"
    ):
        up(project, memory)
    assert memory.list() == []


# -- durations --------------------------------------------------------------------------------------

bad_seconds = st.one_of(
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
)


@given(bad_seconds)
def test_every_duration_refuses_nan_infinity_and_negatives(value: float) -> None:
    backend = get_backend("memory")
    with pytest.raises(InvalidSpecError):
        backend.stop("ok", timeout=value)
    with pytest.raises(InvalidSpecError):
        Service("web", "busybox", backend=backend, stop_timeout=value)
    with pytest.raises(InvalidSpecError):
        Service("web", "busybox", backend=backend).wait_ready(timeout=value)
    with pytest.raises(InvalidSpecError):
        backend.probe(timeout=value)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "-inf", "NaN", "1e999"])
def test_stop_t_refuses_bad_durations_with_exit_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli(["stop", "--backend", "memory", "web", f"--timeout={value}"])
    assert info.value.code == 2
    assert "expected a number of seconds" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1.0"])
def test_a_health_timeout_of_nan_or_infinity_is_refused(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.toml"
    path.write_text(f"[services.web]\nimage = 'x:1'\nhealth = {{ log = 'x', timeout = {value} }}\n")
    assert cli(["up", "--backend", "memory", str(path)]) == 2
    assert "timeout must be a finite, positive number" in capsys.readouterr().err


def test_a_services_file_that_is_not_utf8_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes("[services.web]\nimage = 'x:1'\nenv = { A = 'caf\xe9' }\n".encode("latin-1"))
    assert cli(["up", "--backend", "memory", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path} is not UTF-8" in err and "Traceback" not in err


# -- secrets ---------------------------------------------------------------------------------------


def test_an_env_value_never_appears_in_a_validation_error() -> None:
    for value in (f"{SECRET}\x00", [SECRET], {"x": SECRET}):
        error = refused("environment", {"TOKEN": value})
        assert SECRET not in str(error) and SECRET not in repr(error.value)
        assert "TOKEN" in str(error)


def test_an_env_value_never_appears_in_a_specs_repr() -> None:
    spec = ContainerSpec(name="ok", image="busybox", environment={"TOKEN": SECRET})
    assert SECRET not in repr(spec) and "TOKEN" in repr(spec)


def test_an_env_value_never_appears_in_trace_output() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "OBLAKO_TRACE": "1"}
    argv = [sys.executable, "-m", "oblako_backends.cli", "run", "--backend", "memory", "-e", f"TOKEN={SECRET}"]
    argv += ["--name", "web", "busybox"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=True)
    assert "oblako trace: oblako_run(" in done.stderr and "TOKEN" in done.stderr
    assert SECRET not in done.stderr + done.stdout


@pytest.mark.parametrize("value", ["maybe", "2", "yes please"])
def test_a_bad_publish_gateway_setting_is_refused_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from oblako_backends import ConfigurationError, config

    monkeypatch.setenv("OBLAKO_PUBLISH_GATEWAY", value)
    with pytest.raises(ConfigurationError, match="OBLAKO_PUBLISH_GATEWAY"):
        config.publish_gateway()


@given(st.sampled_from(["", "-v", "has space", "a/b", "x:y", "ünï", "."]))
def test_a_bad_volume_name_is_refused_before_the_runtime(name: str) -> None:
    backend = get_backend("memory")
    with pytest.raises(InvalidSpecError):
        backend.create_volume(name)
    with pytest.raises(InvalidSpecError):
        backend.remove_volume(name)


@given(st.sampled_from(["", "-net", "has space", "a/b", "x:y", "ünï", ".", "n" * 256]))
def test_a_bad_network_name_is_refused_by_the_spec_and_the_facade(name: str) -> None:
    with pytest.raises(InvalidSpecError, match="invalid network"):
        ContainerSpec(name="web", image="busybox", network=name)
    backend = get_backend("memory")
    with pytest.raises(InvalidSpecError):
        backend.create_network(name)
    with pytest.raises(InvalidSpecError):
        backend.remove_network(name)


@given(
    st.one_of(
        st.sampled_from(["", "-alias", "_x", "a.b", "a b", "ünï", "x" * 64]),  # not a DNS label, or too long
        st.text(alphabet=string.punctuation.replace("-", "").replace("_", ""), min_size=1, max_size=3).map(
            lambda p: f"a{p}b"
        ),
    )
)
def test_an_alias_that_is_not_a_short_name_is_refused(alias: str) -> None:
    with pytest.raises(InvalidSpecError, match="invalid aliases"):
        ContainerSpec(name="web", image="busybox", aliases=[alias])


@pytest.mark.parametrize(
    ("health", "rule"),
    [
        ("test -e /ok", "a HealthCommand, a map of its fields, or None"),
        ({"interval": 1}, "a map of command, interval"),  # no command
        ({"command": ["true"], "every": 1}, "a map of command, interval"),  # unknown field
        ({"command": []}, "invalid health.command"),
        ({"command": ["true"], "interval": 0}, "invalid health.interval"),
        ({"command": ["true"], "timeout": float("nan")}, "invalid health.timeout"),
        ({"command": ["true"], "start_period": -1}, "invalid health.start_period"),
        ({"command": ["true"], "retries": True}, "invalid health.retries"),
        ({"command": ["true"], "retries": 1001}, "invalid health.retries"),
    ],
)
def test_each_class_of_bad_health_check_is_refused(health: object, rule: str) -> None:
    with pytest.raises(InvalidSpecError, match=rule):
        ContainerSpec(name="web", image="busybox", health=health)


@pytest.mark.parametrize(
    "binding",
    [
        ("localhost", 8080),
        ("127.0.0.1%lo", 8080),
        ("127.0.0.1 ", 8080),
        (2130706433, 8080),
        ("-p", 8080),
        ("127.0.0.1",),
    ],
)
def test_a_port_bound_to_anything_but_an_ip_address_and_a_port_is_refused(binding: tuple[object, ...]) -> None:
    refused("ports", {"80/tcp": binding})
