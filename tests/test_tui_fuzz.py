"""Random keys and clicks against the app (tests/tui_fuzz.py), a few fixed
seeds kept short; and what earlier, longer runs of it found, each as the
keys that found it."""
from __future__ import annotations

import asyncio

import pytest

from tests.tui_fuzz import fuzz
from tests.tui_harness import args, until
from wood_tui.app import WoodApp
from wood_tui.bridge import LiveGame, Pacer, Seat
from wood_tui.widgets.action_form import ActionForm


class HeldGame(LiveGame):
    """A `wood play` game that is not set up until `go` is set (a slow wood, a model loading)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.go = asyncio.Event()

    async def run(self, post, pacer):
        await self.go.wait()
        await super().run(post, pacer)


# ---- found by the fuzzer --------------------------------------------------------------
async def test_escape_before_the_wood_is_set_up_is_no_traceback():
    """Escape ("back to the form") pressed while the wood was still waking up
    had ended the app in a traceback (NoMatches: no ActionForm yet); now it
    does nothing, and once the turn comes escape takes the keys back to the form."""
    game = HeldGame(args("play", "--brains", "scripted", "--seed", "3", "--creatures", "3"), (Seat("Owl"),))
    app = WoodApp(game, pacer=Pacer(0.0))
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("escape")
        await pilot.pause()
        assert app._exception is None and app.is_running
        game.go.set()
        screen = app.main
        await until(pilot, lambda: screen.live is not None, what="Owl's turn")
        await pilot.press("f5")  # the standings take the keys...
        assert not any(isinstance(a, ActionForm) for a in app.focused.ancestors)
        await pilot.press("escape")  # ... and escape gives them back to the form
        assert any(isinstance(a, ActionForm) for a in app.focused.ancestors)
    assert app.return_code in (None, 0)


# ---- the fuzzer, short ------------------------------------------------------------------
@pytest.mark.parametrize("seed,mode,size", [(2, "play", (80, 24)), (2, "hot", (40, 12)), (2, "watch", (60, 20))])
async def test_random_keys_and_clicks_break_nothing(seed, mode, size):
    """No traceback, no hang; in hot-seat play nothing private to a seat on
    screen between turns, nor in the other seat's turn; every move answered
    is the move the engine recorded. (Each seed is one whose keys reach a
    round's end: a run that only ever sat behind a curtain would test little.)"""
    seen = await fuzz(seed, mode, steps=40, size=size)
    assert len(seen.steps) == 41 and seen.closed >= 1
    if mode != "watch":
        assert seen.checked >= 1  # a move was made and held to the record
    if mode == "hot":
        assert seen.curtains and seen.secrets  # curtains went up; a seat held private words to keep


@pytest.mark.parametrize("mode", ["watch", "play", "play-intro", "hot-seat"])
async def test_quitting_while_the_wood_sets_up_is_no_traceback(mode):
    """ctrl+q pressed as the app came up (the wood still setting up) had ended
    `wood watch` and `wood play` in a traceback (MountError: can't mount
    widget(s) before CreatureBoard / Vertical(id='form-slot') is mounted;
    NoMatches on the introduction): the game's first messages were handled
    after the exit, on screens already taken down. Now the app leaves cleanly."""
    seats = {"watch": (), "play": (Seat("Owl"),), "play-intro": (Seat("Owl"),), "hot-seat": (Seat("Owl"), Seat("Fox"))}
    game = LiveGame(args("play" if seats[mode] else "watch", "--brains", "scripted", "--creatures", "3"), seats[mode])
    app = WoodApp(game, pacer=Pacer(0.0, paused=True), intro=mode == "play-intro")
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.press("ctrl+q")
        await until(pilot, lambda: not app.is_running, what="the app to leave")
    assert app._exception is None and app.return_code == 0
