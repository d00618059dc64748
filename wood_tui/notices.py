"""When a model fault becomes a notification, for every screen: the first
fault of a creature's streak (a new reason starts a new one), at most a few a
round and a count of the rest. The panels show every fault; notifications
only say what is new, so a dead server does not bury the screen."""
from __future__ import annotations

from textual.app import App

from engine.brains import Decision

from . import safe

PER_ROUND = 3  # fault notifications in one round; the rest are counted


class FaultNotices:
    def __init__(self, per_round: int = PER_ROUND):
        self.per_round = per_round
        self.streak: dict[str, str] = {}  # creature -> the reason of its current run of faults
        self.shown = self.held = 0

    def decided(self, app: App, name: str, decision: Decision) -> None:
        if decision.outcome != "fault":
            self.streak.pop(name, None)
            return
        if self.streak.get(name) == decision.reason:
            return  # the same fault again: the panel says so
        self.streak[name] = decision.reason
        if self.shown < self.per_round:
            self.shown += 1
            safe.notify(app, f"{name}: {decision.reason}", title="model fault", severity="error")
        else:
            self.held += 1

    def round_closed(self, app: App, round_no: int) -> None:
        if self.held:
            whose = "creature's model" if self.held == 1 else "creatures' models"
            safe.notify(app, f"{self.held} more {whose} failed in round {round_no}",
                        title="model faults", severity="error")
        self.shown = self.held = 0
