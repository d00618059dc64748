"""PublicView: everything one trader may know this round, and nothing else.

This is the firewall. Brains (scripted, model or human) receive only a
`PublicView`; prompts and the human's screen are built from it. Its types
have no field for a tip's truth, another trader's tips or another trader's
holdings, so those cannot leak by construction. Its size is bounded: a few
best offers per good, the top relationships, the last round's headlines,
never a list of every trader nor any history.
"""
from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field

from . import groves
from .memory import relation_line
from .state import State
from .world import World

BOOK_DEPTH = 2       # best offers per side per good shown to a trader
TOP_RELATIONS = 3
MAX_HEADLINES = 8
MAX_LOAN_OFFERS = 3
MAX_LOANS_SHOWN = 4
MAX_MY_OFFERS = 4    # my own standing offers shown (the newest); as many of my loan offers and pact proposals
MAX_RECORDS = 4      # credit records shown (worst first)
MAX_SHORTS_SHOWN = 3
MAX_PACT_OFFERS = 3  # pact proposals to this trader shown


@dataclass(frozen=True)
class QuoteView:
    good: str
    best_bid: int | None
    best_ask: int | None
    last: int | None
    volume: int
    ref_price: int  # recent trade prices (a moving average, rounded), or the base price before any trade
    base: int       # the wood's customary price for the good
    avg: float | None = None  # recent trade prices, unrounded (None before any trade)


@dataclass(frozen=True)
class OfferView:
    id: int
    owner: str
    side: str
    good: str
    qty: int
    price: int
    expires: int


@dataclass(frozen=True)
class LoanOfferView:
    id: int
    lender: str
    amount: int
    rate: int   # percent per round
    rounds: int
    for_me: bool = False  # offered to this trader alone (else open to anyone)


@dataclass(frozen=True)
class MyLoanOfferView:
    """A loan offer of my own, still standing: `to` is whom I offered it to
    (None: anyone), `expires` the last round it may be taken."""

    id: int
    amount: int
    rate: int   # percent per round
    rounds: int
    expires: int
    to: str | None = None


@dataclass(frozen=True)
class LoanView:
    id: int
    role: str  # "lender" | "borrower"
    other: str
    owed: int
    due: int  # the round it falls due (next): each round, once in default
    defaulted: bool = False  # not repaid in full when due: the rest is collected each round (a public default)


@dataclass(frozen=True)
class TipView:
    """A tip as its recipient sees it: the words and when it resolves. No truth."""

    id: int
    text: str
    good: str
    resolves: int


@dataclass(frozen=True)
class ShortView:
    """One of my open shorts: `owed` units of `good` go back to the store in round `due`."""

    id: int
    good: str
    owed: int
    price: int       # what each unit sold for (on average, rounded down)
    collateral: int  # coins held until it closes
    due: int


@dataclass(frozen=True)
class PactOfferView:
    """A pact proposed to me: accept it by id."""

    id: int
    proposer: str


@dataclass(frozen=True)
class MyPactOfferView:
    """A pact I proposed, standing until `expires` for `to` to accept."""

    id: int
    to: str
    expires: int


@dataclass(frozen=True)
class WhisperView:
    """A private line to me, sent last round. Words only: a tip passed on
    arrives without its truth (and without being a tip of mine)."""

    sender: str
    text: str


@dataclass(frozen=True)
class ShockView:
    """Weather the whole wood can see: production of `good` changes by `pct`% until round `until`."""

    good: str
    pct: int
    until: int


@dataclass(frozen=True)
class RecordView:
    """A creature's public credit record: loans it defaulted on (and shorts it
    could not cover), and what it still owes from them."""

    name: str
    defaults: int
    unpaid: int

    def line(self) -> str:
        times = "once" if self.defaults == 1 else f"{self.defaults} times"
        return f"{self.name} defaulted {times}" + (f", still owes {self.unpaid}" if self.unpaid else ", since repaid")


_ONCE_PER: dict[tuple[int, object], tuple[object, object]] = {}  # (id(part), key) -> (part, value)
ONCE_PER_MAX = 512


def once_per(part, key, make):
    """`make(part)`, worked out once for this very object: for what every view
    of a round shares (its book, quotes and record are the same tuple object
    in every trader's view) and for the world and roster. The entry keeps
    `part` alive, so its id cannot be reused while the entry stands; the
    cache is emptied when it grows past ONCE_PER_MAX entries."""
    hit = _ONCE_PER.get((id(part), key))
    if hit is None or hit[0] is not part:
        if len(_ONCE_PER) > ONCE_PER_MAX:
            _ONCE_PER.clear()
        hit = _ONCE_PER[(id(part), key)] = (part, make(part))
    return hit[1]


class _once:
    """`functools.cached_property` without its lock (Python 3.11 takes one on
    every first access, and a model round makes thousands of views): the value
    is worked out on first use and kept in the instance's own dict, which
    shadows this descriptor from then on (a frozen dataclass's __setattr__
    is not involved)."""

    def __init__(self, fn) -> None:
        self.fn, self.name = fn, fn.__name__
        self.__doc__ = fn.__doc__

    def __get__(self, obj, cls=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


@dataclass(frozen=True)
class PublicView:
    round: int
    season: str
    name: str
    species: str
    temperament: str
    coins: int
    goods: tuple[tuple[str, int], ...]
    needs: tuple[tuple[str, int], ...]  # this round's basket
    produces: tuple[tuple[str, int], ...]
    mood: int
    quotes: tuple[QuoteView, ...]
    book: tuple[OfferView, ...]         # best offers of others, per good and side
    my_offers: tuple[OfferView, ...]
    loan_offers: tuple[LoanOfferView, ...]  # open to me
    loans: tuple[LoanView, ...]
    tips: tuple[TipView, ...]
    relations: tuple[str, ...]          # bucketed one-liners
    headlines: tuple[str, ...]          # last round's public record
    # how I feel about the creatures in this view (offer owners, lenders, my
    # debtors and creditors), -100..100; absent means neutral (0)
    feelings: tuple[tuple[str, int], ...] = ()
    records: tuple[RecordView, ...] = ()  # credit records of those of them that ever defaulted (mine first, always)
    shocks: tuple[ShockView, ...] = ()    # weather under way (public: its headline went out)
    pantry: int = 6                       # units of a good kept without spoilage (the wood's rule)
    shorts: tuple[ShortView, ...] = ()    # my open shorts
    allies: tuple[str, ...] = ()          # my pacts (public)
    pact_offers: tuple[PactOfferView, ...] = ()  # pacts proposed to me
    whispers: tuple[WhisperView, ...] = ()       # sent to me last round (the latest few)
    short_room: int = 0   # shorts I may still open (the wood's cap less my open ones; none while I owe on a default)
    end: int = 0          # the game's last round (0: no fixed end); nothing may fall due after it
    ally_room: int = 0    # pacts I may still make
    pacts_full: tuple[str, ...] = ()  # creatures that hold all the pacts they may (public): none can be proposed to
    my_loan_offers: tuple[MyLoanOfferView, ...] = ()  # my own loan offers still standing (the newest few)
    my_pact_offers: tuple[MyPactOfferView, ...] = ()  # pacts I proposed, still standing (the newest few)

    # lookups, built once per view (a brain asks them many times a turn)
    @_once
    def stores(self) -> dict[str, int]:
        """Goods held, by good (`holding` without a call per good)."""
        return dict(self.goods)

    @_once
    def needed(self) -> dict[str, int]:
        """This round's needs, by good (`need` without a call per good)."""
        return dict(self.needs)

    @_once
    def _quotes(self) -> dict[str, QuoteView]:
        return {q.good: q for q in self.quotes}

    @_once
    def _feelings(self) -> dict[str, int]:
        return dict(self.feelings)

    @_once
    def memo(self) -> dict:
        """Scratch for figures a brain derives from this view more than once a
        turn (not a field: never compared, never serialised, never in a prompt)."""
        return {}

    def holding(self, good: str) -> int:
        return self.stores.get(good, 0)

    def need(self, good: str) -> int:
        return self.needed.get(good, 0)

    def quote(self, good: str) -> QuoteView:
        return self._quotes[good]

    def feeling(self, other: str) -> int:
        return self._feelings.get(other, 0)

    def rounds_left(self) -> int | None:
        """Rounds after this one before the game ends (None: no fixed end):
        the longest term a loan or a short may have."""
        return self.end - self.round if self.end else None

    def record(self, other: str) -> RecordView | None:
        return next((r for r in self.records if r.name == other), None)

    def to_dict(self) -> dict:
        return asdict(self)


def _view(**values) -> PublicView:
    """`PublicView(**values)` with every field given, without the frozen
    dataclass's `__init__` (an `object.__setattr__` per field, thirty of them,
    for each of a thousand views a round): the same object, its fields in its
    instance dict (tests/test_properties.py holds it to `PublicView(**values)`)."""
    view = object.__new__(PublicView)
    view.__dict__.update(values)
    return view


@dataclass(frozen=True)
class MarketIndex:
    """Per-round precomputation shared by every trader's view (O(book) once)."""

    best: dict[tuple[str, str], list[OfferView]]  # (good, side) -> best few offers
    by_owner: dict[str, list[OfferView]]
    loans_by: dict[str, list[LoanView]]
    open_loan_offers: list[LoanOfferView]         # open to anyone, cheapest first
    directed_loan_offers: dict[str, list[LoanOfferView]]
    tips_by: dict[str, list[TipView]]
    records: dict[str, RecordView]                # creatures that ever defaulted
    shorts_by: dict[str, list[ShortView]]
    allies_by: dict[str, list[str]]
    pact_offers_to: dict[str, list[PactOfferView]]
    loan_offers_by: dict[str, list[MyLoanOfferView]]  # each lender's own standing loan offers, by id
    pact_offers_by: dict[str, list[MyPactOfferView]]  # each proposer's own standing pact proposals, by id
    whispers_to: dict[str, list[WhisperView]]
    # what every trader's view shares this round (quotes, the book, baskets), made by the first
    # `public_view` from this index: `_Shared`
    shared: dict = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class _Shared:
    """The parts of this round's views that are the same for every trader (or
    every trader of a species): built once per index, not once per view.
    `book` is every view's book but those of the traders in `book_owners`
    (whose own offers are among the ones shown, and must be skipped)."""

    world: World
    quotes: tuple[QuoteView, ...]
    book: tuple[OfferView, ...]
    book_owners: frozenset[str]
    season: str
    needs: dict[str, tuple[tuple[str, int], ...]]     # species -> this round's basket
    produces: dict[str, tuple[tuple[str, int], ...]]  # creature -> what its grove makes this term
    headlines: tuple[str, ...]
    shocks: tuple[ShockView, ...]
    pantry: int
    whispers_shown: int
    max_shorts: int
    max_allies: int
    pacts_full: tuple[str, ...]  # creatures that hold all the pacts they may


def _strength(kv: tuple[str, int]) -> tuple[int, str]:
    return abs(kv[1]), kv[0]


def _shared(state: State, world: World, idx: MarketIndex) -> _Shared:
    hit = idx.shared.get("views")
    if hit is not None and hit.world is world:
        return hit
    quotes, book = [], []
    for g in world.goods:
        all_bids, all_asks = idx.best.get((g, "buy"), []), idx.best.get((g, "sell"), [])
        q = state.quotes[g]
        avg = q.avg100 / 100 if q.avg100 is not None else None
        quotes.append(QuoteView(g, all_bids[0].price if all_bids else None, all_asks[0].price if all_asks else None,
                                q.last, q.volume, max(1, round(avg)) if avg is not None else world.goods[g].base_price,
                                world.goods[g].base_price, avg))
        book.extend(all_bids[:BOOK_DEPTH] + all_asks[:BOOK_DEPTH])
    owners = frozenset(o.owner for o in book)
    hit = idx.shared["views"] = _Shared(
        world, tuple(quotes), tuple(book), owners, world.season(state.round),
        {sp: world.basket(sp, state.round) for sp in world.species},
        groves.yields(state, world),
        tuple(state.headlines[:MAX_HEADLINES]), tuple(ShockView(x.good, x.pct, x.until) for x in state.shocks),
        int(world.economy["pantry"]), int(world.economy["whispers_shown"]), int(world.economy["max_shorts"]),
        int(world.economy["max_allies"]),
        tuple(sorted(n for n, a in idx.allies_by.items() if len(a) >= int(world.economy["max_allies"]))))
    return hit


def _ov(o) -> OfferView:
    return OfferView(o.id, o.owner, o.side, o.good, o.qty, o.price, o.expires)


def market_index(state: State) -> MarketIndex:
    best: dict[tuple[str, str], list] = {}
    by_owner: dict[str, list[OfferView]] = {}
    for o in state.offers.values():
        best.setdefault((o.good, o.side), []).append(o)
        by_owner.setdefault(o.owner, []).append(_ov(o))
    # keep BOOK_DEPTH + a margin so each trader can still see others' offers after skipping its own
    keep = BOOK_DEPTH + 3
    top = {}
    for (good, side), offers in best.items():
        key = (lambda o: (-o.price, o.id)) if side == "buy" else (lambda o: (o.price, o.id))
        top[(good, side)] = [_ov(o) for o in heapq.nsmallest(keep, offers, key=key)]
    loans_by: dict[str, list[LoanView]] = {}
    for ln in state.loans.values():
        loans_by.setdefault(ln.lender, []).append(LoanView(ln.id, "lender", ln.borrower, ln.owed, ln.due, ln.defaulted))
        loans_by.setdefault(ln.borrower, []).append(LoanView(ln.id, "borrower", ln.lender, ln.owed, ln.due, ln.defaulted))
    open_offers, directed = [], {}
    loan_offers_by: dict[str, list[MyLoanOfferView]] = {}
    for lo in sorted(state.loan_offers.values(), key=lambda lo: lo.id):
        loan_offers_by.setdefault(lo.lender, []).append(
            MyLoanOfferView(lo.id, lo.amount, lo.rate, lo.rounds, lo.expires, lo.to))
        if lo.to is None:
            open_offers.append(LoanOfferView(lo.id, lo.lender, lo.amount, lo.rate, lo.rounds))
        else:
            directed.setdefault(lo.to, []).append(LoanOfferView(lo.id, lo.lender, lo.amount, lo.rate, lo.rounds, True))
    open_offers = heapq.nsmallest(MAX_LOAN_OFFERS + 3, open_offers, key=lambda v: (v.rate, v.id))
    tips_by: dict[str, list[TipView]] = {}
    for t in state.tips.values():
        if t.resolved:
            continue
        for r in t.recipients:
            tips_by.setdefault(r, []).append(TipView(t.id, t.text, t.good, t.resolves))
    unpaid: dict[str, int] = {}
    for ln in state.loans.values():
        if ln.defaulted:
            unpaid[ln.borrower] = unpaid.get(ln.borrower, 0) + ln.owed
    for n, owed in state.wood_debts.items():  # a short it could not cover: owed to the wood
        unpaid[n] = unpaid.get(n, 0) + owed
    records = {n: RecordView(n, k, unpaid.get(n, 0)) for n, k in state.defaults.items() if k}
    shorts_by: dict[str, list[ShortView]] = {}
    for x in sorted(state.shorts.values(), key=lambda x: (x.due, x.id)):
        shorts_by.setdefault(x.owner, []).append(ShortView(x.id, x.good, x.owed, x.proceeds // x.qty, x.collateral,
                                                           x.due))
    allies_by: dict[str, list[str]] = {}
    for a, b, _ in state.pacts:
        allies_by.setdefault(a, []).append(b)
        allies_by.setdefault(b, []).append(a)
    pact_offers_to: dict[str, list[PactOfferView]] = {}
    pact_offers_by: dict[str, list[MyPactOfferView]] = {}
    for po in sorted(state.pact_offers.values(), key=lambda po: po.id):
        pact_offers_to.setdefault(po.to, []).append(PactOfferView(po.id, po.proposer))
        pact_offers_by.setdefault(po.proposer, []).append(MyPactOfferView(po.id, po.to, po.expires))
    whispers_to: dict[str, list[WhisperView]] = {}
    for w in state.whispers:
        whispers_to.setdefault(w.to, []).append(WhisperView(w.sender, w.text))
    return MarketIndex(top, by_owner, loans_by, open_offers, directed, tips_by, records,
                       shorts_by, allies_by, pact_offers_to, loan_offers_by, pact_offers_by, whispers_to)


def public_view(state: State, world: World, name: str, index: MarketIndex | None = None) -> PublicView:
    """What `name` may know this round. Pass a shared `index` when building many views."""
    idx = index or market_index(state)
    c = state.creatures[name]
    sh = _shared(state, world, idx)
    if name in sh.book_owners:  # its own offers are among the best: the others' best in their place
        book = []
        for g in world.goods:
            for side in ("buy", "sell"):
                book.extend([o for o in idx.best.get((g, side), []) if o.owner != name][:BOOK_DEPTH])
        book = tuple(book)
        owners = {o.owner for o in book}
    else:
        book, owners = sh.book, sh.book_owners
    directed = idx.directed_loan_offers.get(name)
    if directed:
        loan_offers = [v for v in directed + idx.open_loan_offers if v.lender != name]
        loan_offers.sort(key=lambda v: (v.rate, v.id))
    else:  # the open offers alone: already cheapest first
        loan_offers = [v for v in idx.open_loan_offers if v.lender != name]
    loans = idx.loans_by.get(name)
    loans = sorted(loans, key=lambda v: (v.due, v.id))[:MAX_LOANS_SHOWN] if loans else []
    row = state.relations.get(name)
    top = sorted(row.items(), key=_strength, reverse=True)[:TOP_RELATIONS] if row else []  # heapq.nlargest's order
    allies = idx.allies_by.get(name, ())
    seen = sorted(owners.union({v.lender for v in loan_offers[:MAX_LOAN_OFFERS]}, {v.other for v in loans}, allies,
                               {v.proposer for v in idx.pact_offers_to.get(name, ())[:MAX_PACT_OFFERS]}, (name,)))
    # the trader's own record first (whether it may borrow must never be cut off), then the worst others
    records = sorted((idx.records[n] for n in seen if n in idx.records),
                     key=lambda r: (r.name != name, -r.unpaid, -r.defaults, r.name)) if idx.records else []
    mine = idx.by_owner.get(name)
    shorts = idx.shorts_by.get(name, ())
    return _view(
        round=state.round, season=sh.season, name=name, species=c.species,
        temperament=c.temperament, coins=c.coins,
        goods=tuple((g, c.goods.get(g, 0)) for g in world.goods),
        needs=sh.needs[c.species], produces=sh.produces[name],
        mood=c.mood, quotes=sh.quotes, book=book,
        my_offers=tuple(sorted(mine, key=lambda o: o.id)[-MAX_MY_OFFERS:]) if mine else (),
        loan_offers=tuple(loan_offers[:MAX_LOAN_OFFERS]), loans=tuple(loans),
        tips=tuple(sorted(idx.tips_by.get(name, []), key=lambda t: t.id)),
        relations=tuple(relation_line(other, v) for other, v in top),
        headlines=sh.headlines,
        feelings=tuple((n, row[n]) for n in seen if row.get(n)) if row else (),
        records=tuple(records[:MAX_RECORDS]),
        shocks=sh.shocks,
        pantry=sh.pantry,
        shorts=tuple(shorts[:MAX_SHORTS_SHOWN]),
        allies=tuple(allies),
        pact_offers=tuple(idx.pact_offers_to.get(name, [])[:MAX_PACT_OFFERS]),
        whispers=tuple(idx.whispers_to.get(name, [])[-sh.whispers_shown:]),
        short_room=0 if (rec := idx.records.get(name)) is not None and rec.unpaid else max(0, sh.max_shorts - len(shorts)),
        ally_room=max(0, sh.max_allies - len(allies)),
        pacts_full=sh.pacts_full,
        # its own loan offers and pact proposals: its own doing, known to it (the others' are in loan_offers,
        # pact_offers only where it may take them)
        my_loan_offers=tuple(idx.loan_offers_by.get(name, ())[-MAX_MY_OFFERS:]),
        my_pact_offers=tuple(idx.pact_offers_by.get(name, ())[-MAX_MY_OFFERS:]),
        end=state.end,
    )
