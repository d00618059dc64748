"""Measures of a saved run, read from its ledger (no model needed):

    .venv/bin/python bench/ledger_report.py RUN.db

valid-action and repair rates per model, what was repaired, engine
rejections (self-trade attempts among them), p50/p95 call latency, round
wall time against the sum of its calls, prompt tokens max and mean.
"""
from __future__ import annotations

import json
import sqlite3
import statistics
from collections import Counter

from engine.brains.llm import nearest_rank


def main(path: str) -> None:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    for (model,) in con.execute("SELECT DISTINCT model FROM calls"):
        rows = con.execute("SELECT outcome, reason, repairs, latency_ms, prompt_tokens FROM calls WHERE model = ?",
                           (model,)).fetchall()
        n = len(rows)
        out = Counter(r[0] for r in rows)
        repairs = Counter(tag for r in rows for tag in json.loads(r[2] or "[]"))
        reasons = Counter(r[1] for r in rows if r[0] in ("rejected", "fault"))
        lat = [r[3] for r in rows if r[3] is not None]
        tok = [r[4] for r in rows if r[4] is not None]
        valid = out["clean"] + out["repaired"]
        print(f"model {model}: {n} calls")
        print(f"  valid actions {valid}/{n} = {valid / n:.0%}  (clean {out['clean']}, repaired {out['repaired']}, "
              f"rejected {out['rejected']}, fault {out['fault']})")
        print(f"  repair rate {out['repaired'] / max(1, valid):.0%} of valid; repairs: {dict(repairs.most_common())}")
        print(f"  rejections and faults: {dict(reasons.most_common())}")
        print(f"  self-trade attempts: {sum(v for k, v in reasons.items() if 'self_' in (k or ''))}")
        lat.sort()
        print(f"  latency p50 {nearest_rank(lat, .5):.0f} ms, p95 {nearest_rank(lat, .95):.0f} ms; "
              f"prompt tokens max {max(tok)}, mean {statistics.mean(tok):.0f}")
    walls = dict(con.execute("SELECT round, wall_s FROM rounds"))
    sums = dict(con.execute("SELECT round, sum(latency_ms) / 1000.0 FROM calls GROUP BY round"))
    ratios = [walls[r] / sums[r] for r in walls if sums.get(r)]
    if ratios:
        print(f"round wall time: mean {statistics.mean(walls.values()):.1f} s; wall / sum of its calls: "
              f"mean {statistics.mean(ratios):.2f}, min {min(ratios):.2f}, max {max(ratios):.2f}")


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", metavar="RUN.db", help="a save written by wood sim --save")
    main(ap.parse_args().path)
