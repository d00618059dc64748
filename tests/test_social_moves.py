"""The social moves (short, ally, break, whisper), one rule at a time, on
small hand-made situations. Each test pins one rule and fails when it breaks."""
from __future__ import annotations

import dataclasses

import pytest

from engine import memory
from engine.actions import WHISPER_MAX, Action, Reason
from engine.events import headline
from engine.invariants import check_round
from engine.market import Book
from engine.prompts import build_messages
from engine.rules import Flows, apply_action, check_action, close_round, open_round, public_record
from engine.state import Loan, Offer, Short, Tip, state_hash
from engine.views import PactOfferView, ShortView, WhisperView, public_view
from engine.world import load_world

WORLD = load_world()
GOODS = WORLD.goods  # the words for one unit of each good (events, recaps and panels take them)

NAMES = ("Owl", "Fox", "Badger", "Hare", "Squirrel")
# acorns: in this file's world only squirrels make them, so the others' acorn stocks do not move in the world step
GOOD = "acorns"


@pytest.fixture(scope="session")
def world():
    """The real world, but its owls make no acorns (they make one a round in
    the game): a short's units are then counted exactly through the world step."""
    from engine.world import load_world
    w = load_world()
    owl = w.species["owl"]
    owl = dataclasses.replace(owl, produces={g: q for g, q in owl.produces.items() if g != GOOD})
    return dataclasses.replace(w, species={**w.species, "owl": owl})


def act(state, world, name, **kw):
    return apply_action(state, world, Book(state), name, Action(**kw))


def reasons(events):
    return [e.data["reason"] for e in events if e.kind == "rejected"]


def one(events, kind):
    found = [e for e in events if e.kind == kind]
    assert len(found) == 1, (kind, events)
    return found[0]


def offer(state, owner, side, good, qty, price, expires=99):
    o = Offer(state.new_id(), owner, side, good, qty, price, expires)
    state.offers[o.id] = o
    return o


def prompt(state, world, name):
    v = public_view(state, world, name)
    return "\n".join(m["content"] for m in build_messages(v, world, temperament_line="calm"))


def conserved(before, after, events, *flows):
    """The engine's own checks: coins, held-minus-shorted goods, nothing negative, pacts."""
    check_round(before, after, list(flows) or [Flows()], events, None)


# ==========================================================================
# short
# ==========================================================================
def test_a_short_sells_only_into_standing_bids_at_its_price_or_better(state, world):
    fox_bid = offer(state, "Fox", "buy", GOOD, 2, 9)
    badger_bid = offer(state, "Badger", "buy", GOOD, 3, 7)  # below the short's price: never hit
    owl_acorns, fox_acorns = state.creatures["Owl"].goods[GOOD], state.creatures["Fox"].goods[GOOD]
    before = state.copy()
    ev = act(state, world, "Owl", action="short", good=GOOD, qty=5, price=8)
    trades = [e.data for e in ev if e.kind == "trade"]
    assert [(t["buyer"], t["seller"], t["qty"], t["price"]) for t in trades] == [("Fox", "Owl", 2, 9)]
    # only what sold is borrowed: 2 owed, not the 5 asked for
    (x,) = state.shorts.values()
    assert (x.owner, x.good, x.qty, x.owed, x.proceeds) == ("Owl", GOOD, 2, 2, 18)
    assert state.creatures["Owl"].goods[GOOD] == owl_acorns  # its own stock untouched: the units were borrowed
    assert state.creatures["Fox"].goods[GOOD] == fox_acorns + 2
    assert fox_bid.id not in state.offers and state.offers[badger_bid.id].qty == 3
    assert state.shorted() == {GOOD: 2}
    conserved(before, state, ev)


@pytest.mark.parametrize("bids,proceeds,collateral", [
    ([(2, 9)], 18, 27),            # 150% of 18
    ([(1, 7)], 7, 11),             # 10.5, rounded up
    ([(1, 9), (2, 8)], 25, 38),    # 37.5, rounded up; two bids
])
def test_short_collateral_is_the_rounded_up_share_of_the_proceeds_taken_from_coins(state, world, bids, proceeds,
                                                                                    collateral):
    assert int(world.economy["short_collateral_pct"]) == 150
    for i, (q, p) in enumerate(bids):
        offer(state, NAMES[1 + i], "buy", GOOD, q, p)
    coins = state.creatures["Owl"].coins
    total = state.total_coins()
    ev = act(state, world, "Owl", action="short", good=GOOD, qty=10, price=7)
    opened = one(ev, "short_opened")
    assert opened.public and opened.data["proceeds"] == proceeds and opened.data["collateral"] == collateral
    assert state.creatures["Owl"].coins == coins + proceeds - collateral
    (x,) = state.shorts.values()
    assert x.collateral == collateral and state.total_coins() == total


def test_the_short_opened_event_is_public_and_says_when_it_is_due(state, world):
    offer(state, "Fox", "buy", GOOD, 2, 9)
    ev = act(state, world, "Owl", action="short", good=GOOD, qty=2, price=9, rounds=3)
    e = one(ev, "short_opened")
    sid = next(iter(state.shorts))
    assert e.public and e.who == ()
    assert e.data == {"id": sid, "owner": "Owl", "good": GOOD, "qty": 2, "proceeds": 18, "collateral": 27,
                      "due": state.round + 3}
    assert public_view(state, world, "Owl").shorts == (ShortView(sid, GOOD, 2, 9, 27, state.round + 3),)
    assert public_view(state, world, "Fox").shorts == ()


def test_a_short_with_no_rounds_falls_due_after_the_worlds_short_rounds(state, world):
    offer(state, "Fox", "buy", GOOD, 1, 9)
    act(state, world, "Owl", action="short", good=GOOD, qty=1, price=9)
    (x,) = state.shorts.values()
    assert x.due == state.round + int(world.economy["short_rounds"])


@pytest.mark.parametrize("setup", ["no bids", "bids too low", "only my own bid", "another good"])
def test_a_short_with_no_buyer_at_its_price_is_refused_and_changes_nothing(state, world, setup):
    if setup == "bids too low":
        offer(state, "Fox", "buy", GOOD, 5, 7)
    elif setup == "only my own bid":
        offer(state, "Owl", "buy", GOOD, 5, 20)
    elif setup == "another good":
        offer(state, "Fox", "buy", "honey", 5, 20)
    before = state_hash(state)
    ev = act(state, world, "Owl", action="short", good=GOOD, qty=2, price=8)
    assert reasons(ev) == ["no_buyer"] and state_hash(state) == before


def test_a_short_whose_bid_an_earlier_mover_took_says_it_lost_a_race(state, world):
    """The bid stood when the round began and the seller saw it; Badger sold
    into it first. The refusal says so, as a lost accept does; with no such
    bid taken it says only that none stands."""
    bid = offer(state, "Fox", "buy", GOOD, 2, 9)
    book = Book(state)
    assert not reasons(apply_action(state, world, book, "Badger", Action(action="accept", id=bid.id, qty=2)))
    ev = apply_action(state, world, book, "Owl", Action(action="short", good=GOOD, qty=2, price=8))
    assert reasons(ev) == ["no_buyer"]
    assert ev[0].data["detail"].endswith("(one that stood at the round's start was taken earlier this round)")
    ev = apply_action(state, world, book, "Owl", Action(action="short", good=GOOD, qty=2, price=10))
    assert ev[0].data["detail"] == f"no standing buy offer for {GOOD} at 10 or more"  # none at 10 was taken


def test_a_short_skips_bids_whose_owner_cannot_pay_and_never_overdraws_a_bidder(state, world):
    """A bidder with two bids pays for both from one purse: the short sells it
    only what its coins cover (no bidder ever ends below zero)."""
    state.creatures["Fox"].coins = 20
    offer(state, "Fox", "buy", GOOD, 2, 10)
    offer(state, "Fox", "buy", GOOD, 2, 10)
    offer(state, "Hare", "buy", GOOD, 1, 9)
    before = state.copy()
    ev = act(state, world, "Owl", action="short", good=GOOD, qty=5, price=9)
    sold = [(e.data["buyer"], e.data["qty"]) for e in ev if e.kind == "trade"]
    assert sold == [("Fox", 2), ("Hare", 1)]
    assert state.creatures["Fox"].coins == 0 and next(iter(state.shorts.values())).owed == 3
    conserved(before, state, ev)


def test_a_short_whose_only_bidders_cannot_pay_is_refused_as_unfunded(state, world):
    state.creatures["Fox"].coins = 8
    offer(state, "Fox", "buy", GOOD, 2, 9)
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="short", good=GOOD, qty=1, price=9)) == ["offer_unfunded"]
    assert state_hash(state) == before


@pytest.mark.parametrize("own,ok", [(8, False), (9, True)])
def test_a_short_needs_coins_of_its_own_for_the_collateral_beyond_the_proceeds(state, world, own, ok):
    offer(state, "Fox", "buy", GOOD, 2, 9)  # proceeds 18, collateral 27: 9 of the trader's own
    state.creatures["Owl"].coins = own
    before = state_hash(state)
    ev = act(state, world, "Owl", action="short", good=GOOD, qty=2, price=9)
    if ok:
        assert reasons(ev) == [] and state.creatures["Owl"].coins == 0
    else:
        assert reasons(ev) == ["insufficient_coins"] and state_hash(state) == before


def test_short_rounds_beyond_the_limit_are_out_of_range(state, world):
    offer(state, "Fox", "buy", GOOD, 5, 9)
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="short", good=GOOD, qty=1, price=9, rounds=11)) == ["out_of_range"]
    assert state_hash(state) == before
    assert reasons(act(state, world, "Owl", action="short", good=GOOD, qty=1, price=9, rounds=10)) == []
    assert next(iter(state.shorts.values())).due == state.round + 10


def test_no_more_than_max_shorts_open_at_once(state, world):
    cap = int(world.economy["max_shorts"])
    offer(state, "Fox", "buy", GOOD, 20, 9)
    for _ in range(cap):
        assert reasons(act(state, world, "Owl", action="short", good=GOOD, qty=1, price=9)) == []
    assert public_view(state, world, "Owl").short_room == 0
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="short", good=GOOD, qty=1, price=9)) == ["out_of_range"]
    assert state_hash(state) == before
    # another creature's shorts do not count against it
    assert reasons(act(state, world, "Hare", action="short", good=GOOD, qty=1, price=9)) == []


@pytest.mark.parametrize("kw,reason", [
    ({"good": "gold", "qty": 1, "price": 1}, "unknown_good"),
    ({"good": GOOD, "qty": 1}, "missing_field"),
    ({"good": GOOD, "price": 1}, "missing_field"),
    ({"qty": 1, "price": 1}, "missing_field"),
])
def test_malformed_shorts_are_refused(state, world, kw, reason):
    offer(state, "Fox", "buy", GOOD, 5, 9)
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="short", **kw)) == [reason] and state_hash(state) == before


def _short(state, owed, collateral=40, price=9, good=GOOD, owner="Owl"):
    """An open short falling due in the next round."""
    x = Short(state.new_id(), owner, good, owed, owed, owed * price, collateral, state.round + 1)
    state.shorts[x.id] = x
    return x


def _close(state, world):
    before = state.copy()
    after, ev, flows = open_round(before, world)
    check_round(before, after, [flows], ev, world)  # coins and held-less-shorted goods conserved
    return after, one(ev, "short_closed").data, flows


def test_a_short_falls_due_in_the_open_of_its_due_round_and_not_before(state, world):
    offer(state, "Fox", "buy", GOOD, 2, 9)
    act(state, world, "Owl", action="short", good=GOOD, qty=2, price=9, rounds=2)
    s1, ev1, _ = open_round(state, world)
    assert not [e for e in ev1 if e.kind == "short_closed"] and len(s1.shorts) == 1
    s1, _, _ = close_round(s1, world, {})
    s2, ev2, _ = open_round(s1, world)
    assert one(ev2, "short_closed").public and s2.shorts == {} and s2.shorted() == {}


def test_a_due_short_returns_units_from_holdings_first(state, world):
    owl = state.creatures["Owl"]
    owl.goods[GOOD] = 5
    ask = offer(state, "Fox", "sell", GOOD, 3, 1)  # a bargain it does not need
    _short(state, owed=3, collateral=40)
    coins = owl.coins
    after, d, flows = _close(state, world)
    assert (d["delivered"], d["bought"], d["squeezed"]) == (3, 0, 0)
    assert after.creatures["Owl"].goods[GOOD] == 2 and after.offers[ask.id].qty == 3
    assert after.creatures["Owl"].coins == coins + 40  # the collateral comes back whole
    assert flows.settled == {}


def test_a_due_short_buys_in_from_the_cheapest_asks_paying_the_sellers(state, world):
    owl = state.creatures["Owl"]
    owl.goods[GOOD] = 0
    dear = offer(state, "Fox", "sell", GOOD, 2, 8)
    cheap = offer(state, "Badger", "sell", GOOD, 2, 6)
    mid = offer(state, "Hare", "sell", GOOD, 2, 7)
    x = _short(state, owed=3, collateral=40, price=9)
    c = {n: state.creatures[n].coins for n in NAMES}
    g = {n: state.creatures[n].goods[GOOD] for n in NAMES}
    after, d, _ = _close(state, world)
    assert (d["delivered"], d["bought"], d["cost"], d["squeezed"], d["unpaid"]) == (0, 3, 2 * 6 + 7, 0, 0)
    assert cheap.id not in after.offers and after.offers[mid.id].qty == 1 and after.offers[dear.id].qty == 2
    a = after.creatures
    assert a["Badger"].coins == c["Badger"] + 12 and a["Hare"].coins == c["Hare"] + 7 and a["Fox"].coins == c["Fox"]
    assert a["Badger"].goods[GOOD] == g["Badger"] - 2 and a["Hare"].goods[GOOD] == g["Hare"] - 1
    assert a["Owl"].coins == c["Owl"] + x.collateral - 19 and a["Owl"].goods[GOOD] == 0
    assert d["profit"] == 3 * 9 - 19


def test_a_due_short_with_nothing_to_buy_is_squeezed_into_the_treasury(state, world):
    owl = state.creatures["Owl"]
    owl.goods[GOOD] = 0
    state.quotes[GOOD].last = None
    x = _short(state, owed=3, collateral=40, price=9)
    coins, treasury = owl.coins, state.treasury
    squeeze = world.goods[GOOD].base_price * int(world.economy["squeeze_pct"]) // 100
    assert squeeze == 12
    after, d, flows = _close(state, world)
    assert (d["delivered"], d["bought"], d["squeezed"], d["squeeze_cost"], d["unpaid"]) == (0, 0, 3, 36, 0)
    assert after.treasury == treasury + 36 and after.creatures["Owl"].coins == coins + x.collateral - 36
    assert flows.settled == {GOOD: 3}  # the store's claim on them ends in coins
    assert d["profit"] == 27 - 36


def test_a_squeeze_is_priced_off_the_latest_price_when_it_is_above_the_base(state, world):
    state.creatures["Owl"].goods[GOOD] = 0
    state.quotes[GOOD].last = 10
    _short(state, owed=2)
    _, d, _ = _close(state, world)
    assert d["squeeze_cost"] == 2 * 10 * int(world.economy["squeeze_pct"]) // 100


def test_a_due_short_never_buys_in_above_the_squeeze_price(state, world):
    """An ask dearer than the squeeze (twice the good's price: 12 for acorns)
    is no way to return the units: Owl is squeezed at 12 a unit rather than
    paying Fox's 60, and Fox's ask stands untouched."""
    owl = state.creatures["Owl"]
    owl.goods[GOOD] = 0
    state.quotes[GOOD].last = None
    state.creatures["Fox"].goods[GOOD] = 5
    dear = offer(state, "Fox", "sell", GOOD, 3, 60)
    fair = offer(state, "Hare", "sell", GOOD, 1, 12)
    state.creatures["Hare"].goods[GOOD] = 1
    _short(state, owed=3, collateral=40, price=9)
    after, d, _ = _close(state, world)
    assert (d["bought"], d["cost"], d["squeezed"], d["squeeze_cost"]) == (1, 12, 2, 24)
    assert after.offers[dear.id].qty == 3 and fair.id not in after.offers


def test_a_due_short_goes_holdings_then_asks_then_squeeze(state, world):
    owl = state.creatures["Owl"]
    owl.goods[GOOD] = 1
    offer(state, "Fox", "sell", GOOD, 1, 7)
    _short(state, owed=3, collateral=40, price=9)
    _, d, flows = _close(state, world)
    assert (d["delivered"], d["bought"], d["cost"], d["squeezed"], d["squeeze_cost"]) == (1, 1, 7, 1, 12)
    assert flows.settled == {GOOD: 1}
    assert d["profit"] == 27 - 1 * 6 - 7 - 12  # the returned unit counted at the good's price (the base, 6)


def test_a_squeeze_it_cannot_pay_is_owed_to_the_wood_and_collected_like_a_default(state, world):
    """What the squeeze cannot take is not written off: it is owed to the
    wood, a default on the public record that bars borrowing, counted in net
    worth, and collected from the creature's coins each round until paid (so
    giving one's coins away before the short falls due gains nothing)."""
    from engine.rules import unpaid_debt
    from engine.score import standings
    from engine.views import public_view

    owl = state.creatures["Owl"]
    owl.goods[GOOD] = 0
    owl.coins = 0
    _short(state, owed=3, collateral=10, price=9)
    treasury = state.treasury
    after, d, _ = _close(state, world)
    assert (d["squeeze_cost"], d["unpaid"]) == (10, 36 - 10)
    assert after.creatures["Owl"].coins == 0 and after.treasury == treasury + 10
    assert after.shorts == {}
    assert d["profit"] == 27 - 36  # what is owed counts as lost
    assert after.wood_debts == {"Owl": 26} and unpaid_debt(after, "Owl") == 26 and after.defaults["Owl"] == 1
    assert public_view(after, world, "Owl").record("Owl").line() == "Owl defaulted once, still owes 26"
    assert next(r for r in standings(after, world) if r.name == "Owl").debt == 26
    # coins come back to it (a gift, a sale): half of them go to the wood each round until it is paid
    after.creatures["Owl"].coins = 30
    s2, ev, _ = open_round(after, world)
    paid = next(e.data for e in ev if e.kind == "wood_debt_paid")
    garnish = int(world.economy["debt_garnish_pct"])
    assert paid == {"creature": "Owl", "paid": 30 * garnish // 100, "owed": 26 - 30 * garnish // 100}
    assert s2.treasury == after.treasury + paid["paid"] and s2.creatures["Owl"].coins == 30 - paid["paid"]
    # while it owes the wood it may not borrow from the wood's store again
    short = Action(action="short", good=GOOD, qty=1, price=1)
    assert check_action(s2, world, "Owl", short)[0] == Reason.IN_DEFAULT
    assert public_view(s2, world, "Owl").short_room == 0  # and its view says so (traders, models, the form)
    s2.creatures["Owl"].coins = 100
    s3, ev, _ = open_round(s2, world)
    assert s3.wood_debts == {} and [e.data["owed"] for e in ev if e.kind == "wood_debt_paid"] == [0]


def test_a_buy_in_stops_where_the_trader_runs_out_of_coins(state, world):
    owl = state.creatures["Owl"]
    owl.goods[GOOD] = 0
    owl.coins = 0
    state.creatures["Fox"].goods[GOOD] = 5
    offer(state, "Fox", "sell", GOOD, 5, 6)
    _short(state, owed=3, collateral=13, price=9)  # 13 coins: two units at 6, then 1 coin left for the squeeze
    after, d, _ = _close(state, world)
    assert (d["bought"], d["cost"], d["squeezed"], d["squeeze_cost"], d["unpaid"]) == (2, 12, 1, 1, 11)
    assert after.creatures["Owl"].coins == 0


def test_a_squeeze_when_the_good_is_scarce_costs_more_than_a_buy_in(state, world):
    def cost(with_asks):
        s = state.copy()
        s.creatures["Owl"].goods[GOOD] = 0
        if with_asks:
            s.creatures["Fox"].goods[GOOD] = 5
            offer(s, "Fox", "sell", GOOD, 5, world.goods[GOOD].base_price)
        _short(s, owed=3, collateral=40)
        coins = s.creatures["Owl"].coins + 40
        after, d, _ = _close(s, world)
        return coins - after.creatures["Owl"].coins, d["profit"]

    (bought, p_bought), (squeezed, p_squeezed) = cost(True), cost(False)
    assert squeezed > bought and p_squeezed < p_bought
    assert squeezed == 2 * bought  # squeeze_pct 200 of the same price


def test_a_whole_short_cycle_conserves_coins_and_held_less_shorted_goods(state, world):
    """Open (a sale of borrowed units), wait, close in a buy-in and a squeeze:
    every step passes the engine's conservation checks."""
    offer(state, "Fox", "buy", GOOD, 4, 9)
    s = state
    mid, opening, f1 = open_round(s, world)
    after, closing, f2 = close_round(mid, world, {"Owl": Action(action="short", good=GOOD, qty=4, price=9, rounds=1)},
                                     opening)
    check_round(s, after, [f1, f2], [*opening, *closing], world)
    assert one(closing, "short_opened") and after.shorted() == {GOOD: 4}
    after.creatures["Owl"].goods[GOOD] = 0  # ate them all (by hand: the check below starts from here)
    offer(after, "Hare", "sell", GOOD, 1, 7)
    mid2, opening2, f3 = open_round(after, world)
    check_round(after, mid2, [f3], opening2, world)
    d = one(opening2, "short_closed").data
    assert d["bought"] == 1 and d["squeezed"] == 3 and f3.settled == {GOOD: 3}


# ==========================================================================
# ally and break
# ==========================================================================
def _pact(state, a, b):
    a, b = sorted((a, b))
    state.pacts.append([a, b, state.round])
    state.pacts.sort()


def test_a_pact_proposal_stands_with_an_id_the_recipient_sees(state, world):
    ev = act(state, world, "Owl", action="ally", to="Fox")
    e = one(ev, "pact_proposed")
    pid = e.data["id"]
    assert e.public and e.data == {"id": pid, "proposer": "Owl", "to": "Fox"}
    po = state.pact_offers[pid]
    assert (po.proposer, po.to) == ("Owl", "Fox") and state.pacts == []
    assert public_view(state, world, "Fox").pact_offers == (PactOfferView(pid, "Owl"),)
    assert public_view(state, world, "Badger").pact_offers == ()
    # proposing again while it stands renews that proposal: the same id, standing longer
    s, _, _ = open_round(state, world)
    again = one(act(s, world, "Owl", action="ally", to="Fox"), "pact_proposed")
    assert again.data["id"] == pid and list(s.pact_offers) == [pid]
    assert s.pact_offers[pid].expires == po.expires + 1


@pytest.mark.parametrize("who", ["Badger", "Owl"])
def test_only_the_recipient_may_accept_a_pact_by_id(state, world, who):
    pid = one(act(state, world, "Owl", action="ally", to="Fox"), "pact_proposed").data["id"]
    before = state_hash(state)
    assert reasons(act(state, world, who, action="accept", id=pid)) == ["not_for_you"]
    assert state_hash(state) == before


def test_accepting_a_pact_by_id_forms_it_and_warms_both_ways(state, world):
    pid = one(act(state, world, "Owl", action="ally", to="Fox"), "pact_proposed").data["id"]
    ev = act(state, world, "Fox", action="accept", id=pid)
    e = one(ev, "pact_formed")
    assert e.public and e.data == {"id": pid, "a": "Fox", "b": "Owl"}
    assert state.pacts == [["Fox", "Owl", state.round]] and pid not in state.pact_offers
    gain = memory.RELATION_MOVES["pact"]
    assert gain > 0 and state.relations["Owl"]["Fox"] == gain and state.relations["Fox"]["Owl"] == gain
    assert state.allies("Owl") == ["Fox"] and state.allies("Fox") == ["Owl"]
    assert public_view(state, world, "Owl").allies == ("Fox",)
    assert public_view(state, world, "Owl").ally_room == int(world.economy["max_allies"]) - 1
    assert headline(e, GOODS) == "Fox and Owl made a pact"


def test_proposing_back_forms_the_pact(state, world):
    act(state, world, "Owl", action="ally", to="Fox")
    ev = act(state, world, "Fox", action="ally", to="Owl")
    assert one(ev, "pact_formed") and state.pacts == [["Fox", "Owl", state.round]] and state.pact_offers == {}


def test_already_allied_either_way(state, world):
    _pact(state, "Owl", "Fox")
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="ally", to="Fox")) == ["already_allied"]
    assert reasons(act(state, world, "Fox", action="ally", to="Owl")) == ["already_allied"]
    assert state_hash(state) == before


@pytest.mark.parametrize("kw,reason", [
    ({"to": "Owl"}, "self_pact"),
    ({"to": "Nobody"}, "unknown_creature"),
    ({}, "missing_field"),
])
def test_malformed_pact_proposals_are_refused(state, world, kw, reason):
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="ally", **kw)) == [reason] and state_hash(state) == before


def test_a_creature_at_max_allies_can_neither_propose_nor_be_allied(state, world):
    cap = int(world.economy["max_allies"])
    assert cap == 3
    # Squirrel proposes to Owl while Owl still has room; Owl then fills up
    pid = one(act(state, world, "Squirrel", action="ally", to="Owl"), "pact_proposed").data["id"]
    for other in ("Fox", "Badger", "Hare"):
        _pact(state, "Owl", other)
    assert public_view(state, world, "Owl").ally_room == 0
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="ally", to="Squirrel")) == ["too_many_allies"]  # proposing back
    assert reasons(act(state, world, "Owl", action="accept", id=pid)) == ["too_many_allies"]       # accepting
    assert state_hash(state) == before
    # the other side: a proposal Owl made before it was full cannot be accepted by anyone once it is
    state.pacts = [p for p in state.pacts if "Hare" not in p]
    pid2 = one(act(state, world, "Owl", action="ally", to="Hare"), "pact_proposed").data["id"]
    _pact(state, "Owl", "Squirrel")
    del state.pact_offers[pid]
    before = state_hash(state)
    assert reasons(act(state, world, "Hare", action="accept", id=pid2)) == ["too_many_allies"]
    assert reasons(act(state, world, "Hare", action="ally", to="Owl")) == ["too_many_allies"]
    assert state_hash(state) == before


def test_a_pact_cannot_be_proposed_to_a_creature_at_max_allies(state, world):
    """Owl has all the allies it may have: a proposal to it could never be
    accepted, so it is refused and no view shows it."""
    for other in ("Fox", "Badger", "Hare"):
        _pact(state, "Owl", other)
    before = state_hash(state)
    ev = act(state, world, "Squirrel", action="ally", to="Owl")
    assert reasons(ev) == ["too_many_allies"] and "Owl has 3 allies" in ev[0].data["detail"]
    assert state_hash(state) == before and public_view(state, world, "Owl").pact_offers == ()


def test_no_move_on_offer_proposes_a_pact_to_a_creature_at_max_allies(state, world):
    """Pacts are public, so every view names the creatures with no room for
    one (`pacts_full`): the legal schema leaves them out of a proposal's
    choices, and a generous scripted trader, proposing to its warmest friend,
    passes over one that is full (its proposal was refused: too_many_allies)."""
    import random

    from engine.brains.scripted import _pacts
    from engine.legal import legal_schema

    for other in ("Fox", "Badger", "Hare"):
        _pact(state, "Owl", other)
    liked = (("Fox", 40), ("Owl", 90))  # as a view lists the creatures it shows (offer owners, lenders, ...)
    v = dataclasses.replace(public_view(state, world, "Squirrel"), feelings=liked)
    assert v.pacts_full == ("Owl",) and v.ally_room > 0

    def ally_choices(schema) -> set[str]:
        return {n for b in schema["anyOf"] if b["properties"]["action"]["enum"] == ["ally"]
                for n in b["properties"]["to"]["enum"]}
    assert ally_choices(legal_schema(v, world.good_names, tuple(state.creatures))) == {"Fox", "Badger", "Hare"}

    class Always(random.Random):
        def random(self):
            return 0.0  # the generous trader's chance to propose comes up every time
    assert _pacts(v, "generous", Always()) == Action(action="ally", to="Fox")  # Owl, liked best, is full
    state.pacts = [p for p in state.pacts if "Hare" not in p]
    v = dataclasses.replace(public_view(state, world, "Squirrel"), feelings=liked)
    assert v.pacts_full == () and _pacts(v, "generous", Always()) == Action(action="ally", to="Owl")
    assert "Owl" in ally_choices(legal_schema(v, world.good_names, tuple(state.creatures)))


def test_proposals_lapse_when_a_creature_reaches_max_allies(state, world):
    """Once a pact fills a creature's last place, every proposal it made or
    was made is gone: no view shows a pact that the engine would refuse."""
    assert int(world.economy["max_allies"]) == 3
    _pact(state, "Owl", "Fox")
    _pact(state, "Owl", "Badger")
    made = one(act(state, world, "Owl", action="ally", to="Squirrel"), "pact_proposed").data["id"]
    got = one(act(state, world, "Hare", action="ally", to="Owl"), "pact_proposed").data["id"]
    other = one(act(state, world, "Hare", action="ally", to="Squirrel"), "pact_proposed").data["id"]
    assert {made, got, other} <= set(state.pact_offers)
    one(act(state, world, "Squirrel", action="accept", id=made), "pact_formed")   # Owl's third ally
    assert got not in state.pact_offers and other in state.pact_offers           # Hare -> Owl lapsed
    assert public_view(state, world, "Owl").pact_offers == ()
    assert reasons(act(state, world, "Owl", action="accept", id=got)) == ["unknown_offer"]


def test_pact_proposals_expire(state, world):
    pid = one(act(state, world, "Owl", action="ally", to="Fox"), "pact_proposed").data["id"]
    life = int(world.economy["offer_lifetime"])
    s = state
    for _ in range(life - 1):
        s, _, _ = open_round(s, world)
        assert pid in s.pact_offers
        s, _, _ = close_round(s, world, {})
    s, _, _ = open_round(s, world)
    assert pid not in s.pact_offers and public_view(s, world, "Fox").pact_offers == ()
    assert reasons(act(s, world, "Fox", action="accept", id=pid)) == ["unknown_offer"]


@pytest.mark.parametrize("allied", [True, False])
def test_an_allys_offer_comes_first_in_matching_even_against_a_better_price(state, world, allied):
    if allied:
        _pact(state, "Owl", "Fox")
    offer(state, "Badger", "sell", "honey", 1, 5)
    offer(state, "Fox", "sell", "honey", 1, 7)
    ev = act(state, world, "Owl", action="offer", side="buy", good="honey", qty=1, price=8)
    (t,) = [e.data for e in ev if e.kind == "trade"]
    assert (t["seller"], t["price"]) == (("Fox", 7) if allied else ("Badger", 5))


def test_an_allys_offer_beyond_the_limit_price_is_not_taken(state, world):
    _pact(state, "Owl", "Fox")
    offer(state, "Badger", "sell", "honey", 1, 5)
    offer(state, "Fox", "sell", "honey", 1, 9)
    ev = act(state, world, "Owl", action="offer", side="buy", good="honey", qty=2, price=8)
    assert [(e.data["seller"], e.data["price"]) for e in ev if e.kind == "trade"] == [("Badger", 5)]


def test_a_short_sells_to_an_allys_bid_first(state, world):
    _pact(state, "Owl", "Fox")
    offer(state, "Badger", "buy", GOOD, 1, 9)
    offer(state, "Fox", "buy", GOOD, 1, 7)
    ev = act(state, world, "Owl", action="short", good=GOOD, qty=1, price=7)
    assert [(e.data["buyer"], e.data["price"]) for e in ev if e.kind == "trade"] == [("Fox", 7)]


def test_breaking_a_pact_is_public_and_costs_the_breaker_the_others_feeling(state, world):
    _pact(state, "Owl", "Fox")
    memory.move(state.relations, "Fox", "Owl", 30)
    memory.move(state.relations, "Owl", "Fox", 30)
    ev = act(state, world, "Owl", action="break", to="Fox")
    e = one(ev, "pact_broken")
    assert e.public and e.data == {"creature": "Owl", "ally": "Fox", "why": "broke"}
    assert state.pacts == [] and state.allies("Fox") == []
    assert state.relations["Fox"]["Owl"] == 30 + memory.RELATION_MOVES["pact_broken"] < 30
    assert state.relations["Owl"]["Fox"] == 30
    assert headline(e, GOODS) in public_record(ev, WORLD)


@pytest.mark.parametrize("kw,reason", [
    ({"to": "Badger"}, "not_allied"),
    ({"to": "Owl"}, "not_allied"),
    ({"to": "Nobody"}, "unknown_creature"),
    ({}, "missing_field"),
])
def test_breaking_a_pact_that_is_not_there_is_refused(state, world, kw, reason):
    _pact(state, "Owl", "Fox")
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="break", **kw)) == [reason] and state_hash(state) == before


def test_a_default_on_a_loan_from_an_ally_breaks_the_pact(state, world):
    _pact(state, "Owl", "Fox")
    _pact(state, "Fox", "Badger")  # an ally it owes nothing: that pact stands
    state.loans[90] = Loan(90, "Owl", "Fox", 50, 60, state.round + 1)
    state.creatures["Fox"].coins = 10
    s, ev, _ = open_round(state, world)
    assert one(ev, "default").data["borrower"] == "Fox"
    e = one(ev, "pact_broken")
    assert e.public and e.data == {"creature": "Fox", "ally": "Owl", "why": "default"}
    assert s.pacts == [["Badger", "Fox", 0]]
    assert s.relations["Owl"]["Fox"] == memory.RELATION_MOVES["default"] + memory.RELATION_MOVES["pact_broken"]
    assert "defaulted on a loan from ally Owl" in headline(e, GOODS)


def test_a_default_on_a_strangers_loan_leaves_pacts_alone(state, world):
    _pact(state, "Fox", "Badger")
    state.loans[90] = Loan(90, "Owl", "Fox", 50, 60, state.round + 1)
    state.creatures["Fox"].coins = 10
    s, ev, _ = open_round(state, world)
    assert one(ev, "default") and not [e for e in ev if e.kind == "pact_broken"] and s.pacts == state.pacts


def test_align_moves_allies_feelings_toward_third_parties_together():
    rel = {"Owl": {"Hare": 40, "Fox": 10}, "Fox": {"Squirrel": -20}, "Badger": {"Hare": 80}}
    memory.align(rel, [["Fox", "Owl", 1]])
    assert rel["Owl"]["Hare"] == 30 and rel["Fox"]["Hare"] == 10          # a quarter of the 40 gap each way
    assert rel["Owl"]["Squirrel"] == -5 and rel["Fox"]["Squirrel"] == -15
    assert rel["Owl"]["Fox"] == 10 and "Owl" not in rel["Fox"]             # toward each other: untouched
    assert rel["Badger"] == {"Hare": 80}                                    # not an ally: untouched
    unallied = {"Owl": {"Hare": 40}}
    memory.align(unallied, [])
    assert unallied == {"Owl": {"Hare": 40}}


def test_allies_feelings_converge_over_a_round(state, world):
    def gap(pacts):
        s = state.copy()
        s.pacts = pacts
        memory.move(s.relations, "Owl", "Hare", 60)
        memory.move(s.relations, "Fox", "Hare", -60)
        mid, opening, _ = open_round(s, world)
        after, _, _ = close_round(mid, world, {}, opening)
        return after.relations["Owl"].get("Hare", 0) - after.relations["Fox"].get("Hare", 0)

    assert gap([["Fox", "Owl", 0]]) < gap([]) - 20


# ==========================================================================
# whisper
# ==========================================================================
def _round_with(state, world, actions):
    mid, opening, _ = open_round(state, world)
    after, closing, _ = close_round(mid, world, actions, opening)
    return mid, after, closing


def test_a_whisper_reaches_only_its_recipient_and_only_in_its_next_view(state, world):
    mid, after, closing = _round_with(state, world, {"Owl": Action(action="whisper", to="Fox", text="meet at the oak")})
    assert all(public_view(mid, world, n).whispers == () for n in NAMES)  # not in the round it is sent
    nxt, _, _ = open_round(after, world)
    for n in NAMES:
        v = public_view(nxt, world, n)
        assert v.whispers == ((WhisperView("Owl", "meet at the oak"),) if n == "Fox" else ()), n
        assert ("meet at the oak" in prompt(nxt, world, n)) is (n == "Fox"), n
    assert 'Owl whispered: "meet at the oak"' in prompt(nxt, world, "Fox")


def test_a_whisper_event_is_private_to_sender_and_recipient(state, world):
    ev = act(state, world, "Owl", action="whisper", to="Fox", text="psst")
    e = one(ev, "whisper")
    assert not e.public and e.who == ("Owl", "Fox")
    assert [n for n in NAMES if e.visible_to(n)] == ["Owl", "Fox"] and not e.visible_to(None)
    assert public_record(ev, WORLD) == []
    _, after, closing = _round_with(state, world, {"Owl": Action(action="whisper", to="Fox", text="psst")})
    assert not any("psst" in h for h in after.headlines)


def test_a_whispers_say_line_is_public_but_its_words_are_not(state, world):
    ev = act(state, world, "Owl", action="whisper", to="Fox", text="secret words", say="hello all")
    assert [e.kind for e in ev] == ["say", "whisper"]
    assert not any("secret" in h for h in public_record(ev, WORLD)) and any("hello all" in h for h in public_record(ev, WORLD))


def _delivered(state, world, name, **kw):
    """`name` acts in a round; returns its events and the next round's opened state."""
    mid, opening, _ = open_round(state, world)
    ev = act(mid, world, name, **kw)
    after, _, _ = close_round(mid, world, {}, opening)
    nxt, _, _ = open_round(after, world)
    return ev, nxt


@pytest.mark.parametrize("text,expect", [
    ("\x1b[31mred\x1b[0m alert", "red alert"),
    ("bell\x07 and\x00 nul", "bell and nul"),
    ("line one\nline two\r\n\tthree", "line one line two three"),
    ("\x1b]0;owned\x07title", "title"),
    ("\u202eevil\u200b bidi\ufeff", "evil bidi"),
    ("\x9b31mc1 csi", "c1 csi"),
    ("[bold red]markup[/] stays literal", "[bold red]markup[/] stays literal"),
])
def test_whisper_text_is_sanitised(state, world, text, expect):
    ev, nxt = _delivered(state, world, "Owl", action="whisper", to="Fox", text=text)
    assert one(ev, "whisper").data["text"] == expect
    assert public_view(nxt, world, "Fox").whispers == (WhisperView("Owl", expect),)
    # the recipient's prompt carries the cleaned words, quoted; never a control character
    p = prompt(nxt, world, "Fox")
    assert f'Owl whispered: "{expect}"' in p
    assert not any((ord(ch) < 32 and ch != "\n") or 0x7f <= ord(ch) < 0xa0 for ch in p)


def test_whisper_text_is_capped(state, world):
    ev = act(state, world, "Owl", action="whisper", to="Fox", text="word " * 100)
    text = one(ev, "whisper").data["text"]
    assert len(text) <= WHISPER_MAX and text.startswith("word word") and not text.endswith(" ")
    assert state.whispers[-1].text == text


def test_a_whisper_of_nothing_but_control_characters_is_missing_its_text(state, world):
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="whisper", to="Fox", text="\x1b[2J\x07\u200b ")) == ["missing_field"]
    assert state_hash(state) == before


@pytest.mark.parametrize("kw,reason", [
    ({"to": "Owl", "text": "hi"}, "self_whisper"),
    ({"to": "Nobody", "text": "hi"}, "unknown_creature"),
    ({"to": "Fox"}, "missing_field"),
    ({"text": "hi"}, "missing_field"),
])
def test_malformed_whispers_are_refused(state, world, kw, reason):
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="whisper", **kw)) == [reason] and state_hash(state) == before


def _tip(state, recipients=("Owl",), truth=True, good="honey", lead=2, tid=None):
    tid = tid or state.new_id()
    t = Tip(tid, "hive_loss", good, f"the {good} harvest fails in {lead} rounds", list(recipients), truth,
            state.round, state.round + lead)
    state.tips[tid] = t
    return t


@pytest.mark.parametrize("truth", [True, False])
def test_passing_on_a_tip_sends_its_words_and_no_truth(state, world, truth):
    t = _tip(state, truth=truth)
    ev, nxt = _delivered(state, world, "Owl", action="whisper", to="Fox", tip=t.id, text="ignored for a tip")
    e = one(ev, "whisper")
    assert not e.public and e.data == {"from": "Owl", "to": "Fox", "text": t.text, "tip": t.id}
    assert nxt.tips[t.id].recipients == ["Owl"]  # the listener does not become a recipient
    v = public_view(nxt, world, "Fox")
    assert v.whispers == (WhisperView("Owl", t.text),) and v.tips == ()
    assert set(WhisperView.__dataclass_fields__) == {"sender", "text"}  # no field a truth could ride in
    assert f'Owl whispered: "{t.text}"' in prompt(nxt, world, "Fox")


def test_a_listener_to_a_passed_on_tip_is_never_judged_by_the_magistrate(state, world):
    w = dataclasses.replace(world, odds=dict(world.odds, investigate=1.0))
    t = _tip(state, recipients=("Owl",), truth=True, good="honey", lead=3)
    s = state
    mid, opening, _ = open_round(s, w)
    s, _, _ = close_round(mid, w, {"Owl": Action(action="whisper", to="Fox", tip=t.id)}, opening)
    mid, opening, _ = open_round(s, w)
    assert public_view(mid, w, "Fox").whispers == (WhisperView("Owl", t.text),)
    # both the tip's recipient and its listener buy honey cheap while it is live
    for _ in ("Owl", "Fox"):
        offer(mid, "Badger", "sell", "honey", 1, 6)
    s, closing, _ = close_round(mid, w, {"Owl": Action(action="offer", side="buy", good="honey", qty=1, price=6),
                                         "Fox": Action(action="offer", side="buy", good="honey", qty=1, price=6)},
                                opening)
    bought = {e.data["buyer"] for e in closing if e.kind == "trade" and e.data["good"] == "honey"}
    assert {"Owl", "Fox"} <= bought
    assert {x[0] for x in s.tips[t.id].trades} == {"Owl"}  # only the recipient's trades are on the tip's record
    # resolution: honey dearer afterwards; the magistrate looks into Owl only
    mid, opening, _ = open_round(s, w)
    assert one(opening, "tip_resolved").data["truth"] is True
    offer(mid, "Badger", "sell", "honey", 1, 15)
    _, closing, _ = close_round(mid, w, {"Hare": Action(action="offer", side="buy", good="honey", qty=1, price=15)},
                                opening)
    judged = [e.data["creature"] for e in closing if e.kind in ("fine", "cleared")]
    assert judged == ["Owl"]


@pytest.mark.parametrize("case", ["not mine", "no such tip", "resolved"])
def test_passing_on_a_tip_you_do_not_hold_live_is_refused(state, world, case):
    t = _tip(state, recipients=("Badger",) if case == "not mine" else ("Owl",))
    tid = t.id + 1000 if case == "no such tip" else t.id
    if case == "resolved":
        t.resolved = True
    before = state_hash(state)
    assert reasons(act(state, world, "Owl", action="whisper", to="Fox", tip=tid)) == ["unknown_tip"]
    assert state_hash(state) == before


def test_whispers_are_gone_from_the_state_once_the_next_round_closes(state, world):
    _, s1, _ = _round_with(state, world, {"Owl": Action(action="whisper", to="Fox", text="one")})
    assert [(w.sender, w.to, w.text, w.round) for w in s1.whispers] == [("Owl", "Fox", "one", 1)]
    mid2, s2, _ = _round_with(s1, world, {"Hare": Action(action="whisper", to="Fox", text="two")})
    assert [w.text for w in mid2.whispers] == ["one"]
    assert [w.text for w in s2.whispers] == ["two"]  # round 1's is gone, round 2's waits for round 3
    mid3, s3, _ = _round_with(s2, world, {})
    assert public_view(mid3, world, "Fox").whispers == (WhisperView("Hare", "two"),)
    assert s3.whispers == []
    mid4, _, _ = _round_with(s3, world, {})
    assert public_view(mid4, world, "Fox").whispers == ()


def test_a_recipient_reads_at_most_whispers_shown_of_them_the_latest(state, world):
    k = int(world.economy["whispers_shown"])
    mid, opening, _ = open_round(state, world)
    for i, n in enumerate(("Owl", "Badger", "Hare", "Squirrel")):
        act(mid, world, n, action="whisper", to="Fox", text=f"line {i}")
    after, _, _ = close_round(mid, world, {}, opening)
    nxt, _, _ = open_round(after, world)
    assert [w.text for w in public_view(nxt, world, "Fox").whispers] == [f"line {i}" for i in range(4 - k, 4)]
    assert 'Squirrel whispered: "line 3"' in prompt(nxt, world, "Fox")  # the prompt shows the latest


def test_a_short_filled_at_mixed_prices_keeps_its_whole_proceeds(state, world):
    """Bids of 1 at 9 and 2 at 8 bring 25 coins: the short's profit is figured
    on 25, not on 3 units at the rounded-down mean of 8."""
    for c in state.creatures.values():
        c.goods[GOOD] = 0
    offer(state, "Fox", "buy", GOOD, 1, 9)
    offer(state, "Hare", "buy", GOOD, 2, 8)
    act(state, world, "Owl", action="short", good=GOOD, qty=3, price=8)
    x = next(iter(state.shorts.values()))
    assert (x.qty, x.proceeds) == (3, 25)
    x.due = state.round + 1
    state.creatures["Owl"].goods[GOOD] = 3  # returned from stores, valued at the price when due
    after, ev, _ = open_round(state, world)
    closed = next(e.data for e in ev if e.kind == "short_closed")
    q = state.quotes[GOOD]
    price_now = max(q.last or 0, (q.avg100 or 0) // 100, world.goods[GOOD].base_price)
    assert closed["profit"] == 25 - 3 * price_now


def test_a_short_bought_in_when_due_counts_in_prices_and_before_the_magistrate(state, world):
    """The buy-in is a market purchase: it moves the good's average price, and
    a tip recipient's buy-in is on the magistrate's record."""
    _short(state, 2)
    offer(state, "Fox", "sell", GOOD, 2, 11)
    state.creatures["Owl"].goods[GOOD] = 0
    state.tips[99] = Tip(99, "blight", GOOD, "words", ["Owl"], True, state.round, state.round + 3)
    mid, opening, _ = open_round(state, world)
    closed = next(e.data for e in opening if e.kind == "short_closed")
    assert closed["buys"] == [["Fox", GOOD, 2, 11]]
    assert ["Owl", "buy", 2, 11, "Fox", world.goods[GOOD].base_price] in mid.tips[99].trades  # the going price: base
    after, _, _ = close_round(mid, world, {}, opening)
    assert after.quotes[GOOD].avg100 is not None and after.quotes[GOOD].last == 11
