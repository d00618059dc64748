"""The checks run after every round. A violation stops the run with an
`InvariantError` naming the invariant and the round."""
from __future__ import annotations

from .errors import WoodError
from .events import Event
from .memory import REL_MAX, REL_MIN
from .rules import Flows
from .state import State
from .world import World


class InvariantError(WoodError):
    def __init__(self, invariant: str, round_no: int, detail: str):
        super().__init__(f"invariant '{invariant}' violated in round {round_no}: {detail}")
        self.invariant = invariant
        self.round = round_no


INVARIANTS = ("coins conserved", "goods conserved", "nothing negative", "no self-trade", "relationships in bounds",
              "pacts well formed")


def check_round(before: State, after: State, flows: list[Flows], events: list[Event],
                world: World | None = None) -> None:
    """Raise `InvariantError` on the first breach. With `world`, each
    creature's allies are also held to the world's `max_allies`."""
    r = after.round
    if before.total_coins() != after.total_coins():
        raise InvariantError("coins conserved", r, f"{before.total_coins()} before, {after.total_coins()} after")
    # goods held less goods owed back by open shorts: a short borrows units into
    # the wood and a close returns them, so only production, eating, rot and
    # shorts settled in coins move this
    tb, ta = before.total_goods(), after.total_goods()
    sb, sa = before.shorted(), after.shorted()
    for g in set(tb) | set(ta) | set(sb) | set(sa):
        expect = tb.get(g, 0) - sb.get(g, 0) + sum(
            f.produced.get(g, 0) - f.consumed.get(g, 0) - f.spoiled.get(g, 0) + f.settled.get(g, 0) for f in flows)
        found = ta.get(g, 0) - sa.get(g, 0)
        if found != expect:
            raise InvariantError("goods conserved", r, f"{g}: expected {expect} held less shorted, found {found}")
    for c in after.creatures.values():
        if c.coins < 0 or any(q < 0 for q in c.goods.values()) or not 0 <= c.mood <= 100:
            raise InvariantError("nothing negative", r, f"{c.name}: coins {c.coins}, goods {c.goods}, mood {c.mood}")
    if after.treasury < 0 or any(o.qty <= 0 for o in after.offers.values()):
        raise InvariantError("nothing negative", r, "treasury or a standing offer below zero")
    if any(x.owed <= 0 or x.collateral < 0 for x in after.shorts.values()):
        raise InvariantError("nothing negative", r, "an open short owes nothing or holds negative collateral")
    for e in events:
        if e.kind == "trade" and e.data["buyer"] == e.data["seller"]:
            raise InvariantError("no self-trade", r, f"{e.data['buyer']} traded with itself")
    pairs = [(a, b) for a, b, _ in after.pacts]
    if len(set(pairs)) != len(pairs) or any(a >= b for a, b in pairs):
        raise InvariantError("pacts well formed", r, f"pacts {pairs}")
    cap = int(world.economy["max_allies"]) if world is not None else None
    allies: dict[str, int] = {}  # name -> pacts it is in (`State.allies`, counted in one pass over the pacts)
    for a, b in pairs:
        allies[a] = allies.get(a, 0) + 1
        allies[b] = allies.get(b, 0) + 1
    for name in after.creatures if cap is not None else ():
        if allies.get(name, 0) > cap:
            raise InvariantError("pacts well formed", r, f"{name} has {allies[name]} allies")
    for a, row in after.relations.items():
        for b, v in row.items():
            if not REL_MIN <= v <= REL_MAX or a == b:
                raise InvariantError("relationships in bounds", r, f"S[{a}][{b}] = {v}")
