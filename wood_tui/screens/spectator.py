"""The spectator screen (`wood watch`, `wood replay`): every creature, the
standing offers, prices, feelings, the public log and headlines, with
pause, step and speed keys. Spectators see public events only."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header

from ..messages import Decided, GameReady, RoundClosed, Thinking
from ..widgets.creature_panel import CreatureBoard
from ..widgets.event_feed import HEADLINE_KINDS, LOG_KINDS, EventFeed
from ..widgets.offers_table import OffersTable
from ..widgets.price_chart import PriceChart
from ..widgets.sentiment_bars import SentimentBars
from .game_screen import GameScreen
from .modals import HelpScreen



class SpectatorScreen(GameScreen):
    BINDINGS = [
        Binding("space", "pause", "pause/resume"),
        Binding("n", "step", "step"),
        Binding("plus,equals_sign", "faster", "faster", key_display="+"),
        Binding("minus", "slower", "slower", key_display="-"),
        Binding("question_mark,f1", "help", "help", key_display="?"),
        Binding("q", "app.quit", "quit"),
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (180, "-very-wide")]
    HELP = (
        "You are watching the wood. Each round every creature makes one move: an offer, "
        "accepting an offer, a loan, a gift or a pass, and may say one public line.",
        "Panels: holdings, mood, what each creature did and said; ⋯ while its brain thinks; "
        "a red ✗ line when its model failed (it passes that round).",
        "Right: prices over the last rounds, and the strongest feelings (red distrust, green warmth). "
        "Below: standing offers, the log of trades, loans and gifts, and the headlines.",
    )

    def __init__(self, pacer, *, replay: bool = False):
        super().__init__("replay" if replay else "watch")
        self.pacer = pacer
        self.replay = replay

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield CreatureBoard(id="board")
            with Vertical(id="sidebar"):
                yield PriceChart(id="prices")
                yield SentimentBars(id="feelings")
        with Horizontal(id="bottom"):
            yield OffersTable(id="offers")
            yield EventFeed(LOG_KINDS, id="log")
            yield EventFeed(HEADLINE_KINDS, max_lines=200, id="headlines")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#prices").border_title = "prices"
        self.query_one("#feelings").border_title = "feelings"
        self.query_one("#offers").border_title = "standing offers"
        self.query_one("#log").border_title = "trades, loans, gifts"
        self.query_one("#headlines").border_title = "headlines"
        self._title()

    def now(self) -> str:
        if self.note != "running":
            return self.note
        if self.pacer.paused:
            return "paused: n steps, space resumes"
        return f"a round every {self.pacer.delay:g} s" if self.pacer.delay else "full speed"

    # ---- the run ------------------------------------------------------------
    async def ready(self, msg: GameReady) -> None:
        await self.query_one(CreatureBoard).setup(msg.roster, msg.state, msg.world.good_names)
        await self.query_one(PriceChart).setup(msg.world, msg.state)
        self.query_one(SentimentBars).show(msg.state.relations)
        self.query_one(OffersTable).show(msg.state)
        self.query_one("#headlines", EventFeed).write(Text("shocks, tips coming true or not, fines", style="dim"))

    def on_thinking(self, msg: Thinking) -> None:
        self.query_one(CreatureBoard).thinking(msg.name)

    def decided(self, msg: Decided) -> None:
        self.query_one(CreatureBoard).decided(msg.name, msg.decision)

    def closed_round(self, msg: RoundClosed) -> None:
        self.round = msg.round
        self.query_one(CreatureBoard).round_closed(msg.state, msg.decisions, msg.events)
        self.query_one(PriceChart).record(msg.state)
        self.query_one(SentimentBars).show(msg.state.relations)
        self.query_one(OffersTable).show(msg.state)
        for feed in self.query(EventFeed):
            feed.add_round(msg.round, msg.events)

    # ---- keys ---------------------------------------------------------------
    def action_pause(self) -> None:
        self.pacer.toggle()
        self._title()

    def action_step(self) -> None:
        self.pacer.step()
        self._title()

    def action_faster(self) -> None:
        self.pacer.faster()
        self._title()

    def action_slower(self) -> None:
        self.pacer.slower()
        self._title()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.HELP, [*self.BINDINGS, *self.app.BINDINGS]))

