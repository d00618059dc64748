"""Where the user's files go, by the XDG Base Directory spec: `$XDG_CACHE_HOME`,
`$XDG_CONFIG_HOME` and the like when they hold an absolute path, else their
default under the home folder. The spec calls a relative path in one of
them invalid, to be ignored (a relative cache folder would be a new folder
in whichever directory a game happened to start in)."""
from __future__ import annotations

import os
from pathlib import Path


def xdg_home(var: str, default: str) -> Path:
    """`$var` if it is set to an absolute path, else `~/default` (".cache", ".config")."""
    value = os.environ.get(var, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / default
