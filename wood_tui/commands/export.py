"""`wood export RUN.db --out DIR`: the audit trail; `wood export RUN.db...
--sft FILE.jsonl`: a fine-tuning set.

`calls.jsonl`: one line per model call (round, creature, model, the chat
messages as sent, the raw reply, the parsed action, outcome, reason,
latency, prompt tokens). `tips.jsonl`: one line per tip, truth included.
`whispers.jsonl`: one line per whisper (round, from, to, text, and the id
of the tip it passed on, if any: its truth is in tips.jsonl).
The save is opened read-only and checked whole first (a save of an earlier
ledger version whose rows read alike, `engine.ledger.ROWS_ALIKE`, exports too:
nothing is replayed); the three files appear
together or not at all (a damaged row or a folder that cannot be written
leaves nothing behind, not even a folder the export made).

`--sft`: one chat example per model decision the engine applied cleanly
(outcome `clean`; `--outcome repaired` takes those the repair layer had to
mend instead, `clean,repaired` both), as `{"messages": [system, user, assistant]}`: the messages as sent
and the model's action as the engine took it, as compact JSON (an accept
that fell back to a standing offer stays the accept). That is the
conversational shape TRL's SFTTrainer and `datasets.load_dataset("json",
...)` read as they are. From one save or many (a folder: every `*.db` under
it, e.g. a sweep's), filtered by `--model`, `--outcome` and `--rounds`;
`--holdout-seeds` puts the examples of those runs' seeds in a second file
(`FILE.heldout.jsonl`, or `--holdout`), never in the first. All files
appear together or not at all. A run is read once however many of its
saves are given (a copy: the same `Ledger.run_id`, its rounds the same as
another's): a line names each copy skipped, and of a copy played on apart
after it was copied only the rounds of its own are read."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

from wood_tui.options import dir_text, file_text, save_or_folder_text, seed_list

CALL_FIELDS = ("round", "creature", "model", "messages", "raw", "action", "outcome", "reason", "latency_ms",
               "prompt_tokens")
TIP_FIELDS = ("id", "text", "recipients", "truth", "issued_round", "resolves_round")
WHISPER_FIELDS = ("round", "from", "to", "text", "tip")
FILES = ("calls.jsonl", "tips.jsonl", "whispers.jsonl")
SFT_OUTCOMES = ("clean", "repaired")  # the engine applied the action (a repaired one after mending its text)


def _outcomes(v: str) -> tuple[str, ...]:
    import argparse

    got = tuple(x.strip() for x in v.split(",") if x.strip())
    bad = [x for x in got if x not in SFT_OUTCOMES]
    if not got or bad:
        raise argparse.ArgumentTypeError(f"expected {' or '.join(SFT_OUTCOMES)} (or both, with a comma), got {v!r}")
    return got


def _round_range(v: str) -> tuple[int, int | None]:
    """`A-B`, `A-` (hi None: from A on) or `A`, each round 1 to MAX_ROUNDS (no save holds more)."""
    import argparse

    from engine.flags import whole
    from wood_tui.options import MAX_ROUNDS

    a, dash, b = v.strip().partition("-")
    try:
        lo = whole(a)
        hi = whole(b) if dash and b.strip() else (lo if not dash else None)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected rounds like 10-80, 10- or 5, got {v!r}") from None
    if lo < 1 or (hi is not None and hi < lo):
        raise argparse.ArgumentTypeError(f"expected rounds like 10-80, 10- or 5 (from 1 up), got {v!r}")
    if max(lo, hi or 0) > MAX_ROUNDS:
        raise argparse.ArgumentTypeError(f"expected rounds from 1 to {MAX_ROUNDS:,} (a run's longest), got {v.strip()}")
    return lo, hi


def _model_name(v: str) -> str:
    """--model: a model's name as a roster gives it (`check_model_name`): an empty or blank one, or one with an
    escape sequence, had been looked for in the runs and then said to be played by none ('--model : no creature...',
    the escape dropped from the line)."""
    import argparse

    from engine.brains.config import check_model_name

    try:
        return check_model_name("model name", v)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(p) -> None:
    p.add_argument("paths", nargs="+", metavar="RUN.db", type=save_or_folder_text,
                   help="a save file written by --save (for --sft: one or more, or folders holding them)")
    p.add_argument("--out", metavar="DIR", type=dir_text,
                   help="directory to write calls.jsonl, tips.jsonl and whispers.jsonl into")
    p.add_argument("--sft", metavar="FILE.jsonl", type=file_text,
                   help="write a fine-tuning set: one chat example per decision the engine applied (clean ones, or as "
                        "--outcome says)")
    p.add_argument("--model", action="append", metavar="NAME", type=_model_name,
                   help="--sft: only this model's decisions (a roster's model name; again for more)")
    p.add_argument("--outcome", type=_outcomes, default=("clean",), metavar="clean,repaired",
                   help="--sft: which applied decisions: clean (default), repaired, or clean,repaired")
    p.add_argument("--rounds", type=_round_range, metavar="A-B", help="--sft: only rounds A to B (A- : from A on)")
    p.add_argument("--holdout-seeds", type=seed_list, metavar="SEEDS",
                   help="--sft: the runs of these seeds (1-3, 7) go to the held-out file instead")
    p.add_argument("--holdout", metavar="FILE.jsonl", type=file_text,
                   help="--sft: the held-out file (default: FILE.heldout.jsonl beside --sft's)")


def run(args) -> int:
    from engine.errors import WoodError
    from engine.sanitise import shown_path
    from wood_tui.options import no_folder_at, not_a_directory

    sft_only = [f for f in ("model", "rounds", "holdout_seeds", "holdout") if getattr(args, f) is not None]
    if args.sft is None and (sft_only or args.outcome != ("clean",)):
        flag = "--" + (sft_only[0] if sft_only else "outcome").replace("_", "-")
        raise WoodError(f"{flag} filters the fine-tuning set: it goes with --sft")
    if args.out is None and args.sft is None:
        raise WoodError("say what to write: --out DIR (the audit trail) and/or --sft FILE.jsonl (a fine-tuning set)")
    if args.holdout is not None and args.holdout_seeds is None:
        raise WoodError("--holdout names the held-out file: it goes with --holdout-seeds")
    targets = _sft_targets(args) if args.sft is not None else ()  # every output path checked before one is written
    if args.out is not None:
        if len(args.paths) != 1:
            raise WoodError("--out exports one save: give one RUN.db")
        if no_folder_at(args.out):  # before a path in it is resolved: round a loop of links, pathlib raised
            raise WoodError(f"--out {not_a_directory(args.out)}")
        audit = {(Path(args.out) / name).resolve() for name in FILES}
        for target in targets:
            if target is not None and target.resolve() in audit:
                raise WoodError(f"{shown_path(target)} is one of the audit files --out writes: "
                                "name the fine-tuning set apart")
    done: set[str] = set()  # what was written whole ("audit", "sft"), for the line a stop ends the export with
    try:
        with contextlib.ExitStack() as stack:
            # the set's saves read and its filters checked before the audit trail is written: a set refused
            # (no run played --model, nothing fits) leaves --out as it was, as any refusal does
            write_sft = stack.enter_context(_sft(args, *targets)) if args.sft is not None else None
            if args.out is not None:
                _audit(args, args.paths[0], done)
            if write_sft is not None:
                write_sft(done)
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM or SIGHUP: what was half written is gone
        from engine.stops import exit_status, interrupted

        print(f"wood: {interrupted(e)}: {_stopped(args, targets, done)}", file=sys.stderr)
        return exit_status(e)
    return 0


def _stopped(args, targets, done: set[str]) -> str:
    """What an export stopped part way left: each output written whole, or
    left as it was (its half-written files removed, the folders it made too)."""
    from engine.sanitise import shown_path

    said, kept = [], []
    if args.out is not None:
        out = shown_path(args.out)
        (said if "audit" in done else kept).append(f"the audit trail was written whole into {out}" if "audit" in done
                                                   else f"--out {out}")
    if args.sft is not None:
        files = " and ".join(shown_path(t) for t in targets if t is not None)
        (said if "sft" in done else kept).append(f"the fine-tuning set was written whole to {files}" if "sft" in done
                                                 else files)
    if kept:
        said.append(f"nothing {'more ' if said else ''}written, {' and '.join(kept)} left as "
                    f"{'they were' if len(kept) > 1 or ' and ' in kept[0] else 'it was'}")
    return "; ".join(said)


def _audit(args, path: str, done: set[str]) -> None:
    from engine.errors import WoodError
    from engine.ledger import Ledger, being_written, folder_held
    from engine.sanitise import shown_path
    from engine.stops import deferred

    out = Path(args.out)  # something other than a folder there is refused by `run`
    targets = {name: _file_target(out / name, f"--out {shown_path(out)}:") for name in FILES}
    for name, target in targets.items():  # through a link, or a save named like an audit file
        if _over_a_save(target, [Path(path)]):
            raise WoodError(f"--out {shown_path(out)}: {name} would be written over the save it reads "
                            f"({shown_path(path)})")
    # asked before the save is opened: closing a file SQLite holds open drops this process's locks on it
    writing = being_written(path)
    ledger = Ledger.open(path, readonly=True, rows_only=True)
    try:
        # a run still saving to it goes on: what is exported is the rounds committed now, all checked (a round's
        # calls, tips and whispers are committed with it), every file of the same rounds
        last = ledger.last_round()
        ledger.check_records()  # a damaged save is refused before a file is made
        made: list[Path] = []
        parts: list[tuple[Path, Path]] = []
        try:
            with deferred():  # a stop between making a folder and noting it would leave it behind
                made += _make_dirs(out)
            with folder_held(out, "--out"):  # another export into it meanwhile: never a mix of two runs' files
                n_calls = _write(targets["calls.jsonl"], ({k: c[k] for k in CALL_FIELDS} for c in ledger.calls()
                                                          if c["round"] <= last), parts)
                n_tips = _write(targets["tips.jsonl"], (
                    {"id": t["id"], "text": t["text"], "recipients": t["recipients"], "truth": t["truth"],
                     "issued_round": t["issued"], "resolves_round": t["resolves"]} for t in ledger.tips()
                    if t["issued"] <= last), parts)
                n_whispers = _write(targets["whispers.jsonl"], (
                    {"round": e.round, **{k: e.data.get(k) for k in WHISPER_FIELDS[1:]}}
                    for e in ledger.events_of("whisper") if e.round <= last), parts)
                with deferred():  # all or none: never a half-written export under the final names, even if stopped
                    for part, final in parts:
                        part.replace(final)
                    done.add("audit")
        except BaseException as e:
            if "audit" not in done:
                with deferred():  # a second Ctrl-C does not stop the clearing half way
                    for part, _ in parts:
                        part.unlink(missing_ok=True)
                    for d in reversed(made):
                        with contextlib.suppress(OSError):
                            d.rmdir()
            if isinstance(e, OSError):
                raise WoodError(f"cannot write the export into --out {shown_path(out)}: {e.strerror or e}") from None
            raise
        planned = ledger.end_for(last + 1)  # the last round the run is to play
    finally:
        ledger.close()
    from engine.metrics import counted
    from engine.report import still_being_played

    # as `wood report` and `wood replay --verify` say it
    so_far = f"; rounds: {last} {still_being_played(planned)}" if writing and last < planned else ""

    shown = {name: shown_path(out / name) for name in FILES}  # a user's path as given, escaped where it must be
    print(f"wrote {counted(n_calls, 'call')} to {shown['calls.jsonl']}, {counted(n_tips, 'tip')} to "
          f"{shown['tips.jsonl']} and {counted(n_whispers, 'whisper')} to {shown['whispers.jsonl']}{so_far}")


def sft_example(call: dict) -> dict:
    """One model call as a chat example: its messages as sent, and the action
    the engine applied as the assistant's reply (compact JSON)."""
    reply = json.dumps(call["action"], separators=(",", ":"), ensure_ascii=False)
    return {"messages": [{"role": m["role"], "content": m["content"]} for m in call["messages"]]
            + [{"role": "assistant", "content": reply}]}


def _example_key(example: dict) -> bytes:
    """What makes two chat examples the same: their text, word for word."""
    import hashlib

    # ASCII, as the file writes it: a lone surrogate escape in a save's text is no UnicodeEncodeError here
    return hashlib.sha256(json.dumps(example, sort_keys=True).encode("ascii")).digest()


def _saves(paths: list[str]) -> list[Path]:
    """The save files named: files as given, folders as every *.db under them."""
    from engine.errors import WoodError
    from engine.sanitise import shown_path

    out: list[Path] = []
    for given in paths:
        p = Path(given)
        if p.is_dir():
            found = sorted(x for x in p.rglob("*.db") if x.is_file())
            if not found:
                raise WoodError(f"no save files (*.db) under {shown_path(p)}")
            out += found
        else:
            out.append(p)
    seen: dict[object, Path] = {}  # one save named twice (a folder and a file in it, a link, a hard link) is read once
    for p in out:
        try:
            st = p.stat()
            key: object = (st.st_dev, st.st_ino)  # the file itself, whatever names it
        except OSError:
            from engine.ledger import beside

            key = beside(p)  # not there (or a loop of links, which Path.resolve raises for): opening it says so
        seen.setdefault(key, p)
    return list(seen.values())


def _file_target(p: Path, flag: str) -> Path:
    """Where a file the export writes really goes: through a link to the file
    it names (the link stays); refused when something other than a plain file
    is there (a folder, a device such as /dev/null, a pipe): the export writes
    beside it and renames it into place, which would replace that thing."""
    from engine.errors import WoodError
    from engine.sanitise import shown_path

    from wood_tui.options import kind_of

    if _through_a_stream(p):  # /dev/stdout -> /proc/self/fd/1 -> the file a shell's >> appends to
        raise WoodError(f"{flag} {shown_path(p)}: the export writes a file and renames it into place; "
                        "name a file, not a stream")
    try:
        real = p.resolve() if p.is_symlink() else p
    except RuntimeError:  # a link round a loop: pathlib's 'Symlink loop from ...' named no flag
        raise WoodError(f"{flag} {shown_path(p)} is {kind_of(p)}, not a plain file; the export writes plain files"
                        ) from None
    if real.is_dir():
        raise WoodError(f"{flag} {shown_path(p)} is a directory, not a file")
    if real.exists() and not real.is_file():
        raise WoodError(f"{flag} {shown_path(p)} is {kind_of(p)}, not a plain file; the export writes plain files")
    return real


def _over_a_save(target: Path, saves: list[Path]) -> Path | None:
    """The save that writing `target` would destroy: one of `saves` itself or
    one of its companion files (its -wal, -shm, -journal), by name or through
    a link. None: none. (A hard link is only a name: the export's rename
    replaces the name, not the save.)"""
    from engine.ledger import COMPANIONS, beside

    for save in saves:  # `beside`: a save that is a loop of links is no file (opening it says so), not an error here
        if target.resolve() in {beside(save), *(Path(f"{beside(save)}{x}") for x in COMPANIONS)}:
            return save
    return None


def _through_a_stream(p: Path) -> bool:
    """Whether `p` is a link through a process's open files (/proc/self/fd/N,
    /dev/fd/N): the file behind it is what a shell writes the output into."""
    import os

    for _ in range(40):  # a loop of links is refused elsewhere
        if str(p.absolute()).startswith(("/proc/", "/dev/fd/")):
            return p.is_symlink()  # a process's open file (a folder or file of /proc itself is refused otherwise)
        if not p.is_symlink():
            return False
        target = Path(os.readlink(p))
        p = target if target.is_absolute() else p.parent / target
    return False


def _sft_target(text: str, flag: str) -> Path:
    from engine.errors import WoodError
    from engine.sanitise import shown_path

    p = _file_target(Path(text), flag)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise WoodError(f"{flag} {shown_path(p)}: directory {shown_path(parent)} does not exist")
    return p


def _sft_targets(args) -> tuple[Path, Path | None]:
    """(the fine-tuning set's file, the held-out file or None), checked."""
    from engine.errors import WoodError

    train = _sft_target(args.sft, "--sft")
    held = None
    if args.holdout_seeds is not None:
        held = _sft_target(args.holdout or str(train.with_suffix("")) + ".heldout.jsonl", "--holdout")
        if held.resolve() == train.resolve():
            raise WoodError("--holdout and --sft name the same file")
    return train, held


@contextlib.contextmanager
def _sft(args, train: Path, held: Path | None):
    """The fine-tuning set's saves opened and checked whole, its filters held
    to them and at least one example found for each file: then the function
    that writes the set (and says so) is yielded; the saves close on leaving."""
    from engine.metrics import counted
    from engine.errors import WoodError
    from engine.ledger import PART, Ledger, clear_stale
    from engine.sanitise import shown_path
    from engine.stops import deferred

    saves = _saves(args.paths)
    for target in (train, held):
        if target is not None and (save := _over_a_save(target, saves)):
            raise WoodError(f"{shown_path(target)} would be written over {shown_path(save)}, "
                            "a save read (or its journal): "
                            "writing the fine-tuning set there would destroy it")
        if target is not None:  # what a killed export left there goes, even where this one is refused below
            clear_stale(target, PART)
    from engine.ledger import being_written
    from engine.report import still_being_played

    # asked before the saves are opened: closing a file SQLite holds open drops this process's locks on it
    writing = {path for path in saves if being_written(path)}
    ledgers = []
    last: dict[Path, int] = {}  # a run still saving to its save goes on: its rounds committed now are read, all checked
    try:
        for path in saves:  # every save checked whole before a file is made
            ledger = Ledger.open(path, readonly=True, rows_only=True)
            ledgers.append(ledger)
            last[ledger.path] = ledger.last_round()
            ledger.check_records()
        notes_live = [f"read {shown_path(ledger.path)} to round {last[ledger.path]} "
                      f"{still_being_played(planned)}" for ledger in ledgers
                      if ledger.path in writing
                      if last[ledger.path] < (planned := ledger.end_for(last[ledger.path] + 1))]
        same = _same_runs(ledgers)  # a copy of another save read: skipped, or only its own rounds read
        notes = [f"skipped {shown_path(ledger.path)}: the same run as {shown_path(same[ledger.path][1])}"
                 if same[ledger.path][0] > ledger.last_round() else
                 f"read {shown_path(ledger.path)} from round {same[ledger.path][0]} on: its rounds 1 to "
                 f"{same[ledger.path][0] - 1} are the same run as {shown_path(same[ledger.path][1])}'s"
                 for ledger in ledgers if ledger.path in same]
        runs = [ledger for ledger in ledgers  # the runs read, each once
                if ledger.path not in same or same[ledger.path][0] <= ledger.last_round()]
        first = {ledger.path: same[ledger.path][0] if ledger.path in same else 1 for ledger in runs}
        lo, hi = args.rounds or (1, None)
        models, outcomes = set(args.model or ()), set(args.outcome)
        played = {r.model for ledger in runs for r in ledger.roster()}
        if unknown := sorted(models - played):  # a typo would write an empty set over the last one
            raise WoodError(f"--model {unknown[0]}: no creature in {counted(len(runs), 'run')} read played it "
                            f"(their models: {', '.join(sorted(played))})")
        holdout = set(args.holdout_seeds or ())
        n_held_runs = sum(ledger.seed in holdout for ledger in runs)
        seeds = sorted({ledger.seed for ledger in runs})
        if holdout and not n_held_runs:  # an empty held-out file would pass for an evaluation set
            raise WoodError(f"--holdout-seeds: no run read has any of those seeds (the runs' seeds: "
                            f"{', '.join(map(str, seeds[:20]))}{', ...' if len(seeds) > 20 else ''})")
        if holdout and n_held_runs == len(runs):
            raise WoodError("--holdout-seeds holds out every run read: the fine-tuning set would be empty")
        used: set[Path] = set()  # the runs that gave an example, so that the summary counts only those
        held_out = {ledger.path: ledger.seed for ledger in runs if ledger.seed in holdout}  # path -> seed

        def rows(want_held: bool):
            for ledger in runs:
                if (ledger.seed in holdout) != want_held:
                    continue
                for call in ledger.calls():
                    if (call["outcome"] in outcomes and call["action"] is not None and call["messages"]
                            and max(lo, first[ledger.path]) <= call["round"]
                            and call["round"] <= min(last[ledger.path], hi or last[ledger.path])
                            and (not models or call["model"] in models)):
                        if not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                                   and isinstance(m.get("content"), str) for m in call["messages"]):
                            raise WoodError(f"{shown_path(ledger.path)}: round {call['round']}, "
                                            f"{call['creature']}'s model call: "
                                            "messages are not chat messages (role and content text)")
                        yield ledger.path, sft_example(call)

        # a training example the same word for word as a held-out one (the first rounds' prompts of two
        # seeds often are) is left out of training: else the evaluation would score what was trained on
        held_keys = {_example_key(x) for _, x in rows(True)} if held is not None else set()
        # an empty set would replace the last one unseen, and an empty held-out file pass for an evaluation set
        all_twins = 0
        for _, x in rows(False):  # up to the first example that goes to training: read whole only where none does
            if not (held_keys and _example_key(x) in held_keys):
                break
            all_twins += 1
        else:
            if all_twins:
                raise WoodError(f"every example for the fine-tuning set ({counted(all_twins, 'example')}) is the same "
                                f"as a held-out one: nothing written, {shown_path(train)} left as it was")
            _nothing_fits(args, "the fine-tuning set", train)
        if held is not None and not held_keys:
            _nothing_fits(args, "the held-out set", held)
        twins = 0

        def training():
            nonlocal twins
            for path, x in rows(False):
                if held_keys and _example_key(x) in held_keys:
                    twins += 1
                    continue
                used.add(path)  # a run all of whose examples were twins gave none
                yield x

        def held_out_rows():
            for path, x in rows(True):
                used.add(path)
                yield x

        def write(done: set[str]) -> None:
            parts: list[tuple[Path, Path]] = []
            try:
                n_train = _write(train, training(), parts)
                n_held = _write(held, held_out_rows(), parts) if held is not None else 0
                with deferred():
                    for part, final in parts:
                        part.replace(final)
                    done.add("sft")
            except BaseException as e:
                if "sft" not in done:
                    with deferred():
                        for part, _ in parts:
                            part.unlink(missing_ok=True)
                if isinstance(e, OSError):
                    raise WoodError(f"cannot write the fine-tuning set to {shown_path(train)}: {e.strerror or e}"
                                    ) from None
                raise
            for note in notes + notes_live:
                print(note)
            n_used_held = len(used & held_out.keys())
            held_seeds = sorted({held_out[p] for p in used & held_out.keys()})  # of the runs it came from
            print(f"wrote {counted(n_train, 'example')} from {counted(len(used) - n_used_held, 'run')} to "
                  f"{shown_path(train)}"
                  + (f" (left out: {counted(twins, 'example')} the same as a held-out one)" if twins else "")
                  + (f" and {counted(n_held, 'held-out example')} from {counted(n_used_held, 'run')}"
                     f" ({'seed' if len(held_seeds) == 1 else 'seeds'} {', '.join(map(str, held_seeds))}) to "
                     f"{shown_path(held)}" if held is not None else "")
                  + (f"; {counted(idle, 'run')} of the {len(runs)} read gave no example"
                     if (idle := len(runs) - len(used)) else ""))

        yield write
    finally:
        for ledger in ledgers:
            ledger.close()


def _nothing_fits(args, what: str, target: Path) -> None:
    """Refuse a set (or held-out set) that no recorded decision fits, naming the filters."""
    from engine.errors import WoodError
    from engine.sanitise import shown_path

    lo, hi = args.rounds or (1, None)
    filters = [f"rounds {lo}-{'' if hi is None else hi}"] if args.rounds else []
    filters += [f"outcome {','.join(args.outcome)}"] + ([f"model {', '.join(args.model)}"] if args.model else [])
    raise WoodError(f"no model decision in the runs read fits {what} ({'; '.join(filters)}): "
                    f"nothing written, {shown_path(target)} left as it was")


def _same_runs(ledgers: list) -> dict[Path, tuple[int, Path]]:
    """The saves among `ledgers` that repeat another's run: a copy (the same
    `Ledger.run_id`) whose first rounds are the other's, round for round
    (their recorded state hashes). Path -> (the first round of its own, the
    save whose rounds it repeats); a round past its last: wholly a copy, to
    be skipped. Of copies holding more rounds and fewer, the one holding most
    is read whole (the others are its earlier copies); of two as long, the
    one given first. A copy played on apart after it was copied is its own
    from the round they part on."""
    groups: dict[str, list] = {}
    for ledger in ledgers:
        groups.setdefault(ledger.run_id(), []).append(ledger)
    out: dict[Path, tuple[int, Path]] = {}
    for group in groups.values():
        if len(group) < 2:
            continue
        hashes = {ledger.path: ledger.round_hashes() for ledger in group}
        kept: list = []
        for ledger in sorted(group, key=lambda x: -len(hashes[x.path])):  # stable: the order given among equals
            mine, shared, like = hashes[ledger.path], 0, None
            for other in kept:
                theirs = hashes[other.path]
                n = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
                if n > shared:
                    shared, like = n, other.path
            if like is not None:
                out[ledger.path] = (shared + 1, like)
            kept.append(ledger)
    return out


def _make_dirs(out: Path) -> list[Path]:
    """Create `out` and its missing parents; the ones made, outermost first
    (so a failed export can take them away again)."""
    from engine.errors import WoodError
    from engine.sanitise import shown_path

    missing = []
    p = out
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    made = []
    try:
        for d in reversed(missing):
            try:
                d.mkdir()
            except FileExistsError:
                if not d.is_dir():
                    raise
                continue  # made meanwhile by another export (`folder_held` keeps the two apart): not ours
            made.append(d)
    except OSError as e:
        for d in reversed(made):
            with contextlib.suppress(OSError):
                d.rmdir()
        raise WoodError(f"cannot make the --out directory {shown_path(out)}: {e.strerror or e}") from None
    return made


def _write(path: Path, rows, parts: list[tuple[Path, Path]]) -> int:
    """Write `rows` as JSONL to a new temporary file beside `path` (noted in
    `parts`); the caller renames. The file is made afresh under a name no
    file had (never `path`.part: a save of that name, or a link or a pipe
    there, would have been written through, then removed)."""
    import os

    from engine.ledger import part_file

    fd = part_file(path, parts)
    n = 0
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")  # ASCII: a raw reply's bidi or invisible marks show as escapes
            n += 1
    return n
