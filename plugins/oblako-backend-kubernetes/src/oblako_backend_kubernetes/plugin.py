"""Kubernetes: each container a Deployment or a Job (+ Service), reached through port-forwards.

The application keeps talking to 127.0.0.1:<port> as with Docker. kubectl does the talking
(see kubectl.py for why); every call has a deadline. One forwarder process per namespace
serves every published port (forward.py, forwarder.py).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from oblako_backends import (
    ContainerInfo,
    ContainerSpec,
    Health,
    ImageNotFoundError,
    LogStream,
    NameInUseError,
    OblakoBackendError,
    PortInUseError,
    Probe,
    Progress,
    PublishedPort,
    RuntimeUnavailableError,
    State,
    config as core_config,
    hookimpl,
)
from oblako_backends.commands import follow, free_port, stream
from oblako_backends.labels import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from oblako_backends.models import Processes, epoch_seconds, seconds_since

from . import execute, forward, manifests
from .kubectl import INSTALL_HINT, Kubectl, error as kubectl_error, not_found

CLAIM_RELEASE_SECONDS = 60.0  # a deleted pod's default grace (30 s), and as much again on a busy node
IMAGE_REASONS = ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName")
CRASH_REASONS = ("CrashLoopBackOff", "CreateContainerError", "CreateContainerConfigError", "RunContainerError")
LOAD_HINT = (
    "the cluster pulls images itself: push the image to a registry the cluster can reach, or load a local "
    "one with `kind load docker-image IMAGE` or `minikube image load IMAGE`"
)


def _list(objects: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})


def _already_exists(text: str) -> bool:
    return "alreadyexists" in text.replace(" ", "").lower()


def _env(var: str, default: str | None = None) -> str | None:
    value = os.environ.get(var, "").strip()
    return value or default


PS_ARGV = ("ps", "-o", "pid,ppid,user,args")  # columns busybox ps and procps both take


def processes_of(text: str) -> Processes:
    """`ps -o pid,ppid,user,args` output as Processes, without the ps that printed it."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return Processes(("PID", "PPID", "USER", "COMMAND"))
    titles = tuple(lines[0].split())
    rows = tuple(tuple(line.split(None, len(titles) - 1)) for line in lines[1:])
    return Processes(titles, tuple(r for r in rows if r[-1] != " ".join(PS_ARGV)))


def _log_window(since: float | None, until: float | None, timestamps: bool) -> list[str]:
    """kubectl logs' options for since and timestamps; until is kept client-side, by each
    line's timestamp, so those are asked for whenever it is given."""
    window = []
    if since is not None:
        window.append("--since-time=" + _rfc3339(since))
    if timestamps or until is not None:
        window.append("--timestamps")
    return window


def _rfc3339(moment: float) -> str:
    whole = math.floor(moment)
    carry, nanoseconds = divmod(round((moment - whole) * 1e9), 10**9)  # a fraction that rounds up to 1 s carries
    whole += carry
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{nanoseconds:09d}Z"


def _kept(line: str, until: float | None, timestamps: bool) -> str:
    """A line kubectl printed with --timestamps: "" when written after `until`, without its
    timestamp unless asked for."""
    stamp, _, rest = line.partition(" ")
    if until is not None and epoch_seconds(stamp) > until:
        return ""
    return line if timestamps or until is None else rest


def _running(workload: Mapping[str, Any]) -> bool:
    """A Deployment runs while available; a Job until it is over (see `KubernetesPlugin._info`);
    neither while it waits for a start (`up --no-start`)."""
    if manifests.waiting(workload):
        return False
    if workload.get("kind") == "Job":
        return not manifests.ended(workload)
    return int((workload.get("status") or {}).get("availableReplicas", 0)) >= 1


def _job_of(pod: Mapping[str, Any]) -> str | None:
    """The Job that made `pod`, if a Job did."""
    owners = (pod.get("metadata") or {}).get("ownerReferences") or []
    return next((str(o.get("name")) for o in owners if o.get("kind") == "Job"), None)


def _needs_pods(workload: Mapping[str, Any]) -> bool:
    """Whether its pods must be asked: how a stopped one ended, whether a Job's pod is ready."""
    return workload.get("kind") == "Job" or not _running(workload)


class KubernetesPlugin:
    """Containers as Kubernetes workloads in one namespace of the cluster kubectl points at."""

    runtime = "kubernetes"
    # Compose's options, each declared only where every field of its group has a faithful pod
    # counterpart (values without one are refused, by name: see options.py). Left undeclared,
    # so `up` drops them with a warning:
    # - process_limits: pids_limit (a node-wide kubelet setting) and ulimits have no per-pod
    #   counterpart (resources, memory and CPU, map to limits and requests: options.py);
    # - hostname: hostname would be the pod's hostname, but domainname (the UTS NIS domain)
    #   is not the pod's subdomain (a DNS name under a headless Service);
    # - stop_signal: a pod is always stopped with the image's STOPSIGNAL (or SIGTERM) before 1.33;
    # - devices: a pod reaches host devices only through device plugins or privileged mode;
    # - networks, ipv4_address, network_options: a namespace is one flat network, its pods'
    #   addresses the cluster's to give; network_mode none, bridge and container:NAME have no
    #   pod counterpart (a pod is one network namespace, always with the cluster's network).
    # network_mode host is the pod's hostNetwork: the node's own network (with Compose's
    # meaning on a local single-node cluster, where the node is this machine).
    # restart: always and unless-stopped are a Deployment (it restarts whenever the pod ends),
    # no and on-failure[:N] a Job that runs until it ends as asked (manifests.workload, _job);
    # a service without a policy stays a Deployment, as long-running services are. A Job's
    # exit code is its pod's, kept until it is removed: exit_code (what a one-off needs).
    # create (`up --no-start`): everything a run makes, the workload held with no pod and no
    # port forwarded until `start` (oblako_create, oblako_start).
    capabilities = frozenset(
        {
            "pull",
            "follow_logs",
            "log_times",
            "top",  # through the image's own ps (a cluster has no docker top)
            "named_volumes",
            "user",
            "extra_hosts",
            "remove_volumes",
            "service_names",
            "health",
            "exec",
            "expose",
            "tmpfs",
            "files",
            "init",
            "tty",
            "stop_grace_period",
            "dns",
            "security",
            "read_only",
            "sysctls",
            "platform",
            "resources",
            "network_mode_host",
            "restart",
            "exit_code",
            "create",  # held until started: a Deployment of no replicas, a Job of no parallel pods
        }
    )

    def __init__(
        self,
        namespace: str | None = None,
        context: str | None = None,
        kubectl: str = "kubectl",
        state_dir: str | None = None,
        purge_volumes: bool = False,
    ):
        ns = manifests.namespace(namespace or _env("OBLAKO_K8S_NAMESPACE", "oblako") or "oblako")
        self.settings = manifests.Settings(
            namespace=ns,
            storage_class=_env("OBLAKO_K8S_STORAGE_CLASS"),
            volume_size=manifests.quantity(_env("OBLAKO_K8S_VOLUME_SIZE", "1Gi") or "1Gi"),
            host_gateway=_env("OBLAKO_K8S_HOST_GATEWAY"),
            allow_host_path=core_config.flag("OBLAKO_K8S_ALLOW_HOSTPATH"),
        )
        self.kubectl = Kubectl(kubectl, context or _env("OBLAKO_K8S_CONTEXT"), ns, core_config.call_timeout())
        base = state_dir or _env("OBLAKO_K8S_STATE_DIR") or str(Path.home() / ".oblako" / "kubernetes")
        self.state_dir = Path(base).expanduser()
        self.purge_volumes = purge_volumes
        self._namespace_ready = False
        self._context_name: str | None = None

    # -- places ----------------------------------------------------------------------------

    def _forward_file(self, name: str) -> Path:
        context = re.sub(r"[^A-Za-z0-9_.-]", "_", self._context() or "current")
        return self.state_dir.resolve() / context / self.settings.namespace / f"{manifests.k8s_name(name)}.json"

    def _context(self) -> str:
        """The context forwards are made in: OBLAKO_K8S_CONTEXT, else kubectl's current one."""
        return self.kubectl.context or self._current_context()

    def _current_context(self) -> str:
        """kubectl's current context (asked once per plugin object)."""
        if self._context_name is None:
            done = self.kubectl.run("config", "current-context", namespaced=False, check=False)
            self._context_name = done.stdout.strip()
        return self._context_name

    # -- images ----------------------------------------------------------------------------

    @hookimpl
    def oblako_ensure_image(self, image: str, progress: Progress | None) -> None:
        """The cluster's nodes pull when a pod starts (imagePullPolicy IfNotPresent)."""
        if progress:
            progress(f"{image}: the cluster pulls it when the pod starts")

    @hookimpl
    def oblako_build_image(self, image: str, context_dir: str, progress: Progress | None) -> None:
        raise OblakoBackendError(
            f"a Kubernetes cluster has no image builder: build {image} from {context_dir} with docker or podman, "
            f"then {LOAD_HINT}"
        )

    # -- containers ------------------------------------------------------------------------

    def _ensure_namespace(self) -> None:
        """The namespace, made when missing. Many starts may find it missing at once: each
        creates it, and the ones that lose (AlreadyExists) use the one that won."""
        if self._namespace_ready:
            return
        done = self.kubectl.run("get", "namespace", self.settings.namespace, namespaced=False, check=False)
        if done.returncode != 0:
            if not not_found(done.stderr):
                raise kubectl_error(self.kubectl.where, ("get", "namespace"), done.stderr)
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.settings.namespace}}
            self._create([body], "namespace", namespaced=False)
        self._namespace_ready = True

    def _create(self, objects: list[dict[str, Any]], what: str, namespaced: bool = True) -> list[str]:
        """`kubectl create` the objects; one that already exists is left as it is. The lines
        saying which already existed are returned; any other failure raises.

        Used for what concurrent starts share or may both make (the namespace, claims,
        Secrets named after their content): `apply` reads, then creates, so two of them
        racing make one fail with AlreadyExists; `create` lets the loser see exactly that."""
        made = self.kubectl.run("create", "-f", "-", stdin=_list(objects), namespaced=namespaced, check=False)
        if made.returncode == 0:
            return []
        failures = [line for line in made.stderr.splitlines() if line.startswith("Error")]
        if not failures or not all(_already_exists(f) for f in failures):
            raise kubectl_error(self.kubectl.where, ("create", what), made.stderr)
        return failures

    def _get(self, kind: str, name: str) -> dict[str, Any] | None:
        """One object as JSON, or None when kubectl says it is not found: one kubectl call."""
        done = self.kubectl.run("get", kind, name, "--output=json", check=False)
        if done.returncode != 0:
            if not_found(done.stderr):
                return None
            raise kubectl_error(self.kubectl.where, ("get", kind), done.stderr)
        found: dict[str, Any] = json.loads(done.stdout)
        return found

    def _workload(self, name: str) -> dict[str, Any] | None:
        """The Deployment or Job `name` maps to (see manifests.workload), or None: one kubectl call."""
        k8s = manifests.k8s_name(name)
        done = self.kubectl.run("get", f"deployment/{k8s}", f"job/{k8s}", "--ignore-not-found", "--output=json")
        if not done.stdout.strip():
            return None
        found: dict[str, Any] = json.loads(done.stdout)
        items = found.get("items", [found])  # a List (two names were asked for)
        return items[0] if items else None

    @staticmethod
    def _target(workload: Mapping[str, Any]) -> str:
        """`kind/name` for kubectl: logs and exec pick the workload's pod (a running one first)."""
        return f"{str(workload.get('kind', 'Deployment')).lower()}/{(workload.get('metadata') or {}).get('name', '')}"

    def _host_ports(self, name: str, ports: list[tuple[str | None, int | None, int]]) -> list[list[object]]:
        """[address, host_port, container_port] per published port ((host_ip, host_port,
        container_port) each); a taken port raises now."""
        mappings: list[list[object]] = []
        for host_ip, fixed, container_port in ports:
            host_port = fixed or free_port()
            for address in (host_ip,) if host_ip else core_config.bind_addresses():
                with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as probe:
                    try:
                        probe.bind((address, host_port))
                    except OSError:
                        raise PortInUseError(
                            f"can't run {name!r}: host port {host_port} on {address} is already in use; find "
                            f"the holder with `ss -ltnp 'sport = :{host_port}'` (often a stale port-forward: "
                            "`oblako-backends ps`), stop it, and retry",
                            host_port,
                        ) from None
                mappings.append([address, host_port, container_port])
        return mappings

    @staticmethod
    def _published(spec: ContainerSpec) -> list[tuple[str | None, int | None, int]]:
        return [(p.host_ip, p.host_port, p.container_port) for p in spec.ports]

    def _refuse_held_ports(self, spec: ContainerSpec) -> None:
        """A fixed host port someone holds is refused before the cluster is asked: that needs
        no cluster, and says what is wrong even when none can be reached. A port held by this
        name's own recorded forward is left to the cluster's answer (the name is taken)."""
        fixed = [p for p in spec.ports if p.host_port]
        if fixed and not any(p.host_port in self._own_forward_ports(spec.name) for p in fixed):
            self._host_ports(spec.name, self._published(spec))

    def _own_forward_ports(self, name: str) -> set[object]:
        """Host ports the forward records of `name` list (under any context: no kubectl is asked)."""
        pattern = f"*/{self.settings.namespace}/{manifests.k8s_name(name)}.json"
        records = (forward.ForwardState.load(path) for path in self.state_dir.glob(pattern))
        return {port[1] for state in records if state is not None for port in state.ports if len(port) == 3}

    @hookimpl
    def oblako_run(self, spec: ContainerSpec) -> None:
        self._make(spec, hold=False)

    @hookimpl
    def oblako_create(self, spec: ContainerSpec) -> None:
        """Everything a run makes, the workload held (manifests.held: no pod) and nothing
        forwarded: `oblako_start` releases it. A Job too: its parallelism 0 stands for the
        `suspend` a cluster before 1.21 lacks. The cluster pulls the image when the pod starts,
        so an image it cannot get is told at the start, not here."""
        self._make(spec, hold=True)

    def _make(self, spec: ContainerSpec, hold: bool) -> None:
        """Run `spec`, or with `hold` create it held (see `oblako_create`)."""
        objects, notes = manifests.build(spec, self.settings)  # refuses what cannot map, first
        if not hold:
            self._refuse_held_ports(spec)  # then what this machine alone can tell
        existing = self._workload(spec.name)
        if existing is not None:
            owner = (existing["metadata"].get("annotations") or {}).get(manifests.NAME_ANNOTATION, "?")
            if owner != spec.name:
                raise OblakoBackendError(
                    f"{spec.name!r} maps to the Kubernetes name {manifests.k8s_name(spec.name)!r}, which "
                    f"{owner!r} already uses; rename one of them"
                )
            raise NameInUseError(f"can't run {spec.name!r}: a workload of that name already exists")
        for note in notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        self._ensure_namespace()
        workloads = [o for o in objects if o["kind"] in manifests.WORKLOAD_KINDS]
        if hold:
            workloads = [manifests.held(w, spec) for w in workloads]
        # What the pod mounts comes first (claims are kept across runs; Secrets of host files
        # are named after their content), so the pod never waits for it; the Service comes
        # last. Both are created when missing, and one that exists is used as it is: a claim
        # (maybe not ours) is never relabelled, and a Secret of that name holds the same files.
        claims = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
        secrets = [o for o in objects if o["kind"] == "Secret"]
        names = [o for o in objects if manifests.ALIAS_ANNOTATION in o["metadata"]["annotations"]]
        others = [
            o
            for o in objects
            if o["kind"] not in (*manifests.WORKLOAD_KINDS, "PersistentVolumeClaim", "Secret") and o not in names
        ]
        if secrets:
            self._create(secrets, "secret")
        if claims:
            self._create(claims, "pvc")
        # `create`, not `apply`, for the workload: of two concurrent runs exactly one creates
        # it, and the other learns so (AlreadyExists) instead of silently sharing it.
        created = self.kubectl.run("create", "-f", "-", stdin=_list(workloads), check=False)
        if created.returncode != 0:
            if _already_exists(created.stderr):
                raise NameInUseError(f"can't run {spec.name!r}: a workload of that name was created first")
            raise kubectl_error(self.kubectl.where, ("create", workloads[0]["kind"].lower()), created.stderr)
        try:
            # Now that the name is ours, a taken port is this run's problem (a held one's, its start's).
            mappings = [] if hold else self._host_ports(spec.name, self._published(spec))
            if others:
                self.kubectl.run("apply", "-f", "-", stdin=_list(others))
            if names:
                self._create_names(names)
            if hold:
                return
            running = self._wait_available(spec.name, spec.image)
            if mappings and running:  # a Job that has ended already publishes nothing, as an exited container
                self._forward(spec.name, mappings)
        except BaseException:
            self._delete(spec.name, grace=0, workload=workloads[0])  # nothing half-started is left behind
            raise

    @hookimpl
    def oblako_start(self, name: str) -> None:
        """Release a workload `oblako_create` held: one pod, waited for as a run waits, then
        its ports forwarded. A free host port is checked before it is released, and one taken
        between that check and the forward makes it held again; a start that fails otherwise
        removes it, as a failed run does. Of two starts at once, the one whose release the
        cluster refuses (it changed since read) is told so and removes nothing. One that was
        started already is left as it is (the cluster restarts a Deployment's pod itself); a
        Job that has ended cannot run again."""
        workload = self._workload(name)
        if workload is None:
            raise OblakoBackendError(f"no container {name!r} on {self.runtime} to start")
        if not manifests.waiting(workload):
            if workload.get("kind") == "Job" and manifests.ended(workload):
                raise OblakoBackendError(
                    f"can't start {name!r} again: it ran as a Kubernetes Job, which has ended and runs only once; "
                    "remove it and run it again (`up` does both)"
                )
            return
        mappings = self._host_ports(name, manifests.held_ports(workload))
        image = str(manifests.container_of(workload).get("image", ""))
        target = self._target(workload)
        patch = json.dumps(manifests.release(workload))  # refused if it changed since it was read
        patched = self.kubectl.run("patch", target, "--type=merge", f"--patch={patch}", check=False)
        if patched.returncode != 0:
            if "(conflict)" in patched.stderr.lower():  # not released by this call: left as it is
                raise OblakoBackendError(
                    f"can't start {name!r}: its {target} changed after it was read (another start "
                    "released it first, or it was changed); see `oblako-backends ps -a`"
                )
            raise kubectl_error(self.kubectl.where, ("patch", target), patched.stderr)
        # Released by this call: a start that fails from here on is this call's to undo.
        try:
            running = self._wait_available(name, image)
        except BaseException:
            self._delete(name, grace=0, workload=workload)  # nothing half-started is left behind
            raise
        if mappings and running:
            try:
                self._forward(name, mappings)
            except PortInUseError as exc:  # taken since it was checked: held again, not removed
                self._hold_again(name, workload)
                raise PortInUseError(
                    f"{exc}; {name!r} is left created: start it once the port is free", exc.port
                ) from exc
            except BaseException:
                self._delete(name, grace=0, workload=workload)
                raise

    def _hold_again(self, name: str, workload: Mapping[str, Any]) -> None:
        """Make the workload this start released held again (manifests.hold_again): its pod
        ends, it shows as Created. Removed instead when even that fails."""
        patch = json.dumps(manifests.hold_again(workload))
        try:
            self.kubectl.run("patch", self._target(workload), "--type=merge", f"--patch={patch}")
        except BaseException:
            self._delete(name, grace=0, workload=workload)
            raise

    def _forward(self, name: str, mappings: list[list[object]]) -> None:
        """Record the workload's forwards and wait until the namespace's forwarder serves them."""
        record = forward.ForwardState(manifests.k8s_name(name), mappings)
        where = self._forward_file(name)
        try:
            forward.start(where, record, self._context(), self.settings.namespace, self.kubectl.timeout)
        except forward.Refused as exc:
            if exc.held_port:
                raise PortInUseError(
                    f"can't run {name!r}: {exc}; find the holder with `ss -ltnp 'sport = :{exc.held_port}'`, "
                    "stop it, and retry",
                    exc.held_port,
                ) from exc
            raise OblakoBackendError(f"can't reach {name!r} from this machine: {exc}") from exc
        except TimeoutError as exc:
            raise OblakoBackendError(f"can't reach {name!r} from this machine: {exc}") from exc

    def _create_names(self, services: list[dict[str, Any]]) -> None:
        """The Services that make aliases resolve. `create`, never `apply`: a name another
        project's workload already answers to stays with it, and the user is told. One that
        selects what this one would (another replica of the service made it, maybe just now,
        racing this one) is left as it is. Only when one existed is the cluster asked which."""
        if not self._create(services, "service"):
            return
        for service in services:  # some existed: told only of those that select other pods
            name = service["metadata"]["name"]
            if self._selector_of(name) in (None, service["spec"]["selector"]):
                continue
            warnings.warn(
                f"the name {name!r} is already taken in namespace {self.settings.namespace!r}; "
                "it keeps resolving to the workload that took it first. Give each project its own "
                "OBLAKO_K8S_NAMESPACE to keep both",
                UserWarning,
                stacklevel=3,
            )

    def _selector_of(self, service: str) -> dict[str, Any] | None:
        found = self._get("service", service)
        return None if found is None else (found.get("spec") or {}).get("selector")

    def _wait_available(self, container: str, image: str) -> bool:
        """Until the Deployment is available, or the Job's container has started (and its pod
        is ready) or ended, as `docker run -d` returns once it started; an image or crash
        problem ends the wait with its reason. False when the Job has ended already."""
        name = manifests.k8s_name(container)
        end = time.monotonic() + self.kubectl.timeout
        while True:
            workload = self._workload(container) or {}
            job = workload.get("kind") == "Job"
            if workload and not job and _running(workload):
                return True
            pods = self.kubectl.json("get", "pods", f"--selector={manifests.WORKLOAD_LABEL}={name}")
            for pod in pods.get("items", []):
                refused = pod.get("status") or {}
                if refused.get("phase") == "Failed" and refused.get("reason"):  # e.g. a node's admission
                    raise OblakoBackendError(
                        f"{container!r} cannot run in the cluster: its pod was refused "
                        f"({refused['reason']}: {refused.get('message', '')})"
                    )
                for status in (pod.get("status") or {}).get("containerStatuses") or []:
                    waiting = (status.get("state") or {}).get("waiting") or {}
                    reason = waiting.get("reason", "")
                    if reason in IMAGE_REASONS:
                        raise ImageNotFoundError(
                            f"the cluster can't get image {image!r} ({reason}: {waiting.get('message', '')}); "
                            f"{LOAD_HINT}"
                        )
                    # A Job's container that ran and failed is waiting for its retry, not failing to start.
                    crashed = reason in CRASH_REASONS and not (job and reason == "CrashLoopBackOff")
                    if crashed or (not job and status.get("restartCount", 0) >= 2):
                        raise OblakoBackendError(
                            f"{container!r} keeps failing in the cluster ({reason or 'restarting'}); its last lines:\n"
                            + self.oblako_logs(container, 20, None, None, False)
                        )
            if job and manifests.ended(workload):
                return False  # checked after refusals and pulls: a Job that could not start has ended too
            if job and manifests.started(name, pods.get("items", [])):
                # Forwarded while it serves; one that ran and ended (maybe to be retried) is
                # not, as an exited container publishes nothing.
                return manifests.serving(name, pods.get("items", []))
            if time.monotonic() > end:
                raise OblakoBackendError(
                    f"{container!r} did not become available within {self.kubectl.timeout:g} s "
                    f"(`kubectl -n {self.settings.namespace} describe {self._target(workload)}` says why)"
                )
            time.sleep(0.5)

    def _pods(self, selector: str) -> list[dict[str, Any]]:
        found = self.kubectl.json("get", "pods", f"--selector={selector}")
        return list(found.get("items", []))

    def _info(self, workload: dict[str, Any], pods: list[dict[str, Any]] | None = None) -> ContainerInfo:
        """What `workload` is; `pods` (any workload's) tell how a stopped one's container ended,
        and whether a Job's pod is ready.

        A Deployment runs while it is available. A Job runs until it is over, also between a
        failed run and its retry, as Docker counts a restarting container running; it is
        never `starting` (its run returned once the container had started)."""
        meta = workload.get("metadata") or {}
        name = (meta.get("annotations") or {}).get(manifests.NAME_ANNOTATION) or meta.get("name", "")
        available = _running(workload)
        job = workload.get("kind") == "Job"
        young = not job and seconds_since(str(meta.get("creationTimestamp", ""))) < self.kubectl.timeout
        young = young and not manifests.waiting(workload)  # held: nothing is starting it
        passing = available and (not job or manifests.ready(meta.get("name", ""), pods or []))
        made = epoch_seconds(str(meta.get("creationTimestamp", "")))
        main = manifests.container_of(workload)
        state = forward.recover(self._forward_file(name), self._context(), self.settings.namespace)
        ports = tuple(
            PublishedPort(int(str(container)), "tcp", str(address), int(str(host)))
            for address, host, container in (state.ports if state else [])
        )
        return ContainerInfo(
            name=name,
            state=State.RUNNING if available else State.STOPPED,
            image=str(main.get("image", "")),
            labels=manifests.labels_of(workload),
            ports=ports,
            backend=self.runtime,
            starting=not available and young,  # a run (maybe another process's) is still waiting for it
            # Its own check is the readiness probe: available means it passes (until then it is
            # not running yet, as this backend counts).
            health=(Health.HEALTHY if passing else Health.STARTING)
            if available and "exec" in (main.get("readinessProbe") or {})
            else None,
            exit_code=None if available else manifests.exit_code(meta.get("name", ""), pods or []),
            created=None if math.isinf(made) else made,
            command=" ".join(str(a) for a in [*(main.get("command") or ()), *(main.get("args") or ())]),
        )

    @hookimpl
    def oblako_exec(
        self,
        name: str,
        command: tuple[str, ...],
        environment: Mapping[str, str],
        working_dir: str | None,
        user: str | None,
        output: Callable[[bytes], None],
        timeout: float | None,
    ) -> int:
        """`kubectl exec` in the workload's pod; environment and working_dir through its sh (see
        execute.py). The command's exit status is kubectl's."""
        if user is not None:
            raise OblakoBackendError(
                f"can't exec as user {user!r} in {name!r}: kubectl exec runs a command as the container's own "
                "user (set `user` on the service to change that); leave user out on this backend"
            )
        workload = self._workload(name)
        if workload is None:
            raise OblakoBackendError(f"no workload named {name!r} in namespace {self.settings.namespace}")
        if not _running(workload):
            raise OblakoBackendError(f"{name!r} is not running: its pod is not available, so nothing can run in it")
        argv, stdin = execute.command(command, environment, working_dir)
        target = self._target(workload)
        stderr = execute.Stderr(output)
        interactive = ["-i"] if stdin is not None else []  # the payload on stdin, then its end
        code = stream(
            self.kubectl.argv("exec", *interactive, target, "-c", manifests.CONTAINER, "--", *argv, bounded=False),
            timeout,
            runtime=self.runtime,
            hint=INSTALL_HINT,
            where=self.kubectl.where,
            output=output,
            errors=stderr.write,
            input=stdin,
        )
        failed = stderr.finish(code)
        if failed is not None:
            raise kubectl_error(self.kubectl.where, ("exec", target), failed)
        return code

    @hookimpl
    def oblako_inspect(self, name: str) -> ContainerInfo | None:
        workload = self._workload(name)
        if workload is None:
            return None
        k8s = (workload.get("metadata") or {}).get("name", "")
        return self._info(workload, self._pods(f"{manifests.WORKLOAD_LABEL}={k8s}") if _needs_pods(workload) else None)

    # -- named volumes: PersistentVolumeClaims ------------------------------------------------

    @hookimpl
    def oblako_create_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        if self.oblako_volume_labels(name) is not None:
            return False
        self._ensure_namespace()
        claim = manifests.volume_claim(name, labels, self.settings)
        return not self._create([claim], "pvc")  # another start made it first: it is used

    @hookimpl
    def oblako_volume_labels(self, name: str) -> Mapping[str, str] | None:
        claim = self._get("pvc", manifests.claim_name(name))
        if claim is None:
            return None
        labels = (claim.get("metadata") or {}).get("labels") or {}
        return {str(k): str(v) for k, v in labels.items()}

    @hookimpl
    def oblako_remove_volume(self, name: str) -> None:
        # A claim stays (Terminating) until the last pod using it is gone, and the pods of a
        # workload just deleted end in their own time (their grace period, on a busy node
        # longer): wait for that longer than for an answer, and say which it was.
        claim = f"pvc/{manifests.claim_name(name)}"
        self.kubectl.run("delete", claim, "--ignore-not-found", "--wait=false")
        wait = self.kubectl.timeout + CLAIM_RELEASE_SECONDS
        until = f"--timeout={math.ceil(wait)}s"
        done = self.kubectl.run("wait", "--for=delete", claim, until, timeout=wait, check=False)
        if done.returncode != 0 and not not_found(done.stderr):
            if self.oblako_volume_labels(name) is None:
                return  # gone between the wait's end and this look
            raise OblakoBackendError(
                f"volume {name!r} is still being removed after {wait:.0f} s (claim {claim} is Terminating "
                "while a pod still uses it); it goes when that pod does: check `kubectl get pods`"
            )

    @hookimpl
    def oblako_list(self) -> list[ContainerInfo]:
        found = self.kubectl.json("get", "deployments,jobs", f"--selector={MANAGED_BY_LABEL}={MANAGED_BY_VALUE}")
        workloads = found.get("items", [])
        needed = any(_needs_pods(w) for w in workloads)
        pods = self._pods(f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}") if needed else []  # one query for all
        return [self._info(w, pods) for w in workloads]

    @hookimpl
    def oblako_top(self, name: str) -> Processes:
        """`ps` in the workload's container (a cluster has no `docker top`): the image needs one."""
        chunks: list[bytes] = []
        code = self.oblako_exec(name, PS_ARGV, {}, None, None, chunks.append, self.kubectl.timeout)
        text = b"".join(chunks).decode("utf-8", "replace")
        if code != 0:
            said = text.strip().splitlines()[-1] if text.strip() else f"exit code {code}"
            raise OblakoBackendError(
                f"can't list the processes of {name!r}: `{' '.join(PS_ARGV)}` failed in its container ({said}); "
                "on Kubernetes `top` runs the image's own ps, which this image lacks or does not take -o"
            )
        return processes_of(text)

    @hookimpl
    def oblako_logs(self, name: str, tail: int, since: float | None, until: float | None, timestamps: bool) -> str:
        if tail == 0:
            return ""
        k8s = manifests.k8s_name(name)
        window = _log_window(since, until, timestamps)
        done = self.kubectl.run("logs", f"deployment/{k8s}", f"--tail={tail}", *window, check=False)
        if done.returncode == 0:
            return "".join(_kept(line, until, timestamps) for line in done.stdout.splitlines(keepends=True))
        return self._job_logs(k8s, tail, window, until, timestamps)  # no Deployment: a Job's, or none

    def _job_logs(self, k8s: str, tail: int, window: list[str], until: float | None, timestamps: bool) -> str:
        """Every run of Job `k8s`, oldest first, as Docker's log of a container holds each run:
        a Job retries in a new pod, so the output is its pods' in turn (none: "")."""
        pods = [p for p in self._pods(f"{manifests.WORKLOAD_LABEL}={k8s}") if _job_of(p) == k8s]
        pods.sort(key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))
        lines: list[str] = []
        for pod in pods:
            pod_name = f"pod/{(pod.get('metadata') or {}).get('name', '')}"
            done = self.kubectl.run("logs", pod_name, "-c", manifests.CONTAINER, f"--tail={tail}", *window, check=False)
            if done.returncode == 0:  # a pod still being made has none yet
                lines += [_kept(line, until, timestamps) for line in done.stdout.splitlines(keepends=True)]
        lines = [line for line in lines if line]
        return "".join(lines[-tail:] if tail > 0 else lines)

    @hookimpl
    def oblako_follow_logs(
        self, name: str, tail: int, since: float | None, until: float | None, timestamps: bool
    ) -> LogStream:
        workload = self._workload(name)
        if workload is None:
            raise OblakoBackendError(f"no workload named {name!r} to follow in namespace {self.settings.namespace}")
        target = self._target(workload)  # a Job's current run (each retry is a new pod)
        window = _log_window(since, until, timestamps)
        argv = self.kubectl.argv("logs", "--follow", f"--tail={tail}", *window, target, bounded=False)
        deadline = self.kubectl.timeout / 3  # with the period below: a frozen API server is noticed in time

        def answers() -> None:
            self.kubectl.run("version", namespaced=False, timeout=deadline, backstop=0)

        lines = follow(argv, check=answers, period=min(2.0, self.kubectl.timeout / 4))
        if until is None:
            return lines

        def before_until() -> Iterator[str]:
            """kubectl has no --until: its lines until the first one written after it."""
            for line in lines:
                if epoch_seconds(line.split(" ", 1)[0]) > until:
                    return
                yield _kept(line + "\n", until, timestamps)

        return LogStream(before_until(), lines.close)

    def _delete(self, name: str, grace: int, workload: Mapping[str, Any] | None = None) -> None:
        """Delete what `name` made (`workload`: its Deployment or Job, when the caller has it)."""
        forward.stop(self._forward_file(name))
        k8s = manifests.k8s_name(name)
        workload = workload if workload is not None else self._workload(name)
        if workload is not None and workload.get("kind") == "Job":
            # The Job alone first (its pods orphaned, so no retry replaces them), then its pods
            # with the grace asked for: deleted along with the Job they would stop with their own.
            self.kubectl.run("delete", f"job/{k8s}", f"service/{k8s}", "--ignore-not-found", "--cascade=orphan")
            self.kubectl.run(
                "delete",
                "pods",
                f"--selector={manifests.WORKLOAD_LABEL}={k8s}",
                "--ignore-not-found",
                f"--grace-period={grace}",
                "--wait=true",
                timeout=self.kubectl.timeout + grace,
            )
        else:
            self.kubectl.run(
                "delete",
                f"deployment/{k8s}",
                f"service/{k8s}",
                "--ignore-not-found",
                f"--grace-period={grace}",
                "--wait=true",
                timeout=self.kubectl.timeout + grace,
            )
        # Secrets made from host files (config maps, by earlier versions), and the Services that
        # give it names, belong to this workload alone (claims keep data: they stay).
        self.kubectl.run(
            "delete",
            "configmaps,secrets,services",
            f"--selector={manifests.WORKLOAD_LABEL}={k8s}",
            "--ignore-not-found",
            "--wait=false",
        )

    @hookimpl
    def oblako_stop(self, name: str, timeout: float) -> None:
        self._delete(name, grace=max(1, int(timeout)))

    @hookimpl
    def oblako_remove(self, name: str) -> None:
        workload = self._workload(name)
        claims = [
            v["persistentVolumeClaim"]["claimName"]
            for v in (((workload or {}).get("spec") or {}).get("template") or {}).get("spec", {}).get("volumes") or []
            if "persistentVolumeClaim" in v
        ]
        self._delete(name, grace=0, workload=workload)
        if self.purge_volumes and claims:
            self.kubectl.run("delete", *(f"pvc/{c}" for c in claims), "--ignore-not-found", "--wait=false")

    # -- the runtime -----------------------------------------------------------------------

    @hookimpl
    def oblako_probe(self, timeout: float) -> Probe:
        try:
            version = self.kubectl.json("version", namespaced=False, timeout=timeout)
            context = self.kubectl.context or self._current_context()
        except (RuntimeUnavailableError, OblakoBackendError, ValueError) as exc:
            return Probe(self.runtime, False, error=self._why_unreachable(exc, timeout), hint=INSTALL_HINT)
        server = version.get("serverVersion") or {}
        if not server:
            return Probe(self.runtime, False, error="kubectl reached no server", hint=INSTALL_HINT)
        return Probe(
            backend=self.runtime,
            reachable=True,
            endpoint=f"context {context}",
            endpoint_source="OBLAKO_K8S_CONTEXT" if self.kubectl.context else "kubectl's current context",
            engine="Kubernetes",
            version=str(server.get("gitVersion", "")),
            capabilities=self.capabilities,
            details={
                "namespace": self.settings.namespace,
                "client": "kubectl; port-forwards: the kubernetes Python client",
                "ports listen on": f"{', '.join(core_config.bind_addresses())} (one forwarder per namespace here)",
            },
        )

    def _why_unreachable(self, exc: Exception, timeout: float) -> str:
        """The sentence that finishes "not reachable": no kubeconfig at all, else the server
        the kubeconfig names and what kubectl said about it."""
        listed = os.environ.get("KUBECONFIG", "")
        files = [f for f in listed.split(os.pathsep) if f]
        if files and not any(os.path.isfile(f) for f in files):
            return f"no kubeconfig found (KUBECONFIG={listed} names no file)"
        if not files and not os.path.isfile(os.path.expanduser("~/.kube/config")):
            return "no kubeconfig found (KUBECONFIG unset, ~/.kube/config missing)"
        said = (
            "; ".join(reason for _, reason in exc.tried)
            if isinstance(exc, RuntimeUnavailableError) and exc.tried
            else str(exc).splitlines()[0]
        )
        jsonpath = "--output=jsonpath={.clusters[0].cluster.server}"
        try:
            server = self.kubectl.run(
                "config", "view", "--minify", jsonpath, namespaced=False, timeout=timeout, check=False
            )
        except OblakoBackendError:
            return said
        where = server.stdout.strip() if server.returncode == 0 else ""
        return f"the server {where} did not answer kubectl ({said})" if where else said

    @hookimpl
    def oblako_docker_client(self) -> Any:
        return None
