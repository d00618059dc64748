"""Snapshots of the app's screens: spectator (small and large terminal, and a
large roster), the play screen's action form, the hot-seat curtain, the help
screen, and a creature panel showing a model fault. Scripted brains, fixed
seeds, fixed sizes; the engine is paused and stepped so each picture is of a
known round."""
from __future__ import annotations

from engine.actions import PASS
from engine.brains import Decision
from tests.tui_harness import after_rounds, args, until
from wood_tui.app import WoodApp
from wood_tui.bridge import LiveGame, Pacer, Seat


class RefusedBrain:
    """A model whose server is down."""

    async def decide(self, view):
        return Decision(PASS, outcome="fault", reason="fault: connection refused")


def watch_app(*argv: str, extra_brains=None) -> WoodApp:
    game = LiveGame(args("watch", "--brains", "scripted", *argv), extra_brains=extra_brains)
    return WoodApp(game, pacer=Pacer(0.0, paused=True))


async def at_turn(pilot) -> None:
    """Until a seat's turn has come and every other creature has decided."""
    screen = pilot.app.main
    await until(pilot, lambda: screen.active is not None and all(
        v == "decided" for n, v in screen.status.items() if n not in screen.seats), what="the seat's turn")


def test_spectator_80x24(snap_compare):
    assert snap_compare(watch_app("--seed", "3"), terminal_size=(80, 24), run_before=after_rounds(3))


def test_spectator_200x60(snap_compare):
    assert snap_compare(watch_app("--seed", "3"), terminal_size=(200, 60), run_before=after_rounds(4))


def test_spectator_large_roster(snap_compare):
    assert snap_compare(watch_app("--seed", "3", "--creatures", "40"), terminal_size=(120, 40),
                        run_before=after_rounds(2))


def test_fault_on_panel(snap_compare):
    app = watch_app("--seed", "3", extra_brains={"Fox": RefusedBrain()})
    assert snap_compare(app, terminal_size=(120, 32), run_before=after_rounds(1))


def test_help_screen(snap_compare):
    assert snap_compare(watch_app("--seed", "3"), terminal_size=(80, 24), press=["question_mark"],
                        run_before=after_rounds(1))


def test_play_action_form(snap_compare):
    # seed 48: a tip reaches Owl in round 1, so its private tip line shows
    app = WoodApp(LiveGame(args("play", "--brains", "scripted", "--seed", "48"), [Seat("Owl")]), pacer=Pacer(0.0))
    assert snap_compare(app, terminal_size=(100, 30), run_before=at_turn)


def test_hot_seat_curtain(snap_compare):
    app = WoodApp(LiveGame(args("play", "--brains", "scripted", "--seed", "39"), [Seat("Fox"), Seat("Owl")]),
                  pacer=Pacer(0.0))
    assert snap_compare(app, terminal_size=(80, 24), run_before=at_turn)
