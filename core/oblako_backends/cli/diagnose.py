"""`list` and `doctor`: what is installed, which backend is chosen and why, does it answer."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from .. import plugins
from ..errors import RuntimeUnavailableError
from ..plugins import INSTALL_ONE, REFERENCE_BACKENDS, answering_instead, list_backends
from .display import print_json, table

if TYPE_CHECKING:
    from ..backend import Backend
    from ..models import ContainerInfo
    from ..reach import Reach


def cmd_list(args: argparse.Namespace) -> int:
    """Installed backends, each checked by importing it (a broken one shows its reason)."""
    infos = list_backends(check=True)
    if args.json:
        print_json([{**i.as_dict(), "reference": i.name in REFERENCE_BACKENDS} for i in infos])
        return 0
    rows = [["NAME", "ALIASES", "DISTRIBUTION", "VERSION", "STATUS"]]
    for i in infos:
        status = "ok" if i.problem is None else f"broken: {i.problem}"
        if i.unavailable:
            status = f"unavailable: {i.unavailable}"
        if i.name in REFERENCE_BACKENDS and i.problem is None:
            status = "reference: in-process, runs no container (for tests of code built on this layer)"
        rows.append([i.name, ",".join(i.aliases) or "-", i.distribution, i.version, status])
    table(rows)
    if not [i for i in infos if i.name not in REFERENCE_BACKENDS]:
        print(f"no container runtime backend is installed; {INSTALL_ONE}", file=sys.stderr)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Which backend would be used and why, and whether its runtime answers."""
    backend = plugins.get_backend(args.backend)
    why = backend.selected_by
    probe = backend.probe()
    reach = _reach(backend, args.reach) if args.reach and probe.reachable else None
    if args.json:
        found = {"reach": [r.as_dict() for r in reach]} if reach is not None else {}
        print_json({"selected": backend.name, "selected_by": why, **probe.as_dict(), **found})
        return 0 if probe.reachable else 1
    dist = f"{backend.info.distribution} {backend.info.version}" if backend.info else "?"
    lines = [
        ("backend", f"{backend.name} (selected by {why}; from {dist})"),
        (
            "endpoint",
            f"{probe.endpoint or '-'}" + (f" (from {probe.endpoint_source})" if probe.endpoint_source else ""),
        ),
        ("reachable", "yes" if probe.reachable else "NO"),
    ]
    if probe.reachable:
        lines += [
            ("engine", f"{probe.engine} {probe.version}".strip()),
            ("capabilities", ", ".join(sorted(probe.capabilities)) or "-"),
        ]
    lines += [(k, v) for k, v in sorted(probe.details.items())]
    if probe.error:
        lines.append(("error", probe.error))
    if probe.hint:
        lines.append(("what to do", probe.hint))
    instead = answering_instead(backend.name) if not probe.reachable else None
    if instead:
        lines.append(("instead", instead))
    if reach is not None:
        lines += _reach_lines(reach)
    width = max(14, *(len(key) + 2 for key, _ in lines))
    for key, value in lines:
        print(f"{key + ':':{width}}{value}")
    return 0 if probe.reachable else 1


def _reach(backend: Backend, image: str) -> list[Reach]:
    from ..reach import measure
    from ..spec import validate_image

    return measure(backend, validate_image(image))


def _reach_lines(found: list[Reach]) -> list[tuple[str, str]]:
    """doctor's words for `--reach`: yes or NO, to what address, how, and why not."""
    lines = []
    for r in found:
        words = f"{'yes' if r.reached else 'NO'}: {r.address} through {r.via}"
        lines.append((f"reach from {r.vantage}", words + (f" ({r.error})" if r.error else "")))
    by_vantage = {r.vantage: r.reached for r in found}
    if by_vantage.get("the project network") and not by_vantage.get("the default network", True):
        lines.append(
            (
                "what to do",
                "on this engine a published port is not reached from other networks than the service's (rootful "
                "Podman publishes it on the gateway of the service's network only): put a container that needs a "
                "project's published port on that project's network",
            )
        )
    return lines


def runtime_answers(backend: Backend) -> bool:
    """Say once, up front, that the runtime is not there (rather than once per service). One
    listing answers that: cheaper than a full probe, whose details only `doctor` shows."""
    return listing(backend) is not None


def listing(backend: Backend) -> list[ContainerInfo] | None:
    """Every container this layer made there (`backend.list()`), or None, having said that the
    runtime is not there (as `runtime_answers`): one request both answers and lists."""
    try:
        return backend.list()
    except RuntimeUnavailableError as exc:
        print(f"oblako-backends: {exc}", file=sys.stderr)
        instead = answering_instead(backend.name)
        if instead:
            print(f"oblako-backends: {instead}", file=sys.stderr)
        print("oblako-backends: `oblako-backends doctor` says more", file=sys.stderr)
        return None
