"""The Kubernetes mapping as pure functions: manifests, names, argv and errors. No cluster."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from oblako_backend_kubernetes import manifests
from oblako_backend_kubernetes.kubectl import Kubectl, error
from oblako_backends import ConfigurationError, ContainerSpec, HealthCommand, InvalidSpecError, OblakoBackendError
from oblako_backends.errors import RuntimeUnavailableError

SETTINGS = manifests.Settings(namespace="oblako")


def objects(spec: ContainerSpec, settings: manifests.Settings = SETTINGS) -> dict[str, dict]:  # type: ignore[type-arg]
    built, _ = manifests.build(spec.owned_by("kubernetes", "web"), settings)
    return {o["kind"]: o for o in built}


def container(spec: ContainerSpec, settings: manifests.Settings = SETTINGS) -> dict:  # type: ignore[type-arg]
    return objects(spec, settings)["Deployment"]["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "mapped"),
    [("web", "web"), ("oblako-s3", "oblako-s3"), ("My_App", "my-app-"), ("a" * 70, "a" * 54 + "-"), ("x.y", "x-y-")],
)
def test_names_map_to_dns_labels_deterministically(name: str, mapped: str) -> None:
    result = manifests.k8s_name(name)
    assert result.startswith(mapped) and len(result) <= 63 and manifests.DNS_LABEL.fullmatch(result)
    assert result == manifests.k8s_name(name)
    if result != name:
        assert len(result) == len(mapped) + 8  # a hash of the original, so near-misses do not collide


def test_names_that_differ_only_in_what_gets_mapped_do_not_collide() -> None:
    assert manifests.k8s_name("My_App") != manifests.k8s_name("my-app") != manifests.k8s_name("my.app")


@pytest.mark.parametrize("bad", ["Oblako", "-x", "x-", "a" * 64, "a_b", "", "x;rm -rf /"])
def test_a_namespace_must_be_a_dns_label(bad: str) -> None:
    with pytest.raises(ConfigurationError, match="OBLAKO_K8S_NAMESPACE"):
        manifests.namespace(bad)


def test_command_becomes_args_split_as_a_shell_would() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", command="""sh -c 'echo "a  b"; sleep 1'""")
    assert container(spec)["args"] == ["sh", "-c", 'echo "a  b"; sleep 1']
    assert "command" not in container(spec)  # the image's ENTRYPOINT stays, as with Docker


def test_dollars_reach_the_container_as_given_not_expanded_by_kubernetes() -> None:
    spec = ContainerSpec(
        name="web", image="busybox:1", entrypoint=["sh", "-c"], command=["echo $$ $(HOME) $HOME"],
        environment={"A": "p$(B)$$"},
    )  # fmt: skip
    main = container(spec)
    assert main["args"] == ["echo $$$$ $$(HOME) $$HOME"] and main["command"] == ["sh", "-c"]
    assert main["env"] == [{"name": "A", "value": "p$$(B)$$$$"}]  # $$ is $ to Kubernetes


@pytest.mark.parametrize(("user", "uid"), [("1000", 1000), ("1000:1000", 1000), ("root", 0), ("0", 0)])
def test_user_becomes_run_as_user(user: str, uid: int) -> None:
    spec = ContainerSpec(name="web", image="busybox:1", user=user)
    assert container(spec)["securityContext"] == {"runAsUser": uid}


def test_a_user_name_is_refused() -> None:
    with pytest.raises(InvalidSpecError, match="uid"):
        objects(ContainerSpec(name="web", image="busybox:1", user="postgres"))


def test_env_working_dir_ports_and_ownership() -> None:
    spec = ContainerSpec(
        name="web", image="busybox:1", environment={"A": "b c"}, working_dir="/srv", ports={"8080/tcp": 18080}
    )
    built = objects(spec)
    main = container(spec)
    assert main["env"] == [{"name": "A", "value": "b c"}] and main["workingDir"] == "/srv"
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert main["readinessProbe"]["tcpSocket"]["port"] == 8080
    assert built["Service"]["spec"]["ports"] == [{"name": "p8080", "port": 8080, "targetPort": 8080}]
    for kind in ("Deployment", "Service"):
        labels = built[kind]["metadata"]["labels"]
        assert labels["oblako.managed-by"] == "oblako-backends" and labels["oblako.backend"] == "kubernetes"
        assert labels["oblako.service"] == "web" and labels[manifests.WORKLOAD_LABEL] == "web"
        assert built[kind]["metadata"]["namespace"] == "oblako"


def test_udp_ports_are_refused_because_port_forward_is_tcp_only() -> None:
    with pytest.raises(InvalidSpecError, match="TCP only"):
        objects(ContainerSpec(name="dns", image="busybox:1", ports={"53/udp": 5353}))


def test_a_named_volume_becomes_a_claim_that_the_deployment_mounts() -> None:
    spec = ContainerSpec(name="db", image="busybox:1", volumes={"db-data": {"bind": "/data", "mode": "rw"}})
    built = objects(spec, manifests.Settings(storage_class="fast", volume_size="5Gi"))
    claim = built["PersistentVolumeClaim"]
    assert claim["metadata"]["name"] == "oblako-vol-db-data"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "fast",
    }
    pod = built["Deployment"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "v0", "persistentVolumeClaim": {"claimName": "oblako-vol-db-data"}}]
    assert pod["containers"][0]["volumeMounts"] == [{"name": "v0", "mountPath": "/data", "readOnly": False}]
    assert built["Deployment"]["spec"]["strategy"] == {"type": "Recreate"}


def decoded(secret: dict) -> dict[str, bytes]:  # type: ignore[type-arg]
    return {key: base64.b64decode(value) for key, value in secret["data"].items()}


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_a_missing_host_directory_is_created_empty_as_docker_does(tmp_path: Path, mode: str) -> None:
    missing = tmp_path / "not" / "yet"
    spec = ContainerSpec(name="db", image="busybox:1", volumes={str(missing): {"bind": "/conf", "mode": mode}})
    built = objects(spec)
    assert missing.is_dir() and list(missing.iterdir()) == []
    assert built == objects(spec)  # created once, then mapped as that directory every time
    (volume,) = built["Deployment"]["spec"]["template"]["spec"]["volumes"]
    if mode == "ro":  # an empty Secret: an empty directory in the pod
        assert built["Secret"]["data"] == {} and volume["secret"] == {"secretName": built["Secret"]["metadata"]["name"]}
    else:  # as any read-write directory: a claim
        assert volume["persistentVolumeClaim"]["claimName"] == built["PersistentVolumeClaim"]["metadata"]["name"]


def test_allowed_host_paths_are_mounted_as_given_and_nothing_is_created(tmp_path: Path) -> None:
    missing = str(tmp_path / "nowhere")
    spec = ContainerSpec(name="db", image="busybox:1", volumes={missing: {"bind": "/conf", "mode": "ro"}})
    pod = objects(spec, manifests.Settings(allow_host_path=True))["Deployment"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "v0", "hostPath": {"path": missing}}]
    assert not Path(missing).exists()


def test_a_host_path_that_cannot_be_created_is_refused_saying_why(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    spec = ContainerSpec(name="db", image="busybox:1", volumes={str(tmp_path / "file" / "dir"): "/conf"})
    with pytest.raises(InvalidSpecError, match="db: .* cannot"):
        objects(spec)


def test_a_missing_host_directory_that_cannot_be_made_is_refused_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refuse)
    spec = ContainerSpec(name="db", image="busybox:1", volumes={str(tmp_path / "new"): "/conf"})
    with pytest.raises(InvalidSpecError, match="db: .*: it does not exist and cannot be created here .Permission"):
        objects(spec)


def test_a_read_only_host_file_becomes_a_secret_named_after_its_content(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("worker_processes 1;\n")
    spec = ContainerSpec(name="s3", image="nginx:1", volumes={str(conf): {"bind": "/etc/nginx/t.conf", "mode": "ro"}})
    built = objects(spec)
    assert "ConfigMap" not in built  # whoever may read config maps must not read host files
    secret = built["Secret"]
    assert secret["type"] == "Opaque" and decoded(secret) == {"nginx.conf": b"worker_processes 1;\n"}
    assert secret["metadata"]["labels"][manifests.WORKLOAD_LABEL] == "s3"  # deleted with the workload
    pod = built["Deployment"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "v0", "secret": {"secretName": secret["metadata"]["name"]}}]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "v0", "mountPath": "/etc/nginx/t.conf", "readOnly": True, "subPath": "nginx.conf"}
    ]
    conf.write_text("worker_processes 2;\n")  # a change: a new Secret, so the Deployment rolls
    assert objects(spec)["Secret"]["metadata"]["name"] != secret["metadata"]["name"]


def test_a_read_only_host_directory_keeps_its_tree_and_binary_files(tmp_path: Path) -> None:
    (tmp_path / "conf" / "sub").mkdir(parents=True)
    (tmp_path / "conf" / "a.txt").write_text("a\n")
    (tmp_path / "conf" / "sub" / "b.bin").write_bytes(b"\xff\x00")
    spec = ContainerSpec(
        name="app", image="busybox:1", volumes={str(tmp_path / "conf"): {"bind": "/conf", "mode": "ro"}}
    )
    built = objects(spec)
    items = built["Deployment"]["spec"]["template"]["spec"]["volumes"][0]["secret"]["items"]
    files = decoded(built["Secret"])
    assert sorted((i["path"], files[i["key"]]) for i in items) == [("a.txt", b"a\n"), ("sub/b.bin", b"\xff\x00")]


def test_symlinks_in_a_host_tree_are_never_followed_and_are_left_out_with_one_warning(tmp_path: Path) -> None:
    """A link to a secret outside the tree (~/.ssh/id_rsa), to a directory outside it, to a file
    inside it, and a dangling one: none is read. The tree's real files are all there."""
    outside = tmp_path / "home" / ".ssh"
    outside.mkdir(parents=True)
    (outside / "id_rsa").write_text("PRIVATE KEY\n")
    tree = tmp_path / "conf"
    (tree / "sub").mkdir(parents=True)
    (tree / "app.conf").write_text("a=1\n")
    (tree / "sub" / "id_rsa").symlink_to(outside / "id_rsa")
    (tree / "ssh").symlink_to(outside, target_is_directory=True)
    (tree / "same.conf").symlink_to(tree / "app.conf")
    (tree / "dangling").symlink_to(tmp_path / "gone")
    spec = ContainerSpec(name="app", image="busybox:1", volumes={str(tree): {"bind": "/conf", "mode": "ro"}})
    built, notes = manifests.build(spec, SETTINGS)
    (secret,) = [o for o in built if o["kind"] == "Secret"]
    assert list(decoded(secret).values()) == [b"a=1\n"]
    assert "PRIVATE KEY" not in json.dumps(built) and "UFJJVkFURSBLRVkK" not in json.dumps(built)
    (items,) = [v["secret"]["items"] for v in built[-1]["spec"]["template"]["spec"]["volumes"]]
    assert [i["path"] for i in items] == ["app.conf"]
    (note,) = notes
    assert note.startswith("app: ") and "4 symlink(s)" in note and "never followed" in note


def test_a_linked_bind_source_is_followed_as_a_bind_mount_follows_it(tmp_path: Path) -> None:
    (tmp_path / "real.conf").write_text("x=1\n")
    (tmp_path / "link.conf").symlink_to(tmp_path / "real.conf")
    spec = ContainerSpec(
        name="app", image="busybox:1", volumes={str(tmp_path / "link.conf"): {"bind": "/etc/x.conf", "mode": "ro"}}
    )
    assert decoded(objects(spec)["Secret"]) == {"link.conf": b"x=1\n"}


def test_a_pipe_in_a_host_tree_is_left_out_not_read(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a.txt").write_text("a\n")
    os.mkfifo(tmp_path / "conf" / "pipe")  # reading it would block forever
    spec = ContainerSpec(
        name="app", image="busybox:1", volumes={str(tmp_path / "conf"): {"bind": "/conf", "mode": "ro"}}
    )
    built, notes = manifests.build(spec, SETTINGS)
    assert len(notes) == 1 and "(pipe)" in notes[0]


def test_a_read_write_host_directory_becomes_a_claim_with_a_warning(tmp_path: Path) -> None:
    spec = ContainerSpec(name="s3", image="nginx:1", volumes={str(tmp_path): {"bind": "/var/log/oblako", "mode": "rw"}})
    built, notes = manifests.build(spec, manifests.Settings())
    kinds = {o["kind"]: o for o in built}
    claim = kinds["PersistentVolumeClaim"]["metadata"]["name"]
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "v0", "persistentVolumeClaim": {"claimName": claim}}]
    assert any("lives in the cluster" in n and "kubectl -n oblako cp" in n for n in notes)
    assert manifests.build(spec, manifests.Settings())[0] == built  # the same claim every time: data persists


def test_a_socket_is_left_out_with_a_warning_naming_the_service(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        spec = ContainerSpec(name="redshift", image="busybox:1", volumes={str(path): "/var/run/docker.sock"})
        built, notes = manifests.build(spec, manifests.Settings())
    pod = {o["kind"]: o for o in built}["Deployment"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [] and pod["containers"][0]["volumeMounts"] == []
    assert any(n.startswith("redshift: ") and "a socket" in n and "will not work" in n for n in notes)


def test_a_missing_socket_is_left_out_with_the_same_warning_as_an_existing_one(tmp_path: Path) -> None:
    """/var/run/docker.sock on a machine with no Docker: nothing to mount, and nothing made."""
    missing = tmp_path / "run" / "docker.sock"
    spec = ContainerSpec(name="redshift", image="busybox:1", volumes={str(missing): "/var/run/docker.sock"})
    built, notes = manifests.build(spec, SETTINGS)
    pod = {o["kind"]: o for o in built}["Deployment"]["spec"]["template"]["spec"]
    assert pod["volumes"] == [] and pod["containers"][0]["volumeMounts"] == []
    assert notes == [
        f"redshift: {missing} -> /var/run/docker.sock: a socket on this machine cannot be mounted in a pod, so it "
        "was left out; whatever redshift does with it will not work in the cluster (use a Docker-API backend for that)"
    ]
    assert not missing.parent.exists()  # not created as a directory, unlike other missing paths


@pytest.mark.parametrize("layout", ["file", "tree"])
def test_host_files_too_big_for_a_secret_are_refused(tmp_path: Path, layout: str) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * (manifests.FILES_LIMIT + 1))
    source = big if layout == "file" else tmp_path
    spec = ContainerSpec(name="app", image="busybox:1", volumes={str(source): {"bind": "/conf", "mode": "ro"}})
    with pytest.raises(InvalidSpecError, match="too much for a Secret; use a named volume"):
        objects(spec)


def test_the_upstream_services_that_bind_host_paths_map_or_say_what_to_do(tmp_path: Path) -> None:
    """oblako's services with host binds (as in its s3proxy.py, caddy.py, trino.py and redshift
    clusters.py): the nginx front's config file and write log, Caddy's and Trino's config
    directories, the Redshift leader's Docker socket, and a named data volume."""
    import socket

    front = tmp_path / "s3-front"
    (front / "log").mkdir(parents=True)
    (front / "nginx.conf").write_text("events {}\n")
    caddy, catalog = tmp_path / "caddy", tmp_path / "trino" / "catalog"
    caddy.mkdir()
    (caddy / "Caddyfile").write_text("{\n    auto_https off\n}\n")
    catalog.mkdir(parents=True)
    (catalog / "iceberg.properties").write_text("connector.name=iceberg\n")
    with socket.socket(socket.AF_UNIX) as docker_sock:
        docker_sock.bind(str(tmp_path / "docker.sock"))
        services = {
            "oblako-s3": {
                str(front / "nginx.conf"): {"bind": "/etc/nginx/oblako.conf.template", "mode": "ro"},
                str(front / "log"): {"bind": "/var/log/oblako", "mode": "rw"},
            },
            "oblako-redshift-leader": {str(tmp_path / "docker.sock"): {"bind": "/var/run/docker.sock", "mode": "rw"}},
            "oblako-caddy": {str(caddy): {"bind": "/etc/caddy", "mode": "ro"}},
            "oblako-trino": {str(catalog): {"bind": "/etc/trino/catalog", "mode": "ro"}},
            "oblako-s3proxy": {"oblako-s3-data": {"bind": "/data", "mode": "rw"}},
        }
        for name, volumes in services.items():
            built, notes = manifests.build(
                ContainerSpec(name=name, image="busybox:1", volumes=volumes), manifests.Settings()
            )
            kinds = [o["kind"] for o in built]
            assert "Deployment" in kinds, name
            if name in ("oblako-caddy", "oblako-trino"):
                assert "Secret" in kinds and notes == [], name
            assert all(n.startswith(f"{name}: ") for n in notes), notes


def test_extra_hosts_become_host_aliases_and_host_gateway_needs_an_address() -> None:
    spec = ContainerSpec(
        name="web", image="busybox:1", extra_hosts={"db.local": "10.0.0.5", "host.docker.internal": "host-gateway"}
    )
    built, notes = manifests.build(spec, SETTINGS)
    pod = built[-1 if built[-1]["kind"] == "Deployment" else 0]["spec"]["template"]["spec"]
    assert pod["hostAliases"] == [{"ip": "10.0.0.5", "hostnames": ["db.local"]}]
    assert notes and "OBLAKO_K8S_HOST_GATEWAY" in notes[0] and "host.docker.internal" in notes[0]
    built, notes = manifests.build(spec, manifests.Settings(host_gateway="192.168.49.1"))
    assert built[0]["spec"]["template"]["spec"]["hostAliases"][1] == {
        "ip": "192.168.49.1",
        "hostnames": ["host.docker.internal"],
    }
    assert notes == []


def test_labels_that_are_not_valid_kubernetes_labels_are_kept_in_an_annotation() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", labels={"team": "storage", "note": "has spaces!"})
    deployment = objects(spec)["Deployment"]
    assert "note" not in deployment["metadata"]["labels"]
    assert manifests.labels_of(deployment)["note"] == "has spaces!"


def test_argv_is_a_list_with_deadline_context_and_namespace_and_nothing_is_interpreted() -> None:
    kubectl = Kubectl("kubectl", "kind-dev", "ns-1", timeout=12.5)
    argv = kubectl.argv("logs", "deployment/x;rm -rf ~", "--tail=5")
    assert argv == [
        "kubectl",
        "--request-timeout=13s",
        "--context=kind-dev",
        "--namespace=ns-1",
        "logs",
        "deployment/x;rm -rf ~",
        "--tail=5",
    ]
    assert "--request-timeout" not in " ".join(kubectl.argv("port-forward", "service/x", bounded=False))


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        (
            "The connection to the server 127.0.0.1:16443 was refused - did you specify the right host or port?",
            RuntimeUnavailableError,
        ),
        ("Unable to connect to the server: dial tcp 10.0.0.1:443: i/o timeout", RuntimeUnavailableError),
        ('Error from server (Forbidden): deployments.apps is forbidden: User "x" cannot list', OblakoBackendError),
    ],
)
def test_kubectl_errors_map_to_the_cores(stderr: str, kind: type) -> None:
    mapped = error("context kind-dev, namespace oblako", ["get", "deployments"], stderr)
    assert type(mapped) is kind
    assert stderr.splitlines()[-1][:40] in str(mapped)


def test_without_a_port_to_probe_available_means_it_stayed_up() -> None:
    quiet = objects(ContainerSpec(name="worker", image="busybox:1"))["Deployment"]["spec"]
    served = objects(ContainerSpec(name="web", image="busybox:1", ports={"80/tcp": None}))["Deployment"]["spec"]
    assert quiet["minReadySeconds"] == 3 and "readinessProbe" not in quiet["template"]["spec"]["containers"][0]
    assert served["minReadySeconds"] == 0  # the readiness probe on the port decides


RECORDER = """#!/bin/sh
# A recording stand-in for kubectl: logs its argv, answers like a cluster where nothing exists.
printf '%s\\n' "$@" > "$RECORD_DIR/$$-$(date +%s%N).argv"
case " $* " in
  *" get deployment "*) echo 'Error from server (NotFound): deployments.apps "x" not found' >&2; exit 1;;
  *" --output=json"*) echo '{"items": []}';;
esac
exit 0
"""


def test_no_user_value_reaches_kubectl_as_a_separate_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Values that look like options travel in manifests on stdin, or glued to their option."""
    from oblako_backends import OblakoBackendError, get_backend

    fake = tmp_path / "kubectl"
    fake.write_text(RECORDER)
    fake.chmod(0o755)
    (tmp_path / "argv").mkdir()
    monkeypatch.setenv("RECORD_DIR", str(tmp_path / "argv"))
    monkeypatch.setenv("OBLAKO_TIMEOUT", "1")
    hostile = "--publish=0.0.0.0:1:1"
    backend = get_backend("kubernetes", kubectl=str(fake), state_dir=str(tmp_path / "state"), namespace="ns")
    with pytest.raises(OblakoBackendError, match="did not become available"):
        backend.run(
            name="web",
            image="busybox",
            environment={"TOKEN": hostile, "discovery.type": "-x"},
            labels={"team": hostile},
            command=["--kubeconfig=/etc/shadow", hostile],
        )
    calls = [p.read_text().splitlines() for p in sorted((tmp_path / "argv").iterdir())]
    assert calls, "kubectl was called"
    for argv in calls:
        assert not any(hostile in token or "shadow" in token or token == "-x" for token in argv), argv
        options = [t for t in argv if t.startswith("-")]
        assert all(t.startswith("--") or t in ("-f", "-") for t in options), argv  # ours, spelled out


def test_an_entrypoint_is_the_containers_command_and_the_command_its_args() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", entrypoint="sh -c", command=["echo hi"])
    container = objects(spec)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert (container["command"], container["args"]) == (["sh", "-c"], ["echo hi"])


def test_each_alias_is_a_headless_service_named_after_it_selecting_the_pod() -> None:
    spec = ContainerSpec(name="shop-web", image="busybox:1", ports={"8080/tcp": None}, aliases=["web"])
    built, notes = manifests.build(spec.owned_by("kubernetes", "web", "shop"), SETTINGS)
    services = {o["metadata"]["name"]: o for o in built if o["kind"] == "Service"}
    assert sorted(services) == ["shop-web", "web"]  # the port-forward target, and the name
    named = services["web"]
    assert named["spec"]["clusterIP"] == "None"  # DNS answers with the pod itself: every port reachable
    assert named["spec"]["selector"] == {"oblako.project": "shop", "oblako.service": "web"}  # every replica's pod
    assert named["metadata"]["annotations"][manifests.ALIAS_ANNOTATION] == "shop-web"
    assert named["metadata"]["labels"]["oblako.project"] == "shop" and notes == []
    alone, _ = manifests.build(ContainerSpec(name="solo", image="busybox:1", aliases=["solo-name"]), SETTINGS)
    (service,) = [o for o in alone if o["kind"] == "Service"]
    assert service["spec"]["selector"] == {manifests.WORKLOAD_LABEL: "solo"}  # no project: its own pod


def test_a_service_without_ports_still_gets_its_name() -> None:
    built, _ = manifests.build(ContainerSpec(name="p-db", image="busybox:1", aliases=["db"]), SETTINGS)
    named = [o for o in built if o["kind"] == "Service"]
    assert [o["metadata"]["name"] for o in named] == ["db"] and "ports" not in named[0]["spec"]


def test_an_alias_that_cannot_be_a_service_name_is_left_out_with_a_warning() -> None:
    built, notes = manifests.build(ContainerSpec(name="p-x", image="busybox:1", aliases=["Web_1"]), SETTINGS)
    assert [o for o in built if o["kind"] == "Service"] == []
    assert len(notes) == 1 and "'Web_1' will not resolve" in notes[0]


def test_a_health_check_is_the_pods_exec_readiness_probe_in_whole_seconds() -> None:
    health = HealthCommand(("pg_isready",), interval=0.5, timeout=2.4, retries=4, start_period=10)
    spec = ContainerSpec(name="db", image="busybox:1", ports={"5432/tcp": None}, health=health)
    probe = container(spec)["readinessProbe"]
    assert probe == {
        "exec": {"command": ["pg_isready"]},
        "periodSeconds": 1,
        "timeoutSeconds": 2,
        "failureThreshold": 4,
    }


def oblako_services(home: Path, docker_socket: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    """oblako's 14 service containers, described with `run`'s nine keywords as oblako's
    Service passes them (written anew after upstream oblako's services; images and ports are
    illustrative, the binds are the ones that matter here): the S3 front's config file and
    write log, Caddy's and Trino's config directories, the Redshift leader's Docker socket,
    named data volumes, and host-gateway for the services that call back to the host."""
    front, caddy, catalog = home / "s3-front", home / "caddy", home / "trino" / "catalog"
    front.mkdir(parents=True)
    (front / "nginx.conf").write_text("events {}\n")
    caddy.mkdir()
    (caddy / "Caddyfile").write_text("{\n    auto_https off\n}\n")
    catalog.mkdir(parents=True)
    (catalog / "iceberg.properties").write_text("connector.name=iceberg\n")
    gateway = {"host.docker.internal": "host-gateway"}

    def named(volume: str, target: str) -> dict[str, dict[str, str]]:
        return {volume: {"bind": target, "mode": "rw"}}

    return {
        "oblako-s3proxy": {
            "image": "andrewgaul/s3proxy:latest",
            "ports": {"80/tcp": 9000},
            "environment": {"S3PROXY_AUTHORIZATION": "none"},
            "volumes": named("oblako-s3-data", "/data"),
        },
        "oblako-s3": {
            "image": "nginx:1",
            "ports": {"8080/tcp": 9001},
            "volumes": {
                str(front / "nginx.conf"): {"bind": "/etc/nginx/templates/oblako.conf.template", "mode": "ro"},
                str(front / "log"): {"bind": "/var/log/oblako", "mode": "rw"},  # missing: created, as Docker does
            },
        },
        "oblako-dynamodb": {
            "image": "amazon/dynamodb-local:latest",
            "ports": {"8000/tcp": 8001},
            "volumes": named("oblako-dynamodb", "/home/dynamodblocal/data"),
            "command": "-jar DynamoDBLocal.jar -sharedDb -dbPath ./data",
            "working_dir": "/home/dynamodblocal",
            "user": "root",
        },
        "oblako-kinesis": {"image": "saidsef/aws-kinesis-local:latest", "ports": {"4567/tcp": 4567}},
        "oblako-moto": {"image": "motoserver/moto:latest", "ports": {"5000/tcp": 5001}},
        "oblako-rds": {
            "image": "postgres:16",
            "ports": {"5432/tcp": 5432},
            "environment": {"POSTGRES_PASSWORD": "oblako"},
            "volumes": named("oblako-rds-data", "/var/lib/postgresql/data"),
        },
        "oblako-redshift": {
            "image": "postgres:16",
            "ports": {"5432/tcp": 5439},
            "environment": {"POSTGRES_PASSWORD": "oblako"},
            "volumes": {
                **named("oblako-redshift-data", "/var/lib/postgresql/data"),
                str(docker_socket): {"bind": "/var/run/docker.sock", "mode": "rw"},
            },
            "extra_hosts": gateway,
        },
        "oblako-opensearch": {
            "image": "opensearchproject/opensearch:2",
            "ports": {"9200/tcp": 9200},
            "environment": {"discovery.type": "single-node", "DISABLE_SECURITY_PLUGIN": "true"},
        },
        "oblako-bedrock": {
            "image": "ollama/ollama:latest",
            "ports": {"11434/tcp": 11434},
            "volumes": named("oblako-ollama", "/root/.ollama"),
        },
        "oblako-iceberg": {
            "image": "tabulario/iceberg-rest:latest",
            "ports": {"8181/tcp": 8181},
            "environment": {"CATALOG_S3_ENDPOINT": "http://host.docker.internal:9000"},
            "extra_hosts": gateway,
        },
        "oblako-trino": {
            "image": "trinodb/trino:latest",
            "ports": {"8080/tcp": 8085},
            "volumes": {str(catalog): {"bind": "/etc/trino/catalog", "mode": "ro"}},
            "extra_hosts": gateway,
        },
        "oblako-stepfunctions": {
            "image": "amazon/aws-stepfunctions-local:latest",
            "ports": {"8083/tcp": 8083},
            "extra_hosts": gateway,
        },
        "oblako-mlflow": {
            "image": "ghcr.io/mlflow/mlflow:latest",
            "ports": {"5000/tcp": 5002},
            "command": ["mlflow", "server", "--host", "0.0.0.0"],
        },
        "oblako-caddy": {
            "image": "caddy:2",
            "ports": {"80/tcp": 8088},
            "volumes": {str(caddy): {"bind": "/etc/caddy", "mode": "ro"}},
            "extra_hosts": gateway,
        },
    }


def test_oblakos_14_services_all_produce_manifests_on_a_machine_without_docker(tmp_path: Path) -> None:
    """No Docker here: /var/run/docker.sock does not exist. Every service still maps; the
    Redshift leader runs without the socket (a warning says so), and nothing is created in
    place of the socket."""
    from oblako_backends import compat

    docker_socket = tmp_path / "var" / "run" / "docker.sock"
    services = oblako_services(tmp_path / "home", docker_socket)
    assert len(services) == 14
    for name, fields in services.items():
        listed = compat.build_k8s_manifests(name=name, namespace="oblako", **fields)
        kinds = [item["kind"] for item in listed["items"]]
        assert kinds.count("Deployment") == 1 and "ConfigMap" not in kinds, name
        (deployment,) = [item for item in listed["items"] if item["kind"] == "Deployment"]
        mounts = deployment["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        assert "/var/run/docker.sock" not in [m["mountPath"] for m in mounts], name
        if name in ("oblako-s3", "oblako-caddy", "oblako-trino"):
            assert "Secret" in kinds, name  # host files travel in a Secret
    assert not docker_socket.exists() and not docker_socket.parent.exists()
    assert (tmp_path / "home" / "s3-front" / "log").is_dir()  # the missing log directory was made
    spec = ContainerSpec(name="oblako-redshift", **services["oblako-redshift"])
    _, notes = manifests.build(spec, SETTINGS)
    assert [n for n in notes if "docker.sock" in n] == [
        f"oblako-redshift: {docker_socket} -> /var/run/docker.sock: a socket on this machine cannot be mounted in a "
        "pod, so it was left out; whatever oblako-redshift does with it will not work in the cluster (use a "
        "Docker-API backend for that)"
    ]


# -- Compose's options ----------------------------------------------------------------------


def pod(spec: ContainerSpec) -> dict:  # type: ignore[type-arg]
    return objects(spec)["Deployment"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_stop_grace_period_is_the_pods_termination_grace_in_whole_seconds_never_shorter() -> None:
    assert (
        pod(ContainerSpec(name="web", image="busybox:1", stop_grace_period=2.5))["terminationGracePeriodSeconds"] == 3
    )
    assert "terminationGracePeriodSeconds" not in pod(ContainerSpec(name="web", image="busybox:1"))


def test_tmpfs_is_a_memory_backed_empty_dir_with_its_size_as_the_limit() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", tmpfs={"/run": "size=64m", "/cache": "", "/ro": "ro"})
    built = pod(spec)
    assert built["volumes"] == [
        {"name": "t0", "emptyDir": {"medium": "Memory"}},
        {"name": "t1", "emptyDir": {"medium": "Memory"}},
        {"name": "t2", "emptyDir": {"medium": "Memory", "sizeLimit": str(64 * 1024 * 1024)}},
    ]
    assert built["containers"][0]["volumeMounts"] == [
        {"name": "t0", "mountPath": "/cache", "readOnly": False},
        {"name": "t1", "mountPath": "/ro", "readOnly": True},
        {"name": "t2", "mountPath": "/run", "readOnly": False},
    ]


def test_tmpfs_options_a_pod_cannot_set_are_named_in_a_warning() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", tmpfs={"/run": "size=1g,mode=1777,noexec"})
    built, warned = manifests.build(spec, SETTINGS)
    assert warned == [
        "web: tmpfs /run: mode=1777,noexec cannot be set on a Kubernetes emptyDir; it is mounted with the "
        "cluster's defaults (mode 0777, owner root)"
    ]
    (deployment,) = [o for o in built if o["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["volumes"][0]["emptyDir"]["sizeLimit"] == str(1024**3)


def test_a_tmpfs_size_the_kernel_would_not_read_is_refused() -> None:
    with pytest.raises(InvalidSpecError, match="size=64mb"):
        objects(ContainerSpec(name="web", image="busybox:1", tmpfs={"/run": "size=64mb"}))


def test_files_are_one_secret_of_the_workload_each_mounted_alone_with_its_mode() -> None:
    from oblako_backends.options import FileSpec

    spec = ContainerSpec(
        name="web",
        image="busybox:1",
        files=[FileSpec("/run/secrets/db_password", b"hunter2\n", 0o400), FileSpec("/etc/app.conf", b"a=1\n")],
    )
    built = objects(spec)
    secret = built["Secret"]
    assert secret["metadata"]["labels"][manifests.WORKLOAD_LABEL] == "web"  # stop deletes it with the workload
    assert secret["metadata"]["labels"]["oblako.managed-by"] == "oblako-backends"
    assert secret["metadata"]["annotations"] == {manifests.NAME_ANNOTATION: "web"}
    assert decoded(secret) == {"f0": b"a=1\n", "f1": b"hunter2\n"}  # sorted by target
    spec_pod = built["Deployment"]["spec"]["template"]["spec"]
    assert spec_pod["volumes"] == [
        {
            "name": "files",
            "secret": {
                "secretName": secret["metadata"]["name"],
                "items": [{"key": "f0", "path": "f0", "mode": 0o444}, {"key": "f1", "path": "f1", "mode": 0o400}],
            },
        }
    ]
    assert spec_pod["containers"][0]["volumeMounts"] == [
        {"name": "files", "mountPath": "/etc/app.conf", "subPath": "f0", "readOnly": True},
        {"name": "files", "mountPath": "/run/secrets/db_password", "subPath": "f1", "readOnly": True},
    ]
    changed = ContainerSpec(name="web", image="busybox:1", files=[FileSpec("/etc/app.conf", b"a=2\n")])
    assert objects(changed)["Secret"]["metadata"]["name"] != secret["metadata"]["name"]  # a change rolls the pod
    assert "hunter2" not in json.dumps(built["Deployment"])


def test_a_file_mode_kubernetes_cannot_set_is_refused_without_showing_the_content() -> None:
    from oblako_backends.options import FileSpec

    spec = ContainerSpec(name="web", image="busybox:1", files=[FileSpec("/usr/bin/tool", b"s3cret", 0o4755)])
    with pytest.raises(InvalidSpecError, match="up to 0o777") as raised:
        objects(spec)
    assert "s3cret" not in str(raised.value)


def test_files_too_big_for_a_secret_are_refused() -> None:
    from oblako_backends.options import FileSpec

    big = ContainerSpec(name="web", image="busybox:1", files=[FileSpec("/big", b"x" * (1024 * 1024 + 1))])
    with pytest.raises(InvalidSpecError, match="do not fit in a Kubernetes Secret"):
        objects(big)


def test_capabilities_privileged_read_only_and_no_new_privileges_are_the_security_context() -> None:
    spec = ContainerSpec(
        name="web",
        image="busybox:1",
        user="1000",
        cap_add=["CAP_NET_ADMIN"],
        cap_drop=["all"],
        privileged=True,
        read_only=True,
        security_opt=["no-new-privileges:true", "seccomp=unconfined", "label=type:spc_t", "label=level:s0"],
    )
    assert container(spec)["securityContext"] == {
        "runAsUser": 1000,
        "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]},
        "privileged": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "seccompProfile": {"type": "Unconfined"},
        "seLinuxOptions": {"type": "spc_t", "level": "s0"},
    }
    plain = ContainerSpec(name="web", image="busybox:1")
    assert "securityContext" not in container(plain)


def test_apparmor_is_the_pods_annotation_for_its_container() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", security_opt=["apparmor=unconfined", "apparmor:docker-x"])
    template = objects(spec)["Deployment"]["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "container.apparmor.security.beta.kubernetes.io/main": "localhost/docker-x"  # the last one wins, as in Docker
    }
    assert "securityContext" not in template["spec"]["containers"][0]


@pytest.mark.parametrize("option", ["seccomp=/etc/profile.json", "label=disable", "systempaths=unconfined"])
def test_a_security_option_without_a_counterpart_is_refused_by_name(option: str) -> None:
    with pytest.raises(InvalidSpecError, match="leave this one out") as raised:
        objects(ContainerSpec(name="web", image="busybox:1", security_opt=[option]))
    assert option in str(raised.value)


def test_stdin_open_and_tty_are_the_containers_own() -> None:
    main = container(ContainerSpec(name="web", image="busybox:1", stdin_open=True, tty=True))
    assert main["stdin"] is True and main["tty"] is True
    assert "stdin" not in container(ContainerSpec(name="web", image="busybox:1"))


def test_init_shares_the_pods_process_namespace_so_pause_reaps_orphans() -> None:
    assert pod(ContainerSpec(name="web", image="busybox:1", init=True))["shareProcessNamespace"] is True
    assert "shareProcessNamespace" not in pod(ContainerSpec(name="web", image="busybox:1", init=False))


def test_safe_sysctls_are_the_pods_and_an_unsafe_one_is_refused_by_name() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", sysctls={"net.ipv4.ip_local_port_range": "20000 30000"})
    assert pod(spec)["securityContext"] == {
        "sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "20000 30000"}]
    }
    unsafe = ContainerSpec(
        name="web", image="busybox:1", sysctls={"net.core.somaxconn": 1024, "kernel.shm_rmid_forced": 1}
    )
    with pytest.raises(InvalidSpecError, match="net.core.somaxconn") as raised:
        objects(unsafe)
    assert "--allowed-unsafe-sysctls" in str(raised.value) and "'kernel.shm_rmid_forced'" not in str(raised.value)


def test_dns_search_alone_adds_to_the_cluster_search_path() -> None:
    built, warned = manifests.build(ContainerSpec(name="web", image="busybox:1", dns_search=["corp.example"]), SETTINGS)
    spec_pod = next(o for o in built if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert spec_pod["dnsConfig"] == {"searches": ["corp.example"]} and "dnsPolicy" not in spec_pod
    assert warned == []


def test_dns_servers_are_the_only_ones_the_pod_asks_and_the_user_is_told_what_that_costs() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", dns=["9.9.9.9", "1.1.1.1"], dns_search=["corp.example"])
    built, warned = manifests.build(spec, SETTINGS)
    spec_pod = next(o for o in built if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert spec_pod["dnsPolicy"] == "None"
    assert spec_pod["dnsConfig"] == {"searches": ["corp.example"], "nameservers": ["9.9.9.9", "1.1.1.1"]}
    assert warned == [
        "web: dns: the pod asks only 9.9.9.9, 1.1.1.1 (dnsPolicy None), so the cluster's names, other services' "
        "included, do not resolve from it"
    ]


def test_platform_picks_nodes_of_that_os_and_arch_and_a_variant_is_refused() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", platform="linux/arm64")
    assert pod(spec)["nodeSelector"] == {"kubernetes.io/os": "linux", "kubernetes.io/arch": "arm64"}
    with pytest.raises(InvalidSpecError, match="variant"):
        objects(ContainerSpec(name="web", image="busybox:1", platform="linux/arm/v7"))


def test_exposed_ports_are_service_ports_so_other_pods_reach_them_by_name() -> None:
    spec = ContainerSpec(
        name="web", image="busybox:1", ports={"8080/tcp": None}, expose=["8080", "9090", "53/udp"], aliases=["web2"]
    )
    built, _ = manifests.build(spec, SETTINGS)
    services = {o["metadata"]["name"]: o for o in built if o["kind"] == "Service"}
    assert services["web"]["spec"]["ports"] == [
        {"name": "p8080", "port": 8080, "targetPort": 8080},
        {"name": "p53-udp", "port": 53, "protocol": "UDP", "targetPort": 53},
        {"name": "p9090", "port": 9090, "targetPort": 9090},
    ]
    assert [p["name"] for p in services["web2"]["spec"]["ports"]] == ["p8080", "p53-udp", "p9090"]
    only_exposed = objects(ContainerSpec(name="db", image="busybox:1", expose=["5432"]))
    assert only_exposed["Service"]["spec"]["ports"] == [{"name": "p5432", "port": 5432, "targetPort": 5432}]
    assert "readinessProbe" not in only_exposed["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def test_the_plugin_declares_exactly_the_option_groups_it_honours() -> None:
    from oblako_backend_kubernetes.plugin import KubernetesPlugin
    from oblako_backends.options import FIELD_CAPABILITY

    groups = set(FIELD_CAPABILITY.values())
    declared = groups & KubernetesPlugin.capabilities
    assert groups - declared == {"process_limits", "hostname", "stop_signal", "devices"}


def pod_status(workload: str, created: str, **statuses: object) -> dict:  # type: ignore[type-arg]
    return {
        "metadata": {"labels": {manifests.WORKLOAD_LABEL: workload}, "creationTimestamp": created},
        "status": {"containerStatuses": [{"name": "main", **statuses}]},
    }


def test_the_exit_code_is_the_newest_pods_last_ending() -> None:
    ended = {"terminated": {"exitCode": 3, "reason": "Error"}}
    pods = [
        pod_status("web", "2026-01-01T00:00:00Z", state=ended),
        pod_status("web", "2026-01-01T00:01:00Z", state={"waiting": {}}, lastState={"terminated": {"exitCode": 0}}),
        pod_status("other", "2026-01-01T00:02:00Z", state={"terminated": {"exitCode": 9}}),
    ]
    assert manifests.exit_code("web", pods) == 0  # restarting after it completed
    assert manifests.exit_code("web", pods[:1]) == 3
    assert manifests.exit_code("web", [pod_status("web", "2026-01-01T00:00:00Z", state={"running": {}})]) is None
    assert manifests.exit_code("nothing", pods) is None
    replaced = [*pods[:1], pod_status("web", "2026-01-01T00:03:00Z", state={"running": {}})]
    assert manifests.exit_code("web", replaced) is None  # a new pod starts: the old one's ending is history


def test_memory_and_cpu_become_limits_and_the_reservation_the_only_request() -> None:
    """Docker reserves nothing for a limit; a request equal to it (Kubernetes' default) would
    make a small node refuse the pod, so the request is the reservation, or 0."""
    spec = ContainerSpec(name="web", image="busybox:1", mem_limit=64 * 1024**2, mem_reservation=32 * 1024**2,
                         cpus=1.5)  # fmt: skip
    assert container(spec)["resources"] == {
        "limits": {"memory": str(64 * 1024**2), "cpu": "1500m"},
        "requests": {"memory": str(32 * 1024**2), "cpu": "0"},
    }
    limited = ContainerSpec(name="web", image="busybox:1", mem_limit=1024**3, cpus=0.0001)
    assert container(limited)["resources"] == {
        "limits": {"memory": str(1024**3), "cpu": "1m"},  # the least Kubernetes takes
        "requests": {"memory": "0", "cpu": "0"},
    }
    reserved = ContainerSpec(name="web", image="busybox:1", mem_reservation=1024**2)
    assert container(reserved)["resources"] == {"requests": {"memory": str(1024**2)}}
    assert "resources" not in container(ContainerSpec(name="web", image="busybox:1"))


def test_a_reservation_above_the_limit_is_refused_by_name() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", mem_limit=1024**2, mem_reservation=2 * 1024**2)
    with pytest.raises(InvalidSpecError, match=r"invalid mem_reservation 2097152: at most mem_limit \(1048576"):
        container(spec)


def test_shm_size_is_a_memory_empty_dir_of_that_size_at_dev_shm() -> None:
    spec = ContainerSpec(name="web", image="busybox:1", shm_size=16 * 1024**2)
    assert {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": str(16 * 1024**2)}} in pod(spec)["volumes"]
    assert {"name": "shm", "mountPath": "/dev/shm"} in container(spec)["volumeMounts"]
    with pytest.raises(InvalidSpecError, match="tmpfs mounts /dev/shm too"):
        container(ContainerSpec(name="web", image="busybox:1", shm_size=1024**2, tmpfs={"/dev/shm": ""}))


def test_network_mode_host_is_the_pods_host_network_where_cluster_names_still_resolve() -> None:
    pod = objects(ContainerSpec(name="web", image="busybox:1", network_mode="host"))["Deployment"]["spec"]["template"]
    assert (pod["spec"]["hostNetwork"], pod["spec"]["dnsPolicy"]) == (True, "ClusterFirstWithHostNet")
    assert (
        "hostNetwork"
        not in objects(ContainerSpec(name="web", image="busybox:1"))["Deployment"]["spec"]["template"]["spec"]
    )


def test_each_alias_of_each_network_a_project_joins_becomes_a_service_there(tmp_path: Path) -> None:
    """A namespace is one network: `up` joins a service to one, answering to every alias it has
    on each (and says so); each alias is a Service of its own."""
    from oblako_backend_kubernetes.plugin import KubernetesPlugin
    from oblako_backends.project import compose
    from oblako_backends.project.run import adapt

    (tmp_path / "compose.yaml").write_text(
        "services:\n  api:\n    image: busybox:1\n    expose: ['80']\n    networks:\n"
        "      front: {aliases: [www]}\n      back: {aliases: [db-api]}\nnetworks:\n  front:\n  back:\n"
    )
    project, said = adapt(compose.read([tmp_path / "compose.yaml"]), KubernetesPlugin.capabilities, "kubernetes")
    assert "api: networks: kubernetes joins it to one network only" in " ".join(said)
    built, _ = manifests.build(project.services[0].spec.owned_by("kubernetes", "api", project.name), SETTINGS)
    names = {o["metadata"]["name"] for o in built if o["kind"] == "Service"}
    assert {"api", "www", "db-api"} <= names


@pytest.mark.parametrize(
    ("restart", "policy", "retries"),
    [
        ("no", "Never", 0),  # one run, never restarted
        ("on-failure:2", "Never", 2),  # each retry a pod of its own, kept with its exit code and output
        ("on-failure:1", "Never", 1),
        ("on-failure", "OnFailure", manifests.FOREVER),  # retried for ever, in place
        ("on-failure:0", "OnFailure", manifests.FOREVER),  # Docker reads a count of 0 as no limit
    ],
)
def test_a_restart_policy_that_lets_the_container_end_makes_a_job(restart: str, policy: str, retries: int) -> None:
    built = objects(ContainerSpec(name="migrate", image="busybox:1", restart=restart, ports={"80/tcp": None}))
    assert "Deployment" not in built
    job = built["Job"]
    assert (job["apiVersion"], job["metadata"]["name"]) == ("batch/v1", "migrate")
    assert (job["spec"]["template"]["spec"]["restartPolicy"], job["spec"]["backoffLimit"]) == (policy, retries)
    assert "ttlSecondsAfterFinished" not in job["spec"]  # how it ended stays readable until it is removed
    assert job["spec"]["template"]["metadata"]["labels"][manifests.WORKLOAD_LABEL] == "migrate"  # logs, exec, status
    assert "selector" not in job["spec"]  # the Job's own, generated: ours would need manualSelector
    assert built["Service"]["spec"]["selector"] == {manifests.WORKLOAD_LABEL: "migrate"}  # its port reaches the pod


@pytest.mark.parametrize("restart", [None, "always", "unless-stopped"])
def test_a_restart_policy_that_restarts_always_stays_a_deployment(restart: str | None) -> None:
    built = objects(ContainerSpec(name="web", image="busybox:1", restart=restart))
    assert "Job" not in built
    assert "restartPolicy" not in built["Deployment"]["spec"]["template"]["spec"]  # Always: the only one it takes


def job(*conditions: tuple[str, str]) -> dict:  # type: ignore[type-arg]
    return {"kind": "Job", "status": {"conditions": [{"type": t, "status": s} for t, s in conditions]}}


def test_a_job_is_over_once_it_completed_or_failed_for_good() -> None:
    assert not manifests.ended(job()) and not manifests.ended({"kind": "Job"})
    assert manifests.ended(job(("Complete", "True")))
    assert manifests.ended(job(("Failed", "True")))
    assert manifests.ended(job(("FailureTarget", "True")))  # 1.31+: said before the pods are cleaned up
    assert not manifests.ended(job(("Suspended", "True"), ("Failed", "False")))


def test_a_jobs_container_has_started_once_it_serves_or_ended() -> None:
    ready = {"type": "Ready", "status": "True"}
    running = pod_status("one", "2026-01-01T00:00:00Z", state={"running": {}})
    assert not manifests.started("one", [running])  # running, but its readiness probe has not passed
    running["status"]["conditions"] = [ready]
    assert manifests.started("one", [running]) and manifests.serving("one", [running])  # its ports are forwarded
    retrying = pod_status("one", "2026-01-01T00:00:00Z", state={"waiting": {"reason": "CrashLoopBackOff"}},
                          lastState={"terminated": {"exitCode": 3}})  # fmt: skip
    assert manifests.started("one", [retrying]) and not manifests.serving("one", [retrying])  # ran, serves nothing
    assert not manifests.started("one", [pod_status("one", "2026-01-01T00:00:00Z", state={"waiting": {}})])
    assert not manifests.started("other", [running, retrying])


@pytest.mark.parametrize(("restart", "kind", "field"), [(None, "Deployment", "replicas"), ("no", "Job", "parallelism")])
def test_a_created_workload_waits_with_no_pod_until_released_and_keeps_its_ports(
    restart: str | None, kind: str, field: str
) -> None:
    """`up --no-start`: a Deployment of no replicas, a Job of no parallel pods (no `suspend`
    before 1.21), labelled as waiting; its start asks for one pod and drops that label."""
    given = ContainerSpec(
        name="web", image="busybox:1", restart=restart, ports={"80/tcp": ("127.0.0.1", 8080), "81/tcp": None}
    ).owned_by("kubernetes", start_later=True)
    built = objects(given)
    made = manifests.held(built[kind], given)
    assert made["spec"][field] == 0 and manifests.waiting(made)
    assert not manifests.waiting(built[kind])  # what a run makes starts at once
    assert built[kind]["spec"].get(field, 1) == 1  # the run's own manifest is left as it was
    if kind == "Job":
        assert made["spec"]["completions"] == 1  # one run once released, not a work queue
    assert manifests.labels_of(made)["oblako.start"] == "later"
    assert manifests.held_ports(made) == [("127.0.0.1", 8080, 80), (None, None, 81)]
    patch = manifests.release(made)
    assert patch["spec"] == {field: 1}
    assert patch["metadata"]["labels"] == {"oblako.start": None}  # merge patch: removed
    labels = json.loads(patch["metadata"]["annotations"][manifests.LABELS_ANNOTATION])
    assert (
        "oblako.start" not in labels and labels["oblako.managed-by"] == manifests.labels_of(made)["oblako.managed-by"]
    )


@pytest.mark.parametrize(("restart", "kind", "field"), [(None, "Deployment", "replicas"), ("no", "Job", "parallelism")])
def test_a_workload_scaled_to_none_after_it_ran_is_not_taken_for_a_created_one(
    restart: str | None, kind: str, field: str
) -> None:
    """Only what `up --no-start` made waits for a start: one this layer ran, scaled to no pod
    since (by `kubectl scale`, say), is left alone by `start`, not scaled up and relabelled."""
    given = ContainerSpec(name="web", image="busybox:1", restart=restart)
    ran = objects(given.owned_by("kubernetes"))[kind]
    ran["spec"][field] = 0  # scaled down outside oblako
    assert not manifests.waiting(ran)
    held = manifests.held(objects(given.owned_by("kubernetes", start_later=True))[kind], given)
    assert manifests.waiting(held)
    released = {**held, "spec": {**held["spec"], field: 0}}
    released["metadata"] = {**held["metadata"], "annotations": {**held["metadata"]["annotations"]}}
    released["metadata"]["annotations"].update(manifests.release(held)["metadata"]["annotations"])
    assert not manifests.waiting(released)  # started once (label dropped), then scaled to none


@pytest.mark.parametrize(("restart", "kind", "field"), [(None, "Deployment", "replicas"), ("no", "Job", "parallelism")])
def test_a_release_holds_only_for_the_version_read_and_holding_again_makes_it_created_again(
    restart: str | None, kind: str, field: str
) -> None:
    """The release names the resourceVersion read (the API server refuses it once the workload
    changed: of two starts at once, one releases); a workload held again waits as made."""
    given = ContainerSpec(name="web", image="busybox:1", restart=restart).owned_by("kubernetes", start_later=True)
    read = manifests.held(objects(given)[kind], given)
    read["metadata"]["resourceVersion"] = "4711"
    assert manifests.release(read)["metadata"]["resourceVersion"] == "4711"
    again = manifests.hold_again(read)
    assert again["spec"] == {field: 0} and again["metadata"]["labels"] == {"oblako.start": "later"}
    assert "resourceVersion" not in again["metadata"]  # this start released it: no one else's to refuse
    made = {**read, "spec": {**read["spec"], field: 1}}
    made["metadata"] = {**read["metadata"], "annotations": {**read["metadata"]["annotations"]}}
    made["metadata"]["annotations"].update(manifests.release(read)["metadata"]["annotations"])
    assert not manifests.waiting(made)
    made["spec"][field] = 0
    made["metadata"]["annotations"].update(again["metadata"]["annotations"])
    assert manifests.waiting(made) and manifests.labels_of(made) == manifests.labels_of(read)
