"""`wood sweep`: the same seeds under several rosters, compared.

    wood sweep --roster scripted.toml --roster cpu-mix.toml --seeds 1-5 --rounds 100

Each (roster, seed) is one `wood sim --save` run, kept under `--out`
(`DIR/ROSTER/seed-N.db`, its output beside it in `seed-N.log`), started
from the roster as the sweep read it (`DIR/ROSTER/roster.toml`: a roster
file edited while the sweep plays changes none of its runs). Run the
same command again after a kill (even `kill -9`: the runs in flight die
with the sweep) and it goes on: a finished run is kept, a killed one is
resumed from its last committed round, a missing one is played. Runs go
`--jobs` at a time; a roster with the embedded model runs one at a time
(each run starts its own llama.cpp server, which would share the CPU).
Then every run is measured (`wood report`'s measures, over its first
`--rounds` rounds) and the table compares the rosters metric by metric:
the mean over seeds with its 95% interval. `--json` prints it as one
object; `--plot` and `--plots DIR` chart it.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.flags import bounded_int
from engine.metrics import counted
from engine.sanitise import clean_text, json_path, shell_line, shown_path
from wood_tui.commands.report import add_plot_flags, add_price_flags, prices_of, unused_prices
from wood_tui.options import DEFAULT_ROUNDS, MAX_ROUNDS, dir_text, file_text, kind_of, seed_list

PLAN = "sweep.json"  # in --out: the rosters (and their files' digests) the runs there were played with
LOCK = ".sweep.lock"
FROZEN = "roster.toml"  # in each roster's folder of runs: the roster as the sweep read it, which its runs play


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--roster", action="append", required=True, metavar="FILE", type=file_text,
                   help="a roster TOML; give it once per roster to compare (its file name names it)")
    p.add_argument("--seeds", type=seed_list, default=seed_list("1-5"), metavar="SEEDS",
                   help="the seeds every roster plays: 1-10, 1,3,7 or 1-3,9 (default 1-5)")
    p.add_argument("--rounds", type=bounded_int(1, MAX_ROUNDS), default=DEFAULT_ROUNDS, metavar="R",
                   help=f"rounds per run (default {DEFAULT_ROUNDS})")
    p.add_argument("--out", default="sweep", metavar="DIR", type=dir_text,
                   help="where the runs are kept (default ./sweep); the same DIR resumes a killed sweep")
    p.add_argument("--jobs", type=bounded_int(1, 256), default=os.cpu_count() or 1, metavar="N",
                   help="runs at a time (default: one per CPU core); the embedded model's runs go one at a time")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    add_price_flags(p)
    add_plot_flags(p)


@dataclass(frozen=True)
class RosterFile:
    label: str
    path: Path
    digest: str
    embedded: bool  # a creature thinks with the embedded model: its runs go one at a time
    text: bytes  # the file as read and checked: what every run of it plays

    def frozen(self, out: Path) -> Path:
        """The roster's copy in its folder of runs, which its new runs are started
        with: edited while the sweep plays, the file would mix two rosters."""
        return out / self.label / FROZEN


@dataclass(frozen=True)
class Job:
    roster: RosterFile
    seed: int
    save: Path

    @property
    def name(self) -> str:
        return f"{self.roster.label} seed {self.seed}"


class _Tally:
    """What a sweep has done, for the line a stop (Ctrl-C, SIGTERM, SIGHUP) ends it with."""

    def __init__(self, runs: int):
        self.runs = runs
        self.finished = 0  # before this sweep, or in it
        self.failed: list[Job] = []
        self.stopped = 0  # runs in flight when the sweep was stopped: stopped and waited for, their rounds kept
        self.begun = False  # the runs are in play (their saves checked): what they play with stays
        self.measuring = False
        self.shown = False  # the table (or the JSON) was printed whole
        self.charts: list[Path] = []  # the chart files written into --plots: all of them, or none

    def said(self, out: Path, plots: str | None = None) -> str:
        where = shown_path(out)
        if self.shown:
            return "the table above is whole" + ("" if plots is None else (
                f"; {len(self.charts)} chart files written to {shown_path(plots)}" if self.charts else
                f"; no chart file written to {shown_path(plots)}"))
        parts = [f"{self.finished} of {counted(self.runs, 'run')} finished"]
        if self.stopped:
            parts.append(f"{self.stopped} stopped part way (every round they committed is kept)")
        if self.failed:
            parts.append(f"{len(self.failed)} failed (see {shown_path(self.failed[0].save.with_suffix('.log'))}"
                         + (" and the others' logs" if len(self.failed) > 1 else "") + ")")
        if rest := self.runs - self.finished - self.stopped - len(self.failed):
            parts.append(f"{rest} not begun")
        said = ", ".join(parts) + f", in {where}"
        if self.measuring:
            return f"stopped while measuring the runs: {said}; nothing compared: run the same command to compare them"
        if self.runs == self.finished + len(self.failed):  # every run played: stopped while the table was printed
            return f"{said}; stopped before the table was whole: run the same command to compare them"
        return f"{said}; run the same command to go on"


class _Laid:
    """What this sweep laid down before a run of it began: the folders it made
    (--out and those above it, a roster's folder of runs: outermost first) and
    the files it wrote into --out that were not there (the lock, the plan, a
    roster's copy). A sweep that fails before its runs begin (a full disk, a
    save it cannot resume) takes them away, so --out is as it was found (a
    folder only if empty: never the user's, nor one holding anything else);
    once its runs are in play they stay: run again, the sweep goes on from
    them. And the folders --plots made, taken away (only if empty) when the
    charts are not written."""

    def __init__(self):
        self.folders: list[Path] = []
        self.files: list[Path] = []
        self.plots: list[Path] = []

    def folder(self, path: Path) -> None:
        """`path` made if it is not there (noted as this sweep's when made)."""
        from engine.stops import deferred

        try:
            with deferred():  # a stop lands after the folder is noted, never between
                path.mkdir()
                self.folders.append(path)
        except FileExistsError:
            if not path.is_dir():
                raise

    def unwrite(self) -> None:
        """The files it wrote taken away, last first (with --out's lock held: no other sweep uses them)."""
        from engine.stops import deferred

        with deferred():  # a Ctrl-C does not stop the clearing half way
            for f in reversed(self.files):
                with contextlib.suppress(OSError):
                    f.unlink(missing_ok=True)
            self.files.clear()


def run(args) -> int:
    from wood_tui import plots

    rosters = _rosters(args.roster)
    # both checked before either is made: a --out or --plots that cannot be used leaves no folder behind,
    # and --plots is made once the plan in --out is known to fit
    plots.check_dir(args.out, "--out", make=False)
    if args.plots is not None:
        plots.check_dir(args.plots, make=False)
    laid = _Laid()
    tally = _Tally(len(rosters) * len(args.seeds))
    try:
        out = plots.check_dir(args.out, "--out", made=laid.folders)
        with _locked(out, laid):
            try:
                return _swept(args, rosters, out, laid, tally)
            except BaseException:  # failed, or stopped before its runs were looked at (a stop after says so)
                if not tally.begun:  # before a run began: what it wrote for them goes
                    laid.unwrite()
                raise
    except BaseException:  # a full disk, a save that cannot be resumed: no empty folder of ours is left behind
        plots.unmake(laid.plots)
        plots.unmake(laid.folders)  # each only if empty: once runs began, none of these is
        raise


def _swept(args, rosters: list[RosterFile], out: Path, laid: _Laid, tally: _Tally) -> int:
    from engine.stops import exit_status, interrupted, run_stoppable
    from wood_tui import plots

    _check_plan(out, rosters, args.rounds, laid.files)
    plots_dir = plots.check_dir(args.plots, made=laid.plots) if args.plots is not None else None
    if plots_dir is not None:
        plots.check_charts(plots_dir, plots.SWEEP_CHARTS)
    jobs = [Job(r, s, out / r.label / f"seed-{s}.db") for r in rosters for s in args.seeds]
    for r in rosters:
        laid.folder(out / r.label)
        _write_frozen(r, out, laid.files)
    try:
        with asyncio.Runner() as runner:  # Ctrl-C, SIGTERM, SIGHUP: the runs in flight are stopped and waited for
            failed = run_stoppable(runner, _play(jobs, args.rounds, args.jobs, tally))
        tally.measuring = True
        result = _measure([j for j in jobs if j not in failed], rosters, args, prices_of(args))
        tally.measuring = False
        return _show(result, jobs, failed, rosters, args, out, plots_dir, tally)
    except KeyboardInterrupt as e:
        plots.unmake(laid.plots)  # no chart written: the folders made for them go (the runs stay)
        print(f"wood: {interrupted(e)}: {tally.said(out, args.plots)}", file=sys.stderr)
        return exit_status(e)


def _show(result: dict, jobs: list[Job], failed: list[Job], rosters: list[RosterFile], args, out: Path,
          plots_dir: Path | None, tally: _Tally) -> int:
    """The table (or the JSON), the charts, and each run that failed."""
    from wood_tui import plots

    called = result.pop("called")  # the models that made a call, in any run: what a price is used on
    result["failed"] = [{"roster": j.roster.label, "seed": j.seed, "log": json_path(j.save.with_suffix(".log"))}
                        for j in failed]
    labels = [r.label for r in rosters]
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        from engine.sweep import table_lines

        done = len(jobs) - len(failed)
        if done:
            print(f"sweep of {counted(len(rosters), 'roster')} x {counted(len(args.seeds), 'seed')} x "
                  f"{counted(args.rounds, 'round')} (runs in {shown_path(out)}"
                  + (f"; {done} of {len(jobs)} finished" if failed else "")
                  + "); per metric: the mean over seeds [95% interval]")
            for line in table_lines(result["table"], labels, len(args.seeds)):
                print(line)
        else:
            print(f"sweep of {counted(len(rosters), 'roster')} x {counted(len(args.seeds), 'seed')}: no run finished, so nothing to compare")
    tally.shown = True
    try:
        if result["runs"] and (note := unused_prices(args, called)):  # every run scripted (no call): no cost to show
            print(f"note: {note} in this sweep's runs", file=sys.stderr)
        if args.plot:
            charts_to = sys.stderr if args.json else sys.stdout
            print(plots.sweep_charts(result["table"], labels, colour=plots.coloured(charts_to)), end="", file=charts_to)
        if plots_dir is not None:
            from engine.errors import WoodError

            try:
                written = plots.sweep_files(result["table"], labels, plots_dir, tally.charts)
            except OSError as e:  # what the charts' own lines do not name (matplotlib's, a temporary file's)
                raise WoodError(f"cannot write the charts into {shown_path(plots_dir)}: {e.strerror or e}") from None
            print(f"wrote {len(written)} chart files to {shown_path(plots_dir)}", file=sys.stderr)
    finally:  # the charts not written (a full disk, a stop) or written: every run that failed is said, before why
        for f in result["failed"]:
            print(f"wood: error: {f['roster']} seed {f['seed']} did not finish (see {shown_path(f['log'])}); "
                  "run the same command again to retry it", file=sys.stderr)
    return 1 if failed else 0


def _write_frozen(r: RosterFile, out: Path, wrote: list[Path] | None = None) -> None:
    """The roster as planned, written (whole, by a rename) into its folder of
    runs; `wrote`: the copy is added to it if it was not there before."""
    _write_whole(r.frozen(out), r.text, out, wrote)


def _write_whole(target: Path, data: bytes, out: Path, wrote: list[Path] | None = None) -> None:
    """`data` written to `target` in `out` whole, by a rename, or one line
    saying why not (a full disk), with no half-written part file left behind;
    `wrote`: `target` is added to it if it was not there before. The part
    file is `engine.ledger.part_file`'s, made afresh: `target`.part had been
    written through, so a link left there had its target written over (and
    renamed into the plan's place), a named pipe there waited for good."""
    from engine.errors import WoodError
    from engine.ledger import part_file
    from engine.stops import deferred

    parts: list[tuple[Path, Path]] = []
    try:
        with os.fdopen(part_file(target, parts), "wb") as fh:
            fh.write(data)
        with deferred():  # a stop lands after a new file is noted, never between
            new = not target.exists() and not target.is_symlink()
            parts[-1][0].replace(target)  # (still listed until renamed: a failed rename leaves no part file)
            parts.clear()
            if new and wrote is not None:
                wrote.append(target)
    except BaseException as e:  # a full disk, or a stop: the part file goes
        for part, _ in parts:
            with contextlib.suppress(OSError):
                part.unlink()
        if not isinstance(e, OSError):
            raise
        raise WoodError(f"--out {shown_path(out)}: cannot write {shown_path(target)} ({e.strerror or e})") from None


def _rosters(paths: list[str]) -> list[RosterFile]:
    from engine.errors import WoodError
    from serve.roster import find_roster, load_roster, read_text_bytes

    out: list[RosterFile] = []
    for given in paths:
        roster = load_roster(given)  # a roster that cannot be used is one line, before anything is played
        path = find_roster(given)
        used = {c.model for c in roster.creatures}
        label = path.stem
        if (not label.strip() or label.startswith(".") or label in (PLAN, LOCK) or "/" in label or "\\" in label
                or clean_text(label) != label):  # printed in every table line: plain text, no escapes
            # the label names the folder of the roster's runs in --out: it must be one, inside it, of its own
            raise WoodError(f"--roster {shown_path(given)}: its file name {path.name!r} cannot name a folder of runs "
                            "(a name like vllm.toml does); rename the file")
        if any(r.label == label for r in out):
            raise WoodError(f"two rosters are named {label!r} (the file name names a roster's runs): rename one")
        keyed = sorted(k for k, m in roster.models.items() if m.api_key and not m.api_key_env)
        if keyed:  # a sweep resumes its killed runs from their saves, which keep no literal key
            raise WoodError(f"--roster {shown_path(given)}: model {keyed[0]} has a literal api_key, which a save "
                            "never keeps, so a sweep's resumed runs would go without it: name the variable that "
                            "holds it with api_key_env")
        text = read_text_bytes(path)  # what its runs will play: the file as it was checked, or refused
        if load_roster(given).model_dump() != roster.model_dump():
            raise WoodError(f"--roster {shown_path(given)}: the file changed while it was read; run the sweep again")
        digest = hashlib.sha256(text).hexdigest()
        out.append(RosterFile(label, path, digest, any(m.embedded for k, m in roster.models.items() if k in used),
                              text))
    return out


@contextlib.contextmanager
def _locked(out: Path, laid: _Laid | None = None):
    """One sweep at a time in a folder; `laid`: the lock file is noted in it
    if this sweep made it (once it holds it: never one another sweep holds)."""
    import fcntl

    from engine.errors import WoodError

    lock = out / LOCK
    new = not lock.exists() and not lock.is_symlink()
    if not new and not lock.is_file():  # a named pipe there: opened, it waited for a reader for good
        raise WoodError(f"{shown_path(lock)} is {kind_of(lock)}, not a sweep's lock file; choose another --out")
    try:
        fh = open(lock, "w")
    except OSError as e:
        raise WoodError(f"cannot write into --out {shown_path(out)}: {e.strerror or e}") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise WoodError(f"another wood sweep is running in {shown_path(out)}") from None
        if new and laid is not None:
            laid.files.append(lock)
        yield


def _check_plan(out: Path, rosters: list[RosterFile], rounds: int, wrote: list[Path] | None = None) -> None:
    """The runs in `out` were played with these rosters' files as they are now
    (a roster changed since is refused: its runs would mix two rosters), and
    to the same length (a run played on, or measured part of the way, is not
    the game a fresh run of that length is). Where no run has a round
    played, nothing binds: the plan is written anew (added to `wrote` if
    it was not there before)."""
    from engine.errors import WoodError

    path = out / PLAN
    plan: dict = {"rosters": {}}
    if (path.exists() or path.is_symlink()) and not path.is_file():  # a named pipe there: read, it waited for good
        raise WoodError(f"{shown_path(path)} is {kind_of(path)}, not a sweep's plan; choose another --out")
    if path.exists():
        try:
            plan = json.loads(path.read_text(encoding="utf-8"))
            known = plan["rosters"]
            assert isinstance(known, dict)
        except (OSError, ValueError, KeyError, TypeError, AssertionError):
            raise WoodError(f"{shown_path(path)} is not a sweep's plan; choose another --out") from None
        # a plan binds only where runs were played to it: a sweep whose runs all failed (a model's name
        # misspelt) is run again as it said, with the roster mended, not refused for runs it never played
        if plan.get("rounds", rounds) != rounds and any(_holds_runs(d) for d in out.iterdir() if d.is_dir()):
            raise WoodError(f"{shown_path(out)} holds runs of {counted(plan['rounds'], 'round')}: "
                            f"give --rounds {plan['rounds']}, or choose another --out")
        for r in rosters:
            old = known.get(r.label)
            if isinstance(old, dict) and old.get("sha256") != r.digest and _holds_runs(out / r.label):
                raise WoodError(f"{shown_path(out)} holds runs of another roster named {r.label!r} "
                                "(its file changed since); choose another --out, or rename the roster file")
    for r in rosters:
        plan["rosters"][r.label] = {"path": json_path(r.path), "sha256": r.digest}  # as --json writes it
    plan["rounds"] = rounds
    _write_whole(path, (json.dumps(plan, indent=1, sort_keys=True) + "\n").encode(), out, wrote)  # ASCII: json's escapes


def _holds_runs(folder: Path) -> bool:
    """Whether a roster's folder of runs holds a run with a round played (or a
    save that does not open, which may hold some)."""
    return any(not (save.is_file() and save.stat().st_size == 0) and _rounds_in(save, unreadable=1) > 0
               for save in folder.glob("seed-*.db"))


def _committed(save: Path, seed: int, rounds: int) -> int:
    """Rounds committed in a run's save (0: none, or no save). A save killed
    before its first round committed (or an empty file) is removed: the run
    starts again. A save that does not open, or is another seed's run, is
    refused and kept: it may hold rounds that cannot be played the same way
    again; so is one another wood process is writing (a live run: removed
    or resumed, it would be lost), one another program holds locked, one a
    newer wood wrote, one an older wood wrote whose records `wood export`
    still reads (to be resumed, or if it has its `rounds`, measured), one
    older still (only an older wood reads it), and one this user may not
    read, each with what to do instead of removing it. One that does not
    open 'cannot be read': how many rounds it holds is not known, so not
    whether it was to be resumed or, finished, only measured."""
    from engine.errors import WoodError
    from engine.ledger import (LOCK_HELD, CompanionError, Ledger, LedgerError, LockedSaveError, NewerSaveError,
                               OldSaveError, OlderSaveError, UnreadableSaveError, being_written)

    if not save.exists() and not save.is_symlink():
        return 0
    if being_written(save):
        raise WoodError(f"{shown_path(save)} is in use by another wood process (a run saving to it or resuming it); "
                        "the save is kept: let that one end, then run the same command again, or choose another --out")
    if save.is_file() and save.stat().st_size == 0:  # a creation killed before its first byte: nothing to lose
        from engine.ledger import remove_save

        remove_save(save)
        return 0
    try:
        ledger = Ledger.open(save, readonly=True)
        try:
            n, recorded = ledger.last_round(), ledger.seed
        finally:
            ledger.close()
    except CompanionError as e:  # the save may be whole: the line says what to do with the file beside it
        raise WoodError(f"{shown_path(save)} cannot be read ({e}); the save is kept: then run the same command "
                        "again to go on from it") from None
    except NewerSaveError as e:  # whole, for that build: removed, its run would be lost
        raise WoodError(f"{shown_path(save)} cannot be read by this build ({e}); the save is kept: run the same "
                        "command with that newer wood, or choose another --out") from None
    except UnreadableSaveError as e:  # its permissions, not what it holds
        raise WoodError(f"{shown_path(save)} cannot be read ({e}); the save is kept: let this user read it (mend "
                        "the permissions), then run the same command again, or choose another --out") from None
    except LockedSaveError:  # another program's, for now: removed, its run would be lost
        raise WoodError(f"{shown_path(save)} cannot be read: {LOCK_HELD}; the save is kept: let that program let go of "
                        "it, then run the same command again, or choose another --out") from None
    except OlderSaveError as e:  # this build cannot play it on, nor measure it, but `wood export` reads its records
        try:  # as `wood export` reads it
            older = Ledger.open(save, readonly=True, rows_only=True)
            try:
                older.check_records()
                verb = "measured" if older.last_round() >= rounds else "resumed"  # finished, it is only to be measured
            finally:
                older.close()
        except LedgerError as damaged:  # export refuses it too: the save itself will not do
            raise WoodError(f"{shown_path(save)} cannot be read ({damaged}); remove it to play that run again") from None
        export = shell_line(["wood", "export", f"./{save}" if str(save).startswith("-") else save, "--out", "DIR"])
        raise WoodError(f"{shown_path(save)} cannot be {verb} by this build ({e}); the save is kept: `{export}` can "
                        "still read its records; remove it (or choose another --out) to play that run again with "
                        "this build") from None
    except OldSaveError as e:  # whole, for the older wood that wrote it: removed, its run would be lost
        raise WoodError(f"{shown_path(save)} cannot be read by this build ({e}); the save is kept: an older wood reads "
                        "it; remove it (or choose another --out) to play that run again with this build") from None
    except LedgerError as e:  # the save itself will not do: another run's, damaged, cut short
        raise WoodError(f"{shown_path(save)} cannot be read ({e}); remove it to play that run again") from None
    if recorded != seed:
        raise WoodError(f"{shown_path(save)} is a run of seed {recorded}, not {seed}; the save is kept (seed {recorded}'s "
                        f"run): move it away, or choose another --out, to play seed {seed}'s run")
    if n == 0:
        from engine.ledger import remove_save

        remove_save(save)
    return n


async def _play(jobs: list[Job], rounds: int, width: int, tally: _Tally | None = None) -> list[Job]:
    """Play or resume every unfinished run; the ones that failed. Cancelled
    (the sweep stopped), the runs in flight are stopped as a `kill` stops a
    `wood sim` (their rounds saved whole) and waited for."""
    tally = tally if tally is not None else _Tally(len(jobs))
    await _let_go(jobs)
    todo = []
    done = 0
    for j in jobs:
        n = _committed(j.save, j.seed, rounds)
        if n >= rounds:
            done += 1
        else:
            _check_log(j.save.with_suffix(".log"))
            todo.append((j, n))
    tally.begun = True
    resumed = sum(1 for _, n in todo if n)
    pace = f"; {min(width, len(todo))} at a time" if todo else ""  # no more at once than there are runs to go
    _note(f"sweep: {counted(len(jobs), 'run')}, {done} finished already, {resumed} to resume, {len(todo) - resumed} to play"
          f"{pace}" + (" (the embedded model's runs one at a time)" if any(j.roster.embedded for j, _ in todo) else ""))
    slots, embedded = asyncio.Semaphore(width), asyncio.Semaphore(1)
    failed = tally.failed
    tally.finished = done
    counter = [done]

    async def one(job: Job, committed: int) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if job.roster.embedded:
                await stack.enter_async_context(embedded)
            await stack.enter_async_context(slots)
            t0 = time.monotonic()
            try:
                rc = await _sim(job, rounds, committed)
            except asyncio.CancelledError:  # the sweep was stopped: so was this run, and it has ended
                tally.stopped += 1
                raise
            counter[0] += 1
            how = f"resumed at round {committed}, {counted(rounds - committed, 'round')} more" if committed else \
                counted(rounds, "round")
            if rc == 0:
                tally.finished += 1
                _note(f"[{counter[0]}/{len(jobs)}] {job.name}: {how} in {time.monotonic() - t0:.0f} s")
            else:
                failed.append(job)
                _note(f"[{counter[0]}/{len(jobs)}] {job.name}: failed (exit {rc}); "
                      f"see {shown_path(job.save.with_suffix('.log'))}")

    # not gather: cancelled, it would end at the first run cancelled (one not begun), and the runs
    # still stopping would be cancelled again by the loop's close, and killed
    tasks = [asyncio.ensure_future(one(j, n)) for j, n in todo]
    if tasks:
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:  # stopped, or a run could not be started: the others are stopped too, and waited for
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks)
        for t in tasks:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()
    return [j for j in jobs if j in failed]


def _check_log(log: Path) -> None:
    """A run's log, written to as it plays, is a file or nothing yet: a named
    pipe there was opened and waited on for a reader for good, deaf to a stop."""
    from engine.errors import WoodError

    if (log.exists() or log.is_symlink()) and not log.is_file():
        raise WoodError(f"{shown_path(log)} is {kind_of(log)}, not a run's log; choose another --out")


STOP_GRACE_S = 60.0  # a run asked to stop ends its round in hand (a model's slowest call) before it is killed
HELD_POLL_S = 0.1  # how often a save another wood process is writing is looked at again (`_let_go`)


async def _let_go(jobs: list[Job]) -> None:
    """Wait, up to STOP_GRACE_S, for the saves of `jobs` that another wood
    process is writing to be let go. The sweep holds its folder's lock, so
    that process is no other sweep: chiefly a run of this command killed a
    moment ago (`kill -9` of the sweep), which has its SIGTERM (it dies with
    its sweep) and ends its round in hand first; run again in that time, the
    same command had refused the save as 'in use'. One still held after the
    wait is refused so (`_committed`)."""
    from engine.ledger import being_written

    held = [j.save for j in jobs if being_written(j.save)]
    if not held:
        return
    from engine.errors import WoodError

    saves = shown_path(held[0]) + (f" and {counted(len(held) - 1, 'other save')}" if len(held) > 1 else "")
    one = len(held) == 1
    # the holder may be any wood process (a `wood sim --resume` of the save, say), not only a killed sweep's run
    _note(f"sweep: {saves} {'is' if one else 'are'} in use by {'another wood process' if one else 'other wood processes'} "
          f"(perhaps {'a run' if one else 'runs'} of a sweep stopped a moment ago, ending {'its' if one else 'their'} "
          f"round in hand): waiting up to {STOP_GRACE_S:g} s for {'it' if one else 'them'} to let go")
    deadline = time.monotonic() + STOP_GRACE_S
    while held and time.monotonic() < deadline:
        await asyncio.sleep(HELD_POLL_S)
        held = [save for save in held if being_written(save)]
    if held:
        raise WoodError(f"{shown_path(held[0])} is in use by another wood process (a run saving to it or resuming it), "
                        f"still after {STOP_GRACE_S:g} s; the save is kept: let that one end, then run the same command "
                        "again, or choose another --out")


async def _sim(job: Job, rounds: int, committed: int) -> int:
    """One `wood sim` in its own process and process group, dying with this
    one (so a killed sweep leaves no run writing behind it); its output goes
    to the log. A terminal's Ctrl-C reaches the sweep, not its runs: the
    sweep stops them (SIGTERM: the round in hand finished or dropped, the save
    closed whole) and waits for them; one that has not ended after
    STOP_GRACE_S, or a second stop, is killed with its group (its committed
    rounds stay in the save and its -wal, for the next sweep to resume)."""
    import signal

    from serve.health import die_with_parent

    # each path joined to its flag: an --out that begins with a dash (`--out=-ab`) would read as a flag
    argv = [f"--resume={job.save}"] if committed else [f"--roster={job.roster.frozen(job.save.parent.parent)}",
                                                       f"--seed={job.seed}", f"--save={job.save}"]
    cmd = [sys.executable, "-m", "wood_tui.cli", "sim", *argv, "--rounds", str(rounds), "--quiet"]
    with open(job.save.with_suffix(".log"), "a", encoding="utf-8") as log:
        log.write(f"$ {shell_line(['wood', *cmd[3:]])}\n")  # as a shell runs it, whatever the paths hold
        log.flush()
        proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                                                    stderr=log, preexec_fn=die_with_parent, start_new_session=True)
        try:
            return await proc.wait()
        except BaseException:  # the sweep was stopped: so is the run, its committed rounds kept
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), STOP_GRACE_S)
            except BaseException:  # it would not end, or a second stop: now, with its whole group
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                raise
            if proc.returncode == 0 or _rounds_in(job.save) >= rounds:  # it had finished as it was asked to stop
                return 0
            raise


def _rounds_in(save: Path, unreadable: int = 0) -> int:
    """The rounds committed to a run's save (0: none; `unreadable` where it does not open)."""
    from engine.ledger import Ledger, LedgerError

    try:
        ledger = Ledger.open(save, readonly=True)
    except LedgerError:
        return unreadable
    try:
        return ledger.last_round()
    finally:
        ledger.close()


def _measure(jobs: list[Job], rosters: list[RosterFile], args, prices) -> dict:
    """Every finished run's measures, and the comparison table."""
    from multiprocessing import Pool

    from engine.stops import deferred
    from engine.sweep import compare

    ready = [j for j in jobs if j.save.exists()]
    pool = Pool(max(1, min(args.jobs, len(ready) or 1)), initializer=_measurer)
    try:
        measured = pool.starmap(_metrics_of, [(str(j.save), args.rounds, prices) for j in ready], chunksize=1)
        pool.close()
    except BaseException:  # stopped: the workers end now, each closing the save it read (no -wal, -shm left)
        with deferred():
            pool.terminate()
        raise
    finally:
        with deferred():
            pool.join()
    runs = [{"roster": j.roster.label, "seed": j.seed, "path": json_path(j.save), "rounds": n, "metrics": m}
            for j, (n, m, _) in zip(ready, measured)]
    called = {k: c for _, _, models in measured for k, c in models.items()}
    by_roster = {r.label: [x["metrics"] for x in runs if x["roster"] == r.label] for r in rosters}
    return {"rosters": {r.label: {"path": json_path(r.path), "sha256": r.digest} for r in rosters},
            "seeds": args.seeds, "rounds": args.rounds, "out": json_path(args.out), "runs": runs,
            "table": compare(by_roster), "called": called}


def _measurer() -> None:
    """A measuring worker: it dies with the sweep (even kill -9: none is left
    holding its lock); a terminal's Ctrl-C is the sweep's to act on, not
    each worker's (a traceback each); the sweep's SIGTERM, when it is
    stopped, ends it quietly, the save it was reading closed on the way out."""
    import signal

    from serve.health import die_with_parent

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGHUP, leave)


def _metrics_of(path: str, rounds: int, prices) -> tuple[int, dict, dict]:
    """A run's rounds measured, its measures, and its models that made a call
    (as its report has them: `{model: {"calls": ...}}`, for `unused_prices`)."""
    from engine.report import report_of
    from engine.sweep import run_metrics
    from engine.world import load_world

    report = report_of(path, load_world(), prices=prices, upto=rounds)
    d = report.to_dict()
    return report.rounds, run_metrics(d), {k: {"calls": m["calls"]} for k, m in d["models"].items()
                                           if m["calls"] is not None}


def _note(msg: str) -> None:
    """A line of progress: its paths already through `shown_path` (one line, runs
    of spaces kept), so it is printed as it is where all of it is printable, else
    made inert (a roster label or a count never holds what a terminal obeys)."""
    print(msg if msg.isprintable() else clean_text(msg), file=sys.stderr, flush=True)
