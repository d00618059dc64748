"""engine/recap.py: a round in words for one trader, and every refusal
reason as a sentence (no raw codes)."""
from __future__ import annotations

import re

import pytest

from engine.actions import Reason
from engine.actions import Action
from engine.events import Event
from engine.market import Book
from engine.recap import REASON_WORDS, move_line, reason_words, regard, regard_line, round_recap
from engine.rules import apply_action, close_round, open_round
from engine.state import Offer, initial_state
from tests.conftest import play
from engine.world import load_world

WORLD = load_world()
GOODS = WORLD.goods  # the words for one unit of each good (events, recaps and panels take them)

CODES = re.compile(r"\b[a-z]+_[a-z_]+\b")  # unknown_offer, offer_taken, in_default...


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_is_words_with_or_without_detail(reason):
    bare = reason_words(reason)
    told = reason_words(reason, "offer #5 was taken earlier this round")
    for words in (bare, told):
        assert words and str(reason) not in words and not CODES.search(words), words
        assert "{}" not in words
    # without its detail a sentence does not hang on a dangling word ("not enough coins: you")
    assert not re.search(r"(:| you| called| the| a| of| to| with)$", bare), bare
    if "{}" in REASON_WORDS.get(reason, "{}"):  # the engine's detail is kept, where the sentence has room for it
        assert "offer #5 was taken earlier this round" in told


def test_reason_words_known_sentences_and_a_reason_newer_than_the_table():
    assert reason_words(Reason.INSUFFICIENT_GOODS, "hold 3 timber") == "not enough goods: you hold 3 timber"
    assert reason_words(Reason.MISSING_FIELD, "side,good") == "fill in: side, good"
    assert "no standing offer #9" in reason_words(Reason.UNKNOWN_OFFER, "no standing offer #9")
    assert reason_words("pact_broken", "") == "pact broken"  # the engine grew a reason: still words


def ev(kind, data, **kw):
    return Event(kind, 4, data, **kw)


def test_a_refused_accept_that_lost_a_race_is_told_first_in_words(state):
    events = [
        ev("meal", {"creature": "Owl", "ate": {"honey": 1}, "missed": {"berries": 1}, "rotted": {}, "mood": -1},
           public=False, who=("Owl",)),
        ev("rejected", {"creature": "Owl", "action": "accept", "reason": "offer_taken",
                        "detail": "loan offer #7 was taken earlier this round, and no other as cheap is open to you",
                        "proposal": {"action": "accept", "id": 7}}),
    ]
    lines = round_recap(events, "Owl", state, goods=GOODS)
    assert lines[0] == ("Your accept of #7 was refused: it lost a race: loan offer #7 "
                        "was taken earlier this round, and no other as cheap is open to you.")
    assert move_line(lines) == lines[0]
    assert lines[-1] == f"Mood -1 (now {state.creatures['Owl'].mood}): ate 1 honey; went without 1 berry."
    assert not any(CODES.search(x) for x in lines)


def test_a_fallback_fill_and_partial_fills_and_expiry(state):
    before = state.copy()
    before.offers[3] = Offer(3, "Owl", "sell", "timber", 5, 6, 4)
    after = state.copy()
    after.round = 4
    after.offers[3] = Offer(3, "Owl", "sell", "timber", 2, 6, 4)       # partly filled, and ends this round
    after.offers[9] = Offer(9, "Owl", "buy", "honey", 1, 8, 6)         # the fallback's rest, standing
    events = [
        ev("trade", {"buyer": "Fox", "seller": "Owl", "good": "timber", "qty": 3, "price": 6, "offer": 3}),
        ev("accept_fallback", {"creature": "Owl", "id": 5, "good": "honey", "side": "buy", "price": 8,
                               "filled": 2, "rested": 1}),
        ev("trade", {"buyer": "Owl", "seller": "Badger", "good": "honey", "qty": 2, "price": 8, "offer": 6}),
        ev("offer_placed", {"id": 9, "owner": "Owl", "side": "buy", "good": "honey", "qty": 1, "price": 8}),
    ]
    lines = round_recap(events, "Owl", after, before, goods=GOODS)
    assert lines[0].startswith("Your accept of #5 lost a race: someone took it earlier this round. Instead you "
                               "bought 2 honey at 8 from other offers, and an offer to buy 1 more honey at 8 now stands")
    assert "You sold 3 timber to Fox at 6 (18 coins earned); your offer #3 is partly filled, 2 still stand." in lines
    assert "You bought 2 honey from Badger at 8 (16 coins paid)." in lines
    assert "Your offer #9 to buy 1 honey at 8 stands until round 6." in lines
    assert "Your offer #3 to sell 2 timber at 6 expired with 2 not taken." in lines
    assert round_recap(events, "Hare", after, before, goods=GOODS) == []  # nothing of it is Hare's


def test_a_lost_race_with_nothing_filled_rests_an_offer_not_one_more(state):
    """Nothing bought: the rest is the whole offer, of a good named (it had
    read "an offer to buy 1 more at 7 now stands": more than what, of what?)."""
    events = [ev("accept_fallback", {"creature": "Owl", "id": 44, "good": "honey", "side": "buy", "price": 7,
                                     "filled": 0, "rested": 1})]
    assert round_recap(events, "Owl", goods=GOODS)[0] == ("Your accept of #44 lost a race: someone took it earlier this round. "
                                             "Instead no other offer matched, and an offer to buy 1 honey at 7 "
                                             "now stands.")


def test_a_standing_offer_filled_in_full_says_so(state):
    before = state.copy()
    before.offers[3] = Offer(3, "Owl", "sell", "timber", 3, 6, 9)
    events = [ev("trade", {"buyer": "Fox", "seller": "Owl", "good": "timber", "qty": 3, "price": 6, "offer": 3})]
    assert round_recap(events, "Owl", state, before, goods=GOODS) == [
        "You sold 3 timber to Fox at 6 (18 coins earned); that filled your offer #3."]


def test_an_offer_taken_in_two_fills_is_counted_down_fill_by_fill(state):
    """Owl offers 14 timber; Badger takes 9, Hare 5: the first fill left 5
    standing (it had read "that filled your offer #38" twice). Another offer,
    14 at 8, trades 6 on placing, rests 8 and Hare takes 7: what stands is 1,
    not the 8 it rested with ("1 still stand" / "to sell 8 timber ... stands")."""
    after = state.copy()
    after.offers[75] = Offer(75, "Owl", "sell", "timber", 1, 8, 6)
    events = [
        ev("offer_placed", {"id": 38, "owner": "Owl", "side": "sell", "good": "timber", "qty": 14, "price": 6}),
        ev("trade", {"buyer": "Badger", "seller": "Owl", "good": "timber", "qty": 9, "price": 6, "offer": 38}),
        ev("trade", {"buyer": "Hare", "seller": "Owl", "good": "timber", "qty": 5, "price": 6, "offer": 38}),
        ev("trade", {"buyer": "Badger", "seller": "Owl", "good": "timber", "qty": 6, "price": 12, "offer": 74}),
        ev("offer_placed", {"id": 75, "owner": "Owl", "side": "sell", "good": "timber", "qty": 8, "price": 8}),
        ev("trade", {"buyer": "Hare", "seller": "Owl", "good": "timber", "qty": 7, "price": 8, "offer": 75}),
    ]
    assert round_recap(events, "Owl", after, state.copy(), goods=GOODS) == [
        "You sold 9 timber to Badger at 6 (54 coins earned); your offer #38 is partly filled, 5 still stand.",
        "You sold 5 timber to Hare at 6 (30 coins earned); that filled your offer #38.",
        "You sold 6 timber to Badger at 12 (72 coins earned).",
        "You sold 7 timber to Hare at 8 (56 coins earned); your offer #75 is partly filled, 1 still stands.",
        "Your offer #75 to sell 1 timber at 8 stands until round 6."]


def test_loans_gifts_tips_and_the_magistrate(state):
    events = [
        ev("tip_resolved", {"tip": 1, "text": "the honey harvest fails in 2 rounds", "good": "honey", "truth": True,
                            "recipients": ["Owl"]}),
        ev("tip_resolved", {"tip": 2, "text": "a blight takes the mushrooms", "good": "mushrooms", "truth": False,
                            "recipients": ["Owl", "Fox"]}),
        ev("tip_issued", {"tip": 4, "text": "a storm in 3 rounds", "good": "timber", "resolves": 7},
           public=False, who=("Owl",)),
        ev("loan_taken", {"loan": 8, "lender": "Fox", "borrower": "Owl", "amount": 20, "owed": 23, "due": 7}),
        ev("loan_repaid", {"loan": 2, "lender": "Owl", "borrower": "Hare", "paid": 11}),
        ev("default", {"loan": 3, "lender": "Badger", "borrower": "Owl", "paid": 4, "short": 9}),
        ev("gift", {"giver": "Squirrel", "receiver": "Owl", "item": "acorns", "qty": 2}),
        ev("fine", {"creature": "Owl", "amount": 12, "good": "honey", "tip": 1, "units": 2, "profit": 7}),
    ]
    lines = round_recap(events, "Owl", state, goods=GOODS)
    for want in ('Your tip "the honey harvest fails in 2 rounds" came true.',
                 'Your tip "a blight takes the mushrooms" was planted: nothing happened.',
                 "You borrowed 20 coins from Fox: you owe 23 in round 7.",
                 "Hare repaid you 11 coins: that loan is done.",
                 "Squirrel gave you 2 acorns.",
                 "The magistrate fined you 12 coins for profiting 7 on honey from a tip."):
        assert want in lines, lines
    assert any(x.startswith('A tip reached you (private): "a storm in 3 rounds"') for x in lines)
    assert any(x.startswith("You could not repay Badger in full and defaulted: you still owe 9") for x in lines)
    fox = round_recap(events, "Fox", state, goods=GOODS)
    assert "Owl borrowed" not in " ".join(fox) and any("took your loan of 20 coins" in x for x in fox)
    assert not any("storm" in x for x in fox)  # Owl's new tip is private to Owl


def test_regard_is_bucketed_and_leaves_out_the_neutral(state):
    state.relations = {"Fox": {"Owl": 70}, "Hare": {"Owl": -25}, "Badger": {"Owl": 5}, "Owl": {"Fox": -90}}
    assert regard(state, "Owl") == ["Fox trusts you deeply", "Hare distrusts you"]
    assert regard_line("Fox", -80) == "Fox resents you" and regard_line("Fox", 30) == "Fox feels warmly toward you"


def test_a_played_game_reads_in_words(world):
    runner, results = play(world, seed=3, rounds=12)
    for name in runner.state.creatures:
        lines = round_recap(results[-1].events, name, runner.state, goods=GOODS)
        assert any(x.startswith("Mood") for x in lines), lines  # every round ends with a meal
        for x in lines:
            assert not CODES.search(x) and "{" not in x, x


def test_no_state_no_crash(world):
    state = initial_state(world, 1)
    e = ev("offer_placed", {"id": 2, "owner": "Owl", "side": "sell", "good": "honey", "qty": 1, "price": 9})
    assert round_recap([e], "Owl", goods=GOODS) == ["Your offer #2 to sell 1 honey at 9 stands."]
    assert round_recap([e], "Owl", state, goods=GOODS) == []  # not in the state after: its fill tells it


# ---- one coin, one round, one unit: counted as one ------------------------------------
def act(state, world, name, **kw):
    return apply_action(state, world, Book(state), name, Action(**kw))


def until_due(state, world, kind):
    """Round after round (no moves) until an event of `kind`: (state after, that round's events)."""
    for _ in range(5):
        state, events, _ = open_round(state, world)
        if any(e.kind == kind for e in events):
            return state, events
        state, _ = close_round(state, world, {})[:2]
    raise AssertionError(f"no {kind}")


@pytest.mark.parametrize("n", [1, 2])
def test_a_trade_and_a_loan_of_one_coin_for_one_round_read_singular(state, world, n):
    """The recap had read "(1 coins earned)", "a loan of 1 coins ... for 1
    rounds", "You repaid 1 coins", "still owes you 1 coins"."""
    coins, rounds = ("1 coin", "1 round") if n == 1 else ("2 coins", "2 rounds")
    before = state.copy()
    placed = act(state, world, "Owl", action="offer", side="sell", good="timber", qty=n, price=1)
    took = act(state, world, "Fox", action="accept", id=placed[0].data["id"])
    assert round_recap(took, "Owl", state, before, goods=GOODS) == [f"You sold {n} timber to Fox at 1 ({coins} earned)."]
    assert round_recap(took, "Fox", state, before, goods=GOODS) == [f"You bought {n} timber from Owl at 1 ({coins} paid)."]

    offered = act(state, world, "Owl", action="lend", amount=n, rate=0, rounds=n)
    lid = offered[0].data["id"]
    assert round_recap(offered, "Owl", goods=GOODS) == [f"You offered a loan of {coins} to anyone at 0% for {rounds} (#{lid})."]
    taken = act(state, world, "Hare", action="accept", id=lid)
    assert round_recap(taken, "Hare", goods=GOODS) == [f"You borrowed {coins} from Owl: you owe {n} in round {n}."]
    assert round_recap(taken, "Owl", goods=GOODS) == [f"Hare took your loan of {coins}: owes you {n} in round {n}."]
    # Badger lends n + 1 and Squirrel, left with one coin, repays one and defaults on n
    act(state, world, "Badger", action="lend", amount=n + 1, rate=0, rounds=n)
    act(state, world, "Squirrel", action="accept", id=max(state.loan_offers))
    act(state, world, "Squirrel", action="gift", to="Fox", good="coins", qty=state.creatures["Squirrel"].coins - 1)
    after, events = until_due(state, world, "loan_repaid")
    assert f"You repaid {coins} to Owl: that loan is done." in round_recap(events, "Hare", after, goods=GOODS)
    assert f"Hare repaid you {coins}: that loan is done." in round_recap(events, "Owl", after, goods=GOODS)
    assert f"Squirrel defaulted on your loan and still owes you {coins}." in round_recap(events, "Badger", after, goods=GOODS)
    assert any(x.startswith(f"You could not repay Badger in full and defaulted: you still owe {coins}, and")
               for x in round_recap(events, "Squirrel", after, goods=GOODS))


@pytest.mark.parametrize("n", [1, 2])
def test_a_trade_gift_and_offer_of_one_unit_of_a_good_read_singular(state, world, n):
    """The recap had read "You bought 1 acorns", "You gave 1 berries", "went without 1 mushrooms"."""
    acorns, berries = ("1 acorn", "1 berry") if n == 1 else (f"{n} acorns", f"{n} berries")
    state.creatures["Fox"].goods.update(acorns=n, berries=n)
    before = state.copy()
    placed = act(state, world, "Fox", action="offer", side="sell", good="acorns", qty=n, price=9)
    assert round_recap(placed, "Fox", goods=GOODS) == [f"Your offer #{placed[0].data['id']} to sell {acorns} at 9 stands."]
    took = act(state, world, "Owl", action="accept", id=placed[0].data["id"])
    coins = f"{9 * n} coins"
    assert round_recap(took, "Owl", state, before, goods=GOODS)[0] == f"You bought {acorns} from Fox at 9 ({coins} paid)."
    assert round_recap(took, "Fox", state, before, goods=GOODS)[0].startswith(f"You sold {acorns} to Owl at 9 ({coins} earned)")
    gave = act(state, world, "Fox", action="gift", to="Hare", good="berries", qty=n)
    assert round_recap(gave, "Fox", goods=GOODS) == [f"You gave {berries} to Hare."]
    assert round_recap(gave, "Hare", goods=GOODS) == [f"Fox gave you {berries}."]
    meal = ev("meal", {"creature": "Owl", "ate": {"acorns": n}, "missed": {"mushrooms": 1}, "rotted": {}, "mood": -1})
    assert round_recap([meal], "Owl", goods=GOODS) == [f"Mood -1: ate {acorns}; went without 1 mushroom."]


@pytest.mark.parametrize("n", [1, 2])
def test_a_loan_offer_of_one_coin_refused_or_expired_reads_singular(state, world, n):
    coins = "1 coin" if n == 1 else "2 coins"
    offered = act(state, world, "Owl", action="lend", amount=n, rate=5, rounds=3)
    lo = state.loan_offers[offered[0].data["id"]]
    state.round = lo.expires  # its last round, untaken
    assert round_recap([], "Owl", state, goods=GOODS) == [f"Your loan offer #{lo.id} of {coins} expired: no one took it."]
    state.creatures["Fox"].coins = 0
    refused = act(state, world, "Fox", action="lend", amount=n, rate=5, rounds=3)
    assert round_recap(refused, "Fox", goods=GOODS)[0].startswith(f"Your loan offer of {coins} was refused: ")


@pytest.mark.parametrize("n", [1, 2])
def test_a_short_of_one_unit_squeezed_or_bought_in_at_a_loss_of_one_coin_agrees(state, world, n):
    """The recap had read "1 honey go back to the store", "1 were nowhere to
    be had" and "a loss of 1 coins"."""
    go, were, coin, mushrooms = ("goes", "was", "coin", "mushroom") if n == 1 else ("go", "were", "coins", "mushrooms")
    state.offers[90] = Offer(90, "Fox", "buy", "honey", n, 9, 99)
    state.offers[91] = Offer(91, "Fox", "buy", "mushrooms", n, 5, 99)
    opened = act(state, world, "Owl", action="short", good="honey", qty=n, price=9, rounds=1)
    opened += act(state, world, "Owl", action="short", good="mushrooms", qty=n, price=5, rounds=1)
    honey, mush = sorted(state.shorts)
    lines = round_recap(opened, "Owl", state, goods=GOODS)
    assert (f"You sold {n} honey short to Fox at 9 for {9 * n} coins (#{honey}): {state.shorts[honey].collateral} of your coins "
            f"are held as collateral, and {n} honey {go} back to the store in round 1.") in lines
    # nothing to buy honey back with (Owl makes none): squeezed; mushrooms bought in at 6, one coin dearer a unit
    state.creatures["Owl"].goods["honey"] = 0
    state.quotes["honey"].last = None
    state.offers[92] = Offer(92, "Badger", "sell", "mushrooms", n, 6, 99)
    after, events = until_due(state, world, "short_closed")
    lines = round_recap(events, "Owl", after, goods=GOODS)
    squeeze = next(e.data for e in events if e.kind == "short_closed" and e.data["id"] == honey)
    assert (f"Your short of {n} honey (#{honey}) closed: {n} {were} nowhere to be had: squeezed for "
            f"{squeeze['squeeze_cost']} coins. Collateral returned; a loss of {-squeeze['profit']} coins.") in lines
    assert (f"Your short of {n} {mushrooms} (#{mush}) closed: {n} bought in for {6 * n} coins. "
            f"Collateral returned; a loss of {n} {coin}.") in lines


@pytest.mark.parametrize("n", [1, 2])
def test_a_fine_and_a_granary_sale_of_one_coin_read_singular(state, n):
    coins = "1 coin" if n == 1 else "2 coins"
    events = [ev("fine", {"creature": "Owl", "amount": n, "good": "honey", "tip": 1, "units": 1, "profit": 3}),
              ev("granary", {"spent": n, "bought": {"honey": 1}, "fed": ["Hare"], "buys": [["Owl", "honey", 1, n]]})]
    assert round_recap(events, "Owl", state, goods=GOODS) == [
        f"The granary bought 1 honey from you at {n} ({coins} earned).",
        f"The magistrate fined you {coins} for profiting 3 on honey from a tip."]


# ---- shorts, pacts and whispers ------------------------------------------------------
def test_a_short_opened_and_closed_in_words(state):
    opened = ev("short_opened", {"id": 11, "owner": "Owl", "good": "honey", "qty": 3, "proceeds": 30,
                                 "collateral": 45, "due": 8})
    closed = ev("short_closed", {"id": 11, "owner": "Owl", "good": "honey", "qty": 3, "delivered": 1, "bought": 1,
                                 "cost": 9, "squeezed": 1, "squeeze_cost": 16, "unpaid": 0, "profit": -3, "buys": []})
    won = ev("short_closed", {"id": 12, "owner": "Owl", "good": "timber", "qty": 2, "delivered": 0, "bought": 2,
                              "cost": 8, "squeezed": 0, "squeeze_cost": 0, "unpaid": 0, "profit": 6, "buys": []})
    lines = round_recap([opened, closed, won], "Owl", state, goods=GOODS)
    assert lines[0] == ("You sold 3 honey short for 30 coins (#11): 45 of your coins are held as collateral, "
                        "and 3 honey go back to the store in round 8.")
    assert lines[1] == ("Your short of 3 honey (#11) closed: 1 came from your store; 1 bought in for 9 coins; "
                        "1 was nowhere to be had: squeezed for 16 coins. Collateral returned; a loss of 3 coins.")
    assert lines[2] == ("Your short of 2 timber (#12) closed: 2 bought in for 8 coins. "
                        "Collateral returned; a profit of 6 coins.")
    assert round_recap([opened, closed], "Fox", state, goods=GOODS) == []  # someone else's short: the public log has it


def test_pacts_proposed_formed_and_broken_in_words(state):
    events = [ev("pact_proposed", {"id": 4, "proposer": "Fox", "to": "Owl"}),
              ev("pact_proposed", {"id": 5, "proposer": "Owl", "to": "Hare", "renewed": True}),
              ev("pact_formed", {"id": 6, "a": "Badger", "b": "Owl"}),
              ev("pact_broken", {"creature": "Squirrel", "ally": "Owl", "why": "broke"}),
              ev("pact_broken", {"creature": "Owl", "ally": "Badger", "why": "default"})]
    assert round_recap(events, "Owl", state, goods=GOODS) == [
        "Fox proposed a pact to you (#4): accept #4, or propose one back, to become allies.",
        "You renewed your pact to Hare (#5): it stands until Hare accepts it or proposes one back.",
        "You and Badger made a pact: you are allies, first in line for each other's offers.",
        "Squirrel broke its pact with you, in public.",
        "Your default on Badger's loan broke your pact with Badger.",
    ]
    assert round_recap(events, "Fox", state, goods=GOODS) == [
        "You proposed a pact to Owl (#4): it stands until Owl accepts it or proposes one back."]
    assert round_recap(events, "Badger", state, goods=GOODS) == [
        "You and Owl made a pact: you are allies, first in line for each other's offers.",
        "Owl defaulted on your loan: your pact with Owl is over."]
    assert round_recap(events, "Squirrel", state, goods=GOODS) == ["You broke your pact with Owl, in public."]


def test_whispers_sent_and_received_in_words_and_private(state):
    said = ev("whisper", {"from": "Fox", "to": "Owl", "text": "honey is cheap at dawn", "tip": None},
              public=False, who=("Fox", "Owl"))
    passed = ev("whisper", {"from": "Owl", "to": "Hare", "text": "the honey harvest fails", "tip": 9},
                public=False, who=("Owl", "Hare"))
    assert round_recap([said, passed], "Owl", state, goods=GOODS) == [
        'Fox whispered to you: "honey is cheap at dawn".',
        'You passed on your tip #9 to Hare (only Hare reads it): "the honey harvest fails".']
    assert round_recap([said, passed], "Hare", state, goods=GOODS) == [  # a tip passed on arrives as words, not as a tip
        'Owl whispered to you: "the honey harvest fails".']
    assert round_recap([said, passed], "Badger", state, goods=GOODS) == []


def test_refused_new_moves_are_named(state):
    events = [ev("rejected", {"creature": "Owl", "action": "short", "reason": "no_buyer",
                              "detail": "no standing buy offer for honey at 90 or more",
                              "proposal": {"action": "short", "good": "honey", "qty": 2, "price": 90}})]
    assert round_recap(events, "Owl", state, goods=GOODS) == [
        "Your short of 2 honey at 90 was refused: no one is buying at that price or better, so nothing was sold "
        "short: no standing buy offer for honey at 90 or more."]


def test_a_short_sale_is_told_once_naming_its_buyers(state, world):
    """A short of 2 honey read "You sold 2 honey to Fox at 9 (18 coins
    earned)." and then "You sold 2 honey short for 18 coins...": two sales
    of 2 to a reader, where one of 2 was made. Now one line, naming whom."""
    state.offers[90] = Offer(90, "Fox", "buy", "honey", 2, 9, 99)
    opened = act(state, world, "Owl", action="short", good="honey", qty=2, price=9, rounds=1)
    lines = round_recap(opened, "Owl", state, goods=GOODS)
    sold = [line for line in lines if "sold" in line]
    assert len(sold) == 1, lines
    assert sold[0].startswith("You sold 2 honey short to Fox at 9 for 18 coins (#")
    assert round_recap(opened, "Fox", state, goods=GOODS) == ["You bought 2 honey from Owl at 9 (18 coins paid)."]
    # sold to two bidders: both named, each with its part, still one sale line
    state.offers[91] = Offer(91, "Fox", "buy", "berries", 1, 5, 99)
    state.offers[92] = Offer(92, "Hare", "buy", "berries", 1, 4, 99)
    opened = act(state, world, "Owl", action="short", good="berries", qty=2, price=4, rounds=1)
    sold = [line for line in round_recap(opened, "Owl", state, goods=GOODS) if "sold" in line]
    assert len(sold) == 1 and sold[0].startswith("You sold 2 berries short to Fox (1 at 5), Hare (1 at 4) for 9 coins (#"), sold
