"""``python -m flowcast`` runs the command line."""

import sys

from flowcast.cli import main

if __name__ == "__main__":
    sys.exit(main())
