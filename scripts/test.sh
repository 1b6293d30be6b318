#!/usr/bin/env bash
# The README's test command: set up, check style and types, then run every test. Runtime
# tests start real daemons on private sockets themselves (scripts/runtimes.py); with CI
# set, a runtime that cannot start fails the run instead of skipping.
# The tests themselves: scripts/pytest.sh (the cluster's beside the others).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-setup.sh
.venv/bin/tox -q -e lint,type   # style and types, over every distribution tox.ini lists
exec bash scripts/pytest.sh "$@"
