"""`wood replay PATH`: watch a recorded run in the app; with `--verify`,
rebuild it headless from its recorded actions and check the state hash."""
from __future__ import annotations

import sys

from wood_tui.options import path_text


def add_arguments(p) -> None:
    p.add_argument("path", metavar="PATH", type=path_text, help="a save file written by --save")
    p.add_argument("--verify", action="store_true",
                   help="rebuild headless, print the final standings and `state hash: <hex>`, exit 1 if it "
                   "differs from the recorded one")


def run(args) -> int:
    from engine.replay import checked_record
    from engine.world import load_world

    world = load_world()
    with checked_record(args.path, world) as ledger:  # a damaged record is one line here, not a traceback mid-replay
        if not args.verify:
            from wood_tui.commands.watch import watch_replay

            return watch_replay(ledger)
        return _verify(ledger, world)


def _verify(ledger, world) -> int:
    from engine.replay import Diverged, rebuild
    from engine.score import standings_lines
    from engine.state import state_hash

    last = ledger.last_round()  # a run still saving to it goes on: what is verified and shown is these rounds
    try:
        state = rebuild(ledger, world, upto=last, verify_each=True)  # every round's hash, not just the last
    except Diverged as e:
        print(f"wood: error: replay does not match the record: {e}", file=sys.stderr)
        return 1
    print(f"rounds: {last} (each rebuilt to its recorded state hash)")
    for line in standings_lines(state, world):
        print(line)
    print(f"state hash: {state_hash(state)}")
    return 0
