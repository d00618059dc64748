"""`FittedTable`: a table whose columns fit what they hold, one space apart,
with one column of names (`FLEX`) fitted to the width left in view."""
from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from .. import safe


class FittedTable(DataTable):
    """A table whose columns are as wide as what they hold, never narrower
    than `WIDTHS`, one space apart (no cell padding: on an 80-column screen
    the padding of six columns is a column's worth). A cell is never cut: at
    fixed widths offer #1234 read "123", a price of 13 read "1" and
    "Squirrel 12" read "Squirrel", another creature. The one exception is
    the `FLEX` column (names): it takes the width left in view, and a name
    longer than that is shortened with a "…", keeping its crowd number
    ("Squi… 12"), rather than run off the table's edge; before a name is
    shortened, the `SPARE` columns are left out (the least needed)."""

    WIDTHS: dict[str, int] = {}
    FLEX: str | None = None
    FLEX_MIN = 4  # the FLEX column is never narrower: past that, the table scrolls
    SPARE: tuple[str, ...] = ()  # columns left out, first to last, where the names would not show whole

    def on_mount(self) -> None:
        self.cell_padding = 0
        self.rows_shown: list[tuple[str, Sequence[Text]]] | None = None  # for a new fit after a resize
        self._columns(dict(self.WIDTHS))

    def on_resize(self, event: events.Resize) -> None:
        if self.FLEX is not None and self.rows_shown is not None:
            self.fill(self.rows_shown)  # the names, fitted to the new width

    def _columns(self, widths: dict[str, int]) -> None:
        """The columns at these widths (and a space after each but the last):
        the table is cleared."""
        if getattr(self, "widths", None) == widths:
            self.clear()
            return
        self.widths = widths
        self.clear(columns=True)
        last = list(widths)[-1]
        for label, width in widths.items():
            self.add_column(label, key=label, width=width + (label != last))

    def fill(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Show `rows` ((key, cells in `WIDTHS`' order)), the columns widened to fit them."""
        self.rows_shown = list(rows)
        widths = dict(self.WIDTHS)
        for _, cells in rows:
            for label, cell in zip(self.WIDTHS, cells):
                widths[label] = max(widths[label], cell.cell_len)
        if self.FLEX is not None and (room := self._room(len(rows))):
            def left() -> int:  # the width left for the names
                return room - sum(w for label, w in widths.items() if label != self.FLEX) - (len(widths) - 1)
            for spare in self.SPARE:
                if left() >= widths[self.FLEX]:
                    break
                del widths[spare]
            widths[self.FLEX] = max(self.FLEX_MIN, min(widths[self.FLEX], left()))
        self._columns(widths)
        for key, cells in rows:
            shown = dict(zip(self.WIDTHS, cells))
            self.add_row(*(self._placed(self._fitted(label, shown.get(label, Text("")), w), w)
                           for label, w in widths.items()), key=key)

    def _room(self, rows: int) -> int:
        """The cells across the table can show without scrolling sideways (0: not laid out yet)."""
        width, height = self.content_region.width, self.content_region.height
        if not width:
            return 0
        scrolls = rows + (1 if self.show_header else 0) > height  # a scroll bar takes a column
        return width - (self.styles.scrollbar_size_vertical if scrolls else 0)

    def _fitted(self, label: str, cell: Text, width: int) -> Text:
        if label != self.FLEX or cell.cell_len <= width:
            return cell
        return safe.name(cell.plain, style=cell.style, width=width)

    def reset(self) -> None:
        """Empty, at the narrowest widths: nothing of what it showed, not even how wide it was."""
        self.rows_shown = None
        self._columns(dict(self.WIDTHS))

    @staticmethod
    def _placed(cell: Text, width: int) -> Text:
        """A right-justified cell, padded on the left to its column's width
        (the table's own right-justifying would take away the space after it)."""
        if cell.justify != "right":
            return cell
        return Text.assemble(" " * (width - cell.cell_len), cell)
