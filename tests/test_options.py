"""ContainerSpec's Compose options: each bad value is refused naming its field, good ones
come out in the one normal form backends read, and unset ones change nothing."""

from __future__ import annotations

import pytest
from oblako_backends import InvalidSpecError
from oblako_backends.options import FIELD_CAPABILITY, FileSpec
from oblako_backends.spec import ContainerSpec


def spec(**options: object) -> ContainerSpec:
    return ContainerSpec(name="web", image="busybox", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("expose", ["0"]),
        ("expose", ["80/http"]),
        ("expose", "80"),
        ("tmpfs", ["run"]),
        ("tmpfs", {"/run": "size=1m;rm -rf"}),
        ("tmpfs", ["/a:b"]),
        ("init", "yes"),
        ("tty", 1),
        ("stop_signal", "-9"),
        ("stop_signal", "sigterm; ls"),
        ("stop_grace_period", -1),
        ("stop_grace_period", float("inf")),
        ("restart", "sometimes"),
        ("restart", "on-failure:-1"),
        ("hostname", "-bad"),
        ("hostname", "a b"),
        ("dns", ["8.8.8"]),
        ("dns", ["--dns"]),
        ("dns_search", ["-x"]),
        ("cap_add", ["net admin"]),
        ("cap_drop", "ALL"),
        ("privileged", "true"),
        ("security_opt", ["--privileged"]),
        ("shm_size", 0),
        ("mem_limit", -5),
        ("mem_limit", True),
        ("cpus", 0),
        ("cpus", float("nan")),
        ("pids_limit", -2),
        ("ulimits", {"nofile": [20, 10]}),
        ("ulimits", {"-n": 10}),
        ("sysctls", {"net.core.somaxconn": "1\n2"}),
        ("sysctls", {"--x": "1"}),
        ("devices", ["dev/fuse"]),
        ("devices", ["/dev/fuse:/dev/fuse:rwx"]),
        ("platform", "amd64"),
        ("platform", "--platform=linux/amd64"),
        ("files", [{"target": "relative", "content": b""}]),
        ("files", [{"target": "/a", "content": "text"}]),
        ("files", [{"target": "/a", "content": b"1"}, {"target": "/a", "content": b"2"}]),
    ],
)
def test_each_bad_option_is_refused_naming_its_field(field: str, bad: object) -> None:
    with pytest.raises(InvalidSpecError) as raised:
        spec(**{field: bad})
    assert field in str(raised.value)


def test_options_come_out_in_the_form_backends_read() -> None:
    made = spec(
        expose=[8080, "53/udp"],
        tmpfs=["/run/", "/tmp"],
        stop_signal="TERM",
        cap_add=["cap_net_admin", "SYS_TIME"],
        ulimits={"nofile": [1024, 4096], "nproc": 64},
        sysctls={"net.core.somaxconn": 1024},
        dns=["1.1.1.1"],
    )
    assert made.expose == ("53/udp", "8080/tcp")
    assert dict(made.tmpfs) == {"/run": "", "/tmp": ""}
    assert made.stop_signal == "SIGTERM"
    assert made.cap_add == ("NET_ADMIN", "SYS_TIME")
    assert dict(made.ulimits) == {"nofile": (1024, 4096), "nproc": (64, 64)}
    assert dict(made.sysctls) == {"net.core.somaxconn": "1024"}
    assert made.needs() == {
        "expose": ("expose",),
        "tmpfs": ("tmpfs",),
        "stop_signal": ("stop_signal",),
        "dns": ("dns",),
        "security": ("cap_add",),
        "process_limits": ("ulimits",),
        "sysctls": ("sysctls",),
    }
    assert ContainerSpec(**made.to_kwargs()) == made


def test_an_unset_option_leaves_the_fingerprint_a_spec_always_had() -> None:
    plain = spec()
    assert "tmpfs" not in plain.to_kwargs() and plain.needs() == {}
    assert spec(read_only=False, tty=False, cap_add=[]).fingerprint() == plain.fingerprint()
    assert spec(read_only=True).fingerprint() != plain.fingerprint()


def test_a_files_content_is_never_shown_and_changes_the_fingerprint() -> None:
    one = spec(files=[FileSpec("/run/secrets/db", b"hunter2-secret")])
    other = spec(files=[FileSpec("/run/secrets/db", b"another-secret")])
    assert "hunter2" not in repr(one) and "hunter2" not in str(one.to_kwargs())
    assert one.fingerprint() != other.fingerprint()


def test_every_option_names_a_declared_capability() -> None:
    from oblako_backends.models import CAPABILITIES

    assert set(FIELD_CAPABILITY.values()) <= set(CAPABILITIES)
    assert set(FIELD_CAPABILITY) <= set(ContainerSpec.__dataclass_fields__)
