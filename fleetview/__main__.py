"""`python -m fleetview` is the command line (and how the daemon is started)."""

from __future__ import annotations

import sys

from fleetview.cli import main

if __name__ == "__main__":
    sys.exit(main())
