"""``python -m flowcast`` runs the command line."""

import sys

from flowcast.cli import main

sys.exit(main())
