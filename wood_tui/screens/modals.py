"""Modal screens: the help screen (keys of the screen below and a few words
on the game), the question before quitting a game whose rounds are not
saved, and the error screen for a fault in the app's engine worker."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .. import safe


def key_lines(bindings: Iterable[Binding | tuple]) -> list[Text]:
    lines = []
    for b in bindings:
        if isinstance(b, tuple):
            b = Binding(*b)
        if not b.show or not b.description:
            continue
        key = b.key_display or b.key.split(",")[0]
        lines.append(Text.assemble((f"{key:>12}", "bold"), "  ", b.description))
    return lines


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,f1,q", "dismiss", "close")]

    def __init__(self, about: Sequence[str], bindings: Iterable[Binding | tuple]):
        super().__init__()
        self.about = about
        self.bindings = list(bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static(Text("\n").join(key_lines(self.bindings)), id="help-keys")
            yield Static(Text("\n\n").join(Text(p) for p in self.about), id="help-about")

    def on_mount(self) -> None:
        box = self.query_one("#help")
        box.border_title = "Thousand Token Wood: keys"
        box.border_subtitle = "escape closes"


class ErrorScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "dismiss", "close")]

    def __init__(self, title: str, detail: object):
        super().__init__()
        self.title_text = title
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="error"):
            yield Static(Text(self.title_text, style="bold red"))
            yield Static(safe.lines(self.detail))
            yield Static(Text("The game stopped. escape closes this; ctrl+q quits.", style="dim"))


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question; dismissed with True (yes) or False."""

    BINDINGS = [Binding("y", "answer(True)", "yes"), Binding("n,escape", "answer(False)", "no")]

    def __init__(self, question: str, yes: str = "Yes", no: str = "No"):
        super().__init__()
        self.question = question
        self.yes, self.no = yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm"):
            yield Static(Text(self.question), id="confirm-text")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button(f"{self.no} (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
