"""`wood watch`: spectate a live market in the app; and `watch_replay`, the
app side of `wood replay PATH`. The flags mirror `wood sim`, but the brains
default to the embedded model."""
from __future__ import annotations

import argparse

from .sim import _positive, _seed


def _delay(v: str) -> float:
    try:
        d = float(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {v!r}") from None
    if not 0 <= d <= 60:
        raise argparse.ArgumentTypeError(f"expected 0 to 60 seconds, got {v}")
    return d


def add_game_arguments(p: argparse.ArgumentParser) -> None:
    """The flags `wood watch` and `wood play` share with `wood sim`."""
    p.add_argument("--creatures", type=_positive, metavar="N",
                   help="number of traders (default: the five of the roster)")
    p.add_argument("--rounds", type=_positive, metavar="R",
                   help="rounds to play (default 100); with --resume, the total")
    p.add_argument("--seed", type=_seed, default=1, metavar="S", help="the run's seed (default 1)")
    p.add_argument("--brains", choices=("scripted", "llm"),
                   help="who decides: scripted rules, or models (default llm: the embedded SmolLM2 server)")
    p.add_argument("--roster", metavar="FILE", help="a roster TOML mapping creatures to models (implies --brains llm)")
    p.add_argument("--save", metavar="PATH", help="write the ledger (SQLite) here as the run goes")
    p.add_argument("--resume", metavar="PATH", help="continue a saved run from its last committed round")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_game_arguments(p)
    p.add_argument("--delay", type=_delay, default=1.0, metavar="SECONDS",
                   help="pause between rounds (default 1; + and - change it while watching)")


def game_defaults(args) -> None:
    """Check the run flags and fill in the app's default brains."""
    from engine.errors import WoodError

    if args.resume and (args.save or args.creatures or args.roster):
        raise WoodError("--resume continues a saved run: it takes no --save, --creatures or --roster")
    if not args.resume and not args.roster:
        args.brains = args.brains or "llm"


def run(args) -> int:
    from wood_tui.app import WoodApp
    from wood_tui.bridge import LiveGame, Pacer

    game_defaults(args)
    app = WoodApp(LiveGame(args), pacer=Pacer(args.delay))
    app.run()
    return app.return_code or 0


def watch_replay(ledger) -> int:
    """Watch a recorded run round by round (pause, step and speed as in `wood watch`)."""
    from wood_tui.app import WoodApp
    from wood_tui.bridge import RecordedGame

    app = WoodApp(RecordedGame(ledger))
    app.run()
    return app.return_code or 0
