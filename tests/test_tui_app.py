"""The app driven through Pilot: a human trades through the form and the
ledger records it; an impossible move is explained and corrected; hot-seat
privacy; hostile model text stays inert; pause and step; replay; setup
errors; and the pieces under them (HumanBrain, rules.check_action)."""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3

import pytest
from textual.widgets import Select

from engine.actions import PASS, Action, Reason
from engine.brains import Decision
from engine.brains.human import HumanBrain
from engine.errors import WoodError
from engine.ledger import Ledger
from engine.replay import NOT_REBUILT, Diverged, rebuild
from engine.rules import check_action, open_round
from engine.runner import Runner
from engine.state import initial_state
from engine.views import public_view
from engine.world import RosterEntry, build_roster
from tests.saves import new_save_removed_for_a_lock, taken_before_round_1
from tests.tui_harness import all_text, args, fill, rendered, svg_text, until
from wood_tui import safe
from wood_tui.app import WoodApp
from wood_tui.bridge import LiveGame, Pacer, RecordedGame, Seat
from wood_tui.game import run_app
from wood_tui.cli import main as wood
from engine.brains.scripted import scripted_brains
from wood_tui.options import RunOptions
from wood_tui.screens.curtain import CurtainScreen
from wood_tui.screens.market import MarketScreen
from wood_tui.widgets.action_form import KINDS, ActionForm

HOSTILE = ("[@click=app.quit]quit[/] [b]bold[/b] \x1b[31mred\x1b[0m "
           "\x1b]8;;https://evil.example/\x07link\x1b]8;;\x07 \u202eevil\u202c \x9b31m")


def play_app(*argv: str, seats: tuple[Seat, ...] = (), extra_brains: dict | None = None) -> WoodApp:
    """A `wood play` app with scripted counterparts; one seat, Owl, unless told."""
    game = LiveGame(args("play", "--brains", "scripted", *argv), seats or (Seat("Owl"),), extra_brains=extra_brains)
    return WoodApp(game, pacer=Pacer(0.0))


def watch_app(*argv: str, extra_brains=None, paused=True) -> WoodApp:
    game = LiveGame(args("watch", "--brains", "scripted", *argv), extra_brains=extra_brains)
    return WoodApp(game, pacer=Pacer(0.0, paused=paused))


async def every_seat_passes(pilot, names: tuple[str, ...], round_no: int = 1) -> None:
    """Hot-seat: each seat in turn lifts its curtain and passes its round."""
    app = pilot.app
    for name in names:
        await until(pilot, lambda n=name: isinstance(app.screen, CurtainScreen) and app.screen.seat == n)
        await pilot.press("enter")
        await turn_of(pilot, name, round_no)
        await pilot.press("f2")


async def curtain_of(pilot, seat: str) -> CurtainScreen:
    """`seat`'s curtain, once it is up: mounted, its `shown_at` set (a test
    that ages it before then is undone by its on_mount, and the Enter that
    follows is taken for the last player's key)."""
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, CurtainScreen) and app.screen.seat == seat
                and app.screen.shown_at > 0, what=f"{seat}'s curtain up")
    return app.screen


async def turn_of(pilot, name: str, round_no: int) -> MarketScreen:
    screen = pilot.app.main
    await until(pilot, lambda: screen.active is not None and screen.active.view.name == name
                and screen.active.view.round == round_no, what=f"{name}'s turn in round {round_no}")
    return screen



# ---- play -------------------------------------------------------------------
async def test_human_trade_is_recorded(tmp_path):
    save = tmp_path / "run.db"
    app = play_app("--seed", "1", "--rounds", "3", "--save", str(save))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await turn_of(pilot, "Owl", 1)
        await fill(pilot, "offer", side="sell", good="timber", qty="3", price="1", say="cheap timber!")
        await pilot.click("#act")
        await until(pilot, lambda: screen.closed >= 1, what="round 1 to close")
    with sqlite3.connect(save) as con:
        (action,) = con.execute("SELECT action FROM actions WHERE round = 1 AND creature = 'Owl'").fetchone()
        rows = con.execute("SELECT data FROM events WHERE kind IN ('trade', 'offer_placed') AND round = 1").fetchall()
    assert json.loads(action) == {"action": "offer", "side": "sell", "good": "timber", "qty": 3, "price": 1,
                                  "say": "cheap timber!"}
    # sold at once to a standing bid, or standing as Owl's offer: either way, in the ledger
    assert any(('"seller": "Owl"' in d or '"owner": "Owl"' in d) and '"good": "timber"' in d for (d,) in rows), rows


async def test_impossible_move_is_explained_and_corrected():
    app = play_app("--seed", "1")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await turn_of(pilot, "Owl", 1)
        await fill(pilot, "offer", side="sell", good="timber", qty="99", price="5")
        await pilot.press("enter")
        await pilot.pause()
        assert f"not enough goods: you hold {screen.active.view.holding('timber')} timber" in rendered(app)
        assert screen.active is not None and not screen.active.answer.done()  # still Owl's turn
        await fill(pilot, "accept", id="12345")
        await pilot.click("#act")
        await pilot.pause()
        assert "no standing offer #12345" in rendered(app)
        form = screen.query_one(ActionForm)
        form.query_one("#kind", Select).value = "pass"
        await pilot.pause()
        await pilot.click("#act")
        await turn_of(pilot, "Owl", 2)


async def test_selecting_an_offer_fills_an_accept():
    app = play_app("--seed", "1")
    async with app.run_test(size=(120, 40)) as pilot:
        await turn_of(pilot, "Owl", 1)
        await pilot.press("f2")
        screen = await turn_of(pilot, "Owl", 2)
        first = screen.active.view.book[0]
        screen.query_one("#book").focus()
        await pilot.press("enter")
        form = screen.query_one(ActionForm)
        assert form.query_one("#kind", Select).value == "accept"
        v = screen.active.view
        can = min(first.qty, v.coins // first.price if first.side == "sell" else v.holding(first.good))
        assert form.action() == Action(action="accept", id=first.id, qty=can or first.qty)


async def test_hot_seat_keeps_each_seat_private():
    # seed 39: in round 1 a tip reaches Fox only ("a storm brings down a windfall of timber in 2 rounds")
    secret = "windfall"  # one word: a wrapped line cannot hide it
    app = play_app("--seed", "39", seats=(Seat("Fox"), Seat("Owl")))
    async with app.run_test(size=(100, 32), notifications=True) as pilot:
        for round_no in (1, 2):
            await until(pilot, lambda: isinstance(app.screen, CurtainScreen) and app.screen.seat == "Fox",
                        what="Fox's curtain")
            assert secret not in all_text(app)
            await pilot.press("enter")
            await turn_of(pilot, "Fox", round_no)
            await pilot.pause()
            assert secret in rendered(app)  # Fox sees its own tip
            await fill(pilot, "pass", say="hush")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, CurtainScreen) and app.screen.seat == "Owl",
                        what="Owl's curtain")
            assert secret not in all_text(app)
            await pilot.press("enter")
            await turn_of(pilot, "Owl", round_no)
            await pilot.pause()
            assert secret not in all_text(app)
            if round_no == 1:  # nor Fox's move: its say line is public only once the round closes
                assert "hush" not in all_text(app)
            await pilot.press("f2")
            await until(pilot, lambda r=round_no: app.main.closed >= r, what=f"round {round_no} to close")


class SlowPass:
    """A creature that takes its time (a model would): the round waits on it."""
    def __init__(self):
        self.go = asyncio.Event()

    async def decide(self, view):
        await self.go.wait()
        return Decision(PASS)


async def test_a_finished_turn_leaves_nothing_of_it_in_the_form():
    """While the others still think, the form of a seat that has moved shows
    nothing of its move: not whom it whispered to, not the tip it passed on
    (in hot-seat play the next player is at the keyboard)."""
    slow = SlowPass()
    app = play_app("--seed", "39", seats=(Seat("Fox"),), extra_brains={"Badger": slow})
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.main.active is not None and app.main.active.view.tips, what="Fox's tip")
        tip = app.main.active.view.tips[0]
        form = await fill(pilot, "whisper", to="Owl", tip=tip.id)
        assert form.query_one("#tip", Select).value == tip.id
        await pilot.click("#act")
        await until(pilot, lambda: form.disabled, what="the turn to end")
        await pilot.pause()
        assert form.kind == "offer"
        assert form.query_one("#to", Select).is_blank() and form.query_one("#tip", Select).is_blank()
        assert f"#{tip.id} {tip.good}" not in all_text(app)
        slow.go.set()


async def test_a_curtain_that_just_went_up_does_not_take_the_last_players_key_settle(monkeypatch):
    """Owl passes and presses Enter once more (a key held, a double press): that
    Enter must not lift Fox's curtain, and the curtain says why it stays;
    Fox's own Enter, a moment later, does."""
    monkeypatch.setattr(CurtainScreen, "SETTLE_S", 30.0)  # "a moment", however slow the machine
    app = play_app("--seed", "3", seats=(Seat("Owl"), Seat("Fox")))
    async with app.run_test(size=(100, 32)) as pilot:
        await curtain_of(pilot, "Owl")
        app.screen.shown_at -= CurtainScreen.SETTLE_S  # Owl's curtain has been up a while
        await pilot.press("enter")
        await turn_of(pilot, "Owl", 1)
        app.main.shown_at -= MarketScreen.SETTLE_S  # and has looked at its turn a while
        await pilot.press("f2")  # pass,
        curtain = await curtain_of(pilot, "Fox")
        wait = "That key came as the curtain went up, and did not lift it: press enter again."
        assert wait not in rendered(app)
        await pilot.press("enter")  # and an Enter too many
        await pilot.pause()
        assert app.screen is curtain and app.main.me is None  # nothing of Fox's is shown
        assert wait in rendered(app)  # and the curtain says why it stays (it had said nothing)
        app.screen.shown_at -= CurtainScreen.SETTLE_S  # Fox sits down
        reveal = app.screen.query_one("#reveal")
        await until(pilot, lambda: not reveal.has_class("-active"), what="the button's own pause between presses")
        await pilot.press("enter")
        await until(pilot, lambda: app.main.me == "Fox", what="Fox's turn shown")


async def test_a_click_on_a_curtain_that_just_went_up_is_said_as_a_click_settle(monkeypatch):
    """Owl passes, and a click lands on Fox's curtain's button as it goes up:
    it does not lift it, and the curtain says a click came, not a key (it had
    said 'That key came ... press enter again'); Fox's own click, a moment
    later, lifts it."""
    monkeypatch.setattr(CurtainScreen, "SETTLE_S", 30.0)  # "a moment", however slow the machine
    app = play_app("--seed", "3", seats=(Seat("Owl"), Seat("Fox")))
    async with app.run_test(size=(100, 32)) as pilot:
        await curtain_of(pilot, "Owl")
        app.screen.shown_at -= CurtainScreen.SETTLE_S
        await pilot.press("enter")
        await turn_of(pilot, "Owl", 1)
        app.main.shown_at -= MarketScreen.SETTLE_S
        await pilot.press("f2")  # Owl passes,
        curtain = await curtain_of(pilot, "Fox")
        assert await pilot.click("#reveal")  # and a click comes as Fox's curtain goes up
        await pilot.pause()
        assert app.screen is curtain and app.main.me is None  # nothing of Fox's is shown
        text = rendered(app)
        assert "That click came as the curtain went up, and did not lift it: click again." in text
        assert "That key came" not in text and "press enter" not in text
        app.screen.shown_at -= CurtainScreen.SETTLE_S  # Fox sits down
        reveal = app.screen.query_one("#reveal")
        await until(pilot, lambda: not reveal.has_class("-active"), what="the button's own pause between presses")
        assert await pilot.click("#reveal")
        await until(pilot, lambda: app.main.me == "Fox", what="Fox's turn shown")


async def test_what_a_seat_copied_is_not_the_next_seats_to_paste():
    """Owl types a whisper, copies it (ctrl+c) and passes: behind Fox's
    curtain the app's clipboard is empty, and ctrl+v in Fox's form pastes
    nothing of Owl's."""
    secret = "meet me at the oak"
    app = play_app("--seed", "3", seats=(Seat("Owl"), Seat("Fox")))
    async with app.run_test(size=(100, 32)) as pilot:
        await curtain_of(pilot, "Owl")
        app.screen.shown_at -= CurtainScreen.SETTLE_S
        await pilot.press("enter")
        screen = await turn_of(pilot, "Owl", 1)
        await fill(pilot, "whisper", to="Fox", text=secret)
        await pilot.press("home", "shift+end", "ctrl+c")
        assert app.clipboard == secret
        await pilot.press("f2")
        await curtain_of(pilot, "Fox")
        assert app.clipboard == ""
        app.screen.shown_at -= CurtainScreen.SETTLE_S
        await pilot.press("enter")
        await turn_of(pilot, "Fox", 1)
        screen.query_one("#say").focus()
        await pilot.press("ctrl+v")
        await pilot.pause()
        assert secret not in all_text(app)


async def test_a_seats_toasts_go_with_its_turn(tmp_path, monkeypatch):
    """A toast raised in Owl's turn (here: its screenshot of its own screen,
    not taken) is not on Fox's curtain, nor in Fox's turn."""
    downloads(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    app = play_app("--seed", "3", seats=(Seat("Owl"), Seat("Fox")))
    async with app.run_test(size=(100, 32), notifications=True) as pilot:
        await curtain_of(pilot, "Owl")
        app.screen.shown_at -= CurtainScreen.SETTLE_S
        await pilot.press("enter")
        await turn_of(pilot, "Owl", 1)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"screenshot", "enter")
        await until(pilot, lambda: any("creenshot" in n.title + n.message for n in app._notifications),
                    what="the screenshot's toast")
        await pilot.press("f2")
        await curtain_of(pilot, "Fox")
        await pilot.pause()
        assert "creenshot" not in all_text(app)
        app.screen.shown_at -= CurtainScreen.SETTLE_S
        await pilot.press("enter")
        await turn_of(pilot, "Fox", 1)
        await pilot.pause()
        assert "creenshot" not in all_text(app)


async def test_the_small_windows_toast_outlasts_a_seats_turn():
    """In a window too small, the toast that says so went with the first
    seat's toasts as its turn ended, and resized smaller still behind the
    next curtain (its button off screen) the window was not said to be
    small again. It is no seat's: it stays, and says the size it is now."""
    app = play_app("--seed", "3", seats=(Seat("Owl"), Seat("Fox")))
    async with app.run_test(size=(60, 20), notifications=True) as pilot:
        await curtain_of(pilot, "Owl")
        await pilot.press("enter")
        await turn_of(pilot, "Owl", 1)
        await pilot.press("f2")
        await curtain_of(pilot, "Fox")
        await pilot.pause()
        assert [n.message.split(";")[0] for n in app._notifications] == ["The window is 60x20"]
        await pilot.resize_terminal(40, 10)
        await pilot.pause()
        assert [n.message.split(";")[0] for n in app._notifications] == ["The window is 40x10"]


def downloads(tmp_path, monkeypatch):
    """Where Textual saves a screenshot (the user's Downloads folder), moved under `tmp_path`."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user-dirs.dirs to point elsewhere
    (tmp_path / "Downloads").mkdir()
    return tmp_path / "Downloads"


async def test_no_screenshot_keeps_a_seats_turn_on_disk_in_hot_seat_play(tmp_path, monkeypatch):
    """Textual's screenshot (the palette's, or the action a key may be bound
    to) writes the screen to a file: in Fox's turn that file would hold Fox's
    private tip for the next player to open, and the toast saying where went
    with Fox's turn. In hot-seat play a seat's turn is not saved, and the seat
    is told so; between turns (the curtain up) a screenshot is saved as ever,
    and nothing of Fox's is in it."""
    saved = downloads(tmp_path, monkeypatch)
    monkeypatch.chdir(tmp_path)
    secret = "windfall"  # seed 39: Fox's private tip in round 1
    app = play_app("--seed", "39", seats=(Seat("Fox"), Seat("Owl")))
    async with app.run_test(size=(100, 32), notifications=True) as pilot:
        await curtain_of(pilot, "Fox")
        app.screen.shown_at -= CurtainScreen.SETTLE_S
        await pilot.press("enter")
        await turn_of(pilot, "Fox", 1)
        await pilot.pause()
        assert secret in rendered(app)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"screenshot", "enter")
        await until(pilot, lambda: any("screenshot not taken" in n.title for n in app._notifications),
                    what="the refusal")
        app.action_screenshot()  # as a key bound to it would
        await pilot.pause(0.3)  # a file, had one been written, is written by a thread
        assert not list(tmp_path.rglob("*.svg"))
        said = [n.message for n in app._notifications if n.title == "screenshot not taken"]
        assert len(said) == 2 and "hot-seat" in said[0], said
        await pilot.press("f2")
        await curtain_of(pilot, "Owl")
        app.action_screenshot()  # the curtain: nothing private to keep
        await until(pilot, lambda: list(saved.glob("*.svg")), what="the curtain's screenshot")
        await until(pilot, lambda: any(n.title == "Screenshot" for n in app._notifications), what="its toast")
        shot = svg_text(next(saved.glob("*.svg")).read_text())
        assert "Pass the keyboard to Owl" in shot and secret not in shot, shot


@pytest.mark.parametrize("size", [(40, 12), (60, 20)])
async def test_a_narrow_curtain_still_says_whose_turn_it_is(size):
    """The curtain's lines wrap in a narrow terminal: whose turn it is and
    that what follows is private are never cut off at the edge."""
    app = play_app("--seed", "3", seats=(Seat("Owl"), Seat("Fox")))
    async with app.run_test(size=size) as pilot:
        await curtain_of(pilot, "Owl")
        await pilot.pause()
        shown = " ".join(rendered(app).split())
        assert "Pass the keyboard to Owl" in shown and "what follows is private." in shown, shown


async def test_a_narrow_curtain_tells_apart_long_names_that_differ_at_the_end():
    """Two seats of 40 letters, one word each, alike but for the last: at
    40x12 the curtain names the seat whose turn it is so that it cannot be
    taken for the other, and says whole that what follows is private and what
    the button does (the name had run off the edge, "Pass the keyboard to
    Abcdefghijklmnopqrs" for either seat, and taken the note's end with it)."""
    first, second = "Abcdefghijklmnopqrstuvwxyzabcdefghijklm" + "A", "Abcdefghijklmnopqrstuvwxyzabcdefghijklm" + "B"
    app = play_app("--seed", "3", seats=(Seat(first, "owl"), Seat(second, "owl")))
    async with app.run_test(size=(40, 12)) as pilot:
        await curtain_of(pilot, first)
        await pilot.pause()
        shown = " ".join(rendered(app).split())
        mine, theirs = safe.name(first).plain, safe.name(second).plain
        assert mine != theirs
        assert f"Pass the keyboard to {mine}" in shown and theirs not in shown, shown
        assert f"Everyone but {mine} please look away: what follows is private." in shown, shown
        assert f"I am {mine} — show my turn" in shown, shown


async def test_behind_a_curtain_no_game_command_answers_the_hidden_turn():
    """With Fox's curtain up, the command palette offers no game command (its
    Pass would answer Fox's turn unseen), and F2 or a pass from anywhere does
    nothing; lifted, the turn is Fox's and shows Fox's panel."""
    app = play_app("--seed", "3", seats=(Seat("Owl"), Seat("Fox")))
    async with app.run_test(size=(100, 32)) as pilot:
        await curtain_of(pilot, "Owl")
        await pilot.press("enter")
        await turn_of(pilot, "Owl", 1)
        await pilot.press("f2")
        await curtain_of(pilot, "Fox")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Pass" not in titles and "Offers" not in titles, titles
        assert "Pass" in [c.title for c in app.get_system_commands(app.main)]  # on the play screen itself
        app.main.action_pass_turn()
        await pilot.press("f2")
        await pilot.pause()
        fox = app.main.active
        assert fox is not None and fox.view.name == "Fox" and not fox.answer.done()
        assert isinstance(app.screen, CurtainScreen) and app.main.me is None  # nothing of Fox's is shown yet
        await pilot.press("enter")
        await turn_of(pilot, "Fox", 1)
        assert app.main.me == "Fox" and not fox.answer.done()


# ---- hostile text -------------------------------------------------------------
class HostileBrain:
    async def decide(self, view):
        return Decision(Action(action="pass", say=HOSTILE), outcome="rejected", reason=HOSTILE, raw=HOSTILE)


class HostileFault:
    async def decide(self, view):
        return Decision(PASS, outcome="fault", reason=f"fault: {HOSTILE}")


async def test_hostile_model_text_is_inert():
    app = watch_app("--seed", "2", extra_brains={"Owl": HostileBrain(), "Fox": HostileFault()})
    async with app.run_test(size=(160, 48), notifications=True) as pilot:
        await until(pilot, lambda: app.main.closed == 1, what="round 1")
        await pilot.pause()
        svg = app.export_screenshot()
        screen = rendered(app)
        assert "[@click=app.quit]quit[/] [b]bold[/b]" in screen  # shown literally, on the panel
        assert "\x1b" not in svg and "\x9b" not in svg and "\u202e" not in svg
        assert "evil.example" not in svg  # the OSC 8 hyperlink is dropped, not followed
        assert "fault" in rendered(app)


async def record(path, world, roster, seed: int, rounds: int, planned: int | None = None) -> None:
    """A saved run of scripted traders (`planned`: the rounds it was set to play, where it stopped short of them)."""
    ledger = Ledger.create(path, seed=seed, roster=roster, brains="scripted", rounds=planned)
    runner = Runner(world, initial_state(world, seed, roster, end=planned or 0), scripted_brains(roster, seed), ledger=ledger)
    for _ in range(rounds):
        await runner.play_round()
    ledger.close()


async def test_hostile_names_from_a_ledger_roster_are_inert(tmp_path, world):
    evil = "[@click=app.quit]Mallory\x1b[31m\u202e"
    save = tmp_path / "evil.db"
    await record(save, world, [RosterEntry(evil, "owl", "cautious"), *build_roster(world, 3)], 5, 3)
    app = WoodApp(RecordedGame(Ledger.open(save)), pacer=Pacer(0.0))
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.main.closed == 3, what="the replay's 3 rounds")
        # the season's end brings the final ranking, names and all; Escape goes back to the board
        await until(pilot, lambda: "[@click=app.quit]Mallory" in rendered(app), what="the final ranking")
        for _ in range(2):
            svg = app.export_screenshot()
            assert "[@click=app.quit]Mallory" in rendered(app)
            assert "\x1b" not in svg and "\u202e" not in svg
            assert app.is_running
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.main, what="the board again")
        assert "replay · round 3/3" in rendered(app)


# ---- the spectator's controls, replay, errors ------------------------------------
async def test_pause_step_and_resume():
    app = watch_app("--seed", "4", "--rounds", "6")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.main
        await until(pilot, lambda: screen.closed == 1, what="round 1")
        await pilot.pause(0.2)
        assert screen.closed == 1  # paused: no round 2 on its own
        await pilot.press("n")
        await until(pilot, lambda: screen.closed == 2, what="one step")
        await pilot.pause(0.2)
        assert screen.closed == 2
        await pilot.press("minus", "plus", "plus")  # slower, then back to full speed
        await pilot.press("space")
        await until(pilot, lambda: screen.closed == 6, what="the run to its end")
        assert "round 6/6 · over" in rendered(app)


async def test_replay_of_a_saved_run(tmp_path, world):
    save = tmp_path / "run.db"
    await record(save, world, build_roster(world), 9, 4)
    ledger = Ledger.open(save)
    app = WoodApp(RecordedGame(ledger), pacer=Pacer(0.0))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.main.closed == 4, what="4 replayed rounds")
        # the season's end brings the final ranking: read once it is up (not while it mounts)
        await until(pilot, lambda: type(app.screen).__name__ == "FinalScreen", what="the final ranking")
        await pilot.pause()
        text = all_text(app)
        assert "replay · round 4/4" in text and " sold " in text
        await pilot.press("q")  # quits from the final ranking too, as the help says q does
        await pilot.pause()
        assert app.return_code is not None
    ledger.close()


async def test_replay_of_a_run_stopped_early_names_no_winner_and_says_where_its_record_ends(tmp_path, world):
    """A save of a run set to play 12 rounds that stopped after 4 (killed, or
    its model gone): its replay had said 'round 4/4', 'The season is over:
    final standings' and 'Hare wins', none of it true. It says round 4/12,
    that the record ends there short of the season's end, and who leads."""
    save = tmp_path / "run.db"
    await record(save, world, build_roster(world), 9, 4, planned=12)
    ledger = Ledger.open(save, readonly=True)
    app = WoodApp(RecordedGame(ledger), pacer=Pacer(0.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "FinalScreen", what="the last standings")
        await pilot.pause()
        text = rendered(app)
        leader = app.screen.rows[0].name
        assert "replay · round 4/12 · end of the record" in text, text
        assert "The record ends here: its last standings" in text
        assert f"{leader} leads with a net worth of" in text and "of the 12 its run was set to play." in text, text
        assert " wins " not in all_text(app) and "The season is over" not in all_text(app)
        palette = {c.title: c.help for c in app.get_system_commands(app.main)}
        assert "Final standings" not in palette and "short of the season's end" in palette["Last standings"]
    ledger.close()


async def test_replay_of_a_save_with_no_round_says_it_holds_none(tmp_path, world):
    """A save left with no round committed (its run killed at once) replayed
    said 'The record ends after round 0', a round no run plays; it says the
    record holds none of its rounds, and that the standings are its start."""
    save = tmp_path / "run.db"
    Ledger.create(save, seed=9, roster=build_roster(world), brains="scripted", rounds=12).close()
    ledger = Ledger.open(save, readonly=True)
    app = WoodApp(RecordedGame(ledger), pacer=Pacer(0.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "FinalScreen", what="the standings at the start")
        await pilot.pause()
        assert app.screen.note == ("the record holds none of the 12 rounds its run was set to play: these are the "
                                   "standings at its start")
        assert "round 0" not in app.screen.query_one("#final-title").render().plain
    ledger.close()


async def test_a_finished_save_resumed_in_play_shows_its_final_standings_and_no_introduction(tmp_path, world):
    """`wood play --resume` of a save with every round played, on a first
    game: the introduction ('Start playing (enter)') came up under the final
    standings and was there once they were closed, for a game with nothing
    left to play. The final standings alone show, and escape goes to the board,
    whose strip says the season is over (it had read '0 of 5 have decided')."""
    from wood_tui.screens.final import FinalScreen
    from wood_tui.screens.intro import IntroScreen

    save = tmp_path / "run.db"
    await record(save, world, build_roster(world), 9, 2, planned=2)
    app = WoodApp(LiveGame(args("play", "--resume", str(save)), (Seat("Owl"),)), pacer=Pacer(0.0), intro=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, FinalScreen), what="the final standings")
        await pilot.pause()
        assert not any(isinstance(s, IntroScreen) for s in app.screen_stack)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main, what="the board")
        shown = rendered(app)
        assert "Start playing" not in shown
        assert "have decided" not in shown and "the season is over" in shown.splitlines()[-2], shown


async def test_replay_of_a_changed_save_stops_where_the_record_stops_rebuilding(tmp_path, world):
    """A save edited by hand (one creature's action in round 5 made a pass)
    is played up to round 4 and stops there with one line, as `--verify`
    fails it at round 5: no later round, no warning per round, and no final
    ranking naming a winner the record does not have."""
    save = tmp_path / "run.db"
    await record(save, world, build_roster(world), 9, 12)
    with sqlite3.connect(save) as con:
        who = con.execute("SELECT creature FROM actions WHERE round = 5 AND action NOT LIKE '%pass%' "
                          "ORDER BY creature").fetchone()[0]
        con.execute("UPDATE actions SET action = ? WHERE round = 5 AND creature = ?", (json.dumps(PASS.compact()), who))
    ledger = Ledger.open(save, readonly=True)
    with pytest.raises(Diverged, match="round 5"):
        rebuild(ledger, world, verify_each=True)
    app = WoodApp(RecordedGame(ledger), pacer=Pacer(0.0))
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await until(pilot, lambda: app.ready, what="the replay to start")
        await until(pilot, lambda: not any(w.group == "engine" and w.is_running for w in app.workers),
                    what="the replay to end")
        await pilot.pause()
        stop = f"the record stops rebuilding at round 5: replay stopped ({NOT_REBUILT})"
        assert app.main.closed == 4
        assert [n.message for n in app._notifications] == [stop]  # one line, not one per later round
        assert app.main.sub_title == f"replay · round 4/12 · {stop}"
        assert app.screen is app.main and app.main.final is None  # no final ranking
        text = all_text(app)
        assert " wins with " not in text and "end of the record" not in text and "final standings" not in text
    ledger.close()


async def test_setup_error_ends_the_app_and_is_said_once_it_has_gone(tmp_path):
    """An error found while the game is set up (here: the roster file is missing)
    ends the app; the command says it in one line once the screen is given back
    (`run_app`), never wrapped to the app's width."""
    app = WoodApp(LiveGame(RunOptions.parse("watch", ["--roster", str(tmp_path / "none.toml")])), pacer=Pacer(0.0))
    async with app.run_test() as pilot:
        await until(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.return_code == 2 and not app._exit_renderables  # nothing printed by the app itself
    assert isinstance(app.fatal, WoodError) and "not found" in str(app.fatal)
    with pytest.raises(WoodError, match="not found"):
        run_app(type("Ran", (), {"run": lambda self: None, "fatal": app.fatal, "return_code": 2})())


def test_play_flags_are_checked():
    assert wood(["play", "--brains", "scripted", "--as", "Robin"]) == 2
    assert wood(["play", "--brains", "scripted", "--as", "Owl", "--as", "Fox", "--seats", "1"]) == 2
    assert wood(["play", "--brains", "scripted", "--as", "Robin", "--species", "dragon"]) == 2
    assert wood(["play", "--brains", "scripted", "--as", "owl", "--species", "owl"]) == 2  # Owl, to a model


def test_names_that_differ_only_in_case_are_twins():
    from engine.world import twin_name

    assert twin_name(["Owl", "Fox", "owl"]) == ("Owl", "owl")
    assert twin_name(["Owl", "Fox", "Owl 2"]) is None and twin_name([]) is None
    # spelt alike, printed alike: é as one character or as e and an accent, fullwidth letters
    assert twin_name(["\u00e9cole", "e\u0301cole"]) == ("\u00e9cole", "e\u0301cole")
    assert twin_name(["Owl", "\uff2f\uff37\uff2c"]) == ("Owl", "\uff2f\uff37\uff2c")


async def test_new_creature_joins_as_a_seat():
    app = play_app("--seed", "1", seats=(Seat("Robin", "badger"),))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await turn_of(pilot, "Robin", 1)
        assert screen.active.view.species == "badger"
        assert "Robin" in rendered(app)


async def test_the_form_never_tells_what_another_creature_privately_holds():
    """Accepting an offer its owner can no longer fill is not refused under
    the form (that would tell the seat, for free, what the owner holds): the
    move is made, and the engine's refusal costs the turn, as anyone's would."""
    app = play_app("--seed", "1")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await turn_of(pilot, "Owl", 1)
        await pilot.press("f2")
        screen = await turn_of(pilot, "Owl", 2)
        view = screen.active.view
        offer = next(o for o in view.book if o.owner != "Owl" and (o.side == "sell" or view.holding(o.good)))
        owner = app.game._relay.open_state.creatures[offer.owner]
        if offer.side == "sell":
            owner.goods[offer.good] = 0  # it sold out meanwhile
        else:
            owner.coins = 0  # it spent its coins meanwhile
        assert check_action(app.game._relay.open_state, app.game.world, "Owl",
                            Action(action="accept", id=offer.id, qty=1))[0] == Reason.OFFER_UNFUNDED
        form = await fill(pilot, "accept", id=str(offer.id), qty="1")
        await pilot.click("#act")
        await until(pilot, lambda: form.disabled, what="the turn to be spent")
        assert "cannot honour" not in all_text(app)


async def test_a_pact_proposed_to_another_is_public_so_the_form_says_so_at_once():
    """Pacts proposed are news (the public record names both): accepting one
    meant for someone else is refused under the form, the turn not spent."""
    from engine.state import PactOffer

    app = play_app("--seed", "1")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await turn_of(pilot, "Owl", 1)
        state = app.game._relay.open_state
        state.pact_offers[999] = PactOffer(999, "Fox", "Hare", state.round + 2)
        form = await fill(pilot, "accept", id="999")
        await pilot.click("#act")
        await pilot.pause()
        assert not form.disabled and screen.active is not None
        assert "meant for someone else" in str(screen.query_one("#explain").content)


# ---- under the app ----------------------------------------------------------------
async def test_human_brain_waits_for_its_answer(world):
    turns = []
    brain = HumanBrain(lambda view, answer: turns.append((view, answer)))
    state = initial_state(world, 1)
    task = asyncio.create_task(brain.decide(public_view(state, world, "Owl")))
    await asyncio.sleep(0)
    (view, answer), = turns
    assert view.name == "Owl" and not task.done()
    answer.set_result(Action(action="pass", say="hello"))
    d = await task
    assert d.outcome == "human" and d.action.say == "hello"


@pytest.mark.parametrize("action, reason", [
    (Action(action="offer", side="sell", good="timber", qty=99, price=5), Reason.INSUFFICIENT_GOODS),
    (Action(action="offer", side="buy", good="honey", qty=100, price=100), Reason.INSUFFICIENT_COINS),
    (Action(action="accept", id=999), Reason.UNKNOWN_OFFER),
    (Action(action="gift", to="Owl", good="coins", qty=1), Reason.SELF_GIFT),
    (Action(action="gift", to="Nobody", good="coins", qty=1), Reason.UNKNOWN_CREATURE),
    (Action(action="lend", amount=5), Reason.MISSING_FIELD),
    (Action(action="offer", side="sell", good="timber", qty=2, price=5), None),
    (Action(action="pass"), None),
])
def test_check_action_is_the_engines_verdict(world, action, reason):
    mid, _, _ = open_round(initial_state(world, 1), world)
    before = mid.to_dict()
    verdict = check_action(mid, world, "Owl", action)
    assert (verdict[0] if verdict else None) == reason
    assert mid.to_dict() == before  # the state it checked against is untouched


async def test_a_dead_server_is_told_once_per_creature_not_every_round():
    from textual.app import App

    from wood_tui.notices import FaultNotices

    app = App()
    async with app.run_test(notifications=True) as pilot:
        notices = FaultNotices(per_round=3)
        dead = Decision(PASS, outcome="fault", reason="fault: connect: All connection attempts failed")
        for round_no in range(1, 11):  # five creatures, ten rounds, the same fault every call
            for name in ("Owl", "Fox", "Badger", "Hare", "Squirrel"):
                notices.decided(app, name, dead)
            notices.round_closed(app, round_no)
        await pilot.pause()
        said = [n.message for n in app._notifications]
        assert said == ["Owl: fault: connect: All connection attempts failed",
                        "Fox: fault: connect: All connection attempts failed",
                        "Badger: fault: connect: All connection attempts failed",
                        "2 more creatures' models failed in round 1"]
        notices.decided(app, "Owl", Decision(PASS, outcome="clean"))  # Owl recovers, then fails anew
        notices.decided(app, "Owl", dead)
        await pilot.pause()
        assert [n.message for n in app._notifications][-1].startswith("Owl: fault")


async def test_news_and_warnings_are_never_dropped_for_a_later_status_line():
    from textual.app import App

    from wood_tui.messages import GameStatus

    class Feed(App):
        def __init__(self):
            super().__init__()
            self.seen: list[str] = []

        def on_game_status(self, msg: GameStatus) -> None:
            self.seen.append(msg.text)

    app = Feed()
    async with app.run_test() as pilot:
        for m in (GameStatus("news", announce=True), GameStatus("progress 1"), GameStatus("a warning", "warning"),
                  GameStatus("progress 2"), GameStatus("progress 3")):
            app.post_message(m)
        await pilot.pause()
    assert "news" in app.seen and "a warning" in app.seen and app.seen[-1] == "progress 3"
    assert "progress 1" not in app.seen  # a plain line may give way to the next


async def test_when_a_hot_seat_season_ends_no_panel_still_says_waiting():
    app = play_app("--seed", "3", "--rounds", "1", seats=(Seat("Owl"), Seat("Fox")))
    async with app.run_test(size=(100, 32)) as pilot:
        await every_seat_passes(pilot, ("Owl", "Fox"))
        await until(pilot, lambda: app.main.note == "over", what="the season to end")
        await pilot.pause()
        text = rendered(app)
        assert "The season is over after 1 round" in text and "waiting for the others" not in text, text
        strip = str(app.main.query_one("#strip").content)
        assert "the season is over" in strip and "✓" not in strip, strip  # not who decided a round gone


def test_a_resumed_game_sits_down_the_humans_who_played_it(tmp_path, monkeypatch):
    """`wood play --resume` puts back the seats the save was played from (a
    hot-seat pair, a creature chosen with --as), not the roster's first; a
    save no human played gets the roster's first; --as still chooses."""
    import wood_tui.game as game_module

    monkeypatch.setenv("WOOD_CONFIG_DIR", str(tmp_path))
    played = tmp_path / "hot.db"
    game = LiveGame(args("play", "--brains", "scripted", "--rounds", "4", "--save", str(played)),
                    (Seat("Fox"), Seat("Hare")))
    app = WoodApp(game, pacer=Pacer(0.0))

    async def play_a_round() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await every_seat_passes(pilot, ("Fox", "Hare"))
            await until(pilot, lambda: app.main.closed >= 1, what="round 1 to close")

    asyncio.run(play_a_round())
    assert Ledger.open(played, readonly=True).seats() == ["Fox", "Hare"]
    assert wood(["sim", "--rounds", "2", "--save", str(tmp_path / "sim.db")]) == 0

    seated: list[list[str]] = []
    monkeypatch.setattr(game_module, "run_app", lambda app: seated.append([s.name for s in app.game.seats]) or 0)
    assert wood(["play", "--resume", str(played)]) == 0
    assert wood(["play", "--resume", str(played), "--seats", "1"]) == 0
    assert wood(["play", "--resume", str(played), "--as", "Owl"]) == 0
    assert wood(["play", "--resume", str(tmp_path / "sim.db")]) == 0
    assert seated == [["Fox", "Hare"], ["Fox"], ["Owl"], ["Owl"]]
    with pytest.raises(WoodError, match=r"there is no Wren in .*hot.db \(its creatures: 'Owl', 'Fox'"):
        _play_run(played, "--as", "Wren")
    with pytest.raises(WoodError, match="a resumed game keeps its roster"):
        _play_run(played, "--as", "Wren", "--species", "owl")
    assert len(seated) == 4  # neither reached the screen


@pytest.mark.parametrize("argv, says", [
    (["--species", "owl"], "--species joins a new creature named with --as (e.g. --as Robin --species owl); "
                           "Owl is already in this wood"),
    (["--as", "Owl", "--species", "fox"], "Owl is already in this wood"),
])
def test_species_for_a_creature_already_in_the_wood_is_refused_not_ignored(argv, says, monkeypatch):
    from wood_tui.cli import build_parser
    from wood_tui.commands import play

    import wood_tui.game as game_module

    monkeypatch.setattr(game_module, "run_app", lambda app: 0)  # had it reached the screen, the test ends there
    with pytest.raises(WoodError) as e:
        play.run(build_parser().parse_args(["play", "--brains", "scripted", *argv]))
    assert says in str(e.value)


def test_a_saves_names_in_a_play_hint_are_shown_with_their_escapes(tmp_path, capsys, world):
    """`wood play --resume SAVE --as NAME` with no NAME in the save lists its
    creatures: a hand-made save's names had been joined raw, so a name with an
    escape sequence reached the line and was cleaned there to another name
    ('Owl', which --as then refused), and one with a comma read as two. Each
    is now shown as the sanitiser shows a name (`shown_name`): quoted, escapes written out."""
    roster = build_roster(world, 3)
    hostile = ["Ow\x1b[31ml", "Fox, Hare"]
    roster = [RosterEntry(n, r.species, r.temperament) for n, r in zip([*hostile, roster[2].name], roster)]
    save = tmp_path / "hand-made.db"
    Ledger.create(save, seed=1, roster=roster, brains="scripted", rounds=5).close()
    capsys.readouterr()
    assert wood(["play", "--resume", str(save), "--as", "Wren"]) == 2
    err = capsys.readouterr().err
    assert err == (f"wood: error: there is no Wren in {save} (its creatures: 'Ow\\x1b[31ml', 'Fox, Hare', "
                   f"'{roster[2].name}')\n"), err


def test_a_saves_twin_name_in_a_play_hint_is_shown_with_its_escapes(tmp_path, capsys, world):
    """`wood play --resume SAVE --as 'Red Fox'` in a save whose creature is
    `Red` + a no-break space + `Fox` is refused (one name to a model), and the
    line named the save's creature raw: it printed as the name typed, so `use
    --as Red Fox` read as advice to do what was just refused. The save's name is
    shown as the other hint shows a save's names (`shown_name`): quoted, escapes written out."""
    roster = build_roster(world, 3)
    roster = [RosterEntry("Red\u00a0Fox", roster[0].species, roster[0].temperament), *roster[1:]]
    save = tmp_path / "hand-made.db"
    Ledger.create(save, seed=1, roster=roster, brains="scripted", rounds=5).close()
    capsys.readouterr()
    assert wood(["play", "--resume", str(save), "--as", "Red Fox"]) == 2
    err = capsys.readouterr().err
    assert err == (f"wood: error: --as Red Fox: {save} has 'Red\\xa0Fox', and tells names apart ignoring case and "
                   "how Unicode spells a letter: it is not a plain name, and no --as can name it\n"), err
    # the advice had been `use --as 'Red\xa0Fox'`, a name --as refuses
    assert wood(["play", "--resume", str(save), "--as", "Red\u00a0Fox"]) == 2
    assert "is not a plain name" in capsys.readouterr().err


def test_a_saves_twin_name_that_prints_as_the_one_typed_is_told_apart(tmp_path, capsys, world):
    """A save's `Zoe` + a combining accent, and `--as Zoé` (the one letter): the
    line said `has 'Zoé' ... use --as 'Zoé'`, the name just typed, as repr
    leaves both letters be; it writes each letter not ASCII as its escape, as
    the roster's and the world's twin checks do (ascii)."""
    roster = build_roster(world, 3)
    roster = [RosterEntry("Zoe\u0301", roster[0].species, roster[0].temperament), *roster[1:]]
    save = tmp_path / "hand-made.db"
    Ledger.create(save, seed=1, roster=roster, brains="scripted", rounds=5).close()
    capsys.readouterr()
    assert wood(["play", "--resume", str(save), "--as", "Zo\u00e9"]) == 2
    err = capsys.readouterr().err
    assert err == (f"wood: error: --as Zo\u00e9: {save} has 'Zoe\\u0301', and tells names apart ignoring case and "
                   "how Unicode spells a letter: use --as 'Zoe\\u0301'\n"), err
    # a twin that does not print alike is shown as it reads, not as escapes to type
    roster[0] = RosterEntry("\u00c9cureuil", roster[0].species, roster[0].temperament)
    save = tmp_path / "accented.db"
    Ledger.create(save, seed=1, roster=roster, brains="scripted", rounds=5).close()
    capsys.readouterr()
    assert wood(["play", "--resume", str(save), "--as", "\u00e9cureuil"]) == 2
    assert capsys.readouterr().err.endswith("use --as '\u00c9cureuil'\n")


def _play_run(save, *argv):
    """`wood play --resume SAVE ...` up to the screen, its errors raised (not printed)."""
    from wood_tui.cli import build_parser
    from wood_tui.commands import play

    return play.run(build_parser().parse_args(["play", "--resume", str(save), *argv]))


@pytest.mark.parametrize("size", [(60, 20), (70, 24)])
async def test_every_field_of_every_move_is_on_screen_in_a_small_terminal(size):
    """Under 80 columns a move's fields take rows of three: none is cut off or
    pushed past the edge, where a player would type into what they cannot see."""
    width, height = size
    app = play_app("--seed", "1")
    async with app.run_test(size=size) as pilot:
        screen = await turn_of(pilot, "Owl", 1)
        form = screen.query_one(ActionForm)
        for kind in KINDS:
            form.query_one("#kind", Select).value = kind
            await pilot.pause()
            for w in [form.query_one("#kind"), *form.fields_for(kind), form.query_one("#say")]:
                r = w.region
                assert r.width >= 8 and r.right <= width and r.bottom <= height, (kind, w.id, r)


async def test_a_game_that_stops_on_an_error_says_so_until_the_end_and_after(tmp_path, monkeypatch):
    """A save that cannot take round 3 (a full disk) stops the game: the
    sub-title says so for good (not "full speed"), and the command is left
    the one line to print when the screen is given back (`app.fatal`)."""
    from engine.ledger import Ledger, LedgerError

    real = Ledger.commit_round

    def commit(self, result, snapshot):
        if result.round == 3:
            raise LedgerError(f"{self.path}: round 3 could not be saved (disk full); the rounds before it are kept")
        return real(self, result, snapshot)

    monkeypatch.setattr(Ledger, "commit_round", commit)
    app = watch_app("--rounds", "6", "--save", str(tmp_path / "run.db"), paused=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.fatal is not None, what="the game to stop")
        await pilot.pause()
        assert "stopped: " in app.main.sub_title and "round 3 could not be saved" in app.main.sub_title
        assert "full speed" not in app.main.sub_title
    assert "round 3 could not be saved" in str(app.fatal)


async def test_a_game_whose_engine_fails_says_it_stopped_once_the_error_is_closed(monkeypatch):
    """An engine that fails with an error of no known kind (a bug) shows the
    error screen; once it was closed the sub-title went on saying 'full
    speed' over a game that would play no more round, and the command ended
    saying nothing, exit 0. It says the game stopped, and why, on the screen and after it."""
    real = Runner.play_round

    async def play_round(self):
        if self.state.round == 2:
            raise RuntimeError("a bug in round 3")
        return await real(self)

    monkeypatch.setattr(Runner, "play_round", play_round)
    app = watch_app("--rounds", "6", paused=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "ErrorScreen", what="the error screen")
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main, what="the board again")
        assert app.main.sub_title == "watch · round 2/6 · stopped: RuntimeError in the engine"
        assert "stopped: RuntimeError in the engine" in rendered(app)
    assert str(app.fatal) == "the engine stopped: RuntimeError: a bug in round 3"  # the line after, not exit 0


@pytest.mark.parametrize("command", ["watch", "play"])
async def test_a_new_save_another_program_locks_before_its_first_round_is_said_removed_with_the_way_on(
        tmp_path, monkeypatch, command):
    """Another program locks the new save of `wood watch --save` (or `wood
    play --save`) before round 1 commits: the line the command prints once
    the screen is given back ended 'no round was saved', while the game had
    removed the save; it says so and the way on, as `wood sim --save` does."""
    save = tmp_path / "run.db"
    with contextlib.ExitStack() as held:
        taken_before_round_1(monkeypatch, held, exclusive=False)
        argv = ("--rounds", "3", "--save", str(save))
        app = watch_app(*argv, paused=False) if command == "watch" else play_app(*argv)
        async with app.run_test(size=(120, 40)) as pilot:
            if command == "play":
                await turn_of(pilot, "Owl", 1)
                await pilot.press("f2")
            await until(pilot, lambda: app.fatal is not None, what="the game to stop")
            await pilot.pause()
        assert os.listdir(tmp_path) == []
    assert str(app.fatal) == new_save_removed_for_a_lock(save)


def test_a_game_quit_before_its_first_round_says_its_new_save_was_not_kept(tmp_path, capsys):
    from types import SimpleNamespace

    from wood_tui.game import run_app

    save = tmp_path / "run.db"  # the game removed it: no round was finished
    app = SimpleNamespace(run=lambda: None, fatal=None, return_code=0,
                          game=LiveGame(args("play", "--brains", "scripted", "--save", str(save)), (Seat("Owl"),)))
    assert run_app(app) == 0
    assert capsys.readouterr().err == f"wood: no round was finished, so {save} was not kept\n"
    save.write_bytes(b"")  # one kept: nothing to say
    assert run_app(app) == 0 and capsys.readouterr().err == ""


def test_play_with_a_roster_seats_the_rosters_first_creatures(tmp_path, monkeypatch):
    """`--as`'s help: "default: the first of the roster". With --roster, that is
    the roster file's first creature (and unnamed seats take it in order), not
    the default wood's Owl, which a roster need not have."""
    from wood_tui.cli import build_parser
    from wood_tui.commands import play

    import wood_tui.game as game_module

    roster = tmp_path / "ab.toml"
    roster.write_text("".join(f'[[creatures]]\nname = "{n}"\nspecies = "{s}"\nmodel = "scripted"\n'
                              for n, s in (("Alice", "owl"), ("Bob", "fox"), ("Owl", "owl"))))
    seated: list[list[str]] = []
    monkeypatch.setattr(game_module, "run_app", lambda app: seated.append([s.name for s in app.game.seats]) or 0)
    for argv in ([], ["--seats", "2"], ["--as", "Owl", "--seats", "2"]):
        assert play.run(build_parser().parse_args(["play", "--roster", str(roster), *argv])) == 0
    assert seated == [["Alice"], ["Alice", "Bob"], ["Owl", "Alice"]]


async def test_two_presses_of_the_curtain_in_one_frame_lift_it_once():
    """Two presses of a hot-seat curtain's button handled before it had gone
    (a held enter, or enter and a click together) each dismissed it: the
    second popped the board under it, a ScreenStackError that ended the game.
    The first lifts it; the second goes nowhere, and the seat's turn shows."""
    app = play_app("--seed", "3", "--rounds", "2", seats=(Seat("Owl"), Seat("Fox")))
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, CurtainScreen), what="the curtain")
        curtain = app.screen
        curtain.shown_at -= CurtainScreen.SETTLE_S  # up a while: a press lifts it
        button = curtain.query_one("#reveal")
        button.press()
        button.press()
        await until(pilot, lambda: app.main.live is not None, what="Owl's turn")
        await pilot.pause(0.2)
        assert app.screen is app.main and app.main.live.view.name == "Owl"
