"""The human brain: a seat at the terminal.

`decide(view)` hands the player's `PublicView` and a fresh future to
`on_turn` (the UI), then waits until the UI resolves that future with the
player's `Action`. The models keep thinking meanwhile; the round closes once
every brain, human or not, has answered. Nothing here knows about the UI.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable

from ..actions import Action
from ..views import PublicView
from . import Decision

TurnHandler = Callable[[PublicView, "asyncio.Future[Action]"], None]


class HumanBrain:
    def __init__(self, on_turn: TurnHandler):
        self.on_turn = on_turn

    async def decide(self, view: PublicView) -> Decision:
        answer: asyncio.Future[Action] = asyncio.get_running_loop().create_future()
        self.on_turn(view, answer)
        return Decision(await answer, outcome="human")
