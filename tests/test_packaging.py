"""The released artefacts, as a package index would receive them: every first-party sdist and
wheel carries the licence text, typed-package metadata and its README, and a plugin beside a
core it was not built for is caught by `pip check` before anything runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = [ROOT, *sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))]
VERSION = "0.2.0"


def build(source: Path, out: Path) -> tuple[Path, Path]:
    """(sdist, wheel) of the project in `source`; the wheel is built from the sdist, as an index would."""
    argv = [sys.executable, "-m", "build", "--outdir", str(out), str(source)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    built = {}
    for project in FIRST_PARTY:
        name = "oblako-backends" if project == ROOT else project.name
        built[name] = build(project, tmp_path_factory.mktemp(name))
    return built


@pytest.mark.parametrize("name", ["oblako-backends", *(p.name for p in FIRST_PARTY[1:])])
def test_every_sdist_and_wheel_carries_the_licence_and_typed_metadata(
    artefacts: dict[str, tuple[Path, Path]], name: str
) -> None:
    sdist, wheel = artefacts[name]
    licence = (ROOT / "LICENSE").read_text()
    with tarfile.open(sdist) as archive:
        member = archive.extractfile(f"{sdist.name.removesuffix('.tar.gz')}/LICENSE")
        assert member is not None and member.read().decode() == licence  # the text, not a link to it
    with zipfile.ZipFile(wheel) as archive:
        files = archive.namelist()
        (meta,) = [f for f in files if f.endswith(".dist-info/METADATA")]
        (shipped,) = [f for f in files if f.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(shipped).decode() == licence
        assert any(f.endswith("/py.typed") for f in files)
        if name == "oblako-backends":  # the Compose schema, with where it comes from
            assert {
                "oblako_backends/project/compose-spec.json",
                "oblako_backends/project/compose-spec.README.md",
            } <= set(files)
        metadata = Parser().parsestr(archive.read(meta).decode())
    assert metadata["Version"] == VERSION
    assert metadata["License-Expression"] == "Apache-2.0"
    assert "Typing :: Typed" in metadata.get_all("Classifier")
    assert metadata["Description-Content-Type"] == "text/markdown" and metadata.get_payload().startswith("# ")
    if name != "oblako-backends":
        assert "oblako-backends<0.3,>=0.2.0" in metadata.get_all("Requires-Dist")


def test_a_plugin_beside_an_older_core_fails_pip_check_naming_the_core_it_needs(
    artefacts: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    # The core as released before this one: the last commit with version 0.1.0.
    older = tmp_path / "older"
    older.mkdir()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%H", "-S", 'version = "0.2.0"', "--", "pyproject.toml"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", f"{commit}~1"], capture_output=True, timeout=60, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(older)], input=archive, timeout=60, check=True)
    _, old_core = build(older, tmp_path / "old-wheel")
    assert "oblako_backends-0.1.0-" in old_core.name
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], timeout=120, check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    _, docker_wheel = artefacts["oblako-backend-docker"]
    subprocess.run([*pip, "install", "--no-deps", str(old_core), str(docker_wheel)], timeout=300, check=True)
    checked = subprocess.run([*pip[:-1], "check"], capture_output=True, text=True, timeout=120, check=False)
    assert checked.returncode == 1
    assert "oblako-backend-docker 0.2.0 has requirement oblako-backends<0.3,>=0.2.0" in checked.stdout


def test_with_only_the_core_installed_list_and_doctor_say_which_extra_to_install(
    artefacts: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], timeout=120, check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", str(artefacts["oblako-backends"][1])], timeout=300, check=True)
    program = str(venv / "bin" / "oblako-backends")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBLAKO_", "DOCKER_"))}
    listed = subprocess.run([program, "list"], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["NAME", "memory"]
    assert "reference: in-process, runs no container" in listed.stdout  # never offered as a runtime
    assert "no container runtime backend is installed; install one: pip install 'oblako-backends[docker]'" in (
        listed.stderr
    )
    doctor = subprocess.run([program, "doctor"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert doctor.returncode == 2 and "Install it with: pip install 'oblako-backends[docker]'" in doctor.stderr
