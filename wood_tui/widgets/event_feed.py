"""The wood's public record as a scrolling log: trades, loans and gifts
(`LOG_KINDS`), or the headlines (shocks, tips resolving, fines;
`HEADLINE_KINDS`), one line each, newest last, each round under a separator
rule (or, for a sparse feed, with its round number in front). Only public
events are ever written; each line is drawn through `safe`.

Colours mean one thing each: green is the market (trades), cyan credit
(loans, repayments), blue kindness (gifts and pacts), yellow the weather
and shorts, red what went wrong (defaults, fines, refused moves, a broken
pact, a short squeezed). Red is never used for
anything else; magenta is not used at all, since the dark terminal theme
draws it exactly as red.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.rule import Rule
from rich.text import Text
from textual import events
from textual.widgets import RichLog

from engine.events import Event, Goods, describe
from engine.recap import reason_words

from .. import safe

LOG_KINDS = {"trade": "green", "accept_fallback": "dim green", "loan_offered": "cyan", "loan_taken": "cyan",
             "loan_repaid": "cyan", "debt_paid": "dim cyan", "wood_debt_paid": "dim cyan", "default": "bold red",
             "gift": "blue",
             "short_opened": "yellow", "pact_proposed": "blue", "rejected": "dim red", "say": "italic"}
HEADLINE_KINDS = {"shock_started": "bold yellow", "shock_ended": "yellow", "tip_resolved": "bold",
                  "fine": "bold red", "cleared": "", "granary": "bold green", "default": "red",
                  "debt_cleared": "cyan", "short_closed": "yellow", "pact_formed": "bold blue",
                  "pact_broken": "red"}


def feed_line(e: Event, style: str, goods: Goods) -> Text:
    """One public event as a line of the log, in its colour. Shorts and pacts
    say a little more than the record's sentence: a proposal made again is
    told as such, and a short squeezed (units nowhere to be had) is red. A
    refused move gives its reason in words. Units are worded by `goods`, the
    world's (`World.goods`)."""
    d = e.data
    if e.kind == "pact_proposed" and d.get("renewed"):
        return safe.text(f"{d['proposer']} proposes a pact to {d['to']} again (#{d['id']})", style=style)
    if e.kind == "rejected":  # the reason in words, never the engine's code
        return safe.text(f"{d['creature']}'s {d['action']} was refused: {reason_words(d.get('reason', ''))}", style=style)
    if e.kind == "short_closed" and d.get("squeezed"):
        return safe.text(describe(e, goods), style="red")
    return safe.text(describe(e, goods), style=style)


class EventFeed(RichLog):
    """A scrolling log of the public events of the given kinds, newest last.
    `separators`: a rule with the round number above each round's lines;
    otherwise each line starts with its round number.

    A `RichLog` keeps its lines as drawn, wrapped at the width it had when
    each was written: a window grown later had kept them narrow. This one
    also keeps what was written (as many source lines as it shows, no more)
    and draws it again, in one write, when its width changes."""

    DEFAULT_CSS = """
    EventFeed { scrollbar-gutter: stable; }
    """

    def __init__(self, kinds: dict[str, str], max_lines: int = 500, separators: bool = True, **kw):
        # lines are wrapped to the log's width when written, never wider: a narrow log (80 columns) had cut
        # "pact" to "pac" (a width floor of 20), or a scroll bar arriving later had cut each line's last letter
        super().__init__(max_lines=max_lines, min_width=8, wrap=True, markup=False, **kw)
        self.kinds = kinds
        self.separators = separators
        self._written: deque[tuple[RenderableType, int]] = deque()  # (what was written, its source lines)
        self._written_lines = 0
        self._drawn_width = 0  # the width the lines in `lines` were wrapped at

    def write(self, content, width=None, expand=False, shrink=True, scroll_end=None, animate=False):
        """As `RichLog.write`, keeping what was written to wrap it again (when
        the log is drawn, not while its size is still unknown)."""
        if self._size_known:
            n = content.plain.count("\n") + 1 if isinstance(content, Text) else 1
            self._written.append((content, n))
            self._written_lines += n
            while self.max_lines and self._written_lines - self._written[0][1] >= self.max_lines:
                self._written_lines -= self._written.popleft()[1]  # what is left still fills the log
            self._drawn_width = self.scrollable_content_region.width
        return super().write(content, width, expand, shrink, scroll_end, animate)

    def clear(self):
        self._written.clear()
        self._written_lines = 0
        return super().clear()

    def on_resize(self, event: events.Resize) -> None:
        """Wrap what the log keeps again at its new width (after `RichLog`
        has drawn the writes it held back until its size was known)."""
        width = self.scrollable_content_region.width
        if not (self._size_known and width and self._written and width != self._drawn_width):
            return
        self._drawn_width = width
        at_end = self.is_vertical_scroll_end
        keep = list(self._written)
        super().clear()  # the lines as drawn, not what they were drawn from
        # one write for the lot: the lines wrap at the log's width and a rule spans it, as when each was written
        RichLog.write(self, Group(*(content for content, _ in keep)), width=max(width, self.min_width),
                      scroll_end=at_end)

    def add_round(self, round_no: int, events: Iterable[Event], goods: Goods) -> None:
        """The round's lines, written at once (one write, not one a line: a
        round of 1,000 creatures has ~700), and only as many as the log keeps
        (the newest, under the round's rule); units worded by `goods`, the world's."""
        shown = [e for e in events if e.public and e.kind in self.kinds]
        if not shown:
            return
        if self.max_lines:
            shown = shown[-(self.max_lines - self.separators):]
        if self.separators:
            self.write(Rule(Text(f"round {round_no}", style="dim"), style="dim", align="left", characters="─"),
                       expand=True)
        lines = [feed_line(e, self.kinds[e.kind], goods) for e in shown]
        if not self.separators:
            lines = [Text.assemble((f"{round_no:>3} ", "dim"), line) for line in lines]
        self.write(Text("\n").join(lines))
