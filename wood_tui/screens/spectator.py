"""The spectator screen (`wood watch`, `wood replay`): every creature, the
live standings (net worth, engine/score.py), prices and wealth over the
rounds, feelings, the standing offers, the public log and headlines, with
pause, step and speed keys.

The board shows public events only. The god view (`g`, or "god view" in the
command palette) opens what only the ledger knows: tip truths and who got
them, whispers; beside them, debts and fines (public, but gathered there).
It exists on this screen alone: the play screen never
composes one, and it reads the events the bridge posts to the screen; no
brain and no prompt ever sees any of it.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import replace
from functools import partial

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane

from engine.events import Event
from engine.score import standings, worth_rule
from engine.state import State

from ..messages import SECRET_KINDS, Decided, GameReady, RoundClosed, Thinking
from ..widgets.creature_panel import SORTS, CreatureBoard
from ..widgets.event_feed import HEADLINE_KINDS, LOG_KINDS, EventFeed
from ..widgets.god_view import KEEP, GodView, secrets
from ..widgets.offers_table import OffersTable
from ..widgets.price_chart import PriceChart
from ..widgets.sentiment_bars import SentimentBars
from ..widgets.standings import StandingsTable, as_of
from ..widgets.wealth_chart import WealthChart
from .game_screen import GameScreen
from .modals import HelpScreen

TABS = ("tab-standings", "tab-prices", "tab-wealth", "tab-feelings")
JUMP = 10  # rounds PgUp and PgDn jump in a replay
SORTS_SHOWN = 120  # columns from which the footer has room for the sort keys ...
JUMPS_SHOWN = 130  # ... and for a replay's jump keys instead
JUMP_CELLS = 42   # the jump keys' cells in the footer: room for both sets from SORTS_SHOWN + JUMP_CELLS
REPLAY_HELP = (f"Replay: Home and End jump to the first and the last round, PgUp and PgDn {JUMP} rounds back or on, "
               "each paused there (space plays on, n steps); a jump back plays the record again from its start, "
               "at once, to that round.")


class WatchCommands(Provider):
    """The spectator's commands in the palette: the god view, the side tabs, sorting the roster."""

    def commands(self) -> list[tuple[str, object, str]]:
        screen = self.screen
        if not isinstance(screen, SpectatorScreen):
            return []
        out = [("god view: show or hide what only the ledger knows", screen.action_god_view,
                "tip truths and whispers (spectators only), with debts and fines")]
        out += [(f"show {tab.removeprefix('tab-')}", partial(screen.action_show_tab, tab), "the side panel")
                for tab in TABS]
        if screen.large_roster:
            out += [(f"sort creatures by {what}", partial(screen.action_sort, key), "the creature table")
                    for key, what in SORTS.items()]
        return out

    async def discover(self) -> Hits:
        for name, callback, help_text in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self.commands():
            if (score := matcher.match(name)) > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class SpectatorScreen(GameScreen):
    COMMANDS = {WatchCommands}
    # priority: the app runs them as it reads the key, not after the screen's queue (a round of 1,000 creatures
    # puts ~2,000 messages there: a key had waited behind them). No widget here takes these keys for itself,
    # and a screen over this one (help, the command palette) has its own keys.
    BINDINGS = [
        Binding("space", "pause", "pause", priority=True),
        Binding("n", "step", "step", priority=True),
        Binding("plus,equals_sign", "faster", "faster", key_display="+", priority=True),
        Binding("minus", "slower", "slower", key_display="-", priority=True),
        Binding("g", "god_view", "god view", priority=True),
        Binding("t", "next_tab", "tab", priority=True),
        Binding("question_mark,f1", "help", "help", key_display="?", priority=True),
        Binding("q", "app.quit", "quit", priority=True),
        # a replay's (hidden and inert in a watch): to a round, paused there; after help and quit, which the
        # footer must keep (under JUMPS_SHOWN columns they are left out of it: they are in the help)
        Binding("home", "jump('first')", "first", key_display="Home", priority=True),
        Binding("pageup", "jump('back')", f"-{JUMP}", key_display="PgUp", priority=True),
        Binding("pagedown", "jump('on')", f"+{JUMP}", key_display="PgDn", priority=True),
        Binding("end", "jump('last')", "last", key_display="End", priority=True),
        # last: where the footer has no room for them, they are on the table's border too
        Binding("w", "sort('worth')", "sort: worth", priority=True),
        Binding("m", "sort('mood')", "mood", priority=True),
        Binding("d", "sort('debt')", "debt", priority=True),
        Binding("o", "sort(None)", "roster order", show=False, priority=True),
        Binding("f8", "final", "final standings", show=False),  # as in play (the palette's command names it)
    ]
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (180, "-very-wide")]
    HELP = (
        "You are watching the wood. Each round every creature makes one move: an offer, accepting an offer, "
        "a loan, a gift, a short sale, a pact, a whisper or a pass, and may say one public line.",
        "Panels: holdings, mood, what each creature did and said; ⋯ while its brain thinks; "
        "a red ✗ line when its model failed (it passes that round). With many creatures, a table: "
        "w, m, d sort it by net worth, mood or debt (again: the other way), o back to roster order; "
        "or click a column's header.",
        "Right (t for the next tab, or click one): the standings by net worth ({worth}), a good's price over the rounds (click a good, or ↑/↓; "
        "▲ a shock began, ◆ a tip came true, ◇ a planted one resolved), the richest creatures' worth over "
        "the rounds, and the strongest feelings. Below: standing offers, the log of the market (a rule "
        "for each round) and the headlines.",
        "Shorts: a creature sells units it does not hold, borrowed from the wood's store, into standing bids; "
        "its coins are held as collateral until the units go back when due (bought in at market, or squeezed "
        "if none are to be had). Its panel shows 'short 3 honey due r12'.",
        "Pacts: ally proposes a public pact (#id), accepted by its # or by proposing back; allies trade first "
        "with each other ('allied with Fox' on the panel). break ends one in public, and so does a default "
        "on an ally's loan.",
        "Whispers: a private line to one creature, read in its next round, or a tip passed on (its words, "
        "never its truth). The board shows only who whispered to whom; the words are in the god view.",
        "g opens the god view: tips still in the air with their truth and who got them, and whispers, which "
        "only the ledger knows (spectators only; no creature ever sees them), beside who owes whom and the "
        "magistrate's fines.",
    )
    god: reactive[bool] = reactive(False, init=False)

    DEFAULT_CSS = """
    SpectatorScreen #watch-top { height: 2fr; }
    SpectatorScreen #watch-bottom { height: 1fr; min-height: 7; }
    SpectatorScreen.-wide #watch-top, SpectatorScreen.-very-wide #watch-top { height: 3fr; }
    SpectatorScreen.-wide #watch-bottom, SpectatorScreen.-very-wide #watch-bottom { height: 2fr; }
    SpectatorScreen #watch-side { width: 46; }
    SpectatorScreen.-wide #watch-side { width: 48; }
    SpectatorScreen.-very-wide #watch-side { width: 64; }
    SpectatorScreen #side-tabs { height: 1fr; }
    SpectatorScreen #side-tabs ContentSwitcher { height: 1fr; }
    SpectatorScreen #side-tabs TabPane { height: 1fr; padding: 0; }
    SpectatorScreen #watch-standings { height: 1fr; }
    SpectatorScreen #feelings-bars { height: 1fr; padding: 0 1; }
    SpectatorScreen #watch-offers { width: 4fr; min-width: 41; height: 100%; padding: 0 1; }  /* 41: names whole at 80 columns */
    SpectatorScreen #watch-log { width: 3fr; height: 100%; padding: 0 1; scrollbar-size-vertical: 1; }
    SpectatorScreen #watch-headlines { width: 2fr; height: 100%; padding: 0 1; scrollbar-size-vertical: 1; }
    SpectatorScreen GodView { display: none; height: 1fr; }
    SpectatorScreen.-god GodView { display: block; }
    SpectatorScreen.-god #watch-bottom { display: none; }
    SpectatorScreen.-god #watch-top { height: 1fr; }
    SpectatorScreen.-narrow GodView { grid-size: 2; }
    """

    def __init__(self, pacer, *, replay: bool = False):
        super().__init__("replay" if replay else "watch")
        self.pacer = pacer
        self.replay = replay

    def begin(self) -> None:
        super().begin()
        self.large_roster = False
        # the newest fines and whispers, for the god view: each kind kept on its own (whispers, far more
        # common, must not push fines out), and the run's fines counted in full
        self.secret_events: dict[str, deque[Event]] = {k: deque(maxlen=KEEP) for k in SECRET_KINDS}
        self.fined = (0, 0)  # fines, coins

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="watch-top"):
            yield CreatureBoard(id="board")
            with Vertical(id="watch-side"), TabbedContent(id="side-tabs"):
                with TabPane("standings", id="tab-standings"):
                    yield Static(id="watch-standings-when", classes="standings-when")
                    yield StandingsTable(id="watch-standings")
                with TabPane("prices", id="tab-prices"):
                    yield PriceChart(id="price-chart")
                with TabPane("wealth", id="tab-wealth"):
                    yield WealthChart(id="wealth-chart")
                with TabPane("feelings", id="tab-feelings"):
                    yield SentimentBars(id="feelings-bars")
        with Horizontal(id="watch-bottom"):
            yield OffersTable(id="watch-offers", classes="box")
            yield EventFeed(LOG_KINDS, id="watch-log", classes="box")
            yield EventFeed(HEADLINE_KINDS, max_lines=200, separators=False, id="watch-headlines", classes="box")
        yield GodView(id="god-view")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        self.app.check_size()
        self.refresh_bindings()  # the footer: the sort keys, or not

    @property
    def active_bindings(self) -> dict:
        """The keys the footer shows. Under SORTS_SHOWN columns the sort keys
        are left out (they are on the table's border, and in the help): after
        the rest they had no room, and the footer cut them ("w sort:"). So are
        a replay's jump keys under JUMPS_SHOWN (in the help), which had pushed
        help and quit out; where there is room for one set, the jumps."""
        bindings = super().active_bindings
        width = self.size.width
        jumps = width >= JUMPS_SHOWN
        sorts = width >= SORTS_SHOWN + (JUMP_CELLS if self.replay and jumps else 0)
        return {key: b for key, b in bindings.items()
                if (jumps or not b.binding.action.startswith("jump")) and (sorts or not b.binding.action.startswith("sort"))}

    def on_mount(self) -> None:
        self._dress()

    def _dress(self) -> None:
        self.query_one("#watch-offers").border_title = "standing offers"
        self.query_one("#watch-log").border_title = "market log"
        self.query_one("#watch-headlines").border_title = "headlines"
        self._title()

    def now(self) -> str:
        if self.note != "running":
            return self.note
        if self.pacer.to is not None and self.closed < self.pacer.to:
            return f"to round {self.pacer.to}…"
        delay = self.pacer.delay
        if self.pacer.paused:  # the pace space resumes at, as + and - set it (else unseen until resumed): short,
            return f"paused ({delay:g} s)"  # whole in the title at 80 columns; space and n are in the footer
        return f"{delay:g} s a round" if delay else "full speed"

    # ---- the run ------------------------------------------------------------
    async def ready(self, msg: GameReady) -> None:
        self.world, self.state = msg.world, msg.state
        self.large_roster = len(msg.roster) > 8
        rows = self._standings(msg.state)
        await self.query_one(CreatureBoard).setup(msg.roster, msg.state, msg.world.goods, rows)
        await self.query_one(PriceChart).setup(msg.world, msg.state)
        self.query_one(SentimentBars).show(msg.state.relations)
        self.query_one(OffersTable).show(msg.state)
        self.query_one("#watch-headlines", EventFeed).write(Text("shocks, tips coming true or not, fines", style="dim"))
        self.keep_secrets(msg.secrets)  # a resumed run's, from its record: its fines are the whole run's
        self._god()
        self.refresh_bindings()

    def on_thinking(self, msg: Thinking) -> None:
        self.query_one(CreatureBoard).thinking(msg.name)

    def decided(self, msg: Decided) -> None:
        self.query_one(CreatureBoard).decided(msg.name, msg.decision)

    def closed_round(self, msg: RoundClosed) -> None:
        self.round = msg.round
        self.state = msg.state
        rows = self._standings(msg.state)
        self.query_one(CreatureBoard).round_closed(msg.state, msg.decisions, msg.events, rows)
        self.query_one(PriceChart).record(msg.state, msg.events)
        self.query_one(SentimentBars).show(msg.state.relations)
        self.query_one(OffersTable).show(msg.state)
        for feed in self.query(EventFeed):
            feed.add_round(msg.round, msg.events, self.world.goods)
        self.keep_secrets(msg.events)
        self._god()

    def keep_secrets(self, events: Iterable[Event]) -> None:
        for e in events:
            if e.kind in SECRET_KINDS:
                self.secret_events[e.kind].append(e)
            if e.kind == "fine":
                self.fined = (self.fined[0] + 1, self.fined[1] + int(e.data.get("amount", 0)))

    def _standings(self, state: State):
        assert self.world is not None
        rows = standings(state, self.world)
        self.query_one(StandingsTable).show(rows)
        self.query_one("#watch-standings-when", Static).update(as_of(state.round))
        self.query_one(WealthChart).record(state.round, rows)
        return rows

    def _god(self) -> None:
        if self.state is not None:
            kept = sorted((e for kind in self.secret_events.values() for e in kind), key=lambda e: e.round)
            self.query_one(GodView).show(secrets(self.state, kept, self.fined))

    # ---- keys ---------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "sort":
            return self.large_roster  # hidden (and inert) with panels instead of a table
        if action == "jump":
            return self.replay  # a live run has no rounds ahead to jump to, nor back to play again
        return True

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

    def action_god_view(self) -> None:
        self.god = not self.god

    def watch_god(self, god: bool) -> None:
        self.set_class(god, "-god")
        self._god()

    def action_next_tab(self) -> None:
        tabs = self.query_one("#side-tabs", TabbedContent)
        tabs.active = TABS[(TABS.index(tabs.active) + 1) % len(TABS)] if tabs.active in TABS else TABS[0]

    def action_show_tab(self, tab: str) -> None:
        self.query_one("#side-tabs", TabbedContent).active = tab

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """The prices tab shown (t, a click, the palette): its chart takes the keys, so ↑/↓ choose a good as the
        help says (they had gone to the tabs' row, doing nothing, until the chart was clicked)."""
        if event.tabbed_content.id == "side-tabs" and event.pane.id == "tab-prices":
            self.set_focus(self.query_one(PriceChart))

    def action_sort(self, by: str | None) -> None:
        self.query_one(CreatureBoard).sort(by)

    def action_jump(self, where: str) -> None:
        """A replay's jump to a round, paused there: on, at once; back, the
        record played again from its start, this screen drawn afresh (the
        charts and the log are the rounds up to it, as a replay to it draws them)."""
        at = self.closed
        to = {"first": 1, "last": self.target, "back": at - JUMP, "on": at + JUMP}[where]
        to = max(1, min(self.target, to))
        # no round on past where the record stops rebuilding, nor past its end: a record that ends short of its
        # target (a run stopped early) had taken End and PgDn there without a word
        ended = self.note.startswith("stopped") or self.final is not None
        if not self.target or to == at or (ended and to > at):  # (no target: not started, or no round recorded)
            self.app.bell()
            return
        self.pacer.jump(to)
        if to < at:  # the run under way stops at once (it runs in this loop: it posts nothing more), and what it
            self.app.workers.cancel_group(self.app, "engine")  # had posted is handled before the screen begins again
            self.call_later(self._replay_again)
        self._title()

    async def _replay_again(self) -> None:
        """The record played again from its start (`RecordedGame`), to the
        round the pacer jumps to, on this screen drawn afresh: its charts, log
        and headlines had held the rounds after that one."""
        if self.app.closing:
            return
        self.begin()
        await self.recompose()
        self._dress()
        self.app.check_size()
        self.app.run_engine()

    def action_help(self) -> None:
        worth = worth_rule(self.world)
        keys = [replace(b, show=True) if b.action != "final" or self.final is not None else b  # the footer has no
                for b in self.BINDINGS if (self.large_roster or not b.action.startswith("sort"))  # room for o and F8:
                and (self.replay or not b.action.startswith("jump"))]  # the help says them (F8 once the season is over)
        help_text = tuple(p.replace("{worth}", worth) for p in self.HELP) + ((REPLAY_HELP,) if self.replay else ())
        self.app.push_screen(HelpScreen(help_text, [*keys, *self.app.BINDINGS]))
