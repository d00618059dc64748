"""User-facing errors: each carries one line that the CLI prints as
`wood: error: <line>` before exiting non-zero, with no traceback."""


class WoodError(Exception):
    """Bad input from the user or the outside world (a flag, a file, a server)."""
