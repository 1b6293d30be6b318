"""ContainerSpec: every valid shape oblako uses is accepted and round-trips; invalid ones are refused."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, strategies as st
from oblako_backends import ContainerSpec, InvalidSpecError, PortSpec, VolumeSpec
from oblako_backends.spec import SPEC_HASH_LABEL

names = st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,40}", fullmatch=True)
ports = st.integers(1, 65535)
env_keys = st.text(alphabet=string.ascii_letters + string.digits + "_.-", min_size=1, max_size=20).filter(
    lambda k: k[0] != "-"
)
env_values = st.text(max_size=30).filter(lambda v: "\x00" not in v)
abs_paths = st.from_regex(r"(/[a-z0-9_-][a-z0-9_.-]{0,8}){1,3}", fullmatch=True)  # normalised, never the root
commands = st.one_of(
    st.none(), st.lists(st.text(min_size=0, max_size=10).filter(lambda a: "\x00" not in a), min_size=1, max_size=5)
)


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, object]:
    container_ports = draw(st.lists(ports, unique=True, max_size=4))
    host_ports = draw(st.lists(ports, unique=True, min_size=len(container_ports), max_size=len(container_ports)))
    targets = draw(st.lists(abs_paths, unique=True, max_size=3))
    sources = draw(st.lists(st.one_of(names, abs_paths), min_size=len(targets), max_size=len(targets)))
    return {
        "name": draw(names),
        "image": draw(
            st.sampled_from(
                ["busybox", "localhost:5000/a/b:1", "localhost/oblako-test:1", "example.test/x/y@sha256:" + "a" * 64]
            )
        ),
        "ports": {
            f"{c}/{draw(st.sampled_from(['tcp', 'udp']))}": draw(st.one_of(st.none(), st.just(h)))
            for c, h in zip(container_ports, host_ports, strict=True)
        },
        "environment": draw(st.dictionaries(env_keys, env_values, max_size=4)),
        "volumes": {
            s: {"bind": t, "mode": draw(st.sampled_from(["rw", "ro"]))} for s, t in zip(sources, targets, strict=True)
        },
        "extra_hosts": draw(
            st.dictionaries(
                st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]{2,5})?", fullmatch=True),
                st.sampled_from(["host-gateway", "10.1.2.3", "::1"]),
                max_size=2,
            )
        ),
        "command": draw(commands),
        "working_dir": draw(st.one_of(st.none(), abs_paths)),
        "user": draw(st.one_of(st.none(), st.sampled_from(["root", "1000", "1000:1000", "app:staff"]))),
        "labels": draw(
            st.dictionaries(
                st.from_regex(r"[a-z][a-z0-9.-]{0,15}", fullmatch=True).filter(lambda k: not k.startswith("oblako.")),
                st.text(max_size=10).filter(lambda v: "\x00" not in v),
                max_size=3,
            )
        ),
    }


@given(valid_specs())
def test_every_valid_spec_round_trips(fields: dict[str, object]) -> None:
    spec = ContainerSpec(**fields)
    again = ContainerSpec(**spec.to_kwargs())
    assert again == spec
    assert again.fingerprint() == spec.fingerprint()


@given(valid_specs(), st.text(min_size=1, max_size=5))
def test_a_changed_environment_value_changes_the_fingerprint(fields: dict[str, object], extra: str) -> None:
    spec = ContainerSpec(**fields)
    env = dict(spec.environment)
    env["OBLAKO_TEST_CHANGED"] = "\x01" + extra.replace("\x00", "")
    assert ContainerSpec(**{**spec.to_kwargs(), "environment": env}).fingerprint() != spec.fingerprint()


INVALID: list[tuple[str, object, str]] = [
    ("name", "bad name", "container name"),
    ("name", "-leading-dash", "container name"),
    ("name", "", "container name"),
    ("name", "x" * 129, "container name"),
    ("name", "naïve", "container name"),
    ("image", "", "non-empty"),
    ("image", "Upper/Case:1", "lower case"),
    ("image", "has space", "lower case"),
    ("ports", {"0/tcp": 1}, "1 to 65535"),
    ("ports", {"70000/tcp": 1}, "1 to 65535"),
    ("ports", {"http": 1}, "1 to 65535"),
    ("ports", {"80/tcp": 70000}, "1 to 65535"),
    ("ports", {"80/tcp": "http"}, "1 to 65535"),
    ("ports", {"80/tcp": True}, "1 to 65535"),
    ("ports", {"80/icmp": 1}, "protocol"),
    ("ports", {"80/tcp": 9000, "81/tcp": 9000}, "share a host port"),
    ("ports", [8080], "mapping"),
    ("volumes", {"relative/path": {"bind": "/x"}}, "absolute host path"),
    ("volumes", {"data": {"bind": "relative"}}, "absolute path"),
    ("volumes", {"data": {"bind": "/x", "mode": "rwx"}}, "'rw' or 'ro'"),
    ("volumes", {"data": {"bind": "/x", "propagation": "shared"}}, "unknown keys"),
    ("volumes", {"a": {"bind": "/x"}, "b": {"bind": "/x"}}, "same path"),
    ("environment", {"A=B": "1"}, "without '='"),
    ("environment", {"A\x00": "1"}, "without '='"),
    ("environment", {"": "1"}, "non-empty"),
    ("environment", {"A": "x\x00y"}, "NUL"),
    ("environment", {"A": None}, "string, number or boolean"),
    ("environment", ["A=1"], "mapping"),
    ("extra_hosts", {"db": "not-an-ip"}, "IPv4 or IPv6 address"),
    ("extra_hosts", {"bad host": "1.2.3.4"}, "host name"),
    ("command", "echo 'unbalanced", "split like a shell"),
    ("command", "", "empty command"),
    ("command", [], "empty command"),
    ("command", ["ok", 3], "list of strings"),
    ("working_dir", "relative", "absolute path"),
    ("user", "a b", "uid:gid"),
    ("user", -1, "0 or more"),
    ("labels", {"oblako.managed-by": "me"}, "reserved"),
    ("labels", {"k": 1}, "string"),
]


@pytest.mark.parametrize(("field", "value", "rule"), INVALID)
def test_invalid_input_names_field_value_and_rule(field: str, value: object, rule: str) -> None:
    fields: dict[str, object] = {"name": "ok", "image": "busybox", field: value}
    with pytest.raises(InvalidSpecError) as info:
        ContainerSpec(**fields)
    message = str(info.value)
    assert field in message
    assert rule in message
    assert isinstance(info.value, ValueError)


def test_the_shapes_oblako_uses_today() -> None:
    spec = ContainerSpec(
        name="oblako-s3",
        image="localhost/s3:1",
        ports={"8000/tcp": 8001, "5432/tcp": None, 9000: 9001},
        volumes={"data": {"bind": "/var/lib/x", "mode": "rw"}, "/srv/host": {"bind": "/h", "mode": "ro"}},
        command='serve --name "two words" --flag',
        environment={"PORT": 8000, "DEBUG": True},
        user=1000,
    )
    assert spec.ports == (PortSpec(5432, "tcp", None), PortSpec(8000, "tcp", 8001), PortSpec(9000, "tcp", 9001))
    assert spec.volumes == (VolumeSpec("/srv/host", "/h", True), VolumeSpec("data", "/var/lib/x", False))
    assert spec.volumes[1].is_named and not spec.volumes[0].is_named
    assert spec.command == ("serve", "--name", "two words", "--flag")
    assert dict(spec.environment) == {"DEBUG": "True", "PORT": "8000"}
    assert spec.user == "1000"


def test_ownership_labels_are_added_without_changing_the_fingerprint() -> None:
    spec = ContainerSpec(name="a", image="busybox", labels={"team": "x"})
    owned = spec.owned_by("docker", "s3")
    assert owned.labels["oblako.service"] == "s3"
    assert owned.labels["oblako.backend"] == "docker"
    assert owned.labels[SPEC_HASH_LABEL] == spec.fingerprint() == owned.fingerprint()
    assert owned.labels["team"] == "x"


def test_spec_is_immutable() -> None:
    spec = ContainerSpec(name="a", image="busybox", environment={"A": "1"})
    with pytest.raises(AttributeError):
        spec.name = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.environment["A"] = "2"  # type: ignore[index]


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 70000) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.one_of(st.text(max_size=8), st.integers(0, 70000)), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = ["name", "image", "ports", "environment", "volumes", "extra_hosts", "command", "working_dir", "user", "labels"]


@given(st.sampled_from(FIELDS), json_like)
def test_any_input_is_either_accepted_or_refused_with_invalid_spec_error(field: str, value: object) -> None:
    fields: dict[str, object] = {"name": "ok", "image": "busybox", field: value}
    try:
        spec = ContainerSpec(**fields)
    except InvalidSpecError as exc:
        assert exc.field.startswith(field) or field in str(exc)
        return
    assert ContainerSpec(**spec.to_kwargs()) == spec  # whatever is accepted round-trips


def test_an_entrypoint_is_split_like_a_command_and_leaves_old_fingerprints_alone() -> None:
    plain = ContainerSpec(name="a", image="busybox", command="serve")
    with_entry = ContainerSpec(name="a", image="busybox", command="serve", entrypoint="/bin/tini --")
    assert with_entry.entrypoint == ("/bin/tini", "--")
    assert ContainerSpec(**with_entry.to_kwargs()) == with_entry
    assert "entrypoint" not in plain.to_kwargs()  # specs without one keep their fingerprints
    assert with_entry.fingerprint() != plain.fingerprint()
    with pytest.raises(InvalidSpecError, match="empty entrypoint"):
        ContainerSpec(name="a", image="busybox", entrypoint=[])


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"target": "-x"}, "build.target"),
        ({"args": {"1A": "x"}}, "build.args"),
        ({"args": {"A": 1}}, "build.args['A']"),
        ({"cache_from": ["type=local,src=/x"]}, "build.cache_from"),
        ({"cache_from": "img:1"}, "build.cache_from"),
        ({"labels": {"oblako.managed-by": "me"}}, "labels"),
    ],
)
def test_a_build_spec_refuses_what_no_builder_could_take(given: dict[str, object], field: str) -> None:
    from oblako_backends.spec import BuildSpec

    with pytest.raises(InvalidSpecError, match=f"invalid {re.escape(field)}[ :]"):
        BuildSpec(**given)  # type: ignore[arg-type]


def test_a_build_arguments_value_is_never_shown() -> None:
    from oblako_backends.spec import BuildSpec

    assert "s3cret" not in repr(BuildSpec(args={"NPM_TOKEN": "s3cret"}))
    assert "NPM_TOKEN" in repr(BuildSpec(args={"NPM_TOKEN": "s3cret"}))
    with pytest.raises(InvalidSpecError) as refused:
        BuildSpec(args={"NPM_TOKEN": "s3cret\x00"})
    assert "s3cret" not in str(refused.value) and "NUL" in str(refused.value)


def test_a_build_spec_says_what_each_given_key_needs() -> None:
    from oblako_backends.options import FileSpec
    from oblako_backends.spec import BuildSpec

    assert BuildSpec().needs() == {}
    build = BuildSpec(target="t", cache_from=("a:1", "a:1"), secrets=(FileSpec("/run/secrets/tok", b"x"),))
    assert build.needs() == {"build_options": ("target", "cache_from"), "build_secrets": ("secrets",)}
    assert build.cache_from == ("a:1",)
    with pytest.raises(InvalidSpecError, match="/run/secrets/ID"):
        BuildSpec(secrets=(FileSpec("/etc/tok", b"x"),))
