"""Modal screens: the help screen (keys of the screen below and a few words
on the game), the question before quitting a game whose rounds are not
saved, and the error screen for a fault in the app's engine worker."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult, RenderResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .. import safe


KEY_WIDTH = 12  # the key column: keys right-aligned in it, two spaces, then what each does


def key_rows(bindings: Iterable[Binding | tuple]) -> list[tuple[str, str]]:
    """(key, what it does) for each binding shown, in order."""
    rows = []
    for b in bindings:
        if isinstance(b, tuple):
            b = Binding(*b)
        if not b.show or not b.description:
            continue
        rows.append((b.key_display or b.key.split(",")[0], b.description))
    return rows


def key_of(bindings: Iterable[Binding], action: str) -> str:
    """The key bound to `action`, as a line names it ('F2', 'escape'): the
    command palette's words take it from the bindings, not a copy of them."""
    b = next(b for b in bindings if b.action == action)
    key = b.key_display or b.key.split(",")[0]
    return key.upper() if key[:1] == "f" and key[1:].isdigit() else key


def key_lines(rows: Iterable[tuple[str, str]]) -> list[Text]:
    """The keys as lines of text: each key right-aligned in its column, what it does beside it."""
    return [Text.assemble((f"{key:>{KEY_WIDTH}}", "bold"), "  ", what) for key, what in rows]


class KeyList(Static):
    """The keys, one a line, in two columns: each key right-aligned, what it
    does beside it. A description too long for the box wraps under its own
    column: as one `Text` it had wrapped back to column 0, under the keys
    (at 80 columns, "that letter" and "standings…"). `content` is the list as
    text, one key a line; it is drawn as a grid."""

    def __init__(self, bindings: Iterable[Binding | tuple], **kw):
        self.rows = key_rows(bindings)
        super().__init__(Text("\n").join(key_lines(self.rows)), **kw)

    def render(self) -> RenderResult:
        grid = Table.grid(padding=(0, 2))  # two spaces between the columns (a grid collapses the padding)
        grid.add_column(justify="right", no_wrap=True, min_width=KEY_WIDTH, style="bold")
        grid.add_column(ratio=1, overflow="fold")  # a word wider than the column is folded, never cut
        for key, what in self.rows:
            grid.add_row(key, what)
        return grid


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,f1,q", "dismiss", "close")]

    def __init__(self, about: Sequence[str], bindings: Iterable[Binding | tuple]):
        super().__init__()
        self.about = about
        self.bindings = list(bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield KeyList(self.bindings, id="help-keys")
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
