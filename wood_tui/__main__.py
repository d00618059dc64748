"""`python -m wood_tui`: the `wood` command, where its script is not on the PATH."""
from wood_tui.cli import run_as_module

run_as_module()
