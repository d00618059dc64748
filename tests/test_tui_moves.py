"""The screens know the moves from the original (short, ally, break,
whisper): snapshots of the play form filled in for each, with its preview
line, and of the spectator showing an open short and an alliance; Pilot
tests that a short typed in the form is the engine's, that a whisper reaches
its recipient's panel and no other seat's screen, that a refused short is
explained in words, that pacts offered to the seat can be taken from the
offers table, and that the event log and the god view tell these moves.

Counterparts are scripted brains with fixed moves (below) beside the
ordinary scripted traders; seeds and sizes are fixed.
"""
from __future__ import annotations

import unicodedata
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from textual.widgets import Input

from engine.actions import PASS, Action
from engine.brains import Decision
from engine.events import Event
from engine.views import RecordView, TipView
from engine.world import build_roster
from tests.tui_harness import all_text, args, fill, rendered, turn, until
from wood_tui.app import WoodApp
from wood_tui.bridge import LiveGame, Pacer, Seat
from wood_tui.screens.curtain import CurtainScreen
from wood_tui.screens.market import MarketScreen, help_paragraphs
from wood_tui.screens.spectator import SpectatorScreen
from wood_tui.widgets.action_form import ActionForm, why
from wood_tui.widgets.creature_panel import CreatureBoard, CreatureCard, action_text, doing, said, ties
from wood_tui.widgets.event_feed import HEADLINE_KINDS, LOG_KINDS, feed_line
from wood_tui.widgets.god_view import WhisperRow, secrets, whisper_lines
from wood_tui.widgets.seat_panel import SeatPanel
from engine.world import load_world

WORLD = load_world()
GOODS = WORLD.goods  # the words for one unit of each good (events, recaps and panels take them)

SEED = "1"
WHISPER = "meet me by the old oak"
BID = 14  # Hare's bid for honey: well above its price, so a short has a buyer


class Moves:
    """A counterpart with one fixed move per round (a dict round -> Action), else a pass."""

    def __init__(self, moves: dict[int, Action], every: Action | None = None):
        self.moves = moves
        self.every = every

    async def decide(self, view):
        return Decision(self.moves.get(view.round) or self.every or PASS)


def counterparts() -> dict:
    """Fox proposes a pact to Owl and whispers to it; Badger proposes a pact
    to Owl; Hare bids high for honey every round (a bid to short into)."""
    return {
        "Fox": Moves({1: Action(action="ally", to="Owl"), 2: Action(action="whisper", to="Owl", text=WHISPER)}),
        "Badger": Moves({1: Action(action="ally", to="Owl")}),
        "Hare": Moves({1: Action(action="offer", side="buy", good="honey", qty=6, price=BID)}),
    }


def moves_app(seats=(), extra=None) -> WoodApp:
    """A `wood play` game; one seat, Owl, unless told; `extra`: counterparts (default: `counterparts()`)."""
    game = LiveGame(args("play", "--brains", "scripted", "--seed", SEED), seats or (Seat("Owl"),),
                    extra_brains=counterparts() if extra is None else extra)
    return WoodApp(game, pacer=Pacer(0.0))


async def allied_with_fox(pilot) -> MarketScreen:
    """Round 1: Owl proposes a pact to Fox, who proposes one to Owl: a pact either way. Round 2's turn."""
    await turn(pilot, 1)
    await fill(pilot, "ally", to="Fox")
    await act(pilot)
    return await turn(pilot, 2)


async def act(pilot) -> None:
    """Press enter in the form's say line: the move as filled in is made."""
    pilot.app.main.query_one(ActionForm).query_one("#say", Input).focus()
    await pilot.press("enter")


def explain(screen) -> str:
    """The line under the form: the move's preview, or the engine's refusal in words."""
    return str(screen.query_one("#explain").content)


# ---- snapshots of the play form ----------------------------------------------------------
def form_snapshot(snap_compare, kind: str, **fields):
    async def run_before(pilot):
        await allied_with_fox(pilot)
        await fill(pilot, kind, **fields)
    return snap_compare(moves_app(), terminal_size=(100, 30), run_before=run_before)


def test_form_short(snap_compare):
    assert form_snapshot(snap_compare, "short", good="honey", qty="2", price=str(BID))


def test_form_ally_accepting_a_pact_offered(snap_compare):
    assert form_snapshot(snap_compare, "ally", to="Badger")


def test_form_break(snap_compare):
    assert form_snapshot(snap_compare, "break", to="Fox")


async def test_break_with_one_ally_needs_no_choosing():
    """With one ally there is one pact to break: choosing break fills it in
    (Enter had said '✗ fill in: to')."""
    app = moves_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await allied_with_fox(pilot)
        form = await fill(pilot, "break")
        assert form.query_one("#to").value == "Fox"
        assert "break your pact with Fox" in explain(screen)


async def test_enter_on_a_list_makes_the_move_as_the_help_says():
    """`b` Enter breaks the pact with the one ally: the help's "enter: act"
    holds on a list too (Enter had opened the list, and Enter again closed it,
    round and round, and the move was never made); up opens a list."""
    app = moves_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await allied_with_fox(pilot)
        await pilot.press("b", "enter")
        screen = await turn(pilot, 3)
        assert screen.active.view.allies == ()
        assert "You broke your pact with Fox, in public." in all_text(app)
        await pilot.press("up")  # a list still opens from the keyboard
        await pilot.pause()
        assert screen.query_one("#kind").expanded


def test_form_whisper(snap_compare):
    assert form_snapshot(snap_compare, "whisper", to="Hare", text="honey is cheap at dawn")


# ---- the spectator: an open short and an alliance -------------------------------------
class Shorter:
    """Owl: in round 2, shorts 2 units into the best bid it can see (Hare's for honey)."""

    async def decide(self, view):
        bids = sorted((o for o in view.book if o.side == "buy"), key=lambda o: (-o.price, o.id))
        if view.round == 2 and bids:
            return Decision(Action(action="short", good=bids[0].good, qty=min(2, bids[0].qty), price=bids[0].price))
        return Decision(PASS)


def spectator_app() -> WoodApp:
    brains = {"Owl": Shorter(), "Fox": Moves({1: Action(action="ally", to="Badger")}),
              "Badger": Moves({1: Action(action="ally", to="Fox")}),
              "Hare": Moves({1: Action(action="offer", side="buy", good="honey", qty=6, price=BID)})}
    game = LiveGame(args("watch", "--brains", "scripted", "--seed", SEED), extra_brains=brains)
    return WoodApp(game, pacer=Pacer(0.0, paused=True))


async def watch_rounds(pilot, n: int) -> None:
    app = pilot.app
    await until(pilot, lambda: app.main.closed == 1, what="round 1")
    for r in range(2, n + 1):
        await pilot.press("n")
        await until(pilot, lambda r=r: app.main.closed == r, what=f"round {r}")
    await pilot.pause()


def test_spectator_shows_an_open_short_and_an_alliance(snap_compare):
    async def run_before(pilot):
        await watch_rounds(pilot, 3)
    assert snap_compare(spectator_app(), terminal_size=(120, 36), run_before=run_before)


async def test_spectator_panels_and_log_tell_shorts_and_pacts():
    app = spectator_app()
    async with app.run_test(size=(120, 36)) as pilot:
        await watch_rounds(pilot, 3)
        board = app.main.query_one(CreatureBoard)
        owl, fox = board.cards["Owl"], board.cards["Fox"]
        state = app.main.state
        short = next(x for x in state.shorts.values() if x.owner == "Owl")
        assert owl.shorts == [(short.owed, short.good, short.due)]
        assert fox.allies == ["Badger"] and board.cards["Badger"].allies == ["Fox"]
        shown = rendered(app)
        assert f"short {short.owed} {short.good} due r{short.due}" in shown
        assert "allied with Badger" in shown and "allied with Fox" in shown
        text = " ".join(all_text(app).split())  # the logs wrap their lines
        assert "Badger and Fox made a pact" in text
        assert f"Owl shorted {short.qty} {short.good} for {short.proceeds} coins" in text


# ---- Pilot: the short, the whisper, a refusal ------------------------------------------
async def test_a_short_in_the_form_is_posted_and_the_engine_applies_it():
    chosen: list[Action] = []

    def hook(message):
        if isinstance(message, ActionForm.Chosen):
            chosen.append(message.action)

    app = moves_app()
    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        screen = await allied_with_fox(pilot)
        await fill(pilot, "short", good="honey", qty="2", price=str(BID))
        preview = explain(screen)
        assert f"sell 2 honey short for {2 * BID} now" in preview, preview
        assert f"{-(-2 * BID * 150 // 100)} held as collateral" in preview and "round 6" in preview, preview
        await act(pilot)
        await until(pilot, lambda: screen.closed >= 2, what="round 2 to close")
        assert chosen[-1] == Action(action="short", good="honey", qty=2, price=BID)
        short = next(x for x in screen.state.shorts.values() if x.owner == "Owl")
        assert (short.good, short.qty, short.due) == ("honey", 2, 6)
        await turn(pilot, 3)
        notes = str(screen.query_one(SeatPanel).query_one("#seat-notes").content)
        assert f"#{short.id} owe 2 honey back in round 6" in notes and "Your allies: Fox" in notes
        await pilot.press("f4")
        recap = str(screen.query_one("#recap").content)
        assert f"You sold 2 honey short to Hare at {BID} for {short.proceeds} coins (#{short.id})" in recap, recap
        assert recap.count("You sold") == 1, recap  # one sale of 2, told once


async def test_a_refused_short_is_explained_in_words_under_the_form():
    app = moves_app(extra={})  # no one bids for anything in round 1 at 999
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "short", good="timber", qty="2", price="999")
        assert "no bid that high in sight" in explain(screen)
        await act(pilot)
        await pilot.pause()
        words = explain(screen)
        assert words.startswith("✗ no one is buying at that price or better"), words
        assert "no_buyer" not in words
        assert screen.active is not None  # still Owl's turn: correct it and act again
        assert "no one is buying at that price or better" in rendered(app)


async def test_a_move_with_a_field_left_empty_names_it_as_the_form_does():
    """An accept with no offer # says "fill in: offer #" under the form (the
    form's title), not the action's key ("id"); the turn stays the player's."""
    app = moves_app(extra={})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "accept")
        await act(pilot)
        await pilot.pause()
        words = explain(screen)
        assert words.startswith("✗ fill in: offer #"), words
        assert screen.active is not None


async def test_a_whisper_with_neither_words_nor_tip_names_both():
    """A whisper with no words and no tip had said "fill in: whisper", though a
    tip picked would do as well: both are named, as the form titles them."""
    app = moves_app(extra={})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "whisper", to="Fox")
        await act(pilot)
        await pilot.pause()
        words = explain(screen)
        assert words == "✗ fill in: whisper or pass on tip", words
        assert "fill in: whisper or pass on tip" in rendered(app)
        assert screen.active is not None


async def test_a_whisper_of_nothing_the_wood_would_send_is_not_previewed_as_sent():
    """Words that the sanitiser leaves nothing of (zero-width and bidi marks,
    pasted) had been previewed as "only Fox will read this", and Enter then
    said "fill in": the preview reads the words as the engine will."""
    from textual.widgets import Input

    app = moves_app(extra={})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await turn(pilot, 1)
        form = await fill(pilot, "whisper", to="Fox")
        form.query_one("#text", Input).value = "\u200b\u2066 \u200f"
        await pilot.pause()
        assert "will read this" not in explain(screen), explain(screen)
        await act(pilot)
        await pilot.pause()
        assert explain(screen) == "✗ fill in: whisper or pass on tip", explain(screen)
        form.query_one("#text", Input).value = "\u200bhoney at dawn"
        await pilot.pause()
        assert "only Fox will read this" in explain(screen), explain(screen)


async def test_accepting_ones_own_offer_is_previewed_as_the_engine_refuses_it():
    """The number of the seat's own standing offer had been previewed as 'not
    among the offers you can take', as if mistyped; the engine refuses it as a
    trade with oneself, and the preview now says so before Enter."""
    app = moves_app(extra={})
    async with app.run_test(size=(100, 30)) as pilot:
        await turn(pilot, 1)
        await fill(pilot, "offer", side="sell", good="timber", qty="1", price="99")
        await act(pilot)
        screen = await turn(pilot, 2)
        mine = screen.active.view.my_offers
        assert mine, "Owl's offer stands in round 2"
        await fill(pilot, "accept", id=str(mine[0].id))
        words = explain(screen)
        assert f"take your own offer #{mine[0].id}" in words and "you cannot trade with yourself" in words, words


async def test_the_preview_warns_of_a_quantity_or_price_past_what_a_move_carries():
    app = moves_app(extra={})
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "offer", side="buy", good="honey", qty="5000", price="20000")
        words = explain(screen)
        assert "a move carries at most 1000 units" in words and "a price is at most 10000" in words, words
        await fill(pilot, "lend", amount="99999", rate="1", rounds="3")
        assert "a loan is at most 10000 coins" in explain(screen), explain(screen)
        await fill(pilot, "offer", side="buy", good="honey", qty="5", price="7")
        assert "at most" not in explain(screen), explain(screen)


async def test_the_preview_names_one_unit_of_a_good_as_one():
    """The form had previewed "buy 1 acorns at 9 each", "give away 1 berries"."""
    app = moves_app(extra={})
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "offer", side="buy", good="acorns", qty="1", price="9")
        assert "buy 1 acorn at 9 each: up to 9 coins" in explain(screen), explain(screen)
        await fill(pilot, "offer", side="buy", good="acorns", qty="2", price="9")
        assert "buy 2 acorns at 9 each: up to 18 coins" in explain(screen), explain(screen)
        await fill(pilot, "gift", good="berries", qty="1")
        assert "give away 1 berry (you hold" in explain(screen), explain(screen)


async def test_the_preview_counts_one_coin_as_one():
    """A seat holding 1 coin was told "you hold 1 coins" (and "lend 1 coins",
    "costs 1 coins"): the form's coin counts now say "1 coin". The seat's view
    is the game's own, its coins set to 1 (no scripted round leaves Owl so poor)."""
    app = moves_app(extra={})
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        form.view = replace(form.view, coins=1)
        await fill(pilot, "lend", amount="10", rate="5", rounds="1")
        assert "you hold 1 coin" in explain(screen) and "1 coins" not in explain(screen), explain(screen)
        await fill(pilot, "lend", amount="1", rate="0", rounds="2")
        assert "lend 1 coin to anyone for 2 rounds" in explain(screen), explain(screen)
        await fill(pilot, "offer", side="buy", good="acorns", qty="1", price="1")
        assert "up to 1 coin (you hold 1 coin)" in explain(screen), explain(screen)


async def test_the_lend_preview_names_whom_the_loan_is_for():
    """The lend preview read "lend 10 coins for 3 rounds: 11 back, if
    repaid" whether the offer was for Fox alone or for anyone: it now says."""
    app = moves_app(extra={})
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "lend", amount="10", rate="5", rounds="3")
        assert "lend 10 coins to anyone for 3 rounds: 11 back, if repaid" in explain(screen), explain(screen)
        await fill(pilot, "lend", to="Fox", amount="10", rate="5", rounds="3")
        assert "lend 10 coins to Fox for 3 rounds: 11 back, if repaid" in explain(screen), explain(screen)


async def test_the_preview_warns_of_a_loan_or_a_break_the_engine_would_refuse():
    """Before Enter: a lend's rate or term past what the engine takes, and a
    break with no pact to break, are said under the form in words."""
    app = moves_app(extra={})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "lend", amount="10", rate="-1", rounds="3")
        assert "a rate is 0% or more" in explain(screen), explain(screen)
        form = screen.query_one(ActionForm)
        for fid, value in (("rate", "250"), ("rounds", "25")):
            form.query_one(f"#{fid}", Input).value = value
        await pilot.pause()
        assert "a rate is at most 100% a round" in explain(screen) and "a loan lasts at most 20 rounds" in explain(screen)
        await fill(pilot, "break")
        assert "you have no allies: there is no pact to break" in explain(screen)
        await act(pilot)
        await pilot.pause()
        assert "there is no pact to break" in explain(screen) and screen.active is not None, explain(screen)


async def test_the_preview_warns_of_a_loan_or_a_short_past_the_games_end():
    """In a 2-round game a loan for 3 rounds, and in its last round a short
    into a standing bid, are refused by the engine: the preview says so in its
    words before Enter (it had said "3 back, if repaid", and "owe 1 honey back
    in round 3", a round the game never plays)."""
    game = LiveGame(args("play", "--brains", "scripted", "--seed", SEED, "--rounds", "2"), (Seat("Owl"),),
                    extra_brains={"Hare": Moves({}, every=Action(action="offer", side="buy", good="honey", qty=6,
                                                                 price=BID))})
    app = WoodApp(game, pacer=Pacer(0.0))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "lend", amount="10", rate="5", rounds="3")
        assert "the game ends in round 2: a loan must fall due by then" in explain(screen), explain(screen)
        await fill(pilot, "lend", amount="10", rate="5", rounds="1")
        assert "!" not in explain(screen), explain(screen)
        await pilot.press("f2")
        screen = await turn(pilot, 2)
        await fill(pilot, "short", good="honey", qty="1", price="5")
        assert "the game ends this round: a short could not be closed" in explain(screen), explain(screen)
        assert "round 3" not in explain(screen) and any(o.owner == "Hare" for o in screen.active.view.book)
        await act(pilot)
        await pilot.pause()
        assert "the game ends this round" in explain(screen) and screen.active is not None


async def test_the_preview_warns_of_a_short_past_the_cap_of_open_shorts_or_in_default():
    """Three shorts open (the wood's cap), a fourth typed: the preview says the
    engine's refusal before Enter (it had priced the sale and its collateral);
    so it does for a seat that still owes on a default."""
    hare = Moves({}, every=Action(action="offer", side="buy", good="honey", qty=6, price=BID))
    game = LiveGame(args("play", "--brains", "scripted", "--seed", SEED, "--rounds", "20"), (Seat("Owl"),),
                    extra_brains={"Hare": hare})
    app = WoodApp(game, pacer=Pacer(0.0))
    async with app.run_test(size=(100, 30)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        for r in (2, 3, 4):
            screen = await turn(pilot, r)
            await fill(pilot, "short", good="honey", qty="1", price="5", rounds="10")
            assert "!" not in explain(screen), explain(screen)
            await act(pilot)
        screen = await turn(pilot, 5)
        assert len(screen.active.view.shorts) == 3 and screen.active.view.short_room == 0
        await fill(pilot, "short", good="honey", qty="1", price="5", rounds="10")
        assert "you have as many open shorts as the wood allows" in explain(screen), explain(screen)
        await act(pilot)
        await pilot.pause()
        assert "you have 3 open shorts, the most" in explain(screen) and screen.active is not None, explain(screen)
        form = screen.query_one(ActionForm)
        form.view = replace(form.view, records=(RecordView("Owl", 1, 12),))
        form.query_one("#qty", Input).value = "2"
        await pilot.pause()
        assert "you still owe 12 coins from a default" in explain(screen), explain(screen)


async def test_a_whisper_reaches_only_its_recipient():
    secret = "hollowlog"  # one word: a wrapped line cannot hide it
    app = moves_app(seats=(Seat("Owl"), Seat("Fox"), Seat("Hare")), extra={})

    async def seat_turn(name: str, round_no: int) -> MarketScreen:
        await until(pilot, lambda: isinstance(app.screen, CurtainScreen) and app.screen.seat == name,
                    what=f"{name}'s curtain")
        await pilot.press("enter")
        screen = app.main
        await until(pilot, lambda: screen.active is not None and screen.active.view.name == name
                    and screen.active.view.round == round_no, what=f"{name}'s turn in round {round_no}")
        await pilot.pause()
        return screen

    async with app.run_test(size=(100, 30)) as pilot:
        screen = await seat_turn("Owl", 1)
        await fill(pilot, "whisper", to="Fox", text=f"the {secret} hides acorns")
        assert "only Fox will read this, next round" in explain(screen)
        await pilot.press("enter")
        for name in ("Fox", "Hare"):
            await until(pilot, lambda: isinstance(app.screen, CurtainScreen), what="the curtain")
            assert secret not in all_text(app)  # nothing typed by a seat stays behind the curtain
            await seat_turn(name, 1)
            assert secret not in all_text(app), name  # sent, not yet read: no one else's screen has it
            await pilot.press("f2")
        # round 2: Owl first (its own words in its recap are its own), then Fox reads it, Hare never does
        await seat_turn("Owl", 2)
        await pilot.press("f2")
        screen = await seat_turn("Fox", 2)
        tips = str(screen.query_one(SeatPanel).query_one("#seat-tips").content)
        assert f"Owl whispered: the {secret} hides acorns" in tips
        assert secret in rendered(app)
        await pilot.press("f2")
        await seat_turn("Hare", 2)
        assert secret not in all_text(app)


async def test_pacts_offered_are_listed_and_taken_from_the_offers_table():
    app = moves_app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await allied_with_fox(pilot)
        view = screen.active.view
        assert view.allies == ("Fox",)
        offer = next(po for po in view.pact_offers if po.proposer == "Badger")
        notes = str(screen.query_one(SeatPanel).query_one("#seat-notes").content)
        assert f"#{offer.id} from Badger: accept #{offer.id} to ally" in notes
        whispers = str(screen.query_one(SeatPanel).query_one("#seat-tips").content)
        assert f"Fox whispered: {WHISPER}" not in whispers  # Fox whispers in round 2: read in round 3
        form = screen.query_one(ActionForm)
        # the ally list marks Badger's offer, and leaves out Fox (already an ally)
        await fill(pilot, "ally")
        to = {v: label for label, v in form.query_one("#to").choices}
        assert to["Badger"] == f"badger (offers #{offer.id})" and "Fox" not in to and "Owl" not in to
        # the break list has allies only
        await fill(pilot, "break")
        assert [v for _, v in form.query_one("#to").choices] == ["Fox"]
        # the offers table: the pact offer's row, taken with enter
        book = screen.query_one("#book")
        await pilot.press("f3")
        book.move_cursor(row=book.get_row_index(str(offer.id)))
        await pilot.press("enter")
        await pilot.pause()
        assert form.action() == Action(action="accept", id=offer.id)
        assert f"accept Badger's pact #{offer.id}: you become allies" in explain(screen)
        await pilot.press("enter")
        await until(pilot, lambda: screen.closed >= 2, what="round 2 to close")
        assert sorted(screen.state.allies("Owl")) == ["Badger", "Fox"]
        screen = await turn(pilot, 3)
        tips = str(screen.query_one(SeatPanel).query_one("#seat-tips").content)
        assert f"Fox whispered: {WHISPER}" in tips


async def test_the_whisper_form_passes_on_a_tip_from_a_list():
    app = moves_app(extra={})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        # the seat's view with a live tip of its own (the form reads the view it is given)
        view = replace(screen.active.view, tips=(TipView(31, "the honey harvest fails in 2 rounds", "honey", 3),))
        form.start(view)
        await fill(pilot, "whisper", to="Hare", tip=31)
        assert [v for _, v in form.query_one("#tip").choices] == [31]
        assert form.action() == Action(action="whisper", to="Hare", tip=31)
        assert "pass on tip #31 (the honey harvest fails in 2 rounds) to Hare" in explain(screen)
        assert "not sent" not in explain(screen)
        await fill(pilot, "whisper", to="Hare", tip=31, text="and sell")  # words too: the engine drops them
        assert "the words you typed are not sent: a whisper passes on a tip or words, not both" in explain(screen)


async def test_a_tip_is_picked_by_typing_its_number_not_said_in_public():
    """On the tip list, the tip's number typed (as the hint says: "pass on a
    tip you hold by its #") picks it; the digits had skipped the list into the
    public say line, and the whisper was refused for want of words."""
    game = LiveGame(args("play", "--brains", "scripted", "--seed", "3"), (Seat("Owl"),))
    app = WoodApp(game, pacer=Pacer(0.0))
    async with app.run_test(size=(100, 30)) as pilot:
        for r in (1, 2):  # Owl's first tip reaches it in round 3 of this seed
            await turn(pilot, r)
            await pilot.press("f2")
        screen = await turn(pilot, 3)
        tip = screen.active.view.tips[0]
        form = screen.query_one(ActionForm)
        await pilot.press("w", "h", "tab", *str(tip.id))  # whisper, to Hare, past the words, to the tip list
        await pilot.pause()
        assert form.query_one("#tip").value == tip.id
        assert form.query_one("#say", Input).value == ""
        await pilot.press("enter")
        screen = await turn(pilot, 4)
        assert f"You passed on your tip #{tip.id} to Hare" in all_text(app)
        assert f'Owl says: "{tip.id}"' not in all_text(app)


async def test_a_tip_number_moves_on_only_once_it_is_whole():
    """#3 and #31 held: 3 picks #3 and waits (a 1 may follow), 1 then picks #31
    and moves on; a # typed first is taken too."""
    app = moves_app(extra={})
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        tips = tuple(TipView(i, "the honey harvest fails in 2 rounds", "honey", 3) for i in (31, 3))
        for keys in (("3", "1"), ("#", "3", "1")):
            form.start(replace(screen.active.view, tips=tips))
            await pilot.press("w", "h", "tab", *keys[:-1])
            assert (form.query_one("#tip").value, app.focused.id) == (3, "tip")
            await pilot.press(keys[-1])
            assert (form.query_one("#tip").value, app.focused.id) == (31, "say")


# ---- the log, the god view, the panels' line -------------------------------------------------
def test_the_log_tells_shorts_and_pacts_and_keeps_whispers_out():
    for kind in ("short_opened", "pact_proposed"):
        assert kind in LOG_KINDS
    for kind in ("short_closed", "pact_formed", "pact_broken"):
        assert kind in HEADLINE_KINDS
    assert "whisper" not in LOG_KINDS and "whisper" not in HEADLINE_KINDS
    again = Event("pact_proposed", 3, {"id": 4, "proposer": "Fox", "to": "Owl", "renewed": True})
    assert feed_line(again, "blue", GOODS).plain == "Fox proposes a pact to Owl again (#4)"
    squeezed = Event("short_closed", 3, {"id": 4, "owner": "Fox", "good": "honey", "qty": 2, "delivered": 0,
                                         "bought": 0, "cost": 0, "squeezed": 2, "squeeze_cost": 30, "unpaid": 0,
                                         "profit": -10, "buys": []})
    line = feed_line(squeezed, HEADLINE_KINDS["short_closed"], GOODS)
    assert "2 squeezed for 30" in line.plain and str(line.style) == "red"


def test_the_god_view_names_the_tip_a_whisper_passed_on(state):
    events = [Event("whisper", 2, {"from": "Owl", "to": "Fox", "text": "the honey harvest fails", "tip": 12},
                    public=False, who=("Owl", "Fox")),
              Event("whisper", 3, {"from": "Fox", "to": "Hare", "text": "hello", "tip": None},
                    public=False, who=("Fox", "Hare"))]
    rows = secrets(state, events).whispers
    assert rows == [WhisperRow(2, "Owl", "Fox", "the honey harvest fails", 12), WhisperRow(3, "Fox", "Hare", "hello")]
    text = whisper_lines(rows).plain
    assert "Owl → Fox: the honey harvest fails (passes on tip #12)" in text
    assert "Fox → Hare: hello" in text and "tip #" not in text.split("\n")[0]


def test_a_panel_line_for_shorts_and_allies(world):
    card = CreatureCard(build_roster(world)[0], shorts=[(3, "honey", 12), (1, "mushrooms", 9)],
                        allies=["Fox", "[@click=app.quit]x"])
    line = ties(card, GOODS).plain
    assert line == "short 3 honey due r12, 1 mushroom due r9 · allied with Fox, [@click=app.quit]x"
    assert not ties(CreatureCard(build_roster(world)[0]), GOODS)


def test_the_help_has_a_line_on_each_new_move(world):
    play = " ".join(help_paragraphs(world))
    for words in ("SHORTS. short sells", "150% of them are held as collateral", "PACTS. ally proposes",
                  "break ends a pact", "WHISPERS. whisper sends one private line", "pass on one of your tips"):
        assert words in play, words
    watch = " ".join(SpectatorScreen.HELP)
    for words in ("Shorts:", "Pacts:", "Whispers:", "the words are in the god view"):
        assert words in watch, words


def test_the_board_never_shows_a_whispers_words_even_from_a_raw_reply(world):
    """The board says who whispered to whom; a repaired or refused reply that
    holds a whisper shows no raw text (the god view has the words)."""
    from engine.brains import Decision

    secret = '{"action": "whisper", "to": "Owl", "text": "MEET AT THE OAK"'
    for outcome, action in (("repaired", Action(action="whisper", to="Owl", text="MEET AT THE OAK")),
                            ("rejected", PASS), ("fault", PASS)):
        card = CreatureCard(build_roster(world)[1], decision=Decision(action, outcome, "repaired: json_repair", raw=secret))
        shown = said(card).plain + doing(card, GOODS).plain
        assert "OAK" not in shown and "whisper" in shown, shown
        # only a whisper that was sent has words in the god view; a refused one was never a whisper
        assert ("in the god view" in shown) == (outcome == "repaired"), shown
    refused = CreatureCard(build_roster(world)[1], rejected="no creature called Wren",
                           decision=Decision(Action(action="whisper", to="Owl", text="x"), "repaired", "", raw=secret))
    assert said(refused).plain == "raw: (a whisper, never sent: its words stay private)"  # the engine refused it
    misspelled = CreatureCard(build_roster(world)[1], decision=Decision(
        PASS, "rejected", "schema: x", raw='{"action": "whsper", "to": "Owl", "text": "MEET AT THE OAK"}'))
    assert "OAK" not in said(misspelled).plain  # a "text" field is a private line, whatever the action's spelling
    card = CreatureCard(build_roster(world)[1], decision=Decision(PASS, "rejected", "schema: x", raw="I will sell honey"))
    assert said(card).plain == "raw: I will sell honey"  # any other reply is shown, for the audit


def test_a_refused_move_missing_a_field_reads_as_words_not_none():
    from engine.actions import Reason, reason_words

    half = Action.model_construct(action="offer", side="sell", qty=1, good="acorns", price=None, say=None, id=None,
                                  to=None)
    assert action_text(half, GOODS).plain == "offer sell 1 acorn @ ?"
    assert reason_words(Reason.MISSING_FIELD) == "a field the move needs was left out"


def test_a_refused_gifts_good_as_the_model_wrote_it_is_inert_on_the_card():
    """A gift of a good no world has is refused and shown as the model wrote
    it; the good's escape sequence and line break had reached the card raw."""
    gift = Action.model_construct(action="gift", good="\x1b[31mnuts\nred", qty=2, to="Fox", side=None, price=None,
                                  say=None, id=None)
    shown = action_text(gift, GOODS).plain
    assert "\x1b" not in shown and "\n" not in shown and shown.startswith("gift 2 ") and shown.endswith(" to Fox"), shown


async def test_a_window_too_small_for_play_is_said_once_until_it_is_large_enough():
    app = moves_app(extra={})
    async with app.run_test(size=(60, 20), notifications=True) as pilot:
        await turn(pilot, 1)
        said = [n.message for n in app._notifications if "laid out for 80x24" in n.message]
        assert said == ["The window is 60x20; the game is laid out for 80x24 or more. Until it is larger, parts are "
                        "hidden (your stores, the notes under the form)."]
        await pilot.resize_terminal(50, 15)
        await pilot.pause()
        # still small: said once, of the size it is now (the toast had kept "The window is 60x20")
        assert [n.message.split(";")[0] for n in app._notifications if "laid out for" in n.message] == \
            ["The window is 50x15"]
        assert "50x15" in rendered(app) and "60x20" not in rendered(app)
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        # large enough: the toast that said it was not is gone (it had stayed, "The window is 60x20", at 100x30)
        assert not any("laid out for" in n.message for n in app._notifications)
        assert "laid out for" not in rendered(app)
        await pilot.resize_terminal(79, 30)
        await pilot.pause()
        assert [n.message.split(";")[0] for n in app._notifications if "laid out for" in n.message] == \
            ["The window is 79x30"]


async def test_a_window_large_enough_for_play_says_nothing_of_its_size():
    app = moves_app(extra={})
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await turn(pilot, 1)
        assert not any("laid out for" in n.message for n in app._notifications)


def test_long_names_stay_told_apart_when_shortened():
    """Names run to 40 characters; the screens show 24. Two that differ only
    at the end (a crowd's numbers) stay told apart: the start and the end show."""
    from wood_tui import safe

    a, b = "Squirrel of the Eastern Oak Grove 12", "Squirrel of the Eastern Oak Grove 13"
    shown = safe.name(a).plain, safe.name(b).plain
    assert shown[0] != shown[1] and all(len(s) == safe.NAME_SHOWN for s in shown), shown
    assert shown[0].startswith("Squirrel of the") and shown[0].endswith("Grove 12")
    assert safe.name("Owl").plain == "Owl" and "\x1b" not in safe.name("\x1b[2JFox").plain


# letters of one, two and no extra cells: ASCII, CJK and emoji (wide), a letter with its combining accent
_LETTERS = ["a", "Z", "-", " ", "栗", "鼠", "🦊", "👍🏽", "e\u0301", "ộ"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_LETTERS), min_size=1, max_size=40), st.integers(0, 999),
       st.sampled_from([24, 40, 16, 10, 6, 4]))
def test_a_shortened_name_fits_its_cells_and_keeps_its_start_end_and_crowd_number(letters, number, width):
    """Names are cut by terminal cells, not characters: "栗鼠" * 20 had been
    shown 48 cells wide where 24 were meant, overflowing every column it sat
    in. Whatever letters a name is written in, it is shown within `width`
    cells (NAME_SHOWN at most), as it is where it fits, else its start, "…"
    and (at NAME_SHOWN) its end or (narrower) its crowd number; no wide letter
    halved, no accent parted from its letter."""
    from rich.cells import cell_len

    from wood_tui import safe

    full = "".join(letters).strip() + f" {number}"
    full = " ".join(full.split()) or "x"
    shown = safe.name(full, width=width).plain
    room = min(width, safe.NAME_SHOWN)
    assert cell_len(shown) <= room, (full, shown)
    if cell_len(full) <= room:
        assert shown == full
        return
    head, _, tail = shown.partition("…")
    assert full.startswith(head.rstrip()) and full.endswith(tail), (full, shown)
    assert not tail[:1] or not unicodedata.combining(tail[0]), (full, shown)  # its letter left behind
    if room == safe.NAME_SHOWN:
        assert tail and cell_len(head) + cell_len(tail) >= room - 2, (full, shown)  # a wide letter may not fit
    elif len(f" {number}") <= room - 2:
        assert tail == f" {number}", (full, shown)


def test_a_name_of_wide_letters_is_shortened_to_its_cells():
    from rich.cells import cell_len

    from wood_tui import safe

    shown = safe.name("栗鼠" * 20).plain
    assert shown.startswith("栗鼠栗鼠") and shown.endswith("栗鼠栗鼠") and cell_len(shown) <= safe.NAME_SHOWN, shown
    assert safe.name("栗鼠" * 10 + " 12", width=10).plain == "栗鼠栗… 12"
    assert safe.name("e\u0301" * 30, width=6).plain == "e\u0301" * 5 + "…"  # each accent with its letter


async def test_accepting_ones_own_loan_offer_or_pact_proposal_is_previewed_as_the_engine_refuses_it():
    """The number of the seat's own loan offer, or of a pact it proposed, had
    been previewed as 'not among the offers you can take', as if mistyped;
    the engine refuses the one as a loan to oneself and the other as meant
    for another creature, and the preview now says so, in the engine's words."""
    app = moves_app(extra={})
    async with app.run_test(size=(100, 30)) as pilot:
        await turn(pilot, 1)
        for r, (kind, fields, offers, said) in enumerate([
                ("lend", {"amount": "5", "rate": "1", "rounds": "2"}, "my_loan_offers", "take your own loan offer #{}"),
                ("ally", {"to": "Fox"}, "my_pact_offers", "accept your own pact proposal #{} to Fox")], start=2):
            await fill(pilot, kind, **fields)
            await act(pilot)
            screen = await turn(pilot, r)
            mine = getattr(screen.active.view, offers)[0].id
            await fill(pilot, "accept", id=str(mine))
            words = explain(screen)
            assert words == f"→ {said.format(mine)}  ! " + why(*screen.game.check(
                "Owl", Action(action="accept", id=mine))), words
