"""Random keys and clicks against the app (tests/tui_fuzz.py), a few fixed
seeds kept short; and what earlier, longer runs of it found, each as the
keys that found it."""
from __future__ import annotations

import asyncio

import pytest

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
