"""`wood sim`: the market, headless. New runs, `--resume` of a killed run
(to a total of `--rounds`), a progress bar on a terminal, plain lines
otherwise, and a summary: the run's measures, the final standings, and last
the line `state hash: <hex>`. A model that stops answering is said at once;
one that answers none of its calls for FAULT_STOP_ROUNDS rounds stops the
run (exit 1, its save resumable) rather than let its creatures pass on, and
a model server the game started that has exited stops it before the next round."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from wood_tui.options import DEFAULT_BRAINS, RunOptions, add_run_flags

FAULT_STOP_ROUNDS = 5  # rounds running in which every call to a model failed: the run stops (and can be resumed)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_flags(p, default_brains=DEFAULT_BRAINS["sim"])
    p.add_argument("--quiet", action="store_true", help="no progress output, just the summary")


def run(args) -> int:
    from engine.runner import run_headless
    from engine.stops import exit_status

    options = RunOptions.from_args(args, default_brains=DEFAULT_BRAINS["sim"])
    at = _At()
    try:
        return run_headless(_run(options, quiet=args.quiet, at=at))
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM or SIGHUP: every committed round is safe in the ledger
        _warn(_interrupted(e, options.save or options.resume, at, args.rounds))
        return exit_status(e)


class _At:
    """Where a run stands, for the line an interruption ends it with: its
    runner (its state's round is the last one played) and the round it goes to."""
    runner = None
    target = 0


def _interrupted(e: KeyboardInterrupt, path, at: _At, rounds: int | None) -> str:
    """The line a run stopped by Ctrl-C (or SIGTERM, SIGHUP) ends with: the
    round it stopped after (the round in hand was dropped, or committed
    whole), where its rounds are and how to resume."""
    from engine.sanitise import shown_path
    from engine.stops import interrupted

    said = f"wood: {interrupted(e)}"
    if path and not Path(path).exists():  # stopped before its first round was committed: the empty save went
        return f"{said}; no round was finished, so {shown_path(path)} was not kept"
    if at.runner is not None:  # the game had begun: its length is in the save
        return f"{said}: {_stopped(path, at.runner.state.round, at.target)}"
    if path:  # a resume still setting up (replaying its save, starting a model server): nothing added to it
        return f"{said} before the run began, {shown_path(path)} as it was; resume with: {_resume(path)}" + (
            f" --rounds {rounds}" if rounds else "")
    return said


async def _run(options: RunOptions, quiet: bool, at: _At | None = None) -> int:
    from engine.metrics import RunSummary
    from engine.sanitise import clean_lines
    from engine.score import standings_lines
    from engine.world import load_world
    from wood_tui.game import open_game

    world = load_world()
    summary = RunSummary()
    async with open_game(options, world, summary=summary, log=_log(quiet)) as game:
        target = game.target_rounds
        if at is not None:
            at.runner, at.target = game.runner, target
        progress = _Progress(game.runner.state.round, target, quiet=quiet)
        watch = _ModelWatch(_warn)
        gone = None  # why a model server the game started stopped: no round is played without it
        while game.runner.state.round < target and watch.dead is None:
            if (gone := game.server_gone()) is not None:
                break
            result = await game.runner.play_round()
            summary.add_round(result)
            watch.round(result.round, result.decisions)
            progress.tick(result.round)
        progress.done()
        for line in summary.lines(world.good_names):
            print(line)
        for line in game.model_report():
            print(line)
        for line in standings_lines(game.runner.state, world):
            print(line)
        print(f"state hash: {game.state_hash()}")
        path, last = options.save or options.resume, game.runner.state.round
        if gone is not None:
            _warn(f"wood: {clean_lines(gone)}\n{_stopped(path, last, target)}")
            return 1
        if watch.dead is not None:
            model, reason = watch.dead
            if last < target:
                _warn(f"wood: model {model} has answered none of its calls for {FAULT_STOP_ROUNDS} rounds ({reason}): "
                      + _stopped(path, last, target))
            else:  # the streak ran to the last round: nothing was cut short
                _warn(f"wood: model {model} answered none of its calls in the last {FAULT_STOP_ROUNDS} rounds ({reason})")
            return 1
    return 0


def _resume(path) -> str:
    """The command that resumes the save at `path`, as a shell reads it back (`resume_command`)."""
    from engine.sanitise import resume_command

    return resume_command("sim", path)


def _stopped(path, last: int, target: int) -> str:
    from wood_tui.game import stopped_after

    return stopped_after("sim", path, last, target)


def _warn(msg: str) -> None:
    if sys.stderr.isatty():  # on a line of its own, not after the progress bar's
        # a TERM=dumb terminal knows no escape codes (it would show `^[[K`): the bar's line is ended instead
        sys.stderr.write("\n" if os.environ.get("TERM") == "dumb" else "\r\x1b[K")
    print(msg, file=sys.stderr, flush=True)


class _ModelWatch:
    """Says when a model stops answering (a round in which every call to it
    failed) and when it answers again, even under --quiet; `dead` is the first
    model, with its last fault, to answer none of its calls for
    FAULT_STOP_ROUNDS rounds running: the run stops there rather than play on
    with its creatures passing (a server that died mid-run)."""

    def __init__(self, say):
        self.say = say
        self.streak: dict[str, int] = {}
        self.dead: tuple[str, str] | None = None

    def round(self, round_no: int, decisions: dict) -> None:
        from engine.brains import served

        by_model: dict[str, list] = {}
        for d in decisions.values():
            if d.call and d.call.get("model"):
                by_model.setdefault(d.call["model"], []).append(d)
        for model, ds in sorted(by_model.items()):
            if not any(served(d.call) for d in ds):  # an empty reply is an answer (of a model out of tokens)
                n = self.streak[model] = self.streak.get(model, 0) + 1
                reason = ds[-1].reason
                if n == 1:
                    self.say(f"wood: model {model}: every call failed in round {round_no} ({reason}); "
                             "its creatures pass until it answers")
                if n >= FAULT_STOP_ROUNDS and self.dead is None:
                    self.dead = (model, reason)
            elif self.streak.pop(model, 0):
                self.say(f"wood: model {model} answers again (round {round_no})")


def _log(quiet: bool):
    def log(msg: str) -> None:
        if not quiet:
            print(msg, file=sys.stderr, flush=True)
    return log


def _columns() -> int:
    """The width of the terminal stderr is (80 where it cannot be told: a
    terminal whose size was never set says 0, as `script`'s pty does)."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80


class _Progress:
    """A bar on a terminal; a plain line every tenth of the run otherwise."""

    def __init__(self, start: int, total: int, quiet: bool):
        self.start, self.total, self.quiet = start, total, quiet
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.step = max(1, (total - start) // 10)
        self.shown = 0  # the length of the bar's line on the screen

    def tick(self, r: int) -> None:
        if self.quiet:
            return
        done = r - self.start
        per = (time.perf_counter() - self.t0) / max(1, done)
        if self.tty:
            # one row of the terminal as it is now, short of its last column: a line wider than the terminal
            # wraps, and `\r` goes back to the start of its last row only, leaving the rows above on the screen
            room = _columns() - 1
            text = f" round {r}/{self.total}  {per * 1000:.1f} ms/round"
            width = min(30, room - len(text) - 2)
            if width >= 5:
                fill = int(width * r / self.total)
                line = f"[{'#' * fill}{'.' * (width - fill)}]{text}"
            else:
                line = text.strip()[:room]
            sys.stderr.write("\r" + line.ljust(min(self.shown, room)))  # the padding clears what a longer line left
            sys.stderr.flush()
            self.shown = len(line)
        elif done % self.step == 0 or r == self.total:
            print(f"round {r}/{self.total} ({per * 1000:.1f} ms/round)", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty and not self.quiet:
            sys.stderr.write("\n")
