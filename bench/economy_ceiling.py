"""How much a faster market would move the economy's targets: the scripted
wood with K market passes a round instead of one.

    .venv/bin/python bench/economy_ceiling.py [--passes 1,2,3] [--sizes 5,50] [--seeds 1-5] [--rounds 200]

A thought experiment, not the game. In the game every creature makes one
move a round. Here, once every creature's move has been applied, each
trader looks again at the round's updated book and moves again, K-1 more
times. The rest of the round (the granary, prices, meals, rot, the
magistrate) is the engine's own `close_round`. With K=1 nothing is changed
(the script checks that the final state equals the game's). Measures are
`bench/economy.py`'s, from `engine.report.EconomyReport`, fed the rounds as
they are played (its count of actions is the first pass's; rejections are
every pass's). The question it answers: would a target that the wood
misses be met if goods reached their buyers faster? Nothing is asserted.
"""
from __future__ import annotations

import argparse
import random
from concurrent.futures import ProcessPoolExecutor

import economy  # bench/economy.py: the targets and their summary

from engine import rules
from engine.brains import Decision
from engine.brains.scripted import choose
from engine.report import EconomyReport
from engine.state import initial_state, state_hash
from engine.views import market_index, public_view
from engine.world import build_roster, load_world


def play(seed: int, creatures: int, rounds: int, passes: int) -> tuple[dict, str]:
    """One run: (its `EconomyReport` dict, the final state hash)."""
    world = load_world()
    roster = build_roster(world, creatures)
    temperament = {r.name: r.temperament for r in roster}
    state = initial_state(world, seed, roster, end=rounds)
    report = EconomyReport(world)

    def decide(s, salt: str) -> dict:
        idx = market_index(s)
        return {n: choose(public_view(s, world, n, idx), temperament[n], random.Random(f"{seed}/{n}/{s.round}{salt}"))
                for n in s.creatures}

    real_apply = rules.apply_action
    for _ in range(rounds):
        before = state
        mid, opening, f_open = rules.open_round(before, world)
        actions = decide(mid, "")
        applied = 0

        def apply(s, w, book, name, a):
            """The engine's `apply_action`; after the round's last move, the extra passes."""
            nonlocal applied
            out = real_apply(s, w, book, name, a)
            applied += 1
            if applied == len(s.creatures):
                for k in range(1, passes):
                    again = decide(s, f"/{k}")
                    for n in rules.action_order(s):
                        out.extend(real_apply(s, w, book, n, again[n]))
            return out

        rules.apply_action = apply
        try:
            state, closing, f_close = rules.close_round(mid, world, actions, opening)
        finally:
            rules.apply_action = real_apply
        report.add(state.round, before, state, [*opening, *closing], (f_open, f_close),
                   {n: Decision(a) for n, a in actions.items()})
    d = report.to_dict()
    d["seed"] = seed
    return d, state_hash(state)


def game_hash(seed: int, creatures: int, rounds: int) -> str:
    """The final state hash of the same run played by the game's own runner."""
    import asyncio

    from wood_tui.game import open_game
    from wood_tui.options import RunOptions

    async def run() -> str:
        options = RunOptions.parse("sim", ["--seed", str(seed), "--creatures", str(creatures), "--rounds", str(rounds)])
        async with open_game(options, load_world()) as game:
            await game.runner.run(game.target_rounds)
            return state_hash(game.runner.state)

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", default="1,2,3", help="market passes a round to try (1 is the game)")
    ap.add_argument("--sizes", default="5,50")
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    seeds = economy.seeds(args.seeds)
    sizes = [int(x) for x in args.sizes.split(",")]
    passes = [int(x) for x in args.passes.split(",")]
    if any(k < 1 for k in passes):
        ap.error("--passes: each value must be 1 or more")
    check = (seeds[0], sizes[0], min(args.rounds, 30))
    one = play(*check, 1)[1]
    same = one == game_hash(*check)
    print(f"one pass = the game ({check[1]} creatures, seed {check[0]}, {check[2]} rounds, final state hash): "
          f"{'yes' if same else 'NO: the script no longer plays the game; its figures mean nothing'}")
    if not same:
        raise SystemExit(1)
    jobs = [(s, n, args.rounds, k) for k in passes for n in sizes for s in seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = [d for d, _ in pool.map(play, *zip(*jobs))]
    for k in passes:
        for n in sizes:
            rows = [d for d, j in zip(results, jobs) if j[3] == k and j[1] == n]
            tops = ", ".join("n/a" if (t := economy.top_share(r)) is None else f"{t:.0%}" for r in rows)
            ginis = ", ".join(f"{r['gini_final']:.2f}" for r in rows)
            print(f"{k} pass{'es' if k > 1 else ''} a round, {n} creatures, {args.rounds} rounds, seeds {args.seeds}:")
            for target, got, ok in economy.summarise(rows):
                print(f"  {'PASS' if ok else 'MISS'}  {target:<52} {got}")
            print(f"        by seed: top holder {tops}; Gini {ginis}")


if __name__ == "__main__":
    main()
