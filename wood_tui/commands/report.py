"""`wood report RUN.db`: the economy's health for a saved run (needs met,
spoilage, prices and their answer to shocks, hoards, wealth, credit, fines,
rejections), rebuilt from the ledger's recorded actions; `--json` for the
same as one JSON object. The save is opened read-only."""
from __future__ import annotations

import json


def add_arguments(p) -> None:
    p.add_argument("path", metavar="RUN.db", help="a save file written by --save")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the text report")


def run(args) -> int:
    from engine.replay import checked_record, replayed_rounds
    from engine.report import EconomyReport
    from engine.world import load_world

    world = load_world()
    report = EconomyReport(world)
    with checked_record(args.path, world) as ledger:
        for rr in replayed_rounds(ledger, world):
            report.add(rr.round, rr.before, rr.after, rr.events, rr.flows, rr.decisions)
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True))
    else:
        print(f"report of {args.path}")
        for line in report.lines():
            print(line)
    return 0
