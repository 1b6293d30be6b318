"""What the Engine API is asked for, for each of Compose's container options (no engine: the
pure conversions in convert.py). That the engine then does it is the contract suite's part."""

from __future__ import annotations

import io
import tarfile

from oblako_backend_docker import convert
from oblako_backends import ContainerSpec
from oblako_backends.options import FileSpec

IMAGE = "busybox:1.36"


def test_a_spec_without_options_asks_for_nothing_new() -> None:
    spec = ContainerSpec(name="plain", image=IMAGE, ports={"80/tcp": 8080})
    assert convert.host_options(spec) == {}
    assert convert.container_options(spec) == {}
    assert convert.exposed_ports(spec) == [(80, "tcp")]


def test_every_host_option_is_passed_in_the_engine_s_units() -> None:
    spec = ContainerSpec(
        name="db",
        image=IMAGE,
        tmpfs={"/run": "size=1m"},
        init=True,
        restart="on-failure:3",
        dns=["192.0.2.53"],
        dns_search=["corp.example"],
        cap_add=["NET_ADMIN"],
        cap_drop=["NET_RAW"],
        privileged=True,
        security_opt=["no-new-privileges:true"],
        read_only=True,
        shm_size=64 * 1024**2,
        mem_limit=128 * 1024**2,
        mem_reservation=32 * 1024**2,
        cpus=0.5,
        pids_limit=100,
        ulimits={"nofile": (512, 1024)},
        sysctls={"net.core.somaxconn": "1024"},
        devices=["/dev/null:/dev/extra-null:rw"],
    )
    given = convert.host_options(spec)
    ulimits = given.pop("ulimits")
    assert [(u.name, u.soft, u.hard) for u in ulimits] == [("nofile", 512, 1024)]
    assert given == {
        "tmpfs": {"/run": "size=1m"},
        "init": True,
        "restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3},
        "dns": ["192.0.2.53"],
        "dns_search": ["corp.example"],
        "cap_add": ["NET_ADMIN"],
        "cap_drop": ["NET_RAW"],
        "privileged": True,
        "security_opt": ["no-new-privileges:true"],
        "read_only": True,
        "shm_size": 64 * 1024**2,
        "mem_limit": 128 * 1024**2,
        "mem_reservation": 32 * 1024**2,
        "nano_cpus": 500_000_000,
        "pids_limit": 100,
        "sysctls": {"net.core.somaxconn": "1024"},
        "devices": ["/dev/null:/dev/extra-null:rw"],
    }


def test_every_restart_policy_keeps_its_name_and_count() -> None:
    assert convert.restart_policy(None) is None
    assert convert.restart_policy("always") == {"Name": "always", "MaximumRetryCount": 0}
    assert convert.restart_policy("unless-stopped") == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert convert.restart_policy("on-failure") == {"Name": "on-failure", "MaximumRetryCount": 0}
    assert convert.restart_policy("on-failure:5") == {"Name": "on-failure", "MaximumRetryCount": 5}


def test_container_options_round_the_grace_period_up_and_expose_adds_ports_once() -> None:
    spec = ContainerSpec(
        name="app",
        image=IMAGE,
        ports={"8080/tcp": 8080},
        expose=["8080", "9090/udp", "7070"],
        hostname="app",
        domainname="corp.example",
        stdin_open=True,
        tty=True,
        stop_signal="SIGUSR1",
        stop_grace_period=1.5,
        platform="linux/amd64",
    )
    assert convert.container_options(spec) == {
        "hostname": "app",
        "domainname": "corp.example",
        "stdin_open": True,
        "tty": True,
        "stop_signal": "SIGUSR1",
        "stop_timeout": 2,
        "platform": "linux/amd64",
    }
    assert convert.exposed_ports(spec) == [(8080, "tcp"), (7070, "tcp"), (9090, "udp")]


def test_the_files_archive_holds_each_file_at_its_target_with_its_mode_and_parents() -> None:
    files = (
        FileSpec("/run/secrets/token", b"s3cret\n", 0o400),
        FileSpec("/etc/app/conf.d/app.conf", b"a=1\n"),
    )
    with tarfile.open(fileobj=io.BytesIO(convert.files_archive(files))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == [
            "etc",
            "etc/app",
            "etc/app/conf.d",
            "etc/app/conf.d/app.conf",
            "run",
            "run/secrets",
            "run/secrets/token",
        ]
        assert all(members[d].isdir() for d in ("etc", "etc/app", "run", "run/secrets"))
        token = members["run/secrets/token"]
        assert (token.mode, token.uid, token.gid) == (0o400, 0, 0)
        assert tar.extractfile(token).read() == b"s3cret\n"  # type: ignore[union-attr]
        assert members["etc/app/conf.d/app.conf"].mode == 0o444


def test_each_network_is_joined_with_its_aliases_and_fixed_address_only_when_given() -> None:
    from oblako_backends import NetworkAttachment

    assert convert.endpoint_options(NetworkAttachment("n")) == {}
    assert convert.endpoint_options(NetworkAttachment("n", ("web", "www"), "10.5.0.7")) == {
        "aliases": ["web", "www"],
        "ipv4_address": "10.5.0.7",
    }


def test_a_network_is_made_as_a_bridge_unless_told_with_internal_and_subnets_only_when_given() -> None:
    assert convert.network_options(None, False, ()) == {"driver": "bridge"}
    made = convert.network_options("macvlan", True, ("10.5.0.0/24", "fd00:5::/64"))
    assert (made["driver"], made["internal"], made["enable_ipv6"]) == ("macvlan", True, True)
    assert [p["Subnet"] for p in made["ipam"]["Config"]] == ["10.5.0.0/24", "fd00:5::/64"]
