"""``python -m synchro``: see :mod:`synchro.runner`."""

import sys

from synchro.runner import main

sys.exit(main())
