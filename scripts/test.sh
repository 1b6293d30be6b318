#!/usr/bin/env bash
# The README's test command: set up, then run every test. Runtime tests start real
# daemons on private sockets themselves (scripts/runtimes.py); with CI set, a runtime
# that cannot start fails the run instead of skipping.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-setup.sh
exec .venv/bin/python -m pytest "$@"
