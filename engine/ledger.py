"""The ledger: an append-only SQLite file (WAL) that a run survives in.

Each round is one transaction: the tips issued (with their truth — the
ledger is the one place it is written down), every creature's proposal as
decided (action, outcome, reason, raw text), every model call, every event,
the state hash, and a snapshot of the latest state (canonical JSON, for
tools that want the last state without a replay; a resume does not trust
it). Killed at any point, a run resumes from its last committed round by
replaying the recorded actions (`engine.replay`), each round checked
against its recorded hash.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import glob
import json
import math
import os
import re
import sqlite3
import stat
import time
from dataclasses import asdict, fields
from pathlib import Path
from urllib.parse import quote

from pydantic import ValidationError

from .actions import Action
from .brains import Decision
from .errors import WoodError, files_short
from .events import Event
from .sanitise import clean_text, resume_command, shown_path
from .state import MAX_ROUNDS, SEED_LIMIT, SEEDS, State
from .world import BRAIN_KINDS as BRAINS
from .world import MIN_CREATURES, RosterEntry, World, in_file

FORMAT = "thousand-token-wood-ledger"
VERSION = 7  # 2: every good spoils, debts outlive a default, the granary; 3: short, ally, whisper; 4: groves, owls and squirrels make both;
# 5: the magistrate judges each trade on a tip against the resolution round's mean price (a wash offsets nothing);
# 6: its fallback is the going price before that round, sales to the granary on a tip are judged, a short
# buys in at asks up to the squeeze's price, a pact offered to a creature with all its allies is refused;
# 7: the headlines (hashed with the state) say "1 coin" of a fine, a default or a granary purchase of one, not "1 coins",
# and one unit of a good by its `one` in goods.toml ("bought 1 berry", "short of 1 acorn"), not "1 berries"
# Older versions whose rows read the same as this one's (only the rules differ): their model calls, tips
# and events can be read (`wood export`), never replayed or resumed on this build's rules.
ROWS_ALIKE = (3, 4, 5, 6)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (round INTEGER PRIMARY KEY, state_hash TEXT NOT NULL,
    wall_s REAL, committed_at REAL);
CREATE TABLE IF NOT EXISTS actions (round INTEGER, creature TEXT, action TEXT NOT NULL, outcome TEXT,
    reason TEXT, raw TEXT, PRIMARY KEY (round, creature));
CREATE TABLE IF NOT EXISTS events (round INTEGER, seq INTEGER, kind TEXT, public INTEGER, who TEXT,
    data TEXT, PRIMARY KEY (round, seq));
CREATE TABLE IF NOT EXISTS calls (round INTEGER, creature TEXT, model TEXT, messages TEXT, raw TEXT,
    action TEXT, outcome TEXT, reason TEXT, repairs TEXT, latency_ms REAL, prompt_tokens INTEGER,
    completion_tokens INTEGER, finish_reason TEXT, PRIMARY KEY (round, creature));
CREATE TABLE IF NOT EXISTS tips (id INTEGER PRIMARY KEY, shock TEXT, good TEXT, text TEXT,
    recipients TEXT, truth INTEGER, issued INTEGER, resolves INTEGER);
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), round INTEGER, state TEXT);
"""


# What `Ledger.open` insists on: every table with its columns, and the meta keys.
COLUMNS = {
    "meta": ("key", "value"),
    "rounds": ("round", "state_hash", "wall_s", "committed_at"),
    "actions": ("round", "creature", "action", "outcome", "reason", "raw"),
    "events": ("round", "seq", "kind", "public", "who", "data"),
    "calls": ("round", "creature", "model", "messages", "raw", "action", "outcome", "reason", "repairs",
              "latency_ms", "prompt_tokens", "completion_tokens", "finish_reason"),
    "tips": ("id", "shock", "good", "text", "recipients", "truth", "issued", "resolves"),
    "snapshot": ("id", "round", "state"),
}
# ... and each table's primary key (SCHEMA's): without it a row can be recorded twice (a table made again by
# hand), and a doubled model call, counted twice by a report and written twice to a fine-tuning set, verifies
KEYS = {"meta": ("key",), "rounds": ("round",), "actions": ("round", "creature"), "events": ("round", "seq"),
        "calls": ("round", "creature"), "tips": ("id",), "snapshot": ("id",)}


@functools.cache
def _insert(table: str, verb: str = "") -> str:
    """The statement that writes a row of `table`, naming its columns: a save
    with a column added by hand (another tool's notes) takes a round as its
    own does, the added column left to its default. (Made once per table:
    every round's commit asks for five.)"""
    cols = COLUMNS[table]
    return f"INSERT {verb + ' ' if verb else ''}INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


ROSTER_FIELDS = tuple(f.name for f in fields(RosterEntry))
RUN_KEYS = ("format", "seed", "brains", "roster", "extra", "created")  # the meta that is a run's identity (`run_id`)
# Event data that readers of a recorded run (the replay screen) rely on, by kind.
EVENT_FIELDS = {"trade": {"good": str, "qty": int}, "rejected": {"reason": str}, "tip_resolved": {"truth": object},
                "fine": {"amount": int}}
_INT = re.compile(r"-?[0-9]{1,30}")


class LedgerError(WoodError):
    pass


class CompanionError(LedgerError):
    """A save refused for what is (or cannot be made) where SQLite keeps its
    companions (a -wal that does not fit it or whose header is damaged, a
    link, a folder or another save at its -wal or -shm, a rollback journal,
    no room or no right to make its -shm), not for what the save itself
    holds: it may be whole, so the way on is what the line says of that
    file, never to remove the save."""


class NewerSaveError(LedgerError):
    """A save written by a newer wood (a higher ledger version): that build
    reads it, this one cannot; never a reason to remove it."""


class OlderSaveError(LedgerError):
    """A save of an older ledger version whose rows read alike (`ROWS_ALIKE`):
    this build neither replays nor resumes it, but it opens `rows_only`
    (`wood export` reads its records), so it is no reason to remove it."""


class OldSaveError(LedgerError):
    """A save of an older ledger version whose rows do not read alike (below
    `ROWS_ALIKE`): this build reads none of it, but the older wood that wrote
    it does, so it is no reason to remove it."""


class LockedSaveError(LedgerError):
    """A save another program holds locked (SQLite's lock, e.g. an `sqlite3`
    shell in an exclusive transaction): it may be whole, so the way on is to
    let that program let go of it, never to remove it."""


class FirstRoundUnsavedError(LedgerError):
    """Round 1 refused (a lock another program took on the save after it was
    opened, a full disk): its line ends 'no round was saved', with no way on,
    which is the caller's to say (a new save the game removes,
    `wood_tui.game`); `until` is what must change first."""

    def __init__(self, line: str, until: str) -> None:
        super().__init__(line)
        self.until = until


class UnreadableSaveError(LedgerError):
    """A save this user may not read, or may not read the -wal or -shm that
    SQLite reads it through (their permissions, not what they hold): it may
    be whole, so the way on is to be let read it, never to remove it."""


NUMBER_MAX = 1 << 31  # a call's round, latency (ms) and token counts: past this it is not a record (llm.TOKENS_MAX)
TEMP_STEM = 64  # characters of a target's name its temporary file keeps (a save's, an export's; names may be 255)


COMPANIONS = ("-wal", "-shm", "-journal")  # files SQLite keeps beside a save while it is open


def remove_save(path: str | Path) -> None:
    """A save file and its companions gone (one that holds no round, or a half-made one)."""
    for suffix in ("", *COMPANIONS):
        with contextlib.suppress(OSError):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def out_of_descriptors(e: sqlite3.Error) -> OSError | None:
    """SQLite's 'unable to open database file' where what it lacked was a file
    descriptor (this process has as many files open as its limit, `ulimit -n`,
    lets it; SQLite keeps three for a save): that limit as Python says it
    (EMFILE), for the one line `wood` has for it, not a word against the save
    or its folder. None where descriptors are to be had."""
    if getattr(e, "sqlite_errorcode", sqlite3.SQLITE_CANTOPEN) & 0xFF != sqlite3.SQLITE_CANTOPEN:
        return None
    short = files_short(3)
    return short if short is not None and short.errno == errno.EMFILE else None


@contextlib.contextmanager
def descriptors_said():
    """An SQLite error in the block that is this process's limit on open files
    (`out_of_descriptors`) raised as that limit's OSError (EMFILE); asked while
    the connection that failed still holds its files, so the count is true."""
    try:
        yield
    except sqlite3.Error as e:
        if (short := out_of_descriptors(e)) is not None:
            raise short from e
        raise


def _unmade(p: Path) -> None:
    """Remove the -wal and -shm that an open of `p` which failed began beside
    it (no one else had the save open: a -wal with nothing in it)."""
    with contextlib.suppress(OSError):
        if os.path.getsize(f"{p}-wal") == 0:
            for suffix in ("-wal", "-shm"):
                Path(f"{p}{suffix}").unlink(missing_ok=True)


def beside(p: str | Path) -> Path:
    """The file whose name SQLite gives a save's -wal, -shm and -journal: the
    save's own, or, where it is named through a symbolic link, the file the
    link leads to (they lie beside that file, in its folder)."""
    return Path(os.path.realpath(p))


def _check_no_loop(p: Path) -> None:
    """Refuse a save path that goes round a loop of symbolic links (one that
    leads to itself, or two that lead to each other): no file is there to
    read. Said as such, not as a missing file or in Python's words."""
    try:
        os.stat(p)
    except OSError as e:
        if e.errno == errno.ELOOP:
            try:
                os.lstat(p)
                what = "is"  # the name itself is a link of the loop
            except OSError:
                what = "goes through"  # a folder on the way is
            raise LedgerError(f"{shown_path(p)} {what} a symbolic link loop (links that lead round in a circle, never "
                              "to a file): there is no save file to read") from None


def _check_no_journal(p: Path) -> None:
    """Refuse a save with a rollback journal beside it. A save is kept in WAL
    mode and never makes one, so it is another file's or was left by another
    program killed while it wrote the save; any connection (a read-only one
    too) would have SQLite roll it back into the save, overwriting its pages
    with the journal's, then delete it. An empty one is no journal (SQLite
    reads nothing from it)."""
    journal = Path(f"{beside(p)}-journal")
    try:
        empty = journal.is_file() and not journal.is_symlink() and journal.stat().st_size == 0
    except OSError:
        empty = False
    if os.path.lexists(journal) and not empty:
        raise CompanionError(f"{shown_path(p)}: {shown_path(journal.name)} lies beside it, a rollback journal no wood save makes "
                             "(another file's, or left by a program stopped while it wrote the save); opened, SQLite "
                             "would write it into the save, so neither is read or changed: move the journal away to "
                             "read the save without it")


def _kind(path: Path) -> str | None:
    """What is at `path` if it is something SQLite cannot keep a -wal or -shm
    in (a folder, a pipe, a device, a socket); None: nothing, or a file (or
    what SQLite itself will say of)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    return ("a directory" if stat.S_ISDIR(mode) else "a named pipe" if stat.S_ISFIFO(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "not a plain file")


def _check_companions_are_files(p: Path, readonly: bool) -> None:
    """Refuse a save whose -wal or -shm name holds something that is not a
    file (a link, a folder, a pipe, a device), said as such: SQLite keeps its log and
    its index there. Without a -wal file SQLite cannot open the save at all;
    a resume writes through the -shm (it read the save, then failed at its
    first write as 'a readonly database'), and a -wal is read through it (a
    pipe was said to be a full disk). A read of a save with no -wal reads the
    file alone and leaves the -shm be (`_reader`)."""
    wal, shm = Path(f"{beside(p)}-wal"), Path(f"{beside(p)}-shm")
    for companion, what in ((wal, "-wal log"), (shm, "-shm index")):
        if companion.is_symlink():  # SQLite opens neither through a link: 'unable to open database file', said of the save
            raise CompanionError(f"{shown_path(p)}: {shown_path(companion.name)} beside it is a symbolic link, not a file: "
                                 f"SQLite keeps the save's {what} there and follows no link to it, so it cannot open the "
                                 "save; move the link away (SQLite makes its own)")
    if (kind := _kind(wal)) is not None:
        raise CompanionError(f"{shown_path(p)}: {shown_path(wal.name)} beside it is {kind}, not a file: SQLite keeps the "
                             "save's -wal log there, so it cannot open the save; move it away (SQLite makes its own)")
    if (kind := _kind(shm)) is not None and (not readonly or os.path.lexists(wal)):
        why = ("a resume writes the save through it" if not readonly else
               f"it reads {shown_path(wal.name)} through it")
        raise CompanionError(f"{shown_path(p)}: {shown_path(shm.name)} beside it is {kind}, not a file: SQLite keeps the "
                             f"save's -shm index there and {why}; move it away (SQLite makes its own)")


def _check_companions_readable(p: Path) -> None:
    """Refuse a save whose -wal or -shm this user may not read (another
    user's, or its permissions taken away): SQLite reads the save through
    them, and said only 'unable to open database file', as if of the save."""
    for companion in (Path(f"{beside(p)}-wal"), Path(f"{beside(p)}-shm")):
        if companion.is_file() and not os.access(companion, os.R_OK):
            raise UnreadableSaveError(f"{shown_path(p)}: {shown_path(companion.name)} beside it cannot be read by this "
                                      "user (its permissions), and SQLite reads the save through it")


def _regular_file(p: str | Path):
    """The regular file at `p` opened to read, or None where there is none,
    it cannot be opened, or it is no regular file: a named pipe is opened
    without waiting for a writer (a plain open waits for good), and closed."""
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)  # a folder opens too, and `open` refuses its descriptor
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        return None
    return open(fd, "rb")


def _head_of_file(p: Path, n: int) -> bytes | None:
    """The first `n` bytes of the regular file at `p` (`_regular_file`), or None."""
    fh = _regular_file(p)
    if fh is None:
        return None
    with fh:
        try:
            return fh.read(n)
        except OSError:
            return None


def _check_shm_is_an_index(p: Path) -> None:
    """Refuse a save whose -shm name holds another SQLite file (a save copied
    or named there: `wood sim --save RUN.db-shm` beside RUN.db): SQLite takes
    whatever is there for its index and writes over the start of it as soon
    as the save is opened, to read it too, and that save was lost so. (What
    SQLite leaves there itself, a whole index or one it cut to 3 bytes to
    begin afresh, is its own.)"""
    shm = Path(f"{beside(p)}-shm")
    head = _head_of_file(shm, 16)
    if head is None:  # none there (the usual), or not a file (`_check_companions_are_files`)
        return
    if head == b"SQLite format 3\x00":
        raise CompanionError(f"{shown_path(p)}: {shown_path(shm.name)} beside it is an SQLite file (a save?), not SQLite's "
                             "index of the save: SQLite keeps the save's -shm there and writes over the start of it when the "
                             "save is opened, so neither is read or changed: move it away (SQLite makes its own)")


WAL_MAGIC = (0x377F0682, 0x377F0683)  # an SQLite -wal's first 4 bytes (the last bit: big-endian checksums)
WAL_VERSION = 3007000


def wal_header_ok(head: bytes) -> bool:
    """Whether `head` is the 32-byte header SQLite reads a -wal by: its magic,
    version and page size, and the checksum of the first 24 bytes. With any
    of them wrong SQLite reads nothing of the -wal, saying nothing, and the
    next writer writes over it."""
    if len(head) < 32:
        return False
    def word(b: bytes, i: int, order: str = "big") -> int:
        return int.from_bytes(b[i:i + 4], order)

    magic, version, page = word(head, 0), word(head, 4), word(head, 8)
    if magic not in WAL_MAGIC or version != WAL_VERSION or not 512 <= page <= 65536 or page & (page - 1):
        return False
    order = "big" if magic & 1 else "little"
    s0 = s1 = 0
    for i in range(0, 24, 8):
        s0 = (s0 + word(head, i, order) + s1) & 0xFFFFFFFF
        s1 = (s1 + word(head, i + 4, order) + s0) & 0xFFFFFFFF
    return (s0, s1) == (word(head, 24), word(head, 28))


def _check_wal(p: Path) -> None:
    """Refuse a save whose -wal SQLite would not read: one with something in
    it (a killed run's last rounds) but a damaged header. Read, the save
    would be the file alone (its rounds short of the -wal's, said as all
    there is); resumed, the -wal would be written over. Not while a wood
    process writes the save (its -wal is SQLite's, mid-write)."""
    wal = Path(f"{beside(p)}-wal")
    head = _head_of_file(wal, 32)
    if head is None:  # none there (the usual), or not a file SQLite could read either: its own error follows
        return
    if head and not wal_header_ok(head) and not being_written(p):
        raise CompanionError(f"{shown_path(p)}: {shown_path(wal.name)} beside it is not an SQLite log (its header is "
                             "damaged): SQLite would read none of it (it may hold a stopped run's last rounds) and a resume "
                             "would write over it, so neither is read or changed: move the -wal away to read the save "
                             "without it")


def _check_whole(p: Path, head: bytes) -> None:
    """Refuse a save shorter than its SQLite header says it is (a copy or a
    download that did not finish): SQLite reads the missing pages as empty,
    and the line named a row of the last of them as not JSON, or said
    'malformed'. Only with no -wal beside it: then no writer is at work and
    no killed run's pages are elsewhere, so the file alone is the save."""
    if len(head) < 100:  # an SQLite file is a page at least, of 512 bytes or more
        raise LedgerError(f"{shown_path(p)} is cut short: it holds {len(head)} bytes, less than SQLite's 100-byte header "
                          "(a copy or a download that did not finish?)")
    if head[24:28] != head[92:96] or os.path.lexists(f"{beside(p)}-wal"):
        return  # the header's page count is SQLite's to trust only while the two counters agree
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    try:
        size = os.stat(p).st_size
    except OSError:  # gone meanwhile: the open says so
        return
    if pages and size < pages * page:
        raise LedgerError(f"{shown_path(p)} is cut short: its SQLite header says {pages:,} pages of {page:,} bytes "
                          f"({pages * page:,} bytes), the file holds {size:,} (a copy or a download that did not "
                          "finish?)")


def _check_room_for_companions(p: Path) -> None:
    """Refuse a new save at `p` that SQLite could not keep whole: one whose
    companion files are already there (left by a save of that name whose own
    file was removed: SQLite would read that old log into the new save), or
    whose name leaves no room in the folder's limit for "-wal" (a save is
    kept in WAL mode: its -wal and -shm are what SQLite makes beside it)."""
    try:
        limit = os.pathconf(p.parent, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf there (Windows), or it will not say
        limit = 255
    size = len(os.fsencode(p.name))
    if size + len("-wal") > limit:
        raise LedgerError(f"the save's name is {size} bytes long; SQLite keeps '{shown_path(p.name[:12])}...-wal' beside it, "
                          f"and names here may be at most {limit} bytes: choose a name of at most {limit - 4}")
    stale = [shown_path(f"{p.name}{suffix}") for suffix in COMPANIONS if os.path.lexists(f"{p}{suffix}")]  # False if unnameable
    if stale:
        raise LedgerError(f"{' and '.join(stale)} {'is' if len(stale) == 1 else 'are'} beside {shown_path(p)}, left by an earlier "
                          "save of that name whose own file was removed; remove "
                          f"{'it' if len(stale) == 1 else 'them'}, or choose another --save path")


def clear_stale(target: Path, tail: str) -> None:
    """Remove what a process killed while it made `target` left beside it:
    the hidden `.NAME.PID<tail>` files it wrote first (NAME: the target's
    first TEMP_STEM characters; `tail` a regular expression: a save's `.new`
    and its companions, an export's `.HEX.part`), where that process is gone."""
    stem = target.name[:TEMP_STEM]
    for leftover in target.parent.glob(f".{glob.escape(stem)}.*"):
        made_by = re.fullmatch(rf"([0-9]+){tail}", leftover.name[len(stem) + 2:])
        if made_by is None or alive(int(made_by[1])):
            continue
        with contextlib.suppress(OSError):
            leftover.unlink()


PART = r"\.[0-9a-f]{8}\.part"  # the tail of a part file's name (`part_file`), for `clear_stale`


def part_file(target: Path, parts: list[tuple[Path, Path]]) -> int:
    """A new file beside `target` for its contents, to be renamed over it: what
    a killed writer of `target` left cleared first (`clear_stale`), then a
    file made afresh (O_EXCL) under a hidden name no file had, with the mode a
    plain open gives (mkstemp's is 0600), never `target`.part (a save of that
    name, or a link or a pipe there, would be written through, then removed);
    noted as (part, target) in `parts` with no stop between the two
    (`engine.stops.deferred`), so a stop leaves nothing unnoted. Its fd."""
    import secrets

    from .stops import deferred

    clear_stale(target, PART)
    with deferred():
        while True:
            part = target.with_name(f".{target.name[:TEMP_STEM]}.{os.getpid()}.{secrets.token_hex(4)}.part")
            try:
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
        parts.append((part, target))
    return fd


@contextlib.contextmanager
def folder_held(folder: Path, flag: str):
    """One wood process at a time writing its files into an output folder
    (`wood export --out`, `--plots`). Each file is whole (`part_file`), but
    two writers' renames interleave: the folder was left with one run's tips
    beside another's whispers, and each writer said it wrote its own. An
    exclusive lock on the folder itself (no file is left in it), held while
    the files are written and renamed into place; the system drops it when
    the holder ends, even killed (kill -9). A second writer is one line and
    writes nothing. Written unlocked where folders cannot be locked (no
    flock, a filesystem without locks)."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    fd = None
    if fcntl is not None:
        with contextlib.suppress(OSError):  # not a folder to open: writing into it says why, in its own words
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise WoodError(f"{flag} {shown_path(folder)} is in use by another wood process writing into it; "
                                    f"let that one end first, or choose another {flag}") from None
        yield
    finally:
        if fd is not None:
            os.close(fd)  # the lock goes with it


PID_MAX = 1 << 22  # Linux's pids are below this (PID_MAX_LIMIT): a larger number in a name is no process's


def alive(pid: int) -> bool:
    """Whether process `pid` is running (the maker of a temporary file or
    folder found beside a target, or in the temporary folder). A number no
    pid can be is no process's: signal 0 to pid 0 would reach this process's
    group, and 10**20 had ended in an OverflowError traceback."""
    if not 0 < pid < PID_MAX:
        return False
    if os.name == "nt":  # no signal 0 there (os.kill would end it): assume it lives, and leave its file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, and is another user's
        return True
    return True


WRITER_LOCK_TRIES = 5      # a writer's lock found held is asked for again this often ...
WRITER_LOCK_PAUSE_S = 0.01  # ... this far apart (a report's probe holds it for an instant)


def _writer_lock(path: Path):
    """One writer at a time: an exclusive lock on the save, held by the open
    file returned for as long as the save is open to write (a second
    `--resume` of it, or a resume while a run is still saving to it, is one
    line, and writes nothing). None where files cannot be locked."""
    try:
        import fcntl
    except ImportError:  # no flock here (Windows): one writer is the user's to keep
        return None
    fh = open(path, "rb")
    for attempt in range(WRITER_LOCK_TRIES):  # a report's probe (`being_written`) holds it shared for an instant
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except OSError as e:
            busy = e.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
            if not busy or attempt == WRITER_LOCK_TRIES - 1:
                break
        time.sleep(WRITER_LOCK_PAUSE_S)
    fh.close()
    if busy:
        raise _in_use(path)
    return None  # a filesystem that cannot lock (NFS without a lock daemon): played unlocked, as on Windows


def _in_use(path: str | Path) -> LedgerError:
    return LedgerError(f"{shown_path(path)} is in use by another wood process (a run saving to it or resuming it); "
                       "let that one end first")


def being_written(path: str | Path) -> bool:
    """Whether another process holds the save's writer's lock (`_writer_lock`):
    a run still saving to it, or a game resumed from it. False where files
    cannot be locked, or the file cannot be opened, or is no regular file (a
    FIFO is opened without waiting for a writer, and is no save)."""
    try:
        import fcntl
    except ImportError:
        return False
    fh = _regular_file(path)
    if fh is None:
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as e:
            return e.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _where_unwritable(folder: Path) -> str:
    """Where a folder SQLite cannot make a file in is, in words."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "on a read-only file system"
    except (OSError, AttributeError):  # no statvfs here (Windows)
        pass
    return "in a folder that cannot be written"


def _with_wal(p: Path) -> str:
    """What to copy of a save to play on or read it elsewhere: it, and its -wal where one is beside it."""
    wal = Path(f"{beside(p)}-wal")
    return f"it and {shown_path(wal.name)} beside it together" if os.path.isfile(wal) else "it"


def _unindexed_wal(p: Path) -> str | None:
    """Why SQLite could not open a save whose -wal lies beside it with no -shm,
    in a folder where it cannot make one (a read-only mount): it reads a -wal
    only through its -shm index. None where that is not so."""
    real = beside(p)
    wal, shm = Path(f"{real}-wal"), Path(f"{real}-shm")
    if not os.path.isfile(wal) or os.path.lexists(shm) or os.access(real.parent, os.W_OK):
        return None
    return (f"{shown_path(p)} cannot be read here: {shown_path(wal.name)} lies beside it (a stopped run's log, which may "
            "hold its last rounds), and SQLite reads a -wal only through a -shm index, which it cannot make beside it "
            f"{_where_unwritable(real.parent)}; copy {_with_wal(p)} somewhere writable and read the copy")


def _foreign_wal(p: Path, found: str, writing: bool) -> str | None:
    """Why a save that reads as corrupt with the -wal beside it is refused,
    where the file alone is whole: that -wal is no log of it (another save's,
    left at this name when a copy or a backup was put in its place), and
    SQLite, which cannot tell, lays its pages over the save's. None where
    that is not so (no -wal, a writer at work, or the file alone damaged)."""
    wal = Path(f"{beside(p)}-wal")
    if not os.path.isfile(wal) or writing:
        return None
    try:
        alone = sqlite3.connect(sqlite_uri(p, "ro") + "&immutable=1", uri=True, isolation_level=None)
        try:
            whole = alone.execute("PRAGMA quick_check(1)").fetchall() == [("ok",)]
        finally:
            alone.close()
    except sqlite3.Error:
        return None
    if not whole:
        return None
    return (f"{shown_path(p)}: {shown_path(wal.name)} beside it does not fit it: read with it, the save is corrupt "
            f"({found}); the file alone is whole (another save's log, left at this name when the save was copied or "
            "moved over that one?); neither is read or changed: move the -wal away to read the save without it")


def check_resumable(path: str | Path) -> None:
    """What a resume of the save at `path` needs of the file itself, checked
    without opening it to write: that it can be written, and that no other
    wood process is writing it (`Ledger.open(readonly=False)` holds to both)."""
    p = Path(path)
    if not (os.access(p, os.W_OK) and os.access(beside(p).parent, os.W_OK)):
        raise LedgerError(f"{shown_path(p)} cannot be written (a read-only file or folder): a resume adds its rounds "
                          f"to it; copy {_with_wal(p)} somewhere writable to play on")
    if being_written(p):
        raise _in_use(p)


def sqlite_uri(path: Path, mode: str) -> str:
    """An SQLite URI for `path`: its characters escaped, so a name with `%`,
    `#` or `?` in it opens that file and no other, and one whose bytes are
    no UTF-8 (read by Python as surrogates) the file of those very bytes. An
    absolute path goes after an empty authority (`file:///...`): one that
    begins with `//` (`$DIR/run.db` with DIR=/) had been read as the
    authority `//HOST/`, and refused ('invalid uri authority')."""
    name = os.fsencode(path)
    return f"file:{'//' if name.startswith(b'/') else ''}{quote(name)}?mode={mode}"


LOCK_WAIT_S = 5.0  # how long a statement waits for a lock another connection holds on the save (SQLite's busy timeout)


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    return sqlite3.connect(sqlite_uri(path, "ro" if readonly else "rwc"), uri=True, isolation_level=None,
                           timeout=LOCK_WAIT_S)


def _locked(e: sqlite3.Error) -> bool:
    """Whether SQLite refused a write for a lock another connection holds
    (SQLITE_BUSY, SQLITE_LOCKED and their kinds): another program's (an
    `sqlite3` shell in a transaction), taken after the save was opened, so
    not `LockedSaveError`'s; it had been said as SQLite's bare 'database is
    locked' and, for a round, as if the disk were full."""
    return getattr(e, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


LOCK_HELD = (f"another program holds the save locked (SQLite's lock, held past the {LOCK_WAIT_S:g} s wood waits "
             "for it: an `sqlite3` shell in a transaction?)")


def _reader(path: Path) -> sqlite3.Connection:
    """A connection that never writes. In WAL mode even a `mode=ro` reader
    creates the -wal and -shm files and, unable to checkpoint, leaves them
    behind; so when they are absent (no one has the save open, everything is
    in the main file) read through a query-only read-write connection, which
    removes them again on close without touching the save's bytes."""
    real = beside(path)  # a link's target: its companions lie beside it
    in_use = Path(f"{real}-wal").exists() or Path(f"{real}-shm").exists()
    no_index = _kind(Path(f"{real}-shm")) is not None  # a folder or a pipe where the -shm goes, and no -wal
    if in_use and not no_index:
        return _connect(path, readonly=True)
    if no_index or not (os.access(path, os.W_OK) and os.access(real.parent, os.W_OK)):
        # something not a file where the -shm goes (`_check_companions_are_files`: then there is no -wal, and
        # no writer, which could not keep its index there): a reader would make an empty -wal beside it. Or
        # no writer can have it open (it could not write), and a `mode=ro` reader would need to make a
        # -shm file beside it (in a read-only folder it cannot; beside a read-only file it leaves one
        # behind, read-only, that then stops a resume): read it as the unchanging file it is
        return sqlite3.connect(sqlite_uri(path, "ro") + "&immutable=1", uri=True, isolation_level=None,
                               timeout=LOCK_WAIT_S)
    con = sqlite3.connect(sqlite_uri(path, "rw"), uri=True, isolation_level=None, timeout=LOCK_WAIT_S)
    con.execute("PRAGMA query_only=ON")
    return con


CHECK_PROBLEMS_MAX = 100  # problems SQLite's quick_check lists before it stops (its own default)


def _check_problems(rows: list[tuple]) -> list[str]:
    """The problems SQLite's quick_check names, one each: its rows may hold
    several, a line each, under a '*** in database main ***' heading. None: ok."""
    lines = [line.strip() for (row,) in rows for line in str(row).splitlines()]
    return [line for line in lines if line and line != "ok" and not line.startswith("*** in database")]


def _show(value: object, n: int = 40) -> str:
    """A value from a file, quoted on one line and cut short; SQL's NULL as
    NULL (Python's `None` had read 'round None', 'an action by None')."""
    s = "NULL" if value is None else repr(value)
    return s if len(s) <= n else s[: n - 1] + "…"


def _who(name: object) -> str:
    """A creature's name as recorded: plain if it is plain text, quoted otherwise."""
    return name if isinstance(name, str) and name and clean_text(name, 40) == name else _show(name)


def _first_error(e: ValidationError) -> str:
    err = e.errors()[0]
    where = ".".join(str(x) for x in err["loc"])
    return f"{where}: {err['msg']}" if where else err["msg"]


def _not_json(constant: str):
    """NaN, Infinity and -Infinity: Python's json reads them, JSON has no such words (the game never writes
    them); taken, an export copied them into lines that JSON readers refuse."""
    raise ValueError(constant)


def _json(text: object, kind: type[dict] | type[list], *, optional: bool = False, constants: bool = False):
    """`text` parsed as a JSON object (`kind` dict) or list; ValueError with a short reason otherwise.
    NaN and Infinity are refused unless `constants` (a save's meta `extra`: builds before the rosters
    were read strictly recorded a model's `health_interval_s = inf` so)."""
    if text is None and optional:
        return None
    if not isinstance(text, str):
        raise ValueError(f"not JSON text ({_show(text)})")
    try:
        doc = json.loads(text, parse_constant=None if constants else _not_json)
    except (ValueError, RecursionError):
        raise ValueError(f"not JSON ({_show(text)})") from None
    if doc is None and optional:
        return None
    if not isinstance(doc, kind):
        raise ValueError(f"not a JSON {'object' if kind is dict else 'list'} ({_show(text)})")
    return doc


def _whole(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not _INT.fullmatch(str(value)):
        raise ValueError
    return int(value)


def parse_roster(text: object) -> list[RosterEntry]:
    """A save's roster (meta `roster`): a JSON list of at least two objects
    with exactly the RosterEntry fields, all non-blank text, names unique."""
    rows = _json(text, list)
    if len(rows) < MIN_CREATURES:
        raise ValueError(f"a market needs at least {MIN_CREATURES} creatures, it has {len(rows)}")
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"creature {i + 1} is not a JSON object")
        if set(row) != set(ROSTER_FIELDS):
            extra, missing = sorted(set(row) - set(ROSTER_FIELDS)), sorted(set(ROSTER_FIELDS) - set(row))
            what = "; ".join(x for x in (f"unknown field {_show(extra[0])}" if extra else "",
                                         f"missing field {missing[0]!r}" if missing else "") if x)
            raise ValueError(f"creature {i + 1}: {what}")
        for k in ROSTER_FIELDS:
            # text with something visible in it; a hostile name (escapes, markup) is
            # still a name: every screen and prompt shows it through the sanitiser
            if not isinstance(row[k], str) or not clean_text(row[k]):
                raise ValueError(f"creature {i + 1}: {k} {_show(row[k])} is empty or not text")
        out.append(RosterEntry(**{k: row[k] for k in ROSTER_FIELDS}))
    names = [r.name for r in out]
    if len(set(names)) != len(names):
        raise ValueError("creature names are not unique")
    return out


def check_fit(roster: list[RosterEntry], world: World) -> None:
    """ValueError unless every creature's species and temperament exist in `world`."""
    for r in roster:
        if r.species not in world.species:
            raise ValueError(f"creature {r.name}: unknown species {r.species!r} ({in_file('species')}: "
                             f"{', '.join(world.species)})")
        if r.temperament not in world.temperaments:
            raise ValueError(f"creature {r.name}: unknown temperament {r.temperament!r} ({in_file('temperaments')}: "
                             f"{', '.join(world.temperaments)})")


class Ledger:
    """One run's ledger. `Ledger.create` for a new run, `Ledger.open` for an existing one."""

    def __init__(self, path: Path, con: sqlite3.Connection):
        self.path = path
        self.playing: tuple[str, ...] = ()  # the creatures a `wood play` of it plays now (open_game): its resume line
        self.con = con
        self._tips: list[tuple] = []
        self._lock = None  # the open file holding the writer's lock (`_writer_lock`)
        self._in_wal = False  # whether this connection has put the save in WAL mode (`_wal`)

    # ---- opening ------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, seed: int, roster: list[RosterEntry], brains: str,
               extra: dict | None = None, rounds: int | None = None) -> "Ledger":
        """A new save at `path`, whole or not at all: made beside it under a
        hidden name and linked into place once its tables and meta are in (a
        kill at any moment leaves either no save or one that resumes), then
        held open to write (`_writer_lock`). `rounds`: the game's planned length."""
        p = Path(path)
        if p.is_dir():
            raise LedgerError(f"{shown_path(p)} is a directory; a save is a file (e.g. {shown_path(p / 'run.db')})")
        if p.exists() or p.is_symlink():
            raise LedgerError(f"{shown_path(p)} already exists; resume it with --resume, or choose another --save path")
        if not p.parent.exists():
            raise LedgerError(f"directory {shown_path(p.parent)} does not exist")
        if not p.parent.is_dir():
            raise LedgerError(f"{shown_path(p.parent)} is not a directory")
        for tail in COMPANIONS:  # a save named where SQLite keeps another file's log or index would be written over
            if p.name.endswith(tail) and os.path.lexists(main := p.with_name(p.name[: -len(tail)])):
                raise LedgerError(f"{shown_path(p)} is where SQLite keeps the {tail[1:]} file of {shown_path(main.name)} "
                                  "beside it, and a save there would be written over: choose another --save path")
        _check_room_for_companions(p)
        meta = {"format": FORMAT, "version": str(VERSION), "seed": str(seed), "brains": brains,
                "roster": json.dumps([asdict(r) for r in roster]), "created": str(time.time()),
                "extra": json.dumps(extra or {})}
        if rounds is not None:
            meta.update(rounds=str(rounds), ends=json.dumps([(1, rounds)]))
        tmp = p.with_name(f".{p.name[:TEMP_STEM]}.{os.getpid()}.new")  # short: a long name still has room
        clear_stale(p, r"\.new(?:-wal|-shm|-journal)?")  # a killed create's file and its companions
        try:
            with descriptors_said():
                con = _connect(tmp, readonly=False)
            try:
                with descriptors_said():  # before the close gives back what SQLite holds
                    con.execute("PRAGMA journal_mode=WAL")
                    con.executescript(SCHEMA)
                    with con:
                        con.execute("BEGIN")
                        con.executemany(_insert("meta"), meta.items())
            finally:
                con.close()  # the last connection: the WAL is checkpointed into the file and removed
            if os.path.lexists(f"{tmp}-wal"):  # it could not be (a full disk): the file alone is not the save
                raise sqlite3.OperationalError("its log could not be folded into it: is the disk full?")
            try:
                os.link(tmp, p)  # fails if `path` appeared meanwhile: never over another save
            except FileExistsError:
                raise LedgerError(f"{shown_path(p)} already exists; resume it with --resume, or choose another --save path"
                                  ) from None
            except OSError:  # a filesystem without hard links: the name is claimed first, then filled
                try:
                    os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                except FileExistsError:
                    raise LedgerError(f"{shown_path(p)} already exists; resume it with --resume, or choose another --save path"
                                      ) from None
                os.replace(tmp, p)
        finally:
            remove_save(tmp)
        ledger = None
        try:
            with descriptors_said():  # before the close gives back what SQLite holds
                ledger = cls(p, _connect(p, readonly=False))
                ledger._lock = _writer_lock(p)
                ledger.con.execute("PRAGMA synchronous=NORMAL")
        except BaseException as e:
            if ledger is not None:
                ledger.close()
            if isinstance(e, (sqlite3.Error, OSError)):  # it could not be opened (no file left to open): made a
                remove_save(p)  # moment ago, it holds no round, so it goes, and the same command makes it again
            raise
        return ledger

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = True, rows_only: bool = False) -> "Ledger":
        """Open and validate an existing save; a missing, corrupt or foreign file
        gives a one-line LedgerError and is left untouched (no bytes, no mtime,
        no new -wal/-shm file). Checked here, once: every table with its
        columns, the meta keys and their types, the roster's rows; opened to
        write (a resume), also every recorded row, so that nothing is played
        on top of a damaged record. `rows_only`: the caller reads the recorded
        rows and never rebuilds the run, so a save of an older version whose
        rows read alike (`ROWS_ALIKE`) is opened too (read-only)."""
        p = Path(path)
        _check_no_loop(p)
        if p.is_dir():
            raise LedgerError(f"{shown_path(p)} is a directory, not a save file")
        if not p.exists():
            raise LedgerError(f"no save file at {shown_path(p)}")
        if not p.is_file():
            raise LedgerError(f"{shown_path(p)} is not a save file (not a regular file)")
        try:
            with p.open("rb") as fh:
                head = fh.read(100)
        except PermissionError as e:
            raise UnreadableSaveError(f"cannot read {shown_path(p)}: {e.strerror or e}") from None
        except OSError as e:
            raise LedgerError(f"cannot read {shown_path(p)}: {e.strerror or e}") from None
        if head[:16] != b"SQLite format 3\x00":
            raise LedgerError(f"{shown_path(p)} is not a Thousand Token Wood save (not an SQLite file)")
        _check_no_journal(p)
        _check_companions_are_files(p, readonly)
        _check_companions_readable(p)
        _check_shm_is_an_index(p)
        _check_wal(p)
        _check_whole(p, head)
        lock = None
        alone = not any(os.path.lexists(f"{beside(p)}{x}") for x in COMPANIONS)  # what SQLite makes beside it is ours
        if not readonly:  # a resume writes: it must be able to, and be the only one
            if not (os.access(p, os.W_OK) and os.access(beside(p).parent, os.W_OK)):
                check_resumable(p)  # the one wording of it
            lock = _writer_lock(p)
        con = None
        try:
            con = _reader(p)
            info = {t: con.execute(f"PRAGMA table_info({t})").fetchall() for t in COLUMNS}
            tables = {t: {c[1] for c in cols} for t, cols in info.items()}
            keys = {t: tuple(c[1] for c in sorted(cols, key=lambda c: c[5]) if c[5]) for t, cols in info.items()}
            rows = {}
            if tables["meta"] >= {"key", "value"}:
                rows = dict(con.execute("SELECT key, value FROM meta").fetchall())
            ledger = cls(p, con)
            ledger._check_meta(rows, tables, keys, rows_only and readonly)
            problems = _check_problems(con.execute(f"PRAGMA quick_check({CHECK_PROBLEMS_MAX})").fetchall())
            if problems:
                n = len(problems)
                found = ("SQLite's check finds: " if n == 1 else
                         f"SQLite's check finds {'at least ' if n >= CHECK_PROBLEMS_MAX else ''}{n} problems, the first: ")
                found += clean_text(problems[0], 120)
                if foreign := _foreign_wal(p, found, lock is None and being_written(p)):
                    raise CompanionError(foreign)
                raise LedgerError(f"{shown_path(p)} is corrupt ({found})")
            ledger._check_values(rows)
            if not readonly:  # a resume: nothing is played on top of a record that does not hold up
                from .world import load_world

                ledger.check_fits(load_world())
                ledger.check_records()
                ledger._check_no_triggers()
        except sqlite3.DatabaseError as e:
            short = out_of_descriptors(e)  # asked before the close gives back what SQLite holds
            if con is not None:
                con.close()
            if short is not None:  # not the save's fault: the process's limit on open files
                if lock is not None:
                    lock.close()
                raise short from None
            name = getattr(e, "sqlite_errorname", "")
            no_room = name.startswith(("SQLITE_IOERR_SHM", "SQLITE_FULL"))  # the disk's fault, not the save's
            if no_room and alone and (lock or not being_written(p)):
                _unmade(beside(p))  # no room for SQLite's index beside it: the files it began there go again
            if lock is not None:
                lock.close()
            if no_room:
                raise CompanionError(f"{shown_path(p)} cannot be read here: SQLite could not make its -shm index beside it "
                                     f"({clean_text(e, 160)}; is the disk full?)") from None
            if (unindexed := _unindexed_wal(p)) is not None:
                raise CompanionError(unindexed) from None
            if name == "SQLITE_CORRUPT" and (foreign := _foreign_wal(p, clean_text(e, 160), lock is None and being_written(p))):
                raise CompanionError(foreign) from None
            busy = name in ("SQLITE_BUSY", "SQLITE_LOCKED")
            if busy:
                raise LockedSaveError(f"{shown_path(p)} is in use: {LOCK_HELD}; let that program let go of it, then "
                                      "run the same command again") from None
            raise LedgerError(f"{shown_path(p)} is not a readable Thousand Token Wood save ({clean_text(e, 160)})") from None
        except BaseException:
            if con is not None:
                con.close()
            if lock is not None:
                lock.close()
            raise
        if not readonly:
            con.close()
            ledger._lock = lock
            try:
                ledger.con = _connect(p, readonly=False)
                ledger.con.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as e:
                ledger.close()
                raise LedgerError(f"{shown_path(p)} cannot be opened to write ({clean_text(e, 160)})") from None
        return ledger

    def _check_meta(self, rows: dict, tables: dict[str, set[str]], keys: dict[str, tuple[str, ...]],
                    rows_only: bool = False) -> None:
        """Is this a save of this version (or, for `rows_only`, one whose rows
        read alike) with every table it needs, each keyed as a save's is?"""
        p = self.path
        if rows.get("format") != FORMAT:
            raise LedgerError(f"{shown_path(p)} is not a Thousand Token Wood save")
        version = rows.get("version")
        alike = version in {str(v) for v in ROWS_ALIKE}
        if version != str(VERSION) and not (rows_only and alike):
            try:
                whole = _whole(version)
            except ValueError:
                whole = None
            if whole is not None and whole > VERSION:
                raise NewerSaveError(f"{shown_path(p)} was written by a newer wood (ledger version {version}); this build reads "
                                  f"version {VERSION}")
            # alike: its records can still be read; older still: an older wood reads it; neither: not a version
            older = OlderSaveError if alike else OldSaveError if whole is not None and 1 <= whole < VERSION else LedgerError
            raise older(f"{shown_path(p)} has ledger version {_show(version)}; this build plays and replays version "
                        f"{VERSION}" + (" (its model calls, tips and whispers can still be exported: "
                                        "`wood export`)" if alike else ""))
        for table, cols in COLUMNS.items():
            if not tables[table]:
                raise LedgerError(f"{shown_path(p)} is damaged: it has no {table} table")
            missing = [c for c in cols if c not in tables[table]]
            if missing:
                raise LedgerError(f"{shown_path(p)} is damaged: its {table} table has no {missing[0]} column")
            if keys[table] != KEYS[table]:
                raise LedgerError(f"{shown_path(p)} is damaged: its {table} table is not keyed on "
                                  f"({', '.join(KEYS[table])}) as a save's is, so a row of it may be recorded twice "
                                  "(the table made again by hand?)")

    def _check_no_triggers(self) -> None:
        """Refuse to write to a save with a trigger in it: no wood save has one,
        and SQLite would run it as each round is saved, changing the record
        behind the game's back (a resume had said it played on, and the rounds
        before it then did not verify). Readers never write, so never run one."""
        row = self.con.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' ORDER BY name").fetchone()
        if row is not None:
            raise LedgerError(f"{shown_path(self.path)} has a trigger no wood save has ({_show(row[0])}, on its "
                              f"{_show(row[1])} table), which SQLite would run as each round is saved: it will not be "
                              "resumed (drop the trigger to play on)")

    def _check_values(self, rows: dict) -> None:
        """The meta values the run is rebuilt from: seed, brains, roster, rounds, extra."""
        p = self.path
        for key in ("seed", "brains", "roster"):
            if key not in rows:
                raise LedgerError(f"{shown_path(p)} is damaged: its meta has no {key}")
        try:
            if not -SEED_LIMIT <= _whole(rows["seed"]) < SEED_LIMIT:
                raise ValueError
        except ValueError:
            raise LedgerError(f"{shown_path(p)}: meta seed {_show(rows['seed'])} is not a seed ({SEEDS})") from None
        if rows["brains"] not in BRAINS:
            raise LedgerError(f"{shown_path(p)}: meta brains {_show(rows['brains'])} is not one of {', '.join(BRAINS)}")
        if "rounds" in rows:
            try:
                if not 1 <= _whole(rows["rounds"]) <= MAX_ROUNDS:
                    raise ValueError
            except ValueError:
                raise LedgerError(f"{shown_path(p)}: meta rounds {_show(rows['rounds'])} is not a run's length (a whole "
                                  f"number from 1 to {MAX_ROUNDS:,}, as --rounds is)") from None
        try:
            parse_roster(rows["roster"])
        except ValueError as e:
            raise LedgerError(f"{shown_path(p)}: meta roster: {e}") from None
        try:
            _parse_ends(rows.get("ends", "[]"))
        except ValueError as e:
            raise LedgerError(f"{shown_path(p)}: meta ends: {e}") from None
        try:
            extra = _json(rows.get("extra", "{}"), dict, constants=True)
            seats = extra.get("seats", [])
            if not isinstance(seats, list) or not all(isinstance(n, str) for n in seats):
                raise ValueError("seats is not a JSON list of names")
            models = extra.get("models")
            if rows["brains"] == "llm" and models is None:
                raise ValueError("a run with --brains llm records its models")
            if models is not None:
                from .brains.config import recorded_model

                if not isinstance(models, dict) or not all(isinstance(m, dict) for m in models.values()):
                    raise ValueError("models is not a JSON object of objects")
                for name, m in models.items():
                    try:
                        recorded_model(m)
                    except ValidationError as e:
                        raise ValueError(f"model {_show(name)}: {_first_error(e)}") from None
        except ValueError as e:
            raise LedgerError(f"{shown_path(p)}: meta extra: {e}") from None

    def check_fits(self, world: World) -> list[RosterEntry]:
        """The roster, if it fits `world` (every species and temperament known)."""
        roster = self.roster()
        try:
            check_fit(roster, world)
        except ValueError as e:
            raise LedgerError(f"{shown_path(self.path)}: its roster does not fit this wood ({e})") from None
        return roster

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
        if self._lock is not None:
            self._lock.close()  # the writer's lock goes with it
            self._lock = None

    # ---- what the run is ----------------------------------------------
    def meta(self) -> dict:
        return dict(self.con.execute("SELECT key, value FROM meta").fetchall())

    @property
    def seed(self) -> int:
        try:
            return _whole(self.meta().get("seed"))
        except ValueError:
            raise LedgerError(f"{shown_path(self.path)}: meta seed is not a whole number") from None

    def ends(self) -> list[tuple[int, int]]:
        """(first round, last round of the game) pairs: from each first round on,
        the game was played to end at that last round (a resume that plays on
        adds one). Empty: no fixed end."""
        try:
            return _parse_ends(self.meta().get("ends", "[]"))
        except ValueError as e:
            raise LedgerError(f"{shown_path(self.path)}: meta ends: {e}") from None

    def end_for(self, round_no: int) -> int:
        """The last round of the game as it stood when `round_no` was played (0: none)."""
        return next((end for first, end in reversed(self.ends()) if first <= round_no), 0)

    def set_end(self, first_round: int, end: int) -> None:
        """From `first_round` on, the game ends at round `end` (recorded for replays)."""
        ends = [(f, e) for f, e in self.ends() if f < first_round] + [(first_round, end)]
        try:
            self._wal()
            with self.con:
                self.con.execute(_insert("meta", "OR REPLACE"), ("ends", json.dumps(ends)))
        except sqlite3.Error as e:
            if _locked(e):  # the resume's first write: nothing of it is in the save
                raise LedgerError(f"{shown_path(self.path)}: cannot write to the save: {LOCK_HELD}; nothing was added to "
                                  "it: let that program let go of it, then run the same command again") from None
            raise LedgerError(f"{shown_path(self.path)}: cannot write to the save ({clean_text(e, 160)})") from None

    def roster(self) -> list[RosterEntry]:
        try:
            return parse_roster(self.meta().get("roster"))
        except ValueError as e:
            raise LedgerError(f"{shown_path(self.path)}: meta roster: {e}") from None

    def seats(self) -> list[str]:
        """The creatures humans played in this run (`wood play`'s seats), in
        seat order: none for a run no human played."""
        seats = json.loads(self.meta().get("extra") or "{}").get("seats", [])
        names = {r.name for r in self.roster()}
        return [n for n in seats if n in names]

    def resume_with(self) -> str:
        """The wood command that goes on with this run: `play` where people
        played it, or play it now (`playing`; `wood sim` would put their
        creatures on autopilot), else `sim`."""
        return "play" if self.playing or self.seats() else "sim"

    def resume_seats(self) -> list[str]:
        """The `--as` names a `wood play --resume` of this save needs to seat
        the creatures played now (`playing`): none where `--resume` alone
        seats them (those the save records, or with none the roster's first)."""
        alone = self.seats() or [r.name for r in self.roster()[:1]]
        return list(self.playing) if self.playing and list(self.playing) != alone else []

    def run_id(self) -> str:
        """What tells this run from any other, whatever file holds it: the meta
        its save was created with and that nothing changes after (its seed,
        brains, roster, models and seats, and the moment it was created), as
        canonical JSON. A copy of a save (`cp`, a download) has its run's id;
        a save created afresh, even with the same seed and roster, has its own
        (its `created`); a resume given a new length keeps it (`ends` is not in it)."""
        meta = self.meta()
        return json.dumps({k: meta.get(k) for k in RUN_KEYS}, sort_keys=True)

    def round_hashes(self) -> list[str]:
        """Each committed round's recorded state hash, rounds 1 on: two saves of
        one run (`run_id`) agree on the rounds both hold unless one was played
        on apart from the other after it was copied."""
        return [h for (h,) in self._rows("SELECT state_hash FROM rounds ORDER BY round", (), "its rounds")]

    def last_round(self) -> int:
        return self.con.execute("SELECT coalesce(max(round), 0) FROM rounds").fetchone()[0]

    def round_hash(self, round_no: int) -> str | None:
        row = self.con.execute("SELECT state_hash FROM rounds WHERE round = ?", (round_no,)).fetchone()
        return row[0] if row else None

    # ---- writing, once per round --------------------------------------
    def record_tips(self, state: State, opening: list[Event]) -> None:
        """Hold this round's new tips (with truth) until the round commits."""
        for e in opening:
            if e.kind == "tip_issued":
                t = state.tips[e.data["tip"]]
                self._tips.append((t.id, t.shock, t.good, t.text, json.dumps(t.recipients), int(t.truth),
                                   t.issued, t.resolves))

    def commit_round(self, result, snapshot: str) -> None:
        """Write one round in one transaction; `snapshot` is the state's canonical
        JSON. A write the database refuses (a full disk, a lock held too long,
        a file made read-only meanwhile) is one LedgerError line; the rounds
        committed before it are kept, and the save resumes from them."""
        try:
            self._commit(result, snapshot)
        except sqlite3.Error as e:
            said = f"{shown_path(self.path)}: round {result.round} could not be saved"
            last = result.round - 1
            if _locked(e):  # another program's transaction (an `sqlite3` shell), held past our wait: not the disk's
                kept, _ = self._kept(last)
                if last == 0:
                    raise FirstRoundUnsavedError(f"{said}: {LOCK_HELD}; {kept}", "once that program lets go of it") \
                        from None
                raise LedgerError(f"{said}: {LOCK_HELD}; {kept}; let that program let go of it, then resume with: "
                                  f"{resume_command(self.resume_with(), self.path, self.resume_seats())}") from None
            kept, split = self._kept(last)
            if last == 0:
                raise FirstRoundUnsavedError(f"{said} ({clean_text(e, 160)}); {kept}", "once it can be written "
                                             "there (room on the disk, a folder it may write in)") from None
            raise LedgerError(f"{said} ({clean_text(e, 160)}); {kept}"
                              + (", and resume once there is room" if split else "")) from None
        self._tips.clear()

    def _kept(self, last: int) -> tuple[str, bool]:
        """Where the committed rounds 1..`last` are, after a commit failed (a
        full disk, another program's lock), and whether that is two files:
        the file alone, once its -wal is folded into it, or the file and its
        -wal together when that cannot be done here (folding in grows the
        file, for which a full disk has no room; a lock held stops it too):
        then the file alone is no save, and the line says so."""
        if last == 0:
            return "no round was saved", False
        try:  # a TRUNCATE checkpoint empties the -wal only once every page of it is in the file; kept from
            # emptying it (another program's lock), it still folds in what it can: all of it, the file alone is whole
            busy, logged, folded = self.con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            whole = (busy == 0 and os.path.getsize(f"{beside(self.path)}-wal") == 0) or 0 <= logged == folded
        except (sqlite3.Error, OSError):
            whole = False
        if whole:
            return f"rounds 1 to {last} are kept in it", False
        return (f"rounds 1 to {last} are kept in it together with {shown_path(beside(self.path).name)}-wal beside it, which holds the "
                "latest of them: keep the two together (the file alone is not the save)"), True

    def _wal(self) -> None:
        """Before the first write: the save in WAL mode, as one is made. A copy
        made by `VACUUM INTO` (or set to another journal mode by another tool)
        had been played on with a rollback journal beside it, which readers
        then refused as no save's, and which a kill left for every command to
        refuse. (Not on opening: a resume that cannot start changes nothing.)"""
        if not self._in_wal:
            self.con.execute("PRAGMA journal_mode=WAL")
            self._in_wal = True

    def _commit(self, result, snapshot: str) -> None:
        r = result.round
        self._wal()
        with self.con:
            self.con.execute("BEGIN")
            self.con.executemany(_insert("tips"), self._tips)
            self.con.executemany(
                _insert("actions"),
                [(r, n, json.dumps(d.action.compact()), d.outcome, d.reason, d.raw) for n, d in result.decisions.items()])
            self.con.executemany(
                _insert("calls"),
                [(r, n, c.get("model"), json.dumps(c.get("messages")), c.get("raw"), json.dumps(c.get("action")),
                  d.outcome, d.reason, json.dumps(c.get("repairs", [])),
                  c.get("latency_ms"), c.get("prompt_tokens"), c.get("completion_tokens"), c.get("finish_reason"))
                 for n, d in result.decisions.items() if (c := d.call)])
            self.con.executemany(
                _insert("events"),
                [(r, i, e.kind, int(e.public), json.dumps(list(e.who)), json.dumps(e.data))
                 for i, e in enumerate(result.events)])
            self.con.execute(_insert("rounds"), (r, result.state_hash, result.wall_s, time.time()))
            self.con.execute(_insert("snapshot", "OR REPLACE"), (1, r, snapshot))

    # ---- reading ------------------------------------------------------
    # Every reader turns a damaged row into a one-line LedgerError naming the
    # file and the round, never a pydantic/json/KeyError traceback.
    def _bad(self, where: str, what: str) -> LedgerError:
        return LedgerError(f"{shown_path(self.path)}: {where}: {what}")

    def _action(self, round_no: object, creature: object, text: object) -> Action:
        where = f"round {round_no}, {_who(creature)}'s recorded action"
        if not isinstance(creature, str) or not creature:
            raise self._bad(f"round {round_no}", f"an action by {_show(creature)}, not a creature name")
        try:
            doc = _json(text, dict)
        except ValueError as e:
            raise self._bad(where, str(e)) from None
        try:
            return Action.model_validate(doc)
        except ValidationError as e:
            raise self._bad(where, f"not a valid action ({_first_error(e)})") from None

    def _event(self, round_no: object, seq: object, kind: object, public: object, who: object, data: object) -> Event:
        where = f"round {round_no}, event {seq}"
        if not isinstance(kind, str) or not kind:
            raise self._bad(where, f"kind {_show(kind)} is not a name")
        if public not in (0, 1) or isinstance(public, float):
            raise self._bad(where, f"public {_show(public)} is not 0 or 1")
        try:
            names = _json(who, list)
            if not all(isinstance(n, str) for n in names):
                raise ValueError(f"not a list of names ({_show(who)})")
            doc = _json(data, dict)
        except ValueError as e:
            raise self._bad(where, str(e)) from None
        for key, typ in EVENT_FIELDS.get(kind, {}).items():
            if key not in doc or not isinstance(doc[key], typ) or (typ is int and isinstance(doc[key], bool)):
                raise self._bad(where, f"a {kind} event without a valid {key}")
        return Event(kind, round_no, doc, bool(public), tuple(names))

    def _rows(self, sql: str, params: tuple = (), what: str = "its record"):
        """The rows of `sql`, a row SQLite cannot hand back (text that is not
        UTF-8, a page gone bad) a LedgerError too."""
        try:
            # not `yield from`: a reading stopped part way (Ctrl-C mid-export) would close the cursor when the
            # generator goes, and if the ledger had been closed first that is an error, printed as a traceback
            for row in self.con.execute(sql, params):
                yield row
        except sqlite3.DatabaseError as e:
            raise self._unreadable(e, what) from None

    def _unreadable(self, e: sqlite3.DatabaseError, what: str) -> LedgerError:
        return LedgerError(f"{shown_path(self.path)}: {what} cannot be read ({clean_text(e, 160)})")

    def _decision(self, round_no: object, n: object, a: object, o: object, r: object, raw: object) -> Decision:
        action = self._action(round_no, n, a)
        for label, v in (("outcome", o), ("reason", r), ("raw", raw)):
            if v is not None and not isinstance(v, str):
                raise self._bad(f"round {round_no}, {_who(n)}'s recorded {label}", f"not text ({_show(v)})")
        return Decision(action, o or "", r or "", raw)

    def actions(self, round_no: int) -> dict[str, Action]:
        rows = self._rows("SELECT creature, action FROM actions WHERE round = ?", (round_no,), f"round {round_no}")
        return {n: self._action(round_no, n, a) for n, a in rows}

    def decisions(self, round_no: int) -> dict[str, Decision]:
        """Each creature's recorded decision (action, outcome, reason, raw) in `round_no`."""
        rows = self._rows("SELECT creature, action, outcome, reason, raw FROM actions WHERE round = ?", (round_no,),
                          f"round {round_no}")
        return {n: self._decision(round_no, n, a, o, r, raw) for n, a, o, r, raw in rows}

    def events(self, round_no: int) -> list[Event]:
        rows = self._rows("SELECT seq, kind, public, who, data FROM events WHERE round = ? ORDER BY seq", (round_no,),
                          f"round {round_no}'s events")
        return [self._event(round_no, *row) for row in rows]

    def events_of(self, kind: str):
        """Every recorded event of `kind`, in order (checked row by row)."""
        for row in self._rows("SELECT round, seq, kind, public, who, data FROM events WHERE kind = ? "
                              "ORDER BY round, seq", (kind,), what=f"its {kind} events"):
            yield self._event(*row)

    def check_records(self) -> None:
        """Read every recorded action, event and tip once (a whole-file pass,
        not per round): a damaged row is a LedgerError here, before anything
        is played on top of the record or written from it. One read
        transaction: a run still saving to the file is seen at one moment,
        never half a round."""
        self.con.execute("BEGIN")
        try:
            self._check_records()
        except sqlite3.DatabaseError as e:  # a page the quick check passed (an index's) that does not read
            raise self._unreadable(e, "its record") from None
        finally:
            self.con.execute("ROLLBACK")

    def _check_records(self) -> None:
        names = {r.name for r in self.roster()}
        count, first, last = self.con.execute("SELECT count(*), min(round), coalesce(max(round), 0) FROM rounds"
                                              ).fetchone()
        if count != last or (count and first != 1):  # rounds 1..last, each once
            have = {n for (n,) in self.con.execute("SELECT round FROM rounds")}
            missing = next((n for n in range(1, last + 1) if n not in have), None)
            raise self._bad(f"round {missing}" if missing else "its rounds",
                            "not recorded, though later rounds are" if missing else "numbered outside 1..last")
        self.round_hashes()  # each one reads (bytes that are not UTF-8 in one were a traceback when its round replayed)
        committed = f"the rounds committed are 1 to {last}" if last else "no round is committed"
        for table in ("actions", "events", "calls"):
            (after,) = self.con.execute(f"SELECT max(round) FROM {table}").fetchone()
            if isinstance(after, int) and after > last:
                raise self._bad(f"round {after}", f"its {table} are recorded, but the round is not "
                                f"(the last committed round is {last})")
            # a row at a round no run plays (0, negative, not a whole number): no replay reads it, so no
            # verify holds it to the record, and an export would copy it out as recorded
            stray = self.con.execute(f"SELECT round FROM {table} WHERE typeof(round) != 'integer' OR round < 1 "
                                     "LIMIT 1").fetchone()
            if stray is not None:
                raise self._bad(f"round {_show(stray[0])}", f"its {table} are recorded, but no round of a run is "
                                f"numbered so ({committed})")
        decided: dict[int, int] = {}  # decisions a round: every creature decides every round (a pass too)
        for r, n, *rest in self._rows("SELECT round, creature, action, outcome, reason, raw FROM actions "
                                      "ORDER BY round, creature", what="its actions"):
            self._decision(r, n, *rest)
            if n not in names:
                raise self._bad(f"round {r}", f"an action by {_show(n)}, who is not in the roster")
            decided[r] = decided.get(r, 0) + 1
        # a decision gone was rebuilt as a pass, which no hash sees, and a report counted one decision fewer
        short = next((r for r in range(1, last + 1) if decided.get(r, 0) != len(names)), None)
        if short is not None:
            have = {n for (n,) in self.con.execute("SELECT creature FROM actions WHERE round = ?", (short,))}
            absent = next(r.name for r in self.roster() if r.name not in have)
            raise self._bad(f"round {short}", f"no decision of {_who(absent)} is recorded (every creature decides "
                            "every round)")
        for row in self._rows("SELECT round, seq, kind, public, who, data FROM events ORDER BY round, seq",
                              what="its events"):
            self._event(*row)
        for tip in self.tips():
            if not 1 <= tip["issued"] <= last:  # a tip is committed with the round that issued it
                raise self._bad(f"tip {tip['id']}", f"issued in round {tip['issued']}, which is not committed "
                                f"({committed})")

    def calls(self, round_no: int | None = None):
        """Every recorded model call (or one round's), checked row by row."""
        cols = ("round", "creature", "model", "messages", "raw", "action", "outcome", "reason", "repairs",
                "latency_ms", "prompt_tokens", "completion_tokens", "finish_reason")
        kinds = {"messages": list, "action": dict, "repairs": list}
        where_round, params = ("WHERE round = ? ", (round_no,)) if round_no is not None else ("", ())
        for row in self._rows(f"SELECT {', '.join(cols)} FROM calls {where_round}ORDER BY round, creature", params,
                              what="its model calls"):
            d = dict(zip(cols, row))
            where = f"round {d['round']}, {_who(d['creature'])}'s model call"
            for k, kind in kinds.items():
                try:
                    d[k] = _json(d[k], kind, optional=True)
                except ValueError as e:
                    raise self._bad(where, f"{k}: {e}") from None
            self._typed(where, d, text=("creature", "model", "raw", "outcome", "reason", "finish_reason"),
                        numbers=("round", "latency_ms", "prompt_tokens", "completion_tokens"),
                        whole=("prompt_tokens", "completion_tokens"))
            yield d

    def tips(self):
        cols = ("id", "shock", "good", "text", "recipients", "truth", "issued", "resolves")
        for row in self._rows(f"SELECT {', '.join(cols)} FROM tips ORDER BY id", what="its tips"):
            d = dict(zip(cols, row))
            where = f"tip {d['id']} (issued in round {d['issued']})"
            try:
                d["recipients"] = _json(d["recipients"], list)
                if not all(isinstance(n, str) for n in d["recipients"]):
                    raise ValueError(f"not a list of names ({_show(row[4])})")
            except ValueError as e:
                raise self._bad(where, f"recipients: {e}") from None
            if d["truth"] not in (0, 1) or isinstance(d["truth"], float):
                raise self._bad(where, f"truth {_show(d['truth'])} is not 0 or 1")
            for k in ("id", "issued", "resolves"):
                if not isinstance(d[k], int):
                    raise self._bad(where, f"{k} {_show(d[k])} is not a whole number")
            self._typed(where, d, text=("shock", "good", "text"), numbers=())
            d["truth"] = bool(d["truth"])
            yield d

    def _typed(self, where: str, d: dict, *, text: tuple[str, ...], numbers: tuple[str, ...],
               whole: tuple[str, ...] = ()) -> None:
        """Text columns hold text (or nothing), number columns numbers, and those
        of them that count (`whole`: a call's tokens) whole ones, read as ints
        (a REAL 5.0 is 5): what an export can write as JSON, and a report
        average as counts."""
        for k in text:
            if d[k] is not None and not isinstance(d[k], str):
                raise self._bad(where, f"{k} {_show(d[k])} is not text")
        for k in numbers:
            if d[k] is not None and not isinstance(d[k], (int, float)):
                raise self._bad(where, f"{k} {_show(d[k])} is not a number")
            if d[k] is not None and not (math.isfinite(d[k]) and 0 <= d[k] <= NUMBER_MAX):
                raise self._bad(where, f"{k} {_show(d[k])} is out of range (0 to {NUMBER_MAX})")
            if d[k] is not None and k in whole and not isinstance(d[k], int):
                if not d[k].is_integer():
                    raise self._bad(where, f"{k} {_show(d[k])} is not a whole number")
                d[k] = int(d[k])  # 5.0, kept as REAL by a column typed so: the count 5


def _parse_ends(text: str) -> list[tuple[int, int]]:
    """Meta `ends`: a JSON list of [first round, last round] pairs, first rounds
    rising, each last round at or past its first (a game never ends before the
    stretch it was given that length for begins: a resume plays on to it)."""
    doc = _json(text, list)
    out: list[tuple[int, int]] = []
    for item in doc:
        if not (isinstance(item, list) and len(item) == 2 and all(type(x) is int for x in item)):
            raise ValueError(f"{_show(item)} is not a pair of whole numbers")
        first, end = item
        if not 1 <= first <= end <= MAX_ROUNDS or (out and first <= out[-1][0]):
            raise ValueError(f"{_show(item)} is out of order or out of range")
        out.append((first, end))
    return out
