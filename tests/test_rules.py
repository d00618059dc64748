"""The rules, one at a time, on small hand-made situations."""
from __future__ import annotations

import pytest

from engine.actions import Action, action_schema
from engine.market import Book
from engine.rules import apply_action, close_round, open_round
from engine.state import Offer, Tip, state_hash
from engine.views import public_view
from engine.world import build_roster


def act(state, world, name, **kw):
    return apply_action(state, world, Book(state), name, Action(**kw))


def test_no_species_can_feed_itself(world):
    for sp in world.species.values():
        assert set(world.needs_of(sp.name, 1)) - set(sp.produces), sp.name


def test_roster_names_unique_at_a_thousand(world):
    roster = build_roster(world, 1000)
    assert len({r.name for r in roster}) == 1000
    assert [r.name for r in roster[:5]] == ["Owl", "Fox", "Badger", "Hare", "Squirrel"]
    assert {r.temperament for r in roster} == set(world.temperaments)


def test_accepting_your_own_offer_is_rejected_and_changes_nothing(state, world):
    act(state, world, "Fox", action="offer", side="sell", good="berries", qty=2, price=5)
    oid = next(iter(state.offers))
    before = state_hash(state)
    ev = act(state, world, "Fox", action="accept", id=oid)
    assert [e.data["reason"] for e in ev if e.kind == "rejected"] == ["self_trade"]
    assert state_hash(state) == before


def test_crossing_offer_trades_at_the_resting_price_with_partial_fill(state, world):
    act(state, world, "Fox", action="offer", side="sell", good="berries", qty=2, price=5)
    coins_owl, coins_fox = state.creatures["Owl"].coins, state.creatures["Fox"].coins
    ev = act(state, world, "Owl", action="offer", side="buy", good="berries", qty=3, price=6)
    trades = [e for e in ev if e.kind == "trade"]
    assert len(trades) == 1 and trades[0].data | {"offer": 0} == {
        "buyer": "Owl", "seller": "Fox", "good": "berries", "qty": 2, "price": 5, "offer": 0}
    assert state.creatures["Owl"].coins == coins_owl - 10 and state.creatures["Fox"].coins == coins_fox + 10
    rest = [o for o in state.offers.values() if o.owner == "Owl"]
    assert [(o.side, o.qty, o.price) for o in rest] == [("buy", 1, 6)]
    assert state.quotes["berries"].last == 5


def test_a_new_offer_never_crosses_its_owners_offer(state, world):
    act(state, world, "Fox", action="offer", side="sell", good="berries", qty=2, price=5)
    ev = act(state, world, "Fox", action="offer", side="buy", good="berries", qty=1, price=9)
    assert not [e for e in ev if e.kind == "trade"]


@pytest.mark.parametrize("kw,reason", [
    ({"action": "offer", "side": "sell", "good": "honey", "qty": 99, "price": 5}, "insufficient_goods"),
    ({"action": "offer", "side": "buy", "good": "honey", "qty": 99, "price": 99}, "insufficient_coins"),
    ({"action": "offer", "side": "buy", "good": "gold", "qty": 1, "price": 1}, "unknown_good"),
    ({"action": "offer", "side": "buy"}, "missing_field"),
    ({"action": "accept", "id": 999}, "unknown_offer"),
    ({"action": "gift", "to": "Owl", "good": "coins", "qty": 1}, "self_gift"),
    ({"action": "gift", "to": "Nobody", "good": "coins", "qty": 1}, "unknown_creature"),
    ({"action": "gift", "to": "Fox", "good": "coins", "qty": 1000}, "insufficient_coins"),
    ({"action": "lend", "amount": 500, "rate": 5, "rounds": 2}, "insufficient_coins"),
    ({"action": "lend", "amount": 5, "rate": 5, "rounds": 2, "to": "Owl"}, "self_loan"),
])
def test_invalid_actions_are_rejected_with_a_reason_and_change_nothing(state, world, kw, reason):
    before = state_hash(state)
    ev = act(state, world, "Owl", **kw)
    assert [e.data["reason"] for e in ev if e.kind == "rejected"] == [reason]
    assert state_hash(state) == before


def test_loan_is_taken_repaid_with_interest(world, state):
    act(state, world, "Owl", action="lend", amount=20, rate=10, rounds=1)
    lid = next(iter(state.loan_offers))
    ev = act(state, world, "Fox", action="accept", id=lid)
    assert ev[0].kind == "loan_taken" and ev[0].data["owed"] == 22
    assert state.creatures["Fox"].coins == 120 and state.creatures["Owl"].coins == 80
    s2, ev2, _ = open_round(state, world)  # due next round
    assert [e.kind for e in ev2 if e.kind in ("loan_repaid", "default")] == ["loan_repaid"]
    assert s2.creatures["Owl"].coins == 102 and s2.relations["Owl"]["Fox"] > 0


def test_a_short_borrower_repays_what_it_can_and_defaults(world, state):
    act(state, world, "Owl", action="lend", amount=20, rate=50, rounds=1)
    act(state, world, "Fox", action="accept", id=next(iter(state.loan_offers)))
    act(state, world, "Fox", action="gift", to="Hare", good="coins", qty=110)
    s2, ev2, _ = open_round(state, world)
    d = next(e for e in ev2 if e.kind == "default")
    assert d.data == {"loan": d.data["loan"], "lender": "Owl", "borrower": "Fox", "paid": 10, "short": 20}
    assert s2.creatures["Fox"].coins == 0 and s2.relations["Owl"]["Fox"] < 0


def _tip(state, truth, shock="hive_loss", good="honey", recipients=("Fox",)):
    t = Tip(state.new_id(), shock, good, "the honey harvest fails in 1 rounds", list(recipients), truth,
            state.round, state.round + 1)
    state.tips[t.id] = t
    return t


@pytest.mark.parametrize("truth", [True, False])
def test_a_true_tip_shock_happens_and_a_planted_one_does_not(world, state, truth):
    _tip(state, truth)
    s2, ev, flows = open_round(state, world)
    resolved = next(e for e in ev if e.kind == "tip_resolved")
    assert resolved.public and resolved.data["truth"] is truth
    assert any(e.kind == "shock_started" and e.data["good"] == "honey" for e in ev) is truth
    assert flows.produced.get("honey", 0) == (0 if truth else 3)


def test_the_magistrate_fines_a_recipient_who_bought_on_a_true_tip(world, state):
    t = _tip(state, True)
    act(state, world, "Badger", action="offer", side="sell", good="honey", qty=2, price=8)
    act(state, world, "Fox", action="offer", side="buy", good="honey", qty=2, price=8)
    assert t.trades == [["Fox", "buy", 2, 8, "Badger"]]
    fined = []
    for seed in range(20):  # the investigation is seeded: find a seed where it happens
        st = state.copy()
        st.seed = seed
        s2, ev_open, _ = open_round(st, world)
        s3, ev, _ = close_round(s2, world, {}, ev_open)
        fines = [e for e in ev if e.kind == "fine"]
        if fines:
            f = fines[0].data
            assert f["creature"] == "Fox" and f["amount"] == 5 + 3 * 2
            assert s3.treasury == f["amount"]
            assert any("fined Fox" in h for h in s3.headlines)
            assert s3.relations["Badger"]["Fox"] < 0
            fined.append(seed)
    assert fined and len(fined) < 20


def test_public_view_hides_truth_and_others_tips(world, state):
    _tip(state, True, recipients=("Fox",))
    fox, owl = public_view(state, world, "Fox"), public_view(state, world, "Owl")
    assert [t.text for t in fox.tips] == ["the honey harvest fails in 1 rounds"] and owl.tips == ()
    assert "truth" not in repr(fox) and not hasattr(fox.tips[0], "truth")
    # another trader's holdings are not in the view either
    assert "Owl" not in repr(fox.goods)


def test_action_schema_requires_each_kinds_fields_and_lists_goods(world):
    schema = action_schema(world.good_names, ("Owl", "Fox"), me="Owl")
    kinds = {k["properties"]["action"]["enum"][0]: k for k in schema["anyOf"]}
    assert set(kinds) == {"offer", "accept", "lend", "gift", "pass"}
    assert kinds["offer"]["required"] == ["action", "side", "good", "qty", "price"]
    assert kinds["offer"]["properties"]["good"]["enum"] == list(world.good_names)
    assert kinds["gift"]["properties"]["to"]["enum"] == ["Fox"]  # never yourself
    assert all(k["additionalProperties"] is False for k in kinds.values())
    # every shape the schema admits is a valid Action
    Action.model_validate({"action": "lend", "amount": 5, "rate": 0, "rounds": 1, "say": "hi"})


def test_say_is_sanitised_and_capped():
    a = Action(action="pass", say="\x1b[31mhi\u202e there\x07" + "x" * 200)
    assert a.say.startswith("hi there") and len(a.say) == 80 and "\x1b" not in a.say


def test_offer_book_outlives_nothing_after_expiry(world, state):
    state.offers[50] = Offer(50, "Fox", "sell", "berries", 1, 5, expires=state.round)
    s2, _, _ = open_round(state, world)
    assert 50 not in s2.offers
