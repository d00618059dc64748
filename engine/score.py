"""The game's goal: net worth, with mood beside it, and the standings.

Net worth = coins + goods at their going price (the wood's moving average of
trade prices, the customary base price before any trade; never more than
twice the base price), counted up to the pantry (the units of each good kept
without spoilage: the rest is rotting, and a pile of it wins nothing) +
loans made - debts (loans taken, and a squeeze owed to the wood) + open
shorts (the collateral held, less the owed units at the going price).

A loan counts its sum lent until it falls due, then what is owed (interest
is earned by waiting out the term, not by writing a steep rate); a loan in
default counts for its lender no more than its borrower holds, while the
borrower owes all of it. One trade at a silly price moves the score only so
far: the moving average takes in a round's mean trade price by a share (in
a round with no other trade in the good, a wash still moves it 40% of the
way), and the cap bounds it at twice the base price (the last trade's
price, once the measure, let a one-unit wash re-mark every holder's stores
at any price).

Standings are public (the design's "Score"): every trader, the UI and the
end of `wood sim`/`wood replay` read the same numbers from here, and they
rank by worth, then mood, then name, so a tie is always broken the same way.
"""
from __future__ import annotations

from dataclasses import dataclass

from .sanitise import cells, clean_text, pad_cells
from .state import State
from .world import NAME_MAX, World


@dataclass(frozen=True)
class Standing:
    rank: int
    name: str
    species: str
    coins: int
    goods_value: int  # goods held (up to the pantry of each), at their going price
    credit: int       # loans it made: the sum lent until due, then what is owed (in default: what the borrower holds)
    debt: int         # loans it took (the sum borrowed until due, then all it owes) and what it owes the wood
    worth: int        # coins + goods_value + credit - debt + shorts
    mood: int
    shorts: int = 0   # its open shorts: collateral held less the owed units at their going price


def worth_rule(world: World | None) -> str:
    """The score in words, wherever it is explained (standings, the final screen,
    the introduction, help): every term `standings` adds up. How a loan counts
    is told where loans are (the help's LOANS, the README)."""
    pantry = f", up to {world.economy['pantry']} of each" if world is not None else ""
    return (f"coins + goods at their going price (at most twice the usual){pantry} + loans made - debts (loans "
            "taken, and what is owed to the wood) + open shorts (collateral less the units owed)")


PRICE_CAP = 2  # a good counts at most this many times its base price


def going_price(base: int, avg: float | None) -> int:
    """What a unit of a good counts for in net worth: its going price (`avg`,
    the moving average of trade prices, in whole coins down; `base`, the
    usual price, before any trade), at least 1 and at most PRICE_CAP times
    the usual price. (A view's quote carries both: a seat's panel shows it.)"""
    going = int(avg) if avg is not None else base
    return min(PRICE_CAP * base, max(1, going))


def prices(state: State, world: World) -> dict[str, int]:
    """What a unit of each good counts for in net worth (`going_price`)."""
    out = {}
    for g, good in world.goods.items():
        q = state.quotes.get(g)
        out[g] = going_price(good.base_price, q.avg100 / 100 if q is not None and q.avg100 is not None else None)
    return out


def standings(state: State, world: World) -> list[Standing]:
    """Every creature, best first."""
    price = prices(state, world)
    keep = int(world.economy["pantry"])
    credit: dict[str, int] = {}
    debt: dict[str, int] = {}
    shorts: dict[str, int] = {}
    purse = {n: c.coins for n, c in state.creatures.items()}  # what each defaulter could still pay its lenders
    for ln in sorted(state.loans.values(), key=lambda ln: ln.id):
        owes = ln.owed if ln.defaulted or ln.due <= state.round else min(ln.principal, ln.owed)
        debt[ln.borrower] = debt.get(ln.borrower, 0) + owes
        if ln.defaulted:
            owes = min(owes, purse.get(ln.borrower, 0))
            purse[ln.borrower] = purse.get(ln.borrower, 0) - owes
        credit[ln.lender] = credit.get(ln.lender, 0) + owes
    for n, owed in state.wood_debts.items():  # a short it could not cover
        debt[n] = debt.get(n, 0) + owed
    for x in state.shorts.values():
        shorts[x.owner] = shorts.get(x.owner, 0) + x.collateral - x.owed * price.get(x.good, 0)
    rows = []
    for c in state.creatures.values():
        goods = sum(min(q, keep) * price.get(g, 0) for g, q in c.goods.items())
        cr, db, sh = credit.get(c.name, 0), debt.get(c.name, 0), shorts.get(c.name, 0)
        rows.append((c, goods, cr, db, sh, c.coins + goods + cr - db + sh))
    rows.sort(key=lambda r: (-r[5], -r[0].mood, r[0].name))
    return [Standing(i, c.name, c.species, c.coins, goods, cr, db, worth, c.mood, sh)
            for i, (c, goods, cr, db, sh, worth) in enumerate(rows, 1)]


def worths(state: State, world: World) -> dict[str, int]:
    """Each creature's net worth, by name."""
    return {r.name: r.worth for r in standings(state, world)}


def standings_lines(state: State, world: World, limit: int | None = 10) -> list[str]:
    """The standings as plain text lines (the end of `wood sim` and `wood replay`):
    a header, then one line per creature, at most `limit` (None: all)."""
    rows = standings(state, world)
    shown = rows if limit is None else rows[:limit]
    # a save's roster may hold any name (one made by hand: escapes, bidi marks, a megabyte of it): inert and cut,
    # as every screen shows it, else it reached the terminal and padded every line to its length
    names = [clean_text(r.name, NAME_MAX) for r in shown]
    w = max([cells(n) for n in names] + [8])
    out = [f"standings after round {state.round} (net worth = {worth_rule(world)}):"]
    for r, name in zip(shown, names):
        out.append(f"  {r.rank:>3}. {pad_cells(name, w)}  worth {r.worth:>6}  coins {r.coins:>5}  goods {r.goods_value:>5}"
                   f"  credit {r.credit:>4}  debt {r.debt:>4}  shorts {r.shorts:>4}  mood {r.mood:>3}")
    if len(rows) > len(shown):
        out.append(f"  ... and {len(rows) - len(shown)} more")
    return out
