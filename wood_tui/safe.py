"""The one choke point for text that a model or a trader wrote.

Say lines, raw replies, fault reasons, creature names from a roster: all of
it is hostile. A plain `str` handed to a Textual widget or to `notify()` is
parsed as markup (`[@click=app.quit]` would become a live action), and
control bytes survive every Textual API. So such text reaches the screen
only through here: `engine.sanitise.clean_text` strips control characters,
escape sequences and bidi overrides, and the result is wrapped in
`rich.text.Text`, which is never parsed as markup.
"""
from __future__ import annotations

from rich.text import Text
from textual.app import App
from textual.notifications import SeverityLevel

from engine.sanitise import clean_text


def text(value: object, style: str = "", max_len: int | None = None) -> Text:
    """Inert, single-line text for any widget."""
    return Text(clean_text(value, max_len), style=style)


def lines(value: object, style: str = "") -> Text:
    """Inert text that keeps its line breaks (an error with a log tail)."""
    return Text("\n").join(text(line, style) for line in str(value).splitlines())


def notify(app: App, message: object, *, title: str = "", severity: SeverityLevel = "information",
           timeout: float | None = None) -> None:
    """`app.notify` with the message cleaned and markup off."""
    app.notify(clean_text(message), title=clean_text(title), severity=severity, timeout=timeout, markup=False)
