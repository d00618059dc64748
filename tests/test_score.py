"""The goal: net worth and the standings (engine/score.py)."""
from __future__ import annotations

from engine.score import prices, standings, standings_lines, worth_rule
from engine.state import Loan, Short


def test_worth_is_coins_plus_goods_at_their_going_price_plus_credit_minus_debt(state, world):
    for c in state.creatures.values():
        c.goods = {g: 0 for g in world.goods}
    state.quotes["honey"].last = 900  # the last trade's price is not the measure ...
    state.quotes["timber"].avg100 = 650  # ... the going price is (6.5: whole coins)
    state.creatures["Owl"].coins, state.creatures["Owl"].goods["honey"] = 10, 2
    state.creatures["Fox"].coins, state.creatures["Fox"].goods["timber"] = 50, 3
    state.loans[1] = Loan(1, "Owl", "Fox", 20, 25, 5)  # round 0: not due until round 5
    rows = {r.name: r for r in standings(state, world)}
    honey, timber = world.goods["honey"].base_price, 6
    assert rows["Owl"].worth == 10 + 2 * honey + 20  # the sum lent: its interest is not earned yet
    assert rows["Fox"].worth == 50 + 3 * timber - 20
    assert (rows["Owl"].credit, rows["Fox"].debt) == (20, 20)
    assert prices(state, world) == {g: (6 if g == "timber" else good.base_price) for g, good in world.goods.items()}
    state.quotes["honey"].avg100 = 90_000  # pumped by wash trades: it counts at most twice its base price
    assert prices(state, world)["honey"] == 2 * honey
    state.round = 5  # due: all that is owed counts
    rows = {r.name: r for r in standings(state, world)}
    assert (rows["Owl"].credit, rows["Fox"].debt) == (25, 25)


def test_a_loan_in_default_counts_for_its_lender_only_what_the_borrower_holds(state, world):
    """A steep loan no one can repay is no fortune: the lender counts what the
    borrower holds (shared among its lenders in the loans' order), the
    borrower owes it all."""
    state.round = 30
    state.creatures["Fox"].coins = 40
    state.loans[1] = Loan(1, "Owl", "Fox", 100, 2100, 21, defaulted=True)
    state.loans[2] = Loan(2, "Hare", "Fox", 10, 15, 22, defaulted=True)
    rows = {r.name: r for r in standings(state, world)}
    assert rows["Owl"].credit == 40 and rows["Hare"].credit == 0
    assert rows["Fox"].debt == 2115


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
    """Worth adds an open short's collateral less its owed units at the going
    price; the rule in words (intro, help, final screen, `wood sim`) names
    every term it adds, and the printed standings show the short's part."""
    for c in state.creatures.values():
        c.goods = {g: 0 for g in world.goods}
    acorn = world.goods["acorns"].base_price
    state.creatures["Owl"].coins = 88
    state.shorts[1] = Short(1, "Owl", "acorns", 3, 3, 24, 36, 9)
    owl = next(r for r in standings(state, world) if r.name == "Owl")
    assert (owl.shorts, owl.worth) == (36 - 3 * acorn, 88 + 36 - 3 * acorn)
    rule = worth_rule(world)
    for term in ("coins", "goods at their going price", "loans made", "loans taken", "owed to the wood", "shorts"):
        assert term in rule
    assert f"shorts {36 - 3 * acorn:>4}" in next(ln for ln in standings_lines(state, world) if "Owl" in ln)


def test_goods_count_only_up_to_the_pantry(state, world):
    """A hoard wins nothing: units of a good beyond the pantry (6) are rotting
    and count for nothing in net worth."""
    keep = int(world.economy["pantry"])
    for c in state.creatures.values():
        c.goods = {g: 0 for g in world.goods}
    state.creatures["Owl"].goods["honey"] = keep + 30
    state.creatures["Fox"].goods["honey"] = keep
    rows = {r.name: r for r in standings(state, world)}
    assert rows["Owl"].goods_value == rows["Fox"].goods_value == keep * world.goods["honey"].base_price


def test_a_seats_view_carries_the_price_each_good_counts_for_in_net_worth(state, world):
    """The seat panel's `going` column is `going_price` of the view's quote:
    the same price `prices` gives net worth, whole coins down, at least 1,
    at most twice the usual price, the usual price before any trade."""
    from engine.score import PRICE_CAP, going_price
    from engine.views import public_view

    berries, mushrooms = world.goods["berries"].base_price, world.goods["mushrooms"].base_price
    state.quotes["acorns"].avg100 = 1299                     # 12.99: counts 12
    state.quotes["berries"].avg100 = 100 * berries * 5       # far past the cap
    state.quotes["honey"].avg100 = 40                         # 0.4: counts 1
    state.quotes["mushrooms"].avg100 = None                   # no trade yet: the usual price
    counted = prices(state, world)
    assert counted["acorns"] == 12 and counted["berries"] == PRICE_CAP * berries
    assert counted["honey"] == 1 and counted["mushrooms"] == mushrooms
    v = public_view(state, world, "Owl")
    assert {q.good: going_price(q.base, q.avg) for q in v.quotes} == counted
