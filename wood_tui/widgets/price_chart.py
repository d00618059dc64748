"""Prices: a sparkline per good over the last rounds, with the last price and
the units traded last round."""
from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from engine.state import State
from engine.world import World

WINDOW = 40  # rounds shown


class PriceChart(Vertical):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.history: dict[str, deque[int]] = {}
        self.base: dict[str, int] = {}
        self._rows: dict[str, tuple[Sparkline, Label]] = {}

    async def setup(self, world: World, state: State) -> None:
        self.base = {g: world.goods[g].base_price for g in world.goods}
        # start level at the customary price, so the first rounds draw a baseline, not a wall
        self.history = {g: deque([self.base[g]] * WINDOW, maxlen=WINDOW) for g in world.goods}
        self._rows = {g: (Sparkline([]), Label("", classes="price")) for g in world.goods}
        await self.mount_all(Horizontal(Label(Text(g), classes="good"), *pair, classes="price-row")
                             for g, pair in self._rows.items())
        self.record(state)

    def record(self, state: State) -> None:
        for g, hist in self.history.items():
            q = state.quotes[g]
            price = q.last if q.last is not None else self.base[g]
            prev = hist[-1]
            hist.append(price)
            spark, label = self._rows[g]
            spark.data = list(hist)
            arrow = ("▲", "green") if price > prev else ("▼", "red") if price < prev else ("·", "dim")
            label.update(
                Text.assemble(f"{price:>4} ", arrow, (f" {q.volume:>3}u", "dim")))
