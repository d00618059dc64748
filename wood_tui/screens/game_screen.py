"""`GameScreen`: what the play and spectator screens share. The sub-title
(`mode · round r/R · what is happening`), the setup and status messages,
fault notifications (one `FaultNotices` per screen), the standings and each
creature's worth over the last rounds, and the end of the season: the final
ranking screen, built from the final state the game-over message carries.
A screen says what it adds through `now()` and the `ready`, `decided`,
`closed_round` and `over` hooks; it does not handle these messages again
(Textual would call both handlers)."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable

from textual.screen import Screen

from engine.score import Standing, standings, worth_rule
from engine.state import State
from engine.world import World

from .. import safe
from ..messages import Decided, GameOver, GameReady, GameStatus, RoundClosed, RoundOpened
from ..notices import FaultNotices
from .final import FinalScreen
from .modals import key_of

WORTH_HISTORY = 40  # rounds of worth kept per creature, for the final chart


class GameScreen(Screen):
    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode    # play | watch | replay
        self.begin()

    def begin(self) -> None:
        """What the screen knows of the run, as a run begins (a replay played
        again from its start begins again)."""
        self.round = 0
        self.closed = 0     # the last round whose results are on screen
        self.target = 0
        self.note = "setting up"
        self.fault_notices = FaultNotices()
        self.world: World | None = None
        self.state: State | None = None  # the latest state on screen (after the last closed round)
        self.worth: dict[str, deque[int]] = {}
        self.final: Callable[[], FinalScreen] | None = None  # the final screen, once the season is over
        self.ended = True  # the season was played to its end (False: a replayed record that stops short of it)

    def now(self) -> str:
        """What is happening, for the sub-title."""
        return self.note

    def halt(self, reason: str) -> None:
        """The game stopped on an error: the sub-title says so from now on."""
        self.note = f"stopped: {reason}"
        self._title()

    def _title(self) -> None:
        r = f"round {self.round}/{self.target}" if self.target else "round —"
        self.sub_title = safe.text(f"{self.mode} · {r} · {self.now()}").plain

    def standings_now(self) -> list[Standing]:
        if self.world is None or self.state is None:
            return []
        return standings(self.state, self.world)

    def _remember_worth(self) -> None:
        for row in self.standings_now():
            self.worth.setdefault(row.name, deque(maxlen=WORTH_HISTORY)).append(row.worth)

    # ---- the messages, once ---------------------------------------------------
    def on_game_status(self, msg: GameStatus) -> None:
        self.note = msg.text
        self._title()
        msg.notify(self.app)

    async def on_game_ready(self, msg: GameReady) -> None:
        self.target = msg.target_rounds
        self.round = msg.state.round
        self.closed = msg.state.round
        self.world, self.state = msg.world, msg.state
        self._remember_worth()
        self.note = "running"
        await self.ready(msg)
        self._title()

    def on_round_opened(self, msg: RoundOpened) -> None:
        self.round = msg.round
        self.opened(msg)
        self._title()

    def on_decided(self, msg: Decided) -> None:
        self.decided(msg)
        self.fault_notices.decided(self.app, msg.name, msg.decision)

    def on_round_closed(self, msg: RoundClosed) -> None:
        self.closed = msg.round
        self.state = msg.state
        self._remember_worth()
        self.closed_round(msg)
        self.fault_notices.round_closed(self.app, msg.round)
        self._title()

    def on_game_over(self, msg: GameOver) -> None:
        self.note = "over" if msg.ended else "end of the record"
        self.ended = msg.ended
        if msg.state is not None:  # the true final state, whatever was drawn before
            self.state = msg.state
            self.world = msg.world or self.world
            self.round = max(self.round, msg.state.round)
        self._title()
        self.over(msg)
        if self.world is None or self.state is None:
            safe.notify(self.app, msg.text, title="the end")
        else:  # the final screen says it
            me = self.seat_names()
            rows, worth = standings(self.state, self.world), {k: list(v) for k, v in self.worth.items()}
            subtitle = self.sub_title
            rule = worth_rule(self.world)
            self.final = lambda: FinalScreen(rows, worth, msg.text, subtitle, seats=me, rule=rule,  # noqa: E731
                                             ended=msg.ended)
            self.app.push_screen(self.final())

    def seat_names(self) -> tuple[str, ...]:
        """The human seats at this screen (none for spectators)."""
        return tuple(getattr(self, "seats", ()))

    def action_final(self) -> None:
        """Show the final standings again (once the season is over); before
        then, say when they come and where the standings are now."""
        if self.final is None:
            safe.notify(self.app, self.final_not_yet())
        elif not isinstance(self.app.screen, FinalScreen):
            self.app.push_screen(self.final())

    def final_not_yet(self) -> str:
        """What F8 says before the final standings are in (a screen says where its standings are now)."""
        end = "the record's end" if self.mode == "replay" else "the season's end"
        return f"The final standings come at {end}; the standings now are in the standings tab " \
               f"({key_of(self.BINDINGS, 'next_tab')})."

    # ---- hooks ------------------------------------------------------------------
    async def ready(self, msg: GameReady) -> None: ...
    def opened(self, msg: RoundOpened) -> None: ...
    def decided(self, msg: Decided) -> None: ...
    def closed_round(self, msg: RoundClosed) -> None: ...
    def over(self, msg: GameOver) -> None: ...
