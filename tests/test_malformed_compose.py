"""Malformed Compose files are refused with exit 2 and a message naming the file (and, for a
service's key, the service and the key), never a traceback; and what would be harmful if
read leniently is refused: a volume name that is a path, two services with one container."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st
from oblako_backends import ConfigurationError
from oblako_backends.project import load
from oblako_backends.project.compose import SUPPORTED


@pytest.fixture(autouse=True)
def _no_project_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OBLAKO_PROJECT", raising=False)


@pytest.mark.parametrize("name", ["/tmp/victim", "../up", "./here", "~/home", "a/b", "x", "-opt", "a b", "é"])
def test_a_volume_name_that_is_not_a_volume_name_is_refused(tmp_path: Path, name: str) -> None:
    """`name: /tmp/victim` once became a read-write bind of that host directory."""
    path = tmp_path / "compose.yaml"
    services = {"web": {"image": "a", "volumes": ["data:/data"]}}
    path.write_text(yaml.safe_dump({"services": services, "volumes": {"data": {"name": name}}}))
    with pytest.raises(ConfigurationError, match=r"volumes.data: name .* is not a volume name") as info:
        load(path)
    assert str(path) in str(info.value)


def test_an_external_volume_named_by_its_key_is_checked_too(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web: {image: a, volumes: ['/etc:/d']}\nvolumes:\n  /etc: {external: true}\n")
    with pytest.raises(ConfigurationError, match=r"compose.yaml:4: volumes./etc: not a name allowed here"):
        load(path)


def test_a_volume_name_of_letters_digits_and_dots_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web: {image: a, volumes: ['data:/d']}\nvolumes:\n  data: {name: shared.data_1-x}\n")
    (definition,) = load(path).services
    assert [v.source for v in definition.spec.volumes] == ["shared.data_1-x"]


def test_two_services_with_one_container_name_are_refused_naming_both(tmp_path: Path) -> None:
    """`up` once reported both ready while only one ran (each replaced the other). Compose
    refuses it too; a TOML file names every container <project>-<service>, so cannot collide."""
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  web: {image: a, container_name: same}\n  db: {image: a, container_name: same}\n")
    complaint = r"services.db: container_name: 'same' is also the container name of services.web"
    with pytest.raises(ConfigurationError, match=complaint) as info:
        load(path)
    assert str(path) in str(info.value)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(key=st.sampled_from(SUPPORTED), value=values)
def test_any_value_of_any_key_is_read_or_refused_naming_the_file_never_a_traceback(
    tmp_path: Path, key: str, value: object
) -> None:
    """The refusals themselves are asserted class by class in test_compose.py; here, whatever
    the shape, the only way out of the reader is a result or a ConfigurationError that names
    the file and the service."""
    body = {"image": "a", key: value} if key not in ("image", "build") else {key: value}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump({"services": {"web": body}}))
    try:
        load(path)
    except ConfigurationError as exc:
        assert str(path) in str(exc) and "web" in str(exc), exc


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(key=st.sampled_from(["name", "volumes", "networks", "version", "services"]), value=values)
def test_any_top_level_value_is_read_or_refused_naming_the_file_never_a_traceback(
    tmp_path: Path, key: str, value: object
) -> None:
    document = {"services": {"web": {"image": "a", "volumes": ["v:/v"]}}, "volumes": {"v": None}, key: value}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(document))
    try:
        load(path)
    except ConfigurationError as exc:
        assert str(path) in str(exc), exc
