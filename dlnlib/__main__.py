"""``python -m dlnlib``: see :mod:`dlnlib.companion.cli`."""

import sys

from .companion.cli import main

sys.exit(main())
