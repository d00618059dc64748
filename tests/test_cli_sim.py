"""`wood sim` and `wood replay` as a user runs them: real processes, real
SQLite files, one-line errors that leave files untouched."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.saves import (WIDE_GOOD, WIDE_NAMES, full_disk, line_within, rounds_saved, starts_by_cells, wait_for_rounds,
                         wide_good_world, wide_roster, without_root_powers)

ROOT = Path(__file__).resolve().parent.parent


def wood(*args, timeout=300, **kw):
    return subprocess.run([sys.executable, "-m", "wood_tui.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, **kw)


def last_hash(out: str) -> str:
    line = out.strip().splitlines()[-1]
    assert line.startswith("state hash: "), out
    return line.removeprefix("state hash: ")


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_sim_summary_ends_with_the_state_hash_and_is_reproducible(tmp_path):
    a = wood("sim", "--rounds", "40", "--seed", "5", "--save", str(tmp_path / "a.db"))
    b = wood("sim", "--rounds", "40", "--seed", "5")
    assert a.returncode == 0, a.stderr
    assert "invariant checks passed: 40 rounds" in a.stdout and "tips:" in a.stdout and "acorns" in a.stdout
    assert last_hash(a.stdout) == last_hash(b.stdout)
    assert "round 40/40" in a.stderr  # plain progress lines when not on a terminal
    v = wood("replay", str(tmp_path / "a.db"), "--verify")
    assert v.returncode == 0, v.stderr
    assert last_hash(v.stdout) == last_hash(a.stdout)


@pytest.mark.parametrize("tamper,says", [
    ("""UPDATE actions SET action = '{"action":"pass"}' WHERE round = 3""", "round 3 does not rebuild"),
    ("UPDATE rounds SET state_hash = '00' || substr(state_hash, 3) WHERE round = 10", "round 10 does not rebuild"),
    ("UPDATE meta SET value = '2' WHERE key = 'seed'", "round 1 does not rebuild"),
    ("DELETE FROM rounds WHERE round = 10", "round 10: not recorded, though later rounds are"),
    ("DELETE FROM rounds WHERE round = 15", "round 15: its actions are recorded, but the round is not"),
    ("UPDATE rounds SET round = 0 WHERE round = 3", "round 3: not recorded, though later rounds are"),
    # what the state hash does not hold: the events, the tips' truth
    ("DELETE FROM events WHERE rowid = (SELECT max(rowid) FROM events WHERE kind = 'trade')",
     "recorded events are not what its actions make"),
    ("UPDATE tips SET truth = 1 - truth", "recorded tips are not what its actions make"),
])
def test_replay_verify_and_report_refuse_a_tampered_record(tmp_path, tamper, says):
    """Every round's recorded hash is checked, not only the last (a record
    that does not rebuild: --verify exits 1); a record with holes is damaged
    (exit 2, like any damaged save); the report measures nothing from either."""
    db = tmp_path / "t.db"
    assert wood("sim", "--rounds", "15", "--save", str(db), "--quiet").returncode == 0
    con = sqlite3.connect(db)
    con.execute(tamper)
    con.commit()
    con.close()
    v = wood("replay", str(db), "--verify")
    damaged = "does not rebuild" not in says and "not what its actions make" not in says
    assert v.returncode == (2 if damaged else 1) and says in v.stderr, v.stderr
    assert damaged or "does not match the record" in v.stderr
    for args in ((), ("--json",)):
        r = wood("report", str(db), *args)
        assert r.returncode == 2 and r.stdout == "", r.stdout
        assert r.stderr.startswith("wood: error: ") and says in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("setup,expect", [
    (lambda p: None, "no save file"),
    (lambda p: p.write_bytes(b"\x00garbage" * 100), "not an SQLite file"),
    (lambda p: p.write_bytes(b"SQLite format 3\x00" + os.urandom(3000)), "not a readable"),
    (lambda p: sqlite3.connect(p).execute("CREATE TABLE x (y)").connection.commit(), "not a readable"),
    (lambda p: (c := sqlite3.connect(p)).execute("CREATE TABLE meta (key, value)") and c.execute(
        "INSERT INTO meta VALUES ('format','other')") and c.commit(), "not a readable"),
])
@pytest.mark.parametrize("command", [["replay", "{p}", "--verify"], ["sim", "--resume", "{p}", "--rounds", "5"]])
def test_missing_corrupt_or_foreign_saves_give_one_line_and_stay_untouched(tmp_path, setup, expect, command):
    p = tmp_path / "save.db"
    setup(p)
    before = digest(p) if p.exists() else None
    r = wood(*[c.format(p=p) for c in command])
    assert r.returncode == 2
    err = r.stderr.strip()
    assert err.startswith("wood: error: ") and len(err.splitlines()) == 1 and "Traceback" not in err
    if expect != "not a readable":
        assert expect in err
    assert (digest(p) if p.exists() else None) == before


@pytest.mark.parametrize("args,expect", [
    (["sim", "--brains", "gpt9"], "invalid choice"),
    (["sim", "--rounds", "many"], "expected a whole number"),
    (["sim", "--creatures", "0"], "expected 2 to 10,000"),
    (["sim", "--creatures", "1"], "expected 2 to 10,000"),
    (["sim", "--creatures", "99999999999999999999"], "expected 2 to 10,000"),
    (["sim", "--rounds", "0"], "expected 1 to 1,000,000"),
    (["sim", "--seed", "1e9"], "expected a whole number"),
    (["sim", "--seed", str(2**64)], "a signed 64-bit whole number"),
    (["sim", "--seed", str(2**63)], "to 9,223,372,036,854,775,807"),  # fits 64 bits unsigned: not a seed
    (["sim", "--save", ""], "empty string"),
    (["sim", "--save", "/nonexistent-dir/run.db"], "does not exist"),
    (["sim", "--save", "/proc/nope.db"], "--save /proc/nope.db"),
    (["sim", "--roster", "x.toml", "--brains", "scripted"], "cannot go with --brains scripted"),
    (["sim", "--resume", "x.db", "--creatures", "9"], "takes no --save, --creatures or --roster"),
    (["watch", "--delay", "nan"], "expected a number of seconds"),
    (["watch", "--delay", "61"], "expected 0 to 60 seconds"),
    (["watch", "--delay", "1e999"], "expected a number of seconds"),  # float() makes it inf
    (["watch", "--delay", "١"], "expected a number of seconds"),  # an Arabic-Indic one: float() would take it
    (["sim", "--creatures", "٣"], "expected a whole number"),
    (["sim", "--creatures", "1__0"], "expected a whole number"),
    (["sim", "--seed", "_5"], "expected a whole number"),
    (["sweep", "--roster", "x.toml", "--seeds", "٣", "--out", "o"], "expected seeds like"),
    (["export", "x.db", "--sft", "s.jsonl", "--rounds", "٣-5"], "expected rounds like"),
    (["play", "--seats", "0"], "expected 1 to 8"),
    (["play", "--as", "   "], "no leading or trailing spaces"),
    (["play", "--as", " Owl"], "no leading or trailing spaces"),
    (["sim", "--frobnicate"], "unrecognized arguments"),
    (["sim", "--roster", "/nonexistent/roster.toml"], "roster file not found"),
    (["sim", "--resume", "x.db", "--seed", "9"], "with its own seed: it takes no --seed"),
    (["sim", "--roster", "serve/rosters/scripted.toml", "--creatures", "50"], "it takes no --creatures"),
    (["watch", "--roster", "serve/rosters/scripted.toml", "--creatures", "50"], "it takes no --creatures"),
])
def test_bad_flags_give_one_line_and_exit_2(args, expect, tmp_path):
    before = set(ROOT.iterdir())
    r = wood(*args, timeout=60)
    assert r.returncode == 2 and expect in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("wood: error: "), r.stderr
    assert set(ROOT.iterdir()) == before  # nothing made
    assert not Path("/proc/nope.db").exists()


def test_either_event_loop_plays_the_same_game_and_an_unknown_one_is_one_line():
    """`wood sim` runs on uvloop's loop where it is installed (WOOD_EVENT_LOOP
    picks; `run_headless`, tests/test_runner.py): the same scripted game
    ends on the same hash on either; a name it does not know is a one-line
    error before anything runs."""
    pytest.importorskip("uvloop")
    runs = {loop: wood("sim", "--rounds", "15", "--seed", "3", "--creatures", "12", "--quiet",
                       env={**os.environ, "WOOD_EVENT_LOOP": loop}) for loop in ("uvloop", "asyncio")}
    assert all(r.returncode == 0 for r in runs.values()), {k: r.stderr for k, r in runs.items()}
    assert last_hash(runs["uvloop"].stdout) == last_hash(runs["asyncio"].stdout)
    bad = wood("sim", "--rounds", "3", env={**os.environ, "WOOD_EVENT_LOOP": "tokio"}, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip() == \
        "wood: error: WOOD_EVENT_LOOP='tokio': expected one of uvloop, asyncio", bad.stderr


def test_without_uvloop_wood_sim_runs_on_asyncio_unless_told_to_use_uvloop(tmp_path):
    """Where uvloop cannot be imported (a platform without it), `wood sim`
    runs on asyncio's loop; asked for uvloop there, it says so in one line."""
    (tmp_path / "uvloop.py").write_text('raise ImportError("no uvloop on this platform")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    env.pop("WOOD_EVENT_LOOP", None)
    plain = wood("sim", "--rounds", "5", "--seed", "3", "--quiet", env=env, timeout=60)
    assert plain.returncode == 0 and last_hash(plain.stdout), plain.stderr
    asked = wood("sim", "--rounds", "5", env={**env, "WOOD_EVENT_LOOP": "uvloop"}, timeout=60)
    assert asked.returncode == 2 and asked.stderr.strip() == \
        "wood: error: WOOD_EVENT_LOOP=uvloop, but uvloop is not installed", asked.stderr


def test_an_error_line_is_inert_whatever_path_it_names(tmp_path):
    r = wood("report", str(tmp_path / "no\x1b[31msuch\x07.db"))
    assert r.returncode == 2 and "\x1b" not in r.stderr and "\x07" not in r.stderr
    assert r.stderr.startswith("wood: error: no save file at ") and len(r.stderr.strip().splitlines()) == 1


def test_help_says_percent_once():
    r = wood("sweep", "--help")
    assert r.returncode == 0 and "95% intervals" in " ".join(r.stdout.split()) and "%%" not in r.stdout


def test_an_existing_save_is_never_overwritten(tmp_path):
    p = tmp_path / "keep.db"
    p.write_text("precious")
    r = wood("sim", "--rounds", "3", "--save", str(p))
    assert r.returncode == 2 and "already exists" in r.stderr and p.read_text() == "precious"


def test_a_new_save_is_refused_where_an_old_saves_log_lies_beside_its_name(tmp_path):
    """Killed, then only its .db removed: the -wal left beside the name would be
    read into the new save (SQLite's "database disk image is malformed", after
    the first round). Refused before anything is written."""
    first = tmp_path / "run.db"
    assert wood("sim", "--rounds", "3", "--save", str(first), "--quiet").returncode == 0
    wal = tmp_path / "run.db-wal"
    shutil.copyfile(first, wal)  # what a kill -9 mid-run leaves: the log, whatever is in it
    first.unlink()
    r = wood("sim", "--rounds", "3", "--save", str(first))
    assert r.returncode == 2 and r.stderr.strip() == (
        f"wood: error: run.db-wal is beside {first}, left by an earlier save of that name whose own file was "
        "removed; remove it, or choose another --save path"), r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.db-wal"]


def test_a_save_name_with_no_room_for_its_journal_is_refused_and_leaves_nothing(tmp_path):
    name = "r" * 249 + ".db"  # 252 bytes: the save fits, its -wal would not
    r = wood("sim", "--rounds", "2", "--save", str(tmp_path / name))
    assert r.returncode == 2 and "names here may be at most 255 bytes: choose a name of at most 251" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_game_played_on_records_its_new_end_and_replays_to_the_same_hash(tmp_path):
    """A 12-round game resumed with --rounds 30 is a game whose last round moved
    from 12 to 30 at round 13 (nothing fell due after 12 while it was the end):
    the save records both, and a replay rebuilds the resumed game exactly.
    (An interrupted game resumed to its own length is the kill -9 soak's case.)"""
    db = tmp_path / "r.db"
    short = wood("sim", "--rounds", "12", "--seed", "9", "--save", str(db), "--quiet")
    assert short.returncode == 0, short.stderr
    r = wood("sim", "--resume", str(db), "--rounds", "30", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "rounds: 30 (12 replayed from the save, 18 played now)" in r.stdout
    with sqlite3.connect(db) as con:
        assert json.loads(con.execute("SELECT value FROM meta WHERE key = 'ends'").fetchone()[0]) == [[1, 12], [13, 30]]
    v = wood("replay", str(db), "--verify")
    assert v.returncode == 0 and last_hash(v.stdout) == last_hash(r.stdout), v.stdout + v.stderr


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_matches_the_uninterrupted_hash(tmp_path):
    """40 creatures, 4,000 rounds: kill -9 a saving run part-way, resume it,
    and land on the hash of a run that was never interrupted."""
    args = ["--creatures", "40", "--rounds", "4000", "--seed", "11", "--quiet"]
    db = tmp_path / "killed.db"
    victim = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", *args, "--save", str(db)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    full = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # wait until the victim is well into the run, then kill it without warning
    done = wait_for_rounds(db, 1200, 600, victim, step=2)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    assert 0 < done < 4000
    resumed = wood("sim", "--resume", str(db), "--quiet", timeout=900)
    out, _ = full.communicate(timeout=900)
    assert resumed.returncode == 0 and full.returncode == 0, resumed.stderr
    assert last_hash(resumed.stdout) == last_hash(out)
    assert wood("replay", str(db), "--verify", timeout=900).returncode == 0


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_ctrl_c_mid_run_says_how_to_resume_and_the_resumed_run_matches(tmp_path, loop):
    """SIGINT (Ctrl-C) part-way through a saving run, on either event loop:
    exit 130 with the resume command, every committed round kept; resumed,
    it lands on the hash of a run never interrupted."""
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    env = {**os.environ, "WOOD_EVENT_LOOP": loop}
    args = ["--creatures", "12", "--rounds", "100000", "--seed", "8"]
    db = tmp_path / "stopped.db"
    victim = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", *args, "--save", str(db)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    wait_for_rounds(db, 30, 120, victim)
    victim.send_signal(signal.SIGINT)
    _, err = victim.communicate(timeout=60)
    assert victim.returncode == 130, err
    kept = rounds_saved(db)
    assert err.strip().splitlines()[-1] == (f"wood: interrupted: stopped after round {kept} of 100000; every round "
                                            f"played is in {db}: resume with wood sim --resume {db}"), err
    assert "Traceback" not in err
    assert 30 <= kept < 100000
    target = str(kept + 5)
    resumed = wood("sim", "--resume", str(db), "--rounds", target, "--quiet", env=env)
    fresh = wood("sim", "--creatures", "12", "--rounds", target, "--seed", "8", "--quiet", env=env)
    assert resumed.returncode == 0 and fresh.returncode == 0, resumed.stderr + fresh.stderr
    assert last_hash(resumed.stdout) == last_hash(fresh.stdout)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_mid_run_stops_it_as_ctrl_c_does(tmp_path, sig):
    """A `kill` (SIGTERM) or a terminal closed (SIGHUP) stops a saving run as
    Ctrl-C does: the round in hand finished or dropped, the stop line with the
    round it stopped after and how to resume, exit 128 + the signal, and the
    save closed whole (no -wal beside it: the file alone holds every round).
    It had died where it stood, silently, its -wal left beside the save."""
    db = tmp_path / "killed.db"
    victim = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", "--creatures", "12", "--rounds", "100000",
                               "--seed", "8", "--save", str(db)], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    wait_for_rounds(db, 10, 120, victim)
    victim.send_signal(sig)
    out, err = victim.communicate(timeout=60)
    assert victim.returncode == 128 + sig, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["killed.db"]
    kept = rounds_saved(db)
    assert 10 <= kept < 100000
    assert err.strip().splitlines()[-1] == (f"wood: interrupted ({signal.Signals(sig).name}): stopped after round {kept} "
                                            f"of 100000; every round played is in {db}: resume with wood sim --resume "
                                            f"{db}"), err
    assert "Traceback" not in err and out == ""
    v = wood("replay", str(db), "--verify")
    assert v.returncode == 0 and f"rounds: {kept} " in v.stdout, v.stderr
    r = wood("sim", "--resume", str(db), "--rounds", str(kept + 2), "--quiet")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("tamper", [
    # an action changed: the rebuilt state differs from every later recorded hash
    """UPDATE actions SET action = '{"action":"pass"}' WHERE round = 3""",
    # a recorded hash changed: the record no longer vouches for its own actions
    "UPDATE rounds SET state_hash = 'ab' || substr(state_hash, 3) WHERE round = 7",
    # the snapshot changed (it is no longer trusted for a resume at all)
    "UPDATE snapshot SET state = replace(state, '\"treasury\":0', '\"treasury\":5')",
])
def test_resume_refuses_a_save_whose_record_does_not_rebuild(tmp_path, tamper):
    db = tmp_path / "t.db"
    assert wood("sim", "--rounds", "12", "--save", str(db), "--quiet").returncode == 0
    con = sqlite3.connect(db)
    con.execute(tamper)
    con.commit()
    con.close()
    before, mtime = digest(db), db.stat().st_mtime_ns
    r = wood("sim", "--resume", str(db), "--rounds", "20", "--quiet")
    snapshot_only = "snapshot" in tamper
    if snapshot_only:  # the actions and hashes are intact: the resume rebuilds from them and goes on
        assert r.returncode == 0, r.stderr
        clean = wood("sim", "--rounds", "20")
        assert last_hash(r.stdout) == last_hash(clean.stdout)
        return
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wood: error: ") and "will not be resumed" in lines[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert digest(db) == before and db.stat().st_mtime_ns == mtime


def test_a_resumed_summary_counts_what_ran(tmp_path):
    """Rounds rebuilt from the save and rounds played now are both counted, and
    their invariants were checked on the rebuild; nothing is claimed that did not run."""
    db = tmp_path / "r.db"
    assert wood("sim", "--rounds", "10", "--save", str(db), "--quiet").returncode == 0
    r = wood("sim", "--resume", str(db), "--rounds", "25", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "rounds: 25 (10 replayed from the save, 15 played now)" in r.stdout
    assert "invariant checks passed: 25 rounds x 6" in r.stdout


def test_a_save_named_with_uri_characters_is_that_file_and_no_other(tmp_path):
    """SQLite opens saves by URI: `%41` must not read as `A`, nor `#` or `?` end
    the name. Each save is written, resumed, verified and reported under its
    own name; a decoy named as the unescaped path would be is never touched."""
    decoy = tmp_path / "xA.db"
    assert wood("sim", "--rounds", "4", "--seed", "9", "--save", str(decoy), "--quiet").returncode == 0
    before = digest(decoy)
    for name in ("x%41.db", "h#x.db", "q?mode=rwc.db", "s p.db"):
        db = tmp_path / name
        made = wood("sim", "--rounds", "3", "--save", str(db), "--quiet")
        resumed = wood("sim", "--resume", str(db), "--rounds", "5", "--quiet")
        assert made.returncode == 0 and resumed.returncode == 0, made.stderr + resumed.stderr
        assert "rounds: 5 (3 replayed" in resumed.stdout, resumed.stdout
        verified = wood("replay", str(db), "--verify")
        assert verified.returncode == 0 and last_hash(resumed.stdout) in verified.stdout, verified.stdout
        assert "rounds 5," in wood("report", str(db)).stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["xA.db", "x%41.db", "h#x.db", "q?mode=rwc.db", "s p.db"])
    assert digest(decoy) == before


def test_a_save_being_written_is_not_resumed_by_a_second_process(tmp_path):
    """One writer at a time: a resume of a save another run is still saving to
    is one line and writes nothing; the first run goes on and its save verifies."""
    db = tmp_path / "live.db"
    first = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", "--creatures", "8", "--rounds", "100000",
                              "--save", str(db), "--quiet"], cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for_rounds(db, 5, 120, first)
        second = wood("sim", "--resume", str(db), "--rounds", "50", "--quiet")
        assert second.returncode == 2 and second.stdout == "", second.stdout
        assert second.stderr.strip() == f"wood: error: {db} is in use by another wood process (a run saving to it " \
                                         "or resuming it); let that one end first", second.stderr
        assert wood("report", str(db)).returncode == 0  # reading is never refused
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    assert wood("replay", str(db), "--verify").returncode == 0  # what the first run saved is whole
    assert wood("sim", "--resume", str(db), "--rounds", str(rounds_saved(db) + 2), "--quiet").returncode == 0


def test_a_save_another_program_holds_locked_is_one_line_and_unchanged(tmp_path):
    db = tmp_path / "busy.db"
    assert wood("sim", "--rounds", "4", "--save", str(db), "--quiet").returncode == 0
    before = digest(db)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        r = wood("sim", "--resume", str(db), "--rounds", "6", "--quiet")
    finally:
        holder.rollback()
        holder.close()
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("wood: error: ") and "locked" in r.stderr and len(r.stderr.splitlines()) == 1
    assert digest(db) == before


def test_a_save_in_a_read_only_folder_or_file_is_read_and_left_as_it_was(tmp_path):
    """Reading needs no write: a save in a read-only folder, or a read-only
    save, is replayed and reported; no -wal/-shm is left beside it; a resume
    says plainly that it cannot write."""
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "s.db"
    made = wood("sim", "--rounds", "6", "--save", str(db), "--quiet")
    assert made.returncode == 0
    before = digest(db)
    for lock_down in (lambda: folder.chmod(0o555), lambda: (folder.chmod(0o755), db.chmod(0o444))):
        lock_down()
        try:
            for args in (["replay", str(db), "--verify"], ["report", str(db), "--json"]):
                r = subprocess.run(without_root_powers([sys.executable, "-m", "wood_tui.cli", *args]), cwd=ROOT,
                                   capture_output=True, text=True, timeout=120)
                assert r.returncode == 0, r.stderr
            r = subprocess.run(without_root_powers([sys.executable, "-m", "wood_tui.cli", "sim", "--resume", str(db),
                                                     "--rounds", "8", "--quiet"]),
                               cwd=ROOT, capture_output=True, text=True, timeout=120)
            assert r.returncode == 2 and "cannot be written" in r.stderr and "Traceback" not in r.stderr, r.stderr
        finally:
            folder.chmod(0o755)
            db.chmod(0o644)
        assert sorted(p.name for p in folder.iterdir()) == ["s.db"] and digest(db) == before
    assert wood("sim", "--resume", str(db), "--rounds", "8", "--quiet").returncode == 0  # nothing left in its way


def test_a_new_save_appears_whole_or_not_at_all(tmp_path, monkeypatch):
    """`Ledger.create` builds the save under a hidden name and links it into
    place: stopped before the link, nothing is at the path and nothing is left."""
    from engine import ledger as L
    from engine.world import build_roster, load_world

    roster = build_roster(load_world(), 5)
    made = L.Ledger.create(tmp_path / "ok.db", seed=1, roster=roster, brains="scripted", rounds=9)
    assert made.ends() == [(1, 9)] and made.meta()["rounds"] == "9"
    made.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.db"]

    def killed(*_):
        raise KeyboardInterrupt  # as a kill at that moment would stop it
    monkeypatch.setattr(L.os, "link", killed)
    with pytest.raises(KeyboardInterrupt):
        L.Ledger.create(tmp_path / "cut.db", seed=1, roster=roster, brains="scripted", rounds=9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.db"]


def test_a_resume_asked_for_fewer_rounds_than_it_has_says_so_and_plays_nothing(tmp_path):
    db = tmp_path / "r.db"
    assert wood("sim", "--rounds", "12", "--save", str(db), "--quiet").returncode == 0
    before = digest(db)
    r = wood("sim", "--resume", str(db), "--rounds", "10", "--quiet")
    assert r.returncode == 2 and r.stderr.strip() == (f"wood: error: {db} already has 12 rounds; --rounds is the total "
                                                      "to reach: give 12 or more, or leave it out"), r.stderr
    assert digest(db) == before
    same = wood("sim", "--resume", str(db), "--rounds", "12", "--quiet")
    assert same.returncode == 0 and "rounds: 12 (12 replayed from the save, 0 played now)" in same.stdout


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here")
@pytest.mark.parametrize("command", [["sim", "--rounds", "5", "--quiet"], ["report", "{db}", "--json"],
                                     ["replay", "{db}", "--verify"]])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(tmp_path, command):
    db = tmp_path / "r.db"
    assert wood("sim", "--rounds", "3", "--save", str(db), "--quiet").returncode == 0
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", *[c.format(db=db) for c in command]], cwd=ROOT,
                           stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr == "wood: error: cannot write the output (No space left on device)\n", r.stderr


def test_wood_alone_is_a_usage_error_with_the_help_on_stderr():
    r = wood()
    assert r.returncode == 2 and r.stdout == "" and "usage: wood" in r.stderr


def test_a_save_made_where_a_killed_one_was_being_made_clears_what_that_left(tmp_path):
    from engine import ledger as L
    from engine.world import build_roster, load_world

    dead = tmp_path / ".run.db.999999999.new"  # a pid no process has: killed before it linked its save
    dead.write_bytes(b"half")
    (tmp_path / ".run.db.999999999.new-wal").write_bytes(b"")
    live = tmp_path / f".run.db.{os.getppid()}.new-shm"  # a live process (our parent) making one: not touched
    live.write_bytes(b"")
    L.Ledger.create(tmp_path / "run.db", seed=1, roster=build_roster(load_world(), 5), brains="scripted").close()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run.db", live.name])


def test_a_leftover_named_for_a_number_no_pid_can_be_is_cleared_not_a_traceback(tmp_path):
    """A `.run.db.NUMBER.new` beside a new save whose number is past any C
    long (no process's): checking whether its maker lived had ended `wood
    sim --save` in an OverflowError traceback; it is cleared as any dead
    maker's, and the save made."""
    (tmp_path / f".run.db.{10**20}.new").write_bytes(b"half")
    (tmp_path / ".run.db.0.new").write_bytes(b"half")  # signal 0 to pid 0 reaches our own group: no maker's
    r = wood("sim", "--rounds", "1", "--save", str(tmp_path / "run.db"), "--quiet")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.db"]


def test_where_files_cannot_be_locked_a_save_is_still_made_and_resumed(tmp_path, monkeypatch):
    """flock fails with ENOLCK on some network filesystems: that is not
    another writer; the run goes on unlocked (as where there is no flock)."""
    import fcntl

    from engine import ledger as L
    from engine.world import build_roster, load_world

    def no_locks(*_):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(fcntl, "flock", no_locks)
    made = L.Ledger.create(tmp_path / "nfs.db", seed=1, roster=build_roster(load_world(), 5), brains="scripted")
    made.close()
    L.Ledger.open(tmp_path / "nfs.db", readonly=False).close()


def test_a_save_with_a_name_near_the_filesystems_limit_is_made(tmp_path):
    db = tmp_path / ("a" * 247 + ".db")  # 250 characters: its temporary name while made must be shorter
    r = wood("sim", "--rounds", "2", "--save", str(db), "--quiet")
    assert r.returncode == 0, r.stderr
    assert [p.name for p in tmp_path.iterdir()] == [db.name]


def test_a_plain_resume_plays_to_the_length_the_run_was_last_given(tmp_path):
    """`--rounds` on a resume is the new total, and it sticks: a later resume
    without it goes on to that length (not the first run's), even when the
    longer run was stopped part of the way."""
    db = tmp_path / "r.db"
    assert wood("sim", "--rounds", "6", "--save", str(db), "--quiet").returncode == 0
    assert wood("sim", "--resume", str(db), "--rounds", "10", "--quiet").returncode == 0
    again = wood("sim", "--resume", str(db), "--quiet")
    assert again.returncode == 0 and "rounds: 10 (10 replayed from the save, 0 played now)" in again.stdout, again.stdout
    from engine.ledger import Ledger
    ledger = Ledger.open(db, readonly=False)
    try:
        ledger.set_end(11, 14)  # a resume to 14 stopped before it finished round 11
    finally:
        ledger.close()
    on = wood("sim", "--resume", str(db), "--quiet")
    assert on.returncode == 0 and "rounds: 14 (10 replayed from the save, 4 played now)" in on.stdout, on.stdout


def test_verifying_a_save_for_a_resume_gives_the_event_loop_turns(tmp_path):
    """An app resuming a long save must still draw and answer a quit while its
    record is checked: the check gives the loop a turn every few rounds (a
    ticker counts its turns meanwhile), and ends on the state the record
    rebuilds to (`wood replay --verify`)."""
    import asyncio

    from engine.ledger import Ledger
    from engine.replay import VERIFY_YIELD_ROUNDS, rebuild, verified_state
    from engine.state import state_hash
    from engine.world import load_world

    db = tmp_path / "r.db"
    assert wood("sim", "--rounds", "40", "--save", str(db), "--quiet").returncode == 0
    world = load_world()

    async def both():
        turns, done = [0], asyncio.Event()

        async def ticker():
            while not done.is_set():
                turns[0] += 1
                await asyncio.sleep(0)
        tick = asyncio.ensure_future(ticker())
        await asyncio.sleep(0)
        ledger = Ledger.open(db)
        try:
            state = await verified_state(ledger, world)
        finally:
            ledger.close()
        before = turns[0]
        done.set()
        await tick
        return state, before

    state, turns = asyncio.run(both())
    assert turns >= 40 // VERIFY_YIELD_ROUNDS  # a turn every few rounds, not one at the end
    ledger = Ledger.open(db)
    try:
        assert state_hash(state) == state_hash(rebuild(ledger, world)) and state.round == 40
    finally:
        ledger.close()


@pytest.mark.parametrize("command", [["sim", "--roster", "{roster}", "--rounds", "3", "--quiet"], ["report", "{db}"],
                                     ["replay", "{db}", "--verify"]])
def test_a_name_the_terminal_cannot_encode_is_written_escaped_not_a_traceback(tmp_path, command):
    """`PYTHONIOENCODING=ascii` (or a Latin-1 terminal): a creature called Écureuil is printed as
    `\\xc9cureuil`, the summary whole and its exit 0, not a UnicodeEncodeError halfway through it."""
    roster = tmp_path / "wood.toml"
    roster.write_text('[[creatures]]\nname = "Écureuil"\nspecies = "squirrel"\nmodel = "scripted"\n\n'
                      '[[creatures]]\nname = "Лиса"\nspecies = "fox"\nmodel = "scripted"\n', encoding="utf-8")
    db = tmp_path / "r.db"
    assert wood("sim", "--roster", str(roster), "--rounds", "3", "--save", str(db), "--quiet").returncode == 0
    r = wood(*[c.format(db=db, roster=roster) for c in command], env={**os.environ, "PYTHONIOENCODING": "ascii"})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "\\xc9cureuil" in r.stdout and "\\u041b\\u0438\\u0441\\u0430" in r.stdout


@pytest.mark.parametrize("closed", [0, 1])
def test_a_run_with_stdin_or_stdout_closed_ends_cleanly(tmp_path, closed):
    """`wood sim ... <&-` (a cron line, a script's habit): uvloop took the free descriptor 0 for its own
    and, closing it, aborted the process after the summary (`uv__close: Assertion`, exit 134). The save
    is whole and the exit 0."""
    db = tmp_path / "r.db"
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sim", "--rounds", "3", "--save", str(db), "--quiet"],
                       cwd=ROOT, capture_output=closed == 0, stderr=subprocess.PIPE if closed else None, text=True,
                       timeout=120, preexec_fn=lambda: os.close(closed))
    assert r.returncode == 0 and "Assertion" not in r.stderr, (r.returncode, r.stderr)
    assert rounds_saved(db) == 3


def test_python_m_wood_tui_is_the_wood_command():
    """Without the script on the PATH (a venv not activated), `python -m wood_tui` is `wood`."""
    r = subprocess.run([sys.executable, "-m", "wood_tui", "sim", "--rounds", "2", "--quiet"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == last_line_of_two_rounds(), r.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("how", ["script", "module"])
def test_ctrl_c_while_wood_is_still_loading_is_one_line_not_a_traceback(tmp_path, how, sig):
    """The first half second of `wood ...` is Python loading the program: a
    Ctrl-C then was a KeyboardInterrupt traceback (the console script imports
    `wood_tui.cli` before `main` runs, and `main` built its parser outside its
    handler), a kill a silent death. Both are one line now, exit 128 + the
    signal, from the console script (its entry point as pyproject names it,
    called as pip's script calls it) and from `python -m wood_tui`. A slow
    `argparse` first on the path (it says it is loading, then waits) holds
    the program in that window for as long as the test needs."""
    import re

    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "argparse.py").write_text("import os, time\nos.write(2, b'loading\\n')\ntime.sleep(120)\n")
    [(module, func)] = re.findall(r'^wood = "([\w.]+):(\w+)"$', (ROOT / "pyproject.toml").read_text(), re.M)
    argv = ["-c", f"import re, sys\nfrom {module} import {func}\nsys.exit({func}())"] if how == "script" else \
        ["-m", "wood_tui"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(slow), str(ROOT)])}
    proc = subprocess.Popen([sys.executable, *argv, "sim", "--rounds", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert line_within(proc.stderr, 120) == "loading\n"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    assert out == "" and err == ("wood: interrupted\n" if sig == signal.SIGINT else "wood: interrupted (SIGTERM)\n")


@pytest.mark.parametrize("module", ["wood_tui", "wood_tui.cli"])
def test_ctrl_c_inside_code_compiled_from_a_string_keeps_the_exit_status_under_python_m(tmp_path, module):
    """A Ctrl-C that lands while a module imports inside code compiled from a
    string (a dataclass's `__init__`, as `engine.memory` defines them) is
    caught and said, but CPython marks it unhandled and `python -m` then
    killed the process with SIGINT itself (-2 where 130 was said; a CI run
    failed so, its Ctrl-C landing in an import). A slow `argparse` that
    waits inside `exec` of a string holds the program at that point."""
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "argparse.py").write_text(
        "exec('import os, time\\nos.write(2, b\"loading\\\\n\")\\ntime.sleep(120)')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(slow), str(ROOT)])}
    proc = subprocess.Popen([sys.executable, "-m", module, "sim", "--rounds", "2"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert line_within(proc.stderr, 120) == "loading\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert (proc.returncode, out, err) == (130, "", "wood: interrupted\n")


def last_line_of_two_rounds() -> str:
    return wood("sim", "--rounds", "2", "--quiet").stdout.splitlines()[-1]


def test_ctrl_c_on_a_save_whose_name_a_shell_splits_says_a_command_that_resumes_it(tmp_path):
    """The resume command after Ctrl-C is one a shell runs as it reads: a
    name with a space or a semicolon in it is quoted (as the report quotes it)."""
    import shlex

    db = tmp_path / "my run;1.db"
    victim = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", "--creatures", "12", "--rounds", "100000",
                               "--save", str(db)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_rounds(db, 3, 120, victim)
    victim.send_signal(signal.SIGINT)
    _, err = victim.communicate(timeout=60)
    assert victim.returncode == 130, err
    said = err.strip().splitlines()[-1]
    assert said.endswith(f"; every round played is in {db}: resume with wood sim --resume {shlex.quote(str(db))}"), err
    assert shlex.split(said.partition("resume with ")[2])[3] == str(db)


def test_a_new_save_whose_journal_cannot_be_folded_in_is_not_linked_into_place(tmp_path, monkeypatch):
    """A full disk can let SQLite write a new save's WAL but not fold it into
    the file when it closes: the file alone is then no save (it opened as
    'database disk image is malformed' and stayed at the path). Here a second
    connection keeps the WAL from being folded in, as the full disk did."""
    from engine import ledger as L
    from engine.world import build_roster, load_world

    held: list[sqlite3.Connection] = []
    connect = L._connect

    def connect_and_hold(path, readonly):
        con = connect(path, readonly)

        def hold(sql: str) -> None:  # once its tables are in: a reader of them, open until the test ends
            if path.name.endswith(".new") and sql.startswith("INSERT INTO meta") and not held:
                held.append(connect(path, readonly=True))
                held[-1].execute("SELECT count(*) FROM sqlite_master").fetchone()
        con.set_trace_callback(hold)
        return con
    monkeypatch.setattr(L, "_connect", connect_and_hold)
    db = tmp_path / "full.db"
    with pytest.raises((L.LedgerError, sqlite3.Error), match="is the disk full"):
        L.Ledger.create(db, seed=1, roster=build_roster(load_world(), 5), brains="scripted", rounds=9)
    for con in held:
        con.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_replay_verify_of_a_save_still_being_played_shows_the_rounds_it_counts(tmp_path, monkeypatch, capsys):
    """A round committed by the writer after --verify counted the rounds is
    not rebuilt into the standings and hash it prints ('rounds: 6' above
    'standings after round 9' had been possible)."""
    from engine.ledger import Ledger
    from engine.replay import checked_record
    from engine.world import load_world
    from wood_tui.commands.replay import _verify

    db = tmp_path / "live.db"
    assert wood("sim", "--rounds", "6", "--save", str(db), "--quiet").returncode == 0
    counted = Ledger.last_round

    def then_the_writer_plays_on(ledger):  # the run saving to it commits three more rounds just then
        n = counted(ledger)
        monkeypatch.setattr(Ledger, "last_round", counted)
        assert wood("sim", "--resume", str(db), "--rounds", "9", "--quiet").returncode == 0
        return n
    world = load_world()
    with checked_record(db, world) as ledger:
        monkeypatch.setattr(Ledger, "last_round", then_the_writer_plays_on)
        assert _verify(ledger, world) == 0
    out = capsys.readouterr().out
    assert out.startswith("rounds: 6 (") and "standings after round 6 " in out, out
    assert last_hash(out) == last_hash(wood("sim", "--rounds", "6", "--quiet").stdout)


def test_replay_verify_of_a_save_with_no_round_says_nothing_was_verified(tmp_path):
    """A run killed before its first round was committed leaves a save of 0
    rounds; --verify had said 'rounds: 0 (each rebuilt to its recorded state
    hash)' of it, a check that held nothing to anything."""
    from engine.ledger import Ledger
    from engine.world import build_roster, load_world

    db = tmp_path / "empty.db"
    Ledger.create(db, seed=1, roster=build_roster(load_world(), 5), brains="scripted", rounds=9).close()
    r = wood("replay", str(db), "--verify")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith("rounds: 0 (no round was committed, so no state hash was recorded and nothing was "
                               "verified; the standings are the run's start)\n"), r.stdout
    assert "each rebuilt" not in r.stdout and "standings after round 0 " in r.stdout


def test_a_save_on_a_full_disk_is_said_to_be_on_a_full_disk_and_gains_no_files(tmp_path):
    """Reading a save makes SQLite's -shm index beside it; on a full disk
    (here: a limit on the size of files written) that fails. The save is
    sound: it had been called 'not a readable Thousand Token Wood save
    (disk I/O error)', and a -wal and a cut-short -shm stayed beside it."""
    db = tmp_path / "s.db"
    assert wood("sim", "--rounds", "3", "--save", str(db), "--quiet").returncode == 0
    before = digest(db)
    for command in (["report", str(db)], ["replay", str(db), "--verify"], ["sim", "--resume", str(db), "--quiet"]):
        r = wood(*command, preexec_fn=full_disk(16384))
        assert r.returncode == 2 and r.stderr == (f"wood: error: {db} cannot be read here: SQLite could not make its "
                                                  "-shm index beside it (disk I/O error; is the disk full?)\n"), r.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"] and digest(db) == before
    assert wood("report", str(db)).returncode == 0


def _kept_rounds_are_where_the_line_says(folder: Path, db: Path, err: str, copies: Path) -> bool:
    """The line a run stopped by a full disk ends with names where its rounds
    are, and it is so: the save alone holds rounds 1 to N; or, where its -wal
    could not be folded into it, the two together do and the save alone does
    not. True: the -wal was named."""
    import re

    m = re.fullmatch(rf"wood: error: {re.escape(str(db))}: round (\d+) could not be saved \([^)]*\); rounds 1 to "
                     r"(\d+) are kept in it(.*)\n", err)
    assert m, err
    last = int(m[2])
    split = m[3] != ""
    if split:
        assert m[3] == (f" together with {db.name}-wal beside it, which holds the latest of them: keep the two "
                        "together (the file alone is not the save), and resume once there is room"), err
    assert sorted(p.name for p in folder.iterdir()) == sorted([db.name] + ([f"{db.name}-wal", f"{db.name}-shm"]
                                                                           if split else []))
    assert int(m[1]) == last + 1
    for with_wal in (True, False) if split else (False,):  # copied somewhere with room, as a user would
        where = copies / f"with-wal-{with_wal}"
        where.mkdir(parents=True)
        shutil.copy(db, where)
        if with_wal:
            shutil.copy(f"{db}-wal", where)
        v = wood("replay", str(where / db.name), "--verify")
        whole = v.returncode == 0 and v.stdout.startswith(f"rounds: {last} (")
        assert whole == (with_wal or not split), (with_wal, v.stdout, v.stderr)
    return split


def test_a_save_stopped_by_a_file_size_limit_says_where_its_rounds_are(tmp_path):
    """A write refused mid-run (here a file-size limit, EFBIG, SQLite's
    'disk I/O error') ends the run with a line naming the rounds kept and
    where: in the save alone when its -wal can still be folded into it
    (limit 1 MB: the file has room to grow), or in the save and its -wal
    together when it cannot (6 MB: the file is at the limit too), which
    the line says, since the save alone is then no save. It had said 'the
    rounds before it are kept' either way."""
    said = []
    for limit in (1_000_000, 6_000_000):
        folder = tmp_path / f"limit-{limit}"
        folder.mkdir()
        db = folder / "x.db"
        r = wood("sim", "--creatures", "50", "--rounds", "100000", "--save", str(db), "--quiet",
                 preexec_fn=full_disk(limit))
        assert r.returncode == 2 and r.stdout == "", r.stderr
        said.append(_kept_rounds_are_where_the_line_says(folder, db, r.stderr, tmp_path / f"copies-{limit}"))
    assert said == [False, True]  # both cases met: the save alone, then the save with its -wal


def test_a_new_save_whose_first_round_the_disk_refuses_is_said_removed_with_the_way_on(tmp_path):
    """A write refused at round 1 of a new save (a file-size limit past what
    its creation wrote, short of its first round) ended 'no round was saved'
    while the game removed that save: the line now says so, and the way on."""
    db = tmp_path / "x.db"
    r = wood("sim", "--creatures", "1000", "--rounds", "3", "--save", str(db), "--quiet",
             preexec_fn=full_disk(300_000))
    assert r.returncode == 2 and r.stdout == "", r.stderr
    assert r.stderr == (f"wood: error: {db}: round 1 could not be saved (disk I/O error); no round was saved, so the "
                        "new save was removed: run the same command again once it can be written there (room on the "
                        "disk, a folder it may write in)\n")
    assert list(tmp_path.iterdir()) == []


def test_a_save_on_a_full_filesystem_says_its_wal_belongs_to_it(tmp_path):
    """A save filling a real filesystem (a 2 MB tmpfs: ENOSPC, 'database or
    disk is full'): its -wal cannot be folded into it (the file would have to
    grow), so the rounds kept are in the save and its -wal together, and the
    line says to keep the two together. Needs the right to mount (root)."""
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        db = small / "x.db"
        r = wood("sim", "--creatures", "50", "--rounds", "100000", "--save", str(db), "--quiet")
        assert r.returncode == 2 and r.stdout == "", r.stderr
        assert _kept_rounds_are_where_the_line_says(small, db, r.stderr, tmp_path)
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_the_note_of_a_slow_model_start_counts_the_wait_it_is_told_of():
    """`still loading (N s)` comes once N is 5 s or more of the server's
    start, however long the model took to prepare before it (the first note
    said "0 s" after a cold disk's hashing)."""
    from wood_tui.game import _every

    notes = []
    on_wait = _every(5, lambda s, last: notes.append((s, last)))
    for s in (0.0, 0.3, 4.9, 5.2, 6.0, 9.9, 10.3):
        on_wait(s, "connection refused")
    assert notes == [(5.2, "connection refused"), (10.3, "connection refused")]


@pytest.fixture(scope="module")
def long_save(tmp_path_factory) -> Path:
    """200 rounds of 30 creatures: seconds to verify."""
    db = tmp_path_factory.mktemp("long") / "long.db"
    assert wood("sim", "--rounds", "200", "--seed", "3", "--creatures", "30", "--save", str(db),
                "--quiet").returncode == 0
    return db


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_replay_verify_stopped_midway_says_how_many_rounds_were_rebuilt_and_gives_no_verdict(long_save, tmp_path,
                                                                                             sig):
    """`wood replay --verify` of a long save, stopped (Ctrl-C, a kill, a
    closed terminal) while it rebuilds: one line with the rounds rebuilt to
    their recorded hash out of the save's, `no verdict reached`, exit 128 +
    the signal, no standings or hash, the save as it was. It had said only
    `wood: interrupted`. A spy on the replay loop writes a file once round 5
    is rebuilt; the signal is sent when that file is there."""
    import re
    import time

    db, mark = long_save, tmp_path / "round-5"
    before = digest(db)
    spy = ("import sys\nimport engine.replay as r\nloop = r.replayed_rounds\n"
           "def spied(*a, **k):\n    for rr in loop(*a, **k):\n        yield rr\n"
           f"        if rr.round == 5:\n            open({str(mark)!r}, 'w').close()\n"
           "r.replayed_rounds = spied\nfrom wood_tui.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", spy, "replay", str(db), "--verify"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the replay ended before it was stopped"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    said = "wood: interrupted" + ("" if sig == signal.SIGINT else f" ({signal.Signals(sig).name})")
    m = re.fullmatch(re.escape(said) + r": (\d+) of 200 rounds rebuilt, no verdict reached\n", err)
    assert m and 5 <= int(m[1]) < 200, err
    assert out == "" and "Traceback" not in err
    assert digest(db) == before and sorted(p.name for p in db.parent.iterdir()) == ["long.db"]  # no -wal, no -shm


def test_replay_verify_stopped_while_it_reads_the_record_gives_no_verdict(tmp_path):
    """Stopped before a round is rebuilt (the record still being read): no verdict either."""
    import time

    db = tmp_path / "run.db"
    assert wood("sim", "--rounds", "5", "--save", str(db), "--quiet").returncode == 0
    mark = tmp_path / "reading"
    spy = ("import sys, time\nimport engine.ledger as l\ncheck = l.Ledger.check_records\n"
           f"def spied(self):\n    open({str(mark)!r}, 'w').close()\n    time.sleep(30)\n    check(self)\n"
           "l.Ledger.check_records = spied\nfrom wood_tui.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", spy, "replay", str(db), "--verify"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143 and out == "", err
    assert err == ("wood: interrupted (SIGTERM): stopped while reading the record, before any round was rebuilt: "
                   "no verdict reached\n")


@pytest.mark.parametrize("columns", [40, 20, 0])
def test_the_progress_bar_fits_a_narrow_terminal(tmp_path, columns):
    """The bar was some 55 characters whatever the terminal: on one narrower
    than that each round's line wrapped, and `\\r` went back to the start of
    its last row only, so every round left a row on the screen. Each line
    now fits the row it is written over, bar and all where there is room.
    A terminal that does not say its size (0 columns: the pty `script`
    makes, a serial console) had been given room for nothing: every
    round wrote an empty line, and no progress showed; it is taken as 80
    columns wide, as where the width cannot be read."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sim", "--rounds", "12", "--creatures", "3"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, timeout=120,
                           env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")})
        os.close(slave)
        slave = -1
        shown = b""
        with contextlib.suppress(OSError):  # EIO: the writer has gone and everything is read
            while chunk := os.read(master, 65536):
                shown += chunk
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)
    assert r.returncode == 0
    rows = shown.decode().replace("\r\n", "\n").replace("\r", "\n").split("\n")
    assert any("round 12/12" in row for row in rows), rows
    assert max(len(row) for row in rows) < (columns or 80), rows
    assert any(row.startswith("[") for row in rows) == (columns != 20), rows


def open_files_at_most(limit: int):
    """A `preexec_fn` under which the child may hold at most `limit` files open (`ulimit -n`)."""
    def limited() -> None:
        import resource  # POSIX only, as preexec_fn is

        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    return limited


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_a_low_limit_on_open_files_is_one_line_and_the_save_resumes(tmp_path, loop):
    """`ulimit -n 12; wood sim --rounds 3` ended in uvloop's traceback (EMFILE
    as its loop was made, or 'Cannot close a running event loop'); lower,
    libuv aborted the process; a little higher SQLite's 'unable to open
    database file' was said as '--save: cannot write a save there', and the
    save it had linked into place was left. Wherever the limit strikes it is
    one line, exit 2, with no save of no rounds left behind; a save resumed
    under it is as it was, and resumes once the limit is raised."""
    env = {**os.environ, "WOOD_EVENT_LOOP": loop}
    line = "wood: error: too many open files: the limit is {} (ulimit -n); raise it\n"
    base = tmp_path / "base.db"
    assert wood("sim", "--rounds", "3", "--save", str(base), "--quiet", env=env).returncode == 0
    refused = 0
    for limit in (5, 8, 12, 14, 16, 20):
        save = tmp_path / f"r{limit}.db"
        r = wood("sim", "--rounds", "3", "--save", str(save), "--quiet", env=env, preexec_fn=open_files_at_most(limit))
        if r.returncode == 0:
            assert rounds_saved(save) == 3, r.stderr
        else:
            refused += 1
            assert (r.returncode, r.stderr) == (2, line.format(limit)), r.stderr
            assert not any(p.name.startswith(save.name) for p in tmp_path.iterdir()), sorted(os.listdir(tmp_path))
            again = wood("sim", "--rounds", "3", "--save", str(save), "--quiet", env=env)  # the same command, as it was
            assert again.returncode == 0 and rounds_saved(save) == 3, again.stderr
        copy = tmp_path / f"resumed{limit}.db"
        shutil.copyfile(base, copy)
        r = wood("sim", "--resume", str(copy), "--rounds", "6", "--quiet", env=env, preexec_fn=open_files_at_most(limit))
        if r.returncode != 0:
            refused += 1
            assert (r.returncode, r.stderr) == (2, line.format(limit)), r.stderr
            assert rounds_saved(copy) == 3
            again = wood("sim", "--resume", str(copy), "--rounds", "6", "--quiet", env=env)
            assert again.returncode == 0 and rounds_saved(copy) == 6, again.stderr
        else:
            assert rounds_saved(copy) == 6, r.stderr
    assert refused >= 3  # the low limits were reached: what this is about was tested


def test_the_standings_line_up_with_names_of_wide_letters(tmp_path):
    """Creatures named in wide letters (栗鼠, 🦊: two cells each) beside plain
    ones: the standings that `wood sim` and `wood replay` print padded the
    names by characters, so each wide name pushed its row's numbers out of
    line; every column now starts at the same cell on every row."""
    from rich.cells import cell_len

    roster, db = wide_roster(tmp_path / "wood.toml"), tmp_path / "r.db"
    sim = wood("sim", "--roster", str(roster), "--rounds", "2", "--save", str(db), "--quiet")
    replay = wood("replay", str(db), "--verify")
    for r in (sim, replay):
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        rows = lines[next(i for i, s in enumerate(lines) if s.startswith("standings after")) + 1:][:len(WIDE_NAMES)]
        assert {n for n in WIDE_NAMES if any(n in row for row in rows)} == set(WIDE_NAMES), rows
        for column in (" worth ", " coins ", " mood "):
            assert len({cell_len(row[:row.index(column)]) for row in rows}) == 1, (column, rows)


def test_the_summary_lines_up_with_a_good_named_in_wide_letters(tmp_path, monkeypatch, capsys):
    """A world whose good is named in wide letters (栗の実: two cells each):
    `wood sim`'s summary padded the goods by characters, so that good's row
    had its trades and volume three cells right of every other row's; each
    row's numbers now start at the same cell."""
    from wood_tui.cli import main

    world = wide_good_world(tmp_path / "world", monkeypatch)
    assert main(["sim", "--rounds", "3", "--seed", "1", "--quiet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = lines[1:1 + len(world.goods)]
    assert [r.split()[0] for r in rows] == list(world.goods) and WIDE_GOOD in world.goods, rows
    starts = {tuple(starts_by_cells(r, ("trades", "volume"))) for r in rows}
    assert len(starts) == 1, rows
