"""oblako-backends: run oblako's service containers on any container runtime.

    from oblako_backends import get_backend, Service
    backend = get_backend()          # name, else $OBLAKO_CONTAINER_BACKEND, else docker
    Service("s3", "localhost/s3:1", ports={"8000/tcp": 8001}, backend=backend).start()
"""

from .backend import Backend
from .errors import (
    BackendLoadError,
    ConfigurationError,
    ImageNotFoundError,
    InvalidSpecError,
    NotOwnedError,
    OblakoBackendError,
    PortInUseError,
    RuntimeUnavailableError,
    ServiceNotReadyError,
    UnknownBackendError,
)
from .hookspecs import hookimpl
from .models import ABSENT, RUNNING, STOPPED, ContainerInfo, LogStream, Probe, PublishedPort, State
from .plugins import BackendInfo, docker_client, get_backend, list_backends
from .service import Service, ServiceStatus, http_check, log_check, tcp_check
from .spec import ContainerSpec, PortSpec, VolumeSpec

__all__ = [
    "ABSENT",
    "RUNNING",
    "STOPPED",
    "Backend",
    "BackendInfo",
    "BackendLoadError",
    "ConfigurationError",
    "ContainerInfo",
    "ContainerSpec",
    "ImageNotFoundError",
    "InvalidSpecError",
    "LogStream",
    "NotOwnedError",
    "OblakoBackendError",
    "PortInUseError",
    "PortSpec",
    "Probe",
    "PublishedPort",
    "RuntimeUnavailableError",
    "Service",
    "ServiceNotReadyError",
    "ServiceStatus",
    "State",
    "UnknownBackendError",
    "VolumeSpec",
    "docker_client",
    "get_backend",
    "hookimpl",
    "http_check",
    "list_backends",
    "log_check",
    "tcp_check",
]
