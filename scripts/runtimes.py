#!/usr/bin/env python3
"""Start and stop real container runtimes on private sockets, for tests and the demo.

Nothing here touches a daemon it did not start: each runtime gets its own directory,
socket and data root, and is stopped by the PID it was started with.

    python scripts/runtimes.py start docker --dir /tmp/oblako-rt   # prints DOCKER_HOST=...
    python scripts/runtimes.py image  --dir /tmp/oblako-rt           # builds the test image
    python scripts/runtimes.py stop  --dir /tmp/oblako-rt

On Debian as root, missing runtimes are installed from Debian's packages first.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import http.client
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEST_IMAGE = "localhost/oblako-test:1"
PACKAGES = {
    "dockerd": "docker.io",
    "podman": "podman",
    "docker-registry": "docker-registry",
    "busybox": "busybox-static",
    "zsh": "zsh",  # the completion tests run the generated zsh script in a real zsh
    "newuidmap": "uidmap",  # rootless Podman maps its user's subordinate IDs with it
    "slirp4netns": "slirp4netns",  # rootless Podman's network
    # Podman's init for `init: true`; Debian's podman only recommends it (or tini, which
    # Podman does not look for), so a machine with docker.io's tini still lacks it.
    "catatonit": "catatonit",
}
# Podman on these machines: crun cannot run (cgroups in hybrid mode) and the process may not
# raise rlimits, so runc with cgroupfs and lower default ulimits. The project's own file,
# pointed at by CONTAINERS_CONF for the service we start: /etc is never edited.
CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {address}
"""
DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
COPY www /www
COPY etc /etc
RUN ["/bin/mkdir", "-p", "/tmp", "/data", "/srv"]
# A service that stops on SIGTERM, as real ones do (a bare httpd as PID 1 ignores it).
CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; httpd -f -v -p 8080 -h /www & wait"]
"""


class RuntimeStartError(RuntimeError):
    """A runtime could not be installed or started; the message says what happened."""


@dataclass(frozen=True)
class Daemon:
    name: str
    pid: int
    url: str
    directory: Path

    def stop(self) -> None:
        """Stop the daemon if the harness started it (pid > 0), then undo what its start added."""
        if self.pid > 0:
            record_stock_bridges(self.directory, self.url)
            stop_pid(self.pid)
        forget_networking(self.directory)
        forget_rootless(self.directory)


@dataclass(frozen=True)
class Registry:
    address: str  # host:port on loopback
    image: str  # the test image, pushed there


@dataclass(frozen=True)
class Engine:
    """A real engine a backend under test was pointed at."""

    backend: str
    url: str  # where the engine listens
    source: str  # how the backend is expected to have found it
    daemon: Daemon  # the daemon behind it (pid -1: one the harness did not start)


def colima_socket(home: Path) -> Path:
    """Where Colima puts the default profile's Docker socket under `home`."""
    return home / ".colima" / "default" / "docker.sock"


def locate(command: str) -> str | None:
    """Where `command` is: on PATH, or in /bin and /usr/bin (busybox-static's place) when PATH lacks them."""
    return shutil.which(command) or shutil.which(command, path="/bin:/usr/bin")


def ensure_installed(*commands: str) -> None:
    """Install the Debian packages that provide `commands`, when missing and allowed to."""
    missing = [c for c in commands if locate(c) is None]
    if not missing:
        return
    packages = sorted({PACKAGES[c] for c in missing})
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeStartError(
            f"{', '.join(missing)} not installed; install {' '.join(packages)} (Debian) or your platform's equivalent"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # apt's chatter goes to stderr: stdout carries only this script's machine-readable line.
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        subprocess.run(argv, check=True, env=env, timeout=900, stdout=sys.stderr, stdin=subprocess.DEVNULL)


def _ping_unix(path: str, timeout: float = 1.0) -> bool:
    """GET /_ping on a unix socket: True when an engine answers OK."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return _ok(s)
    except OSError:
        return False


def _ok(s: socket.socket) -> bool:
    """Read the status line; True for 200."""
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(256)
        if not chunk:
            break
        data += chunk
    return data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0] + b" "


def wait_until(
    check: Callable[[], bool],
    what: str,
    timeout: float,
    proc: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll `check()` until it is true; fail early if `proc` died, with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeStartError(f"{what} did not become ready within {timeout:g} s\n{tail}")


def _spawn(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )


def _start(
    name: str, argv: list[str], directory: Path, ready: Callable[[], bool], env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a daemon with its log and pid file in `directory`; wait until `ready()`, or stop it and fail."""
    log = directory / f"{name}.log"
    proc = _spawn(argv, log, env)
    (directory / "daemon.pid").write_text(str(proc.pid))
    try:
        wait_until(ready, name, 60, proc, log)
    except RuntimeStartError:
        stop_pid(proc.pid)
        raise
    return proc


@contextlib.contextmanager
def private_bridge(name: str, address: str) -> Iterator[str]:
    """A bridge device of our own for a dockerd (``--bridge NAME``), removed afterwards."""
    make_bridge(name, address)
    try:
        yield name
    finally:
        delete_bridge(name)


def make_bridge(name: str, address: str) -> str:
    """Create bridge `name` with `address` (its own CIDR). Each engine we start gets one: engines
    must not share docker0 (the one that stops deletes it under the other), least of all with a
    Docker the user runs."""
    ip = locate("ip") or "ip"
    subprocess.run([ip, "link", "add", "name", name, "type", "bridge"], check=True, timeout=30)
    try:
        subprocess.run([ip, "addr", "add", address, "dev", name], check=True, timeout=30)
        subprocess.run([ip, "link", "set", name, "up"], check=True, timeout=30)
    except subprocess.SubprocessError:
        delete_bridge(name)
        raise
    return name


def delete_bridge(name: str) -> None:
    subprocess.run([locate("ip") or "ip", "link", "delete", name], check=False, timeout=30, capture_output=True)


def forget_networking(directory: Path) -> None:
    """Undo what a start recorded in `directory`: start_dockerd's bridge and forwarding rule,
    start_stock_dockerd's docker0 and iptables rules. A directory without records is left alone,
    so stopping one engine never touches another's networking."""
    forget_stock_networking(directory)
    record = directory / "bridge"
    if record.exists():
        delete_bridge(record.read_text().strip())
        record.unlink()
    record = directory / "pool"
    if record.exists():
        pool = record.read_text().strip()
        _delete_bridges_in(pool)
        _pool_rule("-D", pool)
        record.unlink()


def _delete_bridges_in(pool: str) -> None:
    """Delete the bridges of the networks an engine made in its own `pool` (dockerd leaves
    them behind when it stops): only that engine ever had addresses there."""
    import ipaddress

    network = ipaddress.ip_network(pool)
    ip = locate("ip") or "ip"
    shown = subprocess.run([ip, "-o", "-4", "addr"], capture_output=True, text=True, timeout=30).stdout
    for line in shown.splitlines():
        fields = line.split()  # "N: NAME inet ADDRESS/LEN ..."
        if len(fields) > 3 and fields[2] == "inet" and ipaddress.ip_interface(fields[3]).ip in network:
            delete_bridge(fields[1])


POOL_COMMENT = "oblako-test-engine"


def _pool_rule(action: str, pool: str) -> None:
    """Insert (-I) or delete (-D) the FORWARD rule that lets containers on `pool`'s networks
    reach each other: with bridged traffic passing through iptables (br_netfilter) and a
    FORWARD policy of DROP (any Docker with iptables sets it), it would otherwise be dropped."""
    iptables = locate("iptables") or "iptables"
    argv = [iptables, action, "FORWARD", "-s", pool, "-d", pool, "-m", "comment", "--comment", POOL_COMMENT]
    subprocess.run([*argv, "-j", "ACCEPT"], check=action == "-I", timeout=30, capture_output=True)


@contextlib.contextmanager
def _choosing_addresses() -> Iterator[None]:
    """Held while an engine's pool and bridge are picked and taken: the pick reads what is in
    use, so two processes picking at once (the cluster's test session beside the others) would
    take the same one."""
    with open(Path(tempfile.gettempdir()) / "oblako-runtimes-addresses.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def reserve_pool(directory: Path) -> str:
    """A 10.N.0.0/16 address pool for one engine's networks, reserved by its FORWARD rule (the
    rule is the record other engines check), and noted in `directory` for forget_networking.
    Engines must not share one: two would route the same subnet to different bridges."""
    iptables = locate("iptables") or "iptables"
    rules = subprocess.run([iptables, "-S", "FORWARD"], capture_output=True, text=True, timeout=30, check=True).stdout
    routes = subprocess.run([locate("ip") or "ip", "-o", "route"], capture_output=True, text=True, timeout=30).stdout
    for n in range(100, 200):
        pool = f"10.{n}.0.0/16"
        if pool not in rules and f"10.{n}." not in routes:
            _pool_rule("-I", pool)
            (directory / "pool").write_text(pool)
            return pool
    raise RuntimeStartError("no free 10.N.0.0/16 address pool for an engine's networks")


def free_bridge() -> tuple[str, str]:
    """(name, CIDR) for a new bridge: a name and a 10.213.N.0/24 subnet nothing here uses yet."""
    ip = locate("ip") or "ip"
    used = subprocess.run([ip, "-o", "addr"], capture_output=True, text=True, timeout=30, check=True).stdout
    links = subprocess.run([ip, "-o", "link"], capture_output=True, text=True, timeout=30, check=True).stdout
    for n in range(20, 250):
        name = f"oblako-br{n}"
        if f" 10.213.{n}." not in used and f" {name}:" not in links and f" {name}@" not in links:
            return name, f"10.213.{n}.1/24"
    raise RuntimeStartError("no free 10.213.N.0/24 subnet for a private bridge")


def _dockerd_argv(directory: Path) -> list[str]:
    """dockerd with its data, exec root and pid file in `directory` (which changes nothing a
    container sees), and cgroupfs (no systemd on these machines: what dockerd picks anyway)."""
    return [
        "dockerd",
        "--data-root",
        str(directory / "data"),
        "--exec-root",
        str(directory / "exec"),
        "--pidfile",
        str(directory / "dockerd.pid"),
        "--exec-opt",
        "native.cgroupdriver=cgroupfs",
    ]


def start_dockerd(
    directory: Path,
    socket_path: Path | None = None,
    bridge: str | None = None,
    also_at: tuple[Path, ...] = (),
    network_size: int = 24,
) -> Daemon:
    """A private Docker Engine that shares the machine politely: own socket, data root, exec
    root, pid file, bridge and address pool for its networks, and no iptables rules of Docker's
    own (ports are published by Docker's userland proxy), so it runs beside a Docker of the
    user's own and touches none of its chains; one FORWARD rule of ours opens its pool.

    `bridge`: an existing bridge device to use (else one is made for this engine and removed with it).
    `also_at`: more sockets the same engine listens on (e.g. where Colima would put one).
    `network_size`: the prefix length of the networks it makes (24: 253 containers each; a stock
    engine's default pools give /16 and /20).
    """
    ensure_installed("dockerd")
    directory.mkdir(parents=True, exist_ok=True)
    # A dockerd started again on its old data root deletes the default bridge network it
    # recorded there, and with it the host's docker0, whoever owns it (a stock engine's):
    # so it never finds one.
    shutil.rmtree(directory / "data" / "network", ignore_errors=True)
    sock = socket_path or directory / "docker.sock"
    sock.parent.mkdir(parents=True, exist_ok=True)
    argv = [*_dockerd_argv(directory), "--host", f"unix://{sock}"]
    for extra in also_at:
        extra.parent.mkdir(parents=True, exist_ok=True)
        argv += ["--host", f"unix://{extra}"]
    argv += ["--iptables=false", "--ip-masq=false"]
    try:
        with _choosing_addresses():  # another test session may be picking at the same moment
            # Project networks (`up`) come from a pool of this engine's own, open for forwarding.
            argv += ["--default-address-pool", f"base={reserve_pool(directory)},size={network_size}"]
            if bridge is None:
                bridge = make_bridge(*free_bridge())
                (directory / "bridge").write_text(bridge)  # so `stop --dir` (or a failed start) removes it
        argv += ["--bridge", bridge]
        proc = _start("dockerd", argv, directory, lambda: _ping_unix(str(sock)))
    except BaseException:
        forget_networking(directory)
        raise
    return Daemon("docker", proc.pid, f"unix://{sock}", directory)


STOCK_SOCKET = Path("/var/run/docker.sock")
STOCK_BRIDGE = "docker0"
STOCK_RECORD = "stock-networking.json"  # what the machine had before a stock engine's start


def start_stock_dockerd(directory: Path) -> Daemon:
    """Docker Engine as a distribution starts it: the default socket, the default bridge
    (docker0), Docker's own iptables rules and address pools. Only its data, exec root and pid
    file are `directory`'s, which changes nothing a container sees.

    A Docker that already answers on the default socket is that engine already: it is used
    as it is and never stopped (pid -1). Otherwise what the machine's networking was before is
    recorded, and Daemon.stop puts it back (forget_stock_networking).
    """
    if _ping_unix(str(STOCK_SOCKET)):
        return Daemon("docker", -1, f"unix://{STOCK_SOCKET}", directory)
    ensure_installed("dockerd")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / STOCK_RECORD).write_text(json.dumps(_networking_now()))
    try:
        proc = _start("dockerd", _dockerd_argv(directory), directory, lambda: _ping_unix(str(STOCK_SOCKET)))
    except BaseException:
        forget_networking(directory)
        raise
    return Daemon("docker", proc.pid, f"unix://{STOCK_SOCKET}", directory)


def _networking_now() -> dict[str, Any]:
    """The parts of the host's networking a stock dockerd changes: whether its bridge exists,
    and iptables' filter and nat tables. (IPv4 forwarding, which every dockerd turns on, the
    private engines' included, stays on.)"""
    ip = locate("ip") or "ip"
    links = subprocess.run([ip, "-o", "link", "show", STOCK_BRIDGE], capture_output=True, timeout=30, check=False)
    save = locate("iptables-save") or "iptables-save"
    tables = {
        table: subprocess.run([save, "-t", table], capture_output=True, text=True, timeout=30, check=True).stdout
        for table in ("filter", "nat")
    }
    return {"bridge": links.returncode == 0, "tables": tables}


def record_stock_bridges(directory: Path, url: str) -> None:
    """Before a stock engine stops: add the bridges of the networks it made (br-<id>) to its
    record, so forget_stock_networking removes what outlives it. Asked of the engine itself:
    a private engine's bridges, made meanwhile, are not its to remove."""
    record = directory / STOCK_RECORD
    if not record.exists():
        return
    import docker

    api = docker.APIClient(base_url=url, version="1.41", timeout=30)
    try:
        networks = api.networks()
    except docker.errors.DockerException:
        return  # an engine that no longer answers made nothing more
    finally:
        api.close()
    made = [
        (n.get("Options") or {}).get("com.docker.network.bridge.name") or f"br-{n['Id'][:12]}"
        for n in networks
        if n.get("Driver") == "bridge" and n.get("Name") != "bridge"
    ]
    record.write_text(json.dumps({**json.loads(record.read_text()), "made_bridges": made}))


def forget_stock_networking(directory: Path) -> None:
    """Remove what a stock dockerd added to the host, by the record start_stock_dockerd left in
    `directory` (no record: nothing to do): the rules and chains naming Docker or its bridge
    that were not there before, the FORWARD policy as it was, docker0 if the machine had none,
    and the bridges of networks it made that outlived it. Rules anybody else added meanwhile stay."""
    record = directory / STOCK_RECORD
    if not record.exists():
        return
    before: dict[str, Any] = json.loads(record.read_text())
    iptables = locate("iptables") or "iptables"

    def run(*args: str) -> None:
        subprocess.run([iptables, *args], capture_output=True, timeout=30, check=False)

    made = [STOCK_BRIDGE, *before.get("made_bridges", [])]
    for table, text in _networking_now()["tables"].items():
        old_lines = before["tables"].get(table, "").splitlines()
        old_chains = {line.split()[0] for line in old_lines if line.startswith(":")}
        for line in text.splitlines():
            if line.startswith("-A ") and line not in old_lines and ("DOCKER" in line or any(b in line for b in made)):
                run("-t", table, "-D", *shlex.split(line)[1:])
        for line in text.splitlines():
            chain = line.split()[0] if line.startswith(":DOCKER") else ""
            if chain and chain not in old_chains:
                run("-t", table, "-F", chain[1:])
                run("-t", table, "-X", chain[1:])
        if table == "filter":
            policy = next((line.split()[1] for line in old_lines if line.startswith(":FORWARD ")), "ACCEPT")
            run("-P", "FORWARD", policy)
    for bridge in made[1:] if before["bridge"] else made:
        delete_bridge(bridge)
    record.unlink()


def podman_env(directory: Path, registry: str | None = None) -> dict[str, str]:
    """The environment for a podman process of ours: the project's containers.conf, and the
    test registry (plain HTTP on loopback) marked insecure in a registries.conf of our own."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "containers.conf").write_text(CONTAINERS_CONF)
    registries = "unqualified-search-registries = []\n"
    if registry:
        registries += f'[[registry]]\nlocation = "{registry}"\ninsecure = true\n'
    (directory / "registries.conf").write_text(registries)
    return {
        **os.environ,
        "CONTAINERS_CONF": str(directory / "containers.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(directory / "registries.conf"),
    }


def start_podman(directory: Path, registry: str | None = None) -> Daemon:
    """Podman's Docker-compatible API service on a private socket, with storage of its own."""
    ensure_installed("podman", "catatonit")
    directory.mkdir(parents=True, exist_ok=True)
    sock = directory / "podman.sock"
    argv = [
        "podman",
        "--root",
        str(directory / "storage"),
        "--runroot",
        str(directory / "run"),
        "--tmpdir",
        str(directory / "tmp"),
        "system",
        "service",
        "--time=0",
        f"unix://{sock}",
    ]
    proc = _start("podman", argv, directory, lambda: _ping_unix(str(sock)), podman_env(directory, registry))
    return Daemon("podman", proc.pid, f"unix://{sock}", directory)


ROOTLESS_USER = "oblako-rootless"
ROOTLESS_IDS = "200000:65536"  # the user's subordinate UIDs and GIDs (first:count)
TUN = Path("/dev/net/tun")


def rootless_user() -> pwd.struct_passwd:
    """The unprivileged user rootless Podman runs as, made once (`useradd -m`) with ranges of
    subordinate UIDs and GIDs, as a distribution gives every new user."""
    try:
        return pwd.getpwnam(ROOTLESS_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", ROOTLESS_USER], check=True, timeout=60)
    for table in (Path("/etc/subuid"), Path("/etc/subgid")):
        lines = table.read_text().splitlines() if table.exists() else []
        if not any(line.startswith(f"{ROOTLESS_USER}:") for line in lines):
            table.write_text("".join(f"{line}\n" for line in [*lines, f"{ROOTLESS_USER}:{ROOTLESS_IDS}"]))
    return pwd.getpwnam(ROOTLESS_USER)


def rootless_env(user: pwd.struct_passwd, runtime_dir: Path) -> dict[str, str]:
    """A login environment for `user` (what a desktop session gives it), nothing of root's."""
    return {
        "HOME": user.pw_dir,
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "XDG_RUNTIME_DIR": str(runtime_dir),
        "LANG": "C.UTF-8",
    }


def start_rootless_podman(directory: Path) -> Daemon:
    """Podman as most of its users run it: as an unprivileged user (ROOTLESS_USER), with the
    user's own storage and defaults, slirp4netns networking, and its API service on the
    socket `podman info` reports, $XDG_RUNTIME_DIR/podman/podman.sock. $XDG_RUNTIME_DIR is
    `directory`/xdg (what systemd-logind would make under /run/user). /dev/net/tun is opened
    to everyone for slirp4netns, as a desktop distribution has it; its mode is put back by
    Daemon.stop, which also ends the user's pause process (forget_rootless)."""
    ensure_installed("podman", "catatonit", "newuidmap", "slirp4netns")
    user = rootless_user()
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o711)  # the user reaches its runtime directory inside
    runtime_dir = directory / "xdg"
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    os.chown(runtime_dir, user.pw_uid, user.pw_gid)
    (directory / "tun-mode").write_text(oct(TUN.stat().st_mode & 0o777))
    TUN.chmod(0o666)
    sock = runtime_dir / "podman" / "podman.sock"
    log = directory / "podman.log"
    try:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["podman", "system", "service", "--time=0"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd=user.pw_dir,
                env=rootless_env(user, runtime_dir),
            )  # fmt: skip
        (directory / "daemon.pid").write_text(str(proc.pid))
        wait_until(lambda: _ping_unix(str(sock)), "rootless podman", 60, proc, log)
    except BaseException:
        forget_rootless(directory)
        raise
    return Daemon("podman", proc.pid, f"unix://{sock}", directory)


def forget_rootless(directory: Path) -> None:
    """Undo what start_rootless_podman left in `directory`'s records: every process of
    ROOTLESS_USER started for this run's $XDG_RUNTIME_DIR (the service re-executes itself in
    the user namespace, so its child outlives the process we started; the pause process keeps
    that namespace alive), and /dev/net/tun's mode."""
    runtime_dir = f"XDG_RUNTIME_DIR={directory / 'xdg'}".encode()
    try:
        uid = pwd.getpwnam(ROOTLESS_USER).pw_uid
    except KeyError:
        uid = -1

    def killed_any() -> bool:
        """SIGKILL each live process of the run; False when there was none left. A process
        being killed can still fork (conmon, the pause process), so this repeats until none."""
        found = False
        for proc in Path("/proc").iterdir() if uid >= 0 else ():
            if not proc.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                ours = proc.stat().st_uid == uid and runtime_dir in (proc / "environ").read_bytes().split(b"\0")
                if ours and (proc / "exe").exists():  # a zombie (killed, not yet reaped) has no executable left
                    os.kill(int(proc.name), signal.SIGKILL)
                    found = True
        return found

    deadline = time.monotonic() + 15
    while killed_any() and time.monotonic() < deadline:
        time.sleep(0.1)  # SIGKILL is delivered asynchronously: look again until none is left
    record = directory / "tun-mode"
    if record.exists():
        TUN.chmod(int(record.read_text(), 8))
        record.unlink()


def remove_all_containers(url: str) -> None:
    """Force-remove every container on the engine at `url` (Podman's outlive its API service)."""
    import docker

    api = docker.APIClient(base_url=url, version="1.41", timeout=60)
    try:
        for container in api.containers(all=True):
            api.remove_container(container["Id"], force=True, v=True)
    finally:
        api.close()


def start_registry(directory: Path, port: int) -> Daemon:
    """A real container registry (CNCF distribution, Debian's docker-registry) on loopback."""
    ensure_installed("docker-registry")
    directory.mkdir(parents=True, exist_ok=True)
    address = f"127.0.0.1:{port}"
    config = directory / "registry.yml"
    config.write_text(REGISTRY_CONFIG.format(root=directory / "data", address=address))

    def answers() -> bool:
        try:
            return http_get("127.0.0.1", port, "/v2/", timeout=1)[0] == 200
        except OSError:
            return False

    proc = _start("docker-registry", ["docker-registry", "serve", str(config)], directory, answers)
    return Daemon("registry", proc.pid, address, directory)


def free_port() -> int:
    """A TCP port nothing listens on right now (for daemons we start ourselves)."""
    from oblako_backends.commands import free_port as unused_port

    return unused_port()


def stop_pid(pid: int, timeout: float = 30) -> None:
    """SIGTERM, wait, then SIGKILL: only the process we started."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:  # not our child (started by another process): poll instead
            done = 0
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        if done == pid:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def build_test_image(url: str, tag: str = TEST_IMAGE) -> str:
    """Build the busybox test image from scratch (no registry needed) on the engine at `url`."""
    import docker

    ensure_installed("busybox")
    with tempfile.TemporaryDirectory() as ctx:
        busybox = locate("busybox")
        assert busybox is not None  # ensure_installed above
        shutil.copy(busybox, Path(ctx) / "busybox")
        (Path(ctx) / "www").mkdir()
        (Path(ctx) / "www" / "index.html").write_text("hello from oblako-test\n")
        (Path(ctx) / "etc").mkdir()
        (Path(ctx) / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
        )
        (Path(ctx) / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")
        (Path(ctx) / "Dockerfile").write_text(DOCKERFILE)
        api = docker.APIClient(base_url=url, version="auto", timeout=300)
        for event in api.build(path=ctx, tag=tag, rm=True, decode=True):
            if "error" in event:
                raise RuntimeStartError(f"building {tag} failed: {event['error']}")
        api.close()
    return tag


@contextlib.contextmanager
def docker_for_bench(url: str | None = None, network_size: int = 24) -> Iterator[str]:
    """`url` if given, else a private Docker Engine for the run (making networks of /`network_size`);
    the test image built on it."""
    if url is not None:
        build_test_image(url)
        yield url
        return
    directory = Path(tempfile.mkdtemp(prefix="oblako-bench-"))
    daemon = start_dockerd(directory, network_size=network_size)
    try:
        build_test_image(daemon.url)
        yield daemon.url
    finally:
        daemon.stop()
        shutil.rmtree(directory, ignore_errors=True)


def http_get(host: str, port: int, path: str = "/", timeout: float = 5) -> tuple[int, str]:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "image", "stop"])
    parser.add_argument("runtime", nargs="?", default="docker", choices=["docker"])
    parser.add_argument("--dir", type=Path, help="the runtime's private directory (start, stop)")
    parser.add_argument("--url", help="engine to build the test image on (image; default: the one in --dir)")
    args = parser.parse_args(argv)
    if args.dir is None and not (args.action == "image" and args.url):
        parser.error("--dir is required (or --url with image)")
    directory: Path = (args.dir or Path(".")).resolve()
    pidfile = directory / "daemon.pid"
    try:
        if args.action == "start":
            if pidfile.exists():
                raise RuntimeStartError(f"{directory} already has a daemon (pid {pidfile.read_text()}); stop it first")
            daemon = start_dockerd(directory)
            print(f"DOCKER_HOST={daemon.url}")
        elif args.action == "image":
            print(build_test_image(args.url or f"unix://{directory / 'docker.sock'}"))
        else:
            if pidfile.exists():
                stop_pid(int(pidfile.read_text()))
                pidfile.unlink()
            forget_networking(directory)
    except (RuntimeStartError, subprocess.SubprocessError) as exc:
        print(f"runtimes: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
