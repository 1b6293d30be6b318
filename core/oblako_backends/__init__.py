"""oblako-backends: run oblako's service containers on any container runtime.

    from oblako_backends import get_backend, Service
    backend = get_backend()          # name, else $OBLAKO_CONTAINER_BACKEND, else docker
    Service("s3", "localhost/s3:1", ports={"8000/tcp": 8001}, backend=backend).start()

Names are imported on first access, so `list_backends()` in a fresh process pays only for
what listing needs (the benchmark in bench/startup.py keeps that honest).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .backend import (
        Backend as Backend,
    )
    from .errors import (
        BackendLoadError as BackendLoadError,
    )
    from .errors import (
        ConfigurationError as ConfigurationError,
    )
    from .errors import (
        ImageNotFoundError as ImageNotFoundError,
    )
    from .errors import (
        InvalidSpecError as InvalidSpecError,
    )
    from .errors import (
        NameInUseError as NameInUseError,
    )
    from .errors import (
        NotOwnedError as NotOwnedError,
    )
    from .errors import (
        OblakoBackendError as OblakoBackendError,
    )
    from .errors import (
        PortInUseError as PortInUseError,
    )
    from .errors import (
        RuntimeUnavailableError as RuntimeUnavailableError,
    )
    from .errors import (
        ServiceNotReadyError as ServiceNotReadyError,
    )
    from .errors import (
        UnknownBackendError as UnknownBackendError,
    )
    from .hookspecs import (
        hookimpl as hookimpl,
    )
    from .models import (
        ABSENT as ABSENT,
    )
    from .models import (
        RUNNING as RUNNING,
    )
    from .models import (
        STOPPED as STOPPED,
    )
    from .models import (
        ContainerInfo as ContainerInfo,
    )
    from .models import (
        Health as Health,
    )
    from .models import (
        LogStream as LogStream,
    )
    from .models import (
        Probe as Probe,
    )
    from .models import (
        PublishedPort as PublishedPort,
    )
    from .models import (
        State as State,
    )
    from .plugins import (
        BackendInfo as BackendInfo,
    )
    from .plugins import (
        docker_client as docker_client,
    )
    from .plugins import (
        get_backend as get_backend,
    )
    from .plugins import (
        list_backends as list_backends,
    )
    from .service import (
        Service as Service,
    )
    from .service import (
        ServiceStatus as ServiceStatus,
    )
    from .service import (
        http_check as http_check,
    )
    from .service import (
        log_check as log_check,
    )
    from .service import (
        tcp_check as tcp_check,
    )
    from .spec import (
        ContainerSpec as ContainerSpec,
    )
    from .spec import (
        HealthCommand as HealthCommand,
    )
    from .spec import (
        PortSpec as PortSpec,
    )
    from .spec import (
        VolumeSpec as VolumeSpec,
    )

_WHERE = {
    "Backend": "backend",
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
    "hookimpl": "hookspecs",
    **dict.fromkeys(
        ["ABSENT", "RUNNING", "STOPPED", "ContainerInfo", "Health", "LogStream", "Probe", "PublishedPort", "State"],
        "models",
    ),
    **dict.fromkeys(["BackendInfo", "docker_client", "get_backend", "list_backends"], "plugins"),
    **dict.fromkeys(["Service", "ServiceStatus", "http_check", "log_check", "tcp_check"], "service"),
    **dict.fromkeys(["ContainerSpec", "HealthCommand", "PortSpec", "VolumeSpec"], "spec"),
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
