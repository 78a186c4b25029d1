"""``python -m careplug``."""

import sys

from careplug.cli import main

sys.exit(main())
