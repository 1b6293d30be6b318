"""Finding Colima's socket the way Colima lays out its files, against a fake HOME.

The Colima lifecycle itself runs in plugins/oblako-backend-docker/tests/test_engines.py,
against a real Docker Engine listening at Colima's socket path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from oblako_backend_colima.endpoints import candidates
from oblako_backends import ConfigurationError, RuntimeUnavailableError, get_backend


def urls(env: dict[str, str]) -> list[str]:
    return [e.url for e in candidates(env={"PATH": "/nonexistent", **env})]


def test_default_profile_under_home_then_xdg_then_legacy() -> None:
    assert urls({"HOME": "/h"}) == [
        "unix:///h/.colima/default/docker.sock",
        "unix:///h/.config/colima/default/docker.sock",
        "unix:///h/.colima/docker.sock",
    ]
    assert urls({"HOME": "/h", "XDG_CONFIG_HOME": "/x"})[1] == "unix:///x/colima/default/docker.sock"


def test_colima_home_is_the_only_base() -> None:
    assert urls({"HOME": "/h", "COLIMA_HOME": "/c"}) == [
        "unix:///c/default/docker.sock",
        "unix:///h/.colima/docker.sock",
    ]


@pytest.mark.parametrize(
    ("profile", "directory"), [("", "default"), ("colima", "default"), ("work", "work"), ("colima-work", "work")]
)
def test_profiles_map_to_directories_as_colima_names_them(profile: str, directory: str) -> None:
    assert urls({"HOME": "/h", "COLIMA_PROFILE": profile})[0] == f"unix:///h/.colima/{directory}/docker.sock"


@pytest.mark.parametrize("profile", ["../etc", "a/b", "-x", "w rk"])
def test_a_profile_that_is_not_a_name_is_refused(profile: str) -> None:
    with pytest.raises(ConfigurationError, match="COLIMA_PROFILE"):
        urls({"HOME": "/h", "COLIMA_PROFILE": profile})


def test_docker_host_wins() -> None:
    assert urls({"HOME": "/h", "DOCKER_HOST": "unix:///d.sock"}) == ["unix:///d.sock"]


def test_colima_status_is_asked_first_when_colima_is_on_path(tmp_path: Path) -> None:
    """Colima cannot run here; a stand-in prints what `colima status --json` documents."""
    stand_in = tmp_path / "bin" / "colima"
    stand_in.parent.mkdir()
    status = {"display_name": "colima [profile=work]", "runtime": "docker", "docker_socket": "unix:///vm/work.sock"}
    expected = ["status", "--profile", "work", "--json"]
    stand_in.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"if sys.argv[1:] != {expected!r}:\n    sys.exit('unexpected arguments: ' + repr(sys.argv))\n"
        f"print(json.dumps({status!r}))\n"
    )
    stand_in.chmod(0o755)
    found = candidates(env={"PATH": str(stand_in.parent), "HOME": "/h", "COLIMA_PROFILE": "colima-work"})
    assert (found[0].url, found[0].source) == ("unix:///vm/work.sock", "`colima status`")
    assert found[1].url == "unix:///h/.colima/work/docker.sock"


def test_a_missing_socket_says_start_colima_and_lists_the_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("DOCKER_HOST", "COLIMA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("COLIMA_PROFILE", "work")
    backend = get_backend("colima")
    with pytest.raises(RuntimeUnavailableError) as info:
        backend.list()
    message = str(info.value)
    assert "colima start --profile work" in message
    assert f"{tmp_path}/.colima/work/docker.sock" in message and f"{tmp_path}/.colima/docker.sock" in message
    probe = backend.probe()
    assert not probe.reachable and "colima start" in probe.hint
