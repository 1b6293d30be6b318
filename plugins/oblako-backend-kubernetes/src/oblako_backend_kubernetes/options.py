"""Compose's container options (ContainerSpec's fields beyond oblako's own) as the parts of a
pod they become: pure functions, no cluster.

Each function covers the fields of one capability the plugin declares; a value with no
faithful counterpart in a pod is refused with `InvalidSpecError`, never quietly left out. The
capabilities left undeclared, and why, are listed beside `KubernetesPlugin.capabilities`.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from typing import Any

from oblako_backends import ContainerSpec, InvalidSpecError

# The sysctls a kubelet allows without --allowed-unsafe-sysctls (Kubernetes' "safe" set, as of
# 1.29; an older kubelet refuses the newer ones and the pod fails with SysctlForbidden).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
FILES_LIMIT = 1024 * 1024  # bytes a Secret may hold (the API server's limit on its data)
SIZE = re.compile(r"([0-9]+)([kKmMgGtTpPeE]?)")  # the kernel's memparse, as tmpfs reads size=
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"  # + the container's name
SELINUX_KEYS = {"user": "user", "role": "role", "type": "type", "level": "level"}


def grace_seconds(spec: ContainerSpec) -> int | None:
    """stop_grace_period as terminationGracePeriodSeconds: whole seconds, never shorter."""
    return None if spec.stop_grace_period is None else int(math.ceil(spec.stop_grace_period))


def tmpfs_size(target: str, text: str) -> int:
    """tmpfs's size= in bytes, read as the kernel reads it (64m, 1g, 65536)."""
    found = SIZE.fullmatch(text)
    if found is None:
        raise InvalidSpecError(
            f"tmpfs[{target!r}]", f"size={text}", "a size in bytes with an optional k, m or g, e.g. size=64m"
        )
    power = " kmgtpe".index(found.group(2).lower() or " ")
    return int(found.group(1)) << (10 * power)


def tmpfs(spec: ContainerSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """Each tmpfs as a memory-backed emptyDir (size= its sizeLimit, ro a read-only mount):
    volumes, mounts, and a warning per option a pod cannot set (mode, uid, gid, mount flags:
    an emptyDir is mode 0777, root-owned, mounted with the cluster's flags)."""
    volumes: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    notes: list[str] = []
    for i, (target, given) in enumerate(spec.tmpfs.items()):
        empty_dir: dict[str, Any] = {"medium": "Memory"}
        read_only = False
        ignored = []
        for option in filter(None, given.split(",")):
            key, _, value = option.partition("=")
            if key == "size":
                empty_dir["sizeLimit"] = str(tmpfs_size(target, value))
            elif option in ("ro", "rw"):
                read_only = option == "ro"
            else:
                ignored.append(option)
        if ignored:
            notes.append(
                f"{spec.name}: tmpfs {target}: {','.join(ignored)} cannot be set on a Kubernetes emptyDir; it is "
                "mounted with the cluster's defaults (mode 0777, owner root)"
            )
        volumes.append({"name": f"t{i}", "emptyDir": empty_dir})
        mounts.append({"name": f"t{i}", "mountPath": target, "readOnly": read_only})
    return volumes, mounts, notes


def files(
    spec: ContainerSpec, namespace: str, workload: str, owner: dict[str, str], workload_label: str
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]] | None:
    """spec.files as one Secret of this workload (named after the content, so a change rolls
    the Deployment), its volume (each file's mode), and a mount per file at its target (the
    file alone, by subPath). None without files."""
    if not spec.files:
        return None
    digest = hashlib.sha256()
    data: dict[str, str] = {}
    items: list[dict[str, Any]] = []
    mounts: list[dict[str, Any]] = []
    total = 0
    for i, file in enumerate(spec.files):
        if file.mode > 0o777:
            raise InvalidSpecError(
                "files.mode", oct(file.mode), f"{file.target}: Kubernetes sets file modes up to 0o777 (no setuid, "
                "setgid or sticky bit)",
            )  # fmt: skip
        total += len(file.content)
        if total > FILES_LIMIT:
            raise InvalidSpecError(
                "files", file.target, f"{spec.name}: secrets and configs of more than {FILES_LIMIT // 1024} KiB "
                "in all do not fit in a Kubernetes Secret; use a volume",
            )  # fmt: skip
        key = f"f{i}"
        digest.update(f"{key}\0{file.target}\0{file.mode}\0{len(file.content)}\0".encode() + file.content)
        data[key] = base64.b64encode(file.content).decode()
        items.append({"key": key, "path": key, "mode": file.mode})
        mounts.append({"name": "files", "mountPath": file.target, "subPath": key, "readOnly": True})
    name = f"{workload[:40]}-secrets-{digest.hexdigest()[:10]}"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": name, "namespace": namespace, "labels": {**owner, workload_label: workload}},
        "data": data,
    }
    return secret, {"name": "files", "secret": {"secretName": name, "items": items}}, mounts


def _split(option: str) -> tuple[str, str]:
    """security_opt's KEY=VALUE or KEY:VALUE (Docker reads both) as (KEY, VALUE)."""
    found = re.search(r"[=:]", option)
    return (option, "") if found is None else (option[: found.start()], option[found.end() :])


def security_context(spec: ContainerSpec) -> dict[str, Any]:
    """cap_add, cap_drop, privileged, security_opt and read_only as the container's
    securityContext (apparmor: see `annotations`)."""
    context: dict[str, Any] = {}
    # Kubernetes takes Docker's capability names (without CAP_), and ALL.
    capabilities = {key: list(names) for key, names in (("add", spec.cap_add), ("drop", spec.cap_drop)) if names}
    if capabilities:
        context["capabilities"] = capabilities
    if spec.privileged:
        context["privileged"] = True
    if spec.read_only:
        context["readOnlyRootFilesystem"] = True
    for option in spec.security_opt:
        key, value = _split(option)
        if key == "no-new-privileges" and value in ("", "true", "false"):
            context["allowPrivilegeEscalation"] = value == "false"
        elif key == "seccomp" and value == "unconfined":
            context["seccompProfile"] = {"type": "Unconfined"}
        elif key == "apparmor" and value:
            pass  # an annotation of the pod
        elif key == "label" and _split(value)[0] in SELINUX_KEYS and _split(value)[1]:
            part, setting = _split(value)
            context.setdefault("seLinuxOptions", {})[SELINUX_KEYS[part]] = setting
        else:
            raise InvalidSpecError(
                "security_opt",
                option,
                "Kubernetes has a counterpart for no-new-privileges, seccomp=unconfined, apparmor=PROFILE and "
                "label=user|role|type|level:VALUE only (a seccomp profile file must be installed on the nodes "
                "and named in the pod); leave this one out for this backend",
            )
    return context


def pod_annotations(spec: ContainerSpec, container: str) -> dict[str, str]:
    """apparmor=PROFILE as the pod annotation Kubernetes reads (a profile loaded on the node,
    as Docker's must be loaded on its host; unconfined as it is)."""
    out: dict[str, str] = {}
    for option in spec.security_opt:
        key, value = _split(option)
        if key == "apparmor" and value:
            out[APPARMOR_ANNOTATION + container] = value if value == "unconfined" else f"localhost/{value}"
    return out


def sysctls(spec: ContainerSpec) -> list[dict[str, str]]:
    """The pod's sysctls; one outside the set every kubelet allows is refused, by name."""
    unsafe = sorted(set(spec.sysctls) - SAFE_SYSCTLS)
    if unsafe:
        raise InvalidSpecError(
            "sysctls",
            ", ".join(unsafe),
            "a Kubernetes node allows only its safe sysctls unless its kubelet is started with "
            f"--allowed-unsafe-sysctls: {', '.join(sorted(SAFE_SYSCTLS))}",
        )
    return [{"name": name, "value": value} for name, value in spec.sysctls.items()]


def dns(spec: ContainerSpec) -> tuple[dict[str, Any], list[str]]:
    """dns and dns_search as the pod's dnsPolicy and dnsConfig, and a warning.

    dns_search alone adds its domains to the cluster's search path (ClusterFirst), so service
    names keep resolving as on a Compose network. dns names the only servers the pod asks
    (dnsPolicy None, as Docker writes them into resolv.conf): the cluster's own names then do
    not resolve from it, and the warning says so."""
    if not spec.dns and not spec.dns_search:
        return {}, []
    config: dict[str, Any] = {}
    if spec.dns_search:
        config["searches"] = list(spec.dns_search)
    if not spec.dns:
        return {"dnsConfig": config}, []
    config["nameservers"] = list(spec.dns)
    note = (
        f"{spec.name}: dns: the pod asks only {', '.join(spec.dns)} (dnsPolicy None), so the cluster's names, "
        "other services' included, do not resolve from it"
    )
    return {"dnsPolicy": "None", "dnsConfig": config}, [note]


def node_selector(spec: ContainerSpec) -> dict[str, str]:
    """platform os/arch as the node labels every kubelet sets: the pod runs on such a node, which
    pulls the image built for it. A variant has no node label, so it is refused."""
    if spec.platform is None:
        return {}
    parts = spec.platform.split("/")
    if len(parts) == 3:
        raise InvalidSpecError(
            "platform", spec.platform, "Kubernetes picks nodes by os/arch only; leave out the variant"
        )
    return {"kubernetes.io/os": parts[0], "kubernetes.io/arch": parts[1]}


def service_ports(spec: ContainerSpec) -> list[dict[str, Any]]:
    """The Service's ports: the published ones (TCP), then the exposed ones (any protocol)."""
    seen: set[tuple[int, str]] = set()
    out: list[dict[str, Any]] = []
    wanted = [(p.container_port, "tcp") for p in spec.ports]
    wanted += [(int(number), protocol) for number, _, protocol in (e.partition("/") for e in spec.expose)]
    for number, protocol in wanted:
        if (number, protocol) in seen:
            continue
        seen.add((number, protocol))
        port: dict[str, Any] = {"name": f"p{number}" if protocol == "tcp" else f"p{number}-{protocol}", "port": number}
        if protocol != "tcp":
            port["protocol"] = protocol.upper()
        out.append(port)
    return out


def resources(spec: ContainerSpec) -> dict[str, Any]:
    """mem_limit and cpus as the container's limits, mem_reservation as its memory request.

    A limit alone would make Kubernetes request as much (the scheduler then reserves it, and a
    small node refuses the pod); Docker reserves nothing for a limit, so the request is set to
    the reservation, or 0. A reservation above the limit is refused, as Docker refuses it."""
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if spec.mem_limit is not None:
        limits["memory"] = str(spec.mem_limit)
        requests["memory"] = "0"
    if spec.mem_reservation is not None:
        if spec.mem_limit is not None and spec.mem_reservation > spec.mem_limit:
            raise InvalidSpecError(
                "mem_reservation", spec.mem_reservation, f"at most mem_limit ({spec.mem_limit} bytes)"
            )
        requests["memory"] = str(spec.mem_reservation)
    if spec.cpus is not None:
        limits["cpu"] = f"{max(1, round(spec.cpus * 1000))}m"
        requests["cpu"] = "0"
    return {key: value for key, value in (("limits", limits), ("requests", requests)) if value}


def shared_memory(spec: ContainerSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """shm_size as a memory emptyDir of that size at /dev/shm (a pod's own /dev/shm is the
    runtime's 64 MiB): its volume and mount, or none."""
    if spec.shm_size is None:
        return [], []
    if "/dev/shm" in spec.tmpfs:
        raise InvalidSpecError("shm_size", spec.shm_size, "tmpfs mounts /dev/shm too; give its size there instead")
    volume = {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": str(spec.shm_size)}}
    return [volume], [{"name": "shm", "mountPath": "/dev/shm"}]
