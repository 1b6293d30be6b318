"""Colima: a Docker Engine in a VM, reached through the socket Colima forwards to the host.

Only where the socket is differs from the docker backend (`endpoint.candidates`), and what
to do when it is missing: start Colima.
"""

from __future__ import annotations

import os

from oblako_backend_docker import DockerPlugin, Endpoint
from oblako_backends import ConfigurationError, config as core_config

from . import endpoints


class ColimaPlugin(DockerPlugin):
    """Containers on Colima's Docker Engine."""

    runtime = "colima"

    @property
    def start_hint(self) -> str:  # type: ignore[override]
        try:
            name = endpoints.profile(os.environ)
        except ConfigurationError:
            name = "default"  # the bad value is reported where it is read
        flag = "" if name == "default" else f" --profile {name}"
        return f"Start Colima with `colima start{flag}`, or point DOCKER_HOST at its socket."

    def candidates(self) -> list[Endpoint]:
        return endpoints.candidates(self._base_url, timeout=core_config.probe_timeout())
