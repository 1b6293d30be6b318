"""One connection to an engine, and what the plugin learns over it.

A reconnect (the engine restarted, or another answers at the endpoint now) makes a new
`Connection`, so nothing learnt from the old engine (gateways, network IDs, where its ports
are) outlives it: there is nothing to reset by hand.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from .convert import Engine
from .endpoints import Endpoint


@dataclass
class Connection:
    """The low-level client of one engine and the caches that belong to it."""

    api: Any  # docker-py's APIClient, at the API version both sides speak
    endpoint: Endpoint
    engine: Engine
    client: Any = None  # docker-py's DockerClient (oblako_docker_client), made when first asked
    gateways: dict[str, str] = field(default_factory=dict)  # network: its IPv4 gateway ("" none)
    host_gateways: dict[str, str] = field(default_factory=dict)  # network: its gateway if it leads to the host
    network_ids: dict[str, str] = field(default_factory=dict)  # network name: ID
    engine_host: str | None = None  # where its published ports are, seen from here (DockerPlugin.engine_host)
    beside: str | None = None  # the host's address on its bridge, from a container beside it
    libpod_host: dict[str, Any] | None = None  # Podman's /libpod/info `host` part, read once
    routed: dict[str, bool] = field(default_factory=dict)  # gateway: is it this machine (containers routable)

    def close(self) -> None:
        for client in (self.api, self.client):
            if client is not None:
                with suppress(Exception):
                    client.close()


def ping(client: Any, timeout: float) -> Any:
    """GET /_ping within `timeout` s (docker-py's ping() takes no deadline of its own)."""
    return client._get(client._url("/_ping", versioned_api=False), timeout=timeout)


def engine_from_ping(client: Any, timeout: float) -> Engine | None:
    """From /_ping's headers ("Server: Docker/20.10.24 (linux)", "Server: Libpod/4.3.1 (linux)",
    "Api-Version: 1.41"); None when they do not say, or the answer is not an engine's OK."""
    response = ping(client, timeout)
    headers = response.headers
    if response.status_code != 200 or not headers.get("Api-Version"):
        return None
    product, _, rest = str(headers.get("Server", "")).partition("/")
    version = rest.split(" ", 1)[0]
    if product == "Libpod" or headers.get("Libpod-Api-Version"):
        return Engine("Podman Engine", headers.get("Libpod-Api-Version") or version, headers["Api-Version"])
    return Engine("Docker Engine", version, headers["Api-Version"])
