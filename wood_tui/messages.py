"""The messages the engine side (`bridge.py`) posts to the app.

One message per thing that happened in the run; widgets and screens react to
them and never reach into the engine. The objects they carry (states,
events, decisions) are the engine's own and are never mutated after posting.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from textual.message import Message

from engine.actions import Action
from engine.brains import Decision
from engine.events import Event
from engine.state import State
from engine.views import PublicView
from engine.world import RosterEntry, World

from . import safe


@dataclass
class GameStatus(Message):
    """A line about the run itself: setting up, loading a model, paused, over."""

    text: str
    severity: str = "information"
    announce: bool = False  # worth a notification, not just the status line

    def can_replace(self, message: Message) -> bool:
        """Textual drops this (older) line for the next one queued behind it:
        only a plain progress line may be dropped, never news or a warning."""
        return isinstance(message, GameStatus) and not self.announce and self.severity == "information"

    def notify(self, app) -> None:
        """A notification too, when the line is news or a warning."""
        if self.announce or self.severity != "information":
            safe.notify(app, self.text, severity=self.severity)


SECRET_KINDS = ("fine", "whisper")  # the events the god view keeps (the state holds the rest)


@dataclass
class GameReady(Message):
    """The world, roster and starting state are set; rounds follow."""

    world: World
    roster: list[RosterEntry]
    state: State
    target_rounds: int
    # a resumed run watched: the record's `SECRET_KINDS` events so far, for the god view (never sent to a seat's screen)
    secrets: list[Event] = field(default_factory=list)


@dataclass
class RoundOpened(Message):
    """The world step is done; brains are being asked."""

    round: int


@dataclass
class Thinking(Message):
    name: str


@dataclass
class Decided(Message):
    name: str
    decision: Decision


@dataclass
class RoundClosed(Message):
    """The round is applied: every decision, every event (public and private), the new state."""

    round: int
    events: list[Event]
    decisions: dict[str, Decision]
    state: State
    # for each human seat (play only): its view of the state after the round,
    # the round in words (`engine.recap`) and how others feel about it
    views: dict[str, PublicView] = field(default_factory=dict)
    recaps: dict[str, list[str]] = field(default_factory=dict)
    regard: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SeatTurn(Message):
    """A human seat must act: its view, and the future its action goes into."""

    view: PublicView
    answer: asyncio.Future[Action]


@dataclass
class GameOver(Message):
    """The season is over (or the record ends): the final state, for the final standings."""

    text: str
    state: State | None = None
    world: World | None = None
    ended: bool = True  # the season was played to its last round (False: a record that stops short of it)
