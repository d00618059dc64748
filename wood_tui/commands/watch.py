"""`wood watch`: spectate a live market in the app; and `watch_replay`, the
app side of `wood replay PATH`. The run flags are `wood sim`'s (one table,
`wood_tui.options`), but the brains default to the embedded model."""
from __future__ import annotations

import argparse

from engine.flags import decimal
from wood_tui.options import DEFAULT_BRAINS, RunOptions, add_run_flags


def _delay(v: str) -> float:
    try:
        d = decimal(v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {v!r}") from None
    if not 0 <= d <= 60:
        raise argparse.ArgumentTypeError(f"expected 0 to 60 seconds, got {v}")
    return d


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_flags(p, default_brains=DEFAULT_BRAINS["watch"])
    p.add_argument("--delay", type=_delay, default=1.0, metavar="SECONDS",
                   help="pause between rounds, 0 to 60 (default 1; + and - change it while watching)")


def run(args) -> int:
    from engine.world import load_world
    from wood_tui.app import WoodApp
    from wood_tui.bridge import LiveGame, Pacer
    from wood_tui.game import check_before_the_screen, run_app

    options = RunOptions.from_args(args, default_brains=DEFAULT_BRAINS["watch"])
    check_before_the_screen(options, load_world())
    return run_app(WoodApp(LiveGame(options), pacer=Pacer(args.delay)))


def watch_replay(ledger) -> int:
    """Watch a recorded run round by round (pause, step and speed as in `wood watch`)."""
    from wood_tui.app import WoodApp
    from wood_tui.bridge import RecordedGame
    from wood_tui.game import run_app

    return run_app(WoodApp(RecordedGame(ledger)))
