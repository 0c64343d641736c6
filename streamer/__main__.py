"""``python -m streamchill.streamer`` is ``streamchill``."""

import sys

from streamchill.streamer.commands.cli import main

sys.exit(main())
