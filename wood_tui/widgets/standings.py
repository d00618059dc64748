"""The standings: every creature ranked by net worth (engine/score.py), mood
beside it. Public: the same table in play and watch. The human seat's row is
marked; names drawn through `safe`."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from engine.score import Standing

from .. import safe

MAX_STANDING_ROWS = 200


class StandingsTable(DataTable):
    """Rank, name, worth, coins, debt and mood; `show` replaces the rows."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, width in (("#", 3), ("who", 12), ("worth", 6), ("coins", 5), ("debt", 4), ("mood", 4)):
            self.add_column(label, key=label, width=width)

    def show(self, rows: list[Standing], me: str | None = None) -> None:
        self.clear()
        for r in rows[:MAX_STANDING_ROWS]:
            style = "bold reverse" if r.name == me else ""
            self.add_row(Text(str(r.rank), style="dim"), safe.text(r.name, style=style, max_len=24),
                         Text(str(r.worth), justify="right", style="bold"),
                         Text(str(r.coins), justify="right"),
                         Text(str(r.debt) if r.debt else "", justify="right", style="red"),
                         Text(str(r.mood), justify="right"), key=r.name)
