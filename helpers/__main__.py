"""``python -m helpers analyze FILE ...``: the command line of :mod:`helpers.cli`."""
import sys

from helpers.cli import main

sys.exit(main())
