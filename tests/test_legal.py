"""Legal moves by construction: whatever the per-turn schema admits, the engine accepts.

Scripted games are played; at each turn the schema is built from the view
the creature saw, actions are sampled from it, and each is checked with the
engine's own handler on the state that view was built from. The one refusal
allowed is `offer_unfunded` (the owner of an offer can no longer honour it,
which no view can know)."""
from __future__ import annotations

import asyncio
import json
import random

import pytest

from engine.actions import Action, Reason
from engine.brains.scripted import scripted_brains
from engine.legal import legal_schema
from engine.moves import market_moves
from engine.rules import check_action
from engine.runner import Observer, Runner
from engine.state import initial_state
from engine.world import build_roster

ALLOWED = {Reason.OFFER_UNFUNDED}


def sample(schema: dict, rnd: random.Random, names: list[str]):
    """One value the schema admits (the subset of JSON schema `legal_schema` uses)."""
    if "anyOf" in schema:
        return sample(rnd.choice(schema["anyOf"]), rnd, names)
    if "enum" in schema:
        return rnd.choice(schema["enum"])
    if schema["type"] == "object":
        out = {}
        for k, sub in schema["properties"].items():
            if k in schema.get("required", ()) or rnd.random() < 0.3:
                out[k] = sample(sub, rnd, names)
        return out
    if schema["type"] == "string":  # a free name (a large roster, nobody in view): the sampler picks a real one
        return rnd.choice(names) if names else "x" * rnd.randint(schema.get("minLength", 0), schema.get("maxLength", 8))
    raise AssertionError(f"unexpected schema {schema}")


def admits(schema: dict, value) -> bool:
    if "anyOf" in schema:
        return any(admits(s, value) for s in schema["anyOf"])
    if "enum" in schema:
        return value in schema["enum"]
    if schema["type"] == "object":
        props = schema["properties"]
        return (isinstance(value, dict) and set(schema.get("required", ())) <= set(value) <= set(props)
                and all(admits(props[k], v) for k, v in value.items()))
    if schema["type"] == "string":
        return isinstance(value, str) and schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", 10**9)
    return False


class Turns(Observer):
    """Keeps each round's opened state, and the views the brains were given."""

    def __init__(self):
        self.state = None
        self.seen = []

    def round_opened(self, round_no, state, events):
        self.state = state


class Spy:
    def __init__(self, inner, turns: Turns):
        self.inner, self.turns = inner, turns

    async def decide(self, view):
        self.turns.seen.append((self.turns.state, view))
        return await self.inner.decide(view)


def turns_of(world, seed: int, rounds: int, n: int | None = None) -> tuple[list, list[str]]:
    roster = build_roster(world, n)
    turns = Turns()
    brains = {k: Spy(b, turns) for k, b in scripted_brains(roster, seed).items()}
    runner = Runner(world, initial_state(world, seed, roster), brains, observer=turns)

    async def go():
        for _ in range(rounds):
            await runner.play_round()

    asyncio.run(go())
    return turns.seen, [r.name for r in roster]


def check_turn(world, state, view, names, rnd, k):
    schema = legal_schema(view, world.good_names, tuple(names))
    others = [x for x in names if x != view.name]
    kinds = set()
    for _ in range(k):
        raw = sample(schema, rnd, others)
        a = Action.model_validate(raw)  # the wire shape accepts it ...
        kinds.add(a.action)
        res = check_action(state, world, view.name, a)  # ... and so does the engine
        assert res is None or res[0] in ALLOWED, (view.name, view.round, raw, res)
    # the moves the prompt suggests are moves the grammar admits
    for m in market_moves(view):
        for a in (m.offer, m.take):
            if a is not None:
                assert admits(schema, a.compact()), (view.name, view.round, a.compact())
    assert admits(schema, {"action": "pass"})
    return schema, kinds


@pytest.mark.parametrize("seed", [7, 11])
def test_everything_the_schema_admits_the_engine_accepts(world, seed):
    seen, names = turns_of(world, seed, rounds=12)
    rnd = random.Random(seed)
    kinds = set()
    for state, view in seen:
        _, got = check_turn(world, state, view, names, rnd, 50)
        kinds |= got
    # the sampler reached every kind (break needs a pact, which these rounds may not have)
    assert kinds - {"break"} == {"offer", "accept", "lend", "gift", "short", "ally", "whisper", "pass"}


def test_a_large_wood_stays_legal_and_small(world):
    seen, names = turns_of(world, 5, rounds=2, n=1000)
    rnd = random.Random(5)
    for state, view in rnd.sample(seen, 15):
        schema, _ = check_turn(world, state, view, names, rnd, 10)
        assert len(json.dumps(schema)) < 8000  # the names listed in view, in gift, ally and whisper
        gift = [b for b in schema["anyOf"] if b["properties"]["action"]["enum"] == ["gift"]]
        assert all("enum" in b["properties"]["to"] or "maxLength" in b["properties"]["to"] for b in gift)


def test_the_schema_is_small_for_five(world):
    seen, names = turns_of(world, 7, rounds=6)
    sizes = [len(json.dumps(legal_schema(v, world.good_names, tuple(names)))) for _, v in seen]
    assert max(sizes) < 7100  # ~7,000 before whisper text took a minLength


def test_nothing_legal_leaves_pass_alone(world):
    seen, names = turns_of(world, 7, rounds=1)
    _, view = seen[0]
    from dataclasses import replace
    broke = replace(view, coins=0, goods=tuple((g, 0) for g, _ in view.goods), book=(), loan_offers=())
    schema = legal_schema(broke, world.good_names, ())
    assert [b["properties"]["action"]["enum"] for b in schema["anyOf"]] == [["pass"]]


def bids_admitted(schema: dict) -> set[str]:
    return {b["properties"]["good"]["enum"][0] for b in schema["anyOf"]
            if b["properties"]["action"]["enum"] == ["offer"] and b["properties"]["side"]["enum"] == ["buy"]}


def test_no_bid_for_a_good_held_beyond_what_keeps(world):
    """A trader holding its pantry plus this round's need of a good may not bid
    for more (it would only rot); one unit fewer and it may. SmolLM2 spent up
    to 8 turns of 20 bidding for the good it makes."""
    from dataclasses import replace
    seen, names = turns_of(world, 7, rounds=3)
    _, view = seen[-1]
    rich = replace(view, coins=500)
    for g in world.good_names:
        keeps = rich.pantry + rich.need(g)
        full = replace(rich, goods=tuple((x, keeps if x == g else 0) for x, _ in rich.goods))
        short = replace(rich, goods=tuple((x, keeps - 1 if x == g else 0) for x, _ in rich.goods))
        assert g not in bids_admitted(legal_schema(full, world.good_names, tuple(names)))
        assert g in bids_admitted(legal_schema(short, world.good_names, tuple(names)))


def test_what_its_own_standing_offers_may_take_is_not_spent_twice(world):
    """A standing offer can fill earlier in the round than its owner's turn, so
    the schema's own coins and quantities leave out what the trader's standing
    bids may cost and its standing asks may deliver (the suggested moves stay
    admitted as they are)."""
    from dataclasses import replace

    from engine.views import OfferView

    seen, names = turns_of(world, 7, rounds=3)
    _, view = seen[-1]
    base = replace(view, coins=100, book=(), loan_offers=(), my_offers=(),
                   goods=tuple((g, 20 if g == "honey" else 0) for g, _ in view.goods))
    bid = OfferView(9001, view.name, "buy", "timber", 9, 10, view.round + 3)  # 90 of its 100 coins
    ask = OfferView(9002, view.name, "sell", "honey", 15, 9, view.round + 3)  # 15 of its 20 honey
    committed = replace(base, my_offers=(bid, ask))
    suggested = {(m.offer.side, m.offer.good, m.offer.qty, m.offer.price) for m in market_moves(committed)}

    def most(schema, side, good=None):
        out = 0
        for b in schema["anyOf"]:
            p = b["properties"]
            if p["action"]["enum"] == ["offer"] and p["side"]["enum"] == [side] and good in (None, *p["good"]["enum"]):
                qs = [q for q in p["qty"]["enum"] if not any(s[0] == side and s[2] == q for s in suggested)]
                out = max(out, max(qs, default=0) * (min(p["price"]["enum"]) if side == "buy" else 1))
        return out

    free = legal_schema(base, world.good_names, tuple(names))
    tied = legal_schema(committed, world.good_names, tuple(names))
    assert most(free, "buy") > 10 and most(tied, "buy") <= 10
    assert most(free, "sell", "honey") == 20 and most(tied, "sell", "honey") == 5
