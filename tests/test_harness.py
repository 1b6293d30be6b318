"""The runtime harness shares a machine politely: a private bridge, no iptables changes,
and nothing but its machine-readable line on stdout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import runtimes

SCRIPT = runtimes.ROOT / "scripts" / "runtimes.py"


def iptables_rules() -> list[str]:
    iptables = runtimes.locate("iptables") or shutil.which("iptables", path="/usr/sbin:/sbin") or "iptables"
    rules = []
    for table in ("filter", "nat"):
        done = subprocess.run([iptables, "-t", table, "-S"], capture_output=True, text=True, timeout=30, check=True)
        rules += done.stdout.splitlines()
    return rules


def links() -> set[str]:
    done = subprocess.run([runtimes.locate("ip") or "ip", "-o", "link"], capture_output=True, text=True, check=True)
    return {line.split(": ")[1].split("@")[0] for line in done.stdout.splitlines()}


@pytest.mark.runtime
@pytest.mark.skipif(os.geteuid() != 0, reason="starting dockerd needs root")
def test_start_prints_one_line_uses_its_own_bridge_and_adds_only_its_pools_forward_rule(tmp_path: Path) -> None:
    before_rules, before_links = iptables_rules(), links()
    directory = tmp_path / "rt"
    started = subprocess.run(
        [sys.executable, str(SCRIPT), "start", "docker", "--dir", str(directory)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    try:
        assert started.returncode == 0, started.stderr
        (line,) = started.stdout.splitlines()
        assert line == f"DOCKER_HOST=unix://{directory / 'docker.sock'}"
        new = links() - before_links
        bridge = (directory / "bridge").read_text()
        assert bridge in new and "docker0" not in new
        pool = (directory / "pool").read_text()
        added = [rule for rule in iptables_rules() if rule not in before_rules]
        # No chain of anyone's touched; one rule of ours lets this engine's project networks talk.
        assert added == [f"-A FORWARD -s {pool} -d {pool} -m comment --comment oblako-test-engine -j ACCEPT"]
        assert all(rule in iptables_rules() for rule in before_rules)
    finally:
        stopped = subprocess.run(
            [sys.executable, str(SCRIPT), "stop", "--dir", str(directory)], capture_output=True, text=True, timeout=120
        )
    assert stopped.returncode == 0 and stopped.stdout == ""
    assert links() == before_links and iptables_rules() == before_rules


def test_apt_output_goes_to_stderr_never_stdout(tmp_path: Path) -> None:
    """On a fresh machine apt runs inside `export "$(runtimes.py start ...)"`: its chatter must not
    land in the exported line. A stand-in apt-get that talks on stdout, as the real one does."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "apt-get").write_text('#!/bin/sh\necho "Reading package lists... Done ($*)"\n')
    (fake / "apt-get").chmod(0o755)
    program = (
        "import sys; sys.path.insert(0, sys.argv[1]); import runtimes; "
        "runtimes.PACKAGES['oblako-surely-missing'] = 'some-package'; "
        "runtimes.ensure_installed('oblako-surely-missing')"
    )
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    argv = [sys.executable, "-c", program, str(SCRIPT.parent)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    if os.geteuid() != 0:
        assert done.returncode != 0 and "not installed" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert "Reading package lists... Done (update -qq)" in done.stderr
    assert "Reading package lists... Done (install -y -qq some-package)" in done.stderr
