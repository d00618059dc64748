"""Seconds per round of the scripted market at several roster sizes.

    .venv/bin/python bench/rounds.py [--rounds 10] [--sizes 5,100,1000]

Reports each size's mean round wall time and its ratio to the smallest size
per creature, so growth can be read as (near-)linear or not within one run.
Figures go in BENCHMARKS.md; nothing here is asserted.
"""
from __future__ import annotations

import argparse
import time

from engine.runner import run_headless
from engine.world import load_world
from wood_tui.game import open_game
from wood_tui.options import RunOptions


async def per_round(n: int, rounds: int, seed: int = 1) -> float:
    """Mean wall time of a round of `wood sim --creatures n --seed seed`, after a warm-up round."""
    async with open_game(RunOptions.parse("sim", ["--creatures", str(n), "--seed", str(seed)]), load_world()) as game:
        runner = game.runner
        await runner.play_round()  # warm-up: the first round has an empty book
        t0 = time.perf_counter()
        for _ in range(rounds):
            await runner.play_round()
        return (time.perf_counter() - t0) / rounds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--sizes", default="5,100,1000")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    base = None
    print(f"{'creatures':>9} {'s/round':>9} {'ms/creature':>12} {'x per-creature cost of smallest':>32}")
    for n in sizes:
        s = run_headless(per_round(n, args.rounds))
        per = s / n
        base = base or per
        print(f"{n:>9} {s:>9.4f} {per * 1000:>12.3f} {per / base:>32.2f}")


if __name__ == "__main__":
    main()
