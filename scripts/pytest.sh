#!/usr/bin/env bash
# pytest "$@" from the project's .venv. With OBLAKO_TEST_BESIDE=1, a cluster named
# (OBLAKO_TEST_KUBECONFIG, as .ci/run sets it) and no selection of the caller's own (-m, -k),
# the tests that need the cluster (marker `cluster`) run in a second pytest process beside the
# others: they mostly wait on the cluster, the others on the engines. Both must pass; the
# cluster's output follows the other's. Off by default: on a 2-core machine the two at once
# saved 7 of 53 minutes, and one Podman exec's output came back empty under that load.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${OBLAKO_TEST_BESIDE:-0}" in
  0 | 1) ;;
  *) echo "scripts/pytest.sh: OBLAKO_TEST_BESIDE must be 0 or 1 (1: the cluster's tests beside the others)" >&2; exit 2 ;;
esac
selects=false
for arg in "$@"; do
  case $arg in -m | -m* | -k | -k*) selects=true ;; esac
done
if [ "${OBLAKO_TEST_BESIDE:-0}" != 1 ] || [ -z "${OBLAKO_TEST_KUBECONFIG:-}" ] || $selects; then
  exec .venv/bin/python -m pytest "$@"
fi

cluster_log=$(mktemp "${TMPDIR:-/tmp}/oblako-cluster-tests.XXXXXX")
# Both run as background jobs, which a script starts with Ctrl-C ignored: given back, so that
# Ctrl-C (which reaches this whole process group) ends each through its teardown. The script
# itself only waits, so its traps run at once; TERM sent to it alone is passed on as INT.
env --default-signal=INT .venv/bin/python -m pytest -m cluster "$@" > "$cluster_log" 2>&1 &
cluster=$!
env --default-signal=INT .venv/bin/python -m pytest -m "not cluster" "$@" &
others=$!
finish() {
  status=0 cluster_status=0
  wait "$others" || status=$?
  wait "$cluster" || cluster_status=$?
  echo "=== the tests that need the Kubernetes cluster (run beside the ones above) ==="
  cat "$cluster_log"
  rm -f "$cluster_log"
  # 5: no test collected; fine for one of the two when the caller's paths hold only the other's.
  if [ "$status" -eq 5 ] && [ "$cluster_status" -ne 5 ]; then status=0; fi
  if [ "$cluster_status" -eq 5 ] && [ "$status" -ne 5 ]; then cluster_status=0; fi
  if [ "$status" -ne 0 ]; then exit "$status"; fi
  exit "$cluster_status"
}
trap 'trap - INT; finish' INT
trap 'trap - TERM; kill -INT "$others" "$cluster" 2>/dev/null; finish' TERM
finish
