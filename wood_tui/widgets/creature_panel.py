"""The creatures on the spectator screen: a panel each for a small wood, a
keyed table (one row per creature, updated cell by cell) plus a panel for the
highlighted creature beyond that.

A `Standing` is what the board knows of one creature this round: holdings and
mood from the last closed round, whether its brain is thinking, what it
decided and whether the engine carried it out. Every name, model, say line,
reason and raw reply is drawn through `safe`.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from engine.actions import Action
from engine.brains import Decision
from engine.events import Event
from engine.state import State
from engine.world import RosterEntry

from .. import safe

PANEL_LIMIT = 8  # more creatures than this: a table and one detail panel
MOOD_WIDTH = 10


@dataclass
class Standing:
    entry: RosterEntry
    coins: int = 0
    goods: dict[str, int] = field(default_factory=dict)
    mood: int = 0
    thinking: bool = False
    decision: Decision | None = None
    rejected: str | None = None  # the engine's reason, when it refused the action


def action_text(a: Action) -> Text:
    """One line for an action, e.g. `offer sell 3 timber @ 6`."""
    if a.action == "offer":
        s = f"offer {a.side} {a.qty} {a.good} @ {a.price}"
    elif a.action == "accept":
        s = f"accept #{a.id}" + (f" ×{a.qty}" if a.qty else "")
    elif a.action == "lend":
        s = f"lend {a.amount} @ {a.rate}% for {a.rounds}r"
        if a.to:
            return Text.assemble(s + " to ", safe.text(a.to))
    elif a.action == "gift":
        return Text.assemble(f"gift {a.qty} {a.good} to ", safe.text(a.to))
    else:
        s = "pass"
    return safe.text(s)


def mood_bar(mood: int) -> Text:
    filled = round(mood * MOOD_WIDTH / 100)
    style = "green" if mood >= 60 else "yellow" if mood >= 35 else "red"
    return Text.assemble(("█" * filled, style), ("░" * (MOOD_WIDTH - filled), "dim"), f" {mood:>3}")


def doing(st: Standing) -> Text:
    """What the creature is doing or did this round."""
    d = st.decision
    if st.thinking:
        return Text("⋯ thinking…", style="italic yellow")
    if d is None:
        return Text("—", style="dim")
    if d.outcome == "fault":
        return Text.assemble(("✗ ", "bold red"), safe.text(d.reason or "fault", style="bold red"))
    line = Text.assemble(("▸ ", "cyan"), action_text(d.action))
    if d.outcome == "rejected":
        line.append_text(Text.assemble(("  ✗ ", "yellow"), safe.text(d.reason, style="yellow")))
    elif st.rejected:
        line.append_text(Text.assemble(("  ✗ ", "red"), safe.text(st.rejected, style="red")))
    elif d.outcome == "repaired":
        line.append(" (repaired)", style="dim")
    return line


def said(st: Standing) -> Text:
    d = st.decision
    if d is None or st.thinking:
        return Text("")
    if d.action.say:
        return Text.assemble(("“", "dim"), safe.text(d.action.say, style="italic"), ("”", "dim"))
    if d.raw and d.outcome in ("rejected", "fault", "repaired"):
        return Text.assemble(("raw: ", "dim"), safe.text(d.raw, style="dim", max_len=120))
    return Text("")


def holdings(st: Standing, goods: Iterable[str]) -> Text:
    return Text("  ").join(Text.assemble((f"{g} ", "dim"), str(st.goods.get(g, 0))) for g in goods)


class CreaturePanel(Static):
    """One creature: name and species, temperament and model on the border; mood,
    coins, goods, what it did (or ⋯ while thinking, or its fault) and what it said."""

    def __init__(self, goods: tuple[str, ...], **kw):
        super().__init__(**kw)
        self.goods = goods

    def show(self, st: Standing) -> None:
        e = st.entry
        self.border_title = safe.text(e.name, max_len=40)
        self.border_subtitle = safe.text(f"{e.species} · {e.temperament} · {e.model}", max_len=60)
        fault = st.decision is not None and st.decision.outcome == "fault" and not st.thinking
        self.set_class(fault, "-fault")
        self.set_class(st.thinking, "-thinking")
        self.update(Text("\n").join([
            Text.assemble(("mood ", "dim"), mood_bar(st.mood), ("   coins ", "dim"), (str(st.coins), "bold")),
            holdings(st, self.goods),
            doing(st),
            said(st),
        ]))


class CreatureBoard(Vertical):
    """All the creatures: panels for a small wood, a table and a detail panel for a large one."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.standings: dict[str, Standing] = {}
        self.goods: tuple[str, ...] = ()
        self._panels: dict[str, CreaturePanel] = {}
        self._table: DataTable | None = None
        self._detail: CreaturePanel | None = None
        self._selected: str | None = None

    async def setup(self, roster: list[RosterEntry], state: State, goods: tuple[str, ...]) -> None:
        self.goods = goods
        self.standings = {r.name: Standing(r) for r in roster}
        self._take(state)
        if len(roster) <= PANEL_LIMIT:
            self._panels = {r.name: CreaturePanel(goods, classes="creature") for r in roster}
            await self.mount(VerticalScroll(*self._panels.values(), id="panels"))
        else:
            self._table = DataTable(id="creature-table", cursor_type="row", zebra_stripes=True)
            self._detail = CreaturePanel(goods, id="creature-detail", classes="creature")
            await self.mount(self._table, self._detail)
            self._table.border_title = f"{len(roster)} creatures"
            # fixed widths: cells change every round, and auto widths would move under the reader
            for label, key, width in (("creature", "name", 14), ("mood", "mood", 4), ("coins", "coins", 5),
                                      ("doing", "doing", 32), *((g, g, max(4, len(g))) for g in goods),
                                      ("species", "species", 9)):
                self._table.add_column(label, key=key, width=width)
            for name, st in self.standings.items():
                self._table.add_row(*self._cells(st), key=name)
            self._selected = roster[0].name
        for name in self.standings:
            self._show(name, full=False)

    # ---- what happened -------------------------------------------------
    def thinking(self, name: str) -> None:
        if st := self.standings.get(name):
            st.thinking = True
            self._show(name)

    def decided(self, name: str, decision: Decision) -> None:
        if st := self.standings.get(name):
            st.thinking, st.decision, st.rejected = False, decision, None
            self._show(name)

    def round_closed(self, state: State, decisions: dict[str, Decision], events: list[Event]) -> None:
        self._take(state)
        rejected = {e.data["creature"]: e.data["reason"] for e in events if e.kind == "rejected"}
        for name, st in self.standings.items():
            st.thinking = False
            st.decision = decisions.get(name, st.decision)
            st.rejected = rejected.get(name)
        for name in self.standings:
            self._show(name, full=True)

    def _take(self, state: State) -> None:
        for name, c in state.creatures.items():
            if st := self.standings.get(name):
                st.coins, st.goods, st.mood = c.coins, dict(c.goods), c.mood

    # ---- drawing ---------------------------------------------------------
    def _cells(self, st: Standing) -> list[Text]:
        return [safe.text(st.entry.name, max_len=24), Text(str(st.mood)), Text(str(st.coins)), doing(st),
                *(Text(str(st.goods.get(g, 0))) for g in self.goods), safe.text(st.entry.species)]

    def _show(self, name: str, full: bool = False) -> None:
        st = self.standings[name]
        if panel := self._panels.get(name):
            panel.show(st)
        if self._table is not None:
            if full:
                cells = self._cells(st)
                for key, cell in zip(("mood", "coins"), cells[1:3], strict=True):
                    self._table.update_cell(name, key, cell)
                for key, cell in zip(self.goods, cells[4:-1], strict=True):
                    self._table.update_cell(name, key, cell)
            self._table.update_cell(name, "doing", doing(st))
            if name == self._selected and self._detail is not None:
                self._detail.show(st)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value
        if name in self.standings and self._detail is not None:
            self._selected = name
            self._detail.show(self.standings[name])
