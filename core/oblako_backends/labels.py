"""The labels this layer stamps on what it creates, and the ones by which other tools claim theirs.

A module of its own so that quick paths (`ps`, `list`) and plugins can read them without
loading `spec` and its validators.
"""

from __future__ import annotations

# Ownership labels: stamped on everything this layer creates, checked before stop/remove.
MANAGED_BY_LABEL = "oblako.managed-by"
MANAGED_BY_VALUE = "oblako-backends"
SERVICE_LABEL = "oblako.service"
BACKEND_LABEL = "oblako.backend"
SPEC_HASH_LABEL = "oblako.spec-hash"
PROJECT_LABEL = "oblako.project"  # the project (services file) a container belongs to, if any
RESERVED_LABEL_PREFIX = "oblako."
# Labels by which a tool claims a container as its own. A container with none of them (say,
# one oblako made before it used this layer) may be adopted; one with any is never touched.
OWNER_LABEL_PREFIXES = (
    RESERVED_LABEL_PREFIX,
    "com.docker.compose.",
    "io.podman.compose.",
    "com.docker.swarm.",
    "org.testcontainers",
    "io.kubernetes.",
)
