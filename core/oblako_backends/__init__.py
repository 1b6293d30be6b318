"""oblako-backends: run oblako's service containers on any container runtime.

    from oblako_backends import get_backend, Service
    backend = get_backend()          # name, else $OBLAKO_CONTAINER_BACKEND, else docker
    Service("s3", "localhost/s3:1", ports={"8000/tcp": 8001}, backend=backend).start()

Names are imported on first access, so `list_backends()` in a fresh process pays only for
what listing needs (the benchmark in bench/startup.py keeps that honest).
"""

from __future__ import annotations

import importlib

# The public names: imported here for type checkers only; at run time each is imported on
# first access (__getattr__ below).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .backend import Backend as Backend
    from .errors import (
        BackendLoadError as BackendLoadError,
        ConfigurationError as ConfigurationError,
        ImageNotFoundError as ImageNotFoundError,
        InvalidSpecError as InvalidSpecError,
        NameInUseError as NameInUseError,
        NotOwnedError as NotOwnedError,
        OblakoBackendError as OblakoBackendError,
        PortInUseError as PortInUseError,
        RuntimeUnavailableError as RuntimeUnavailableError,
        ServiceNotReadyError as ServiceNotReadyError,
        UnknownBackendError as UnknownBackendError,
    )
    from .hookspecs import Progress as Progress, hookimpl as hookimpl
    from .models import (
        ABSENT as ABSENT,
        RUNNING as RUNNING,
        STOPPED as STOPPED,
        ContainerInfo as ContainerInfo,
        Health as Health,
        LogStream as LogStream,
        Probe as Probe,
        PublishedPort as PublishedPort,
        State as State,
    )
    from .plugins import (
        BackendInfo as BackendInfo,
        docker_client as docker_client,
        get_backend as get_backend,
        list_backends as list_backends,
    )
    from .service import (
        Service as Service,
        ServiceStatus as ServiceStatus,
        http_check as http_check,
        log_check as log_check,
        tcp_check as tcp_check,
    )
    from .spec import (
        ContainerSpec as ContainerSpec,
        HealthCommand as HealthCommand,
        NetworkAttachment as NetworkAttachment,
        NetworkOptions as NetworkOptions,
        PortSpec as PortSpec,
        VolumeSpec as VolumeSpec,
    )


_WHERE = {  # the same names, for __getattr__ (tests/test_docs.py checks the two agree)
    **dict.fromkeys(["Backend"], "backend"),
    **dict.fromkeys(
        [
            "BackendLoadError",
            "ConfigurationError",
            "ImageNotFoundError",
            "InvalidSpecError",
            "NameInUseError",
            "NotOwnedError",
            "OblakoBackendError",
            "PortInUseError",
            "RuntimeUnavailableError",
            "ServiceNotReadyError",
            "UnknownBackendError",
        ],
        "errors",
    ),
    **dict.fromkeys(["Progress", "hookimpl"], "hookspecs"),
    **dict.fromkeys(
        ["ABSENT", "ContainerInfo", "Health", "LogStream", "Probe", "PublishedPort", "RUNNING", "STOPPED", "State"],
        "models",
    ),
    **dict.fromkeys(["BackendInfo", "docker_client", "get_backend", "list_backends"], "plugins"),
    **dict.fromkeys(["Service", "ServiceStatus", "http_check", "log_check", "tcp_check"], "service"),
    **dict.fromkeys(
        ["ContainerSpec", "HealthCommand", "NetworkAttachment", "NetworkOptions", "PortSpec", "VolumeSpec"], "spec"
    ),
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'oblako_backends' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
