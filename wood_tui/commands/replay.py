"""`wood replay PATH`: watch a recorded run in the app; with `--verify`,
rebuild it headless from its recorded actions and check the state hash."""
from __future__ import annotations

import sys


def add_arguments(p) -> None:
    p.add_argument("path", metavar="PATH", help="a save file written by --save")
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
    from engine.replay import rebuild
    from engine.score import standings_lines
    from engine.state import state_hash

    last = ledger.last_round()
    recorded = ledger.round_hash(last) if last else None
    state = rebuild(ledger, world)
    got = state_hash(state)
    print(f"rounds: {last}")
    for line in standings_lines(state, world):
        print(line)
    print(f"state hash: {got}")
    if recorded is not None and got != recorded:
        print(f"wood: error: replay does not match the record (recorded {recorded})", file=sys.stderr)
        return 1
    return 0
