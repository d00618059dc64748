"""SIGTERM and SIGHUP stop a command as Ctrl-C does.

Ctrl-C raises KeyboardInterrupt where the program stands, and in a headless
run's event loop cancels the main task (asyncio's Runner), so that the
round in hand ends at an await: finished and committed, or dropped, never
half-written. A `kill` (SIGTERM) or a terminal closed under it (SIGHUP)
ended the process where it stood, with nothing said and a save's -wal file
left beside it. `take_stop_signals` makes them raise `Stopped`, a
KeyboardInterrupt that knows its signal (exit 128 + it: 143 for SIGTERM),
and `run_stoppable` has them cancel a loop's main task as Ctrl-C does. A
signal the process was started ignoring (`nohup` ignores SIGHUP) stays
ignored.
"""
from __future__ import annotations

import asyncio
import contextlib
import signal

# SIGHUP is POSIX only: on Windows a terminal closed ends the process as before
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Stopped(KeyboardInterrupt):
    """A stop asked for by SIGTERM or SIGHUP, handled wherever Ctrl-C's
    KeyboardInterrupt is; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def exit_status(e: KeyboardInterrupt) -> int:
    """128 + the signal that stopped the program: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP."""
    return 128 + (e.signum if isinstance(e, Stopped) else signal.SIGINT)


def interrupted(e: KeyboardInterrupt) -> str:
    """`interrupted`, naming the signal unless it was Ctrl-C's."""
    return f"interrupted ({signal.Signals(e.signum).name})" if isinstance(e, Stopped) else "interrupted"


def _raise(signum: int, frame: object) -> None:
    raise Stopped(signum)


def take_stop_signals() -> None:
    """From here SIGTERM and SIGHUP raise `Stopped` (those not ignored)."""
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError):  # not the main thread: they stay as they are
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _raise)


def release_stop_signals() -> None:
    """SIGTERM and SIGHUP end the process again (the app's: Textual has the terminal)."""
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError):
            if signal.getsignal(sig) is _raise:
                signal.signal(sig, signal.SIG_DFL)


def run_stoppable(runner: asyncio.Runner, main):
    """`runner.run(main)`, where a SIGTERM or SIGHUP taken by `take_stop_signals`
    cancels the main task as asyncio's Runner does for Ctrl-C (it lands at an
    await, never inside a round's commit) and then raises `Stopped`; a second
    one raises it at once, as a second Ctrl-C does."""
    try:
        loop = runner.get_loop()
    except BaseException:  # no loop could be made (no file left to open): `main` is never run
        main.close()
        raise
    task: asyncio.Task | None = None
    got: list[int] = []

    async def main_task():
        nonlocal task
        task = asyncio.current_task()
        return await main

    def on_stop(signum: int, frame: object) -> None:
        if got or task is None or task.done():
            raise Stopped(signum)
        got.append(signum)
        task.cancel()
        loop.call_soon_threadsafe(lambda: None)  # wakes a loop waiting in select()

    ours = []
    for sig in STOP_SIGNALS:
        with contextlib.suppress(ValueError):
            if signal.getsignal(sig) is _raise:
                signal.signal(sig, on_stop)
                ours.append(sig)
    wrapped = main_task()
    try:
        return runner.run(wrapped)
    except asyncio.CancelledError:
        if got:
            raise Stopped(got[0]) from None
        raise
    except OSError:
        if loop.is_running():  # it could not start (uvloop, no file left to open) yet says it runs: it never
            # will, so its task never ends, and nothing it would say of that (at exit) is worth a line
            loop.set_exception_handler(lambda loop, context: None)
        raise
    finally:
        if task is None:  # stopped before it began: no "never awaited" warning
            wrapped.close()
            main.close()
        for sig in ours:
            if signal.getsignal(sig) is on_stop:
                signal.signal(sig, _raise)


@contextlib.contextmanager
def deferred():
    """A stop (Ctrl-C, or SIGTERM and SIGHUP where `take_stop_signals` took
    them) that comes inside the block waits for its end and is raised there:
    a few renames that make an output whole, or the removal of what a stopped
    command had half written, are done whole, never cut between two files.
    Python runs signal handlers in the main thread only, so it holds whatever
    thread the signal reaches; elsewhere (not the main thread) it does nothing."""
    got: list[int] = []

    def note(signum: int, frame: object) -> None:
        got.append(signum)

    swapped = {}
    for sig in (signal.SIGINT, *STOP_SIGNALS):
        with contextlib.suppress(ValueError):  # not the main thread
            old = signal.getsignal(sig)
            if old is _raise or old is signal.default_int_handler:
                signal.signal(sig, note)
                swapped[sig] = old
    try:
        yield
    finally:
        for sig, old in swapped.items():
            signal.signal(sig, old)
        if got:
            raise Stopped(got[0]) if got[0] != signal.SIGINT else KeyboardInterrupt()
