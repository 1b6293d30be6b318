"""The plugin's order of work and its answers to kubectl, with no cluster: kubectl is either a
recording stand-in or the real one pointed at a server that does not exist."""

from __future__ import annotations

import json
import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from oblako_backend_kubernetes import forward, manifests
from oblako_backends import OblakoBackendError, PortInUseError, get_backend
from oblako_backends.backend import Backend

# A stand-in for kubectl: records each argv (and what `create` got on stdin), and answers like
# a cluster in which nothing exists yet, while another start has just created every shared
# object (namespace, claim, Secret): `create` of those fails with $SHARED_ANSWER.
FAKE_KUBECTL = """#!/bin/sh
call="$RECORD_DIR/$(date +%s%N)-$$"
printf '%s\\n' "$@" > "$call.argv"
case " $* " in
  *" create -f - "*)
    input=$(cat); printf '%s' "$input" > "$call.stdin"
    case "$input" in
      *'"kind": "Namespace"'*|*'"kind": "PersistentVolumeClaim"'*|*'"kind": "Secret"'*)
        echo "$SHARED_ANSWER" >&2; exit 1;;
    esac;;
  *" get namespace "*|*" get deployment "*|*" get pvc "*|*" get service "*)
    echo 'Error from server (NotFound): it is not found' >&2; exit 1;;
  *" --output=json"*) echo '{"items": []}';;
esac
exit 0
"""
ALREADY_EXISTS = 'Error from server (AlreadyExists): error when creating "STDIN": it already exists'
FORBIDDEN = 'Error from server (Forbidden): error when creating "STDIN": User "u" cannot create it'


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    record = tmp_path / "calls"
    record.mkdir()
    monkeypatch.setenv("RECORD_DIR", str(record))
    monkeypatch.setenv("SHARED_ANSWER", ALREADY_EXISTS)
    monkeypatch.setenv("OBLAKO_TIMEOUT", "1")
    monkeypatch.delenv("OBLAKO_BIND_ADDRESS", raising=False)
    monkeypatch.delenv("OBLAKO_K8S_CONTEXT", raising=False)
    return record


def recorded(record: Path) -> list[list[str]]:
    return [p.read_text().splitlines() for p in sorted(record.glob("*.argv"))]


def created(record: Path) -> list[str]:
    """The kinds each `create` was given, in order."""
    return [item["kind"] for p in sorted(record.glob("*.stdin")) for item in json.loads(p.read_text())["items"]]


@pytest.fixture
def fake(tmp_path: Path, calls: Path) -> Backend:
    program = tmp_path / "kubectl"
    program.write_text(FAKE_KUBECTL)
    program.chmod(0o755)
    return get_backend("kubernetes", kubectl=str(program), state_dir=str(tmp_path / "state"), namespace="fresh")


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that someone else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_a_held_host_port_is_refused_before_any_kubectl_call(fake: Backend, calls: Path, held_port: int) -> None:
    with pytest.raises(PortInUseError, match=f"host port {held_port} on 127.0.0.1 is already in use") as raised:
        fake.run(name="web", image="busybox:1", ports={"8080/tcp": held_port})
    assert raised.value.port == held_port
    assert recorded(calls) == []


def test_a_held_host_port_is_refused_even_when_no_cluster_can_be_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held_port: int
) -> None:
    """The real kubectl, its kubeconfig naming a server nobody runs: the port is the answer,
    not RuntimeUnavailableError."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("OBLAKO_TIMEOUT", "5")
    monkeypatch.delenv("OBLAKO_BIND_ADDRESS", raising=False)
    monkeypatch.delenv("OBLAKO_K8S_CONTEXT", raising=False)
    backend = get_backend("kubernetes", state_dir=str(tmp_path / "state"))
    started = time.monotonic()
    with pytest.raises(PortInUseError) as raised:
        backend.run(name="web", image="busybox:1", ports={"8080/tcp": held_port})
    assert raised.value.port == held_port and time.monotonic() - started < 5


def test_a_port_held_by_the_names_own_forward_is_left_to_the_cluster(
    fake: Backend, calls: Path, held_port: int
) -> None:
    """Another run of a workload that is up (its forward holds the port) asks the cluster, which
    says whether the name is taken; here it is not, so the port is still refused, after it."""
    plugin = fake.plugin
    record = plugin.state_dir / "some-context" / "fresh" / "web.json"
    record.parent.mkdir(parents=True)
    forward.ForwardState("web", ports=[["127.0.0.1", held_port, 8080]]).save(record)
    with pytest.raises(PortInUseError):
        fake.run(name="web", image="busybox:1", ports={"8080/tcp": held_port})
    assert ["get", "deployment/web", "job/web", "--ignore-not-found", "--output=json"] in [
        argv[-5:] for argv in recorded(calls)
    ]


def test_objects_another_start_created_first_are_used(fake: Backend, calls: Path, tmp_path: Path) -> None:
    """Every shared object (namespace, claim, Secret) loses the race to create it: the run goes
    on to its Deployment, as if it had made them itself."""
    conf = tmp_path / "app.conf"
    conf.write_text("a=1\n")
    with pytest.raises(OblakoBackendError, match="did not become available"):  # the stand-in never starts pods
        fake.run(
            name="web",
            image="busybox:1",
            volumes={"shared": {"bind": "/data", "mode": "rw"}, str(conf): {"bind": "/etc/app.conf", "mode": "ro"}},
        )
    assert created(calls) == ["Namespace", "Secret", "PersistentVolumeClaim", "Deployment"]
    assert not any("apply" in argv for argv in recorded(calls))  # apply reads, then creates: it races
    assert fake.plugin._namespace_ready


def test_a_volume_another_start_created_first_is_not_ours(fake: Backend, calls: Path) -> None:
    assert fake.create_volume("shared", "shop") is False
    assert created(calls) == ["Namespace", "PersistentVolumeClaim"]


def test_any_other_failure_to_create_still_raises(fake: Backend, calls: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARED_ANSWER", f"{ALREADY_EXISTS}\n{FORBIDDEN}")
    with pytest.raises(OblakoBackendError, match="kubectl create namespace failed: .*Forbidden"):
        fake.run(name="web", image="busybox:1")
    assert not fake.plugin._namespace_ready


def test_stop_deletes_the_workloads_secrets_with_its_config_maps_and_services(fake: Backend, calls: Path) -> None:
    fake.plugin.oblako_stop(name="web", timeout=1)
    selected = [argv for argv in recorded(calls) if f"--selector={manifests.WORKLOAD_LABEL}=web" in argv]
    assert [argv[argv.index("delete") + 1] for argv in selected] == ["configmaps,secrets,services"]


@pytest.mark.parametrize(("now", "warned"), [({"app": "api"}, False), ({"app": "other"}, True)])
def test_a_name_a_replica_created_first_is_used_and_only_another_workloads_name_is_warned_of(
    fake: Backend, monkeypatch: pytest.MonkeyPatch, now: dict[str, str], warned: bool
) -> None:
    """Two replicas make their service's name at once: the loser finds it selecting its own
    pods and says nothing; a name that selects someone else's keeps resolving there, and is told."""
    plugin = fake.plugin
    asked: list[str] = []  # made by someone just before us: what it selects is asked only now

    def selector_of(name: str) -> dict[str, str]:
        asked.append(name)
        return now

    monkeypatch.setattr(plugin, "_selector_of", selector_of)
    monkeypatch.setattr(plugin, "_create", lambda objects, what: [ALREADY_EXISTS])
    service = {"metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plugin._create_names([service])
    assert [str(w.message).startswith("the name 'api' is already taken") for w in caught] == ([True] if warned else [])
    assert asked == ["api"]  # one look, after the create found it there


def test_a_name_made_at_once_costs_one_create_and_no_look(fake: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = fake.plugin
    asked: list[str] = []
    monkeypatch.setattr(plugin, "_selector_of", lambda name: asked.append(name))
    monkeypatch.setattr(plugin, "_create", lambda objects, what: [])
    plugin._create_names([{"metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}}}])
    assert asked == []


def test_files_go_to_the_cluster_as_a_secret_before_the_deployment(fake: Backend, calls: Path) -> None:
    from oblako_backends.options import FileSpec

    with pytest.raises(OblakoBackendError, match="did not become available"):  # the stand-in never starts pods
        fake.run(name="web", image="busybox:1", files=[FileSpec("/run/secrets/token", b"s3cret")])
    assert created(calls) == ["Namespace", "Secret", "Deployment"]
    assert not any("s3cret" in " ".join(argv) for argv in recorded(calls))


def test_logs_since_is_kubectls_since_time_and_until_is_kept_by_each_lines_timestamp() -> None:
    from oblako_backend_kubernetes.plugin import _kept, _log_window

    assert _log_window(1_357_133_017.25, None, False) == ["--since-time=2013-01-02T13:23:37.250000000Z"]
    assert _log_window(None, 5.0, False) == ["--timestamps"]  # asked for to keep lines until then
    assert _log_window(None, None, True) == ["--timestamps"]
    line = "2013-01-02T13:23:37.250000000Z hello\n"
    assert _kept(line, None, True) == line
    assert _kept(line, 1_357_133_017.5, False) == "hello\n"
    assert _kept(line, 1_357_133_017.0, True) == ""  # written after until


def test_top_reads_the_containers_ps_without_the_ps_itself() -> None:
    from oblako_backend_kubernetes.plugin import processes_of

    busybox = (
        "PID   PPID  USER     COMMAND\n    1     0 root     sleep 600\n   12     0 root     ps -o pid,ppid,user,args\n"
    )
    found = processes_of(busybox)
    assert found.titles == ("PID", "PPID", "USER", "COMMAND")
    assert found.rows == (("1", "0", "root", "sleep 600"),)
    assert processes_of("").rows == ()


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (1_357_133_017.0, "2013-01-02T13:23:37.000000000Z"),
        (1_357_133_017.25, "2013-01-02T13:23:37.250000000Z"),
        (1_357_133_017.9999999999, "2013-01-02T13:23:38.000000000Z"),  # rounds up into the next second
    ],
)
def test_a_moment_is_given_to_kubectl_as_rfc3339_with_nine_digits(moment: float, text: str) -> None:
    from oblako_backend_kubernetes.plugin import _rfc3339

    assert _rfc3339(moment) == text
