"""Brains that use the social moves (short, ally, break, whisper), for the
property, privacy and resume tests.

`SocialBrain` is stateless: every choice is drawn from a random stream seeded
by (seed, round, name), so a resumed run chooses exactly as an uninterrupted
one. It never reads a whisper's words, so changing them cannot change what it
does. A fair share of its proposals are invalid on purpose (unknown goods,
names and ids, huge numbers, itself as the target).

Run as a script (`python -m tests.social_brains SAVE SEED CREATURES ROUNDS DELAY`)
it plays a saving game, sleeping DELAY seconds between rounds: the victim of
the kill -9 test.
"""
from __future__ import annotations

import asyncio
import random
import sys

from engine.actions import Action
from engine.brains import Decision
from engine.invariants import check_round
from engine.prompts import build_messages
from engine.rules import close_round, open_round
from engine.state import initial_state
from engine.views import market_index, public_view
from engine.world import build_roster, load_world

MARK = "zq"  # whisper markers: zq:<sender>:<round>:<recipient>:qz (no word a truth scan looks for)


def marker(sender: str, round_no: int, to: str) -> str:
    return f"{MARK}:{sender}:{round_no}:{to}:qz"


class SocialBrain:
    """mode "mixed": every kind of move, invalid ones included; "whisper":
    a whisper every round (a tip passed on when it holds a live one, about
    half the time; else a marker line)."""

    def __init__(self, names: list[str], seed: int, mode: str = "mixed"):
        self.names = list(names)
        self.seed = seed
        self.mode = mode

    async def decide(self, view) -> Decision:
        return Decision(self.choose(view))

    def choose(self, v) -> Action:
        rng = random.Random(f"{self.seed}/{v.round}/{v.name}/social")
        others = [n for n in self.names if n != v.name] or [v.name]
        if self.mode == "whisper":
            to = rng.choice(others)
            if v.tips and rng.random() < 0.5:
                return Action(action="whisper", to=to, tip=rng.choice(v.tips).id)
            return Action(action="whisper", to=to, text=marker(v.name, v.round, to))
        goods = [q.good for q in v.quotes]
        roll = rng.random()
        if v.pact_offers and roll < 0.3:
            return Action(action="accept", id=rng.choice(v.pact_offers).id)
        if roll < 0.25:  # bid a little above the going price: bids for shorts to sell into
            g = rng.choice(goods)
            return Action(action="offer", side="buy", good=g, qty=rng.randint(1, 3),
                          price=v.quote(g).ref_price + rng.randint(0, 3))
        if roll < 0.35:
            held = [g for g in goods if v.holding(g) > 0] or goods
            g = rng.choice(held)
            return Action(action="offer", side="sell", good=g, qty=rng.randint(1, 2), price=v.quote(g).ref_price)
        if roll < 0.52:  # short into the best bid of another
            bids = [o for o in v.book if o.side == "buy"]
            if bids and rng.random() < 0.85:
                o = rng.choice(bids)
                return Action(action="short", good=o.good, qty=rng.randint(1, 4), price=o.price,
                              rounds=rng.choice([1, 2, 3, None, 12]))
            return Action(action="short", good=rng.choice([*goods, "gold"]), qty=rng.choice([1, 1000]),
                          price=rng.choice([1, 10_000]), rounds=rng.choice([None, 20]))
        if roll < 0.64:
            return Action(action="ally", to=rng.choice([*others, *others, v.name, "Nobody"]))
        if roll < 0.70:
            return Action(action="break", to=rng.choice([*v.allies, *v.allies, *others, "Nobody"]))
        if roll < 0.84:
            to = rng.choice([*others, *others, *others, v.name, "Nobody"])
            if v.tips and rng.random() < 0.5:
                return Action(action="whisper", to=to, tip=rng.choice(v.tips).id)
            if rng.random() < 0.1:
                return Action(action="whisper", to=to, tip=rng.randint(1, 500))  # most likely not one of mine
            if rng.random() < 0.05:
                return Action(action="whisper", to=to)
            return Action(action="whisper", to=to, text=marker(v.name, v.round, to))
        if roll < 0.90:
            return Action(action="lend", amount=rng.randint(5, 40), rate=rng.randint(0, 30), rounds=rng.randint(1, 3),
                          to=rng.choice([None, *others]))
        if roll < 0.95:
            return Action(action="accept", id=rng.randint(1, 400), qty=rng.choice([None, 1, 1000]))
        return Action()


def social_brains(names, seed: int, mode: str = "mixed") -> dict[str, SocialBrain]:
    return {n: SocialBrain(names, seed, mode) for n in names}


def play_social(world, seed: int, rounds: int, n: int = 5, mode: str = "mixed", *, prompts: bool = False,
                edit=None, on_open=None, check: bool = True):
    """Play `rounds` rounds with social brains, checking every round's
    invariants. Returns a list of rounds: dict(round, mid, after, events,
    views {name: view}, prompts {name: text} (when asked), actions).
    `on_open(mid, opening)` may change the opened state (in place) before
    anyone sees it; `edit(round, actions)` may change the round's actions (in
    place) before they apply."""
    roster = build_roster(world, n)
    names = [r.name for r in roster]
    brains = social_brains(names, seed, mode)
    state = initial_state(world, seed, roster)
    out = []

    async def go(state):
        for _ in range(rounds):
            mid, opening, f1 = open_round(state, world)
            if on_open is not None:
                on_open(mid, opening)
            idx = market_index(mid)
            views = {name: public_view(mid, world, name, idx) for name in names}
            texts = {}
            if prompts:
                for r in roster:
                    msgs = build_messages(views[r.name], world, temperament_line=world.temperaments[r.temperament])
                    texts[r.name] = "\n".join(m["content"] for m in msgs)
            actions = {name: (await brains[name].decide(views[name])).action for name in names}
            if edit is not None:
                edit(mid.round, actions)
            after, closing, f2 = close_round(mid, world, actions, opening)
            if check:
                check_round(state, after, [f1, f2], [*opening, *closing], world)
            out.append({"round": mid.round, "mid": mid, "after": after, "events": [*opening, *closing],
                        "views": views, "prompts": texts, "actions": actions})
            state = after
        return state

    asyncio.run(go(state))
    return out


def main(path: str, seed: int, n: int, rounds: int, delay: float) -> None:
    from engine.ledger import Ledger
    from engine.runner import Runner

    world = load_world()
    roster = build_roster(world, n)
    ledger = Ledger.create(path, seed=seed, roster=roster, brains="scripted")
    runner = Runner(world, initial_state(world, seed, roster), social_brains([r.name for r in roster], seed),
                    ledger=ledger)

    async def go():
        while runner.state.round < rounds:
            await runner.play_round()
            await asyncio.sleep(delay)

    asyncio.run(go())


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
