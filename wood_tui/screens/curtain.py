"""The privacy curtain of hot-seat play: between two humans' turns it
covers the whole screen, showing nothing but whose turn is next, until that
player confirms they are at the keyboard."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Middle
from textual.screen import Screen
from textual.widgets import Button, Static

from .. import safe


class CurtainScreen(Screen[None]):
    BINDINGS = [Binding("enter", "reveal", "show my turn")]

    def __init__(self, seat: str, round_no: int):
        super().__init__()
        self.seat = seat
        self.round_no = round_no

    def compose(self) -> ComposeResult:
        name = safe.text(self.seat, max_len=40)
        with Middle(id="curtain"):
            with Center():
                yield Static(Text.assemble("Pass the keyboard to ", safe.text(self.seat, "bold", 40)),
                             id="curtain-title")
            with Center():
                yield Static(Text.assemble(f"Round {self.round_no}. Everyone but ", name,
                                           " please look away: what follows is private."), id="curtain-note")
            with Center():
                yield Button(Text.assemble("I am ", name, " — show my turn"), id="reveal", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#reveal", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss()

    def action_reveal(self) -> None:
        self.dismiss()
