"""Selecting a backend by name through real entry points of real (throwaway) distributions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from oblako_backends import (
    BackendLoadError,
    ConfigurationError,
    OblakoBackendError,
    RuntimeUnavailableError,
    UnknownBackendError,
    get_backend,
    list_backends,
    plugins,
)
from oblako_backends.cli import main as cli

MakeDist = Callable[..., Path]
ROOT = Path(__file__).resolve().parent.parent
GROUP = "oblako.backends"


def plugin_module(extra: str = "") -> tuple[str, dict[str, str]]:
    """A fresh module name and its source: a backend built on the reference one."""
    module = f"fake_{uuid.uuid4().hex[:8]}"
    source = "from oblako_backends.testing import MemoryPlugin\nclass Plugin(MemoryPlugin):\n    pass\n" + extra
    return module, {f"{module}.py": source}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OBLAKO_CONTAINER_BACKEND", "OBLAKO_TRACE", "DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(var, raising=False)


def test_explicit_name_beats_environment_which_beats_default(
    monkeypatch: pytest.MonkeyPatch, make_dist: MakeDist
) -> None:
    module, files = plugin_module()
    make_dist("oblako-backend-fancy", {GROUP: {"fancy": f"{module}:Plugin"}}, files)
    assert get_backend().name == "docker"
    monkeypatch.setenv("OBLAKO_CONTAINER_BACKEND", " Fancy ")
    assert get_backend().name == "fancy"
    assert "OBLAKO_CONTAINER_BACKEND" in get_backend().selected_by
    assert get_backend("memory").name == "memory"
    assert get_backend("memory").selected_by == "argument"


def test_a_bad_name_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBLAKO_CONTAINER_BACKEND", "dock er!")
    with pytest.raises(ConfigurationError, match="OBLAKO_CONTAINER_BACKEND='dock er!'"):
        get_backend()


def test_unknown_name_lists_installed_and_never_falls_back() -> None:
    with pytest.raises(UnknownBackendError) as info:
        get_backend("nerdctl")
    message = str(info.value)
    assert "'nerdctl'" in message
    assert "docker" in message and "memory" in message
    assert "pip install" not in message  # not a first-party name: no made-up extra


@pytest.fixture
def future_first_party(monkeypatch: pytest.MonkeyPatch) -> str:
    """A first-party backend name that no installed distribution provides (every real one is)."""
    monkeypatch.setattr("oblako_backends.plugins.FIRST_PARTY", (*plugins.FIRST_PARTY, "lima"))
    return "lima"


def test_first_party_name_with_a_declared_extra_gives_the_pip_command(
    make_dist: MakeDist, future_first_party: str
) -> None:
    # a core release that declares the extra, ahead of the installed one on sys.path
    make_dist("oblako-backends", {}, version="9.0", extras=("testing", future_first_party))
    with pytest.raises(UnknownBackendError, match=r"Install it with: pip install 'oblako-backends\[lima\]'"):
        get_backend(future_first_party)


def test_first_party_name_without_an_extra_yet_says_so_instead_of_a_pip_command(future_first_party: str) -> None:
    with pytest.raises(UnknownBackendError) as info:
        get_backend(future_first_party)
    from importlib.metadata import version

    core = version("oblako-backends")
    assert f"The first-party lima backend is not released with oblako-backends {core} yet." in str(info.value)
    assert "pip install" not in str(info.value)  # no command for an extra that does not exist


def test_aliases_select_the_same_backend_and_are_listed(make_dist: MakeDist) -> None:
    module, files = plugin_module()
    make_dist(
        "oblako-backend-fancy",
        {GROUP: {"fz": f"{module}:Plugin", "fancy": f"{module}:Plugin"}},
        files,
    )
    assert get_backend("fz").name == "fancy"  # the name matching the distribution is canonical
    (info,) = [b for b in list_backends() if b.name == "fancy"]
    assert info.aliases == ("fz",)
    assert info.distribution == "oblako-backend-fancy"
    assert info.version == "1.0"


def test_a_broken_plugin_is_reported_and_does_not_break_others(
    make_dist: MakeDist, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dist(
        "oblako-backend-broken",
        {GROUP: {"broken": "broken_mod_xyz:Plugin"}},
        {"broken_mod_xyz.py": "raise ImportError('needs libfoo')\n"},
    )
    with pytest.raises(BackendLoadError) as info:
        get_backend("broken")
    message = str(info.value)
    assert "broken = broken_mod_xyz:Plugin" in message
    assert "oblako-backend-broken 1.0" in message
    assert "needs libfoo" in message
    assert get_backend("memory").name == "memory"
    assert cli(["list"]) == 0
    out = capsys.readouterr().out
    assert "broken: " in out and "needs libfoo" in out
    assert [line for line in out.splitlines() if line.startswith("memory")][0].endswith("layer)")  # loads fine


def test_a_plugin_built_for_a_newer_core_says_which_core_it_needs(make_dist: MakeDist) -> None:
    from importlib.metadata import version

    make_dist(
        "oblako-backend-future",
        {GROUP: {"future": "future_mod_xyz:Plugin"}},
        {"future_mod_xyz.py": "from oblako_backends import name_a_later_core_adds\n"},
        version="0.3.0",
        requires=("oblako-backends<0.4,>=0.3.0", "docker>=7"),
    )
    with pytest.raises(BackendLoadError) as info:
        get_backend("future")
    core = version("oblako-backends")
    assert f"oblako-backend-future needs oblako-backends<0.4,>=0.3.0, and this is oblako-backends {core}" in str(
        info.value
    )
    assert "pip install --upgrade 'oblako-backends' 'oblako-backend-future'" in str(info.value)
    assert "Reinstall or upgrade" not in str(info.value)  # not the generic advice


def test_first_party_plugins_and_the_cores_extras_move_in_lockstep() -> None:
    """Every first-party distribution has the core's version; the core's extras pin exactly it;
    each plugin accepts only this core's minor series."""
    import tomllib

    core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    version = core["version"]
    minor = ".".join(version.split(".")[:2])
    upper = f"0.{int(version.split('.')[1]) + 1}"
    for plugin in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        project = tomllib.loads(plugin.read_text())["project"]
        assert project["version"] == version, plugin
        assert f"oblako-backends>={minor}.0,<{upper}" in project["dependencies"], plugin
        assert [d for d in project["dependencies"] if d.startswith("oblako-backend-")] in (
            [],
            [f"oblako-backend-docker=={version}"],
        ), plugin
        extra = project["name"].removeprefix("oblako-backend-")
        assert core["optional-dependencies"][extra] == [f"{project['name']}=={version}"]
        assert f"{project['name']}=={version}" in core["optional-dependencies"]["all"]


def test_list_works_when_every_plugin_is_broken(
    make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_dist("oblako-backend-b1", {GROUP: {"b1": "no_such_module_1:X"}})
    make_dist("oblako-backend-b2", {GROUP: {"b2": "no_such_module_2:X"}})
    assert cli(["list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert "No module named 'no_such_module_1'" in rows["b1"]["problem"]
    assert "No module named 'no_such_module_2'" in rows["b2"]["problem"]


def test_two_distributions_claiming_one_name_is_an_error_naming_both(make_dist: MakeDist) -> None:
    m1, f1 = plugin_module()
    m2, f2 = plugin_module()
    make_dist("dist-one", {GROUP: {"dup": f"{m1}:Plugin"}}, f1)
    make_dist("dist-two", {GROUP: {"dup": f"{m2}:Plugin"}}, f2)
    with pytest.raises(BackendLoadError) as info:
        get_backend("dup")
    assert "dist-one" in str(info.value) and "dist-two" in str(info.value)


def test_a_plugin_whose_hooks_do_not_match_the_contract_is_refused(make_dist: MakeDist) -> None:
    module, files = plugin_module(
        "from oblako_backends import hookimpl\n"
        "class Typo:\n"
        "    @hookimpl\n"
        "    def oblako_stauts(self, name):\n"
        "        return None\n"
    )
    make_dist("oblako-backend-typo", {GROUP: {"typo": f"{module}:Typo"}}, files)
    with pytest.raises(BackendLoadError, match="oblako_stauts"):
        get_backend("typo")


def test_a_hook_the_plugin_lacks_is_a_clear_error(make_dist: MakeDist) -> None:
    module, files = plugin_module(
        "from oblako_backends import hookimpl\n"
        "class Small:\n"
        "    @hookimpl\n"
        "    def oblako_inspect(self, name):\n"
        "        return None\n"
    )
    make_dist("oblako-backend-small", {GROUP: {"small": f"{module}:Small"}}, files)
    backend = get_backend("small")
    assert backend.status("anything") == "absent"
    with pytest.raises(OblakoBackendError, match="small backend does not support run"):
        backend.run(name="x", image="busybox")
    assert backend.docker_client() is None


def test_options_reach_the_factory_and_bad_ones_are_named() -> None:
    backend = get_backend("memory", pullable=["busybox"])
    assert backend.plugin._pullable == {"busybox"}
    with pytest.raises(ConfigurationError, match="does not accept options"):
        get_backend("memory", colour="blue")


def test_extension_hookwrappers_wrap_the_backend(make_dist: MakeDist) -> None:
    module = f"ext_{uuid.uuid4().hex[:8]}"
    source = (
        "from oblako_backends import hookimpl\n"
        "CALLS = []\n"
        "class Counter:\n"
        "    @hookimpl(wrapper=True)\n"
        "    def oblako_inspect(self, name):\n"
        "        CALLS.append(name)\n"
        "        return (yield)\n"
    )
    make_dist("oblako-counter", {"oblako.extensions": {"counter": f"{module}:Counter"}}, {f"{module}.py": source})
    backend = get_backend("memory")
    backend.status("abc")
    assert sys.modules[module].CALLS == ["abc"]


def test_a_broken_extension_warns_and_the_backend_still_loads(make_dist: MakeDist) -> None:
    make_dist("oblako-badext", {"oblako.extensions": {"bad": "no_such_ext_mod:X"}})
    with pytest.warns(RuntimeWarning, match="no_such_ext_mod"):
        backend = get_backend("memory")
    assert backend.status("x") == "absent"


def test_trace_prints_each_hook_call_with_arguments_and_duration(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OBLAKO_TRACE", "1")
    get_backend("memory").status("traced-one")
    err = capsys.readouterr().err
    assert "oblako trace: oblako_inspect(name='traced-one') -> None in " in err
    assert " ms" in err


def test_trace_refuses_a_value_it_cannot_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBLAKO_TRACE", "maybe")
    with pytest.raises(ConfigurationError, match="OBLAKO_TRACE='maybe'"):
        get_backend("memory")


def test_auto_picks_the_first_backend_whose_runtime_answers(
    make_dist: MakeDist, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    module, files = plugin_module()
    make_dist("oblako-backend-zeta", {GROUP: {"zeta": f"{module}:Plugin"}}, files)
    backend = get_backend("auto")
    assert backend.name == "zeta"  # docker did not answer; memory is never chosen by auto
    assert backend.selected_by.startswith("auto")


def test_auto_with_nothing_reachable_says_what_was_tried(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(RuntimeUnavailableError) as info:
        get_backend("auto")
    assert "docker" in str(info.value) and "no such socket" in str(info.value)


def _fresh_python(code: str, site: Path | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBLAKO_")}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_listing_imports_no_plugin_module(make_dist: MakeDist) -> None:
    module, files = plugin_module()
    site = make_dist("oblako-backend-lazy", {GROUP: {"lazy": f"{module}:Plugin"}}, files)
    out = _fresh_python(
        "import sys, json\n"
        "from oblako_backends import list_backends\n"
        "names = [b.name for b in list_backends()]\n"
        f"watched = ('{module}', 'oblako_backend_docker', 'docker', 'oblako_backends.testing')\n"
        "loaded = [m for m in watched if m in sys.modules]\n"
        "print(json.dumps([names, loaded]))\n",
        site,
    )
    names, loaded = json.loads(out)
    assert {"lazy", "docker", "memory"} <= set(names)
    assert loaded == []


def test_selecting_a_backend_imports_only_that_one_and_not_docker_py() -> None:
    out = _fresh_python(
        "import sys, json\n"
        "from oblako_backends import get_backend\n"
        "get_backend('docker')\n"
        "watched = ('oblako_backend_docker', 'docker', 'oblako_backends.testing.memory')\n"
        "print(json.dumps([m in sys.modules for m in watched]))\n"
    )
    assert json.loads(out) == [True, False, False]


def test_doctor_explains_the_choice_and_exits_zero_when_reachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OBLAKO_CONTAINER_BACKEND", "memory")
    assert cli(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "backend:      memory (selected by environment (OBLAKO_CONTAINER_BACKEND)" in out
    assert "reachable:    yes" in out
    assert cli(["doctor", "--json", "--backend", "memory"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["selected_by"] == "argument" and report["reachable"] is True


def test_doctor_exits_nonzero_with_what_to_do_when_unreachable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    assert cli(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "reachable:    NO" in out
    assert f"{tmp_path}/absent.sock (from DOCKER_HOST): no such socket" in out
    assert "what to do:" in out and "Start Docker" in out


def test_doctor_with_an_unknown_backend_exits_2_with_one_cause(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["doctor", "--backend", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("oblako-backends: unknown container backend 'nope'")


def test_the_layer_logs_through_logging_one_logger_per_module_and_trace_is_one_of_them(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from oblako_backends import Service

    secret = "s3cr3t-value-never-logged"
    monkeypatch.setenv("OBLAKO_TRACE", "1")
    caplog.set_level(logging.DEBUG, logger="oblako_backends")
    backend = get_backend("memory")
    Service("logged", "localhost/logged:1", backend=backend, environment={"TOKEN": secret}).start()
    by_logger = {r.name for r in caplog.records}
    assert {"oblako_backends.plugins", "oblako_backends.backend", "oblako_backends.trace"} <= by_logger
    assert any(
        r.name == "oblako_backends.backend" and r.getMessage().startswith("run oblako-logged") for r in caplog.records
    )
    assert any("oblako_run(spec=ContainerSpec(name='oblako-logged'" in r.getMessage() for r in caplog.records)
    assert all(secret not in r.getMessage() for r in caplog.records)  # env values are masked in every record


def test_the_entry_point_scanner_agrees_with_importlib_metadata(tmp_path: Path) -> None:
    """The fast scanner reads metadata folders itself (importlib.metadata costs more than starting
    Python). On a sys.path with dist-info, egg-info without a version in its name, a zip, a
    duplicate further down and odd names, it must find what importlib.metadata finds."""
    import zipfile

    first, second = tmp_path / "first", tmp_path / "second"

    def dist(where: Path, folder: str, name: str, version: str, entry: str, header: str = "METADATA") -> None:
        meta = where / folder
        meta.mkdir(parents=True)
        (meta / header).write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nbody\n")
        (meta / "entry_points.txt").write_text(f"[oblako.backends]\n{entry}\n\n[console_scripts]\nx = y:z\n")

    dist(first, "alpha_pkg-1.0.dist-info", "Alpha.Pkg", "1.0", "alpha = alpha_mod:Plugin")
    dist(first, "Odd.Name__x.egg-info", "Odd.Name__x", "2.0", "odd = odd_mod:Plugin", header="PKG-INFO")
    dist(second, "alpha_pkg-9.9.dist-info", "alpha-pkg", "9.9", "alpha = shadowed:Plugin")  # the first one wins
    archive = tmp_path / "zeta.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zeta-3.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zeta\nVersion: 3.0\n")
        zipped.writestr("zeta-3.0.dist-info/entry_points.txt", "[oblako.extensions]\nz = zeta_mod:Ext\n")
    program = """
import importlib.metadata as md, json, sys
sys.path[:0] = sys.argv[1:]
from oblako_backends import plugins
ours = sorted([g, e.name, e.value, e.distribution, e.version] for g, eps in plugins._scan().items() for e in eps)
theirs = sorted(
    [ep.group, ep.name, ep.value, ep.dist.metadata["Name"], ep.dist.version]
    for group in plugins.GROUPS for ep in md.entry_points(group=group)
)
print(json.dumps([ours, theirs]))
"""
    done = subprocess.run(
        [sys.executable, "-c", program, str(first), str(second), str(archive)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    ours, theirs = json.loads(done.stdout)
    assert ours == theirs
    assert ["oblako.backends", "odd", "odd_mod:Plugin", "Odd.Name__x", "2.0"] in ours  # not "unknown"
    assert ["oblako.backends", "alpha", "alpha_mod:Plugin", "Alpha.Pkg", "1.0"] in ours
    assert ["oblako.extensions", "z", "zeta_mod:Ext", "zeta", "3.0"] in ours


@pytest.mark.parametrize(("raw", "normal"), [("Odd.Name__x", "odd-name-x"), ("a-_.-b", "a-b"), ("Flask", "flask")])
def test_names_are_normalised_as_pep_503_says(raw: str, normal: str) -> None:
    assert plugins._normalise(raw) == normal
