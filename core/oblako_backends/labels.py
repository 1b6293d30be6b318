"""The labels this layer stamps on what it creates, and the ones by which other tools claim theirs.

A module of its own so that quick paths (`ps`, `list`) and plugins can read them without
loading `spec` and its validators.
"""

from __future__ import annotations

from collections.abc import Mapping

# Ownership labels: stamped on everything this layer creates, checked before stop/remove.
MANAGED_BY_LABEL = "oblako.managed-by"
MANAGED_BY_VALUE = "oblako-backends"
SERVICE_LABEL = "oblako.service"
BACKEND_LABEL = "oblako.backend"
SPEC_HASH_LABEL = "oblako.spec-hash"
PROJECT_LABEL = "oblako.project"  # the project (services file) a container belongs to, if any
# On a container created without being started (`up --no-start`): `up` and `start` start it
# (its value, "later") instead of taking it for a start in progress or a leftover to replace.
START_LABEL = "oblako.start"
START_LATER = "later"
RESERVED_LABEL_PREFIX = "oblako."
# Label namespaces by which tools claim containers as their own, and the tool each belongs
# to. A container with none of them (say, one oblako made before it used this layer) may be
# adopted; one with any label in any of them is never stopped, removed or replaced. A
# namespace is a key prefix, or, written with a leading dot, a key suffix (minikube's keys
# end in its domain).
OWNER_LABELS = {
    RESERVED_LABEL_PREFIX: "oblako-backends (another installation, or another version)",
    "com.docker.compose.": "Docker Compose (and podman-compose, which stamps its labels too)",
    "io.podman.compose.": "podman-compose",
    "com.docker.swarm.": "Docker Swarm",
    "com.docker.stack.": "docker stack",
    "com.docker.desktop.": "Docker Desktop (extensions and its own containers)",
    "org.testcontainers": "Testcontainers",
    "io.kubernetes.": "Kubernetes (cri-dockerd, dockershim)",
    "io.x-k8s.kind.": "kind",
    "k3d.": "k3d",
    ".minikube.sigs.k8s.io": "minikube",
    "devcontainer.": "Dev Containers (VS Code, the devcontainer CLI)",
    "dev.tilt.": "Tilt",
    "com.ddev.": "DDEV",
    "io.lando.": "Lando",
    "com.supabase.cli.": "the Supabase CLI",
    "com.hashicorp.nomad.": "Nomad",
}
OWNER_LABEL_PREFIXES = tuple(n for n in OWNER_LABELS if not n.startswith("."))
OWNER_LABEL_SUFFIXES = tuple(n for n in OWNER_LABELS if n.startswith("."))


def owner_claims(labels: Mapping[str, str]) -> list[str]:
    """The labels by which some tool claims a container, sorted; empty when none does."""
    return sorted(key for key in labels if key.startswith(OWNER_LABEL_PREFIXES) or key.endswith(OWNER_LABEL_SUFFIXES))
