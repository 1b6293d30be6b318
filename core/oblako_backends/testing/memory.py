"""The in-memory reference backend: the whole contract, no runtime.

It exists to test code that drives containers without starting any (the core's own tests,
and applications built on oblako-backends), and to show a plugin author the smallest
complete implementation. It runs no process: "logs" are what `emit` adds, and a container
leaves the running state only through the contract or `exit`.
State lives in the plugin object, so it is shared by everything using one `Backend`.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

from ..errors import ImageNotFoundError, NameInUseError, OblakoBackendError, PortInUseError
from ..hookspecs import Progress, hookimpl
from ..models import RUNNING, STOPPED, ContainerInfo, LogStream, Probe, Processes, PublishedPort, State
from ..spec import ContainerSpec


@dataclass
class _Container:
    spec: ContainerSpec
    ports: tuple[PublishedPort, ...]
    state: State = RUNNING
    lines: list[str] = field(default_factory=list)
    written: list[float] = field(default_factory=list)  # when each line was written (seconds since the epoch)
    exit_code: int | None = None
    created: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # a new one for each container of a name


def _window(c: _Container, first: int, since: float | None, until: float | None, timestamps: bool) -> list[str]:
    """Its lines from `first` on that were written between `since` and `until`, each after the
    moment it was written when `timestamps` (as the Engine API writes it: UTC, nanoseconds)."""
    kept = []
    for line, moment in zip(c.lines[first:], c.written[first:], strict=True):
        if (since is None or moment >= since) and (until is None or moment <= until):
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1e9):09d}Z "
            kept.append(stamp + line if timestamps else line)
    return kept


class MemoryPlugin:
    """Reference backend. `pullable`: images a pull can find (None: any image)."""

    # It runs no process: its "processes" (top) are the command it was given, its log lines what `emit` adds.
    capabilities = frozenset(
        {"pull", "build", "follow_logs", "remove_volumes", "exit_code", "top", "log_times", "create"}
    )

    def __init__(self, pullable: Iterable[str] | None = None):
        self._pullable = None if pullable is None else set(pullable)
        self._images: set[str] = set()
        self._volumes: dict[str, dict[str, str]] = {}
        self._containers: dict[str, _Container] = {}
        self._changed = threading.Condition()
        self._free_ports = itertools.count(32768)

    # -- helpers for tests ------------------------------------------------------------------

    def emit(self, name: str, line: str) -> None:
        """Append a log line, as if the container printed it."""
        with self._changed:
            self._containers[name].lines.append(line)
            self._containers[name].written.append(time.time())
            self._changed.notify_all()

    def exit(self, name: str, code: int | None = None) -> None:
        """Stop the container as if its process ended on its own (with `code`, when given)."""
        with self._changed:
            self._containers[name].state = STOPPED
            self._containers[name].exit_code = code
            self._changed.notify_all()

    def add_foreign(self, name: str, image: str = "foreign/image:1", labels: dict[str, str] | None = None) -> None:
        """Create a container this layer does not own (no ownership labels; others' `labels` allowed)."""
        from ..spec import _with_labels

        with self._changed:
            spec = _with_labels(ContainerSpec(name=name, image=image), dict(labels or {}))
            self._containers[name] = _Container(spec, ())

    # -- the contract -----------------------------------------------------------------------

    @hookimpl
    def oblako_ensure_image(self, image: str, progress: Progress | None) -> None:
        if image in self._images:
            return
        if self._pullable is not None and image not in self._pullable:
            raise ImageNotFoundError(f"image {image!r} is not present and no registry has it")
        if progress:
            progress(f"pulled {image}")
        self._images.add(image)

    @hookimpl
    def oblako_build_image(self, image: str, context_dir: str, progress: Progress | None, dockerfile: str) -> None:
        if progress:
            progress(f"built {image} from {context_dir}/{dockerfile}")
        self._images.add(image)

    @hookimpl
    def oblako_run(self, spec: ContainerSpec) -> None:
        self.oblako_create(spec)
        try:
            self.oblako_start(spec.name)
        except PortInUseError:
            self.oblako_remove(spec.name)  # nothing is left behind
            raise

    @hookimpl
    def oblako_create(self, spec: ContainerSpec) -> None:
        self.oblako_ensure_image(spec.image, None)
        with self._changed:
            if spec.name in self._containers:
                raise NameInUseError(f"a container named {spec.name!r} already exists")
            self._containers[spec.name] = _Container(spec, (), state=STOPPED)

    @hookimpl
    def oblako_start(self, name: str) -> None:
        with self._changed:
            c = self._containers.get(name)
            if c is None:
                raise OblakoBackendError(f"no container named {name!r} to start")
            if c.state == RUNNING:
                return
            taken = {
                (p.host_port, p.protocol) for c in self._containers.values() if c.state == RUNNING for p in c.ports
            }
            ports = []
            for p in c.spec.ports:
                host_port = p.host_port or next(self._free_ports)
                if (host_port, p.protocol) in taken:
                    raise PortInUseError(f"cannot start {name!r}: host port {host_port} is already in use", host_port)
                ports.append(PublishedPort(p.container_port, p.protocol, "127.0.0.1", host_port))
            argv = [*(c.spec.entrypoint or ()), *(c.spec.command or ())]
            c.ports, c.state, c.exit_code = tuple(ports), RUNNING, None
            c.lines.append(f"started {c.spec.image}" + (f" {' '.join(argv)}" if argv else ""))
            c.written.append(time.time())
            self._changed.notify_all()

    @hookimpl
    def oblako_inspect(self, name: str) -> ContainerInfo | None:
        c = self._containers.get(name)
        if c is None:
            return None
        argv = " ".join([*(c.spec.entrypoint or ()), *(c.spec.command or ())])
        return ContainerInfo(
            name,
            c.state,
            c.spec.image,
            c.spec.labels,
            c.ports,
            "memory",
            exit_code=c.exit_code,
            created=c.created,
            command=argv,
            id=c.id,
        )

    @hookimpl
    def oblako_top(self, name: str) -> Processes:
        """Its one "process": the command it was given (or the image's name)."""
        c = self._containers.get(name)
        if c is None or c.state != RUNNING:
            raise OblakoBackendError(f"no running container named {name!r}")
        argv = " ".join([*(c.spec.entrypoint or ()), *(c.spec.command or ())]) or c.spec.image
        return Processes(("PID", "USER", "CMD"), (("1", c.spec.user or "root", argv),))

    @hookimpl
    def oblako_logs(self, name: str, tail: int, since: float | None, until: float | None, timestamps: bool) -> str:
        c = self._containers.get(name)
        if c is None or tail == 0:
            return ""
        return "".join(line + "\n" for line in _window(c, 0, since, until, timestamps)[-tail:])

    @hookimpl
    def oblako_follow_logs(
        self, name: str, tail: int, since: float | None, until: float | None, timestamps: bool
    ) -> LogStream:
        if name not in self._containers:
            raise OblakoBackendError(f"no container named {name!r} to follow")
        closed = threading.Event()

        def lines() -> Iterator[str]:
            with self._changed:
                c: _Container | None = self._containers[name]
                sent = len(c.lines) if c else 0
                last = _window(c, 0, since, until, timestamps)[-tail:] if c and tail else []
            if last:
                yield "".join(line + "\n" for line in last)
            while True:
                with self._changed:
                    c = self._containers.get(name)
                    while not closed.is_set() and c is not None and c.state == RUNNING and sent == len(c.lines):
                        self._changed.wait()
                        c = self._containers.get(name)
                    if closed.is_set() or c is None:
                        return
                    new, first, sent = c.lines[sent:], sent, len(c.lines)
                    if not new and c.state != RUNNING:
                        return
                    shown = _window(c, first, since, until, timestamps)
                if shown:
                    yield "".join(line + "\n" for line in shown)

        def close() -> None:
            closed.set()
            with self._changed:
                self._changed.notify_all()

        return LogStream(lines(), close)

    @hookimpl
    def oblako_stop(self, name: str, timeout: float, container_id: str) -> None:
        """With `container_id`, only that container: one made since under the same name stays."""
        with self._changed:
            c = self._containers.get(name)
            if c is not None and (not container_id or c.id == container_id):
                del self._containers[name]
                self._changed.notify_all()

    @hookimpl
    def oblako_remove(self, name: str) -> None:
        with self._changed:
            self._containers.pop(name, None)
            self._changed.notify_all()

    # -- named volumes (capability remove_volumes) -------------------------------------------

    @hookimpl
    def oblako_create_volume(self, name: str, labels: Mapping[str, str]) -> bool:
        with self._changed:
            if name in self._volumes:
                return False
            self._volumes[name] = dict(labels)
            return True

    @hookimpl
    def oblako_volume_labels(self, name: str) -> Mapping[str, str] | None:
        return self._volumes.get(name)

    @hookimpl
    def oblako_remove_volume(self, name: str) -> None:
        with self._changed:
            self._volumes.pop(name, None)

    @hookimpl
    def oblako_list(self) -> list[ContainerInfo]:
        infos = (self.oblako_inspect(name) for name in list(self._containers))
        return [i for i in infos if i is not None and i.owned]

    @hookimpl
    def oblako_probe(self, timeout: float) -> Probe:
        try:
            core_version = version("oblako-backends")
        except PackageNotFoundError:
            core_version = "unknown"
        return Probe(
            backend="memory",
            reachable=True,
            endpoint="memory://",
            endpoint_source="in-process",
            engine="oblako in-memory reference backend",
            version=core_version,
            capabilities=self.capabilities,
        )
