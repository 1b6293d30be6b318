"""Shared fixtures: throwaway distributions, and real runtimes started for the test session.

A runtime test uses a daemon the harness starts on a private socket (or the one named by
OBLAKO_TEST_DOCKER_HOST). When it cannot start: under CI=true the run fails, elsewhere the
runtime tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
import runtimes  # noqa: E402

IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")


def _unavailable(what: str, exc: BaseException) -> None:
    if IN_CI:
        pytest.fail(f"{what} could not be started under CI: {exc}", pytrace=False)
    pytest.skip(f"{what} not available: {exc}")


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[runtimes.Daemon]:
    """A real Docker Engine on a private socket, with the busybox test image built."""
    given = os.environ.get("OBLAKO_TEST_DOCKER_HOST")
    if given:
        runtimes.build_test_image(given)
        yield runtimes.Daemon("docker", -1, given, Path("."))
        return
    directory = Path(tempfile.mkdtemp(prefix="oblako-docker-"))
    daemon = None
    try:
        daemon = runtimes.start_dockerd(directory)
        runtimes.build_test_image(daemon.url)
    except Exception as exc:  # whatever went wrong, stop what started, then fail or skip
        if daemon is not None:
            daemon.stop()
        shutil.rmtree(directory, ignore_errors=True)
        _unavailable("Docker Engine", exc)
    assert daemon is not None
    try:
        yield daemon
    finally:
        daemon.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Container names unique to this test run, so reruns never collide."""
    token = uuid.uuid4().hex[:6]
    return lambda stem: f"t-{stem}-{token}"


@pytest.fixture
def make_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Install a tiny real distribution (dist-info + modules) on sys.path for this test."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def make(
        name: str,
        entry_points: dict[str, dict[str, str]],
        modules: dict[str, str] | None = None,
        version: str = "1.0",
        extras: tuple[str, ...] = (),
    ) -> Path:
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        provides = "".join(f"Provides-Extra: {extra}\n" for extra in extras)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{provides}")
        lines = []
        for group, eps in entry_points.items():
            lines.append(f"[{group}]")
            lines += [f"{k} = {v}" for k, v in eps.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        for filename, source in (modules or {}).items():
            (site / filename).write_text(source)
        return site

    return make
