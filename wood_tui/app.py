"""WoodApp: the Textual app behind `wood watch`, `wood play` and `wood replay`.

It picks the main screen (spectator, or the play market when there are human
seats), runs the game in one engine worker in its own event loop (the
bridge posts messages to the main screen), and turns a failed worker into a
message: a user error before the game is ready ends the app with that one
line, anything later shows in the app.
"""
from __future__ import annotations

import contextlib

from rich.text import Text
from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from engine.errors import WoodError

from . import safe
from .bridge import LiveGame, Pacer, RecordedGame
from .messages import GameReady
from .screens.market import MarketScreen
from .screens.modals import ErrorScreen
from .screens.spectator import SpectatorScreen


class WoodApp(App[None]):
    CSS_PATH = "styles/wood.tcss"
    TITLE = "Thousand Token Wood"
    BINDINGS = [Binding("ctrl+q", "quit", "quit", show=False, priority=True)]

    def __init__(self, game: LiveGame | RecordedGame, *, pacer: Pacer | None = None):
        super().__init__()
        self.game = game
        self.pacer = pacer or Pacer()
        self.main: Screen | None = None
        self.ready = False
        self.closing = False

    def get_default_screen(self) -> Screen:
        if isinstance(self.game, LiveGame) and self.game.seats:
            self.main = MarketScreen(self.game)
        else:
            self.main = SpectatorScreen(self.pacer, replay=isinstance(self.game, RecordedGame))
        return self.main

    def on_mount(self) -> None:
        self.call_after_refresh(self.run_engine)  # once the main screen is up

    @work(exclusive=True, group="engine", exit_on_error=False)
    async def run_engine(self) -> None:
        assert self.main is not None
        await self.game.run(self.main.post_message, self.pacer)

    def on_game_ready(self, msg: GameReady) -> None:
        self.ready = True

    async def action_quit(self) -> None:
        """Stop the run first (its ledger closes, its model servers stop) while
        the screen says so; a second quit leaves at once."""
        engine = [w for w in self.workers if w.group == "engine" and w.is_running]
        if not engine or self.closing:
            self.exit()
            return
        self.closing = True
        safe.notify(self, "closing: stopping the run and its model servers… (quit again to leave now)", timeout=60)
        self._close(engine[0])

    @work(group="close")
    async def _close(self, engine: Worker) -> None:
        engine.cancel()
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await engine.wait()
        self.exit()

    @on(Worker.StateChanged)
    def _engine_stopped(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "engine" or event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        if isinstance(err, WoodError) and not self.ready:
            self.exit(return_code=2, message=Text.assemble("wood: error: ", safe.lines(err)))
        elif isinstance(err, WoodError):
            safe.notify(self, err, title="the game stopped", severity="error", timeout=30)
        else:
            self.push_screen(ErrorScreen(f"the engine stopped: {type(err).__name__}", err))
