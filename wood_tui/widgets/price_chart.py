"""Prices: every good's last price, its move and the units traded last round,
one line each; under them the chosen good's price over the rounds, with axes
(price up the side, round numbers along the bottom) and a marker on the
round axis where a shock began on that good (▲) or a tip about it resolved
(◆ came true, ◇ was planted). Click a good's line, or focus the chart and
press ↑/↓, to chart another."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.reactive import reactive
from textual.widget import Widget

from engine.events import Event
from engine.sanitise import cells, pad_cells
from engine.state import State
from engine.world import World

from .chart import Series, line_chart

HISTORY = 200  # rounds kept
SHOCK = ("▲", "bold yellow")
TIP_TRUE = ("◆", "bold bright_white")  # not magenta: the dark theme draws it as red
TIP_PLANTED = ("◇", "white")
LEGEND = "   ▲ shock  ◆ tip true  ◇ planted"


def markers_for(good: str, events: Iterable[Event]) -> dict[int, tuple[str, str]]:
    """Round -> marker for the public events that move `good`'s price: a shock beginning, a tip resolving."""
    out: dict[int, tuple[str, str]] = {}
    for e in events:
        if not e.public or e.data.get("good") != good:
            continue
        if e.kind == "shock_started":
            out[e.round] = SHOCK
        elif e.kind == "tip_resolved" and e.round not in out:
            out[e.round] = TIP_TRUE if e.data.get("truth") else TIP_PLANTED
    return out


class PriceChart(Widget, can_focus=True):
    BINDINGS = [Binding("up,k", "choose(-1)", "previous good", show=False),
                Binding("down,j", "choose(1)", "next good", show=False)]
    DEFAULT_CSS = """
    PriceChart { height: 1fr; padding: 0 1; }
    """
    chosen: reactive[str] = reactive("", layout=False)

    def __init__(self, **kw):
        super().__init__(**kw)
        self.goods: tuple[str, ...] = ()
        self.base: dict[str, int] = {}
        self.rounds: deque[int] = deque(maxlen=HISTORY)
        self.history: dict[str, deque[int]] = {}
        self.volume: dict[str, int] = {}
        self.marks: dict[str, dict[int, tuple[str, str]]] = {}

    async def setup(self, world: World, state: State) -> None:
        self.goods = tuple(world.goods)
        self.base = {g: world.goods[g].base_price for g in world.goods}
        self.history = {g: deque(maxlen=HISTORY) for g in self.goods}
        self.marks = {g: {} for g in self.goods}
        self.chosen = self.goods[0] if self.goods else ""
        self.record(state)

    def record(self, state: State, events: Iterable[Event] = ()) -> None:
        """The state after a round (and that round's events, for the markers)."""
        events = list(events)
        self.rounds.append(state.round)
        for g in self.goods:
            q = state.quotes.get(g)
            hist = self.history[g]
            last = q.last if q is not None and q.last is not None else (hist[-1] if hist else self.base[g])
            hist.append(last)
            self.volume[g] = q.volume if q is not None else 0
            self.marks[g].update(markers_for(g, events))
        self.refresh()

    # ---- choosing a good ---------------------------------------------------
    def action_choose(self, step: int) -> None:
        if self.goods:
            self.chosen = self.goods[(self.goods.index(self.chosen) + step) % len(self.goods)]

    def watch_chosen(self) -> None:
        self.refresh()

    def on_click(self, event: events.Click) -> None:
        row = event.get_content_offset(self)
        if row is not None and 0 <= row.y < len(self.goods):
            self.chosen = self.goods[row.y]

    # ---- drawing -----------------------------------------------------------
    def quote_line(self, g: str, name_w: int) -> Text:
        hist = self.history[g]
        price = hist[-1] if hist else self.base[g]
        prev = hist[-2] if len(hist) > 1 else price
        arrow = ("▲", "green") if price > prev else ("▼", "red") if price < prev else ("·", "dim")
        me = g == self.chosen
        return Text.assemble(("▸ " if me else "  ", "bold"), (pad_cells(g, name_w), "bold" if me else ""),
                             f" {price:>4} ", arrow, (f" {self.volume.get(g, 0):>3} traded", "dim"))

    def render(self) -> Text:
        if not self.goods:
            return Text("no prices yet", style="dim")
        width, height = self.content_size.width, self.content_size.height
        name_w = max(map(cells, self.goods))
        lines = [self.quote_line(g, name_w) for g in self.goods]
        plot_h = height - len(lines) - 4  # a blank line, the title, the x axis and its labels
        if plot_h >= 2:
            g = self.chosen
            hist = list(self.history[g])
            label_w = len(str(max(hist, default=0))) + 1
            n = max(1, min(len(hist), width - label_w - 4))
            rounds = list(self.rounds)[-n:]
            marks = {r: m for r, m in self.marks[g].items() if r in set(rounds)}
            lines.append(Text(""))
            title = Text(f"{g}: price by round", style="bold")
            if title.cell_len + cells(LEGEND) <= width:
                title.append(LEGEND, style="dim")
            lines.append(title)
            lines += line_chart(rounds, [Series(hist[-n:], "●", "cyan")], plot_h, markers=marks)
        out = Text("\n").join(lines)
        out.no_wrap, out.overflow = True, "crop"
        return out
