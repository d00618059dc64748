"""`GameScreen`: what the play and spectator screens share. The sub-title
(`mode · round r/R · what is happening`), the setup and status messages,
fault notifications (one `FaultNotices` per screen) and the end of the
season. A screen says what it adds through `now()` and the `ready`,
`decided`, `closed_round` and `over` hooks; it does not handle these
messages again (Textual would call both handlers)."""
from __future__ import annotations

from textual.screen import Screen

from .. import safe
from ..messages import Decided, GameOver, GameReady, GameStatus, RoundClosed, RoundOpened
from ..notices import FaultNotices


class GameScreen(Screen):
    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode    # play | watch | replay
        self.round = 0
        self.closed = 0     # the last round whose results are on screen
        self.target = 0
        self.note = "setting up"
        self.fault_notices = FaultNotices()

    def now(self) -> str:
        """What is happening, for the sub-title."""
        return self.note

    def _title(self) -> None:
        r = f"round {self.round}/{self.target}" if self.target else "round —"
        self.sub_title = safe.text(f"{self.mode} · {r} · {self.now()}").plain

    # ---- the messages, once ---------------------------------------------------
    def on_game_status(self, msg: GameStatus) -> None:
        self.note = msg.text
        self._title()
        msg.notify(self.app)

    async def on_game_ready(self, msg: GameReady) -> None:
        self.target = msg.target_rounds
        self.round = msg.state.round
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
        self.closed_round(msg)
        self.fault_notices.round_closed(self.app, msg.round)
        self._title()

    def on_game_over(self, msg: GameOver) -> None:
        self.note = "over"
        self._title()
        self.over(msg)
        safe.notify(self.app, msg.text, title="the end")

    # ---- hooks ------------------------------------------------------------------
    async def ready(self, msg: GameReady) -> None: ...
    def opened(self, msg: RoundOpened) -> None: ...
    def decided(self, msg: Decided) -> None: ...
    def closed_round(self, msg: RoundClosed) -> None: ...
    def over(self, msg: GameOver) -> None: ...
