"""`wood sweep`: the same seeds under several rosters, each run saved,
resumed after a kill (even SIGKILL) to the same table, compared with 95%
intervals; the pure parts (seeds, intervals, the table) on hand-made
numbers; and rosters that mix scripted traders with models."""
from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.sanitise import json_path, shown_path
from engine.sweep import compare, interval, parse_seeds, run_metrics, table_lines
from tests.saves import full_disk, line_within, rounds_saved, wood_held_at_chart_file, without_root_powers

ROOT = Path(__file__).resolve().parent.parent
CREATURES = (("Owl", "owl", "cautious"), ("Fox", "fox", "speculator"), ("Badger", "badger", "hoarder"),
             ("Hare", "hare", "generous"), ("Squirrel", "squirrel", "merchant"))


def wood(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "wood_tui.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def roster(path: Path, temperaments: dict[str, str] | None = None, models: str = "") -> Path:
    """A roster file of the five creatures, every one scripted (a temperament changed where asked)."""
    t = temperaments or {}
    path.write_text(models + "".join(
        f'\n[[creatures]]\nname = "{n}"\nspecies = "{s}"\ntemperament = "{t.get(n, temp)}"\nmodel = "scripted"\n'
        for n, s, temp in CREATURES))
    return path


@pytest.fixture
def rosters(tmp_path):
    return (roster(tmp_path / "calm.toml"),
            roster(tmp_path / "greedy.toml", {"Owl": "speculator", "Hare": "hoarder"}))


# ---- the pure parts ---------------------------------------------------------------
@pytest.mark.parametrize("text,seeds", [("1-3", [1, 2, 3]), ("7", [7]), ("1-3,9", [1, 2, 3, 9]), ("3,1", [1, 3]),
                                        (" 2 - 4 ", [2, 3, 4]), ("-2--1", [-2, -1])])
def test_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "5-1", "1-", "1,,2", "0-99999"])
def test_bad_seeds(text):
    with pytest.raises(ValueError):
        parse_seeds(text)


@pytest.mark.parametrize("text,seed", [("1,1", 1), ("3,1,3", 3), ("1-3,2", 2), ("1-5,4-9", 4), ("0,-1-0", 0)])
def test_a_seed_named_twice_is_refused_naming_it(text, seed):
    """`--seeds 1,1` had dropped the second 1 without a word (a sweep of one
    seed where two were typed), as an option given twice had been."""
    with pytest.raises(ValueError, match=rf"^seed {seed} is given more than once \(in '{text}'\)"):
        parse_seeds(text)


def test_the_interval_is_students_t():
    iv = interval([1, 2, 3])  # mean 2, sd 1, t(2) = 4.303
    assert (iv.n, iv.mean) == (3, 2)
    assert iv.lo == pytest.approx(2 - 4.303 / math.sqrt(3), abs=1e-6)
    assert iv.hi == pytest.approx(2 + 4.303 / math.sqrt(3), abs=1e-6)
    assert interval([5]).to_dict() == {"n": 1, "mean": 5, "lo": None, "hi": None}  # one run: no interval
    assert interval([None, None]) is None and interval([4, None, 4]).to_dict() == {"n": 2, "mean": 4, "lo": 4, "hi": 4}
    big = interval(list(range(100)))  # past 30 degrees of freedom: the normal's 1.96
    assert big.hi - big.mean == pytest.approx(1.96 * 29.011492 / 10, abs=1e-4)
    share = interval([0.45, 0.75, 1.0], within=(0.0, 1.0))  # t alone would run from about 0.05 to 1.42
    assert share.hi == 1.0 and share.lo == pytest.approx(0.733333 - 4.303 * 0.275379 / math.sqrt(3), abs=1e-4)


def test_a_table_never_shows_a_share_past_one_or_a_count_below_zero():
    runs = {"a": [{"needs_met": 0.45, "trades": 0}, {"needs_met": 1.0, "trades": 0}, {"needs_met": 0.75, "trades": 90}]}
    rows = {r["metric"]: r["by_roster"]["a"] for r in compare(runs)}
    assert rows["needs_met"]["hi"] <= 1.0 and rows["trades"]["lo"] >= 0.0


def test_the_table_compares_metric_by_metric():
    def run(needs, hoard, model="scripted:hoarder"):
        return run_metrics({"needs_met": needs, "mood_mean_by_round": [50], "trades_by_good": {"honey": 2},
                            "models": {model: {"decisions": 100, "valid_share": 1.0, "stock_rounds": hoard,
                                               "self_trade_attempts": 2, "tips": {"trades_on_tips": 3},
                                               "loans": {"taken": 1}, "calls": None}}})

    table = compare({"a": [run(0.8, 4), run(0.9, 6)], "b": [run(0.7, 2, "smol")]})
    rows = {r["metric"]: r for r in table}
    assert list(rows)[:2] == ["needs_met", "mood_mean_final"]  # the economy's first, then each model's
    assert rows["needs_met"]["by_roster"]["a"]["mean"] == pytest.approx(0.85)
    assert rows["needs_met"]["by_roster"]["b"] == {"n": 1, "mean": 0.7, "lo": None, "hi": None}
    hoard = rows["stock_rounds[scripted:hoarder]"]
    assert hoard["label"] == "goods held, in rounds of needs (hoarding) · scripted:hoarder"
    assert set(hoard["by_roster"]) == {"a"} and hoard["by_roster"]["a"]["mean"] == 5
    assert rows["self_trade_per_100[smol]"]["by_roster"]["b"]["mean"] == 2
    assert "latency_p50_ms[smol]" not in rows  # no calls: not measured, not a row
    lines = table_lines(table, ["a", "b"], seeds=2)
    assert lines[0].split() == ["metric", "a", "b"]
    hoard_line = next(x for x in lines if x.startswith("goods held") and "scripted:hoarder" in x)
    assert "5.00 [" in hoard_line and hoard_line.rstrip().endswith("-")
    assert any("0.70 [no interval: 1 run] n=1" in x for x in lines)  # one run has no spread to show


WIDE_ROSTERS = ["栗鼠の森", "calm", "🦊🦊"]  # roster files' names, in letters two terminal cells wide and one


def _wide_table() -> list[dict]:
    """A sweep's table of WIDE_ROSTERS, one of whose models is named in wide letters."""
    def run(needs, model):
        return run_metrics({"needs_met": needs, "mood_mean_by_round": [50], "trades_by_good": {"honey": 2},
                            "models": {model: {"decisions": 100, "valid_share": 1.0, "stock_rounds": 4,
                                               "self_trade_attempts": 2, "tips": {"trades_on_tips": 3},
                                               "loans": {"taken": 1}, "calls": None}}})

    return compare({"栗鼠の森": [run(0.8, "栗鼠モデル"), run(0.9, "栗鼠モデル")], "calm": [run(0.7, "smol")],
                    "🦊🦊": [run(0.6, "smol"), run(0.5, "smol")]})


def test_the_table_lines_up_with_rosters_and_models_named_in_wide_letters():
    """A roster file named 栗鼠の森.toml and a model named in wide letters (two
    terminal cells each): the table padded its columns by characters, so the
    header's roster names and every row's cells after a wide one stood out of
    line; each column now starts at the same cell on every line."""
    from rich.cells import cell_len

    lines = table_lines(_wide_table(), WIDE_ROSTERS, seeds=2)
    assert lines[0].split() == ["metric", *WIDE_ROSTERS] and any("栗鼠モデル" in x for x in lines)
    starts = [[cell_len(x[:m.start()]) for m in re.finditer(r"\S+(?: \S+)*", x)] for x in lines]
    assert all(s == starts[0] for s in starts), lines  # metric, then each roster's column


def test_the_bars_line_up_with_rosters_named_in_wide_letters():
    """`wood sweep --plot` (and `wood report --plot`'s bars per model): the
    labels were padded by characters, so the bars after a wide roster name
    started further right and the line ran past the width; each chart's bars
    now start at one cell and no line is wider than the chart."""
    from rich.cells import cell_len

    from wood_tui.plots import sweep_charts

    chart = sweep_charts(_wide_table(), WIDE_ROSTERS, width=80, colour=False)
    rows = [x for x in chart.splitlines() if "█" in x]
    assert any("栗鼠の森" in x for x in rows) and any("🦊🦊" in x for x in rows), chart
    assert max(cell_len(x) for x in chart.splitlines()) <= 80, chart
    for block in chart.split("\n\n"):
        bars = {cell_len(x[:x.index("█")]) for x in block.splitlines() if "█" in x}
        assert len(bars) <= 1, block


def test_a_share_short_of_one_or_a_mood_short_of_100_never_reads_as_the_bound():
    """Needs met 0.996 and 0.998 over two seeds had read `1.00` in the table
    and its chart, a Gini of 0.0004 `0.000`, a mean mood of 99.97 `100.0`.
    A clipped interval end that is the bound still reads as it is."""
    from wood_tui.plots import sweep_charts

    runs = {"a": [{"needs_met": 0.996, "gini_final": 0.0004, "mood_mean_final": 99.96, "trades": 5},
                  {"needs_met": 0.998, "gini_final": 0.0004, "mood_mean_final": 99.98, "trades": 7}],
            "b": [{"needs_met": 0.5, "gini_final": 1.0, "mood_mean_final": 50.0, "trades": 3}]}
    table = compare(runs)
    lines = {x.split("  ")[0]: x for x in table_lines(table, ["a", "b"], seeds=2)}
    assert ">0.99 [0.98, 1.00]" in lines["needs met (share)"]
    assert "<0.001 [<0.001, <0.001]" in lines["wealth Gini at the end"]
    assert "1.00 [no interval: 1 run]" in lines["wealth Gini at the end"]  # all of it: the bound
    assert ">99.9 [99.8, 100]" in lines["mean mood at the end"]
    assert "6.00 [0.00, 18.7]" in lines["trades"]  # a count: no top to keep short of
    chart = sweep_charts(table, ["a", "b"], width=80, colour=False)
    assert re.search(r"a \[0\.98, 1\.00\] █+[▏▎▍▌▋▊▉]? >0\.99\n", chart) and re.search(r"b \[1 run\] +█+ 1\.00\n", chart), \
        chart
    assert "1.00\n  b" not in chart and "0.00\n" not in chart
    from wood_tui.plots import MODEL_BARS, text_bars  # a report's bars: valid decisions in %, 0..100
    valid = next(b for _, label, _, b in MODEL_BARS if label == "valid decisions, %")
    assert text_bars("valid", ["smol"], [99.97], width=40, bounds=valid).endswith(" >99.9\n")


def test_bars_a_cell_apart_or_less_are_drawn_apart_in_eighths():
    """`wood report --plot` had drawn 100 and 96.7 valid decisions both as
    ten full blocks (each rounded to whole cells): a bar is drawn in eighths
    of a cell, so the two differ; a negative value is still shaded."""
    from wood_tui.plots import text_bars

    chart = text_bars("valid decisions, %", ["a", "b", "c"], [100.0, 96.7, -50.0], width=10, bounds=(0.0, 100.0))
    assert chart.splitlines()[1:] == ["  a ██████████ 100", "  b █████████▋ 96.7", "  c ░░░░░ -50.0"], chart


# ---- the command -------------------------------------------------------------------
def test_a_sweep_plays_every_run_and_compares_them(rosters, tmp_path):
    out = tmp_path / "runs"
    r = wood("sweep", "--roster", str(rosters[0]), "--roster", str(rosters[1]), "--seeds", "1-3", "--rounds", "30",
             "--out", str(out), "--json", "--plot", "--plots", str(tmp_path / "charts"))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert sorted((x["roster"], x["seed"], x["rounds"]) for x in d["runs"]) == [
        (ro, s, 30) for ro in ("calm", "greedy") for s in (1, 2, 3)]
    for x in d["runs"]:  # each run saved, and measured as `wood report` measures it
        assert Path(x["path"]) == out / x["roster"] / f"seed-{x['seed']}.db"
        rep = json.loads(wood("report", x["path"], "--json").stdout)
        assert x["metrics"]["needs_met"] == rep["needs_met"]
        assert x["metrics"]["stock_rounds[scripted:hoarder]"] == rep["models"]["scripted:hoarder"]["stock_rounds"]
    rows = {row["metric"]: row for row in d["table"]}
    calm = [x["metrics"]["gini_final"] for x in d["runs"] if x["roster"] == "calm"]
    assert rows["gini_final"]["by_roster"]["calm"] == interval(calm).to_dict()
    assert "scripted:cautious" in json.dumps(rows) and set(rows["stock_rounds[scripted:cautious]"]["by_roster"]) == \
        {"calm"}  # greedy has no cautious trader: its cell is empty
    assert "goods held, in rounds of needs (hoarding)" in r.stderr  # --plot beside --json: on stderr
    assert sorted(p.name for p in (tmp_path / "charts").iterdir()) == ["sweep.png", "sweep.svg"]
    assert "6 runs, 0 finished already, 0 to resume, 6 to play" in r.stderr

    again = wood("sweep", "--roster", str(rosters[0]), "--roster", str(rosters[1]), "--seeds", "1-3", "--rounds", "30",
                 "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert "6 finished already, 0 to resume, 0 to play" in again.stderr
    lines = again.stdout.splitlines()
    assert lines[0].startswith("sweep of 2 rosters x 3 seeds x 30 rounds")
    assert lines[1].split()[-2:] == ["calm", "greedy"]
    needs = rows["needs_met"]["by_roster"]["calm"]
    assert any(x.startswith("needs met (share)") and f"[{needs['lo']:.2f}, {needs['hi']:.2f}]" in x for x in lines)


def _committed(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT count(*) FROM rounds").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_killed_sweep_resumes_to_the_same_table(rosters, tmp_path):
    """SIGKILL the sweep while its runs are mid-way: the runs die with it,
    and the same command, run again, resumes them and prints the table an
    uninterrupted sweep prints."""
    argv = ["--roster", str(rosters[0]), "--roster", str(rosters[1]), "--seeds", "1-2", "--rounds", "1200",
            "--jobs", "2", "--json"]
    whole = wood("sweep", *argv, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sweep", *argv, "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "calm" / "seed-1.db"
    deadline = time.monotonic() + 120
    while _committed(first) < 150 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # the runs in flight got SIGTERM as the sweep died: each ends its round in hand and exits (waited for, not
    # slept for: a loaded machine took past the second once slept here, and a run's last commit changed the count)
    at_kill = {p: _committed(p) for p in out.glob("*/seed-*.db")}
    deadline = time.monotonic() + 120
    while _ours(out) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _ours(out) == []  # nothing plays on behind the killed sweep ...
    saves = sorted(out.glob("*/seed-*.db"))
    counts = {p: _committed(p) for p in saves}
    assert counts and any(n < 1200 for n in counts.values()), counts  # killed mid-way
    assert all(n <= at_kill.get(p, 0) + 1 for p, n in counts.items()), (at_kill, counts)  # ... past its round in hand

    resumed = wood("sweep", *argv, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert "to resume" in resumed.stderr and ", 0 to resume" not in resumed.stderr, resumed.stderr
    assert json.loads(resumed.stdout)["table"] == json.loads(whole.stdout)["table"]
    for p in sorted(out.glob("*/seed-*.db")):  # and every run is the uninterrupted one, round for round
        twin = tmp_path / "whole" / p.relative_to(out)
        with sqlite3.connect(p) as a, sqlite3.connect(twin) as b:
            q = "SELECT round, state_hash FROM rounds ORDER BY round"
            assert a.execute(q).fetchall() == b.execute(q).fetchall()


def test_a_changed_roster_is_refused_in_the_same_folder(rosters, tmp_path):
    out = tmp_path / "runs"
    assert wood("sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "5", "--out", str(out)).returncode == 0
    frozen = out / "calm" / "roster.toml"  # the runs start from the roster as the sweep read it ...
    assert frozen.read_bytes() == rosters[0].read_bytes()
    assert (out / "calm" / "seed-1.log").read_text().splitlines()[0].startswith(f"$ wood sim --roster={frozen} ")
    roster(rosters[0], {"Fox": "merchant"})  # ... so an edit mid-sweep changes none of them
    r = wood("sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "5", "--out", str(out))
    assert r.returncode == 2 and "holds runs of another roster named 'calm'" in r.stderr, r.stderr


def test_a_sweep_keeps_a_run_it_cannot_use_and_never_mixes_lengths_or_seeds(rosters, tmp_path):
    """A damaged save, or one of another seed under a seed's name, is refused
    and kept (never deleted and played again; once the other seed's run is
    moved away, the seed's own is played); a folder of 5-round runs
    refuses a 9-round sweep (played on or measured part way, a run is not the
    game a fresh one of that length is)."""
    out = tmp_path / "runs"
    argv = ["--roster", str(rosters[0]), "--rounds", "5", "--out", str(out)]
    assert wood("sweep", *argv, "--seeds", "1-2").returncode == 0
    longer = wood("sweep", *[a if a != "5" else "9" for a in argv], "--seeds", "1-2")
    assert longer.returncode == 2 and "holds runs of 5 rounds: give --rounds 5" in longer.stderr, longer.stderr
    one, two = out / "calm" / "seed-1.db", out / "calm" / "seed-2.db"
    two.unlink()
    one.replace(two)  # seed 1's run under seed 2's name
    before = two.read_bytes()
    r = wood("sweep", *argv, "--seeds", "2")
    # not 'remove it to play that run again': seed 2's run was never in it, and removing it threw away seed 1's
    assert r.returncode == 2 and r.stderr == (f"wood: error: {two} is a run of seed 1, not 2; the save is kept (seed 1's "
                                              "run): move it away, or choose another --out, to play seed 2's run\n"), \
        r.stderr
    assert two.read_bytes() == before
    two.replace(tmp_path / "seed-1-run.db")  # moved away: seed 2's run is played in its place
    r = wood("sweep", *argv, "--seeds", "2")
    assert r.returncode == 0 and "1 to play" in r.stderr, r.stderr
    half = two.read_bytes()[: two.stat().st_size // 2]
    two.write_bytes(half)
    r = wood("sweep", *argv, "--seeds", "2")  # a finished run's, cut short: 'cannot be resumed' was untrue of it
    assert r.returncode == 2 and r.stderr.startswith(f"wood: error: {two} cannot be read ({two} ") and \
        r.stderr.endswith("); remove it to play that run again\n") and two.read_bytes() == half, r.stderr
    two.write_bytes(b"")  # an empty file (a creation killed at once) holds nothing: played again
    r = wood("sweep", *argv, "--seeds", "2")
    assert r.returncode == 0 and "1 to play" in r.stderr, r.stderr


@pytest.mark.parametrize("argv,words", [
    (["--roster", "{a}", "--roster", "{a}"], "two rosters are named 'calm'"),
    (["--roster", "{d}/nope.toml"], "roster file not found"),
    (["--roster", "{a}", "--seeds", "5-1"], "runs backwards"),
    (["--roster", "{a}", "--seeds", "1,1"], "argument --seeds: seed 1 is given more than once (in '1,1')"),
    (["--roster", "{a}", "--rounds", "0"], "expected 1 to"),
    (["--roster", "{a}", "--out", "{a}"], "is a file, not a directory"),
    (["--roster", "{a}", "--jobs", "0"], "expected 1 to"),
    (["--roster", "{d}/bad.toml"], "the name is taken"),
    (["--roster", "{d}/...toml"], "cannot name a folder of runs"),  # its runs would go above --out
    (["--roster", "{d}/sweep.json.toml"], "cannot name a folder of runs"),  # the sweep's own record
    (["--roster", "{d}/.sweep.lock.toml"], "cannot name a folder of runs"),
    (["--roster", "{d}/keyed.toml"], "has a literal api_key, which a save never keeps"),  # a resumed run: no key
    (["--roster", "{d}/serverless.toml"], "[models.m] has no server"),  # every run had failed, "run it again"
])
def test_bad_sweep_input_is_one_line(rosters, tmp_path, argv, words):
    (tmp_path / "bad.toml").write_text('[models.scripted]\nmodel = "x"\n' + rosters[0].read_text())
    for odd in ("...toml", "sweep.json.toml", ".sweep.lock.toml"):
        (tmp_path / odd).write_text(rosters[0].read_text())
    (tmp_path / "keyed.toml").write_text('[models.m]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
                                         'api_key = "sk-1"\n' + rosters[0].read_text().replace('"scripted"', '"m"'))
    (tmp_path / "serverless.toml").write_text('[models.m]\nmodel = "m"\n' + rosters[0].read_text().replace('"scripted"',
                                                                                                             '"m"'))
    argv = [a.format(a=rosters[0], d=tmp_path) for a in argv]
    r = wood("sweep", *argv, *([] if "--out" in argv else ["--out", str(tmp_path / "o")]))
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("plots,words", [
    ("", "--plots: expected a directory path"),
    ("{a}", "--plots {a} is a file, not a directory"),
    ("{a}/charts", "cannot make the --plots directory {a}/charts: {a} is a file, not a directory"),
])
def test_a_plots_folder_that_cannot_be_used_leaves_no_out_folder(rosters, tmp_path, plots, words):
    """--out had been made (an empty ./sweep by default) before --plots was
    looked at, so a usage error about --plots left a folder behind."""
    plots, words = plots.format(a=rosters[0]), words.format(a=rosters[0])
    r = wood("sweep", "--roster", str(rosters[0]), "--out", str(tmp_path / "o" / "runs"), "--plots", plots)
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "o").exists()


def test_a_sweep_refused_for_its_out_folder_makes_no_plots_folder(rosters, tmp_path):
    """An --out holding runs of another length is refused; the --plots folder
    named beside it had been made all the same."""
    (tmp_path / "o" / "calm").mkdir(parents=True)
    (tmp_path / "o" / "sweep.json").write_text('{"rosters": {}, "rounds": 7}')
    played = wood("sim", "--roster", str(rosters[0]), "--seed", "1", "--rounds", "7", "--save",
                  str(tmp_path / "o" / "calm" / "seed-1.db"), "--quiet")  # a run played to those 7 rounds
    assert played.returncode == 0, played.stderr
    r = wood("sweep", "--roster", str(rosters[0]), "--out", str(tmp_path / "o"), "--rounds", "3",
             "--plots", str(tmp_path / "charts"))
    assert r.returncode == 2 and "holds runs of 7 rounds" in r.stderr, r.stderr
    assert not (tmp_path / "charts").exists()


# ---- rosters that mix scripted traders and models ---------------------------------------
def test_an_all_scripted_roster_plays_the_scripted_game(tmp_path):
    """`model = "scripted"` in a roster is the scripted trader of that
    temperament: the five default creatures so, is `--brains scripted`."""
    r = wood("sim", "--roster", str(roster(tmp_path / "five.toml")), "--rounds", "25", "--seed", "3", "--quiet")
    s = wood("sim", "--brains", "scripted", "--rounds", "25", "--seed", "3", "--quiet")
    assert r.returncode == 0 and s.returncode == 0, r.stderr + s.stderr
    assert r.stdout.splitlines()[-1] == s.stdout.splitlines()[-1]


def test_the_shipped_cpu_roster_puts_the_embedded_model_beside_scripted_traders():
    from serve.roster import load_roster

    from engine.world import load_world

    entries = load_roster("serve/rosters/cpu-mix.toml").entries(load_world())
    assert [(e.name, e.model) for e in entries] == [("Owl", "scripted"), ("Fox", "scripted"), ("Badger", "smol"),
                                                    ("Hare", "scripted"), ("Squirrel", "scripted")]
    assert load_roster("serve/rosters/cpu-mix.toml").models["smol"].embedded
    scripted = load_roster("serve/rosters/scripted.toml")
    assert scripted.models == {} and {e.model for e in scripted.entries(load_world())} == {"scripted"}


def mixed_roster(path: Path, srv) -> Path:
    """The scripted roster with its Badger (the hoarder) on `srv`, a model server on 127.0.0.1."""
    models = (f'[models.flaky]\nbase_url = "{srv.base_url}"\nmodel = "smollm2"\njson_mode = "json_object_schema"\n'
              "max_concurrency = 1\ntimeout_s = 2\nconnect_timeout_s = 1\nmax_tokens = 64\n")
    path = roster(path, models=models)
    path.write_text(path.read_text().replace('temperament = "hoarder"\nmodel = "scripted"',
                                             'temperament = "hoarder"\nmodel = "flaky"'))
    return path


def test_a_mixed_roster_saves_resumes_and_reports_its_models(tmp_path):
    """One creature on a model server (a real HTTP server on 127.0.0.1), the
    rest scripted: the save records both, resumes, and the report has a line
    for the model and one per scripted temperament."""
    from tests.fault_server import FaultServer

    with FaultServer() as srv:
        path = mixed_roster(tmp_path / "mix.toml", srv)
        db = tmp_path / "mix.db"
        r = wood("sim", "--roster", str(path), "--rounds", "6", "--seed", "2", "--save", str(db), "--quiet")
        assert r.returncode == 0, r.stderr
        r = wood("sim", "--resume", str(db), "--rounds", "9", "--quiet")
        assert r.returncode == 0, r.stderr
        assert len(srv.requests) == 9  # Badger alone asked the model, once a round
    d = json.loads(wood("report", str(db), "--json").stdout)
    assert set(d["models"]) == {"flaky", "scripted:cautious", "scripted:speculator", "scripted:generous",
                                "scripted:merchant"}
    assert d["models"]["flaky"]["creatures"] == ["Badger"] and d["models"]["flaky"]["calls"]["n"] == 9
    assert d["models"]["scripted:merchant"]["calls"] is None


def test_a_price_given_to_a_sweep_with_no_model_call_says_it_went_unused(tmp_path):
    """Every roster scripted: no call to price, no cost in the table, and a
    note says so, as `wood report`'s does; a sweep with a model's calls
    uses its price, with no note."""
    from tests.fault_server import FaultServer

    calm = roster(tmp_path / "calm.toml")
    r = wood("sweep", "--roster", str(calm), "--seeds", "1", "--rounds", "3", "--out", str(tmp_path / "o"),
             "--gpu-hour-price", "3.5", "--mtok-price", "0.2", "--json")
    assert r.returncode == 0, r.stderr
    assert "note: --gpu-hour-price and --mtok-price not used: no model call is recorded in this sweep's runs\n" \
        in r.stderr, r.stderr
    assert "called" not in json.loads(r.stdout)
    r = wood("sweep", "--roster", str(calm), "--seeds", "1", "--rounds", "3", "--out", str(tmp_path / "o"))
    assert r.returncode == 0 and "note:" not in r.stderr, r.stderr  # no price given: nothing to say
    with FaultServer() as srv:
        mix = mixed_roster(tmp_path / "mix.toml", srv)
        r = wood("sweep", "--roster", str(calm), "--roster", str(mix), "--seeds", "1", "--rounds", "3",
                 "--out", str(tmp_path / "m"), "--gpu-hour-price", "3.5", "--json")
    assert r.returncode == 0, r.stderr
    assert "note:" not in r.stderr, r.stderr
    rows = {row["metric"]: row for row in json.loads(r.stdout)["table"]}
    assert rows["cost_gpu_hour[flaky]"]["by_roster"]["mix"]["mean"] is not None


def test_a_sweep_whose_runs_all_fail_says_so_instead_of_an_empty_table(tmp_path):
    env = {**os.environ, "WOOD_EVENT_LOOP": "no-such-loop"}  # every run's `wood sim` refuses to start
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sweep", "--roster", "serve/rosters/scripted.toml",
                        "--seeds", "1-2", "--rounds", "3", "--out", str(tmp_path / "o")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 1
    assert r.stdout.strip().splitlines()[-1] == "sweep of 1 roster x 2 seeds: no run finished, so nothing to compare"
    assert r.stderr.count("did not finish") == 2 and "Traceback" not in r.stderr, r.stderr


def test_an_out_folder_whose_name_begins_with_a_dash_plays_and_resumes_its_runs(rosters, tmp_path):
    """`--out=-ab` (a relative folder, as typed) had every run fail at once: each
    run's `wood sim` read `--roster -ab/calm/roster.toml` as a flag ("expected
    one argument"), and the sweep said to run it again, which failed the same."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def here(*args):
        return subprocess.run([sys.executable, "-m", "wood_tui.cli", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)

    (tmp_path / "-ab" / "calm").mkdir(parents=True)  # a run killed after 2 of its rounds, to be resumed
    part = here("sim", "--roster", str(rosters[0]), "--seed", "1", "--rounds", "2", "--save=-ab/calm/seed-1.db",
                "--quiet")
    assert part.returncode == 0, part.stderr
    r = here("sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "4", "--out=-ab", "--json")
    assert r.returncode == 0, r.stderr
    assert "1 to resume, 1 to play" in r.stderr and "failed" not in r.stderr, r.stderr
    assert sorted((x["seed"], x["rounds"]) for x in json.loads(r.stdout)["runs"]) == [(1, 4), (2, 4)]
    assert rounds_saved(tmp_path / "-ab" / "calm" / "seed-1.db") == 4


def test_a_sweep_whose_runs_all_failed_goes_on_once_its_roster_is_mended(rosters, tmp_path):
    """A model's served name misspelt: every run failed and the sweep said to run
    it again; run again with the roster mended (or another --rounds), it was
    refused: "holds runs of another roster named 'calm'", of no run at all.
    A folder with a run played still holds to its roster and its length."""
    from serve.loopback import LoopbackServer

    out = tmp_path / "runs"
    calm = rosters[0]
    with LoopbackServer() as srv:
        lb = f'[models.m]\nbase_url = "{srv.base_url}"\njson_mode = "json_schema"\nmodel = '
        roster(calm, models=lb + '"loopbak"\n')  # creatures stay scripted: Owl below thinks with the model
        calm.write_text(calm.read_text().replace('"Owl"\nspecies = "owl"\ntemperament = "cautious"\nmodel = "scripted"',
                                                 '"Owl"\nspecies = "owl"\ntemperament = "cautious"\nmodel = "m"'))
        first = wood("sweep", "--roster", str(calm), "--seeds", "1-2", "--rounds", "3", "--out", str(out))
        assert first.returncode == 1 and first.stderr.count("did not finish") == 2, first.stderr
        assert "not served" in (out / "calm" / "seed-1.log").read_text()
        calm.write_text(calm.read_text().replace('"loopbak"', '"loopback"'))
        again = wood("sweep", "--roster", str(calm), "--seeds", "1-2", "--rounds", "4", "--out", str(out), "--json")
        assert again.returncode == 0, again.stderr
        assert "0 finished already, 0 to resume, 2 to play" in again.stderr, again.stderr
        d = json.loads(again.stdout)
        assert sorted((x["seed"], x["rounds"]) for x in d["runs"]) == [(1, 4), (2, 4)]
        assert d["table"] and "valid_share[m]" in {row["metric"] for row in d["table"]}
        assert (out / "calm" / "roster.toml").read_bytes() == calm.read_bytes()  # its runs played the mended one
        calm.write_text(calm.read_text() + "# edited\n")  # now the folder holds its runs: held to them
        r = wood("sweep", "--roster", str(calm), "--seeds", "1-2", "--rounds", "4", "--out", str(out))
        assert r.returncode == 2 and "holds runs of another roster named 'calm'" in r.stderr, r.stderr
        r = wood("sweep", "--roster", str(rosters[1]), "--seeds", "1", "--rounds", "5", "--out", str(out))
        assert r.returncode == 2 and "holds runs of 4 rounds" in r.stderr, r.stderr


def test_the_opening_line_says_how_many_runs_go_at_once_of_those_to_play(tmp_path, rosters):
    """`--jobs 4` with one run to play had said '4 at a time'; one goes, and a sweep with nothing left to
    play says no pace at all."""
    out = tmp_path / "sw"
    first = wood("sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "2", "--jobs", "4", "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert "sweep: 1 run, 0 finished already, 0 to resume, 1 to play; 1 at a time\n" in first.stderr, first.stderr
    again = wood("sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "2", "--jobs", "4", "--out", str(out))
    assert "sweep: 1 run, 1 finished already, 0 to resume, 0 to play\n" in again.stderr, again.stderr


def test_a_sweep_that_cannot_write_its_plan_says_so_not_that_the_output_failed(rosters, tmp_path):
    """On a full disk (here: a limit on the size of files written) the plan
    (sweep.json) is what fails, before a run is played: it had been 'cannot
    write the output (File too large)', with a sweep.json.part left behind."""
    out = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sweep", "--roster", str(rosters[0]), "--seeds", "1",
                        "--rounds", "3", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       preexec_fn=full_disk(64))
    assert r.returncode == 2 and r.stderr == (f"wood: error: --out {out}: cannot write {out / 'sweep.json'} "
                                              "(File too large)\n"), r.stderr
    assert not out.exists()  # made for the sweep, which failed before a run: it goes, its lock with it


def test_a_sweep_that_cannot_write_a_rosters_copy_leaves_no_part_of_it(tmp_path):
    """The roster's frozen copy is written as the plan is: on a full disk (a limit on the size of files
    written, under this roster but over the plan) the line names it and no cut-short roster.toml.part stays."""
    big = roster(tmp_path / "big.toml")
    big.write_text("# " + "x" * 3000 + "\n" + big.read_text())
    out = tmp_path / "runs"
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sweep", "--roster", str(big), "--seeds", "1",
                        "--rounds", "3", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       preexec_fn=full_disk(1024))
    assert r.returncode == 2 and r.stderr == (f"wood: error: --out {out}: cannot write {out / 'big' / 'roster.toml'} "
                                              "(File too large)\n"), r.stderr
    assert not out.exists(), list(out.rglob("*"))  # no roster.toml.part, nor the folders made for the runs


@pytest.mark.parametrize("what", ["link", "pipe"])
@pytest.mark.parametrize("name", ["sweep.json.part", "calm/roster.toml.part"])
def test_a_sweep_never_writes_through_what_stands_at_a_files_part_name(rosters, tmp_path, what, name):
    """The plan and a roster's copy were written to NAME.part, then renamed:
    a link there had its target written over with the plan (a save of the
    user's, say) and put in the plan's place, and a named pipe there was
    waited on for good. Each is written under a name no file had, and what
    stood at NAME.part is left as it was."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    mine = tmp_path / "mine.txt"
    mine.write_text("the user's\n")
    at = out / name
    if what == "link":
        at.symlink_to(mine)
    else:
        os.mkfifo(at)
    r = wood(*argv, timeout=60)
    assert r.returncode == 0, r.stderr
    assert mine.read_text() == "the user's\n"
    assert at.is_symlink() if what == "link" else at.is_fifo()
    target = out / name.removesuffix(".part")
    assert target.is_file() and not target.is_symlink()
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".") and p.name != ".sweep.lock") == []


def _everything(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes, every folder as b"<dir>"."""
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("fails", ["plan", "roster copy"])
@pytest.mark.parametrize("where", ["have/new/runs", "have"])
def test_a_sweep_that_fails_before_its_runs_takes_away_what_it_made_and_nothing_else(tmp_path, fails, where):
    """A full disk (a limit on the size of files written) before a run is
    played: the plan (sweep.json) cannot be written, or a roster's copy (a
    roster bigger than the limit, the plan under it). `--out have/new/runs`
    had left `new`, `runs`, the lock, the plan and the roster's folder behind
    (`have` is the user's, a file of theirs in it); now all of it goes and
    `have` is as it was. `--out have`: the user's folder stays, with their
    file, and nothing of the sweep's is left in it."""
    calm = roster(tmp_path / "calm.toml")
    if fails == "roster copy":
        calm.write_text("# " + "x" * 3000 + "\n" + calm.read_text())
    have = tmp_path / "have"
    have.mkdir()
    (have / "notes.txt").write_text("the user's")
    before = _everything(tmp_path)
    out = tmp_path / where
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sweep", "--roster", str(calm), "--seeds", "1-2",
                        "--rounds", "3", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       preexec_fn=full_disk(64 if fails == "plan" else 1024))
    failed = out / ("sweep.json" if fails == "plan" else "calm/roster.toml")
    assert r.returncode == 2 and r.stderr == f"wood: error: --out {out}: cannot write {failed} (File too large)\n", \
        r.stderr
    assert _everything(tmp_path) == before


def _foreign_wal(save: Path, other: Path) -> None:
    """A -wal that does not fit `save`: `other`'s (another run's), left by a
    writer killed with a change not yet written into it, put beside `save`."""
    kill = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0');"
            "c.execute(\"UPDATE events SET data = data || ' '\"); c.commit(); os._exit(0)")
    subprocess.run([sys.executable, "-c", kill, str(other)], check=True, timeout=60)
    os.replace(f"{other}-wal", f"{save}-wal")
    Path(f"{other}-shm").unlink(missing_ok=True)


@pytest.mark.parametrize("beside", ["foreign -wal", "link at -shm", "save at -shm"])
def test_a_sweep_refused_for_a_file_beside_a_save_never_says_to_remove_the_save(rosters, tmp_path, beside):
    """A run's save refused for what lies where SQLite keeps its -wal or -shm
    (another save's -wal, a link, a save copied there) is whole: the line
    had said both to move that file away and 'remove it to play that run
    again', which deleted a good save. It says what to move, never to
    remove the save; moved away, the same command goes on from the save."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    save, other = out / "calm" / "seed-1.db", out / "calm" / "seed-2.db"
    if beside == "foreign -wal":
        spare = tmp_path / "spare.db"  # a longer run's: its pages are none of the save's
        assert wood("sim", "--rounds", "30", "--seed", "2", "--save", str(spare), "--quiet").returncode == 0
        _foreign_wal(save, spare)
        moved = Path(f"{save}-wal")
    elif beside == "link at -shm":
        moved = Path(f"{save}-shm")
        moved.symlink_to(tmp_path / "nowhere")
    else:
        moved = Path(f"{save}-shm")
        moved.write_bytes(other.read_bytes())
    before = _everything(out)
    r = wood(*argv)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert f"{save} cannot be read ({save}: {moved.name} beside it " in r.stderr, r.stderr
    assert "move" in r.stderr and "remove it" not in r.stderr, r.stderr
    assert r.stderr.rstrip().endswith("the save is kept: then run the same command again to go on from it"), r.stderr
    after = _everything(out)
    if beside == "foreign -wal":  # SQLite's index, made to read the save with its -wal: not the save's bytes
        after.pop("calm/seed-1.db-shm", None)
    assert after == before
    os.replace(moved, tmp_path / "moved-away")
    again = wood(*argv)
    assert again.returncode == 0 and "2 finished already" in again.stderr, again.stderr


def _swept_then_versioned(rosters, tmp_path: Path, version: str) -> tuple[list[str], Path, Path]:
    """A sweep of seeds 1-2 (3 rounds) played into tmp_path/runs, then seed 1's
    save given ledger version `version`: the sweep's argv, its --out, that save."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    save = out / "calm" / "seed-1.db"
    with sqlite3.connect(save) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'version'", (version,))
    con.close()
    return argv, out, save


def test_a_sweep_never_says_to_remove_a_save_a_newer_wood_wrote(rosters, tmp_path):
    """A run's save of a higher ledger version: the line had said 'remove it
    to play that run again', which threw away a run the newer build reads.
    It says to use that build or another --out; the save is left as it was.
    It is a finished run's, so 'cannot be resumed' was untrue: it cannot be
    read by this build."""
    from engine.ledger import VERSION

    argv, out, save = _swept_then_versioned(rosters, tmp_path, str(VERSION + 1))
    before = _everything(out)
    r = wood(*argv)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "remove it" not in r.stderr, r.stderr
    assert r.stderr == (f"wood: error: {save} cannot be read by this build ({save} was written by a newer wood "
                        f"(ledger version {VERSION + 1}); this build reads version {VERSION}); the save is kept: run "
                        "the same command with that newer wood, or choose another --out\n"), r.stderr
    assert _everything(out) == before


def test_a_sweep_run_again_while_a_killed_sweeps_run_still_writes_waits_for_it(rosters, tmp_path):
    """A run's save another wood process is writing (here a game begun at
    it, no round committed yet, this test holding it open as `wood sim`
    does; after a `kill -9` of a sweep, its runs, which end their round in
    hand first). The sweep took it for a creation killed before its first
    round and removed it under the live run; then refused it as 'in use',
    so the same command run again seconds after a kill failed until the
    runs had ended. It waits for the save to be let go, saying so, keeps it
    as it was meanwhile, then plays the run. The note had said the holder
    was a stopped sweep's run, as if known, while it may be the user's own
    `wood sim --resume` of that save: it says 'perhaps'. The note is read
    with a deadline, so a sweep that never writes it fails the test."""
    from engine.ledger import Ledger
    from engine.world import build_roster, load_world

    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "3", "--out", str(out)]
    (out / "calm").mkdir(parents=True)
    save = out / "calm" / "seed-1.db"
    live = Ledger.create(save, seed=1, roster=build_roster(load_world(), 5), brains="scripted", rounds=3)
    try:
        before = save.read_bytes()
        proc = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", *argv], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        try:
            note = line_within(proc.stderr, 120)
        except AssertionError:  # no note: the sweep is not left running behind the test
            proc.kill()
            raise
        assert note == (f"sweep: {save} is in use by another wood process (perhaps a run of a sweep stopped a moment "
                        "ago, ending its round in hand): waiting up to 60 s for it to let go\n"), note
        time.sleep(0.5)
        assert proc.poll() is None and save.read_bytes() == before and live.last_round() == 0
    finally:
        live.close()
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 0 and "1 to play" in rest, rest
    assert rounds_saved(save) == 3


def test_a_sweep_refuses_a_save_another_wood_process_writes_past_the_wait(rosters, tmp_path, capsys, monkeypatch):
    """One still held once the wait is over is refused in one line, kept."""
    from engine.ledger import Ledger
    from engine.world import build_roster, load_world
    from wood_tui.cli import main
    from wood_tui.commands import sweep

    monkeypatch.setattr(sweep, "STOP_GRACE_S", 0.3)
    out = tmp_path / "runs"
    (out / "calm").mkdir(parents=True)
    save = out / "calm" / "seed-1.db"
    live = Ledger.create(save, seed=1, roster=build_roster(load_world(), 5), brains="scripted", rounds=3)
    try:
        before = save.read_bytes()
        assert main(["sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "3", "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.splitlines()[1:] == [f"wood: error: {save} is in use by another wood process (a run saving to it or "
                                        "resuming it), still after 0.3 s; the save is kept: let that one end, then run "
                                        "the same command again, or choose another --out"], err
        assert save.read_bytes() == before and live.last_round() == 0
    finally:
        live.close()


def test_a_sweep_never_says_to_remove_a_save_another_program_holds_locked(rosters, tmp_path):
    """A run's save another program holds locked (an exclusive SQLite
    transaction, as an `sqlite3` shell may hold it): the line had said
    'remove it to play that run again' of a whole, finished run. It says the
    save is kept and to let that program let go of it; let go, the same
    command goes on from the save."""
    from engine.ledger import LOCK_HELD

    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    save = out / "calm" / "seed-1.db"
    before = save.read_bytes()
    hold = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('PRAGMA locking_mode=EXCLUSIVE'); c.execute('BEGIN EXCLUSIVE'); print('held', flush=True); "
            "sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", hold, str(save)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert line_within(holder.stdout, 120) == "held\n"
        r = wood(*argv)
    finally:
        holder.communicate(timeout=60)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "remove it" not in r.stderr, r.stderr
    assert r.stderr == (f"wood: error: {save} cannot be read: {LOCK_HELD}; the save is kept: let that program let go of "
                        "it, then run the same command again, or choose another --out\n"), r.stderr
    assert save.read_bytes() == before
    again = wood(*argv)
    assert again.returncode == 0 and "2 finished already" in again.stderr, again.stderr


@pytest.mark.parametrize("finished", [True, False])
def test_a_sweep_never_says_to_remove_an_older_woods_save_that_can_still_be_exported(rosters, tmp_path, finished):
    """A run's save of an older ledger version whose rows read alike (this
    build neither plays it on nor measures it): the line had said 'cannot
    be resumed (...); remove it to play that run again', of a finished run
    too, which threw away a run `wood export` still reads. It says the
    save is kept, the export that reads it, and to remove it (or choose
    another --out) to play the run with this build; the save is left as it
    was, that export reads it, and removed, the same command plays the run."""
    from engine.ledger import ROWS_ALIKE, VERSION

    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    save = out / "calm" / "seed-1.db"
    if not finished:  # the same run, 2 of its 3 rounds played
        save.unlink()
        assert wood("sim", f"--roster={out / 'calm' / 'roster.toml'}", "--seed", "1", "--rounds", "2",
                    f"--save={save}", "--quiet").returncode == 0
    old = ROWS_ALIKE[-1]
    with sqlite3.connect(save) as con:
        con.execute("UPDATE meta SET value = ? WHERE key = 'version'", (str(old),))
    con.close()
    before = _everything(out)
    r = wood(*argv)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr == (f"wood: error: {save} cannot be {'measured' if finished else 'resumed'} by this build ({save} "
                        f"has ledger version '{old}'; this build plays and replays version {VERSION} (its model calls, "
                        f"tips and whispers can still be exported: `wood export`)); the save is kept: `wood export "
                        f"{save} --out DIR` can still read its records; remove it (or choose another --out) to play "
                        "that run again with this build\n"), r.stderr
    assert _everything(out) == before
    audit = tmp_path / "audit"
    exported = wood("export", str(save), "--out", str(audit))
    assert exported.returncode == 0 and (audit / "tips.jsonl").is_file(), exported.stderr
    save.unlink()
    again = wood(*argv)
    assert again.returncode == 0 and "1 finished already, 0 to resume, 1 to play" in again.stderr, again.stderr


def test_a_sweep_never_says_to_remove_a_save_only_an_older_wood_reads(rosters, tmp_path):
    """A run's save of a ledger version below those `wood export` reads
    (ledger version 1): the line had said 'cannot be read (...); remove it
    to play that run again', which threw away a run the older wood that
    wrote it reads. It says the save is kept, that an older wood reads it,
    and to remove it (or choose another --out) to play the run with this
    build; the save is left as it was, and removed, the same command plays
    the run."""
    from engine.ledger import ROWS_ALIKE, VERSION

    assert 1 < min(ROWS_ALIKE)
    argv, out, save = _swept_then_versioned(rosters, tmp_path, "1")
    before = _everything(out)
    r = wood(*argv)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "remove it to play" not in r.stderr, r.stderr
    assert r.stderr == (f"wood: error: {save} cannot be read by this build ({save} has ledger version '1'; this build "
                        f"plays and replays version {VERSION}); the save is kept: an older wood reads it; remove it "
                        "(or choose another --out) to play that run again with this build\n"), r.stderr
    assert _everything(out) == before
    save.unlink()
    again = wood(*argv)
    assert again.returncode == 0 and "1 finished already, 0 to resume, 1 to play" in again.stderr, again.stderr


@pytest.mark.parametrize("unreadable", ["save", "-wal"])
def test_a_sweep_refused_a_save_it_may_not_read_says_so_and_never_to_remove_it(rosters, tmp_path, unreadable):
    """A run's save (or the -wal SQLite reads it through, left by a killed
    run) this user may not read: the line had said 'remove it to play that
    run again' (and, of the -wal, 'not a readable save (unable to open
    database file)'). It says what cannot be read and to mend the
    permissions; mended, the same command goes on from the save."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    save = out / "calm" / "seed-1.db"
    locked = save
    if unreadable == "-wal":  # a writer killed with a change in its -wal, not yet written into the save
        kill = ("import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0');"
                "c.execute(\"REPLACE INTO meta SELECT key, value FROM meta WHERE key = 'created'\"); c.commit(); "
                "os._exit(0)")
        subprocess.run([sys.executable, "-c", kill, str(save)], check=True, timeout=60)
        locked = Path(f"{save}-wal")
        assert locked.stat().st_size > 0
    locked.chmod(0)
    try:
        r = subprocess.run(without_root_powers([sys.executable, "-m", "wood_tui.cli", *argv]), cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    finally:
        locked.chmod(0o644)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and "remove it" not in r.stderr, r.stderr
    why = (f"cannot read {save}: Permission denied" if unreadable == "save" else
           f"{save}: seed-1.db-wal beside it cannot be read by this user (its permissions), and SQLite reads the save "
           "through it")
    assert r.stderr == (f"wood: error: {save} cannot be read ({why}); the save is kept: let this user read it (mend "
                        "the permissions), then run the same command again, or choose another --out\n"), r.stderr
    again = wood(*argv)
    assert again.returncode == 0 and "2 finished already" in again.stderr, again.stderr


def test_a_sweep_refused_for_a_save_takes_away_the_rosters_folder_it_made_for_its_runs(rosters, tmp_path):
    """A second roster added to a sweep whose run of the first cannot be
    resumed (a damaged save): the refusal had left the new roster's folder
    and its copy behind. They go; the damaged save, the first roster's runs
    and their copy stay as they were (the plan only names the new roster,
    whose runs nothing binds)."""
    out = tmp_path / "runs"
    first = wood("sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "3", "--out", str(out))
    assert first.returncode == 0, first.stderr
    save = out / "calm" / "seed-2.db"
    save.write_bytes(save.read_bytes()[: save.stat().st_size // 2])
    before = _everything(out)
    r = wood("sweep", "--roster", str(rosters[0]), "--roster", str(rosters[1]), "--seeds", "1-2", "--rounds", "3",
             "--out", str(out))
    assert r.returncode == 2 and "cannot be read" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    after = _everything(out)
    assert json.loads(after.pop("sweep.json"))["rosters"]["calm"] == json.loads(before.pop("sweep.json"))["rosters"]["calm"]
    assert after == before


def test_sweep_charts_with_a_home_that_cannot_be_written_say_nothing_of_matplotlibs_folders(rosters, tmp_path):
    """HOME=/proc: matplotlib had warned twice about its config and cache
    folders among the sweep's lines, though the charts were written. It is
    given a folder of its own for the sweep, gone after."""
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    charts = tmp_path / "charts"
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sweep", "--roster", str(rosters[0]), "--seeds", "1",
                        "--rounds", "3", "--out", str(tmp_path / "runs"), "--plots", str(charts)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300,
                       env={**env, "HOME": "/proc", "TMPDIR": str(tmp_path / "tmp")})
    assert r.returncode == 0, r.stderr
    assert "matplotlib" not in r.stderr.lower() and r.stderr.splitlines()[-1].startswith("wrote "), r.stderr
    assert any(charts.iterdir()) and os.listdir(tmp_path / "tmp") == []


def test_sweep_charts_on_a_full_disk_take_away_the_folders_made_for_them_and_keep_the_runs(rosters, tmp_path):
    """Every run played, the charts cannot be written (a limit on the size of
    files written, as on a full disk): one line after the table, and the
    folders `--plots have/new/charts` made are gone (they had been left
    behind, empty); `have`, the user's, and every run stay as they were."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    have = tmp_path / "have"
    have.mkdir()
    (have / "notes.txt").write_text("the user's")
    before = _everything(tmp_path)
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", *argv, "--plots", str(have / "new" / "charts")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, preexec_fn=full_disk(60_000))
    assert r.returncode == 2 and r.stderr.splitlines()[-1].startswith("wood: error: cannot write the chart"), r.stderr
    assert r.stdout.startswith("sweep of 1 roster x 2 seeds x 3 rounds") and "Traceback" not in r.stderr
    assert _everything(tmp_path) == before


def test_sweep_charts_that_cannot_be_written_still_name_the_runs_that_failed(rosters, tmp_path):
    """A run failed (its save has a trigger, which a resume refuses) and the
    charts cannot be written (a full disk): the sweep ended on the charts'
    error, exit 2, and the run that did not finish was never named. Every
    failed run is said, with its log, before the charts' line."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "3", "--out", str(out)]
    assert wood(*argv[:3], "--seeds", "1", *argv[5:]).returncode == 0  # seed 1 played; seed 2 not begun
    two = out / "calm" / "seed-2.db"
    part = wood("sim", f"--roster={out / 'calm' / 'roster.toml'}", "--seed", "2", "--rounds", "2", f"--save={two}",
                "--quiet")
    assert part.returncode == 0, part.stderr
    with sqlite3.connect(two) as con:  # read as it is, refused as a resume: the run fails
        con.execute("CREATE TRIGGER tr AFTER INSERT ON rounds BEGIN SELECT 1; END")
    con.close()
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", *argv, "--plots", str(tmp_path / "charts")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, preexec_fn=full_disk(60_000))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert lines[-1].startswith("wood: error: cannot write the chart"), r.stderr
    assert lines[-2] == (f"wood: error: calm seed 2 did not finish (see {two.with_suffix('.log')}); run the same "
                         "command again to retry it"), r.stderr
    assert "has a trigger no wood save has" in two.with_suffix(".log").read_text()


def test_a_sweep_stopped_before_its_runs_takes_away_what_it_made(rosters, tmp_path):
    """Stopped (SIGTERM) while it writes a roster's copy, before a run is
    looked at: `--out have/new/runs` had been left with its lock, plan and
    roster folder; all of it goes (`have`, the user's, stays as it was)."""
    import textwrap

    have = tmp_path / "have"
    have.mkdir()
    (have / "notes.txt").write_text("the user's")
    before = _everything(tmp_path)
    holding = tmp_path.parent / f"{tmp_path.name}-holding"
    hold = textwrap.dedent(f"""
        import time
        import wood_tui.commands.sweep as sweep
        def _write_frozen(r, out, wrote=None):  # held here until the signal comes
            open({str(holding)!r}, "w").close()
            while True:
                time.sleep(1)
        sweep._write_frozen = _write_frozen
        import runpy
        runpy.run_module("wood_tui.cli", run_name="__main__", alter_sys=True)
        """)
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "3", "--out", str(have / "new" / "runs")]
    proc = subprocess.Popen([sys.executable, "-c", hold, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and not holding.exists():
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate(timeout=60)
        assert (have / "new" / "runs" / "calm").is_dir()  # its lock, plan and roster folder were there
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        holding.unlink(missing_ok=True)
    assert proc.returncode == 128 + signal.SIGTERM and err == "wood: interrupted (SIGTERM)\n", err
    assert _everything(tmp_path) == before


@pytest.mark.parametrize("had", [False, True], ids=["made", "had"])
def test_a_sweep_stopped_while_its_charts_are_written_takes_away_the_folders_made_for_them(rosters, tmp_path, had):
    """Stopped (SIGTERM) while the charts are written, the table printed: one
    line saying no chart was written, and the folders --plots made go (a
    charts folder the user had, with a file of theirs, stays); the runs stay."""

    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    charts = tmp_path / "charts" if had else tmp_path / "new" / "charts"
    if had:
        charts.mkdir()
        (charts / "notes.txt").write_text("the user's")
    before = _everything(tmp_path)
    holding = tmp_path / "holding"
    # the second chart file begun is held there until the signal comes
    proc = wood_held_at_chart_file(2, holding, [*argv, "--plots", str(charts)], stdout=subprocess.PIPE)
    try:
        proc.send_signal(signal.SIGTERM)
        stdout, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert err.splitlines()[-1] == f"{_said('SIGTERM')}: the table above is whole; no chart file written to {charts}"
    holding.unlink()
    assert _everything(tmp_path) == before


# ---- a sweep stopped (Ctrl-C, SIGTERM, SIGHUP): its runs and workers stopped and waited for, one line

def _ours(out: Path) -> list[int]:
    """The processes still running whose command line names `out` (the sweep, its runs, its measuring workers)."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
                st = (p / "stat").read_text()
            except OSError:
                continue
            if str(out).encode() in cmd and st.rsplit(")", 1)[1].split()[0] != "Z":  # a zombie has ended
                pids.append(int(p.name))
    return pids


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, ValueError, IndexError):
                continue
    return out


def _stop_sweep(proc: subprocess.Popen, how: str) -> None:
    """Ctrl-C as a terminal sends it (SIGINT to the sweep's whole process group), or a signal to the sweep alone."""
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(getattr(signal, how))


def _said(how: str) -> str:
    return "wood: interrupted" + ("" if how == "ctrl-c" else f" ({how})")


@pytest.mark.parametrize("how", ["ctrl-c", "SIGTERM", "SIGHUP"])
def test_a_sweep_stopped_while_it_plays_stops_its_runs_waits_for_them_and_says_what_finished(rosters, tmp_path, how):
    """The runs in flight (each in its own process group: a terminal's
    Ctrl-C reaches the sweep, not them) are stopped as a kill stops `wood
    sim`, their rounds saved whole, and waited for: when the sweep has
    exited none of them is running and no save has a -wal or -shm beside
    it. One line says how many runs finished, were stopped and were not
    begun; exit 128 + the signal. The same command goes on from there. The
    sweep had exited 130 whatever the signal, its runs still running."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--roster", str(rosters[1]), "--seeds", "1-2", "--rounds", "100000",
            "--jobs", "2", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    playing = [out / "calm" / "seed-1.db", out / "calm" / "seed-2.db"]  # --jobs 2: the first two runs
    try:
        deadline = time.monotonic() + 120
        # read through a connection closed at once (tests.saves): one left to the collector would keep the -wal
        while min(rounds_saved(p) for p in playing) < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, proc.communicate(timeout=60)
        _stop_sweep(proc, how)
        stdout, err = proc.communicate(timeout=120)
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert _ours(out) == []  # every run the sweep started has ended with it
    sig = signal.SIGINT if how == "ctrl-c" else getattr(signal, how)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and stdout == ""
    assert err.splitlines()[-1] == (f"{_said(how)}: 0 of 4 runs finished, 2 stopped part way (every round they "
                                    f"committed is kept), 2 not begun, in {out}; run the same command to go on"), err
    assert len(err.splitlines()) == 2 and err.startswith("sweep: 4 runs, 0 finished already"), err
    assert sorted(p.name for p in (out / "calm").iterdir()) == ["roster.toml", "seed-1.db", "seed-1.log", "seed-2.db",
                                                                "seed-2.log"]
    for p in playing:  # each stopped as a kill stops wood sim: the round in hand, then its one line
        kept = rounds_saved(p)
        assert kept >= 5
        assert p.with_suffix(".log").read_text().splitlines()[-1].startswith(
            f"wood: interrupted (SIGTERM): stopped after round {kept} of 100000"), p.with_suffix(".log").read_text()


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> list[str]:
    """A sweep whose four runs have all been played: run again, it only measures them. Its argv."""
    d = tmp_path_factory.mktemp("finished")
    argv = ["sweep", "--roster", str(roster(d / "calm.toml")),
            "--roster", str(roster(d / "greedy.toml", {"Owl": "speculator", "Hare": "hoarder"})),
            "--seeds", "1-2", "--rounds", "300", "--jobs", "2", "--out", str(d / "runs")]
    r = wood(*argv)
    assert r.returncode == 0, r.stderr
    return argv


@pytest.mark.parametrize("how", ["ctrl-c", "SIGTERM"])
def test_a_sweep_stopped_while_it_measures_ends_its_workers_and_leaves_no_wal(finished_sweep, how):
    """Every run finished, the sweep measuring them: a stop ends its workers
    (each closes the save it was reading: no -wal or -shm left beside one),
    one line saying every run finished and nothing was compared. It had
    measured every run before it stopped; a Ctrl-C printed each worker's
    traceback."""
    argv = finished_sweep
    out = Path(argv[-1])
    proc = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (_children(proc.pid) and list(out.glob("*/seed-*.db-shm"))) and time.monotonic() < deadline \
                and proc.poll() is None:  # a measuring worker has a save open (every run had finished)
            time.sleep(0.01)
        assert proc.poll() is None, proc.communicate(timeout=60)
        _stop_sweep(proc, how)
        stdout, err = proc.communicate(timeout=120)
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    assert _ours(out) == []
    sig = signal.SIGINT if how == "ctrl-c" else getattr(signal, how)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and stdout == "", err
    assert err.splitlines() == [
        "sweep: 4 runs, 4 finished already, 0 to resume, 0 to play",
        f"{_said(how)}: stopped while measuring the runs: 4 of 4 runs finished, in {out}; nothing compared: run the "
        "same command to compare them"], err
    assert sorted(p.name for p in out.glob("*/*")) == sorted(
        ["roster.toml", "seed-1.db", "seed-1.log", "seed-2.db", "seed-2.log"] * 2)


def test_a_sweep_whose_runs_save_is_a_named_pipe_says_so_and_never_waits_on_it(rosters, tmp_path):
    """A named pipe where a run's save goes: the check for another process
    writing it opened the pipe and waited for a writer for good (SIGTERM did
    not end the wait). Now it is one line, exit 2, the pipe left as it is."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    save = out / "calm" / "seed-1.db"
    save.unlink()
    os.mkfifo(save)
    r = wood(*argv, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.splitlines()[-1].startswith(f"wood: error: {save} ") and "not a regular file" in r.stderr, r.stderr
    assert save.is_fifo()


def test_a_sweep_whose_plan_is_a_named_pipe_says_so_and_never_waits_on_it(rosters, tmp_path):
    """A named pipe where a sweep's plan (sweep.json) goes: it was opened to
    be read, and the sweep waited for a writer for good. One line, exit 2."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    plan = out / "sweep.json"
    plan.unlink()
    os.mkfifo(plan)
    r = wood(*argv, timeout=60)
    assert r.returncode == 2 and r.stderr == (f"wood: error: {plan} is a named pipe (FIFO), not a sweep's plan; "
                                              "choose another --out\n"), r.stderr
    assert plan.is_fifo()


@pytest.mark.parametrize("make, kind", [(os.mkfifo, "a named pipe (FIFO)"), (os.mkdir, "a directory")])
def test_a_sweep_whose_lock_is_no_file_says_what_is_there(rosters, tmp_path, make, kind):
    """A named pipe where a sweep keeps its lock (--out's .sweep.lock) was
    opened to be written, and the sweep waited for a reader for good; a
    folder there was 'cannot write into --out DIR: Is a directory', as if
    --out were the trouble. One line naming what is there, exit 2."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    lock = out / ".sweep.lock"
    lock.unlink()
    make(lock)
    r = wood(*argv, timeout=60)
    assert r.returncode == 2 and r.stderr == (f"wood: error: {lock} is {kind}, not a sweep's lock file; "
                                              "choose another --out\n"), r.stderr


@pytest.mark.parametrize("make, kind", [(os.mkfifo, "a named pipe (FIFO)"), (os.mkdir, "a directory")])
def test_a_sweep_whose_runs_log_is_no_file_says_what_is_there_before_a_run(rosters, tmp_path, make, kind):
    """A named pipe where a run to play keeps its log (seed-N.log) was opened
    to be written, and the sweep waited for a reader for good, deaf to
    SIGTERM. One line naming what is there, before any run is played."""
    out = tmp_path / "runs"
    argv = ["sweep", "--roster", str(rosters[0]), "--seeds", "1-2", "--rounds", "3", "--out", str(out)]
    assert wood(*argv).returncode == 0
    for name in ("seed-1.db", "seed-2.db", "seed-1.log"):
        (out / "calm" / name).unlink()
    log = out / "calm" / "seed-1.log"
    make(log)
    r = wood(*argv, timeout=60)
    assert r.returncode == 2 and r.stderr.splitlines()[-1] == (
        f"wood: error: {log} is {kind}, not a run's log; choose another --out"), r.stderr
    assert not (out / "calm" / "seed-2.db").exists()  # refused before a run was played


def test_the_json_of_a_sweep_into_a_folder_not_named_in_utf8_is_valid(rosters, tmp_path):
    """`wood sweep --json --out` a folder whose name holds a byte that is not
    UTF-8 had written it in `out` (and in each run's `path`) as a bare
    "\\udcff", a lone surrogate no valid JSON holds (a strict reader refuses
    the object). Such a path is now written as the sweep's lines show it."""
    out = tmp_path / os.fsdecode(b"runs\xff")
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sweep", "--roster", str(rosters[0]), "--seeds", "1",
                        "--rounds", "2", "--out", str(out), "--json"], cwd=ROOT, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.decode("utf-8"))
    shown = str(tmp_path).replace("\\", "\\\\") + "/runs\\xff"
    assert d["out"] == shown and d["runs"][0]["path"] == shown + "/calm/seed-1.db", d
    json.dumps(d, ensure_ascii=False).encode("utf-8")  # every string in it is text: no lone surrogate
    assert d["rosters"]["calm"]["path"] == str(rosters[0])  # a path that is text is as it is


def test_a_sweeps_paths_not_in_utf8_and_typed_escapes_are_written_apart_and_as_valid_json(tmp_path):
    """sweep.json had kept a roster's path holding a byte that is not UTF-8
    as a bare "\\udcff" (no valid JSON text holds it); and a path typed with
    a backslash, `runs\\xff`, was written as the folder named with the byte
    0xff is: one could not be told from the other. In sweep.json and in
    --json alike, a path with a backslash or such a byte is now written as
    `shown_path` shows it (a backslash doubled, the byte `\\xff`)."""
    odd = tmp_path / os.fsdecode(b"r\xff")
    odd.mkdir()
    calm = roster(odd / "calm.toml")
    out = tmp_path / "runs\\xff"  # a backslash, x, f, f: text, typed
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sweep", "--roster", str(calm), "--seeds", "1",
                        "--rounds", "2", "--out", str(out), "--json"], cwd=ROOT, capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    base = str(tmp_path).replace("\\", "\\\\")
    for d in (json.loads(r.stdout.decode("utf-8")), json.loads((out / "sweep.json").read_text(encoding="utf-8"))):
        assert d["rosters"]["calm"]["path"] == base + "/r\\xff/calm.toml", d
        json.dumps(d, ensure_ascii=False).encode("utf-8")  # every string in it is text: no lone surrogate
    assert d["rosters"]["calm"]["path"] != json_path(tmp_path / "r\\xff" / "calm.toml")  # told apart from the typed
    assert json.loads(r.stdout)["out"] == base + "/runs\\\\xff"
    assert shown_path(out) == base + "/runs\\\\xff" and shown_path(odd) == base + "/r\\xff"


def test_write_whole_leaves_no_part_file_when_the_rename_fails(tmp_path):
    """A target that is a directory: the rename fails, one line says so, and
    the part file written for it goes too."""
    from engine.errors import WoodError
    from wood_tui.commands.sweep import _write_whole

    (tmp_path / "t.json").mkdir()
    with pytest.raises(WoodError, match="cannot write"):
        _write_whole(tmp_path / "t.json", b"x", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]
