"""The forwarder: one process serving every port-forward record of one state directory.

    python -m oblako_backend_kubernetes --detach DIRECTORY --context=CONTEXT --namespace=NAMESPACE

It listens on every record's host ports and forwards each connection to a ready pod of the
record's workload through the Kubernetes API's port-forward, spoken by the official
`kubernetes` client (`kubernetes.stream.portforward`, over WebSockets). It looks at the
directory several times a second, so records come and go while it runs. It asks the cluster
for the namespace's pods every few seconds, and at once when a forward to a pod fails, so a
replaced pod's connections go to its successor; a connection that finds no ready pod waits
for one. A workload whose Service was deleted outside oblako loses its record. It ends when
no record is left, or on SIGTERM.

One forwarder per directory: it holds `_forwarder.lock` while it runs, and one that cannot
take it leaves.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import selectors
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import forward
from .manifests import WORKLOAD_LABEL

REQUEST_SECONDS = 10.0  # every question to the API server, and the WebSocket's opening
POD_PERIOD = 3.0  # seconds between looks at the namespace's pods
SERVICE_PERIOD = 10.0  # seconds between "do the records' Services still exist?"
READY_WAIT = 30.0  # how long a new connection waits for a ready pod (one being replaced)
TICK = 0.2  # seconds between looks at the directory
LOCK_WAIT = 1.0  # how long a new forwarder tries for the lock (someone may be asking `forward.serving`)


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _ready(pod: dict[str, Any]) -> bool:
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class Cluster:
    """The API server, through the official client; the pods each workload has ready now."""

    def __init__(self, context: str, namespace: str):
        from kubernetes import client, config

        self.namespace = namespace
        self.configuration = client.Configuration()
        config.load_kube_config(context=context or None, client_configuration=self.configuration)  # type: ignore[no-untyped-call]
        self.api = client.CoreV1Api(client.ApiClient(self.configuration))
        self.pods: dict[str, str] = {}  # workload -> the ready pod its connections go to
        self.changed = threading.Condition()
        self.wanted = threading.Event()  # someone needs a fresh look now

    def _get(self, call: Callable[..., Any], **query: Any) -> dict[str, Any]:
        response = call(self.namespace, _preload_content=False, _request_timeout=REQUEST_SECONDS, **query)
        found: dict[str, Any] = json.loads(response.data)
        return found

    def look(self) -> None:
        """Which pod each workload's connections go to: the one they went to while it stays
        ready, else any ready one."""
        listed = self._get(self.api.list_namespaced_pod, label_selector=WORKLOAD_LABEL)
        ready: dict[str, list[str]] = {}
        for pod in listed.get("items") or []:
            meta = pod.get("metadata") or {}
            workload = (meta.get("labels") or {}).get(WORKLOAD_LABEL)
            if workload and _ready(pod):
                ready.setdefault(workload, []).append(str(meta.get("name")))
        with self.changed:
            self.pods = {w: self.pods[w] if self.pods.get(w) in pods else sorted(pods)[0] for w, pods in ready.items()}
            self.changed.notify_all()

    def services(self) -> set[str]:
        listed = self._get(self.api.list_namespaced_service)
        return {str((s.get("metadata") or {}).get("name")) for s in listed.get("items") or []}

    def pod_of(self, workload: str, until: float, avoid: str = "") -> str:
        """A ready pod of `workload` other than `avoid`, waiting for one until `until` ("" if none came)."""
        with self.changed:
            while (self.pods.get(workload, "") in ("", avoid)) and time.monotonic() < until:
                self.wanted.set()
                self.changed.wait(min(1.0, max(0.0, until - time.monotonic())))
            pod = self.pods.get(workload, "")
            return pod if pod != avoid else ""

    def forget(self, workload: str, pod: str) -> None:
        """A forward to `pod` failed: stop sending connections there until the cluster says it is ready."""
        with self.changed:
            if self.pods.get(workload) == pod:
                del self.pods[workload]
        self.wanted.set()

    def open(self, pod: str, port: int) -> Any:
        """A port-forward to `port` of `pod`: the client's PortForward. Each gets an API client
        of its own (the client's stream helpers swap a method of the one they are given)."""
        from kubernetes import client
        from kubernetes.stream import portforward

        api_client = client.ApiClient(self.configuration)
        try:
            api = client.CoreV1Api(api_client)
            opened = portforward(api.connect_get_namespaced_pod_portforward, pod, self.namespace, ports=str(port))
        finally:
            api_client.close()  # type: ignore[no-untyped-call]  # the forward has a WebSocket of its own
        return opened


def _abandon(client: socket.socket, stem: str, pod: str, port: int) -> None:
    log(f"{stem}: the API server did not open a forward to {pod}:{port} within {REQUEST_SECONDS:g} s")
    with contextlib.suppress(OSError):
        client.shutdown(socket.SHUT_RDWR)


def pump(client: socket.socket, remote: Any) -> None:
    """Copy both ways until either side ends (the client's end of sending is passed on)."""
    with selectors.DefaultSelector() as ends:  # not select(): descriptors may pass 1024
        ends.register(client, selectors.EVENT_READ, remote)
        ends.register(remote.fileno(), selectors.EVENT_READ, client)
        while True:
            for key, _ in ends.select():
                source = client if key.fileobj is client else remote
                try:
                    data = source.recv(65536)
                except OSError:
                    return
                if not data:
                    if source is client:
                        with contextlib.suppress(OSError):
                            remote.shutdown(socket.SHUT_WR)
                    return
                try:
                    key.data.sendall(data)
                except OSError:
                    return


class Forwarder:
    """The records of one directory, served: listeners polled by the main thread, one thread
    per connection, one asking the cluster."""

    def __init__(self, directory: Path, cluster: Cluster, status: forward.ForwarderState):
        self.directory = directory
        self.cluster = cluster
        self.status = status
        self.records: dict[str, forward.ForwardState] = {}
        self.listeners: dict[str, list[socket.socket]] = {}
        self.connections: dict[str, set[socket.socket]] = {}
        self.gone: dict[str, str] = {}  # record -> token, for those whose Service was deleted
        self.last_pod: dict[str, str] = {}
        self.selector = selectors.DefaultSelector()
        self.guard = threading.Lock()  # records, connections, status, gone
        self.stopping = threading.Event()
        self.saved = ""

    # -- the directory ----------------------------------------------------------------------

    def reconcile(self) -> None:
        """Serve what the directory's records say: new records listened for, removed ones let go."""
        found = forward.records(self.directory)
        with self.guard:
            self.gone = {s: token for s, token in self.gone.items() if getattr(found.get(s), "token", "") == token}
            wanted = {stem: r for stem, r in found.items() if self.gone.get(stem) != r.token}
            for stem in list(self.records):
                if stem not in wanted or wanted[stem].token != self.records[stem].token:
                    self._drop(stem)
            for stem, record in wanted.items():
                if stem not in self.records:
                    self.records[stem] = record
                    self._listen(stem, record)
            for stem in list(self.status.serving):
                if stem not in self.records:
                    del self.status.serving[stem]
                    self.last_pod.pop(stem, None)

    def _listen(self, stem: str, record: forward.ForwardState) -> None:
        serving = forward.Serving(token=record.token)
        self.status.serving[stem] = serving
        self.cluster.wanted.set()  # its pod is wanted now, not at the next look
        bound: list[socket.socket] = []
        for address, host_port, container_port in record.ports:
            listener = socket.socket(socket.AF_INET6 if ":" in str(address) else socket.AF_INET)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((str(address), int(str(host_port))))
                listener.listen(128)
            except OSError as exc:
                listener.close()
                for done in bound:
                    self.selector.unregister(done)
                    done.close()
                serving.error = f"can't listen on {address}:{host_port}: {exc.strerror or exc}"
                serving.held_port = int(str(host_port)) if exc.errno == errno.EADDRINUSE else 0
                log(f"{stem}: {serving.error}")
                return
            listener.setblocking(False)
            self.selector.register(listener, selectors.EVENT_READ, (stem, record.workload, int(str(container_port))))
            bound.append(listener)
        self.listeners[stem] = bound
        serving.listening = True
        log(f"{stem}: listening on {', '.join(f'{a}:{h}' for a, h, _ in record.ports)}")

    def _drop(self, stem: str) -> None:
        for listener in self.listeners.pop(stem, []):
            self.selector.unregister(listener)
            listener.close()
        for connection in self.connections.pop(stem, set()):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        del self.records[stem]
        log(f"{stem}: let go")

    # -- connections ------------------------------------------------------------------------

    def accept(self, listener: socket.socket, stem: str, workload: str, port: int) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return  # the client gave up already
        client.setblocking(True)
        with self.guard:
            self.connections.setdefault(stem, set()).add(client)
        threading.Thread(target=self._serve, args=(client, stem, workload, port), daemon=True).start()

    def _serve(self, client: socket.socket, stem: str, workload: str, port: int) -> None:
        try:
            until = time.monotonic() + READY_WAIT
            while True:
                pod = self.cluster.pod_of(workload, until)
                if not pod:
                    log(f"{stem}: no ready pod of {workload} within {READY_WAIT:g} s; connection closed")
                    return
                # The client's WebSocket opening has no deadline of its own: past ours, the
                # connection is closed (its thread ends whenever the server answers).
                deadline = threading.Timer(REQUEST_SECONDS, _abandon, args=(client, stem, pod, port))
                deadline.start()
                try:
                    forwarded = self.cluster.open(pod, port)
                    break
                except Exception as exc:  # the client wraps every failure to connect in ApiException
                    said = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
                    log(f"{stem}: forward to {pod}:{port} failed ({said}); asking the cluster again")
                    self.cluster.forget(workload, pod)
                    if self.stopping.wait(0.5) or time.monotonic() > until:
                        return
                finally:
                    deadline.cancel()
            try:
                pump(client, forwarded.socket(port))
            finally:
                forwarded.close()
            error = forwarded.error(port)
            if error:
                log(f"{stem}: {pod}:{port} said: {error.strip()}")
                self.cluster.wanted.set()  # maybe the pod is going: look now
        finally:
            with self.guard:
                self.connections.get(stem, set()).discard(client)
            client.close()

    # -- the cluster ------------------------------------------------------------------------

    def watch(self) -> None:
        """Ask the cluster for pods every few seconds, or sooner when wanted; for Services less often."""
        looked_at_services = time.monotonic()
        while not self.stopping.is_set():
            try:
                self.cluster.look()
                if time.monotonic() - looked_at_services >= SERVICE_PERIOD:
                    self._forget_deleted()
                    looked_at_services = time.monotonic()
            except Exception as exc:  # no answer: keep what is known, ask again soon
                log(f"the cluster did not answer: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
            self.cluster.wanted.wait(POD_PERIOD)
            self.cluster.wanted.clear()
            time.sleep(0.3)  # never more than a few questions a second

    def _forget_deleted(self) -> None:
        """Records whose Service is gone (deleted outside oblako) are removed, and their ports let go."""
        with self.guard:
            before = {stem: (r.workload, r.token) for stem, r in self.records.items()}
        present = self.cluster.services()  # asked after the records were read: a Service made first is in it
        for stem, (workload, token) in before.items():
            if workload in present:
                continue
            log(f"{stem}: its Service {workload} was deleted outside oblako: forgotten")
            with self.guard:
                self.gone[stem] = token
            path = self.directory / f"{stem}.json"
            record = forward.ForwardState.load(path)
            if record is not None and record.token == token:
                path.unlink(missing_ok=True)

    def publish(self) -> None:
        """Write `_forwarder.json` when what it says changed."""
        with self.guard:
            for stem, serving in self.status.serving.items():
                record = self.records.get(stem)
                pod = self.cluster.pods.get(record.workload, "") if record is not None else ""
                if pod and pod != self.last_pod.get(stem, pod):
                    serving.retargets += 1
                if pod:
                    self.last_pod[stem] = pod
                serving.pod = pod
            text = json.dumps(asdict(self.status), sort_keys=True)
        if text != self.saved:
            self.status.save(self.directory)
            self.saved = text

    def run(self) -> None:
        threading.Thread(target=self.watch, daemon=True).start()
        seen: tuple[int, int] = (0, 0)
        looked = 0.0
        empty = 0
        while not self.stopping.is_set():
            try:
                info = os.stat(self.directory)
            except FileNotFoundError:
                break
            if (info.st_mtime_ns, info.st_ino) != seen or time.monotonic() - looked > 2 or self.gone:
                seen, looked = (info.st_mtime_ns, info.st_ino), time.monotonic()
                self.reconcile()
            self.publish()
            empty = 0 if self.records or self.gone else empty + 1
            if empty >= 2:
                log("no forward left: done")
                break
            for key, _ in self.selector.select(TICK):
                stem, workload, port = key.data
                self.accept(key.fileobj, stem, workload, port)  # type: ignore[arg-type]
        for stem in list(self.records):
            with self.guard:
                self._drop(stem)


def _lock(directory: Path) -> int | None:
    """This directory's lock, or None when another forwarder holds it."""
    descriptor = forward.open_private(directory / forward.LOCK, os.O_RDWR)
    end = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descriptor
        except OSError:
            if time.monotonic() > end:
                os.close(descriptor)
                return None
            time.sleep(0.02)


def serve(directory: Path, context: str, namespace: str) -> int:
    """The forwarder's life: take the lock, serve until no record is left or SIGTERM."""
    held = _lock(directory)
    if held is None:
        return 0  # another forwarder serves this directory
    status = forward.ForwarderState(os.getpid(), forward.identity(os.getpid()), context, namespace)
    forwarder: Forwarder | None = None

    def terminate(*_: object) -> None:
        if forwarder is not None:
            forwarder.stopping.set()
        else:
            raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    try:
        status.save(directory)
        try:
            cluster = Cluster(context, namespace)
        except Exception as exc:  # a kubeconfig the client cannot use: every record is told why
            said = f"can't use the kubeconfig for context {context or '(current)'}: {exc}"
            log(said)
            status.serving = {s: forward.Serving(r.token, error=said) for s, r in forward.records(directory).items()}
            status.save(directory)  # kept: the records' owners read it
            return 1
        forwarder = Forwarder(directory, cluster, status)
        log(f"forwarder {os.getpid()} serving {directory} (context {context or '(current)'}, namespace {namespace})")
        forwarder.run()
        now = forward.ForwarderState.load(directory)
        if now is not None and now.pid == os.getpid():
            (directory / forward.STATUS).unlink(missing_ok=True)
        if not forward.records(directory):
            (directory / forward.LOG).unlink(missing_ok=True)
    finally:
        os.close(held)
    return 0


def detach_and_serve(directory: Path, context: str, namespace: str) -> int:
    """Fork; the child leads a new session and serves, the parent returns at once."""
    if os.fork():
        return 0
    os.setsid()
    code = serve(directory, context, namespace)
    sys.stdout.flush()
    os._exit(code)  # all said and closed: skip tearing down the client's many modules
