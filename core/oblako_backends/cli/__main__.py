"""`python -m oblako_backends.cli`, as the `oblako-backends` script."""

import sys

from .parser import main

sys.exit(main())
