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
from ..moves import best, lot, market_moves, surplus, tag
from ..views import PublicView
from ..world import RosterEntry
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


def scripted_brains(roster: list[RosterEntry], seed: int) -> dict[str, "ScriptedBrain"]:
    """A scripted trader for each creature of `roster`, playing its temperament."""
    return {r.name: ScriptedBrain(seed, r.temperament) for r in roster}


class ScriptedBrain:
    def __init__(self, seed: int, temperament: str):
        self.seed = seed
        self.temperament = temperament if temperament in STYLE else "merchant"

    async def decide(self, view: PublicView) -> Decision:
        return Decision(choose(view, self.temperament, random.Random(f"{self.seed}/{view.name}/{view.round}")))


def choose(v: PublicView, temperament: str, rng: random.Random) -> Action:
    stock, markup, pay = STYLE[temperament]
    made = dict(v.produces)
    spare = surplus(v, stock)
    say = SAYINGS[rng.randrange(len(SAYINGS))].format(good=rng.choice(list(made))) if rng.random() < 0.08 else None

    def done(a: Action) -> Action:
        return a.model_copy(update={"say": say}) if say else a

    if temperament == "speculator" and (a := _speculate(v, rng)):
        return done(a)
    if temperament == "cautious" and v.coins > 110 and not any(l.role == "lender" for l in v.loans) and rng.random() < 0.35:
        return done(Action(action="lend", amount=rng.choice((20, 25, 30)), rate=rng.choice((5, 10)), rounds=3))
    if temperament == "generous" and spare and v.mood >= 50 and rng.random() < 0.3:
        g = max(sorted(spare), key=lambda x: spare[x])
        wanters = [o.owner for o in v.book if o.good == g and o.side == "buy"] or [o.owner for o in v.book]
        if wanters:
            return done(Action(action="gift", to=wanters[0], good=g, qty=1))
    if v.coins < 25 and v.loan_offers and temperament in ("speculator", "generous", "merchant"):
        return done(Action(action="accept", id=v.loan_offers[0].id))

    # every sensible market move, weighted by how much it matters; one is drawn
    options: list[tuple[int, Action]] = []
    for m in market_moves(v, stock, markup, pay):
        options.append((m.weight, m.take if m.take is not None and rng.random() < 0.3 else m.offer))
    if options:
        pick = rng.randrange(sum(w for w, _ in options))
        for w, a in options:
            pick -= w
            if pick < 0:
                return done(a)
    return done(Action(action="pass"))


def _speculate(v: PublicView, rng: random.Random) -> Action | None:
    """Act on a live tip: hoard what is said to fail, dump what is said to boom."""
    for t in v.tips:
        failing = "fail" in t.text or "blight" in t.text
        ref = v.quote(t.good).ref_price
        if failing:
            ask = best(v, t.good, "sell")
            if ask and v.coins >= ask.price:
                return Action(action="accept", id=ask.id, qty=lot(min(ask.qty, v.coins // ask.price, 4)))
            price = tag(math.ceil(ref * 1.3))
            if v.coins >= ref * 2:  # two units if the purse allows, else the one it does
                return Action(action="offer", side="buy", good=t.good, qty=lot(min(2, v.coins // price)), price=price)
        elif v.holding(t.good) > v.need(t.good):
            bid = best(v, t.good, "buy")
            q = v.holding(t.good) - v.need(t.good)
            if bid:
                return Action(action="accept", id=bid.id, qty=lot(min(q, bid.qty)))
            return Action(action="offer", side="sell", good=t.good, qty=lot(q), price=tag(math.floor(ref * 0.9)))
    return None
