"""`python -m oblako_backend_kubernetes --detach STATE_FILE`: start a port-forward supervisor."""

import sys
from pathlib import Path

from .forward import detach_and_supervise, supervise

if sys.argv[1] == "--detach":
    sys.exit(detach_and_supervise(Path(sys.argv[2])))
sys.exit(supervise(Path(sys.argv[1])))
