"""Prompt tokens per creature per round, counted with the embedded model's
own tokenizer (the SmolLM2 GGUF, vocab only), prompts built and no calls.

    .venv/bin/python bench/prompt_tokens.py [--creatures 1000] [--rounds 12]

Plays scripted rounds so the book, loans, tips and feelings fill up, then
builds every creature's messages for the last round and reports max, mean
and the share over the 1,000-token budget.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics

from engine.prompts import build_messages, count_tokens
from engine.views import market_index, public_view
from engine.world import load_world
from serve.embedded import gguf_path
from wood_tui.game import open_game
from wood_tui.options import RunOptions


async def played(world, creatures: int, rounds: int):
    """The state after `wood sim --creatures C --rounds R --seed 1`, and its roster."""
    options = RunOptions.parse("sim", ["--creatures", str(creatures), "--rounds", str(rounds), "--seed", "1"])
    async with open_game(options, world) as game:
        await game.runner.run(game.target_rounds)
        return game.runner.state, game.roster


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--creatures", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=12)
    args = ap.parse_args()
    world = load_world()
    state, roster = asyncio.run(played(world, args.creatures, args.rounds))
    gguf = str(gguf_path())
    idx = market_index(state)
    names = tuple(r.name for r in roster)
    counts = []
    for r in roster:
        msgs = build_messages(public_view(state, world, r.name, idx), world,
                              temperament_line=world.temperaments[r.temperament], names=names)
        counts.append(count_tokens(msgs, gguf))
    over = sum(c > 1000 for c in counts)
    print(f"creatures {args.creatures}, after round {state.round}: prompt tokens max {max(counts)}, "
          f"mean {statistics.mean(counts):.1f}, over 1,000: {over}")


if __name__ == "__main__":
    main()
