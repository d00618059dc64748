"""`wood report`: the economy's health of a saved run, checked against the
ledger it was rebuilt from, and its measures on hand-made numbers."""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from rich.cells import cell_len

from engine.events import Event
from engine.report import EconomyReport, gini
from engine.rules import Flows
from engine.state import initial_state

ROOT = Path(__file__).resolve().parent.parent


def wood(*args):
    return subprocess.run([sys.executable, "-m", "wood_tui.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    db = tmp_path_factory.mktemp("report") / "run.db"
    r = wood("sim", "--rounds", "60", "--seed", "4", "--creatures", "8", "--save", str(db), "--quiet")
    assert r.returncode == 0, r.stderr
    return db


def ledger_events(db):
    with sqlite3.connect(db) as con:
        return [(r, k, json.loads(d)) for r, k, d in con.execute("SELECT round, kind, data FROM events ORDER BY round, seq")]


def test_the_json_report_counts_what_the_ledger_holds(saved):
    r = wood("report", str(saved), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    events = ledger_events(saved)
    trades = [x for _, k, x in events if k == "trade"]
    assert d["rounds"] == 60 and d["creatures"] == 8 and d["actions"] == 60 * 8
    assert d["trades_by_good"] == dict(Counter(x["good"] for x in trades))
    assert d["volume_by_good"] == dict(Counter({g: sum(x["qty"] for x in trades if x["good"] == g)
                                                for g in {x["good"] for x in trades}}))
    assert d["rejections"] == dict(Counter(x["reason"] for _, k, x in events if k == "rejected"))
    assert d["loans"]["taken"] == sum(k == "loan_taken" for _, k, _ in events)
    assert d["fines"]["count"] == sum(k == "fine" for _, k, _ in events)
    assert len(d["shocks"]) == len({(r, x["good"]) for r, k, x in events if k == "shock_started" and x["pct"] < 0})
    assert 0 < d["needs_met"] <= 1 and all(0 <= v <= 1 for v in d["needs_met_by_good"].values())
    assert 0 <= d["gini_final"] < 1 and len(d["gini_by_round"]) == 60 and len(d["mood_mean_by_round"]) == 60
    for g, series in d["price_by_good_by_round"].items():
        rounds_traded = {r for r, k, x in events if k == "trade" and x["good"] == g}
        assert {int(k) for k in series} <= rounds_traded | {r for r, k, _ in events if k == "granary"}
    assert sum(d["action_mix"].values()) == d["actions"]


def test_the_table_per_good_lines_up_with_a_good_named_in_wide_letters(tmp_path, monkeypatch, capsys):
    """A world whose good is named in wide letters (栗の実: two cells each):
    `wood report`'s table per good padded the names by characters, so that
    good's numbers stood three cells right of every other row's; each column
    now ends at the same cell on every row, under its heading."""
    from tests.saves import WIDE_GOOD, wide_good_world
    from wood_tui.cli import main

    world = wide_good_world(tmp_path / "world", monkeypatch)
    db = tmp_path / "run.db"
    assert main(["sim", "--rounds", "8", "--seed", "1", "--save", str(db), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith("good "))
    head, rows = lines[at], lines[at + 1:at + 1 + len(world.goods)]
    assert [r.split()[0] for r in rows] == list(world.goods) and WIDE_GOOD in world.goods, rows
    ends = [[cell_len(x[:m.end()]) for m in re.finditer(r"\S+(?: \S+)*", x)][1:] for x in (head, *rows)]
    assert all(e == ends[1] for e in ends[1:]), rows
    assert ends[0][:3] == ends[1][:3], (head, rows)  # trades, units, prices under their headings


def test_the_price_chart_keeps_its_frame_and_width_with_a_good_named_in_wide_letters(tmp_path, monkeypatch, capsys):
    """`wood report --plot` in a world whose good is named in wide letters
    (栗の実: 3 letters, 6 cells): plotext's legend, drawn in the chart, put
    each letter in one cell, so the legend's line for that good pushed the
    chart's right edge three cells out and ran past the width; the legend is
    under the chart, wrapped by cells: the frame's right edge is at one cell on
    every line, no line wider than the chart, each good named once in it."""
    from tests.saves import WIDE_GOOD, wide_good_world
    from wood_tui.cli import main

    world = wide_good_world(tmp_path / "world", monkeypatch)
    db = tmp_path / "run.db"
    assert main(["sim", "--rounds", "8", "--seed", "1", "--save", str(db), "--quiet"]) == 0
    monkeypatch.setenv("COLUMNS", "80")
    capsys.readouterr()
    assert main(["report", str(db), "--plot"]) == 0
    out = capsys.readouterr().out
    chart = out[out.index("mean trade price per good"):].split("\n\n")[0].splitlines()
    framed = [x for x in chart if x.rstrip().endswith(("│", "┐", "┘"))]
    assert len(framed) > 10 and len({cell_len(x.rstrip()) for x in framed}) == 1, chart
    assert all(cell_len(x) <= 80 for x in chart), chart
    legend = chart[chart.index(next(x for x in chart if x.rstrip().endswith("┘"))) + 3:]
    traded = [g for g in world.goods if any(f" {g}" in x for x in legend)]
    assert WIDE_GOOD in traded and all(sum(f" {g}" in x for x in legend) == 1 for g in traded), legend


def test_a_charts_legend_wraps_and_cuts_names_of_wide_letters_by_cells():
    """The legend under a chart of lines (models named in wide letters: 栗鼠モデル,
    🦊): names wrapped onto lines by terminal cells, none wider than the chart;
    a name wider than a line of its own cut to fit, `…` at its end."""
    from wood_tui.plots import legend_lines

    names = ["栗鼠モデル", "smol", "🦊🦊 fox", "栗鼠" * 30, "E\u0301cureuil"]
    lines = legend_lines(names, 30)
    assert all(cell_len(x) <= 30 for x in lines) and len(lines) >= 3, lines
    assert [n for n in names if any(f" {n}" in x for x in lines)] == [n for n in names if n != "栗鼠" * 30], lines
    assert any(x.startswith("  oo 栗鼠栗鼠") and x.endswith("…") and cell_len(x) in (29, 30) for x in lines), lines


def test_charts_of_a_good_the_font_cannot_draw_say_so_in_one_line(tmp_path, monkeypatch, capsys):
    """`wood report --plots DIR` in a world whose good is named in letters the
    charts' font lacks (栗の実): matplotlib had warned of each missing glyph in
    two warnings of several lines, its source's paths and code amid the
    output; it is one note naming the letters and the files (the charts are
    written all the same)."""
    import warnings

    from tests.saves import wide_good_world
    from wood_tui.cli import main

    wide_good_world(tmp_path / "world", monkeypatch)
    db = tmp_path / "run.db"
    assert main(["sim", "--rounds", "8", "--seed", "1", "--save", str(db), "--quiet"]) == 0
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning let out is a failure here, not a line pytest keeps to itself
        assert main(["report", str(db), "--plots", str(tmp_path / "charts")]) == 0
    err = capsys.readouterr().err
    notes = [x for x in err.splitlines() if x.startswith("note:")]
    assert notes == [f"note: the charts' font has no letter for 栗の実: the charts in {tmp_path / 'charts'} draw them "
                     "as boxes"], err
    assert (tmp_path / "charts" / "prices.png").stat().st_size > 0


def test_a_glyph_note_is_said_only_of_charts_written_and_other_warnings_pass_on(tmp_path, capsys):
    """The note that the charts' font lacks a letter is said once the charts
    are written, never of charts a failure left unwritten; every other warning
    is passed on as it came, written or not (it had been dropped on a failure)."""
    import warnings

    from engine.errors import WoodError
    from wood_tui.plots import _glyphs_missing

    def drawn(fail: bool) -> list[str]:
        with pytest.warns(UserWarning, match="^another$") as passed:
            with contextlib.suppress(WoodError), _glyphs_missing(tmp_path):
                warnings.warn("Glyph 26647 (\\N{CJK UNIFIED IDEOGRAPH-6817}) missing from font(s) DejaVu Sans.", stacklevel=1)
                warnings.warn("another", stacklevel=1)
                if fail:
                    raise WoodError("cannot write the chart")
        assert [str(w.message) for w in passed] == ["another"]
        return capsys.readouterr().err.splitlines()

    assert drawn(fail=True) == []
    assert drawn(fail=False) == [f"note: the charts' font has no letter for 栗: the charts in {tmp_path} draw it as boxes"]


def test_a_charts_names_reach_the_terminal_inert():
    """A model's name as a save made by hand holds it (an escape sequence, a
    bidi override, a line break) had reached the terminal as written in a
    chart's legend and its bars' labels: each is drawn inert."""
    from wood_tui.plots import legend_lines, text_bars

    hostile = "smol\x1b[2J\u202e\nlm"
    drawn = "\n".join([*legend_lines([hostile, "plain"], 80), text_bars("worth", [hostile, "plain"], [3.0, 1.0])])
    assert "smol lm" in drawn and "plain" in drawn, drawn
    assert not any(ch in drawn for ch in "\x1b\u202e\r"), repr(drawn)


def test_the_text_report_says_the_same(saved):
    r = wood("report", str(saved))
    assert r.returncode == 0, r.stderr
    d = json.loads(wood("report", str(saved), "--json").stdout)
    text = r.stdout
    assert text.splitlines()[0] == f"report of {saved}"
    assert f"needs met: {100 * d['needs_met']:.0f}%" in text
    assert f"wealth Gini at the end: {d['gini_final']:.2f}" in text
    assert f"actions: {d['actions']} (" in text
    assert "harvest failures:" in text and "loans:" in text and "fines:" in text


def test_a_damaged_save_is_one_line(tmp_path, saved):
    bad = tmp_path / "bad.db"
    bad.write_bytes(saved.read_bytes())
    with sqlite3.connect(bad) as con:
        con.execute("""UPDATE actions SET action = '[1]' WHERE round = 2""")
    r = wood("report", str(bad))
    assert r.returncode == 2 and r.stderr.startswith("wood: error: ") and len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("values,expect", [([5, 5, 5, 5], 0.0), ([0, 0, 0, 10], 0.75), ([1, 3], 0.25), ([], 0.0),
                                           ([-4, 0, 0, 8], 0.75)])
def test_gini(values, expect):
    assert gini(values) == pytest.approx(expect)


def _round(report, state, r, trades=(), shocks=(), extra=(), before=None):
    ev = [Event("trade", r, {"buyer": "Owl", "seller": "Fox", "good": g, "qty": q, "price": p}) for g, q, p in trades]
    ev += [Event("shock_started", r, {"good": g, "pct": pct, "shock": "x", "until": r + 1, "headline": ""})
           for g, pct in shocks]
    report.add(r, before or state, state, [*ev, *extra], (Flows(), Flows()), {})


def test_a_price_that_never_moves_is_one_stretch_and_a_shock_is_measured(world):
    report = EconomyReport(world)
    s = initial_state(world, 1)
    for r in range(1, 61):
        trades = [("honey", 1, 5)] if r % 2 else []  # every other round, always at 5
        if r == 30:
            _round(report, s, r, trades, shocks=[("berries", -100)])
            continue
        berries = [("berries", 2, 10 if r >= 30 else 8)] if 24 <= r < 36 else []
        _round(report, s, r, trades + berries)
    d = report.to_dict()
    assert d["longest_single_price_rounds_by_good"]["honey"] == 59  # rounds 1..59, trades in every other one
    (shock,) = d["shocks"]
    assert (shock["round"], shock["good"], shock["price_before"], shock["price_after"]) == (30, "berries", 8, 10)
    assert shock["rise"] == pytest.approx(0.25) and d["shocks_with_rise"] == {"measured": 1, "rose_enough": 1}


def test_a_failure_started_again_while_it_runs_is_one_and_a_cut_window_is_not_measured(world):
    """A second tip starting honey's failure while it already runs is the same
    failure, not a new one; a failure whose five rounds after run past the
    end is listed, not measured; the granary's fills count as prices; the
    JSON's price series is in round order; the text says what "measured" counts."""
    from engine.state import ActiveShock

    report = EconomyReport(world)
    s = initial_state(world, 1)
    failing = s.copy()
    failing.shocks = [ActiveShock("x", "honey", -100, 24)]
    for r in range(1, 25):
        granary = [Event("granary", r, {"spent": 9, "fed": ["Owl"], "bought": {"acorns": 1},
                                        "buys": [["Fox", "acorns", 1, 9]]})] if r == 3 else []
        _round(report, s, r, [("honey", 1, 5 if r < 10 else 8)],
               shocks=[("honey", -100)] if r in (10, 11, 22) else [], extra=granary,
               before=failing if r == 11 else None)
    d = report.to_dict()
    assert [(x["round"], x["rise"] is not None) for x in d["shocks"]] == [(10, True), (22, False)]
    assert d["shocks_with_rise"]["measured"] == 1
    assert d["price_by_good_by_round"]["acorns"] == {3: 9.0}
    doc = json.loads(json.dumps(d, sort_keys=True))
    assert list(doc["price_by_good_by_round"]["honey"]) == [str(r) for r in range(1, 25)]
    text = "\n".join(report.lines())
    assert "the run ends within its window" in text
    # what "measured" counts is said: a price on both sides, and the whole window after within the run
    assert ("harvest failures: 2; measured 1 (a price in the 5 rounds before and in the 5 from its start, all 5 "
            "within the run), price up >= 20% in 1") in text


def test_a_200_round_scripted_game_shows_every_new_move(tmp_path):
    """Issue 9's run: 200 rounds, 5 scripted creatures. Shorts open and close
    (some at a loss, some squeezed), pacts are made and broken, whispers are
    sent and some pass on a tip; the summary and the report say the same."""
    db = tmp_path / "moves.db"
    sim = wood("sim", "--rounds", "200", "--seed", "5", "--save", str(db), "--quiet")
    assert sim.returncode == 0, sim.stderr
    r = wood("report", str(db), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    sh, pa, wh = d["shorts"], d["pacts"], d["whispers"]
    assert sh["opened"] >= 3 and sh["closed"] == sh["opened"] and sh["at_loss"] >= 1 and sh["squeezed"] >= 1, sh
    assert pa["formed"] >= 1 and pa["broken"] >= 1 and pa["proposed"] >= pa["formed"], pa
    assert wh["sent"] >= 5 and 1 <= wh["tips_passed"] <= wh["sent"], wh
    kinds = Counter(k for _, k, _ in ledger_events(db))
    assert (kinds["short_opened"], kinds["pact_formed"], kinds["whisper"]) == (sh["opened"], pa["formed"], wh["sent"])
    assert f"shorts: {sh['opened']} opened, {sh['closed']} closed" in sim.stdout
    assert f"whispers: {wh['sent']} ({wh['tips_passed']} passing on a tip)" in sim.stdout
    # the export writes each whisper once, beside calls and tips; a tip passed on is named by id only
    e = wood("export", str(db), "--out", str(tmp_path / "out"))
    assert e.returncode == 0, e.stderr
    rows = [json.loads(x) for x in (tmp_path / "out" / "whispers.jsonl").read_text().splitlines()]
    assert len(rows) == wh["sent"] and all(set(r) == {"round", "from", "to", "text", "tip"} for r in rows)
    assert [(r["round"], r["from"], r["to"], r["text"]) for r in rows] == [
        (rnd, d["from"], d["to"], d["text"]) for rnd, k, d in ledger_events(db) if k == "whisper"]
    tips = {t["id"]: t for t in map(json.loads, (tmp_path / "out" / "tips.jsonl").read_text().splitlines())}
    passed = [r for r in rows if r["tip"] is not None]
    assert passed and all(r["text"] == tips[r["tip"]]["text"] and "truth" not in r for r in passed)


# ---- per-model behaviour (issue 12) ---------------------------------------------------
GOLDEN_ARGS = ("sim", "--rounds", "40", "--seed", "12", "--save")


@pytest.fixture(scope="module")
def golden_save(tmp_path_factory):
    db = tmp_path_factory.mktemp("golden") / "golden.db"
    r = wood(*GOLDEN_ARGS, str(db), "--quiet")
    assert r.returncode == 0, r.stderr
    return db


def test_the_report_text_is_the_golden_one(golden_save, snapshot):
    """`wood report` of a 40-round scripted run, whole. A change in the
    rules or the scripted traders moves it: read the diff, then update with
    `pytest tests/test_report.py --snapshot-update`."""
    r = wood("report", str(golden_save), "--gpu-hour-price", "2.5")
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace(str(golden_save), "RUN.db") == snapshot


def test_the_report_json_is_the_golden_one(golden_save, snapshot):
    r = wood("report", str(golden_save), "--json")
    assert r.returncode == 0, r.stderr
    assert json.dumps(json.loads(r.stdout), indent=1, sort_keys=True) == snapshot


def test_each_model_counts_what_its_creatures_did_in_the_ledger(saved):
    """Per model (here the scripted temperaments, one creature each), the
    counts add up to the ledger's: decisions, trades on each side, says,
    loans, shorts, rejections, and the net worth at the end is the standings'."""
    from engine.replay import rebuild
    from engine.score import worths
    from engine.world import load_world

    d = json.loads(wood("report", str(saved), "--json").stdout)
    models = d["models"]
    events = ledger_events(saved)
    with sqlite3.connect(saved) as con:
        roster = json.loads(con.execute("SELECT value FROM meta WHERE key = 'roster'").fetchone()[0])
    who = {r["name"]: f"scripted:{r['temperament']}" for r in roster}
    assert sorted(n for m in models.values() for n in m["creatures"]) == sorted(who)
    assert sum(m["decisions"] for m in models.values()) == d["actions"]
    world = load_world()
    ledger = __import__("engine.ledger", fromlist=["Ledger"]).Ledger.open(saved)
    try:
        final = worths(rebuild(ledger, world), world)
    finally:
        ledger.close()

    def by(kind, field):
        return Counter(who[x[field]] for _, k, x in events if k == kind and x.get(field) in who)

    for name, m in models.items():
        mine = [n for n, w in who.items() if w == name]
        assert m["creatures"] == mine and m["decisions"] == 60 * len(mine)
        assert m["trades"]["bought"] == by("trade", "buyer")[name] and m["trades"]["sold"] == by("trade", "seller")[name]
        assert m["loans"]["taken"] == by("loan_taken", "borrower")[name]
        assert m["loans"]["defaulted"] == by("default", "borrower")[name]
        assert m["shorts"]["opened"] == by("short_opened", "owner")[name]
        assert m["say_per_round"] == pytest.approx(by("say", "creature")[name] / (60 * len(mine)), abs=1e-4)
        assert sum(m["rejected"].values()) == by("rejected", "creature")[name]
        assert m["valid"] + sum(m["rejected"].values()) == m["decisions"] and m["calls"] is None
        assert sum(m["action_mix"].values()) == m["decisions"]
        assert m["worth"]["end"] == pytest.approx(sum(final[n] for n in mine) / len(mine))
        assert len(m["worth_by_round"]) == len(m["mood_by_round"]) == 60
        assert m["tips"]["received"] == sum(n in mine for _, k, x in events if k == "tip_issued"
                                            for n in _recipients(saved, x["tip"]))


def _recipients(db, tip):
    with sqlite3.connect(db) as con:
        return json.loads(con.execute("SELECT recipients FROM tips WHERE id = ?", (tip,)).fetchone()[0])


def _decision(action="pass", outcome="scripted", reason="", **fields):
    from engine.actions import Action
    from engine.brains import Decision

    return Decision(Action(action=action, **fields), outcome, reason)


def test_a_price_given_for_calls_with_no_time_recorded_is_not_said_to_be_missing(world):
    """A GPU-hour price given, but no call's time recorded to charge it on:
    the model's line had said 'no price given (--gpu-hour-price, ...)',
    though one was; it says the price and why there is no cost."""
    from engine.behaviour import ModelBehaviour, Prices
    from engine.report import model_lines
    from engine.world import RosterEntry

    s = initial_state(world, 1, [RosterEntry("Owl", "owl", "cautious", "smol"),
                                 RosterEntry("Fox", "fox", "speculator", "smol")])
    b = ModelBehaviour(world, Prices(gpu_hour=3.6, mtok=None))
    worth = {n: 100 for n in s.creatures}
    b.add(1, s, s, [], {"Owl": _decision("pass"), "Fox": _decision("pass")}, worth, worth)
    b.add_call({"model": "smol", "latency_ms": None, "prompt_tokens": 500, "completion_tokens": 20})
    text = "\n".join(model_lines("smol", b.to_dict()["smol"]))
    assert "cost per 1,000 decisions: n/a at 3.6 per GPU-hour (no time in calls recorded)" in text, text
    assert "no price given" not in text


def test_a_joined_creature_no_one_played_goes_by_its_autopilot_not_human(world):
    """Wren joined as a person (model "human") and was then played headless
    by `wood sim --resume`: the scripted rules of its temperament decided for
    it, and the report had said 'human (Wren): 4 decisions'. It goes by
    those rules; a creature a person did play is the human seat."""
    from engine.behaviour import ModelBehaviour
    from engine.world import RosterEntry

    s = initial_state(world, 1, [RosterEntry("Owl", "owl", "cautious", "scripted"),
                                 RosterEntry("Wren", "owl", "merchant", "human"),
                                 RosterEntry("Jay", "fox", "hoarder", "human")])
    b = ModelBehaviour(world)
    worth = {n: 100 for n in s.creatures}
    for r in (1, 2):
        b.add(r, s, s, [], {"Owl": _decision("pass"), "Wren": _decision("pass"), "Jay": _decision("pass", "human")},
              worth, worth)
    d = b.to_dict()
    assert set(d) == {"scripted:cautious", "scripted:merchant", "human"}, set(d)
    assert d["scripted:merchant"]["creatures"] == ["Wren"] and d["human"]["creatures"] == ["Jay"]
    assert d["human"]["worth_by_round"] == [100, 100] and d["scripted:merchant"]["decisions"] == 2


def _a_person_plays(world, db: Path, seat: str, to_round: int, **new_run) -> None:
    """`wood play`'s game with a person at `seat` who passes each turn, to
    round `to_round`: a new save at `db` (`new_run`: its RunOptions, the seat
    joining as a new creature) or, without `new_run`, `db` resumed."""
    import asyncio

    from engine.actions import Action
    from engine.brains.human import HumanBrain
    from engine.world import RosterEntry
    from wood_tui.game import HUMAN, open_game
    from wood_tui.options import RunOptions

    def turn(view, answer):  # the person's answer, given as the turn is handed over
        answer.set_result(Action(action="pass", say=f"{view.name} thinks"))

    async def play():
        options = RunOptions(save=db, **new_run) if new_run else RunOptions(resume=db, brains=None)
        joining = [RosterEntry(seat, "owl", "merchant", HUMAN)] if new_run else []
        async with open_game(options, world, extra_brains={seat: HumanBrain(turn)}, extra_roster=joining,
                             seats=[seat]) as game:
            await game.runner.run(to_round)
    asyncio.run(play())


def test_a_seat_a_person_left_to_its_autopilot_counts_each_round_under_who_decided_it(world, tmp_path):
    """Wren joined as a person (`wood play --as Wren --species owl`), who
    played rounds 1-4; `wood sim --resume` had its autopilot (the scripted
    merchant's rules) decide rounds 5-7; the person sat down again for 8-10.
    The report had counted all 10 rounds as 'human (Wren): 10 decisions'.
    Each round counts under who decided it, as each decision's recorded
    outcome says, and the report says how the seat was shared."""
    db = tmp_path / "shared.db"
    _a_person_plays(world, db, "Wren", 4, creatures=4, rounds=10, seed=5)
    r = wood("sim", "--resume", str(db), "--rounds", "7", "--quiet")
    assert r.returncode == 0, r.stderr
    _a_person_plays(world, db, "Wren", 10)
    with sqlite3.connect(db) as con:  # what the ledger records per decision: the person's as "human"
        outcomes = [o for (o,) in con.execute("SELECT outcome FROM actions WHERE creature = 'Wren' ORDER BY round")]
    con.close()
    assert outcomes == ["human"] * 4 + ["scripted"] * 3 + ["human"] * 3, outcomes

    r = wood("report", str(db), "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    human, merchant = d["models"]["human"], d["models"]["scripted:merchant"]
    assert d["decided_by"]["Wren"] == {"human": 7, "scripted:merchant": 3}, d["decided_by"]
    assert human["creatures"] == ["Wren"] and human["decisions"] == 7 and human["rounds_by_creature"] == {"Wren": 7}
    assert human["action_mix"] == {"pass": 7} and human["say_per_round"] == 1.0  # the person's passes, each with a say
    assert human["series_rounds"] == [1, 2, 3, 4, 8, 9, 10] and len(human["worth_by_round"]) == 7
    assert "Wren" in merchant["creatures"] and merchant["rounds_by_creature"]["Wren"] == 3
    assert sum(m["decisions"] for m in d["models"].values()) == d["actions"] == 10 * 5
    assert all(sum(by.values()) == 10 for by in d["decided_by"].values())

    text = wood("report", str(db))
    assert text.returncode == 0, text.stderr
    assert "  human (Wren for 7 rounds): 7 decisions," in text.stdout, text.stdout
    assert "Wren: human 7 rounds, autopilot 3 (scripted:merchant)" in text.stdout, text.stdout
    assert "human (Wren): 10 decisions" not in text.stdout
    plots = wood("report", str(db), "--plots", str(tmp_path / "charts"))  # the series drawn at their rounds
    assert plots.returncode == 0, plots.stderr


def test_model_measures_on_hand_made_rounds_and_calls(world):
    """Outcomes by reason (the engine's, schema, unparseable, fault), self-trade
    attempts, a human seat, latency percentiles, tokens per second and the cost
    per 1,000 decisions at either price."""
    from engine.behaviour import ModelBehaviour, Prices
    from engine.brains import ENGINE_PREFIX
    from engine.world import RosterEntry

    roster = [RosterEntry("Owl", "owl", "cautious", "smol"), RosterEntry("Fox", "fox", "speculator", "smol"),
              RosterEntry("Badger", "badger", "hoarder")]
    s = initial_state(world, 1, roster)
    b = ModelBehaviour(world, Prices(gpu_hour=3.6, mtok=2.0))
    rounds = [
        ({"Owl": _decision("offer", "clean", side="sell", good="acorns", qty=1, price=5),
          "Fox": _decision("accept", "rejected", f"{ENGINE_PREFIX}self_trade", id=3),
          "Badger": _decision("offer", "human", side="buy", good="honey", qty=1, price=1)},
         [Event("rejected", 1, {"creature": "Fox", "action": "accept", "reason": "self_trade"}),
          Event("rejected", 1, {"creature": "Badger", "action": "offer", "reason": "insufficient_coins"})]),
        ({"Owl": _decision("pass", "rejected", "schema: qty: too big"),
          "Fox": _decision("pass", "rejected", "unparseable: no JSON object"),
          "Badger": _decision("pass", "human")}, []),
        ({"Owl": _decision("pass", "fault", "fault: timeout"), "Fox": _decision("gift", "repaired", to="Owl",
                                                                                 good="coins", qty=1),
          "Badger": _decision("pass", "human")}, [Event("say", 3, {"creature": "Fox", "text": "hi"})]),
    ]
    worth = {n: 100 for n in s.creatures}
    for r, (decisions, events) in enumerate(rounds, 1):
        b.add(r, s, s, events, decisions, worth, worth)
    for lat, pt, ct in ((1000, 500, 20), (3000, 700, 40), (2000, None, 30), (None, 600, None)):
        b.add_call({"model": "smol", "latency_ms": lat, "prompt_tokens": pt, "completion_tokens": ct})
    # a call that never came back (it timed out): no latency, no tokens; its 6 s still cost GPU time
    b.add_call({"model": "smol", "latency_ms": 6000, "prompt_tokens": None, "completion_tokens": None,
                "outcome": "fault", "reason": "fault: timeout"})
    d = b.to_dict()
    assert set(d) == {"smol", "human"}  # Badger's seat was a person's: the human counts as the model
    smol = d["smol"]
    assert smol["creatures"] == ["Owl", "Fox"] and smol["decisions"] == 6
    assert (smol["clean"], smol["repaired"], smol["valid"]) == (1, 1, 2)
    assert smol["rejected"] == {"fault": 1, "schema": 1, "self_trade": 1, "unparseable": 1}
    assert smol["self_trade_attempts"] == 1 and smol["valid_share"] == pytest.approx(2 / 6, abs=1e-4)
    assert smol["action_mix"] == {"accept": 1, "gift": 1, "offer": 1, "pass": 3}
    assert smol["say_per_round"] == pytest.approx(1 / 6, abs=1e-4)
    c = smol["calls"]
    assert c["n"] == 5 and c["latency_ms"]["p50"] == 2000 and c["latency_ms"]["p95"] == 3000
    assert c["prompt_tokens"] == {"mean": 600.0, "total": 1800, "n": 3} and c["completion_tokens"]["total"] == 90
    assert c["tokens_per_s"] == pytest.approx(90 / 6.0)
    # 12 s of calls = 1/300 GPU-hour at 3.6: 0.012 for 6 decisions, 2.0 per 1,000;
    # 1,890 tokens at 2.0 per million: 0.00378 for 6 decisions, 0.63 per 1,000
    assert c["cost_per_1k_decisions"] == {"gpu_hour": pytest.approx(2.0), "mtok": pytest.approx(0.63)}
    assert d["human"]["decisions"] == 3 and d["human"]["rejected"] == {"insufficient_coins": 1}
    assert d["human"]["calls"] is None


def test_report_plots_in_the_terminal_and_as_files(saved, tmp_path):
    r = wood("report", str(saved), "--plot", "--plots", str(tmp_path / "charts"))
    assert r.returncode == 0, r.stderr
    for title in ("mean trade price per good", "mean net worth per creature, by model",
                  "mean mood per creature, by model", "valid decisions, %", "goods held, in rounds of needs"):
        assert title in r.stdout
    assert "\x1b[" not in r.stdout  # not a terminal: plain text
    names = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert names == sorted(f"{n}.{x}" for n in ("prices", "worth", "mood", "models") for x in ("png", "svg"))
    for p in (tmp_path / "charts").iterdir():
        head = p.read_bytes()[:200]
        assert head.startswith(b"\x89PNG") if p.suffix == ".png" else b"<svg" in p.read_bytes()[:2000], p
    j = wood("report", str(saved), "--json", "--plot")  # the charts go to stderr: stdout stays JSON
    assert j.returncode == 0 and json.loads(j.stdout)["rounds"] == 60 and "mean trade price" in j.stderr


def homeless(tmp_path: Path, **more) -> dict[str, str]:
    """An environment whose HOME cannot be written (/proc) and no MPLCONFIGDIR
    or XDG folder of its own; temporary files go to `tmp_path`/tmp."""
    (tmp_path / "tmp").mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    return {**env, "HOME": "/proc", "TMPDIR": str(tmp_path / "tmp"), **more}


@pytest.mark.parametrize("home", ["HOME=/proc", "XDG folders in /proc"])
def test_charts_with_a_home_that_cannot_be_written_say_nothing_of_matplotlibs_folders(saved, tmp_path, home):
    """HOME=/proc (or an XDG_CONFIG_HOME that cannot be written): matplotlib
    printed two warnings about its config and cache folders around the
    charts' line, though the charts were written. It is given a folder of its
    own for the run, gone after; an MPLCONFIGDIR the user set is used as set."""
    env = homeless(tmp_path) if home == "HOME=/proc" else \
        homeless(tmp_path, HOME=str(tmp_path), XDG_CONFIG_HOME="/proc", XDG_CACHE_HOME="/proc")
    charts = tmp_path / "charts"
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "report", str(saved), "--plots", str(charts)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env=env)
    assert (r.returncode, r.stderr) == (0, f"wrote 8 chart files to {charts}\n"), r.stderr
    assert len(list(charts.iterdir())) == 8 and os.listdir(tmp_path / "tmp") == []
    mine = tmp_path / "mine"
    mine.mkdir()
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "report", str(saved), "--plots", str(charts)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env={**env, "MPLCONFIGDIR": str(mine)})
    assert (r.returncode, r.stderr) == (0, f"wrote 8 chart files to {charts}\n"), r.stderr
    assert os.listdir(mine) and os.listdir(tmp_path / "tmp") == []  # matplotlib's cache, where the user said


def on_a_terminal(argv: list[str], **env) -> tuple[str, str]:
    """(what `wood ARGV` wrote to its stdout, a terminal (a pty), and to its
    stderr, a file: no pipe to fill while the terminal is read), within 120 s."""
    import pty
    import select
    import tempfile
    import time

    main, term = pty.openpty()
    inherited = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}  # a CI's or a shell's NO_COLOR is not the test's
    with tempfile.TemporaryFile() as errors:
        p = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", *argv], cwd=ROOT, stdout=term, stderr=errors,
                             env={**inherited, **env})
        os.close(term)
        out, deadline = b"", time.monotonic() + 120
        try:
            while (left := deadline - time.monotonic()) > 0:
                if not select.select([main], [], [], left)[0]:
                    continue
                try:
                    chunk = os.read(main, 65536)
                except OSError:  # the terminal's other end is closed: all read
                    break
                if not chunk:
                    break
                out += chunk
            else:
                p.kill()
                raise AssertionError(f"wood {argv} still drawing after 120 s")
            assert p.wait(timeout=120) == 0
        finally:
            os.close(main)
        errors.seek(0)
        return out.decode(), errors.read().decode()


def test_charts_are_coloured_only_on_a_terminal_they_are_drawn_on_and_never_under_no_color(saved):
    """The charts' colour followed stdout even where they go to stderr (`--json --plot 2> charts.txt`
    on a terminal: escape codes in the file), and NO_COLOR (no-color.org) was not heard."""
    out, _ = on_a_terminal(["report", str(saved), "--plot"], TERM="xterm-256color")  # not the test's own TERM
    assert "\x1b[" in out  # a terminal: colour
    out, _ = on_a_terminal(["report", str(saved), "--plot"], NO_COLOR="1")
    assert "mean trade price per good" in out and "\x1b[" not in out
    out, err = on_a_terminal(["report", str(saved), "--json", "--plot"])
    assert "mean trade price per good" in err and "\x1b[" not in err


def test_charts_on_a_dumb_terminal_are_not_coloured(saved):
    """TERM=dumb (Emacs' shell, a CI log) reads no escape codes: the charts had
    been coloured there all the same, every bar and axis among `^[[38;5;12m`s."""
    out, _ = on_a_terminal(["report", str(saved), "--plot"], TERM="dumb")
    assert "mean trade price per good" in out and "\x1b" not in out


def test_a_sim_warning_on_a_dumb_terminal_ends_the_bars_line_without_an_escape(monkeypatch):
    """`wood sim` cleared the progress bar's line with ESC [K before a warning
    (a model that stops answering): on TERM=dumb it showed as `^[[K`."""
    import io

    from wood_tui.commands import sim

    class Tty(io.StringIO):
        def isatty(self):
            return True
    for term, start in (("dumb", "\n"), ("xterm", "\r\x1b[K")):
        monkeypatch.setenv("TERM", term)
        monkeypatch.setattr(sys, "stderr", Tty())
        sim._warn("wood: model m: every call failed in round 3")
        assert sys.stderr.getvalue() == start + "wood: model m: every call failed in round 3\n", term


def test_charts_with_stdout_closed_are_not_a_traceback(saved):
    """`wood report RUN.db --plot >&-` (a cron line): Python sets sys.stdout to None, and asking it
    whether it was a terminal, to colour the charts, had been an AttributeError traceback, exit 1."""
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "report", str(saved), "--plot"], cwd=ROOT,
                       stderr=subprocess.PIPE, text=True, timeout=120, preexec_fn=lambda: os.close(1))
    assert r.returncode == 0 and r.stderr == "", r.stderr


@pytest.mark.parametrize("argv,words", [
    (["--gpu-hour-price", "-1"], "expected a price"),
    (["--mtok-price", "nan"], "expected a price"),
    (["--gpu-hour-price", "1e308"], "expected a price from 0 to 1,000,000"),
    (["--gpu-hour-price", "٣"], "expected a price"),
    (["--plots", "{saved}"], "is a file, not a directory"),
    (["--plots", ""], "expected a directory path"),
])
def test_bad_report_flags_are_one_line(saved, argv, words):
    r = wood("report", str(saved), *[a.format(saved=saved) for a in argv])
    assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize("text", ["-0", "-0.0", "-.0e3", " -0 "])
def test_a_price_of_minus_zero_is_zero(text):
    """`--gpu-hour-price -0` is a price of 0 (in range), and read as -0.0 it
    had printed 'cost per 1,000 decisions: -0.0000 at -0 per GPU-hour'."""
    from wood_tui.commands.report import _price

    assert f"{_price(text):g}" == "0"


@pytest.mark.parametrize("text, shown", [("1000000", "1000000"), ("999999.5", "999999.5"), ("1e-7", "0.0000001"),
                                         ("2.50", "2.5"), ("3.6", "3.6"), ("0", "0"),
                                         ("1e-12", "0.000000000001"), ("1e-300", "1e-300"), ("1e-320", "1e-320"),
                                         ("1.25e-30", "1.25e-30")])
def test_a_price_is_printed_in_plain_digits_as_given(text, shown):
    """`:g` had printed a price of 1,000,000 (the most a price flag takes) and
    999999.5 alike, as `1e+06`; a price too small for plain digits (1e-300,
    which the flag takes) had been printed as 300 of them, twice on a line."""
    from engine.report import price_text
    from wood_tui.commands.report import _price

    assert price_text(_price(text)) == shown


def test_a_say_line_is_on_topic_when_it_names_a_good_or_a_creature():
    from engine.behaviour import on_topic

    goods, names = ("acorns", "honey", "berries"), ("Owl", "Fox")
    assert on_topic("Buying ACORN cheap", goods, names) and on_topic("fox cheats", goods, names)
    assert on_topic("berry season!", goods, names)
    assert not on_topic("Moose-Oak 2017-08-30:19.56.41:1", goods, names) and not on_topic(".5", goods, names)


def test_a_change_shown_is_the_difference_of_the_numbers_shown():
    from engine.report import _moved

    assert _moved({"start": 170.6, "end": 149.5, "change": -21.1}) == "171 -> 150 (-21)"
    assert _moved({"start": None, "end": 3.0, "change": None}) == "n/a"


def test_a_share_that_is_neither_none_nor_all_never_reads_0_or_100_percent(saved, world):
    """2,000 creatures: 24 of 6,000 actions rejected had read `rejected: 0% of actions` and a model
    with one of 1,200 refused `valid 100%`. The report and `wood sim`'s model lines round a share
    the same way: to the whole percent, but `<1%` and `>99%` for the ends it does not reach."""
    from engine.metrics import percent
    from engine.report import model_lines, report_of
    from wood_tui.game import model_lines as sim_model_lines

    assert [percent(x) for x in (None, 0, 0.005, 0.006, 0.5, 0.994, 0.995, 1)] == \
        ["n/a", "0%", "<1%", "1%", "50%", "99%", ">99%", "100%"]
    m = next(iter(report_of(saved, world).to_dict()["models"].values()))
    one_refused = {**m, "decisions": 1200, "clean": 1199, "repaired": 0, "valid_share": 1199 / 1200,
                   "rejected": {"insufficient_goods": 1}, "say_on_topic_share": 1 / 300}
    line = model_lines("scripted:hoarder", one_refused)
    assert "valid >99% (clean 1199, repaired 0), rejected 1 (insufficient_goods 1)" in line[0]
    assert "(<1% naming a good or a creature)" in line[1]
    stats = {"calls": 1200, "requests": 1200, "clean": 1199, "repaired": 0, "valid_rate": 1199 / 1200, "repairs": {},
             "unparseable": 1, "rejected_schema": 0, "rejected_engine": {}, "faults": {},
             "latency_ms": {"p50": 10.0, "p95": 20.0}, "prompt_tokens": {"mean": 300.0, "max": 400}}
    assert "valid 1199 of 1200 (>99%)" in sim_model_lines({"smol": stats})[0]


def test_decimals_never_read_a_bound_the_value_does_not_reach():
    """A Gini of 0.996 had read `1.00`, a share of 0.0004 `0.000`: a value
    short of a bound reads `>` or `<` the nearest step inside it; the bound
    itself, and everything else, reads as its fixed decimals."""
    from engine.metrics import decimals

    assert [decimals(x, 2) for x in (0, 0.004, 0.006, 0.5, 0.994, 0.996, 1)] == \
        ["0.00", "<0.01", "0.01", "0.50", "0.99", ">0.99", "1.00"]
    assert [decimals(x, 1, top=100) for x in (0.0, 0.04, 99.94, 99.97, 100.0)] == \
        ["0.0", "<0.1", "99.9", ">99.9", "100.0"]
    assert [decimals(x, 0, top=100) for x in (0.3, 99.7)] == ["<1", ">99"]
    assert decimals(0.0004, 3, top=math.inf) == "<0.001" and decimals(1e9, 2, top=math.inf) == "1000000000.00"
    assert decimals(-99.97, 1, top=100, bottom=-100) == "<-99.9" and decimals(0.004, 2, bottom=-1) == "0.00"
    assert decimals(None, 2) == "n/a" and decimals(1.5, 2) == "1.50" and decimals(-0.5, 2) == "-0.50"  # outside: as is


def test_a_wood_owned_by_one_creature_reads_short_of_a_gini_of_one_and_a_mood_of_100(world):
    """250 creatures, one holding every coin and good: a Gini of 249/250 =
    0.996 had read `wealth Gini at the end: 1.00`; 249 at mood 100 and one
    at 99, a mean of 99.996, had read `100.0`. Neither is the bound."""
    from engine.world import build_roster

    before = initial_state(world, 1, build_roster(world, 250))
    after = before.copy()
    rich = next(iter(after.creatures))
    for name, c in after.creatures.items():
        c.mood = 99 if name == rich else 100
        if name != rich:
            after.creatures[rich].coins += c.coins
            c.coins = 0
            for g, q in c.goods.items():
                after.creatures[rich].goods[g] += q
                c.goods[g] = 0
    report = EconomyReport(world)
    report.add(1, before, after, [], (Flows(), Flows()), {})
    d = report.to_dict()
    assert d["gini_final"] == pytest.approx(0.996) and d["mood_mean_by_round"] == [100.0]  # the JSON keeps its numbers
    lines = report.lines()
    assert any(x.startswith("wealth Gini at the end: >0.99;") for x in lines), lines
    assert "mood 0 at the end: 0%; mean mood at the end >99.99" in lines
    for c in after.creatures.values():  # at the other end: all at 0 but one at 1, a mean of 0.004
        c.mood = 1 if c.name == rich else 0
    report.add(2, after, after, [], (Flows(), Flows()), {})
    assert "mood 0 at the end: >99%; mean mood at the end <0.01" in report.lines()


def test_a_price_that_fell_short_of_all_of_it_never_reads_minus_100_percent():
    from engine.report import _rise

    assert [_rise(x) for x in (0.25, -0.4, -0.996, 0.0)] == ["+25%", "-40%", "<-99%", "+0%"]


def test_token_means_of_some_calls_only_say_of_how_many(saved, world):
    """A model whose server read 10 of its 35 prompts (the rest refused or timed
    out): the token means are of those 10, and had read as '321 a decision'
    when its decisions took 92 on average. The line says of how many they are;
    when every prompt was read, nothing more."""
    from engine.report import model_lines, report_of

    m = next(iter(report_of(saved, world).to_dict()["models"].values()))
    calls = {"n": 35, "latency_ms": {"p50": 44.0, "p95": 47.0, "mean": 44.0}, "tokens_per_s": 500.0,
             "prompt_tokens": {"mean": 321.0, "total": 3210, "n": 10},
             "completion_tokens": {"mean": 23.0, "total": 230, "n": 10},
             "cost_per_1k_decisions": {"gpu_hour": None, "mtok": None}, "prices": {"gpu_hour": None, "mtok": None}}
    line = model_lines("smol", {**m, "calls": calls})[1]
    assert "tokens in 321, out 23 a decision (means of the 10 of 35 whose prompt a server read); " in line, line
    every = {**calls, "prompt_tokens": {"mean": 321.0, "total": 11235, "n": 35},
             "completion_tokens": {"mean": 23.0, "total": 805, "n": 35}}
    assert "tokens in 321, out 23 a decision; " in model_lines("smol", {**m, "calls": every})[1]


def test_a_save_with_no_round_yet_still_says_who_is_in_it(world, tmp_path):
    """Killed before its first round was committed, a save says who is in it
    and that it was stopped; a measure with nothing to measure is n/a (null
    in the JSON), never a Python value, 0% or an empty list."""
    from engine.ledger import Ledger
    from engine.report import report_of
    from engine.world import build_roster

    db = tmp_path / "empty.db"
    Ledger.create(db, seed=1, roster=build_roster(world, 7), brains="scripted", rounds=5).close()
    report = report_of(db, world)
    lines = report.lines()
    assert lines[0] == (f"rounds 0 of the 5 the run was set to play (stopped early; resume with: wood sim --resume "
                        f"{db}), creatures 7")
    text = "\n".join(lines)
    assert "None" not in text and "()" not in text and not re.search(r"(?<!\d)0%", text), text
    assert "spoiled (share of produced): acorns n/a, berries n/a" in text and "actions: 0" in lines
    assert "rejected: n/a of actions (none)" in lines and lines[-1] == "per model: none (no decision recorded)"
    assert text.count("treasury at the end n/a") == 1
    d = report.to_dict()
    assert set(d["top_holder_share_final"]) == set(d["spoiled_share_by_good"]) == set(world.goods)
    assert {*d["top_holder_share_final"].values(), *d["spoiled_share_by_good"].values(), d["rejected_share"],
            d["treasury_final"], d["needs_met"]} == {None}


def test_a_share_with_no_base_is_n_a_not_0_percent(tmp_path):
    """Two badgers make honey and timber and nothing else: no acorns, berries
    or mushrooms are produced (their spoiled share has no base) and by the end
    nobody holds any (nor has the top holder a share). Those are n/a in the
    text and null in the JSON; `bench/economy.py`'s summary skips them."""
    import importlib.util

    roster = tmp_path / "badgers.toml"
    roster.write_text("".join(f'[[creatures]]\nname = "{n}"\nspecies = "badger"\ntemperament = "{t}"\n'
                              'model = "scripted"\n\n' for n, t in (("Badger", "hoarder"), ("Brock", "merchant"))))
    db = tmp_path / "badgers.db"
    sim = wood("sim", "--roster", str(roster), "--rounds", "10", "--seed", "1", "--save", str(db), "--quiet")
    assert sim.returncode == 0, sim.stderr
    d = json.loads(wood("report", str(db), "--json").stdout)
    spoiled, top = d["spoiled_share_by_good"], d["top_holder_share_final"]
    assert [spoiled[g] for g in ("acorns", "berries", "mushrooms")] == [None] * 3
    assert [top[g] for g in ("acorns", "berries", "mushrooms")] == [None] * 3
    assert 0 < spoiled["honey"] < 1 and 0.5 <= top["honey"] <= 1
    text = wood("report", str(db)).stdout
    assert "spoiled (share of produced): acorns n/a, berries n/a, honey " in text
    assert "top holder's share of the stock at the end: acorns n/a, berries n/a, honey " in text
    spec = importlib.util.spec_from_file_location("bench_economy", ROOT / "bench" / "economy.py")
    economy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(economy)
    assert economy.top_share(d) == max(top["honey"], top["timber"])
    assert dict((t, got) for t, got, _ in economy.summarise([d]))["top holder <= 40% of a good (worst)"] == \
        f"{economy.top_share(d):.0%}"
    none_held = {**d, "top_holder_share_final": {g: None for g in top}}  # nobody holds any good at the end
    assert economy.top_share(none_held) is None
    assert dict((t, got) for t, got, _ in economy.summarise([none_held]))["top holder <= 40% of a good (worst)"] == \
        "n/a (nobody holds a good)"


def test_the_last_mean_is_said_to_be_the_last_round_with_a_price(world):
    """Honey trades in round 1 only: its "last mean" is that round's, and the
    text says so (not "the last round's mean", which had no price)."""
    report = EconomyReport(world)
    s = initial_state(world, 1)
    for r in range(1, 4):
        _round(report, s, r, [("honey", 1, 7)] if r == 1 else [])
    text = report.lines()
    assert "the last round's mean" not in "\n".join(text)
    assert "the mean in the last round that had a price" in "\n".join(text)
    assert [x.split() for x in text if x.startswith("honey ")] == [["honey", "1", "1", "1", "1", "r", "7.0"]]


@contextlib.contextmanager
def five_rounds_of_200_still_saved(world, db: Path):
    """A scripted run of 3 creatures set to 200 rounds, 5 played and saved to
    `db`, its ledger held open to write (another process's, as a reader sees
    it) for the block; closed after, as a killed run leaves it."""
    import asyncio

    from engine.brains.scripted import scripted_brains
    from engine.ledger import Ledger
    from engine.runner import Runner
    from engine.world import build_roster

    roster = build_roster(world, 3)
    ledger = Ledger.create(db, seed=3, roster=roster, brains="scripted", rounds=200)
    try:
        runner = Runner(world, initial_state(world, 3, roster, end=200), scripted_brains(roster, 3), ledger=ledger)

        async def five():
            for _ in range(5):
                await runner.play_round()

        asyncio.run(five())
        yield
    finally:
        ledger.close()


def test_a_save_stopped_early_says_so_and_how_to_resume(world, tmp_path):
    """A run set to play 200 rounds and stopped after 5 (as a killed `wood
    sim --save` leaves it): the report says so, with the resume command, and
    the JSON has `stopped_early_of`; while the run still saves to it, the
    report says that instead; measured to fewer rounds than it holds
    (a sweep's `upto`), or finished, it says nothing of it."""
    from engine.report import report_of

    db = tmp_path / "killed.db"
    with five_rounds_of_200_still_saved(world, db):
        still = wood("report", str(db))  # the run still holds it open to write
    assert still.returncode == 0, still.stderr
    assert still.stdout.splitlines()[1] == ("rounds 5 of the 200 the run is set to play (still being played: another "
                                            "wood process is saving to it), creatures 3")
    r = wood("report", str(db))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == (f"rounds 5 of the 200 the run was set to play (stopped early; resume with: "
                                        f"wood sim --resume {db}), creatures 3")
    d = json.loads(wood("report", str(db), "--json").stdout)
    assert (d["rounds"], d["stopped_early_of"]) == (5, 200)
    assert report_of(db, world, upto=3).to_dict()["stopped_early_of"] is None


def test_replay_verify_of_a_run_still_being_played_says_so_as_the_report_does(world, tmp_path):
    """`wood replay --verify` of a save another process was still saving to
    said only 'rounds: 5 (each rebuilt ...)', as of a finished run, where
    `wood report` says it is still being played: it says so in the same
    words; once the writer has gone, it says nothing of it."""
    db = tmp_path / "live.db"
    with five_rounds_of_200_still_saved(world, db):
        still, report = wood("replay", str(db), "--verify"), wood("report", str(db))  # the run holds it open to write
    words = "of the 200 the run is set to play (still being played: another wood process is saving to it)"
    assert still.returncode == 0 and report.returncode == 0, (still.stderr, report.stderr)
    assert still.stdout.splitlines()[0] == f"rounds: 5 (each rebuilt to its recorded state hash) {words}"
    assert report.stdout.splitlines()[1] == f"rounds 5 {words}, creatures 3"
    done = wood("replay", str(db), "--verify")
    assert done.returncode == 0 and done.stdout.splitlines()[0] == "rounds: 5 (each rebuilt to its recorded state hash)"


def test_an_export_of_a_run_still_being_played_says_which_rounds_it_wrote(world, tmp_path):
    """`wood export --out` of a save another process was still saving to said
    only 'wrote N calls ...', as of a finished run, though the run goes on
    past what it wrote: it says the rounds written and that the run is still
    being played, in `wood report`'s words; once the writer has gone, nothing."""
    db = tmp_path / "live.db"
    with five_rounds_of_200_still_saved(world, db):
        still = wood("export", str(db), "--out", str(tmp_path / "still"))
    assert still.returncode == 0, still.stderr
    assert still.stdout.rstrip("\n").endswith(
        "; rounds: 5 of the 200 the run is set to play (still being played: another wood process is saving to it)"), \
        still.stdout
    tips = [json.loads(x) for x in (tmp_path / "still" / "tips.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(t["issued_round"] <= 5 for t in tips)
    done = wood("export", str(db), "--out", str(tmp_path / "done"))
    assert done.returncode == 0 and "; rounds:" not in done.stdout and "still being played" not in done.stdout, done.stdout


def test_a_finished_save_says_nothing_of_stopping(saved):
    d = json.loads(wood("report", str(saved), "--json").stdout)
    assert d["stopped_early_of"] is None
    assert wood("report", str(saved)).stdout.splitlines()[1] == "rounds 60, creatures 8"


def test_one_of_a_thing_is_singular(world):
    """`1 round`, `1 coin`, `-1 coin`, `1 decision`: no count of one is followed by a plural."""
    report = EconomyReport(world)
    s = initial_state(world, 1)
    extra = [Event("granary", 1, {"spent": 1, "fed": ["Owl"], "bought": {"acorns": 1},
                                  "buys": [["Fox", "acorns", 1, 1]]}),
             Event("fine", 1, {"creature": "Owl", "amount": 1}),
             Event("short_opened", 1, {"owner": "Owl", "good": "honey", "qty": 1}),
             Event("short_closed", 1, {"owner": "Owl", "good": "honey", "profit": -1, "squeezed": 0, "buys": []}),
             Event("default", 1, {"borrower": "Fox", "short": 1}),
             Event("loan_taken", 1, {"borrower": "Owl", "lender": "Fox"})]
    report.add(1, s, s, [Event("trade", 1, {"buyer": "Owl", "seller": "Fox", "good": "honey", "qty": 1, "price": 3}),
                         *extra], (Flows(), Flows()), {"Owl": _decision("offer", side="buy", good="honey", qty=1,
                                                                         price=3)})
    text = "\n".join(report.lines())
    for line in ("granary: 1 round, 1 coin spent", "fines: 1 (1 coin)", "shorts: 1 opened (1 unit)",
                 "-1 coin in all", "1 default (1 coin short)", "(Owl): 1 decision,", "bought 1 (1 unit)",
                 "shorts 1 (-1 coin)", "fines 1 (1 coin)", "credit: 1 loan taken"):
        assert line in text, line
    assert not re.search(r"(?<![\d.])[+-]?1 (rounds|coins|units|decisions|trades|loans|defaults)\b", text), text


def test_a_models_line_shows_its_creatures_names_inert(saved, world):
    """A save made by hand may hold any name: the per-model line shows its
    creatures through the sanitiser, as it does the model's name."""
    from engine.report import model_lines, report_of

    name, m = next(iter(report_of(saved, world).to_dict()["models"].items()))
    line = model_lines(name + "\x1b]0;x\x07", {**m, "creatures": ["Ow\x1b[2Jl"]})[0]
    assert "\x1b" not in line and "\x07" not in line and "(Owl)" in line, line


def test_a_models_line_names_a_few_of_its_creatures_and_counts_the_rest(saved, world):
    """`--creatures 2000`: each scripted temperament thinks for 400, and its line had named all 400
    (5,000 characters). It names the first few and says how many more; the JSON keeps every name."""
    from engine.report import NAMES_SHOWN, model_lines, report_of

    name, m = next(iter(report_of(saved, world).to_dict()["models"].items()))
    crowd = [f"Owl {i}" for i in range(1, 401)]
    line = model_lines(name, {**m, "creatures": crowd})[0]
    assert f"({', '.join(crowd[:NAMES_SHOWN])} and {400 - NAMES_SHOWN} more): " in line and len(line) < 300, line
    few = model_lines(name, {**m, "creatures": crowd[:NAMES_SHOWN]})[0]
    assert f"({', '.join(crowd[:NAMES_SHOWN])}): " in few


# ---- the chart files all or none; a report stopped (Ctrl-C, SIGTERM, SIGHUP) is one line

CHARTS = sorted(f"{n}.{x}" for n in ("prices", "worth", "mood", "models") for x in ("png", "svg"))


def files_in(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(d.iterdir())}


def test_a_chart_that_cannot_be_written_leaves_none_of_the_reports_charts(saved, tmp_path):
    """A folder where the third chart goes: it is one line, and the two charts
    before it are not left behind as if the report's charts were there (it is
    refused before the report is printed, and a chart written)."""
    charts = tmp_path / "charts"
    (charts / "mood.svg").mkdir(parents=True)
    r = wood("report", str(saved), "--plots", str(charts))
    assert r.returncode == 2 and r.stderr.startswith(f"wood: error: --plots {charts}: {charts / 'mood.svg'} is a "
                                                     "directory, not a file") and \
        len(r.stderr.splitlines()) == 1 and r.stdout == "", r.stderr
    assert files_in(charts) == {"mood.svg": b"<dir>"}


def test_charts_on_a_full_disk_leave_an_earlier_reports_charts_as_they_were(saved, tmp_path):
    """The disk fills while the charts are written (a file size limit, as on a
    full disk): one line, no half-written chart, and an earlier report's
    charts in the folder keep their bytes (they had been overwritten, one of
    them cut short)."""
    from tests.saves import full_disk

    charts = tmp_path / "charts"
    charts.mkdir()
    for name in CHARTS:
        (charts / name).write_bytes(b"an earlier chart " + name.encode())
    before = files_in(charts)
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "report", str(saved), "--plots", str(charts)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, preexec_fn=full_disk(60_000))
    assert r.returncode == 2 and "cannot write the chart" in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert files_in(charts) == before


def test_charts_on_a_full_disk_take_away_the_folders_made_for_them_and_nothing_else(saved, tmp_path):
    """`--plots have/new/charts`, where `have` is the user's (a file in it):
    the disk fills as the charts are written (a file size limit, as on a full
    disk). One line, a non-zero exit, and `new` and `charts`, which the
    report made, are gone (they had been left behind, empty); `have` and its
    file are as they were. A folder that was there (`--plots have`) stays."""
    from tests.saves import full_disk

    have = tmp_path / "have"
    have.mkdir()
    (have / "notes.txt").write_text("the user's")

    def everything() -> dict[str, bytes]:
        return {str(p.relative_to(tmp_path)): p.read_bytes() if p.is_file() else b"<dir>"
                for p in sorted(tmp_path.rglob("*"))}

    before = everything()
    for plots in (have / "new" / "charts", have):
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "report", str(saved), "--plots", str(plots)],
                           cwd=ROOT, capture_output=True, text=True, timeout=300, preexec_fn=full_disk(60_000))
        assert r.returncode == 2 and r.stderr.startswith("wood: error: cannot write the chart") and \
            len(r.stderr.splitlines()) == 1, r.stderr
        assert everything() == before, plots


def _stopped(argv: list[str], sig: int, ready, before: str = "") -> subprocess.CompletedProcess:
    """`wood ARGV` in its own process, sent `sig` once `ready()` holds (polled);
    `before`: Python run in that process first (to hold it where it is to be stopped)."""
    import time

    cmd = ["-m", "wood_tui.cli"] if not before else \
        ["-c", f"{before}\nimport runpy\nrunpy.run_module('wood_tui.cli', run_name='__main__', alter_sys=True)"]
    proc = subprocess.Popen([sys.executable, *cmd, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and not ready():
            time.sleep(0.01)
        assert proc.poll() is None, f"wood {argv} ended before it was stopped"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert "Traceback" not in err, err
    assert proc.returncode == 128 + sig, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("had", [False, True], ids=["made", "had"])
@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_report_stopped_while_its_charts_are_written_is_one_line_and_leaves_no_chart(saved, tmp_path, sig, had):
    """Stopped while matplotlib writes the charts: the line says the text
    above is whole and no chart file was written; none is, not even a part.
    The report is held part way (the first chart's two files written, the
    second's begun) until the signal comes: polled for the first file alone,
    the charts could all be written, or renamed into place, before it did.
    `--plots new/charts`, both made by the report: a stop takes them away
    as a failure does, since nothing went into them (they had been left
    behind, empty: this test had asserted the empty folder). A charts folder
    the user had (a file of theirs in it) stays as it was."""
    import signal

    sig = getattr(signal, sig)
    charts = tmp_path / "charts" if had else tmp_path / "new" / "charts"
    if had:
        charts.mkdir()
        (charts / "notes.txt").write_text("the user's")
    holding = tmp_path / "holding"
    from tests.saves import held_at_chart_file

    hold = held_at_chart_file(3, holding)  # the third chart file begun is held there until the signal comes
    held: list[Path] = []  # what the charts folder held as the signal was sent (beside the user's file)
    r = _stopped(["report", str(saved), "--plots", str(charts)], sig,
                 lambda: holding.exists() and not held.extend(p for p in charts.iterdir() if p.name != "notes.txt"),
                 before=hold)
    assert len(held) == 3, held  # a part set of chart files: two written, one begun
    said = "wood: interrupted" + ("" if sig == signal.SIGINT else f" ({signal.Signals(sig).name})")
    assert r.stderr == f"{said}: the report above is whole; no chart file written to {charts}\n", r.stderr
    assert r.stdout.startswith("report of ")
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p != holding)
    assert left == (["charts", "charts/notes.txt"] if had else []), left
    if had:
        assert (charts / "notes.txt").read_text() == "the user's"


@pytest.mark.parametrize("command", ["export --out", "report --plots"])
def test_two_writers_into_one_folder_at_once_the_second_is_refused_until_the_first_ends(saved, tmp_path, command):
    """Two `wood export --out DIR` (or `wood report --plots DIR`) of two runs
    at once: each file was whole, but their renames interleaved, and DIR was
    left with one run's tips beside the other's whispers, both saying they
    wrote theirs. While the first writes (held after its first file), the
    second is one line, exit 2, and writes nothing; the first killed
    (kill -9: the system drops its hold), the second writes its set whole."""
    import signal

    from tests.saves import wood_held_at_chart_file
    from wood_tui.commands.export import FILES
    from wood_tui.plots import FORMATS, REPORT_CHARTS

    other = tmp_path / "other.db"
    assert wood("sim", "--rounds", "20", "--seed", "1", "--save", str(other), "--quiet").returncode == 0
    verb, flag = command.split()
    folder = tmp_path / "into"
    holding = tmp_path / "holding"
    # its second file begun, it is held there (its first written, not yet in place)
    first = wood_held_at_chart_file(2, holding, [verb, str(saved), flag, str(folder)])
    try:
        held = sorted(p.name for p in folder.iterdir())
        second = wood(verb, str(other), flag, str(folder))
        assert second.returncode == 2, second.stderr
        assert second.stderr == (f"wood: error: {flag} {folder} is in use by another wood process writing into it; "
                                 f"let that one end first, or choose another {flag}\n"), second.stderr
        assert sorted(p.name for p in folder.iterdir()) == held  # the second wrote nothing
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    again = wood(verb, str(other), flag, str(folder))
    assert again.returncode == 0, again.stderr
    whole = FILES if verb == "export" else [f"{c}.{x}" for c in REPORT_CHARTS for x in FORMATS]
    assert sorted(p.name for p in folder.iterdir()) == sorted(whole)  # the killed one's parts cleared too
    if verb == "export":
        alone = tmp_path / "alone"
        assert wood("export", str(other), "--out", str(alone)).returncode == 0
        assert all((folder / f).read_bytes() == (alone / f).read_bytes() for f in FILES)


def test_a_report_stopped_while_the_run_is_rebuilt_is_one_line(tmp_path):
    """A long save, stopped while it is rebuilt (its reader's -shm file is
    there): one line saying the report was not finished, no report text."""
    import signal

    db = tmp_path / "long.db"
    r = wood("sim", "--rounds", "150", "--seed", "2", "--creatures", "40", "--save", str(db), "--quiet")
    assert r.returncode == 0, r.stderr
    shm = Path(f"{db}-shm")
    r = _stopped(["report", str(db)], signal.SIGTERM, shm.exists)
    assert r.stderr == "wood: interrupted (SIGTERM): stopped before the report was whole\n", r.stderr
    assert r.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.db"]  # its reader closed: no -wal, no -shm


@pytest.mark.parametrize("argv,note", [
    (["--gpu-hour-price", "2"], "--gpu-hour-price not used"),
    (["--gpu-hour-price", "2", "--mtok-price", "0.5", "--json"], "--gpu-hour-price and --mtok-price not used"),
    ([], None),
])
def test_a_price_for_a_run_with_no_model_call_is_said_to_be_unused(saved, argv, note):
    """A scripted run records no model call: `--gpu-hour-price P` had been
    taken and silently used for nothing. One line on stderr says so (stdout
    stays the report, or one JSON object)."""
    from engine.sanitise import shown_path

    r = wood("report", str(saved), *argv)
    assert r.returncode == 0, r.stderr
    said = f"note: {note}: no model call is recorded in {shown_path(saved)}\n" if note else ""
    assert r.stderr == said, r.stderr
    if "--json" in argv:
        assert all(m["calls"] is None for m in json.loads(r.stdout)["models"].values())


def test_a_price_for_a_run_with_model_calls_is_used_without_a_note():
    from argparse import Namespace

    from wood_tui.commands.report import unused_prices

    args = Namespace(gpu_hour_price=2.0, mtok_price=None)
    assert unused_prices(args, {"smol": {"calls": {"n": 3}}, "scripted:hoarder": {"calls": None}}) == ""
    assert unused_prices(args, {"scripted:hoarder": {"calls": None}}) == "--gpu-hour-price not used: no model call is recorded"
