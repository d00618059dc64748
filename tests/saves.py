"""Watching a save that another process is writing (the kill and Ctrl-C tests);
a child process that writes as on a full disk; one that file permissions bind."""
from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import textwrap
import time
from pathlib import Path

import pytest


def rounds_saved(db: Path) -> int:
    """The last round committed to `db` (0 while there is none, or no file yet)."""
    try:  # closed here, not when the collector gets to it: an open reader keeps the writer's -wal beside the save
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            return con.execute("SELECT coalesce(max(round), 0) FROM rounds").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for_rounds(db: Path, at_least: int, timeout: float, proc: subprocess.Popen, step: float = 0.2) -> int:
    """Poll `db` until `at_least` rounds are committed, `proc` (the writer) ends
    or `timeout` seconds pass; the rounds committed by then."""
    done, deadline = 0, time.time() + timeout
    while done < at_least and time.time() < deadline and proc.poll() is None:
        time.sleep(step)
        done = rounds_saved(db)
    return done


def line_within(stream, seconds: float) -> str:
    """The next line a child process writes to `stream` (its pipe), failing
    the test if none comes within `seconds` (a bare readline would wait forever)."""
    import queue
    import threading

    got: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: got.put(stream.readline()), daemon=True).start()
    try:
        return got.get(timeout=seconds)
    except queue.Empty:
        raise AssertionError(f"no line within {seconds:g} s") from None


def full_disk(limit: int):
    """A `preexec_fn` under which the child's writes past `limit` bytes in a
    file fail (EFBIG, not the SIGXFSZ that would kill it), as on a full disk."""
    def limited() -> None:
        import resource  # POSIX only, as preexec_fn is
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limited


def held_at_chart_file(nth: int, holding: Path) -> str:
    """Python to run first in a wood process: the `nth` chart file (a name
    with one of `wood_tui.plots.FORMATS`), or export file (`.jsonl`), it
    begins through `engine.ledger.part_file` is held there for good, once
    `holding` has been made to say so; a test then sends its signal. Other
    files begun that way (a sweep's plan, its rosters' copies) are not
    counted: counting only charts, `wood export --out` was never held."""
    return textwrap.dedent(f"""
        import time
        import engine.ledger as ledger
        from wood_tui.plots import FORMATS
        made, real = [], ledger.part_file
        def part_file(target, parts):  # chart file number {nth} begun: held there until the signal comes
            fd = real(target, parts)
            if target.suffix[1:] not in (*FORMATS, "jsonl"):
                return fd
            made.append(fd)
            if len(made) == {nth}:
                open({str(holding)!r}, "w").close()
                while True:
                    time.sleep(1)
            return made[-1]
        ledger.part_file = part_file
        """)


def wood_held_at_chart_file(nth: int, holding: Path, argv: list[str], *, stdout=subprocess.DEVNULL) -> subprocess.Popen:
    """`wood ARGV` started as a real process, held at the `nth` file it begins
    (`held_at_chart_file`) and waited for until it is held there (up to 120 s):
    its stderr (and `stdout`, if asked) piped as text."""
    import sys
    root = Path(__file__).resolve().parent.parent
    hold = held_at_chart_file(nth, holding) + textwrap.dedent("""
        import runpy
        runpy.run_module("wood_tui.cli", run_name="__main__", alter_sys=True)
        """)
    proc = subprocess.Popen([sys.executable, "-c", hold, *argv], cwd=root, stdout=stdout, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline and not holding.exists():
        time.sleep(0.01)
    if proc.poll() is not None:
        raise AssertionError(proc.communicate())
    return proc


def without_root_powers(args: list[str]) -> list[str]:
    """`args` run so that file permissions bind (root drops its override), or as they are."""
    if os.geteuid() != 0:
        return args
    if not shutil.which("setpriv"):
        pytest.skip("root, and no setpriv to drop the permission override")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", "--inh-caps", caps, "--bounding-set", caps, *args]


# Names of letters a terminal shows two cells wide (CJK, emoji) and of one cell, some with an accent
# written as its own mark: a column padded or cut by characters (`ljust`, f"{name:<{w}}") misaligns.
WIDE_NAMES = ("栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠", "🦊🦊 Fox", "Owl", "E\u0301cureuil")


def wide_roster(path: Path) -> Path:
    """A roster at `path` of scripted traders with WIDE_NAMES."""
    path.write_text("".join(f'[[creatures]]\nname = "{n}"\nspecies = "{s}"\nmodel = "scripted"\n\n'
                            for n, s in zip(WIDE_NAMES, ("squirrel", "fox", "owl", "squirrel"))), encoding="utf-8")
    return path


WIDE_GOOD = "栗の実"  # a good named in letters two terminal cells wide: 3 characters, 6 cells


def wide_good_world(folder: Path, monkeypatch: pytest.MonkeyPatch, name: str = WIDE_GOOD):
    """The installed world with berries renamed WIDE_GOOD (or `name`), copied to `folder`
    and loaded by every command and game started in this process (`load_world`)."""
    import engine.world
    import wood_tui.bridge
    from tests.test_rules import renamed_berries

    folder.mkdir(exist_ok=True)
    edited = renamed_berries(folder, name, name)
    real = engine.world.load_world
    for module in (engine.world, wood_tui.bridge):
        monkeypatch.setattr(module, "load_world", lambda assets=None: real(edited))
    return real(edited)


def starts_by_cells(line: str, words: tuple[str, ...]) -> list[int]:
    """The terminal cell at which each of `words` begins in `line` (its first
    place after the one before): equal on every row of a column that lines up."""
    from rich.cells import cell_len

    out, at = [], 0
    for w in words:
        at = line.index(w, at)
        out.append(cell_len(line[:at]))
        at += len(w)
    return out


@contextlib.contextmanager
def locked_by_another_program(db: Path, exclusive: bool = False):
    """`db` held locked for writing by another SQLite connection for the
    block, as an `sqlite3` shell holds it after `BEGIN IMMEDIATE;`: readers
    read on (WAL), a writer waits, then is refused ('database is locked').
    `exclusive`: after `PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE;` and a
    write, which keeps readers out too."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        if exclusive:
            con.execute("PRAGMA locking_mode=EXCLUSIVE")
            con.execute("BEGIN EXCLUSIVE")
            con.execute("INSERT INTO meta VALUES ('held', 'by another program')")
        else:
            con.execute("BEGIN IMMEDIATE")
        yield
        con.execute("ROLLBACK")
    finally:
        con.close()


def taken_before_round_1(monkeypatch, held: contextlib.ExitStack, exclusive: bool) -> None:
    """Another program (`locked_by_another_program`) locks a new save once
    it is made, before its first round commits; held until `held` closes."""
    import engine.ledger as ledger

    monkeypatch.setattr(ledger, "LOCK_WAIT_S", 0.05)  # the wait for the lock, cut short: the refusal is the same
    real = ledger.Ledger._commit

    def commit(self, result, snapshot):
        if result.round == 1:
            held.enter_context(locked_by_another_program(self.path, exclusive))
        return real(self, result, snapshot)

    monkeypatch.setattr(ledger.Ledger, "_commit", commit)


def new_save_removed_for_a_lock(save: Path) -> str:
    """The line for a new save another program locked before its first round committed."""
    from engine.ledger import LOCK_HELD

    return (f"{save}: round 1 could not be saved: {LOCK_HELD}; no round was saved, so the new save was removed: "
            "run the same command again once that program lets go of it")
