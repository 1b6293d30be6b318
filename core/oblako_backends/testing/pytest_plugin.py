"""pytest plugin (entry point ``pytest11``): options and fixtures for the backend contract.

    pytest --pyargs oblako_backends.testing.contract --oblako-backend NAME --oblako-test-image REF

or subclass the classes in `oblako_backends.testing.contract` in your own tests and override
the `oblako_backend` fixture. Tests of optional capabilities carry
``@pytest.mark.oblako_capability("name")`` and run only when the backend's probe declares it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ..backend import Backend
from ..errors import OblakoBackendError

BACKEND_OPTION = "--oblako-backend"
IMAGE_OPTION = "--oblako-test-image"
IMAGE_VAR = "OBLAKO_TEST_IMAGE"


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


@pytest.fixture(autouse=True)
def _oblako_select_by_capability(request: pytest.FixtureRequest) -> None:
    """The one place optional-capability tests are selected: by the probe, not by the tests."""
    wanted = [m.args[0] for m in request.node.iter_markers("oblako_capability")]
    if not wanted:
        return
    declared: frozenset[str] = request.getfixturevalue("oblako_capabilities")
    missing = sorted(set(wanted) - declared)
    if missing:
        pytest.skip(f"the backend's probe does not declare {', '.join(missing)}")


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
