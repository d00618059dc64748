"""WoodApp: the Textual app behind `wood watch`, `wood play` and `wood replay`.

It picks the main screen (spectator, or the play market when there are human
seats), runs the game in one engine worker in its own event loop (the
bridge posts messages to the main screen), and turns a failed worker into a
message: a user error before the game is ready ends the app with that one
line, anything later shows in the app.

In play it also shows the first game's introduction (once: `config_dir`
remembers it), offers the game's actions in the command palette, and asks
before quitting a game whose rounds are not saved. In hot-seat play it
takes no screenshot while a seat's turn is on screen: the file would keep
that seat's private screen on disk for the next player. A letter typed on a
form's list is handled here, in the app's own key dispatch, so that the
keys typed right after it go to the field it moves on to; and a paste into
a line that is not the form's (the palette's search) is cleaned here.
"""
from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable
from pathlib import Path

from textual import events, on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from engine.errors import WoodError
from engine.sanitise import clean_text

from . import safe
from .bridge import LiveGame, Pacer, RecordedGame
from .messages import GameReady
from .screens.game_screen import GameScreen
from .screens.intro import IntroScreen, intro_seen, intro_text, remember_intro, upcoming_makes
from .screens.market import MarketScreen
from .screens.modals import ConfirmScreen, ErrorScreen, key_of
from .screens.spectator import SpectatorScreen
from .widgets.action_form import ActionForm, KeySelect, PastedOwnWay


MIN_SIZE = (80, 24)  # columns, rows the screens are laid out for: smaller hides parts of them
COMPACT_FOOTER = 120  # columns under which the footer's keys sit closer
SMALL_WINDOW = "a small window"  # the title of the toast that says the window is smaller than MIN_SIZE


def _pasted_line(text: str) -> str:
    """What a paste puts in a line not the form's: its first line, cleaned as the form's are."""
    return clean_text(text.splitlines()[0]) if text.strip() else ""


class WoodApp(App[None]):
    CSS_PATH = "styles/wood.tcss"
    TITLE = "Thousand Token Wood"
    BINDINGS = [Binding("ctrl+q", "quit", "quit", show=False, priority=True)]

    def __init__(self, game: LiveGame | RecordedGame, *, pacer: Pacer | None = None, config_dir: Path | None = None,
                 intro: bool | None = None):
        """`config_dir`: where the first game's introduction is remembered
        (`wood play` passes the user's; None: no introduction, unless `intro`
        asks for it: then it is shown every game, remembered nowhere)."""
        super().__init__()
        self.game = game
        self.pacer = pacer or Pacer()
        self.config_dir = config_dir
        self.intro = config_dir is not None if intro is None else intro
        self.main: Screen | None = None
        self.ready = False
        self.closing = False
        self.fatal: WoodError | None = None  # a game that could not start or go on: said on the command line after
        self.quit_confirmed = False
        self.told_small: tuple[int, int] | None = None  # the size the window was said to be too small at (until large enough)

    def run(self, *args, **kwargs):
        """The app draws on stderr and reads keys from stdin, so both must be a
        terminal: off one (`wood play < /dev/null`, a CI job, stdin closed) it
        had drawn into a pipe and waited for keys forever, or been a traceback.
        Refused before the game starts, so no save is made. (A headless run, a
        test's or a screenshot's, draws nowhere and reads no keys.)"""
        if not kwargs.get("headless") and not all(f is not None and not f.closed and f.isatty()
                                                  for f in (sys.__stdin__, sys.__stderr__)):
            raise WoodError("the app needs a terminal (its keys come from stdin and it draws on stderr, and here one "
                            "of them is not a terminal); without one: wood sim, or wood replay PATH --verify")
        return super().run(*args, **kwargs)

    def get_default_screen(self) -> Screen:
        if isinstance(self.game, LiveGame) and self.game.seats:
            self.main = MarketScreen(self.game)
        else:
            self.main = SpectatorScreen(self.pacer, replay=isinstance(self.game, RecordedGame))
        return self.main

    def on_mount(self) -> None:
        self.call_after_refresh(self.run_engine)  # once the main screen is up
        self.check_size()

    def check_size(self) -> None:
        """A window smaller than MIN_SIZE is said once (again after it has been
        large enough; while it is said, of the size it is resized to): the
        screen silently hides parts otherwise. At the
        start, and on every resize of the main screen."""
        w, h = self.size
        for footer in self.main.query(Footer) if self.main is not None else ():
            footer.compact = w < COMPACT_FOOTER  # under it, the keys' usual spacing cut the last one ("^q qu")
        small = w < MIN_SIZE[0] or h < MIN_SIZE[1]
        shown = [n for n in self._notifications if n.title == SMALL_WINDOW]
        if small and shown and self.told_small not in (None, (w, h)):
            for note in shown:  # resized, still small, while it is said: said of this size (it had kept the first)
                self._unnotify(note)
            self.told_small = None
        if small and self.told_small is None:
            # the parts of the screen in view (under any question or help over it): the final standings' screen had
            # been said to hide "your stores, the notes under the form", parts of the play screen under it
            top = next((s for s in reversed(self.screen_stack) if not s.is_modal), self.main)
            hidden = {MarketScreen: " (your stores, the notes under the form)",
                      SpectatorScreen: " (the creatures' panels, the offers, the log)"}.get(type(top), "")
            safe.notify(self, f"The window is {w}x{h}; the game is laid out for {MIN_SIZE[0]}x{MIN_SIZE[1]} or more. "
                        f"Until it is larger, parts are hidden{hidden}.",
                        title=SMALL_WINDOW, severity="warning", timeout=15)
            self.told_small = (w, h)
        elif not small and self.told_small is not None:  # large enough now: the toast saying otherwise goes
            for note in shown:
                self._unnotify(note)  # as Textual's own toast does when it expires or is clicked
            self.told_small = None

    def clear_turn_notices(self) -> None:
        """Every toast gone but the one saying the window is small: in hot-seat play a seat's toasts go with its turn,
        and that one, no seat's, had gone with them, never said again at the sizes the window was resized to."""
        for note in [n for n in self._notifications if n.title != SMALL_WINDOW]:
            self._unnotify(note)

    @work(exclusive=True, group="engine", exit_on_error=False)
    async def run_engine(self) -> None:
        assert self.main is not None
        if self.closing:  # quit before the game began
            return
        await self.game.run(self.main.post_message, self.pacer)

    def on_game_ready(self, msg: GameReady) -> None:
        self.ready = True

    # ---- the first game -------------------------------------------------------
    def wants_intro(self) -> bool:
        return (self.intro and isinstance(self.main, MarketScreen)
                and (self.config_dir is None or not intro_seen(self.config_dir)))

    def show_intro(self, msg: GameReady, then) -> None:
        """The introduction for the seats of this game; `then()` once it is closed."""
        species = {r.name: r.species for r in msg.roster}
        seats = [(s.name, species[s.name]) for s in self.game.seats if s.name in species]

        def closed(_) -> None:
            if self.config_dir is not None:
                remember_intro(self.config_dir)
            then()
        makes = upcoming_makes(msg.state, msg.world)
        self.push_screen(IntroScreen(intro_text(msg.world, seats, msg.target_rounds, makes)), closed)

    # ---- keys -------------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            # a letter on a form's list picks and moves on here, before the next key is routed
            if isinstance(self.focused, KeySelect) and self.focused.pick(event.character):
                return
            # so does Tab in the form: keys typed in a burst after it go to the next field, not this one
            # (routed later, Tab would move the focus only once the keys behind it had been typed here)
            form = next((a for a in self.focused.ancestors if isinstance(a, ActionForm)), None) \
                if event.key in ("tab", "shift+tab") and self.focused is not None else None
            if form is not None:
                form.sync_kind()
                (self.screen.focus_next if event.key == "tab" else self.screen.focus_previous)()
                return
        if isinstance(event, (events.Paste, events.Key)) and not event.is_forwarded \
                and isinstance(self.focused, Input) and not isinstance(self.focused, PastedOwnWay):
            # a paste into a line not the form's (the command palette's search): its first line, cleaned as the
            # form's are (an escape sequence or a bidi override pasted there had been drawn raw, the terminal obeying it)
            if isinstance(event, events.Paste):
                event.text = _pasted_line(event.text)
            elif event.key == "ctrl+v":  # the app's clipboard, which Input's own ctrl+v had put in whole, newlines too
                self.focused.post_message(events.Paste(_pasted_line(self.clipboard)))
                return
        await super().on_event(event)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title == "Screenshot" and self.private_on_screen():
                command = SystemCommand("Screenshot", "Off while a seat's turn is on screen (hot-seat play)",
                                        self.deliver_screenshot)
            yield command
        main = self.main
        if screen is not main:  # a curtain, a help page, a question: the game's commands wait under it
            return
        if isinstance(main, MarketScreen):
            # each names its key as the screen binds it (one place for the keys: key_of)
            for title, what, action, callback in (
                    ("Pass", "Pass this turn", "pass_turn", main.action_pass_turn),
                    ("Help", "The rules: goal, tips, magistrate, loans, spoilage, seasons; keys", "help",
                     main.action_help),
                    ("Offers", "Jump to the offers you can take", "tab('offers')", lambda: main.action_tab("offers")),
                    ("Your round", "What happened to you last round", "tab('round')", lambda: main.action_tab("round")),
                    ("Standings", "Who is worth most", "tab('standings')", lambda: main.action_tab("standings")),
                    ("The wood", "The public record", "tab('wood')", lambda: main.action_tab("wood")),
                    ("Form", "Back to the action form", "form", main.action_form)):
                yield SystemCommand(title, f"{what} ({key_of(main.BINDINGS, action)})", callback)
        elif isinstance(main, SpectatorScreen):
            yield SystemCommand("Help", "What the panels show; keys", main.action_help)
        if isinstance(main, GameScreen) and main.final is not None:
            key = key_of(main.BINDINGS, "final")
            yield SystemCommand("Final standings" if main.ended else "Last standings",
                                f"The end of the season, ranked ({key})" if main.ended else
                                f"Where the record ends, short of the season's end, ranked ({key})", main.action_final)

    # ---- screenshots ------------------------------------------------------------
    def private_on_screen(self) -> bool:
        """Hot-seat play with a seat's own screen up (or under a help page or a
        question over it): nothing of it may outlast the turn."""
        main = self.main
        return isinstance(main, MarketScreen) and main.hot_seat and main.shows_a_seat

    def deliver_screenshot(self, filename: str | None = None, path: str | None = None,
                           time_format: str | None = None) -> str | None:
        """Textual's screenshot (the palette's, `action_screenshot`, a key bound
        to it) saves the screen to a file, and the toast that says where is
        gone under the next curtain: in hot-seat play, a seat's turn on screen
        is not saved, and the seat is told why. Between turns (nothing of a
        seat's on screen) and with one seat, it is saved as ever."""
        if self.private_on_screen():
            safe.notify(self, "No screenshot while a seat's turn is on screen in hot-seat play: the file would "
                        "keep that seat's private screen for the next player.",
                        title="screenshot not taken", severity="warning")
            return None
        return super().deliver_screenshot(filename, path, time_format)

    def unsaved_rounds(self) -> int:
        """Rounds of a game in play that quitting now would lose (no --save, not resumed, not over)."""
        game, main = self.game, self.main
        if not (isinstance(game, LiveGame) and game.seats and isinstance(main, GameScreen)):
            return 0
        if game.options.save is not None or game.options.resume is not None or main.note == "over":
            return 0
        return main.closed

    async def action_quit(self) -> None:
        """Stop the run first (its ledger closes, its model servers stop) while
        the screen says so; a second quit leaves at once. A game whose rounds
        would be lost asks first."""
        if isinstance(self.screen, ConfirmScreen):  # quit again while asked: yes
            self.screen.dismiss(True)
            return
        if (lost := self.unsaved_rounds()) and not self.closing and not self.quit_confirmed:
            def answered(yes: bool | None) -> None:
                if yes:
                    self.quit_confirmed = True
                    self.call_later(self.action_quit)
            played = "1 round is" if lost == 1 else f"{lost} rounds are"
            self.push_screen(ConfirmScreen(f"Quit this game? Its {played} not saved and cannot be resumed "
                                           "(start with --save FILE to keep a game).", "Quit", "Keep playing"),
                             answered)
            return
        engine = [w for w in self.workers if w.group == "engine" and w.is_running]
        if self.closing:  # quit again while the run stops: leave now
            self.exit()
            return
        self.closing = True  # (an engine not started yet never starts)
        if not engine:
            self._leave()
            return
        safe.notify(self, "closing: stopping the run and its model servers… (quit again to leave now)", timeout=60)
        self._close(engine[0])

    @work(group="close")
    async def _close(self, engine: Worker) -> None:
        engine.cancel()
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            await engine.wait()
        self._leave()

    def _leave(self) -> None:
        """Exit once the main screen has handled what the game had posted to
        it: handled after the exit, a message met a screen already taken down
        (quit while the wood was setting up: a MountError traceback)."""
        if self.main is not None and self.main.is_attached:
            self.main.call_later(self.call_after_refresh, self.exit)  # and a screen it pushed is up
        else:
            self.exit()

    @on(Worker.StateChanged)
    def _engine_stopped(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "engine" or event.state != WorkerState.ERROR:
            return
        err = event.worker.error
        started = getattr(self.game, "started", self.ready)  # the engine's word: the screen may not know it yet
        if isinstance(err, WoodError) and not started:
            self.fatal = err  # the command prints it, one line, once the screen is given back
            self.exit(return_code=2)
        elif isinstance(err, WoodError):  # stopped mid-game: said here, on the screen, and after it
            safe.notify(self, err, title="the game stopped", severity="error", timeout=30)
            self.main.call_later(self.main.halt, clean_text(err, 100))  # after what the screen has queued
            self.fatal = err
        else:  # the sub-title under it says so too (it had gone on saying "full speed" once this was closed)
            self.main.call_later(self.main.halt, f"{type(err).__name__} in the engine")
            self.push_screen(ErrorScreen(f"the engine stopped: {type(err).__name__}", err))
            # and said once the screen is given back (the command had ended silently, exit 0)
            self.fatal = WoodError(f"the engine stopped: {type(err).__name__}: {clean_text(err, 300)}")
