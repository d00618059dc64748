"""A line chart drawn in text cells, with axes people can read: values on the
y axis (its top, bottom and middle labelled), round numbers on the x axis,
one glyph and colour per series, and markers on the x axis for rounds where
something happened. Pure: `line_chart` turns numbers into `Text` lines, so
what a chart shows can be tested without a screen."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text

AXIS_STYLE = "dim"


@dataclass(frozen=True)
class Series:
    """One line: a value per round (None where there is none), drawn with `glyph` in `style`."""

    values: Sequence[int | None]
    glyph: str = "●"
    style: str = ""


def _ticks(rounds: Sequence[int]) -> dict[int, str]:
    """Column -> round label: the last round, then every few columns leftwards, never touching."""
    out: dict[int, str] = {}
    if not rounds:
        return out
    step = len(str(max(rounds))) + 3
    nxt = 10**9  # where the label to the right starts
    for col in range(len(rounds) - 1, -1, -step):
        label = str(rounds[col])
        if col + len(label) < nxt:
            out[col] = label
            nxt = col
    return out


def line_chart(rounds: Sequence[int], series: Sequence[Series], height: int, *,
               markers: Mapping[int, tuple[str, str]] | None = None, y_min: int | None = None) -> list[Text]:
    """`height` rows of plot, then the x axis (with `markers`: round -> (glyph, style)) and
    its round labels. One column per round; the caller fits `rounds` to the width."""
    height = max(2, height)
    values = [v for s in series for v in s.values if v is not None]
    lo = min(values, default=0) if y_min is None else y_min
    hi = max(values, default=1)
    if hi <= lo:
        hi = lo + 1
    labels = {0: str(hi), height - 1: str(lo)}
    if height >= 5:
        labels[(height - 1) // 2] = str(round(hi - (hi - lo) * ((height - 1) // 2) / (height - 1)))
    lw = max(len(s) for s in labels.values())
    width = len(rounds)
    grid: list[list[tuple[str, str]]] = [[(" ", "")] * width for _ in range(height)]
    for s in series:
        for col, v in enumerate(s.values[-width:] if width else []):
            if v is None:
                continue
            row = height - 1 - round((v - lo) * (height - 1) / (hi - lo))
            grid[max(0, min(height - 1, row))][col] = (s.glyph, s.style)
    lines = []
    for i, row in enumerate(grid):
        y = labels.get(i, "")
        line = Text.assemble((y.rjust(lw), AXIS_STYLE), ("┤" if y else "│", AXIS_STYLE))
        for glyph, style in row:
            line.append(glyph, style)
        lines.append(line)
    ticks = _ticks(rounds)
    axis = Text.assemble((" " * lw + "└", AXIS_STYLE))
    for col in range(width):
        if markers and rounds[col] in markers:
            glyph, style = markers[rounds[col]]
            axis.append(glyph, style)
        else:
            axis.append("┬" if col in ticks else "─", AXIS_STYLE)
    lines.append(axis)
    under = [" "] * (width + lw + 1 + max(map(len, ticks.values()), default=0))
    for col, label in ticks.items():
        under[lw + 1 + col: lw + 1 + col + len(label)] = label
    lines.append(Text("".join(under).rstrip() or " ", style=AXIS_STYLE))
    return lines
