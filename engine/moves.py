"""Sensible market moves from a `PublicView` alone: buy what you are short
of, sell what you have too much of, taking a standing offer where a fair one
exists and posting your own where none does.

One place for that judgement: scripted traders draw their market moves from
here, and the prompt builder shows a model its best few as ready-made JSON
(small models copy examples; better they copy a move that fits the round).
Nothing here is random and nothing reads beyond the view.
"""
from __future__ import annotations

from dataclasses import dataclass

from .actions import PRICE_MAX, QTY_MAX, Action
from .views import OfferView, PublicView

# the default trading style: stock wanted in rounds of need, markup when selling,
# most paid over the fair price when buying
STOCK, MARKUP, PAY = 3, 1.00, 1.15


def lot(qty: int) -> int:
    """A quantity the action schema accepts: 1..QTY_MAX. Callers bound it by
    what they hold or can pay for first; this only trims an outsized lot
    (a hoard of thousands is sold a schema-sized lot at a time)."""
    return max(1, min(qty, QTY_MAX))


def tag(price: float) -> int:
    """A whole price the action schema accepts: 1..PRICE_MAX."""
    return max(1, min(round(price), PRICE_MAX))


@dataclass(frozen=True)
class Move:
    weight: int           # how much it matters (units short or spare; taking a fair offer counts triple)
    offer: Action         # the trade as an offer on the book
    take: Action | None   # the same trade as an accept of a standing offer, where one is fair
    counterpart: str = ""  # whose offer `take` accepts

    def describe(self) -> str:
        """`buy 2 acorns from Squirrel at 7`: what the move does, in words."""
        a = self.offer
        whom = f" {'from' if a.side == 'buy' else 'to'} {self.counterpart}" if self.take is not None else ""
        return f"{a.side} {a.qty} {a.good}{whom} at {a.price}"


def market_moves(v: PublicView, stock: int = STOCK, markup: float = MARKUP, pay: float = PAY) -> list[Move]:
    """Every sensible buy and sell for `v`'s trader, shortfalls first, in a
    fixed order (callers that draw at random stay reproducible)."""
    short = shortfall(v, stock)
    spare = surplus(v, stock)
    mine = {(o.good, o.side) for o in v.my_offers}
    moves: list[Move] = []
    for g, q in short.items():
        ref = fair(v, g)
        ask = best(v, g, "sell")
        if ask and ask.price <= ref * pay and v.coins >= ask.price:
            q = lot(min(q, ask.qty, v.coins // ask.price))
            # take the offer by id, or cross the book at its price (which still fills if it is gone)
            moves.append(Move(3 * q, Action(action="offer", side="buy", good=g, qty=q, price=ask.price),
                              Action(action="accept", id=ask.id, qty=q), ask.owner))
        elif (g, "buy") not in mine:
            price = tag(ref * pay)
            if v.coins >= price:
                moves.append(Move(q, Action(action="offer", side="buy", good=g, qty=lot(min(q, v.coins // price)),
                                            price=price), None))
    for g, q in spare.items():
        ref = fair(v, g)
        bid = best(v, g, "buy")
        if bid and bid.price * markup >= ref:
            q = lot(min(q, bid.qty))
            moves.append(Move(3 * q, Action(action="offer", side="sell", good=g, qty=q, price=bid.price),
                              Action(action="accept", id=bid.id, qty=q), bid.owner))
        elif (g, "sell") not in mine:
            price = tag(ref * (markup if q < 8 else 0.9))
            moves.append(Move(q, Action(action="offer", side="sell", good=g, qty=lot(q), price=price), None))
    return moves


def shortfall(v: PublicView, stock: int = STOCK) -> dict[str, int]:
    """Goods below `stock` rounds of need, and by how much."""
    return {g: n * stock - v.holding(g) for g, n in v.needs if n * stock > v.holding(g)}


def surplus(v: PublicView, stock: int = STOCK) -> dict[str, int]:
    """Goods the trader makes and holds beyond `stock` rounds of need (and 2 more), and by how much."""
    return {g: v.holding(g) - (v.need(g) * stock + 2) for g, _ in v.produces if v.holding(g) > v.need(g) * stock + 2}


def fair(v: PublicView, good: str) -> float:
    """What a good is worth: the last price, kept within a band around the
    wood's customary price so prices cannot spiral."""
    q = v.quote(good)
    return min(max(q.ref_price, 0.7 * q.base), 1.6 * q.base)


def best(v: PublicView, good: str, side: str) -> OfferView | None:
    """The best standing offer of others on one side of one good."""
    offers = [o for o in v.book if o.good == good and o.side == side]
    if not offers:
        return None
    return max(offers, key=lambda o: o.price) if side == "buy" else min(offers, key=lambda o: o.price)
