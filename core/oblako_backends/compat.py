"""oblako's own names on top of this layer: switching oblako over is one import.

    from oblako_backends.compat import (ABSENT, RUNNING, STOPPED, ContainerBackend, DockerBackend,
                                        KubernetesBackend, AppleContainerBackend, PortInUseError,
                                        build_k8s_manifests, docker_client, get_backend, publish)

It translates and holds no runtime logic: every call goes through the `Backend` facade
(validation, ownership labels, deadlines). Where oblako's callers rely on a looser answer
than the core API gives, the translation is here and says so:

- `status()` is a plain string, and on Kubernetes an unreachable cluster is "absent"
  (oblako's `Service.stop` asks status first and then does nothing);
- `stop()` and `remove()` also act on a same-named container that carries no owner's labels
  at all: the ones oblako made before it used this layer (logged once per container).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .backend import Backend
from .errors import PortInUseError, RuntimeUnavailableError
from .models import ABSENT as _ABSENT, RUNNING as _RUNNING, STOPPED as _STOPPED, ContainerInfo
from .plugins import docker_client as _docker_client, get_backend as _select

__all__ = [
    "ABSENT",
    "RUNNING",
    "STOPPED",
    "AppleContainerBackend",
    "ContainerBackend",
    "DockerBackend",
    "KubernetesBackend",
    "PortInUseError",
    "bind_addresses",
    "build_k8s_manifests",
    "docker_client",
    "get_backend",
    "publish",
    "wrap",
]

log = logging.getLogger(__name__)

# Plain strings, as oblako compares them (`status == RUNNING`).
RUNNING, STOPPED, ABSENT = str(_RUNNING), str(_STOPPED), str(_ABSENT)


class ContainerBackend:
    """The lifecycle oblako's `Service` drives, on whichever backend is selected."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.name = backend.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def ensure_image(self, image: str) -> None:
        self.backend.ensure_image(image)

    def build_image(self, image: str, context_dir: str) -> None:
        self.backend.build_image(image, context_dir)

    def run(
        self,
        *,
        name: str,
        image: str,
        ports: Mapping[Any, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        volumes: Mapping[str, Any] | None = None,
        extra_hosts: Mapping[str, str] | None = None,
        command: str | list[str] | None = None,
        working_dir: str | None = None,
        user: str | int | None = None,
    ) -> None:
        """Create and start a detached container (oblako's nine keywords)."""
        self.backend.run(
            name=name,
            image=image,
            ports=ports,
            environment=environment,
            volumes=volumes,
            extra_hosts=extra_hosts,
            command=command,
            working_dir=working_dir,
            user=user,
        )

    def status(self, name: str) -> str:
        """ "running", "stopped" or "absent"."""
        return str(self.backend.status(name))

    def remove(self, name: str) -> None:
        """Remove at once; also a container oblako made before this layer (no owner's labels)."""
        _note_adoption(self.backend, self.backend.remove(name, adopt=True))

    def stop(self, name: str) -> None:
        """Stop and remove; also a container oblako made before this layer (no owner's labels)."""
        _note_adoption(self.backend, self.backend.stop(name, timeout=10, adopt=True))

    def logs(self, name: str, tail: int = 50) -> str:
        return self.backend.logs(name, tail=tail)


class DockerBackend(ContainerBackend):
    """A backend with a Docker Engine API: docker, podman, colima, or any plugin declaring
    the `docker_api` capability. Decided from the plugin's declaration, without connecting."""

    @property
    def client(self) -> Any:
        """The docker-py client for the same engine (connected on first use)."""
        return self.backend.docker_client()


class KubernetesBackend(ContainerBackend):
    """Services as Kubernetes workloads."""

    def status(self, name: str) -> str:
        """As oblako expects: a cluster that cannot be reached has no such workload ("absent")."""
        try:
            return super().status(name)
        except RuntimeUnavailableError as exc:
            log.info("kubernetes is not reachable, so %s counts as absent: %s", name, str(exc).splitlines()[0])
            return ABSENT


class AppleContainerBackend(ContainerBackend):
    """Apple's `container` runtime (macOS 26+); it has no Docker Engine API."""


def get_backend(name: str | None = None) -> ContainerBackend:
    """The selected backend, wrapped in the class oblako's code checks with isinstance().

    Never connects: the class follows the plugin's declared capabilities and name.
    """
    return wrap(_select(name))


def wrap(backend: Backend) -> ContainerBackend:
    """`backend` (from `oblako_backends.get_backend`, with any options) in oblako's class for it."""
    if "docker_api" in backend.capabilities:
        return DockerBackend(backend)
    if backend.name == "kubernetes":
        return KubernetesBackend(backend)
    if backend.name == "apple":
        return AppleContainerBackend(backend)
    return ContainerBackend(backend)


def docker_client() -> Any:
    """A docker-py client for the selected Docker-API backend's engine, for oblako's compute
    paths (Lambda, Glue, SageMaker, ECS tasks); under a backend without one, the ambient Docker."""
    return _docker_client()


def bind_addresses(client: Any) -> tuple[str, ...]:
    """The host addresses a fixed port published through `client` should listen on.

    For a client from `docker_client()` these are exactly the docker plugin's (loopback, plus
    the bridge gateway where containers reach the host through it); for any other client, the
    configured bind addresses (loopback unless OBLAKO_BIND_ADDRESS widens it).
    """
    return _bindings_for(client, fixed=True)


def publish(ports: Mapping[str, Any] | None, client: Any) -> dict[str, Any] | None:
    """docker-py's `ports=` for containers started directly with docker-py: each port bound
    where the docker plugin binds its own (a random host port stays on loopback only)."""
    if ports is None:
        return None
    out: dict[str, Any] = {}
    for key, host_port in ports.items():
        if host_port is None:
            out[key] = [(address,) for address in _bindings_for(client, fixed=False)]
        else:
            out[key] = [(address, int(host_port)) for address in _bindings_for(client, fixed=True)]
    return out


def build_k8s_manifests(*, namespace: str = "oblako", **fields: Any) -> dict[str, Any]:
    """The Kubernetes objects the kubernetes backend would apply for a container, as a List.

    `fields` are `run`'s nine keywords (name, image, ports, environment, volumes, extra_hosts,
    command, working_dir, user), validated as `run` validates them.
    """
    from .spec import ContainerSpec

    try:
        from oblako_backend_kubernetes import manifests
    except ImportError:
        raise ImportError(
            "build_k8s_manifests needs the kubernetes backend: pip install 'oblako-backends[kubernetes]'"
        ) from None
    spec = ContainerSpec(**fields).owned_by("kubernetes")
    settings = manifests.Settings(namespace=manifests.namespace(namespace))
    objects, _ = manifests.build(spec, settings)
    return {"apiVersion": "v1", "kind": "List", "items": objects}


_adopted: set[tuple[str, str]] = set()


def _note_adoption(backend: Backend, acted_on: ContainerInfo | None) -> None:
    """compat acts on containers oblako made before it used this layer; say so once each."""
    if acted_on is None or acted_on.owned or (backend.name, acted_on.name) in _adopted:
        return
    _adopted.add((backend.name, acted_on.name))
    log.warning(
        "adopted %s on %s: it carried no owner's labels (made by oblako before oblako-backends)",
        acted_on.name,
        backend.name,
    )


def _bindings_for(client: Any, fixed: bool) -> tuple[str, ...]:
    """A client made by a backend of this layer knows its plugin's bindings; any other gets
    the configured addresses."""
    from . import config

    plugin_bindings = getattr(client, "oblako_bind_addresses", None)
    if callable(plugin_bindings):
        return tuple(plugin_bindings(1 if fixed else None))
    return config.bind_addresses()
