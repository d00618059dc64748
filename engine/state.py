"""The state of the wood: plain data, copied (never shared) between rounds.

Everything here is serialisable to canonical JSON (`to_dict`/`from_dict`),
which is what the ledger snapshots and what `state_hash` digests. Hidden
facts live here too (a tip's `truth`); the only door from here to a brain is
`views.public_view`, whose types have no field for them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from .world import RosterEntry, World, build_roster

MAX_ROUNDS = 1_000_000  # a run's longest (--rounds' bound): no save is played, or planned, past it
SEED_LIMIT = 2**63  # a run's seed fits a signed 64-bit integer: -SEED_LIMIT <= seed < SEED_LIMIT
SEEDS = f"{-SEED_LIMIT:,} to {SEED_LIMIT - 1:,} (a signed 64-bit whole number)"  # said where a seed is refused


@dataclass
class Creature:
    name: str
    species: str
    temperament: str
    model: str
    coins: int
    goods: dict[str, int]
    mood: int

    def copy(self) -> "Creature":
        return Creature(self.name, self.species, self.temperament, self.model, self.coins, dict(self.goods), self.mood)


@dataclass
class Offer:
    """A standing market offer: `owner` will buy or sell up to `qty` at `price` each."""

    id: int
    owner: str
    side: str
    good: str
    qty: int
    price: int
    expires: int  # last round it stands

    def copy(self) -> "Offer":
        return Offer(**self.__dict__)


@dataclass
class LoanOffer:
    """Coins on offer: the taker receives `amount` and owes amount + rate% after `rounds`."""

    id: int
    lender: str
    amount: int
    rate: int
    rounds: int
    expires: int
    to: str | None = None  # None: open to anyone

    def copy(self) -> "LoanOffer":
        return LoanOffer(**self.__dict__)


@dataclass
class Loan:
    """Coins owed. Once `defaulted` (not repaid in full when due) the rest is
    still owed: it falls due again every round until it is paid."""

    id: int
    lender: str
    borrower: str
    principal: int
    owed: int
    due: int  # the round it falls due (next)
    defaulted: bool = False

    def copy(self) -> "Loan":
        return Loan(**self.__dict__)


@dataclass
class Tip:
    """A private tip. `truth` is hidden: it is never part of any PublicView."""

    id: int
    shock: str
    good: str
    text: str
    recipients: list[str]
    truth: bool
    issued: int
    resolves: int
    resolved: bool = False
    # (creature, side, qty, price, counterparty, going) trades of recipients in `good` while live ("": the granary)
    trades: list[list] = field(default_factory=list)

    def copy(self) -> "Tip":
        return Tip(self.id, self.shock, self.good, self.text, list(self.recipients), self.truth,
                   self.issued, self.resolves, self.resolved, [list(t) for t in self.trades])


@dataclass
class Short:
    """An open short: `owner` sold `qty` units of `good` it borrowed from the
    wood's store for `proceeds` coins in all, and owes `owed` units back in
    round `due`. `collateral` coins are held against it until it closes."""

    id: int
    owner: str
    good: str
    qty: int
    owed: int
    proceeds: int
    collateral: int
    due: int

    def copy(self) -> "Short":
        return Short(**self.__dict__)


@dataclass
class PactOffer:
    """A proposed alliance, standing until `expires`: `to` may accept it by id."""

    id: int
    proposer: str
    to: str
    expires: int

    def copy(self) -> "PactOffer":
        return PactOffer(**self.__dict__)


@dataclass
class Whisper:
    """A private line from `sender` to `to`, sent in `round` and shown in the
    recipient's next view. `tip`: the id of a tip passed on (its truth stays
    in the ledger; the whisper carries only the words)."""

    round: int
    sender: str
    to: str
    text: str
    tip: int | None = None

    def copy(self) -> "Whisper":
        return Whisper(**self.__dict__)


@dataclass
class ActiveShock:
    shock: str
    good: str
    pct: int
    until: int  # last round it affects production

    def copy(self) -> "ActiveShock":
        return ActiveShock(**self.__dict__)


@dataclass
class Quote:
    last: int | None = None
    volume: int = 0  # units traded last round
    avg100: int | None = None  # recent trade prices, in hundredths of a coin (a moving average)

    def copy(self) -> "Quote":
        return Quote(self.last, self.volume, self.avg100)


@dataclass
class State:
    seed: int
    round: int
    creatures: dict[str, Creature]
    offers: dict[int, Offer] = field(default_factory=dict)
    loan_offers: dict[int, LoanOffer] = field(default_factory=dict)
    loans: dict[int, Loan] = field(default_factory=dict)
    tips: dict[int, Tip] = field(default_factory=dict)
    shocks: list[ActiveShock] = field(default_factory=list)
    quotes: dict[str, Quote] = field(default_factory=dict)
    # relations[a][b]: how a feels about b, -100..100; sparse (absent = 0)
    relations: dict[str, dict[str, int]] = field(default_factory=dict)
    treasury: int = 0
    next_id: int = 1
    headlines: list[str] = field(default_factory=list)  # last round's public record
    defaults: dict[str, int] = field(default_factory=dict)  # creature -> loans it ever defaulted on (public)
    shorts: dict[int, Short] = field(default_factory=dict)
    pact_offers: dict[int, PactOffer] = field(default_factory=dict)
    pacts: list[list] = field(default_factory=list)  # [a, b, since] with a < b, sorted: public alliances
    whispers: list[Whisper] = field(default_factory=list)  # sent last round, shown in the recipients' next views
    end: int = 0  # the game's last round (0: no fixed end): nothing falls due after it
    wood_debts: dict[str, int] = field(default_factory=dict)  # creature -> coins it owes the wood (a squeeze unpaid)

    # ---- copying -------------------------------------------------------
    def copy(self) -> "State":
        return State(
            self.seed, self.round,
            {k: c.copy() for k, c in self.creatures.items()},
            {k: o.copy() for k, o in self.offers.items()},
            {k: o.copy() for k, o in self.loan_offers.items()},
            {k: o.copy() for k, o in self.loans.items()},
            {k: t.copy() for k, t in self.tips.items()},
            [s.copy() for s in self.shocks],
            {k: q.copy() for k, q in self.quotes.items()},
            {a: dict(row) for a, row in self.relations.items()},
            self.treasury, self.next_id, list(self.headlines), dict(self.defaults),
            {k: o.copy() for k, o in self.shorts.items()},
            {k: o.copy() for k, o in self.pact_offers.items()},
            [list(p) for p in self.pacts],
            [w.copy() for w in self.whispers],
            self.end,
            dict(self.wood_debts),
        )

    def new_id(self) -> int:
        """A public id: offers and loan offers."""
        i = self.next_id
        self.next_id += 1
        return i

    # ---- totals (for the conservation checks) --------------------------
    def total_coins(self) -> int:
        """Coins held, in the treasury and held as collateral for shorts."""
        return (self.treasury + sum(c.coins for c in self.creatures.values())
                + sum(x.collateral for x in self.shorts.values()))

    def shorted(self) -> dict[str, int]:
        """Units of each good owed back to the wood's store by open shorts."""
        out: dict[str, int] = {}
        for x in self.shorts.values():
            out[x.good] = out.get(x.good, 0) + x.owed
        return out

    def allies(self, name: str) -> list[str]:
        """`name`'s allies, in the order the pacts were made."""
        return [b if a == name else a for a, b, _ in self.pacts if name in (a, b)]

    def total_goods(self) -> dict[str, int]:
        tot: dict[str, int] = {}
        for c in self.creatures.values():
            for g, q in c.goods.items():
                tot[g] = tot.get(g, 0) + q
        return tot

    # ---- serialisation -------------------------------------------------
    def to_dict(self) -> dict:
        """A read-only view as plain JSON-able data (shares the state's dicts: do not mutate)."""
        return {
            "seed": self.seed, "round": self.round, "treasury": self.treasury, "next_id": self.next_id,
            "headlines": self.headlines,
            "creatures": [c.__dict__ for c in self.creatures.values()],
            "offers": [o.__dict__ for o in self.offers.values()],
            "loan_offers": [o.__dict__ for o in self.loan_offers.values()],
            "loans": [o.__dict__ for o in self.loans.values()],
            "tips": [t.__dict__ for t in self.tips.values()],
            "shocks": [x.__dict__ for x in self.shocks],
            "quotes": {k: q.__dict__ for k, q in self.quotes.items()},
            "relations": self.relations,
            "defaults": self.defaults,
            "shorts": [x.__dict__ for x in self.shorts.values()],
            "pact_offers": [x.__dict__ for x in self.pact_offers.values()],
            "pacts": self.pacts,
            "whispers": [w.__dict__ for w in self.whispers],
            "end": self.end,
            **({"wood_debts": self.wood_debts} if self.wood_debts else {}),  # absent while no one owes the wood
        }

    @classmethod
    def from_dict(cls, d: dict) -> "State":
        return cls(
            seed=d["seed"], round=d["round"],
            creatures={c["name"]: Creature(**c) for c in d["creatures"]},
            offers={o["id"]: Offer(**o) for o in d["offers"]},
            loan_offers={o["id"]: LoanOffer(**o) for o in d["loan_offers"]},
            loans={o["id"]: Loan(**o) for o in d["loans"]},
            tips={t["id"]: Tip(**t) for t in d["tips"]},
            shocks=[ActiveShock(**s) for s in d["shocks"]],
            quotes={k: Quote(**q) for k, q in d["quotes"].items()},
            relations={a: dict(row) for a, row in d["relations"].items()},
            treasury=d["treasury"], next_id=d["next_id"], headlines=list(d["headlines"]),
            defaults=dict(d.get("defaults", {})),
            shorts={x["id"]: Short(**x) for x in d.get("shorts", [])},
            pact_offers={x["id"]: PactOffer(**x) for x in d.get("pact_offers", [])},
            pacts=[list(p) for p in d.get("pacts", [])],
            whispers=[Whisper(**w) for w in d.get("whispers", [])],
            end=d.get("end", 0),
            wood_debts=dict(d.get("wood_debts", {})),
        )


def canonical_json(d: dict) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def canonical_state(state: State) -> str:
    """The state as canonical JSON: what the ledger snapshots and the hash digests."""
    return canonical_json(state.to_dict())


def digest(blob: str) -> str:
    return hashlib.sha256(blob.encode()).hexdigest()


def state_hash(state: State) -> str:
    return digest(canonical_state(state))


def initial_state(world: World, seed: int, roster: list[RosterEntry] | None = None, end: int = 0) -> State:
    """Round 0: every creature with starting coins, two of each good it needs
    and three of each it makes. `end`: the game's last round (0: none)."""
    roster = roster if roster is not None else build_roster(world)
    names = [r.name for r in roster]
    if len(set(names)) != len(names):
        raise ValueError("creature names must be unique")
    creatures = {}
    for r in roster:
        sp = world.species[r.species]
        goods = {g: 0 for g in world.goods}
        for g in world.needs_of(r.species, 1):
            goods[g] = 2
        for g in sp.produces:
            goods[g] = 3
        goods[world.fuel_good] = max(goods[world.fuel_good], 2)
        creatures[r.name] = Creature(r.name, r.species, r.temperament, r.model,
                                     int(world.economy["start_coins"]), goods, int(world.economy["mood_start"]))
    return State(seed=seed, round=0, creatures=creatures, quotes={g: Quote() for g in world.goods}, end=end)
