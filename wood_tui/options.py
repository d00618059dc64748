"""What a run is, as one typed object: `RunOptions`, built from one flag table.

`wood sim`, `wood watch` and `wood play` share the run flags (creatures,
rounds, seed, brains, roster, save, resume). `add_run_flags` declares them on
a parser from `RUN_FLAGS`; `RunOptions.from_args` checks how they combine and
fills in the command's default brains. Bounds live here, once, and show in
`--help`; a value out of bounds is one `wood: error:` line. Tests and bench
scripts build a run the same way (`RunOptions.parse("sim", [...])` or the
dataclass itself) and hand it to `wood_tui.game.open_game`.
"""
from __future__ import annotations

import argparse
import errno
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from engine.errors import WoodError
from engine.flags import bounded_int, whole_arg
from engine.sanitise import shown_path
from engine.state import MAX_ROUNDS, SEED_LIMIT, SEEDS
from engine.world import BRAIN_KINDS as BRAINS
from engine.world import MAX_CREATURES, MIN_CREATURES

Brains = Literal["scripted", "llm"]
DEFAULT_ROUNDS = 100
DEFAULT_SEED = 1


def _check_seeds(seeds: list[int], v: str, what: str) -> None:
    """The one bound on a seed, wherever seeds are typed (`--seed`, `wood sweep
    --seeds`, `wood export --holdout-seeds`): a signed 64-bit whole number."""
    if any(not -SEED_LIMIT <= n < SEED_LIMIT for n in seeds):
        raise argparse.ArgumentTypeError(f"expected {what} from {SEEDS}, got {v.strip()}")


def _seed(v: str) -> int:
    n = whole_arg(v)
    _check_seeds([n], v, "a seed")
    return n


def seed_list(v: str) -> list[int]:
    """Seeds as a flag lists them (`1-10`, `1,3,7`, `1-3,9`), each bounded as `--seed` is."""
    from engine.sweep import parse_seeds

    try:
        seeds = parse_seeds(v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    _check_seeds(seeds, v, "seeds each")
    return seeds


def path_text(v: str, what: str = "file path") -> str:
    """A path argument as given, refused if empty or blank (`Path("")` is the
    current folder: `wood export ''` had read every save under it) or if it
    holds a NUL byte (no system call takes one: Python's ValueError). Every
    flag or argument naming a file or folder is read by this (through
    `file_text` or `dir_text`)."""
    if not v.strip():
        raise argparse.ArgumentTypeError(f"expected a {what}, got an empty string")
    if "\x00" in v:
        raise argparse.ArgumentTypeError(f"a {what} cannot contain a NUL byte")
    return v


def file_text(v: str, what: str = "file path") -> str:
    """A file argument, one to read or one to make (`--save`, `--resume`,
    `wood report RUN.db`, `--roster`, `--sft`), refused as `path_text` refuses
    one, and where its name ends in `/` (or `/.`): that names a folder, and
    pathlib drops it (`--save runs/` had made a file called runs, and `wood
    report base.db/` or `--resume base.db/` read the file base.db)."""
    v = path_text(v, what)
    if names_a_folder(v):
        ending = "/." if v.endswith("/.") else "/"
        raise argparse.ArgumentTypeError(f"expected a {what}, got {shown_path(v)}: a name ending in {ending} is a folder's")
    return v


def names_a_folder(v: str) -> bool:
    """Whether a path as typed ends as only a folder's name can (`runs/`, `runs/.`)."""
    return v.endswith(("/", "/."))


def save_or_folder_text(v: str) -> str:
    """`wood export`'s RUN.db: a save, or a folder holding saves; a name
    ending in `/` where a file is (`base.db/`) is refused as `file_text`
    refuses it, not read as the file."""
    v = path_text(v)
    if names_a_folder(v) and not os.path.isdir(v) and os.path.lexists(os.path.normpath(v)):
        file_text(v, "save file or a folder")  # something not a folder is there: refused
    return v


def dir_text(v: str) -> str:
    """A folder argument as given (`--out DIR`, `--plots DIR`), refused as
    `path_text` refuses a file's, and where it is `-`: files are written into
    the folder, and none of these writes to standard output (`wood export
    --out -` had made a folder called -); `./-` names such a folder."""
    v = path_text(v, "directory path")
    if v == "-":
        raise argparse.ArgumentTypeError("expected a directory path, got -: the files are written into a folder, "
                                         "not to standard output (for a folder named -, write ./-)")
    return v


# what a path can be, as a line about it says so: /dev/null is no file, nor a pipe or a socket
KINDS = ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a broken link"),
         (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
         (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"))


def kind_of(path: str | Path) -> str:
    """What is at `path` ("a file", "a character device"...), through a link
    (a broken one is said to be one, and one of a loop of links so); "nothing"
    where nothing is."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        if e.errno == errno.ELOOP and os.path.lexists(path):
            return "a symbolic link loop (links that lead round in a circle)"
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return "nothing"
    return next((kind for test, kind in KINDS if test(mode)), "neither a file nor a directory")


def no_folder_at(path: str | Path) -> bool:
    """Whether something other than a folder is at `path`, where one is to be
    used or made (`--out`, `--plots`, a save's folder): a file, a device, or a
    link to nowhere or round a loop (pathlib calls those nothing, and then
    mkdir said 'File exists', and a loop was said in Python's words)."""
    return os.path.lexists(path) and not os.path.isdir(path)


def not_a_directory(path: str | Path) -> str:
    """`PATH is a file, not a directory`, saying truly what PATH is."""
    return f"{shown_path(path)} is {kind_of(path)}, not a directory"


def _file(v: str) -> Path:
    return Path(file_text(v))


@dataclass(frozen=True)
class Flag:
    """One run flag: its name, how its text is read, and its help."""

    name: str
    metavar: str | None
    help: str
    type: object = None
    choices: tuple[str, ...] | None = None
    default: object = None

    @property
    def dest(self) -> str:
        return self.name.removeprefix("--")


RUN_FLAGS: tuple[Flag, ...] = (
    Flag("--creatures", "N", f"number of traders, {MIN_CREATURES} to {MAX_CREATURES:,} "
         "(default five; not with --roster, which lists its own)", bounded_int(MIN_CREATURES, MAX_CREATURES)),
    Flag("--rounds", "R", f"rounds to play, 1 to {MAX_ROUNDS:,} (default {DEFAULT_ROUNDS}); "
         "with --resume, the total", bounded_int(1, MAX_ROUNDS)),
    Flag("--seed", "S", f"the run's seed, a signed 64-bit whole number (default {DEFAULT_SEED}; "
         "a resumed run keeps its own)", _seed),
    Flag("--brains", None, "who decides: scripted rules, or models ({default}; llm with no --roster "
         "uses the embedded SmolLM2 server)", choices=BRAINS),
    Flag("--roster", "FILE", "a roster TOML mapping creatures to models (implies --brains llm)", _file),
    Flag("--save", "PATH", "write the ledger (SQLite) here as the run goes; the file must not exist yet", _file),
    Flag("--resume", "PATH", "continue a saved run from its last committed round (its recorded state is "
         "verified first)", _file),
)


def add_run_flags(p: argparse.ArgumentParser, *, default_brains: Brains) -> None:
    """Declare the run flags on a command's parser (`default_brains` shows in help)."""
    for f in RUN_FLAGS:
        kw: dict = {"metavar": f.metavar, "default": f.default,
                    "help": f.help.replace("{default}", f"default {default_brains}")}
        if f.type is not None:
            kw["type"] = f.type
        if f.choices is not None:
            kw["choices"] = f.choices
        p.add_argument(f.name, **kw)


@dataclass(frozen=True)
class RunOptions:
    """One run: a new one (creatures/roster, seed, brains, save) or a resumed one.

    `brains` is resolved for a new run ("llm" whenever a roster is given); for
    a resumed run it is None unless the user named it (then it must match the
    save's). `rounds` None means the default (a new run) or the save's target.
    """

    creatures: int | None = None
    rounds: int | None = None
    seed: int | None = None  # None: DEFAULT_SEED for a new run, the save's for a resumed one
    brains: Brains | None = "scripted"
    roster: Path | None = None
    save: Path | None = None
    resume: Path | None = None

    def __post_init__(self) -> None:
        if self.resume is not None and (self.save or self.creatures or self.roster):
            raise WoodError("--resume continues a saved run: it takes no --save, --creatures or --roster")
        if self.resume is not None and self.seed is not None:
            raise WoodError("--resume continues a saved run with its own seed: it takes no --seed")
        if self.roster is not None and self.creatures is not None:
            raise WoodError("--roster lists the creatures (a [crowd] table sets how many): it takes no --creatures")
        if self.creatures is not None and not MIN_CREATURES <= self.creatures <= MAX_CREATURES:
            raise WoodError(f"--creatures must be {MIN_CREATURES} to {MAX_CREATURES:,}")
        if self.rounds is not None and not 1 <= self.rounds <= MAX_ROUNDS:
            raise WoodError(f"--rounds must be 1 to {MAX_ROUNDS:,}")
        if self.brains is not None and self.brains not in BRAINS:
            raise WoodError(f"--brains must be one of {', '.join(BRAINS)}")
        if self.roster is not None and self.brains == "scripted":
            raise WoodError("--roster gives the creatures models: it cannot go with --brains scripted")
        if self.save is not None:
            _check_new_save(self.save)

    @classmethod
    def from_args(cls, args: argparse.Namespace, *, default_brains: Brains) -> "RunOptions":
        """The run a command's parsed flags describe."""
        resume = args.resume
        brains = args.brains
        if resume is None:
            brains = "llm" if args.roster is not None and brains is None else (brains or default_brains)
        return cls(creatures=args.creatures, rounds=args.rounds, seed=args.seed, brains=brains,
                   roster=args.roster, save=args.save, resume=resume)

    @classmethod
    def parse(cls, command: str, argv: list[str]) -> "RunOptions":
        """The run `wood COMMAND ARGV...` would play (for tests and bench scripts)."""
        from .cli import build_parser

        args = build_parser().parse_args([command, *argv])
        return cls.from_args(args, default_brains=DEFAULT_BRAINS[command])

    @property
    def target_rounds(self) -> int:
        return self.rounds or DEFAULT_ROUNDS

    def but(self, **changes) -> "RunOptions":
        return replace(self, **changes)


DEFAULT_BRAINS: dict[str, Brains] = {"sim": "scripted", "watch": "llm", "play": "llm"}


def _check_new_save(path: Path) -> None:
    """A new save goes where a file can be made, and never over an existing one."""
    if path.is_dir():  # a folder, or a link to one: no save to resume, and no file can go there
        raise WoodError(f"--save {shown_path(path)} is a directory; a save is a file (e.g. {shown_path(path / 'run.db')})")
    if (path.exists() or path.is_symlink()) and not path.is_file():  # a device, a pipe, a broken link: nothing to resume
        raise WoodError(f"--save {shown_path(path)} is {kind_of(path)}, not a regular file; a save is a new file: "
                        "choose another --save path")
    if path.exists() or path.is_symlink():
        raise WoodError(f"{shown_path(path)} already exists; resume it with --resume, or choose another --save path")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        what = not_a_directory(parent) if no_folder_at(parent) else f"{shown_path(parent)} does not exist"
        raise WoodError(f"--save {shown_path(path)}: {what}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WoodError(f"--save {shown_path(path)}: directory {shown_path(parent)} is not writable")
