"""Modal screens: the help screen (keys of the screen below and a few words
on the game) and the error screen for a fault in the app's engine worker."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

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
