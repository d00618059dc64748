"""Odd and hostile files, as a new user meets them (a review's findings):
a save whose name is what an export's temporary file used to be called,
paths with escape sequences in them, a save another process is still
writing, a save that cannot be resumed named to `wood play`/`wood watch`,
and a --save path that is a folder or a device."""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.saves import line_within, locked_by_another_program, new_save_removed_for_a_lock, taken_before_round_1, wait_for_rounds
from tests.test_bad_inputs import wood_in_process
from wood_tui.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def base_save(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("base") / "base.db"
    assert main(["sim", "--rounds", "5", "--seed", "1", "--save", str(p), "--quiet"]) == 0
    return p


@pytest.fixture(scope="module")
def model_save(tmp_path_factory) -> Path:
    """A short run whose creatures think with a model (the FaultServer's valid
    replies): it has model calls, so `export --sft` has examples to write."""
    from tests.fault_server import FaultServer
    from tests.test_fault_game import roster_toml

    d = tmp_path_factory.mktemp("model")
    with FaultServer() as srv:
        (d / "roster.toml").write_text(roster_toml(srv.base_url))
        assert main(["sim", "--roster", str(d / "roster.toml"), "--rounds", "3", "--seed", "1",
                     "--save", str(d / "model.db"), "--quiet"]) == 0
    return d / "model.db"


def edited_copy(save: Path, to: Path, *sql: str) -> Path:
    """A copy of `save` at `to`, with `sql` run on it as by hand."""
    import sqlite3

    shutil.copyfile(save, to)
    con = sqlite3.connect(to)
    with con:
        for statement in sql:
            con.execute(statement)
    con.close()
    return to


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("save_name,argv", [
    ("calls.jsonl.part", ["--out", "{d}"]),
    ("tips.jsonl.part", ["--out", "{d}"]),
    ("set.jsonl.part", ["--sft", "{d}/set.jsonl"]),
])
def test_an_export_never_writes_over_a_save_named_like_its_temporary_file(model_save, tmp_path, capsys, save_name,
                                                                          argv):
    """The export wrote `NAME.part` beside each file and renamed it: a save
    of that name (the one it reads) was emptied, then removed."""
    p = tmp_path / save_name
    shutil.copyfile(model_save, p)
    before = digest(p)
    capsys.readouterr()
    assert main(["export", str(p), *[a.format(d=tmp_path) for a in argv]]) == 0
    assert p.exists() and digest(p) == before
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".part") and f != save_name]


def test_an_export_never_opens_a_pipe_left_at_its_temporary_name(base_save, tmp_path):
    """A pipe at `calls.jsonl.part`: opening it to write waited for a reader forever."""
    os.mkfifo(tmp_path / "calls.jsonl.part")
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "export", str(base_save), "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "calls.jsonl").is_file()


ESC = "e\x1b[31mred\x1b]0;title\x07\u202e\nline"


def test_paths_with_escape_sequences_are_printed_inert(model_save, tmp_path, capsys):
    """`wood report` and `wood export` said the paths they were given as they
    were: escape sequences, a bidi override and a newline reached the terminal."""
    p = tmp_path / f"{ESC}.db"
    shutil.copyfile(model_save, p)
    for argv in (["report", str(p)], ["report", str(p), "--plots", str(tmp_path / f"{ESC}-charts")],
                 ["export", str(p), "--out", str(tmp_path / f"{ESC}-out")],
                 ["export", str(p), "--sft", str(tmp_path / f"{ESC}.jsonl")]):
        capsys.readouterr()
        assert main(argv) == 0
        out, err = capsys.readouterr()
        for text in (out, err):
            assert not any(c in text for c in "\x1b\x07\u202e"), (argv, text)
        assert "\nline" not in out + err, (argv, out, err)


def stopped_early(p: Path) -> Path:
    """A run of 8 rounds at `p` cut back to its first 5, as a killed run leaves it."""
    import sqlite3

    assert main(["sim", "--rounds", "8", "--save", str(p), "--quiet"]) == 0
    con = sqlite3.connect(p)
    with con:
        for t, col in (("rounds", "round"), ("actions", "round"), ("events", "round"), ("tips", "issued")):
            con.execute(f"DELETE FROM {t} WHERE {col} > 5")
    con.close()
    return p


def test_a_stopped_runs_resume_hint_is_printed_inert(tmp_path, capsys):
    p = stopped_early(tmp_path / f"{ESC}.db")
    capsys.readouterr()
    assert main(["report", str(p)]) == 0
    out = capsys.readouterr().out
    assert "stopped early" in out
    assert not any(c in out for c in "\x1b\x07\u202e"), out


def test_a_report_of_a_run_still_being_written_does_not_say_it_stopped(tmp_path):
    """While `wood sim --save` still plays, the report said 'stopped early;
    resume with: wood sim --resume ...', and that resume was refused (in use)."""
    p = tmp_path / "live.db"
    writer = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", "--creatures", "40", "--rounds",
                               "100000", "--save", str(p), "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        assert wait_for_rounds(p, 3, 60, writer) >= 3
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "report", str(p)], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert writer.poll() is None, "the writer ended before the report: nothing was shown"
    finally:
        writer.kill()
        writer.wait()
    assert r.returncode == 0, r.stderr
    second = r.stdout.splitlines()[1]
    assert "stopped early" not in second and "resume with" not in second, second
    assert "still being played" in second, second


def test_play_and_watch_refuse_a_save_they_cannot_resume_before_the_screen(base_save, tmp_path):
    """A save another wood process is writing: the pre-screen check passed it,
    and the app took the terminal over before the resume was refused."""
    from engine.errors import WoodError
    from engine.world import load_world
    from wood_tui.game import check_before_the_screen
    from wood_tui.options import RunOptions

    p = tmp_path / "held.db"
    shutil.copyfile(base_save, p)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'rb'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)", str(p)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert line_within(holder.stdout, 120).strip() == "held"
        before = digest(p)
        with pytest.raises(WoodError, match="in use by another wood process"):
            check_before_the_screen(RunOptions.parse("watch", ["--resume", str(p), "--brains", "scripted"]),
                                    load_world())
        assert digest(p) == before
        assert sorted(os.listdir(tmp_path)) == ["held.db"]
    finally:
        holder.kill()
        holder.wait()
    check_before_the_screen(RunOptions.parse("watch", ["--resume", str(p), "--brains", "scripted"]), load_world())
    assert sorted(os.listdir(tmp_path)) == ["held.db"]


@pytest.mark.parametrize("command,flags,words", [
    ("play", ["--rounds", "3"], "already has 5 rounds; --rounds is the total to reach: give 5 or more, or leave it out"),
    ("watch", ["--rounds", "3"], "already has 5 rounds; --rounds is the total to reach: give 5 or more, or leave it out"),
    ("play", ["--brains", "llm"], "was played with --brains scripted"),
])
def test_play_and_watch_refuse_flags_a_save_cannot_take_before_the_screen(base_save, tmp_path, capsys, monkeypatch,
                                                                          command, flags, words):
    """`wood play --resume RUN.db --rounds 10` of a save with more rounds than
    that drew the whole game screen (on a terminal) before its one line: the
    check ran only as the game opened, inside the app. It runs with the other
    checks before the screen now; the save is as it was."""
    import wood_tui.game
    from wood_tui.cli import main

    def no_screen(app):
        raise AssertionError("the app took the terminal over")
    monkeypatch.setattr(wood_tui.game, "run_app", no_screen)
    p = tmp_path / "five.db"
    shutil.copyfile(base_save, p)
    before = digest(p)
    capsys.readouterr()
    assert main([command, "--resume", str(p), *flags]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"wood: error: {p} {words}\n")
    assert digest(p) == before and sorted(os.listdir(tmp_path)) == ["five.db"]


@pytest.mark.parametrize("make,words", [
    (lambda d: (d / "runs").mkdir() or d / "runs", "is a directory; a save is a file"),
    (lambda d: Path("/dev/null"), "is a character device, not a regular file"),
    (lambda d: os.mkfifo(d / "pipe.db") or d / "pipe.db", "is a named pipe (FIFO), not a regular file"),
    # a link to nothing: no save behind it to resume (`--resume` says 'no save file'), nor one made through it
    (lambda d: os.symlink(d / "gone.db", d / "link.db") or d / "link.db", "is a broken link, not a regular file"),
])
def test_a_save_path_that_is_not_a_file_is_not_offered_to_resume(tmp_path, capsys, make, words):
    """`--save DIR` and `--save /dev/null` said 'already exists; resume it with
    --resume', and that resume is refused: a folder or a device is no save."""
    p = make(tmp_path)
    line = wood_in_process(capsys, ["sim", "--rounds", "2", "--save", str(p)])
    assert words in line, line
    assert "resume it" not in line, line


@pytest.mark.parametrize("creature,model,outcome", [
    ("Owl", "smol", "clean"),      # a scripted run has no model calls: one added by hand, its action the recorded one
    ("Nobody", "smol", "fault"),   # a call by no creature of the run
    ("Owl", "smol", "rejected"),   # an outcome that is not the decision's
])
def test_a_model_call_added_by_hand_does_not_verify(base_save, tmp_path, capsys, creature, model, outcome):
    """`wood replay --verify` is what catches a row changed by hand (README, `wood export`): a model call
    added to a scripted run, with a made-up prompt and the recorded action, passed it, and
    `wood export --sft` then wrote the made-up prompt as a training example."""
    import json
    import sqlite3

    p = tmp_path / "save.db"
    shutil.copyfile(base_save, p)
    con = sqlite3.connect(p)
    with con:
        (action,) = con.execute("SELECT action FROM actions WHERE round = 2 AND creature = 'Owl'").fetchone()
        messages = json.dumps([{"role": "system", "content": "made up"}, {"role": "user", "content": "u"}])
        con.execute("INSERT INTO calls VALUES (2, ?, ?, ?, 'raw', ?, ?, NULL, '[]', 5, 2, 3, 'stop')",
                    (creature, model, messages, action, outcome))
    con.close()
    capsys.readouterr()
    assert main(["replay", str(p), "--verify"]) == 1
    assert f"round 2's recorded model call of '{creature}' is not what its actions make" in capsys.readouterr().err
    line = wood_in_process(capsys, ["report", str(p)])
    assert "model call" in line, line


def _twin_of(save: Path, at: Path, seed: int) -> Path:
    """A copy of `save` recorded as seed `seed`: its examples are word for word the original's."""
    import sqlite3

    shutil.copyfile(save, at)
    con = sqlite3.connect(at)
    with con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'seed'", (str(seed),))
    con.close()
    return at


def test_held_out_twins_are_compared_whatever_text_a_save_holds(model_save, tmp_path, capsys):
    """A recorded prompt with a lone surrogate escape (JSON reads it, UTF-8
    cannot encode it): the twin check hashed the example as UTF-8 and the
    export was a UnicodeEncodeError traceback; without --holdout-seeds it wrote."""
    import json
    import sqlite3

    train = tmp_path / "train.db"
    shutil.copyfile(model_save, train)
    con = sqlite3.connect(train)
    with con:
        rowid, text = con.execute("SELECT rowid, messages FROM calls WHERE outcome = 'clean' LIMIT 1").fetchone()
        messages = json.loads(text)
        messages[-1]["content"] += "\ud800"
        con.execute("UPDATE calls SET messages = ? WHERE rowid = ?", (json.dumps(messages), rowid))
    con.close()
    held = _twin_of(model_save, tmp_path / "held.db", 3)
    capsys.readouterr()
    assert main(["export", str(train), str(held), "--sft", str(tmp_path / "set.jsonl"), "--holdout-seeds", "3"]) == 0
    assert len((tmp_path / "set.jsonl").read_text().splitlines()) == 1  # the one changed example is no twin


def test_a_run_whose_examples_all_went_as_twins_is_not_counted_as_a_source(model_save, tmp_path, capsys):
    """Two copies of one run, one held out: the other gives no training
    example (each is a held-out one's twin), so the summary counts only the
    run that did ('from 1 run', not 'from 2 runs')."""
    from wood_tui.commands.export import sft_example
    from engine.ledger import Ledger

    twin = _twin_of(model_save, tmp_path / "twin.db", 3)
    held = _twin_of(model_save, tmp_path / "held.db", 4)
    extra = tmp_path / "extra.db"  # a training run whose examples differ from the held-out ones: seed 5's
    from tests.fault_server import FaultServer
    from tests.test_fault_game import roster_toml

    with FaultServer() as srv:
        (tmp_path / "roster.toml").write_text(roster_toml(srv.base_url))
        assert main(["sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", "3", "--seed", "5",
                     "--save", str(extra), "--quiet"]) == 0
    ledger = Ledger.open(held, readonly=True, rows_only=True)
    try:
        held_out = [sft_example(c) for c in ledger.calls() if c["outcome"] == "clean" and c["action"] is not None]
    finally:
        ledger.close()
    ledger = Ledger.open(extra, readonly=True, rows_only=True)
    try:
        kept = [c for c in ledger.calls() if c["outcome"] == "clean" and c["action"] is not None
                and sft_example(c) not in held_out]
    finally:
        ledger.close()
    assert kept, "seed 5's run has an example of its own"
    capsys.readouterr()
    assert main(["export", str(twin), str(extra), str(held), "--sft", str(tmp_path / "set.jsonl"),
                 "--holdout-seeds", "4"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {len(kept)} example{'s' if len(kept) > 1 else ''} from 1 run to" in out, out


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="reads Linux's table of file locks")
def test_the_still_played_check_leaves_the_reports_own_sqlite_locks_alone(tmp_path, monkeypatch):
    """`being_written` opens and closes the save: a process that closes any
    descriptor of a file loses every POSIX lock it holds on it, SQLite's
    too. The report asked it with the save still open, so its reader's
    shared lock (which tells a closing writer the WAL is still read) went."""

    import engine.report as report
    from engine.world import load_world

    p = stopped_early(tmp_path / "early.db")
    ino, me = os.stat(p).st_ino, str(os.getpid())
    held = []

    def asked(path):
        held.append([line for line in open("/proc/locks") if f" {me} " in line and f":{ino} " in line])
        return False

    monkeypatch.setattr(report, "being_written", asked)
    r = report.report_of(p, load_world())
    assert r.stopped_early_of == 8 and held == [[]], held


def test_a_save_recorded_before_rosters_were_read_strictly_still_opens(model_save, tmp_path, capsys):
    """A save's models are read as the build that wrote them read its roster:
    one recorded with `health_interval_s = inf` (a roster took it then), or a
    connect_timeout_s past the bound rosters have had since, still reports
    and verifies, though a roster saying so now is refused."""
    import json
    import sqlite3

    p = tmp_path / "old.db"
    shutil.copyfile(model_save, p)
    con = sqlite3.connect(p)
    with con:
        extra = json.loads(con.execute("SELECT value FROM meta WHERE key = 'extra'").fetchone()[0])
        for m in extra["models"].values():
            m["health_interval_s"] = float("inf")
            m["timeout_s"] = 2  # a whole number where a float is kept
            m["connect_timeout_s"] = 7200.0  # past the hour a roster has been held to since
        con.execute("UPDATE meta SET value = ? WHERE key = 'extra'", (json.dumps(extra),))
    con.close()
    assert main(["report", str(p)]) == 0
    assert main(["replay", str(p), "--verify"]) == 0


def test_a_writers_lock_held_for_an_instant_is_waited_for(tmp_path, monkeypatch):
    """A report's probe of a save (`being_written`) holds its lock shared for an
    instant: a resume asking for it then waits a moment, not refused; one
    held for good is refused."""
    import fcntl

    import engine.ledger as ledger
    from engine.errors import WoodError

    p = tmp_path / "s.db"
    p.write_bytes(b"x")
    probe = open(p, "rb")
    fcntl.flock(probe, fcntl.LOCK_SH)
    pauses = []

    def pause(s):  # the probe lets go during the writer's first pause (no thread, no race with a timer)
        pauses.append(s)
        fcntl.flock(probe, fcntl.LOCK_UN)

    monkeypatch.setattr(ledger.time, "sleep", pause)
    lock = ledger._writer_lock(p)
    assert lock is not None and pauses == [ledger.WRITER_LOCK_PAUSE_S]
    lock.close()
    fcntl.flock(probe, fcntl.LOCK_SH)
    monkeypatch.setattr(ledger.time, "sleep", lambda s: pauses.append(s))  # held for good this time
    with pytest.raises(WoodError, match="in use by another wood process"):
        ledger._writer_lock(p)
    assert len(pauses) == ledger.WRITER_LOCK_TRIES  # the first, then the 4 pauses between 5 tries
    probe.close()


def test_a_saves_hostile_creature_name_is_inert_and_cut_in_the_standings(tmp_path):
    """A save's roster may hold any name (one made by hand, then played out so that every hash holds):
    `wood replay --verify` and a resumed `wood sim` printed it as it was in their standings, escape
    sequences and a bidi override reaching the terminal, and a 5,000-character name padded every line."""
    import asyncio

    from engine.brains.scripted import scripted_brains
    from engine.ledger import Ledger
    from engine.runner import Runner
    from engine.state import initial_state
    from engine.world import RosterEntry, build_roster, load_world

    world = load_world()
    evil = "\x1b[31mMallory\x1b]0;title\x07\u202e" + "y" * 5000
    roster = [RosterEntry(evil, "owl", "cautious"), *build_roster(world, 3)]
    p = tmp_path / "evil.db"

    async def record() -> None:
        ledger = Ledger.create(p, seed=5, roster=roster, brains="scripted", rounds=4)
        runner = Runner(world, initial_state(world, 5, roster, end=4), scripted_brains(roster, 5), ledger=ledger)
        for _ in range(3):
            await runner.play_round()
        ledger.close()

    asyncio.run(record())
    for argv in (["replay", str(p), "--verify"], ["sim", "--resume", str(p), "--quiet"]):
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, (argv, r.stderr)
        assert not any(c in r.stdout + r.stderr for c in "\x1b\x07\u202e"), argv
        line = next(x for x in r.stdout.splitlines() if "Mallory" in x)
        assert "Mallorytitle" not in line and len(line) < 200, (argv, line[:300])


HOT_JOURNAL = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
               "c.execute('PRAGMA journal_mode=DELETE'); c.execute('PRAGMA cache_size=2'); c.execute('BEGIN'); "
               "c.execute(\"UPDATE events SET data = data || ' '\"); os._exit(0)")


@pytest.mark.parametrize("argv", [["replay", "{p}", "--verify"], ["report", "{p}"], ["report", "{p}", "--json"],
                                  ["export", "{p}", "--out", "{d}/out"], ["export", "{p}", "--sft", "{d}/set.jsonl"],
                                  ["sim", "--resume", "{p}", "--rounds", "9", "--quiet"]],
                         ids=["verify", "report", "json", "export", "sft", "resume"])
def test_a_rollback_journal_beside_a_save_is_never_rolled_into_it(base_save, tmp_path, capsys, argv):
    """A `-journal` beside a save (no wood save makes one: another file's, or
    left by a program killed mid-write): even a read-only `wood replay
    --verify` let SQLite roll it back into the save, which it overwrote with
    the other file's pages, and deleted the journal; the save then read as
    corrupt. Now one line, and the save and the journal are as they were."""
    other = tmp_path / "other.db"
    assert main(["sim", "--rounds", "5", "--seed", "2", "--save", str(other), "--quiet"]) == 0
    subprocess.run([sys.executable, "-c", HOT_JOURNAL, str(other)], check=True, timeout=60)
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    os.rename(f"{other}-journal", f"{p}-journal")
    os.unlink(other)
    before = {f: digest(tmp_path / f) for f in os.listdir(tmp_path)}
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert "s.db-journal lies beside it, a rollback journal no wood save makes" in line, line
    assert {f: digest(tmp_path / f) for f in os.listdir(tmp_path)} == before


KILLED_WITH_DAMAGE = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0');"
                      "c.execute(\"UPDATE actions SET action = '[1]' WHERE round = 2\"); c.commit(); os._exit(0)")


@pytest.mark.parametrize("argv", [["replay", "{p}", "--verify"], ["report", "{p}", "--json"],
                                  ["export", "{p}", "--out", "{d}/out"]], ids=["verify", "json", "export"])
def test_a_link_to_a_killed_runs_save_leaves_the_wal_beside_its_target(base_save, tmp_path, capsys, argv):
    """A save named through a symbolic link, its killed run's last rounds only
    in the -wal beside the file the link leads to (SQLite's -wal and -shm
    are named after that file): wood looked for them beside the link, found
    none, read through a read-write connection, and its close folded the -wal
    (a damaged row in it) into the save and deleted it. Now the save and
    its -wal stay as they were, as they do for the save named directly."""
    real = tmp_path / "real"
    real.mkdir()
    shutil.copyfile(base_save, real / "s.db")
    subprocess.run([sys.executable, "-c", KILLED_WITH_DAMAGE, str(real / "s.db")], check=True, timeout=60)
    assert sorted(os.listdir(real)) == ["s.db", "s.db-shm", "s.db-wal"]
    (tmp_path / "link.db").symlink_to(real / "s.db")
    before = {f: digest(real / f) for f in ("s.db", "s.db-wal")}
    line = wood_in_process(capsys, [a.format(p=tmp_path / "link.db", d=tmp_path) for a in argv])
    assert "round 2, Badger's recorded action: not a JSON object ('[1]')" in line, line
    assert sorted(os.listdir(real)) == ["s.db", "s.db-shm", "s.db-wal"]
    assert {f: digest(real / f) for f in ("s.db", "s.db-wal")} == before


CALL_AT = ("INSERT INTO calls VALUES ({r}, 'Owl', 'smol', '[{{\"role\": \"user\", \"content\": \"made up\"}}]', 'raw', "
           "'{{\"action\": \"pass\"}}', 'clean', NULL, '[]', 5, 2, 3, 'stop')")


@pytest.mark.parametrize("sql,words", [
    ("INSERT INTO events SELECT 0, seq, kind, public, who, data FROM events WHERE round = 2", "round 0: its events"),
    ("INSERT INTO events SELECT -7, seq, kind, public, who, data FROM events WHERE round = 2", "round -7: its events"),
    ("INSERT INTO actions SELECT 0, creature, action, outcome, reason, raw FROM actions WHERE round = 1",
     "round 0: its actions"),
    ("UPDATE actions SET round = 'two' WHERE round = 2 AND creature = 'Owl'", "round 'two': its actions"),
    ("UPDATE actions SET round = NULL WHERE round = 2 AND creature = 'Owl'", "round NULL: its actions"),
    (CALL_AT.format(r=0), "round 0: its calls"),
    ("INSERT INTO tips SELECT 99, shock, good, 'made up', recipients, truth, 0, resolves FROM tips LIMIT 1",
     "tip 99: issued in round 0"),
    ("INSERT INTO tips SELECT 99, shock, good, 'made up', recipients, truth, 6, resolves FROM tips LIMIT 1",
     "tip 99: issued in round 6"),
], ids=["event-round-0", "event-round-negative", "action-round-0", "action-round-text", "action-round-null",
        "call-round-0", "tip-round-0", "tip-after-the-last"])
@pytest.mark.parametrize("argv", [["replay", "{p}", "--verify"], ["export", "{p}", "--out", "{d}/out"]],
                         ids=["verify", "export"])
def test_a_row_added_outside_the_committed_rounds_does_not_verify(base_save, tmp_path, capsys, sql, words, argv):
    """Rows by hand at a round no run plays (0, negative, not a number) or a
    tip issued in a round not committed: `wood replay --verify` holds only
    rounds 1..last to the record, so it said 'each rebuilt to its recorded
    state hash' and passed them, and `wood export` wrote the made-up whisper
    or tip into the audit trail (rows after the last round were refused)."""
    p = edited_copy(base_save, tmp_path / "save.db", sql)
    before = digest(p)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert words in line, line
    assert digest(p) == before and sorted(os.listdir(tmp_path)) == ["save.db"]


KILLED_AFTER_A_COMMIT = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0');"
                         "c.execute(\"UPDATE rounds SET wall_s = wall_s + 1\"); c.commit(); os._exit(0)")


@pytest.mark.parametrize("damage", ["page size", "checksum", "garbage"])
@pytest.mark.parametrize("argv", [["replay", "{p}", "--verify"], ["report", "{p}"],
                                  ["export", "{p}", "--out", "{d}/out"],
                                  ["sim", "--resume", "{p}", "--rounds", "9", "--quiet"]],
                         ids=["verify", "report", "export", "resume"])
def test_a_wal_whose_header_is_damaged_is_refused_not_dropped(base_save, tmp_path, capsys, argv, damage):
    """A killed run's -wal whose header is damaged: SQLite reads none of it (the
    rounds in it are not seen) and says nothing, so the report counted the
    rounds of the file alone and offered a resume, and the resume wrote over the
    -wal and deleted it. Now one line, and the save and its -wal stay."""
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    subprocess.run([sys.executable, "-c", KILLED_AFTER_A_COMMIT, str(p)], check=True, timeout=60)
    wal = tmp_path / "s.db-wal"
    b = bytearray(wal.read_bytes())
    if damage == "page size":
        b[8] ^= 0xFF
    elif damage == "checksum":
        b[27] ^= 0x01
    else:
        b[:32] = os.urandom(32)
    wal.write_bytes(bytes(b))
    (tmp_path / "s.db-shm").unlink()
    before = {f: digest(tmp_path / f) for f in ("s.db", "s.db-wal")}
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert "s.db-wal beside it is not an SQLite log" in line, line
    assert {f: digest(tmp_path / f) for f in ("s.db", "s.db-wal")} == before
    assert sorted(os.listdir(tmp_path)) == ["s.db", "s.db-wal"]


EVERY_READER = [["replay", "{p}", "--verify"], ["report", "{p}"], ["export", "{p}", "--out", "{d}/out"],
                ["export", "{p}", "--sft", "{d}/set.jsonl"], ["sim", "--resume", "{p}", "--rounds", "9", "--quiet"]]
EVERY_READER_IDS = ["verify", "report", "export", "sft", "resume"]


@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_save_path_that_is_a_symbolic_link_loop_is_said_to_be_one(tmp_path, capsys, argv):
    """A save path that is a link to itself: `wood export` said "Symlink loop
    from '/abs/path'" (pathlib's words, the path unescaped), the other commands
    'no save file at ...'. Now every command says it is a symbolic link loop,
    the path shown as given (escaped)."""
    from engine.sanitise import shown_path

    p = tmp_path / f"{ESC}.db"
    p.symlink_to(p.name)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert f"{shown_path(p)} is a symbolic link loop" in line, line
    assert "Symlink loop" not in line and "no save file at" not in line, line
    assert os.listdir(tmp_path) == [p.name]


def _damaged_pages(p: Path) -> None:
    """Garble the cell pointers of the actions table's root page (page 5): the
    file still opens, and SQLite's quick_check lists a problem per cell."""
    b = bytearray(p.read_bytes())
    for i in range(4 * 4096 + 8, 4 * 4096 + 16):
        b[i] ^= 0x55
    p.write_bytes(bytes(b))


@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_corrupt_saves_line_names_sqlites_first_problem_readably(base_save, tmp_path, capsys, argv):
    """A corrupt save: the line quoted SQLite's check as a Python string, cut at
    80 characters, its line breaks as '\\n' marks ('*** in database main
    ***\\nOn tree page 5 cell 3: Offset ...'). Now the first problem SQLite
    names, plainly, and how many it found."""
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    _damaged_pages(p)
    before = digest(p)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert re.search(r"s\.db is corrupt \(SQLite's check finds [0-9]+ problems, the first: On tree page 5 cell [0-9]+: ",
                     line), line
    assert "\\n" not in line and "***" not in line and line.endswith(")"), line
    assert digest(p) == before and os.listdir(tmp_path) == ["s.db"]


@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_damaged_index_that_sqlites_quick_check_passes_is_one_line(base_save, tmp_path, capsys, argv):
    """A byte flipped in the actions table's index (its root page): SQLite's
    quick_check, which does not read an index against its table, finds
    nothing, and the check of the record's rows at rounds no run plays (read
    through that index) met 'database disk image is malformed': `wood report`,
    `wood replay --verify` and `wood export` ended on a traceback, exit 1.
    Now one line naming the save, exit 2, and nothing written."""
    import sqlite3

    made = tmp_path / "made" / "s.db"  # damaged and checked here: a read-only look leaves SQLite's files beside it
    made.parent.mkdir()
    shutil.copyfile(base_save, made)
    with contextlib.closing(sqlite3.connect(made)) as con:
        (root,) = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sqlite_autoindex_actions_1'").fetchone()
    b = bytearray(made.read_bytes())
    b[(root - 1) * 4096 + 4000] ^= 0xFF  # a key in the page's cells, not its header: the quick check passes
    made.write_bytes(bytes(b))
    p = tmp_path / "run" / "s.db"
    p.parent.mkdir()
    shutil.copyfile(made, p)
    with contextlib.closing(sqlite3.connect(f"file:{made}?mode=ro", uri=True)) as con:
        assert con.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    before = digest(p)
    line = wood_in_process(capsys, [a.format(p=p, d=p.parent) for a in argv])
    assert re.search(r"s\.db(: its record cannot be read| is not a readable Thousand Token Wood save) "
                     r"\(database disk image is malformed\)$", line), line
    assert digest(p) == before and os.listdir(p.parent) == ["s.db"]


@pytest.mark.parametrize("key,value", [("rounds", "99999999999999999999999"), ("rounds", "1000001"),
                                       ("ends", "[[1, 99999999999999999999999]]")], ids=["rounds", "rounds-1", "ends"])
@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_saves_planned_length_is_bounded_as_rounds_is(base_save, tmp_path, capsys, argv, key, value):
    """The save's planned length (meta `rounds`, and the last rounds in `ends`)
    set by hand past any run's (99999999999999999999999): every command took
    it, though --rounds takes at most MAX_ROUNDS. Now it is refused, naming
    the bound."""
    import sqlite3

    from wood_tui.options import MAX_ROUNDS

    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    con = sqlite3.connect(p)
    with con:
        con.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    con.close()
    before = digest(p)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert f"s.db: meta {key}: " in line or f"s.db: meta {key} " in line, line
    assert (f"from 1 to {MAX_ROUNDS:,}" if key == "rounds" else "out of range") in line, line
    assert digest(p) == before and os.listdir(tmp_path) == ["s.db"]


@pytest.mark.parametrize("argv", [*EVERY_READER, ["sim", "--resume", "{p}"]], ids=[*EVERY_READER_IDS, "plain-resume"])
def test_a_planned_length_that_ends_before_its_stretch_begins_is_refused(base_save, tmp_path, capsys, argv):
    """Meta `ends` set by hand so that the stretch from round 6 ends at round 4:
    `wood sim --resume` said 'resuming s.db after round 5 of 4', played
    nothing and exited 0; the rest took it as it was. A game is never given a
    length it has already passed (a resume plays on to it): refused, one line."""
    p = edited_copy(base_save, tmp_path / "s.db", "UPDATE meta SET value = '[[1, 5], [6, 4]]' WHERE key = 'ends'")
    before = digest(p)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert "s.db: meta ends: [6, 4] is out of order or out of range" in line, line
    assert digest(p) == before and os.listdir(tmp_path) == ["s.db"]


@pytest.mark.parametrize("make", [os.mkdir, os.mkfifo], ids=["directory", "pipe"])
@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_what_stands_where_the_shm_goes_is_named(base_save, tmp_path, capsys, argv, make):
    """A folder (or a pipe) at the save's -shm name: the resume read the save,
    then said 'cannot write to the save (attempt to write a readonly
    database)', naming nothing in the way (a pipe: 'is the disk full?'); a
    killed run's -wal was read through it, or refused in those words. Now the
    line names the -shm and what it is, and the save and its -wal stay."""
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    subprocess.run([sys.executable, "-c", KILLED_AFTER_A_COMMIT, str(p)], check=True, timeout=60)
    (tmp_path / "s.db-shm").unlink()
    make(tmp_path / "s.db-shm")
    before = {f: digest(tmp_path / f) for f in ("s.db", "s.db-wal")}
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    kind = "a directory" if make is os.mkdir else "a named pipe"
    assert f"s.db: s.db-shm beside it is {kind}, not a file: SQLite keeps the save's -shm index there" in line, line
    assert {f: digest(tmp_path / f) for f in ("s.db", "s.db-wal")} == before
    assert sorted(os.listdir(tmp_path)) == ["s.db", "s.db-shm", "s.db-wal"]


@pytest.mark.parametrize("argv", [["replay", "{p}", "--verify"], ["report", "{p}"], ["export", "{p}", "--out", "{d}/out"]],
                         ids=["verify", "report", "export"])
def test_a_read_beside_a_folder_where_the_shm_goes_leaves_nothing_behind(base_save, tmp_path, capsys, argv):
    """A folder at the -shm name and no -wal: the save is the file alone, and
    is read, but the read left an empty -wal beside it. Now nothing."""
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    (tmp_path / "s.db-shm").mkdir()
    before = digest(p)
    capsys.readouterr()
    assert main([a.format(p=p, d=tmp_path) for a in argv]) == 0
    assert digest(p) == before
    assert sorted(f for f in os.listdir(tmp_path) if f != "out") == ["s.db", "s.db-shm"]


def test_a_resume_beside_a_folder_where_the_shm_goes_names_it(base_save, tmp_path, capsys):
    """The same with no -wal (the reviewer's case): 'cannot write to the save
    (attempt to write a readonly database)'. Now the -shm is named."""
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    (tmp_path / "s.db-shm").mkdir()
    before = digest(p)
    line = wood_in_process(capsys, ["sim", "--resume", str(p), "--rounds", "9", "--quiet"])
    assert "s.db-shm beside it is a directory, not a file: SQLite keeps the save's -shm index there and a resume " \
           "writes the save through it; move it away" in line, line
    assert digest(p) == before and sorted(os.listdir(tmp_path)) == ["s.db", "s.db-shm"]


@contextlib.contextmanager
def read_only_mount(folder: Path):
    """`folder` remounted read-only over itself (a bind mount), for the time of
    the block; the test is skipped where mounting is not permitted (it needs root)."""
    if shutil.which("mount") is None:
        pytest.skip("a read-only mount is needed and there is no mount command here")
    bind = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"a read-only mount is needed and mount is not permitted here: {bind.stderr.strip()}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True, text=True)
        if ro.returncode != 0:
            pytest.skip(f"a read-only mount is needed and remounting read-only is not permitted here: {ro.stderr.strip()}")
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_killed_runs_save_on_a_read_only_mount_says_why_it_cannot_be_read(base_save, tmp_path, capsys, argv):
    """A stopped run's save and its -wal (no -shm) on a read-only file system:
    'is not a readable Thousand Token Wood save (unable to open database
    file)', though the save is fine: SQLite reads a -wal only through a -shm
    it cannot make there. Now the line says so, and to copy the save and its
    -wal (together: the file alone lacks the -wal's rounds) somewhere writable."""
    ro = tmp_path / "ro"
    ro.mkdir()
    p = ro / "s.db"
    shutil.copyfile(base_save, p)
    subprocess.run([sys.executable, "-c", KILLED_AFTER_A_COMMIT, str(p)], check=True, timeout=60)
    (ro / "s.db-shm").unlink()
    before = {f: digest(ro / f) for f in ("s.db", "s.db-wal")}
    with read_only_mount(ro):
        line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    if argv[0] == "sim":
        assert "s.db cannot be written (a read-only file or folder): a resume adds its rounds to it; copy it and " \
               "s.db-wal beside it together somewhere writable" in line, line
    else:
        assert "s.db cannot be read here: s.db-wal lies beside it" in line, line
        assert "SQLite reads a -wal only through a -shm index, which it cannot make beside it on a read-only file " \
               "system; copy it and s.db-wal beside it together somewhere writable" in line, line
    assert {f: digest(ro / f) for f in ("s.db", "s.db-wal")} == before
    assert sorted(os.listdir(ro)) == ["s.db", "s.db-wal"]


@pytest.mark.parametrize("sql,why", [
    ("UPDATE actions SET outcome = 'fault', reason = 'fault: timeout' WHERE round = 3 AND creature = 'Owl'",
     "a fault or a reply that was no action passes, and it is recorded as 'offer'"),
    ("UPDATE actions SET outcome = 'rejected', reason = 'schema: qty' WHERE round = 3 AND creature = 'Owl'",
     "a fault or a reply that was no action passes, and it is recorded as 'offer'"),
    ("UPDATE actions SET outcome = 'banana' WHERE round = 2 AND creature = 'Fox'", "no decision has that outcome"),
    ("UPDATE actions SET outcome = 'repaired' WHERE round = 2 AND creature = 'Fox'",
     "a model's decision, with no model call recorded"),
    ("UPDATE actions SET outcome = 'rejected', reason = 'engine: no such offer' WHERE round = 2 AND creature = 'Fox'",
     "the engine did not refuse its action"),
], ids=["fault-with-an-offer", "unparseable-with-an-offer", "unknown", "model-outcome-without-a-call",
        "engine-refusal-without-one"])
@pytest.mark.parametrize("argv", [["replay", "{p}", "--verify"], ["report", "{p}"]], ids=["verify", "report"])
def test_a_decisions_outcome_changed_by_hand_does_not_verify(base_save, tmp_path, capsys, sql, why, argv):
    """A decision's outcome and reason (the actions table's) are what `wood
    report` counts per model: valid, clean or repaired, rejected by reason,
    faults. No state hash covers them, and nothing held them to the record:
    a scripted trader's traded offer set to 'fault' verified ('each rebuilt to
    its recorded state hash') and the report said `rejected 1 (fault 1)`.
    Now each is held to its action, the engine's verdict and the model call."""
    p = edited_copy(base_save, tmp_path / "save.db", sql)
    before = digest(p)
    if argv[0] == "replay":  # a record that does not rebuild: exit 1, as a state hash that differs
        capsys.readouterr()
        assert main([a.format(p=p) for a in argv]) == 1
        out, line = capsys.readouterr()
        assert not out and line.count("\n") == 1, (out, line)
    else:
        line = wood_in_process(capsys, [a.format(p=p) for a in argv])
    r, who = re.search(r"WHERE round = ([0-9]+) AND creature = '(\w+)'", sql).groups()
    assert f"round {r}, {who}'s recorded outcome" in line, line
    assert f"is not what the round makes it ({why}; the save was changed)" in line, line
    assert digest(p) == before and os.listdir(tmp_path) == ["save.db"]


@pytest.mark.parametrize("change", ["reason = 'unparseable: made up'", "model = 'gpt-5'", "action = 'null'"],
                         ids=["reason", "model", "no-action"])
def test_a_model_calls_record_changed_by_hand_does_not_verify(model_save, tmp_path, capsys, change):
    """A model call's recorded reason is the decision's (the export's audit
    trail writes it), its model the creature's, its action the proposal:
    changed apart from them, it verified; a call moved to another model was
    gone from the report's count of its model's calls ('model calls 60' for
    75 decisions) and from `export --sft --model`'s set, and with the
    actions of a run's clean calls set to none, `export --sft` said 'no model
    decision in the runs read fits the fine-tuning set'."""
    import sqlite3

    p = tmp_path / "save.db"
    shutil.copyfile(model_save, p)
    con = sqlite3.connect(p)
    with con:
        con.execute(f"UPDATE calls SET {change} WHERE rowid = 1")
    con.close()
    capsys.readouterr()
    assert main(["replay", str(p), "--verify"]) == 1
    assert "recorded model call of" in capsys.readouterr().err
    assert main(["replay", str(model_save), "--verify"]) == 0


def _unkeyed(p: Path, table: str, doubled: str) -> None:
    """`table` in the save at `p` made again by hand without its primary key,
    and the row of it `doubled` (an SQL condition) recorded twice."""
    import sqlite3

    con = sqlite3.connect(p)
    with con:
        cols = ", ".join(c[1] for c in con.execute(f"PRAGMA table_info({table})"))
        con.execute(f"CREATE TABLE old_{table} AS SELECT * FROM {table}")
        con.execute(f"DROP TABLE {table}")
        con.execute(f"CREATE TABLE {table} ({cols})")
        con.execute(f"INSERT INTO {table} SELECT * FROM old_{table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM old_{table} WHERE {doubled}")
        con.execute(f"DROP TABLE old_{table}")
    con.close()


@pytest.mark.parametrize("table,doubled,keys", [
    ("calls", "rowid = 1", "round, creature"),
    ("meta", "key = 'seed'", "key"),
    ("actions", "round = 2 AND creature = 'Owl'", "round, creature"),
])
@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_table_without_its_key_is_refused_before_a_doubled_row_is_counted(model_save, tmp_path, capsys, argv,
                                                                            table, doubled, keys):
    """A table made again by hand without its primary key holds a row twice:
    a doubled model call verified ('each rebuilt to its recorded state
    hash'), the report counted it twice ('model calls 150' for 75
    decisions, every call doubled), the audit trail and the fine-tuning set
    wrote it twice; a doubled meta row was 'round 1 does not rebuild'
    (whichever came last was read). Now one line, naming the table."""
    p = tmp_path / "s.db"
    shutil.copyfile(model_save, p)
    _unkeyed(p, table, doubled)
    before = digest(p)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert f"s.db is damaged: its {table} table is not keyed on ({keys}) as a save's is, so a row of it may be " \
           "recorded twice" in line, line
    assert digest(p) == before and os.listdir(tmp_path) == ["s.db"]


@pytest.mark.parametrize("keep", [50, 4096 * 2 + 7, -1], ids=["in-the-header", "pages-gone", "one-byte-short"])
@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_save_cut_short_is_said_to_be_so(base_save, tmp_path, capsys, argv, keep):
    """A save whose last bytes are missing (a copy or a download that did not
    finish): SQLite reads the missing pages as empty, so the line blamed a row
    ('round 5, event 13: not JSON', as if it had been changed by hand) or said
    'database disk image is malformed'. Now it says the file is cut short."""
    p = tmp_path / "s.db"
    whole = base_save.read_bytes()
    p.write_bytes(whole[:keep])
    before = digest(p)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    held = len(whole[:keep])
    assert "s.db is cut short: " in line, line
    assert (f"it holds {held} bytes, less than SQLite's 100-byte header" if held < 100 else
            f"bytes ({len(whole):,} bytes), the file holds {held:,} (a copy or a download that did not finish?)") in line, line
    assert digest(p) == before and os.listdir(tmp_path) == ["s.db"]


@pytest.mark.parametrize("argv", [["replay", "{p}", "--verify"], ["replay", "{p}"], ["report", "{p}"],
                                  ["export", "{p}", "--out", "{d}/out"],
                                  ["sim", "--resume", "{p}", "--rounds", "12", "--quiet"]],
                         ids=["verify", "app", "report", "export", "resume"])
def test_a_decision_deleted_by_hand_is_a_hole_in_the_record(tmp_path, capsys, argv):
    """Every creature decides every round. A pass deleted from the actions
    table rebuilt as the pass it was: `wood replay --verify` said 'each
    rebuilt to its recorded state hash' and the report counted 49 actions
    and 9 decisions for Fox. Now the missing decision is named, exit 2,
    before anything is replayed or written (the app's replay too)."""
    import sqlite3

    p = tmp_path / "s.db"
    assert main(["sim", "--rounds", "10", "--seed", "1", "--save", str(p), "--quiet"]) == 0
    con = sqlite3.connect(p)
    with con:
        gone = con.execute("DELETE FROM actions WHERE round = 10 AND creature = 'Fox' AND action = '{\"action\": \"pass\"}'")
        assert gone.rowcount == 1, "seed 1's Fox passes in round 10"
    con.close()
    before = digest(p)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert "s.db: round 10: no decision of Fox is recorded (every creature decides every round)" in line, line
    assert digest(p) == before and os.listdir(tmp_path) == ["s.db"]


def test_a_save_with_columns_and_a_table_added_by_hand_resumes(base_save, tmp_path, capsys):
    """Another tool's notes in a save (a column added to each table, a table of
    its own) are left alone: reading it went, but its resume verified, said
    'resuming', then failed at its first round ('table rounds has 5 columns
    but 4 values were supplied'), the new length recorded all the same, so
    its report then offered a resume that failed again. It plays on as its
    untouched twin does, and verifies."""
    from engine.ledger import COLUMNS

    noted = edited_copy(base_save, tmp_path / "noted.db", "CREATE TABLE notes (text TEXT)",
                        *(f"ALTER TABLE {t} ADD COLUMN note TEXT DEFAULT 'theirs'" for t in COLUMNS))
    twin = tmp_path / "twin.db"
    shutil.copyfile(base_save, twin)
    ends = []
    for p in (twin, noted):
        assert main(["sim", "--resume", str(p), "--rounds", "8", "--quiet"]) == 0, capsys.readouterr().err
        ends.append(capsys.readouterr().out.splitlines()[-1])
    assert ends[0] == ends[1] and ends[0].startswith("state hash: ")
    assert main(["replay", str(noted), "--verify"]) == 0
    assert capsys.readouterr().out.startswith("rounds: 8 (each rebuilt to its recorded state hash)")


def test_a_copy_made_by_vacuum_into_is_played_on_as_a_save_is_read_while_it_plays(base_save, tmp_path, capsys,
                                                                                   monkeypatch):
    """`VACUUM INTO` (SQLite's way to copy a file compactly) makes a copy in
    rollback-journal mode. Its resume wrote each round beside a -journal: a
    `wood report` meanwhile refused it ('a rollback journal no wood save
    makes ... move the journal away'), and a resume killed mid-round left
    the journal for every command to refuse so. The resume keeps it in WAL
    mode, as a save is made: it is read while it plays, and never has a
    journal beside it."""
    import sqlite3

    from engine import ledger as L

    copy = tmp_path / "copy.db"
    con = sqlite3.connect(base_save)
    con.execute("VACUUM INTO ?", (str(copy),))
    con.close()
    read_mid_round: list[str] = []
    connect = L._connect

    def connect_and_watch(path, readonly):
        con = connect(path, readonly)

        def watch(sql: str) -> None:  # mid-round, the round's rows written and not yet committed: a reader comes
            if sql.startswith("INSERT INTO rounds") and not read_mid_round:
                journal = os.path.lexists(f"{copy}-journal")
                try:
                    reader = L.Ledger.open(copy, readonly=True)
                except L.LedgerError as e:
                    read_mid_round.append(f"refused: {e}")
                else:
                    read_mid_round.append(f"journal {journal}, rounds {reader.last_round()}")
                    reader.close()
        con.set_trace_callback(watch)
        return con
    monkeypatch.setattr(L, "_connect", connect_and_watch)
    assert main(["sim", "--resume", str(copy), "--rounds", "7", "--quiet"]) == 0, capsys.readouterr().err
    assert read_mid_round == ["journal False, rounds 5"]
    monkeypatch.setattr(L, "_connect", connect)
    capsys.readouterr()
    assert main(["replay", str(copy), "--verify"]) == 0
    assert capsys.readouterr().out.startswith("rounds: 7 (each rebuilt to its recorded state hash)")


@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_save_put_where_another_left_its_wal_is_not_called_corrupt(base_save, tmp_path, capsys, argv):
    """A good save copied over one whose killed run left its -wal (`cp
    backup.db run.db`): SQLite cannot tell that log is another file's and
    lays its pages over the save's, and every command said 'run.db is
    corrupt', though the file is whole. It says the -wal does not fit, and
    changes neither; moved away, the save reads as it is."""
    other = tmp_path / "other" / "s.db"
    other.parent.mkdir()
    assert main(["sim", "--rounds", "30", "--seed", "2", "--save", str(other), "--quiet"]) == 0
    kill = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0');"
            "c.execute(\"UPDATE events SET data = data || ' '\"); c.commit(); os._exit(0)")
    subprocess.run([sys.executable, "-c", kill, str(other)], check=True, timeout=60)
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    os.replace(f"{other}-wal", f"{p}-wal")
    shutil.rmtree(other.parent)
    before = digest(p), digest(Path(f"{p}-wal"))
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert "s.db: s.db-wal beside it does not fit it: read with it, the save is corrupt (SQLite's check finds " in line
    assert "the file alone is whole" in line and "move the -wal away" in line, line
    assert (digest(p), digest(Path(f"{p}-wal"))) == before and set(os.listdir(tmp_path)) <= {"s.db", "s.db-wal", "s.db-shm"}
    os.replace(f"{p}-wal", tmp_path / "moved-away")
    assert main(["replay", str(p), "--verify"]) == 0 and digest(p) == digest(base_save)


def test_a_save_with_a_trigger_in_it_is_not_played_on(base_save, tmp_path, capsys):
    """A trigger put in a save (by hand, or in a save from someone else) ran
    as each resumed round was saved: here it rewrote the round before's
    hash, the resume said it had played on (exit 0), and then the save no
    longer verified. A resume refuses it in one line, the save unchanged;
    reading it (which never writes) still works."""
    p = edited_copy(base_save, tmp_path / "s.db", "CREATE TRIGGER tr AFTER INSERT ON rounds BEGIN "
                    "UPDATE rounds SET state_hash = 'x' WHERE round = new.round - 1; END")
    before = digest(p)
    line = wood_in_process(capsys, ["sim", "--resume", str(p), "--rounds", "7", "--quiet"])
    assert "s.db has a trigger no wood save has ('tr', on its 'rounds' table), which SQLite would run as each round " \
           "is saved: it will not be resumed" in line, line
    assert digest(p) == before and os.listdir(tmp_path) == ["s.db"]
    assert main(["replay", str(p), "--verify"]) == 0
    assert capsys.readouterr().out.startswith("rounds: 5 (each rebuilt to its recorded state hash)")


@pytest.mark.parametrize("tail", ["-wal", "-shm", "-journal"])
def test_a_save_is_not_made_where_sqlite_keeps_another_files_log_or_index(base_save, tmp_path, capsys, tail):
    """`wood sim --save run.db-shm` beside run.db made a save there, which
    the next read of run.db wrote SQLite's index over (and a -wal, its log).
    Refused in one line, nothing made."""
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    line = wood_in_process(capsys, ["sim", "--rounds", "3", "--save", f"{p}{tail}"])
    assert f"s.db{tail} is where SQLite keeps the {tail[1:]} file of s.db beside it, and a save there would be " \
           "written over: choose another --save path" in line, line
    assert os.listdir(tmp_path) == ["s.db"] and digest(p) == digest(base_save)


@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_save_copied_where_another_keeps_its_index_is_not_written_over(base_save, tmp_path, capsys, argv):
    """A save copied to run.db-shm beside run.db (or made there, as wood sim
    --save once did): any command that opened run.db, a report too, had
    SQLite write its index over the first bytes of it, and that save was
    lost. Refused in one line, both files as they were."""
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    shutil.copyfile(base_save, f"{p}-shm")
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert "s.db: s.db-shm beside it is an SQLite file (a save?), not SQLite's index of the save: SQLite keeps the " \
           "save's -shm there and writes over the start of it when the save is opened" in line, line
    assert digest(p) == digest(base_save) == digest(Path(f"{p}-shm"))
    assert sorted(os.listdir(tmp_path)) == ["s.db", "s.db-shm"]


@pytest.mark.parametrize("tail,what", [("-wal", "-wal log"), ("-shm", "-shm index")])
@pytest.mark.parametrize("to", ["nowhere", "empty"])
@pytest.mark.parametrize("argv", EVERY_READER, ids=EVERY_READER_IDS)
def test_a_link_where_sqlite_keeps_a_saves_log_or_index_is_said_to_be_one(base_save, tmp_path, capsys, argv, tail,
                                                                          what, to):
    """SQLite opens no -wal or -shm through a symbolic link: every command had
    said the save 'is not a readable Thousand Token Wood save (unable to open
    database file)', though it is one, and a read beside a linked -shm left
    an empty -wal behind. Now the link is named, and nothing is made."""
    p = tmp_path / "s.db"
    shutil.copyfile(base_save, p)
    (tmp_path / "empty").touch()
    os.symlink(to, f"{p}{tail}")
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert f"s.db: s.db{tail} beside it is a symbolic link, not a file: SQLite keeps the save's {what} there and " \
           "follows no link to it, so it cannot open the save; move the link away" in line, line
    assert sorted(os.listdir(tmp_path)) == ["empty", "s.db", f"s.db{tail}"] and digest(p) == digest(base_save)


@pytest.mark.parametrize("name,read_as", [("prices.png", "prices.png"), ("mood.svg", "mood.svg"),
                                          ("models.png", "link.db")])
def test_a_report_never_writes_a_chart_over_the_save_it_reads(base_save, tmp_path, capsys, name, read_as):
    """`wood report charts/prices.png --plots charts` (a save named as a chart
    is, read directly or through a link to it): the chart was renamed over the
    save, and the save was gone ('not a Thousand Token Wood save' after). As
    `wood export` does for its files, the report refuses in one line, before
    any chart is written, the save as it was."""
    p = tmp_path / name
    shutil.copyfile(base_save, p)
    if read_as != name:
        os.symlink(name, tmp_path / read_as)
    line = wood_in_process(capsys, ["report", str(tmp_path / read_as), "--plots", str(tmp_path)])
    assert f"--plots {tmp_path}: its chart {name} would be written over the save it reads, {tmp_path / read_as}; " \
           "choose another folder for the charts" in line, line
    assert digest(p) == digest(base_save) and sorted(os.listdir(tmp_path)) == sorted({name, read_as})


@pytest.mark.parametrize("where", ["save", "shm"])
@pytest.mark.parametrize("argv", [["replay", "{p}", "--verify"], ["report", "{p}"], ["export", "{p}", "--out", "{d}/out"]],
                         ids=["verify", "report", "export"])
def test_a_named_pipe_at_the_save_or_its_shm_is_never_waited_on(base_save, tmp_path, argv, where):
    """A named pipe at the save's name (`wood replay --verify`) or at its -shm
    (every reader): the check for a writer's lock, or for an SQLite file at
    the -shm, opened it and waited for a writer for good (SIGTERM did not end
    the wait). It is opened without waiting and, no regular file, not read:
    the save is refused as no file, or read as it is beside a -shm pipe."""
    p = tmp_path / "s.db"
    if where == "save":
        os.mkfifo(p)
    else:
        shutil.copyfile(base_save, p)
        os.mkfifo(tmp_path / "s.db-shm")
    def run(out: str):
        return subprocess.run([sys.executable, "-m", "wood_tui.cli", *(a.format(p=p, d=tmp_path / out) for a in argv)],
                              cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)

    (tmp_path / "a").mkdir()
    r = run("a")
    if where == "save":
        assert (r.returncode, r.stderr) == (2, f"wood: error: {p} is not a save file (not a regular file)\n"), r.stderr
    else:
        assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
        assert digest(p) == digest(base_save)
        (tmp_path / "s.db-shm").unlink()  # read as it is: what it says (and writes) is what it says with no pipe there
        (tmp_path / "b").mkdir()
        alone = run("b")
        assert alone.returncode == 0 and r.stdout.replace("/a/", "/b/") == alone.stdout, (r.stdout, alone.stdout)
        if argv[0] == "export":
            wrote = sorted((tmp_path / "a" / "out").iterdir())
            assert [f.read_bytes() for f in wrote] == [(tmp_path / "b" / "out" / f.name).read_bytes() for f in wrote]


@pytest.mark.parametrize("rounds", [(), ("--rounds", "9")])
def test_a_lock_another_program_takes_after_the_save_opened_is_named_with_the_way_on(tmp_path, capsys, monkeypatch,
                                                                                      rounds):
    """Another program (an `sqlite3` shell in a transaction) locks a save
    after a resume has opened it, so not `LockedSaveError`'s check at open:
    the round could not be saved, and the line gave SQLite's bare 'database is
    locked' and, its -wal not folded in for that same lock, told the user to
    keep the save and a -wal with no round in it together and to 'resume once
    there is room', as of a full disk; a resume given a new length said only
    'cannot write to the save (database is locked)'. Each names the other
    program's lock and the way on, and, once it is let go, that way works."""
    import engine.ledger as ledger

    monkeypatch.setattr(ledger, "LOCK_WAIT_S", 0.05)  # the wait for the lock, cut short: the refusal is the same
    p = stopped_early(tmp_path / "run.db")  # 5 of its 8 rounds committed, all in the file
    before = digest(p)
    with locked_by_another_program(p):
        line = wood_in_process(capsys, ["sim", "--resume", str(p), *rounds, "--quiet"])
    if rounds:  # the length is the resume's first write: refused, nothing of the resume is in the save
        assert line == (f"wood: error: {p}: cannot write to the save: {ledger.LOCK_HELD}; nothing was added to it: let "
                        "that program let go of it, then run the same command again")
    else:
        assert line == (f"wood: error: {p}: round 6 could not be saved: {ledger.LOCK_HELD}; rounds 1 to 5 are kept in "
                        f"it; let that program let go of it, then resume with: wood sim --resume {p}")
    assert digest(p) == before and sorted(os.listdir(tmp_path)) == ["run.db"]
    assert main(["sim", "--resume", str(p), *rounds, "--quiet"]) == 0  # the way the line gives goes on
    capsys.readouterr()
    assert main(["replay", str(p), "--verify"]) == 0
    assert capsys.readouterr().out.startswith(f"rounds: {9 if rounds else 8} (each rebuilt")


@pytest.mark.parametrize("exclusive", [False, True])
def test_a_lock_another_program_takes_on_a_new_save_before_its_first_round_says_the_save_went_and_the_way_on(
        tmp_path, capsys, monkeypatch, exclusive):
    """Another program locks a new save (`wood sim --save`) before round 1
    commits: the line ended '; no round was saved', with no way on, while
    the game removed the save it had made. It says the save was removed and
    what to do; done, the same command plays the run."""
    save = tmp_path / "new.db"
    argv = ["sim", "--rounds", "3", "--save", str(save), "--quiet"]
    with contextlib.ExitStack() as held:
        taken_before_round_1(monkeypatch, held, exclusive)
        line = wood_in_process(capsys, argv)
        assert os.listdir(tmp_path) == []
    assert line == f"wood: error: {new_save_removed_for_a_lock(save)}"
    monkeypatch.undo()
    assert main(argv) == 0  # the way the line gives goes on
    assert main(["replay", str(save), "--verify"]) == 0


def test_a_save_played_in_a_world_since_edited_is_said_maybe_to_be_so(tmp_path, capsys, monkeypatch):
    """The world is data (goods.toml, creatures.toml, shocks.toml), and a
    save records no digest of it: a save played before the files were
    edited (one good's price) does not rebuild, and the line said only that
    the save was changed or written by other rules, neither of which was
    so. It names the world too, and leaves the save as it was."""
    import engine.world
    from tests.test_rules import world_files

    p = tmp_path / "run.db"
    assert main(["sim", "--rounds", "6", "--seed", "1", "--save", str(p), "--quiet"]) == 0
    before = digest(p)
    (tmp_path / "world").mkdir()
    edited = world_files(tmp_path / "world")
    goods = edited / "goods.toml"
    goods.write_text(goods.read_text().replace("base_price = 8\n", "base_price = 9\n", 1))
    real = engine.world.load_world
    monkeypatch.setattr(engine.world, "load_world", lambda assets=None: real(edited))
    for argv in (["replay", str(p), "--verify"], ["report", str(p)], ["sim", "--resume", str(p), "--rounds", "8", "--quiet"]):
        capsys.readouterr()
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc in (1, 2) and err.count("\n") == 1 and "Traceback" not in err, (argv, err)
        assert "does not rebuild to its recorded state (the save was changed, or played by other rules or in another " \
               "world (goods, creatures or shocks files other than those installed))" in err, (argv, err)
    assert digest(p) == before and sorted(os.listdir(tmp_path)) == ["run.db", "world"]


@pytest.mark.parametrize("argv", [["replay", "{p}", "--verify"], ["report", "{p}"], ["export", "{p}", "--out", "{d}/x"],
                                  ["sim", "--resume", "{p}", "--quiet"]])
def test_a_save_another_program_holds_locked_when_it_is_opened_says_what_to_do(tmp_path, capsys, monkeypatch, argv):
    """Another program holds the save in an exclusive transaction (an
    `sqlite3` shell's) as it is opened: the line said only that it was in use
    (another program holds it locked), not what to do; it says whose lock it
    is likely to be and to let it go, then run the command again, and the
    save is as it was."""
    import engine.ledger as ledger

    monkeypatch.setattr(ledger, "LOCK_WAIT_S", 0.05)
    p = stopped_early(tmp_path / "run.db")
    before = digest(p)
    with locked_by_another_program(p, exclusive=True):
        line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in argv])
    assert line == (f"wood: error: {p} is in use: {ledger.LOCK_HELD}; let that program let go of it, then run the same "
                    "command again")
    assert digest(p) == before and sorted(os.listdir(tmp_path)) == ["run.db"]
    assert main([a.format(p=p, d=tmp_path) for a in argv]) == 0  # let go: the same command runs


@pytest.mark.parametrize("column", ["prompt_tokens", "completion_tokens"])
@pytest.mark.parametrize("argv", EVERY_READER[:4], ids=EVERY_READER_IDS[:4])
def test_a_model_calls_token_count_that_is_no_whole_number_is_refused(model_save, tmp_path, capsys, argv, column):
    """A call's token count set to 1.5 by hand (a REAL stays one in an INTEGER
    column) was taken: the report averaged it into 'tokens in', the export
    wrote 1.5 tokens into calls.jsonl, and the save verified. It is one line
    naming the call and the count, and nothing is written."""
    p = edited_copy(model_save, tmp_path / "save.db", f"UPDATE calls SET {column} = 1.5 WHERE rowid = 1")
    capsys.readouterr()
    assert main([a.format(p=p, d=tmp_path) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert err.startswith("wood: error: ") and err.count("\n") == 1 and out == "", err
    assert f"model call: {column} 1.5 is not a whole number" in err, err
    assert sorted(os.listdir(tmp_path)) == ["save.db"]


@pytest.mark.parametrize("seat, words", [("Fox", ["--as", "Fox"]), ("Owl", [])])
def test_a_played_resume_stopped_by_a_lock_names_the_seats_played(tmp_path, capsys, monkeypatch, seat, words):
    """`wood play --resume X --as Fox` of a `wood sim` save (which records no
    seats), stopped by another program's lock: the line said `wood sim
    --resume X`, which puts Fox on autopilot (and `wood play --resume X`
    alone seats the roster's first, Owl). It names the seat played where
    `--resume` alone would seat another."""
    import asyncio
    import shlex

    import engine.ledger as ledger
    from engine.actions import PASS
    from tests.tui_harness import args
    from wood_tui.bridge import LiveGame, Pacer, Seat
    from wood_tui.messages import SeatTurn

    monkeypatch.setattr(ledger, "LOCK_WAIT_S", 0.05)  # the wait for the lock, cut short: the refusal is the same
    p = stopped_early(tmp_path / "run.db")  # 5 of its 8 rounds, no seats recorded: Owl is the roster's first
    capsys.readouterr()
    game = LiveGame(args("play", "--resume", str(p), "--brains", "scripted"), [Seat(seat)])
    with contextlib.ExitStack() as held:
        def post(message) -> None:
            if isinstance(message, SeatTurn):  # round 6 in hand: another program takes the save before it commits
                if not held._exit_callbacks:
                    held.enter_context(locked_by_another_program(p))
                message.answer.set_result(PASS)

        with pytest.raises(ledger.LedgerError) as err:
            asyncio.run(game.run(post, Pacer(0.0)))
    said = str(err.value)
    assert said.endswith(f"resume with: {shlex.join(['wood', 'play', '--resume', str(p), *words])}"), said
    assert shlex.split(said.partition("resume with: ")[2]) == ["wood", "play", "--resume", str(p), *words]


def test_a_call_token_count_kept_as_a_whole_real_is_read_as_the_count(model_save, tmp_path, capsys):
    """A save made by another tool whose calls table keeps its token counts
    as REAL (5.0; SQLite keeps what a column's type says): a count of 5.0 was
    refused as 'not a whole number', which it is. It is read as the count 5:
    the export writes 5, and the report reads it."""
    import json

    p = edited_copy(model_save, tmp_path / "save.db",
                    "ALTER TABLE calls RENAME TO old_calls",
                    "CREATE TABLE calls (round INTEGER, creature TEXT, model TEXT, messages TEXT, raw TEXT, "
                    "action TEXT, outcome TEXT, reason TEXT, repairs TEXT, latency_ms REAL, prompt_tokens REAL, "
                    "completion_tokens REAL, finish_reason TEXT, PRIMARY KEY (round, creature))",
                    "INSERT INTO calls SELECT * FROM old_calls", "DROP TABLE old_calls",
                    "UPDATE calls SET prompt_tokens = 5.0, completion_tokens = 7.0 WHERE rowid = 1")
    capsys.readouterr()
    assert main(["export", str(p), "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    counts = [json.loads(line)["prompt_tokens"] for line in (tmp_path / "out" / "calls.jsonl").read_text().splitlines()]
    assert 5 in counts and all(type(n) is int for n in counts), counts
    assert main(["report", str(p)]) == 0, capsys.readouterr().err
