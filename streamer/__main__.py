"""``python -m streamer`` is ``streamchill``."""

import sys

from streamer.cli import main

sys.exit(main())
