"""The first game's introduction: what your creature makes and needs, how to
offer and accept, and what wins. Shown on the first `wood play` only: a
small file under the user's config directory remembers it was seen
(`$WOOD_CONFIG_DIR`, else `$XDG_CONFIG_HOME/thousand-token-wood`, else
`~/.config/thousand-token-wood`). With no home folder to be found and
neither variable set, it is shown every game, remembered nowhere."""
from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from engine.events import a_kind, units_list
from engine.groves import Pairs, yields
from engine.metrics import counted
from engine.score import worth_rule
from engine.state import State
from engine.world import World
from engine.xdg import xdg_home

from .. import safe

CONFIG_ENV = "WOOD_CONFIG_DIR"
APP_DIR = "thousand-token-wood"
SEEN_FILE = "intro-seen"
MAX_SEATS_TOLD = 4


def config_dir() -> Path:
    """Where the app keeps what it remembers about its user; `engine.xdg.NoHome`
    if that is under a home folder there is no finding."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return xdg_home("XDG_CONFIG_HOME", ".config") / APP_DIR


def intro_seen(directory: Path) -> bool:
    """Whether the introduction was shown; a config directory that cannot be read
    (a name too long, a folder not ours) only means it is shown again."""
    try:
        return (directory / SEEN_FILE).exists()
    except OSError:
        return False


def remember_intro(directory: Path) -> None:
    """Mark the introduction seen; a config directory that cannot be written
    only means it is shown again next time."""
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
        (directory / SEEN_FILE).write_text("the introduction to wood play was shown\n")


def _units(items: dict[str, int], world: World) -> str:
    return units_list(items, world.goods) or "nothing"


def upcoming_makes(state: State, world: World) -> dict[str, Pairs]:
    """What each creature's grove makes in the round about to open: a game
    started or resumed at a grove term's last round is told the next term's."""
    return yields(state, world, state.round + 1)


def intro_text(world: World, seats: Sequence[tuple[str, str]], rounds: int,
               makes: Mapping[str, Sequence[tuple[str, int]]] | None = None) -> Text:
    """The introduction for these (name, species) seats: short enough for 80x24.
    `makes`: what each seat's grove makes a round (`engine.groves.yields`; a
    seat alone of its kind makes its species' usual). Told only to a lone
    seat: in hot-seat play this screen is shared, and a grove's yield is its
    creature's own to know (each seat reads it on its turn, behind its curtain)."""
    eco = world.economy
    burn = ", ".join(f"{s} {n}" for s, n in eco["fuel_by_season"].items())
    parts: list[Text] = [Text("Welcome to Thousand Token Wood. No one makes all it needs: trade.", style="bold")]
    lone = len(seats) == 1
    for name, species in list(seats)[:MAX_SEATS_TOLD]:
        sp = world.species[species]
        made = dict(makes[name]) if lone and makes and name in makes else sp.produces
        parts.append(Text.assemble(
            ("You are " if lone else ""), safe.name(name, style="bold"), f", {a_kind(species)}. ",
            ("You make ", "bold") if lone else ("Its kind makes ", "bold"),
            f"{_units(made, world)} a round" + ("; " if lone else " (its own grove's share: on its turn); "),
            ("you need " if lone else "it needs ", "bold"),
            f"{_units(sp.needs, world)} a round, and {world.fuel_good} to burn ({burn})."))
    rest = list(seats)[MAX_SEATS_TOLD:]
    if rest:  # named, not told (80x24): the screen had said nothing of them, as if there were only four
        parts.append(Text.assemble(
            ("Also at this keyboard: ", "bold"),
            Text(", ").join(Text.assemble(safe.name(name, style="bold"), f" ({a_kind(species)})") for name, species in rest),
            "; each reads what it makes and needs on its turn."))
    parts += [
        Text.assemble(("Offer: ", "bold"), "choose offer, buy or sell, a good, qty, your price each; enter. "
                      f"Unmatched, it stands {eco['offer_lifetime']} rounds. Letters pick in lists (o s h)."),
        Text.assemble(("Accept: ", "bold"), "F3 lists others' offers; ↑ ↓ and enter fill the form; enter takes it."),
        Text.assemble(("Win: ", "bold"), f"after {counted(rounds, 'round')}, the highest net worth ({worth_rule(world)}). "
                      f"Eat to keep your mood up; above {eco['pantry']} of a good, the rest rots."),
        Text.assemble(("Keys: ", "bold"), "F1 rules, F2 pass, F4 your last round, F5 standings, ctrl+p all."),
    ]
    return Text("\n").join(parts)


class IntroScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "dismiss", "start playing")]

    def __init__(self, text: Text):
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="intro"):
            yield Static(self.text, id="intro-text")
            with Center():
                yield Button("Start playing (enter)", id="intro-start", variant="primary")

    def on_mount(self) -> None:
        box = self.query_one("#intro")
        box.border_title = "Your first game"
        box.border_subtitle = "shown once; F1 has it all again"
        self.query_one("#intro-start", Button).focus(scroll_visible=False)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()
