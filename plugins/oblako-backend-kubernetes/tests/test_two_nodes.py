"""Two nodes: a second kubelet joins the test cluster for this module, and a Compose project
whose pods run on both nodes serves every port on localhost and keeps its claim's data.

The second node lives on this machine, beside the first (../shared/k8s/up.sh), with what a
second machine would have of its own: a containerd (root, state, socket, CNI bridge and pod
subnet), a kubelet (root directory, name, address, client certificate signed by the cluster's
CA, cgroup root) and a mount namespace, shared by the two, in which /var/log/pods,
/var/log/containers and /var/lib/kubelet/device-plugins are directories of its own.
Kubernetes 1.20 hard-codes those paths, and a kubelet deletes the log directory of every pod
it does not run: sharing them, each kubelet would delete the other node's pod logs a minute
after they start. Its cgroup root (/<node name>, holding its /kubepods) is its own too: a
kubelet kills the processes of every pod cgroup under its kubepods that is no pod of its.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import runtimes
from oblako_backend_kubernetes import manifests
from oblako_backends import get_backend
from oblako_backends.backend import Backend
from oblako_backends.testing.contract import wait_for

IMAGE = runtimes.TEST_IMAGE
PAUSE_IMAGE = "localhost/pause:3.2"  # what up.sh builds and names as the sandbox image
NODE_IP = "10.254.254.2"  # the first node is 10.254.254.1 (up.sh)
NODE_DEVICE = "k8snode1"  # a port-less bridge holding NODE_IP, as up.sh's k8snode0
POD_BRIDGE = "k8sbr1"  # the first node's pods are on k8sbr0, 10.244.0.0/24
POD_SUBNET = "10.244.1.0/24"
# Directories Kubernetes 1.20 does not derive from --root-dir: the node gets its own.
PRIVATE_DIRS = ("/var/log/pods", "/var/log/containers", "/var/lib/kubelet/device-plugins")
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"a second Kubernetes node cannot start: {reason}", pytrace=False)
    pytest.skip(f"a second Kubernetes node cannot start: {reason}")


def _run(*argv: str, timeout: float = 120) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done.stdout


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(no log: {exc})"


@dataclass
class Node:
    """The second node: its name, and the processes and devices this module started for it."""

    name: str
    kubeconfig: str  # the cluster's admin kubeconfig
    directory: Path
    containerd: subprocess.Popen[bytes] | None = None
    kubelet: subprocess.Popen[bytes] | None = None
    devices: tuple[str, ...] = ()

    def kubectl(self, *args: str, timeout: float = 120) -> str:
        return _run("kubectl", f"--kubeconfig={self.kubeconfig}", "--request-timeout=60s", *args, timeout=timeout)

    def ctr(self, *args: str) -> str:
        return _run("ctr", "-a", str(self.directory / "containerd.sock"), "-n", "k8s.io", *args)

    def alive(self) -> bool:
        """True, or raise with the end of its log if a process started for the node has ended."""
        for process, log in ((self.containerd, "containerd.log"), (self.kubelet, "kubelet.log")):
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{log[:-4]} ended ({process.returncode}):\n{_tail(self.directory / log)}")
        return True

    def ready(self) -> bool:
        self.alive()
        found = subprocess.run(
            ["kubectl", f"--kubeconfig={self.kubeconfig}", "get", "node", self.name, "-o", "json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if found.returncode != 0:
            return False
        node = json.loads(found.stdout)
        conditions = node["status"].get("conditions") or []
        taints = [t["key"] for t in node["spec"].get("taints") or []]  # gone once the controller saw Ready
        return "node.kubernetes.io/not-ready" not in taints and any(
            c["type"] == "Ready" and c["status"] == "True" for c in conditions
        )


def _cluster_dir() -> Path:
    """Where ../shared/k8s/up.sh keeps the running cluster ($R): its CA key and kubelet PID."""
    pidfile = os.environ.get("OBLAKO_TEST_K8S_APISERVER_PIDFILE", "")
    if not pidfile:
        _unavailable("OBLAKO_TEST_K8S_APISERVER_PIDFILE names no cluster made by ../shared/k8s/up.sh")
    return Path(pidfile).parent


def _node_credentials(node: Node, cluster: Path, server: str) -> Path:
    """A client certificate for system:node:<name> (group system:nodes) signed by the cluster's
    CA, so the Node authorizer and NodeRestriction treat the kubelet as that node; its kubeconfig."""
    d = node.directory
    ca = cluster / "pki"
    _run("openssl", "genrsa", "-out", str(d / "node.key"), "2048")
    subject = f"/O=system:nodes/CN=system:node:{node.name}"
    _run("openssl", "req", "-new", "-key", str(d / "node.key"), "-subj", subject, "-out", str(d / "node.csr"))
    _run(
        "openssl",
        "x509",
        "-req",
        "-in",
        str(d / "node.csr"),
        "-CA",
        str(ca / "ca.crt"),
        "-CAkey",
        str(ca / "ca.key"),
        "-CAcreateserial",
        "-CAserial",
        str(d / "ca.srl"),
        "-days",
        "2",
        "-out",
        str(d / "node.crt"),
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca / "ca.crt")}}],
        "users": [
            {"name": node.name, "user": {"client-certificate": str(d / "node.crt"), "client-key": str(d / "node.key")}}
        ],
        "contexts": [{"name": "node", "context": {"cluster": "local", "user": node.name}}],
        "current-context": "node",
    }
    path = d / "kubelet.kubeconfig"
    path.write_text(json.dumps(config))
    return path


def _containerd_config(d: Path) -> Path:
    (d / "cni").mkdir()
    conflist = {
        "cniVersion": "0.4.0",
        "name": "oblako-node2",
        "plugins": [
            {
                "type": "bridge",
                "bridge": POD_BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET}]], "dataDir": str(d / "ipam")},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "loopback"},
        ],
    }
    (d / "cni" / "10-node2.conflist").write_text(json.dumps(conflist))
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    path = d / "containerd.toml"
    path.write_text(
        f"""version = 2
root = "{d}/containerd-root"
state = "{d}/containerd-state"
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  restrict_oom_score_adj = true
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni"
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
"""
    )
    return path


def _kubelet_config(d: Path, ca: Path, cgroup_root: str) -> Path:
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzPort": 0,  # the first kubelet has 127.0.0.1:10248; readiness is the Node's condition
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,  # see the module's docstring
        "failSwapOn": False,
        "authentication": {
            "anonymous": {"enabled": True},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "clusterDomain": "cluster.local",
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "imageGCHighThresholdPercent": 100,
        "makeIPTablesUtilChains": False,
    }
    path = d / "kubelet.json"
    path.write_text(json.dumps(config))
    return path


def _start(node: Node, cluster: Path, kubelet: str, server: str) -> None:
    d = node.directory
    credentials = _node_credentials(node, cluster, server)
    _run("ip", "link", "add", NODE_DEVICE, "type", "bridge")
    node.devices += (NODE_DEVICE,)
    _run("ip", "addr", "add", f"{NODE_IP}/32", "dev", NODE_DEVICE)
    _run("ip", "link", "set", NODE_DEVICE, "up")
    node.devices += (POD_BRIDGE,)  # made by the CNI bridge plugin with the first pod
    config = _containerd_config(d)
    # unshare execs containerd: the PID is containerd's, and the mount namespace is the node's.
    with open(d / "containerd.log", "wb") as log:
        argv = ["unshare", "--mount", "--propagation", "private", "containerd", "--config", str(config)]
        node.containerd = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    pid = node.containerd.pid
    # Enter its namespace only once unshare has made it: before, it is this process's own.
    ours = os.readlink("/proc/self/ns/mnt")
    wait_for(lambda: node.alive() and os.readlink(f"/proc/{pid}/ns/mnt") != ours, "containerd's mount namespace", 10)
    here = ["nsenter", f"--target={pid}", "--mount", "--"]
    for path in PRIVATE_DIRS:
        if Path(path).is_dir():
            own = d / "private" / path.strip("/").replace("/", "-")
            own.mkdir(parents=True)
            _run(*here, "mount", "--bind", str(own), path)
    wait_for(lambda: node.alive() and (d / "containerd.sock").exists(), "containerd's socket", 30)
    # The images a pod of the tests needs: this node has no registry either.
    first = os.environ.get("OBLAKO_TEST_K8S_CONTAINERD", str(cluster / "containerd" / "containerd.sock"))
    images = d / "images.tar"
    _run("ctr", "-a", first, "-n", "k8s.io", "images", "export", str(images), PAUSE_IMAGE, IMAGE)
    node.ctr("images", "import", str(images))
    images.unlink()
    for hierarchy in _cgroup_hierarchies():  # the kubelet wants its cgroup root to exist
        (hierarchy / node.name).mkdir(exist_ok=True)
        for key in ("cpuset.cpus", "cpuset.mems"):  # cgroup v1 cpuset: a new group has none
            if (hierarchy / key).exists() and not (hierarchy / node.name / key).read_text().strip():
                (hierarchy / node.name / key).write_text((hierarchy / key).read_text())
    with open(d / "kubelet.log", "wb") as log:
        argv = [
            *here,
            kubelet,
            f"--config={_kubelet_config(d, cluster / 'pki' / 'ca.crt', '/' + node.name)}",
            f"--kubeconfig={credentials}",
            f"--root-dir={d / 'kubelet'}",
            f"--cert-dir={d / 'kubelet-pki'}",
            "--container-runtime=remote",
            f"--container-runtime-endpoint=unix://{d / 'containerd.sock'}",
            f"--hostname-override={node.name}",
            f"--node-ip={NODE_IP}",
        ]
        node.kubelet = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    end = time.monotonic() + 90
    while not node.ready():
        if time.monotonic() > end:
            raise RuntimeError(f"node {node.name} not Ready after 90 s:\n{_tail(d / 'kubelet.log')}")
        time.sleep(0.2)


def _cgroup_hierarchies() -> list[Path]:
    """The cgroup hierarchies mounted under /sys/fs/cgroup (v1 controllers, or the one of v2)."""
    top = Path("/sys/fs/cgroup")
    if (top / "cgroup.procs").exists():
        return [top]
    return sorted(p for p in top.iterdir() if (p / "cgroup.procs").exists())


def _remove_cgroups(root: str) -> None:
    """The node's cgroup root in every hierarchy, deepest first (rmdir takes only empty ones)."""
    for hierarchy in _cgroup_hierarchies():
        top = hierarchy / root
        if not top.is_dir():
            continue
        for directory, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
            with contextlib.suppress(OSError):
                Path(directory).rmdir()


def _stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """End a process this module started (our child: its PID cannot have been reused)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def _stop(node: Node) -> None:
    """Undo what _start did, whatever part of it ran: the node's pods and Node object, its
    kubelet and containerd (by the processes started here), its devices and its directory."""
    if node.kubelet is not None and node.kubelet.poll() is None:
        selector = f"spec.nodeName={node.name}"
        for args in (
            ("cordon", node.name),
            ("delete", "pods", "--all-namespaces", f"--field-selector={selector}", "--wait=true", "--timeout=90s"),
        ):
            # what the kubelet does not stop, the removal of containerd's tasks below ends
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
                node.kubectl(*args, timeout=150)
    subprocess.run(
        ["kubectl", f"--kubeconfig={node.kubeconfig}", "delete", "node", node.name, "--ignore-not-found"],
        capture_output=True,
        timeout=120,
    )
    _stop_process(node.kubelet)
    if node.containerd is not None and node.containerd.poll() is None:
        try:  # containers the kubelet left (stopped sandboxes): their shims end with their tasks
            for task in node.ctr("tasks", "ls", "-q").split():
                subprocess.run(
                    ["ctr", "-a", str(node.directory / "containerd.sock"), "-n", "k8s.io", "tasks", "rm", "-f", task],
                    capture_output=True,
                    timeout=60,
                )
        except (RuntimeError, subprocess.SubprocessError):
            pass
    _stop_process(node.containerd)
    _remove_cgroups(node.name)
    for device in node.devices:
        subprocess.run(["ip", "link", "del", device], capture_output=True, timeout=30)
    shutil.rmtree(node.directory, ignore_errors=True)


@pytest.fixture(scope="module")
def second_node(k8s_cluster: object) -> Iterator[Node]:
    """A second node of the test cluster, Ready, for this module; gone afterwards."""
    kubeconfig: str = k8s_cluster.kubeconfig  # type: ignore[attr-defined]
    cluster = _cluster_dir()
    for device in (NODE_DEVICE, POD_BRIDGE):
        if Path("/sys/class/net", device).exists():
            _unavailable(f"network device {device} exists (left by an earlier run? `ip link del {device}`)")
    try:
        kubelet = os.readlink(f"/proc/{int((cluster / 'kubelet.pid').read_text())}/exe")  # the first node's
        server = _run(
            "kubectl",
            f"--kubeconfig={kubeconfig}",
            "config",
            "view",
            "--minify",
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        )
    except (OSError, ValueError, RuntimeError) as exc:
        _unavailable(f"the first node's kubelet or the API server's address cannot be read: {exc}")
    node = Node(f"oblako-node2-{uuid.uuid4().hex[:6]}", kubeconfig, Path(tempfile.mkdtemp(prefix="oblako-node2-")))
    started = time.monotonic()
    try:
        _start(node, cluster, kubelet, server)
        print(f"second node {node.name} Ready in {time.monotonic() - started:.1f} s")
        yield node
    finally:
        stopping = time.monotonic()
        _stop(node)
        print(f"second node stopped and removed in {time.monotonic() - stopping:.1f} s")


@pytest.fixture
def k8s(k8s_cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    monkeypatch.setenv("KUBECONFIG", k8s_cluster.kubeconfig)  # type: ignore[attr-defined]
    monkeypatch.delenv("OBLAKO_K8S_CONTEXT", raising=False)
    monkeypatch.setenv("OBLAKO_K8S_NAMESPACE", k8s_cluster.namespace)  # type: ignore[attr-defined]
    monkeypatch.setenv("OBLAKO_K8S_STATE_DIR", str(tmp_path / "state"))
    yield get_backend("kubernetes", namespace=k8s_cluster.namespace, state_dir=str(tmp_path / "state"))  # type: ignore[attr-defined]


PROJECT = """services:
  web:
    image: {image}
    ports: ["{web}:8080"]
    command: ["sh", "-c", "mkdir /w && echo web > /w/index.html; echo web-ready; {serve} /w & wait"]
  db:
    image: {image}
    ports: ["{db}:8080"]
    volumes: ["data:/data"]
    command: ["sh", "-c", "echo $$HOSTNAME >> /data/index.html; echo db-ready; {serve} /data & wait"]
volumes:
  data: {{}}
"""
SERVE = "trap 'exit 0' TERM; httpd -f -p 8080 -h"  # a prompt exit on SIGTERM: no 30 s grace period


def _pods(node: Node, namespace: str, project: str) -> dict[str, dict[str, str]]:
    """Each service's live pod (by workload name): its name, node and address."""
    found = json.loads(node.kubectl("get", "pods", "-n", namespace, "-l", f"oblako.project={project}", "-o", "json"))
    return {
        p["metadata"]["labels"][manifests.WORKLOAD_LABEL]: {
            "name": p["metadata"]["name"],
            "node": p["spec"].get("nodeName", ""),
            "ip": p["status"].get("podIP", ""),
        }
        for p in found["items"]
        if not p["metadata"].get("deletionTimestamp")
    }


def _page(port: int) -> str | None:
    """What 127.0.0.1:`port` serves at /, None if it does not answer 200."""
    try:
        code, body = runtimes.http_get("127.0.0.1", port, timeout=2)
    except OSError:
        return None
    return body if code == 200 else None


def _volume(node: Node, namespace: str, directory: Path) -> None:
    """One more hostPath volume for the claim to bind (the cluster has no provisioner), labelled
    as the session's own so that the k8s_cluster fixture deletes it with them."""
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    volume = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{namespace}-two-nodes", "labels": {"oblako-test": namespace}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(directory)},
        },
    }
    subprocess.run(
        ["kubectl", f"--kubeconfig={node.kubeconfig}", "apply", "-f", "-"],
        input=json.dumps(volume),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_a_project_on_two_nodes_serves_every_port_on_localhost_and_keeps_its_claims_data(
    second_node: Node, k8s: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The project starts with the first node cordoned, so both pods run on the second; then
    the second is cordoned instead and db's pod deleted, so its successor runs on the first
    node while web stays on the second. Both ports serve on localhost through the one
    forwarder, the successor reads what its predecessor wrote to the claim from the other
    node, and logs come from both kubelets. (Pod to pod across the nodes is not tested: the
    first node's pods get no route beyond their own bridge's subnet from up.sh's CNI
    configuration, so a reply to the second node's subnet is "Network is unreachable".)"""
    from oblako_backend_kubernetes import forward
    from oblako_backends.cli import main as cli

    namespace = k8s.plugin.settings.namespace
    project = f"two{uuid.uuid4().hex[:6]}"
    web, db = manifests.k8s_name(f"{project}-web-1"), manifests.k8s_name(f"{project}-db-1")
    web_port, db_port = runtimes.free_port(), runtimes.free_port()
    path = tmp_path / "compose.yaml"
    path.write_text(PROJECT.format(image=IMAGE, web=web_port, db=db_port, serve=SERVE))
    _volume(second_node, namespace, tmp_path / "pv")
    nodes = json.loads(second_node.kubectl("get", "nodes", "-o", "json"))["items"]
    # the first node(s): those schedulable now are cordoned for a while, then uncordoned again
    first = [
        n["metadata"]["name"]
        for n in nodes
        if n["metadata"]["name"] != second_node.name and not n["spec"].get("unschedulable")
    ]
    assert first, "no schedulable node besides the second one"
    timings: dict[str, float] = {}
    mark = time.monotonic()
    try:
        for name in first:
            second_node.kubectl("cordon", name)
        assert cli(["up", "--backend", "kubernetes", "-f", str(path), "-p", project]) == 0, capsys.readouterr().err
        timings["up, both pods on the second node"] = time.monotonic() - mark
        before = _pods(second_node, namespace, project)
        assert {p["node"] for p in before.values()} == {second_node.name}
        assert _page(web_port) == "web\n" and _page(db_port) == f"{before[db]['name']}\n"
        directory = k8s.plugin._forward_file(f"{project}-web-1").parent
        status = forward.ForwarderState.load(directory)
        assert status is not None and status.running()

        mark = time.monotonic()
        for name in first:
            second_node.kubectl("uncordon", name)
        second_node.kubectl("cordon", second_node.name)
        second_node.kubectl("delete", "pod", "-n", namespace, before[db]["name"], "--wait=false")
        written = f"{before[db]['name']}\n"
        wait_for(lambda: (_page(db_port) or written) != written, "db's port to serve from its successor", 120)
        timings["db's pod moved to the first node"] = time.monotonic() - mark
        now = _pods(second_node, namespace, project)
        assert now[web]["node"] == second_node.name and now[db]["node"] in first  # pods on both nodes
        assert _page(db_port) == f"{before[db]['name']}\n{now[db]['name']}\n"  # the claim's data kept
        assert _page(web_port) == "web\n"
        again = forward.ForwarderState.load(directory)
        assert again is not None and again.pid == status.pid  # one forwarder, for both nodes' pods
        assert sorted(again.serving) == sorted([db, web])
        assert "web-ready" in k8s.logs(f"{project}-web-1") and "db-ready" in k8s.logs(f"{project}-db-1")
    finally:
        mark = time.monotonic()
        # The first node first, each on its own: a node left cordoned would leave every later
        # cluster test of the session Pending.
        for name in [*first, second_node.name]:
            with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
                second_node.kubectl("uncordon", name)
        down = cli(["down", "-v", "--backend", "kubernetes", "-f", str(path), "-p", project])
        timings["down -v"] = time.monotonic() - mark
        print("; ".join(f"{step}: {seconds:.1f} s" for step, seconds in timings.items()))
    assert down == 0
    assert _page(web_port) is None and _page(db_port) is None
