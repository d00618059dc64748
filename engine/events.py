"""Events: what happened, as the engine reports it to the ledger and the UI.

An `Event` is public (anyone may see it) or private to the creatures in
`who` (a tip reaching its recipients). Hidden facts never sit in a private
event either: a tip's truth appears only in its public `tip_resolved` event.
`headline` is the one rendering of an event into the public record.
Units of a good are worded by the world in play: the renderings take its
`goods` (`World.goods`) from their caller, as every text that counts units does.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .actions import reason_words
from .world import COIN, COINS, Good

Goods = Mapping[str, Good]  # a world's goods by name (`World.goods`): the words for one unit of each


@dataclass(frozen=True)
class Event:
    kind: str
    round: int
    data: dict = field(default_factory=dict)
    public: bool = True
    who: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"kind": self.kind, "round": self.round, "data": self.data, "public": self.public, "who": list(self.who)}

    @classmethod
    def from_dict(cls, d: dict) -> "Event":
        return cls(d["kind"], d["round"], d.get("data", {}), d.get("public", True), tuple(d.get("who", ())))

    def visible_to(self, name: str | None) -> bool:
        """Spectators (name None) see public events only."""
        return self.public or (name is not None and name in self.who)


# Kinds that make the public record (the headlines a trader reads next round).
# Repayments are the market's routine (the log has them); a default and the
# end of its debt are news.
HEADLINE_KINDS = ("shock_started", "tip_resolved", "fine", "cleared", "granary", "default", "debt_cleared",
                  "short_closed", "pact_formed", "pact_broken", "say")


def headline(e: Event, goods: Goods) -> str | None:
    d = e.data
    k = e.kind
    if k == "shock_started":
        return d["headline"]
    if k == "tip_resolved":
        verdict = "came true" if d["truth"] else "was planted: nothing happened"
        return f'The tip "{d["text"]}" {verdict}'
    if k == "fine":
        return (f"Magistrate fined {d['creature']} {counted(d['amount'], 'coin')} for profiting {d.get('profit', '?')} "
                f"on {d['good']} from a tip")
    if k == "cleared":
        return f"Magistrate looked into {d['creature']}'s {d['good']} trades on a tip and cleared them"
    if k == "granary":
        bought = units_list(d["bought"], goods)
        return f"The granary spent {counted(d['spent'], 'coin')} of fines on {bought} for {', '.join(d['fed'])}"
    if k == "default":
        return f"{d['borrower']} defaulted on {d['lender']}'s loan and still owes {counted(d['short'], 'coin')}"
    if k == "debt_cleared":
        return f"{d['borrower']} has paid off the debt to {d['lender']}"
    if k == "loan_repaid":
        return f"{d['borrower']} repaid {counted(d['paid'], 'coin')} to {d['lender']}"
    if k == "short_closed":
        return f"{d['owner']}'s short of {units(d['qty'], d['good'], goods)} closed: {_short_outcome(d)}"
    if k == "pact_formed":
        return f"{d['a']} and {d['b']} made a pact"
    if k == "pact_broken":
        how = "defaulted on a loan from" if d["why"] == "default" else "broke the pact with"
        return f"{d['creature']} {how} ally {d['ally']}: the pact is over"
    if k == "say":
        return f'{d["creature"]} says: "{d["text"]}"'
    return None


def counted(n: int, noun: str, spec: str = "d") -> str:
    """`1 coin`, `3 coins`, `-1 coin`: `n` formatted by `spec`, its noun plural unless it is one."""
    return f"{n:{spec}} {_noun(n, noun)}"


def _noun(n: int, noun: str) -> str:
    """`noun` for `n` of it: as it is for one (or minus one), else plural."""
    return noun if abs(n) == 1 else noun + "s"


def a_kind(species: str) -> str:
    """A species with its article, as the prompt and the introduction name a creature's kind: `an owl`, `a fox`."""
    return f"{'an' if species[:1] in 'aeiou' else 'a'} {species}"


def units(n: int, good: str, goods: Goods) -> str:
    """`1 acorn`, `2 acorns`, `1 honey`: `n` units of a good of `goods` (`unit_word`)."""
    return f"{n} {unit_word(n, good, goods)}"


def unit_word(n: int, good: str, goods: Goods) -> str:
    """The word for `n` units of a good: its name (a good is named by its
    plural), or for one unit its `one` in `goods`, the goods of the world in
    play (`World.goods`, as its goods.toml has them). Coins too (a gift of
    them): `coin`. A name that is no good of it (a refused move's) stays as it is."""
    if good == COINS:
        return _noun(n, COIN)
    if n not in (1, -1):  # a refused move's `?` too
        return good
    g = goods.get(good) if isinstance(good, str) else None
    return g.one if g is not None else good


def units_list(items, goods: Goods) -> str:
    """`2 acorns, 1 berry`: (good, units) pairs, or a dict of them, in words (`units`)."""
    pairs = items.items() if isinstance(items, dict) else items
    return ", ".join(units(q, g, goods) for g, q in pairs)


def _short_outcome(d: dict) -> str:
    parts = []
    if d["delivered"]:
        parts.append(f"{d['delivered']} returned from stores")
    if d["bought"]:
        parts.append(f"{d['bought']} bought in for {d['cost']}")
    if d["squeezed"]:
        parts.append(f"{d['squeezed']} squeezed for {d['squeeze_cost']}"
                     + (f" ({d['unpaid']} unpaid: owed to the wood, a default)" if d["unpaid"] else ""))
    result = f"profit {d['profit']}" if d["profit"] >= 0 else f"loss {-d['profit']}"
    return ", ".join(parts) + f"; {result}"


def describe(e: Event, goods: Goods) -> str:
    """A one-line description of any public event, for logs and the UI; units worded by `goods`."""
    h = headline(e, goods)
    if h:
        return h
    d = e.data
    k = e.kind
    if k == "trade":
        return f"{d['seller']} sold {units(d['qty'], d['good'], goods)} to {d['buyer']} at {d['price']}"
    if k == "offer_placed":
        return f"{d['owner']} offers to {d['side']} {units(d['qty'], d['good'], goods)} at {d['price']} (#{d['id']})"
    if k == "loan_offered":
        to = f" to {d['to']}" if d.get("to") else ""
        return f"{d['lender']} offers a loan of {d['amount']}{to} at {d['rate']}% for {counted(d['rounds'], 'round')} (#{d['id']})"
    if k == "loan_taken":
        return f"{d['borrower']} borrowed {d['amount']} from {d['lender']}, owes {d['owed']} in round {d['due']}"
    if k == "accept_fallback":
        took = f"filled {d['filled']} from other offers" if d["filled"] else "found no other offer"
        rest = f", {d['rested']} stand as a new offer" if d["rested"] else ""
        return f"{d['creature']} came too late for #{d['id']} ({d['side']} {d['good']} at {d['price']}): {took}{rest}"
    if k == "debt_paid":
        return f"{d['borrower']} paid {d['paid']} toward the debt to {d['lender']} ({d['owed']} still owed)"
    if k == "wood_debt_paid":
        return (f"{d['creature']} paid {d['paid']} toward its debt to the wood"
                + (f" ({d['owed']} still owed)" if d["owed"] else ": paid off"))
    if k == "gift":
        return f"{d['giver']} gave {units(d['qty'], d['item'], goods)} to {d['receiver']}"
    if k == "rejected":
        return f"{d['creature']}'s {d['action']} was refused: {reason_words(d['reason'])}"
    if k == "pass":
        return f"{d['creature']} passed"
    if k == "shock_ended":
        return f"The {d['shock']} on {d['good']} is over"
    if k == "short_opened":
        return (f"{d['owner']} shorted {units(d['qty'], d['good'], goods)} for {counted(d['proceeds'], 'coin')}, "
                f"{d['collateral']} held as collateral, due round {d['due']} (#{d['id']})")
    if k == "pact_proposed":
        again = " again" if d.get("renewed") else ""
        return f"{d['proposer']} proposes a pact to {d['to']}{again} (#{d['id']})"
    if k == "whisper":
        return f'{d["from"]} whispered to {d["to"]}: "{d["text"]}"'
    if k == "meal":
        ate = units_list(d["ate"], goods) or "nothing"
        lacked = f"; lacked {units_list(d['missed'], goods)}" if d["missed"] else ""
        return f"{d['creature']} ate {ate}{lacked}; mood {d['mood']:+d}"
    if k == "tip_issued":
        return f"A tip reached {', '.join(e.who)}: {d['text']}"
    return f"{k}: {d}"
