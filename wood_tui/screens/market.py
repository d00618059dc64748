"""The play screen (`wood play`): one human seat's market, built from that
seat's `PublicView` only, with the action form; the models think while the
human decides.

Left, the seat's own panel (holdings against needs, quotes, tips, loans,
feelings both ways). Right, tabs: the offers it can take, its last round in
words (`engine.recap`), the public standings, the wood's public record.
Under them the form (focused at the start of every turn) and a strip with
who has decided and where the seat stands.

Several seats (hot-seat) take turns in seat order: before each turn the
curtain covers everything, and when a turn ends everything private to that
seat is blanked before the next seat's curtain goes up (what it copied to
the clipboard too: the next seat's ctrl+v would paste it; and its toasts).
"""
from __future__ import annotations

import time
from dataclasses import replace

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane

from engine.actions import PASS, SHORT_ROUNDS_MAX, Action
from engine.groves import next_make, next_yield
from engine.recap import move_line
from engine.score import Standing, worth_rule
from engine.world import World

from .. import safe
from ..bridge import LiveGame
from ..messages import Decided, GameOver, GameReady, RoundClosed, RoundOpened, SeatTurn, Thinking
from ..widgets.action_form import ActionForm, why
from ..widgets.event_feed import HEADLINE_KINDS, LOG_KINDS, EventFeed
from ..widgets.seat_panel import BookTable, SeatPanel
from ..widgets.standings import HIGHLIGHT, SCORE_FIRST, StandingsTable, as_of
from .curtain import CurtainScreen
from .game_screen import GameScreen
from .modals import HelpScreen, key_of

NAMES_IN_STRIP = 6  # more creatures than this: counts instead of names
TABS = {"offers": "tab-offers", "round": "tab-round", "standings": "tab-standings", "wood": "tab-wood"}


def help_paragraphs(world: World | None) -> tuple[str, ...]:
    """The rules a player needs, with the wood's own numbers where it is set up."""
    eco = world.economy if world is not None else {}
    pantry = eco.get("pantry", 6)
    fuel = eco.get("fuel_by_season", {})
    burn = ", ".join(f"{n} in {s}" for s, n in fuel.items()) if fuel else "more in winter"
    fuel_good = world.fuel_good if world is not None else "timber"
    life = eco.get("offer_lifetime", 3)
    collateral, short_rounds = eco.get("short_collateral_pct", 150), eco.get("short_rounds", 4)
    squeeze, max_shorts = eco.get("squeeze_pct", 200), eco.get("max_shorts", 3)
    garnish = eco.get("debt_garnish_pct", 50)
    low, shown = eco.get("low_mood", 25), eco.get("whispers_shown", 3)
    allies = eco.get("max_allies", 3)
    term = eco.get("grove_rounds", 24)
    return (
        "THE GOAL. The season has a fixed number of rounds. Whoever is worth most at the end wins: net worth = "
        f"{worth_rule(world)}. Mood (0-100) stands beside "
        "it: a fed creature is a happy one. The standings tab (F5) is live and public.",
        "EACH ROUND you make one move: offer (buy or sell qty of a good at a limit price; what is not matched "
        f"stands as your offer for {life} rounds), accept a standing offer, loan offer or pact offer by its #, "
        "lend coins, give a gift, sell short, propose or break a pact, whisper, or pass; and you may say one "
        "public line. A move the engine would refuse is explained "
        "under the form; correct it and act again. An accept can still lose a race to a creature who moved "
        "first: it then trades against the next best offers at that price, or stands as your own offer.",
        "EATING. Every round you eat your basket (the 'need' column). Met needs raise your mood, unmet ones lower "
        f"it; a creature never dies. {fuel_good.capitalize()} is burned as fuel by season: {burn} (a year is four "
        f"rounds). Below mood {low} you make one fewer of your kind's main good. Groves differ: among several of your kind, each one's luck "
        f"(drawn every {term} rounds) shares out your kind's harvest beyond one of each good apiece; the intro tells "
        "what yours makes.",
        f"SPOILAGE. Above {pantry} units of a good (your pantry), a share of the hoard rots every round: "
        "sell what you cannot eat.",
        "TIPS. Sometimes a private tip reaches you: 'the honey harvest fails in 2 rounds'. It may be true or "
        "planted; you learn which only when it resolves (shown under your tips and in your round). A true tip's "
        "shock happens, a planted one's does not.",
        "THE MAGISTRATE. When a true tip resolves, the magistrate may look at the trades its recipients made in "
        "that good meanwhile, each against the mean price of the round the news broke: profit made on a tip is "
        "fined (all of it, and more) in public, and your trading partners think less of you; a loss at a price far "
        "from the going one (a wash) offsets nothing. Trading that made nothing is cleared. It judges you too.",
        "LOANS. Lend coins at a rate for some rounds; the taker owes amount + rate% a round when due. A borrower "
        f"who cannot pay defaults in public: the rest stays owed and {garnish}% of its coins go to it every round, "
        "and it may not borrow (or sell short) until it is paid. In net worth a loan counts the sum lent until it falls due; "
        "one in default counts for its lender only what the borrower holds.",
        f"SHORTS. short sells qty of a good you do not hold into the standing bids at your price or better, "
        f"borrowed from the wood's store: you get the coins now, {collateral}% of them are held as collateral, "
        f"and the units go back in {short_rounds} rounds (or the 1-{SHORT_ROUNDS_MAX} you give; never past the "
        f"last round; {max_shorts} open at once at most), "
        "from your store or bought in at market (never above the squeeze). If none are to be had you are "
        f"squeezed: they are settled at {squeeze}% of the price, and what you cannot pay is owed to the wood, a "
        "default collected from your coins. A short "
        "wins when the price falls.",
        f"PACTS. ally proposes a public pact to one creature (up to {allies} allies); it becomes a pact when they "
        "accept it by its # (your panel lists pacts offered to you, and so does the offers table) or propose one "
        "back. Allies trade first with each other and their feelings move together. break ends a pact, in "
        "public; a default on an ally's loan ends it too.",
        "WHISPERS. whisper sends one private line (up to 80 characters) to one creature: only it reads it, in "
        f"its next round ('Fox whispered: ...'; the latest {shown} of a round). Or pass on one of your tips: its "
        "words travel, never whether it is true. Whispers can lie.",
        "FEELINGS. Fair trades, gifts and repaid loans warm others to you; defaults, fines and sharp prices cool "
        "them. Your panel shows how you feel and how others feel about you.",
        "Hot-seat: the curtain hides everything between players; press enter when you are at the keyboard.",
    )


class MarketScreen(GameScreen):
    BINDINGS = [
        Binding("f1", "help", "help"),
        Binding("f2", "pass_turn", "pass"),
        Binding("f3", "tab('offers')", "offers"),
        Binding("f4", "tab('round')", "recap"),
        Binding("f5", "tab('standings')", "standings"),
        Binding("f6", "tab('wood')", "wood"),
        Binding("f8", "final", "final standings", show=False),  # as in watch; the footer has no room
        Binding("escape", "form", "back to the form", show=False),
        Binding("ctrl+q", "app.quit", "quit", priority=True),
    ]
    # seconds after a turn comes up in which a move or a pass is still a key meant for the turn before: with
    # rounds that close at once (scripted traders), F2 or Enter tapped twice had made the next turn's move too,
    # a turn gone unseen (in hot-seat play counted from the curtain's lifting, after the curtain's own pause); such a
    # key is dropped, and the form says so (`_unsettled`)
    SETTLE_S = 0.5
    HORIZONTAL_BREAKPOINTS = [(0, "-cramped"), (80, "-narrow"), (120, "-wide")]  # -cramped: the form's fields in rows
    FORM_KEYS = [  # the widgets' own keys, told in the help screen
        Binding("a-z", "", "in a list: pick the choice starting with that letter", key_display="letters"),
        Binding("tab", "", "next field (shift+tab: back)", key_display="tab"),
        Binding("enter", "", "act; on an offer in the table: take it", key_display="enter"),
        Binding("up,down", "", "open a list; move in the offers table", key_display="↑ ↓"),
        Binding("escape", "", "from the tables: back to the form", key_display="escape"),
        Binding("ctrl+p", "", "all commands (pass, help, offers, standings…)", key_display="ctrl+p"),
    ]

    def halt(self, reason: str) -> None:
        super().halt(reason)
        self.query_one(ActionForm).finish("the game stopped: no move can be made")

    def __init__(self, game: LiveGame):
        super().__init__("play")
        self.game = game
        self.seats: tuple[str, ...] = tuple(s.name for s in game.seats)
        self.status: dict[str, str] = {}   # creature -> "" | "thinking" | "decided" | "fault"
        self.waiting: list[SeatTurn] = []  # seats whose turn came, in arrival order
        self.active: SeatTurn | None = None
        self.revealed = False  # the active turn is on screen (in hot-seat play: its curtain lifted)
        self.shown_at = 0.0  # when it came on screen (`_reveal`)
        self.seat_shown = False  # a seat's panel has been on screen this session
        self.hold = False                   # the introduction is up: turns wait for it
        # private to each seat, shown only on its own turn: its last round in words,
        # how others feel about it, its resolved tips (text, came true)
        self.recaps: dict[str, tuple[int, list[str]]] = {}
        self.regards: dict[str, list[str]] = {}
        self.resolved: dict[str, list[tuple[str, bool]]] = {}
        self.table: list[Standing] = []

    @property
    def settled(self) -> bool:
        """The turn on screen has been up long enough (SETTLE_S) that a key answers it, not the turn before."""
        return time.monotonic() - self.shown_at >= self.SETTLE_S

    @property
    def hot_seat(self) -> bool:
        return len(self.seats) > 1

    @property
    def live(self) -> SeatTurn | None:
        """The turn being played at the keyboard: up, and shown (in hot-seat
        play, only once its seat has lifted the curtain). Only it may be answered."""
        return self.active if self.active is not None and self.revealed else None

    @property
    def shows_a_seat(self) -> bool:
        """Something of a seat's own is on screen: its turn, or its panel (not yet blanked)."""
        return self.live is not None or any(not p.has_class("-concealed") for p in self.query(SeatPanel))

    @property
    def me(self) -> str | None:
        """The seat whose screen this is now (one seat: always it)."""
        if self.live is not None:
            return self.live.view.name
        return self.seats[0] if not self.hot_seat and self.seats else None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="top"):
            yield SeatPanel(id="seat")
            with TabbedContent(id="market", initial=TABS["offers"]):
                with TabPane("offers", id=TABS["offers"]):
                    yield Static(Text("No offers from others yet: post your own (offer), or pass (F2).", style="dim"),
                                 id="book-empty")  # shown only while there is nothing to take
                    yield BookTable(id="book")
                with TabPane("recap", id=TABS["round"]):
                    with VerticalScroll(id="recap-box"):
                        yield Static(id="recap")
                with TabPane("standings", id=TABS["standings"]):
                    yield Static(id="standings-when", classes="standings-when")
                    # who: wide enough that at 80 columns the pane ends after mood, not two letters into coins
                    yield StandingsTable(id="standings", columns=SCORE_FIRST, widths={"who": 15})
                with TabPane("wood", id=TABS["wood"]):
                    yield EventFeed({**LOG_KINDS, **HEADLINE_KINDS}, id="news")
        yield Vertical(id="form-slot")
        yield Static(id="strip")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        self.app.check_size()
        self._strip()

    def on_mount(self) -> None:
        self.query_one(SeatPanel).conceal("the wood is waking up…")
        self.query_one("#recap", Static).update(Text("Your first round is still to come.", style="dim"))
        self._title()

    # ---- the run ------------------------------------------------------------
    async def ready(self, msg: GameReady) -> None:
        self.status = {r.name: "" for r in msg.roster}
        form = ActionForm(msg.world.goods, [r.name for r in msg.roster], msg.world.economy, id="form")
        form.disabled = True
        await self.query_one("#form-slot").mount(form)
        form.finish("waiting for your turn…")
        self._standings()
        self._strip()
        app = self.app
        # the first game: its introduction first (not for a save with no round left to play: it came up over
        # the final standings, "Start playing" once they were closed)
        if msg.state.round < msg.target_rounds and getattr(app, "wants_intro", lambda: False)():
            self.hold = True
            app.show_intro(msg, self.release)

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
        self.query_one("#news", EventFeed).add_round(msg.round, msg.events, self.world.goods)
        for name, lines in msg.recaps.items():
            self.recaps[name] = (msg.round, lines)
        self.regards.update(msg.regard)
        for e in msg.events:
            if e.kind == "tip_resolved":
                for name in e.data.get("recipients", ()):
                    if name in self.seats:
                        self.resolved.setdefault(name, []).append((e.data["text"], bool(e.data["truth"])))
        self._standings()
        # one seat: its screen follows the wood to the end of every round (the
        # last round's results stay on screen when the season is over)
        if not self.hot_seat and self.seats and (view := msg.views.get(self.seats[0])) is not None:
            self._show_seat(view, after=True)
        self._strip()

    def over(self, msg: GameOver) -> None:
        self.query_one(ActionForm).finish(f"{msg.text}  ({key_of(self.BINDINGS, 'final')}: the final standings)")
        if self.hot_seat or not self.seat_shown:  # nothing of a seat's is on screen: say what is, not "waiting"
            self.query_one(SeatPanel).conceal(self.season_over())

    def _standings(self) -> None:
        self.table = self.standings_now()
        self.query_one(StandingsTable).show(self.table, self.me)
        if self.state is not None:
            self.query_one("#standings-when", Static).update(as_of(self.state.round))

    # ---- turns --------------------------------------------------------------
    def on_seat_turn(self, msg: SeatTurn) -> None:
        self.waiting.append(msg)
        self.call_later(self._next_turn)  # after this round's other seats have queued too

    def release(self) -> None:
        """The introduction is gone: the turn that waited for it comes up."""
        self.hold = False
        self._next_turn()

    def _next_turn(self) -> None:
        if self.active is not None or not self.waiting or self.hold:
            return
        turn = min(self.waiting, key=lambda t: self.seats.index(t.view.name))
        self.waiting.remove(turn)
        self.active = turn
        self.revealed = False
        if self.hot_seat:
            self._conceal(f"{turn.view.name}'s turn is next")
            self.app.push_screen(CurtainScreen(turn.view.name, turn.view.round), lambda _: self._reveal(turn))
        else:
            self._reveal(turn)

    def _reveal(self, turn: SeatTurn) -> None:
        if self.active is not turn or turn.answer.done():  # answered meanwhile: nothing of it is shown
            return
        self.revealed = True
        self.shown_at = time.monotonic()
        name = turn.view.name
        self._show_seat(turn.view)
        round_no, recap = self.recaps.get(name, (0, []))
        if round_no:  # the round just gone, in words, is the first thing to read
            self.query_one("#market", TabbedContent).active = TABS["round"]
        self.query_one(ActionForm).start(turn.view, move_line(recap))
        self.query_one(StandingsTable).show(self.table, name)
        self._strip()

    def _show_seat(self, view, after: bool = False) -> None:
        self.seat_shown = True
        name = view.name
        # after a round (its state on screen), the next harvest's grove: a new term's, where the next round starts one
        produces = next_yield(self.state, self.world, name) if after and self.state is not None else None
        self.query_one(SeatPanel).show(view, self.world.goods, self.regards.get(name, ()), self.resolved.get(name, ()), after=after,
                                       make=next_make(self.world, view, meal=not after, produces=produces))
        self.query_one(BookTable).show(view)
        self.query_one("#book-empty").display = not (view.book or view.loan_offers or view.pact_offers)
        round_no, recap = self.recaps.get(name, (0, []))
        box = self.query_one("#recap", Static)
        if round_no:
            box.update(Text("\n").join([Text(f"Round {round_no}, for you:", style="bold"),
                                        *(Text.assemble("• ", safe.text(line)) for line in recap)]))
        elif view.round <= 1 and not after:
            box.update(Text("Your first round is still to come.", style="dim"))
        else:  # a resumed game: the rounds before this session are in the save, not in words here
            box.update(Text(f"Your round in words shows once round {view.round if not after else view.round + 1} "
                            "closes.", style="dim"))

    def _conceal(self, note: str) -> None:
        if self.app.clipboard:  # what the last seat copied (its whisper, a tip's words) is not the next one's to paste
            self.app.copy_to_clipboard("")  # the terminal's clipboard too (OSC 52): a paste reads it
        self.clear_selection()  # nor what it had selected on screen
        # nor a toast of its turn's (a screenshot of its screen saved, and where)
        getattr(self.app, "clear_turn_notices", self.app.clear_notifications)()
        self.query_one(SeatPanel).conceal(note)
        self.query_one(BookTable).conceal()
        self.query_one("#book-empty").display = False
        self.query_one("#recap", Static).update(Text("(hidden between turns)", style="dim"))
        self.query_one(StandingsTable).show(self.table, None)
        self.query_one(ActionForm).finish(note)

    @on(ActionForm.Chosen)
    def _chosen(self, event: ActionForm.Chosen) -> None:
        turn = self.live
        if turn is None or self._unsettled():
            return
        problem = self.game.check(turn.view.name, event.action)
        if problem is not None:
            event.form.explain(why(*problem))
            return
        self._answer(turn, event.action)

    def _unsettled(self) -> bool:
        """The turn on screen came up too lately (`SETTLE_S`) for a move or a pass to be meant for it: the key is
        dropped, and the form says so (it had been dropped without a word, and the player was left waiting on a move
        never made). It says 'do it again', not 'press the key': a click on Act, or the palette's Pass, is one too."""
        if self.settled:
            return False
        self.query_one(ActionForm).explain("not taken: this turn had only just come up; do it again")
        return True

    def _answer(self, turn: SeatTurn, action: Action) -> None:
        if not turn.answer.done():
            turn.answer.set_result(action)
        self.active = None
        self.revealed = False
        self.status[turn.view.name] = "decided"
        if self.hot_seat:
            self._conceal("waiting for the others…")
        else:
            self.query_one(ActionForm).finish("waiting for the others…")
        self._strip()
        self._next_turn()

    @on(DataTable.RowSelected, "#book")
    def _take(self, event: DataTable.RowSelected) -> None:
        if self.live is not None and event.row_key.value is not None:
            self.query_one(ActionForm).take(int(event.row_key.value))

    # ---- the strip under the form ---------------------------------------------
    def _strip(self) -> None:
        """One line: the round, where the seat stands, and who has decided (a
        name each, or counts where the names would not fit the line: at 80
        columns the last two of five had been cut off without a word); once no
        round is left, that the season is over (a finished save resumed had
        read '0 of 5 have decided', as if a round were waiting)."""
        line = Text(f"round {self.round}  ", style="bold")
        done = sum(1 for v in self.status.values() if v in ("decided", "fault"))
        long, short = f"{done} of {len(self.status)} have decided", f"{done}/{len(self.status)} decided"
        # the last round closed (or a save resumed with none left): no one has anything to decide
        over = bool(self.target) and self.closed >= self.target
        if over:
            long, short = self.season_over(), "season over"
        me = self.me
        mine = next((r for r in self.table if r.name == me), None)
        if mine is not None and (self.active is not None or not self.hot_seat):
            when = f"after r{self.closed}" if self.closed else "at start"  # the standings' moment (not this harvest's)
            line.append_text(Text.assemble(("you: ", "dim"), (f"#{mine.rank}", "bold"),
                                           (f"/{len(self.table)} {when}, worth {mine.worth}", "")))
            lead = self.table[0]
            if lead.name != mine.name:  # its name at most 16 cells, and short enough to leave the shortest counts room
                worth = f" {lead.worth}"
                left = self._strip_width() - line.cell_len - len("  lead: ") - len(worth) - len("  ·  ") - len(short)
                line.append_text(Text.assemble(("  lead: ", "dim"), safe.name(lead.name, width=max(4, min(16, left))),
                                               worth))
            line.append("  ·  ")
        active = self.active.view.name if self.active else None
        marks = {"thinking": ("⋯", "yellow"), "decided": ("✓", "green"), "fault": ("✗", "red"), "": ("·", "dim")}
        names = Text(" ").join(  # the seat at the keyboard: underlined (reads in any theme)
            Text.assemble(safe.name(name, HIGHLIGHT if name == active else "", width=12),
                          ("✎", "bold") if name == active else marks[st]) for name, st in self.status.items())
        turn = Text.assemble("  ·  your turn, ", safe.text(active, style="bold")) if active else Text()
        room = self._strip_width() - line.cell_len
        # the first that fits: every name; the counts, with whose turn, then without; shorter counts
        tails = [Text.assemble(long, turn), Text.assemble(short, turn), Text(long), Text(short)]
        if over:
            tails = [Text(long), Text("the season is over"), Text(short)]
        elif len(self.status) <= NAMES_IN_STRIP:
            tails.insert(0, names)
        line.append_text(next((t for t in tails if t.cell_len <= room), tails[-1]))
        self.query_one("#strip", Static).update(line)

    def _strip_width(self) -> int:
        strip = self.query_one("#strip", Static)
        return strip.content_region.width or self.app.size.width - 2

    # ---- keys -----------------------------------------------------------------
    def action_help(self) -> None:
        keys = [replace(b, show=True) if b.action == "final" and self.final is not None else b  # F8, hidden from
                for b in self.BINDINGS]  # the footer: the help says it once the season is over, as watch's does
        self.app.push_screen(HelpScreen(help_paragraphs(self.world), [*keys, *self.app.BINDINGS, *self.FORM_KEYS]))

    def action_pass_turn(self) -> None:
        """Pass, saying the line typed in the form's `say` (if any): F2 had dropped it unsaid."""
        if self.live is not None and not self._unsettled():  # never a turn still behind its curtain, nor one just up
            say = self.query_one(ActionForm).say
            self._answer(self.live, Action(action="pass", say=say) if say else PASS)

    def final_not_yet(self) -> str:
        after = f" (after round {self.target})" if self.target else ""
        tab = key_of(self.BINDINGS, "tab('standings')")
        return f"The final standings come at the season's end{after}; the standings now are under {tab}."

    def season_over(self) -> str:
        """What the seat panel and the strip say once no round is left, with the final standings' key."""
        return f"the season is over: {key_of(self.BINDINGS, 'final')} for the final standings"

    def action_tab(self, which: str) -> None:
        """Show a tab; the offers tab takes the keys too (enter takes an offer, escape comes back)."""
        tabs = self.query_one("#market", TabbedContent)
        tabs.active = TABS[which]
        if which == "offers":
            self.set_focus(self.query_one("#book"))
        elif which == "standings":
            self.set_focus(self.query_one("#standings"))

    def action_form(self) -> None:
        for form in self.query(ActionForm):  # none until the wood is set up (escape pressed at once)
            form.focus_form()
