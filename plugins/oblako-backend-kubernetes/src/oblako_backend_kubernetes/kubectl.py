"""kubectl as argv lists, with a deadline on every call and errors mapped to the core's.

kubectl is the client: it reads any kubeconfig (minikube, kind, EKS with its exec credential
plugins) exactly as the user's own kubectl does, and its port-forward is the reference
implementation. Every call carries `--request-timeout` and a subprocess timeout.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from oblako_backends import OblakoBackendError, RuntimeUnavailableError
from oblako_backends.commands import run

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "install kubectl and point it at a cluster: KUBECONFIG or `kubectl config use-context` "
    "(OBLAKO_K8S_CONTEXT picks a context for oblako only); minikube: `minikube start`"
)
_UNREACHABLE = (
    "unable to connect to the server",
    "the connection to the server",
    "connection refused",
    "i/o timeout",
    "timeout awaiting",
    "context deadline exceeded",
    "no configuration has been provided",
    "the server has asked for the client to provide credentials",
    "dial tcp",
)


@dataclass(frozen=True)
class Kubectl:
    """How to call kubectl for one cluster and namespace."""

    program: str = "kubectl"
    context: str | None = None
    namespace: str = "oblako"
    timeout: float = 60.0

    def argv(
        self, *args: str, namespaced: bool = True, timeout: float | None = None, bounded: bool = True
    ) -> list[str]:
        """The full argv: program, request timeout, context, namespace, then `args`.

        `bounded=False` for the long-lived streams (follow, port-forward), which end when
        their caller stops them rather than at a deadline.
        """
        out = [self.program]
        if bounded:
            out.append(f"--request-timeout={max(1, math.ceil(timeout if timeout is not None else self.timeout))}s")
        if self.context:
            out.append(f"--context={self.context}")
        if namespaced:
            out.append(f"--namespace={self.namespace}")
        return [*out, *args]

    def run(
        self,
        *args: str,
        stdin: str | None = None,
        namespaced: bool = True,
        timeout: float | None = None,
        check: bool = True,
        backstop: float = 5.0,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl with `args`: its own `--request-timeout`, and ours `backstop` s later (a
        server that accepts connections but never answers holds kubectl in its TLS handshake)."""
        deadline = timeout if timeout is not None else self.timeout
        return run(
            self.argv(*args, namespaced=namespaced, timeout=deadline),  # values ride in manifests on stdin
            deadline + backstop,  # kubectl's own deadline first, ours as the backstop
            runtime="kubernetes",
            hint=INSTALL_HINT,
            where=self.where,
            input=stdin,
            fail=(lambda argv, stderr: error(self.where, args, stderr)) if check else None,
        )

    def json(self, *args: str, namespaced: bool = True, timeout: float | None = None) -> Any:
        done = self.run(*args, "--output=json", namespaced=namespaced, timeout=timeout)
        return json.loads(done.stdout)

    @property
    def where(self) -> str:
        return f"context {self.context or '(current)'}, namespace {self.namespace}"


def error(where: str, args: Sequence[str], stderr: str) -> OblakoBackendError:
    """kubectl's complaint as one of the core's errors."""
    text = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
    lowered = stderr.lower()
    if any(marker in lowered for marker in _UNREACHABLE):
        return RuntimeUnavailableError("kubernetes", [(where, text)], INSTALL_HINT)
    return OblakoBackendError(f"kubectl {' '.join(args[:2])} failed: {text}")


def not_found(stderr: str) -> bool:
    return "notfound" in stderr.replace(" ", "").lower()
