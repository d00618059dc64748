"""Sensible market moves from a `PublicView` alone: buy what you are short
of, sell what you have too much of, at prices a trader sets for itself.

Price discovery lives here. A trader's reservation prices start from what the
good has recently traded at (`ref`), moved by the public news (`news`: a
harvest failing now makes everyone expect more, a bumper crop less), and move
with its own position, never with a band around the wood's customary price:

- a buyer pays more the shorter it is of a good it needs, more again when it
  holds too little to eat this round and its mood is low; but no more than
  its purse stands (its coins spread over RUNWAY rounds of its basket, more
  of them for a good the news says is failing: without that, a five-creature
  wood hardly traded a good in the rounds its harvest failed), and
  never more than it holds; it buys enough to fill its pantry at once; and
  a trader that is not short still fills its pantry from a standing ask
  priced well under what it expects (BARGAIN): demand that answers to
  price, so a glut clears instead of rotting in its maker's store;
- a seller asks a little over the expected price when it has about a round
  of its output to spare, more when it has next to nothing (a failed
  harvest), less the more it sits on; never less than what its own basket
  costs, spread over what it makes -- except for stock beyond the pantry,
  which rots: for that it takes half of that floor;
- both are swayed by the purse (`purse`): a trader whose coins buy more than
  RUNWAY rounds of its basket pays and asks more, a poorer one less. That
  ties the price level to the coins in the wood: when prices sink every
  purse looks fuller and prices climb back; when they soar, the reverse.

Trade happens where a buyer's willingness to pay reaches a seller's ask: a
standing offer within one's reservation price is taken (from the creature one
feels best about, never from one it distrusts unless desperate); otherwise the
trader posts its own offer between its reservation price and the recent
price. Scarcity pushes prices up until buyers' purses stop them, so the price
level follows the money in the wood; gluts push them down to sellers' floors.

One place for that judgement: scripted traders draw their market moves from
here, and the prompt builder shows a model its best few as ready-made JSON
(small models copy examples; better they copy a move that fits the round).
Nothing here is random and nothing reads beyond the view.
"""
from __future__ import annotations

from typing import NamedTuple

from .actions import PRICE_MAX, QTY_MAX, Action
from .events import Goods, units
from .views import OfferView, PublicView, once_per

# the default trading style: stock wanted in rounds of need, a seller's markup
# over its reservation ask, and a buyer's over its willingness to pay
STOCK, MARKUP, PAY = 3, 1.00, 1.00

URGENCY = 0.4       # a buyer with none of a `stock`-round store pays this much more than the recent price
DESPERATION = 0.5   # ... and up to this much more again when it cannot eat this round (all of it at mood 0)
RUNWAY = 3          # rounds of its basket a trader likes its coins to buy: richer pays and asks more, poorer less
PURSE = 0.5         # how strongly the purse moves prices: (runway / RUNWAY) ** PURSE ...
PURSE_SPAN = 3.0    # ... within this factor either way
ASK = 1.1           # a seller with about a round of its output to spare asks this much over the recent price ...
SCARCE = 0.5        # ... up to this much more again when it has next to nothing to spare (a failed harvest)
GLUT = 0.15         # ... and less by this for every further round's worth it sits on (stock rots)
KEEP = 1.0          # a seller's floor on what it can keep: this share of its basket's cost over the units it makes to sell
NEWS = 0.6          # a harvest failing (all of it) in the public news: buyers and sellers expect this much more
ROT_KEEP = 0.5      # ... and this share of that floor for stock beyond the pantry (it rots)
DISTRUST = -20      # feelings at or below this: the trader avoids that creature's offers unless desperate
WARMTH = 20         # feelings at or above this: warm (a lender's and giver's favourites)
BARGAIN = 0.85      # a standing ask at most this share of the expected price tempts a trader that is not short ...
BARGAIN_WEIGHT = 3  # ... to fill its pantry, weighed like a buy three tenths short (then tripled, as every take)


def lot(qty: int) -> int:
    """A quantity the action schema accepts: 1..QTY_MAX. Callers bound it by
    what they hold or can pay for first; this only trims an outsized lot
    (a hoard of thousands is sold a schema-sized lot at a time)."""
    return max(1, min(qty, QTY_MAX))


def tag(price: float) -> int:
    """A whole price the action schema accepts: 1..PRICE_MAX."""
    return max(1, min(round(price), PRICE_MAX))


class Move(NamedTuple):  # a tuple: a round makes thousands, and a frozen dataclass is three times dearer to make
    weight: int           # how much it matters (units short or spare; taking an offer counts triple)
    offer: Action         # the trade as an offer on the book
    take: Action | None   # the same trade as an accept of a standing offer, where one is within reach
    counterpart: str = ""  # whose offer `take` accepts

    def describe(self, goods: Goods) -> str:
        """`buy 2 acorns from Squirrel at 7`: what the move does, in words (units by `goods`, `World.goods`)."""
        a = self.offer
        if self.take is None:
            return f"{a.side} {units(a.qty, a.good, goods)} at {a.price}"
        qty = self.take.qty or a.qty  # taking the offer: as many as the accept asks for
        return f"{a.side} {units(qty, a.good, goods)} {'from' if a.side == 'buy' else 'to'} {self.counterpart} at {a.price}"


# --------------------------------------------------------------------------
# what things are worth to this trader
# --------------------------------------------------------------------------
def ref(v: PublicView, good: str) -> float:
    """What the good has recently traded at: the wood's moving average of trade
    prices, else the last price, else (before any trade) its customary price."""
    q = v.quote(good)
    if q.avg is not None:
        return max(q.avg, 1.0)
    return float(q.last if q.last is not None else q.base)


def news(v: PublicView, good: str) -> float:
    """How the public news moves what everyone expects the good to fetch: a
    harvest failing now (a shock cutting production) raises it by up to NEWS
    (all of the harvest lost), a bumper crop lowers it by as much."""
    pct = sum(s.pct for s in v.shocks if s.good == good)
    return 1 + NEWS * -pct / 100 if pct <= 0 else 1 / (1 + NEWS * pct / 100)


_EXPECTED: tuple = (None, None, {})  # (quotes, shocks, good -> expected price): every view of a round shares them


def expected(v: PublicView, good: str) -> float:
    """The recent price, moved by the news (`news`): the same for every trader
    of a round, so worked out once per round's quotes and shocks."""
    global _EXPECTED
    quotes, shocks, known = _EXPECTED
    if quotes is not v.quotes or shocks is not v.shocks:
        known = {}
        _EXPECTED = (v.quotes, v.shocks, known)
    price = known.get(good)
    if price is None:
        price = known[good] = ref(v, good) * news(v, good)
    return price


_BASKETS: tuple = (None, {})  # (quotes, (needs, produces) -> (cost, units, spare)): a species' basket, once a round


def _basket(v: PublicView) -> tuple[float, int, int]:
    """(`basket_cost`, `basket_units`, the units it makes beyond its own needs):
    the same for every trader of a species in a round (needs, produces and the
    round's prices), so worked out once per round's quotes and basket."""
    memo = v.memo
    hit = memo.get("basket")
    if hit is None:
        global _BASKETS
        quotes, known = _BASKETS
        if quotes is not v.quotes:
            known = {}
            _BASKETS = (v.quotes, known)
        key = (v.needs, v.produces)
        hit = known.get(key)
        if hit is None:
            made = dict(v.produces)
            hit = known[key] = (sum(max(0, n - made.get(g, 0)) * ref(v, g) for g, n in v.needs),
                                sum(max(0, n - made.get(g, 0)) for g, n in v.needs),
                                sum(max(0, q - v.need(g)) for g, q in v.produces))
        memo["basket"] = hit
    return hit


def basket_cost(v: PublicView) -> float:
    """What this round's needs cost at recent prices, less what the trader makes itself."""
    return _basket(v)[0]


def basket_units(v: PublicView) -> int:
    """Units of this round's needs the trader must buy (what it does not make itself)."""
    return _basket(v)[1]


def runway(v: PublicView) -> float:
    """How many rounds of its basket the trader's coins buy (a large number when it needs to buy nothing)."""
    cost = basket_cost(v)
    return v.coins / cost if cost > 0 else float(v.coins)


def purse(v: PublicView) -> float:
    """How the purse sways a trader's prices: one whose coins buy RUNWAY rounds
    of its basket deals at the recent price; a richer one pays and asks more
    (coins are cheap to it), a poorer one less (it needs the sale, it cannot
    pay) -- (runway / RUNWAY) ** PURSE, at most PURSE_SPAN times either way.
    This ties the price level to the coins in the wood: when prices sink,
    every purse looks fuller and prices climb back; when they soar, the reverse."""
    memo = v.memo
    if "purse" not in memo:
        r = max(runway(v), 1e-9) / RUNWAY
        memo["purse"] = min(PURSE_SPAN, max(1 / PURSE_SPAN, r ** PURSE))
    return memo["purse"]


def budget(v: PublicView) -> float:
    """The most one unit may cost if the purse is to buy the basket for RUNWAY rounds."""
    return v.coins / (RUNWAY * max(1, basket_units(v)))


def rots(v: PublicView, good: str) -> bool:
    """Holding more of `good` than the pantry keeps past this round's meal: the rest spoils."""
    return v.holding(good) - v.need(good) > v.pantry


def desperate(v: PublicView, good: str) -> bool:
    """Holding less of a needed good than this round's meal takes."""
    return v.holding(good) < v.need(good)


def willing_to_pay(v: PublicView, good: str, stock: int = STOCK, pay: float = PAY) -> float:
    """The most the trader pays for one unit of `good`: the expected price
    (recent trades and the news), raised by how short it is (up to +URGENCY
    with none of a `stock`-round store), raised again when it cannot eat this
    round (up to +DESPERATION at mood 0), swayed by its purse (`purse`); but
    never more than its purse stands (`budget`, stretched by the same
    desperation when it cannot eat, and by the news: a good whose harvest is
    failing may take that much more of the purse, one in a bumper crop that
    much less) nor than the coins it holds."""
    need, held = v.need(good), v.holding(good)
    want = max(1, need * stock)
    short = max(0, want - held) / want
    hunger = DESPERATION * (100 - v.mood) / 100 if held < need else 0.0  # `desperate`
    price = expected(v, good) * (1 + URGENCY * short + hunger) * purse(v) * pay
    return min(price, budget(v) * (1 + hunger) * news(v, good), float(v.coins))


def keep_price(v: PublicView) -> float:
    """A seller's floor: a share (KEEP) of what its basket costs, spread over
    the units it makes to sell each round. Below this it would rather hold."""
    cost, _, spare = _basket(v)
    return KEEP * cost / max(1, spare)


def asking_price(v: PublicView, good: str, stock: int = STOCK, markup: float = MARKUP) -> float:
    """The least the trader takes for one unit of `good`: the expected price
    (recent trades and the news), ASK over it with about a round of its own
    output to spare, up to SCARCE more again the less it has (a failed
    harvest, a sold-out stall), less by GLUT for every further round's worth
    it sits on; swayed by its purse (`purse`: a poor seller needs the sale);
    times its temperament's markup. Never below its floor (`keep_price`) while
    what it holds fits its pantry; stock beyond the pantry rots, so for that
    the floor gives way."""
    made = max(1, dict(v.produces).get(good, 0))
    need, held = v.need(good), v.holding(good)
    spare = max(0, held - need * stock)
    scarce = 1 + SCARCE * max(0.0, 1 - spare / made)
    glut = 1 + GLUT * max(0, spare - made) / made
    price = expected(v, good) * ASK * scarce / glut * purse(v) * markup
    return max(1.0, price, keep_price(v) * (ROT_KEEP if rots(v, good) else 1.0))


def offers(v: PublicView, good: str, side: str) -> list[OfferView] | tuple:
    """The view's standing offers of others for one good and side (grouped
    once per book: most traders of a round see the same one)."""
    return once_per(v.book, "by good and side", _by_good_and_side).get((good, side), ())


def _by_good_and_side(book: tuple[OfferView, ...]) -> dict[tuple[str, str], list[OfferView]]:
    by: dict[tuple[str, str], list[OfferView]] = {}
    for o in book:
        by.setdefault((o.good, o.side), []).append(o)
    return by


def trusted(v: PublicView, owner: str, good: str) -> bool:
    """Whether the trader deals with `owner` for `good`: not with one it
    distrusts, unless it cannot eat this round without it."""
    return v.feeling(owner) > DISTRUST or (desperate(v, good) and v.need(good) > 0)


def effective(v: PublicView, o: OfferView) -> float:
    """An offer's price as the trader weighs it: a warm owner's looks up to 25%
    better, a distrusted one's up to 25% worse."""
    lean = v.feeling(o.owner) / 400
    return o.price * (1 - lean) if o.side == "sell" else o.price * (1 + lean)


# --------------------------------------------------------------------------
# the moves
# --------------------------------------------------------------------------
def market_moves(v: PublicView, stock: int = STOCK, markup: float = MARKUP, pay: float = PAY) -> list[Move]:
    """Every sensible buy and sell for `v`'s trader, shortfalls first, in a
    fixed order (callers that draw at random stay reproducible). For each good
    it is short of (below `stock` rounds of need; it buys enough to fill its pantry) or
    has to spare: take the standing offer that suits it best within its
    reservation price (`take`, or `offer`: the same price crossing the book
    for the whole lot, the rest standing), else post its own offer between
    its reservation price and the expected price; and take a bargain (a
    needed good it is not short of, offered at BARGAIN of the expected price
    or less) to fill its pantry. Weights: a buy counts how
    short the trader is (double when it cannot eat this round; halved for a
    bid that would only wait on the book), a sale how much it sits on (more
    when its purse is thin, double when its stock rots beyond the pantry);
    taking counts triple."""
    mine = {(o.good, o.side) for o in v.my_offers}
    moves: list[Move] = []
    coins, pantry, stores, needed = v.coins, v.pantry, v.stores, v.needed
    book = once_per(v.book, "by good and side", _by_good_and_side)  # `offers`
    for g, short in shortfall(v, stock).items():
        need, held = needed.get(g, 0), stores.get(g, 0)
        wtp = willing_to_pay(v, g, stock, pay)
        weight = max(1, round(10 * short / (need * stock))) * (2 if held < need else 1)  # `desperate`
        q = max(short, pantry + need - held)  # fill the pantry: fewer, larger purchases
        asks = [o for o in book.get((g, "sell"), ()) if o.price <= wtp and coins >= o.price and trusted(v, o.owner, g)]
        if asks:
            ask = min(asks, key=lambda o: (effective(v, o), o.price, o.id)) if len(asks) > 1 else asks[0]
            q = min(q, coins // ask.price)
            moves.append(Move(3 * weight, _offer("buy", g, lot(q), ask.price), _accept(ask.id, lot(min(q, ask.qty))),
                              ask.owner))
        elif (g, "buy") not in mine and coins >= (price := tag((wtp + min(wtp, expected(v, g))) / 2)):
            moves.append(Move(max(1, weight // 2), _offer("buy", g, lot(min(q, coins // price)), price), None))
    for g, n in v.needs:  # a bargain: stock up on a needed good while it is cheap (a glut clears)
        held = stores.get(g, 0)
        if n * stock <= held < pantry + n and (asks := book.get((g, "sell"))) \
                and min(o.price for o in asks) <= (cheap := BARGAIN * expected(v, g)):
            cheap = min(cheap, BARGAIN * willing_to_pay(v, g, stock, pay))
            asks = [o for o in asks if o.price <= cheap and coins >= o.price and trusted(v, o.owner, g)]
            if asks:
                ask = min(asks, key=lambda o: (effective(v, o), o.price, o.id)) if len(asks) > 1 else asks[0]
                q = min(pantry + n - held, coins // ask.price)
                moves.append(Move(3 * BARGAIN_WEIGHT, _offer("buy", g, lot(q), ask.price),
                                  _accept(ask.id, lot(min(q, ask.qty))), ask.owner))
    made = dict(v.produces)
    for g, q in surplus(v, stock).items():
        ask = asking_price(v, g, stock, markup)
        weight = max(1, round(10 * min(1.0, q / (3 * max(1, made[g]))) * (2 - min(1.0, runway(v) / RUNWAY))))
        weight *= 2 if rots(v, g) else 1  # selling it comes first
        bids = [o for o in book.get((g, "buy"), ()) if o.price >= ask and trusted(v, o.owner, g)]
        if bids:
            bid = max(bids, key=lambda o: (effective(v, o), o.price, -o.id)) if len(bids) > 1 else bids[0]
            moves.append(Move(3 * weight, _offer("sell", g, lot(q), bid.price), _accept(bid.id, lot(min(q, bid.qty))),
                              bid.owner))
        elif (g, "sell") not in mine:
            price = tag((ask + max(ask, expected(v, g))) / 2)
            moves.append(Move(weight, _offer("sell", g, lot(q), price), None))
    return moves


_ACTIONS: dict[tuple, Action] = {}  # the moves' actions, one object per distinct move
_ACTION_JSON: dict[int, str] = {}   # id(action) -> its compact JSON, for the actions in _ACTIONS
ACTIONS_MAX = 50_000


def _kept(key: tuple, make) -> Action:
    a = _ACTIONS.get(key)
    if a is None:
        if len(_ACTIONS) > ACTIONS_MAX:
            _ACTIONS.clear()
            _ACTION_JSON.clear()
        a = _ACTIONS[key] = make()
        _ACTION_JSON[id(a)] = a.compact_json()
    return a


def action_json(a: Action) -> str:
    """`a.compact_json()`, kept for the moves' shared actions (a prompt shows two)."""
    text = _ACTION_JSON.get(id(a))
    return text if text is not None else a.compact_json()


def _offer(side: str, good: str, qty: int, price: int) -> Action:
    """`Action(action="offer", ...)`: made (and validated) once per distinct
    offer, since a round's traders suggest the same few. Actions are never
    changed once made (a changed one is a `model_copy`), so one may be shared."""
    return _kept((side, good, qty, price), lambda: Action(action="offer", side=side, good=good, qty=qty, price=price))


def _accept(id: int, qty: int) -> Action:
    """`Action(action="accept", id=id, qty=qty)`, once per distinct accept (as `_offer`)."""
    return _kept((id, qty), lambda: Action(action="accept", id=id, qty=qty))


def passed_over(v: PublicView, m: Move) -> bool:
    """Whether taking `m` skipped a better-priced standing offer (one from a
    creature the trader distrusts, or likes less): then only taking it by id
    trades with the chosen creature; crossing the book would hit the other."""
    if m.take is None:
        return False
    a = m.offer
    other = "sell" if a.side == "buy" else "buy"
    return any(o.good == a.good and o.side == other and o.owner != m.counterpart
               and (o.price < a.price if a.side == "buy" else o.price > a.price) for o in v.book)


def shortfall(v: PublicView, stock: int = STOCK) -> dict[str, int]:
    """Goods below `stock` rounds of need, and by how much."""
    held = v.stores
    return {g: short for g, n in v.needs if (short := n * stock - held.get(g, 0)) > 0}


def surplus(v: PublicView, stock: int = STOCK) -> dict[str, int]:
    """Goods the trader makes and holds beyond `stock` rounds of its own need, and by how much."""
    held, needed = v.stores, v.needed
    return {g: spare for g, _ in v.produces if (spare := held.get(g, 0) - needed.get(g, 0) * stock) > 0}


def best(v: PublicView, good: str, side: str) -> OfferView | None:
    """The best standing offer of others on one side of one good."""
    offers = [o for o in v.book if o.good == good and o.side == side]
    if not offers:
        return None
    return max(offers, key=lambda o: o.price) if side == "buy" else min(offers, key=lambda o: o.price)
