"""Scripted traders: deterministic rule-based brains, one per temperament.

They read only their `PublicView` and draw randomness from a stream seeded
by (run seed, name, round), so a run replays and resumes exactly. They exist
to make a living market without a model (tests, large headless runs, the
UI's snapshots) and to be the baseline a model must beat.
"""
from __future__ import annotations

import math
import random

from ..actions import Action
from ..views import OfferView, PublicView
from . import Decision

# (stock wanted in rounds of need, markup when selling, most paid over reference when buying)
STYLE = {
    "merchant": (3, 1.00, 1.15),
    "hoarder": (5, 1.15, 1.20),
    "speculator": (3, 1.10, 1.10),
    "cautious": (3, 1.05, 1.00),
    "generous": (3, 0.95, 1.10),
}
SAYINGS = ("Fair prices at my stall!", "Who needs {good}?", "The wood provides.", "Buying {good}, paying well.")


class ScriptedBrain:
    def __init__(self, seed: int, temperament: str):
        self.seed = seed
        self.temperament = temperament if temperament in STYLE else "merchant"

    async def decide(self, view: PublicView) -> Decision:
        return Decision(choose(view, self.temperament, random.Random(f"{self.seed}/{view.name}/{view.round}")))


def choose(v: PublicView, temperament: str, rng: random.Random) -> Action:
    stock, markup, pay = STYLE[temperament]
    short = {g: n * stock - v.holding(g) for g, n in v.needs if n * stock > v.holding(g)}
    made = dict(v.produces)
    surplus = {g: v.holding(g) - (v.need(g) * stock + 2) for g in made if v.holding(g) > v.need(g) * stock + 2}
    say = SAYINGS[rng.randrange(len(SAYINGS))].format(good=rng.choice(list(made))) if rng.random() < 0.08 else None

    def done(a: Action) -> Action:
        return a.model_copy(update={"say": say}) if say else a

    if temperament == "speculator" and (a := _speculate(v, rng)):
        return done(a)
    if temperament == "cautious" and v.coins > 110 and not any(l.role == "lender" for l in v.loans) and rng.random() < 0.35:
        return done(Action(action="lend", amount=rng.choice((20, 25, 30)), rate=rng.choice((5, 10)), rounds=3))
    if temperament == "generous" and surplus and v.mood >= 50 and rng.random() < 0.3:
        g = max(sorted(surplus), key=lambda x: surplus[x])
        wanters = [o.owner for o in v.book if o.good == g and o.side == "buy"] or [o.owner for o in v.book]
        if wanters:
            return done(Action(action="gift", to=wanters[0], good=g, qty=1))
    if v.coins < 25 and v.loan_offers and temperament in ("speculator", "generous", "merchant"):
        return done(Action(action="accept", id=v.loan_offers[0].id))

    # every sensible move, weighted by how much it matters; one is drawn
    options: list[tuple[int, Action]] = []
    mine = {(o.good, o.side) for o in v.my_offers}
    for g, q in short.items():
        ref = _fair(v, g)
        ask = _best(v, g, "sell")
        if ask and ask.price <= ref * pay and v.coins >= ask.price:
            q = max(1, min(q, ask.qty, v.coins // ask.price))
            # take the offer by id, or cross the book at its price (which still fills if it is gone)
            take = Action(action="accept", id=ask.id, qty=q) if rng.random() < 0.3 else \
                Action(action="offer", side="buy", good=g, qty=q, price=ask.price)
            options.append((3 * q, take))
        elif (g, "buy") not in mine:
            price = max(1, round(ref * pay))
            if v.coins >= price:
                options.append((q, Action(action="offer", side="buy", good=g, qty=max(1, min(q, v.coins // price)), price=price)))
    for g, q in surplus.items():
        ref = _fair(v, g)
        bid = _best(v, g, "buy")
        if bid and bid.price * markup >= ref:
            q = max(1, min(q, bid.qty))
            take = Action(action="accept", id=bid.id, qty=q) if rng.random() < 0.3 else \
                Action(action="offer", side="sell", good=g, qty=q, price=bid.price)
            options.append((3 * q, take))
        elif (g, "sell") not in mine:
            price = max(1, round(ref * (markup if q < 8 else 0.9)))
            options.append((q, Action(action="offer", side="sell", good=g, qty=q, price=price)))
    if options:
        pick = rng.randrange(sum(w for w, _ in options))
        for w, a in options:
            pick -= w
            if pick < 0:
                return done(a)
    return done(Action(action="pass"))


def _fair(v: PublicView, good: str) -> float:
    """What a good is worth to a scripted trader: the last price, kept within
    a band around the wood's customary price so prices cannot spiral."""
    q = v.quote(good)
    return min(max(q.ref_price, 0.7 * q.base), 1.6 * q.base)


def _best(v: PublicView, good: str, side: str) -> OfferView | None:
    offers = [o for o in v.book if o.good == good and o.side == side]
    if not offers:
        return None
    return max(offers, key=lambda o: o.price) if side == "buy" else min(offers, key=lambda o: o.price)


def _speculate(v: PublicView, rng: random.Random) -> Action | None:
    """Act on a live tip: hoard what is said to fail, dump what is said to boom."""
    for t in v.tips:
        failing = "fail" in t.text or "blight" in t.text
        ref = v.quote(t.good).ref_price
        if failing:
            ask = _best(v, t.good, "sell")
            if ask and v.coins >= ask.price:
                return Action(action="accept", id=ask.id, qty=max(1, min(ask.qty, v.coins // ask.price, 4)))
            if v.coins >= ref * 2:
                return Action(action="offer", side="buy", good=t.good, qty=2, price=math.ceil(ref * 1.3))
        elif v.holding(t.good) > v.need(t.good):
            bid = _best(v, t.good, "buy")
            q = v.holding(t.good) - v.need(t.good)
            if bid:
                return Action(action="accept", id=bid.id, qty=max(1, min(q, bid.qty)))
            return Action(action="offer", side="sell", good=t.good, qty=q, price=max(1, math.floor(ref * 0.9)))
    return None
