"""`wood sim` and `wood replay` as a user runs them: real processes, real
SQLite files, one-line errors that leave files untouched."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.saves import rounds_saved, wait_for_rounds

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


def test_replay_verify_fails_on_a_tampered_record(tmp_path):
    db = tmp_path / "t.db"
    assert wood("sim", "--rounds", "15", "--save", str(db), "--quiet").returncode == 0
    con = sqlite3.connect(db)
    con.execute("""UPDATE actions SET action = '{"action":"pass"}' WHERE round = 3""")
    con.commit()
    con.close()
    v = wood("replay", str(db), "--verify")
    assert v.returncode == 1 and "does not match the record" in v.stderr


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
    (["sim", "--seed", str(2**64)], "fits 64 bits"),
    (["sim", "--save", ""], "empty string"),
    (["sim", "--save", "/nonexistent-dir/run.db"], "does not exist"),
    (["sim", "--save", "/proc/nope.db"], "--save /proc/nope.db"),
    (["sim", "--roster", "x.toml", "--brains", "scripted"], "cannot go with --brains scripted"),
    (["sim", "--resume", "x.db", "--creatures", "9"], "takes no --save, --creatures or --roster"),
    (["watch", "--delay", "nan"], "expected 0 to 60 seconds"),
    (["play", "--seats", "0"], "expected 1 to 8"),
    (["play", "--as", "   "], "no leading or trailing spaces"),
    (["play", "--as", " Owl"], "no leading or trailing spaces"),
    (["sim", "--frobnicate"], "unrecognized arguments"),
    (["sim", "--roster", "/nonexistent/roster.toml"], "roster file not found"),
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


def test_an_existing_save_is_never_overwritten(tmp_path):
    p = tmp_path / "keep.db"
    p.write_text("precious")
    r = wood("sim", "--rounds", "3", "--save", str(p))
    assert r.returncode == 2 and "already exists" in r.stderr and p.read_text() == "precious"


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
    assert err.strip().splitlines()[-1] == f"wood: interrupted; resume with: wood sim --resume {db} --rounds 100000", err
    assert "Traceback" not in err
    kept = rounds_saved(db)
    assert 30 <= kept < 100000
    target = str(kept + 5)
    resumed = wood("sim", "--resume", str(db), "--rounds", target, "--quiet", env=env)
    fresh = wood("sim", "--creatures", "12", "--rounds", target, "--seed", "8", "--quiet", env=env)
    assert resumed.returncode == 0 and fresh.returncode == 0, resumed.stderr + fresh.stderr
    assert last_hash(resumed.stdout) == last_hash(fresh.stdout)


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
