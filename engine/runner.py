"""The async round loop: world step, every brain asked concurrently, actions
applied in a seeded order, invariants checked, the round committed.

`Runner.play_round()` is one season tick. Brains only ever receive a
`PublicView`; brain classes that can make the round's work ahead
(`prepare_round`) are handed every view of theirs before anyone is asked.
A brain that raises, or hangs past `decide_timeout_s` where one is given,
becomes a `pass` with a recorded fault: the round always completes. (The
commands give none: a model brain's calls carry their own deadlines, the
roster's `timeout_s`, and a human seat waits for its player.) An `Observer`
hears about each step (the UI's bridge implements it).
"""
from __future__ import annotations

import asyncio
import functools
import gc
import os
import time
from dataclasses import dataclass, field, replace

from .actions import PASS, Action
from .brains import ENGINE_PREFIX, Brain, Decision
from .errors import WoodError, files_short
from .events import Event
from .invariants import check_round
from .rules import close_round, open_round
from .state import State, canonical_state, digest
from .stops import run_stoppable
from .views import market_index, public_view
from .sanitise import clean_text
from .world import World

FAULT_MAX = 200  # a brain's exception, as a fault reason


@dataclass
class RoundResult:
    round: int
    events: list[Event]
    decisions: dict[str, Decision]
    state_hash: str
    wall_s: float = 0.0
    call_s: dict[str, float] = field(default_factory=dict)  # per-creature decide() time
    checked: bool = False  # the invariants were checked on this round


class Observer:
    """Hooks for whoever watches the run (the UI bridge, a progress bar). All optional."""

    def round_opened(self, round_no: int, state: State, events: list[Event]) -> None: ...
    def thinking(self, name: str) -> None: ...
    def decided(self, name: str, decision: Decision) -> None: ...
    def round_closed(self, result: RoundResult, state: State) -> None: ...


class Fanout(Observer):
    """Several observers heard in turn."""

    def __init__(self, observers: list[Observer]):
        self.observers = observers

    def round_opened(self, round_no, state, events):
        for o in self.observers:
            o.round_opened(round_no, state, events)

    def thinking(self, name):
        for o in self.observers:
            o.thinking(name)

    def decided(self, name, decision):
        for o in self.observers:
            o.decided(name, decision)

    def round_closed(self, result, state):
        for o in self.observers:
            o.round_closed(result, state)


GC_YOUNG = 200_000  # allocations between the collector's young passes while rounds run (Python's default: 700)


def roomy_collector() -> None:
    """Fewer, larger passes of Python's cycle collector. A round makes (and
    drops) every creature's view at once, and at model creatures its prompt,
    schema, request and reply: with the default thresholds a 1,000-creature
    model round ran ~100 young and ~1 full collection, about a tenth of the
    game's CPU. The threshold sits above what such a round holds at once, so
    a round's garbage goes with its references, not in a pass of its own
    (BENCHMARKS.md, "The model path at 1,000 creatures"). Never lowers a
    threshold already set higher."""
    young, middle, old = gc.get_threshold()
    if young < GC_YOUNG:
        gc.set_threshold(GC_YOUNG, middle, old)


EVENT_LOOPS = ("uvloop", "asyncio")
EVENT_LOOP_ENV = "WOOD_EVENT_LOOP"  # "asyncio": the standard library's loop even where uvloop is installed


def event_loop_kind() -> str:
    """The event loop headless runs use: uvloop's where it is installed (a
    dependency on Linux and macOS), else asyncio's own; WOOD_EVENT_LOOP
    picks one. uvloop's loop does a round's thousand calls' socket and task
    work in C: about 6% less of the game's CPU at 1,000 model creatures
    (BENCHMARKS.md, "The model path at 1,000 creatures"). The Textual app
    keeps asyncio's loop, which Textual runs itself."""
    wanted = os.environ.get(EVENT_LOOP_ENV, "").strip().lower()
    if wanted and wanted not in EVENT_LOOPS:
        raise WoodError(f"{EVENT_LOOP_ENV}={wanted!r}: expected one of {', '.join(EVENT_LOOPS)}")
    if wanted == "asyncio":
        return "asyncio"
    try:
        import uvloop  # noqa: F401
    except ImportError:
        if wanted == "uvloop":
            raise WoodError(f"{EVENT_LOOP_ENV}=uvloop, but uvloop is not installed") from None
        return "asyncio"
    return "uvloop"


LOOP_DESCRIPTORS = 4  # files an event loop opens as it is made (its poller, its wake-up pipe or socket pair)


def _new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of `kind`, or the OSError (EMFILE) of a process with
    too few files left to open for one (a low `ulimit -n`), asked first:
    short of them mid-way, libuv ends the process (SIGABRT), and a loop
    left half made says so as it is freed (uvloop logs that it was left
    open, asyncio's a traceback from its `__del__`)."""
    if (short := files_short(LOOP_DESCRIPTORS)) is not None:
        raise short
    if kind != "uvloop":
        return asyncio.new_event_loop()
    import logging

    import uvloop

    log = logging.getLogger("asyncio")
    was, log.disabled = log.disabled, True  # what uvloop logs of a loop it could not finish making
    try:
        return uvloop.new_event_loop()
    finally:
        log.disabled = was


def run_headless(main):
    """`asyncio.run(main)` on the loop `event_loop_kind` picks; SIGTERM and
    SIGHUP, where the command takes them (`engine.stops`), stop it as Ctrl-C does."""
    try:
        kind = event_loop_kind()
    except WoodError:
        main.close()  # never started: no "never awaited" warning after the error
        raise
    factory = functools.partial(_new_loop, kind)
    try:
        runner = asyncio.Runner(loop_factory=factory).__enter__()  # the loop is made here
    except BaseException:  # none could be (no file left to open): `main` is never run
        main.close()
        raise
    with runner:
        return run_stoppable(runner, main)


class Runner:
    def __init__(self, world: World, state: State, brains: dict[str, Brain], *, ledger=None,
                 observer: Observer | list[Observer] | None = None, decide_timeout_s: float | None = None,
                 check: bool = True):
        missing = set(state.creatures) - set(brains)
        if missing:
            raise ValueError(f"no brain for {sorted(missing)}")
        self.world = world
        self.state = state
        self.brains = brains
        self.ledger = ledger
        self.observer = Fanout(observer) if isinstance(observer, list) else (observer or Observer())
        self.decide_timeout_s = decide_timeout_s
        self.check = check

    async def _ask(self, name: str, view) -> tuple[Decision, float]:
        self.observer.thinking(name)
        t0 = time.perf_counter()
        try:
            coro = self.brains[name].decide(view)
            d = await (asyncio.wait_for(coro, self.decide_timeout_s) if self.decide_timeout_s else coro)
            if not isinstance(d, Decision) or not isinstance(d.action, Action):
                d = Decision(PASS, outcome="fault", reason=f"brain returned {type(d).__name__}")
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            d = Decision(PASS, outcome="fault", reason="fault: brain timed out")
        except Exception as e:  # a brain must never take the round down
            d = Decision(PASS, outcome="fault", reason=clean_text(f"fault: {type(e).__name__}: {e}", FAULT_MAX))
        dt = time.perf_counter() - t0
        self.observer.decided(name, d)
        return d, dt

    def _prepare(self, names: list[str], views: list) -> None:
        """Brains whose class can make a whole round's work ahead (`prepare_round`:
        model brains build their requests) do so, each class once, before any
        creature is asked; it must not raise (a brain's failure stays its own)."""
        groups: dict = {}
        for n, v in zip(names, views):
            prepare = getattr(type(self.brains[n]), "prepare_round", None)
            if prepare is not None:
                groups.setdefault(prepare, []).append((self.brains[n], v))
        for prepare, pairs in groups.items():
            try:
                prepare(pairs)
            except Exception:  # nothing made ahead: each brain makes its own when asked
                pass

    async def play_round(self) -> RoundResult:
        t0 = time.perf_counter()
        before = self.state
        mid, opening, f_open = open_round(before, self.world)
        if self.ledger is not None:
            self.ledger.record_tips(mid, opening)
        self.observer.round_opened(mid.round, mid, opening)
        idx = market_index(mid)
        names = list(mid.creatures)
        views = [public_view(mid, self.world, n, idx) for n in names]
        self._prepare(names, views)
        answers = await asyncio.gather(*(self._ask(n, v) for n, v in zip(names, views)))
        proposed = {n: d for n, (d, _) in zip(names, answers)}
        after, closing, f_close = close_round(mid, self.world, {n: d.action for n, d in proposed.items()}, opening)
        events = [*opening, *closing]
        if self.check:
            check_round(before, after, [f_open, f_close], events, self.world)
        blob = canonical_state(after)
        result = RoundResult(after.round, events, with_verdicts(proposed, closing), digest(blob),
                             time.perf_counter() - t0, {n: dt for n, (_, dt) in zip(names, answers)}, self.check)
        if self.ledger is not None:
            self.ledger.commit_round(result, blob)
        self.state = after
        self.observer.round_closed(result, after)
        return result

    async def run(self, until_round: int) -> RoundResult | None:
        last = None
        while self.state.round < until_round:
            last = await self.play_round()
        return last


def with_verdicts(proposed: dict[str, Decision], closing: list[Event]) -> dict[str, Decision]:
    """The decisions as the record keeps them: a model's well-formed proposal
    that the engine refused counts as rejected, with the engine's reason. New
    objects: what was posted to observers as decided is never changed."""
    out = dict(proposed)
    for e in closing:
        d = out.get(e.data.get("creature")) if e.kind == "rejected" else None
        if d is not None and d.outcome in ("clean", "repaired"):
            out[e.data["creature"]] = replace(d, outcome="rejected", reason=f"{ENGINE_PREFIX}{e.data['reason']}")
    return out
