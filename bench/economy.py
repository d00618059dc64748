"""The economy's health over seeds: `wood sim` then `wood report`'s measures,
for each roster size, against the design's targets (README, `wood report`).

    .venv/bin/python bench/economy.py [--seeds 1-5] [--rounds 200] [--sizes 5,50] [--jobs 2]

Each run is a real `wood sim --save` into a temporary folder, measured by
`engine.report.EconomyReport` over the ledger's rebuilt rounds. Prints one
row per size (means over seeds, and the worst seed where a target is a
bound) and each target with PASS or MISS; nothing is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from engine.ledger import Ledger
from engine.replay import replayed_rounds
from engine.report import SHOCK_RISE, SINGLE_PRICE_ROUNDS, EconomyReport
from engine.world import load_world
from wood_tui.game import open_game
from wood_tui.options import RunOptions, seed_list


def measure(seed: int, creatures: int, rounds: int) -> dict:
    world = load_world()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.db"
        options = RunOptions.parse("sim", ["--seed", str(seed), "--creatures", str(creatures),
                                           "--rounds", str(rounds), "--save", str(path)])

        async def play() -> None:
            async with open_game(options, world) as game:
                await game.runner.run(game.target_rounds)

        asyncio.run(play())
        ledger = Ledger.open(path)
        try:
            report = EconomyReport(world)
            for rr in replayed_rounds(ledger, world):
                report.add(rr.round, rr.before, rr.after, rr.events, rr.flows, rr.decisions)
        finally:
            ledger.close()
    d = report.to_dict()
    d["seed"] = seed
    return d


def top_share(report: dict) -> float | None:
    """The top holder's largest share of a good at the end, over the goods
    someone holds (None: nobody holds any)."""
    return max((x for x in report["top_holder_share_final"].values() if x is not None), default=None)


def summarise(rows: list[dict]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for one roster size over its seeds."""
    mean = lambda xs: statistics.fmean(xs) if xs else float("nan")  # noqa: E731
    stuck = max(max(r["longest_single_price_rounds_by_good"].values()) for r in rows)
    top = max((t for r in rows if (t := top_share(r)) is not None), default=None)  # None: no run holds a good
    shocks = sum(r["shocks_with_rise"]["measured"] for r in rows)
    rose = sum(r["shocks_with_rise"]["rose_enough"] for r in rows)
    unknown = mean([(r["rejections"].get("unknown_offer", 0) + r["rejections"].get("offer_taken", 0)) / r["actions"]
                    for r in rows])
    ginis = [r["gini_final"] for r in rows]
    median_coins = min(r["median_coins_final"] for r in rows) / rows[0]["start_coins"]
    needs = mean([r["needs_met"] for r in rows])
    zero = max(r["mood_zero_share_final"] for r in rows)
    return [
        ("needs met >= 75% (mean)", f"{needs:.0%}", needs >= 0.75),
        ("mood 0 at the end <= 5% (worst seed)", f"{zero:.0%}", zero <= 0.05),
        ("top holder <= 40% of a good (worst)", "n/a (nobody holds a good)" if top is None else f"{top:.0%}",
         top is None or top <= 0.40),
        (f"price up >= {SHOCK_RISE:.0%} after most harvest failures", f"{rose}/{shocks}", shocks > 0 and rose > shocks / 2),
        (f"no good at one price for {SINGLE_PRICE_ROUNDS} rounds (worst)", f"{stuck} rounds", stuck < SINGLE_PRICE_ROUNDS),
        ("wealth Gini 0.25-0.5 (every seed)", f"{min(ginis):.2f}-{max(ginis):.2f}",
         all(0.25 <= g <= 0.5 for g in ginis)),
        ("unknown/taken offers <= 3% of actions (mean)", f"{unknown:.1%}", unknown <= 0.03),
        ("median coins >= 50% of start (worst seed)", f"{median_coins:.0%}", median_coins >= 0.5),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=seed_list, default="1-5", help="as wood sweep takes them: 1-5, 1,3,7 or 1-3,9")
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--sizes", default="5,50")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    jobs = [(s, n, args.rounds) for n in (int(x) for x in args.sizes.split(",")) for s in args.seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(measure, *zip(*jobs)))
    for n in sorted({j[1] for j in jobs}):
        rows = [r for r, j in zip(results, jobs) if j[1] == n]
        print(f"{n} creatures, {args.rounds} rounds, seeds {args.seeds}:")
        for target, got, ok in summarise(rows):
            print(f"  {'PASS' if ok else 'MISS'}  {target:<52} {got}")


if __name__ == "__main__":
    main()
