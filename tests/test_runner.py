"""The round loop: determinism, a living scripted market, faults that never
take a round down, invariants that stop a corrupted run."""
from __future__ import annotations

import asyncio

import pytest

from engine.actions import Action
from engine.brains import Decision
from engine.invariants import InvariantError, check_round
from engine.metrics import RunSummary
from engine.rules import close_round, open_round
from engine.errors import WoodError
from engine.runner import EVENT_LOOP_ENV, Runner, run_headless
from engine.state import initial_state
from engine.world import build_roster
from tests.conftest import play
from engine.brains.scripted import scripted_brains


def test_same_seed_same_hash_and_different_seed_differs(world):
    a, ra = play(world, seed=3, rounds=30)
    b, rb = play(world, seed=3, rounds=30)
    c, rc = play(world, seed=4, rounds=30)
    assert [r.state_hash for r in ra] == [r.state_hash for r in rb]
    assert ra[-1].state_hash != rc[-1].state_hash


def test_scripted_traders_make_a_living_market(world):
    """Twenty creatures, 200 rounds: trades in every good, loans, repayments,
    defaults whose debts are collected and cleared, gifts, tips true and
    planted, a fine, a cleared notice and the granary (seed 3: in some seeds
    every defaulter pays its whole debt at once, and no part payment shows)."""
    _, results = play(world, seed=3, rounds=200, n=20)
    s = RunSummary()
    for r in results:
        s.add_round(r)
    assert all(s.trades[g] > 0 for g in world.goods), s.trades
    k = s.kinds
    assert k["loan_taken"] and k["loan_repaid"] and k["default"] and k["gift"], k
    assert k["debt_paid"] and k["debt_cleared"], k
    assert s.tips_true and s.tips_planted and k["fine"] and k["cleared"] and k["granary"], (s.tips_true, k)


class Broken:
    async def decide(self, view):
        raise ConnectionError("connection refused")


class Hung:
    async def decide(self, view):
        await asyncio.sleep(60)


class SelfTrader:
    """Offers, then tries to accept its own offer."""

    async def decide(self, view):
        if view.my_offers:
            return Decision(Action(action="accept", id=view.my_offers[0].id), outcome="clean")
        return Decision(Action(action="offer", side="sell", good=view.produces[0][0], qty=1, price=50), outcome="clean")


async def test_a_failing_or_hanging_brain_becomes_a_recorded_pass(world):
    roster = build_roster(world)
    brains = scripted_brains(roster, 1) | {"Owl": Broken(), "Fox": Hung(), "Badger": SelfTrader()}
    runner = Runner(world, initial_state(world, 1, roster), brains, decide_timeout_s=0.2)
    results = [await runner.play_round() for _ in range(3)]
    for r in results:
        assert r.decisions["Owl"].outcome == "fault" and "connection refused" in r.decisions["Owl"].reason
        assert r.decisions["Fox"].outcome == "fault" and "timed out" in r.decisions["Fox"].reason
    rejected = [e.data["reason"] for r in results for e in r.events if e.kind == "rejected" and e.data["creature"] == "Badger"]
    assert "self_trade" in rejected
    assert runner.state.round == 3


async def test_the_engine_verdict_is_recorded_without_changing_what_was_posted(world):
    """Badger's well-formed self-trade is posted to observers as `clean`; the
    record says `rejected` with the engine's reason; the posted object is untouched."""
    from engine.runner import Observer

    posted: dict[tuple[int, str], tuple[Decision, str]] = {}

    class Watcher(Observer):
        round_no = 0

        def round_opened(self, round_no, state, events):
            self.round_no = round_no

        def decided(self, name, decision):
            posted[(self.round_no, name)] = (decision, decision.outcome)

    roster = build_roster(world)
    brains = scripted_brains(roster, 1) | {"Badger": SelfTrader()}
    runner = Runner(world, initial_state(world, 1, roster), brains, observer=Watcher())
    results = [await runner.play_round() for _ in range(3)]
    refused = [(r.round, r.decisions["Badger"]) for r in results if r.decisions["Badger"].outcome == "rejected"]
    assert refused and all(d.reason == "engine: self_trade" for _, d in refused)
    for round_no, d in refused:
        seen, outcome_then = posted[(round_no, "Badger")]
        assert seen is not d and seen.outcome == outcome_then == "clean" and seen.action == d.action


async def test_a_summary_counts_only_the_checks_that_ran(world):
    roster = build_roster(world)
    for check, line in ((True, "invariant checks passed: 4 rounds x 6"), (False, "invariant checks: none run")):
        runner = Runner(world, initial_state(world, 1, roster), scripted_brains(roster, 1), check=check)
        s = RunSummary()
        for _ in range(4):
            s.add_round(await runner.play_round())
        assert any(x.startswith(line) for x in s.lines(world.good_names)), s.lines(world.good_names)
        assert s.played == 4 and s.rounds == 4


def test_the_tips_line_says_how_many_were_issued_but_not_yet_resolved():
    """A tip's truth is counted as it resolves, some rounds after it is
    issued: a run that ends between the two had said `tips: 17 issued, 5
    true, 10 planted`, two tips unaccounted for. They are said."""
    from engine.events import Event

    s = RunSummary()
    s.add_events([Event("tip_issued", 1, {}), Event("tip_issued", 1, {}), Event("tip_issued", 2, {}),
                  Event("tip_resolved", 4, {"truth": True})])
    assert "tips: 3 issued, 1 true, 0 planted, 2 not yet resolved" in s.lines(("acorns",))
    s.add_events([Event("tip_resolved", 5, {"truth": False}), Event("tip_resolved", 5, {"truth": True})])
    assert "tips: 3 issued, 2 true, 1 planted" in s.lines(("acorns",))


def test_a_corrupted_state_stops_the_run_naming_invariant_and_round(world):
    state = initial_state(world, 1)
    mid, opening, f1 = open_round(state, world)
    after, closing, f2 = close_round(mid, world, {}, opening)
    after.creatures["Owl"].coins += 5  # coins from nowhere
    with pytest.raises(InvariantError, match="'coins conserved' violated in round 1"):
        check_round(state, after, [f1, f2], [*opening, *closing])
    after.creatures["Owl"].coins -= 5
    after.creatures["Fox"].goods["berries"] += 1
    with pytest.raises(InvariantError, match="'goods conserved' violated in round 1: berries"):
        check_round(state, after, [f1, f2], [*opening, *closing])
    after.creatures["Fox"].goods["berries"] -= 1
    cap = int(world.economy["max_allies"])
    others = sorted(n for n in after.creatures if n != "Owl")[:cap]
    after.pacts = sorted([min("Owl", n), max("Owl", n), 1] for n in others)  # Owl at its cap: still well formed
    check_round(state, after, [f1, f2], [*opening, *closing], world)
    after.pacts = sorted([*after.pacts, ["Fox", "Hare", 1]])
    check_round(state, after, [f1, f2], [*opening, *closing], world)
    extra = sorted(n for n in after.creatures if n != "Owl" and n not in others)[0]  # five creatures, cap 3
    after.pacts = sorted([*after.pacts, [min("Owl", extra), max("Owl", extra), 1]])
    with pytest.raises(InvariantError, match=f"'pacts well formed' violated in round 1: Owl has {cap + 1} allies"):
        check_round(state, after, [f1, f2], [*opening, *closing], world)


def test_view_size_does_not_grow_with_rounds_or_creatures(world):
    from engine.views import market_index, public_view

    sizes = {}
    for n, rounds in ((5, 5), (5, 60), (100, 5), (1000, 5)):
        runner, _ = play(world, seed=2, rounds=rounds, n=n)
        idx = market_index(runner.state)
        sizes[(n, rounds)] = max(len(repr(public_view(runner.state, world, name, idx))) for name in runner.state.creatures)
    # more rounds: no history piles up; more creatures: past the few a view names, nothing more
    assert sizes[(5, 60)] < sizes[(5, 5)] * 1.6, sizes
    assert sizes[(1000, 5)] < sizes[(100, 5)] * 1.25, sizes


async def test_a_game_gives_the_cycle_collector_room_and_never_takes_it_away(world):
    """`open_game` raises the collector's young threshold for the round loop
    (Python's 700 made a 1,000-creature model round spend about a tenth of
    its CPU collecting) and leaves a higher one as it was."""
    import gc

    from engine.runner import GC_YOUNG
    from wood_tui.game import open_game
    from wood_tui.options import RunOptions

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        async with open_game(RunOptions.parse("sim", ["--creatures", "5", "--rounds", "1"]), world) as game:
            await game.runner.play_round()
        assert gc.get_threshold() == (GC_YOUNG, 10, 10)
        gc.set_threshold(GC_YOUNG * 2, 10, 10)
        async with open_game(RunOptions.parse("sim", ["--creatures", "5", "--rounds", "1"]), world):
            pass
        assert gc.get_threshold() == (GC_YOUNG * 2, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_headless_runs_take_the_event_loop_wood_event_loop_names(monkeypatch):
    async def loop_module():
        return type(asyncio.get_running_loop()).__module__

    monkeypatch.setenv(EVENT_LOOP_ENV, "asyncio")
    assert run_headless(loop_module()).startswith("asyncio")
    bad = loop_module()
    monkeypatch.setenv(EVENT_LOOP_ENV, "tokio")
    with pytest.raises(WoodError, match="WOOD_EVENT_LOOP='tokio': expected one of uvloop, asyncio"):
        run_headless(bad)
    assert bad.cr_frame is None  # closed, never started: no "never awaited" warning
    pytest.importorskip("uvloop")
    monkeypatch.delenv(EVENT_LOOP_ENV)
    assert run_headless(loop_module()).startswith("uvloop")  # the default where uvloop is installed
    monkeypatch.setenv(EVENT_LOOP_ENV, " UVLoop ")
    assert run_headless(loop_module()).startswith("uvloop")


@pytest.mark.parametrize("names,twins", [
    (["\uff2f\uff57\uff4c"], "'\\uff2f\\uff57\\uff4c' would join beside 'Owl'"),
    (["\u00e9cole", "e\u0301cole"], "'e\\u0301cole' would join beside '\\xe9cole'"),  # raw, one word twice
])
async def test_a_creature_joining_as_a_twin_of_one_in_the_wood_is_refused_naming_the_whole_rule(world, names, twins):
    """A seat joining as `Ｏｗｌ` (fullwidth) beside the wood's Owl was refused saying the wood tells names apart
    'ignoring case', which `Ｏｗｌ` and `Owl` do not differ by; the line gives the rule `name_key` keeps whole.
    The two names are shown with their escapes, as the roster's check shows them: `école` and `e` + a combining
    accent had printed as the same word twice."""
    from engine.world import RosterEntry
    from wood_tui.game import HUMAN, open_game
    from wood_tui.options import RunOptions

    joining = [RosterEntry(name, "owl", "merchant", HUMAN) for name in names]
    with pytest.raises(WoodError) as err:
        async with open_game(RunOptions.parse("sim", ["--rounds", "1"]), world, extra_roster=joining, seats=names):
            pass
    assert str(err.value) == (f"{twins}: the wood tells names apart ignoring case and how Unicode spells a letter "
                              "(a model may write either); choose another name")
