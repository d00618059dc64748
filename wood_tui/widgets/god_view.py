"""The god view: what only the ledger knows, for spectators (`wood watch`,
`wood replay`) and never for a human seat: tips in the air with their truth
and recipients, loans and debts (who owes whom, when, defaulted or not),
the magistrate's fines so far, and whispers (private lines, model-written).

`secrets` is the pure part: the state after a round plus the events seen so
far -> `Secrets`, plain rows. `GodView` draws them; every name and text in
them goes through `safe`. Only the spectator screen composes a `GodView`,
and nothing here is ever given to a brain: prompts are built from the
engine's `PublicView`, which has no field for any of it.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.events import Event
from engine.metrics import counted
from engine.state import State

from .. import safe

KEEP = 200  # fines and whispers kept (newest)


@dataclass(frozen=True)
class TipRow:
    id: int
    good: str
    text: str
    recipients: tuple[str, ...]
    truth: bool
    resolves: int


@dataclass(frozen=True)
class LoanRow:
    lender: str
    borrower: str
    owed: int
    due: int
    defaulted: bool


@dataclass(frozen=True)
class FineRow:
    round: int
    creature: str
    amount: int
    good: str
    profit: object


@dataclass(frozen=True)
class WhisperRow:
    round: int
    sender: str
    to: str
    text: str
    tip: int | None = None  # the id of a tip the whisper passed on


@dataclass(frozen=True)
class Secrets:
    tips: list[TipRow]
    loans: list[LoanRow]
    fines: list[FineRow]
    whispers: list[WhisperRow]
    treasury: int
    totals: tuple[int, int] | None = None  # (fines, coins) over the whole run, when more than `fines` lists

    @property
    def fined(self) -> int:
        return self.totals[1] if self.totals is not None else sum(f.amount for f in self.fines)


def secrets(state: State, events: Iterable[Event], totals: tuple[int, int] | None = None) -> Secrets:
    """What the ledger knows and the public record does not (yet): pending tips
    from the state, loans from the state, fines and whispers from `events`
    (the newest `KEEP` of each). `totals`: (fines, coins) in the whole run, if
    `events` are not all of them."""
    tips = [TipRow(t.id, t.good, t.text, tuple(t.recipients), t.truth, t.resolves)
            for t in sorted(state.tips.values(), key=lambda t: (t.resolves, t.id)) if not t.resolved]
    loans = [LoanRow(ln.lender, ln.borrower, ln.owed, ln.due, ln.defaulted)
             for ln in sorted(state.loans.values(), key=lambda ln: (not ln.defaulted, ln.due, ln.id))]
    fines, whispers = [], []
    for e in events:
        d = e.data
        if e.kind == "fine":
            fines.append(FineRow(e.round, str(d.get("creature", "?")), int(d.get("amount", 0)),
                                 str(d.get("good", "?")), d.get("profit", "?")))
        elif e.kind == "whisper":
            tip = d.get("tip")
            whispers.append(WhisperRow(e.round, str(d.get("from", "?")), str(d.get("to", "?")), str(d.get("text", "")),
                                       tip if isinstance(tip, int) else None))
    totals = totals or (len(fines), sum(f.amount for f in fines))
    return Secrets(tips, loans, fines[-KEEP:], whispers[-KEEP:], state.treasury, totals)


# ---- drawing -------------------------------------------------------------------
def _none(what: str) -> Text:
    return Text(what, style="dim italic")


def tip_lines(tips: list[TipRow]) -> Text:
    if not tips:
        return _none("no tip in the air")
    out = []
    for t in tips:
        truth = Text(" TRUE ", style="bold green") if t.truth else Text(" PLANTED ", style="bold red")
        to = Text(", ").join(safe.name(r) for r in t.recipients)
        out.append(Text.assemble((f"#{t.id} ", "dim"), truth, (f" resolves r{t.resolves} ", "dim"), safe.text(t.good),
                                 ("  to ", "dim"), to))
        out.append(Text.assemble("   “", safe.text(t.text, style="italic", max_len=120), "”"))
    return Text("\n").join(out)


def loan_lines(loans: list[LoanRow]) -> Text:
    if not loans:
        return _none("nobody owes anybody")
    out = []
    for ln in loans:
        line = Text.assemble(safe.name(ln.borrower, style="bold"), (" owes ", "dim"),
                             safe.name(ln.lender), f" {ln.owed}", (f"  due r{ln.due}", "dim"))
        if ln.defaulted:
            line.append("  defaulted", style="bold red")
        out.append(line)
    return Text("\n").join(out)


def fine_lines(fines: list[FineRow], treasury: int, totals: tuple[int, int] | None = None) -> Text:
    """The fines, newest first, under their count and coins (`totals`: the whole run's, when `fines` is its newest)."""
    if not fines:
        return _none(f"no fines yet (treasury {treasury})")
    count, coins = totals or (len(fines), sum(f.amount for f in fines))
    out = [Text(f"{counted(coins, 'coin')} in {counted(count, 'fine')} · treasury {treasury}", style="dim")]
    for f in reversed(fines):
        out.append(Text.assemble((f"r{f.round} ", "dim"), safe.name(f.creature, style="bold"),
                                 f" fined {f.amount}", (" on ", "dim"), safe.text(f.good),
                                 (" (profit ", "dim"), safe.text(f.profit, max_len=12), (")", "dim")))
    return Text("\n").join(out)


def whisper_lines(whispers: list[WhisperRow]) -> Text:
    if not whispers:
        return _none("no whispers yet")
    out = []
    for w in reversed(whispers):
        out.append(Text.assemble((f"r{w.round} ", "dim"), safe.name(w.sender, style="bold"), (" → ", "dim"),
                                 safe.name(w.to), ": ",
                                 safe.text(w.text, style="italic", max_len=80),
                                 (f" (passes on tip #{w.tip})", "dim") if w.tip else ""))
    return Text("\n").join(out)


class GodView(VerticalScroll):
    """Four sections: tips (with truth), loans and debts, fines, whispers."""

    DEFAULT_CSS = """
    GodView {
        layout: grid;
        grid-size: 4;
        grid-rows: auto;
        grid-gutter: 0 1;
        border: double $warning;
        border-title-color: $warning;
        border-title-style: bold;
        scrollbar-size-vertical: 1;
    }
    GodView > .god-section {
        height: auto;
        border: round $warning 50%;
        border-title-color: $text-muted;
        padding: 0 1;
    }
    """
    SECTIONS = (("god-tips", "tips in the air (truth)"), ("god-loans", "loans and debts"),
                ("god-fines", "fines"), ("god-whispers", "whispers"))

    def compose(self) -> ComposeResult:
        for sid, title in self.SECTIONS:
            section = Static(_none("…"), id=sid, classes="god-section")
            section.border_title = title
            yield section

    def on_mount(self) -> None:
        self.border_title = "god view: what only the ledger knows (g closes)"

    def show(self, s: Secrets) -> None:
        self.query_one("#god-tips", Static).update(tip_lines(s.tips))
        self.query_one("#god-loans", Static).update(loan_lines(s.loans))
        self.query_one("#god-fines", Static).update(fine_lines(s.fines, s.treasury, s.totals))
        self.query_one("#god-whispers", Static).update(whisper_lines(s.whispers))
