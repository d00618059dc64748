"""`wood sim`: the market, headless. New runs, `--resume` of a killed run
(to a total of `--rounds`), a progress bar on a terminal, plain lines
otherwise, and a summary whose last line is `state hash: <hex>`."""
from __future__ import annotations

import argparse
import asyncio
import sys
import time


def _positive(v: str) -> int:
    try:
        n = int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {v!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {n}")
    return n


def _seed(v: str) -> int:
    try:
        return int(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {v!r}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--creatures", type=_positive, metavar="N", help="number of traders (default: the five of the roster)")
    p.add_argument("--rounds", type=_positive, metavar="R", help="rounds to play (default 100); with --resume, the total")
    p.add_argument("--seed", type=_seed, default=1, metavar="S", help="the run's seed (default 1)")
    p.add_argument("--brains", choices=("scripted", "llm"), help="who decides: scripted rules, or models (default scripted; "
                   "llm with no --roster uses the embedded SmolLM2 server)")
    p.add_argument("--roster", metavar="FILE", help="a roster TOML mapping creatures to models (implies --brains llm)")
    p.add_argument("--save", metavar="PATH", help="write the ledger (SQLite) here as the run goes")
    p.add_argument("--resume", metavar="PATH", help="continue a saved run from its last committed round")
    p.add_argument("--quiet", action="store_true", help="no progress output, just the summary")


def run(args) -> int:
    from engine.errors import WoodError

    if args.resume and (args.save or args.creatures or args.roster):
        raise WoodError("--resume continues a saved run: it takes no --save, --creatures or --roster")
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:  # every committed round is safe in the ledger
        path = args.save or args.resume
        hint = f"; resume with: wood sim --resume {path}" + (f" --rounds {args.rounds}" if args.rounds else "") if path else ""
        print(f"\nwood: interrupted{hint}", file=sys.stderr)
        return 130


async def _run(args) -> int:
    from engine.metrics import RunSummary
    from engine.world import load_world
    from wood_tui.game import open_game

    world = load_world()
    summary = RunSummary()
    async with open_game(args, world, summary=summary, log=_log(args)) as game:
        target = game.target_rounds
        progress = _Progress(game.runner.state.round, target, quiet=args.quiet)
        while game.runner.state.round < target:
            result = await game.runner.play_round()
            summary.add_round(result)
            progress.tick(result.round)
        progress.done()
        for line in summary.lines(world.good_names):
            print(line)
        for line in game.model_report():
            print(line)
        print(f"state hash: {game.state_hash()}")
    return 0


def _log(args):
    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)
    return log


class _Progress:
    """A bar on a terminal; a plain line every tenth of the run otherwise."""

    def __init__(self, start: int, total: int, quiet: bool):
        self.start, self.total, self.quiet = start, total, quiet
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.step = max(1, (total - start) // 10)

    def tick(self, r: int) -> None:
        if self.quiet:
            return
        done = r - self.start
        per = (time.perf_counter() - self.t0) / max(1, done)
        if self.tty:
            width = 30
            fill = int(width * r / self.total)
            sys.stderr.write(f"\r[{'#' * fill}{'.' * (width - fill)}] round {r}/{self.total}  {per * 1000:.1f} ms/round ")
            sys.stderr.flush()
        elif done % self.step == 0 or r == self.total:
            print(f"round {r}/{self.total} ({per * 1000:.1f} ms/round)", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")
