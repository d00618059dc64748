"""Rebuilding a run from its ledger: the recorded actions, replayed through
the pure rules, must reproduce every recorded state hash.

`replayed_rounds` is the one replay loop: each recorded round rebuilt, with
its events, flows and decisions. `rebuild` (`wood replay --verify`),
`verified_state` (every resume, giving the event loop turns: a screen stays
alive meanwhile), the app's `wood replay` and the economy
report read rounds from it.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .actions import PASS
from .brains import ENGINE_PREFIX, Decision
from .events import Event
from .invariants import InvariantError, check_round
from .ledger import Ledger, LedgerError, _show, _who
from .rules import Flows, close_round, open_round
from .sanitise import shown_path
from .state import State, initial_state, state_hash
from .world import RosterEntry, World


VERIFY_YIELD_ROUNDS = 10  # rounds verified between two turns of the event loop (`verified_state`)

@dataclass(frozen=True)
class ReplayedRound:
    round: int
    before: State
    after: State
    events: list[Event]
    flows: tuple[Flows, Flows]  # the world step's, then the actions' and eating's
    decisions: dict[str, Decision]


def check_roster(ledger: Ledger, world: World) -> list[RosterEntry]:
    """The save's roster, if every creature's species and temperament exist in
    this wood; a one-line LedgerError otherwise."""
    return ledger.check_fits(world)


# Why a round's state does not rebuild to its recorded hash: the engine cannot tell which (the save records no
# digest of its world), so each is said; a world edited since (the world is data) had been left out
NOT_REBUILT = ("the save was changed, or played by other rules or in another world (goods, creatures or shocks "
               "files other than those installed)")


class Diverged(LedgerError):
    """A save whose recorded actions do not rebuild to its recorded states."""


@contextlib.contextmanager
def checked_record(path: str | Path, world: World) -> Iterator[Ledger]:
    """A save opened read-only with its whole record checked first (its roster
    fits this wood, every row reads): a damaged save is one LedgerError line
    before anything is replayed, shown or written."""
    ledger = Ledger.open(path, readonly=True)
    try:
        check_roster(ledger, world)
        ledger.check_records()
        yield ledger
    finally:
        ledger.close()


def replayed_rounds(ledger: Ledger, world: World, *, upto: int | None = None,
                    verify: bool = False) -> Iterator[ReplayedRound]:
    """Rounds 1..`upto` (default: the last committed) rebuilt from the recorded
    actions; with `verify`, each rebuilt state's hash is held to the round's
    recorded one first: a LedgerError (`Diverged`) at the first that differs
    or is missing, so nothing is measured or shown from a changed record."""
    last = ledger.last_round() if upto is None else upto
    roster = check_roster(ledger, world)
    try:
        state = initial_state(world, ledger.seed, roster)
    except (KeyError, ValueError) as e:
        raise LedgerError(f"{shown_path(ledger.path)}: its roster does not fit this wood ({e})") from None
    ends = ledger.ends()
    tips = _recorded_tips(ledger) if verify else {}
    for r in range(1, last + 1):
        end = next((e for first, e in reversed(ends) if first <= r), 0)
        if state.end != end:  # the game's length as it stood when this round was played
            state = state.copy()
            state.end = end
        decisions = ledger.decisions(r)
        stranger = next((n for n in decisions if n not in state.creatures), None)
        if stranger is not None:
            raise LedgerError(f"{shown_path(ledger.path)}: round {r}: an action by {stranger!r}, who is not in the roster")
        mid, opening, f_open = open_round(state, world)
        after, closing, f_close = close_round(mid, world, {n: d.action for n, d in decisions.items()}, opening)
        if verify and state_hash(after) != ledger.round_hash(r):
            raise Diverged(f"{shown_path(ledger.path)}: round {r} does not rebuild to its recorded state ({NOT_REBUILT})")
        if verify:
            _hold_to_record(ledger, r, mid, [*opening, *closing], decisions, tips.get(r, []))
        yield ReplayedRound(r, state, after, [*opening, *closing], (f_open, f_close), decisions)
        state = after


APPLIED = ("clean", "repaired")  # a model call whose action the engine took as it was (after mending its text)
MODEL_OUTCOMES = (*APPLIED, "rejected", "fault")  # what a model call's decision can come to (`Decision.outcome`)
OUTCOMES = ("scripted", "human", *MODEL_OUTCOMES)  # every outcome a decision is recorded with


def _recorded_tips(ledger: Ledger) -> dict[int, list[tuple]]:
    """The tips table by the round each tip was issued, as `_hold_to_record` compares them."""
    out: dict[int, list[tuple]] = {}
    for t in ledger.tips():
        out.setdefault(t["issued"], []).append(_tip_row(t["id"], t["shock"], t["good"], t["text"], t["recipients"],
                                                        t["truth"], t["issued"], t["resolves"]))
    return out


def _tip_row(*fields) -> tuple:
    return tuple(tuple(f) if isinstance(f, list) else f for f in fields)


def _hold_to_record(ledger: Ledger, r: int, opened: State, events: list[Event], decisions: dict[str, Decision],
                    tips: list[tuple]) -> None:
    """The rest of round `r`'s record is what its recorded actions make: its
    events (what reports, recaps and exports read), the tips it issued (their
    truth), each model call's model and applied action (a fine-tuning
    target), and each decision's outcome and reason (what a report counts as
    valid, repaired, rejected or a fault); a `Diverged` naming the first part
    that is not. The state hash alone holds none of these."""
    changed = f"{shown_path(ledger.path)}: round {r}'s recorded {{}} {{}} not what its actions make (the save was changed)"
    rebuilt = [(e.kind, e.public, tuple(e.who), json.loads(json.dumps(e.data))) for e in events]
    if [(e.kind, e.public, tuple(e.who), e.data) for e in ledger.events(r)] != rebuilt:
        raise Diverged(changed.format("events", "are"))
    issued = [_tip_row(t.id, t.shock, t.good, t.text, t.recipients, t.truth, t.issued, t.resolves)
              for e in events if e.kind == "tip_issued" for t in (opened.tips[e.data["tip"]],)]
    if sorted(issued) != sorted(tips):
        raise Diverged(changed.format("tips", "are"))
    called = set()
    for call in ledger.calls(r):
        d = decisions.get(call["creature"])
        # a call is a model's decision, recorded with it: by a creature that decided this round, with its outcome
        # (a call added by hand to a scripted run, or one by no creature, went to a fine-tuning set as verified),
        # made to the creature's model (the report counts calls, and --sft --model picks them, by it)
        if d is None or call["outcome"] not in MODEL_OUTCOMES or call["outcome"] != d.outcome or (
                call["model"] != opened.creatures[call["creature"]].model) or (
                call["reason"] or "") != d.reason or call["action"] != _call_action(d):
            raise Diverged(changed.format(f"model call of {call['creature']!r}", "is"))
        called.add(call["creature"])
    refused: dict[str, str] = {}
    for e in events:  # the engine's first refusal of each creature's action is the verdict its decision records
        if e.kind == "rejected":
            refused.setdefault(e.data["creature"], e.data["reason"])
    for name, d in decisions.items():
        # a decision's outcome and reason are what the report counts (valid, repaired, rejected by reason,
        # faults) and no hash covers them: held to the action, the engine's verdict and the model call
        if (why := _unlike(d, refused.get(name), name in called)) is not None:
            raise Diverged(f"{shown_path(ledger.path)}: round {r}, {_who(name)}'s recorded outcome {_show(d.outcome)} "
                           f"is not what the round makes it ({why}; the save was changed)")


def _call_action(d: Decision) -> dict | None:
    """The action a model call of decision `d` records: the model's proposal,
    applied or refused by the engine; none for a fault or a reply that was
    no action. (A clean call recorded with none was left out of a
    fine-tuning set, unseen.)"""
    proposed = d.outcome in APPLIED or (d.outcome == "rejected" and d.reason.startswith(ENGINE_PREFIX))
    return d.action.compact() if proposed else None


def _unlike(d: Decision, refused: str | None, called: bool) -> str | None:
    """Why decision `d` could not have been recorded so, given the engine's
    reason for refusing its action this round (None: not refused) and whether
    a model call of it is recorded; None: it could."""
    if d.outcome not in OUTCOMES:
        return "no decision has that outcome"
    engine = d.outcome == "rejected" and d.reason.startswith(ENGINE_PREFIX)
    if d.outcome in APPLIED and refused is not None:
        return "the engine refused its action, which makes a model's decision rejected"
    if engine and d.reason != f"{ENGINE_PREFIX}{refused}":
        return "the engine did not refuse its action" if refused is None else "the engine refused its action otherwise"
    if (d.outcome == "fault" or (d.outcome == "rejected" and not engine)) and d.action != PASS:
        return f"a fault or a reply that was no action passes, and it is recorded as {_show(d.action.action)}"
    if d.outcome in MODEL_OUTCOMES and d.outcome != "fault" and not called:
        return "a model's decision, with no model call recorded"
    return None


def rebuild(ledger: Ledger, world: World, *, upto: int | None = None, verify_each: bool = False,
            on_round: Callable[[int], None] | None = None) -> State:
    """The state after round `upto` (default: the last committed round); with
    `verify_each`, a `Diverged` at the first round whose hash differs from the record.
    `on_round(round)` hears each round rebuilt (and, with `verify_each`, held to the record)."""
    state = None
    for rr in replayed_rounds(ledger, world, upto=upto, verify=verify_each):
        state = rr.after
        if on_round is not None:
            on_round(rr.round)
    return state if state is not None else initial_state(world, ledger.seed, check_roster(ledger, world))


async def verified_state(ledger: Ledger, world: World, *,
                         on_round: Callable[[int, list, dict, bool], None] | None = None,
                         every: int = VERIFY_YIELD_ROUNDS) -> State:
    """The last committed state, for a resume: rebuilt from the recorded
    actions with each round's invariants checked and its hash compared to the
    record. A save whose record does not rebuild (changed by hand, or written
    by other rules) is refused with a LedgerError naming the first bad round.
    `on_round(round, events, decisions, checked)` hears each rebuilt round.
    It gives the event loop a turn every `every` rounds: an app resuming a long
    save (40 x 4,000 rounds: about 13 s) still draws, and a quit cancels it there."""
    state = None
    try:
        for i, rr in enumerate(replayed_rounds(ledger, world, verify=True), 1):
            try:
                check_round(rr.before, rr.after, list(rr.flows), rr.events, world)
            except InvariantError as e:
                raise LedgerError(f"{shown_path(ledger.path)}: round {rr.round} breaks the wood's rules when replayed ({e}); "
                                  "the save was changed, it will not be resumed") from None
            if on_round is not None:
                on_round(rr.round, rr.events, rr.decisions, True)
            state = rr.after
            if i % every == 0:
                await asyncio.sleep(0)
    except Diverged as e:
        raise LedgerError(f"{e}; it will not be resumed") from None
    return state if state is not None else initial_state(world, ledger.seed, check_roster(ledger, world))
