"""The bridge: the one UI module that drives the engine.

A run is a `LiveGame` (`wood watch`, `wood play`: brains decide, the ledger
records) or a `RecordedGame` (`wood replay`: the ledger's rounds, replayed).
Either runs inside the app's single engine worker, in the app's own event
loop, and only posts `messages` to the app; `Pacer` is how the app's pause,
step and speed keys (and a replay's jumps) reach the loop between rounds. Human seats are engine
`HumanBrain`s whose turns become `SeatTurn` messages.
"""
from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual.message import Message

from engine.actions import Action, Reason
from engine.brains import Decision
from engine.brains.human import HumanBrain
from engine.errors import WoodError
from engine.events import Event
from engine.metrics import counted
from engine.ledger import Ledger
from engine.recap import regard, round_recap
from engine.rules import check_action
from engine.replay import NOT_REBUILT, Diverged, check_roster, replayed_rounds
from engine.runner import Observer, RoundResult
from engine.sanitise import shown_path
from engine.state import State, initial_state
from engine.views import public_view
from engine.world import RosterEntry, World, load_world

from .game import HUMAN, open_game, stopped_after
from .messages import (SECRET_KINDS, Decided, GameOver, GameReady, GameStatus, RoundClosed, RoundOpened, SeatTurn,
                       Thinking)
from .options import RunOptions

Post = Callable[[Message], object]


class Pacer:
    """Pause, step and speed (and a replay's jumps), as the engine loop obeys them between rounds."""

    SPEEDS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)  # seconds between rounds

    def __init__(self, delay: float = 1.0, paused: bool = False):
        self.delay = delay
        self.paused = paused
        self.to: int | None = None  # a replay's jump: the round it plays on to at once, then pauses after
        self._steps = 0
        self._wake = asyncio.Event()

    def jump(self, to: int) -> None:
        """Play on at once, without waiting, to round `to` (a replay's jump:
        `RecordedGame` gives `between_rounds` each next round), and pause there."""
        self.to = to
        self.paused = True
        self._steps = 0
        self._wake.set()

    def toggle(self) -> None:
        self.paused = not self.paused
        self._wake.set()

    def step(self) -> None:
        """Pause, and let exactly one more round through."""
        self.paused = True
        self._steps += 1
        self._wake.set()

    def faster(self) -> None:
        self.delay = max((s for s in self.SPEEDS if s < self.delay), default=self.SPEEDS[0])
        self._wake.set()

    def slower(self) -> None:
        """The next slower speed; a pace already slower than any (`--delay 60`) is kept, not sped up to the slowest."""
        self.delay = min((s for s in self.SPEEDS if s > self.delay), default=max(self.delay, self.SPEEDS[-1]))
        self._wake.set()

    async def between_rounds(self, next_round: int | None = None) -> None:
        """Until the next round may be played. It always gives the event loop
        a turn, even at full speed: a replay's rounds await nothing else, and
        without it a full-speed `wood replay` held the app's loop (no key, not
        even quit, and no frame) until the record's last round. `next_round`
        (a replay's): at once while it is not past a jump's round (`jump`)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            if self.to is not None and next_round is not None:
                if next_round <= self.to:
                    await asyncio.sleep(0)  # a turn of the loop for the app, as at full speed
                    return
                self.to = None  # there: paused, as `jump` left it
            if self._steps:
                self._steps -= 1
                return
            timeout = None
            if not self.paused:
                timeout = start + self.delay - loop.time()
                if timeout <= 0:
                    await asyncio.sleep(0)  # a turn of the loop for the app, even at full speed (see the docstring)
                    return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass


class _Relay(Observer):
    """Runner hooks -> app messages; keeps the open state for checking a seat's
    action, and tells each human seat its round in words when the round closes."""

    def __init__(self, post: Post, world: World, seats: Sequence[str] = ()):
        self.post = post
        self.world = world
        self.seats = tuple(seats)
        self.open_state: State | None = None

    def round_opened(self, round_no: int, state: State, events: list[Event]) -> None:
        self.open_state = state
        self.post(RoundOpened(round_no))

    def thinking(self, name: str) -> None:
        self.post(Thinking(name))

    def decided(self, name: str, decision: Decision) -> None:
        self.post(Decided(name, decision))

    def round_closed(self, result: RoundResult, state: State) -> None:
        seats = [n for n in self.seats if n in state.creatures]
        views = {n: public_view(state, self.world, n) for n in seats} if self.world is not None else {}
        recaps = {n: round_recap(result.events, n, state, self.open_state, goods=self.world.goods) for n in seats}
        self.post(RoundClosed(result.round, result.events, result.decisions, state, views, recaps,
                              {n: regard(state, n) for n in seats}))


class _StatusLog:
    """Setup log lines as status messages; an indented line continues the last heading."""

    def __init__(self, post: Post):
        self.post = post
        self.heading = ""

    def __call__(self, line: str) -> None:
        if line[:1].isspace() and self.heading:
            self.post(GameStatus(f"{self.heading}: {line.strip()}"))
        else:
            self.heading = re.sub(r"\s*\(.*?\)", "", line).strip().rstrip(".… ")
            self.post(GameStatus(line.strip(), announce=True))


@dataclass(frozen=True)
class Seat:
    """A human at the terminal: an existing creature, or (with a `species`) a new one joining a new run."""

    name: str
    species: str | None = None


# refusals whose cause is another creature's private state: its coins or goods, an offer made to someone else
HIDDEN = (Reason.OFFER_UNFUNDED, Reason.NOT_FOR_YOU)


class LiveGame:
    """A run with brains deciding: `wood watch` (no seats) or `wood play`."""

    def __init__(self, options: RunOptions, seats: Sequence[Seat] = (), extra_brains: dict | None = None):
        self.options = options
        self.seats = tuple(seats)
        self.extra_brains = dict(extra_brains or {})
        self.world: World | None = None
        self._relay: _Relay | None = None
        self.started = False  # set up and playing: an error from here on stops a game on screen

    async def run(self, post: Post, pacer: Pacer) -> None:
        world = self.world = load_world()
        self._relay = relay = _Relay(post, world, [s.name for s in self.seats])
        post(GameStatus("setting up the wood…"))
        turn = lambda view, answer: post(SeatTurn(view, answer))  # noqa: E731
        brains = {**self.extra_brains, **{s.name: HumanBrain(turn) for s in self.seats}}
        temperament = "merchant" if "merchant" in world.temperaments else next(iter(world.temperaments))
        joining = [RosterEntry(s.name, s.species, temperament, HUMAN) for s in self.seats if s.species]
        async with open_game(self.options, world, log=_StatusLog(post), observer=relay,
                             extra_brains=brains, extra_roster=joining, seats=[s.name for s in self.seats]) as game:
            runner = game.runner
            lost = [s.name for s in self.seats if s.name not in runner.state.creatures]
            if lost:
                raise WoodError(f"no creature called {', '.join(lost)} in this run")
            self.started = True
            recorded = game.ledger is not None and self.options.resume is not None and not self.seats
            secrets = [e for kind in SECRET_KINDS for e in game.ledger.events_of(kind)] if recorded else []
            post(GameReady(world, list(game.roster), runner.state, game.target_rounds, secrets))
            path = game.save_path
            while runner.state.round < game.target_rounds:
                if runner.state.round:
                    await pacer.between_rounds()
                    if (gone := game.server_gone()) is not None:  # its creatures could only pass: stopped, as in sim
                        raise WoodError(f"{gone}\n" + stopped_after("play" if self.seats else "watch",
                                                                     self.options.save or self.options.resume,
                                                                     runner.state.round, game.target_rounds,
                                                                     game.ledger.resume_seats() if game.ledger else ()))
                await runner.play_round()
            post(GameOver(f"the season is over after {counted(runner.state.round, 'round')}"
                          + (f"; saved to {shown_path(path)}" if path else ""), runner.state, world))

    def check(self, name: str, action: Action) -> tuple[Reason, str] | None:
        """The engine's verdict on a seat's action against this round's open
        state, as far as the seat may know it: a refusal that turns on what
        others privately hold or were offered (`HIDDEN`) is not told here, or
        a player could probe others' purses for free; the move is made, and
        the engine's refusal then costs the turn like anyone's."""
        assert self._relay is not None and self._relay.open_state is not None and self.world is not None
        state = self._relay.open_state
        verdict = check_action(state, self.world, name, action)
        if verdict is None or verdict[0] not in HIDDEN:
            return verdict
        public = verdict[0] == Reason.NOT_FOR_YOU and action.id in state.pact_offers  # pacts proposed are news
        return verdict if public else None


class RecordedGame:
    """`wood replay`: a recorded run, round by round from its ledger, at the app's pace."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    async def run(self, post: Post, pacer: Pacer) -> None:
        """Each round held to the record as `wood replay --verify` holds it
        (`replayed_rounds(verify=True)`): at the first that does not rebuild,
        the replay stops with one line, and no standings are given as the
        record's end (the record has none past that round). A record that
        stops short of the round its run was set to end at (a run stopped
        early, or still being played) is told as such, its standings as the
        record's last, not the season's end."""
        ledger = self.ledger
        world = load_world()
        roster = check_roster(ledger, world)
        last = ledger.last_round()
        planned = max(last, ledger.end_for(last + 1))  # the round its run was set to end at (a run stopped early)
        state = initial_state(world, ledger.seed, roster)
        post(GameReady(world, roster, state, planned))
        rounds = replayed_rounds(ledger, world, verify=True)
        for r in range(1, last + 1):  # the rounds it yields, one by one at the app's pace
            if r > 1:
                await pacer.between_rounds(r)
            try:
                rr = next(rounds)
            except Diverged:
                post(GameStatus(f"the record stops rebuilding at round {r}: replay stopped ({NOT_REBUILT})", "error"))
                return
            state = rr.after
            for name, d in rr.decisions.items():
                post(Decided(name, d))
            post(RoundClosed(rr.round, ledger.events(rr.round), rr.decisions, rr.after))
        if last < planned:  # no season's end: the record stops short of it, and no one has won
            said = (f"the record ends after round {last} of the {planned} its run was set to play" if last else
                    f"the record holds none of the {planned} rounds its run was set to play: these are the standings "
                    "at its start")
            post(GameOver(said, state, world, ended=False))
        else:
            post(GameOver(f"end of the record: {counted(last, 'round')}", state, world))

