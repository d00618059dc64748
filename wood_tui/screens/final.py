"""The end of the season (play, watch and replay): the final ranking, as a
bar of net worth per creature with its trend over the last rounds beside it,
and the full standings table under it. The chart is drawn to the room it
has, the table's first rows kept in sight under it: at 80x24 the winner's
row and the seats' ranks are on screen; a shorter window scrolls the box.
Built from the final state the game-over message carries, so it is always
the true end, whatever was drawn before. escape goes back to the board; the
play and spectator screens bring it back (F8). A replayed record
that stops short of its season's end (a run stopped early) names no winner:
its standings are its last round's, and it says so. ? or F1 shows how net
worth is counted, wrapped and whole: it is longer than any border it could
sit in."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Static

from engine.metrics import counted
from engine.score import Standing

from .. import safe
from ..plots import eighths_bar
from .modals import HelpScreen
from ..widgets.standings import HIGHLIGHT, SCORE_FIRST, StandingsTable

CHART_ROWS = 10  # creatures drawn in the chart (and the human seats, wherever they finished)
BAR_W = 20
TREND_W = 12
MIN_BAR = 9  # as wide as its heading, "net worth"
MIN_TREND = 4  # the fewest values a trend is cut to
MIN_NAME = 6  # "Squ… 2"
CHART_LEAST = 3  # the chart's fewest lines: its heading, the winner and how many more the table lists
TABLE_LEAST = 4  # the table's fewest lines under it: its heading and the first three (wood.tcss: #final-table)
CHART_W = 76  # the final box's inside at 80 columns: no line of the chart is longer
SPARKS = "▁▂▃▄▅▆▇█"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def bar(value: int, top: int, width: int = BAR_W) -> str:
    """A horizontal bar of `value` out of `top`, in eighths of a cell."""
    return eighths_bar(value, top, width)


def trend(values: Sequence[int], width: int = TREND_W) -> str:
    """The last `width` values as a sparkline, scaled to their own range."""
    vals = list(values)[-width:]
    if not vals:
        return ""
    lo, hi = min(vals), max(vals)
    if hi == lo:
        return SPARKS[3] * len(vals)
    return "".join(SPARKS[round((v - lo) * (len(SPARKS) - 1) / (hi - lo))] for v in vals)


def _picked(rows: Sequence[Standing], seats: Sequence[str], slots: int | None) -> list[Standing]:
    """The creatures the chart draws in `slots` lines (None: as many as it
    likes): the best CHART_ROWS and the seats wherever they finished; in
    fewer lines, fewer of the best (one line says how many are left out),
    the seats kept."""
    full = list(rows[:CHART_ROWS]) + [r for r in rows[CHART_ROWS:] if r.name in seats]
    if slots is None or len(full) + (len(rows) > len(full)) <= slots:
        return full
    slots = max(1, slots - 1)  # a line says how many are left out
    k = min(CHART_ROWS, slots)
    while True:
        shown = list(rows[:k]) + [r for r in rows[k:] if r.name in seats]
        if len(shown) <= slots or k == 1:
            return shown[:slots]
        k -= 1


def worth_chart(rows: Sequence[Standing], history: Mapping[str, Sequence[int]], seats: Sequence[str] = (),
                width: int = CHART_W, height: int | None = None) -> Text:
    """One line per creature, best first: rank, name, a bar of its worth, the
    number, its mood and its worth over the last rounds; no line longer than
    `width` (the bar narrowed to fit, then the names, then the rounds drawn),
    no more lines than `height` (fewer of the best, the seats kept)."""
    shown = _picked(rows, seats, None if height is None else height - 1)
    top = max((r.worth for r in shown), default=0)
    n = max((len(history.get(r.name, ())) for r in shown), default=0)
    w = max([8, *(safe.name(r.name).cell_len for r in shown)])
    drawn = min(n, TREND_W)  # the values a trend draws: the worth at the start, then each round's

    def span(values: int) -> str:  # the rounds a trend of `values` values covers
        return counted(values - 1, "round") if values > 1 else ""

    fixed = 20  # rank, the spaces between columns, the number and the mood: 4 + 1 + 1 + 6 + 2 + 4 + 2
    for label in (f"last {span(drawn)}" if drawn > 1 else "", span(drawn)):  # the heading over the trend
        tail = max(drawn, len(label))
        b = max(MIN_BAR, min(BAR_W, width - fixed - w - tail))  # the bar narrows first
        if fixed + w + b + tail <= width:
            break
    else:  # then the names, then the rounds the trend draws; a heading still too long is cut (below)
        w = max(MIN_NAME, min(w, width - fixed - b - tail))
        if (room := width - fixed - w - b) < drawn:
            drawn = min(drawn, max(MIN_TREND, room))
            label = span(drawn)
    cols = f"{'':>3} {'':<{w}} {'net worth':<{b}} {'':>6}  {'mood':>4}  "
    out = [Text.assemble((cols, "dim"), (label, "dim"))]
    for r in shown:
        name = safe.name(r.name, style=HIGHLIGHT if r.name in seats else "bold", width=w)
        name.pad_right(w - name.cell_len)
        out.append(Text.assemble(
            (f"{r.rank:>3} ", "dim"), name, " ",
            (f"{bar(r.worth, top, b):<{b}}", "green" if r.rank == 1 else "cyan"), " ",
            (f"{r.worth:>6}", "bold red" if r.worth < 0 else "bold"), "  ",
            (f"{r.mood:>4}", ""), "  ",
            (trend(history.get(r.name, ()), drawn), "yellow")))
    if len(rows) > len(shown):
        out.append(Text(f"    … and {len(rows) - len(shown)} more in the table below", style="dim"))
    for line in out:  # narrower than the least it draws: cut, and said to be cut
        line.truncate(width, overflow="ellipsis")
    return Text("\n").join(out)


class WorthChart(Widget):
    """`worth_chart` drawn to the cells it is given, no line wrapped: the
    whole chart where its box has room for it and the table's first rows
    (TABLE_LEAST lines), fewer creatures where it has not (CHART_LEAST lines
    at least: where that is too many, the box scrolls)."""

    def __init__(self, rows: Sequence[Standing], history: Mapping[str, Sequence[int]], seats: Sequence[str],
                 **kw) -> None:
        super().__init__(**kw)
        self.rows, self.history, self.seats = rows, history, seats
        self.lines = len(worth_chart(rows, history, seats).plain.splitlines())  # the whole chart

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(CHART_LEAST, min(self.lines, container.height - TABLE_LEAST))  # container: less the margin

    def render(self) -> Text:
        size = self.content_size
        return worth_chart(self.rows, self.history, self.seats, width=size.width, height=size.height)


class FinalScreen(Screen[None]):
    AUTO_FOCUS = ""  # the table is focused in on_mount, the box left at its top (the winner, the seats' ranks)
    BINDINGS = [
        Binding("escape", "app.pop_screen", "back to the wood"),
        Binding("question_mark,f1", "help", "how the score is counted", key_display="?"),
        Binding("q", "app.quit", "quit"),  # as on the spectator screen (no field here takes letters)
        Binding("ctrl+q", "app.quit", "quit", priority=True),
    ]

    def __init__(self, rows: Sequence[Standing], history: Mapping[str, Sequence[int]], note: str, subtitle: str,
                 seats: Sequence[str], rule: str, ended: bool = True):
        """`ended`: the season was played to its end (False: a record that stops
        short of it, whose standings are its last round's, and no one has won)."""
        super().__init__()
        self.ended = ended
        self.rule = rule  # the score in words (engine.score.worth_rule)
        self.rows = list(rows)
        self.history = history
        self.note = note
        self.subtitle = subtitle
        self.seats = tuple(seats)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="final"):
            yield Static(self._headline(), id="final-title")
            if self.seats:
                yield Static(self._seat_lines(), id="final-seats")
            with Vertical(id="final-body"):
                yield WorthChart(self.rows, self.history, self.seats, id="final-chart")
                yield StandingsTable(id="final-table", columns=SCORE_FIRST)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.subtitle
        box = self.query_one("#final")
        box.border_title = "The season is over: final standings" if self.ended else \
            "The record ends here: its last standings"
        table = self.query_one("#final-table", StandingsTable)
        table.show(self.rows, self.seats[0] if len(self.seats) == 1 else None)
        table.focus(scroll_visible=False)  # its keys walk the rows; the box, where it scrolls, is a tab away

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen((f"THE SCORE. The highest net worth wins: net worth = {self.rule}. At equal "
                                         "worth the higher mood ranks first, then the name, alphabetically.",),
                                        self.BINDINGS))

    def _headline(self) -> Text:
        # the note is a sentence of its own (after the winner's, where there is one)
        note = safe.text(self.note[:1].upper() + self.note[1:] + ("" if self.note.endswith(".") else "."))
        if not self.rows:
            return note
        win = self.rows[0]
        note.stylize("dim")
        return Text.assemble(safe.text(win.name, style="bold green", max_len=40),
                             f" {'wins' if self.ended else 'leads'} with a net worth of {win.worth} (mood {win.mood}). ",
                             note)

    def _seat_lines(self) -> Text:
        by_name = {r.name: r for r in self.rows}
        lines = []
        for name in self.seats:
            r = by_name.get(name)
            if r is None:
                continue
            who = Text("You") if len(self.seats) == 1 else safe.name(name, style="bold")
            lines.append(Text.assemble(who, f" finished {ordinal(r.rank)} of {len(self.rows)}: worth {r.worth} "
                                            f"({r.coins} coins, goods worth {r.goods_value}",
                                       f", owed {r.credit}" if r.credit else "",
                                       f", debts {r.debt}" if r.debt else "",
                                       # open at the end where a resume cut the season short of its due round
                                       f", open shorts {r.shorts}" if r.shorts else "", f"), mood {r.mood}."))
        return Text("\n").join(lines)
