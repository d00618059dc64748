"""Where the user's files go, by the XDG Base Directory spec: `$XDG_CACHE_HOME`,
`$XDG_CONFIG_HOME` and the like when they hold an absolute path, else their
default under the home folder. The spec calls a relative path in one of
them invalid, to be ignored (a relative cache folder would be a new folder
in whichever directory a game happened to start in). With no home folder to
be found (HOME unset, and no password-database entry for this user: a
container run as a bare uid) the default is `NoHome`, raised only when the
default is asked for: a command told where to go (`$XDG_CACHE_HOME`) works."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import WoodError


class NoHome(WoodError):
    """No home folder to put a default folder in; its words say why and what to set."""


def home(var: str, default: str) -> Path:
    """The home folder, for `~/default` (`$var`'s default); NoHome if there is none
    to be found, or HOME names a relative one (`Path.home()` raised RuntimeError)."""
    try:
        found = Path.home()
    except (RuntimeError, KeyError, OSError):  # HOME unset and no passwd entry: "Could not determine home directory."
        why = f"HOME is not set and user {os.getuid()} has no entry in the password database"
    else:
        if found.is_absolute():
            return found
        why = f"HOME is {os.environ.get('HOME', '')!r}, not an absolute path"  # HOME="": ./.cache, wherever it ran
    raise NoHome(f"cannot find the home folder for ~/{default} ({why}): set HOME, or {var} to an absolute path")


def xdg_home(var: str, default: str) -> Path:
    """`$var` if it is set to an absolute path, else `~/default` (".cache", ".config"); NoHome if that has no home."""
    value = os.environ.get(var, "")
    if value and os.path.isabs(value):
        return Path(value)
    return home(var, default) / default
