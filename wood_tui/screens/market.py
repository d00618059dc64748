"""The play screen (`wood play`): one human seat's market, built from that
seat's `PublicView` only, with the action form; the models think while the
human decides.

Several seats (hot-seat) take turns in seat order: before each turn the
curtain covers everything, and when a turn ends everything private to that
seat is blanked before the next seat's curtain goes up.
"""
from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Static

from engine.actions import PASS, Action

from .. import safe
from ..bridge import LiveGame
from ..messages import Decided, GameOver, GameReady, RoundClosed, RoundOpened, SeatTurn, Thinking
from ..widgets.action_form import ActionForm, why
from ..widgets.event_feed import HEADLINE_KINDS, LOG_KINDS, EventFeed
from ..widgets.seat_panel import BookTable, SeatPanel
from .curtain import CurtainScreen
from .game_screen import GameScreen
from .modals import HelpScreen

NAMES_IN_STRIP = 12  # more creatures than this: counts instead of names


class MarketScreen(GameScreen):
    BINDINGS = [
        Binding("f1", "help", "help"),
        Binding("f2", "pass_turn", "pass"),
        Binding("ctrl+q", "app.quit", "quit", priority=True),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    FORM_KEYS = [  # the widgets' own keys, told in the help screen
        Binding("tab", "", "next field (shift+tab: back to the offers table)", key_display="tab"),
        Binding("enter", "", "act; on an offer in the table: take it", key_display="enter"),
        Binding("up,down", "", "choose in a list or in the offers table", key_display="↑ ↓"),
    ]
    HELP = (
        "You trade as one creature. Each round choose one action: offer (buy or sell at a limit price), "
        "accept a standing offer by its #, lend coins, give a gift, or pass; and optionally say one public line.",
        "Left: what you hold against what you must eat this round, the market's quotes, your private tips "
        "(true or planted: you never know which until the headline says), your loans and feelings.",
        "Right: the offers you can take (select a row to accept it) and the wood's public record. "
        "A move the engine would refuse is explained under the form; correct it and act again.",
        "Hot-seat: the curtain hides everything between players; press enter when you are at the keyboard.",
    )

    def __init__(self, game: LiveGame):
        super().__init__("play")
        self.game = game
        self.seats: tuple[str, ...] = tuple(s.name for s in game.seats)
        self.status: dict[str, str] = {}   # creature -> "" | "thinking" | "decided" | "fault"
        self.waiting: list[SeatTurn] = []  # seats whose turn came, in arrival order
        self.active: SeatTurn | None = None

    @property
    def hot_seat(self) -> bool:
        return len(self.seats) > 1

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield SeatPanel(id="seat")
            with Vertical(id="market"):
                yield BookTable(id="book")
                yield EventFeed({**LOG_KINDS, **HEADLINE_KINDS}, id="news")
        yield Vertical(id="form-slot")
        yield Static(id="strip")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#book").border_title = "offers you can take"
        self.query_one("#news").border_title = "the wood (public)"
        self.query_one(SeatPanel).conceal("the wood is waking up…")
        self._title()

    # ---- the run ------------------------------------------------------------
    async def ready(self, msg: GameReady) -> None:
        self.status = {r.name: "" for r in msg.roster}
        form = ActionForm(msg.world.good_names, [r.name for r in msg.roster], id="form")
        form.disabled = True
        await self.query_one("#form-slot").mount(form)
        form.finish("waiting for your turn…")
        self._strip()

    def opened(self, msg: RoundOpened) -> None:
        self.status = dict.fromkeys(self.status, "")
        self._strip()

    def on_thinking(self, msg: Thinking) -> None:
        self.status[msg.name] = "thinking"
        self._strip()

    def decided(self, msg: Decided) -> None:
        self.status[msg.name] = "fault" if msg.decision.outcome == "fault" else "decided"
        self._strip()

    def closed_round(self, msg: RoundClosed) -> None:
        self.query_one("#news", EventFeed).add_round(msg.round, msg.events)

    def over(self, msg: GameOver) -> None:
        self.query_one(ActionForm).finish(msg.text)

    # ---- turns --------------------------------------------------------------
    def on_seat_turn(self, msg: SeatTurn) -> None:
        self.waiting.append(msg)
        self.call_later(self._next_turn)  # after this round's other seats have queued too

    def _next_turn(self) -> None:
        if self.active is not None or not self.waiting:
            return
        turn = min(self.waiting, key=lambda t: self.seats.index(t.view.name))
        self.waiting.remove(turn)
        self.active = turn
        if self.hot_seat:
            self._conceal(f"{turn.view.name}'s turn is next")
            self.app.push_screen(CurtainScreen(turn.view.name, turn.view.round), lambda _: self._reveal(turn))
        else:
            self._reveal(turn)

    def _reveal(self, turn: SeatTurn) -> None:
        self.query_one(SeatPanel).show(turn.view)
        self.query_one(BookTable).show(turn.view)
        self.query_one(ActionForm).start()
        self._strip()

    def _conceal(self, note: str) -> None:
        self.query_one(SeatPanel).conceal(note)
        self.query_one(BookTable).conceal()
        self.query_one(ActionForm).finish(note)

    @on(ActionForm.Chosen)
    def _chosen(self, event: ActionForm.Chosen) -> None:
        turn = self.active
        if turn is None:
            return
        problem = self.game.check(turn.view.name, event.action)
        if problem is not None:
            event.form.explain(why(*problem))
            return
        self._answer(turn, event.action)

    def _answer(self, turn: SeatTurn, action: Action) -> None:
        if not turn.answer.done():
            turn.answer.set_result(action)
        self.active = None
        self.status[turn.view.name] = "decided"
        if self.hot_seat:
            self._conceal("waiting for the others…")
        else:
            self.query_one(ActionForm).finish("waiting for the others…")
        self._strip()
        self._next_turn()

    @on(DataTable.RowSelected, "#book")
    def _take(self, event: DataTable.RowSelected) -> None:
        if self.active is not None and event.row_key.value is not None:
            self.query_one(ActionForm).take(int(event.row_key.value))

    # ---- the strip under the form ---------------------------------------------
    def _strip(self) -> None:
        line = Text(f"round {self.round}  ", style="bold")
        me = self.active.view.name if self.active else None
        if len(self.status) > NAMES_IN_STRIP:
            done = sum(1 for v in self.status.values() if v in ("decided", "fault"))
            line.append(f"{done} of {len(self.status)} have decided")
            if me:
                line.append_text(Text.assemble("  ·  your turn, ", safe.text(me, style="bold")))
        else:
            marks = {"thinking": ("⋯", "yellow"), "decided": ("✓", "green"), "fault": ("✗", "red"), "": ("·", "dim")}
            for name, st in self.status.items():
                mark, style = ("✎ your turn", "bold reverse") if name == me else marks[st]
                line.append_text(Text.assemble(safe.text(name, max_len=20), " ", (mark, style), "   "))
        self.query_one("#strip", Static).update(line)

    # ---- keys -----------------------------------------------------------------
    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.HELP, [*self.BINDINGS, *self.app.BINDINGS, *self.FORM_KEYS]))

    def action_pass_turn(self) -> None:
        if self.active is not None:
            self._answer(self.active, PASS)
