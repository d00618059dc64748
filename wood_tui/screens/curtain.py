"""The privacy curtain of hot-seat play: between two humans' turns it
covers the whole screen, showing nothing but whose turn is next, until that
player confirms they are at the keyboard. For a moment after it goes up
(`SETTLE_S`) it takes no confirmation: the player who just moved, pressing
Enter once more (or a key held down), would otherwise lift the next
player's curtain and see their turn. Such a key, or a click, is said under
the button as what it was (it had been dropped without a word, the curtain
seeming not to answer)."""
from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Button, Static

from .. import safe


# under the button, when a press came within SETTLE_S: by the key (enter) or a click of the button
TOO_SOON = {"key": "That key came as the curtain went up, and did not lift it: press enter again.",
            "click": "That click came as the curtain went up, and did not lift it: click again."}


class RevealButton(Button):
    """The curtain's button, which knows whether its last press was a click
    (`clicked`) or enter on it: one it does not take is said as what it was."""

    clicked = False

    def on_click(self) -> None:  # before Button's own handler, which presses it
        self.clicked = True

    def action_press(self) -> None:  # enter, the button focused
        self.clicked = False
        super().action_press()


class CurtainScreen(Screen[None]):
    BINDINGS = [Binding("enter", "reveal", "show my turn")]
    SETTLE_S = 0.8  # seconds after it goes up in which a confirmation is still the last player's key
    lifted = False  # dismissed: later presses are the same player's, and go nowhere

    def __init__(self, seat: str, round_no: int):
        super().__init__()
        self.seat = seat
        self.round_no = round_no
        self.shown_at = 0.0  # when it went up (`on_mount`)

    def compose(self) -> ComposeResult:
        # the name as every other line shows it, start and end in at most 24 cells: written whole (40 letters,
        # wide ones 80 cells) it was cut at the edge of a narrow window, and two seats whose names differ at the
        # end got the same curtain
        name = safe.name(self.seat)
        with Middle(id="curtain"):
            with Center():
                yield Static(Text.assemble("Pass the keyboard to ", safe.name(self.seat, "bold")),
                             id="curtain-title")
            with Center():
                yield Static(Text.assemble(f"Round {self.round_no}. Everyone but ", name,
                                           " please look away: what follows is private."), id="curtain-note")
            with Center():
                yield RevealButton(Text.assemble("I am ", name, " — show my turn"), id="reveal", variant="primary")
            with Center():
                yield Static(TOO_SOON["key"], id="curtain-wait")

    def on_mount(self) -> None:
        self.shown_at = time.monotonic()
        self.query_one("#reveal", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._reveal("click" if isinstance(event.button, RevealButton) and event.button.clicked else "key")

    def action_reveal(self) -> None:  # enter, the button not focused
        self._reveal("key")

    def _reveal(self, how: str) -> None:
        if self.lifted:  # a press queued behind the one that lifted it (a held key, enter with a click): it is going
            return  # (a second dismiss had popped the board under it too, ScreenStackError, the game gone)
        if time.monotonic() - self.shown_at >= self.SETTLE_S:
            self.lifted = True
            self.dismiss()
        else:  # a key or click meant for the turn just ended, maybe: said, so that one meant for this curtain comes again
            wait = self.query_one("#curtain-wait", Static)
            wait.update(TOO_SOON[how])
            wait.add_class("-said")
