"""What a user does: install an extra from built wheels into a fresh venv, select by name.

`pip install 'oblako-backends[podman]'` plus OBLAKO_CONTAINER_BACKEND=podman must find a
running Podman service; the same for colima and docker. Dependencies come from the
package index pip is configured with; our four distributions come from wheels built here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import runtimes

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTIONS = [
    ROOT,
    *(ROOT / "plugins" / p for p in ("oblako-backend-docker", "oblako-backend-podman", "oblako-backend-colima")),
]


def run(argv: list[str], env: dict[str, str] | None = None, code: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env, check=False)
    assert done.returncode == code, f"{argv[:3]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def doctor(venv: Path, env: dict[str, str]) -> dict[str, object]:
    done = run([str(venv / "bin" / "oblako-backends"), "doctor", "--json"], env=env)
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_each_extra_installs_and_finds_its_running_engine(
    tmp_path: Path,
    podman_engine: runtimes.Daemon,
    docker_engine: runtimes.Daemon,
    colima_home: Path,
) -> None:
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    run([*pip, "wheel", "--no-deps", "-w", str(wheels), *map(str, DISTRIBUTIONS)])
    run([sys.executable, "-m", "venv", str(venv)])
    install = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q", "install"]
    run([*install, "--find-links", str(wheels), "oblako-backends[podman]"])

    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "CONTAINER_", "COLIMA_", "OBLAKO_"))}
    report = doctor(venv, {**clean, "OBLAKO_CONTAINER_BACKEND": "podman", "CONTAINER_HOST": podman_engine.url})
    assert report["backend"] == "podman" and report["reachable"] is True, report
    assert report["engine"] == "Podman Engine"

    report = doctor(venv, {**clean, "DOCKER_HOST": docker_engine.url})  # docker: the default
    assert report["backend"] == "docker" and report["engine"] == "Docker Engine", report

    colima = {**clean, "OBLAKO_CONTAINER_BACKEND": "colima", "HOME": str(colima_home)}
    missing = run([str(venv / "bin" / "oblako-backends"), "doctor"], env=colima, code=2)
    assert "pip install 'oblako-backends[colima]'" in missing.stderr

    run([*install, "--find-links", str(wheels), "oblako-backends[colima]"])
    report = doctor(venv, colima)
    assert report["backend"] == "colima" and report["reachable"] is True, report
    assert report["endpoint"] == f"unix://{runtimes.colima_socket(colima_home)}"
