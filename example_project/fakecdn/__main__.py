"""``python -m fakecdn``: see :mod:`fakecdn.cli`."""

import sys

from fakecdn.cli import main

sys.exit(main())
