"""`wood export RUN.db --out DIR`: the audit trail and a fine-tuning set.

`calls.jsonl`: one line per model call (round, creature, model, the chat
messages as sent, the raw reply, the parsed action, outcome, reason,
latency, prompt tokens). `tips.jsonl`: one line per tip, truth included.
`whispers.jsonl`: one line per whisper (round, from, to, text, and the id
of the tip it passed on, if any: its truth is in tips.jsonl).
The save is opened read-only and checked whole first; the three files appear
together or not at all (a damaged row or a folder that cannot be written
leaves nothing behind, not even a folder the export made)."""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

CALL_FIELDS = ("round", "creature", "model", "messages", "raw", "action", "outcome", "reason", "latency_ms",
               "prompt_tokens")
TIP_FIELDS = ("id", "text", "recipients", "truth", "issued_round", "resolves_round")
WHISPER_FIELDS = ("round", "from", "to", "text", "tip")
FILES = ("calls.jsonl", "tips.jsonl", "whispers.jsonl")


def add_arguments(p) -> None:
    p.add_argument("path", metavar="RUN.db", help="a save file written by --save")
    p.add_argument("--out", required=True, metavar="DIR", help="directory to write calls.jsonl, tips.jsonl and whispers.jsonl into")


def run(args) -> int:
    from engine.errors import WoodError
    from engine.ledger import Ledger

    if not args.out.strip():
        raise WoodError("--out: expected a directory path, got an empty string")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise WoodError(f"--out {out} is a file, not a directory")
    for name in FILES:
        if (out / name).is_dir():
            raise WoodError(f"--out {out}: {name} there is a directory; an export will not replace it")
    ledger = Ledger.open(args.path, readonly=True)
    try:
        ledger.check_records()  # a damaged save is refused before a file is made
        made = _make_dirs(out)
        parts: list[tuple[Path, Path]] = []
        try:
            n_calls = _write(out / "calls.jsonl", ({k: c[k] for k in CALL_FIELDS} for c in ledger.calls()), parts)
            n_tips = _write(out / "tips.jsonl", (
                {"id": t["id"], "text": t["text"], "recipients": t["recipients"], "truth": t["truth"],
                 "issued_round": t["issued"], "resolves_round": t["resolves"]} for t in ledger.tips()), parts)
            n_whispers = _write(out / "whispers.jsonl", (
                {"round": e.round, **{k: e.data.get(k) for k in WHISPER_FIELDS[1:]}}
                for e in ledger.events_of("whisper")), parts)
            for part, final in parts:  # all or none: never a half-written export under the final names
                part.replace(final)
        except BaseException as e:
            for part, _ in parts:
                part.unlink(missing_ok=True)
            for d in reversed(made):
                with contextlib.suppress(OSError):
                    d.rmdir()
            if isinstance(e, OSError):
                raise WoodError(f"cannot write the export into --out {out}: {e.strerror or e}") from None
            raise
    finally:
        ledger.close()
    print(f"wrote {n_calls} calls to {out / 'calls.jsonl'}, {n_tips} tips to {out / 'tips.jsonl'} and "
          f"{n_whispers} whispers to {out / 'whispers.jsonl'}")
    return 0


def _make_dirs(out: Path) -> list[Path]:
    """Create `out` and its missing parents; the ones made, outermost first
    (so a failed export can take them away again)."""
    from engine.errors import WoodError

    missing = []
    p = out
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    made = []
    try:
        for d in reversed(missing):
            d.mkdir()
            made.append(d)
    except OSError as e:
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise WoodError(f"cannot make the --out directory {out}: {e.strerror or e}") from None
    return made


def _write(path: Path, rows, parts: list[tuple[Path, Path]]) -> int:
    """Write `rows` as JSONL to `path`.part (noted in `parts`); the caller renames."""
    tmp = path.with_suffix(".jsonl.part")
    parts.append((tmp, path))
    n = 0
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n
