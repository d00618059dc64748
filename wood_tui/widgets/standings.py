"""The standings: every creature ranked by net worth (engine/score.py), mood
beside it. Public: the same table in play and watch, under a line that says
which round they are after (`as_of`, as `wood sim`'s text standings say it).
The human seat's row is marked; names drawn through `safe`."""
from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from engine.score import Standing

from .. import safe

MAX_STANDING_ROWS = 200
WIDTHS = {"#": 3, "who": 12, "worth": 6, "coins": 5, "debt": 4, "mood": 4}
COLUMNS = ("#", "who", "worth", "coins", "debt", "mood")
SCORE_FIRST = ("#", "who", "worth", "mood", "coins", "debt")  # for a narrow pane: the rest scrolls in
HIGHLIGHT = "bold underline"  # a seat's own name: reads in dark and light themes alike (reverse does not)


def as_of(round_no: int) -> Text:
    """The moment standings are of: after the last round closed (the state's round)."""
    return Text(f"standings after round {round_no}" if round_no else "standings at the start",
                style="dim")


class StandingsTable(DataTable):
    """Rank, name, worth, coins, debt and mood (in `columns` order); `show` replaces the rows."""

    def __init__(self, *, columns: Sequence[str] = COLUMNS, widths: dict[str, int] | None = None, **kw):
        super().__init__(**kw)
        self.columns_shown = tuple(columns)
        self.widths = {**WIDTHS, **(widths or {})}

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label in self.columns_shown:
            self.add_column(label, key=label, width=self.widths[label])

    def show(self, rows: list[Standing], me: str | None = None) -> None:
        """The first MAX_STANDING_ROWS of `rows`, and `me`'s wherever it ranks
        (a seat always sees where it stands); a last row counts those left out."""
        self.clear()
        shown = rows[:MAX_STANDING_ROWS]
        if me is not None and len(rows) > len(shown) and all(r.name != me for r in shown):
            shown = [*shown, *(r for r in rows if r.name == me)]
        for r in shown:
            style = HIGHLIGHT if r.name == me else ""
            # cut to the column, keeping a crowd number: cut by the table, "Squirrel the Younger 2" and "... 3"
            # had both read "Squirrel the"
            cells = {"#": Text(str(r.rank), style="dim"), "who": safe.name(r.name, style=style, width=self.widths["who"]),
                     "worth": Text(str(r.worth), justify="right", style="bold"),
                     "coins": Text(str(r.coins), justify="right"),
                     "debt": Text(str(r.debt) if r.debt else "", justify="right", style="red"),
                     "mood": Text(str(r.mood), justify="right")}
            self.add_row(*(cells[c] for c in self.columns_shown), key=r.name)
        if (left := len(rows) - len(shown)) > 0:  # no key: no creature's row
            more = {"#": Text("…", style="dim"), "who": Text(f"and {left} more", style="dim")}
            self.add_row(*(more.get(c, Text("")) for c in self.columns_shown))
