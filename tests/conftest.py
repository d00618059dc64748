"""Shared fixtures: the wood's world, a fresh state, and a way to play rounds
with scripted traders."""
from __future__ import annotations

import asyncio

import pytest

from engine.runner import Runner
from engine.state import initial_state
from engine.world import build_roster, load_world
from engine.brains.scripted import scripted_brains


@pytest.fixture(scope="session")
def world():
    return load_world()


@pytest.fixture(autouse=True)
def _curtains_take_a_key_at_once(request, monkeypatch):
    """The app's tests press Enter as soon as a hot-seat curtain is up, and
    make a move as soon as a turn is; the pauses for a stray key
    (`CurtainScreen.SETTLE_S`, `MarketScreen.SETTLE_S`) have tests of their own."""
    if request.module.__name__.rpartition(".")[2].startswith("test_tui") and "settle" not in request.node.name:
        from wood_tui.screens.curtain import CurtainScreen
        from wood_tui.screens.market import MarketScreen

        monkeypatch.setattr(CurtainScreen, "SETTLE_S", 0.0)
        monkeypatch.setattr(MarketScreen, "SETTLE_S", 0.0)


@pytest.fixture
def state(world):
    return initial_state(world, 7)


def play(world, seed: int = 7, rounds: int = 10, n: int | None = None, ledger=None, brains=None):
    """Play `rounds` rounds with scripted traders; returns (runner, results)."""
    roster = build_roster(world, n)
    runner = Runner(world, initial_state(world, seed, roster), brains or scripted_brains(roster, seed), ledger=ledger)

    async def go():
        return [await runner.play_round() for _ in range(rounds)]

    return runner, asyncio.run(go()) if not _in_loop() else None


def _in_loop() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False
