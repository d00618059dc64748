"""The wood's public record as a scrolling log: trades, loans and gifts
(`LOG_KINDS`), or the headlines (shocks, tips resolving, fines;
`HEADLINE_KINDS`), one line each, newest last. Only public events are ever
written; each line is drawn through `safe`."""
from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import RichLog

from engine.events import Event, describe

from .. import safe

LOG_KINDS = {"trade": "green", "accept_fallback": "dim green", "loan_offered": "cyan", "loan_taken": "cyan",
             "loan_repaid": "cyan", "debt_paid": "dim cyan", "default": "bold red", "gift": "magenta",
             "rejected": "dim red", "say": "italic"}
HEADLINE_KINDS = {"shock_started": "bold yellow", "shock_ended": "yellow", "tip_resolved": "bold",
                  "fine": "bold red", "cleared": "", "granary": "bold green", "default": "red",
                  "debt_cleared": "cyan"}


class EventFeed(RichLog):
    """A scrolling log of the public events of the given kinds, newest last."""

    def __init__(self, kinds: dict[str, str], max_lines: int = 500, **kw):
        super().__init__(max_lines=max_lines, min_width=20, wrap=True, markup=False, **kw)
        self.kinds = kinds

    def add_round(self, round_no: int, events: Iterable[Event]) -> None:
        for e in events:
            if e.public and e.kind in self.kinds:
                self.write(Text.assemble((f"{round_no:>3} ", "dim"), safe.text(describe(e), style=self.kinds[e.kind])))
