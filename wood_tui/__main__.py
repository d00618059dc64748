"""`python -m wood_tui`: the `wood` command, where its script is not on the PATH."""
import sys

from wood_tui.cli import main

sys.exit(main())
