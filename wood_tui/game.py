"""Setting up a run for any front end (`wood sim`, `wood watch`, `wood play`):
the world, a new or resumed state, the ledger, the brains, and the model
servers they need, all torn down together when the game ends."""
from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.brains import Brain
from engine.brains.scripted import ScriptedBrain
from engine.errors import WoodError
from engine.ledger import Ledger
from engine.replay import resume_state
from engine.runner import Observer, Runner
from engine.state import initial_state, state_hash
from engine.world import RosterEntry, World, build_roster

DEFAULT_ROUNDS = 100


@dataclass
class Game:
    world: World
    runner: Runner
    ledger: Ledger | None
    target_rounds: int
    roster: list[RosterEntry]
    brains_kind: str
    reports: list[Callable[[], list[str]]] = field(default_factory=list)

    @property
    def save_path(self) -> Path | None:
        return self.ledger.path if self.ledger else None

    def state_hash(self) -> str:
        return state_hash(self.runner.state)

    def model_report(self) -> list[str]:
        return [line for report in self.reports for line in report()]


def scripted_brains(roster: list[RosterEntry], seed: int) -> dict[str, Brain]:
    return {r.name: ScriptedBrain(seed, r.temperament) for r in roster}


@contextlib.asynccontextmanager
async def open_game(args, world: World, *, summary=None, log: Callable[[str], None] = lambda m: None,
                    observer: Observer | None = None, extra_brains: dict[str, Brain] | None = None):
    """Everything a run needs, from parsed CLI args (creatures, rounds, seed,
    brains, roster, save, resume). `extra_brains` replace some creatures'
    brains (the human seats)."""
    ledger = None
    async with contextlib.AsyncExitStack() as stack:
        if getattr(args, "resume", None):
            ledger = Ledger.open(args.resume, readonly=False)
            stack.callback(ledger.close)
            meta = ledger.meta()
            roster, seed, kind = ledger.roster(), ledger.seed, meta["brains"]
            if args.brains and args.brains != kind:
                raise WoodError(f"{args.resume} was played with --brains {kind}")
            state = resume_state(ledger, world)
            target = args.rounds or int(meta.get("rounds", DEFAULT_ROUNDS))
            if summary is not None:
                for r in range(1, state.round + 1):
                    summary.add_events(ledger.events(r))
                summary.rounds = state.round
                summary.checks_passed = state.round
            log(f"resuming {args.resume} at round {state.round} of {target}")
        else:
            seed = args.seed
            kind = "llm" if getattr(args, "roster", None) else (args.brains or "scripted")
            roster = _roster(args, world, kind)
            state = initial_state(world, seed, roster)
            target = args.rounds or DEFAULT_ROUNDS
            if getattr(args, "save", None):
                ledger = Ledger.create(args.save, seed=seed, roster=roster, brains=kind)
                ledger.con.execute("INSERT OR REPLACE INTO meta VALUES ('rounds', ?)", (str(target),))
                stack.callback(ledger.close)
        brains, reports = await _brains(stack, kind, roster, seed, world, args, log)
        brains.update(extra_brains or {})
        runner = Runner(world, state, brains, ledger=ledger, observer=observer)
        yield Game(world, runner, ledger, target, roster, kind, reports)


def _roster(args, world: World, kind: str) -> list[RosterEntry]:
    if getattr(args, "roster", None):
        from serve.roster import load_roster

        return load_roster(args.roster).entries(world)
    n = getattr(args, "creatures", None)
    if n is not None and n < 2:
        raise WoodError("a market needs at least 2 creatures")
    return build_roster(world, n, model="scripted" if kind == "scripted" else "smol")


async def _brains(stack, kind, roster, seed, world, args, log):
    if kind == "scripted":
        return scripted_brains(roster, seed), []
    raise WoodError("--brains llm is not built yet")
