"""The creatures on the spectator screen: a panel each for a small wood, a
keyed table (one row per creature, `RosterTable`) plus a panel for the
highlighted creature beyond that. The table sorts by net worth, mood or debt
(`sort_by`; the screen's keys, or a click on the column's header), from the
cards, and keeps the rows in view up to date cell by cell: a row out of view
is drawn from its card when it comes into view.

A `CreatureCard` is what the board knows of one creature this round: holdings,
mood, net worth and debt from the last closed round, its open shorts and its
allies (public facts), whether its brain is thinking, what it decided and
whether the engine carried it out. Every name, model, say line, reason and
raw reply is drawn through `safe`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rich.text import Text
from textual import events
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Static

from engine.actions import Action
from engine.brains import Decision
from engine.events import Event, Goods, units
from engine.parsing import MAX_REPLY_CHARS
from engine.recap import reason_words
from engine.sanitise import cells
from engine.score import Standing
from engine.state import State
from engine.world import RosterEntry

from .. import safe

PANEL_LIMIT = 8  # more creatures than this: a table and one detail panel
MOOD_WIDTH = 10
PANEL_MOOD_WIDTH = 8  # a panel's first line fits a narrow board (80 columns)
SORTS = {"worth": "net worth", "mood": "mood", "debt": "debt"}  # column -> what the table can be sorted by
RAW_SHOWN = 120  # characters of a raw reply a panel shows (a rejected or repaired one)


@dataclass
class CreatureCard:
    entry: RosterEntry
    coins: int = 0
    goods: dict[str, int] = field(default_factory=dict)
    mood: int = 0
    worth: int = 0
    debt: int = 0
    rank: int = 0  # in the standings: ties in worth are broken as there
    shorts: list[tuple[int, str, int]] = field(default_factory=list)  # (units owed, good, due round), soonest first
    allies: list[str] = field(default_factory=list)
    thinking: bool = False
    decision: Decision | None = None
    rejected: str | None = None  # why the engine refused the action, in words


def action_text(a: Action, goods: Goods) -> Text:
    """One line for an action, e.g. `offer sell 3 timber @ 6` (`?` for a field a refused one left out;
    units worded by `goods`, the world's)."""
    def f(v: object) -> object:
        return "?" if v is None else v
    if a.action == "offer":
        s = f"offer {f(a.side)} {units(f(a.qty), f(a.good), goods)} @ {f(a.price)}"
    elif a.action == "accept":
        s = f"accept #{f(a.id)}" + (f" ×{a.qty}" if a.qty else "")
    elif a.action == "lend":
        s = f"lend {f(a.amount)} @ {f(a.rate)}% for {f(a.rounds)}r"
        if a.to:
            return Text.assemble(s + " to ", safe.text(a.to))
    elif a.action == "gift":
        return Text.assemble(safe.text(f"gift {units(f(a.qty), f(a.good), goods)}"), " to ", safe.text(f(a.to)))
    elif a.action == "short":
        s = f"short {units(f(a.qty), f(a.good), goods)} @ {f(a.price)}"
    elif a.action in ("ally", "break"):
        return Text.assemble(f"{'ally with' if a.action == 'ally' else 'break with'} ", safe.text(a.to))
    elif a.action == "whisper":  # to whom, never what: the words are for the god view
        return Text.assemble("whisper to ", safe.text(a.to))
    else:
        s = "pass"
    return safe.text(s)


def mood_bar(mood: int, width: int = MOOD_WIDTH) -> Text:
    filled = round(mood * width / 100)
    style = "green" if mood >= 60 else "yellow" if mood >= 35 else "red"
    return Text.assemble(("█" * filled, style), ("░" * (width - filled), "dim"), f" {mood:>3}")


def doing(card: CreatureCard, goods: Goods) -> Text:
    """What the creature is doing or did this round (units worded by `goods`, the world's)."""
    d = card.decision
    if card.thinking:
        return Text("⋯ thinking…", style="italic yellow")
    if d is None:
        return Text("—", style="dim")
    if d.outcome == "fault":
        return Text.assemble(("✗ ", "bold red"), safe.text(d.reason or "fault", style="bold red"))
    line = Text.assemble(("▸ ", "cyan"), action_text(d.action, goods))
    if card.rejected:  # the engine refused it (a model's well-formed move as well): why, in words, never the code
        line.append_text(Text.assemble(("  ✗ ", "red"), safe.text(card.rejected, style="red")))
    elif d.outcome == "rejected":
        line.append_text(Text.assemble(("  ✗ ", "yellow"), safe.text(d.reason, style="yellow")))
    elif d.outcome == "repaired":
        line.append(" (repaired)", style="dim")
    return line


def said(card: CreatureCard) -> Text:
    d = card.decision
    if d is None or card.thinking:
        return Text("")
    if d.action.say:
        return Text.assemble(("“", "dim"), safe.text(d.action.say, style="italic"), ("”", "dim"))
    if d.raw and d.outcome in ("rejected", "fault", "repaired"):
        low = d.raw[:MAX_REPLY_CHARS].lower()
        # a reply with a "text" field is a private line however its action is spelled ("whsper")
        if d.action.action == "whisper" or "whisper" in low or '"text"' in low:
            # a whisper's words, even garbled, are private: the board says who to whom, the god view the words
            # of one that was sent (a refused or unusable one never became a whisper: nothing of it is anywhere)
            if d.outcome == "repaired" and not card.rejected:
                return Text("raw: (a whisper: its words are in the god view)", style="dim")
            return Text("raw: (a whisper, never sent: its words stay private)", style="dim")
        # only the start can show: cleaning a long reply whole would cost the screen a frame
        return Text.assemble(("raw: ", "dim"), safe.text(d.raw[:RAW_SHOWN * 16], style="dim", max_len=RAW_SHOWN))
    return Text("")


def ties(card: CreatureCard, goods: Goods) -> Text:
    """Its open shorts and its allies, one line: `short 3 honey due r12 · allied with Fox`."""
    parts = []
    if card.shorts:
        parts.append(Text("short " + ", ".join(f"{units(q, g, goods)} due r{due}" for q, g, due in card.shorts), style="yellow"))
    if card.allies:
        parts.append(Text.assemble(("allied with ", "blue"),
                                   Text(", ").join(safe.name(a, style="bold blue") for a in card.allies)))
    return Text(" · ", style="dim").join(parts)


def holdings(card: CreatureCard, goods: Iterable[str]) -> Text:
    return Text("  ").join(Text.assemble((f"{g} ", "dim"), str(card.goods.get(g, 0))) for g in goods)


class CreaturePanel(Static):
    """One creature: name and species, temperament and model on the border; mood,
    coins, goods, its shorts and allies (when it has any), what it did (or ⋯
    while thinking, or its fault) and what it said."""

    TITLE_FRAME = 6  # the border's cells around its title: "╭─ " and " ─╮"

    def __init__(self, goods: Goods, **kw):
        super().__init__(**kw)
        self.goods = goods
        self.creature = ""  # the name of the creature shown

    def show(self, card: CreatureCard) -> None:
        e = card.entry
        self.creature = e.name
        self._name_title()
        self.border_subtitle = safe.text(f"{e.species} · {e.temperament} · {e.model}", max_len=60)
        fault = card.decision is not None and card.decision.outcome == "fault" and not card.thinking
        self.set_class(fault, "-fault")
        self.set_class(card.thinking, "-thinking")
        tied = ties(card, self.goods)
        self.update(Text("\n").join([
            Text.assemble(("mood ", "dim"), mood_bar(card.mood, PANEL_MOOD_WIDTH), ("  coins ", "dim"),
                          (str(card.coins), "bold")),
            holdings(card, self.goods),
            *([tied] if tied else []),
            doing(card, self.goods),
            said(card),
        ]))

    def _name_title(self) -> None:
        """The name on the border, fitted to it as `safe.name` cuts a name (keeping its end): cut by the
        border, 'Squirrel the Younger of the Old Oak 2' and '... 3' had both read 'Squirrel the Younger of th…'."""
        width = self.outer_size.width - self.TITLE_FRAME if self.outer_size.width else safe.NAME_SHOWN
        self.border_title = safe.name(self.creature, width=max(4, width))

    def on_resize(self, event: events.Resize) -> None:
        if self.creature:
            self._name_title()


class NameCell(Text):
    """A creature's name in the roster table, knowing the row it names: the
    table is sorted by the cards (its other cells may be out of date, out of view)."""

    def __init__(self, shown: Text, name: str):
        super().__init__(shown.plain, style=shown.style)
        self.name = name


def same(a: object, b: Text) -> bool:
    """The cell already shows `b` (text, style, spans, justification)."""
    return isinstance(a, Text) and (a.plain, a.style, a.spans, a.justify) == (b.plain, b.style, b.spans, b.justify)


class RosterTable(DataTable):
    """The large roster's table. Only rows in view are written, and of them
    only the cells that changed: at 1,000 creatures a round had been ~14,000
    `update_cell` calls (every cell of every row, and each row's `doing` twice
    more), and the keys waited behind them. A row that changes out of view is
    `stale`, and drawn from its card (`cells`) when it scrolls, or is sorted,
    or is resized into view; what is on screen is always the cards' truth."""

    def __init__(self, cells: Callable[[str], dict[str, Text]], **kw):
        super().__init__(**kw)
        self.cells = cells
        self.stale: set[str] = set()

    def on_mount(self) -> None:
        self.watch(self, "scroll_y", self.catch_up, init=False)

    def on_resize(self, event: events.Resize) -> None:
        self.catch_up()

    def view(self) -> range:
        """The row indices in view."""
        top = int(self.scroll_y)
        rows = self.scrollable_content_region.height - (self.header_height if self.show_header else 0)
        return range(top, top + max(0, rows) + 1)  # a row partly in view too

    def changed(self, name: str) -> None:
        """`name`'s card changed: its row is written now if in view, else when it comes into view."""
        self.stale.add(name)
        if self.get_row_index(name) in self.view():
            self._write(name)

    def catch_up(self) -> None:
        """Write the stale rows now in view."""
        view = self.view()
        for name in [n for n in self.stale if self.get_row_index(n) in view]:
            self._write(name)

    def _write(self, name: str) -> None:
        self.stale.discard(name)
        for key, cell in self.cells(name).items():
            if not same(self.get_cell(name, key), cell):
                self.update_cell(name, key, cell)


class CreatureBoard(Vertical):
    """All the creatures: panels for a small wood, a table and a detail panel for a large one."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.cards: dict[str, CreatureCard] = {}
        self.goods: Goods = {}
        self.sort_by: str | None = None  # a key of SORTS; None: roster order
        self.descending = True
        self._panels: dict[str, CreaturePanel] = {}
        self._table: RosterTable | None = None
        self._detail: CreaturePanel | None = None
        self._selected: str | None = None

    async def setup(self, roster: list[RosterEntry], state: State, goods: Goods,
                    standings: list[Standing] = ()) -> None:
        """The board for `roster` at `state`; `standings` (engine/score.py): each one's worth and debt
        there (a resumed run's are its own from the start, not 0 until a round closes); `goods`: the
        world's (`World.goods`), its columns and the words for its units."""
        self.goods = goods
        self.cards = {r.name: CreatureCard(r) for r in roster}
        self._take(state, standings)
        if len(roster) <= PANEL_LIMIT:
            self._panels = {r.name: CreaturePanel(goods, classes="creature") for r in roster}
            await self.mount(VerticalScroll(*self._panels.values(), id="panels"))
        else:
            self._table = RosterTable(self._row, id="creature-table", cursor_type="row", zebra_stripes=True)
            self._detail = CreaturePanel(goods, id="creature-detail", classes="creature")
            await self.mount(self._table, self._detail)
            self._title()
            # fixed widths: cells change every round, and auto widths would move under the reader;
            # the name column is as wide as the widest name shown (safe.name: cells, at most NAME_SHOWN), so none
            # is cut further
            name_w = max(8, max(safe.name(r.name).cell_len for r in roster))
            for label, key, width in (("creature", "name", name_w), ("worth", "worth", 6), ("mood", "mood", 4),
                                      ("debt", "debt", 4), ("short", "short", 5), ("ally", "allies", 4),
                                      ("coins", "coins", 5), ("doing", "doing", 32),
                                      *((g, g, max(4, cells(g))) for g in goods), ("species", "species", 9)):
                # a str label is read as markup by DataTable: a good's name is the world file's, shown as written
                self._table.add_column(safe.text(label), key=key, width=width)
            for name in self.cards:
                self._table.add_row(NameCell(safe.name(name), name), *self._row(name).values(), key=name)
            self._selected = roster[0].name
        for name in self.cards:
            self._show(name)

    # ---- what happened -------------------------------------------------
    def thinking(self, name: str) -> None:
        if card := self.cards.get(name):
            card.thinking = True
            self._show(name)

    def decided(self, name: str, decision: Decision) -> None:
        if card := self.cards.get(name):
            card.thinking, card.decision, card.rejected = False, decision, None
            self._show(name)

    def round_closed(self, state: State, decisions: dict[str, Decision], events: list[Event],
                     standings: list[Standing] = ()) -> None:
        """The round's results; `standings` (engine/score.py) give each creature's worth and debt."""
        self._take(state, standings)
        rejected = {e.data["creature"]: reason_words(e.data["reason"]) for e in events if e.kind == "rejected"}
        for name, card in self.cards.items():
            card.thinking = False
            card.decision = decisions.get(name, card.decision)
            card.rejected = rejected.get(name)
        if self._table is not None:
            self._table.stale.update(self.cards)  # written as they are in view, once sorted
        for name in self.cards:
            self._show(name, stale=True)
        self._sort()

    def _take(self, state: State, standings: list[Standing] = ()) -> None:
        for name, c in state.creatures.items():
            if card := self.cards.get(name):
                card.coins, card.goods, card.mood = c.coins, dict(c.goods), c.mood
                card.shorts, card.allies = [], state.allies(name)
        for r in standings:
            if card := self.cards.get(r.name):
                card.worth, card.debt, card.rank = r.worth, r.debt, r.rank
        for x in sorted(state.shorts.values(), key=lambda x: (x.due, x.id)):
            if card := self.cards.get(x.owner):
                card.shorts.append((x.owed, x.good, x.due))

    # ---- sorting ---------------------------------------------------------
    def sort(self, by: str | None) -> None:
        """Sort the table by a column of SORTS, highest first (the same again: lowest first); None: roster order."""
        if by is not None and by not in SORTS:
            return
        self.descending = not self.descending if by == self.sort_by and by is not None else True
        self.sort_by = by
        if self._table is not None and self._table.row_count:
            # a new order is read from its top: the cursor goes there, and the panel under the table with it
            self._selected = None
            self._sort()
            self._selected = self._table.ordered_rows[0].key.value
            self._table.move_cursor(row=0)
            if self._detail is not None:
                self._detail.show(self.cards[self._selected])
        self._title()

    def order(self) -> list[str]:
        """The creatures in the order the table shows them (roster order for panels)."""
        if self._table is None:
            return list(self.cards)
        return [row.key.value for row in self._table.ordered_rows]

    def _sort(self) -> None:
        """The rows in the chosen order, by the cards (the key sees the name cell, which knows its row)."""
        if self._table is None:
            return
        place = {name: i for i, name in enumerate(self.cards)}
        if self.sort_by is None:
            self._table.sort("name", key=lambda cell: place[cell.name])
        else:
            sign = -1 if self.descending else 1
            tie = (lambda n: self.cards[n].rank) if self.sort_by == "worth" else place.__getitem__  # as the standings
            self._table.sort("name", key=lambda cell: (sign * getattr(self.cards[cell.name], self.sort_by),
                                                       sign * -tie(cell.name)))
        self._follow()
        self._table.catch_up()

    def _follow(self) -> None:
        """Keep the cursor on the chosen creature, whose panel shows under the table: a new round's
        re-sort moves the rows, not the cursor."""
        if self._table is not None and self._selected is not None and self._selected in self._table.rows:
            row = self._table.get_row_index(self._selected)
            if row != self._table.cursor_row:
                self._table.move_cursor(row=row)

    def _title(self) -> None:
        if self._table is None:
            return
        how = "roster order" if self.sort_by is None else \
            f"by {SORTS[self.sort_by]}, {'highest' if self.descending else 'lowest'} first"
        self._table.border_title = f"{len(self.cards)} creatures · {how}"
        self._table.border_subtitle = "sort: w worth · m mood · d debt · o roster"

    # ---- drawing ---------------------------------------------------------
    def _row(self, name: str) -> dict[str, Text]:
        """The table's cells for `name` but its name, by column key, from its card."""
        card = self.cards[name]
        return {"worth": Text(str(card.worth), justify="right"), "mood": Text(str(card.mood), justify="right"),
                "debt": Text(str(card.debt) if card.debt else "", justify="right", style="red"),
                "short": Text(str(sum(q for q, _, _ in card.shorts)) if card.shorts else "", justify="right",
                              style="yellow"),
                "allies": Text(str(len(card.allies)) if card.allies else "", justify="right", style="blue"),
                "coins": Text(str(card.coins), justify="right"), "doing": doing(card, self.goods),
                **{g: Text(str(card.goods.get(g, 0)), justify="right") for g in self.goods},
                "species": safe.text(card.entry.species)}

    def _show(self, name: str, stale: bool = False) -> None:
        """`name`'s card changed: its panel, or its row in the table (`stale`: marked so, written later)."""
        card = self.cards[name]
        if panel := self._panels.get(name):
            panel.show(card)
        if self._table is not None:
            if not stale:
                self._table.changed(name)
            if name == self._selected and self._detail is not None:
                self._detail.show(card)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        self.sort(None if key == "name" else key)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value
        if name in self.cards and self._detail is not None:
            self._selected = name
            self._detail.show(self.cards[name])
