"""The runtime harness shares a machine politely: a private engine gets a bridge of its own
and no iptables changes, the stock engine is Docker as a distribution starts it and takes
away what it added, and nothing but the machine-readable line goes to stdout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
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
    """Judged by what this engine adds: the cluster's test session, run beside this one, may
    start and stop an engine of its own (a bridge and a pool rule of its own) meanwhile."""
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
        bridge = (directory / "bridge").read_text()
        assert bridge in links() - before_links and "docker0" not in links() - before_links
        pool = (directory / "pool").read_text()
        added = [rule for rule in iptables_rules() if rule not in before_rules]
        # No chain of anyone's touched; one rule of ours lets this engine's project networks talk.
        assert [rule for rule in added if pool in rule or bridge in rule or "DOCKER" in rule] == [
            f"-A FORWARD -s {pool} -d {pool} -m comment --comment oblako-test-engine -j ACCEPT"
        ]
        now = iptables_rules()
        assert [rule for rule in before_rules if rule not in now and "oblako-test-engine" not in rule] == []
    finally:
        stopped = subprocess.run(
            [sys.executable, str(SCRIPT), "stop", "--dir", str(directory)], capture_output=True, text=True, timeout=120
        )
    assert stopped.returncode == 0 and stopped.stdout == ""
    assert bridge not in links() and not any(pool in rule or bridge in rule for rule in iptables_rules())
    docker_rules = [rule for rule in before_rules if "DOCKER" in rule]
    assert [rule for rule in iptables_rules() if "DOCKER" in rule] == docker_rules


@pytest.mark.runtime
@pytest.mark.skipif(os.geteuid() != 0, reason="starting dockerd needs root")
def test_engines_started_at_once_take_different_bridges_and_pools(tmp_path: Path) -> None:
    """scripts/test.sh runs two pytest processes that may start engines at the same moment:
    each engine still gets a bridge and an address pool of its own."""
    directories = [tmp_path / "one", tmp_path / "two"]
    argv = [sys.executable, str(SCRIPT), "start", "docker", "--dir"]
    starts = [subprocess.Popen([*argv, str(d)], stdout=subprocess.PIPE, stderr=subprocess.PIPE) for d in directories]
    try:
        for start in starts:
            _, err = start.communicate(timeout=180)
            assert start.returncode == 0, err.decode()[-2000:]
        bridges = {(d / "bridge").read_text() for d in directories}
        pools = {(d / "pool").read_text() for d in directories}
        assert len(bridges) == 2 and len(pools) == 2
    finally:
        for d in directories:
            subprocess.run([sys.executable, str(SCRIPT), "stop", "--dir", str(d)], capture_output=True, timeout=120)


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


def without_counters(table: str) -> list[str]:
    """iptables-save output without its timestamps and packet counters, which traffic changes."""
    return [line.split(" [")[0] for line in table.splitlines() if not line.startswith("#")]


@pytest.mark.skipif(os.geteuid() != 0, reason="the stock engine needs root")
def test_the_stock_engine_is_docker_as_a_distribution_starts_it(stock_docker_engine: runtimes.Daemon) -> None:
    """The default socket, docker0 with Docker's default subnet, Docker's own iptables chains
    and masquerading: none of the private engines' settings."""
    import docker

    assert stock_docker_engine.url == "unix:///var/run/docker.sock"
    api = docker.APIClient(base_url=stock_docker_engine.url, version="auto", timeout=60)
    try:
        bridge = api.inspect_network("bridge")
    finally:
        api.close()
    assert bridge["Options"]["com.docker.network.bridge.name"] == "docker0"
    assert bridge["IPAM"]["Config"] == [{"Subnet": "172.17.0.0/16"}]
    rules = iptables_rules()
    assert "-N DOCKER" in rules and "-N DOCKER-ISOLATION-STAGE-1" in rules
    assert "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE" in rules


@pytest.mark.skipif(os.geteuid() != 0, reason="starting dockerd needs root")
def test_stopping_a_private_engine_leaves_the_stock_engines_docker0(
    stock_docker_engine: runtimes.Daemon, tmp_path: Path
) -> None:
    """Each engine undoes only what its own start recorded (a private engine's stop once
    deleted the stock engine's docker0, and nothing started there any more); and a private
    engine started again on its old data root leaves docker0 too (dockerd itself deleted it,
    clearing the bridge network it had recorded)."""
    import docker

    for _ in range(2):
        daemon = runtimes.start_dockerd(tmp_path / "rt")
        daemon.stop()
        assert "docker0" in links()
    api = docker.APIClient(base_url=stock_docker_engine.url, version="auto", timeout=60)
    try:
        container = api.create_container(runtimes.TEST_IMAGE, command=["true"])
        api.start(container["Id"])  # on docker0: fails if the bridge is gone
        assert api.wait(container["Id"], timeout=60)["StatusCode"] == 0
        api.remove_container(container["Id"], force=True)
    finally:
        api.close()


ISOLATED_STOCK_RUN = """
import json, subprocess, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import runtimes
subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True)  # this namespace's own /var/run
subprocess.run([runtimes.locate("ip") or "ip", "link", "set", "lo", "up"], check=True)
def links():
    return subprocess.run([runtimes.locate("ip") or "ip", "-o", "link"], capture_output=True, text=True).stdout
before = runtimes._networking_now()
daemon = runtimes.start_stock_dockerd(Path(sys.argv[2]))
import docker
api = docker.APIClient(base_url=daemon.url, version="1.41", timeout=60)
bridge = "br-" + api.create_network("left-behind", driver="bridge")["Id"][:12]  # as a test that failed leaves one
api.close()
during = runtimes._networking_now()
during["left-behind"] = bridge in links()
daemon.stop()
after = runtimes._networking_now()
after["left-behind"] = bridge in links()
print(json.dumps([before, during, after]))
"""


@pytest.mark.runtime
@pytest.mark.skipif(os.geteuid() != 0, reason="starting dockerd needs root")
def test_a_stock_engine_leaves_the_networking_it_found() -> None:
    """Started and stopped in namespaces of its own (network and mounts, so beside the
    session's stock engine), a stock engine adds docker0, its chains and rules, and the bridge
    and rules of a network left behind; its stop takes every one of them away again."""
    argv = ["unshare", "--net", "--mount", sys.executable, "-c", ISOLATED_STOCK_RUN]
    # A short directory: containerd's sockets under it must stay within 104 bytes, which a
    # pytest tmp_path on a machine that has run pytest a few dozen times does not.
    directory = Path(tempfile.mkdtemp(prefix="oblako-iso-"))
    try:
        done = subprocess.run(
            [*argv, str(SCRIPT.parent), str(directory / "stock")], capture_output=True, text=True, timeout=300
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    before, during, after = json.loads(done.stdout.splitlines()[-1])
    assert not before["bridge"] and during["bridge"] and not after["bridge"]
    assert during["left-behind"] and not after["left-behind"]
    for table in ("filter", "nat"):
        assert any("DOCKER" in line for line in without_counters(during["tables"][table]))
        assert without_counters(after["tables"][table]) == without_counters(before["tables"][table])


def test_no_test_skips_for_want_of_a_tool_the_harness_installs() -> None:
    """A fresh machine has none of them until the harness installs them: a test that needs
    one asks for a fixture that installs it (podman_cli, the engines), never `skipif(which)`."""
    offenders = []
    for path in [*runtimes.ROOT.glob("tests/*.py"), *runtimes.ROOT.glob("plugins/*/tests/*.py")]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "skipif" in line and any(f'which("{tool}")' in line for tool in runtimes.PACKAGES):
                offenders.append(f"{path.relative_to(runtimes.ROOT)}:{number}")
    assert offenders == []


@pytest.mark.runtime
@pytest.mark.skipif(os.geteuid() != 0, reason="starting dockerd needs root")
def test_a_private_engines_stop_removes_the_bridges_of_its_networks() -> None:
    """dockerd leaves a network's bridge behind when it stops; the harness takes it away."""
    import docker

    directory = Path(tempfile.mkdtemp(prefix="oblako-net-"))
    try:
        daemon = runtimes.start_dockerd(directory)
        api = docker.APIClient(base_url=daemon.url, version="auto", timeout=60)
        try:
            bridge = f"br-{api.create_network('made-here', driver='bridge')['Id'][:12]}"
        finally:
            api.close()
        assert bridge in links()
        daemon.stop()
        assert bridge not in links()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def processes_for(runtime_dir: Path) -> list[int]:
    """The processes whose environment names `runtime_dir` as $XDG_RUNTIME_DIR."""
    wanted = f"XDG_RUNTIME_DIR={runtime_dir}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if wanted in (proc / "environ").read_bytes().split(b"\0") and (proc / "exe").exists():
                    found.append(int(proc.name))
            except OSError:
                continue
    return found


@pytest.mark.runtime
@pytest.mark.skipif(os.geteuid() != 0, reason="making the rootless user needs root")
def test_a_rootless_podmans_stop_leaves_no_process_of_its_run() -> None:
    """The service re-executes itself inside the user namespace, and a pause process keeps
    that namespace: stopping the process the harness started is not enough."""
    directory = Path(tempfile.mkdtemp(prefix="oblako-rl-"))
    tun_mode = runtimes.TUN.stat().st_mode & 0o777 if runtimes.TUN.exists() else None
    try:
        daemon = runtimes.start_rootless_podman(directory)
        assert processes_for(directory / "xdg")
        daemon.stop()
        assert processes_for(directory / "xdg") == []
        assert runtimes.TUN.stat().st_mode & 0o777 == tun_mode  # put back as it was
    finally:
        shutil.rmtree(directory, ignore_errors=True)
