"""How long a player waits in `wood play` on the default model: from the
player's move to their next turn, round after round.

    .venv/bin/python bench/play_turn.py [--rounds 20] [--seed 1] [--baseline | --compare]

Runs the real Textual app (headless, Textual's own test driver) with the
player in Owl's seat and the four others on the embedded SmolLM2, as `wood
play` starts it; the player passes each turn (F2). Prints each wait and the
median, min and max. The first turn (the server's start-up) is not counted.
`--baseline` plays the old path of `bench/embedded_round.py` (shipped Q4_1,
default threads, `json_object_schema`, the old prompt layout); `--compare`
plays baseline then new.
Nothing here is asserted; figures go in BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import serve.embedded as embedded
from embedded_round import server_class, side_path  # bench/: the two paths, defined once
from wood_tui.app import WoodApp
from wood_tui.bridge import LiveGame, Pacer, Seat
from wood_tui.options import RunOptions
from wood_tui.screens.intro import IntroScreen
from wood_tui.screens.market import MarketScreen


async def until(pilot, cond, timeout: float) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.01)


def my_turn(app: WoodApp, round_no: int) -> bool:
    screen = app.main
    return screen.active is not None and screen.active.view.name == "Owl" and screen.active.view.round == round_no


async def measure(rounds: int, seed: int, side: str = "new") -> list[float]:
    seen: list = []
    original = embedded.EmbeddedServer
    embedded.EmbeddedServer = server_class(side, seen, [])  # the app's game starts the server from here
    try:
        with side_path(side):
            return await _measure(rounds, seed)
    finally:
        embedded.EmbeddedServer = original


async def _measure(rounds: int, seed: int) -> list[float]:
    options = RunOptions.parse("play", ["--seed", str(seed), "--rounds", str(rounds + 1)])
    waits = []
    MarketScreen.SETTLE_S = 0.0  # this player answers at once: a turn's pause for a stray key is not what is measured
    with tempfile.TemporaryDirectory() as config:
        app = WoodApp(LiveGame(options, (Seat("Owl"),)), pacer=Pacer(0.0), config_dir=Path(config))
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: isinstance(app.screen, IntroScreen) or my_turn(app, 1), 300)
            if isinstance(app.screen, IntroScreen):
                await pilot.press("enter")
            await until(pilot, lambda: my_turn(app, 1), 300)
            for r in range(1, rounds + 1):
                t0 = time.perf_counter()
                await pilot.press("f2")  # pass
                await until(pilot, lambda r=r: my_turn(app, r + 1), 300)
                waits.append(time.perf_counter() - t0)
                print(f"round {r}: {waits[-1]:.2f} s", flush=True)
            await pilot.press("ctrl+q")
    return waits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    side = ap.add_mutually_exclusive_group()
    side.add_argument("--baseline", action="store_true", help="the old path (see bench/embedded_round.py)")
    side.add_argument("--compare", action="store_true", help="baseline, then new")
    args = ap.parse_args()
    for s in (["baseline", "new"] if args.compare else ["baseline"] if args.baseline else ["new"]):
        waits = asyncio.run(measure(args.rounds, args.seed, s))
        print(f"{s}: from the player's move to their next turn, {len(waits)} rounds: median "
              f"{statistics.median(waits):.2f} s, min {min(waits):.2f}, max {max(waits):.2f}", flush=True)


if __name__ == "__main__":
    main()
