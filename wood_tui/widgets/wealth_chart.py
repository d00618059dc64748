"""Wealth over time: the net worth (engine/score.py) of the richest few
creatures over the rounds, one glyph and colour each, with a legend of
their names and worth now and the same axes as the price chart."""
from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.widget import Widget

from engine.score import Standing

from .. import safe
from .chart import Series, line_chart

HISTORY = 200  # rounds kept
TOP = 5
LOOKS = (("●", "green"), ("◆", "cyan"), ("■", "yellow"), ("▲", "bright_white"), ("✚", "blue"))


class WealthChart(Widget):
    DEFAULT_CSS = """
    WealthChart { height: 1fr; padding: 0 1; }
    """

    def __init__(self, top: int = TOP, **kw):
        super().__init__(**kw)
        self.top = min(top, len(LOOKS))
        self.rounds: deque[int] = deque(maxlen=HISTORY)
        self.worth: dict[str, deque[int | None]] = {}
        self.leaders: list[Standing] = []

    def record(self, round_no: int, rows: list[Standing]) -> None:
        """The standings after a round (best first)."""
        self.rounds.append(round_no)
        seen = {r.name for r in rows}
        for r in rows:
            if r.name not in self.worth:
                self.worth[r.name] = deque([None] * (len(self.rounds) - 1), maxlen=HISTORY)
            self.worth[r.name].append(r.worth)
        for name, hist in self.worth.items():
            if name not in seen:
                hist.append(None)
        self.leaders = rows[: self.top]
        self.refresh()

    def render(self) -> Text:
        if not self.leaders:
            return Text("no standings yet", style="dim")
        width, height = self.content_size.width, self.content_size.height
        legend = Text()
        for r, (glyph, style) in zip(self.leaders, LOOKS):
            # the name fitted to what the line leaves it, keeping a crowd number: cropped by the line,
            # "Squirrel the Younger 2" and "... 3" had both read "Squirrel the Young"
            room = max(4, width - 2 - len(f" {r.worth}"))
            item = Text.assemble((glyph + " ", style), safe.name(r.name, width=room), (f" {r.worth}", "dim"))
            if legend.plain and legend.split("\n")[-1].cell_len + 2 + item.cell_len > width:
                legend.append("\n")
            elif legend.plain:
                legend.append("  ")
            legend.append_text(item)
        lines = [*legend.split("\n"), Text("net worth by round (the richest now)", style="bold")]
        plot_h = height - len(lines) - 2
        if plot_h >= 2:
            label_w = len(str(max(r.worth for r in self.leaders))) + 2
            n = max(1, min(len(self.rounds), width - label_w - 4))
            series = [Series(list(self.worth[r.name])[-n:], glyph, style)
                      for r, (glyph, style) in reversed(list(zip(self.leaders, LOOKS)))]  # the leader drawn last, on top
            lines += line_chart(list(self.rounds)[-n:], series, plot_h)
        out = Text("\n").join(lines)
        out.no_wrap, out.overflow = True, "crop"
        return out
