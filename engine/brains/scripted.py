"""Scripted traders: deterministic rule-based brains, one per temperament.

They read only their `PublicView` and draw randomness from a stream seeded
by (run seed, name, round), so a run replays and resumes exactly. They exist
to make a living market without a model (tests, large headless runs, the
UI's snapshots) and to be the baseline a model must beat.

Each round a trader, in order: acts on a live tip (speculators: buys ahead
of a failure, sells or shorts ahead of a glut); breaks a pact with an ally
it has come to distrust; answers a pact offered by one it does not distrust
(generous ones propose pacts to those they like); passes on news in a
whisper (merchants, the gossips); borrows when its purse is nearly empty
and it is short of food; lends spare coins to a creature it feels warmly
about; gives a little of its surplus to one it likes (generous ones); else
draws one of its market moves (`engine.moves`, where its prices are set),
weighted by how much each matters.
"""
from __future__ import annotations

import math
import random

from ..actions import SHORT_ROUNDS_MAX, WHISPER_MAX, Action
from ..moves import WARMTH, best, lot, market_moves, passed_over, ref, runway, shortfall, surplus, tag, trusted
from ..views import PublicView
from ..world import RosterEntry
from . import Decision

# (stock wanted in rounds of need, markup on its ask, markup on what it will pay)
STYLE = {
    "merchant": (3, 1.00, 1.00),
    "hoarder": (5, 1.10, 1.05),
    "speculator": (3, 1.20, 0.90),
    "cautious": (3, 1.05, 0.95),
    "generous": (3, 0.85, 1.10),
}
SAYINGS = ("Fair prices at my stall!", "Who needs {good}?", "The wood provides.", "Buying {good}, paying well.")

BORROW_RATE_MAX = 5   # percent per round: the dearest loan a scripted trader takes ...
BORROW_COST_MAX = 20  # ... and percent over its whole term (5% a round for 20 rounds doubles the debt)
BORROW_ODDS = 0.3     # the chance a needy trader reaches for an open loan offer this round (others see it too)
LEND_RUNWAY = 3       # lends only when its coins buy at least this many rounds of its basket
BORROW_RUNWAY = 2     # borrows when its coins buy fewer rounds of its basket than this (and it is short)
LEND_RATE = 2         # percent per round to a creature it feels warmly about ...
RISK_RATE = 3         # ... plus this for one that once defaulted (and has since paid) or for an open offer
LEND_ROUNDS = 4
LENDERS = {"cautious": 0.35, "merchant": 0.1, "generous": 0.15}  # how often a rich one of each lends
DISTRUST = -20        # an ally felt about below this is left (the pact broken) ...
FICKLE = ("hoarder", "speculator")  # ... and these leave an ally they no longer feel anything for
PACT_ODDS = 0.1       # the chance a generous trader proposes a pact this round (to the one it likes best)
RICH_BID = 1.15       # a bid this far above the going price is one a speculator may short into ...
RICH_BID_ODDS = 0.4   # ... this often
GOSSIP_ODDS = 0.04    # the chance a merchant whispers a market line this round ...
TIP_GOSSIP_ODDS = 0.3 # ... or passes on a live tip it holds
SHORT_MAX = 3         # units a speculator shorts at once
GLUT_WORDS = ("windfall", "bumper")
FAIL_WORDS = ("fail", "blight")


def scripted_brains(roster: list[RosterEntry], seed: int) -> dict[str, "ScriptedBrain"]:
    """A scripted trader for each creature of `roster`, playing its temperament."""
    return {r.name: ScriptedBrain(seed, r.temperament) for r in roster}


class ScriptedBrain:
    def __init__(self, seed: int, temperament: str):
        """ValueError for a temperament it does not play (not in STYLE): the
        world loader refuses such a world, and a roster or save any temperament
        not in the world, so none reaches here; one that did had been played
        as a merchant without a word."""
        if temperament not in STYLE:
            raise ValueError(f"the scripted brain plays no temperament {temperament!r} ({', '.join(STYLE)})")
        self.seed = seed
        self.temperament = temperament

    async def decide(self, view: PublicView) -> Decision:
        return Decision(choose(view, self.temperament, random.Random(f"{self.seed}/{view.name}/{view.round}")))


def choose(v: PublicView, temperament: str, rng: random.Random) -> Action:
    """One action for `v`'s trader, playing `temperament`; `rng` is its only randomness."""
    stock, markup, pay = STYLE[temperament]
    made = dict(v.produces)
    say = SAYINGS[rng.randrange(len(SAYINGS))].format(good=rng.choice(list(made))) if rng.random() < 0.08 else None

    def done(a: Action) -> Action:
        return a.model_copy(update={"say": say}) if say else a

    if temperament == "speculator" and (a := _speculate(v, rng)):
        return done(a)
    if (a := _pacts(v, temperament, rng)):
        return done(a)
    if temperament == "merchant" and rng.random() < (TIP_GOSSIP_ODDS if v.tips else GOSSIP_ODDS) \
            and (a := _gossip(v, rng)):
        return done(a)
    if temperament != "cautious" and (a := _borrow(v, stock, rng)):
        return done(a)
    if temperament in LENDERS and rng.random() < LENDERS[temperament] and (a := _lend(v, temperament, rng)):
        return done(a)
    if temperament == "generous" and v.mood >= 50 and rng.random() < 0.3 and (a := _gift(v, stock)):
        return done(a)

    # every sensible market move, weighted by how much it matters; one is drawn. A standing
    # offer is taken by crossing the book at its price (the rest of the lot stands), or by id
    # when that is the only way to deal with the creature chosen
    options = [(m.weight, m.take if passed_over(v, m) else m.offer) for m in market_moves(v, stock, markup, pay)]
    if options:
        pick = rng.randrange(sum(w for w, _ in options))
        for w, a in options:
            pick -= w
            if pick < 0:
                return done(a)
    return done(Action(action="pass"))


def _borrow(v: PublicView, stock: int, rng: random.Random) -> Action | None:
    """Take a loan when the purse buys fewer than BORROW_RUNWAY rounds of its
    basket and something needed is short: one offered to it alone if there is
    one, else (with BORROW_ODDS, as every needy neighbour sees the same open
    offers) one of the open ones; never while in default (the engine
    refuses), never twice at once, never dearer than BORROW_RATE_MAX% a
    round nor BORROW_COST_MAX% over its term, never from a creature it distrusts."""
    rec = v.record(v.name)
    if (rec and rec.unpaid) or any(ln.role == "borrower" for ln in v.loans):
        return None
    if runway(v) >= BORROW_RUNWAY or not shortfall(v, stock):
        return None
    left = v.rounds_left()
    fits = [lo for lo in v.loan_offers if lo.rate <= BORROW_RATE_MAX and lo.rate * lo.rounds <= BORROW_COST_MAX
            and trusted(v, lo.lender, "")
            and (left is None or lo.rounds <= left)]
    if not fits:
        return None
    mine = [lo for lo in fits if lo.for_me]
    if not mine and rng.random() >= BORROW_ODDS:  # an open offer: many see it, so only some reach for it
        return None
    lo = rng.choice(sorted(mine or fits, key=lambda lo: (lo.rate, -v.feeling(lo.lender), lo.id)))
    return Action(action="accept", id=lo.id)


def lending_rate(v: PublicView, other: str | None) -> int | None:
    """Percent per round to lend to `other` (None: an open offer to anyone):
    LEND_RATE to a creature felt warmly about with a clean record, more for risk
    (a default since repaid, or an open offer); None (refuse) for one still owing
    on a default or one not felt warmly about."""
    if other is None:
        return LEND_RATE + RISK_RATE
    rec = v.record(other)
    if (rec and rec.unpaid) or v.feeling(other) < WARMTH:
        return None
    return LEND_RATE + (RISK_RATE if rec else 0)


def _lend(v: PublicView, temperament: str, rng: random.Random) -> Action | None:
    """A rich trader (LEND_RUNWAY rounds of basket or more, not already owed) offers a
    small loan for LEND_ROUNDS rounds: to the creature in view it feels warmest
    about and may lend to, else (cautious ones) to anyone at a risk rate."""
    if runway(v) < LEND_RUNWAY or v.coins < 60 or any(ln.role == "lender" for ln in v.loans):
        return None
    warm = sorted((n for n, f in v.feelings if n != v.name and lending_rate(v, n) is not None),
                  key=lambda n: (-v.feeling(n), n))
    to = warm[0] if warm else None
    if to is None and temperament != "cautious":
        return None
    amount = min(v.coins // 4, rng.choice((20, 25, 30)))
    rounds = LEND_ROUNDS if v.rounds_left() is None else min(LEND_ROUNDS, v.rounds_left())
    if rounds < 1:
        return None  # the game ends this round: a loan could not fall due
    return Action(action="lend", to=to, amount=amount, rate=lending_rate(v, to), rounds=rounds)


def _gift(v: PublicView, stock: int) -> Action | None:
    """Give one unit of the largest surplus to whoever the trader likes best
    among those bidding for it (else among all it feels warmly about), never to
    one it distrusts."""
    spare = surplus(v, stock)
    if not spare:
        return None
    g = max(sorted(spare), key=lambda x: spare[x])
    wanters = {o.owner for o in v.book if o.good == g and o.side == "buy" and trusted(v, o.owner, "")}
    friends = {n for n, f in v.feelings if f >= WARMTH and n != v.name}
    pool = wanters or friends
    if not pool:
        return None
    to = max(sorted(pool), key=lambda n: v.feeling(n))
    return Action(action="gift", to=to, good=g, qty=1)


def _pacts(v: PublicView, temperament: str, rng: random.Random) -> Action | None:
    """Leave an ally it has come to distrust; accept a pact offered by one it
    does not distrust (cautious ones only from those they feel warmly about);
    a generous trader now and then proposes one to its warmest friend."""
    for ally in v.allies:
        if v.feeling(ally) < DISTRUST or (temperament in FICKLE and v.feeling(ally) <= 0):
            return Action(action="break", to=ally)
    if v.ally_room <= 0:
        return None
    floor = WARMTH if temperament == "cautious" else 0
    for p in v.pact_offers:
        if v.feeling(p.proposer) >= floor and trusted(v, p.proposer, ""):
            return Action(action="accept", id=p.id)
    if temperament == "generous" and rng.random() < PACT_ODDS:
        friends = sorted((n for n, f in v.feelings
                          if f > 0 and n != v.name and n not in v.allies and n not in v.pacts_full),
                         key=lambda n: (-v.feeling(n), n))
        if friends:
            return Action(action="ally", to=friends[0])
    return None


def _gossip(v: PublicView, rng: random.Random) -> Action | None:
    """Pass on a live tip to the creature it feels warmest about (the words
    only: it cannot know whether the tip is true); else tell a trader in view
    what it pays for the good it lacks most."""
    others = sorted({o.owner for o in v.book} | {n for n, _ in v.feelings} | set(v.allies) - {v.name})
    others = [n for n in others if n != v.name]
    if not others:
        return None
    to = max(others, key=lambda n: (v.feeling(n), n))
    if v.tips:
        return Action(action="whisper", to=to, tip=rng.choice(v.tips).id)
    lack = shortfall(v)
    if lack:
        g = max(sorted(lack), key=lambda x: lack[x])
        return Action(action="whisper", to=to, text=f"I pay {tag(ref(v, g) * 1.1)} for {g}, tell no one"[:WHISPER_MAX])
    return None


def _short(v: PublicView, good: str) -> Action | None:
    """Short up to SHORT_MAX units of `good` into the best bid for it, when
    it has room for a short and the coins for the collateral (half the
    proceeds from its own purse), due a round after the glut is said to come."""
    bid = best(v, good, "buy")
    if v.short_room <= 0 or bid is None or v.rounds_left() == 0:
        return None
    q = min(SHORT_MAX, bid.qty, 2 * v.coins // bid.price)
    if q < 1:
        return None
    return Action(action="short", good=good, qty=q, price=bid.price)


def _speculate(v: PublicView, rng: random.Random) -> Action | None:
    """Act on a live tip: hoard what is said to fail; sell what is said to
    boom, or short it when there is little to sell."""
    for t in v.tips:
        failing = any(w in t.text for w in FAIL_WORDS)
        price_now = ref(v, t.good)
        if failing:
            ask = best(v, t.good, "sell")
            if ask and v.coins >= ask.price and ask.price <= price_now * 1.5:
                return Action(action="accept", id=ask.id, qty=lot(min(ask.qty, v.coins // ask.price, 4)))
            price = tag(math.ceil(price_now * 1.3))
            if v.coins >= price_now * 2:  # two units if the purse allows, else the one it does
                return Action(action="offer", side="buy", good=t.good, qty=lot(min(2, v.coins // price)), price=price)
        elif any(w in t.text for w in GLUT_WORDS) and v.holding(t.good) <= v.need(t.good) and \
                not any(x.good == t.good for x in v.shorts) and (a := _short(v, t.good)):
            return a.model_copy(update={"rounds": min(SHORT_ROUNDS_MAX, max(2, t.resolves - v.round + 1))})
        elif v.holding(t.good) > v.need(t.good):
            bid = best(v, t.good, "buy")
            q = v.holding(t.good) - v.need(t.good)
            if bid:
                return Action(action="accept", id=bid.id, qty=lot(min(q, bid.qty)))
            return Action(action="offer", side="sell", good=t.good, qty=lot(q), price=tag(math.floor(price_now * 0.9)))
    # no tip to act on: short into a bid far above the going price, betting it falls back
    # (not while the weather keeps the good scarce: that bid is the news, not a bubble)
    scarce = {x.good for x in v.shocks if x.pct < 0}
    for g in sorted(q.good for q in v.quotes if q.good not in scarce):
        bid = best(v, g, "buy")
        if bid and v.need(g) == 0 and bid.price >= ref(v, g) * RICH_BID and not any(x.good == g for x in v.shorts) \
                and rng.random() < RICH_BID_ODDS and (a := _short(v, g)):
            return a
    return None
