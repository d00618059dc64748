"""Rebuilding a run from its ledger: the recorded actions, replayed through
the pure rules, must reproduce every recorded state hash."""
from __future__ import annotations

from collections.abc import Callable

from .ledger import Ledger, LedgerError
from .runner import replay_round
from .state import State, initial_state, state_hash
from .world import World


def rebuild(ledger: Ledger, world: World, *, upto: int | None = None, verify_each: bool = False,
            on_round: Callable[[int, State], None] | None = None) -> State:
    """The state after round `upto` (default: the last committed round)."""
    last = ledger.last_round() if upto is None else upto
    try:
        state = initial_state(world, ledger.seed, ledger.roster())
    except (KeyError, ValueError) as e:
        raise LedgerError(f"{ledger.path}: its roster does not fit this wood ({e})") from None
    for r in range(1, last + 1):
        state, _ = replay_round(state, world, ledger.actions(r))
        if verify_each and state_hash(state) != ledger.round_hash(r):
            raise LedgerError(f"replay diverges from the record at round {r}")
        if on_round:
            on_round(r, state)
    return state


def resume_state(ledger: Ledger, world: World) -> State:
    """The last committed state: the snapshot if it checks out, else a rebuild."""
    snap = ledger.snapshot()
    if snap is not None and snap.round == ledger.last_round():
        return snap
    return rebuild(ledger, world)
