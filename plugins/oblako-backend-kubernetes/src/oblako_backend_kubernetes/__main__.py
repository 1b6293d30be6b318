"""`python -m oblako_backend_kubernetes --detach DIRECTORY --context=CONTEXT --namespace=NAMESPACE`:
start the forwarder of one state directory (see forwarder.py)."""

import argparse
from pathlib import Path

from .forwarder import detach_and_serve, serve

parser = argparse.ArgumentParser(prog="python -m oblako_backend_kubernetes")
parser.add_argument("--detach", action="store_true", help="fork into a session of its own and return")
parser.add_argument("directory", type=Path)
parser.add_argument("--context", default="")
parser.add_argument("--namespace", required=True)
args = parser.parse_args()
raise SystemExit((detach_and_serve if args.detach else serve)(args.directory, args.context, args.namespace))
