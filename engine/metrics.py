"""What a run measured: trades and volume per good, loans, defaults, tips,
fines, rejections, model-call outcomes. Fed round by round as rounds are
played (`add_round`) or replayed from a ledger on resume (`add_recorded`);
rendered as the summary `wood sim` prints. Every count is of what was fed:
a round whose invariants were not checked is not counted as checked."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .brains import ENGINE_PREFIX
from .events import Event, counted
from .invariants import INVARIANTS
from .sanitise import cells, pad_cells

GOOD_COLUMN = 10  # a column of goods' names in a table printed: at least this wide, in terminal cells


def goods_width(goods) -> int:
    """The terminal cells a column of `goods`' names takes: GOOD_COLUMN, or
    the widest name's cells where it is wider (栗の実: 6 cells, 3 characters)."""
    return max([cells(g) for g in goods] + [GOOD_COLUMN])


def percent(share: float | None) -> str:
    """`37%`, `n/a` for no share; one that is neither none nor all never reads
    `0%` or `100%` (1 of 1,200 refused is `<1%`, the rest valid `>99%`)."""
    return "n/a" if share is None else decimals(100 * share, 0, top=100) + "%"


def decimals(value: float | None, places: int, top: float = 1.0, bottom: float = 0.0) -> str:
    """`value` with `places` decimals, for a value that lies from `bottom` to
    `top` (a share or a Gini: 0..1; a mood: 0..100). A value short of a bound
    never reads as the bound: one that would round to `top` reads `>` and the
    last step below it, one that would round to `bottom` reads `<` and the
    first step above it; only the bound itself reads as the bound.

        decimals(0.996, 2) == ">0.99"     decimals(1.0, 2) == "1.00"
        decimals(0.004, 2) == "<0.01"     decimals(0.0, 2) == "0.00"
        decimals(99.97, 1, top=100) == ">99.9"

    (as `percent` reads `>99%` and `<1%`). An infinite bound is no bound; a
    value outside the bounds reads as it is; None reads `n/a`."""
    if value is None:
        return "n/a"
    shown = f"{value:.{places}f}"
    step = 10.0 ** -places
    if value < top <= float(shown):
        return f">{top - step:.{places}f}"
    if value > bottom >= float(shown):
        return f"<{bottom + step:.{places}f}"
    return shown


@dataclass
class RunSummary:
    rounds: int = 0
    trades: Counter = field(default_factory=Counter)   # good -> trades
    volume: Counter = field(default_factory=Counter)   # good -> units
    kinds: Counter = field(default_factory=Counter)    # event kind -> count
    rejections: Counter = field(default_factory=Counter)
    tips_true: int = 0
    tips_planted: int = 0
    fines_coins: int = 0
    shorts_lost: int = 0      # shorts that closed at a loss
    shorts_squeezed: int = 0  # shorts that closed with units settled at the squeeze price
    tips_whispered: int = 0   # whispers that passed on a tip
    pacts_renewed: int = 0    # pact proposals made again while they stood (not new ones)
    outcomes: Counter = field(default_factory=Counter)  # decision outcome -> count
    stand_ins: int = 0  # passes made for a model whose call failed or whose reply held no usable action
    checks_passed: int = 0
    played: int = 0    # rounds played by this process
    replayed: int = 0  # rounds rebuilt from a ledger (a resume)

    def add_events(self, events: list[Event]) -> None:
        for e in events:
            self.kinds[e.kind] += 1
            d = e.data
            if e.kind == "trade":
                self.trades[d["good"]] += 1
                self.volume[d["good"]] += d["qty"]
            elif e.kind == "rejected":
                self.rejections[d["reason"]] += 1
            elif e.kind == "tip_resolved":
                if d["truth"]:
                    self.tips_true += 1
                else:
                    self.tips_planted += 1
            elif e.kind == "fine":
                self.fines_coins += d["amount"]
            elif e.kind == "short_closed":
                self.shorts_lost += d["profit"] < 0
                self.shorts_squeezed += d["squeezed"] > 0
            elif e.kind == "whisper" and d.get("tip") is not None:
                self.tips_whispered += 1
            elif e.kind == "pact_proposed" and d.get("renewed"):
                self.pacts_renewed += 1

    def add_round(self, result) -> None:
        """A round this process played (a `runner.RoundResult`)."""
        self.played += 1
        self._add(result.round, result.events, result.decisions, result.checked)

    def add_recorded(self, round_no: int, events: list[Event], decisions: dict, checked: bool) -> None:
        """A round rebuilt from a ledger's record."""
        self.replayed += 1
        self._add(round_no, events, decisions, checked)

    def _add(self, round_no: int, events: list[Event], decisions: dict, checked: bool) -> None:
        self.rounds = max(self.rounds, round_no)
        self.add_events(events)
        for d in decisions.values():
            self.outcomes[d.outcome] += 1
            self.stand_ins += d.outcome == "fault" or (d.outcome == "rejected" and not d.reason.startswith(ENGINE_PREFIX))
        if checked:
            self.checks_passed += 1

    def lines(self, goods: tuple[str, ...]) -> list[str]:
        k = self.kinds
        how = f" ({self.replayed} replayed from the save, {self.played} played now)" if self.replayed else ""
        out = [f"rounds: {self.rounds}{how}"]
        w = goods_width(goods)
        for g in goods:
            out.append(f"  {pad_cells(g, w)} trades {self.trades[g]:>6}   volume {self.volume[g]:>7}")
        out.append(f"loans: {k['loan_taken']} taken, {k['loan_repaid']} repaid, {counted(k['default'], 'default')}"
                   f" ({k['loan_offered']} offered)")
        stood_in = f" ({self.stand_ins} of them for a model whose call failed or gave no usable action)" \
            if self.stand_ins else ""
        out.append(f"gifts: {k['gift']}   says: {k['say']}   passes: {k['pass']}{stood_in}")
        # true and planted are counted as tips resolve: one issued near the end resolves after it
        pending = k["tip_issued"] - self.tips_true - self.tips_planted
        unresolved = f", {pending} not yet resolved" if pending else ""
        out.append(f"tips: {k['tip_issued']} issued, {self.tips_true} true, {self.tips_planted} planted{unresolved}")
        out.append(f"fines: {k['fine']} ({counted(self.fines_coins, 'coin')} to the treasury)")
        out.append(f"shorts: {k['short_opened']} opened, {k['short_closed']} closed ({self.shorts_lost} at a loss, "
                   f"{self.shorts_squeezed} squeezed)")
        out.append(f"pacts: {k['pact_proposed'] - self.pacts_renewed} proposed, {k['pact_formed']} formed, {k['pact_broken']} broken")
        out.append(f"whispers: {k['whisper']} ({self.tips_whispered} passing on a tip)")
        rej = ", ".join(f"{r} {n}" for r, n in self.rejections.most_common()) or "none"
        out.append(f"rejected actions: {sum(self.rejections.values())} ({rej})")
        if self.outcomes and set(self.outcomes) - {"scripted"}:
            out.append("decisions: " + ", ".join(f"{o} {n}" for o, n in self.outcomes.most_common()))
        fed = self.played + self.replayed
        if not self.checks_passed:
            out.append("invariant checks: none run")
        else:
            of = f" of {fed}" if self.checks_passed != fed else ""
            rounds = "round" if fed == 1 else "rounds"
            out.append(f"invariant checks passed: {self.checks_passed}{of} {rounds} x {len(INVARIANTS)}"
                       f" ({', '.join(INVARIANTS)})")
        return out
