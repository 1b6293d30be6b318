"""One error hierarchy for every backend, so callers catch the same names whatever runs underneath.

Every message says what went wrong and what to do about it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


SECRET_MASK = "***"  # what a masked environment value looks like in every message


class OblakoBackendError(Exception):
    """Base of every error this layer raises on purpose."""


class ConfigurationError(OblakoBackendError, ValueError):
    """An environment variable or option holds a value this layer cannot use."""


class UnknownBackendError(OblakoBackendError, LookupError):
    """No installed distribution provides a backend of that name."""

    def __init__(self, name: str, installed: Sequence[str], install_hint: str | None = None):
        self.name = name
        self.installed = list(installed)
        self.install_hint = install_hint
        listing = ", ".join(self.installed) if self.installed else "none"
        message = f"unknown container backend {name!r}; installed backends: {listing}."
        if install_hint:
            message += f" {install_hint}"
        else:
            message += " Check the spelling, or install the plugin distribution that provides it."
        super().__init__(message)


class BackendLoadError(OblakoBackendError, ImportError):
    """A backend plugin is installed but cannot be loaded (import error, bad hooks, name clash)."""


class RuntimeUnavailableError(OblakoBackendError, ConnectionError):
    """The runtime did not answer. Carries every endpoint tried and why each failed."""

    def __init__(self, backend: str, tried: Sequence[tuple[str, str]], hint: str):
        self.backend = backend
        self.tried = list(tried)
        self.hint = hint
        lines = [f"the {backend} runtime is not reachable."]
        lines += [f"  tried {endpoint}: {reason}" for endpoint, reason in self.tried]
        lines.append(hint)
        super().__init__("\n".join(lines))


class PortInUseError(OblakoBackendError, RuntimeError):
    """A host port a container needs is held by another container or process.

    Also a RuntimeError, because oblako's code catches it as one.
    """

    def __init__(self, message: str, port: int | None = None):
        self.port = port
        super().__init__(message)


class ImageNotFoundError(OblakoBackendError, LookupError):
    """The image is neither present locally nor pullable."""


class InvalidSpecError(OblakoBackendError, ValueError):
    """A container spec field breaks a rule. Raised before any runtime is touched."""

    def __init__(self, field: str, value: object, rule: str, *, secret: bool = False):
        self.field = field
        self.value = SECRET_MASK if secret else value  # env values are secrets: never echoed
        self.rule = rule
        super().__init__(f"invalid {field} {self.value!r}: {rule}" if not secret else f"invalid {field}: {rule}")


class NameInUseError(OblakoBackendError):
    """Creating a container failed because one of that name appeared first (a concurrent start won).

    `Service.start` waits for the winner instead of failing; other callers may do the same.
    """


class NotOwnedError(OblakoBackendError, PermissionError):
    """A container of that name exists but this layer did not create it, so it is left alone."""


class ServiceNotReadyError(OblakoBackendError, TimeoutError):
    """A service did not become ready in time, or exited first. Carries its last log lines."""

    def __init__(self, message: str, logs: str):
        self.logs = logs
        tail = logs.rstrip() or "(no log output)"
        super().__init__(f"{message}\n--- last log lines ---\n{tail}")
