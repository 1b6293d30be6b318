"""`Backend`: the typed facade callers use instead of ``pm.hook``.

It validates input before a plugin sees it, stamps ownership labels on what it runs,
refuses to stop or remove containers it did not create, and turns a hook the plugin does
not implement into an error that says so.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from . import config
from .errors import ConfigurationError, InvalidSpecError, NotOwnedError, OblakoBackendError
from .hookspecs import Progress, declared_capabilities
from .labels import BACKEND_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PROJECT_LABEL
from .models import ABSENT, RUNNING, ContainerInfo, LogStream, NetworkCapacity, Probe, Processes, State

if TYPE_CHECKING:
    from .plugins import BackendInfo
    from .spec import BuildSpec, ContainerSpec, NetworkOptions


log = logging.getLogger(__name__)


def _spec() -> ModuleType:
    """The validators, loaded on first use: `ps` and `list` never need them."""
    from . import spec

    return spec


# What to do with a build secret where the builder takes none (the Engine API's classic builder).
BUILD_SECRETS_HINT = (
    "build the image with BuildKit instead (docker buildx build --secret id=ID,src=FILE -t IMAGE .) "
    "and name it under image:"
)
ANY_PROJECT = "*"  # stop/remove without regard to projects (no project name can be "*")


def refuse_other_project(info: ContainerInfo, project: str | None) -> None:
    """A project acts only on its own containers, and a plain Service (None) on none of a project's."""
    if project == ANY_PROJECT or not info.owned or info.project == project:
        return
    theirs = f"project {info.project!r}" if info.project else "no project (a plain Service)"
    mine = f"project {project!r}" if project else "a plain Service"
    raise NotOwnedError(f"{info.name!r} belongs to {theirs}, not to {mine}; it was left alone")


def _tail(tail: object) -> int:
    if isinstance(tail, bool) or not isinstance(tail, int) or tail < 0:
        raise InvalidSpecError("tail", tail, "a number of lines is a whole number, 0 or more")
    return tail


class Backend:
    """One loaded container backend. Get one with `oblako_backends.get_backend()`."""

    def __init__(
        self,
        name: str,
        pm: pluggy.PluginManager,
        *,
        selected_by: str = "argument",
        info: BackendInfo | None = None,
    ):
        self.name = name
        self.selected_by = selected_by
        self.info = info
        self._pm = pm

    def __repr__(self) -> str:
        return f"<Backend {self.name!r} selected by {self.selected_by}>"

    @property
    def capabilities(self) -> frozenset[str]:
        """What the backend can do, as its plugin declares it: known without touching the runtime
        (`probe()` reports the same set once the runtime answers)."""
        return declared_capabilities(self.plugin)

    @property
    def plugin(self) -> Any:
        """The backend plugin object itself (for its own extras, e.g. in tests)."""
        return self._pm.get_plugin(f"backend:{self.name}")

    # -- images -----------------------------------------------------------------------------

    def ensure_image(self, image: str, progress: Progress | None = None) -> None:
        """Make `image` present locally, pulling it if needed."""
        self._call("oblako_ensure_image", image=_spec().validate_image(image), progress=progress)

    def build_image(
        self,
        image: str,
        context_dir: str,
        progress: Progress | None = None,
        dockerfile: str = "Dockerfile",
        build: BuildSpec | None = None,
    ) -> None:
        """Build `image` from `context_dir` with its Dockerfile (`dockerfile`: another one inside
        the context) and `build`'s target, arguments, cache sources, labels and secrets. What
        the backend cannot apply is refused before anything is built (see `unbuildable`)."""
        dockerfile = _spec().validate_dockerfile(dockerfile)
        build = build if build is not None else _spec().BuildSpec()
        refused = self.unbuildable(build)
        if refused:
            raise ConfigurationError(f"building {image}: {'; '.join(refused)}; nothing was built")
        if not os.path.isfile(os.path.join(str(context_dir), dockerfile)):
            raise InvalidSpecError("context_dir", context_dir, f"must be a directory with a {dockerfile}")
        self._call(
            "oblako_build_image",
            image=_spec().validate_image(image),
            context_dir=os.path.abspath(context_dir),
            progress=progress,
            dockerfile=dockerfile,
            build=build,
        )

    def unbuildable(self, build: BuildSpec) -> list[str]:
        """One line per field of `build` this backend's builder cannot apply (empty: it can)."""
        return [
            f"build.{name}: the {self.name} backend cannot apply it (capability {capability!r})"
            + (f"; {BUILD_SECRETS_HINT}" if capability == "build_secrets" else "")
            for capability, names in build.needs().items()
            if capability not in self.capabilities
            for name in names
        ]

    # -- containers -------------------------------------------------------------------------

    def run(
        self,
        spec: ContainerSpec | None = None,
        /,
        *,
        service: str | None = None,
        project: str | None = None,
        **fields: Any,
    ) -> None:
        """Create and start a container from `spec`, or from ContainerSpec keyword fields.

        The keyword form is the one oblako's ``Service.start`` uses today:
        ``run(name=..., image=..., ports=..., environment=..., volumes=..., ...)``.
        """
        spec = self._runnable(spec, fields)
        log.debug("run %s (%s) on %s", spec.name, spec.image, self.name)
        self._call("oblako_run", spec=spec.owned_by(self.name, service, project))

    def create(
        self,
        spec: ContainerSpec | None = None,
        /,
        *,
        service: str | None = None,
        project: str | None = None,
        **fields: Any,
    ) -> None:
        """Create a container as `run` does, without starting it (Compose's `up --no-start`);
        `start` (or a Service's start) starts it. Needs the capability ``create``."""
        if "create" not in self.capabilities:
            raise OblakoBackendError(
                f"the {self.name} backend cannot create a container without starting it (capability 'create')"
            )
        spec = self._runnable(spec, fields)
        log.debug("create %s (%s) on %s", spec.name, spec.image, self.name)
        self._call("oblako_create", spec=spec.owned_by(self.name, service, project, start_later=True))

    def start(self, name: str, *, project: str | None = ANY_PROJECT) -> None:
        """Start the container `name` that `create` made (or one that ended); one that runs stays
        as it is. Refuses one this layer did not make, as `stop` does."""
        if "create" not in self.capabilities:
            raise OblakoBackendError(f"the {self.name} backend cannot start a created container (capability 'create')")
        info = self._owned_or_absent(_spec().validate_name(name), False, project)
        if info is None:
            raise OblakoBackendError(f"no container {name!r} on {self.name} to start")
        if info.state != RUNNING:
            self._call("oblako_start", name=name)

    def _runnable(self, spec: ContainerSpec | None, fields: dict[str, Any]) -> ContainerSpec:
        """The spec given (or made from keyword fields), refused when this backend cannot honour it."""
        if spec is None:
            spec = _spec().ContainerSpec(**fields)
        elif fields:
            raise TypeError("pass either a ContainerSpec or keyword fields, not both")
        by_name = "service_names" in self.capabilities
        joins = by_name or "network_by_address" in self.capabilities
        if ((spec.aliases or any(n.aliases for n in spec.networks)) and not by_name) or (spec.network and not joins):
            raise OblakoBackendError(
                f"the {self.name} backend cannot give containers names that others resolve "
                "(network, aliases); reach services through their published ports instead"
            )
        if spec.health is not None and "health" not in self.capabilities:
            raise OblakoBackendError(
                f"the {self.name} backend cannot run a health check inside the container (health); "
                "check from the host instead (Service(health_check=http_check(...)))"
            )
        missing = self.unsupported(spec)
        if missing:
            named = ", ".join(f for names in missing.values() for f in names)
            raise OblakoBackendError(
                f"the {self.name} backend cannot apply {named} (capabilities {', '.join(sorted(missing))}); "
                "leave them out of the spec, or use a backend that has them (`oblako-backends list`)"
            )
        return spec

    def unsupported(self, spec: ContainerSpec) -> dict[str, tuple[str, ...]]:
        """The options `spec` sets that this backend cannot apply: capability -> fields."""
        return {c: fields for c, fields in spec.needs().items() if c not in self.capabilities}

    def exec(
        self,
        name: str,
        command: Sequence[str],
        *,
        environment: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        user: str | None = None,
        output: Callable[[bytes], None] | None = None,
        timeout: float | None = None,
        adopt: bool = False,
        project: str | None = ANY_PROJECT,
    ) -> int:
        """Run `command` in the running container `name`; return its exit code. Its output goes
        to `output` as written (None: discarded). Only in a container this layer made (with
        `adopt`, also one that carries no owner's labels), as `stop` refuses."""
        spec = _spec()
        argv, env, workdir, as_user = spec.exec_arguments(command, environment or {}, working_dir, user)
        wait = None if timeout is None else spec.validate_seconds("timeout", timeout, allow_zero=False)
        if self._owned_or_absent(spec.validate_name(name), adopt, project) is None:
            raise OblakoBackendError(f"no container {name!r} on {self.name}; start it first")
        code: int = self._required(
            "oblako_exec",
            name=name,
            command=argv,
            environment=env,
            working_dir=workdir,
            user=as_user,
            output=output or (lambda _chunk: None),
            timeout=wait,
        )
        return code

    def top(self, name: str, *, project: str | None = ANY_PROJECT) -> Processes:
        """The processes running in container `name` (one this layer made), as `docker top`
        lists them. Needs the capability ``top``."""
        if "top" not in self.capabilities:
            raise OblakoBackendError(f"the {self.name} backend cannot list a container's processes (capability 'top')")
        info = self._owned_or_absent(_spec().validate_name(name), False, project)
        if info is None or info.state != RUNNING:
            raise OblakoBackendError(f"{name!r} is not running on {self.name}: it has no processes to list")
        found: Processes = self._required("oblako_top", name=name)
        return found

    def inspect(self, name: str) -> ContainerInfo | None:
        """Describe the container called `name`, or None if there is none."""
        info: ContainerInfo | None = self._call("oblako_inspect", name=_spec().validate_name(name))
        return info

    def status(self, name: str) -> State:
        """running, stopped or absent."""
        info = self.inspect(name)
        return info.state if info is not None else ABSENT

    def logs(
        self,
        name: str,
        tail: int = 50,
        *,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> str:
        """The last `tail` log lines (written between `since` and `until`, seconds since the
        epoch, when given; each after its moment with `timestamps`); "" when the container is gone."""
        window = self._log_window(since, until, timestamps)
        text: str = self._required("oblako_logs", name=_spec().validate_name(name), tail=_tail(tail), **window)
        return text

    def follow_logs(
        self,
        name: str,
        tail: int = 0,
        *,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> LogStream:
        """The last `tail` lines, then new ones as written. Close it (or leave a `with`) to stop.
        `since`, `until`, `timestamps` as for `logs`."""
        window = self._log_window(since, until, timestamps)
        stream: LogStream = self._required(
            "oblako_follow_logs", name=_spec().validate_name(name), tail=_tail(tail), **window
        )
        return stream

    def _log_window(self, since: float | None, until: float | None, timestamps: bool) -> dict[str, Any]:
        """The hooks' since/until/timestamps, refused on a backend that would not honour them."""
        if (since is not None or until is not None or timestamps) and "log_times" not in self.capabilities:
            raise OblakoBackendError(
                f"the {self.name} backend cannot select log lines by time or show when each was written "
                "(capability 'log_times'); leave out --since, --until and --timestamps"
            )
        seconds = _spec().validate_seconds
        return {
            "since": None if since is None else seconds("since", since),
            "until": None if until is None else seconds("until", until),
            "timestamps": bool(timestamps),
        }

    def stop(
        self,
        name: str,
        timeout: float = 10.0,
        *,
        adopt: bool = False,
        project: str | None = ANY_PROJECT,
        seen: ContainerInfo | None = None,
    ) -> ContainerInfo | None:
        """Stop gracefully, then remove; return what was stopped (None when absent).

        Refuses a container it did not make (with `adopt`, except one that carries no owner's
        labels at all), and, when `project` is given, one of another project (None: of none).
        `seen`: this container as `list()` gave it moments ago, with its ID: checked instead of
        asking the runtime again, and then only that container (by its ID) is stopped (`down`
        of many containers asks once for all).
        """
        grace = _spec().validate_seconds("timeout", timeout)
        if seen is not None and seen.id and seen.name == name and self._stops_by_id():
            info: ContainerInfo | None = self._checked(seen, adopt, project)
        else:
            info = self._owned_or_absent(name, adopt, project)
        if info is not None:
            log.debug("stop %s on %s (%g s grace)", name, self.name, grace)
            self._call("oblako_stop", name=name, timeout=grace, container_id=info.id)
        return info

    def remove(self, name: str, *, adopt: bool = False, project: str | None = ANY_PROJECT) -> ContainerInfo | None:
        """Remove at once, running or not; return what was removed. Idempotent; refuses as `stop` does."""
        info = self._owned_or_absent(name, adopt, project)
        if info is not None:
            log.debug("remove %s on %s", name, self.name)
            self._call("oblako_remove", name=name)
        return info

    def create_volume(self, name: str, project: str | None = None, labels: Mapping[str, str] | None = None) -> bool:
        """Create named volume `name` with ownership labels (and `labels`, a Compose file's),
        unless it exists (then untouched). True when this call created it: only such a volume
        is ever removed by `remove_volume`."""
        given = _spec().NetworkOptions(labels=labels or {}).labels  # checked as a container's labels are
        return self._create_labelled("volume", _spec().validate_volume_name(name), project, given)

    def remove_volume(self, name: str, project: str | None = None) -> bool:
        """Remove named volume `name` and its data if this layer created it (for `project`, when
        given). False when there is no such volume; NotOwnedError for one that is not ours."""
        return self._remove_labelled("volume", _spec().validate_volume_name(name), project, "its data was left alone")

    def create_network(
        self, name: str, project: str | None = None, containers: int = 0, options: NetworkOptions | None = None
    ) -> bool:
        """Create network `name` for containers that reach each other by alias, unless it exists;
        with room for `containers` where the backend can size it, and `options` (labels, and
        with capability ``network_options`` a driver, internal, subnets). True when this call
        created it. False, doing nothing, on a backend that needs no network for that (it
        declares ``service_names`` without the network hooks, as Kubernetes does)."""
        name = _spec().validate_network_name(name)  # refused on every backend, not only those with networks
        if isinstance(containers, bool) or not isinstance(containers, int) or containers < 0:
            raise InvalidSpecError("containers", containers, "a number of containers is a whole number, 0 or more")
        options = options or _spec().NetworkOptions()
        if options.special and "network_options" not in self.capabilities:
            raise OblakoBackendError(
                f"the {self.name} backend cannot make a network with a driver, internal or subnets "
                "(capability 'network_options'); leave them out"
            )
        if not self._implemented("oblako_create_network"):
            return False
        more = {"driver": options.driver, "internal": options.internal, "subnets": options.subnets}
        return self._create_labelled("network", name, project, options.labels, containers=containers, **more)

    def has_network(self, name: str) -> bool | None:
        """Is there a network `name`? None on a backend without networks (it cannot tell)."""
        name = _spec().validate_network_name(name)
        if not self._implemented("oblako_network_labels"):
            return None
        return self._call("oblako_network_labels", name=name) is not None

    def network_capacity(self, name: str) -> NetworkCapacity | None:
        """How many containers network `name` can hold and which are attached now; None when
        there is no such network, or the backend knows no limit (or has no networks)."""
        name = _spec().validate_network_name(name)
        if not self._implemented("oblako_network_capacity"):
            return None
        found: NetworkCapacity | None = self._call("oblako_network_capacity", name=name)
        return found

    def remove_network(self, name: str, project: str | None = None) -> bool:
        """Remove network `name` if this layer created it (for `project`, when given). False when
        there is none (or the backend has no networks); NotOwnedError for one that is not ours."""
        name = _spec().validate_network_name(name)
        if not self._implemented("oblako_create_network"):
            return False
        return self._remove_labelled("network", name, project, "it was left alone")

    def _create_labelled(
        self, kind: str, name: str, project: str | None, given: Mapping[str, str] | None = None, **more: Any
    ) -> bool:
        labels = {**(given or {}), MANAGED_BY_LABEL: MANAGED_BY_VALUE, BACKEND_LABEL: self.name}
        if project is not None:
            labels[PROJECT_LABEL] = _spec().validate_project(project)
        return bool(self._call(f"oblako_create_{kind}", name=name, labels=labels, **more))

    def _remove_labelled(self, kind: str, name: str, project: str | None, kept: str) -> bool:
        labels = self._call(f"oblako_{kind}_labels", name=name)
        if labels is None:
            return False
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE or (project and labels.get(PROJECT_LABEL) != project):
            raise NotOwnedError(
                f"{kind} {name!r} was not created by "
                f"{'project ' + repr(project) if project else 'oblako-backends'}; {kept}"
            )
        self._call(f"oblako_remove_{kind}", name=name)
        return True

    def list(self) -> list[ContainerInfo]:
        """Every container this layer created on this runtime."""
        found: list[ContainerInfo] = self._required("oblako_list")
        return sorted(found, key=lambda c: c.name)

    # -- the runtime ------------------------------------------------------------------------

    def probe(self, timeout: float | None = None) -> Probe:
        """Is the runtime reachable within `timeout` seconds, and what is it?"""
        deadline = (
            config.probe_timeout()
            if timeout is None
            else _spec().validate_seconds("timeout", timeout, allow_zero=False)
        )
        probe: Probe = self._required("oblako_probe", timeout=deadline)
        return probe

    def docker_client(self) -> Any:
        """A docker-py client for this runtime, or None when it has no Docker Engine API."""
        if not self._implemented("oblako_docker_client"):
            return None
        return self._pm.hook.oblako_docker_client()

    # -- plumbing ---------------------------------------------------------------------------

    def _owned_or_absent(
        self, name: str, adopt: bool = False, project: str | None = ANY_PROJECT
    ) -> ContainerInfo | None:
        info = self.inspect(name)
        return None if info is None else self._checked(info, adopt, project)

    def _checked(self, info: ContainerInfo, adopt: bool = False, project: str | None = ANY_PROJECT) -> ContainerInfo:
        """`info`, when this layer may act on its container; else NotOwnedError."""
        name = info.name
        if not info.owned and not (adopt and info.adoptable):
            raise NotOwnedError(
                f"container {name!r} exists on {self.name} but was not created by oblako-backends "
                f"(it lacks the label {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}), so it was left "
                "alone. Remove it with your runtime's own CLI, or use another name."
            )
        refuse_other_project(info, project)
        return info

    def _stops_by_id(self) -> bool:
        """Does every `oblako_stop` take `container_id`? Only then may a check against a listing
        stand for a fresh one: a backend that stops by name could hit a container replaced since."""
        return all("container_id" in i.argnames for i in self._pm.hook.oblako_stop.get_hookimpls())

    def _implemented(self, hook_name: str) -> bool:
        caller = getattr(self._pm.hook, hook_name)
        return any(not (i.hookwrapper or i.wrapper) for i in caller.get_hookimpls())

    def _call(self, hook_name: str, **kwargs: Any) -> Any:
        if not self._implemented(hook_name):
            what = hook_name.removeprefix("oblako_").replace("_", " ")
            raise OblakoBackendError(f"the {self.name} backend does not support {what}")
        return getattr(self._pm.hook, hook_name)(**kwargs)

    def _required(self, hook_name: str, **kwargs: Any) -> Any:
        result = self._call(hook_name, **kwargs)
        if result is None:
            raise OblakoBackendError(f"the {self.name} backend returned nothing from {hook_name} (a plugin bug)")
        return result
