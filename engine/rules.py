"""The wood's rules: pure functions of (state, actions, seed) -> (state, events).

A round is `open_round` (the world step: offers expire, shocks end, tips
resolve, production, loans fall due, new tips) then, once every trader has
chosen, `close_round` (actions applied in a seeded order, consumption,
spoilage, mood, the magistrate, the public record). Neither touches a clock,
a file or global randomness: each draws from `rng(seed, round, purpose)`,
so a replay of the recorded actions reproduces the state exactly.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import groves, memory
from .actions import PASS, SHORT_ROUNDS_MAX, Action, Reason
from .events import HEADLINE_KINDS, Event, counted, headline, units
from .market import Book
from .state import ActiveShock, Loan, LoanOffer, Offer, PactOffer, Short, State, Tip, Whisper
from .views import MAX_HEADLINES
from .world import COINS, Shock, World

MAX_SAYS_IN_HEADLINES = 3


def rng(seed: int, round_no: int, purpose: str) -> random.Random:
    """The only source of randomness: one stream per (seed, round, purpose)."""
    return random.Random(f"{seed}/{round_no}/{purpose}")


@dataclass
class Flows:
    """Goods that entered or left the wood this round (for conservation checks).
    `settled`: units a short owed back and paid for in coins instead (the
    store's claim on them ends, no goods move)."""

    produced: dict[str, int] = field(default_factory=dict)
    consumed: dict[str, int] = field(default_factory=dict)
    spoiled: dict[str, int] = field(default_factory=dict)
    settled: dict[str, int] = field(default_factory=dict)

    def add(self, bucket: dict[str, int], good: str, qty: int) -> None:
        if qty:
            bucket[good] = bucket.get(good, 0) + qty


# --------------------------------------------------------------------------
# the world step
# --------------------------------------------------------------------------
def open_round(state: State, world: World) -> tuple[State, list[Event], Flows]:
    s = state.copy()
    s.round += 1
    r = s.round
    ev: list[Event] = []
    flows = Flows()
    for oid in [i for i, o in s.offers.items() if o.expires < r]:
        del s.offers[oid]
    for oid in [i for i, o in s.loan_offers.items() if o.expires < r]:
        del s.loan_offers[oid]
    for oid in [i for i, o in s.pact_offers.items() if o.expires < r]:
        del s.pact_offers[oid]
    for q in s.quotes.values():
        q.volume = 0

    still = []
    for sh in s.shocks:
        if sh.until < r:
            ev.append(Event("shock_ended", r, {"shock": sh.shock, "good": sh.good}))
        else:
            still.append(sh)
    s.shocks = still

    # tips resolve: a true tip's shock happens, a planted one's does not
    for t in s.tips.values():
        if not t.resolved and t.resolves == r:
            t.resolved = True
            if t.truth:
                ev.append(_start_shock(s, world, t.shock, r))
            ev.append(Event("tip_resolved", r, {"tip": t.id, "text": t.text, "good": t.good, "truth": t.truth,
                                                "recipients": list(t.recipients)}))

    wr = rng(s.seed, r, "weather")
    if wr.random() < world.odds["weather_per_round"]:
        name = wr.choice(sorted(world.shocks))
        if all(sh.good != world.shocks[name].good for sh in s.shocks):
            ev.append(_start_shock(s, world, name, r))

    # production: each creature's grove, moved by the weather and its mood
    for name, harvest in groves.harvests(s, world).items():
        c = s.creatures[name]
        for g, q in harvest.items():
            c.goods[g] = c.goods.get(g, 0) + q
            flows.add(flows.produced, g, q)

    # shorts fall due: the units go back to the store, bought in at market if need be
    for sid in sorted(i for i, x in s.shorts.items() if x.due == r):
        ev.append(_close_short(s, world, s.shorts.pop(sid), r, flows))

    # loans fall due; a defaulted debt is collected again every round until paid
    garnish = int(world.economy["debt_garnish_pct"])
    for lid in sorted(i for i, ln in s.loans.items() if ln.due == r):
        if (e := _collect(s, s.loans[lid], r, garnish)) is not None:
            ev.append(e)
            if e.kind == "default" and (b := _unally(s, e.data["borrower"], e.data["lender"], r, "default")):
                ev.append(b)

    ev.extend(_collect_wood_debts(s, r, garnish))

    # a new tip reaches one or two traders
    tr = rng(s.seed, r, "tip")
    if tr.random() < world.odds["tip_per_round"]:
        shock = world.shocks[tr.choice(sorted(world.shocks))]
        lead = tr.randint(int(world.odds["tip_lead_min"]), int(world.odds["tip_lead_max"]))
        names = list(s.creatures)
        k = 1 if len(names) < 2 or tr.random() < 0.5 else 2
        recipients = tr.sample(names, k)
        truth = tr.random() < world.odds["tip_true"]
        tid = r  # at most one tip a round: numbered by it, apart from the public offer ids
        if s.end and r + lead > s.end:  # it would resolve after the last round: no tip
            return s, ev, flows
        text = tip_text(shock, lead)
        s.tips[tid] = Tip(tid, shock.name, shock.good, text, recipients, truth, r, r + lead)
        ev.append(Event("tip_issued", r, {"tip": tid, "text": text, "good": shock.good, "resolves": r + lead},
                        public=False, who=tuple(recipients)))
    return s, ev, flows


def tip_text(shock: Shock, lead: int) -> str:
    """What a tip of `shock` resolving in `lead` rounds says: its `tip` with {good} and {rounds} (`1 round`) filled in."""
    return shock.tip.format(good=shock.good, rounds=counted(lead, "round"))


def _collect(s: State, ln: Loan, r: int, garnish_pct: int) -> Event | None:
    """A loan falls due: the borrower pays what it can. In full, the loan is
    done. Short, for the first time: a public default, remembered in the
    borrower's record, and the rest stays owed. A defaulted debt falls due
    again each round, when `garnish_pct`% of the borrower's coins go to it
    (no event when there was nothing to take)."""
    b, lender = s.creatures[ln.borrower], s.creatures[ln.lender]
    can = b.coins if not ln.defaulted else garnish(b.coins, garnish_pct)
    paid = min(can, ln.owed)
    b.coins -= paid
    lender.coins += paid
    ln.owed -= paid
    who = {"loan": ln.id, "lender": ln.lender, "borrower": ln.borrower, "paid": paid}
    if ln.owed == 0:
        del s.loans[ln.id]
        if ln.defaulted:
            return Event("debt_cleared", r, who)
        memory.move(s.relations, ln.lender, ln.borrower, memory.RELATION_MOVES["loan_repaid"])
        return Event("loan_repaid", r, who)
    ln.due = r + 1
    if ln.defaulted:
        return Event("debt_paid", r, {**who, "owed": ln.owed}) if paid else None
    ln.defaulted = True
    s.defaults[ln.borrower] = s.defaults.get(ln.borrower, 0) + 1
    memory.move(s.relations, ln.lender, ln.borrower, memory.RELATION_MOVES["default"])
    return Event("default", r, {**who, "short": ln.owed})


def garnish(coins: int, pct: int) -> int:
    """What a defaulter's debt takes of its coins in a round: `pct`% of them, rounded up."""
    return min(coins, -(-coins * pct // 100))


def _collect_wood_debts(s: State, r: int, garnish_pct: int) -> list[Event]:
    """What creatures owe the wood (a short they could not cover) is collected
    as a defaulted loan is: `garnish_pct`% of their coins each round, into the
    treasury, until paid (no event when there was nothing to take)."""
    out = []
    for name in sorted(s.wood_debts):
        c = s.creatures[name]
        paid = min(s.wood_debts[name], garnish(c.coins, garnish_pct))
        if paid <= 0:
            continue
        c.coins -= paid
        s.treasury += paid
        s.wood_debts[name] -= paid
        owed = s.wood_debts[name]
        if not owed:
            del s.wood_debts[name]
        out.append(Event("wood_debt_paid", r, {"creature": name, "paid": paid, "owed": owed}))
    return out


def _start_shock(s: State, world: World, name: str, r: int) -> Event:
    sh = world.shocks[name]
    s.shocks = [x for x in s.shocks if x.good != sh.good]
    s.shocks.append(ActiveShock(sh.name, sh.good, sh.pct, r + sh.rounds - 1))
    return Event("shock_started", r, {"shock": sh.name, "good": sh.good, "pct": sh.pct, "until": r + sh.rounds - 1,
                                      "headline": sh.headline.format(good=sh.good)})


# --------------------------------------------------------------------------
# actions
# --------------------------------------------------------------------------
def action_order(state: State) -> list[str]:
    """The seeded order in which this round's actions apply."""
    names = list(state.creatures)
    rng(state.seed, state.round, "order").shuffle(names)
    return names


def close_round(state: State, world: World, actions: dict[str, Action],
                opening: list[Event] = ()) -> tuple[State, list[Event], Flows]:
    """Apply every creature's action (missing ones are `pass`), then eat, rot,
    feel, and let the magistrate look. `opening` are this round's world-step
    events, needed for the public record."""
    s = state.copy()
    r = s.round
    ev: list[Event] = []
    flows = Flows()
    book = Book(s)
    for name in action_order(s):
        ev.extend(apply_action(s, world, book, name, actions.get(name, PASS)))
    if (g := _granary(s, world, book)) is not None:
        ev.append(g)
    fills = round_fills([*opening, *ev])  # the opening's: shorts bought in when due
    going100 = {g: q.avg100 for g, q in s.quotes.items()}  # before this round's trades (the magistrate's fallback)
    _remember_prices(s, world, fills)
    _consume(s, world, flows, ev)
    ev.extend(_magistrate(s, world, fills, going100))
    memory.drift(s.relations, int(world.economy["feelings_drift_div"]))
    memory.align(s.relations, s.pacts)
    s.whispers = [w for w in s.whispers if w.round == r]  # this round's, for the recipients' next views
    for tid in [i for i, t in s.tips.items() if t.resolves <= r]:
        del s.tips[tid]  # resolved and judged: the ledger keeps it, the state need not
    s.headlines = public_record([*opening, *ev], world)
    return s, ev, flows


def public_record(events: list[Event], world: World) -> list[str]:
    """The headlines traders read next round: notable public events first,
    then at most a few `say` lines; units worded by `world`."""
    notable, says = [], []
    for e in events:
        if e.public and e.kind in HEADLINE_KINDS:
            (says if e.kind == "say" else notable).append(headline(e, world.goods))
    return (notable + says[:MAX_SAYS_IN_HEADLINES])[:MAX_HEADLINES]


def _reject(r: int, name: str, a: Action, reason: Reason, detail: str = "") -> Event:
    return Event("rejected", r, {"creature": name, "action": a.action, "reason": str(reason), "detail": detail,
                                 "proposal": a.compact()})


def apply_action(s: State, world: World, book: Book, name: str, a: Action) -> list[Event]:
    """Carry out one action on `s` (in place), or reject it leaving `s` unchanged."""
    r = s.round
    out: list[Event] = []
    if a.say:
        out.append(Event("say", r, {"creature": name, "text": a.say}))
    fn = _HANDLERS[a.action]
    res = fn(s, world, book, name, a)
    if isinstance(res, tuple):  # (reason, detail)
        out.append(_reject(r, name, a, *res))
    else:
        out.extend(res)
    return out


def _need(a: Action, *names: str):
    missing = [n for n in names if getattr(a, n) is None]
    return (Reason.MISSING_FIELD, ",".join(missing)) if missing else None


def _do_pass(s, world, book, name, a):
    return [Event("pass", s.round, {"creature": name})]


def _do_offer(s: State, world: World, book: Book, name: str, a: Action):
    if (m := _need(a, "side", "good", "qty", "price")):
        return m
    if a.good not in world.goods:
        return (Reason.UNKNOWN_GOOD, str(a.good))
    me = s.creatures[name]
    if a.side == "sell" and me.goods.get(a.good, 0) < a.qty:
        return (Reason.INSUFFICIENT_GOODS, f"hold {units(me.goods.get(a.good, 0), a.good, world.goods)}")
    if a.side == "buy" and me.coins < a.qty * a.price:
        return (Reason.INSUFFICIENT_COINS, f"hold {counted(me.coins, 'coin')}")
    out: list[Event] = []
    left = a.qty
    for o in _partners(s, book, name, a.side, a.good, a.price):
        if left == 0:
            break
        if o.owner == name:
            continue  # never trade with yourself; your own offer simply stands
        q = min(left, o.qty)
        buyer, seller = (name, o.owner) if a.side == "buy" else (o.owner, name)
        if not _funded(s, buyer, seller, a.good, q, o.price):
            continue  # the resting side can no longer pay or deliver; it expires in time
        out.append(_trade(s, world, buyer, seller, a.good, q, o.price, o.id))
        left -= q
        o.qty -= q
        if o.qty == 0:
            book.remove(o)
    if left:
        oid = s.new_id()
        o = Offer(oid, name, a.side, a.good, left, a.price, r_exp(s, world))
        book.add(o)
        out.append(Event("offer_placed", s.round, {"id": oid, "owner": name, "side": a.side, "good": a.good,
                                                   "qty": left, "price": a.price}))
    return out


def _partners(s: State, book: Book, name: str, side: str, good: str, limit: int):
    """The resting offers an order crosses, best first; a trader's allies'
    offers come before everyone else's (pacts get priority in matching)."""
    allies = s.allies(name)
    if not allies:
        return book.crossing(side, good, limit)
    offers = list(book.crossing(side, good, limit))
    return sorted(offers, key=lambda o: o.owner not in allies)  # stable: best first within each group


def r_exp(s: State, world: World) -> int:
    return s.round + int(world.economy["offer_lifetime"]) - 1


def _funded(s: State, buyer: str, seller: str, good: str, qty: int, price: int) -> bool:
    return s.creatures[buyer].coins >= qty * price and s.creatures[seller].goods.get(good, 0) >= qty


def _trade(s: State, world: World, buyer: str, seller: str, good: str, qty: int, price: int, offer_id: int) -> Event:
    b, se = s.creatures[buyer], s.creatures[seller]
    b.coins -= qty * price
    se.coins += qty * price
    se.goods[good] -= qty
    b.goods[good] = b.goods.get(good, 0) + qty
    q = s.quotes[good]
    ref = q.last if q.last is not None else world.goods[good].base_price
    going = _going(s, world, good)
    q.last = price
    q.volume += qty
    if ref * 4 <= price * 5 <= ref * 6:  # within 20% of the reference price
        memory.move(s.relations, buyer, seller, memory.RELATION_MOVES["fair_trade"])
        memory.move(s.relations, seller, buyer, memory.RELATION_MOVES["fair_trade"])
    elif price > ref:
        memory.move(s.relations, buyer, seller, memory.RELATION_MOVES["unfair_trade"])
    else:
        memory.move(s.relations, seller, buyer, memory.RELATION_MOVES["unfair_trade"])
    _tip_trades(s, buyer, seller, good, qty, price, going)
    return Event("trade", s.round, {"buyer": buyer, "seller": seller, "good": good, "qty": qty, "price": price,
                                    "offer": offer_id})


def _going(s: State, world: World, good: str) -> int:
    """The going price of `good` before a trade: its moving average, else its
    last price, else its base price (what tells a market trade from a wash)."""
    q = s.quotes[good]
    return q.avg100 // 100 if q.avg100 is not None else q.last if q.last is not None else world.goods[good].base_price


def _tip_trades(s: State, buyer: str, seller: str, good: str, qty: int, price: int, going: int) -> None:
    """A trade in a good with a live tip: the magistrate's record of what its
    recipients did, and the going price before it (`_going`)."""
    for t in s.tips.values():
        if not t.resolved and t.good == good:
            if buyer in t.recipients:
                t.trades.append([buyer, "buy", qty, price, seller, going])
            if seller in t.recipients:
                t.trades.append([seller, "sell", qty, price, buyer, going])


def _do_accept(s: State, world: World, book: Book, name: str, a: Action):
    if (m := _need(a, "id")):
        return m
    if a.id in s.offers:
        o = s.offers[a.id]
        if o.owner == name:
            return (Reason.SELF_TRADE, f"offer #{o.id} is your own")
        q = min(a.qty or o.qty, o.qty)
        buyer, seller = (name, o.owner) if o.side == "sell" else (o.owner, name)
        me = s.creatures[name]
        if buyer == name and me.coins < q * o.price:
            return (Reason.INSUFFICIENT_COINS, f"hold {counted(me.coins, 'coin')}")
        if seller == name and me.goods.get(o.good, 0) < q:
            return (Reason.INSUFFICIENT_GOODS, f"hold {units(me.goods.get(o.good, 0), o.good, world.goods)}")
        if not _funded(s, buyer, seller, o.good, q, o.price):
            return (Reason.OFFER_UNFUNDED, f"{o.owner} cannot honour offer #{o.id}")
        ev = _trade(s, world, buyer, seller, o.good, q, o.price, o.id)
        o.qty -= q
        if o.qty == 0:
            book.remove(o)
        return [ev]
    if a.id in s.loan_offers or a.id in book.gone_loans:
        if a.id in book.gone_loans and book.gone_loans[a.id].lender == name:
            return (Reason.SELF_LOAN, f"loan offer #{a.id} was your own")
        lo = s.loan_offers.get(a.id) or _next_loan_offer(s, name, book.gone_loans[a.id])
        if lo is None:
            return (Reason.OFFER_TAKEN, f"loan offer #{a.id} was taken earlier this round, and no other "
                                        "as cheap is open to you")
        if lo.lender == name:
            return (Reason.SELF_LOAN, f"loan offer #{lo.id} is your own")
        if lo.to is not None and lo.to != name:
            return (Reason.NOT_FOR_YOU, f"loan offer #{lo.id} is for another creature")
        if (debt := unpaid_debt(s, name)):
            return (Reason.IN_DEFAULT, f"you still owe {counted(debt, 'coin')} from a default")
        if s.end and s.round + lo.rounds > s.end:
            return (Reason.OUT_OF_RANGE, f"loan offer #{lo.id} would fall due after the last round ({s.end})")
        lender = s.creatures[lo.lender]
        if lender.coins < lo.amount:
            return (Reason.OFFER_UNFUNDED, f"{lo.lender} cannot lend {lo.amount}")
        book.gone_loans[lo.id] = s.loan_offers.pop(lo.id)
        lender.coins -= lo.amount
        s.creatures[name].coins += lo.amount
        owed = lo.amount + lo.amount * lo.rate * lo.rounds // 100
        ln = Loan(lo.id, lo.lender, name, lo.amount, owed, s.round + lo.rounds)
        s.loans[ln.id] = ln
        memory.move(s.relations, name, lo.lender, memory.RELATION_MOVES["loan_taken"])
        return [Event("loan_taken", s.round, {"loan": ln.id, "lender": lo.lender, "borrower": name,
                                              "amount": lo.amount, "owed": owed, "due": ln.due})]
    if a.id in s.pact_offers:
        po = s.pact_offers[a.id]
        if po.to != name:
            return (Reason.NOT_FOR_YOU, f"pact proposal #{po.id} is for another creature")
        return _form_pact(s, world, po)
    if a.id in book.gone:
        return _fall_back(s, world, book, name, a, book.gone[a.id])
    return (Reason.UNKNOWN_OFFER, f"no standing offer #{a.id}")


def _fall_back(s: State, world: World, book: Book, name: str, a: Action, taken: Offer):
    """An accept of an offer taken earlier this round becomes the same trade
    against the next best offers at that price or better; what finds no
    partner stands as the trader's own offer at that price. Only when it can
    neither fill nor stand is it refused, as `offer_taken`."""
    if taken.owner == name:
        return (Reason.SELF_TRADE, f"offer #{taken.id} was your own")
    side = "buy" if taken.side == "sell" else "sell"
    me = s.creatures[name]
    want = a.qty or taken.qty
    q = min(want, me.coins // taken.price) if side == "buy" else min(want, me.goods.get(taken.good, 0))
    if q <= 0:
        return (Reason.OFFER_TAKEN, f"offer #{taken.id} was taken earlier this round, and you cannot "
                                    f"{side} {taken.good} at {taken.price} instead")
    res = _do_offer(s, world, book, name, Action(action="offer", side=side, good=taken.good, qty=q,
                                                   price=taken.price))
    if isinstance(res, tuple):
        return res
    filled = sum(e.data["qty"] for e in res if e.kind == "trade")
    return [Event("accept_fallback", s.round, {"creature": name, "id": taken.id, "good": taken.good, "side": side,
                                               "price": taken.price, "filled": filled, "rested": q - filled}), *res]


def _next_loan_offer(s: State, name: str, taken: LoanOffer) -> LoanOffer | None:
    """For an accept of a loan offer taken earlier this round: the cheapest
    other loan offer open to `name` at the same rate or lower, at least as
    large, whose lender can still pay it."""
    fits = [lo for lo in s.loan_offers.values()
            if lo.lender != name and lo.to in (None, name) and lo.rate <= taken.rate and lo.amount >= taken.amount
            and s.creatures[lo.lender].coins >= lo.amount]
    return min(fits, key=lambda lo: (lo.rate, lo.amount, lo.id), default=None)


def unpaid_debt(s: State, name: str) -> int:
    """Coins `name` still owes from loans it defaulted on, and to the wood."""
    return sum(ln.owed for ln in s.loans.values() if ln.borrower == name and ln.defaulted) + \
        s.wood_debts.get(name, 0)


def _do_lend(s: State, world: World, book: Book, name: str, a: Action):
    if (m := _need(a, "amount", "rate", "rounds")):
        return m
    if a.to is not None:
        if a.to == name:
            return (Reason.SELF_LOAN, "cannot lend to yourself")
        if a.to not in s.creatures:
            return (Reason.UNKNOWN_CREATURE, a.to)
    if s.end and s.round + a.rounds > s.end:
        return (Reason.OUT_OF_RANGE, f"the game ends in round {s.end}: a loan must fall due by then")
    if s.creatures[name].coins < a.amount:
        return (Reason.INSUFFICIENT_COINS, f"hold {counted(s.creatures[name].coins, 'coin')}")
    lid = s.new_id()
    s.loan_offers[lid] = LoanOffer(lid, name, a.amount, a.rate, a.rounds, r_exp(s, world), a.to)
    return [Event("loan_offered", s.round, {"id": lid, "lender": name, "amount": a.amount, "rate": a.rate,
                                            "rounds": a.rounds, "to": a.to})]


def _do_gift(s: State, world: World, book: Book, name: str, a: Action):
    if (m := _need(a, "to", "good", "qty")):
        return m
    if a.to == name:
        return (Reason.SELF_GIFT, "cannot give to yourself")
    if a.to not in s.creatures:
        return (Reason.UNKNOWN_CREATURE, str(a.to))
    me, them = s.creatures[name], s.creatures[a.to]
    if a.good == COINS:
        if me.coins < a.qty:
            return (Reason.INSUFFICIENT_COINS, f"hold {counted(me.coins, 'coin')}")
        me.coins -= a.qty
        them.coins += a.qty
        value = a.qty
    elif a.good in world.goods:
        if me.goods.get(a.good, 0) < a.qty:
            return (Reason.INSUFFICIENT_GOODS, f"hold {units(me.goods.get(a.good, 0), a.good, world.goods)}")
        me.goods[a.good] -= a.qty
        them.goods[a.good] = them.goods.get(a.good, 0) + a.qty
        value = a.qty * world.goods[a.good].base_price
    else:
        return (Reason.UNKNOWN_GOOD, str(a.good))
    memory.move(s.relations, a.to, name, min(memory.RELATION_MOVES["gift"] + value // 5, 15))
    return [Event("gift", s.round, {"giver": name, "receiver": a.to, "item": a.good, "qty": a.qty})]


# --------------------------------------------------------------------------
# short, ally, break, whisper
# --------------------------------------------------------------------------
def _do_short(s: State, world: World, book: Book, name: str, a: Action):
    """Borrow units of a good from the wood's store and sell them at once to
    the standing buy offers at `price` or better (allies first). Only what
    sells is borrowed; coins are held as collateral until the short closes."""
    if (m := _need(a, "good", "qty", "price")):
        return m
    if a.good not in world.goods:
        return (Reason.UNKNOWN_GOOD, str(a.good))
    rounds = a.rounds or int(world.economy["short_rounds"])
    if rounds > SHORT_ROUNDS_MAX:
        return (Reason.OUT_OF_RANGE, f"a short lasts at most {SHORT_ROUNDS_MAX} rounds")
    if s.end and s.round >= s.end:
        return (Reason.OUT_OF_RANGE, "the game ends this round: a short could not be closed")
    if (debt := unpaid_debt(s, name)):  # a short borrows from the wood: not while a debt is unpaid
        return (Reason.IN_DEFAULT, f"you still owe {counted(debt, 'coin')} from a default")
    if s.end:
        rounds = min(rounds, s.end - s.round)  # it falls due in the last round at the latest
    cap = int(world.economy["max_shorts"])
    if book.open_shorts(name) >= cap:
        return (Reason.OUT_OF_RANGE, f"you have {cap} open shorts, the most a creature may have")
    me = s.creatures[name]
    fills, left, bids = [], a.qty, 0
    spent: dict[str, int] = {}  # a buyer with several bids pays for all of them from one purse
    for o in _partners(s, book, name, "sell", a.good, a.price):
        if left == 0:
            break
        if o.owner == name:
            continue
        bids += 1
        q = min(left, o.qty, (s.creatures[o.owner].coins - spent.get(o.owner, 0)) // o.price)
        if q > 0:
            fills.append((o, q))
            spent[o.owner] = spent.get(o.owner, 0) + q * o.price
            left -= q
    if not fills and bids:
        return (Reason.OFFER_UNFUNDED, f"the bidders for {a.good} at {a.price} or more cannot pay")
    if not fills:
        raced = any(o.side == "buy" and o.good == a.good and o.price >= a.price and o.owner != name
                    for o in book.gone.values())  # the bid it saw went to an earlier mover: a lost race, said so
        return (Reason.NO_BUYER, f"no standing buy offer for {a.good} at {a.price} or more"
                + (" (one that stood at the round's start was taken earlier this round)" if raced else ""))
    sold = sum(q for _, q in fills)
    proceeds = sum(q * o.price for o, q in fills)
    collateral = -(-proceeds * int(world.economy["short_collateral_pct"]) // 100)
    if me.coins + proceeds < collateral:
        return (Reason.INSUFFICIENT_COINS, f"hold {counted(me.coins, 'coin')}; a short of {units(sold, a.good, world.goods)} needs "
                                           f"{collateral - proceeds} of your own as collateral")
    sid = s.new_id()
    me.goods[a.good] = me.goods.get(a.good, 0) + sold  # borrowed from the store: owed back in the short
    out = []
    for o, q in fills:
        out.append(_trade(s, world, o.owner, name, a.good, q, o.price, o.id))
        o.qty -= q
        if o.qty == 0:
            book.remove(o)
    me.coins -= collateral
    x = Short(sid, name, a.good, sold, sold, proceeds, collateral, s.round + rounds)
    s.shorts[sid] = x
    book.short_opened(name)
    out.append(Event("short_opened", s.round, {"id": sid, "owner": name, "good": a.good, "qty": sold,
                                               "proceeds": proceeds, "collateral": collateral, "due": x.due}))
    return out


def _close_short(s: State, world: World, x: Short, r: int, flows: Flows) -> Event:
    """A short falls due. The collateral comes back to its owner, who then
    returns the units: first from what it holds, then bought in from the
    cheapest standing sell offers at up to the squeeze's price (an ask above
    it, posted to prey on a short falling due, is not taken), and any still
    missing are settled in coins at `squeeze_pct`% of the good's price (paid
    to the treasury; what it cannot pay is owed to the wood: a public
    default, collected from its coins each round until paid). Profit is the sale's proceeds less what the
    units cost now (those returned from stores counted at the good's price)."""
    c = s.creatures[x.owner]
    c.coins += x.collateral
    q = s.quotes[x.good]
    price_now = max(q.last or 0, (q.avg100 or 0) // 100, world.goods[x.good].base_price)
    delivered = min(c.goods.get(x.good, 0), x.owed)
    c.goods[x.good] = c.goods.get(x.good, 0) - delivered
    owed = x.owed - delivered
    bought, cost, buys = 0, 0, []
    squeeze_price = price_now * int(world.economy["squeeze_pct"]) // 100
    asks = sorted((o for o in s.offers.values() if o.side == "sell" and o.good == x.good and o.owner != x.owner
                   and o.price <= squeeze_price), key=lambda o: (o.price, o.id))  # a dearer ask is no way out
    for o in asks:
        seller = s.creatures[o.owner]
        n = min(owed, o.qty, seller.goods.get(x.good, 0), c.coins // o.price)
        if n <= 0:
            continue
        seller.goods[x.good] -= n
        seller.coins += n * o.price
        c.coins -= n * o.price
        buys.append([o.owner, x.good, n, o.price])
        _tip_trades(s, x.owner, o.owner, x.good, n, o.price, _going(s, world, x.good))
        o.qty -= n
        if o.qty == 0:
            del s.offers[o.id]
        owed -= n
        bought += n
        cost += n * o.price
        q.last = o.price
        q.volume += n
        if owed == 0:
            break
    squeezed, squeeze_cost = owed, min(c.coins, owed * squeeze_price)
    c.coins -= squeeze_cost
    s.treasury += squeeze_cost
    unpaid = owed * squeeze_price - squeeze_cost
    if unpaid:  # owed to the wood, in public, and collected like a defaulted loan (`_collect_wood_debts`)
        s.wood_debts[x.owner] = s.wood_debts.get(x.owner, 0) + unpaid
        s.defaults[x.owner] = s.defaults.get(x.owner, 0) + 1
    if owed:
        flows.add(flows.settled, x.good, owed)
    profit = x.proceeds - delivered * price_now - cost - squeeze_cost - unpaid
    return Event("short_closed", r, {"id": x.id, "owner": x.owner, "good": x.good, "qty": x.qty,
                                     "delivered": delivered, "bought": bought, "cost": cost, "squeezed": squeezed,
                                     "squeeze_cost": squeeze_cost, "unpaid": unpaid, "profit": profit,
                                     "buys": buys})


def _do_ally(s: State, world: World, book: Book, name: str, a: Action):
    """Propose a pact to `to` (a standing proposal it accepts by id); if `to`
    has already proposed one to you, this accepts it."""
    if (m := _need(a, "to")):
        return m
    if a.to == name:
        return (Reason.SELF_PACT, "cannot ally with yourself")
    if a.to not in s.creatures:
        return (Reason.UNKNOWN_CREATURE, str(a.to))
    if a.to in s.allies(name):
        return (Reason.ALREADY_ALLIED, f"already allied with {a.to}")
    cap = int(world.economy["max_allies"])
    if len(s.allies(name)) >= cap:
        return (Reason.TOO_MANY_ALLIES, f"you have {cap} allies, the most a creature may have")
    if len(s.allies(a.to)) >= cap:  # it could never accept: no view shows a pact the engine would refuse
        return (Reason.TOO_MANY_ALLIES, f"{a.to} has {cap} allies, the most a creature may have")
    theirs = next((po for po in s.pact_offers.values() if po.proposer == a.to and po.to == name), None)
    if theirs is not None:
        return _form_pact(s, world, theirs)
    mine = next((po for po in s.pact_offers.values() if po.proposer == name and po.to == a.to), None)
    if mine is not None:  # proposing again renews the standing proposal
        mine.expires = r_exp(s, world)
        return [Event("pact_proposed", s.round, {"id": mine.id, "proposer": name, "to": a.to, "renewed": True})]
    pid = s.new_id()
    s.pact_offers[pid] = PactOffer(pid, name, a.to, r_exp(s, world))
    return [Event("pact_proposed", s.round, {"id": pid, "proposer": name, "to": a.to})]


def _form_pact(s: State, world: World, po: PactOffer):
    cap = int(world.economy["max_allies"])
    for who in (po.to, po.proposer):
        if len(s.allies(who)) >= cap:
            return (Reason.TOO_MANY_ALLIES, f"{who} has {cap} allies, the most a creature may have")
    if po.proposer in s.allies(po.to):
        return (Reason.ALREADY_ALLIED, f"already allied with {po.proposer}")
    del s.pact_offers[po.id]
    a, b = sorted((po.proposer, po.to))
    s.pacts.append([a, b, s.round])
    s.pacts.sort()
    memory.move(s.relations, a, b, memory.RELATION_MOVES["pact"])
    memory.move(s.relations, b, a, memory.RELATION_MOVES["pact"])
    # a creature that now has all the allies it may have can neither accept nor be accepted:
    # the proposals it made or was made lapse, so no view offers a pact the engine would refuse
    full = {who for who in (a, b) if len(s.allies(who)) >= cap}
    for pid in [i for i, x in s.pact_offers.items() if x.proposer in full or x.to in full]:
        del s.pact_offers[pid]
    return [Event("pact_formed", s.round, {"id": po.id, "a": a, "b": b})]


def _unally(s: State, breaker: str, other: str, r: int, why: str) -> Event | None:
    """End the pact between `breaker` and `other`, if there is one: public,
    and `other` takes it badly."""
    a, b = sorted((breaker, other))
    kept = [p for p in s.pacts if (p[0], p[1]) != (a, b)]
    if len(kept) == len(s.pacts):
        return None
    s.pacts = kept
    memory.move(s.relations, other, breaker, memory.RELATION_MOVES["pact_broken"])
    return Event("pact_broken", r, {"creature": breaker, "ally": other, "why": why})


def _do_break(s: State, world: World, book: Book, name: str, a: Action):
    if (m := _need(a, "to")):
        return m
    if a.to not in s.creatures:
        return (Reason.UNKNOWN_CREATURE, str(a.to))
    e = _unally(s, name, a.to, s.round, "broke")
    return [e] if e is not None else (Reason.NOT_ALLIED, f"no pact with {a.to}")


def _do_whisper(s: State, world: World, book: Book, name: str, a: Action):
    """A private line to one creature, read in its next view. Passing on a
    tip (`tip`: its id) sends the tip's words and nothing else: its truth
    stays in the ledger, and the listener does not become a recipient."""
    if (m := _need(a, "to")):
        return m
    if a.to == name:
        return (Reason.SELF_WHISPER, "cannot whisper to yourself")
    if a.to not in s.creatures:
        return (Reason.UNKNOWN_CREATURE, str(a.to))
    if a.tip is not None:
        t = s.tips.get(a.tip)
        if t is None or t.resolved or name not in t.recipients:
            return (Reason.UNKNOWN_TIP, f"you hold no live tip #{a.tip}")
        text = t.text
    elif a.text:
        text = a.text
    else:
        return (Reason.MISSING_FIELD, "text")
    s.whispers.append(Whisper(s.round, name, a.to, text, a.tip))
    return [Event("whisper", s.round, {"from": name, "to": a.to, "text": text, "tip": a.tip},
                  public=False, who=(name, a.to))]


_HANDLERS = {"pass": _do_pass, "offer": _do_offer, "accept": _do_accept, "lend": _do_lend, "gift": _do_gift,
             "short": _do_short, "ally": _do_ally, "break": _do_break, "whisper": _do_whisper}


# --------------------------------------------------------------------------
# the granary, prices, eating, rotting, feeling, and the magistrate
# --------------------------------------------------------------------------
GRANARY_PAY_PCT = 150  # the most the granary pays, in percent of the going price


def _granary(s: State, world: World, book: Book) -> Event | None:
    """The treasury's coins (the magistrate's fines) go back into the wood:
    once it holds `granary_min`, the granary spends up to `granary_spend_pct`%
    of it on the cheapest standing offers of what creatures lack this round
    (food and fuel; the lowest mood first), and hands it to them.
    Its purchases are market trades: they set the last price, count in
    the moving average (`buys` in its event), and a seller's on a live tip
    is the magistrate's business. It never pays more than
    GRANARY_PAY_PCT% of the going price (`_going`): a lone ask at a silly
    price does not empty the treasury into one seller's purse."""
    if s.treasury < int(world.economy["granary_min"]):
        return None
    budget = s.treasury * int(world.economy["granary_spend_pct"]) // 100
    spent, fed, bought, buys = 0, [], {}, []
    for c in sorted(s.creatures.values(), key=lambda c: (c.mood, c.name)):
        if budget - spent < 1:
            break  # no offer is cheaper than a coin
        for g, need in world.basket(c.species, s.round):
            lack = need - c.goods.get(g, 0)
            if lack <= 0:
                continue
            dearest = max(1, _going(s, world, g) * GRANARY_PAY_PCT // 100)  # the wood's coins buy at fair prices
            for o in book.crossing("buy", g, dearest):  # cheapest first; it may remove what it buys out
                if lack <= 0 or budget - spent < o.price:
                    break
                if o.owner == c.name:
                    continue
                q = min(lack, o.qty, (budget - spent) // o.price, s.creatures[o.owner].goods.get(g, 0))
                if q <= 0:
                    continue
                s.creatures[o.owner].goods[g] -= q
                s.creatures[o.owner].coins += q * o.price
                c.goods[g] = c.goods.get(g, 0) + q
                s.treasury -= q * o.price
                spent += q * o.price
                lack -= q
                bought[g] = bought.get(g, 0) + q
                buys.append([o.owner, g, q, o.price])
                _tip_trades(s, "", o.owner, g, q, o.price, _going(s, world, g))  # a sale on a tip is judged
                s.quotes[g].last = o.price
                s.quotes[g].volume += q
                o.qty -= q
                if o.qty == 0:
                    book.remove(o)
                if c.name not in fed:
                    fed.append(c.name)
    if not spent:
        return None
    return Event("granary", s.round, {"spent": spent, "fed": fed, "bought": bought, "buys": buys})


Fill = tuple[str, str, int, int]  # (buyer, seller, qty, price); the granary buys as ""


def round_fills(events: list[Event]) -> dict[str, list[Fill]]:
    """This round's fills of each good: trades, and the granary's and shorts'
    buy-ins (market purchases too)."""
    out: dict[str, list[Fill]] = {}
    for e in events:
        d = e.data
        if e.kind == "trade":
            out.setdefault(d["good"], []).append((d["buyer"], d["seller"], d["qty"], d["price"]))
        elif e.kind in ("granary", "short_closed"):
            buyer = d["owner"] if e.kind == "short_closed" else ""
            for seller, g, q, p in d["buys"]:
                out.setdefault(g, []).append((buyer, seller, q, p))
    return out


def _mean100(fills: list[Fill]) -> int | None:
    """The unit-weighted mean price of `fills`, in hundredths (None: no fills)."""
    units = sum(q for _, _, q, _ in fills)
    return sum(p * q for _, _, q, p in fills) * 100 // units if units else None


def _remember_prices(s: State, world: World, fills: dict[str, list[Fill]]) -> None:
    """Each good's moving average of trade prices takes in this round's mean
    (weighted by units; the granary's purchases and shorts' buy-ins count), by
    `price_memory_pct`%. Kept in hundredths of a coin. (Counting a round's mean
    only within half to twice the average, against wash trades, was tried: it
    slowed the market's answer to scarcity and cost median coins; BENCHMARKS.md.)"""
    w = int(world.economy["price_memory_pct"])
    for g, fs in fills.items():
        mean100 = _mean100(fs)
        q = s.quotes[g]
        q.avg100 = mean100 if q.avg100 is None else (q.avg100 * (100 - w) + mean100 * w) // 100


def _consume(s: State, world: World, flows: Flows, ev: list[Event]) -> None:
    r = s.round
    pantry = int(world.economy["pantry"])
    fed_gain, hungry_loss = int(world.economy["mood_fed"]), int(world.economy["mood_hungry"])
    spoiling = [(g, good.spoil_pct) for g, good in world.goods.items() if good.spoil_pct]
    for c in s.creatures.values():
        needed = eaten = 0
        ate, missed, rotted = {}, {}, {}
        goods = c.goods
        for g, need in world.basket(c.species, r):
            have = goods.get(g, 0)
            eat = min(have, need)
            goods[g] = have - eat
            needed += need
            if eat:
                eaten += eat
                ate[g] = eat
                flows.add(flows.consumed, g, eat)
            if need > eat:
                missed[g] = need - eat
        for g, pct in spoiling:
            if goods.get(g, 0) > pantry:
                rot = max(1, (goods[g] - pantry) * pct // 100)
                goods[g] -= rot
                flows.add(flows.spoiled, g, rot)
                rotted[g] = rot
        # fully fed: +mood_fed; nothing eaten: -mood_hungry; linear between
        delta = round(-hungry_loss + (fed_gain + hungry_loss) * eaten / needed) if needed else fed_gain
        before = c.mood
        c.mood = max(0, min(100, c.mood + delta))
        # private: what this creature ate, lacked and lost to rot, and how its mood moved (the round's recap)
        ev.append(Event("meal", r, {"creature": c.name, "ate": ate, "missed": missed, "rotted": rotted,
                                    "mood": c.mood - before}, public=False, who=(c.name,)))


def _magistrate(s: State, world: World, fills: dict[str, list[Fill]], going100: dict[str, int | None]) -> list[Event]:
    """When a true tip resolves, the magistrate may look into each recipient
    who traded its good while the tip was live. Each trade is judged against
    the price after resolution: the mean of this round's trades in the good
    between others (its own trades, washes included, do not set it), else
    the moving average before this round's trades (`going100`: so its own
    trades do not set that either), else the last price. Buying below it or selling
    above it made money. A trade that lost offsets the others only if it was at a market price
    (within half to twice the going price when it was made): a loss at a
    silly price, as in a wash trade with a friend who hands the coins back,
    offsets nothing. Profit is fined (all of it, plus `fine_base`); trading
    that made nothing is cleared in public. A planted tip is never judged."""
    r = s.round
    out = []
    for t in s.tips.values():
        if t.resolves != r or not t.truth:
            continue
        q = s.quotes[t.good]
        for who in t.recipients:
            mine = [x for x in t.trades if x[0] == who]
            others = _mean100([f for f in fills.get(t.good, ()) if who not in f[:2]])
            after100 = others if others is not None else going100.get(t.good)
            after = (after100 + 50) // 100 if after100 is not None else q.last
            if not mine or after is None:
                continue
            if rng(s.seed, r, f"magistrate/{t.id}/{who}").random() >= world.odds["investigate"]:
                continue
            profit = 0
            for _, side, n, price, _, going in mine:
                made = (after - price) * n if side == "buy" else (price - after) * n
                if made > 0 or going <= 2 * price <= 4 * going:
                    profit += made
            units = sum(x[2] for x in mine)
            if profit <= 0:
                out.append(Event("cleared", r, {"creature": who, "good": t.good, "tip": t.id, "units": units}))
                continue
            c = s.creatures[who]
            amount = min(c.coins, int(world.odds["fine_base"]) + profit)
            c.coins -= amount
            s.treasury += amount
            for other in sorted({x[4] for x in mine} - {""}):  # the granary ("") has no feelings
                memory.move(s.relations, other, who, memory.RELATION_MOVES["fine"])
            out.append(Event("fine", r, {"creature": who, "amount": amount, "good": t.good, "tip": t.id,
                                         "units": units, "profit": profit}))
    return out


def check_action(state: State, world: World, name: str, a: Action) -> tuple[Reason, str] | None:
    """Would `name`'s action be carried out on `state`? `(reason, detail)` if
    the engine would reject it, else None. Runs the real handler on a copy, so
    the answer is the engine's own; `state` is left untouched. (Others' actions
    this round may still change the outcome: they apply in a seeded order.)"""
    s = state.copy()
    res = _HANDLERS[a.action](s, world, Book(s), name, a)
    return res if isinstance(res, tuple) else None
