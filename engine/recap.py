"""A round in words, for one trader: what became of its move, its fills and
offers, loans, gifts, its shorts, pacts and whispers, tips, the magistrate,
and what it ate and how its mood moved. Plain lines, no codes: `reason_words` turns every engine `Reason`
into a sentence a player can act on.

Pure: events of one round (public and the trader's private ones, such as its
`meal`), the trader's name, and, where given, the state after the round (to
tell a partly filled offer from a finished one, and which offers end now).
Names in the lines come from rosters and models: hostile text, drawn by the
UI through its sanitiser.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from . import memory
from .actions import REASON_WORDS, Reason, reason_words  # noqa: F401  (reason_words: re-exported)
from .events import Event, Goods, counted, unit_word, units, units_list
from .state import State

MAX_EXPIRING = 4  # offers ending this round, listed one by one (more: a count)

# the moves from the original: told in the second person when they concern the trader
TIE_KINDS = ("short_opened", "short_closed", "pact_proposed", "pact_formed", "pact_broken", "whisper")


def _proposal(d: dict, goods: Goods) -> str:
    """The refused move, briefly: "accept of #5", "offer to sell 3 honey at 8"."""
    p = d.get("proposal", {})
    kind = d.get("action") or p.get("action", "move")
    if kind == "accept" and p.get("id") is not None:
        return f"accept of #{p['id']}"
    if kind == "offer" and p.get("side") and p.get("good"):
        return f"offer to {p['side']} {units(p.get('qty', '?'), p['good'], goods)} at {p.get('price', '?')}"
    if kind == "gift" and p.get("to"):
        return f"gift to {p['to']}"
    if kind == "lend" and p.get("amount") is not None:
        return f"loan offer of {counted(p['amount'], 'coin')}"
    if kind == "short" and p.get("good"):
        return f"short of {units(p.get('qty', '?'), p['good'], goods)} at {p.get('price', '?')}"
    if kind == "ally" and p.get("to"):
        return f"pact proposal to {p['to']}"
    if kind == "break" and p.get("to"):
        return f"break with {p['to']}"
    if kind == "whisper" and p.get("to"):
        return f"whisper to {p['to']}"
    return str(kind)


def round_recap(events: Iterable[Event], name: str, state: State | None = None,
                before: State | None = None, *, goods: Goods) -> list[str]:
    """What this round meant for `name`, most important first: the fate of
    its move, then fills, offers, loans, gifts, tips, the magistrate, meals.
    `state` is the state after the round, `before` the one its moves were made
    on: with them, a fill of the trader's own standing offer says whether the
    offer is done or partly filled, and offers ending now are listed. Units are worded by `goods`, the goods of
    the world in play (`World.goods`)."""
    events = list(events)
    move: list[str] = []
    fills: list[str] = []
    offers: list[str] = []
    money: list[str] = []
    ties: list[str] = []
    tips: list[str] = []
    meal: list[str] = []
    r = state.round if state is not None else None
    # the units still standing on each of the trader's offers, counted down fill by fill
    left = {o.id: o.qty for o in before.offers.values() if o.owner == name} if before is not None else {}
    sales = _short_sales(events, name)
    in_short = {id(t) for fills_ in sales.values() for t in fills_}
    for e in events:
        d = e.data
        k = e.kind
        if k == "rejected" and d.get("creature") == name:
            move.append(f"Your {_proposal(d, goods)} was refused: {reason_words(d.get('reason', ''), d.get('detail', ''))}.")
        elif k == "accept_fallback" and d.get("creature") == name:
            verb = "bought" if d["side"] == "buy" else "sold"
            took = (f"you {verb} {units(d['filled'], d['good'], goods)} at {d['price']} from other offers"
                    if d["filled"] else "no other offer matched")
            more = " more" if d["filled"] else ""
            rest = (f", and an offer to {d['side']} {d['rested']}{more} {unit_word(d['rested'], d['good'], goods)} at {d['price']} now stands"
                    if d["rested"] else "")
            move.append(f"Your accept of #{d['id']} lost a race: someone took it earlier this round. "
                        f"Instead {took}{rest}.")
        elif k == "trade" and name in (d.get("buyer"), d.get("seller")) and id(e) not in in_short:
            buying = d["buyer"] == name
            other = d["seller"] if buying else d["buyer"]
            coins = counted(d["qty"] * d["price"], "coin")
            line = (f"You bought {units(d['qty'], d['good'], goods)} from {other} at {d['price']} ({coins} paid)" if buying
                    else f"You sold {units(d['qty'], d['good'], goods)} to {other} at {d['price']} ({coins} earned)")
            if d.get("offer") in left:
                left[d["offer"]] -= d["qty"]
                rest = left[d["offer"]]
                line += (f"; your offer #{d['offer']} is partly filled, {rest} still stand{'s' if rest == 1 else ''}"
                         if rest > 0 else f"; that filled your offer #{d['offer']}")
            fills.append(line + ".")
        elif k == "offer_placed" and d.get("owner") == name:
            left[d["id"]] = d["qty"]
            o = state.offers.get(d["id"]) if state is not None else None
            if state is None or o is not None:  # else taken before the round was out: its fill says so
                qty = o.qty if o is not None else d["qty"]  # what still stands, after this round's fills
                offers.append(f"Your offer #{d['id']} to {d['side']} {units(qty, d['good'], goods)} at {d['price']} stands"
                              + (f" until round {o.expires}." if o is not None else "."))
        elif k == "granary":
            if name in d.get("fed", ()):
                fills.append("The granary (the magistrate's fines, spent on food) bought you food you lacked.")
            sold = [(g, q, p) for owner, g, q, p in d.get("buys", ()) if owner == name]
            for g, q, p in sold:
                fills.append(f"The granary bought {units(q, g, goods)} from you at {p} ({counted(q * p, 'coin')} earned).")
        elif k == "loan_offered" and d.get("lender") == name:
            to = f" to {d['to']}" if d.get("to") else " to anyone"
            money.append(f"You offered a loan of {counted(d['amount'], 'coin')}{to} at {d['rate']}% "
                         f"for {counted(d['rounds'], 'round')} (#{d['id']}).")
        elif k == "loan_taken" and name in (d.get("lender"), d.get("borrower")):
            if d["borrower"] == name:
                money.append(f"You borrowed {counted(d['amount'], 'coin')} from {d['lender']}: "
                             f"you owe {d['owed']} in round {d['due']}.")
            else:
                money.append(f"{d['borrower']} took your loan of {counted(d['amount'], 'coin')}: "
                             f"owes you {d['owed']} in round {d['due']}.")
        elif k == "loan_repaid" and name in (d.get("lender"), d.get("borrower")):
            paid = counted(d["paid"], "coin")
            money.append(f"You repaid {paid} to {d['lender']}: that loan is done." if d["borrower"] == name
                         else f"{d['borrower']} repaid you {paid}: that loan is done.")
        elif k == "default" and name in (d.get("lender"), d.get("borrower")):
            short = counted(d["short"], "coin")
            money.append(f"You could not repay {d['lender']} in full and defaulted: you still owe {short},"
                         " and part of your coins go to it each round until it is paid." if d["borrower"] == name
                         else f"{d['borrower']} defaulted on your loan and still owes you {short}.")
        elif k == "debt_paid" and name in (d.get("lender"), d.get("borrower")):
            money.append(f"{d['paid']} of your coins went to your debt to {d['lender']} ({d['owed']} still owed)."
                         if d["borrower"] == name else
                         f"{d['borrower']} paid you {d['paid']} toward its debt ({d['owed']} still owed).")
        elif k == "debt_cleared" and name in (d.get("lender"), d.get("borrower")):
            money.append(f"You have paid off your debt to {d['lender']}." if d["borrower"] == name
                         else f"{d['borrower']} has paid off its debt to you.")
        elif k == "wood_debt_paid" and name == d.get("creature"):
            money.append(f"{d['paid']} of your coins went to your debt to the wood"
                         + (f" ({d['owed']} still owed)." if d["owed"] else ": it is paid off."))
        elif k == "gift" and name in (d.get("giver"), d.get("receiver")):
            money.append(f"You gave {units(d['qty'], d['item'], goods)} to {d['receiver']}." if d["giver"] == name
                         else f"{d['giver']} gave you {units(d['qty'], d['item'], goods)}.")
        elif k == "tip_issued" and name in e.who:
            tips.append(f'A tip reached you (private): "{d["text"]}". It resolves in round {d["resolves"]}; '
                        "it may be true or planted.")
        elif k == "tip_resolved" and name in d.get("recipients", ()):
            tips.append(f'Your tip "{d["text"]}" ' + ("came true." if d["truth"]
                                                     else "was planted: nothing happened."))
        elif k == "fine" and d.get("creature") == name:
            tips.append(f"The magistrate fined you {counted(d['amount'], 'coin')} for profiting "
                        f"{d.get('profit', '?')} on {d['good']} from a tip.")
        elif k == "cleared" and d.get("creature") == name:
            tips.append(f"The magistrate looked into your {d['good']} trades on a tip and cleared you.")
        elif k in TIE_KINDS and (line := tie_line(e, name, goods, sales.get(id(e), ()))):
            ties.append(line)
        elif k == "meal" and d.get("creature") == name:
            meal.append(_meal_line(d, goods, state.creatures[name].mood if state is not None and name in state.creatures
                                   else None))
    if state is not None and r is not None:
        offers.extend(_ending(state, name, r, goods))
    return [*move, *fills, *offers, *money, *ties, *tips, *meal]


def _short_sales(events: Sequence[Event], name: str) -> dict[int, list[Event]]:
    """The trades each of `name`'s shorts opened this round was sold in (by
    `id` of its `short_opened` event): they come just before it, and its line
    tells them, so that one sale is not told twice."""
    out: dict[int, list[Event]] = {}
    for i, e in enumerate(events):
        if e.kind != "short_opened" or e.data.get("owner") != name:
            continue
        fills: list[Event] = []
        need = e.data["qty"]
        for t in reversed(events[:i]):
            if need <= 0 or t.kind != "trade" or t.data.get("seller") != name or t.data.get("good") != e.data["good"]:
                break
            fills.insert(0, t)
            need -= t.data["qty"]
        if need == 0:
            out[id(e)] = fills
    return out


def tie_line(e: Event, name: str, goods: Goods, sold: Sequence[Event] = ()) -> str | None:
    """A short, pact or whisper event in words for `name`, if it concerns it.
    `sold`: the trades a short opened was sold in (its buyers are named)."""
    d = e.data
    k = e.kind
    if k == "short_opened" and d.get("owner") == name:
        to = ""
        if len(sold) == 1:
            to = f" to {sold[0].data['buyer']} at {sold[0].data['price']}"
        elif sold:
            to = " to " + ", ".join(f"{t.data['buyer']} ({t.data['qty']} at {t.data['price']})" for t in sold)
        return (f"You sold {units(d['qty'], d['good'], goods)} short{to} for {counted(d['proceeds'], 'coin')} (#{d['id']}): "
                f"{d['collateral']} of your coins {'is' if d['collateral'] == 1 else 'are'} held as collateral, "
                f"and {units(d['qty'], d['good'], goods)} {'goes' if d['qty'] == 1 else 'go'} back to the store "
                f"in round {d['due']}.")
    if k == "short_closed" and d.get("owner") == name:
        how = []
        if d.get("delivered"):
            how.append(f"{d['delivered']} came from your store")
        if d.get("bought"):
            how.append(f"{d['bought']} bought in for {counted(d['cost'], 'coin')}")
        if d.get("squeezed"):
            how.append(f"{d['squeezed']} {'was' if d['squeezed'] == 1 else 'were'} nowhere to be had: "
                       f"squeezed for {counted(d['squeeze_cost'], 'coin')}"
                       + (f" ({d['unpaid']} you could not pay: owed to the wood, a default on your record, "
                          "and part of your coins go to it each round until it is paid)" if d.get("unpaid") else ""))
        profit = d.get("profit", 0)
        result = f"a profit of {counted(profit, 'coin')}" if profit > 0 else "no profit and no loss" if profit == 0 \
            else f"a loss of {counted(-profit, 'coin')}"
        return (f"Your short of {units(d['qty'], d['good'], goods)} (#{d['id']}) closed"
                + (f": {'; '.join(how)}" if how else "") + f". Collateral returned; {result}.")
    if k == "pact_proposed":
        again = d.get("renewed")
        if d.get("proposer") == name:
            return (f"You {'renewed your' if again else 'proposed a'} pact to {d['to']} (#{d['id']}): "
                    f"it stands until {d['to']} accepts it or proposes one back.")
        if d.get("to") == name:
            return (f"{d['proposer']} {'again proposes' if again else 'proposed'} a pact to you (#{d['id']}): "
                    f"accept #{d['id']}, or propose one back, to become allies.")
    if k == "pact_formed" and name in (d.get("a"), d.get("b")):
        other = d["b"] if d.get("a") == name else d["a"]
        return f"You and {other} made a pact: you are allies, first in line for each other's offers."
    if k == "pact_broken" and name in (d.get("creature"), d.get("ally")):
        default = d.get("why") == "default"
        if d["creature"] == name:
            return (f"Your default on {d['ally']}'s loan broke your pact with {d['ally']}." if default
                    else f"You broke your pact with {d['ally']}, in public.")
        return (f"{d['creature']} defaulted on your loan: your pact with {d['creature']} is over." if default
                else f"{d['creature']} broke its pact with you, in public.")
    if k == "whisper":
        if d.get("from") == name:
            what = f"passed on your tip #{d['tip']}" if d.get("tip") else "whispered"
            return f'You {what} to {d["to"]} (only {d["to"]} reads it): "{d["text"]}".'
        if d.get("to") == name:  # a tip passed on arrives as words only: never said to be a tip
            return f'{d["from"]} whispered to you: "{d["text"]}".'
    return None


def _ending(state: State, name: str, r: int, goods: Goods) -> list[str]:
    """`name`'s offers whose last round this was: they go unfilled."""
    ending = [o for o in state.offers.values() if o.owner == name and o.expires <= r]
    loans = [lo for lo in state.loan_offers.values() if lo.lender == name and lo.expires <= r]
    out = [f"Your offer #{o.id} to {o.side} {units(o.qty, o.good, goods)} at {o.price} expired with {o.qty} not taken."
           for o in sorted(ending, key=lambda o: o.id)[:MAX_EXPIRING]]
    out += [f"Your loan offer #{lo.id} of {counted(lo.amount, 'coin')} expired: no one took it."
            for lo in sorted(loans, key=lambda lo: lo.id)[:MAX_EXPIRING]]
    more = len(ending) + len(loans) - len(out)
    if more > 0:
        out.append(f"{more} more of your offers expired.")
    return out


def _meal_line(d: dict, goods: Goods, now: int | None) -> str:
    delta = d.get("mood", 0)
    mood = "mood unchanged" if not delta else f"mood {delta:+d}"
    if now is not None:
        mood += f" (now {now})"
    parts = []
    if d.get("ate"):
        parts.append(f"ate {units_list(d['ate'], goods)}")
    if d.get("missed"):
        parts.append(f"went without {units_list(d['missed'], goods)}")
    if not d.get("ate") and not d.get("missed"):
        parts.append("needed nothing")
    if d.get("rotted"):
        parts.append(f"{units_list(d['rotted'], goods)} rotted in your store")
    return f"{mood[0].upper()}{mood[1:]}: {'; '.join(parts)}."


# ---- how others feel about a trader -----------------------------------------------
def regard_line(other: str, value: int) -> str:
    """How `other` feels about you, bucketed as `memory.relation_line` buckets
    your own feelings (never the number)."""
    verb, adv = memory.bucket(value)
    first, _, rest = verb.partition(" ")
    return " ".join(x for x in (other, first + "s", rest, "you", adv) if x)


def regard(state: State, name: str, limit: int = 4) -> list[str]:
    """The strongest feelings others hold about `name` (neutral ones left
    out), strongest first: one bucketed line each."""
    felt = [(other, row[name]) for other, row in state.relations.items()
            if other != name and row.get(name, 0) and (row[name] >= 20 or row[name] <= -20)]
    felt.sort(key=lambda kv: (-abs(kv[1]), kv[0]))
    return [regard_line(other, v) for other, v in felt[:limit]]


def move_line(recap: Sequence[str]) -> str | None:
    """The recap's first line when it is about the trader's own move (a
    refusal or a lost race): what the form shows under itself next turn."""
    if recap and recap[0].startswith("Your ") and (" was refused: " in recap[0] or " lost a race" in recap[0]):
        return recap[0]
    return None
