#!/usr/bin/env bash
# The README's first command, the main job: set up, make sure a container runtime answers
# (on Debian as root, start a private Docker Engine if none does), start a real service
# container on the default backend, show its status, a page it serves and its logs, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/dev-setup.sh
export PATH="$PWD/.venv/bin:$PATH"
NAME=oblako-demo-web
RUNTIME_DIR=""
cleanup() {
  oblako-backends stop "$NAME" >/dev/null 2>&1 || true
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
echo "== building the demo image from scratch (static busybox, no registry needed)"
python scripts/runtimes.py image --url "$ENDPOINT"

echo "== oblako-backends run $NAME"
oblako-backends run "$NAME" localhost/oblako-test:1 -p 8080 -e GREETING="hello from the demo" \
  -- sh -c 'echo "demo service starting: $GREETING"; trap "exit 0" TERM; httpd -f -v -p 8080 -h /www & wait'
PORT=$(oblako-backends ps --json | python -c "import json, sys; print([c for c in json.load(sys.stdin) if c['name'] == '$NAME'][0]['ports'][0]['host_port'])")
python - "$PORT" <<'PY'
import sys, time, urllib.request
port, deadline = sys.argv[1], time.monotonic() + 30
while True:  # readiness: poll the published port until the service answers
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(f"the service did not answer on 127.0.0.1:{port}")
        time.sleep(0.2)
print(f"== GET http://127.0.0.1:{port}/ -> {body.strip()}")
PY
echo "== oblako-backends ps"
oblako-backends ps
echo "== oblako-backends status $NAME"
oblako-backends status "$NAME"
echo "== oblako-backends logs $NAME"
oblako-backends logs "$NAME"
echo "== oblako-backends stop $NAME"
oblako-backends stop "$NAME"
echo "== oblako-backends status $NAME"
oblako-backends status "$NAME"
