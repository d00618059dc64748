"""Legal moves by construction: the JSON schema for ONE creature's turn.

`legal_schema(view, goods, names)` is built from the creature's `PublicView`
each round, so that whatever a grammar-constrained model writes is a move
the engine accepts (barring races with others' actions this round, and an
offer whose owner can no longer honour it: `offer_unfunded`, which the view
cannot know). Every number is an `enum` of a few whole values, because
llama-cpp-python's grammar ignores integer `minimum`/`maximum` but honours
`enum`; every branch of `anyOf` is one action kind with its fields required:

- offer sell: one branch per good held, `qty` a few quantities it holds,
  `price` a few prices around the good's recent price;
- offer buy: one branch per good it holds less than its pantry plus this
  round's need of (more would rot), prices it can pay, quantities such that
  qty * price stays within its coins at the dearest of them;
- accept: the ids of the standing offers it can take among those its prompt
  shows (the best per good and side) or its suggested moves take, grouped by
  the `qty` values it can afford or deliver for them; and of the loan offers
  open to it, unless it may be in default;
- lend: amounts within its coins; gift: goods it holds / coins within its
  coins, `to` the others (all of them when few, else those in its view);
- short: goods others bid for in its view, at or a little under the best
  bid, in quantities whose collateral it can post, while it has room;
- ally: the others it is not allied with that have room for a pact (and
  the pacts offered to it, by id), while it has room; break: its allies; whisper: a line of text or one
  of its live tips (by id) to the others;
- pass: always.

Coins and goods are counted net of what the trader's own standing offers may
take: a standing bid or ask can fill earlier in the round than its owner's
turn (the engine holds nothing in escrow), and what it took is then gone.

The market moves the prompt suggests (`moves.market_moves`) are always admitted.
The schema stays small whatever the roster: a few KB.
"""
from __future__ import annotations

import json
from bisect import bisect_right
from functools import lru_cache

from .actions import PRICE_MAX, QTY_MAX, RATE_MAX, SAY_MAX, WHISPER_MAX, Action
from .moves import market_moves
from .views import PublicView, once_per
from .world import COINS

LADDER = (1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
MAX_VALUES = 6               # values in one numeric enum (before the suggested moves' own)
PRICE_FACTORS = (0.8, 0.9, 1.0, 1.1, 1.25, 1.5)
GIFT_QTYS = (1, 2, 3)
TAKE_QTYS = (1, 2, 3, 5, 10, 20)
GIFT_COINS = (1, 2, 5, 10, 20)  # GIFT_COINS, LEND_AMOUNTS, LEND_ROUNDS ascending: what one can afford is a prefix
LEND_AMOUNTS = (5, 10, 20, 50, 100)
LEND_RATES = (0, 2, 5, 10)
LEND_ROUNDS = (1, 2, 3, 5)
SHORT_ROUNDS = (2, 3, 4, 6)
NAMES_LISTED = 64            # a roster up to this size is listed whole in `to`; a larger one by the names in view
NAMES_IN_VIEW = 12           # ... at most this many of them
BOOKS_KEPT = 1024            # (book, lenders) pairs whose `to` is kept per roster


@lru_cache(maxsize=4096)
def _quantities(limit: int) -> tuple[int, ...]:
    limit = min(limit, QTY_MAX)
    if limit < 1:
        return ()
    qs = sorted({q for q in LADDER if q <= limit} | {limit})
    return tuple(qs if len(qs) <= MAX_VALUES else qs[:3] + qs[-(MAX_VALUES - 3):])


@lru_cache(maxsize=64)
def _take_qtys(cap: int) -> tuple[int, ...]:
    """The quantities an accept may ask for, up to `cap`."""
    return tuple(q for q in TAKE_QTYS if q <= cap)


def _prices(ref: int, cap: int) -> tuple[int, ...]:
    """The price ladder around `ref` up to `cap` (`prices`). No rung is over
    twice `ref`, so every larger cap is that one: a trader's coins do not
    each make a cache entry of their own."""
    return _price_ladder(ref, cap if cap <= 2 * ref else 2 * ref)


@lru_cache(maxsize=4096)
def _price_ladder(ref: int, cap: int) -> tuple[int, ...]:
    return tuple(sorted({p for f in PRICE_FACTORS if 1 <= (p := max(1, round(ref * f))) <= min(cap, PRICE_MAX)}))


def quantities(limit: int) -> list[int]:
    """A few quantities from 1 to `limit` (capped at QTY_MAX), `limit` itself among them."""
    return list(_quantities(max(0, min(limit, QTY_MAX))))


def prices(ref: int, cap: int = PRICE_MAX) -> list[int]:
    """A few whole prices around `ref` (0.8x..1.5x), each >= 1 and <= cap."""
    return list(_prices(ref, min(cap, PRICE_MAX + 1)))


def moves_of(view: PublicView) -> list:
    """`market_moves(view)`, worked out once per view: the prompt's suggested
    moves and this schema both read it."""
    memo = view.memo
    if "market_moves" not in memo:
        memo["market_moves"] = market_moves(view)
    return memo["market_moves"]


# Schemas repeat: most branches of most turns are the same few enums. The
# pieces are made once and shared (never mutate a schema this module returns),
# and each branch's JSON text is kept beside it, so `schema_json` joins text
# instead of encoding thousands of small dicts a round. Bounded: both caches
# are emptied together when they grow past CACHE_MAX.
CACHE_MAX = 50_000
SAY = {"type": "string", "maxLength": SAY_MAX}
WHISPER_TEXT = {"type": "string", "minLength": 1, "maxLength": WHISPER_MAX}  # an empty whisper is refused
FREE_NAME = {"type": "string", "maxLength": 40}
_SPECS: dict[tuple, dict] = {}                   # enum values -> the one dict for them
_KINDS: dict[tuple, tuple[dict, str]] = {}       # (action, ids of its field specs) -> (branch, its JSON)
_BRANCH_JSON: dict[int, str] = {}                # id(branch) -> its JSON, for the branches in _KINDS
_NO_SAY: dict[int, tuple[dict, dict]] = {}        # id(branch) -> (branch, its twin without `say`)
_SPEC_JSON: dict[int, str] = {}                  # id(spec) -> its JSON, for the specs in _SPECS
# json.dumps(obj, ensure_ascii=False, separators=(",", ":")), with the encoder made once
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_FIXED_JSON = {id(d): _dumps(d) for d in (SAY, WHISPER_TEXT, FREE_NAME)}


def _spec(key: tuple, values: list) -> dict:
    d = _SPECS.get(key)
    if d is None:
        if len(_SPECS) > CACHE_MAX or len(_KINDS) > CACHE_MAX:
            _SPECS.clear()
            _KINDS.clear()
            _BRANCH_JSON.clear()
            _NO_SAY.clear()
            _SPEC_JSON.clear()
        d = _SPECS[key] = {"enum": values}
        _SPEC_JSON[id(d)] = '{"enum":' + _list_json(values) + "}"
    return d


def _list_json(values: list) -> str:
    """`_dumps(values)`: a list of ints or of strs written directly."""
    if all(type(x) is int for x in values):  # not bool: json writes true, str() True
        return "[" + ",".join(map(str, values)) + "]"
    if all(type(x) is str for x in values):
        return "[" + ",".join(map(_dumps, values)) + "]"
    return _dumps(values)


def _enum(values) -> dict:
    vals = sorted(set(values))  # no "type": the enum says it all, in fewer bytes
    return _spec((0, *vals), vals)


def _str(values) -> dict:
    vals = list(dict.fromkeys(values))
    return _spec((1, *vals), vals)


def _kind(name: str, fields: dict, optional: dict | None = None) -> dict:
    key = (name, *((k, id(v)) for k, v in fields.items()), None, *((k, id(v)) for k, v in (optional or {}).items()))
    hit = _KINDS.get(key)
    if hit is None:
        props = {"action": _str([name]), **fields, **(optional or {}), "say": SAY}
        branch = {"type": "object", "properties": props, "required": ["action", *fields], "additionalProperties": False}
        hit = _KINDS[key] = (branch, _branch_json(props, branch["required"]))
        _BRANCH_JSON[id(branch)] = hit[1]
    return hit[0]


def _branch_json(props: dict, required: list) -> str:
    """`_dumps` of the branch `_kind` makes, joined from its specs' kept JSON
    (a round makes hundreds of new branches from specs it has seen)."""
    spec, fixed = _SPEC_JSON.get, _FIXED_JSON.get
    return ('{"type":"object","properties":{'
            + ",".join([f"{_dumps(k)}:{spec(id(v)) or fixed(id(v)) or _dumps(v)}" for k, v in props.items()])
            + '},"required":' + _list_json(required) + ',"additionalProperties":false}')


def _keyed(key: tuple) -> dict | None:
    """A branch made before from the same plain values (`key`), if any: most
    turns' branches repeat, and this skips building their enums at all."""
    hit = _KINDS.get(key)
    return hit[0] if hit is not None else None


def _remember(key: tuple, branch: dict) -> dict:
    """`branch` (from `_kind`) kept under `key` too, for `_keyed`."""
    _KINDS[key] = (branch, _BRANCH_JSON[id(branch)])
    return branch


def _offer(side: str, good: str, qs: tuple[int, ...], ps: tuple[int, ...]) -> dict:
    """An offer branch for one side and good, `qs` and `ps` sorted and distinct."""
    key = ("offer", side, good, qs, ps)
    return _keyed(key) or _remember(key, _kind("offer", {"side": _str([side]), "good": _str([good]),
                                                          "qty": _enum(qs), "price": _enum(ps)}))


def without_say(schema: dict) -> dict:
    """`schema` for a model that writes no say line: every branch without the
    `say` field (a shared branch's twin is made once and shared too)."""
    out = []
    for b in schema["anyOf"]:
        hit = _NO_SAY.get(id(b))
        if hit is None or hit[0] is not b:
            nb = {**b, "properties": {k: v for k, v in b["properties"].items() if k != "say"}}
            hit = (b, nb)
            if id(b) in _BRANCH_JSON:  # a shared branch (kept alive by the entry, so its id stays its own)
                _NO_SAY[id(b)] = hit
                _BRANCH_JSON[id(nb)] = _branch_json(nb["properties"], nb["required"])
        out.append(hit[1])
    return {"anyOf": out}


def schema_json(schema: dict) -> str:
    """`schema` as compact JSON (what `json.dumps(schema, ensure_ascii=False,
    separators=(",", ":"))` gives), from the branches' kept text where it can."""
    branches = schema.get("anyOf") if len(schema) == 1 else None
    if not isinstance(branches, list):
        return _dumps(schema)
    get = _BRANCH_JSON.get
    return '{"anyOf":[' + ",".join([get(id(b)) or _dumps(b) for b in branches]) + "]}"


def _group(pairs: list[tuple[object, tuple[int, ...]]]) -> dict[tuple[int, ...], list]:
    """Keys sharing the same value list, so they share one branch."""
    out: dict[tuple[int, ...], list] = {}
    for key, vals in pairs:
        if vals:
            out.setdefault(vals, []).append(key)
    return out


def _in_default(view: PublicView) -> bool:
    """Whether the trader still owes on a default (then it cannot borrow): its
    own record, which a view always carries when there is one."""
    mine = view.record(view.name)
    return mine is not None and mine.unpaid > 0


def legal_schema(view: PublicView, goods: tuple[str, ...], names: tuple[str, ...] = ()) -> dict:
    """The schema for `view`'s trader this round: only moves the engine accepts."""
    me, coins = view.name, view.coins
    asked: dict[str, int] = {}
    for o in view.my_offers:  # its standing offers may fill before its turn: what they may take is not spent twice
        if o.side == "buy":
            coins -= o.qty * o.price
        else:
            asked[o.good] = asked.get(o.good, 0) + o.qty
    coins = max(0, coins)
    stores = view.stores
    held = {g: h for g in goods if (h := stores.get(g, 0) - asked.get(g, 0)) > 0}
    moves = moves_of(view)
    refs = once_per(view.quotes, "reference prices", _refs)
    branches: list[dict] = []

    # offers: the suggested ones' quantities and prices join their good's enums where that stays legal
    extra_sell: dict[str, tuple[set, set]] = {}
    extra_buy: dict[str, list[Action]] = {}
    for m in moves:
        a = m.offer
        if a.side == "sell":
            qs, ps = extra_sell.setdefault(a.good, (set(), set()))
            qs.add(a.qty)
            ps.add(a.price)
        else:
            extra_buy.setdefault(a.good, []).append(a)
    for g in [*held, *(g for g in extra_sell if g not in held)]:
        ref, h, real = refs[g], held.get(g, 0), stores.get(g, 0)
        qs, ps = extra_sell.get(g, ((), ()))
        qs = sorted([q for q in qs if q <= real]) if qs else ()  # a suggested sale: up to all it holds
        if not h and not qs:
            continue
        key = ("sell", g, min(h, QTY_MAX), ref, *qs, None, *sorted(ps)) if qs else ("sell", g, min(h, QTY_MAX), ref, None)
        branches.append(_keyed(key) or _remember(key, _kind("offer", {
            "side": _str(["sell"]), "good": _str([g]),
            "qty": _enum({*quantities(h), *qs}),
            "price": _enum({*prices(ref), *ps} if h else ps)})))
    cap = min(coins, PRICE_MAX + 1)
    pantry, needs = view.pantry, view.needed
    for g in goods:
        ref = refs[g]
        mine = extra_buy.get(g)
        if not mine and stores.get(g, 0) >= pantry + needs.get(g, 0):
            continue  # it holds all it can keep: more would only rot
        if not mine:  # the usual case: the branch is fixed by how many of the prices it can pay, and for how many
            ps = _prices(ref, cap)  # `prices(ref, coins)`
            if ps:
                key = ("buy", g, ref, len(ps), min(coins // ps[-1], QTY_MAX))
                branches.append(_keyed(key) or _remember(key, _kind("offer", {
                    "side": _str(["buy"]), "good": _str([g]), "qty": _enum(quantities(coins // ps[-1])),
                    "price": _enum(ps)})))
            continue
        ps = sorted({*_prices(ref, cap), *(a.price for a in mine if a.price <= coins)})  # each buys one at least
        if ps:
            qs = {*_quantities(min(coins // ps[-1], QTY_MAX)), *(a.qty for a in mine if a.qty * ps[-1] <= coins)}
            branches.append(_offer("buy", g, tuple(sorted(qs)), tuple(ps)))
        for a in mine:  # a suggested bid too big for the branch's dearest price: its own branch
            if (not ps or a.qty * ps[-1] > coins) and a.qty * a.price <= view.coins:
                branches.append(_offer("buy", g, (a.qty,), (a.price,)))

    # accept: standing offers it can take, grouped by the quantities it can take them in
    # (those the prompt shows, the best per good and side, and those the suggested moves take)
    suggested = {m.take.id: m.take.qty for m in moves if m.take is not None}
    takes: dict[int, tuple[int, ...]] = {}
    firsts, first_ids = once_per(view.book, "firsts", _firsts)
    if me in once_per(view.book, "owners", _owners) or not first_ids.issuperset(suggested):
        shown: set[tuple[str, str]] = set()
        firsts = []
        for o in view.book:
            if o.owner == me or ((o.good, o.side) in shown and o.id not in suggested):
                continue
            shown.add((o.good, o.side))
            firsts.append(o)
    for o in firsts:  # in the usual case, the first offer per good and side (all the suggested ones among them)
        cap = min(o.qty, coins // o.price) if o.side == "sell" else min(o.qty, held.get(o.good, 0))
        qs = _take_qtys(cap) if cap >= 1 else ()
        if (q := suggested.get(o.id)) and q not in qs:  # a suggested take: within all it holds (the move checked)
            qs = tuple(sorted((*qs, q)))
        if qs:
            takes[o.id] = qs
    for qs, ids in _group(list(takes.items())).items():
        key = ("accept", *qs, None, *ids)
        branches.append(_keyed(key) or _remember(key, _kind("accept", {"id": _enum(ids), "qty": _enum(qs)})))
    left = view.rounds_left()
    loans = [lo.id for lo in view.loan_offers if lo.lender != me and (left is None or lo.rounds <= left)]
    if loans and not _in_default(view):
        key = ("accept loan", *loans)
        branches.append(_keyed(key) or _remember(key, _kind("accept", {"id": _enum(loans)})))

    # lend
    amounts = bisect_right(LEND_AMOUNTS, min(coins, PRICE_MAX))  # how many of them: the smallest first
    terms = len(LEND_ROUNDS) if left is None else bisect_right(LEND_ROUNDS, left)
    if amounts and terms:
        key = ("lend", amounts, terms)
        branches.append(_keyed(key) or _remember(key, _kind("lend", {
            "amount": _enum(LEND_AMOUNTS[:amounts]), "rate": _enum(r for r in LEND_RATES if r <= RATE_MAX),
            "rounds": _enum(LEND_ROUNDS[:terms])})))

    # gift
    to = _recipients(view, names)
    if to:
        if held:  # a token of any good it holds: as many as it holds of the one it holds least of, up to 3
            least = min(min(held.values()), GIFT_QTYS[-1])
            key = ("gift", id(to), least, *held)  # `to` stays alive in the branch kept under this key
            branches.append(_keyed(key) or _remember(key, _kind("gift", {
                "to": to, "good": _str(held), "qty": _enum(q for q in GIFT_QTYS if q <= least)})))
        if (cs := bisect_right(GIFT_COINS, min(coins, QTY_MAX))):
            key = ("gift coins", id(to), cs)
            branches.append(_keyed(key) or _remember(key, _kind("gift", {
                "to": to, "good": _str([COINS]), "qty": _enum(GIFT_COINS[:cs])})))

    # short: goods others bid for, at the best bid or a little under, in quantities
    # whose collateral it can post (half the proceeds from its own coins)
    if view.short_room > 0 and left != 0:
        for g, bid, depth in _best_bids(view.book):
            most = min(2 * coins // bid, depth, QTY_MAX)
            if most >= 1:
                key = ("short", g, bid, most)
                branches.append(_keyed(key) or _remember(key, _kind("short", {
                    "good": _str([g]), "qty": _enum(quantities(most)),
                    "price": _enum(p for p in (bid, round(bid * 0.9), round(bid * 0.8)) if p >= 1)},
                    {"rounds": _enum(SHORT_ROUNDS)})))

    # ally: propose to others not yet allied, or accept a pact offered; break: an ally
    if to and view.ally_room > 0:
        if not view.allies and not view.pacts_full:  # the usual case: all of them
            if "enum" in to:
                key = ("ally", id(to))
                branches.append(_keyed(key) or _remember(key, _kind("ally", {"to": to})))
        elif (free := [n for n in to.get("enum", []) if n not in view.allies and n not in view.pacts_full]):
            branches.append(_kind("ally", {"to": _str(free)}))  # not to a creature with no room for a pact
        if view.pact_offers:
            branches.append(_kind("accept", {"id": _enum(p.id for p in view.pact_offers)}))
    if view.allies:
        branches.append(_kind("break", {"to": _str(view.allies)}))

    # whisper: a line to one of the others, or one of its live tips passed on
    if to:
        key = ("whisper", id(to))
        branches.append(_keyed(key) or _remember(key, _kind("whisper", {"to": to, "text": WHISPER_TEXT})))
        if view.tips:
            branches.append(_kind("whisper", {"to": to, "tip": _enum(t.id for t in view.tips)}))

    branches.append(_keyed(("pass",)) or _remember(("pass",), _kind("pass", {})))
    return {"anyOf": branches}


def _firsts(book: tuple) -> tuple[list, frozenset]:
    """The first (best) offer per good and side in `book`, in book order, and
    their ids: the offers a trader may take when none of them is its own and
    its suggested moves take no other; once per book."""
    shown: set[tuple[str, str]] = set()
    firsts = []
    for o in book:
        if (o.good, o.side) not in shown:
            shown.add((o.good, o.side))
            firsts.append(o)
    return firsts, frozenset(o.id for o in firsts)


def _owners(book: tuple) -> set[str]:
    return {o.owner for o in book}


def _refs(quotes: tuple) -> dict[str, int]:
    """Each good's reference price (`QuoteView.ref_price`); once per round's quotes."""
    return {q.good: q.ref_price for q in quotes}


def _best_bids(book: tuple) -> tuple[tuple[str, int, int], ...]:
    """(good, best bid price, the largest quantity bid at that price) for each
    good with a bid in `book` (others' offers only), by good; once per book."""
    return once_per(book, "best bids", _bids_of)


def _bids_of(book: tuple) -> tuple[tuple[str, int, int], ...]:
    best: dict[str, tuple[int, int]] = {}
    for o in book:
        if o.side == "buy":
            price, qty = best.get(o.good, (0, 0))
            if o.price > price or (o.price == price and o.qty > qty):
                best[o.good] = (o.price, o.qty)
    return tuple((g, price, qty) for g, (price, qty) in sorted(best.items()))


def _recipients(view: PublicView, names: tuple[str, ...]) -> dict | None:
    """`to` for a gift: every other name when the roster is small, else the
    others this view mentions (bounded by the view); a free string only when
    the view names nobody."""
    if len(names) <= NAMES_LISTED + 1:
        others = [n for n in names if n != view.name]
        if others and len(others) <= NAMES_LISTED:
            return _str(others)
    else:
        others = names  # more than NAMES_LISTED others, whoever this trader is
    roster = once_per(names, "as a set", frozenset)  # O(roster): once per roster, not per turn
    me, book = view.name, view.book
    # the usual case: the book's owners and the lenders of the loan offers (the same few open
    # offers for most) name everyone the view names; worked out once per book and lenders
    lenders = tuple(lo.lender for lo in view.loan_offers)
    by_book = once_per(names, "recipients by book", lambda _: {})
    hit = by_book.get((id(book), lenders))
    if hit is None or hit[0] is not book:
        if len(by_book) > BOOKS_KEPT:
            by_book.clear()
        named = once_per(book, "owners", _owners).union(lenders)
        listed = sorted(named & roster if roster else named)[:NAMES_IN_VIEW]
        hit = by_book[(id(book), lenders)] = (book, named, _str(listed) if listed else None)
    _, named, listed = hit
    if not (me in named or view.loans) and all(n in named for n, _ in view.feelings) \
            and all(r.name in named or r.name == me for r in view.records):
        return listed or (FREE_NAME if others else None)
    seen = {*named, *(ln.other for ln in view.loans), *(n for n, _ in view.feelings), *(r.name for r in view.records)}
    seen.discard(me)
    seen = sorted(seen & roster if roster else seen)[:NAMES_IN_VIEW]
    if seen:
        return _str(seen)
    return FREE_NAME if others else None
