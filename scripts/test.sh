#!/usr/bin/env bash
# The README's test command: set up, check style and types, then run every test. Runtime
# tests start real daemons on private sockets themselves (scripts/runtimes.py); with CI
# set, a runtime that cannot start fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-setup.sh
.venv/bin/ruff check core plugins examples tests conftest.py scripts bench
.venv/bin/ruff format --check --quiet core plugins examples tests conftest.py scripts bench
.venv/bin/mypy core/oblako_backends plugins/*/src examples/oblako-backend-*/src
exec .venv/bin/python -m pytest "$@"
