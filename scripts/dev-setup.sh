#!/usr/bin/env bash
# One command for a development environment: .venv with the core and every plugin
# distribution installed editable, plus the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
editable=(-e ".[testing]" --group dev)
for plugin in plugins/*/ examples/oblako-backend-*/; do editable+=(-e "$plugin"); done
.venv/bin/python -m pip install -q --disable-pip-version-check "${editable[@]}"
