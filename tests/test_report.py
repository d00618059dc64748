"""`wood report`: the economy's health of a saved run, checked against the
ledger it was rebuilt from, and its measures on hand-made numbers."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

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


def _round(report, state, r, trades=(), shocks=()):
    ev = [Event("trade", r, {"buyer": "Owl", "seller": "Fox", "good": g, "qty": q, "price": p}) for g, q, p in trades]
    ev += [Event("shock_started", r, {"good": g, "pct": pct, "shock": "x", "until": r + 1, "headline": ""})
           for g, pct in shocks]
    report.add(r, state, state, ev, (Flows(), Flows()), {})


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
