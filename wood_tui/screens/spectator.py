"""The spectator screen (`wood watch`, `wood replay`): every creature, the
standing offers, prices, feelings, the public log and headlines, with
pause, step and speed keys. Spectators see public events only."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header

from .. import safe
from ..messages import Decided, GameOver, GameReady, GameStatus, RoundClosed, RoundOpened, Thinking
from ..notices import FaultNotices
from ..widgets.creature_panel import CreatureBoard
from ..widgets.offers_log import HEADLINE_KINDS, LOG_KINDS, EventFeed, OffersTable
from ..widgets.price_chart import PriceChart
from ..widgets.sentiment_bars import SentimentBars
from .modals import HelpScreen



class SpectatorScreen(Screen):
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
        super().__init__()
        self.pacer = pacer
        self.replay = replay
        self.round = 0
        self.closed = 0  # the last round whose results are on screen
        self.target = 0
        self.state_note = "setting up"
        self.fault_notices = FaultNotices()

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

    def _title(self) -> None:
        r = f"round {self.round}/{self.target}" if self.target else "round —"
        if self.state_note != "running":
            now = self.state_note
        elif self.pacer.paused:
            now = "paused: n steps, space resumes"
        else:
            now = f"a round every {self.pacer.delay:g} s" if self.pacer.delay else "full speed"
        self.sub_title = safe.text(f"{'replay' if self.replay else 'watch'} · {r} · {now}").plain

    # ---- the run ------------------------------------------------------------
    def on_game_status(self, msg: GameStatus) -> None:
        self.state_note = msg.text
        self._title()
        msg.notify(self.app)

    async def on_game_ready(self, msg: GameReady) -> None:
        self.target = msg.target_rounds
        self.round = msg.state.round
        self.state_note = "running"
        await self.query_one(CreatureBoard).setup(msg.roster, msg.state, msg.world.good_names)
        await self.query_one(PriceChart).setup(msg.world, msg.state)
        self.query_one(SentimentBars).show(msg.state.relations)
        self.query_one(OffersTable).show(msg.state)
        self.query_one("#headlines", EventFeed).write(Text("shocks, tips coming true or not, fines", style="dim"))
        self._title()

    def on_round_opened(self, msg: RoundOpened) -> None:
        self.round = msg.round
        self._title()

    def on_thinking(self, msg: Thinking) -> None:
        self.query_one(CreatureBoard).thinking(msg.name)

    def on_decided(self, msg: Decided) -> None:
        self.query_one(CreatureBoard).decided(msg.name, msg.decision)
        self.fault_notices.decided(self.app, msg.name, msg.decision)

    def on_round_closed(self, msg: RoundClosed) -> None:
        self.round = self.closed = msg.round
        self.query_one(CreatureBoard).round_closed(msg.state, msg.decisions, msg.events)
        self.query_one(PriceChart).record(msg.state)
        self.query_one(SentimentBars).show(msg.state.relations)
        self.query_one(OffersTable).show(msg.state)
        for feed in self.query(EventFeed):
            feed.add_round(msg.round, msg.events)
        self.fault_notices.round_closed(self.app, msg.round)
        self._title()

    def on_game_over(self, msg: GameOver) -> None:
        self.state_note = "over"
        self._title()
        safe.notify(self.app, msg.text, title="the end")

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

