"""Groves: how a species' harvest is shared among the creatures of that species.

Every creature has a grove, and some groves are better than others. For
`grove_rounds` rounds at a time (a "grove term") each creature draws a luck
factor, lognormal with a spread of `grove_luck_pct`% (`luck`). A species'
usual harvest of each good is shared among its creatures by their luck,
each keeping at least one unit of every good its kind makes (`yields`); the
species' total is never changed, so the wood still makes what it eats. A
creature alone of its species keeps its kind's whole harvest whatever its
luck. Each round a creature makes its grove's yield, moved by the weather
and by its own mood (`harvests`).

This is the wood's source of lasting inequality among equals: two owls
trading alike drift apart when one has the better stand of trees for a
few years. The market then decides what each makes of it.

A creature knows its own grove: its view's `produces` is its grove's yield
this term. The luck itself is drawn from the run's seed,
never stored, and never shown. Another creature's yield is not shown
either, but it is not one of the hidden facts the firewall keeps (tips'
truths, private tips, holdings): a species' usual harvest is public, so
one of exactly two of a kind can work out its kin's share by subtracting
its own.
"""
from __future__ import annotations

import random
from functools import lru_cache
from typing import TYPE_CHECKING

from .events import units
from .state import State
from .world import World

if TYPE_CHECKING:
    from .views import PublicView

PERMILLE = 1000


def term(world: World, round_no: int) -> int:
    """The grove term `round_no` falls in (rounds 1..grove_rounds are term 0)."""
    return max(0, round_no - 1) // max(1, int(world.economy["grove_rounds"]))


@lru_cache(maxsize=16_384)
def luck(seed: int, term_no: int, name: str, spread_pct: int) -> int:
    """A creature's grove for one term, in thousandths (1000: an average grove)."""
    if spread_pct <= 0:
        return PERMILLE
    sd = spread_pct / 100
    draw = random.Random(f"{seed}/{term_no}/grove/{name}").lognormvariate(-sd * sd / 2, sd)
    return max(1, round(draw * PERMILLE))


def _kin(state: State) -> dict[str, list[str]]:
    """Creatures by species, in name order (the order a share's rounding follows)."""
    by: dict[str, list[str]] = {}
    for n in sorted(state.creatures):
        by.setdefault(state.creatures[n].species, []).append(n)
    return by


def share(total: int, weights: dict[str, int]) -> dict[str, int]:
    """`total` units shared in proportion to `weights`, in whole units: each
    gets the floor of its share, and the units left over go to the largest
    remainders (ties by name). Exact integer arithmetic, so a replay agrees."""
    weight = sum(weights.values())
    if weight <= 0:
        return {n: 0 for n in weights}
    got = {n: total * w // weight for n, w in weights.items()}
    left = total - sum(got.values())
    for n in sorted(weights, key=lambda n: (-(total * weights[n] % weight), n))[:left]:
        got[n] += 1
    return got


Pairs = tuple[tuple[str, int], ...]
_PAIRS: dict[Pairs, Pairs] = {}  # one object per distinct make: views' text is worked out once per object
PAIRS_MAX = 4096


def _one(pairs: Pairs) -> Pairs:
    if len(_PAIRS) > PAIRS_MAX:
        _PAIRS.clear()
    return _PAIRS.setdefault(pairs, pairs)


_YIELDS: list = [None, None, None]  # (world, key, yields) of the last term asked: they hold for the whole term


def yields(state: State, world: World, round_no: int | None = None) -> dict[str, Pairs]:
    """What each creature's grove makes a round in the term of `round_no`
    (default: the state's round), before weather and mood, sorted by good: its
    `produces`. Of each good its kind makes, a creature's grove makes at least
    one (so no grove leaves it a market more to buy in); the rest of the
    species' usual harvest of it is shared by luck (`share`). Worked out once
    a term for a wood (the round's harvest and its views ask each round); the
    dict returned is shared, never to be changed."""
    t = term(world, state.round if round_no is None else round_no)
    key = (state.seed, t, tuple((n, c.species) for n, c in state.creatures.items()))
    if _YIELDS[0] is world and _YIELDS[1] == key:
        return _YIELDS[2]
    spread = int(world.economy["grove_luck_pct"])
    out: dict[str, Pairs] = {}
    for sp, names in _kin(state).items():
        usual = sorted(world.species[sp].produces.items())
        if len(names) < 2:
            for n in names:
                out[n] = _one(tuple(usual))
            continue
        lucks = {n: luck(state.seed, t, n, spread) for n in names}
        floor = {g: min(q, 1) for g, q in usual}
        per = {g: share((q - floor[g]) * len(names), lucks) for g, q in usual}
        for n in names:
            out[n] = _one(tuple((g, floor[g] + per[g][n]) for g, _ in usual))
    _YIELDS[:] = [world, key, out]
    return out


def harvests(state: State, world: World) -> dict[str, dict[str, int]]:
    """This round's harvest per creature: what its grove makes (`yields`),
    moved by the weather (a shock's percent, rounded down), and one fewer of
    its kind's main good (the one it makes most of; ties to the first by name)
    while its mood is below `low_mood`."""
    pct = {sh.good: sh.pct for sh in state.shocks}
    out: dict[str, dict[str, int]] = {}
    for name, pairs in yields(state, world).items():
        c = state.creatures[name]
        made = {g: max(0, q * (100 + pct.get(g, 0)) // 100) for g, q in pairs}
        if (main := mood_cut(world, c.species, c.mood)) is not None:
            made[main] = max(0, made[main] - 1)
        out[name] = made
    return out


def mood_cut(world: World, species: str, mood: int) -> str | None:
    """The good a creature of `species` makes one fewer of at `mood`: its
    kind's main good (the one it makes most of; ties to the first by name)
    while its mood is below `low_mood`; None at or above it."""
    if mood >= int(world.economy["low_mood"]):
        return None
    usual = world.species[species].produces
    return max(sorted(usual), key=lambda g: usual[g])


def made_at_mood(produces: Pairs, cut: str | None) -> Pairs:
    """What a grove making `produces` (a view's, at any mood) makes a round
    with one fewer of `cut` (`mood_cut`'s good; None: none fewer), before the
    weather."""
    return produces if cut is None else tuple((g, max(0, q - 1) if g == cut else q) for g, q in produces)


def next_cut(world: World, species: str, mood: int, meal: bool = True) -> tuple[str, bool] | None:
    """The good the next harvest may make one fewer of (`mood_cut`), as far
    as it is known now. A round's harvest opens it (`rules.open_round`) and
    reads the mood the last meal left, so the harvest already made read the
    mood a view shows; `meal`: this round's meal is still to come (a view of
    a round in play), moving the mood first by +mood_fed (every need met)
    down to -mood_hungry (nothing eaten), as the round's trades (others'
    moves among them) decide. (good, sure): sure when even a full meal
    leaves the mood below low_mood (or no meal comes first); None when even
    an empty one leaves it at or above."""
    low = high = mood
    if meal:
        low = max(0, mood - int(world.economy["mood_hungry"]))
        high = min(100, mood + int(world.economy["mood_fed"]))
    good = mood_cut(world, species, low)
    return None if good is None else (good, mood_cut(world, species, high) is not None)


def harvest_left(view: PublicView) -> bool:
    """Whether a harvest is still to come after `view`'s round: a round's
    harvest opens it, and none comes after the last round."""
    return view.rounds_left() != 0


def next_yield(state: State, world: World, name: str) -> Pairs:
    """What `name`'s grove makes at the next harvest (round `state.round` + 1),
    before the weather and its mood: its `yields` in that round's term, a new
    one when that round starts a term."""
    return yields(state, world, state.round + 1)[name]


def next_make(world: World, view: PublicView, meal: bool = True, produces: Pairs | None = None) -> tuple[Pairs, str]:
    """What the seat's panel and the model's prompt say `view`'s grove makes a
    round, before the weather, and a note on the next harvest's mood cut
    ("" if none can come): (pairs, note). One fewer is counted in only when
    it is sure (`next_cut`); a cut that hangs on this round's meal is said
    with its condition, and none is said once no harvest is to come
    (`harvest_left`). `meal`: as `next_cut`'s; `produces`: the grove's make
    at the next harvest where it is known (`next_yield`), else the view's."""
    produces = view.produces if produces is None else produces
    cut = next_cut(world, view.species, view.mood, meal) if harvest_left(view) else None
    if cut is None:
        return produces, ""
    (good, sure), low = cut, world.economy["low_mood"]
    one = units(1, good, world.goods)
    if not sure:
        return produces, f"{one} fewer next round if your mood ends this round under {low}"
    return (made_at_mood(produces, good),
            f"mood under {low}{' even after a full meal' if meal else ''}: {one} fewer next round")
