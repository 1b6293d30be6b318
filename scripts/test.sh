#!/usr/bin/env bash
# The README's test command: set up, check style and types, then run every test. Runtime
# tests start real daemons on private sockets themselves (scripts/runtimes.py); with CI
# set, a runtime that cannot start fails the run instead of skipping.
#
# With a cluster named (OBLAKO_TEST_KUBECONFIG, as .ci/run sets it) and no selection of the
# caller's own (-m, -k), the tests that need the cluster (marker `cluster`) run in a second
# pytest process beside the others: they mostly wait on the cluster, the others on the engines.
# Both must pass; the cluster's output follows the other's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-setup.sh
.venv/bin/tox -q -e lint,type   # style and types, over every distribution tox.ini lists

selects=false
for arg in "$@"; do
  case $arg in -m | -m* | -k | -k*) selects=true ;; esac
done
if [ -z "${OBLAKO_TEST_KUBECONFIG:-}" ] || $selects; then
  exec .venv/bin/python -m pytest "$@"
fi

cluster_log=$(mktemp "${TMPDIR:-/tmp}/oblako-cluster-tests.XXXXXX")
# A background job of a script starts with Ctrl-C ignored: given back, so that Ctrl-C (which
# reaches this whole process group) ends it as cleanly as the other, through its teardown.
env --default-signal=INT .venv/bin/python -m pytest -m cluster "$@" > "$cluster_log" 2>&1 &
cluster=$!
trap 'wait "$cluster" 2>/dev/null; exit 130' INT
trap 'kill -INT "$cluster" 2>/dev/null; wait "$cluster" 2>/dev/null; exit 143' TERM
status=0
.venv/bin/python -m pytest -m "not cluster" "$@" || status=$?
cluster_status=0
wait "$cluster" || cluster_status=$?
echo "=== the tests that need the Kubernetes cluster (run beside the ones above) ==="
cat "$cluster_log"
rm -f "$cluster_log"
[ "$cluster_status" -eq 5 ] && cluster_status=0   # 5: the caller's paths hold no cluster test
[ "$status" -ne 0 ] && exit "$status"
exit "$cluster_status"
