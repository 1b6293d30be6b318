"""The container contract every backend plugin implements.

Only the selected backend's plugin is registered, so each hook has one implementation;
extension plugins may wrap it (``@hookimpl(wrapper=True)``). Callers never use these hooks
directly: they go through `oblako_backends.Backend`, which validates input, checks ownership
and turns a missing implementation into a clear error.

Every hook that talks to a runtime must finish within a deadline of the plugin's choosing
and raise `RuntimeUnavailableError` when the runtime does not answer.

.. versionadded:: 0.1
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

from .models import ContainerInfo, LogStream, NetworkCapacity, Probe, Processes

if TYPE_CHECKING:  # only named in signatures: quick paths need not load the validators
    from .spec import BuildSpec, ContainerSpec

PROJECT = "oblako"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

Progress = Callable[[str], None]


class BackendPlugin(Protocol):
    """What the core reads from a backend plugin besides its hooks; each part is optional.

    - ``capabilities``: the optional features it supports, names from
      `oblako_backends.models.CAPABILITIES`, known without touching the runtime (the probe
      reports the same set). Default: none.
    - ``unavailable_here()``: a static method of what the entry point names: why the runtime
      cannot run on this machine at all (`list` shows it, `auto` skips it), or None. Default:
      it can.

    Read only through `declared_capabilities` and `unavailable_here`, which apply the defaults;
    the contract suite checks both.
    """

    capabilities: frozenset[str]

    @staticmethod
    def unavailable_here() -> str | None: ...


def declared_capabilities(plugin: object) -> frozenset[str]:
    """The plugin's `capabilities` (none when it declares none, or something else than names)."""
    declared: object = getattr(plugin, "capabilities", frozenset())
    if not isinstance(declared, (set, frozenset, tuple, list)):
        return frozenset()
    return frozenset(c for c in declared if isinstance(c, str))


def unavailable_here(factory: object) -> str | None:
    """Why the runtime of the plugin `factory` makes cannot run on this machine, or None."""
    here = getattr(factory, "unavailable_here", None)
    said = here() if callable(here) else None
    return said if isinstance(said, str) and said else None


@hookspec
def oblako_ensure_image(image: str, progress: Progress | None) -> None:
    """Make `image` present locally, pulling it if needed.

    :param image: a validated image reference.
    :param progress: called with one human-readable line per progress step of a pull, or None.
    :raises ImageNotFoundError: the image is neither local nor pullable.
    Called by `Backend.ensure_image` and by anyone who wants to pay the pull up front.
    """


@hookspec
def oblako_build_image(
    image: str, context_dir: str, progress: Progress | None, dockerfile: str, build: BuildSpec
) -> None:
    """Build `image` from `context_dir` (an existing directory) with the Dockerfile at
    `dockerfile`, a path inside the context relative to it ("Dockerfile" unless told otherwise).

    `build` carries Compose's other build keys. Only what the plugin's capabilities
    ("build_options", "build_secrets") promise is ever set in it: the core refuses the rest
    before calling. An implementation written before `build` existed may leave it out of its
    parameters (pluggy passes an implementation only the arguments it names).

    :raises OblakoBackendError: the build failed (message carries the builder's output) or the
        runtime has no builder (message says what to do instead).
    """


@hookspec
def oblako_run(spec: ContainerSpec) -> None:
    """Create and start a detached container from `spec`; pull its image if it is missing.

    `spec.labels` already carries the ownership labels and must be applied as given.
    Published ports listen on the loopback address unless the user configured otherwise.

    :raises PortInUseError: a host port is taken (nothing is left behind).
    :raises ImageNotFoundError: the image cannot be found or pulled.
    :raises OblakoBackendError: a container of that name already exists, or the runtime refused.
    """


@hookspec
def oblako_create(spec: ContainerSpec) -> None:
    """Create a container from `spec` as `oblako_run` does, but do not start it (Compose's
    `up --no-start`). Optional (capability ``create``), with `oblako_start`.

    :raises ImageNotFoundError: the image cannot be found or pulled.
    :raises OblakoBackendError: a container of that name already exists, or the runtime refused.
    """


@hookspec
def oblako_start(name: str) -> None:
    """Start the container `name`, created by `oblako_create` (or one that ended). Starting one
    that runs is not an error. Optional (capability ``create``).

    :raises PortInUseError: a host port it publishes is taken.
    :raises OblakoBackendError: there is no such container, or the runtime refused.
    """


@hookspec(firstresult=True)
def oblako_inspect(name: str) -> ContainerInfo | None:
    """Describe the container called `name`, or return None when there is none.

    This is the status hook: `Backend.status` derives running / stopped / absent from it, and
    `Service.start` uses its labels to tell a current container from a stale one.
    """


@hookspec(firstresult=True)
def oblako_exec(
    name: str,
    command: tuple[str, ...],
    environment: Mapping[str, str],
    working_dir: str | None,
    user: str | None,
    output: Callable[[bytes], None],
    timeout: float | None,
) -> int:
    """Run `command` (an argv, never read by a shell) in the running container `name`, with
    `environment` added, in `working_dir` and as `user` when given, and return its exit code.

    Its output (stdout and stderr, as written) goes to `output` in chunks while it runs. No
    stdin, no terminal. Optional (capability ``exec``).

    :raises OblakoBackendError: the container does not exist or is not running.
    :raises RuntimeUnavailableError: `timeout` seconds passed (None: no limit) or the runtime
        does not answer; the command may still run.
    """


@hookspec(firstresult=True)
def oblako_top(name: str) -> Processes:
    """The processes running in the container `name` now. Optional (capability ``top``).

    :raises OblakoBackendError: the container does not exist or is not running.
    """


@hookspec(firstresult=True)
def oblako_logs(name: str, tail: int, since: float | None, until: float | None, timestamps: bool) -> str:
    """Return the last `tail` lines of the container's output (stdout and stderr).

    `since`, `until` (seconds since the epoch, None: no bound) keep the lines written in that
    window; `timestamps` starts each line with the moment it was written (RFC 3339 in UTC, as
    the runtime gives it: Docker's `2026-01-02T13:23:37.000000001Z line`), as `docker logs -t`. The three are
    given only to a backend with the capability ``log_times`` (None, None, False otherwise).
    Returns an empty string when the container does not exist.
    """


@hookspec(firstresult=True)
def oblako_follow_logs(name: str, tail: int, since: float | None, until: float | None, timestamps: bool) -> LogStream:
    """Return the last `tail` lines, then each new line as it is written, until closed.

    One request: no line written between the tail and the follow is lost or repeated.
    `since`, `until` and `timestamps` as for `oblako_logs`; with `until`, the stream ends there.

    :raises OblakoBackendError: the container does not exist.
    """


@hookspec
def oblako_stop(name: str, timeout: float, container_id: str) -> None:
    """Stop the container gracefully (kill after `timeout` seconds), then remove it.

    Named volumes are kept. Called only for a container this layer owns; a container
    that vanished meanwhile is not an error. `container_id`: the ID (`ContainerInfo.id`) of
    the container the core checked under `name`, or "" when it has none; a backend with IDs
    acts on that one container without looking the name up again (an implementation may
    leave the argument out, as pluggy allows).
    """


@hookspec
def oblako_remove(name: str) -> None:
    """Remove the container at once, running or not. Named volumes are kept.

    Called only for a container this layer owns; a missing container is not an error.
    """


@hookspec(firstresult=True)
def oblako_list() -> list[ContainerInfo]:
    """Return every container carrying this layer's ownership label, running or not.

    Backends answer with one filtered query, not one query per container.
    """


@hookspec(firstresult=True)
def oblako_create_volume(name: str, labels: Mapping[str, str]) -> bool:
    """Create the named volume `name` carrying `labels`, unless one of that name exists, which
    is then left untouched. Return True when this call created it.

    Optional (capability ``remove_volumes``): with it, `down -v` removes only what `up` made.
    """


@hookspec(firstresult=True)
def oblako_volume_labels(name: str) -> Mapping[str, str] | None:
    """Return the labels of the named volume `name` ({} when it has none), or None when there
    is no such volume. Optional (capability ``remove_volumes``)."""


@hookspec
def oblako_remove_volume(name: str) -> None:
    """Remove the named volume `name` and its data. Called only for a volume this layer
    created; a missing volume is not an error. Optional (capability ``remove_volumes``)."""


@hookspec(firstresult=True)
def oblako_create_network(
    name: str,
    labels: Mapping[str, str],
    containers: int,
    driver: str | None,
    internal: bool,
    subnets: tuple[str, ...],
) -> bool:
    """Create the network `name` carrying `labels`, on which containers whose spec names it
    reach each other by their `aliases`, unless one of that name exists (then left untouched).
    Return True when this call created it.

    `driver` (None: the runtime's bridge), `internal` (no route out) and `subnets` (its IPAM
    IPv4/IPv6 subnets) are set only for a plugin that declares ``network_options``; one without
    that capability leaves them out of its signature.

    `containers` is how many containers the project will attach (0: not known). A plugin that
    can size the network it creates makes room for them; one that cannot may ignore it (the
    caller checks with `oblako_network_capacity` and refuses a project the network cannot hold).

    Optional, with capability ``service_names``. A runtime whose containers already share one
    flat network with name resolution (Kubernetes: a namespace) declares the capability, honours
    `ContainerSpec.aliases` in `oblako_run`, and leaves the three network hooks out.
    """


@hookspec(firstresult=True)
def oblako_network_labels(name: str) -> Mapping[str, str] | None:
    """Return the labels of the network `name` ({} when it has none), or None when there is
    no such network. Optional, with `oblako_create_network`."""


@hookspec(firstresult=True)
def oblako_network_capacity(name: str) -> NetworkCapacity | None:
    """How many containers the network `name` can hold, and which are attached to it now; None
    when there is no such network or no limit is known. Optional, with `oblako_create_network`:
    without it, `up` does not check that a project fits its network.
    """


@hookspec
def oblako_remove_network(name: str) -> None:
    """Remove the network `name`. Called only for a network this layer created, after its
    containers are gone; a missing network is not an error. Optional, with `oblako_create_network`."""


@hookspec(firstresult=True)
def oblako_probe(timeout: float) -> Probe:
    """Report whether the runtime answers within `timeout` seconds, and what it is.

    Never raises for an unreachable runtime: return ``Probe(reachable=False, error=..., hint=...)``
    saying which endpoints were tried and what to do. `capabilities` names the optional
    features this backend supports (see `oblako_backends.models.CAPABILITIES`).
    """


@hookspec(firstresult=True)
def oblako_docker_client() -> Any:
    """Return a docker-py ``DockerClient`` for this runtime's Docker Engine API, or None.

    For the compute paths (Lambda exec, Glue jobs, ...) that need a Docker API and must reach
    the same daemon as the services. Backends without a Docker API return None.
    """
