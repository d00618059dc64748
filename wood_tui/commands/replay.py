"""`wood replay PATH`: watch a recorded run in the app; with `--verify`,
rebuild it headless from its recorded actions and check the state hash."""
from __future__ import annotations

import sys

from wood_tui.options import file_text


def add_arguments(p) -> None:
    p.add_argument("path", metavar="PATH", type=file_text, help="a save file written by --save")
    p.add_argument("--verify", action="store_true",
                   help="rebuild headless, print the final standings and `state hash: <hex>`, exit 1 if it "
                   "differs from the recorded one")


def run(args) -> int:
    from engine.replay import checked_record
    from engine.world import load_world

    world = load_world()
    if not args.verify:
        with checked_record(args.path, world) as ledger:  # a damaged record is one line here, not a traceback mid-replay
            from wood_tui.commands.watch import watch_replay

            return watch_replay(ledger)
    from engine.ledger import being_written

    at = _Verifying()
    # asked before the save is opened here: opening and closing the file while SQLite holds it open would drop
    # this process's SQLite locks on it (engine.report.report_of asks once it is closed)
    writing = being_written(args.path)
    try:
        with checked_record(args.path, world) as ledger:
            return _verify(ledger, world, at, writing=writing)
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM or SIGHUP: no verdict, and the line says how far it got
        from engine.stops import exit_status, interrupted

        print(f"wood: {interrupted(e)}: {at.said()}", file=sys.stderr)
        return exit_status(e)


class _Verifying:
    """How far a `--verify` got: the rounds to rebuild (None while the record
    is still being read) and how many were rebuilt to their recorded hash."""
    rounds: int | None = None
    rebuilt = 0
    verdict = False  # every round rebuilt to the record: what was cut short was only the standings

    def said(self) -> str:
        from engine.metrics import counted

        if self.rounds is None:
            return "stopped while reading the record, before any round was rebuilt: no verdict reached"
        if self.verdict and not self.rounds:
            return "no round to rebuild; stopped while the standings were shown"
        if self.verdict:
            return (f"all {counted(self.rounds, 'round')} rebuilt, each to its recorded state hash; "
                    "stopped while the standings were shown")
        return f"{self.rebuilt} of {counted(self.rounds, 'round')} rebuilt, no verdict reached"


def _verify(ledger, world, at: _Verifying | None = None, *, writing: bool = False) -> int:
    """Rebuild `ledger`'s committed rounds, each held to its record; `writing`:
    another wood process was saving to it when the command began."""
    from engine.replay import Diverged, rebuild
    from engine.report import still_being_played
    from engine.score import standings_lines
    from engine.state import state_hash

    at = at if at is not None else _Verifying()
    last = ledger.last_round()  # a run still saving to it goes on: what is verified and shown is these rounds
    at.rounds = last
    try:
        state = rebuild(ledger, world, upto=last, verify_each=True,  # every round's hash, not just the last
                        on_round=lambda r: setattr(at, "rebuilt", r))
    except Diverged as e:
        print(f"wood: error: replay does not match the record: {e}", file=sys.stderr)
        return 1
    at.verdict = True
    planned = ledger.end_for(last + 1)  # the last round the run is to play (0: none recorded)
    so_far = f" {still_being_played(planned)}" if writing and last < planned else ""  # as `wood report` says it
    if last:
        print(f"rounds: {last} (each rebuilt to its recorded state hash){so_far}")
    else:  # a run stopped before its first round was committed: there is no hash to hold anything to
        print("rounds: 0 (no round was committed, so no state hash was recorded and nothing was verified; "
              f"the standings are the run's start){so_far}")
    for line in standings_lines(state, world):
        print(line)
    print(f"state hash: {state_hash(state)}")
    return 0
