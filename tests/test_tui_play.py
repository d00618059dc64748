"""`wood play` as a game: standings, the final ranking (true to the saved
state), the round recap in words (a refused accept that lost a race), the
first game's introduction, a form that keeps the keys (focus at every turn,
letters in lists, fast typing), confirming a quit that would lose rounds,
the command palette; and the standings at the end of `wood sim` and
`wood replay --verify`. Scripted brains, fixed seeds, fixed sizes."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.text import Text
from textual import events
from textual.widgets import Input, Select

from engine.actions import PASS, Action
from engine.brains import Decision
from engine.ledger import Ledger
from engine.replay import rebuild
from engine.rules import action_order
from engine.state import initial_state
from engine.score import Standing, worth_rule
from engine.world import build_roster, load_world
from tests.tui_harness import OneWidget, all_text, args, fill, rendered, turn, until
from wood_tui.app import WoodApp
from wood_tui.bridge import LiveGame, Pacer, Seat
from wood_tui.screens.final import FinalScreen, bar, ordinal, trend, worth_chart
from wood_tui.screens.intro import IntroScreen, config_dir, intro_seen, intro_text
from wood_tui.screens.market import MarketScreen
from wood_tui.screens.modals import ConfirmScreen
from wood_tui.widgets.action_form import FIELDS, KINDS, ActionForm
from wood_tui.widgets.seat_panel import BookTable, SeatPanel

WORLD = load_world()
GOODS = WORLD.goods  # the words for one unit of each good (events, recaps and panels take them)

ROOT = Path(__file__).resolve().parent.parent


def play_app(*argv: str, seats=(), extra_brains=None, config: Path | None = None) -> WoodApp:
    """A `wood play` app with scripted counterparts; one seat, Owl, unless told."""
    game = LiveGame(args("play", "--brains", "scripted", *argv), seats or (Seat("Owl"),), extra_brains=extra_brains)
    return WoodApp(game, pacer=Pacer(0.0), config_dir=config)



def in_form(app) -> bool:
    return app.focused is not None and any(isinstance(a, ActionForm) for a in app.focused.ancestors)


# ---- a race for a loan: Fox lends, Hare takes it before Owl can --------------------
class Lender:
    """Fox: a loan of 20 coins at 0% in round 1 (no other as cheap: an accept that
    comes late has nothing to fall back on), then passes."""

    async def decide(self, view):
        if view.round == 1:
            return Decision(Action(action="lend", amount=20, rate=0, rounds=3))
        return Decision(PASS)


class Taker:
    """Hare: takes Fox's loan offer as soon as it sees it."""

    async def decide(self, view):
        lo = next((lo for lo in view.loan_offers if lo.lender == "Fox"), None)
        return Decision(Action(action="accept", id=lo.id) if lo else PASS)


def hare_before_owl(seed: int) -> bool:
    state = initial_state(load_world(), seed, build_roster(load_world()))
    state.round = 2
    order = action_order(state)
    return order.index("Hare") < order.index("Owl")


RACE_SEED = next(s for s in range(1, 200) if hare_before_owl(s))


def race_app() -> WoodApp:
    return play_app("--seed", str(RACE_SEED), extra_brains={"Fox": Lender(), "Hare": Taker()})


async def lose_the_race(pilot) -> MarketScreen:
    """Owl passes round 1, accepts Fox's loan in round 2 (Hare, earlier in the order, takes it first)."""
    await turn(pilot, 1)
    await pilot.press("f2")
    screen = await turn(pilot, 2)
    loan = next(lo for lo in screen.active.view.loan_offers if lo.lender == "Fox")
    await pilot.press("a", *str(loan.id), "enter")
    return await turn(pilot, 3)


async def test_the_preview_of_a_loan_offer_that_would_fall_due_after_the_end_says_so():
    """Fox offers 20 coins for 3 rounds in round 1 of 4 (due in round 4); in
    round 2 the offer still stands, but taken now it would fall due in round 5,
    after the game: the preview says the engine's refusal before Enter (it had
    said "you owe 20 in round 5", a round never played)."""
    app = play_app("--seed", "1", "--rounds", "4", extra_brains={"Fox": Lender()})
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        screen = await turn(pilot, 2)
        loan = next(lo for lo in screen.active.view.loan_offers if lo.lender == "Fox")
        await pilot.press("a", *str(loan.id))
        await pilot.pause()
        told = str(screen.query_one("#explain").content)
        assert f"loan offer #{loan.id} would fall due after the last round (4)" in told, told


async def test_the_seat_panel_lists_its_own_standing_loan_offers_and_pact_proposals():
    """Owl offers a loan in round 1 and proposes a pact in round 2: while each
    stands, the panel lists it among its standing offers (it had said "Nothing
    else to know yet.": the seat's view lists only others' loan and pact offers)."""
    app = play_app("--seed", "5", "--rounds", "8")
    async with app.run_test(size=(100, 40)) as pilot:
        await turn(pilot, 1)
        await fill(pilot, "lend", amount="30", rate="10", rounds="2")
        app.main.query_one(ActionForm).submit()
        screen = await turn(pilot, 2)
        notes = str(screen.query_one("#seat-notes").content)
        lo = next(lo for lo in screen.state.loan_offers.values() if lo.lender == "Owl")
        assert f"#{lo.id} lend 30 coins at 10% for 2 rounds to anyone (until round {lo.expires})" in notes, notes
        await fill(pilot, "ally", to="Hare")
        app.main.query_one(ActionForm).submit()
        screen = await turn(pilot, 3)
        notes = str(screen.query_one("#seat-notes").content)
        po = next((po for po in screen.state.pact_offers.values() if po.proposer == "Owl"), None)
        assert po is not None, "Hare took the pact: pick another seed"
        assert f"#{po.id} pact proposed to Hare (until round {po.expires})" in notes, notes


async def test_the_seat_panel_reads_its_own_loan_offers_and_pact_proposals_from_its_view_alone(world):
    """The panel's standing offers had been passed in from the engine's whole
    state (every creature's loan offers and pact proposals, filtered to the
    seat's by the screen): now the seat's view lists its own, and the panel
    reads them there. Given only a view, it lists them; a view without them,
    it lists none; and its module reads no state at all."""
    import ast
    import inspect
    from dataclasses import replace
    from itertools import takewhile

    import wood_tui.widgets.seat_panel as seat_panel
    from engine.views import public_view
    from tests.test_firewall import own_offers_round

    tree = ast.parse(inspect.getsource(seat_panel))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert "engine.state" not in imported and "State" not in {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    # goods: the world's words; make: the world's low-mood rule for the view's own mood (the screen works it out)
    assert list(inspect.signature(SeatPanel.show).parameters) == ["self", "view", "goods", "regard", "resolved", "after", "make"]

    mid = own_offers_round(world)
    view = public_view(mid, world, "Owl")
    lo, = (lo for lo in mid.loan_offers.values() if lo.lender == "Owl")
    po, = (po for po in mid.pact_offers.values() if po.proposer == "Owl")
    app = OneWidget(SeatPanel)
    async with app.run_test(size=(100, 40)) as pilot:
        panel = app.query_one(SeatPanel)
        panel.show(view, GOODS)
        await pilot.pause()
        notes = str(panel.query_one("#seat-notes").content)
        assert f"#{lo.id} lend 10 coins at 5% for 2 rounds to anyone (until round {lo.expires})" in notes, notes
        assert f"#{po.id} pact proposed to Hare (until round {po.expires})" in notes, notes
        lines = notes.splitlines()
        standing = list(takewhile(lambda line: line.startswith("  "), lines[lines.index("Your standing offers") + 1:]))
        assert len(standing) == 2 and not any("Fox" in line for line in standing), standing  # Fox's are Fox's
        panel.show(replace(view, my_loan_offers=(), my_pact_offers=()), GOODS)
        await pilot.pause()
        notes = str(panel.query_one("#seat-notes").content)
        assert f"#{lo.id} " not in notes and f"#{po.id} " not in notes, notes


async def test_one_round_is_one_round_in_the_plays_own_words(world):
    """The introduction to a 1-round game, a loan for 1 round in the preview
    and in the panel: "1 round", not "1 rounds"."""
    assert "after 1 round, the highest net worth" in intro_text(world, [("Owl", "owl")], 1).plain
    app = play_app("--seed", "5", "--rounds", "8")
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "lend", amount="30", rate="10", rounds="1")
        assert "lend 30 coins to anyone for 1 round: 33 back" in str(screen.query_one("#explain").content)
        app.main.query_one(ActionForm).submit()
        screen = await turn(pilot, 2)
        assert "lend 30 coins at 10% for 1 round to anyone" in str(screen.query_one("#seat-notes").content)


# ---- snapshots ---------------------------------------------------------------------
def test_play_form_80x24(snap_compare):
    async def run_before(pilot):
        await turn(pilot, 1)
    assert snap_compare(play_app("--seed", "48"), terminal_size=(80, 24), run_before=run_before)


def test_play_standings_80x24(snap_compare):
    async def run_before(pilot):
        await turn(pilot, 1)
        await pilot.press("f2")
        await turn(pilot, 2)
        await pilot.press("f5")
        await pilot.pause()
    assert snap_compare(play_app("--seed", "1"), terminal_size=(80, 24), run_before=run_before)


def test_recap_with_a_refused_accept_80x24(snap_compare):
    async def run_before(pilot):
        await lose_the_race(pilot)
        await pilot.pause()
    assert snap_compare(race_app(), terminal_size=(80, 24), run_before=run_before)


def test_final_ranking_80x24(snap_compare):
    async def run_before(pilot):
        for r in (1, 2, 3):
            await turn(pilot, r)
            await pilot.press("f2")
        await until(pilot, lambda: isinstance(pilot.app.screen, FinalScreen), what="the final screen")
        await pilot.pause()
    assert snap_compare(play_app("--seed", "1", "--rounds", "3"), terminal_size=(80, 24), run_before=run_before)


def test_introduction_80x24(snap_compare, tmp_path):
    async def run_before(pilot):
        await until(pilot, lambda: isinstance(pilot.app.screen, IntroScreen), what="the introduction")
        await pilot.pause()
    assert snap_compare(play_app("--seed", "1", config=tmp_path), terminal_size=(80, 24), run_before=run_before)


# ---- the round in words ---------------------------------------------------------------
async def test_an_accept_that_lost_a_race_is_told_in_words_under_the_form():
    app = race_app()
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await lose_the_race(pilot)
        verdict = str(screen.query_one("#verdict").content)
        assert verdict.startswith("last round: Your accept of #") and "was refused: it lost a race" in verdict
        assert "offer_taken" not in verdict
        recap = str(screen.query_one("#recap").content)
        assert "lost a race" in recap and "Mood" in recap
        assert "was refused: it lost a race" in rendered(app)  # on screen, in words


async def test_focus_is_in_the_form_at_every_turn_and_letters_land_there():
    app = play_app("--seed", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        for r in (1, 2, 3):
            screen = await turn(pilot, r)
            assert in_form(app), app.focused
            form = screen.query_one(ActionForm)
            await pilot.press("a", "1", "2")  # no Tab: the letter picks accept, the digits go to its offer #
            assert form.kind == "accept" and form.query_one("#id", Input).value == "12"
            await pilot.press("f3")  # to the offers table, away from the form ...
            assert app.focused is screen.query_one("#book")
            await pilot.press("f2")  # ... and the next turn brings it back



async def test_f2_passes_with_the_line_typed_in_say():
    """`p`, a say line, F2: the pass says it, as Enter would have (F2 had
    passed without it, the line dropped unsaid); F2 with nothing typed passes quietly."""
    app = play_app("--seed", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        await pilot.press("p", *"fine weather", "f2")
        screen = await turn(pilot, 2)
        assert 'Owl says: "fine weather"' in screen.active.view.headlines
        assert 'Owl says: "fine weather"' in all_text(app)
        await pilot.press("f2")
        screen = await turn(pilot, 3)
        assert not any(h.startswith("Owl says") for h in screen.active.view.headlines)


async def test_a_name_with_a_space_is_picked_by_typing_it():
    """In a wood of twelve (Fox, Fox 2, Fox 3...) `w f o x space 2` picks Fox 2
    and moves on to the words (the space had opened the list on Fox, and the 2
    was lost); a space with nothing typed still opens the list."""
    app = play_app("--seed", "5", "--rounds", "4", "--creatures", "12")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        await pilot.press("w", "f", "o", "x", "space", "2")
        await pilot.pause()
        assert form.query_one("#to", Select).value == "Fox 2" and app.focused is form.query_one("#text", Input)
        await pilot.press("h", "i")
        assert form.query_one("#text", Input).value == "hi"
        form.query_one("#to", Select).focus()
        await pilot.press("space")
        await pilot.pause()
        assert form.query_one("#to", Select).expanded


async def test_typing_fast_after_a_list_lands_in_the_next_fields():
    app = play_app("--seed", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        for ch in "osh3":  # all at once, before the app has handled any of them
            key = events.Key(ch, ch)
            key.set_sender(app)
            app._driver.send_message(key)
        await pilot.pause(0.3)
        assert (form.kind, form.query_one("#side", Select).value, form.query_one("#good", Select).value,
                form.query_one("#qty", Input).value) == ("offer", "sell", "honey", "3")


async def test_selecting_an_offer_prefills_it_and_previews_the_cost():
    app = play_app("--seed", "1")
    async with app.run_test(size=(120, 40)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        screen = await turn(pilot, 2)
        first = screen.active.view.book[0]
        await pilot.press("f3", "enter")
        form = screen.query_one(ActionForm)
        assert form.action() == Action(action="accept", id=first.id, qty=first.qty)
        assert in_form(app)
        await pilot.pause()
        verb = "costs" if first.side == "sell" else "brings"
        assert f"at {first.price}: {verb} {first.qty * first.price} coins" in str(form.query_one("#explain").content)


async def test_goods_lists_offer_goods_and_gift_coins_and_names_are_a_list():
    app = play_app("--seed", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        goods = form.query_one("#good")
        assert [v for _, v in goods.choices] == list(load_world().good_names)  # coins is not a good
        form.query_one("#kind", Select).value = "gift"
        await pilot.pause()
        assert [v for _, v in goods.choices][-1] == "coins"
        to = form.query_one("#to", Select)
        assert isinstance(to, Select) and "Owl" not in [v for _, v in to.choices]
        to.value = "Fox"
        form.query_one("#qty", Input).value = "2"
        goods.value = "coins"
        assert form.action() == Action(action="gift", to="Fox", good="coins", qty=2)


async def test_every_action_shows_its_labels_and_every_choice_whole_at_80x24():
    """Every field of every action shows its title; and a list too narrow for
    its choice wraps it ("sel" over "l" for sell) and the field grows a row:
    each choice of each fixed-width list stays whole."""
    app = play_app("--seed", "1")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        for kind in KINDS:
            form.query_one("#kind", Select).value = kind
            await pilot.pause()
            shown = rendered(app)
            for title in ["action", "say", *(t for t, kinds in FIELDS.values() if kind in kinds)]:
                assert f"▔ {title} ▔" in shown, (kind, title, shown)
            assert form.query_one("#kind").region.height == 3, (kind, form.query_one("#kind").region)
            for w in form.fields_for(kind):
                if not isinstance(w, Select) or w.id in ("kind", "to"):  # names: cut to the field, by design
                    continue
                for _, value in w.choices:
                    w.value = value
                    await pilot.pause()
                    assert w.region.height == 3, (kind, w.id, value, w.region)


class Seller:
    """A creature bidding 2 for a mushroom every round (a price no one takes)."""

    async def decide(self, view):
        return Decision(Action(action="offer", side="buy", good="mushrooms", qty=1, price=2))


@pytest.mark.parametrize("size", [(140, 40), (80, 24)])
async def test_the_offers_table_shows_long_ids_and_names_whole(size):
    """An offer's # is what the player types to take it, and its owner's name
    tells "Squirrel 2" from Squirrel: neither is cut to its column's width.
    At 80 columns the #, the good, the side, the qty and the price all show,
    and the name too, shortened to what is left with a "…" that keeps its
    number (it had run off the table's right edge, to be scrolled to)."""
    from dataclasses import replace
    app = play_app("--seed", "1", "--creatures", "12", extra_brains={"Squirrel 2": Seller()})
    async with app.run_test(size=size) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        screen = await turn(pilot, 2)
        view = screen.active.view
        o = next(o for o in view.book if o.owner == "Squirrel 2")
        book = screen.query_one(BookTable)
        book.show(replace(view, book=[replace(o, id=12345), *(x for x in view.book if x is not o)]))
        await pilot.press("f3")
        await pilot.pause()
        row = next(line for line in rendered(app).splitlines() if "12345" in line)
        who = re.search(r" 12345 +mushrooms +buy +1 +2 (.+)$", row)
        assert who, row
        if size[0] > 80:
            assert who[1] == "Squirrel 2", row
        else:
            assert re.fullmatch(r"Squ\w*… 2", who[1]), row
        assert book.max_scroll_x == 0  # nothing off to the right


async def test_the_offers_names_show_at_80x24():
    """At 80x24 the offers table's `who` column had shown three letters of a
    name ("Squ", "Bad") and hidden the rest past the edge. The table fits the
    pane now: a name shows whole where there is room ("Squirrel", "Badger"),
    shortened with a "…" that keeps its number where there is not, and it
    comes back whole when the window widens."""
    app = play_app("--seed", "1", "--creatures", "12")
    async with app.run_test(size=(80, 24)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        screen = await turn(pilot, 2)
        await pilot.press("f3")
        await pilot.pause()
        book = screen.query_one(BookTable)
        assert book.max_scroll_x == 0
        lines = rendered(app).splitlines()
        owners = {o.id: o.owner for o in screen.active.view.book}
        shown = {oid: re.search(rf"│ {oid} +\S+ +(buy|sell) +\d+ +\d+ (.+)$", line)[2]
                 for oid in owners for line in lines if re.match(rf"│.*│ {oid} ", line)}
        assert shown.keys() == owners.keys(), lines
        for oid, owner in owners.items():
            head, cut, tail = shown[oid].partition("…")
            assert shown[oid] == owner or (cut and head and owner.startswith(head) and owner.endswith(tail)), \
                (owner, shown[oid])
            if owner[-1].isdigit():
                assert shown[oid].endswith(" " + owner.split()[-1]), (owner, shown[oid])  # its number, always
        assert sum(shown[oid] == owner for oid, owner in owners.items()) >= len(owners) - 1  # whole where they fit
        await pilot.resize_terminal(140, 40)
        await pilot.pause()
        shown = rendered(app)
        for owner in owners.values():
            assert owner in shown, owner


async def test_the_holdings_stay_on_screen_at_80x24_under_tips_and_weather():
    """The holdings and quotes are read every turn: weather, a live tip and
    resolved tips (two lines each at 80 columns) had pushed every good
    below the panel's bottom edge, to be scrolled to. They come first now;
    the tips follow them."""
    from dataclasses import replace

    from engine.views import ShockView, TipView
    app = play_app("--seed", "1")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await turn(pilot, 1)
        view = replace(screen.active.view, shocks=(ShockView("honey", -100, 4),),
                       tips=(TipView(7, "the honey harvest fails in 2 rounds", "honey", 3),))
        resolved = [("a blight takes the mushrooms in 2 rounds", False), ("the honey harvest fails in 2 rounds", True)]
        screen.query_one(SeatPanel).show(view, GOODS, resolved=resolved)
        await pilot.pause()
        shown = rendered(app)
        assert "weather" in shown  # the tips follow, in the panel's scroll
        assert "tip (private)" in str(screen.query_one("#seat-tips").content)
        for q in view.quotes:
            assert re.search(rf"│ {q.good} +{view.holding(q.good)} ", shown), (q.good, shown)


# ---- the end of the season ----------------------------------------------------------------
async def test_the_final_screen_is_the_saved_final_state(tmp_path, world):
    save = tmp_path / "game.db"
    app = play_app("--seed", "1", "--rounds", "3", "--save", str(save))
    async with app.run_test(size=(100, 32)) as pilot:
        for r in (1, 2, 3):
            await turn(pilot, r)
            await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final screen")
        final = app.screen
        headline = str(final.query_one("#final-title").content)
        assert " wins with a net worth of " in headline and "). The season is over after 3 rounds; saved to " in headline
        assert headline.endswith(f"{save}."), headline  # a sentence, ended
        seat = app.main.query_one(SeatPanel)
        head = str(seat.query_one("#seat-head").content)
        notes = str(seat.query_one("#seat-notes").content)
        await pilot.press("escape")  # back to the board; F8 brings the ranking back
        assert app.screen is app.main
        await pilot.press("f8")
        assert isinstance(app.screen, FinalScreen)
    ledger = Ledger.open(save)
    state = rebuild(ledger, world)
    ledger.close()
    assert state.round == 3
    assert {r.name: (r.coins, r.mood) for r in final.rows} == {
        c.name: (c.coins, c.mood) for c in state.creatures.values()}
    owl = state.creatures["Owl"]
    assert f"coins {owl.coins} " in head and f"{owl.mood}" in head and "after round 3" in head
    mine = [o for o in state.offers.values() if o.owner == "Owl"]
    assert all(f"#{o.id} " in notes for o in mine) and notes.count("(until round") == len(mine)


@pytest.mark.parametrize("size", [(80, 24), (120, 32)])
async def test_the_final_screen_tells_how_the_score_is_counted_whole(size, world):
    """The worth rule sat in the box's bottom border, cut with … at 80 to 120
    columns; the footer now lists ?, which shows it whole, wrapped."""
    app = play_app("--seed", "1", "--rounds", "1")
    async with app.run_test(size=size) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final screen")
        await pilot.pause()
        shown = rendered(app)
        assert "…" not in shown, shown
        assert "? how the score is counted" in shown.splitlines()[-1], shown
        await pilot.press("question_mark")
        await pilot.pause()
        box = app.screen.query_one("#help").content_region  # its text, read off the screen, line by line
        lines = [f"{row:<{box.right}}"[box.x:box.right] for row in rendered(app).splitlines()[box.y:box.bottom]]
        words = " ".join(" ".join(lines).split())
        assert f"net worth = {worth_rule(world)}." in words, words
        await pilot.press("escape")
        assert isinstance(app.screen, FinalScreen)


def test_chart_pieces():
    assert bar(10, 10, 4) == "████" and bar(5, 10, 4) == "██" and bar(-3, 10) == "" and bar(1, 0) == ""
    assert trend([1, 2, 3]) == "▁▅█" and trend([4, 4]) == "▄▄" and trend([]) == ""


def test_the_final_chart_fits_the_final_box_at_80_columns_with_a_long_name():
    """A seat named with 40 characters (`--as`), 12 rounds of worth: every
    line of the chart fits the 76 columns inside the final box at 80, the
    header's span of rounds shortened to fit (it had run to 78 and wrapped,
    "rounds" alone on a line, pushing the table's last row out of sight); with
    short names it says "last 11 rounds"."""
    name = "Bartholomew-Fitzwilliam-the-Ninth-of-Oak"
    rows = [Standing(1, "Fox", "fox", 100, 50, 0, 0, 150, 60), Standing(2, name, "owl", 90, 50, 0, 0, 140, 60)]
    chart = worth_chart(rows, {"Fox": list(range(100, 150, 4)), name: list(range(90, 140, 4))}, seats=(name,))
    lines = chart.plain.splitlines()
    assert lines[0].endswith(" 11 rounds") and max(Text(line).cell_len for line in lines) <= 76, lines
    short = worth_chart(rows[:1], {"Fox": list(range(100, 150, 4))})
    assert short.plain.splitlines()[0].endswith("last 11 rounds")


def end_of_season_app(command: str, *argv: str) -> WoodApp:
    """A season of 12 scripted creatures, 3 rounds: `wood play` with Owl as the seat, or `wood watch` running."""
    argv = ("--brains", "scripted", "--seed", "1", "--rounds", "3", "--creatures", "12", *argv)
    return WoodApp(LiveGame(args(command, *argv), (Seat("Owl"),) if command == "play" else ()), pacer=Pacer(0.0))


async def to_the_final_screen(pilot, command: str) -> FinalScreen:
    if command == "play":  # Owl passes each round
        for r in (1, 2, 3):
            await turn(pilot, r)
            await pilot.press("f2")
    await until(pilot, lambda: isinstance(pilot.app.screen, FinalScreen), what="the final screen")
    await pilot.pause()
    return pilot.app.screen


def screen_lines(app, region) -> list[str]:
    """The rendered text inside `region`, line by line."""
    return [f"{row:<{region.right}}"[region.x:region.right] for row in rendered(app).splitlines()[region.y:region.bottom]]


@pytest.mark.parametrize("command", ["play", "watch"])
async def test_the_final_standings_are_in_sight_at_80x24_with_12_creatures(command):
    """12 creatures at 80x24: the chart's ten, its heading and a line of how
    many more, under the winner's line and the seat's, had left the table two
    lines, its heading and the winner's row, the rest of it below the box,
    out of reach (the box did not scroll). Now the chart draws as many as
    leave the table its first rows, the seat's own among them: the winner's
    row of the table and the seat's rank are on screen without scrolling."""
    app = end_of_season_app(command)
    async with app.run_test(size=(80, 24)) as pilot:
        final = await to_the_final_screen(pilot, command)
        box = final.query_one("#final").content_region
        for part in final.query("#final-title, #final-seats, #final-chart, #final-table"):
            assert box.contains_region(part.region), (part.id, part.region, box)
        table = final.query_one("#final-table")
        winner = final.rows[0]
        first = screen_lines(app, table.region)[1].split()  # under the table's heading
        assert first[:3] == ["1", winner.name, str(winner.worth)], first
        chart = "\n".join(screen_lines(app, final.query_one("#final-chart").region))
        assert re.search(rf"^ +1 {winner.name} +█+ +{winner.worth} ", chart, re.M), chart
        assert re.search(r"… and \d+ more in the table below", chart), chart
        if command == "play":
            owl = next(r for r in final.rows if r.name == "Owl")
            assert owl.rank > 8  # below the chart's first rows: drawn all the same
            assert f"You finished {ordinal(owl.rank)} of 12: worth {owl.worth} " in rendered(app)
            assert re.search(rf"^ +{owl.rank} Owl +[█▏▎▍▌▋▊▉]+ +{owl.worth} ", chart, re.M), chart


async def test_the_final_table_is_in_reach_in_a_short_window():
    """At 80x16 (shorter than the game is laid out for) the table was below
    the box, out of reach: the box did not scroll. Now it does: tab to it,
    End, and the table is in sight, the winner first."""
    app = end_of_season_app("play")
    async with app.run_test(size=(80, 16)) as pilot:
        final = await to_the_final_screen(pilot, "play")
        box = final.query_one("#final")
        table = final.query_one("#final-table")
        assert box.content_region.contains_region(final.query_one("#final-title").region)  # it opens at the top
        assert not box.content_region.contains_region(table.region)
        await pilot.press("shift+tab")  # from the table to the box
        assert app.focused is box
        await pilot.press("end")
        await pilot.pause()
        assert box.content_region.contains_region(table.region), (table.region, box.content_region)
        assert screen_lines(app, table.region)[1].split()[:2] == ["1", final.rows[0].name]


def final_rows() -> tuple[list[Standing], dict[str, list[int]], str]:
    """12 creatures, the last (a seat) with a name of 40 characters, 12 rounds of worth."""
    long = "Bartholomew-Fitzwilliam-the-Ninth-of-Oak"
    names = ["Fox", "Hare 2", "Squirrel 12", "Badger", "Owl 3", "Fox 2", "Hare", "Badger 2", "Owl 2", "Squirrel",
             "Fox 3", long]
    rows = [Standing(i + 1, n, "fox", 100, 50, 0, 0, 300 - 10 * i, 60) for i, n in enumerate(names)]
    return rows, {n: list(range(100, 152, 4)) for n in names}, long  # 13 values: the trend draws 12 (11 rounds)


def test_the_final_chart_fits_the_lines_it_is_given():
    """However short its place: no more lines than the height, the best
    first, the seat kept (after the winner), the count of those left out true."""
    rows, history, seat = final_rows()
    for height in range(3, 14):
        lines = worth_chart(rows, history, seats=(seat,), height=height).plain.splitlines()
        ranks = [int(line.split()[0]) for line in lines[1:] if line.split()[0].isdigit()]
        assert len(lines) <= height and ranks[0] == 1 and ranks == sorted(ranks), (height, lines)
        assert lines[-1] == f"    … and {12 - len(ranks)} more in the table below", (height, lines)
        assert (12 in ranks) == (height > 3), (height, lines)


async def test_the_final_chart_heading_is_one_line_at_60x16():
    """At 60x16 (narrower than the game is laid out for) the chart's heading
    ran past the box and wrapped, "rounds" alone on the next line. It fits:
    the bar is narrower."""
    app = end_of_season_app("play")
    async with app.run_test(size=(60, 16)) as pilot:
        final = await to_the_final_screen(pilot, "play")
        head, first = screen_lines(app, final.query_one("#final-chart").region)[:2]
        assert head.split() == ["net", "worth", "mood", "last", "3", "rounds"], head
        assert first.split()[:2] == ["1", final.rows[0].name], first


def test_the_final_chart_fits_the_cells_it_is_given():
    """However narrow its place: no line longer than the width (the bar, then
    the names, then the rounds drawn narrowed), the heading whole on its line."""
    rows, history, seat = final_rows()
    for width in range(44, 81):
        lines = worth_chart(rows, history, seats=(seat,), width=width).plain.splitlines()
        assert max(Text(line).cell_len for line in lines) <= width, (width, lines)
        drawn = re.fullmatch(r" +net worth +mood  (last )?(\d+) rounds", lines[0])  # whole, on one line
        assert drawn and (width < 48 or drawn[2] == "11"), (width, lines[0])
        assert all(len(line.split()[-1]) == int(drawn[2]) + 1 for line in lines[1:-1]), (width, lines)  # the trend


def test_the_final_chart_lines_up_with_names_of_wide_letters():
    """Creatures named in wide letters (栗鼠, 🦊: two cells each) beside plain
    ones: the chart cut names to 24 characters (48 cells of 栗鼠) and padded
    them by characters, so the bars and numbers after a wide name stood out
    of line and ran past the final box; each name is now at most 24 cells,
    its start and end kept, and every column starts at the same cell."""
    from tests.saves import WIDE_NAMES

    names = ["栗鼠" * 20, *WIDE_NAMES]
    rows = [Standing(i, n, "owl", 100, 50, 0, 0, 160 - 10 * i, 60) for i, n in enumerate(names, 1)]
    lines = worth_chart(rows, {n: list(range(90, 140, 4)) for n in names}, seats=(names[1],)).plain.splitlines()[1:]
    assert len(lines) == len(names) and all(Text(line).cell_len <= 76 for line in lines), lines
    assert "栗鼠栗鼠" in lines[0] and "…" in lines[0] and all(n in "".join(lines) for n in WIDE_NAMES), lines
    for column in ("█", " 60 "):  # the bars, the mood
        assert len({Text(line[:line.index(column)]).cell_len for line in lines}) == 1, (column, lines)


# ---- quitting, the first game, the palette --------------------------------------------------
async def test_quitting_with_unsaved_rounds_asks_first():
    app = play_app("--seed", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        await turn(pilot, 2)
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Its 1 round is not saved" in str(app.screen.query_one("#confirm-text").content)
        await pilot.press("n")
        assert app.screen is app.main and app.is_running
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await until(pilot, lambda: not app.is_running, what="the app to quit")


async def test_a_saved_game_quits_without_asking(tmp_path):
    app = play_app("--seed", "1", "--save", str(tmp_path / "s.db"))
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        await turn(pilot, 2)
        await pilot.press("ctrl+q")
        assert not isinstance(app.screen, ConfirmScreen)
        await until(pilot, lambda: not app.is_running, what="the app to quit")


def test_the_introduction_tells_a_seat_with_kin_what_its_own_grove_makes():
    """In a wood with other owls, an owl's harvest is its grove's share
    (`engine.groves`): the introduction says that, not the species' usual."""
    from engine.events import units_list
    from engine.groves import yields
    from engine.state import initial_state
    from engine.world import build_roster, load_world
    from wood_tui.screens.intro import intro_text
    world = load_world()
    state = initial_state(world, 3, build_roster(world, 30))
    makes = yields(state, world, 1)
    owls = [n for n, c in state.creatures.items() if c.species == "owl"]
    odd = next(n for n in owls if dict(makes[n]) != world.species["owl"].produces)
    text = intro_text(world, [(odd, "owl")], 100, makes).plain
    told = units_list(makes[odd], GOODS)  # "1 acorn, 5 timber"
    assert f"You make {told} a round" in text


def test_a_game_at_a_grove_terms_last_round_is_told_the_next_terms_make():
    """`wood play` tells the seats what they make in the round about to open:
    for a game resumed at round 24, round 25's grove (a new term)."""
    from engine.rules import open_round
    from engine.state import initial_state
    from engine.views import public_view
    from engine.world import build_roster, load_world
    from wood_tui.screens.intro import upcoming_makes
    world = load_world()
    state = initial_state(world, 3, build_roster(world, 30))
    state.round = world.economy["grove_rounds"]
    opened, _, _ = open_round(state, world)
    makes = upcoming_makes(state, world)
    assert all(makes[n] == public_view(opened, world, n).produces for n in state.creatures)
    state.round -= 1
    assert upcoming_makes(state, world) != makes  # the term before tells another make


async def test_the_introduction_comes_once(tmp_path):
    app = play_app("--seed", "1", config=tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, IntroScreen), what="the introduction")
        text = str(app.screen.query_one("#intro-text").content)
        assert "You are Owl" in text and "You make 1 acorn, 3 timber a round" in text and "Win: after 100 rounds" in text
        await pilot.pause(0.2)
        assert app.main.active is None  # the turn waits behind it
        await pilot.press("enter")
        await turn(pilot, 1)
        assert in_form(app)
    assert intro_seen(tmp_path)
    again = play_app("--seed", "1", config=tmp_path)
    async with again.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        assert not any(isinstance(s, IntroScreen) for s in again.screen_stack)


async def test_a_config_dir_that_cannot_be_read_shows_the_introduction_and_plays_on(tmp_path):
    """WOOD_CONFIG_DIR with a name too long (or a folder not ours): the
    introduction is shown again, not a traceback in place of the game."""
    bad = tmp_path / ("a" * 300)
    assert not intro_seen(bad)
    app = play_app("--seed", "1", config=bad)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, IntroScreen), what="the introduction")
        await pilot.press("enter")
        await turn(pilot, 1)
        assert in_form(app)


async def test_an_introduction_remembered_nowhere_is_shown_and_the_game_plays_on(tmp_path, monkeypatch):
    """No home folder to keep the config folder in (`wood play` passes no
    config_dir, and asks for the introduction): it is shown, every game."""
    monkeypatch.chdir(tmp_path)
    game = LiveGame(args("play", "--brains", "scripted", "--seed", "1"), (Seat("Owl"),))
    app = WoodApp(game, pacer=Pacer(0.0), config_dir=None, intro=True)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, IntroScreen), what="the introduction")
        await pilot.press("enter")
        await turn(pilot, 1)
        assert in_form(app)
    assert list(tmp_path.iterdir()) == []


def test_config_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("WOOD_CONFIG_DIR", str(tmp_path / "w"))
    assert config_dir() == tmp_path / "w"
    monkeypatch.delenv("WOOD_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "x"))
    assert config_dir() == tmp_path / "x" / "thousand-token-wood"


async def test_game_actions_are_in_the_command_palette():
    app = play_app("--seed", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await turn(pilot, 1)
        titles = {c.title: c for c in app.get_system_commands(app.screen)}
        assert {"Pass", "Help", "Offers", "Standings", "Your round"} <= set(titles)
        titles["Offers"].callback()
        await pilot.pause()
        assert app.focused is screen.query_one("#book")
        titles["Pass"].callback()
        await turn(pilot, 2)


async def test_the_command_palette_names_each_commands_key_as_the_screen_binds_it(monkeypatch):
    """The palette's words ('Pass this turn (F2)') take each key from the
    play screen's bindings: they had been a hand-written copy of them, left
    saying F2 for a pass bound to another key."""
    from dataclasses import replace

    from textual.binding import Binding

    bindings = [replace(b, key="f9") if b.action == "pass_turn" else b for b in MarketScreen.BINDINGS]
    monkeypatch.setattr(MarketScreen, "BINDINGS", bindings)
    app = play_app("--seed", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        said = {c.title: c.help for c in app.get_system_commands(app.screen)}
    assert said["Pass"] == "Pass this turn (F9)"
    for title, action in (("Help", "help"), ("Offers", "tab('offers')"), ("Form", "form")):
        [b] = [b for b in MarketScreen.BINDINGS if isinstance(b, Binding) and b.action == action]
        assert said[title].endswith(f"({b.key.upper() if b.key[1:].isdigit() else b.key})"), said[title]


async def test_the_command_palettes_final_standings_name_the_key_as_the_screen_binds_it(monkeypatch):
    """The palette's 'Final standings' said '(F8)' in words typed by hand; it
    takes the key from the play screen's bindings, as its other commands do."""
    from dataclasses import replace

    bindings = [replace(b, key="f9") if b.action == "final" else b for b in MarketScreen.BINDINGS]
    monkeypatch.setattr(MarketScreen, "BINDINGS", bindings)
    app = play_app("--seed", "1", "--rounds", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final standings")
        said = {c.title: c.help for c in app.get_system_commands(app.main)}
    assert said["Final standings"] == "The end of the season, ranked (F9)", said


async def test_the_play_help_lists_f8_once_the_season_is_over():
    """F8 (the final standings) is hidden from the footer, and `wood play`'s
    help (F1) left it out too, though the README and the palette give it; once
    the season is over the help lists it, as `wood watch`'s does."""
    from wood_tui.screens.modals import KeyList

    app = play_app("--seed", "1", "--rounds", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f1")
        await until(pilot, lambda: app.screen.query(KeyList), what="the help")
        assert "F8" not in {k.upper() for k, _ in app.screen.query_one(KeyList).rows}  # not before the end
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main, what="the board")
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final standings")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main, what="the board again")
        await pilot.press("f1")
        await until(pilot, lambda: app.screen.query(KeyList), what="the help")
        rows = {k.upper(): what for k, what in app.screen.query_one(KeyList).rows}
    assert rows.get("F8") == "final standings", rows


async def test_a_window_too_small_for_the_final_standings_names_no_part_of_the_play_screen():
    """Resized small with the final standings up, the toast said the window
    hid "your stores, the notes under the form": parts of the play screen
    under it, not of the one in view. It says parts are hidden, no more."""
    app = play_app("--seed", "1", "--rounds", "1")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final standings")
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        said = [n.message for n in app._notifications if "laid out for" in n.message]
        assert said == ["The window is 60x20; the game is laid out for 80x24 or more. Until it is larger, parts are "
                        "hidden."], said


async def test_a_paste_into_the_command_palette_is_cleaned():
    """The command palette's search line took a paste as it came: an escape
    sequence, a bidi override or a control byte stayed in it and was drawn
    raw (the terminal obeys ESC[2J). A paste there is cleaned as the form's
    lines clean theirs, its first line kept, and still finds the command;
    the form's own fields keep their own ways (a say line's edge spaces)."""
    from textual.command import CommandInput

    app = play_app("--seed", "1")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await turn(pilot, 1)
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.focused, CommandInput), what="the palette")
        app.post_message(events.Paste("pa\x1b[2J\u202ess\x07\nsecond line"))  # as the terminal sends it: to the app
        await pilot.pause(0.3)
        assert app.focused.value == "pass"
        assert "\x1b" not in rendered(app) and "\u202e" not in rendered(app) and "Pass" in rendered(app)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, what="the palette closed")
        say = screen.query_one("#say", Input)
        say.focus()
        await pilot.pause()
        app.post_message(events.Paste(" hello "))
        await pilot.pause()
        assert say.value == " hello "


@pytest.mark.parametrize("size", [(80, 24), (60, 30)])
async def test_the_help_keys_wrap_under_their_own_column(size):
    """At 80 columns the help's longer keys ("letters  in a list: pick the
    choice starting with that letter", ctrl+p's) wrapped back to column 0,
    under the keys. Now every line of the list is a key, right-aligned in its
    column, two spaces, and what it does; or a continuation of that, which
    starts in the same column as the descriptions, never left of it."""
    app = play_app("--seed", "1")
    async with app.run_test(size=size) as pilot:
        await turn(pilot, 1)
        await pilot.press("f1")
        await pilot.pause()
        keys = app.screen.query_one("#help-keys")
        box = keys.content_region
        assert box.bottom <= app.screen.query_one("#help").content_region.bottom  # the whole list in view
        lines = [f"{row:<{box.right}}"[box.x:box.right].rstrip()
                 for row in rendered(app).splitlines()[box.y:box.bottom]]
        key_width = 12  # the keys right-aligned in 12 columns, then two spaces
        col = key_width + 2
        for line in lines:
            assert line[:col].strip() == line[:key_width].strip() and line[key_width:col] == "  " \
                and line[col:col + 1].strip(), (line, "\n".join(lines))
        continued = [line for line in lines if not line[:col].strip()]
        assert continued, "\n".join(lines)  # at this width some descriptions take two lines
        said = " ".join(" ".join(line[col:] if not line[:col].strip() else "\0" + line[col:] for line in lines)
                        .split()).split("\0")
        told = [b.description for b in app.screen.bindings if b.show and b.description]
        assert [w.strip() for w in said[1:]] == told  # each description whole, in order


async def test_the_help_explains_the_wood():
    app = play_app("--seed", "1")
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f1")
        await pilot.pause()
        about = str(app.screen.query_one("#help-about").content)
        for word in ("MAGISTRATE", "TIPS", "LOANS", "SPOILAGE", "Timber is burned", "net worth"):
            assert word in about, word


async def test_the_standings_say_which_round_they_are_after():
    """The standings tab says the moment it ranks, as `wood sim`'s standings
    do ("standings after round N"): in round 2's turn they are after round 1,
    not of the round being played; before any round closes, the start."""
    app = play_app("--seed", "1")
    async with app.run_test(size=(80, 24)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f5")
        await pilot.pause()
        assert re.search(r"│ standings at the start$", rendered(app), re.M), rendered(app)
        await pilot.press("f2")
        await turn(pilot, 2)
        await pilot.press("f5")
        await pilot.pause()
        shown = rendered(app)
        assert "standings after round 1" in shown and "after round 2" not in shown, shown
        assert re.search(r"│ #  +who +worth +mood$", shown, re.M), shown  # not "mood  co": coins scrolls in whole


async def test_at_80x24_the_strip_and_the_footer_are_whole():
    """At 80 columns the strip under the form named three of the five
    creatures (Hare and Squirrel were past the edge, unsaid), and the footer
    read "^q qu". The strip now counts who has decided when the names do not
    fit, and names them all when they do; the footer's keys sit closer under
    120 columns, quit whole."""
    app = play_app("--seed", "1")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await turn(pilot, 1)
        strip = screen.query_one("#strip")
        names = list(screen.status)
        for size in ((80, 24), (120, 40)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            said = str(strip.content)
            assert strip.content.cell_len <= strip.content_region.width, (size, said)
            assert all(n in said for n in names) or f"of {len(names)} have decided" in said, (size, said)
            lines = rendered(app).splitlines()
            assert said.strip() == lines[-2].strip(), (said, lines[-2])  # all of it on screen
            assert "^q quit" in lines[-1], lines[-1]
        assert all(n in said for n in names)  # at 120 columns: every name


# ---- the headless ends ----------------------------------------------------------------------
def wood(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wood_tui.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_sim_and_replay_verify_print_the_standings(tmp_path):
    save = tmp_path / "s.db"
    r = wood("sim", "--rounds", "5", "--seed", "2", "--quiet", "--save", str(save))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[-1].startswith("state hash: ")
    head = lines.index(f"standings after round 5 (net worth = {worth_rule(load_world())}):")
    ranks = [x.split(".")[0].strip() for x in lines[head + 1:-1]]
    assert ranks == ["1", "2", "3", "4", "5"]
    v = wood("replay", str(save), "--verify")
    assert v.returncode == 0, v.stderr
    assert lines[head:-1] == v.stdout.strip().splitlines()[1:-1]  # the same standings, rebuilt


@pytest.mark.parametrize("command", [["play", "--brains", "scripted"], ["watch", "--brains", "scripted", "--delay", "0"],
                                     ["replay", "{save}"]])
@pytest.mark.parametrize("stdin", ["/dev/null", "closed"])
def test_the_app_off_a_terminal_is_one_line_not_a_hang_or_a_traceback(tmp_path, command, stdin):
    """`wood play < /dev/null` (a script, a CI job) had drawn the screen into stderr and waited for keys
    forever; with stdin closed it was a traceback. The app needs a terminal: one line says so, exit 2,
    and no save is made."""
    save = tmp_path / "s.db"
    assert wood("sim", "--rounds", "2", "--quiet", "--save", str(save)).returncode == 0
    argv = [c.format(save=save) for c in command] + (["--save", str(tmp_path / "new.db")] if "--brains" in command
                                                       else [])
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL if stdin == "/dev/null" else None,
                       env={**os.environ, "WOOD_CONFIG_DIR": str(tmp_path / "config")},  # no introduction shown
                       preexec_fn=(lambda: os.close(0)) if stdin == "closed" else None)
    assert r.returncode == 2 and r.stdout == "", (r.returncode, r.stderr[-500:])
    assert r.stderr.startswith("wood: error: ") and r.stderr.count("\n") == 1 and "terminal" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.db"]


async def test_keys_typed_in_a_burst_land_in_the_fields_tab_moves_to():
    """A terminal over a slow link delivers keys in bursts, all queued before
    the app handles the first: `o s t 3 Tab 8 Enter` must still be qty 3 and
    price 8 (Tab moves the focus before the keys behind it are routed)."""
    app = play_app("--seed", "1", "--rounds", "3")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await turn(pilot, 1)
        done = {}
        closed = screen.closed_round
        screen.closed_round = lambda m: (done.__setitem__(m.round, m.decisions["Owl"].action), closed(m))
        for k in ("o", "s", "t", "3", "tab", "8", "enter"):  # straight into the driver's queue, as a burst
            key = events.Key(k, {"tab": "\t", "enter": "\r"}.get(k, k))
            key.set_sender(app)
            app._driver.send_message(key)
        await until(pilot, lambda: 1 in done, what="round 1 to close")
        assert done[1] == Action(action="offer", side="sell", good="timber", qty=3, price=8)
        await turn(pilot, 2)
        for keys, want in ((("a", "1", "tab", "2"), {"id": "1", "qty": "2"}),  # the move's fields shown at once
                           (("l", "tab", "3", "0", "tab", "2"), {"amount": "30", "rate": "2"}),
                           (("l", "3", "0", "tab", "2"), {"amount": "30", "rate": "2"})):  # a digit leaves `to` be
            form = screen.query_one(ActionForm)
            form.start(screen.active.view)
            await pilot.pause()
            for k in keys:
                key = events.Key(k, {"tab": "\t"}.get(k, k))
                key.set_sender(app)
                app._driver.send_message(key)
            await pilot.pause(0.3)
            assert {f: form.query_one(f"#{f}", Input).value for f in want} == want, keys


def test_play_and_watch_refuse_a_missing_save_or_a_bad_roster_before_taking_the_screen(tmp_path):
    """Found wrong before the app starts: one line on stderr, no screen drawn (no escape codes)."""
    (tmp_path / "one.toml").write_text('[[creatures]]\nname = "Owl"\nspecies = "owl"\nmodel = "scripted"\n')
    for argv, words in ((["play", "--resume", str(tmp_path / "nope.db")], "no save file at"),
                        (["watch", "--resume", str(tmp_path / "nope.db")], "no save file at"),
                        (["watch", "--roster", str(tmp_path / "one.toml")], "a market needs at least 2 creatures")):
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", *argv], cwd=ROOT, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=60)
        assert r.returncode == 2 and r.stdout == "", r.stdout[:200]
        assert r.stderr.startswith("wood: error: ") and words in r.stderr and "\x1b" not in r.stderr, r.stderr[:300]
        assert len(r.stderr.splitlines()) == 1


async def test_the_seat_sees_the_weather_the_round_it_comes():
    """Seed 12: a windfall of timber in round 2 (public weather): the seat's
    panel says so on its round-2 turn, not a round later."""
    app = play_app("--seed", "12", "--rounds", "3")
    async with app.run_test(size=(110, 40)) as pilot:
        screen = await turn(pilot, 1)
        assert "weather" not in rendered(app)
        await pilot.press("f2")
        screen = await turn(pilot, 2)
        assert [(s.good, s.pct) for s in screen.active.view.shocks] == [("timber", 100)]
        assert "weather timber: production +100%" in rendered(app)


async def test_a_number_field_takes_twelve_digits_and_the_preview_stands():
    """A held-down key or a pasted run of digits: Python will not print an int
    past 4,300 digits, and the preview multiplies two of them. The fields stop
    at 12 digits (far past any legal value); the engine's bounds say the rest."""
    app = play_app("--seed", "1", "--rounds", "2")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        for fid in ("qty", "price"):
            form.query_one(f"#{fid}", Input).focus()
            await pilot.press(*"9" * 40)
            assert form.query_one(f"#{fid}", Input).value == "9" * 12
        await pilot.pause()
        assert app.is_running and form.preview() is not None


NOT_TAKEN = "paste not taken: {} is a whole number of at most 12 digits (0-9)"  # the form's notice
KEY_NOT_TAKEN = NOT_TAKEN.replace("paste", "key")  # of a key typed


async def test_a_key_a_number_field_refuses_is_told_under_the_form():
    """A key typed in a number field that it refuses (a letter, a 13th digit,
    a dot) rang Textual's bell and nothing more: the player saw the key go
    nowhere. The form's notice line says why, as it does of a paste, until
    the form changes; the bell is not rung besides."""
    app = play_app("--seed", "1", "--rounds", "2")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        bells = []
        app.bell = lambda: bells.append(1)
        for fid, keys in (("qty", "7x"), ("price", "1" * 13), ("qty", "3.")):
            await fill(pilot, "offer", **{fid: keys})
            box = form.query_one(f"#{fid}", Input)
            assert box.value == keys[:-1] and form.problem == KEY_NOT_TAKEN.format(fid), (fid, box.value, form.problem)
            assert "✗ " + KEY_NOT_TAKEN.format(fid) in rendered(app)  # on screen, on one line at 80 columns
            box.value = ""  # the form changed: the notice goes
            await pilot.pause()
            assert form.problem is None and "not taken" not in rendered(app)
        assert not bells


async def test_a_paste_longer_than_the_line_keeps_what_fits():
    """A line pasted into `say` or a whisper past its 80 characters (from the
    terminal, or ctrl+v of what was copied in the app): what fits is kept
    (Textual's Input dropped the paste whole, and the field stayed empty
    without a word); a paste into a number field that would not fit is still
    refused whole (a number cut short is another number), and the form's
    notice line says so."""
    app = play_app("--seed", "1", "--rounds", "2")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        say = form.query_one("#say", Input)
        say.focus()
        say.post_message(events.Paste("ab" * 5000 + "\nsecond line"))
        await pilot.pause()
        assert say.value == "ab" * 40
        say.value, say.cursor_position = "hello ", 6
        say.post_message(events.Paste("x" * 100))
        await pilot.pause()
        assert say.value == "hello " + "x" * 74
        await fill(pilot, "whisper", to="Fox")
        words = form.query_one("#text", Input)
        words.focus()
        words.post_message(events.Paste("meet me " * 20))
        await pilot.pause()
        assert words.value == ("meet me " * 20)[:80]
        words.value = ""
        app.copy_to_clipboard("oak " * 30)  # ctrl+v: what was copied in the app
        await pilot.press("ctrl+v")
        assert words.value == ("oak " * 30)[:80]
        form.query_one("#kind", Select).value = "offer"
        await pilot.pause()
        qty = form.query_one("#qty", Input)
        qty.focus()
        qty.post_message(events.Paste("9" * 20))
        await pilot.pause()
        assert qty.value == ""
        assert NOT_TAKEN.format("qty") in rendered(app)  # said, on one line


async def test_a_paste_into_a_number_field_takes_a_plain_number_or_says_why_not():
    """A paste into a number field that was not digits alone (" 7 ", "7
    coins", "1e3") was dropped with a bell, the field as it was: the player
    saw nothing happen. A number with spaces at its ends is taken, as the
    command line reads one (`engine.flags.whole`); anything else is refused
    whole, and the form's notice line says why, until the form changes.
    Other scripts' digits ("٣", typed or pasted), which the field took and
    the form read as 3, are refused as the command line refuses them."""
    app = play_app("--seed", "1", "--rounds", "2")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        qty, price = form.query_one("#qty", Input), form.query_one("#price", Input)
        qty.focus()
        qty.post_message(events.Paste(" 7 \nmore"))
        await pilot.pause()
        assert qty.value == "7" and form.problem is None
        price.focus()
        app.copy_to_clipboard("\t12 ")  # ctrl+v: what was copied in the app
        await pilot.press("ctrl+v")
        assert price.value == "12" and form.action().price == 12
        for pasted in ("7 coins", "1e3", "٣", "3.5", "- 4"):
            qty.value = "5"
            qty.focus()
            await pilot.pause()
            qty.post_message(events.Paste(pasted))
            await pilot.pause()
            assert qty.value == "5" and form.problem == NOT_TAKEN.format("qty"), pasted
            assert NOT_TAKEN.format("qty") in rendered(app)
        await pilot.press("backspace", "3")  # the form changed: the notice goes
        await pilot.pause()
        assert qty.value == "3" and form.problem is None and "paste not taken" not in rendered(app)
        await pilot.press("٣")  # typed, another script's digit is not taken either, and the notice says so
        await pilot.pause()
        assert qty.value == "3" and form.problem == KEY_NOT_TAKEN.format("qty")
        qty.value = "٣"  # and were one there, it is not a number: not 3
        await pilot.pause()
        assert form.preview() is None
        with pytest.raises(ValueError, match="qty must be a whole number"):
            form.action()


@pytest.mark.parametrize("size", [(20, 6), (24, 24)])
async def test_the_action_list_pages_in_a_very_narrow_window(size):
    """In a window of 20-26 columns a list's options had no width: PageDown on
    the open action list raised KeyError (20x6) and opening it raised
    ValueError (24x24), the app gone in a traceback. The list pages as at
    80x24: PageDown then Enter picks its last move, PageUp its first."""
    app = play_app("--seed", "2", "--rounds", "3")
    async with app.run_test(size=size) as pilot:
        screen = await turn(pilot, 1)
        form = screen.query_one(ActionForm)
        await pilot.press("down", "pagedown", "enter")
        await pilot.pause()
        assert form.kind == KINDS[-1]
        await pilot.press("down", "pageup", "enter")
        await pilot.pause()
        assert form.kind == KINDS[0]
        assert app._exception is None and app.is_running


async def test_a_paste_of_escapes_and_control_bytes_is_the_line_the_engine_sends():
    """A line pasted into `say` with an escape sequence that clears a
    terminal, a bell, a hyperlink and a bidi override: the field keeps it as
    the engine will send it (they had stayed in the field and been drawn raw,
    the terminal obeying them, and what the field showed was not what was
    said); the words around it, and its spaces at the ends, are kept."""
    from wood_tui.messages import RoundClosed

    closed: list[RoundClosed] = []
    app = play_app("--seed", "1", "--rounds", "2")
    async with app.run_test(size=(80, 24), message_hook=lambda m: isinstance(m, RoundClosed) and closed.append(m)) \
            as pilot:
        screen = await turn(pilot, 1)
        say = screen.query_one(ActionForm).query_one("#say", Input)
        say.focus()
        await pilot.press(*"honey", "space")
        say.post_message(events.Paste("for \x1b[2J\x07sale \x1b]8;;https://evil.example/\x07here\x1b]8;;\x07\u202e cheap \nnext"))
        await pilot.pause()
        assert say.value == "honey for sale here cheap ", repr(say.value)
        drawn = "".join(seg.text for y in range(say.size.height) for seg in say.render_line(y))
        assert not any(c in drawn for c in "\x1b\x07\u202e"), repr(drawn)
        await pilot.press("f2")
        await until(pilot, lambda: closed, what="round 1 to close")
        assert closed[0].decisions["Owl"].action.say == "honey for sale here cheap"  # what the field showed


@pytest.mark.parametrize("kind, fields, words", [
    ("offer", {"side": "sell", "good": "timber", "qty": "0", "price": "5"}, "qty must be at least 1"),
    ("offer", {"side": "sell", "good": "timber", "qty": "3", "price": "99999"}, "price must be at most 10000"),
    ("lend", {"amount": "20", "rate": "500", "rounds": "3"}, "rate % must be at most 100"),
    ("lend", {"amount": "20", "rate": "5", "rounds": "99"}, "rounds must be at most 20"),
    ("short", {"good": "honey", "qty": "1", "price": "5", "rounds": "25"}, "rounds must be at most 10"),
])
async def test_a_number_out_of_bounds_is_refused_in_words_with_its_bound(kind, fields, words):
    """A qty of 0 or a price past the cap: the form says the bound, not
    pydantic's "input should be greater than or equal to 1"; a short's rounds
    past its cap, the short's bound (10), not a loan's (20: 25 rounds had been
    told "at most 20", and 15 then refused as "at most 10")."""
    app = play_app("--seed", "1", "--rounds", "2")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await turn(pilot, 1)
        form = await fill(pilot, kind, **fields)
        form.query_one("#say", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        told = str(form.query_one("#explain").content)
        assert told == f"✗ {words}", told
        assert screen.active is not None and not screen.active.answer.done()


def test_a_shared_hot_seat_introduction_tells_no_seat_its_own_grove():
    """Two owl seats in a wood of thirty: the introduction, on one screen for
    both, gives the kind's usual harvest, not either grove's share."""
    from engine.events import units_list
    from engine.groves import yields
    from engine.state import initial_state
    from engine.world import build_roster, load_world
    from wood_tui.screens.intro import intro_text
    world = load_world()
    state = initial_state(world, 3, build_roster(world, 30))
    makes = yields(state, world, 1)
    owls = [n for n, c in state.creatures.items() if c.species == "owl"]
    a, b = next((x, y) for x in owls for y in owls if x != y and dict(makes[x]) != dict(makes[y]))
    text = intro_text(world, [(a, "owl"), (b, "owl")], 100, makes).plain
    usual = units_list(world.species["owl"].produces, GOODS)  # "3 timber, 1 acorn"
    assert text.count(f"Its kind makes {usual} a round") == 2 and "You make" not in text


def test_play_with_a_roster_checks_its_seats_against_the_roster_before_taking_the_screen(tmp_path):
    """`wood play --roster R`: the seats are the roster's creatures (the default
    seat its first), so a name not in it, a case twin of one, or more seats than
    it has are one line before the app starts, not a screen and then an error
    (the default wood's Owl, Fox... had stood in for the roster's names)."""
    roster = tmp_path / "ab.toml"
    roster.write_text("".join(f'[[creatures]]\nname = "{n}"\nspecies = "{s}"\nmodel = "scripted"\n'
                              for n, s in (("Alice", "owl"), ("Bob", "fox"))))
    for argv, words in ((["--as", "Owl"], "there is no Owl in roster"),
                        (["--as", "alice"], "has 'Alice', and tells names apart ignoring case"),
                        (["--as", "Alice", "--species", "owl"], "Alice is already in roster"),
                        (["--seats", "3"], "more seats than creatures")):
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "play", "--roster", str(roster), *argv], cwd=ROOT,
                           capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                           env={**os.environ, "CI": "true"})
        assert r.returncode == 2 and r.stdout == "", (argv, r.stdout[-300:])
        assert r.stderr.startswith("wood: error: ") and words in r.stderr and "\x1b" not in r.stderr, r.stderr[:300]
        assert len(r.stderr.splitlines()) == 1


@pytest.mark.parametrize("argv,line", [
    (["--as", "\uff2f\uff57\uff4c", "--species", "owl"],  # a fullwidth Owl, a new creature beside Owl
     "--as \uff2f\uff57\uff4c: this wood has 'Owl', and tells names apart ignoring case and how Unicode spells a "
     "letter: use --as 'Owl'"),
    (["--as", "\uff2f\uff57\uff4c"],  # had said to add --species, which would then have been refused
     "--as \uff2f\uff57\uff4c: this wood has 'Owl', and tells names apart ignoring case and how Unicode spells a "
     "letter: use --as 'Owl'"),
    (["--as", "Wren", "--as", "wren", "--species", "owl"],
     "each --as names a different creature ('Wren' and 'wren' are one name, ignoring case and how Unicode spells a "
     "letter)"),
    (["--as", "\u00e9cole", "--as", "e\u0301cole", "--species", "owl"],  # printed raw, the two read alike
     "each --as names a different creature ('\\xe9cole' and 'e\\u0301cole' are one name, ignoring case and how "
     "Unicode spells a letter)"),
])
def test_play_seats_named_alike_are_refused_before_taking_the_screen(argv, line):
    """The seats' names were held apart from the wood's, and from each other,
    by case alone (or not at all): `--as Ｏｗｌ --species owl` and `--as Wren
    --as wren --species owl` passed the checks made before the screen, for the
    game to refuse them once the app had taken over (a model cannot tell such
    names apart). Each is one line before the app starts, by the wood's own
    rule (`engine.world.name_key`). Two seats' names are shown with their
    escapes, as the roster's check shows them: `école` and `e` + a combining
    accent had printed as the same word twice."""
    r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "play", "--brains", "scripted", *argv], cwd=ROOT,
                       capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                       env={**os.environ, "CI": "true", "PYTHONIOENCODING": "utf-8"})
    assert (r.returncode, r.stdout, r.stderr) == (2, "", f"wood: error: {line}\n"), (argv, r.stderr)


async def test_a_fitted_table_widens_to_what_it_holds_and_narrows_again_when_reset():
    """The holdings' bid column is 3 wide: a bid of 1000 widens it (at 3 it
    read "100"); a reset (a concealed seat) goes back to the narrowest widths."""
    from rich.text import Text

    from wood_tui.widgets.seat_panel import GoodsTable

    app = OneWidget(GoodsTable)
    async with app.run_test(size=(60, 8)) as pilot:
        table = app.query_one(GoodsTable)
        right = lambda x: Text(x, justify="right")  # noqa: E731
        table.fill([("honey", (Text("honey"), right("2"), right("1"), right("1000"), right("9"), right("8")))])
        await pilot.pause()
        assert table.widths["bid"] == 4 and table.widths["ask"] == GoodsTable.WIDTHS["ask"]
        assert "1000" in rendered(app)
        table.reset()
        assert table.widths == GoodsTable.WIDTHS and table.row_count == 0


def test_the_seat_panel_leaves_out_feelings_that_tell_nothing(world):
    """'you feel neutral about Fox' every round told a player nothing; the
    warm and cold lines stay (as a prompt leaves the neutral ones out too)."""
    from dataclasses import replace

    from engine.state import initial_state
    from engine.views import public_view
    from wood_tui.widgets.seat_panel import SeatPanel

    view = replace(public_view(initial_state(world, 7), world, "Owl"),
                   relations=("you trust Fox deeply", "you feel neutral about Hare", "you distrust Badger"))
    notes = SeatPanel._notes(view, GOODS).plain
    assert "you trust Fox deeply" in notes and "you distrust Badger" in notes
    assert "neutral" not in notes


async def test_after_the_last_round_the_panel_forecasts_no_weather(world):
    """Weather under way when the season ends had read 'until round 31' on the
    final panel, a round that never comes; during play it is shown."""
    from dataclasses import replace

    from engine.state import initial_state
    from engine.views import ShockView, public_view
    from wood_tui.widgets.seat_panel import SeatPanel

    view = replace(public_view(initial_state(world, 7), world, "Owl"), shocks=(ShockView("honey", -100, 31),))

    async def shown(after: bool) -> str:
        app = OneWidget(SeatPanel)
        async with app.run_test(size=(60, 30)) as pilot:
            app.query_one(SeatPanel).show(view, GOODS, after=after)
            await pilot.pause()
            return rendered(app)
    assert "until round 31" in await shown(False)
    assert "until round 31" not in await shown(True)


async def test_after_the_last_round_the_notes_do_not_say_yet(world):
    """The final panel's notes, with nothing in them, read "Nothing else to
    know yet.", as if more were to come after the season's end."""
    from engine.state import initial_state
    from engine.views import public_view
    from wood_tui.widgets.seat_panel import SeatPanel

    view = public_view(initial_state(world, 7), world, "Owl")

    async def notes(after: bool) -> str:
        app = OneWidget(SeatPanel)
        async with app.run_test(size=(60, 30)) as pilot:
            app.query_one(SeatPanel).show(view, GOODS, after=after)
            await pilot.pause()
            return str(app.query_one("#seat-notes").content)
    assert await notes(False) == "Nothing else to know yet."
    assert await notes(True) == "The season is over: nothing more to come."


async def test_a_defaulted_loan_is_shown_in_default_on_both_sides(world):
    """A loan not repaid when due showed only "due round N" (a round that
    moves on each round), never that it was in default: both sides say so."""
    from engine.state import Loan, initial_state
    from engine.views import public_view
    from wood_tui.widgets.seat_panel import SeatPanel

    state = initial_state(world, 7)
    state.round = 5
    for ln in (Loan(3, "Fox", "Owl", 10, 12, 5, defaulted=True), Loan(4, "Owl", "Hare", 8, 9, 5, defaulted=True),
               Loan(5, "Owl", "Badger", 10, 11, 6)):
        state.loans[ln.id] = ln
    view = public_view(state, world, "Owl")
    app = OneWidget(SeatPanel)
    async with app.run_test(size=(100, 30)) as pilot:
        app.query_one(SeatPanel).show(view, GOODS)
        await pilot.pause()
        notes = str(app.query_one("#seat-notes").content)
    assert "you owe Fox 12 coins, in default: part of your coins go to it each round" in notes, notes
    assert "Hare owes you 9 coins, in default: part of its coins come to you each round" in notes, notes
    assert "Badger owes you 11 coins, due round 6" in notes and notes.count("due round") == 1, notes


async def test_the_offers_tab_says_when_there_is_nothing_to_take():
    """Round 1's offers tab was an empty table: now a line says there are no
    offers from others yet and what to do; once others have posted, it goes."""
    app = play_app("--seed", "1")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await turn(pilot, 1)
        hint = screen.query_one("#book-empty")
        assert not screen.active.view.book and hint.display and "No offers from others yet" in rendered(app)
        await pilot.press("f2")
        screen = await turn(pilot, 2)
        assert screen.active.view.book and not hint.display and "No offers from others yet" not in rendered(app)


async def test_at_80x24_the_strip_is_whole_with_names_of_wide_letters(tmp_path):
    """Creatures named in wide letters (栗鼠, two cells each): the strip cut
    the leader's name to 16 characters, 32 cells, and the line ran past the
    80 columns, its end (who has decided) off the screen; names are cut by
    cells (the leader's to 16, or what leaves the counts room; each decider's
    to 12), its crowd number kept, the strip whole."""
    names = ["栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠 1", "栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠 2", "栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠栗鼠 3"]
    roster = tmp_path / "wood.toml"
    roster.write_text("".join(f'[[creatures]]\nname = "{n}"\nspecies = "{s}"\nmodel = "scripted"\n\n'
                              for n, s in zip(["Owl", *names], ["owl", "squirrel", "fox", "hare"])), encoding="utf-8")
    app = WoodApp(LiveGame(args("play", "--seed", "1", "--roster", str(roster)), (Seat("Owl"),)), pacer=Pacer(0.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        screen = await turn(pilot, 2)
        strip = screen.query_one("#strip")
        said = str(strip.content)
        assert "lead: 栗鼠" in said and "… " in said and strip.content.cell_len <= strip.content_region.width, said
        assert said.strip() == rendered(app).splitlines()[-2].strip(), said


async def test_between_rounds_the_seat_panel_says_the_next_harvests_grove_and_none_after_the_last():
    """Groves are drawn afresh every 24 rounds (`grove_rounds`). Between
    rounds the one seat's panel said this term's make even when the next
    round starts a new term (Owl, seed 1 of 10 creatures: 2 timber in rounds
    1-24, 4 from round 25), and in the last round and after the season "you
    make 1 acorn, 2 timber a round" with no harvest left. It says the next
    harvest's grove (`groves.next_yield`), and once none is left, so."""
    from engine.groves import yields

    app = play_app("--seed", "1", "--creatures", "10", "--rounds", "25")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = app.main

        def head() -> str:
            return str(screen.query_one("#seat-head").content).splitlines()[-1]
        for r in range(1, 25):
            await turn(pilot, r)
            if r == 24:
                app.pacer.paused = True  # held between rounds 24 and 25, the panel after round 24 on screen
            await pilot.press("f2")
        await until(pilot, lambda: screen.closed == 24 and "after round 24" in str(screen.query_one("#seat-head").content),
                    what="the panel after round 24")
        assert [dict(yields(screen.state, screen.world, r)["Owl"])["timber"] for r in (24, 25)] == [2, 4]
        assert head().startswith("you make 1 acorn, 4 timber a round"), head()  # the old panel: 2 timber
        app.pacer.toggle()
        screen = await turn(pilot, 25)
        assert head() == "no harvest is left this season", head()  # the last round: its harvest is in
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final screen")
        assert "after round 25" in str(screen.query_one("#seat-head").content)
        assert head() == "no harvest is left this season", head()


async def test_f8_before_the_season_ends_says_when_the_final_standings_come():
    """F8 (the final standings) in play before the season was over did
    nothing and said nothing; it says when they come and where the
    standings are now."""
    app = play_app("--seed", "1", "--rounds", "3")
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await turn(pilot, 1)
        await pilot.press("f8")
        await pilot.pause()
        assert app.screen is app.main
        said = [n.message for n in app._notifications if "final standings" in n.message]
        assert said == ["The final standings come at the season's end (after round 3); the standings now are under "
                        "F5."], said


async def test_a_seat_whose_mood_is_low_is_told_what_the_next_harvest_makes():
    """Owl gives its acorns away each round and its mood falls below 25 (the
    wood's `low_mood`), where the engine harvests one timber fewer (its
    kind's main good). The panel had said "(mood under 25: 1 timber fewer)"
    by the mood now, while the harvest that mood gave is already in its
    stores and the next one reads the mood after this round's meal (up 4
    fed, down 6 hungry): a round late (27 now, 21 after the meal: nothing
    said) or early (24 now, fed to 28), and after the season was over. It
    now says one fewer once even a full meal leaves the mood under 25, and
    what it hangs on while the meal decides; each turn's line is checked
    against the harvest the engine makes next."""
    from engine.groves import harvests

    app = play_app("--seed", "2", "--rounds", "16")
    maybe = "you make 1 acorn, 3 timber a round (1 timber fewer next round if your mood ends this round under 25)"
    sure = "you make 1 acorn, 2 timber a round (mood under 25 even after a full meal: 1 timber fewer next round)"
    said: dict[int, str] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        for r in range(1, 17):
            screen = await turn(pilot, r)
            view = screen.active.view
            head = str(screen.query_one("#seat-head").content).splitlines()[-1]
            if r > 1:  # the harvest this round made, by the line the turn before said
                made = harvests(screen.state, screen.world)["Owl"]["timber"]
                assert made == (2 if said[r - 1] == sure or said[r - 1] == maybe and view.mood < 25 else 3), (r, made)
            if r == 16:
                assert head == "no harvest is left this season", head  # the last round: no harvest to come
            elif view.mood + 4 < 25:
                assert head == sure, (view.mood, head)
            elif view.mood - 6 < 25:
                assert head == maybe, (view.mood, head)
            else:
                assert head == "you make 1 acorn, 3 timber a round", (view.mood, head)
            said[r] = head
            await fill(pilot, "gift", good="acorns", qty=str(view.holding("acorns") or 1), to="Fox")
            await pilot.press("enter")
        assert sure in said.values() and maybe in said.values()
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final screen")
        head = str(screen.query_one("#seat-head").content)
        assert "after round 16" in head and screen.state.creatures["Owl"].mood < 25 and "fewer" not in head, head


class HoneyBidder:
    """Fox: a bid for 9 honey at 11 in round 1 (a buyer for a short in round 2), then passes."""

    async def decide(self, view):
        if view.round == 1:
            return Decision(Action(action="offer", side="buy", good="honey", qty=9, price=11))
        return Decision(PASS)


async def test_the_final_line_of_a_seat_with_a_short_still_open_adds_up_to_its_worth(tmp_path):
    """Owl sells 2 honey short in round 2 (due in round 6) of a saved game, and
    the game is resumed to end in round 3: the short is open at the end, and
    counts in Owl's worth. The final screen's line for the seat names every
    part of that worth (it had said "worth 152 (90 coins, goods worth 54)",
    leaving out the short's 8)."""
    save = tmp_path / "g.db"
    app = play_app("--seed", "2", "--rounds", "8", "--save", str(save), extra_brains={"Fox": HoneyBidder()})
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 1)
        await pilot.press("f2")
        await turn(pilot, 2)
        await fill(pilot, "short", good="honey", qty="2", price="10", rounds="4")
        await pilot.press("enter")
        screen = await turn(pilot, 3)
        assert screen.active.view.shorts, screen.recaps.get("Owl")
        await pilot.press("ctrl+q")
    app = play_app("--resume", str(save), "--rounds", "3")
    async with app.run_test(size=(100, 32)) as pilot:
        await turn(pilot, 3)
        await pilot.press("f2")
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final screen")
        owl = next(r for r in app.screen.rows if r.name == "Owl")
        assert owl.shorts, owl
        line = str(app.screen.query_one("#final-seats").content)
        assert f"open shorts {owl.shorts}" in line, line
        worth, parts = re.search(r"worth (-?\d+) \((.*)\), mood", line).groups()
        signs = {"coins": 1, "goods worth": 1, "owed": 1, "debts": -1, "open shorts": 1}
        total = 0
        for part in parts.split(", "):
            m = re.fullmatch(r"(-?\d+) coins|(goods worth|owed|debts|open shorts) (-?\d+)", part)
            assert m, part
            total += int(m[1]) if m[1] else signs[m[2]] * int(m[3])
        assert total == int(worth) == owl.worth, line


async def test_a_key_tapped_twice_does_not_answer_the_next_turn_unseen_settle(monkeypatch):
    """With scripted traders a round closes at once: Owl's Enter (its offer)
    and a second key right behind it (F2, or Enter again) had made round 2's
    move too, a turn the player never saw. For a moment after a turn comes up
    (`MarketScreen.SETTLE_S`) a move or a pass is taken for the last turn's
    key and dropped, and the form says so (it had said nothing, and a player
    who did mean the key waited on a move never made); then the keys answer
    the turn as ever."""
    monkeypatch.setattr(MarketScreen, "SETTLE_S", 30.0)  # "a moment", however slow the machine
    app = play_app("--seed", "2", "--rounds", "4")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await turn(pilot, 1)
        screen.shown_at -= MarketScreen.SETTLE_S  # the player has looked at round 1 a while
        await fill(pilot, "offer", side="sell", good="timber", qty="1", price="9")
        await pilot.press("enter")
        await until(pilot, lambda: screen.closed == 1, what="round 1 closed")
        screen = await turn(pilot, 2)
        await pilot.press("f2")  # a stray key, behind the move
        await pilot.pause(0.2)
        notice = "✗ not taken: this turn had only just come up; do it again"
        assert str(screen.query_one("#explain").content) == notice
        await fill(pilot, "offer", qty="1")  # the form changed: the notice goes
        assert "not taken" not in str(screen.query_one("#explain").content)
        await pilot.press("enter")  # and Enter, the form's move, is told the same
        await pilot.pause(0.2)
        assert str(screen.query_one("#explain").content) == notice
        assert notice in rendered(app)  # on screen, whole
        assert screen.closed == 1 and screen.live is not None and screen.live.view.round == 2
        assert not screen.live.answer.done()
        screen.shown_at -= MarketScreen.SETTLE_S  # round 2 has been up a while: F2 passes it
        await pilot.press("f2")
        await turn(pilot, 3)
        assert screen.closed == 2


async def test_a_hot_seat_introduction_tells_of_every_seat_past_the_fourth(tmp_path):
    """Six seats at one keyboard: the introduction described the first four
    and said nothing of the other two, as if there were only four players;
    it names the rest, and says where each learns its trade."""
    names = ("Owl", "Fox", "Badger", "Hare", "Squirrel", "Owl 2")
    app = play_app("--seed", "1", "--creatures", "8", seats=tuple(Seat(n) for n in names), config=tmp_path)
    async with app.run_test(size=(100, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, IntroScreen), what="the introduction")
        text = app.screen.text.plain
    assert all(f"{n}, a" in text for n in names[:4]), text
    assert "Also at this keyboard: Squirrel (a squirrel), Owl 2 (an owl); each reads what it makes and needs on its turn" in text, text


async def test_a_move_clicked_or_chosen_in_the_palette_as_a_turn_comes_up_is_not_told_to_press_a_key_settle(monkeypatch):
    """A move dropped within `MarketScreen.SETTLE_S` of its turn coming up
    was told 'press the key again' however it came: a click on Act (a double
    click, the second landing on the next turn) or the palette's Pass had
    pressed no key. The line says to do it again, true of each."""
    monkeypatch.setattr(MarketScreen, "SETTLE_S", 30.0)  # "a moment", however slow the machine
    app = play_app("--seed", "2", "--rounds", "4")
    async with app.run_test(size=(100, 32)) as pilot:
        screen = await turn(pilot, 1)
        await fill(pilot, "offer", side="sell", good="timber", qty="1", price="9")
        await pilot.click("#act")
        await pilot.pause(0.2)
        shown = str(screen.query_one("#explain").content)
        assert shown == "✗ not taken: this turn had only just come up; do it again", shown
        assert "key" not in rendered(app).split("only just come up")[1].splitlines()[0]
        screen.query_one(ActionForm).explain("")  # the notice gone, the palette's Pass made within the moment
        await app.run_action("command_palette")
        await until(pilot, lambda: app.screen is not screen, what="the palette")
        await pilot.press(*"Pass", "enter")
        await until(pilot, lambda: app.screen is screen, what="the board")
        await pilot.pause(0.2)
        assert str(screen.query_one("#explain").content) == shown
        assert screen.live is not None and not screen.live.answer.done()


async def test_ctrl_v_into_the_command_palette_is_cleaned_as_a_paste_is():
    """ctrl+v in the command palette's search put the app's clipboard (a
    selection copied from the screen) in whole, newlines and control bytes
    too, where a paste there keeps its first line, cleaned; ctrl+v is
    cleaned the same."""
    from textual.command import CommandInput

    app = play_app("--seed", "1")
    async with app.run_test(size=(80, 24)) as pilot:
        await turn(pilot, 1)
        app.copy_to_clipboard("pa\x1b[2J\u202ess\x07\nsecond line")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.focused, CommandInput), what="the palette")
        await pilot.press("ctrl+v")
        await pilot.pause(0.3)
        assert app.focused.value == "pass"
        assert "\x1b" not in rendered(app) and "Pass" in rendered(app)
