"""Sentiment bars: the strongest feelings in the wood, S[a][b] in -100..100,
one bar each, left of the axis in red for distrust, right in green for
warmth, sized to the widget's width: names are shown whole when the width
allows (up to `NAME_LEN`), the bars take what is left."""
from __future__ import annotations

import math

from rich.text import Text
from textual.widget import Widget

from engine.memory import REL_MAX

from .. import safe

NAME_LEN = 16
MIN_HALF = 4  # the shortest half-bar


def bar(value: int, half: int) -> Text:
    n = math.ceil(abs(value) * half / REL_MAX)
    left = ("█" * n).rjust(half) if value < 0 else " " * half
    right = ("█" * n).ljust(half) if value > 0 else " " * half
    return Text.assemble((left, "red"), ("│", "dim"), (right, "green"), f" {value:+4d}")


class SentimentBars(Widget):
    """The `limit` relationships furthest from neutral."""

    def __init__(self, limit: int = 12, **kw):
        super().__init__(**kw)
        self.limit = limit
        self.pairs: list[tuple[str, str, int]] = []

    def show(self, relations: dict[str, dict[str, int]]) -> None:
        self.pairs = sorted(((a, b, v) for a, row in relations.items() for b, v in row.items() if v),
                            key=lambda p: (-abs(p[2]), p[0], p[1]))[: self.limit]
        self.refresh()

    def render(self) -> Text:
        if not self.pairs:
            return Text("nobody feels strongly yet", style="dim")
        width = self.content_size.width
        longest = max(safe.text(n).cell_len for a, b, _ in self.pairs for n in (a, b))
        # a line: name→name, padding, half│half and " +nn"
        name_len = max(4, min(NAME_LEN, longest, (width - 1 - 2 - 1 - 5 - 2 * MIN_HALF) // 2))
        half = max(MIN_HALF - 1, (width - 2 * name_len - 2 - 1 - 5) // 2)
        lines = []
        for a, b, v in self.pairs:
            who = Text.assemble(safe.name(a, width=name_len), ("→", "dim"), safe.name(b, width=name_len))
            who.pad_right(2 * name_len + 2 - who.cell_len)
            lines.append(Text.assemble(who, bar(v, half)))
        return Text("\n").join(lines)
