"""Bad files, as the CLI meets them (issue 7, the file-level half): a damaged
or foreign save, an export folder that cannot be written, a roster that
breaks its bounds. Each gives exactly one line on stderr, `wood: error: ...`,
exit 2, no traceback, and creates or changes nothing: the save keeps its
bytes and mtime and no file appears next to it (no -wal, no -shm, no
half-written export, no new save).

Most cases run `wood_tui.cli.main` in-process (fast); a few run the real
command in a subprocess to show the same line reaches a user's terminal."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from engine.ledger import ROWS_ALIKE, VERSION

from wood_tui.cli import main

ROOT = Path(__file__).resolve().parent.parent
REPLAY = ("replay", "{p}", "--verify")
RESUME = ("sim", "--resume", "{p}", "--rounds", "5")  # not --quiet: its progress lines must not come first
EXPORT = ("export", "{p}", "--out", "{d}/export")
ALL = (REPLAY, RESUME, EXPORT)
# `wood replay` without --verify opens the app; a damaged save must be refused before it starts
WATCH = ("replay", "{p}")


@pytest.fixture(scope="module")
def base_save(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("base") / "base.db"
    assert main(["sim", "--rounds", "5", "--seed", "1", "--save", str(p), "--quiet"]) == 0
    with sqlite3.connect(f"file:{p}?mode=ro", uri=True) as con:  # every table has rows to damage
        assert all(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("tips", "events", "actions"))
        assert con.execute("SELECT count(*) FROM events WHERE kind = 'trade'").fetchone()[0]
    con.close()
    return p


def state(d: Path) -> dict:
    """Every file under `d`: its bytes' digest and mtime."""
    return {str(f.relative_to(d)): (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns)
            for f in sorted(d.rglob("*")) if f.is_file()} | {str(f.relative_to(d)) + "/": None
                                                             for f in d.rglob("*") if f.is_dir()}


def one_line(rc: int, out: str, err: str) -> str:
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("wood: error: "), err
    return err.rstrip("\n")


def wood_in_process(capsys, args) -> str:
    capsys.readouterr()
    try:
        rc = main(list(args))
    except SystemExit as e:  # argparse's own errors (one line, exit 2, in wood_tui/cli.py)
        rc = e.code
    out, err = capsys.readouterr()
    return one_line(rc, out, err)


def wood_subprocess(*args) -> str:
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    return one_line(r.returncode, r.stdout, r.stderr)


def tampered(base: Path, d: Path, *sql: str) -> Path:
    p = d / "save.db"
    shutil.copyfile(base, p)
    con = sqlite3.connect(p)
    for s in sql:
        con.execute(s)
    con.commit()
    con.close()
    assert sorted(os.listdir(d)) == ["save.db"]
    return p


def meta(key: str, value) -> str:
    return f"UPDATE meta SET value = {sql_text(value)} WHERE key = '{key}'"


def sql_text(v) -> str:
    return "'" + (v if isinstance(v, str) else json.dumps(v)).replace("'", "''") + "'"


ROSTER = [{"name": "Owl", "species": "owl", "temperament": "cautious", "model": "scripted"},
          {"name": "Fox", "species": "fox", "temperament": "speculator", "model": "scripted"},
          {"name": "Badger", "species": "badger", "temperament": "hoarder", "model": "scripted"},
          {"name": "Hare", "species": "hare", "temperament": "generous", "model": "scripted"},
          {"name": "Squirrel", "species": "squirrel", "temperament": "merchant", "model": "scripted"}]


def roster_with(i: int, **change) -> list[dict]:
    out = [dict(r) for r in ROSTER]
    for k, v in change.items():
        if v is None:
            out[i].pop(k)
        else:
            out[i][k] = v
    return out


def action(round_no: int, text: str) -> str:
    return f"UPDATE actions SET action = {sql_text(text)} WHERE round = {round_no} AND creature = 'Fox'"


# (case id, SQL that damages a good save, the commands that must refuse it, words the line holds)
SAVES = [
    # the roster in meta
    ("roster-extra-key", [meta("roster", roster_with(1, color="red"))], ALL, "unknown field 'color'"),
    ("roster-missing-key", [meta("roster", roster_with(2, temperament=None))], ALL, "missing field 'temperament'"),
    ("roster-not-a-list", [meta("roster", {"name": "Owl"})], ALL, "not a JSON list"),
    ("roster-rows-not-objects", [meta("roster", ["Owl", "Fox"])], ALL, "creature 1 is not a JSON object"),
    ("roster-not-json", [meta("roster", "Owl, Fox")], ALL, "not JSON"),
    ("roster-one-creature", [meta("roster", ROSTER[:1])], ALL, "at least 2 creatures"),
    ("roster-twin-names", [meta("roster", roster_with(1, name="Owl"))], ALL, "not unique"),
    ("roster-name-not-text", [meta("roster", roster_with(1, name=7))], ALL, "name 7 is empty or not text"),
    ("roster-name-blank", [meta("roster", roster_with(1, name=" \t\u200b"))], ALL, "is empty or not text"),
    ("roster-species-not-text", [meta("roster", roster_with(1, species=False))], ALL, "species False is empty"),
    ("roster-unknown-species", [meta("roster", roster_with(1, species="dragon"))], (REPLAY, RESUME, WATCH),
     "unknown species 'dragon' (species in creatures.toml: owl, fox, badger, hare, squirrel)"),
    ("roster-unknown-temperament", [meta("roster", roster_with(1, temperament="grumpy"))], (REPLAY, RESUME),
     "unknown temperament 'grumpy' (temperaments in creatures.toml: hoarder, speculator, cautious, generous, "
     "merchant)"),
    # the other meta values
    ("rounds-not-a-number", [meta("rounds", "abc")], ALL, "meta rounds 'abc'"),
    ("rounds-zero", [meta("rounds", "0")], ALL, "meta rounds '0'"),
    ("brains-unknown", [meta("brains", "robots")], ALL, "meta brains 'robots' is not one of scripted, llm"),
    ("seed-not-a-number", [meta("seed", "1.5")], ALL, "meta seed '1.5'"),
    ("seed-too-big", [meta("seed", str(2**70))], ALL, "is not a seed (-9,223,372,036,854,775,808 to"),
    ("seed-missing", ["DELETE FROM meta WHERE key = 'seed'"], ALL, "its meta has no seed"),
    ("roster-missing", ["DELETE FROM meta WHERE key = 'roster'"], ALL, "its meta has no roster"),
    ("extra-not-json", [meta("extra", "nope")], ALL, "meta extra: not JSON"),
    ("llm-without-models", [meta("brains", "llm")], ALL, "records its models"),
    ("llm-bad-model", [meta("brains", "llm"), meta("extra", {"models": {"smol": {"model": "x", "temperature": 9}}})],
     ALL, "model 'smol': temperature"),
    ("future-version", [meta("version", str(VERSION + 1))], ALL, f"newer wood (ledger version {VERSION + 1})"),
    ("foreign-version", [meta("version", "banana")], ALL, "ledger version 'banana'"),
    # a save of the previous rules: its rows are read (exported), never replayed or resumed on these rules
    ("older-rules", [meta("version", str(ROWS_ALIKE[-1]))], (REPLAY, RESUME, WATCH),
     f"ledger version '{ROWS_ALIKE[-1]}'; this build plays and replays version {VERSION} (its model calls, tips and "
     "whispers can still be exported"),
    ("older-still", [meta("version", "2")], ALL, "ledger version '2'; this build plays and replays version"),
    # the recorded rows
    ("action-negative-qty", [action(2, '{"action":"offer","side":"sell","good":"honey","qty":-5,"price":3}')],
     (*ALL, WATCH), "round 2, Fox's recorded action: not a valid action (qty: "),
    ("action-a-list", [action(1, '["offer"]')], (*ALL, WATCH), "round 1, Fox's recorded action: not a JSON object"),
    ("action-not-json", [action(3, "offer 3 honey")], (*ALL, WATCH), "round 3, Fox's recorded action: not JSON"),
    ("action-unknown-kind", [action(1, '{"action":"steal"}')], ALL, "not a valid action (action: "),
    ("action-by-a-stranger", ["UPDATE actions SET creature = 'Wolf' WHERE round = 2 AND creature = 'Fox'"],
     (*ALL, WATCH), "round 2: an action by 'Wolf', who is not in the roster"),
    ("event-data-not-json", ["UPDATE events SET data = '{oops' WHERE round = 2 AND seq = 0"], (*ALL, WATCH),
     "round 2, event 0: not JSON"),
    ("event-who-not-a-list", ["UPDATE events SET who = '\"Owl\"' WHERE round = 1 AND seq = 0"], ALL,
     "round 1, event 0: not a JSON list"),
    # NaN and Infinity are Python's, not JSON: an export copied them into its JSONL, which JSON readers refuse
    ("event-data-nan", ["UPDATE events SET data = replace(data, '\"qty\": ', '\"x\": NaN, \"qty\": ') "
                        "WHERE kind = 'trade'"], ALL, "not JSON"),
    ("trade-without-qty", ["UPDATE events SET data = '{\"good\":\"honey\"}' WHERE kind = 'trade'"], ALL,
     "trade event without a valid qty"),
    ("action-not-utf8", ["UPDATE actions SET action = CAST(X'7BFF7D' AS TEXT) WHERE round = 2"], (*ALL, WATCH),
     "cannot be read (Could not decode to UTF-8"),
    ("action-not-utf8-newline", ["UPDATE actions SET action = CAST(X'0A0AFF0A' AS TEXT) WHERE round = 1"],
     (REPLAY, RESUME), "cannot be read (Could not decode to UTF-8"),
    # a state hash a byte of which is no longer UTF-8: its round's replay was a traceback (exit 1)
    ("hash-not-utf8", ["UPDATE rounds SET state_hash = CAST(X'61FF62' AS TEXT) WHERE round = 3"], (*ALL, WATCH),
     "its rounds cannot be read (Could not decode to UTF-8"),
    ("outcome-not-text", ["UPDATE actions SET outcome = X'00' WHERE round = 1"], (*ALL, WATCH),
     "round 1, Badger's recorded outcome: not text"),
    ("tip-recipients-not-json", ["UPDATE tips SET recipients = 'Owl and Fox'"], ALL, "recipients: not JSON"),
    ("tip-truth-not-a-flag", ["UPDATE tips SET truth = 'yes'"], ALL, "truth 'yes' is not 0 or 1"),
    ("tip-text-a-blob", ["UPDATE tips SET text = X'00FF'"], ALL, "text b'\\x00\\xff' is not text"),
    # missing tables and columns
    *[(f"no-{t}-table", [f"DROP TABLE {t}"], ALL, f"it has no {t} table")
      for t in ("actions", "rounds", "events", "calls", "tips", "snapshot")],
    ("no-action-column", ["ALTER TABLE actions DROP COLUMN action"], ALL, "its actions table has no action column"),
    ("no-data-column", ["ALTER TABLE events DROP COLUMN data"], ALL, "its events table has no data column"),
]


def _name(command) -> str:
    return {REPLAY: "verify", RESUME: "resume", EXPORT: "export", WATCH: "watch"}[command]


def test_a_save_of_the_previous_rules_still_exports_what_it_recorded(base_save, tmp_path, capsys):
    """Its model calls, tips and whispers are rows, not rules: `wood export`
    reads them (audit trail and fine-tuning set) as from a save of this build,
    and leaves the save as it was."""
    (tmp_path / "old").mkdir()
    older = tampered(base_save, tmp_path / "old", meta("version", str(ROWS_ALIKE[0])))
    before = state(older.parent)
    assert main(["export", str(older), "--out", str(tmp_path / "old-out")]) == 0
    assert main(["export", str(base_save), "--out", str(tmp_path / "new-out")]) == 0
    for name in ("calls.jsonl", "tips.jsonl", "whispers.jsonl"):
        assert (tmp_path / "old-out" / name).read_bytes() == (tmp_path / "new-out" / name).read_bytes()
    assert (tmp_path / "old-out" / "tips.jsonl").read_text().strip()  # something was exported
    # its traders are scripted, so neither has a model decision for a fine-tuning set: both say so alike
    lines = [wood_in_process(capsys, ["export", str(save), "--sft", str(tmp_path / name)]).replace(name, "X")
             for save, name in ((older, "old.jsonl"), (base_save, "new.jsonl"))]
    assert "no model decision in the runs read fits the fine-tuning set" in lines[0]
    assert lines[0] == lines[1] and not (tmp_path / "old.jsonl").exists() and not (tmp_path / "new.jsonl").exists()
    assert state(older.parent) == before


@pytest.mark.parametrize("sql,command,words", [pytest.param(s, c, w, id=f"{i}-{_name(c)}")
                                               for i, s, cs, w in SAVES for c in cs])
def test_a_damaged_save_is_one_line_and_stays_untouched(base_save, tmp_path, capsys, sql, command, words):
    p = tampered(base_save, tmp_path, *sql)
    before = state(tmp_path)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in command])
    assert words in line and str(p) in line, line
    assert state(tmp_path) == before


CALL = ("INSERT INTO calls VALUES (1, 'Owl', 'smol', '[{{\"role\": \"user\", \"content\": \"hi\"}}]', '{{}}', "
        "{action}, 'applied', '', '[]', 12.5, 300, 9, 'stop')")


@pytest.mark.parametrize("bad,words", [
    (CALL.format(action="'{\"action\": \"pass\"'"), "round 1, Owl's model call: action: not JSON"),
    (CALL.format(action="'[1, 2]'"), "round 1, Owl's model call: action: not a JSON object"),
    (CALL.format(action="NULL").replace("'[]'", "'none'"), "round 1, Owl's model call: repairs: not JSON"),
    (CALL.format(action="NULL").replace("12.5", "X'01'"), "round 1, Owl's model call: latency_ms b'\\x01' is not a"),
    (CALL.format(action="NULL").replace("12.5", "1e308"), "round 1, Owl's model call: latency_ms 1e+308 is out of range"),
    (CALL.format(action="NULL").replace(", 300,", ", -5,"), "round 1, Owl's model call: prompt_tokens -5 is out of range"),
    (CALL.format(action="NULL").replace("'{}'", "CAST(X'FF' AS TEXT)"), "its model calls cannot be read"),
    (CALL.format(action="'{\"action\": \"pass\", \"x\": -Infinity}'"), "round 1, Owl's model call: action: not JSON"),
])
@pytest.mark.parametrize("out", ["new/deeper", "old"])
def test_an_export_that_fails_part_way_leaves_nothing(base_save, tmp_path, capsys, bad, words, out):
    """A call row that cannot be read comes after a good one: the half-written
    calls.jsonl.part goes, so do the folders the export made, and an earlier
    export in the folder stays as it was."""
    p = tampered(base_save, tmp_path, CALL.format(action="'{\"action\": \"pass\"}'").replace("'Owl'", "'Badger'"),
                 bad)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "calls.jsonl").write_text("an earlier export\n")
    before = state(tmp_path)
    line = wood_in_process(capsys, ["export", str(p), "--out", str(tmp_path / out)])
    assert words in line, line
    assert state(tmp_path) == before


@pytest.mark.parametrize("command", [REPLAY, RESUME, EXPORT, WATCH], ids=_name)
def test_a_killed_runs_damaged_save_keeps_its_wal(base_save, tmp_path, capsys, command):
    """A run killed with its last rounds only in the -wal file: the damage is
    found there, and neither the save nor its -wal changes (the -shm is
    SQLite's index of the -wal, rebuilt by whoever opens it next)."""
    p = tampered(base_save, tmp_path)
    kill = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0');"
            "c.execute(\"UPDATE actions SET action = '[1]' WHERE round = 2\"); c.commit(); os._exit(0)")
    subprocess.run([sys.executable, "-c", kill, str(p)], check=True, timeout=60)
    assert sorted(os.listdir(tmp_path)) == ["save.db", "save.db-shm", "save.db-wal"]
    before = {k: v for k, v in state(tmp_path).items() if not k.endswith("-shm")}
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in command])
    assert "round 2, Badger's recorded action: not a JSON object ('[1]')" in line, line
    assert {k: v for k, v in state(tmp_path).items() if not k.endswith("-shm")} == before
    assert sorted(os.listdir(tmp_path)) == ["save.db", "save.db-shm", "save.db-wal"]


@pytest.mark.parametrize("out,words", [
    ("/proc/nope", "cannot make the --out directory /proc/nope"),
    ("/proc/nope/deeper", "cannot make the --out directory /proc/nope/deeper"),
    ("/proc", "cannot write the export into --out /proc"),
    ("{d}/save.db", "is a file, not a directory"),
    ("", "--out: expected a directory path, got an empty string"),
    ("{d}/taken", "tips.jsonl is a directory, not a file"),
    ("{d}/piped", "calls.jsonl is a named pipe (FIFO), not a plain file"),
])
def test_an_unwritable_export_folder_is_one_line(base_save, tmp_path, capsys, out, words):
    p = tampered(base_save, tmp_path)
    (tmp_path / "taken" / "tips.jsonl").mkdir(parents=True)
    (tmp_path / "piped").mkdir()
    os.mkfifo(tmp_path / "piped" / "calls.jsonl")  # renamed over, it would be gone: a device the same
    before = state(tmp_path)
    line = wood_in_process(capsys, ["export", str(p), "--out", out.format(d=tmp_path)])
    assert words in line, line
    assert state(tmp_path) == before


@pytest.mark.parametrize("how", ["a link in --out", "a save named like an audit file"])
def test_an_export_is_never_written_over_the_save_it_reads(base_save, tmp_path, capsys, how):
    if how == "a link in --out":
        save = tmp_path / "run.db"
        shutil.copyfile(base_save, save)
        (tmp_path / "o").mkdir()
        (tmp_path / "o" / "tips.jsonl").symlink_to(save)
        out = tmp_path / "o"
    else:
        save = tmp_path / "calls.jsonl"
        shutil.copyfile(base_save, save)
        out = tmp_path
    before = save.read_bytes()
    line = wood_in_process(capsys, ["export", str(save), "--out", str(out)])
    assert "would be written over the save it reads" in line, line
    assert save.read_bytes() == before


@pytest.mark.parametrize("how", ["its journal's name", "a link"])
def test_a_fine_tuning_set_is_never_written_over_a_save_it_reads(base_save, tmp_path, capsys, how):
    """--sft (or --holdout) naming a save read, through a link, or one of its
    companion files (its -wal: SQLite would read it as the save's journal):
    one line, and nothing written."""
    save = tmp_path / "run.db"
    shutil.copyfile(base_save, save)
    target = tmp_path / "set.jsonl"
    if how == "a link":
        target.symlink_to(save)
    else:
        target = tmp_path / "run.db-wal"
    before = state(tmp_path)
    line = wood_in_process(capsys, ["export", str(save), "--sft", str(target)])
    assert f"would be written over {save}, a save read" in line, line
    assert state(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a 0o500 folder anyway")
def test_a_read_only_export_folder_is_one_line(base_save, tmp_path, capsys):
    p = tampered(base_save, tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        before = state(tmp_path)
        line = wood_in_process(capsys, ["export", str(p), "--out", str(locked)])
        assert "cannot write the export" in line
        assert state(tmp_path) == before
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize("make,words", [
    (lambda p: p.mkdir(), "is a directory, not a save file"),
    (lambda p: p.write_bytes(b""), "not an SQLite file"),
    (lambda p: p.write_text("SQLite format 3"), "not an SQLite file"),
    (lambda p: None, "no save file at"),
])
@pytest.mark.parametrize("command", [REPLAY, RESUME, EXPORT, WATCH], ids=_name)
def test_a_save_path_that_is_not_a_save_is_one_line(tmp_path, capsys, make, words, command):
    p = tmp_path / "save.db"
    make(p)
    before = state(tmp_path)
    line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in command])
    assert words in line, line
    assert state(tmp_path) == before


def test_a_device_is_not_a_save(capsys):
    line = wood_in_process(capsys, ["replay", "/dev/null", "--verify"])
    assert "not a save file (not a regular file)" in line


def test_a_foreign_sqlite_file_is_not_a_save(tmp_path, capsys):
    p = tmp_path / "other.db"
    con = sqlite3.connect(p)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE notes (text)")
    con.commit()
    con.close()
    before = state(tmp_path)
    for command in ALL:
        line = wood_in_process(capsys, [a.format(p=p, d=tmp_path) for a in command])
        assert "is not a Thousand Token Wood save" in line
        assert state(tmp_path) == before


# ---- rosters: refused at load time, before a round is played or a save made

GOOD_MODEL = '[models.m]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'


def creature(name='"Owl"', species='"owl"', extra=""):
    return f"[[creatures]]\nname = {name}\nspecies = {species}\nmodel = \"m\"\n{extra}"


ROSTERS = [
    ("no-creatures", "creatures = []\n" + GOOD_MODEL, "a market needs at least 2 creatures; the roster has 0"),
    ("one-creature", GOOD_MODEL + creature(), "a market needs at least 2 creatures; the roster has 1"),
    ("creatures-missing", GOOD_MODEL, "creatures: Field required"),
    ("whitespace-name", GOOD_MODEL + creature('"   "') + creature('"Fox"', '"fox"'), "is not a plain name"),
    ("leading-space", GOOD_MODEL + creature('" Owl"') + creature('"Fox"', '"fox"'), "is not a plain name"),
    ("trailing-tab", GOOD_MODEL + creature('"Owl\\t"') + creature('"Fox"', '"fox"'), "is not a plain name"),
    ("control-char", GOOD_MODEL + creature('"Ow\\u0007l"') + creature('"Fox"', '"fox"'), "is not a plain name"),
    ("escape-sequence", GOOD_MODEL + creature('"\\u001b[31mOwl"') + creature('"Fox"', '"fox"'),
     "is not a plain name"),
    ("zero-width", GOOD_MODEL + creature('"O\\u200bwl"') + creature('"Fox"', '"fox"'), "is not a plain name"),
    ("bidi-override", GOOD_MODEL + creature('"\\u202eOwl"') + creature('"Fox"', '"fox"'), "is not a plain name"),
    # the line prints the name with its spaces run together, so the rule it breaks must be said in words
    ("double-space", GOOD_MODEL + creature('"Fox  Two"', '"fox"') + creature(), "or runs of spaces"),
    ("empty-name", GOOD_MODEL + creature('""') + creature('"Fox"', '"fox"'), "at least 1 character"),
    ("name-too-long", GOOD_MODEL + creature('"' + "O" * 41 + '"') + creature('"Fox"', '"fox"'),
     "at most 40 characters"),
    ("model-key-escape", GOOD_MODEL.replace("[models.m]", '[models."m\\u001b[31m\\nstate hash: 0"]')
     + creature().replace('model = "m"', 'model = "m\\u001b[31m\\nstate hash: 0"') + creature('"Fox"', '"fox"', "")
     .replace('model = "m"', 'model = "scripted"'), "[models] key"),  # printed in every summary line
    ("served-name-newline", GOOD_MODEL.replace('model = "m"', 'model = "m\\nwood: all good"') + creature()
     + creature('"Fox"', '"fox"'), "is not a plain name"),
    ("crowd-over-the-cap", GOOD_MODEL + '[crowd]\ncount = 10001\nmodel = "m"\n',
     "less than or equal to 10000"),  # --creatures' bound too: one wood size, however the roster is filled
    ("twin-names", GOOD_MODEL + creature() + creature(), "creature names must be unique"),
    ("twins-but-for-case", GOOD_MODEL + creature() + creature('"owl"', '"fox"'), "must be unique, ignoring case"),
    # two names that print alike: had been two creatures no reader (nor a model's reply) could tell apart
    ("twins-but-for-unicode", GOOD_MODEL + creature('"\u00e9cole"') + creature('"e\u0301cole"', '"fox"'),
     "'\\xe9cole' and 'e\\u0301cole' are one name"),
    ("url-credentials", GOOD_MODEL.replace("127.0.0.1", "u:secret@127.0.0.1") + creature() + creature('"Fox"', '"fox"'),
     "put credentials in api_key"),
    ("url-credentials-bad-port", GOOD_MODEL.replace("127.0.0.1:9", "u:secret@127.0.0.1:0") + creature()
     + creature('"Fox"', '"fox"'), "put credentials in api_key"),  # said first: no message repeats the password
    ("url-query", GOOD_MODEL.replace("/v1", "/v1?x=1") + creature() + creature('"Fox"', '"fox"'),
     "has no query or fragment"),
    ("url-control", GOOD_MODEL.replace("/v1", "/v1\\r\\nX-Injected: 1") + creature() + creature('"Fox"', '"fox"'),
     "spaces or control characters"),
    # one host rule for every server URL (engine.brains.config.check_host): these had loaded, to fail at the
    # first round's connect (or, with a host the client cannot spell, later still)
    ("url-host-percent", GOOD_MODEL.replace("127.0.0.1", "gpu%20a") + creature() + creature('"Fox"', '"fox"'),
     "models.m: 'http://gpu%20a:9/v1': the host 'gpu%20a' is not a host name or an IP address"),
    ("url-host-backslash", GOOD_MODEL.replace("127.0.0.1", "gpu\\\\a") + creature() + creature('"Fox"', '"fox"'),
     "is not a host name or an IP address"),
    ("url-host-not-idna", GOOD_MODEL.replace("127.0.0.1", "gpu☃") + creature() + creature('"Fox"', '"fox"'),
     "the host 'gpu☃' is not a host name or an IP address (not a name IDNA can spell)"),
    ("url-host-empty-label", GOOD_MODEL.replace("127.0.0.1", "gpu..a") + creature() + creature('"Fox"', '"fox"'),
     "the host 'gpu..a' is not a host name"),
    ("url-brackets-not-ipv6", GOOD_MODEL.replace("127.0.0.1", "[v1.gpu]") + creature() + creature('"Fox"', '"fox"'),
     "the host 'v1.gpu' is not an IPv6 address (only those go in brackets)"),
    # four numbers are read as an IPv4 address by the client, not as a name: one that is none had loaded and
    # ended the first round's connect in a traceback (ipaddress.AddressValueError)
    ("url-host-not-an-ipv4", GOOD_MODEL.replace("127.0.0.1", "1.2.3.999") + creature() + creature('"Fox"', '"fox"'),
     "the host '1.2.3.999' is not an IP address (Octet 999 (> 255) not permitted"),
    ("url-port-out-of-range", GOOD_MODEL.replace(":9/", ":65536/") + creature() + creature('"Fox"', '"fox"'),
     "models.m: 'http://127.0.0.1:65536/v1': the port is not a whole number from 1 to 65535"),
    ("key-not-ascii", GOOD_MODEL + 'api_key = "ключ"\n' + creature() + creature('"Fox"', '"fox"'),
     "api_key must be printable ASCII"),
    ("replicas-twice-but-for-case", GOOD_MODEL.replace('base_url = "http://127.0.0.1:9/v1"',
                                                       'base_urls = ["http://127.0.0.1:9/v1", "HTTP://127.0.0.1:9/v1/"]')
     + creature() + creature('"Fox"', '"fox"'), "base_urls lists a server twice"),
    ("key-env-not-a-name", GOOD_MODEL + 'api_key_env = "MY KEY"\n' + creature() + creature('"Fox"', '"fox"'),
     "api_key_env must name an environment variable"),
    # file paths in a roster: no system call takes a NUL byte (`wood serve --dry-run` had ended in ValueError)
    ("vllm-config-nul", GOOD_MODEL + 'vllm_config = "a\\u0000b.yaml"\n' + creature() + creature('"Fox"', '"fox"'),
     "models.m: vllm_config is a file path: it cannot contain a NUL byte"),
    ("tokenizer-nul", GOOD_MODEL + 'tokenizer = "a\\u0000b.gguf"\n' + creature() + creature('"Fox"', '"fox"'),
     "models.m: tokenizer is a file path: it cannot contain a NUL byte"),
    ("key-header-injection", GOOD_MODEL + 'api_key = "abc\\r\\nX-Injected: 1"\n' + creature() + creature('"Fox"', '"fox"'),
     "api_key must be printable ASCII"),
    # no server to reach: refused only as a game started ("model 'm' has no base_url"), so a sweep played every run
    ("model-without-server", GOOD_MODEL.replace('base_url = "http://127.0.0.1:9/v1"\n', "") + creature()
     + creature('"Fox"', '"fox"'), "[models.m] has no server: give its base_url (or base_urls), or set embedded = true"),
    ("replicas-none", GOOD_MODEL.replace('base_url = "http://127.0.0.1:9/v1"', "base_urls = []") + creature()
     + creature('"Fox"', '"fox"'), "[models.m] has no server"),
    ("unknown-species", GOOD_MODEL + creature() + creature('"Rex"', '"dragon"'), "unknown species 'dragon'"),
    ("unknown-temperament", GOOD_MODEL + creature() + creature('"Fox"', '"fox"', 'temperament = "grumpy"\n'),
     "unknown temperament 'grumpy'"),
    ("unknown-model", GOOD_MODEL + creature() + creature('"Fox"', '"fox"').replace('"m"', '"gpt9"'),
     "uses unknown model 'gpt9'"),
    ("extra-key", GOOD_MODEL + creature(extra='colour = "red"\n') + creature('"Fox"', '"fox"'),
     "Extra inputs are not permitted"),
    ("not-toml", "creatures = [[[", "cannot read roster"),
    ("name-not-text", GOOD_MODEL + creature("7") + creature('"Fox"', '"fox"'), "Input should be a valid string"),
    # strict types: read loosely, `true` had been a timeout of 1 s and "no" a say line turned off
    ("timeout-a-bool", GOOD_MODEL + "timeout_s = true\n" + creature() + creature('"Fox"', '"fox"'),
     "Input should be a valid number"),
    ("say-a-word", GOOD_MODEL + 'say = "no"\n' + creature() + creature('"Fox"', '"fox"'),
     "Input should be a valid boolean"),
    ("timeout-text", GOOD_MODEL + 'timeout_s = "60"\n' + creature() + creature('"Fox"', '"fox"'),
     "Input should be a valid number"),
    ("timeout-inf", GOOD_MODEL + "timeout_s = inf\n" + creature() + creature('"Fox"', '"fox"'),
     "Input should be a finite number"),
    # a number TOML reads but no wait means: a game had said it waited "up to 2e+300 s" for a reply
    ("timeout-past-a-day", GOOD_MODEL + "timeout_s = 1e300\n" + creature() + creature('"Fox"', '"fox"'),
     "timeout_s: Input should be less than or equal to 86400"),
    ("connect-timeout-past-an-hour", GOOD_MODEL + "connect_timeout_s = 1e6\n" + creature() + creature('"Fox"', '"fox"'),
     "connect_timeout_s: Input should be less than or equal to 3600"),
    ("crowd-count-text", GOOD_MODEL + creature() + '[crowd]\ncount = "50"\nmodel = "m"\n',
     "Input should be a valid integer"),
]


@pytest.mark.parametrize("text,words", [pytest.param(t, w, id=i) for i, t, w in ROSTERS])
def test_a_bad_roster_is_one_line_at_load_time(tmp_path, capsys, text, words):
    r = tmp_path / "roster.toml"
    r.write_text(text, encoding="utf-8")
    before = state(tmp_path)
    line = wood_in_process(capsys, ["sim", "--roster", str(r), "--rounds", "2", "--save", str(tmp_path / "run.db")])
    assert words in line and str(r) in line, line
    assert "secret" not in line
    assert state(tmp_path) == before  # no run.db: nothing was played


@pytest.mark.parametrize("make,words", [
    (lambda p: p.write_bytes(b"\xff\xfe[[creatures]]\n"), "cannot read roster"),
    (lambda p: p.mkdir(), "cannot read roster {r}: it is a directory, not a roster file"),
    (lambda p: None, "roster file not found"),
])
def test_a_roster_that_is_not_a_text_file_is_one_line(tmp_path, capsys, make, words):
    """A folder had been 'cannot read roster R: [Errno 21] Is a directory: 'R'',
    Python's own text, naming the path twice."""
    r = tmp_path / "roster.toml"
    make(r)
    before = state(tmp_path)
    line = wood_in_process(capsys, ["sim", "--roster", str(r), "--rounds", "2", "--save", str(tmp_path / "run.db")])
    assert words.format(r=r) in line and "Errno" not in line and line.count(str(r)) == 1, line
    assert state(tmp_path) == before


def test_the_shipped_rosters_still_load():
    from engine.world import load_world
    from serve.roster import load_roster

    for f in sorted((ROOT / "serve" / "rosters").glob("*.toml")):
        assert len(load_roster(f).entries(load_world())) >= 2


@pytest.mark.parametrize("make,words", [
    (lambda d: d / "missing.gguf", "No such file or directory"),
    (lambda d: d, "Is a directory"),
    (lambda d: (d / "notes.txt").write_text("not a model") and d / "notes.txt", "is not a GGUF file"),
])
def test_a_roster_tokenizer_that_is_no_gguf_is_one_line_before_a_round(tmp_path, capsys, make, words):
    """`tokenizer` is read only when a server reports no token counts: unchecked,
    every call such a server answered became an `internal` fault of the model
    ("every call failed", "0 requests") and five rounds later the run stopped."""
    path = make(tmp_path)
    r = tmp_path / "roster.toml"
    r.write_text(GOOD_MODEL + f'tokenizer = "{path}"\n' + creature() + creature('"Fox"', '"fox"'), encoding="utf-8")
    before = state(tmp_path)
    line = wood_in_process(capsys, ["sim", "--roster", str(r), "--rounds", "2", "--save", str(tmp_path / "run.db")])
    assert f"model m: tokenizer {path}" in line and words in line, line
    assert state(tmp_path) == before  # no run.db: nothing was played
    # wood play and wood watch say it before the screen takes over the terminal
    from engine.errors import WoodError
    from engine.world import load_world
    from wood_tui.game import check_before_the_screen
    from wood_tui.options import RunOptions

    with pytest.raises(WoodError, match="tokenizer"):
        check_before_the_screen(RunOptions.parse("watch", ["--roster", str(r)]), load_world())


# ---- the same lines from real processes

@pytest.mark.parametrize("command", [REPLAY, RESUME, EXPORT], ids=_name)
def test_a_real_process_prints_the_one_line(base_save, tmp_path, command):
    p = tampered(base_save, tmp_path, action(2, '{"action":"offer","qty":-5,"side":"buy","good":"honey","price":3}'))
    before = state(tmp_path)
    line = wood_subprocess(*[a.format(p=p, d=tmp_path) for a in command])
    assert "round 2, Fox's recorded action: not a valid action" in line
    assert state(tmp_path) == before


def test_a_good_save_still_replays_resumes_and_exports(base_save, tmp_path, capsys):
    """The checks refuse only what is damaged; and a read-only command leaves
    no -wal/-shm file behind."""
    p = tampered(base_save, tmp_path)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    assert main(["replay", str(p), "--verify"]) == 0
    assert main(["export", str(p), "--out", str(tmp_path / "out")]) == 0
    assert sorted(os.listdir(tmp_path)) == ["out", "save.db"]
    assert sorted(os.listdir(tmp_path / "out")) == ["calls.jsonl", "tips.jsonl", "whispers.jsonl"]
    assert hashlib.sha256(p.read_bytes()).hexdigest() == digest
    assert main(["sim", "--resume", str(p), "--rounds", "5", "--quiet"]) == 0
    assert sorted(os.listdir(tmp_path)) == ["out", "save.db"]


# ---- flag-level: lead's options.py

@pytest.mark.parametrize("args,words", [
    (["sim", "--rounds", "2", "--save", ""], "--save"),
    (["sim", "--rounds", "2", "--save", "/proc/nope.db"], "/proc/nope.db"),
    (["sim", "--rounds", "2", "--creatures", "99999999999999999999"], "--creatures"),
    (["sim", "--rounds", "2", "--creatures", "1"], "--creatures"),
])
def test_bad_flags_are_one_line(tmp_path, capsys, args, words):  # flag-level: lead's options.py
    before = state(tmp_path)
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        line = wood_in_process(capsys, args)
    finally:
        os.chdir(old)
    assert words in line, line
    assert state(tmp_path) == before


@pytest.mark.parametrize("name", ["   ", " Owl", "Owl ", "Ow\x07l", "O\u200bwl"])
def test_a_bad_seat_name_is_one_line(tmp_path, name):  # flag-level: lead's options.py
    line = wood_subprocess("play", "--as", name, "--brains", "scripted")
    assert "--as" in line, line


LONG = "x" * 300  # past any filesystem's 255 a name


@pytest.mark.parametrize("argv,words", [
    (["sim", "--rounds", "2", "--save", "{d}/" + LONG + ".db"], "File name too long"),
    (["sim", "--rounds", "2", "--resume", "{d}/" + LONG + ".db"], "File name too long"),
    (["sim", "--rounds", "2", "--roster", "{d}/" + LONG + ".toml"], "File name too long"),
    (["replay", "{d}/" + LONG + ".db", "--verify"], "File name too long"),
    (["report", "{d}/" + LONG + ".db"], "File name too long"),
    (["export", "{base}", "--out", "{d}/" + LONG], "File name too long"),
    (["export", "{base}", "--sft", "{d}/" + LONG + ".jsonl"], "File name too long"),
    (["export", "{base}", "--out", "{d}/loop"], "--out {d}/loop is a symbolic link loop (links that lead round in a "
     "circle), not a directory"),
    (["export", "{base}", "--sft", "{d}/loop"], "--sft {d}/loop is a symbolic link loop (links that lead round in a "
     "circle), not a plain file; the export writes plain files"),
])
def test_a_path_the_system_refuses_is_one_line_wherever_it_is_given(base_save, tmp_path, capsys, argv, words):
    (tmp_path / "loop").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop")
    before = state(tmp_path)
    line = wood_in_process(capsys, [a.format(d=tmp_path, base=base_save) for a in argv])
    assert words.format(d=tmp_path) in line, line
    assert state(tmp_path) == before


@pytest.mark.parametrize("argv", [
    ["export", "", "--sft", "{d}/sft.jsonl"],  # `Path("")` is ".": it had read every save under the folder
    ["export", "{base}", " ", "--sft", "{d}/sft.jsonl"],
    ["export", "", "--out", "{d}/audit"],
    ["replay", " ", "--verify"],
    ["report", ""],
    ["serve", "--roster", "", "--dry-run"],
])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(base_save, tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(base_save.parent)  # a folder holding a save
    before = state(tmp_path)
    line = wood_in_process(capsys, [a.format(d=tmp_path, base=base_save) for a in argv])
    assert "expected a file path, got an empty string" in line, line
    assert state(tmp_path) == before


@pytest.mark.parametrize("argv,flag", [
    (["sim", "--rounds", "2", "--save", "{d}/runs/"], "--save"),
    (["export", "{base}", "--sft", "{d}/sft/"], "--sft"),
    (["export", "{base}", "--sft", "{d}/sft.jsonl", "--holdout-seeds", "1", "--holdout", "{d}/held/"], "--holdout"),
])
def test_a_file_to_make_named_with_a_trailing_slash_is_refused(base_save, tmp_path, capsys, argv, flag):
    """A name ending in / names a folder: `wood sim --save runs/` had made a
    file called runs, and `--sft sft/` one called sft."""
    before = state(tmp_path)
    line = wood_in_process(capsys, [a.format(d=tmp_path, base=base_save) for a in argv])
    assert f"argument {flag}: expected a file path" in line and "a name ending in / is a folder's" in line, line
    assert state(tmp_path) == before


def test_an_export_clears_what_a_killed_export_left_beside_its_files(base_save, tmp_path, capsys):
    """kill -9 (or SIGTERM) mid-export leaves its hidden `.calls.jsonl.PID.HEX.part`
    (megabytes, never renamed); the next export there removes it, where
    that process is gone, and leaves one a live export is writing."""
    from wood_tui.commands.export import FILES

    out = tmp_path / "audit"
    out.mkdir()
    dead = out / ".calls.jsonl.999999999.0badcafe.part"  # a pid no process has
    dead.write_text("half an export\n")
    live = out / f".tips.jsonl.{os.getppid()}.0badcafe.part"  # a live process (our parent) writing one
    live.write_text("")
    sft_dead = tmp_path / ".set.jsonl.999999999.12345678.part"
    sft_dead.write_text("")
    assert main(["export", str(base_save), "--out", str(out)]) == 0
    line = wood_in_process(capsys, ["export", str(base_save), "--sft", str(tmp_path / "set.jsonl")])
    assert "no model decision in the runs read fits the fine-tuning set" in line, line  # a scripted run: refused
    assert sorted(p.name for p in out.iterdir()) == sorted([*FILES, live.name])
    assert not sft_dead.exists()


# ---- an export stopped part way (Ctrl-C, SIGTERM, SIGHUP): one line, and nothing half written

BIG_CALLS = 300_000  # model calls in `big_save`: an export of it takes seconds, long enough to be stopped part way


@pytest.fixture(scope="module")
def big_save(base_save, tmp_path_factory) -> Path:
    """A save with many model calls (real rows, every one a clean decision), built once: round and
    creature are the calls table's key, so each call is by a creature of its own."""
    p = tmp_path_factory.mktemp("big") / "big.db"
    shutil.copyfile(base_save, p)
    messages = json.dumps([{"role": "system", "content": "You are a creature of the wood. " * 4},
                           {"role": "user", "content": "Choose one action. " * 8}])
    row = (messages, '{"action": "pass"}', '{"action": "pass"}', "clean", "", "[]", 12.5, 300, 9, "stop")
    con = sqlite3.connect(p)
    con.executemany("INSERT INTO calls VALUES (?, ?, 'smol', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ((1 + i % 5, f"Creature {i}", *row) for i in range(BIG_CALLS)))  # rows are not checked
    # against the roster: an export copies what was recorded
    con.commit()
    con.close()
    assert sorted(os.listdir(p.parent)) == ["big.db"]
    return p


def _stopped_export(save: Path, sig: int, argv: list[str], part_in: Path) -> subprocess.CompletedProcess:
    """`wood export SAVE ARGV...` in its own process, sent `sig` once its first
    output's hidden .part file in `part_in` has data in it (mid-copy)."""
    import time

    proc = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "export", str(save), *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if any(p.name.endswith(".part") and p.stat().st_size > 0 for p in part_in.glob(".*")):
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the export ended before it was stopped: make big_save bigger"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode == 128 + sig, err
    assert sorted(os.listdir(save.parent)) == [save.name]  # its reader closed: no -wal, no -shm beside it
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _said(sig: int) -> str:
    import signal

    return "wood: interrupted" + ("" if sig == signal.SIGINT else f" ({signal.Signals(sig).name})")


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM", "SIGHUP"])
@pytest.mark.parametrize("earlier", [False, True], ids=["new-folder", "over-an-earlier-export"])
def test_an_export_stopped_mid_copy_is_one_line_and_leaves_nothing_half_written(big_save, tmp_path, sig, earlier):
    """Ctrl-C, a `kill` or a closed terminal while calls.jsonl is being
    copied: one line saying nothing was written and the folder is as it was,
    exit 128 + the signal; no hidden .part file is left, the folder the
    export made goes, and an earlier export there keeps its bytes. It had
    said only `wood: interrupted`, leaving the user to wonder what of the
    export stood."""
    import signal

    sig = getattr(signal, sig)
    out = tmp_path / "audit" / "deeper"
    if earlier:
        out.mkdir(parents=True)
        for name in ("calls.jsonl", "tips.jsonl", "whispers.jsonl"):
            (out / name).write_text(f"an earlier export's {name}\n")
    before = state(tmp_path)
    r = _stopped_export(big_save, sig, ["--out", str(out)], out)
    assert r.stdout == ""
    assert r.stderr == f"{_said(sig)}: nothing written, --out {out} left as it was\n"
    assert state(tmp_path) == before


def test_a_fine_tuning_set_stopped_mid_copy_is_one_line_and_leaves_the_last_set(big_save, tmp_path):
    """The same for --sft and its held-out file: both stay as they were."""
    import signal

    train, held = tmp_path / "sft.jsonl", tmp_path / "sft.heldout.jsonl"
    train.write_text("the last set\n")
    before = state(tmp_path)
    r = _stopped_export(big_save, signal.SIGTERM, ["--sft", str(train)], tmp_path)
    assert r.stdout == ""
    assert r.stderr == f"{_said(signal.SIGTERM)}: nothing written, {train} left as it was\n"
    assert state(tmp_path) == before
    assert not held.exists()


def test_a_stop_after_the_audit_trail_says_it_was_written_whole(big_save, tmp_path):
    """--out and --sft together, stopped while the fine-tuning set is copied:
    the audit trail, renamed into place whole, is said to be there; the set is not."""
    import signal

    out, train = tmp_path / "audit", tmp_path / "sets" / "sft.jsonl"
    train.parent.mkdir()
    r = _stopped_export(big_save, signal.SIGTERM, ["--out", str(out), "--sft", str(train)], train.parent)
    assert r.stderr == (f"{_said(signal.SIGTERM)}: the audit trail was written whole into {out}; nothing more "
                        f"written, {train} left as it was\n")
    assert r.stdout.startswith(f"wrote {BIG_CALLS} calls to {out / 'calls.jsonl'}")
    assert sorted(p.name for p in out.iterdir()) == ["calls.jsonl", "tips.jsonl", "whispers.jsonl"]
    assert sum(1 for _ in (out / "calls.jsonl").open()) == BIG_CALLS
    assert list(train.parent.iterdir()) == []


@pytest.mark.parametrize("damage", ["truncate", "page"])
@pytest.mark.parametrize("flag", ["--out", "--sft"])
def test_a_save_damaged_among_its_model_calls_is_one_line_and_nothing_written(big_save, tmp_path, capsys, damage,
                                                                             flag):
    """A long save cut short (a copy that stopped) or with a page of its model
    calls overwritten: one LedgerError line naming it, before a file is made."""
    p = tmp_path / "damaged.db"
    shutil.copyfile(big_save, p)
    size = p.stat().st_size
    with p.open("r+b") as fh:
        if damage == "truncate":
            fh.truncate(size // 2)
        else:
            fh.seek((size // 4096 // 2) * 4096)
            fh.write(bytes(range(256)) * 16)
    before = state(tmp_path)
    line = wood_in_process(capsys, ["export", str(p), flag, str(tmp_path / ("audit" if flag == "--out" else "s.jsonl"))])
    if damage == "truncate":  # said as what it is (the header counts more pages than the file holds)
        assert line.startswith(f"wood: error: {p} is cut short: its SQLite header says "), line
        assert line.endswith(f"the file holds {size // 2:,} (a copy or a download that did not finish?)"), line
    else:
        assert line == f"wood: error: {p} is not a readable Thousand Token Wood save (database disk image is malformed)"
    assert state(tmp_path) == before
