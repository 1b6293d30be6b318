"""The README's first command on a machine that already runs Docker as a distribution starts it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import runtimes


def test_the_demo_passes_where_a_stock_docker_engine_already_answers(
    stock_docker_engine: runtimes.Daemon, tmp_path: Path
) -> None:
    """scripts/demo.sh finds the engine on the default socket (nothing of the harness's in its
    environment), and its two services reach each other through the host's bridge gateway."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKER_", "CONTAINER_", "OBLAKO_"))}
    env["HOME"] = str(tmp_path)  # no docker context of anyone's
    argv = ["bash", str(runtimes.ROOT / "scripts" / "demo.sh")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "no container runtime answered" not in done.stdout  # it used the engine that was there
    assert re.search(r"^endpoint:\s+unix:///var/run/docker\.sock \(from default socket\)$", done.stdout, re.M), (
        done.stdout
    )
    assert re.search(
        r"^ports listen on:\s+127\.0\.0\.1; fixed host ports also on the bridge gateway 172\.", done.stdout, re.M
    )
    assert "caller got: hello from greeter" in done.stdout  # caller's log: it reached greeter
