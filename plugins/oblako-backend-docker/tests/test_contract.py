"""The backend contract (oblako_backends.testing.contract) on docker, podman and colima."""

from __future__ import annotations

import pytest
import runtimes
from oblako_backends.backend import Backend
from oblako_backends.testing import contract


class TestDockerApiBackends(
    contract.ContainerContract,
    contract.ServiceContract,
    contract.RaceContract,
    contract.CompatContract,
    contract.OptionalContract,
    contract.ExecContract,
    contract.OptionsContract,
    contract.ServiceNamesContract,
    contract.NetworksContract,
):
    @pytest.fixture
    def oblako_backend(self, backend: Backend) -> Backend:
        return backend  # one per engine: see conftest.py

    @pytest.fixture
    def oblako_test_image(self) -> str:
        return runtimes.TEST_IMAGE
