"""`doctor --reach IMAGE`: who reaches a fixed published port, measured with real containers.

Whether a container reaches another's published port through the host depends on the
engine, not on this layer: a stock Docker Engine's iptables drop traffic between bridge
networks, a rootless Podman forwards ports through a process of its user, a private engine
without iptables lets everything through. Rather than guess, `doctor` starts a listener on a
project network with a fixed host port and fetches it from this host, from a container on
the engine's default network and from one on the project's network, each the way `up`'s
services do it (host.docker.internal, mapped to host-gateway). Everything it starts carries
this layer's labels and a project of its own, and is removed again, also on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import urllib.error
import urllib.request
import uuid
import warnings
from dataclasses import asdict, dataclass

from .backend import Backend
from .commands import free_port
from .errors import OblakoBackendError, ServiceNotReadyError
from .project.model import default_network
from .service import Service, log_check
from .spec import HOST_GATEWAY

LISTENER_PORT = 8080
GATEWAY_NAME = "host.docker.internal"
REACHED, MISSED = "oblako-reach: reached", "oblako-reach: missed"
PAGE = "oblako-doctor"
CLIENT_SECONDS = 10  # each client's fetch gives up after this
WAIT_SECONDS = 60.0  # for the listener to listen and for each client to report


@dataclass(frozen=True)
class Reach:
    """One vantage point's fetch of the listener's fixed host port."""

    vantage: str  # "this host", "the default network", "the project network"
    reached: bool
    address: str  # what it connected to: "127.0.0.1:18400", "host.docker.internal:18400"
    via: str  # how: "loopback", or the address the name led to and who forwards the port
    error: str = ""  # why not, in the fetcher's own words

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def measure(backend: Backend, image: str) -> list[Reach]:
    """Start the listener and the clients, fetch, report, remove everything again."""
    project = f"oblako-doctor-{uuid.uuid4().hex[:8]}"
    port = free_port()
    network = default_network(project)
    listener = Service(
        "listener",
        image,
        backend=backend,
        container_name=f"{project}-listener",
        project=project,
        network=network,
        ports={str(LISTENER_PORT): port},
        command=["sh", "-c", _serve()],
        health_check=log_check("listening"),
    )
    clients = {
        "the default network": _client(backend, image, project, "default", port, network=None),
        "the project network": _client(backend, image, project, "project", port, network=network),
    }
    backend.ensure_image(image)
    try:
        backend.create_network(network, project)
        listener.start()
        listener.wait_ready(WAIT_SECONDS)
        found = [_from_host(listener, port)]
        with warnings.catch_warnings():  # the report says which name a client used, and why
            warnings.simplefilter("ignore", UserWarning)
            for client in clients.values():
                client.start()
        found += [_from_client(vantage, client, port) for vantage, client in clients.items()]
        return found
    finally:
        for service in (*clients.values(), listener):  # what failed to go shows in `ps`
            with contextlib.suppress(OblakoBackendError):
                service.stop()
        with contextlib.suppress(OblakoBackendError):
            backend.remove_network(network, project)


def _serve() -> str:
    # "listening" once httpd answers inside the container, so the first fetch from the host
    # measures the engine's forwarding and never races the server's start.
    return (
        f"mkdir -p /tmp/www && echo {PAGE} > /tmp/www/index.html && trap 'exit 0' TERM; "
        f"httpd -f -p {LISTENER_PORT} -h /tmp/www & "
        f"until wget -q -O /dev/null http://127.0.0.1:{LISTENER_PORT}/; do sleep 0.1 2>/dev/null || sleep 1; done; "
        "echo listening; wait"
    )


def _client(backend: Backend, image: str, project: str, role: str, port: int, network: str | None) -> Service:
    # host.docker.internal as `up`'s services name the host; where the engine has no
    # host-gateway (rootless Podman) the layer leaves it out, and Podman's own name is used.
    fetch = (
        "for name in host.docker.internal host.containers.internal; do "
        "address=$(awk -v n=$name '$2 == n {print $1; exit}' /etc/hosts); "
        'test -n "$address" && break; done; '
        'echo "gateway $name $address"; '
        f'if timeout {CLIENT_SECONDS} wget -q -O - "http://$name:{port}/" 2>&1; '
        f"then echo '{REACHED}'; else echo '{MISSED}'; fi; "
        "trap 'exit 0' TERM; sleep 600 & wait"
    )
    return Service(
        role,
        image,
        backend=backend,
        container_name=f"{project}-{role}",
        project=project,
        network=network,
        extra_hosts={GATEWAY_NAME: HOST_GATEWAY},
        command=["sh", "-c", fetch],
    )


def _from_host(listener: Service, port: int) -> Reach:
    where = listener.endpoint(LISTENER_PORT)
    if where is None:
        return Reach("this host", False, f"?:{port}", "-", "the engine reports no published address")
    host, published = where
    via = "loopback" if host.startswith("127.") or host == "::1" else f"the address {host}"
    try:
        with urllib.request.urlopen(f"http://{_url_host(host)}:{published}/", timeout=CLIENT_SECONDS) as reply:
            body = reply.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as exc:
        return Reach("this host", False, f"{host}:{published}", via, str(exc))
    if PAGE not in body:
        return Reach("this host", False, f"{host}:{published}", via, "another server answered")
    return Reach("this host", True, f"{host}:{published}", via)


def _reported(service: Service, info: object) -> bool:
    """The client's readiness: it has said whether it reached the listener."""
    return any(word in service.logs(tail=50) for word in (REACHED, MISSED))


def _from_client(vantage: str, client: Service, port: int) -> Reach:
    with contextlib.suppress(ServiceNotReadyError):  # a client that never reports: said below
        client.wait_ready(WAIT_SECONDS, _reported)
    logs = client.logs(tail=50)
    said = next((line.split() for line in logs.splitlines() if line.startswith("gateway ")), [])
    name, gateway = (said[1], said[2]) if len(said) == 3 else (GATEWAY_NAME, "")
    address = f"{name}:{port}"
    via = f"{gateway}, the engine forwarding the port" if gateway else "no address: the name is not in /etc/hosts"
    if REACHED in logs and PAGE in logs:
        return Reach(vantage, True, address, via)
    words = [line for line in logs.splitlines() if line and not line.startswith(("gateway ", "oblako-reach"))]
    error = words[-1] if words else ("timed out" if MISSED in logs else "the client reported nothing")
    return Reach(vantage, False, address, via, error)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
