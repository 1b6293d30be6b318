"""The oblako-backends contract, run on this backend:

    pytest --oblako-backend example --oblako-test-image REF

A container "not made by oblako" is made with the docker CLI, since this backend offers no
Docker API client for the contract's default way.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest
from oblako_backends.testing import contract


class TestExampleBackend(
    contract.ContainerContract,
    contract.ServiceContract,
    contract.RaceContract,
    contract.CompatContract,
    contract.OptionalContract,
    contract.ExecContract,
    contract.OptionsContract,
    contract.NetworksContract,
):
    @pytest.fixture
    def oblako_make_unowned(self, oblako_test_image: str) -> Iterator[Callable[[str], None]]:
        docker = shutil.which("docker") or "docker"
        made: list[str] = []

        def make(name: str) -> None:
            subprocess.run(
                [docker, "run", "-d", "--name", name, oblako_test_image, "sleep", "600"], check=True, timeout=60
            )
            made.append(name)

        yield make
        for name in made:
            subprocess.run([docker, "rm", "-f", name], check=False, timeout=60, capture_output=True)
