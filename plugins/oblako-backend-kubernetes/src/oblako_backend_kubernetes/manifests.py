"""From a ContainerSpec to Kubernetes objects: pure functions, no cluster.

Each container becomes a Deployment (one replica, `Recreate`, so a volume is never mounted
by two pods), or a Job when its restart policy lets it end (`workload`), and, when it
publishes ports, a Service for port-forwards to target. Named
volumes become PersistentVolumeClaims that outlive both. Binds of host paths are read here,
on this machine, and become Secrets or claims (see `host_path`).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oblako_backends import ConfigurationError, ContainerSpec, HealthCommand, InvalidSpecError, VolumeSpec
from oblako_backends.labels import PROJECT_LABEL, SERVICE_LABEL, START_LABEL, START_LATER

from . import options

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
QUANTITY = re.compile(r"[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?")
WORKLOAD_LABEL = "oblako.workload"  # the selector: one Deployment's pods and Service
NAME_ANNOTATION = "oblako.name"  # the name the caller used, when it had to be mapped
LABELS_ANNOTATION = "oblako.labels"  # every label as given (not all are valid Kubernetes labels)
VOLUME_LABEL = "oblako.volume"
ALIAS_ANNOTATION = "oblako.alias-of"  # on a Service that exists to make a name resolve (aliases)
PORTS_ANNOTATION = "oblako.ports"  # a held workload's published ports, forwarded once it is started
SERVICE_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")  # DNS-1035: what a Service may be called
CONTAINER = "main"


def k8s_name(name: str) -> str:
    """A DNS-1123 label for `name`: itself when valid, else a deterministic mapping.

    A mapped name ends in a hash of the original, so two names never map to the same one
    by accident ("My_App" and "my-app" differ); the original is kept in an annotation.
    """
    if len(name) <= 63 and DNS_LABEL.fullmatch(name):
        return name
    base = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:54].strip("-") or "x"
    return f"{base}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def namespace(value: str, source: str = "OBLAKO_K8S_NAMESPACE") -> str:
    """Validate a namespace: a DNS-1123 label, refused with the rule otherwise."""
    if len(value) > 63 or not DNS_LABEL.fullmatch(value):
        raise ConfigurationError(
            f"{source}={value!r} is not a Kubernetes namespace name: use at most 63 lower-case letters, "
            "digits and '-', starting and ending with a letter or digit"
        )
    return value


def quantity(value: str, source: str = "OBLAKO_K8S_VOLUME_SIZE") -> str:
    if not QUANTITY.fullmatch(value):
        raise ConfigurationError(f"{source}={value!r} is not a Kubernetes quantity, e.g. 1Gi or 500Mi")
    return value


def literal(text: str) -> str:
    """`text` as Kubernetes passes it on unchanged: it expands $(VAR) in a container's command,
    args and env values, and reads $$ as $, where Docker passes every byte as given."""
    return text.replace("$", "$$")


def run_as_user(user: str | None) -> int | None:
    """Docker's `user` as runAsUser: a uid (the part before ':'), or root. Names cannot map."""
    if user is None:
        return None
    uid = user.split(":", 1)[0]
    if uid == "root":
        return 0
    if uid.isdigit():
        return int(uid)
    raise InvalidSpecError(
        "user", user, "Kubernetes runs containers by uid: use a number (e.g. 1000) or root, not a user name"
    )


def claim_name(volume: str) -> str:
    return k8s_name(f"oblako-vol-{volume}")


@dataclass(frozen=True)
class Settings:
    """What the cluster side needs to know beyond the spec."""

    namespace: str = "oblako"
    storage_class: str | None = None
    volume_size: str = "1Gi"
    host_gateway: str | None = None  # what host-gateway means from a pod, if anyone said
    allow_host_path: bool = False


def _labels(spec: ContainerSpec) -> dict[str, str]:
    return {k: v for k, v in spec.labels.items() if len(k) <= 63 and len(v) <= 63 and LABEL_VALUE.fullmatch(v)}


def _host_aliases(spec: ContainerSpec, settings: Settings) -> tuple[list[dict[str, Any]], list[str]]:
    """hostAliases, and the host names that could not be mapped (host-gateway, unconfigured)."""
    by_ip: dict[str, list[str]] = {}
    unmapped = []
    for host, address in spec.extra_hosts.items():
        if address == "host-gateway":
            if settings.host_gateway is None:
                unmapped.append(host)
                continue
            address = settings.host_gateway
        by_ip.setdefault(address, []).append(host)
    return [{"ip": ip, "hostnames": sorted(names)} for ip, names in sorted(by_ip.items())], unmapped


def build(spec: ContainerSpec, settings: Settings) -> tuple[list[dict[str, Any]], list[str]]:
    """The objects for `spec` (claims, Deployment, Service), and warnings for the user."""
    name = k8s_name(spec.name)
    warnings: list[str] = []
    for port in spec.ports:
        if port.protocol != "tcp":
            raise InvalidSpecError(
                "ports", port.key, "Kubernetes port-forwards carry TCP only; publish tcp ports on this backend"
            )
    labels = {**_labels(spec), WORKLOAD_LABEL: name}
    annotations = {NAME_ANNOTATION: spec.name, LABELS_ANNOTATION: json.dumps(dict(spec.labels), sort_keys=True)}
    meta = {"name": name, "namespace": settings.namespace, "labels": labels, "annotations": annotations}
    objects: list[dict[str, Any]] = []
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    for i, volume in enumerate(spec.volumes):
        if volume.is_named:
            claim = claim_name(volume.source)
            volumes.append({"name": f"v{i}", "persistentVolumeClaim": {"claimName": claim}})
            objects.append(_claim(claim, volume.source, spec, settings))
        elif settings.allow_host_path:
            volumes.append({"name": f"v{i}", "hostPath": {"path": volume.source}})
        else:
            mapped = host_path(spec, volume, f"v{i}", settings)
            warnings.extend(mapped.warnings)
            if mapped.volume is None:
                continue  # a socket or device: nothing in the cluster can stand in for it
            volumes.append(mapped.volume)
            objects.extend(mapped.objects)
            mounts.append(mapped.mount)
            continue
        mounts.append({"name": f"v{i}", "mountPath": volume.target, "readOnly": volume.read_only})
    memory, memory_mounts, notes = options.tmpfs(spec)
    volumes += memory
    mounts += memory_mounts
    shm, shm_mounts = options.shared_memory(spec)
    volumes += shm
    mounts += shm_mounts
    warnings += notes
    owner = {k: v for k, v in _labels(spec).items() if k in ("oblako.managed-by", "oblako.backend")}
    secrets = options.files(spec, settings.namespace, name, owner, WORKLOAD_LABEL)
    if secrets is not None:
        secret, secret_volume, secret_mounts = secrets
        secret["metadata"]["annotations"] = {NAME_ANNOTATION: spec.name}
        objects.append(secret)
        volumes.append(secret_volume)
        mounts += secret_mounts
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": k, "value": literal(v)} for k, v in spec.environment.items()],
        "ports": [{"containerPort": p.container_port, "protocol": "TCP"} for p in spec.ports],
        "volumeMounts": mounts,
    }
    if spec.command:
        container["args"] = [literal(a) for a in spec.command]  # Docker's command replaces CMD, not ENTRYPOINT
    if spec.entrypoint:
        container["command"] = [literal(a) for a in spec.entrypoint]  # Kubernetes' command is the ENTRYPOINT
    if spec.working_dir:
        container["workingDir"] = spec.working_dir
    resources = options.resources(spec)
    if resources:
        container["resources"] = resources
    if spec.stdin_open:
        container["stdin"] = True
    if spec.tty:
        container["tty"] = True
    uid = run_as_user(spec.user)
    security = {**({"runAsUser": uid} if uid is not None else {}), **options.security_context(spec)}
    if security:
        container["securityContext"] = security
    if spec.health is not None:  # available means: the container's own check passes
        container["readinessProbe"] = readiness_probe(spec.health)
    elif spec.ports:  # available means: the first port accepts connections
        container["readinessProbe"] = {"tcpSocket": {"port": spec.ports[0].container_port}, "periodSeconds": 1}
    aliases, unmapped = _host_aliases(spec, settings)
    if unmapped:
        warnings.append(
            f"{', '.join(unmapped)} -> host-gateway will not resolve in the pod: a cluster has no host gateway; "
            "set OBLAKO_K8S_HOST_GATEWAY to the address pods reach this machine at"
        )
    pod: dict[str, Any] = {"containers": [container], "volumes": volumes}
    if aliases:
        pod["hostAliases"] = aliases
    pod.update(_pod_options(spec, warnings))
    template_meta: dict[str, Any] = {"labels": labels}
    if options.pod_annotations(spec, CONTAINER):
        template_meta["annotations"] = options.pod_annotations(spec, CONTAINER)
    template = {"metadata": template_meta, "spec": pod}
    if workload(spec.restart) == "Job":
        objects.append(_job(spec.restart, meta, template))
    else:
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta,
                "spec": {
                    "replicas": 1,
                    # Without a port or check to probe, "available" must mean "stayed up a moment": a
                    # command that exits at once would otherwise count as available before it crashes.
                    "minReadySeconds": 0 if spec.ports or spec.health else 3,
                    "strategy": {"type": "Recreate"},
                    "selector": {"matchLabels": {WORKLOAD_LABEL: name}},
                    "template": template,
                },
            }
        )
    if spec.ports or spec.expose:  # published ports are forwarded to it; exposed ones reached by its name
        ports = [{**p, "targetPort": p["port"]} for p in options.service_ports(spec)]
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {"selector": {WORKLOAD_LABEL: name}, "ports": ports},
            }
        )
    for alias in spec.aliases:
        if alias == name:
            continue  # the Service above already answers to it
        if not SERVICE_NAME.fullmatch(alias):
            warnings.append(
                f"{alias!r} will not resolve in the cluster: a Service name is lower-case letters, digits "
                "and '-', starting with a letter"
            )
            continue
        objects.append(_alias_service(alias, spec, meta, name))
    return objects, warnings


WORKLOAD_KINDS = ("Deployment", "Job")  # what a container can be; never both for one name
FOREVER = 2**31 - 1  # the largest backoffLimit (an int32): retries that never run out


def _job_policy(restart: str | None) -> tuple[str, int] | None:
    """(restartPolicy, backoffLimit) of the Job `restart` makes (see `_job`), or None for a
    policy that restarts always: a Deployment."""
    policy, _, count = (restart or "").partition(":")
    if policy == "no":
        return "Never", 0
    if policy != "on-failure":
        return None
    retries = int(count or 0)
    return ("Never", retries) if retries else ("OnFailure", FOREVER)


def workload(restart: str | None) -> str:
    """The kind a container with this restart policy becomes. A Deployment restarts its pod
    whenever it ends, which is `always` and `unless-stopped` (a cluster has no daemon restart
    for the difference to show), and what a service without a policy has always been here, as
    long-running services are. `no` and `on-failure[:N]` let the container end: a Job."""
    return "Deployment" if _job_policy(restart) is None else "Job"


def _job(restart: str | None, meta: Mapping[str, Any], template: dict[str, Any]) -> dict[str, Any]:
    """A Job for `no` or `on-failure[:N]`: Docker's one container, run until it ends as asked.

    - `no`: one pod, never restarted (backoffLimit 0, restartPolicy Never);
    - `on-failure:N` (N > 0): a failed run is retried N times, each retry a new pod
      (restartPolicy Never, backoffLimit N). Not OnFailure: when a Job's backoffLimit is
      reached, its controller deletes a pod that restarts in place, and with it the last
      run's exit code and logs; with Never each run's pod stays until `down`, so the exit
      code and every run's output stay readable, as Docker's container keeps them;
    - `on-failure` (and `on-failure:0`, which Docker reads alike): retried for ever, so in
      place (restartPolicy OnFailure, backoffLimit at its largest): one pod restarting with
      Kubernetes' back-off, as Docker's container restarts with its own, and no pile of failed
      pods growing for as long as it fails.

    ttlSecondsAfterFinished stays unset: a finished Job and its pods stay until they are
    removed, so how it ended can be read until then. The pods carry WORKLOAD_LABEL, as a
    Deployment's do, so one selector finds them for logs, exec and status."""
    restart_policy, backoff_limit = _job_policy(restart) or ("Never", 0)
    pod = {**template["spec"], "restartPolicy": restart_policy}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {**template, "spec": pod},
        },
    }


def _pod_options(spec: ContainerSpec, warnings: list[str]) -> dict[str, Any]:
    """The pod-level fields of the spec's Compose options (see options.py); warnings appended."""
    pod: dict[str, Any] = {}
    grace = options.grace_seconds(spec)
    if grace is not None:
        pod["terminationGracePeriodSeconds"] = grace
    if spec.init:  # the pod's pause process is PID 1: it reaps orphans, and signals reach the app
        pod["shareProcessNamespace"] = True
    sysctls = options.sysctls(spec)
    if sysctls:
        pod["securityContext"] = {"sysctls": sysctls}
    dns, notes = options.dns(spec)
    pod.update(dns)
    warnings.extend(notes)
    selector = options.node_selector(spec)
    if selector:
        pod["nodeSelector"] = selector
    if spec.network_mode == "host":  # the node's network namespace; cluster names still resolve
        pod["hostNetwork"] = True
        pod.setdefault("dnsPolicy", "ClusterFirstWithHostNet")
    return pod


def readiness_probe(health: HealthCommand) -> dict[str, Any]:
    """An exec readiness probe for a health check, in whole seconds (at least 1). A pod is ready
    from its first passing check, as a Docker container is healthy; a failing readiness check
    never restarts anything, so `start_period` (failures that do not count) needs no mapping."""
    return {
        "exec": {"command": list(health.command)},
        "periodSeconds": max(1, round(health.interval)),
        "timeoutSeconds": max(1, round(health.timeout)),
        "failureThreshold": health.retries,
    }


def _alias_service(alias: str, spec: ContainerSpec, meta: Mapping[str, Any], workload: str) -> dict[str, Any]:
    """A headless Service called `alias`: the cluster's DNS answers the name with the pod's
    address, so every container port is reachable by it, as on a Compose network."""
    annotations = {**meta["annotations"], ALIAS_ANNOTATION: spec.name}
    pod_labels = meta["labels"]
    # A service of a project: every replica's pod answers to the name, as on a Compose network.
    selector = (
        {PROJECT_LABEL: pod_labels[PROJECT_LABEL], SERVICE_LABEL: pod_labels[SERVICE_LABEL]}
        if PROJECT_LABEL in pod_labels and SERVICE_LABEL in pod_labels
        else {WORKLOAD_LABEL: workload}
    )
    service: dict[str, Any] = {"clusterIP": "None", "selector": selector}
    if spec.ports or spec.expose:
        service["ports"] = options.service_ports(spec)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {**meta, "name": alias, "annotations": annotations},
        "spec": service,
    }


FILES_LIMIT = 1024 * 1024  # bytes a Secret may hold (the API server's limit on its data)
SOCKET_SUFFIXES = (".sock", ".socket")  # how a missing path is known to be meant as a socket


@dataclass(frozen=True)
class HostMount:
    """A bind of a path on this machine, as the cluster can have it (volume None: skipped)."""

    volume: dict[str, Any] | None
    mount: dict[str, Any]
    objects: list[dict[str, Any]]
    warnings: list[str]


def _left_out(spec: ContainerSpec, where: str, what: str, mount: dict[str, Any]) -> HostMount:
    return HostMount(None, mount, [], [
        f"{where}: a {what} on this machine cannot be mounted in a pod, so it was left out; whatever "
        f"{spec.name} does with it will not work in the cluster (use a Docker-API backend for that)"
    ])  # fmt: skip


def host_path(spec: ContainerSpec, volume: VolumeSpec, volume_name: str, settings: Settings) -> HostMount:
    """Map a bind of a host path: pods run on some node, not on this machine.

    - a read-only file or small directory becomes a Secret named after its content (anyone
      who may read ConfigMaps could read e.g. ~/.aws), so a change makes a new one and rolls
      the Deployment; symlinks and special files inside a directory are skipped with one
      warning (a Secret holds no links; a link must never carry a file from outside the tree);
    - a read-write directory becomes a PersistentVolumeClaim (the data then lives in the
      cluster, and a warning says how to copy it);
    - a socket or device is skipped, with a warning naming what will not work; so is a
      missing path named like a socket (`*.sock`, e.g. /var/run/docker.sock with no Docker);
    - any other missing path is created here as an empty directory, as Docker creates a
      missing bind source, and then mapped as that directory.
    """
    source = Path(volume.source)
    where = f"{spec.name}: {volume.source} -> {volume.target}"
    mount: dict[str, Any] = {"name": volume_name, "mountPath": volume.target, "readOnly": volume.read_only}
    try:
        kind = source.stat().st_mode
    except FileNotFoundError:
        if source.name.endswith(SOCKET_SUFFIXES):
            return _left_out(spec, where, "socket", mount)
        kind = _create_directory(source, where, volume.source)
    except OSError as exc:
        raise InvalidSpecError(
            "volumes", volume.source, f"{where}: cannot read it on this machine ({exc.strerror})"
        ) from None
    if stat.S_ISSOCK(kind) or stat.S_ISCHR(kind) or stat.S_ISBLK(kind):
        return _left_out(spec, where, "socket" if stat.S_ISSOCK(kind) else "device", mount)
    if stat.S_ISDIR(kind) and not volume.read_only:
        claim = claim_name(f"{spec.name}-{hashlib.sha256(volume.source.encode()).hexdigest()[:8]}")
        note = (
            f"{where}: read-write host directories become a PersistentVolumeClaim ({claim}); its data lives in "
            f"the cluster, not in {volume.source}. Copy files in or out with `kubectl -n {settings.namespace} cp`"
        )
        volume_def = {"name": volume_name, "persistentVolumeClaim": {"claimName": claim}}
        return HostMount(volume_def, mount, [_claim(claim, f"{spec.name}:{volume.source}", spec, settings)], [note])
    if not (stat.S_ISDIR(kind) or stat.S_ISREG(kind)):
        raise InvalidSpecError(
            "volumes", volume.source, f"{where}: neither a file nor a directory (a pipe?), so it cannot be copied"
        )
    files, skipped = _files(source, where)
    secret = _secret(spec, volume, files, settings)
    notes = [] if volume.read_only else [f"{where}: a single host file is mounted read-only in the cluster"]
    if skipped:
        shown = ", ".join(skipped[:3]) + (f" and {len(skipped) - 3} more" if len(skipped) > 3 else "")
        notes.append(
            f"{where}: {len(skipped)} symlink(s) or special file(s) inside it are left out of the pod ({shown}); "
            "a Secret holds regular files only, and a link is never followed (it could lead out of the tree)"
        )
    mount["readOnly"] = True
    if stat.S_ISDIR(kind):
        items = [{"key": key, "path": relative} for key, (relative, _) in sorted(files.items())]
        source_def: dict[str, Any] = {"secretName": secret["metadata"]["name"]}
        if items:  # none: an empty directory (no items would mean every key, and there are none)
            source_def["items"] = items
        volume_def = {"name": volume_name, "secret": source_def}
    else:
        (key,) = files
        volume_def = {"name": volume_name, "secret": {"secretName": secret["metadata"]["name"]}}
        mount["subPath"] = key  # the file itself at the target, as a bind of one file
    return HostMount(volume_def, mount, [secret], notes)


def _create_directory(source: Path, where: str, given: str) -> int:
    """Make a missing bind source an empty directory, as Docker does; its mode."""
    try:
        source.mkdir(parents=True, exist_ok=True)
        return source.stat().st_mode
    except OSError as exc:
        raise InvalidSpecError(
            "volumes", given, f"{where}: it does not exist and cannot be created here ({exc.strerror})"
        ) from None


def _files(source: Path, where: str) -> tuple[dict[str, tuple[str, bytes]], list[str]]:
    """{Secret key: (path relative to the mount, content)} for a file or a directory tree, and
    the paths (relative) left out: symlinks and special files inside a tree are never read.

    `source` itself is followed when it is a link, as a bind mount follows its source; below
    it, no link is: a directory is walked without following links, and each file is opened
    with O_NOFOLLOW, so a link planted during the walk is refused rather than read."""
    if not source.is_dir():
        return {_key(source.name, 0): (source.name, _read(source, source, where))}, []
    regular: list[Path] = []
    skipped: list[str] = []
    for directory, subdirectories, names in os.walk(source, followlinks=False):
        here = Path(directory)
        for name in sorted(subdirectories):
            if (here / name).is_symlink():
                skipped.append(str((here / name).relative_to(source)))
        for name in names:
            path = here / name
            if stat.S_ISREG(path.lstat().st_mode):
                regular.append(path)
            else:  # a symlink (to a file, or dangling), a socket, a pipe, a device
                skipped.append(str(path.relative_to(source)))
    found: dict[str, tuple[str, bytes]] = {}
    total = 0
    for i, path in enumerate(sorted(regular)):
        content = _read(path, source, where)
        total += len(content)
        if total > FILES_LIMIT:
            raise InvalidSpecError(
                "volumes",
                str(source),
                f"{where}: more than {FILES_LIMIT // 1024} KiB, too much for a Secret; use a named volume, "
                "or OBLAKO_K8S_ALLOW_HOSTPATH=1 on a one-node cluster",
            )
        found[f"f{i}"] = (str(path.relative_to(source)), content)
    return found, sorted(skipped)


def _key(name: str, index: int) -> str:
    return name if re.fullmatch(r"[-._a-zA-Z0-9]+", name) else f"f{index}"


def _read(path: Path, source: Path, where: str) -> bytes:
    """A file's content; one inside a tree is read only if it is still a regular file there
    (not a link, not moved out of the tree by a link planted in a directory above it)."""
    inside = path != source
    try:
        descriptor = os.open(path, os.O_RDONLY | (os.O_NOFOLLOW if inside else 0))
        with os.fdopen(descriptor, "rb") as opened:
            if inside and not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(source)):
                raise InvalidSpecError("volumes", str(source), f"{where}: {path} changed while it was read")
            content = opened.read(FILES_LIMIT + 1)
    except OSError as exc:
        raise InvalidSpecError("volumes", str(source), f"{where}: cannot read {path} ({exc.strerror})") from None
    if len(content) > FILES_LIMIT:
        raise InvalidSpecError(
            "volumes",
            str(source),
            f"{where}: more than {FILES_LIMIT // 1024} KiB, too much for a Secret; use a named volume, "
            "or OBLAKO_K8S_ALLOW_HOSTPATH=1 on a one-node cluster",
        )
    return content


def _secret(
    spec: ContainerSpec, volume: VolumeSpec, files: Mapping[str, tuple[str, bytes]], settings: Settings
) -> dict[str, Any]:
    """An Opaque Secret holding the files, named after their content (and paths)."""
    digest = hashlib.sha256()
    data: dict[str, str] = {}
    for key, (relative, content) in sorted(files.items()):
        digest.update(f"{key}\0{relative}\0{len(content)}\0".encode() + content)
        data[key] = base64.b64encode(content).decode()
    workload = k8s_name(spec.name)
    name = k8s_name(f"{workload[:40]}-files-{digest.hexdigest()[:10]}")
    owner = {k: v for k, v in _labels(spec).items() if k in ("oblako.managed-by", "oblako.backend")}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": {**owner, WORKLOAD_LABEL: workload},
            "annotations": {NAME_ANNOTATION: volume.source},
        },
        "data": data,
    }


def volume_claim(volume: str, labels: Mapping[str, str], settings: Settings) -> dict[str, Any]:
    """The claim for named volume `volume`, carrying `labels` (ownership, project)."""
    owner = {k: v for k, v in labels.items() if k in OWNER_KEYS and LABEL_VALUE.fullmatch(v)}
    return _claim_object(claim_name(volume), volume, owner, settings)


OWNER_KEYS = ("oblako.managed-by", "oblako.backend", "oblako.project")


def _claim(claim: str, volume: str, spec: ContainerSpec, settings: Settings) -> dict[str, Any]:
    owner = {k: v for k, v in _labels(spec).items() if k in OWNER_KEYS}
    return _claim_object(claim, volume, owner, settings)


def _claim_object(claim: str, volume: str, owner: Mapping[str, str], settings: Settings) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": settings.volume_size}},
    }
    if settings.storage_class:
        body["storageClassName"] = settings.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": claim,
            "namespace": settings.namespace,
            "labels": {**owner, VOLUME_LABEL: k8s_name(volume)},
            "annotations": {NAME_ANNOTATION: volume},
        },
        "spec": body,
    }


def _pods_field(workload: Mapping[str, Any]) -> str:
    """The field of `workload`'s spec that says how many pods run it at once."""
    return "parallelism" if workload.get("kind") == "Job" else "replicas"


def container_of(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The container `workload`'s pod template runs (empty when it has none)."""
    containers = ((workload.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or [{}]
    return dict(containers[0])


def held(workload: Mapping[str, Any], spec: ContainerSpec) -> dict[str, Any]:
    """`workload` made to wait for a start (`up --no-start`): a Deployment of no replicas, a
    Job of no parallel pods (what stood for `suspend` before Kubernetes 1.21: its controller
    makes no pod until parallelism is raised; completions 1 keeps it one run). The ports to
    forward once it starts are kept on it, as [host_ip, host_port, container_port] (None: the
    default address; a free port)."""
    made = copy.deepcopy(dict(workload))
    made["spec"][_pods_field(made)] = 0
    if made["kind"] == "Job":
        made["spec"]["completions"] = 1
    ports = [[p.host_ip, p.host_port, p.container_port] for p in spec.ports]
    made["metadata"]["annotations"][PORTS_ANNOTATION] = json.dumps(ports)
    return made


def waiting(workload: Mapping[str, Any]) -> bool:
    """Whether `workload` was made by `held` and not started since: nothing runs it, and it is
    still labelled to start later (one that ran and was scaled to none since is not waiting)."""
    spec = workload.get("spec") or {}
    field = _pods_field(workload)
    return spec.get(field) == 0 and labels_of(workload).get(START_LABEL) == START_LATER


def held_ports(workload: Mapping[str, Any]) -> list[tuple[str | None, int | None, int]]:
    """The published ports `held` kept on `workload`."""
    raw = ((workload.get("metadata") or {}).get("annotations") or {}).get(PORTS_ANNOTATION) or "[]"
    return [(address, host_port, int(container)) for address, host_port, container in json.loads(raw)]


def release(workload: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that starts a held `workload`: one pod, and no longer labelled as
    waiting (the label `up --no-start` gave it, dropped from the labels as given too). It
    carries the resourceVersion `workload` was read at: the API server refuses it (409
    Conflict) when the workload changed since, say when another start released it first."""
    field = _pods_field(workload)
    given = {k: v for k, v in labels_of(workload).items() if k != START_LABEL}
    meta: dict[str, Any] = {
        "labels": {START_LABEL: None},
        "annotations": {LABELS_ANNOTATION: json.dumps(given, sort_keys=True)},
    }
    version = (workload.get("metadata") or {}).get("resourceVersion")
    if version:
        meta["resourceVersion"] = version
    return {"metadata": meta, "spec": {field: 1}}


def hold_again(workload: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch that makes a `workload` read while held (the one `release` was given)
    held again: no pod, labelled to start later, as `held` made it."""
    field = _pods_field(workload)
    given = {**labels_of(workload), START_LABEL: START_LATER}
    return {
        "metadata": {
            "labels": {START_LABEL: START_LATER},
            "annotations": {LABELS_ANNOTATION: json.dumps(given, sort_keys=True)},
        },
        "spec": {field: 0},
    }


def labels_of(deployment: Mapping[str, Any]) -> dict[str, str]:
    """The labels as the caller gave them, from the annotation (fallback: the Kubernetes labels)."""
    meta = deployment.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(LABELS_ANNOTATION)
    if raw:
        try:
            return {str(k): str(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError):
            pass
    return {k: v for k, v in (meta.get("labels") or {}).items() if k != WORKLOAD_LABEL}


def exit_code(workload: str, pods: list[dict[str, Any]]) -> int | None:
    """How the main container of `workload`'s newest pod last ended (its exit code), if it has:
    it is ended now, or it ended before the restart now under way; None while it never has."""
    mine = [p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get(WORKLOAD_LABEL) == workload]
    mine.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))
    for status in ((mine[-1].get("status") or {}).get("containerStatuses") or []) if mine else []:
        if status.get("name") != CONTAINER:
            continue
        for key in ("state", "lastState"):
            ended = (status.get(key) or {}).get("terminated") or {}
            if isinstance(ended.get("exitCode"), int):
                return int(ended["exitCode"])
    return None


JOB_ENDED = ("Complete", "Failed", "SuccessCriteriaMet", "FailureTarget")  # the last two: what newer servers set first


def ended(job: Mapping[str, Any]) -> bool:
    """Whether a Job is over: it completed, or failed for good (no retry is left)."""
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in JOB_ENDED and c.get("status") == "True" for c in conditions)


def ready(workload: str, pods: list[dict[str, Any]]) -> bool:
    """Whether the newest pod of `workload` is Ready (its readiness probe, if any, passes)."""
    mine = [p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get(WORKLOAD_LABEL) == workload]
    if not mine:
        return False
    newest = max(mine, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))
    conditions = (newest.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def started(workload: str, pods: list[dict[str, Any]]) -> bool:
    """Whether a pod of `workload` has run its main container: it serves (see `serving`), or
    it ended."""
    ended_once = any("terminated" in state or "terminated" in last for state, last in _main(workload, pods))
    return ended_once or serving(workload, pods)


def serving(workload: str, pods: list[dict[str, Any]]) -> bool:
    """Whether `workload`'s main container runs in a ready pod (its readiness probe, if any, passes)."""
    return any("running" in s and ready(workload, [pod]) for pod in pods for s, _ in _main(workload, [pod]))


def _main(workload: str, pods: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(state, lastState) of the main container of each pod of `workload`."""
    return [
        (status.get("state") or {}, status.get("lastState") or {})
        for pod in pods
        if ((pod.get("metadata") or {}).get("labels") or {}).get(WORKLOAD_LABEL) == workload
        for status in (pod.get("status") or {}).get("containerStatuses") or []
        if status.get("name") == CONTAINER
    ]
