"""``python -m helpers analyze FILE ...`` (see helpers.cli)."""
import sys

from .cli import main

sys.exit(main())
