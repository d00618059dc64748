"""`wood`: the command line. Subcommands live in `wood_tui/commands/`, one
module each; a module keeps heavy imports (Textual, httpx) inside `run`
so `wood sim --help` stays quick.
Errors the user can fix (`WoodError`, or a path the system refuses) print
one line and exit 2. This module imports next to nothing when it loads:
the console script imports it before `main` runs, and a Ctrl-C while the
rest loads (the first half second) is one line inside `main`, not a traceback.
SIGTERM and SIGHUP stop a command as Ctrl-C does (`engine.stops`), exit
128 + the signal."""
from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys

try:  # loaded now: with no file left to open (`ulimit -n`), an import then could not read its limit
    import resource
except ImportError:  # not POSIX
    resource = None

COMMANDS = {
    "play": "trade as one creature against the models (the Textual app)",
    "watch": "spectate a live market (the Textual app)",
    "sim": "run the market headless (long or large runs)",
    "replay": "watch a recorded run in the app (Home, End, PgUp, PgDn jump), each round held to the record; "
              "--verify rebuilds it headless and checks its state hash",
    "export": "write a run's model calls and tips as JSONL, or a fine-tuning set (--sft)",
    "report": "the economy's health in a saved run (needs met, prices, hoards, wealth, credit) and how each model traded",
    "sweep": "the same seeds under several rosters, compared metric by metric with 95%% intervals",
    "serve": "start the model servers of a roster (vLLM, one after another, and the embedded model)",
}


OUTPUT_ERRORS = (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG)  # writing a command's output failed
# a path the user gave that the system will not take (a name too long, a loop of links, a folder where a
# file goes...): wherever in a command it surfaces, it is the user's to fix, and one line
PATH_ERRORS = (errno.ENAMETOOLONG, errno.ELOOP, errno.EISDIR, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS,
               errno.ENOENT, errno.EEXIST, errno.ENXIO)


def _parser_class():
    from engine.flags import Parser

    last: list = [None, []]  # the parser that read last, and what it read: a subcommand's, once it has one

    class _Parser(Parser):  # an option that stores one value refuses a second (`engine.flags.Once`)
        def parse_known_args(self, args=None, namespace=None):
            last[:] = [self, sys.argv[1:] if args is None else list(args)]
            return super().parse_known_args(args, namespace)

        def error(self, message: str) -> None:  # one line, exit 2, like every other user error
            self.exit(2, f"wood: error: {message}{_dash_hint(message, *last)}\n")

        def print_help(self, file=None) -> None:
            """argparse's own drops a help it cannot write (`wood sim --help
            >/dev/full` said nothing and exited 0): here the failure is the
            output's, as any command's (`_main`: one line and exit 1, or 141
            for a reader that has gone). With stdout closed when Python
            started (`wood --help >&-`: sys.stdout is None) nothing is
            written, as print writes nothing, not an AttributeError."""
            file = sys.stdout if file is None else file
            if file is None:
                return
            file.write(self.format_help())
            file.flush()
    return _Parser


def _dash_hint(message: str, parser, args: list[str]) -> str:
    """A save named with a leading dash (`wood report -x.db`) is read as an
    unknown option, and argparse says only that RUN.db is missing (or, after
    the paths of `wood export A.db -x.db`, that -x.db is no argument): where
    the word it rejected names a file, how to name it."""
    if message.endswith(": expected one argument"):
        return _dashed_value_hint(message, parser, args)
    paths = [a for a in parser._actions if not a.option_strings and isinstance(a.metavar, str)]
    missing = message.startswith("the following arguments are required: ") and any(
        name in {a.metavar for a in paths} for name in message.split(": ", 1)[1].split(", "))
    many = message.startswith("unrecognized arguments: ") and any(a.nargs in ("+", "*") for a in paths)
    if not (missing or many):
        return ""
    given = args[:args.index("--")] if "--" in args else args  # after --, every word is a path already
    named = next((a for a in given if a.startswith("-") and a not in parser._option_string_actions
                  and os.path.isfile(a)), None)
    if named is None:
        return ""
    from engine.sanitise import shown_path

    return (f"; {shown_path(named)} is a file: name it {shown_path('./' + named)}, or end the command with "
            f"-- {shown_path(named)}")


def _dashed_value_hint(message: str, parser, args: list[str]) -> str:
    """A flag's value that begins with a dash and is no plain negative number
    (`wood sweep --seeds -3--1`, a range of negative seeds) is read by
    argparse as an option, and it says only 'expected one argument': where
    the word after the flag begins with one, how to give it."""
    flags = message.removeprefix("argument ").rsplit(": ", 1)[0].split("/")
    given = args[:args.index("--")] if "--" in args else args

    def names_it(word: str) -> bool:  # the flag, or a start of its long name that argparse takes for it (`--see`)
        return word in flags or (word.startswith("--") and len(word) > 2 and any(
            f.startswith(word) for f in flags) and word not in parser._option_string_actions)

    at = next((i for i, a in enumerate(given[:-1]) if names_it(a) and given[i + 1].startswith("-")
               and given[i + 1] not in parser._option_string_actions), None)  # not the flag given first with a value
    if at is None:
        return ""
    from engine.sanitise import shown_path

    return (f"; to give {shown_path(given[at + 1])}, which begins with a dash, write "
            f"{shown_path(given[at] + '=' + given[at + 1])}")


def build_parser():
    _Parser = _parser_class()
    parser = _Parser(prog="wood", description="Thousand Token Wood: woodland creatures trade, small models think.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_ in COMMANDS.items():
        p = sub.add_parser(name, help=help_, description=help_.replace("%%", "%"))  # help is %-formatted, this not
        _module(name).add_arguments(p)
    return parser


def _standard_descriptors_open() -> None:
    """Descriptors 0-2 each name something, /dev/null where one was closed
    (`wood sim ... <&-`): else the next file opened takes the number, and
    uvloop, closing one of its own that is 0, aborted the process after the
    summary (exit 134). What Python already found closed stays None
    (`sys.stdin`): nothing is read from or written to the stand-in."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            if (got := os.open(os.devnull, os.O_RDWR)) != fd:  # the lowest free number: fd, as the lower are open
                os.close(got)


def _escape_what_cannot_be_shown() -> None:
    """A character the terminal's encoding lacks (`PYTHONIOENCODING=ascii`, a
    Latin-1 terminal: a creature called Écureuil) is written as its escape,
    `\\xc9cureuil`, as Python writes stderr, not a UnicodeEncodeError halfway
    through a summary."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):  # not a text stream (a test's), or closed
            stream.reconfigure(errors="backslashreplace")


class _Forgiving:
    """`sys.stderr` while a command runs: its progress lines and notes are not
    the command's work, so one that cannot be written (`2>/dev/full`, a
    reader that has gone, `2>&-`) is dropped, not the end of the run: after
    the first write that fails, descriptor 2 is /dev/null (nothing fails again,
    at exit either) and the run goes on; its exit status says how it ended."""

    def __init__(self, stream) -> None:
        self._stream = stream if stream is not None else open(os.devnull, "w")  # closed when Python started
        self.lost: OSError | ValueError | None = None

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except (OSError, ValueError) as e:
            self._lose(e)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError) as e:
            self._lose(e)

    def _lose(self, e: OSError | ValueError) -> None:
        if self.lost is None:
            self.lost = e
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), self._stream.fileno())
            with contextlib.suppress(OSError, ValueError):  # what was held back goes to /dev/null now
                self._stream.flush()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _descriptor_limit(e: BaseException) -> int | None:
    """The limit on this process's open files (`ulimit -n`) where `e`, or an
    error it was raised in handling (uvloop's, closing a loop that could not
    start), is that limit reached (EMFILE); 0 where it cannot be read; None
    where `e` is no such error."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno == errno.EMFILE:
            try:
                return max(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 0)
            except (AttributeError, OSError, ValueError):  # no such limit to read (Windows)
                return 0
        e = e.__cause__ or e.__context__
    return None


def _module(name: str):
    return importlib.import_module(f"wood_tui.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    stops = None
    stderr = sys.stderr
    try:
        from engine import stops

        stops.take_stop_signals()
        return _main(argv)
    except Exception as e:
        if (limit := _descriptor_limit(e)) is None:
            raise
        # the process could open no more files (a low `ulimit -n`): wherever it struck (the event loop, an
        # import, SQLite), one line; what a run committed is in its save, which resumes
        with contextlib.suppress(OSError, ValueError):
            print("wood: error: too many open files: " + (f"the limit is {limit} (ulimit -n); raise it" if limit else
                                                          "raise the limit on open files"), file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C (or SIGTERM, SIGHUP) where a command has no word of its own for it
        line, code = ("wood: interrupted", 130) if stops is None else (f"wood: {stops.interrupted(e)}",
                                                                       stops.exit_status(e))
        with contextlib.suppress(OSError, ValueError):  # a closed stderr
            print(line, file=sys.stderr)
        return code
    finally:
        sys.stderr = stderr  # an in-process caller (a test) gets its own back
        if stops is not None:  # an in-process caller (a test) gets its signals back as they were
            stops.release_stop_signals()


def _main(argv: list[str] | None) -> int:
    from engine.errors import WoodError
    from engine.sanitise import clean_text, inert_lines, shown_path

    _standard_descriptors_open()
    _escape_what_cannot_be_shown()
    sys.stderr = _Forgiving(sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)  # inside: `--help` writes the help, which may fail as output does
        if not args.command:  # a usage error: the help goes where errors go
            parser.print_help(sys.stderr)
            return 2
        return int(_module(args.command).run(args) or 0)
    except WoodError as e:  # its words may hold a user's path or a server's text: each line made inert
        print(f"wood: error: {inert_lines(str(e))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `wood report RUN.db | head`: the reader has gone, nothing is lost
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
    except RuntimeError as e:
        if not str(e).startswith("Symlink loop"):  # pathlib's word for a loop of links
            raise
        print(f"wood: error: {clean_text(str(e), 300)}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno in PATH_ERRORS and e.filename is not None:
            print(f"wood: error: {shown_path(os.fsdecode(e.filename))}: {e.strerror}", file=sys.stderr)
            return 2
        if e.errno not in OUTPUT_ERRORS:
            raise
        # the output could not be written (a full disk, a dead terminal): one line, and no second
        # error when Python flushes what is left at exit; what a run saved is kept
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print(f"wood: error: cannot write the output ({e.strerror or e})", file=sys.stderr)
        return 1


def run_as_module() -> None:
    """`python -m wood_tui` (or `-m wood_tui.cli`): `sys.exit(main())`, with
    main's own exit status even after a Ctrl-C. CPython (3.11 and 3.12) marks
    a KeyboardInterrupt raised inside code compiled from a string (the
    `__init__` dataclasses writes while a module imports) as unhandled even
    when it is caught, and `python -m` then ends the process with SIGINT
    itself, past the status main returned (130 after `wood: interrupted`).
    A string evaluated cleanly afterwards resets that mark; the console
    script, run as a file, never reads it."""
    status = main()
    eval("None")  # the reset: see above
    sys.exit(status)


if __name__ == "__main__":
    run_as_module()
