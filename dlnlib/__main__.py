"""``python -m dlnlib``: see :mod:`dlnlib.cli`."""

import sys

from .cli import main

sys.exit(main())
