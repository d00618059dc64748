"""Setting up a run for any front end (`wood sim`, `wood watch`, `wood play`):
the world, a new or resumed state, the ledger, the brains, and the model
servers they need, all torn down together when the game ends."""
from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine.brains import Brain
from engine.brains.scripted import scripted_brains
from engine.errors import WoodError
from engine.ledger import FirstRoundUnsavedError, Ledger, check_resumable, remove_save
from engine.metrics import RunSummary, counted, percent
from engine.replay import verified_state
from engine.sanitise import resume_command, shown_path
from engine.runner import Observer, Runner, roomy_collector
from engine.state import initial_state, state_hash
from engine.world import NAMES_ALIKE, RosterEntry, World, build_roster, twin_name

from .options import DEFAULT_ROUNDS, DEFAULT_SEED, MAX_ROUNDS, RunOptions

HUMAN = "human"  # the model name of a creature a human joined as
NO_MODEL = (HUMAN, "scripted")  # creatures that think with no model (serve.roster.SCRIPTED: the scripted rules)
STARTUP_NOTE_EVERY_S = 5
SLOW_NOTE_AFTER_S = 3  # a model server that has not answered its check after this long is said to be waited for


@dataclass
class Game:
    world: World
    runner: Runner
    ledger: Ledger | None
    target_rounds: int
    roster: list[RosterEntry]
    brains_kind: str
    reports: list[Callable[[], list[str]]] = field(default_factory=list)
    servers: list = field(default_factory=list)  # the model servers this game started (EmbeddedServer)

    @property
    def save_path(self) -> Path | None:
        return self.ledger.path if self.ledger else None

    def state_hash(self) -> str:
        return state_hash(self.runner.state)

    def model_report(self) -> list[str]:
        return [line for report in self.reports for line in report()]

    def server_gone(self) -> str | None:
        """Why a model server this game started is no longer running (its exit
        and log tail), or None while all are up: its creatures could only pass."""
        for srv in self.servers:
            try:
                srv.check()
            except WoodError as e:
                return str(e)
        return None


def stopped_after(command: str, path, last: int, target: int, seats: Sequence[str] = ()) -> str:
    """`stopped after round N of M`, and, with a save (`path`, as the user
    gave it), where the rounds are and the `wood COMMAND` line that goes on
    (with an `--as` for each of `seats`: `Ledger.resume_seats`)."""
    return f"stopped after round {last} of {target}" + (
        f"; every round played is in {shown_path(path)}: resume with {resume_command(command, path, seats)}"
        if path else "")


@contextlib.asynccontextmanager
async def open_game(options: RunOptions, world: World, *, summary: RunSummary | None = None,
                    log: Callable[[str], None] = lambda m: None, observer: Observer | None = None,
                    extra_brains: dict[str, Brain] | None = None, extra_roster: list[RosterEntry] = (),
                    seats: Sequence[str] = ()):
    """Everything the run `options` describes. `extra_roster` adds creatures
    (new human traders); `extra_brains` drive some creatures (the human
    seats, named in `seats`, which a new save records for its resume). A
    resumed run's recorded rounds are replayed and checked against their
    record before it goes on; `summary`, if given, is fed those rounds."""
    ledger = None
    lengthen = False  # a resume given a new length: recorded once the game can go on
    resuming = None   # ... and said then
    models = None  # the roster's model configs, for --brains llm
    roomy_collector()
    async with contextlib.AsyncExitStack() as stack:
        if options.resume is not None:
            ledger = Ledger.open(options.resume, readonly=False)
            stack.callback(ledger.close)
            meta = ledger.meta()
            roster, seed, kind = ledger.roster(), ledger.seed, meta["brains"]
            target = _resume_target(options, ledger)
            if kind == "llm":
                models = json.loads(meta.get("extra", "{}")).get("models")
            last = ledger.last_round()
            if last:
                log(f"verifying {shown_path(options.resume)}: replaying its {counted(last, 'round')}...")
            state = await verified_state(ledger, world, on_round=summary.add_recorded if summary is not None else None)
            lengthen = target > state.round and target != state.end  # played on (or cut short): the new last round
            if lengthen:
                state.end = target
            resuming = f"resuming {shown_path(options.resume)} after round {state.round} of {target}"  # said once it can
        else:
            seed = options.seed if options.seed is not None else DEFAULT_SEED
            kind = options.brains or "scripted"
            roster, models = _roster(options, world, kind)
            roster = [*roster, *extra_roster]
            if (twins := twin_name(r.name for r in roster)) is not None:
                raise WoodError(f"{ascii(twins[1])} would join beside {ascii(twins[0])}: the wood tells names apart "
                                f"{NAMES_ALIKE} (a model may write either); choose another name")
            target = options.target_rounds
            state = initial_state(world, seed, roster, end=target)
            if options.save is not None:
                extra = {"models": _as_saved(models)} if models is not None else {}
                if seats:
                    extra["seats"] = list(seats)
                ledger = _new_save(options.save, seed=seed, roster=roster, brains=kind, extra=extra, rounds=target)
                for name, m in sorted((models or {}).items()):
                    if m.get("api_key") and not m.get("api_key_env"):
                        log(f"note: model {name}'s api_key is sent but not kept in {shown_path(options.save)} (a save is a file "
                            "people share); to resume it, give the roster's model api_key_env instead")
                stack.callback(ledger.close)
                stack.push(_discard_unplayed(ledger))
        if ledger is not None:
            ledger.playing = tuple(seats)
        reports: list[Callable[[], list[str]]] = []
        servers: list = []
        observers = [observer] if observer else []
        driven = {n for n in (extra_brains or {})}
        # a creature a human joined as (`wood play --species`) has no model:
        # with no one at its seat it trades on a scripted autopilot
        # (and a roster's creature with model "scripted" trades on the rules of its temperament)
        autopilot = [r for r in roster if r.name not in driven and (kind == "scripted" or r.model in NO_MODEL)]
        brains = scripted_brains(autopilot, seed)
        if kind != "scripted":
            thinking = [r for r in roster if r.name not in driven and r.model not in NO_MODEL]
            model_brains, stats, clients = await _model_brains(stack, models, thinking, world, log, servers)
            brains.update(model_brains)
            observers.append(_StatsRecorder(stats))
            first = state.round + 1
            reports.append(lambda: model_lines(stats.summary(), first))
            reports.append(lambda: _replica_lines(clients))
        brains.update(extra_brains or {})
        if ledger is not None and options.resume is not None and lengthen:  # recorded once the game can go on
            ledger.set_end(state.round + 1, target)
        if resuming is not None:
            log(resuming)
        runner = Runner(world, state, brains, ledger=ledger, observer=observers)
        yield Game(world, runner, ledger, target, roster, kind, reports, servers)


def _resume_target(options: RunOptions, ledger: Ledger) -> int:
    """The round the resumed run `options` is to reach in the save `ledger`,
    refusing the flags the save cannot take: another --brains than it was
    played with, a length past a run's longest, or a --rounds short of the
    rounds it already has."""
    meta = ledger.meta()
    kind = meta["brains"]
    if options.brains is not None and options.brains != kind:
        raise WoodError(f"{shown_path(options.resume)} was played with --brains {kind}")
    ends = ledger.ends()  # the length it was last given (a resume with --rounds extends it)
    target = options.rounds or (ends[-1][1] if ends else int(meta.get("rounds", DEFAULT_ROUNDS)))
    if target > MAX_ROUNDS:
        raise WoodError(f"{shown_path(options.resume)} is to run to round {target}; a run has at most {MAX_ROUNDS}: "
                        "give --rounds")
    last = ledger.last_round()
    if options.rounds is not None and options.rounds < last:
        raise WoodError(f"{shown_path(options.resume)} already has {last} rounds; --rounds is the total to reach: "
                        f"give {last} or more, or leave it out")
    return target


def check_before_the_screen(options: RunOptions, world: World) -> None:
    """What can be found wrong with a run cheaply, before an app takes over
    the terminal: the save to resume opens, fits this wood and takes the
    flags given (--brains, --rounds), the roster loads, every model's
    tokenizer file reads. (The full check of a resumed record runs in the
    game itself.)"""
    from engine.brains.config import recorded_model

    models: dict = {}
    if options.resume is not None:
        ledger = Ledger.open(options.resume, readonly=True)
        try:
            ledger.check_fits(world)
            _resume_target(options, ledger)
            models = json.loads(ledger.meta().get("extra", "{}")).get("models") or {}
        finally:
            ledger.close()
        check_resumable(options.resume)  # a read-only save, or one another wood process writes
    if options.roster is not None:
        from serve.roster import load_roster

        models = load_roster(options.roster).models
    for m in models.values():
        (m if not isinstance(m, dict) else recorded_model(m)).check_tokenizer()


def saved_play(path: Path) -> tuple[list[str], list[str]]:
    """(the names of the creatures in the save at `path`, those humans played
    in it): `wood play --resume` sits the players down again, and refuses a
    name not in the save before the screen takes over."""
    ledger = Ledger.open(path, readonly=True)
    try:
        return [r.name for r in ledger.roster()], ledger.seats()
    finally:
        ledger.close()


def run_app(app) -> int:
    """Run a Textual app of a game; a game that could not start is one line after it (`WoodError`),
    and a new save left with no round in it (so not kept) is said."""
    from engine.stops import release_stop_signals

    release_stop_signals()  # the app has the terminal: a kill ends it as before, not mid-draw
    app.run()
    if app.fatal is not None:  # its words may come from a file or a server's log: `wood` makes each line inert
        raise WoodError(str(app.fatal))
    options = getattr(app.game, "options", None)
    if options is not None and options.save is not None and not Path(options.save).exists():
        print(f"wood: no round was finished, so {shown_path(options.save)} was not kept", file=sys.stderr)
    return app.return_code or 0


def _as_saved(models: dict) -> dict:
    """The run's model configs as its save records them (`ModelConfig.saved`: no API key)."""
    from engine.brains.config import ModelConfig

    return {name: ModelConfig.model_validate(m).saved() for name, m in models.items()}


def _new_save(path: Path, *, rounds: int, **meta) -> Ledger:
    """A new ledger at `path`, or one line saying why none can be made there
    (and no half-made file left behind)."""
    try:
        return Ledger.create(path, rounds=rounds, **meta)  # whole or not at all: nothing half-made is left
    except (sqlite3.Error, OSError) as e:
        if isinstance(e, OSError) and e.errno == errno.EMFILE:  # the process's limit on open files, not the path's
            raise
        raise WoodError(f"--save {shown_path(path)}: cannot write a save there ({e})") from None


def _discard_unplayed(ledger: Ledger):
    """An exit callback for a save this game created: if the game fails or is
    stopped before a round is committed (a model server that will not start),
    the empty save goes, so the same command can simply be run again."""
    def on_exit(exc_type, exc, tb) -> bool:
        if exc_type is not None and ledger.last_round() == 0:
            ledger.close()
            remove_save(ledger.path)
            if isinstance(exc, FirstRoundUnsavedError) and not Path(ledger.path).exists():  # the line's way on
                raise FirstRoundUnsavedError(f"{exc}, so the new save was removed: run the same command again "
                                             f"{exc.until}", exc.until) from None
        return False
    return on_exit


def _roster(options: RunOptions, world: World, kind: str) -> tuple[list[RosterEntry], dict | None]:
    """The traders, and for model brains the model configs (as plain dicts)."""
    n = options.creatures
    if kind == "scripted":
        return build_roster(world, n), None
    from serve.roster import embedded_roster, load_roster

    cfg = load_roster(options.roster) if options.roster is not None else embedded_roster(world, n)
    return cfg.entries(world), {k: m.model_dump() for k, m in cfg.models.items()}


async def _model_brains(stack: contextlib.AsyncExitStack, models: dict, roster: list[RosterEntry], world: World,
                        log: Callable[[str], None], servers: list):
    """Start what must be started (each server started is added to
    `servers`), check every server serves its model, and give each creature
    an LLMBrain."""
    from engine.brains.llm import CallStats, ChatClient, LLMBrain
    from serve.embedded import already_served, gguf_path, other_servers, server_for, shared_cpu_note
    from engine.brains.config import recorded_model

    clients = {}
    for name in sorted({r.model for r in roster}):
        if name not in models:
            raise WoodError(f"creature model {name!r} is not in the roster's [models]")
        cfg = recorded_model(models[name])  # a roster's, checked strictly as it loaded, or a save's
        # found: said once the model check has found the model there (another program may hold the port)
        found = cfg.embedded and await asyncio.to_thread(already_served, cfg)
        if cfg.embedded and not found:
            log("starting the embedded model (SmolLM2-135M on llama.cpp)...")
            if others := await asyncio.to_thread(other_servers, ours=servers):  # not the roster's other embedded one
                log(shared_cpu_note(others))
            srv = server_for(cfg, on_wait=_every(STARTUP_NOTE_EVERY_S, lambda s, _: log(f"  still loading ({s:.0f} s)")))
            try:
                await stack.enter_async_context(srv)
            except WoodError:
                # the port the roster names was taken as the server started, by one that answers there now (a
                # `wood serve`, or another game, started at once): it is used, as one found there before would be
                if not await asyncio.to_thread(already_served, cfg):
                    raise
                srv.drop_log()  # the start given up is no failure: no error names its log
                found = True
            else:
                servers.append(srv)
                log(f"embedded model ready at {srv.base_url} after {srv.startup_s:.1f} s")
                cfg = cfg.model_copy(update={"base_url": srv.base_url})
        elif not cfg.embedded and not cfg.base_url:
            raise WoodError(f"model {name!r} has no base_url in the roster")
        if cfg.embedded:
            cfg = cfg.model_copy(update={"tokenizer": cfg.tokenizer or str(gguf_path())})
        cfg.check_tokenizer()
        if cfg.api_key is None and cfg.api_key_env and not os.environ.get(cfg.api_key_env):
            log(f"model {name}: ${cfg.api_key_env} is not set, so no API key is sent")  # a server may not need one
        client = ChatClient(cfg)
        stack.push_async_callback(client.aclose)
        await _said_if_slow(client.check_models(), log,
                            f"waiting for model {name} at {', '.join(cfg.urls)} to answer (up to "
                            f"{client.check_wait_s:g} s"
                            + (" each, one after another" if len(cfg.urls) > 1 else "") + ")...")
        if found:
            log(f"using the model already served at {cfg.base_url} (wood serve?) for {name}")
        clients[name] = client
    names = tuple(r.name for r in roster)
    brains = {r.name: LLMBrain(r.name, clients[r.model], world, names=names,
                               temperament_line=world.temperaments[r.temperament]) for r in roster}
    return brains, CallStats(), clients


def _replica_lines(clients: dict) -> list[str]:
    from engine.brains.llm import replica_lines

    return replica_lines(clients)


async def _said_if_slow(work, log: Callable[[str], None], line: str, after_s: float = SLOW_NOTE_AFTER_S):
    """Await `work`, logging `line` if it has not finished after `after_s`
    (a server that hangs is not met with silence; a quick one says nothing).
    No task of its own: cancelled, it leaves nothing running."""
    note = asyncio.get_running_loop().call_later(after_s, log, line)
    try:
        return await work
    finally:
        note.cancel()


def _every(seconds: float, fn):
    """An `on_wait(elapsed_s, last)` that calls `fn` at most once every
    `seconds` of the wait it is told of, the first time once `seconds` have
    passed (not counting the model's preparation before the start: hashing
    or requantizing it)."""
    due = [seconds]

    def call(elapsed: float, *a):
        if elapsed >= due[0]:
            due[0] = elapsed + seconds
            fn(elapsed, *a)
    return call


class _StatsRecorder(Observer):
    def __init__(self, stats):
        self.stats = stats

    def round_closed(self, result, state) -> None:
        for d in result.decisions.values():
            self.stats.record(d)


def model_lines(summary: dict, first_round: int = 1) -> list[str]:
    """The per-model measures, as the lines `wood sim` prints. They count the
    calls this process made: from `first_round` on (a resumed run's earlier
    calls are in its ledger, for `wood export` and the bench report)."""
    from engine.brains.llm import could_not_connect, latency_window

    out = []
    since = f" (rounds {first_round}- of this session)" if first_round > 1 else ""
    for model, s in summary.items():
        lat, tok = s["latency_ms"], s["prompt_tokens"]
        ms = lambda x: "n/a" if x is None else f"{x:.0f} ms"  # noqa: E731
        valid = s["clean"] + s["repaired"]
        unsent = could_not_connect(s.get("unconnected", 0), s["requests"])  # a summary made by hand may lack it
        out.append(f"model {model}{since}: {counted(s['calls'], 'decision')} ({counted(s['requests'], 'request')}"
                   f"{f'; {unsent}' if unsent else ''}), "
                   f"valid {valid} of {s['calls']} ({percent(s['valid_rate'])}), {s['repaired']} of them repaired;"
                   f" repairs made: {', '.join(f'{k} {v}' for k, v in sorted(s['repairs'].items())) or 'none'}")
        out.append(f"  rejected: unparseable {s['unparseable']}, schema {s['rejected_schema']}, "
                   f"engine {sum(s['rejected_engine'].values())} "
                   f"({', '.join(f'{k} {v}' for k, v in sorted(s['rejected_engine'].items())) or 'none'});"
                   f" faults {sum(s['faults'].values())} ({', '.join(f'{k} {v}' for k, v in s['faults'].items()) or 'none'})")
        mean = "n/a" if tok["mean"] is None else f"{tok['mean']:.0f}"
        most = "n/a" if tok["max"] is None else tok["max"]
        out.append(f"  calls answered: latency p50 {ms(lat['p50'])}, p95 {ms(lat['p95'])}{latency_window(lat)}; "
                   f"prompt tokens mean {mean}, max {most}")
    return out
