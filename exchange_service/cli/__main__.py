"""``python -m exchange_service.cli``: the ``pantau`` command."""

import sys

from exchange_service.cli import main

sys.exit(main())
