"""The container options Compose adds to oblako's own: validators for `ContainerSpec`'s fields
beyond name, image, ports, environment and mounts, and the capability each one needs.

Each validator returns the one normal form backends read (bytes for sizes, seconds for
durations, upper-case Linux capability names without ``CAP_``), or raises `InvalidSpecError`
naming the field, the value and the rule. No value can start with '-', so a CLI backend can
put any of them after its option.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from .config import HOSTNAME_RE
from .errors import SECRET_MASK, InvalidSpecError

# Which capability (models.CAPABILITIES) each optional field needs; a backend without it
# runs the container without that field, and `up` says so once per field and service.
FIELD_CAPABILITY: Mapping[str, str] = MappingProxyType(
    {
        "expose": "expose",
        "tmpfs": "tmpfs",
        "files": "files",
        "init": "init",
        "stdin_open": "tty",
        "tty": "tty",
        "stop_signal": "stop_signal",
        "stop_grace_period": "stop_grace_period",
        "restart": "restart",
        "hostname": "hostname",
        "domainname": "hostname",
        "dns": "dns",
        "dns_search": "dns",
        "cap_add": "security",
        "cap_drop": "security",
        "privileged": "security",
        "security_opt": "security",
        "read_only": "read_only",
        "shm_size": "resources",
        "mem_limit": "resources",
        "mem_reservation": "resources",
        "cpus": "resources",
        "pids_limit": "process_limits",
        "ulimits": "process_limits",
        "sysctls": "sysctls",
        "devices": "devices",
        "platform": "platform",
    }
)

RESTART_RE = re.compile(r"no|always|unless-stopped|on-failure(?::[0-9]{1,9})?")
SIGNAL_RE = re.compile(r"(?:SIG)?[A-Z][A-Z0-9+-]{1,15}|[0-9]{1,2}")
CAPABILITY_RE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
SYSCTL_RE = re.compile(r"[a-z0-9][a-z0-9_./-]{0,252}")
ULIMIT_RE = re.compile(r"[a-z][a-z_]{1,31}")
PLATFORM_RE = re.compile(r"[a-z0-9_]+/[a-z0-9_]+(?:/[a-z0-9_]+)?")
TMPFS_OPTIONS_RE = re.compile(r"(?:[a-z_]+(?:=[0-9a-zA-Z]+)?)(?:,[a-z_]+(?:=[0-9a-zA-Z]+)?)*")
DEVICE_RE = re.compile(r"/[^\s:\x00]+(?::/[^\s:\x00]+)?(?::[rwm]{1,3})?")
SECURITY_OPT_RE = re.compile(r"[a-z][a-z-]*(?:[=:][^\s\x00]+)?")


@dataclass(frozen=True)
class FileSpec:
    """A file the backend puts in the container before it starts: a Compose secret (at
    /run/secrets/NAME unless told) or config. `content` is a secret: never shown, and only
    its hash is part of the spec's fingerprint. `source` is the host file it was read from, if
    any: a runtime that mounts host files may mount it read-only instead, as Compose does for a
    file-sourced secret (so a read-only root still gets it)."""

    target: str
    content: bytes
    mode: int = 0o444
    source: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.target, str) or not self.target.startswith("/") or "\x00" in self.target:
            raise InvalidSpecError("files.target", self.target, "an absolute path inside the container")
        if not isinstance(self.content, bytes):
            raise InvalidSpecError("files.content", "<not bytes>", "a file's content is bytes")
        if isinstance(self.mode, bool) or not isinstance(self.mode, int) or not 0 <= self.mode <= 0o7777:
            raise InvalidSpecError("files.mode", self.mode, "a file mode from 0 to 0o7777")
        if self.source is not None and (
            not isinstance(self.source, str) or not self.source.startswith("/") or "\x00" in self.source
        ):
            raise InvalidSpecError("files.source", self.source, "an absolute host path, or None")

    def __repr__(self) -> str:
        source = "" if self.source is None else f", source={self.source!r}"
        return f"FileSpec(target={self.target!r}, content={SECRET_MASK}, mode={oct(self.mode)}{source})"

    def as_dict(self) -> dict[str, object]:
        """For the fingerprint and traces: the content only as its hash."""
        out: dict[str, object] = {
            "target": self.target,
            "sha256": hashlib.sha256(self.content).hexdigest(),
            "mode": self.mode,
        }
        return out if self.source is None else {**out, "source": self.source}


def words(field_name: str, value: object, pattern: re.Pattern[str], rule: str) -> tuple[str, ...]:
    """A list of strings, each matching `pattern`, duplicates dropped, order kept."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidSpecError(field_name, value, f"a list of strings ({rule})")
    for item in value:
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise InvalidSpecError(field_name, item, rule)
    return tuple(dict.fromkeys(value))


def flag(field_name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidSpecError(field_name, value, "true or false")
    return value


def optional_flag(field_name: str, value: object) -> bool | None:
    return None if value is None else flag(field_name, value)


def whole(field_name: str, value: object, least: int, most: int = 2**63 - 1) -> int | None:
    """A whole number from `least` to `most`, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
        raise InvalidSpecError(field_name, value, f"a whole number from {least} to {most}")
    return value


def expose(value: object) -> tuple[str, ...]:
    """Container ports other containers reach, not published on the host: "PORT/PROTOCOL"."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidSpecError("expose", value, 'a list of ports like "8080" or "8080/udp"')
    out: list[str] = []
    for item in value:
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        number, _, protocol = text.partition("/") if isinstance(text, str) else ("", "", "")
        if not (number.isascii() and number.isdigit() and 1 <= int(number) <= 65535) or protocol not in (
            "",
            "tcp",
            "udp",
            "sctp",
        ):
            raise InvalidSpecError("expose", item, "a port from 1 to 65535, optionally with /tcp, /udp or /sctp")
        out.append(f"{int(number)}/{protocol or 'tcp'}")
    return tuple(sorted(set(out), key=lambda p: (int(p.split("/")[0]), p)))


def tmpfs(value: object) -> Mapping[str, str]:
    """Memory-backed mounts: target -> mount options ("" for the runtime's defaults), as
    docker-py's `tmpfs` takes them. Options are size=, mode=, uid=, gid= and flags."""
    if value is None:
        return MappingProxyType({})
    if isinstance(value, Sequence) and not isinstance(value, str):
        value = {item: "" for item in value}
    if not isinstance(value, Mapping):
        raise InvalidSpecError("tmpfs", value, 'a list of paths or a mapping like {"/run": "size=64m"}')
    out: dict[str, str] = {}
    for target, options in value.items():
        if not isinstance(target, str) or not target.startswith("/") or re.search(r"[\s:\x00]", target):
            raise InvalidSpecError("tmpfs", target, "an absolute path inside the container, without ':' or spaces")
        if not isinstance(options, str) or (options and not TMPFS_OPTIONS_RE.fullmatch(options)):
            raise InvalidSpecError(f"tmpfs[{target!r}]", options, "options like 'size=64m,mode=1777'")
        out[target.rstrip("/") or "/"] = options
    return MappingProxyType(dict(sorted(out.items())))


def files(value: object) -> tuple[FileSpec, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidSpecError("files", "<files>", "a list of FileSpec")
    out: list[FileSpec] = []
    for item in value:
        spec = FileSpec(**item) if isinstance(item, Mapping) else item
        if not isinstance(spec, FileSpec):
            raise InvalidSpecError("files", "<file>", "a FileSpec or a mapping of target, content and mode")
        if spec.target in {f.target for f in out}:
            raise InvalidSpecError("files.target", spec.target, "two files cannot share a path")
        out.append(spec)
    return tuple(sorted(out, key=lambda f: f.target))


def stop_signal(value: object) -> str | None:
    """A signal's name ("SIGTERM", "TERM", normalised with SIG) or number."""
    if value is None:
        return None
    if not isinstance(value, str) or not SIGNAL_RE.fullmatch(value):
        raise InvalidSpecError("stop_signal", value, "a signal name like SIGTERM or a number")
    return value if value.isdigit() or value.startswith("SIG") else f"SIG{value}"


def seconds(field_name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidSpecError(field_name, value, "a finite number of seconds, 0 or more")
    return float(value)


def restart(value: object) -> str | None:
    """Docker's restart policies: no, always, unless-stopped, on-failure[:MAX_RETRIES]."""
    if value is None:
        return None
    if not isinstance(value, str) or not RESTART_RE.fullmatch(value):
        raise InvalidSpecError("restart", value, "one of no, always, unless-stopped, on-failure[:N]")
    return value


def host_name(field_name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.isascii() or not HOSTNAME_RE.fullmatch(value):
        raise InvalidSpecError(field_name, value, "a host name: letters, digits, '-' and '.'")
    return value


def dns(value: object) -> tuple[str, ...]:
    out: list[str] = []
    for item in words("dns", value, re.compile(r"[0-9a-fA-F.:]+"), "an IPv4 or IPv6 address"):
        try:
            out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise InvalidSpecError("dns", item, "an IPv4 or IPv6 address") from None
    return tuple(out)


def dns_search(value: object) -> tuple[str, ...]:
    found = words("dns_search", value, HOSTNAME_RE, "a domain name")
    if any(not d.isascii() for d in found):
        raise InvalidSpecError("dns_search", value, "a domain name")
    return found


def linux_capabilities(field_name: str, value: object) -> tuple[str, ...]:
    """Linux capability names as Docker takes them: upper case, "CAP_" dropped, or ALL."""
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidSpecError(field_name, value, "a list of capability names like NET_ADMIN")
    normal = [item.upper().removeprefix("CAP_") if isinstance(item, str) else item for item in value]
    return words(field_name, normal, CAPABILITY_RE, "a capability name like NET_ADMIN, or ALL")


def security_opt(value: object) -> tuple[str, ...]:
    return words("security_opt", value, SECURITY_OPT_RE, "an option like no-new-privileges or seccomp=unconfined")


def cpus(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InvalidSpecError("cpus", value, "a number of CPUs more than 0, e.g. 0.5")
    return float(value)


def ulimits(value: object) -> Mapping[str, tuple[int, int]]:
    """Resource limits: name -> (soft, hard); a single number means both."""
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidSpecError("ulimits", value, 'a mapping like {"nofile": [1024, 4096]}')
    out: dict[str, tuple[int, int]] = {}
    for name, limit in value.items():
        if not isinstance(name, str) or not ULIMIT_RE.fullmatch(name):
            raise InvalidSpecError("ulimits", name, "a limit's name like nofile or nproc")
        pair = (limit, limit) if isinstance(limit, int) else tuple(limit) if isinstance(limit, Sequence) else ()
        if (
            len(pair) != 2
            or any(isinstance(n, bool) or not isinstance(n, int) or not -1 <= n < 2**63 for n in pair)
            or (pair[0] > pair[1] >= 0)
        ):
            raise InvalidSpecError(f"ulimits[{name!r}]", limit, "a number, or [soft, hard] with soft <= hard")
        out[name] = (int(pair[0]), int(pair[1]))
    return MappingProxyType(dict(sorted(out.items())))


def sysctls(value: object) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise InvalidSpecError("sysctls", value, 'a mapping like {"net.core.somaxconn": "1024"}')
    out: dict[str, str] = {}
    for name, setting in value.items():
        if not isinstance(name, str) or not SYSCTL_RE.fullmatch(name):
            raise InvalidSpecError("sysctls", name, "a kernel parameter's name like net.core.somaxconn")
        text = str(setting).lower() if isinstance(setting, bool) else setting
        if isinstance(text, (int, float)):
            text = str(text)
        if not isinstance(text, str) or "\x00" in text or "\n" in text:
            raise InvalidSpecError(f"sysctls[{name!r}]", setting, "a value on one line")
        out[name] = text
    return MappingProxyType(dict(sorted(out.items())))


def devices(value: object) -> tuple[str, ...]:
    """Host devices: "HOST[:CONTAINER[:PERMISSIONS]]", each path absolute."""
    return words("devices", value, DEVICE_RE, 'a host device like "/dev/fuse" or "/dev/sda:/dev/xvda:rwm"')


def platform(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not PLATFORM_RE.fullmatch(value):
        raise InvalidSpecError("platform", value, "os/arch[/variant], e.g. linux/amd64")
    return value
