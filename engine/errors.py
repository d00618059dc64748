"""User-facing errors: each carries one line that the CLI prints as
`wood: error: <line>` before exiting non-zero, with no traceback."""


class WoodError(Exception):
    """Bad input from the user or the outside world (a flag, a file, a server)."""


def files_short(n: int) -> OSError | None:
    """None where this process can open `n` more files now; else the OSError
    that opening one raised (EMFILE: as many files open as `ulimit -n` lets
    it). Asked before work that needs them and cannot say so itself (an event
    loop libuv would abort making), or after SQLite's 'unable to open'."""
    import os

    held: list[int] = []
    try:
        for _ in range(n):
            held.append(os.open(os.devnull, os.O_RDONLY))
    except OSError as e:
        return e
    finally:
        for fd in held:
            os.close(fd)
    return None
