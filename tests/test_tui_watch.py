"""The spectator side (`wood watch`, `wood replay`): live standings, the god
view (spectators only, never a seat, never a prompt), charts with axes and
markers, the sortable large roster. Snapshots of each, Pilot tests of the
keys, and a firewall test that plays a game with the god view open and scans
every prompt the brains were given.

Seeds: 10 has two tips in the air after round 4 (one true, one planted) and
a debt; by round 8 a tip on acorns has resolved planted and shocks have
begun.
"""
from __future__ import annotations

import re

from textual.widgets import TabbedContent

from engine.brains.scripted import ScriptedBrain
from engine.events import Event
from engine.prompts import build_messages
from engine.score import standings
from engine.state import State, Tip
from engine.world import build_roster, load_world
from tests.test_firewall import RESOLUTION, TRUTH_WORDS
from tests.tui_harness import after_rounds, all_text, args, rendered, until
from wood_tui.app import WoodApp
from wood_tui.bridge import LiveGame, Pacer, Seat
from wood_tui.screens.market import MarketScreen
from wood_tui.screens.spectator import SpectatorScreen, WatchCommands
from wood_tui.widgets.chart import Series, line_chart
from wood_tui.widgets.creature_panel import CreatureBoard, RosterTable, same
from wood_tui.widgets.event_feed import HEADLINE_KINDS, LOG_KINDS, EventFeed, feed_line
from wood_tui.widgets.god_view import GodView, secrets, whisper_lines
from wood_tui.widgets.offers_table import OffersTable
from wood_tui.widgets.price_chart import markers_for

WORLD = load_world()
GOODS = WORLD.goods  # the words for one unit of each good (events, recaps and panels take them)


def watch_app(*argv: str, extra_brains=None, paused: bool = True) -> WoodApp:
    game = LiveGame(args("watch", "--brains", "scripted", *argv), extra_brains=extra_brains)
    return WoodApp(game, pacer=Pacer(0.0, paused=paused))


# ---- snapshots ---------------------------------------------------------------------
def test_watch_standings(snap_compare):
    assert snap_compare(watch_app("--seed", "10"), terminal_size=(100, 30), run_before=after_rounds(4))


def test_watch_god_view_open(snap_compare):
    assert snap_compare(watch_app("--seed", "10"), terminal_size=(130, 36), run_before=after_rounds(4, "g"))


def test_watch_price_chart_with_axes(snap_compare):
    assert snap_compare(watch_app("--seed", "10"), terminal_size=(110, 34), run_before=after_rounds(8, "t"))


def test_watch_wealth_chart(snap_compare):
    assert snap_compare(watch_app("--seed", "10"), terminal_size=(110, 34), run_before=after_rounds(8, "t", "t"))


def test_watch_large_roster_sorted_by_worth(snap_compare):
    assert snap_compare(watch_app("--seed", "3", "--creatures", "40"), terminal_size=(120, 40),
                        run_before=after_rounds(2, "w"))


async def test_the_watch_standings_say_which_round_they_are_after():
    app = watch_app("--seed", "10")
    async with app.run_test(size=(80, 24)) as pilot:
        await after_rounds(3)(pilot)
        assert "standings after round 3" in rendered(app)
        await pilot.press("n")
        await until(pilot, lambda: app.main.closed == 4, what="round 4")
        await pilot.pause()
        assert "standings after round 4" in rendered(app)


async def test_at_80x24_the_standing_offers_and_the_logs_show_whole():
    """At 80x24 the standing offers showed "#, good, side, qty, pr" and the
    names past the box's edge; the market log and the headlines cut words
    ("a pac", "tips true or not" for "tips coming true or not"), drawn at 20
    columns in a narrower box. Now each offer's row shows its owner whole
    (when it expires is left out first), and a log's lines wrap to its width."""
    app = watch_app("--seed", "3", "--creatures", "40")
    async with app.run_test(size=(80, 24)) as pilot:
        await after_rounds(3)(pilot)
        screen = app.main
        table = screen.query_one(OffersTable)
        assert table.max_scroll_x == 0
        owners = {str(o.id): o.owner for o in screen.state.offers.values()}
        owners.update({str(lo.id): lo.lender for lo in screen.state.loan_offers.values()})
        shown = rendered(app)
        visible = [row.key.value for row in table.ordered_rows[:table.size.height - 1]]
        assert len(visible) >= 4
        for oid in visible:
            assert re.search(rf"│ {oid} +\w+ +(buy|sell|lend) +\d+ +\S+ {re.escape(owners[oid])} *│", shown), \
                (oid, owners[oid], shown)
        for feed in screen.query(EventFeed):
            width = feed.scrollable_content_region.width
            assert feed.lines and max(strip.cell_length for strip in feed.lines) <= width, (feed.id, width)


async def test_at_80x24_the_watch_footer_is_whole():
    """The footer had read "? help ▏" (a small wood) and "w sort:▏" (a large
    one) at 80 columns: its keys now sit closer, and under 120 columns the
    sort keys (on the table's border, and in the help) leave it; they still sort."""
    for n in ("5", "40"):
        app = watch_app("--seed", "3", "--creatures", n)
        async with app.run_test(size=(80, 24)) as pilot:
            await after_rounds(1)(pilot)
            footer = rendered(app).splitlines()[-1]
            assert re.search(r"\? help +q quit +▏\^p palette$", footer), (n, footer)
            if n == "40":
                await pilot.press("w")
                await pilot.pause()
                assert app.main.query_one(CreatureBoard).sort_by == "worth"
                await pilot.resize_terminal(140, 40)
                await pilot.pause()
                assert "w sort: worth" in rendered(app).splitlines()[-1]


async def test_f8_brings_the_final_standings_back_in_watch_as_the_palette_says():
    """The command palette's 'Final standings' says F8 brings them back; in
    `wood watch` and `wood replay` F8 did nothing (only play bound it)."""
    from wood_tui.screens.final import FinalScreen

    app = watch_app("--rounds", "2", paused=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the season's end")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main, what="the board again")
        await pilot.press("f8")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), timeout=2, what="F8: the final standings")


async def test_f8_before_the_season_ends_in_watch_says_when_the_final_standings_come():
    """F8 before the season was over did nothing and said nothing; it says
    when the final standings come and where the standings are now."""
    app = watch_app("--seed", "10")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await after_rounds(1)(pilot)
        await pilot.press("f8")
        await pilot.pause()
        assert app.screen is app.main
        said = [n.message for n in app._notifications if "final standings" in n.message]
        assert said == ["The final standings come at the season's end; the standings now are in the standings tab "
                        "(t)."], said


async def test_the_speed_set_while_paused_shows_in_the_title():
    """+ and - while paused set the pace, but the title kept saying only
    "paused: n steps, space resumes": the change was unseen until resumed."""
    app = watch_app("--seed", "3")  # paused, at full speed
    async with app.run_test(size=(120, 30)) as pilot:
        await after_rounds(1)(pilot)
        assert rendered(app).splitlines()[0].rstrip().endswith("· paused (0 s)")
        await pilot.press("minus", "minus")
        await pilot.pause()
        assert app.pacer.paused and app.pacer.delay == 0.5
        assert rendered(app).splitlines()[0].rstrip().endswith("· paused (0.5 s)")
        await pilot.press("plus")
        await pilot.pause()
        assert rendered(app).splitlines()[0].rstrip().endswith("· paused (0.25 s)")
        await pilot.press("space")
        await pilot.pause()
        assert rendered(app).splitlines()[0].rstrip().endswith("· 0.25 s a round")


async def test_the_title_shows_the_speed_whole_at_80_columns():
    """At 80 columns the title cut the pace off ("paused (a round e…",
    "round 12/100 · a round every 0…"): paused or not, at every speed, in a
    watch or a replay of the default 100 rounds, it is whole."""
    app = watch_app("--seed", "3")  # paused, at full speed
    async with app.run_test(size=(80, 24)) as pilot:
        await after_rounds(1)(pilot)
        screen = app.main
        seen = []
        for mode, r in (("watch", 1), ("watch", 100), ("replay", 100)):
            screen.mode, screen.round = mode, r
            for delay in app.pacer.SPEEDS:
                for paused in (True, False):
                    app.pacer.delay, app.pacer.paused = delay, paused
                    screen._title()
                    await pilot.pause()
                    title = rendered(app).splitlines()[0].rstrip()
                    assert title.endswith(f"{mode} · round {r}/100 · {screen.now()}"), title
                    seen.append(screen.now())
        assert "paused (0.25 s)" in seen and "paused (4 s)" in seen and "0.25 s a round" in seen \
            and "full speed" in seen


# ---- the god view ------------------------------------------------------------------
async def test_god_view_key_toggles_it_in_watch():
    app = watch_app("--seed", "89")  # by round 4: a true tip, a planted one and a loan
    async with app.run_test(size=(150, 36)) as pilot:  # wide enough for "Squirrel owes Owl 19  due r7"
        await after_rounds(4)(pilot)
        screen = app.main
        god = screen.query_one(GodView)
        assert not god.display
        tips = [t for t in screen.state.tips.values() if not t.resolved]
        assert {t.truth for t in tips} == {True, False}  # the seed's promise: one of each
        assert "PLANTED" not in rendered(app)
        await pilot.press("g")
        assert god.display and screen.has_class("-god")
        shown = rendered(app)
        for t in tips:
            assert re.search(rf"#{t.id} +{'TRUE' if t.truth else 'PLANTED'} ", shown), (t, shown)
        assert screen.state.loans  # the seed's other promise: a debt
        for ln in screen.state.loans.values():
            assert f"{ln.borrower} owes {ln.lender} {ln.owed}  due r{ln.due}" in shown, shown
        await pilot.press("g")
        assert not god.display and "PLANTED" not in rendered(app)


async def test_god_view_command_is_in_the_palette_of_watch_only():
    app = watch_app("--seed", "10")
    async with app.run_test(size=(120, 36)) as pilot:
        await after_rounds(1)(pilot)
        provider = WatchCommands(app.main)
        names = [name for name, _, _ in provider.commands()]
        assert any(n.startswith("god view") for n in names)
        hits = [h async for h in provider.search("god view")]
        assert hits
        hits[0].command()
        await pilot.pause()
        assert app.main.query_one(GodView).display


async def test_no_god_view_in_play():
    app = WoodApp(LiveGame(args("play", "--brains", "scripted", "--seed", "10"), [Seat("Owl")]), pacer=Pacer(0.0))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.main
        await until(pilot, lambda: screen.active is not None, what="Owl's turn")
        assert isinstance(screen, MarketScreen)
        app.set_focus(None)  # so the key is not typed into the form
        await pilot.press("g")
        await pilot.pause()
        for s in app.screen_stack:
            assert not s.query(GodView)
        assert not any(b.action.endswith("god_view") for b in screen.BINDINGS)
        assert not any(b.binding.action.endswith("god_view") for b in screen.active_bindings.values())
        assert WatchCommands not in screen.COMMANDS and WatchCommands not in app.COMMANDS
        assert WatchCommands(screen).commands() == []
        assert "PLANTED" not in all_text(app) and "god view" not in all_text(app)


class PromptRecorder:
    """A scripted trader that, like an LLM brain, builds its prompt from its view each turn; the prompts are kept."""

    def __init__(self, seed: int, entry, world, names, prompts: list):
        self.brain = ScriptedBrain(seed, entry.temperament)
        self.entry, self.world, self.names, self.prompts = entry, world, names, prompts

    async def decide(self, view):
        msgs = build_messages(view, self.world, temperament_line=self.world.temperaments[self.entry.temperament],
                              names=self.names)
        self.prompts.append((view.round, self.entry.name, "\n".join(m["content"] for m in msgs)))
        return await self.brain.decide(view)


async def test_firewall_holds_with_the_god_view_open():
    world = load_world()
    roster = build_roster(world)
    names = tuple(r.name for r in roster)
    prompts: list[tuple[int, str, str]] = []
    brains = {r.name: PromptRecorder(10, r, world, names, prompts) for r in roster}
    app = watch_app("--seed", "10", "--rounds", "12", extra_brains=brains)
    tips: dict[int, Tip] = {}
    shown_truths = set()
    async with app.run_test(size=(130, 40)) as pilot:
        screen = app.main
        await until(pilot, lambda: screen.is_mounted, what="the spectator screen")
        await pilot.press("g")  # open from the start, before any prompt of round 1 is built
        assert screen.query_one(GodView).display
        for r in range(1, 13):
            if r > 1:
                await pilot.press("n")
            await until(pilot, lambda r=r: screen.closed == r, what=f"round {r}")
            await pilot.pause()
            tips.update({t.id: t.copy() for t in screen.state.tips.values()})
            shown_truths |= {w for w in ("TRUE", "PLANTED") if w in rendered(app)}
        assert screen.query_one(GodView).display  # still open at the end
    assert shown_truths == {"TRUE", "PLANTED"}  # the god view did show truths while the game ran
    assert {t.truth for t in tips.values()} == {True, False}
    assert len(prompts) == 5 * 12
    leaks = []
    for rnd, creature, text in prompts:
        public = RESOLUTION.sub("", text)  # a resolved tip's fate is public record
        for pattern in (TRUTH_WORDS, re.compile(r"TRUE|PLANTED|god view|only the ledger|owes \w+ \d+  due")):
            if m := pattern.search(public):
                leaks.append((rnd, creature, m.group(0)))
        own = {t.text for t in tips.values() if creature in t.recipients and t.issued <= rnd < t.resolves}
        for t in tips.values():  # nobody's prompt carries another's live tip
            if creature not in t.recipients and t.issued <= rnd < t.resolves and t.text in public \
                    and t.text not in own:
                leaks.append((rnd, creature, f"tip #{t.id}"))
    assert leaks == []
    # and the recipients' prompts did carry their tips (without truth)
    t = next(iter(tips.values()))
    assert any(t.text in text for rnd, c, text in prompts if c in t.recipients and t.issued < rnd < t.resolves)


def test_secrets_gathers_tips_loans_fines_and_whispers(world):
    from engine.state import Loan, initial_state

    s: State = initial_state(world, 1)
    s.tips[3] = Tip(3, "drought", "berries", "the berries fail", ["Owl"], False, 1, 4)
    s.tips[4] = Tip(4, "drought", "honey", "old news", ["Fox"], True, 1, 2, resolved=True)
    s.loans[9] = Loan(9, "Owl", "Fox", 20, 22, 5, defaulted=True)
    evil = "[@click=app.quit]hi\x1b[31m"
    ev = [Event("fine", 3, {"creature": "Fox", "amount": 12, "good": "honey", "tip": 4, "profit": 30}),
          Event("whisper", 3, {"from": "Fox", "to": "Owl", "text": evil}, public=False, who=("Fox", "Owl")),
          Event("trade", 3, {"buyer": "Owl", "seller": "Fox", "good": "honey", "qty": 1, "price": 9})]
    got = secrets(s, ev)
    assert [(t.id, t.truth, t.recipients) for t in got.tips] == [(3, False, ("Owl",))]  # pending only
    assert [(ln.borrower, ln.lender, ln.owed, ln.defaulted) for ln in got.loans] == [("Fox", "Owl", 22, True)]
    assert [(f.creature, f.amount) for f in got.fines] == [("Fox", 12)] and got.fined == 12
    assert [(w.sender, w.to) for w in got.whispers] == [("Fox", "Owl")]
    drawn = whisper_lines(got.whispers)
    assert "[@click=app.quit]hi" in drawn.plain and "\x1b" not in drawn.plain


# ---- the large roster ----------------------------------------------------------------
async def test_sorting_the_large_roster_by_worth_orders_rows_by_worth():
    app = watch_app("--seed", "3", "--creatures", "40")
    async with app.run_test(size=(120, 40)) as pilot:
        await after_rounds(2)(pilot)
        screen: SpectatorScreen = app.main
        board = screen.query_one(CreatureBoard)
        roster = list(board.cards)
        assert board.order() == roster
        rows = standings(screen.state, screen.world)
        assert [r.name for r in rows] != roster  # so sorting has something to do
        await pilot.press("w")
        assert board.order() == [r.name for r in rows]  # the standings' order, ties broken the same way
        worth = [board.cards[n].worth for n in board.order()]
        assert worth == sorted(worth, reverse=True) and worth[0] > worth[-1]
        await pilot.press("w")  # again: lowest first
        assert [board.cards[n].worth for n in board.order()] == sorted(worth)
        await pilot.press("d")
        debts = [board.cards[n].debt for n in board.order()]
        assert debts == sorted(debts, reverse=True)
        await pilot.press("m")
        moods = [board.cards[n].mood for n in board.order()]
        assert moods == sorted(moods, reverse=True)
        await pilot.press("n")  # a new round keeps the chosen order
        await until(pilot, lambda: screen.closed == 3, what="round 3")
        moods = [board.cards[n].mood for n in board.order()]
        assert moods == sorted(moods, reverse=True)
        await pilot.press("o")
        assert board.order() == roster


async def test_the_large_roster_writes_only_the_cells_that_changed_in_the_rows_in_view(monkeypatch):
    """`wood watch --creatures 1000 --delay 0` answered its keys after about
    a second: each round the roster's table made ~14,000 `update_cell` calls
    (every cell of every row, and each row's `doing` twice more). Now a round
    writes only the cells that changed in the rows in view, however large the
    roster; a row out of view is drawn from its card when it is scrolled (or
    sorted) into view, so every row on screen is still the cards' truth."""
    calls = []
    update = RosterTable.update_cell
    monkeypatch.setattr(RosterTable, "update_cell", lambda self, *a, **k: (calls.append(a[:2]), update(self, *a, **k)))
    app = watch_app("--seed", "3", "--creatures", "300")
    async with app.run_test(size=(120, 40)) as pilot:
        await after_rounds(2)(pilot)
        board = app.main.query_one(CreatureBoard)
        table = board._table

        def on_screen_is_true() -> None:
            for i in table.view():
                if i < table.row_count:
                    name = table.ordered_rows[i].key.value
                    for key, cell in board._row(name).items():
                        assert same(table.get_cell(name, key), cell), (name, key)

        for r in (3, 4):
            calls.clear()
            await pilot.press("n")
            await until(pilot, lambda r=r: app.main.closed == r, what=f"round {r}")
            await pilot.pause()
            in_view = len(table.view())
            assert 0 < len(calls) <= 3 * in_view * len(table.columns) < 14 * 300 / 3, (len(calls), in_view)
            assert {name for name, _ in calls} <= {row.key.value for row in table.ordered_rows[:in_view]}
            on_screen_is_true()
        table.scroll_end(animate=False)  # rows that changed out of view come into it
        await pilot.pause()
        assert int(table.scroll_y) > 200
        on_screen_is_true()
        await pilot.press("w")  # sorted by the cards' worth, whatever the cells out of view said
        await pilot.pause()
        assert board.order() == [r.name for r in standings(app.main.state, app.main.world)]
        on_screen_is_true()


async def test_a_spectators_key_is_answered_ahead_of_the_games_queued_messages():
    """The game posts its messages to the screen (a round of 1,000 creatures:
    ~2,000 of them); a key forwarded to the screen waited behind all of them
    (about a second at --delay 0). The spectator's keys are the app's to run
    as it reads them: a key pressed while the screen still holds a crowd of
    the game's messages is answered before they are."""
    from textual import events

    from wood_tui.messages import Thinking

    app = watch_app("--seed", "3", "--creatures", "40")
    async with app.run_test(size=(120, 40)) as pilot:
        await after_rounds(1)(pilot)
        screen = app.main
        waiting = []
        next_tab = screen.action_next_tab
        screen.action_next_tab = lambda: (waiting.append(screen._message_queue.qsize()), next_tab())
        tabs = screen.query_one("#side-tabs", TabbedContent)
        before = tabs.active
        app.post_message(events.Key("t", "t"))
        for name in list(screen.query_one(CreatureBoard).cards) * 10:  # 400 messages behind the key
            screen.post_message(Thinking(name))
        await until(pilot, lambda: waiting, what="the key to be answered")
        assert waiting[0] > 300, waiting  # the game's messages were still to come
        await until(pilot, lambda: screen._message_queue.empty(), what="the game's messages")
        assert tabs.active != before


async def test_a_round_of_the_log_is_written_at_once_and_only_what_it_keeps(monkeypatch):
    """A round of 1,000 creatures has ~700 lines for the market log, which
    keeps 500: each line had been its own write (rendered, then scrolled to),
    and the first 200 dropped at once. Now a round is one write of the lines
    the log keeps, the newest, in order, under the round's rule."""
    from tests.tui_harness import OneWidget

    writes = []
    write = EventFeed.write
    monkeypatch.setattr(EventFeed, "write", lambda self, *a, **k: (writes.append(a[0]), write(self, *a, **k))[1])
    trades = [Event("trade", 3, {"seller": f"Fox {i}", "buyer": "Owl", "qty": 1, "good": "honey", "price": i})
              for i in range(700)]
    app = OneWidget(lambda: EventFeed(LOG_KINDS, max_lines=500))
    async with app.run_test(size=(80, 20)) as pilot:
        feed = app.query_one(EventFeed)
        feed.add_round(3, trades, GOODS)
        await pilot.pause()
        assert len(writes) == 2  # the rule, then the lines
        text = [strip.text.rstrip() for strip in feed.lines]
        assert len(text) == 500 and text[-1] == "Fox 699 sold 1 honey to Owl at 699", text[-3:]
        assert text[0].startswith("round 3 ─") and text[1] == "Fox 201 sold 1 honey to Owl at 201"  # the newest



async def test_the_logs_wrap_their_lines_again_when_the_window_grows():
    """A log's lines were wrapped at the width the log had when each was
    written: after the window grew, a line written at 80 columns stayed on
    three rows with most of the log empty. Now the logs wrap what they keep
    again at their new width, each round's rule spanning it."""
    app = watch_app("--seed", "3")
    async with app.run_test(size=(80, 24)) as pilot:
        await after_rounds(1)(pilot)
        feed = app.main.query_one("#watch-log", EventFeed)
        trade = Event("trade", 2, {"seller": "Fox of the far hedge", "buyer": "Owl", "qty": 1, "good": "honey",
                                   "price": 7})
        feed.add_round(2, [trade], GOODS)
        await pilot.pause()
        line = feed_line(trade, "", GOODS).plain
        narrow = feed.scrollable_content_region.width
        rows = [strip.text.rstrip() for strip in feed.lines]
        assert line not in rows and " ".join(rows[-3:]) == line, rows[-4:]  # three rows at 80 columns
        first = rows
        await pilot.resize_terminal(200, 50)
        await pilot.pause()
        wide = feed.scrollable_content_region.width
        assert wide > len(line) > narrow
        rows = [strip.text.rstrip() for strip in feed.lines]
        assert rows[-1] == line and rows[-2].startswith("round 2 ─"), rows[-3:]  # one row, under its rule
        assert rows[-2].rstrip("─") == "round 2 " and feed.lines[-2].cell_length == wide  # the rule spans the log
        assert max(strip.cell_length for strip in feed.lines) <= wide and feed.max_scroll_x == 0
        headlines = app.main.query_one("#watch-headlines", EventFeed)
        assert "shocks, tips coming true or not, fines" in [s.text.rstrip() for s in headlines.lines]
        await pilot.resize_terminal(80, 24)  # and narrower again: wrapped again, nothing past the edge
        await pilot.pause()
        assert feed.scrollable_content_region.width == narrow and feed.max_scroll_x == 0
        assert [strip.text.rstrip() for strip in feed.lines][-4:] == first[-4:]


async def test_a_log_keeps_no_more_to_wrap_again_than_it_shows():
    """What a log keeps to wrap again is bounded by what it shows: as many
    source lines as its `max_lines`, the newest; wrapped again, the log still
    holds `max_lines` rows, the newest last, each line on one row."""
    from tests.tui_harness import OneWidget

    app = OneWidget(lambda: EventFeed(LOG_KINDS, max_lines=50))
    async with app.run_test(size=(60, 20)) as pilot:
        feed = app.query_one(EventFeed)
        long = Event("trade", 1, {"seller": "Fox of the far hedge beyond the old oak", "buyer": "Owl of the stump",
                                  "qty": 1, "good": "honey", "price": 7})
        feed.add_round(1, [long], GOODS)
        await pilot.pause()
        assert len(feed.lines) == 3  # the rule, and the line over two rows at 60 columns
        await pilot.resize_terminal(140, 20)
        await pilot.pause()
        assert [s.text.rstrip() for s in feed.lines][1:] == [feed_line(long, "", GOODS).plain]
        feed.clear()
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        for r in range(1, 41):
            feed.add_round(r, [Event("trade", r, {"seller": f"Fox {r}.{i}", "buyer": "Owl", "qty": 1,
                                                  "good": "honey", "price": i}) for i in range(10)], GOODS)
        await pilot.pause()
        assert sum(n for *_, n in feed._written) < 50 + 11  # the newest rounds only
        await pilot.resize_terminal(140, 20)
        await pilot.pause()
        text = [strip.text.rstrip() for strip in feed.lines]
        assert text[-11].startswith("round 40 ─") and feed.lines[-11].cell_length == feed.scrollable_content_region.width
        assert len(text) == 50 and text[-1] == "Fox 40.9 sold 1 honey to Owl at 9", text[-3:]


# ---- pieces --------------------------------------------------------------------------
def test_chart_has_axes_and_markers():
    lines = [t.plain for t in line_chart(list(range(1, 13)), [Series([5, 6, 7, 8, 9, 10, 11, 12, 11, 10, 9, 8])],
                                         5, markers={4: ("▲", "yellow")})]
    assert lines[0].startswith("12┤") and lines[4].startswith(" 5┤")  # price on y: top and bottom
    assert lines[0].index("●") == 3 + 7  # round 8, the peak, in the top row
    axis, labels = lines[5], lines[6]
    assert axis.startswith("  └") and axis[2 + 4] == "▲"  # the marker at round 4
    assert labels.split() == ["2", "7", "12"] and labels.index("12") == axis.index("┬", 3 + 7)


def test_price_markers_are_the_goods_own_shocks_and_tips():
    ev = [Event("shock_started", 5, {"good": "honey"}), Event("tip_resolved", 6, {"good": "honey", "truth": False}),
          Event("tip_resolved", 7, {"good": "acorns", "truth": True}),
          Event("tip_issued", 4, {"good": "honey"}, public=False)]
    assert {r: g for r, (g, _) in markers_for("honey", ev).items()} == {5: "▲", 6: "◇"}


def test_gifts_are_not_coloured_like_errors():
    errors = {LOG_KINDS["rejected"], LOG_KINDS["default"], HEADLINE_KINDS["fine"]}
    colour = lambda style: style.replace("bold", "").replace("dim", "").strip()  # noqa: E731
    assert colour(LOG_KINDS["gift"]) not in {colour(s) for s in errors}
    # magenta is red in the dark terminal theme (MONOKAI): no event may use it
    assert not any("magenta" in s for s in [*LOG_KINDS.values(), *HEADLINE_KINDS.values()])


def test_no_style_anywhere_in_the_app_is_magenta():
    """Magenta draws as red in the dark theme, and red means something went
    wrong: no string in the app's code (docstrings aside) names it -- not a
    chart's marks, not a planted tip's line."""
    import ast
    from pathlib import Path

    import wood_tui

    found = []
    for f in Path(wood_tui.__file__).parent.rglob("*.py"):
        tree = ast.parse(f.read_text(encoding="utf-8"))
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        found += [f"{f.name}:{n.lineno}" for n in ast.walk(tree) if isinstance(n, ast.Constant)
                  and isinstance(n.value, str) and "magenta" in n.value and id(n) not in docs]
    assert found == []


# ---- replay at full speed --------------------------------------------------------------
def test_slower_never_makes_a_slow_pace_faster():
    """`wood watch --delay 60`, then `-` (slower): the pace stays a round a
    minute (it had become a round every 4 s, the slowest step); `+` goes to
    the next faster step, and steps in between go to their neighbours."""
    pacer = Pacer(60.0)
    pacer.slower()
    assert pacer.delay == 60.0
    pacer.faster()
    assert pacer.delay == 4.0
    pacer.slower()
    assert pacer.delay == 4.0
    pacer = Pacer(0.3)
    pacer.slower()
    assert pacer.delay == 0.5


async def test_pacer_at_full_speed_gives_the_loop_a_turn():
    """A replay's rounds await nothing but the pacer: at full speed it must still let the app run."""
    import asyncio

    ran = []
    asyncio.get_running_loop().call_soon(ran.append, True)
    await Pacer(0.0).between_rounds()
    assert ran == [True]


async def test_a_full_speed_replay_still_answers_its_keys(tmp_path, world):
    """`wood replay` at full speed (`+` three times from its 1 s): a key pressed
    mid-record is handled mid-record, not once every round has been replayed."""
    from engine.ledger import Ledger
    from tests.test_tui_app import record
    from wood_tui.bridge import RecordedGame

    save = tmp_path / "long.db"
    await record(save, world, build_roster(world), 7, 150)
    app = WoodApp(RecordedGame(Ledger.open(save)), pacer=Pacer(0.0))
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app.main.closed >= 1, what="round 1")
        await pilot.press("space")
        assert app.pacer.paused
        held = app.main.closed
        assert held < 150, "the whole record was replayed before the key was read"
        await pilot.pause(0.3)
        assert app.main.closed <= held + 1  # paused: at most the round under way comes in


async def test_a_replay_of_a_record_that_ends_short_rings_for_a_jump_on_past_its_end(tmp_path, world):
    """A record of a run set to play 12 rounds that stopped after 4: at its end,
    End and PgDn aim at round 12, which it does not hold; they did nothing
    without a word (a record played to its target rings the bell there).
    They ring the bell, as at any record's end."""
    from engine.ledger import Ledger
    from tests.test_tui_app import record
    from wood_tui.bridge import RecordedGame
    from wood_tui.screens.final import FinalScreen

    save = tmp_path / "run.db"
    await record(save, world, build_roster(world), 9, 4, planned=12)
    app = WoodApp(RecordedGame(Ledger.open(save, readonly=True)), pacer=Pacer(60.0))
    bells = []
    app.bell = lambda: bells.append(1)
    async with app.run_test(size=(130, 36)) as pilot:
        await until(pilot, lambda: app.main.closed == 1, what="round 1")
        await pilot.press("end")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the last standings")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main, what="the board again")
        for key in ("end", "pagedown"):
            await pilot.press(key)
            await until(pilot, lambda: bells, what=f"the bell for {key}")
            assert app.main.closed == 4
            bells.clear()
        await pilot.press("pageup")  # back still plays the record again, to round 1
        await until(pilot, lambda: app.main.closed == 1 and app.pacer.to is None, what="round 1 again")
    app.game.ledger.close()


async def test_a_replay_jumps_on_back_to_the_first_and_to_the_last_round(tmp_path, world):
    """`wood replay` had only pause, step and speed: a round far into a record
    was reached only by playing to it, and one gone by only by starting
    again. PgDn and PgUp jump 10 rounds on and back, End to the last round,
    Home to the first, each paused there; back, the record is played again
    from its start on a fresh screen, so its charts hold the rounds up to
    that one and none after. The keys are in the help, and in the footer
    where it has room for them after help and quit; a watch has none of them."""
    from engine.ledger import Ledger
    from tests.test_tui_app import record
    from wood_tui.bridge import RecordedGame
    from wood_tui.screens.final import FinalScreen
    from wood_tui.screens.modals import HelpScreen
    from wood_tui.widgets.wealth_chart import WealthChart

    save = tmp_path / "run.db"
    await record(save, world, build_roster(world), 7, 25)
    app = WoodApp(RecordedGame(Ledger.open(save)), pacer=Pacer(60.0))  # a round a minute: only the keys move it
    async with app.run_test(size=(130, 36)) as pilot:
        await until(pilot, lambda: app.main.closed == 1, what="round 1")

        def footer() -> str:
            return next((line for line in rendered(app).splitlines() if "space pause" in line), "")
        await until(pilot, footer, what="the footer")
        assert footer().rstrip().endswith("? help  q quit  Home first  PgUp -10  PgDn +10  End last ▏^p palette")
        await pilot.resize_terminal(80, 24)
        await until(pilot, lambda: "q quit ▏" in footer(), what="the footer at 80 columns")
        assert footer().rstrip().endswith("? help q quit ▏^p palette")  # no room: in the help alone
        await pilot.resize_terminal(130, 36)

        async def jumped(key: str, to: int):
            await pilot.press(key)
            await until(pilot, lambda: app.main.closed == to and app.pacer.to is None and app.main.note == "running"
                        and isinstance(app.screen, SpectatorScreen), what=f"{key} to round {to}")
            await pilot.pause(0.2)
            screen = app.main
            assert screen.closed == to and app.pacer.paused, (screen.closed, app.pacer.paused)  # paused there
            assert screen.sub_title == f"replay · round {to}/25 · paused (60 s)", screen.sub_title
            assert list(screen.query_one(WealthChart).rounds) == list(range(to + 1))  # round 0, the start, on
            return screen

        def logged() -> set[int]:  # the rounds the market log has a rule for
            log = app.main.query_one("#watch-log", EventFeed)
            return {int(m) for line in log.lines for m in re.findall(r"^round (\d+) ─", line.text)}

        await jumped("pagedown", 11)
        screen = await jumped("pagedown", 21)
        assert max(logged()) == 21
        assert await jumped("pageup", 11) is screen  # back: played again from the start, on the screen drawn afresh
        assert max(logged()) == 11
        await jumped("home", 1)
        assert logged() <= {1}
        await pilot.press("n")  # step and the rest go on as ever
        await until(pilot, lambda: app.main.closed == 2, what="a step")
        await pilot.press("end")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the last round's final ranking")
        assert app.main.closed == 25
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main, what="the final ranking closed")
        await jumped("pageup", 15)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        text = all_text(app)
        assert "PgUp and PgDn 10 rounds back or on" in text and "PgDn" in text, text
    app.game.ledger.close()

    watch = watch_app("--seed", "3")
    async with watch.run_test(size=(130, 36)) as pilot:
        await after_rounds(1)(pilot)
        assert "PgDn" not in rendered(watch)
        await pilot.press("pagedown", "end")
        await pilot.pause(0.2)
        assert watch.main.closed == 1 and watch.pacer.to is None  # inert


async def test_the_god_views_fines_are_the_whole_runs_however_many_whispers():
    """The fines line says how many fines and coins in all: whispers (far more
    common) must not push older fines out of that count."""
    from wood_tui.widgets.god_view import KEEP

    app = watch_app("--seed", "10")
    async with app.run_test(size=(130, 36)) as pilot:
        await after_rounds(1)(pilot)
        screen: SpectatorScreen = app.main
        fines = [Event("fine", 1, {"creature": "Fox", "amount": 7, "good": "honey", "tip": 1, "profit": 9})
                 for _ in range(3)]
        whispers = [Event("whisper", 2, {"from": "Fox", "to": "Owl", "text": "psst"}, public=False, who=("Fox", "Owl"))
                    for _ in range(2 * KEEP + 50)]
        screen.keep_secrets(fines)
        screen.keep_secrets(whispers)
        screen._god()
        await pilot.press("g")
        await pilot.pause()
        drawn = screen.query_one("#god-fines").content.plain
        assert drawn.startswith("21 coins in 3 fines"), drawn
        assert drawn.count(" fined 7") == 3
        # and a long run's total counts the fines no longer listed
        screen.keep_secrets(fines * KEEP)
        screen._god()
        drawn = screen.query_one("#god-fines").content.plain
        assert drawn.startswith(f"{7 * 3 * (KEEP + 1)} coins in {3 * (KEEP + 1)} fines"), drawn.splitlines()[0]
        assert drawn.count(" fined 7") == KEEP


async def test_the_detail_panel_is_the_highlighted_rows_creature_after_a_sort():
    """Sorting the large roster moves the rows under the cursor: the highlighted
    row and the panel under the table must still be the same creature. A sort
    asked for starts at the top of the new order; a new round's re-sort keeps
    the creature chosen."""
    app = watch_app("--seed", "3", "--creatures", "20")
    async with app.run_test(size=(140, 45)) as pilot:
        await after_rounds(2)(pilot)
        screen: SpectatorScreen = app.main
        board = screen.query_one(CreatureBoard)
        table = board._table

        def shown() -> tuple[str, str]:
            return table.ordered_rows[table.cursor_row].key.value, str(board._detail.border_title)

        await pilot.click("#creature-table", offset=(3, 5))
        await pilot.pause()
        assert shown() == ("Hare", "Hare")
        for key in ("w", "m", "d", "w", "o"):
            await pilot.press(key)
            await pilot.pause()
            top = board.order()[0]
            assert shown() == (top, top), key
        await pilot.press("w")
        await pilot.click("#creature-table", offset=(3, 8))  # a creature in the middle of the order by worth
        await pilot.pause()
        chosen = board._selected
        assert shown() == (chosen, chosen) and board.order().index(chosen) > 0
        before = board.order()
        for r in (3, 4, 5):
            await pilot.press("n")  # each new round re-sorts the rows
            await until(pilot, lambda r=r: screen.closed == r, what=f"round {r}")
            await pilot.pause()
            assert shown() == (chosen, chosen), r
        assert board.order() != before  # the rows did move


class Overreacher:
    """A model-like brain whose well-formed move the engine refuses (it cannot pay): recorded as rejected."""

    async def decide(self, view):
        from engine.actions import Action
        from engine.brains import Decision

        return Decision(Action(action="offer", side="buy", good="honey", qty=50, price=90), outcome="clean",
                        raw='{"action":"offer","side":"buy","good":"honey","qty":50,"price":90}')


async def test_a_models_move_the_engine_refused_says_why_in_words():
    app = watch_app("--seed", "10", extra_brains={"Owl": Overreacher()})
    async with app.run_test(size=(130, 40)) as pilot:
        await after_rounds(1)(pilot)
        panel = app.main.query_one(CreatureBoard)._panels["Owl"].content.plain
        assert "engine:" not in panel and "insufficient_" not in panel, panel
        assert "offer buy 50 honey @ 90  ✗ not enough coins" in panel, panel
        assert "engine:" not in rendered(app)


async def test_a_window_too_small_to_watch_is_said():
    """Under 80x24 the board loses its panels (at 50x15 no creature shows at all): the app says so."""
    app = watch_app("--seed", "3")
    async with app.run_test(size=(50, 15), notifications=True) as pilot:
        await until(pilot, lambda: app.ready, what="the game to start")
        said = [n.message for n in app._notifications if "laid out for 80x24" in n.message]
        assert said == ["The window is 50x15; the game is laid out for 80x24 or more. Until it is larger, parts are "
                        "hidden (the creatures' panels, the offers, the log)."]


async def test_the_help_lists_the_sort_keys_only_where_they_sort():
    """w, m, d, o sort the table of a large roster; with panels (eight
    creatures or fewer) they do nothing, and neither the footer nor the help lists them."""
    for n, listed in ((5, False), (12, True)):
        app = watch_app("--seed", "3", "--creatures", str(n))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda app=app: app.ready, what="the game to start")
            await pilot.press("question_mark")
            await pilot.pause()
            keys = str(app.screen.query_one("#help-keys").content)
            assert ("sort: worth" in keys) == listed, (n, keys)


def test_the_god_views_fines_line_counts_one_as_one():
    from wood_tui.widgets.god_view import FineRow, fine_lines

    line = fine_lines([FineRow(3, "Fox", 1, "honey", 1)], 1).plain.splitlines()[0]
    assert line == "1 coin in 1 fine · treasury 1", line


async def test_the_board_tells_each_creatures_worth_before_the_first_round_closes(tmp_path):
    """A watch opens (paused, or resumed from a save) with the standings'
    worth and debt in the roster's table, not 0 until a round has closed."""
    save = tmp_path / "run.db"
    app = watch_app("--seed", "3", "--creatures", "40", "--rounds", "3", "--save", str(save))
    async with app.run_test(size=(120, 40)) as pilot:
        await after_rounds(3)(pilot)
    for argv in (("--seed", "3", "--creatures", "40"), ("--resume", str(save), "--rounds", "4")):
        app = watch_app(*argv)
        async with app.run_test(size=(120, 40)) as pilot:
            screen: SpectatorScreen = app.main
            await until(pilot, lambda s=screen: s.state is not None and s.query_one(CreatureBoard).cards,
                        what="the board")
            await pilot.pause()
            board = screen.query_one(CreatureBoard)
            rows = standings(screen.state, screen.world)
            assert {n: (c.worth, c.debt) for n, c in board.cards.items()} == {r.name: (r.worth, r.debt) for r in rows}
            await pilot.press("w")
            assert board.order() == [r.name for r in rows]


async def test_a_resumed_watchs_god_view_counts_the_records_fines_and_whispers(tmp_path):
    """`wood watch --resume`: the god view's fines are the whole run's, as
    its ledger has them (seed 7: a fine in round 57), and its whispers
    include the record's, not only those of the rounds watched."""
    import asyncio

    from engine.ledger import Ledger
    from wood_tui.cli import main as wood

    save = tmp_path / "run.db"
    argv = ["sim", "--creatures", "40", "--rounds", "60", "--seed", "7", "--save", str(save)]
    assert await asyncio.to_thread(wood, argv) == 0  # its own event loop
    ledger = Ledger.open(save)
    fines, whispers = list(ledger.events_of("fine")), list(ledger.events_of("whisper"))
    ledger.close()
    assert fines and whispers
    app = watch_app("--resume", str(save), "--rounds", "61")
    async with app.run_test(size=(130, 36)) as pilot:
        screen: SpectatorScreen = app.main
        await until(pilot, lambda: screen.state is not None, what="the resumed run")
        await pilot.press("g")
        await pilot.pause()
        coins = sum(int(e.data["amount"]) for e in fines)
        drawn = screen.query_one("#god-fines").content.plain
        assert drawn.startswith(f"{coins} coin{'s' * (coins != 1)} in {len(fines)} fine"), drawn
        latest = whispers[-1].data
        assert f"{latest['from']} → {latest['to']}" in screen.query_one("#god-whispers").content.plain


async def test_the_standings_say_how_many_are_left_out_and_always_show_the_seat():
    """Past MAX_STANDING_ROWS the table had stopped without a word (1,000
    creatures: the top 200, no '800 more'); a seat ranked below the cut is
    shown after the top rows, so it always sees where it stands."""
    from engine.score import Standing
    from tests.tui_harness import OneWidget
    from wood_tui.widgets.standings import MAX_STANDING_ROWS, StandingsTable

    rows = [Standing(i + 1, f"Owl {i + 1}", "owl", 100, 0, 0, 0, 1000 - i, 50) for i in range(MAX_STANDING_ROWS + 50)]

    app = OneWidget(StandingsTable)
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(StandingsTable)
        table.show(rows)
        await pilot.pause()
        assert table.row_count == MAX_STANDING_ROWS + 1
        assert table.get_row_at(MAX_STANDING_ROWS)[1].plain == "and 50 more"
        table.show(rows, me="Owl 230")
        await pilot.pause()
        assert table.row_count == MAX_STANDING_ROWS + 2
        assert table.get_row_at(MAX_STANDING_ROWS)[1].plain == "Owl 230"
        assert table.get_row_at(MAX_STANDING_ROWS + 1)[1].plain == "and 49 more"
        table.show(rows[:10])
        await pilot.pause()
        assert table.row_count == 10  # none left out: no such row


async def test_the_standings_tell_apart_long_names_that_differ_at_the_end(tmp_path):
    """Two creatures named 'Squirrel the Younger 2' and '... 3': the
    standings (the watch tab, the final table) cut both to 'Squirrel the',
    two rows naming no one in particular; each name is cut to the column
    with a '…', keeping its number, as the offers table cuts it."""
    names = ["Squirrel the Younger 2", "Squirrel the Younger 3", "Owl"]
    roster = tmp_path / "wood.toml"
    roster.write_text("".join(f'[[creatures]]\nname = "{n}"\nspecies = "squirrel"\nmodel = "scripted"\n\n'
                              for n in names), encoding="utf-8")
    app = WoodApp(LiveGame(args("watch", "--roster", str(roster), "--seed", "3", "--rounds", "2")),
                  pacer=Pacer(0.0, paused=False))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "FinalScreen", what="the season's end")
        await pilot.pause()
        for screen in (app.screen, app.main):  # the final table, and the watch tab under it
            table = screen.query_one("StandingsTable")
            who = {key.value: table.get_cell(key, "who").plain for key in table.rows}
            assert who == {"Squirrel the Younger 2": "Squirrel… 2", "Squirrel the Younger 3": "Squirrel… 3",
                           "Owl": "Owl"}, who
        assert "Squirrel… 2" in rendered(app) and "Squirrel the  " not in rendered(app)


async def test_the_creatures_panels_tell_apart_long_names_that_differ_at_the_end(tmp_path):
    """Two creatures named 'Squirrel the Younger of the Old Oak 2' and '... 3':
    the border of each one's panel cut both to 'Squirrel the Younger of th…',
    two panels with one name. Each name is fitted to its border as
    `safe.name` cuts names, keeping its end, and fitted again when the window
    is resized."""
    from wood_tui.widgets.creature_panel import CreaturePanel

    names = ["Squirrel the Younger of the Old Oak 2", "Squirrel the Younger of the Old Oak 3", "Owl"]
    roster = tmp_path / "wood.toml"
    roster.write_text("".join(f'[[creatures]]\nname = "{n}"\nspecies = "squirrel"\nmodel = "scripted"\n\n'
                              for n in names), encoding="utf-8")
    app = WoodApp(LiveGame(args("watch", "--roster", str(roster), "--seed", "3")), pacer=Pacer(0.0, paused=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await after_rounds(1)(pilot)
        for size, ends in (((80, 24), ("ld Oak 2", "ld Oak 3")), ((64, 24), ("… 2", "… 3"))):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            titles = [str(panel.border_title) for panel in app.main.query(CreaturePanel)][:2]
            assert titles[0].endswith(ends[0]) and titles[1].endswith(ends[1]), (size, titles)
            shown = rendered(app)
            assert all(t in shown for t in titles), shown


async def test_the_large_rosters_name_column_is_as_wide_as_its_names_of_wide_letters(tmp_path):
    """Nine creatures named in wide letters (栗鼠, two cells each): the large
    roster's name column was as wide as the longest name's characters (8 for
    "栗鼠栗鼠栗鼠 1", 14 cells), so every name showed cut at 8 cells, its crowd
    number lost; the column is as wide as the names' cells, each shown whole."""
    names = [f"栗鼠栗鼠栗鼠 {i}" for i in range(1, 10)]
    roster = tmp_path / "wood.toml"
    roster.write_text("".join(f'[[creatures]]\nname = "{n}"\nspecies = "squirrel"\nmodel = "scripted"\n\n'
                              for n in names), encoding="utf-8")
    app = WoodApp(LiveGame(args("watch", "--roster", str(roster), "--seed", "3")), pacer=Pacer(0.0, paused=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await after_rounds(1)(pilot)
        table = app.main.query_one(RosterTable)
        assert table.columns["name"].width == 14
        shown = rendered(app)
        assert all(n in shown for n in names), shown


async def test_the_large_rosters_goods_columns_show_a_good_named_in_wide_letters_whole(tmp_path, monkeypatch):
    """A world whose good is named in wide letters (栗の実: 3 letters, 6 cells):
    the large roster's column for each good was as wide as its name's
    letters, so that good's heading showed cut to 栗の (4 cells); each good's
    column is as wide as its name's cells, its heading whole."""
    from tests.saves import WIDE_GOOD, wide_good_world

    wide_good_world(tmp_path / "world", monkeypatch)
    app = watch_app("--creatures", "9", "--seed", "3")
    async with app.run_test(size=(200, 40)) as pilot:
        await after_rounds(1)(pilot)
        table = app.main.query_one(RosterTable)
        assert table.columns[WIDE_GOOD].width == 6 and table.columns["acorns"].width == 6
        assert f" {WIDE_GOOD} " in rendered(app)


async def test_the_large_rosters_goods_columns_show_a_good_named_in_markup_as_written_and_inert(tmp_path, monkeypatch):
    """A world file whose good is named '[@click=app.quit]berries' (a plain
    name to the world's loader): the large roster's heading for it was read as
    markup, so it showed 'berries' and clicking it quit the app. The heading
    is the name as written, inert, as everywhere else the good is shown."""
    from tests.saves import wide_good_world

    good = "[@click=app.quit]berries"
    wide_good_world(tmp_path / "world", monkeypatch, good)
    app = watch_app("--creatures", "9", "--seed", "3")
    async with app.run_test(size=(200, 40)) as pilot:
        await after_rounds(1)(pilot)
        label = app.main.query_one(RosterTable).columns[good].label
        assert label.plain == good and not any(span.style for span in label.spans), label.spans
        assert f" {good} " in rendered(app)


async def test_the_price_lines_line_up_with_a_good_named_in_wide_letters(tmp_path):
    """A world whose good is named in wide letters (栗の実: 3 letters, 6
    cells): the prices tab padded the goods by letters, so that good's price,
    arrow and units traded stood three cells right of every other good's, and
    its chart's title took the legend as if it were 3 cells, running past a
    narrow chart; every line's price starts at one cell, the title within the width."""
    from rich.cells import cell_len
    from textual.app import App

    from engine.state import initial_state
    from tests.saves import WIDE_GOOD, starts_by_cells
    from tests.test_rules import renamed_berries
    from wood_tui.widgets.price_chart import LEGEND, PriceChart

    world = load_world(renamed_berries(tmp_path, WIDE_GOOD, WIDE_GOOD))

    class Chart(App):
        def compose(self):
            yield PriceChart()

    title = f"{WIDE_GOOD}: price by round"
    width = len(title) + len(LEGEND) + 1  # room for the title and the legend counted in letters, not in cells
    app = Chart()
    async with app.run_test(size=(width + 2, 20)):  # the chart's padding: a cell each side
        chart = app.query_one(PriceChart)
        await chart.setup(world, initial_state(world, 5, build_roster(world)))
        chart.chosen = WIDE_GOOD
        assert chart.content_size.width == width
        lines = chart.render().plain.splitlines()
    quotes = lines[:len(world.goods)]
    assert [x[2:].split()[0] for x in quotes] == list(world.goods) and WIDE_GOOD in world.goods, quotes
    assert len({tuple(starts_by_cells(x, (" traded",))) for x in quotes}) == 1, quotes
    assert any(x.startswith(title) for x in lines), lines
    assert all(cell_len(x) <= width for x in lines), (width, lines)


async def test_the_feelings_bars_line_up_with_names_of_wide_letters():
    """Feelings between creatures named in wide letters (栗鼠, 🦊) and plain
    ones: the names were cut to so many characters and padded by characters,
    so a wide name ran twice its room and pushed its bar out of line (and the
    line past the widget); each name now takes at most its room in cells, its
    crowd number kept, and every bar's axis is at the same cell."""
    from rich.cells import cell_len
    from textual.app import App

    from wood_tui.widgets.sentiment_bars import SentimentBars

    class Bars(App):
        def compose(self):
            yield SentimentBars()

    names = ["栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠 12", "🦊🦊 Fox", "Owl", "E\u0301cureuil des Bois du Nord 3"]
    app = Bars()
    async with app.run_test(size=(60, 10)):
        bars = app.query_one(SentimentBars)
        bars.show({a: {b: 30 + 5 * i for i, b in enumerate(names) if b != a} for a in names})
        lines = bars.render().plain.splitlines()
    assert len(lines) == 12 and all(cell_len(x) <= 60 for x in lines), lines
    assert len({cell_len(x[:x.index("│")]) for x in lines}) == 1, lines
    assert any("… 12→" in x for x in lines) and any("Owl→🦊🦊 Fox" in x for x in lines), lines


async def _wealth_legend(names: list[str], size: tuple[int, int]) -> tuple[int, list[str]]:
    """The wealth chart, alone in an app of `size`, after one round whose
    standings rank `names` first to last: its width and its legend's lines."""
    from textual.app import App

    from engine.score import Standing
    from wood_tui.widgets.wealth_chart import WealthChart

    class Chart(App):
        def compose(self):
            yield WealthChart()

    app = Chart()
    async with app.run_test(size=size):
        chart = app.query_one(WealthChart)
        chart.record(1, [Standing(i, n, "owl", 100, 50, 0, 0, 200 - i, 60) for i, n in enumerate(names, 1)])
        return chart.content_size.width, chart.render().plain.split("\nnet worth by round")[0].splitlines()


async def test_the_wealth_charts_legend_wraps_names_of_wide_letters_within_its_width():
    """The richest creatures named in wide letters (栗鼠, 🦊: two cells each):
    the legend measured its line by characters, so it put a name on a line
    with no room for it and the line ran past the chart's edge; it wraps by
    cells, every line within the width."""
    from rich.cells import cell_len

    names = ["栗鼠栗鼠栗鼠栗鼠 1", "栗鼠栗鼠栗鼠栗鼠 2", "🦊🦊🦊🦊 Fox", "Owl", "栗鼠 5"]
    width, legend = await _wealth_legend(names, (50, 20))
    assert all(cell_len(x) <= width for x in legend), (width, legend)
    assert all(any(n in x for x in legend) for n in names), legend


async def test_up_and_down_choose_the_charted_good_once_t_shows_the_prices_as_the_help_says():
    """The help says a good is chosen for the price chart by a click or ↑/↓:
    after `t` to the prices tab ↑/↓ went to the tabs' row and chose nothing
    until the chart had been clicked. Showing the tab now gives the chart the keys."""
    from wood_tui.widgets.price_chart import PriceChart

    assert "click a good, or ↑/↓" in " ".join(SpectatorScreen.HELP)
    app = watch_app("--seed", "3")
    async with app.run_test(size=(110, 34)) as pilot:
        await until(pilot, lambda: app.main.closed == 1, what="round 1")
        await pilot.press("t")
        await pilot.pause()
        chart = app.main.query_one(PriceChart)
        first = chart.chosen
        await pilot.press("down")
        await pilot.pause()
        assert chart.chosen == chart.goods[1] != first
        await pilot.press("up")
        await pilot.pause()
        assert chart.chosen == first


async def test_the_wealth_charts_legend_tells_apart_long_names_that_differ_at_the_end():
    """Two of the richest named 'Squirrel the Younger of the Old Oak 2' and
    '... 3' in a narrow chart: the legend let the line crop each name, so
    both read alike and the worth after them was lost; each name is fitted
    to the line with a '…', keeping its crowd number, as the standings do."""
    from rich.cells import cell_len

    names = ["Squirrel the Younger of the Old Oak 2", "Squirrel the Younger of the Old Oak 3", "Owl"]
    width, legend = await _wealth_legend(names, (22, 20))
    assert all(cell_len(x) <= width for x in legend), (width, legend)
    assert len(legend) == 3 and len(set(legend)) == 3, legend
    assert legend[0].startswith("● Squirrel") and legend[0].endswith("… 2 199"), legend
    assert legend[1].endswith("… 3 198") and legend[2] == "■ Owl 197", legend
