"""`wood export RUN.db --out DIR`: the audit trail and a fine-tuning set.

`calls.jsonl`: one line per model call (round, creature, model, the chat
messages as sent, the raw reply, the parsed action, outcome, reason,
latency, prompt tokens). `tips.jsonl`: one line per tip, truth included.
The save is opened read-only."""
from __future__ import annotations

import json
from pathlib import Path

CALL_FIELDS = ("round", "creature", "model", "messages", "raw", "action", "outcome", "reason", "latency_ms",
               "prompt_tokens")
TIP_FIELDS = ("id", "text", "recipients", "truth", "issued_round", "resolves_round")


def add_arguments(p) -> None:
    p.add_argument("path", metavar="RUN.db", help="a save file written by --save")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write calls.jsonl and tips.jsonl into")


def run(args) -> int:
    from engine.errors import WoodError
    from engine.ledger import Ledger

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise WoodError(f"--out {out} is a file, not a directory")
    ledger = Ledger.open(args.path, readonly=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        n_calls = _write(out / "calls.jsonl", ({k: c[k] for k in CALL_FIELDS} for c in ledger.calls()))
        n_tips = _write(out / "tips.jsonl", (
            {"id": t["id"], "text": t["text"], "recipients": t["recipients"], "truth": t["truth"],
             "issued_round": t["issued"], "resolves_round": t["resolves"]} for t in ledger.tips()))
    finally:
        ledger.close()
    print(f"wrote {n_calls} calls to {out / 'calls.jsonl'} and {n_tips} tips to {out / 'tips.jsonl'}")
    return 0


def _write(path: Path, rows) -> int:
    tmp = path.with_suffix(".jsonl.part")
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)  # never a half-written export under the final name
    return n
