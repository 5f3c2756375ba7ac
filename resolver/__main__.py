"""``python -m resolver``: the same as the ``holdfast`` command."""

import sys

from resolver.cli import main

sys.exit(main())
