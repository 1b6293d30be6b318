"""Where the bridge gateway is, from each way a real engine reports it (issue: a stock Docker
Engine lists its default bridge's subnet only, so services could not reach each other
through the host).

The engine here is Docker Engine as a distribution starts it (the harness's stock engine):
its default bridge is docker0, and it answers `GET /networks/bridge` without a `Gateway`.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import docker
import pytest
import runtimes
from oblako_backend_docker import gateways
from oblako_backends import get_backend

IMAGE = runtimes.TEST_IMAGE


@pytest.fixture
def api(stock_docker_engine: runtimes.Daemon) -> Iterator[docker.APIClient]:
    client = docker.APIClient(base_url=stock_docker_engine.url, version="auto", timeout=60)
    yield client
    client.close()


def interface_ipv4(name: str) -> str:
    """The interface's IPv4 address as `ip` reports it (not the code under test's way)."""
    ip = runtimes.locate("ip") or "ip"
    out = subprocess.run([ip, "-o", "-4", "addr", "show", "dev", name], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.split(" inet ", 1)[1].split("/", 1)[0]


def engine_state(api: docker.APIClient) -> tuple[set[str], set[str]]:
    """Every container and image the engine has, by ID."""
    return {c["Id"] for c in api.containers(all=True)}, {i["Id"] for i in api.images(all=True)}


def probes_since(api: docker.APIClient, since: float) -> list[str]:
    """The host-gateway probe containers the engine created since `since`, by image."""
    created = {"type": "container", "event": "create"}
    events = api.events(since=since, until=time.time() + 1, filters=created, decode=True)
    images = [e["Actor"]["Attributes"].get("image", "") for e in events]
    return [image for image in images if image.startswith("oblako-backends/host-gateway-probe")]


def test_a_stock_engine_reports_only_docker0s_subnet_so_its_interface_tells(
    stock_docker_engine: runtimes.Daemon, api: docker.APIClient
) -> None:
    answer = api.inspect_network("bridge")
    assert gateways.ipam_gateway(answer) == "", "the stock engine's real answer lists no Gateway"
    assert answer["Options"][gateways.BRIDGE_NAME_OPTION] == "docker0"
    since = time.time() - 1
    plugin = get_backend("docker", base_url=stock_docker_engine.url).plugin
    assert plugin.host_gateway() == interface_ipv4("docker0")
    assert "fixed host ports also on the bridge gateway" in plugin.listening()
    assert probes_since(api, since) == [], "the interface told: no probe container was needed"


def test_a_network_the_engine_makes_lists_its_gateway_which_is_taken_as_it_is(
    stock_docker_engine: runtimes.Daemon, api: docker.APIClient
) -> None:
    name = f"t-gw-{uuid.uuid4().hex[:6]}"
    created = api.create_network(name, driver="bridge")
    try:
        answer = api.inspect_network(created["Id"])
        gateway = gateways.ipam_gateway(answer)
        assert gateway, "a network the engine makes on request lists its Gateway"
        assert interface_ipv4(f"br-{created['Id'][:12]}") == gateway
        plugin = get_backend("docker", base_url=stock_docker_engine.url).plugin
        assert plugin.host_gateway(name) == gateway
    finally:
        api.remove_network(created["Id"])


def test_where_host_gateway_leads_is_asked_of_the_engine_and_the_probe_leaves_nothing(
    stock_docker_engine: runtimes.Daemon, api: docker.APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where neither the answer nor an interface tells (in a CI job container beside the
    engine, docker0 is not one of its interfaces), the engine is asked what `host-gateway`
    resolves to, the same answer a running container gets."""
    reference = api.create_container(
        IMAGE, command=["cat", "/etc/hosts"], host_config=api.create_host_config(extra_hosts={"h": "host-gateway"})
    )
    try:
        api.start(reference["Id"])
        api.wait(reference["Id"], timeout=60)
        logs = api.logs(reference["Id"]).decode()
    finally:
        api.remove_container(reference["Id"], force=True)
    resolved = next(line.split()[0] for line in logs.splitlines() if line.split()[1:] == ["h"])

    monkeypatch.setattr(gateways, "interface_address", lambda name: "")  # no docker0 where this runs
    before, since = engine_state(api), time.time() - 1
    plugin = get_backend("docker", base_url=stock_docker_engine.url).plugin
    assert plugin.where_host_gateway_leads() == resolved
    assert len(probes_since(api, since)) == 1  # the engine was asked
    assert plugin.host_gateway() == resolved  # the whole chain ends there too
    assert engine_state(api) == before, "the probe's container and image are gone"


def test_a_hosts_file_is_read_for_the_names_ipv4_address_only() -> None:
    import io
    import tarfile

    text = "127.0.0.1\tlocalhost\n# 10.0.0.9 h\n::1 h\n172.17.0.1\tother h  # the gateway\n"
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("hosts")
        info.size = len(text.encode())
        tar.addfile(info, io.BytesIO(text.encode()))
    assert gateways.hosts_entry(data.getvalue(), "h") == "172.17.0.1"
    assert gateways.hosts_entry(data.getvalue(), "missing") == ""


def test_an_interface_outside_the_networks_subnets_is_not_its_gateway() -> None:
    """A bridge of the same name from another engine (another subnet) is not this network's."""
    network = {"Options": {gateways.BRIDGE_NAME_OPTION: "lo"}, "IPAM": {"Config": [{"Subnet": "172.17.0.0/16"}]}}
    assert gateways.bridge_interface_gateway(network) == ""
    network["IPAM"] = {"Config": [{"Subnet": "127.0.0.0/8"}]}
    assert gateways.bridge_interface_gateway(network) == "127.0.0.1"
    assert gateways.interface_address("no-such-if0") == ""
