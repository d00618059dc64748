"""Scripted traders propose only what the schema and the engine accept.

Every action a scripted brain returns must (1) be a well-formed `Action`
(quantities and prices within `engine.actions`' bounds) and (2) pass
`rules.check_action` on the very state its view was built from. The one
refusal allowed there is `offer_unfunded`: a standing offer (or loan offer)
whose owner can no longer honour it, which a trader's view cannot show
(others' holdings are private). In a played round other refusals can still
happen by race (another trader takes the offer first, or takes one of the
trader's own standing offers before it acts); those are counted, not failed.
"""
from __future__ import annotations

import asyncio
import math
import random
from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.actions import LOAN_ROUNDS_MAX, PRICE_MAX, QTY_MAX, RATE_MAX, Action, Reason
from engine.brains.scripted import STYLE, ScriptedBrain, choose
from engine.moves import market_moves, surplus
from engine.rules import check_action, tip_text
from engine.runner import Observer, Runner
from engine.state import LoanOffer, Offer, State, Tip, initial_state
from engine.views import PublicView, public_view
from engine.world import build_roster, load_world

WORLD = load_world()
GOODS = tuple(WORLD.goods)
INVISIBLE = {Reason.OFFER_UNFUNDED}  # the counterparty cannot pay or deliver: not in anyone's view


def well_formed(a: Action) -> str | None:
    """None if `a` survives the wire (JSON out, schema-validated back in), else why not."""
    try:
        back = Action.model_validate_json(a.model_dump_json())
    except ValueError as e:
        return str(e).splitlines()[1] if "\n" in str(e) else str(e)
    return None if back.compact() == a.compact() else f"changed on the wire: {a.compact()} -> {back.compact()}"


def refusal(state: State, name: str, a: Action) -> tuple[Reason, str] | None:
    """The engine's refusal of `a` on `state`, ignoring what the trader could not see."""
    res = check_action(state, WORLD, name, a)
    return None if res is None or res[0] in INVISIBLE else res


@dataclass
class Tally:
    decisions: int = 0
    faults: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)      # refused on the state the view was built from
    invisible: Counter = field(default_factory=Counter)    # offer_unfunded on that state
    rejected: Counter = field(default_factory=Counter)     # what the engine rejected in play, by reason

    def check(self, state: State, name: str, a: Action, where: str) -> None:
        if (bad := well_formed(a)):
            self.malformed.append(f"{where} {name}: {a.compact()}: {bad}")
        res = check_action(state, WORLD, name, a)
        if res is not None and res[0] in INVISIBLE:
            self.invisible[str(res[0])] += 1
        elif res is not None:
            self.refused.append(f"{where} {name}: {a.compact()}: {res[0]} ({res[1]})")


class _Watch(Observer):
    """Checks every decision against the state its view was built from."""

    def __init__(self, tally: Tally, views: dict[str, PublicView], moves: bool):
        self.tally, self.views, self.moves, self.mid = tally, views, moves, None

    def round_opened(self, round_no, state, events):
        self.mid = state
        self.views.clear()

    def decided(self, name, decision):
        t = self.tally
        t.decisions += 1
        where = f"round {self.mid.round}"
        if decision.outcome == "fault":
            t.faults.append(f"{where} {name}: {decision.reason}")
            return
        t.check(self.mid, name, decision.action, where)
        if self.moves:  # the moves the prompt builder shows models (default style)
            v = self.views[name]
            for m in market_moves(v):
                for a in (m.offer, m.take):
                    if a is not None:
                        t.check(self.mid, name, a, f"{where} move")


class _Seen(ScriptedBrain):
    def __init__(self, seed: int, temperament: str, views: dict[str, PublicView]):
        super().__init__(seed, temperament)
        self.views = views

    async def decide(self, view):
        self.views[view.name] = view
        return await super().decide(view)


def play(n: int, rounds: int, seed: int, *, moves: bool = False) -> tuple[Tally, Runner]:
    roster = build_roster(WORLD, n)
    tally, views = Tally(), {}
    brains = {r.name: _Seen(seed, r.temperament, views) for r in roster}
    runner = Runner(WORLD, initial_state(WORLD, seed, roster), brains, observer=_Watch(tally, views, moves))

    async def go():
        for _ in range(rounds):
            res = await runner.play_round()
            tally.rejected.update(str(e.data["reason"]) for e in res.events if e.kind == "rejected")

    asyncio.run(go())
    return tally, runner


def _clean(t: Tally) -> None:
    assert not t.faults, t.faults[:5]
    assert not t.malformed, t.malformed[:5]
    assert not t.refused, t.refused[:5]


# --------------------------------------------------------------------------
# (a) every proposal, many seeds and rounds
# --------------------------------------------------------------------------
@pytest.mark.parametrize("n,rounds,seed", [(5, 400, 1), (5, 300, 2), (8, 250, 3), (12, 200, 4), (20, 120, 5), (30, 80, 6)])
def test_every_scripted_proposal_is_well_formed_and_allowed(n, rounds, seed):
    t, _ = play(n, rounds, seed, moves=True)
    assert t.decisions == n * rounds
    _clean(t)


# synthetic markets far from a fresh wood's: hoards in the thousands, purses in the millions,
# prices at the schema's cap, outsized offers, tips and loan offers
@st.composite
def markets(draw) -> State:
    n = draw(st.integers(2, 7))
    s = initial_state(WORLD, draw(st.integers(0, 10**6)), build_roster(WORLD, n))
    s.round = draw(st.integers(1, 400))
    names = list(s.creatures)
    amount = st.one_of(st.integers(0, 40), st.integers(0, 100_000))
    for c in s.creatures.values():
        c.coins = draw(st.one_of(st.integers(0, 300), st.integers(0, 10**7)))
        c.mood = draw(st.integers(0, 100))
        for g in GOODS:
            c.goods[g] = draw(amount)
    for g in GOODS:
        s.quotes[g].last = draw(st.one_of(st.none(), st.integers(1, 30), st.integers(1, PRICE_MAX)))
    for _ in range(draw(st.integers(0, 12))):
        oid = s.new_id()
        s.offers[oid] = Offer(oid, draw(st.sampled_from(names)), draw(st.sampled_from(("buy", "sell"))),
                              draw(st.sampled_from(GOODS)), draw(st.integers(1, QTY_MAX)),
                              draw(st.one_of(st.integers(1, 30), st.integers(1, PRICE_MAX))), s.round + 2)
    for _ in range(draw(st.integers(0, 3))):
        oid = s.new_id()
        s.loan_offers[oid] = LoanOffer(oid, draw(st.sampled_from(names)), draw(st.integers(1, PRICE_MAX)),
                                       draw(st.integers(0, RATE_MAX)), draw(st.integers(1, LOAN_ROUNDS_MAX)),
                                       s.round + 2, draw(st.one_of(st.none(), st.sampled_from(names))))
    for _ in range(draw(st.integers(0, 3))):
        shock = WORLD.shocks[draw(st.sampled_from(sorted(WORLD.shocks)))]
        tid = s.new_id()
        s.tips[tid] = Tip(tid, shock.name, shock.good, tip_text(shock, 2),
                          draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)),
                          draw(st.booleans()), s.round, s.round + 2)
    return s


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.integers(0, 2**32))
def test_choose_stays_within_schema_and_rules_in_any_market(s, seed):
    t = Tally()
    for name in s.creatures:
        v = public_view(s, WORLD, name)
        for temperament in STYLE:
            for k in range(3):
                t.check(s, name, choose(v, temperament, random.Random(f"{seed}/{k}")), temperament)
            for m in market_moves(v, *STYLE[temperament]):
                for a in (m.offer, m.take):
                    if a is not None:
                        t.check(s, name, a, f"{temperament} move")
    _clean(t)


@pytest.mark.parametrize("held", [QTY_MAX, QTY_MAX + 1, 4_321, 100_000])
def test_a_hoard_in_the_thousands_is_offered_a_schema_sized_lot(held):
    s = initial_state(WORLD, 3)
    name = next(n for n, c in s.creatures.items() if c.temperament == "hoarder")
    made = next(iter(WORLD.species[s.creatures[name].species].produces))
    s.creatures[name].goods[made] = held
    s.round = 5
    v = public_view(s, WORLD, name)
    assert surplus(v, STYLE["hoarder"][0])[made] > QTY_MAX - 30
    sells = [m.offer for m in market_moves(v, *STYLE["hoarder"]) if m.offer.side == "sell" and m.offer.good == made]
    assert len(sells) == 1 and 1 <= sells[0].qty <= QTY_MAX and sells[0].qty <= held
    assert check_action(s, WORLD, name, sells[0]) is None
    for k in range(50):
        a = choose(v, "hoarder", random.Random(k))
        assert well_formed(a) is None and refusal(s, name, a) is None, a.compact()


@pytest.mark.parametrize("last", [None, 1, PRICE_MAX])
def test_a_speculator_bids_only_what_its_purse_covers(last):
    """A failing-harvest tip with no ask on the book: bid for two units at
    30% over the last price, or one if the purse stretches only that far."""
    s = initial_state(WORLD, 1)
    name = next(n for n, c in s.creatures.items() if c.temperament == "speculator")
    shock = WORLD.shocks["drought"]
    s.round = 3
    s.tips[1] = Tip(1, shock.name, shock.good, tip_text(shock, 2), [name], True, 3, 5)
    s.quotes[shock.good].last = last
    ref = last if last is not None else WORLD.goods[shock.good].base_price
    price = min(math.ceil(ref * 1.3), PRICE_MAX)
    for coins in sorted(c for c in {2 * ref, 2 * ref + 1, 2 * price - 1, 2 * price, 3 * price, 10**7} if c >= 2 * ref):
        s.creatures[name].coins = coins
        a = choose(public_view(s, WORLD, name), "speculator", random.Random(0))
        assert (a.action, a.side, a.good) == ("offer", "buy", shock.good)
        assert well_formed(a) is None and check_action(s, WORLD, name, a) is None, (coins, a.compact())
        assert a.price == price and a.qty == min(2, coins // price)


def test_a_temperament_the_scripted_brain_does_not_play_is_refused():
    """A temperament not in STYLE had been played as a merchant without a
    word; none reaches the brain (the world loader refuses one, a roster or
    save any the world lacks), and one given by hand is a ValueError."""
    with pytest.raises(ValueError, match="plays no temperament 'pirate'"):
        ScriptedBrain(1, "pirate")
    assert all(ScriptedBrain(1, t).temperament == t for t in WORLD.temperaments)


# --------------------------------------------------------------------------
# (b) the long run that used to fault
# --------------------------------------------------------------------------
@pytest.mark.slow
def test_a_long_scripted_run_has_no_faults_and_only_races():
    t, runner = play(30, 3000, 1)
    assert t.decisions == 30 * 3000
    _clean(t)
    # what still gets rejected in play is a race within the round, never the bulk of decisions
    # (`offer_taken`: an accept that came too late and found nothing as good to fall back on;
    # `no_buyer`: a short whose bid was taken earlier in the round)
    assert set(t.rejected) <= {"unknown_offer", "offer_taken", "offer_unfunded", "insufficient_goods",
                               "insufficient_coins", "no_buyer"}, t.rejected
    assert sum(t.rejected.values()) < t.decisions // 5, t.rejected
    # sellers now price their stock to move (every good rots above the pantry), so no hoard
    # nears the schema's cap; outsized lots are exercised by the hoard and any-market tests above
    big = max(q for c in runner.state.creatures.values() for q in c.goods.values())
    assert big < QTY_MAX
