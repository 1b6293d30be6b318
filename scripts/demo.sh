#!/usr/bin/env bash
# The README's first command, the main job: set up, make sure a container runtime answers
# (on Debian as root, start a private Docker Engine if none does), start the two demo
# services of examples/demo.toml (they talk to each other through the host), show them,
# a page, their logs, and take them down again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-setup.sh
export PATH="$PWD/.venv/bin:$PATH"
DEMO=examples/demo.toml
RUNTIME_DIR=""
cleanup() {
  oblako-backends down "$DEMO" >/dev/null 2>&1 || true
  oblako-backends down -f examples/compose.yaml >/dev/null 2>&1 || true
  if [ -n "$RUNTIME_DIR" ]; then python scripts/runtimes.py stop --dir "$RUNTIME_DIR"; rm -rf "$RUNTIME_DIR" 2>/dev/null || true; fi
}
trap cleanup EXIT

if ! oblako-backends doctor >/dev/null 2>&1; then
  RUNTIME_DIR=$(mktemp -d /tmp/oblako-demo.XXXXXX)
  echo "== no container runtime answered; starting a private Docker Engine in $RUNTIME_DIR"
  export "$(python scripts/runtimes.py start docker --dir "$RUNTIME_DIR")"
fi
echo "== oblako-backends doctor"
oblako-backends doctor
ENDPOINT=$(oblako-backends doctor --json | python -c 'import json, sys; print(json.load(sys.stdin)["endpoint"])')
echo "== the base image, built from scratch (static busybox, no registry needed)"
python scripts/runtimes.py image --url "$ENDPOINT"

echo "== oblako-backends up $DEMO"
oblako-backends up "$DEMO"
echo "== oblako-backends ps"
oblako-backends ps
echo "== GET http://127.0.0.1:18462/ (caller, serving what it fetched from greeter through the host)"
python -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:18462/", timeout=10).read().decode(), end="")'
for name in examples-greeter-1 examples-caller-1; do  # <project>-<service>-<n>, as Compose names them; the project is the directory
  echo "== oblako-backends logs $name"
  oblako-backends logs "$name"
done
echo "== oblako-backends down $DEMO"
oblako-backends down "$DEMO"

COMPOSE=examples/compose.yaml  # the same demo as a Compose file
echo "== oblako-backends up -f $COMPOSE"
oblako-backends up -f "$COMPOSE"
echo "== GET http://127.0.0.1:18462/ (the Compose project)"
python -c 'import urllib.request; print(urllib.request.urlopen("http://127.0.0.1:18462/", timeout=10).read().decode(), end="")'
echo "== oblako-backends logs --project examples"
oblako-backends logs --project examples
echo "== oblako-backends down -f $COMPOSE"
oblako-backends down -f "$COMPOSE"
echo "== oblako-backends ps --all"
oblako-backends ps --all
