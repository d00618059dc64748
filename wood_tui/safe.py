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

import re

from rich.text import Text
from textual.app import App
from textual.notifications import SeverityLevel

from engine.sanitise import cells, clean_text, first_cells, last_cells


def text(value: object, style: str = "", max_len: int | None = None) -> Text:
    """Inert, single-line text for any widget."""
    return Text(clean_text(value, max_len), style=style)


NAME_SHOWN = 24  # a creature's name is shown at most this long (a roster's may run to 40)
NAME_TAIL = 8     # ... keeping its end: "Squirrel the Younger of…Oak 2" and "…Oak 3" stay apart


def name(value: object, style: str = "", width: int = NAME_SHOWN) -> Text:
    """A creature's name, inert and at most NAME_SHOWN terminal cells (a wide
    letter, 栗, takes two): a longer one keeps its start and its end (names
    that differ only at the end, as a crowd's numbers do, stay told apart).
    `width`: a narrower column's cells; a name cut to fit it keeps its crowd
    number ("Squirrel 12": "Squi… 12")."""
    shown = clean_text(value)
    width = min(width, NAME_SHOWN)
    if cells(shown) <= width:
        return Text(shown, style=style)
    if width == NAME_SHOWN:
        tail = last_cells(shown, NAME_TAIL)
        return Text(first_cells(shown, NAME_SHOWN - cells(tail) - 1) + "…" + tail, style=style)
    number = re.search(r" \d+$", shown)
    tail = number.group() if number and cells(number.group()) <= width - 2 else ""
    head = first_cells(shown[:len(shown) - len(tail)], width - 1 - cells(tail))
    return Text(head.rstrip() + "…" + tail, style=style)


def lines(value: object, style: str = "") -> Text:
    """Inert text that keeps its line breaks (an error with a log tail)."""
    return Text("\n").join(text(line, style) for line in str(value).splitlines())


def notify(app: App, message: object, *, title: str = "", severity: SeverityLevel = "information",
           timeout: float | None = None) -> None:
    """`app.notify` with the message cleaned and markup off."""
    app.notify(clean_text(message), title=clean_text(title), severity=severity, timeout=timeout, markup=False)
