"""The goal: net worth and the standings (engine/score.py)."""
from __future__ import annotations

from engine.score import prices, standings, standings_lines, worth_rule
from engine.state import Loan, Short


def test_worth_is_coins_plus_goods_at_last_price_plus_credit_minus_debt(state, world):
    for c in state.creatures.values():
        c.goods = {g: 0 for g in world.goods}
    state.quotes["honey"].last = 9
    state.creatures["Owl"].coins, state.creatures["Owl"].goods["honey"] = 10, 2
    state.creatures["Fox"].coins, state.creatures["Fox"].goods["timber"] = 50, 3
    state.loans[1] = Loan(1, "Owl", "Fox", 20, 25, 5)
    rows = {r.name: r for r in standings(state, world)}
    assert rows["Owl"].worth == 10 + 2 * 9 + 25
    assert rows["Fox"].worth == 50 + 3 * world.goods["timber"].base_price - 25
    assert (rows["Owl"].credit, rows["Fox"].debt) == (25, 25)
    assert prices(state, world)["timber"] == world.goods["timber"].base_price


def test_standings_rank_by_worth_then_mood_then_name(state, world):
    for c in state.creatures.values():
        c.goods = {g: 0 for g in world.goods}
        c.coins, c.mood = 40, 50
    state.creatures["Hare"].coins = 90
    state.creatures["Squirrel"].mood = 60
    order = [r.name for r in standings(state, world)]
    assert order[:2] == ["Hare", "Squirrel"]
    assert order[2:] == sorted(order[2:])
    assert [r.rank for r in standings(state, world)] == [1, 2, 3, 4, 5]


def test_standings_lines_are_bounded_and_say_what_was_left_out(state, world):
    lines = standings_lines(state, world, limit=2)
    assert lines[0].startswith("standings after round 0")
    assert len(lines) == 4 and lines[-1] == "  ... and 3 more"
    assert len(standings_lines(state, world, limit=None)) == 6


def test_an_open_short_counts_and_every_explanation_of_worth_says_so(state, world):
    """Worth adds an open short's collateral less its owed units at the last
    price; the rule in words (intro, help, final screen, `wood sim`) names
    every term it adds, and the printed standings show the short's part."""
    for c in state.creatures.values():
        c.goods = {g: 0 for g in world.goods}
    state.quotes["acorns"].last = 8
    state.creatures["Owl"].coins = 88
    state.shorts[1] = Short(1, "Owl", "acorns", 3, 3, 24, 36, 9)
    owl = next(r for r in standings(state, world) if r.name == "Owl")
    assert (owl.shorts, owl.worth) == (36 - 3 * 8, 88 + 12)
    rule = worth_rule(world)
    for term in ("coins", "goods", "owed to you", "debts", "shorts"):
        assert term in rule
    assert "shorts   12" in next(ln for ln in standings_lines(state, world) if "Owl" in ln)
