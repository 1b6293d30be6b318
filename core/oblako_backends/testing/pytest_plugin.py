"""pytest plugin (entry point ``pytest11``): options and fixtures for the backend contract,
and `oblako_services` for test suites that need a project's services running.

    pytest --pyargs oblako_backends.testing.contract --oblako-backend NAME --oblako-test-image REF

or subclass the classes in `oblako_backends.testing.contract` in your own tests and override
the `oblako_backend` fixture. Tests of optional capabilities carry
``@pytest.mark.oblako_capability("name")`` and run only when the backend's probe declares it.

Nothing here is autouse: a project that merely has the core installed gets no fixture in its
test runs. The contract classes ask for `oblako_contract_test` themselves.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ..backend import Backend
from ..errors import OblakoBackendError

if TYPE_CHECKING:
    from ..project import Project

BACKEND_OPTION = "--oblako-backend"
IMAGE_OPTION = "--oblako-test-image"
IMAGE_VAR = "OBLAKO_TEST_IMAGE"
DEADLINE_OPTION = "--oblako-deadline"
SERVICES_OPTION = "--oblako-services"
SERVICES_INI = "oblako_services"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("oblako", "oblako-backends contract")
    group.addoption(
        BACKEND_OPTION,
        metavar="NAME",
        help="backend the contract runs against (default: as get_backend() selects it)",
    )
    group.addoption(
        IMAGE_OPTION,
        metavar="REF",
        help=f"an image the runtime can run offline with busybox's sh, httpd and sleep (or ${IMAGE_VAR})",
    )
    group.addoption(
        DEADLINE_OPTION,
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="each contract test fails, naming the step that hung, when it takes longer (default 60)",
    )
    group.addoption(
        SERVICES_OPTION,
        metavar="FILE",
        help="the services or Compose file the oblako_services fixture brings up (or ini oblako_services)",
    )
    parser.addini(SERVICES_INI, "the services or Compose file the oblako_services fixture brings up")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "oblako_capability(name): runs only when the backend's probe declares the capability"
    )


@pytest.fixture(scope="session")
def oblako_backend(request: pytest.FixtureRequest) -> Backend:
    """The backend under test: --oblako-backend, else the usual selection. Override to customise."""
    from ..plugins import get_backend

    return get_backend(request.config.getoption(BACKEND_OPTION))


@pytest.fixture(scope="session")
def oblako_test_image(request: pytest.FixtureRequest) -> str:
    """The test image (--oblako-test-image or $OBLAKO_TEST_IMAGE)."""
    image = request.config.getoption(IMAGE_OPTION) or os.environ.get(IMAGE_VAR, "")
    if not image:
        pytest.fail(
            f"the contract needs a test image: pass {IMAGE_OPTION} REF or set {IMAGE_VAR} (an image with "
            "busybox's sh, httpd and sleep; docs/writing-a-backend.md shows one built from scratch)",
            pytrace=False,
        )
    return str(image)


_PROBED = pytest.StashKey[dict[int, frozenset[str]]]()


@pytest.fixture
def oblako_capabilities(request: pytest.FixtureRequest, oblako_backend: Backend) -> frozenset[str]:
    """What the backend's probe declares (asked once per backend object); unreachable fails."""
    probed = request.config.stash.setdefault(_PROBED, {})
    if id(oblako_backend) not in probed:
        probe = oblako_backend.probe()
        if not probe.reachable:
            pytest.fail(f"backend {oblako_backend.name!r} is not reachable: {probe.error} {probe.hint}", pytrace=False)
        probed[id(oblako_backend)] = probe.capabilities
    return probed[id(oblako_backend)]


@pytest.fixture
def oblako_deadline(request: pytest.FixtureRequest) -> float:
    """Seconds each contract test may take: --oblako-deadline. A suite whose runtime is slower by
    nature (a cluster schedules and starts a pod for each container) overrides this fixture."""
    return float(request.config.getoption(DEADLINE_OPTION))


@pytest.fixture
def oblako_contract_test(request: pytest.FixtureRequest, oblako_deadline: float) -> Iterator[None]:
    """What every contract test gets (the contract classes ask for it): selection by the probe's
    capabilities, and a deadline, so a hanging backend fails the test instead of the run."""
    wanted = [m.args[0] for m in request.node.iter_markers("oblako_capability")]
    if wanted:
        declared: frozenset[str] = request.getfixturevalue("oblako_capabilities")
        missing = sorted(set(wanted) - declared)
        if missing:
            pytest.skip(f"the backend's probe does not declare {', '.join(missing)}")
    with _deadline(oblako_deadline, request.node.name):
        yield


@contextlib.contextmanager
def _deadline(seconds: float, test: str) -> Iterator[None]:
    """Fail `test` when it runs longer than `seconds`, from where it is stuck (SIGALRM interrupts
    even a blocking read, so the traceback ends at the step that hung). Where there is no
    SIGALRM (Windows) or not in the main thread, no deadline is set."""
    import signal
    import threading

    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def expired(signum: int, frame: object) -> None:
        pytest.fail(f"{test} did not finish within {seconds:g} s ({DEADLINE_OPTION}); the step that hung is above")

    before = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


class Services:
    """What `oblako_services` brought up: where each service's ports are reachable."""

    def __init__(self, project: Project, backend: Backend):
        self.project: str = project.name
        self.backend = backend
        self._by_name = {d.name: d for d in project.services}

    def endpoint(self, service: str, container_port: int, protocol: str = "tcp") -> tuple[str, int]:
        """(host, port) on this machine for a published container port of `service`."""
        definition = self._by_name.get(service)
        if definition is None:
            raise KeyError(f"no service {service!r} in project {self.project!r}; it has {sorted(self._by_name)}")
        from ..project.run import service as bound

        found = bound(definition, self.backend).endpoint(container_port, protocol)
        if found is None:
            raise KeyError(f"{service} publishes no {container_port}/{protocol}")
        return found

    def url(self, service: str, container_port: int, path: str = "/") -> str:
        host, port = self.endpoint(service, container_port)
        return f"http://{host}:{port}{path}"


@pytest.fixture(scope="session")
def oblako_services_file(request: pytest.FixtureRequest) -> str:
    """The file `oblako_services` brings up: --oblako-services, else ini `oblako_services`
    (relative to the rootdir). Override this fixture to choose it in code."""
    chosen = request.config.getoption(SERVICES_OPTION) or request.config.getini(SERVICES_INI)
    if not chosen:
        pytest.fail(
            f"oblako_services needs a file: pass {SERVICES_OPTION} FILE, set `{SERVICES_INI} = FILE` in the "
            "pytest ini, or override the oblako_services_file fixture",
            pytrace=False,
        )
    return os.path.join(str(request.config.rootpath), str(chosen))  # an absolute one stays as it is


@pytest.fixture(scope="session")
def oblako_services(request: pytest.FixtureRequest, oblako_services_file: str) -> Iterator[Services]:
    """Every service of a services or Compose file, up and ready for the whole session (as
    `oblako-backends up` brings them up), then taken down with the volumes `up` made. The
    backend is --oblako-backend, else the usual selection."""
    from ..plugins import get_backend
    from ..project import load
    from ..project.run import Interrupted, down, remove_volumes, up

    backend = get_backend(request.config.getoption(BACKEND_OPTION))
    project = load(oblako_services_file)
    try:
        up(project, backend)  # a failed or interrupted up stops what it started itself
    except Interrupted:
        raise KeyboardInterrupt from None  # Ctrl-C ends the session, as pytest's own handling would
    except OblakoBackendError as exc:
        pytest.fail(f"oblako_services could not bring up {oblako_services_file}: {exc}", pytrace=False)
    except BaseException:  # Ctrl-C while services start: nothing is left running
        down(project, backend)
        raise
    try:
        yield Services(project, backend)
    finally:
        left = down(project, backend)
        if not left and "remove_volumes" in backend.capabilities:  # else it cannot tell which are the project's
            remove_volumes(project, backend)


@pytest.fixture
def oblako_make_unowned(oblako_backend: Backend, oblako_test_image: str) -> Iterator[Callable[[str], None]]:
    """`make(name)` starts a container this layer did not create; it is removed after the test.

    The default uses the backend's Docker API client. A backend without one overrides this
    fixture with its runtime's own way of starting a container.
    """
    client = oblako_backend.docker_client()
    made: list[Any] = []

    def make(name: str) -> None:
        if client is None:
            pytest.fail("this backend has no Docker API client: override the oblako_make_unowned fixture")
        made.append(client.containers.run(oblako_test_image, ["sleep", "600"], name=name, detach=True))

    yield make
    for container in made:
        container.remove(force=True)


@pytest.fixture
def oblako_process_env(oblako_backend: Backend) -> dict[str, str]:
    """The environment in which `get_backend()` in a fresh process selects this backend on the
    same runtime. The default selects it by name; override it when `oblako_backend` is built
    with options (a namespace, a CLI path, ...) that the environment must carry instead."""
    return {**os.environ, "OBLAKO_CONTAINER_BACKEND": oblako_backend.name}


class Names:
    """Unique container and volume names for one test, and everything made with them."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex[:8]
        self.made: list[str] = []

    def __call__(self, stem: str) -> str:
        name = f"oc-{stem}-{self.token}"
        self.made.append(name)
        return name


@pytest.fixture
def oblako_name(oblako_backend: Backend) -> Iterator[Callable[[str], str]]:
    """`oblako_name("web")` gives a name unique to this test; what was made with it is removed
    after the test, pass or fail."""
    names = Names()
    yield names
    for name in names.made:
        with contextlib.suppress(OblakoBackendError):  # not ours (made unowned on purpose), or gone
            oblako_backend.remove(name)
