"""``python -m wlearn`` runs the ``wlearn`` command."""

import sys

from .cli import main

sys.exit(main())
