"""What the Textual tests share: parsed `wood watch`/`wood play` flags, a
wait that polls the app, and the text an app shows (the rendered screen read
back from its SVG export, and the text of every widget on every screen)."""
from __future__ import annotations

import html
import re

from rich.text import Text
from textual.app import App
from textual.widgets import Button, DataTable, Input, RichLog, Select, Static

from wood_tui.options import RunOptions
from wood_tui.widgets.action_form import ActionForm
from wood_tui.widgets.sentiment_bars import SentimentBars

CELL_W, LINE_H, TOP = 12.2, 24.4, 20  # how Rich's SVG export lays out a terminal cell


def args(command: str, *argv: str) -> RunOptions:
    """The run `wood COMMAND ARGV...` would play, built as the command line builds it."""
    return RunOptions.parse(command, list(argv))


async def until(pilot, cond, timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until `cond()` holds."""
    for _ in range(int(timeout / 0.01)):
        if cond():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what or cond}")


def svg_text(svg: str) -> str:
    """The terminal's text, row by row, from a Textual SVG screenshot."""
    rows: dict[int, dict[int, str]] = {}
    for m in re.finditer(r'<text class="[^"]*-r\d+" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]*)</text>', svg):
        col, row = round(float(m[1]) / CELL_W), round((float(m[2]) - TOP) / LINE_H)
        line = rows.setdefault(row, {})
        for i, ch in enumerate(html.unescape(m[3]).replace("\xa0", " ")):
            line[col + i] = ch
    return "\n".join("".join(line.get(c, " ") for c in range(max(line, default=-1) + 1)).rstrip()
                     for _, line in sorted(rows.items()))


def rendered(app: App) -> str:
    return svg_text(app.export_screenshot())


def _plain(v) -> str:
    return v.plain if isinstance(v, Text) else str(v or "")


def all_text(app: App) -> str:
    """The rendered screen plus the text held by every widget on every screen
    in the stack, visible or not (scrolled away, covered, hidden)."""
    parts = [rendered(app), *(n.message for n in app._notifications)]  # notifications need run_test(notifications=True)
    for screen in app.screen_stack:
        parts += [_plain(screen.title), _plain(screen.sub_title)]
        for w in screen.walk_children(with_self=False):
            parts += [_plain(w.border_title), _plain(w.border_subtitle)]
            if isinstance(w, Static):
                parts.append(_plain(w.content))
            elif isinstance(w, DataTable):
                parts += [_plain(c) for key in w.rows for c in w.get_row(key)]
            elif isinstance(w, RichLog):
                parts += [strip.text for strip in w.lines]
            elif isinstance(w, Input):
                parts.append(w.value)
            elif isinstance(w, Select):
                parts.append(str(w.value))
            if isinstance(w, Button):
                parts.append(str(w.label))
            elif isinstance(w, SentimentBars):  # drawn at render time
                parts.append(_plain(w.render()))
    return "\n".join(parts)


async def fill(pilot, kind: str, **fields) -> ActionForm:
    """Fill the form as a player would: pick the action, then each field (lists set, text typed)."""
    form = pilot.app.main.query_one(ActionForm)
    form.query_one("#kind", Select).value = kind
    await pilot.pause()
    for fid, value in fields.items():
        w = form.query_one(f"#{fid}")
        if isinstance(w, Select):
            w.value = value
        else:
            w.focus()
            await pilot.press(*[("space" if c == " " else c) for c in str(value)])
    await pilot.pause()  # let the form's preview catch up
    return form


async def turn(pilot, round_no: int, name: str = "Owl"):
    """Until it is `name`'s turn in `round_no` and every other creature has decided; the play screen."""
    screen = pilot.app.main
    await until(pilot, lambda: screen.active is not None and screen.active.view.name == name
                and screen.active.view.round == round_no and all(
                    v == "decided" for n, v in screen.status.items() if n not in screen.seats),
                what=f"{name}'s turn in round {round_no}")
    await pilot.pause()
    return screen


def after_rounds(n: int, *keys: str):
    """A snapshot's `run_before`: step a paused spectator to round `n`, then press `keys`."""
    async def run_before(pilot) -> None:
        app = pilot.app
        await until(pilot, lambda: app.main.closed == 1, what="round 1")
        for r in range(2, n + 1):
            await pilot.press("n")
            await until(pilot, lambda r=r: app.main.closed == r, what=f"round {r}")
        if keys:
            await pilot.press(*keys)
        await pilot.pause()
    return run_before


class OneWidget(App):
    """An app that holds one widget alone (`make()`), for a widget's own test."""

    def __init__(self, make) -> None:
        super().__init__()
        self.make = make

    def compose(self):
        yield self.make()
