"""Seconds per round of 5 creatures thinking with the embedded model, and what they did.

    .venv/bin/python bench/embedded_round.py [--rounds 3] [--seeds 1,2,3] [--baseline | --compare | --sides S,S]

Plays `wood sim --brains llm --creatures 5` through the project's own entry
points (RunOptions, open_game), saving to a temporary ledger, and reports
from that ledger's calls table: s/round (mean, median), call latency p50/p95,
prefilled and decoded tokens per round, valid rate, engine rejections by
reason, the action mix, and the share of actions copied verbatim from the
prompt's "Good moves for you now:" lines.

The default side ("new") is the current path: EmbeddedServer (serve/batched.py
batching the round's calls, requantized GGUF, threads fitted to the machine),
the legal moves sent as a merged grammar (`json_mode = "gbnf"`), the round's
shared lines first in the user message, the roster's max_concurrency.
`--baseline` is the old path: llama-cpp-python's own server (one request at a
time, max_concurrency 1) with the shipped Q4_1 GGUF and its default threads,
the legal moves sent as a JSON schema for llama-cpp-python to turn into its
own grammar (`json_object_schema`), and the user message laid out as it was
(the creature's own lines first, `OLD_USER` below). The side "llama_cpp" is
the new path on llama-cpp-python's own server (requantized GGUF, fitted
threads, gbnf, max_concurrency 1): what the batching alone changes. All sides
build the same legal-moves schema from the same views. `--compare` runs
baseline then new for each seed; `--sides llama_cpp,new` any sides in order. Each side prints the exact server command it ran. The first
round is included (it is a normal round for a model brain); the server's
start-up is reported apart. Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

import engine.prompts as prompts
import serve.embedded as embedded
from engine.brains import ENGINE_PREFIX
from engine.brains.llm import nearest_rank
from engine.ledger import Ledger
from engine.parsing import parse_reply
from engine.world import load_world
from wood_tui.game import open_game
from wood_tui.options import RunOptions

CREATURES = 5
# EmbeddedServer keyword arguments
SIDES = {"baseline": {"quant": None, "n_threads": None, "server": "llama_cpp"}, "llama_cpp": {"server": "llama_cpp"},
         "new": {}}
JSON_MODE = {"baseline": "json_object_schema", "llama_cpp": None, "new": None}  # None: the embedded roster's own
CONCURRENCY = {"baseline": 1, "llama_cpp": 1, "new": None}  # llama_cpp.server answers one at a time


def _line(start: str) -> str:
    """The line of the user template (assets/prompts/user.txt) that begins with `start`: a line the old
    layout shares with it, read from it, so that the two say it alike."""
    return next(line for line in prompts.USER.template.splitlines() if line.startswith(start))


# the user message as it was laid out before the round's shared lines came first
OLD_USER = f"""{_line("You are ")}
{_line("You make ")}
Round $round, $season. Coins $coins. Mood $mood/100.
{_line("Have: ")}
{_line("Need this round: ")}
{_line("Last prices: ")}
Offers you can accept:
$book
{_line("Your offers: ")}
Loan offers: $loan_offers
Your loans: $loans
Tips: $tips
Feelings: $relations
${{social}}Last round:
$headlines
Good moves for you now:
$moves
{_line("Your move, ")}
"""


@contextlib.contextmanager
def side_path(side: str):
    """The prompt layout and json_mode of `side`, for the duration of its games."""
    import serve.roster as roster_mod

    old_format, old_roster = prompts._USER_FORMAT, roster_mod.embedded_roster
    mode, concurrency = JSON_MODE[side], CONCURRENCY[side]

    def embedded_roster(world, n=None):
        r = old_roster(world, n)
        for m in r.models.values():
            m.json_mode = mode or m.json_mode
            m.max_concurrency = concurrency or m.max_concurrency
        return r
    try:
        if side == "baseline":
            prompts._USER_FORMAT = prompts.format_template(OLD_USER)
        roster_mod.embedded_roster = embedded_roster
        yield
    finally:
        prompts._USER_FORMAT, roster_mod.embedded_roster = old_format, old_roster


def server_class(side: str, seen: list, servers: list):
    """EmbeddedServer with this side's settings, remembering the command it runs."""
    kwargs = SIDES[side]

    class Server(embedded.EmbeddedServer):
        def __init__(self, **kw) -> None:
            super().__init__(**kw, **kwargs)
            servers.append(self)

        def command(self) -> list[str]:
            cmd = super().command()
            seen.append(cmd)
            return cmd
    return Server


async def play(side: str, seed: int, rounds: int, save: Path) -> dict:
    world = load_world()
    options = RunOptions.parse("sim", ["--brains", "llm", "--creatures", str(CREATURES), "--seed", str(seed),
                                       "--rounds", str(rounds), "--save", str(save)])
    commands: list[list[str]] = []
    servers: list = []
    notes: list[str] = []
    stats = None
    original = embedded.EmbeddedServer
    embedded.EmbeddedServer = server_class(side, commands, servers)  # open_game imports it from here when it starts one
    try:
        with side_path(side):
            t0 = time.perf_counter()
            async with open_game(options, world, log=notes.append) as game:
                startup_s = time.perf_counter() - t0
                round_s = []
                for _ in range(rounds):
                    t = time.perf_counter()
                    await game.runner.play_round()
                    round_s.append(time.perf_counter() - t)
                if servers and servers[-1].server == "batched":  # what it prefilled, after its prefix reuse
                    async with httpx.AsyncClient(trust_env=False) as c:
                        stats = (await c.get(servers[-1].base_url.removesuffix("/v1") + "/stats", timeout=10)).json()
    finally:
        embedded.EmbeddedServer = original
    return {"round_s": round_s, "startup_s": startup_s, "command": commands[-1] if commands else None,
            "notes": notes, "world": world, "server_stats": stats}


def suggested(user: str, goods, names) -> list[dict]:
    """The parsed actions of the prompt's "Good moves for you now:" lines."""
    start = user.find("Good moves for you now:")
    if start < 0:
        return []
    end = user.find("Your move,", start)
    out = []
    for line in user[start:end if end > 0 else None].splitlines()[1:]:
        line = line.strip()
        if not line or line == "none":
            continue
        p = parse_reply(line.split(" (")[0], goods, names)
        if p.action is not None:
            out.append(p.action.compact())
    return out


def report(save: Path, run: dict) -> dict:
    ledger = Ledger.open(save)
    try:
        names = tuple(r.name for r in ledger.roster())
        rows = ledger.con.execute(
            "SELECT round, messages, action, outcome, reason, latency_ms, prompt_tokens, completion_tokens"
            " FROM calls ORDER BY round, creature").fetchall()
        traded = Counter()  # units of each good that changed hands in trades (the granary's buys are not trades)
        for e in ledger.events_of("trade"):
            traded[e.data["good"]] += e.data["qty"]
    finally:
        ledger.close()
    goods = run["world"].good_names
    n_rounds = len(run["round_s"])
    lat = sorted(r[5] for r in rows if r[5] is not None)
    valid = sum(r[3] in ("clean", "repaired") for r in rows)
    engine_rej = Counter(r[4][len(ENGINE_PREFIX):] for r in rows
                         if r[3] == "rejected" and (r[4] or "").startswith(ENGINE_PREFIX))
    other_rej = Counter(r[3] + ": " + (r[4] or "") for r in rows
                        if r[3] not in ("clean", "repaired") and not (r[4] or "").startswith(ENGINE_PREFIX))
    mix: Counter = Counter()
    copied = moves = 0
    for _, messages, action, *_ in rows:
        act = json.loads(action) if action else None
        mix[act.get("action", "pass") if act else "(none)"] += 1
        if not act or act.get("action", "pass") == "pass":
            continue
        moves += 1
        user = next((m["content"] for m in json.loads(messages or "[]") if m.get("role") == "user"), "")
        copied += act in suggested(user, goods, names)
    return {
        "rounds": n_rounds, "calls": len(rows),
        "s_round_mean": statistics.mean(run["round_s"]), "s_round_median": statistics.median(run["round_s"]),
        "lat_p50": nearest_rank(lat, 0.5), "lat_p95": nearest_rank(lat, 0.95),
        "prefill_per_round": sum(r[6] or 0 for r in rows) / n_rounds,
        "decode_per_round": sum(r[7] or 0 for r in rows) / n_rounds,
        "valid_rate": valid / len(rows) if rows else None,
        "engine_rejections": dict(engine_rej), "other_failures": dict(other_rej),
        "mix": dict(mix), "copied": copied, "moves": moves,
        "traded": {g: traded.get(g, 0) for g in goods},
    }


def show(side: str, seed: int, run: dict, r: dict) -> None:
    cmd = run["command"]
    model = Path(cmd[cmd.index("--model") + 1]) if cmd else None
    print(f"== {side}, seed {seed}: {r['rounds']} rounds x {CREATURES} creatures, {r['calls']} calls")
    print(f"   model file: {model.name if model else '?'} ({model.stat().st_size / 1e6:.1f} MB)" if model else "")
    print(f"   server: {' '.join(cmd[1:]) if cmd else '?'}")
    for note in run["notes"]:
        print(f"   | {note}")
    print(f"   start-up {run['startup_s']:.1f} s (incl. any one-time requantization)")
    print(f"   s/round      mean {r['s_round_mean']:.2f}  median {r['s_round_median']:.2f}")
    print(f"   call latency p50 {r['lat_p50']:.0f} ms  p95 {r['lat_p95']:.0f} ms")
    print(f"   tokens/round prompt {r['prefill_per_round']:.0f} (prompt_tokens, before llama.cpp reuses the shared prefix)"
          f"  decoded {r['decode_per_round']:.0f}")
    st = run.get("server_stats")
    if st:
        print(f"   server: prefilled {st['prefilled_tokens'] / r['rounds']:.0f} tokens/round after prefix reuse "
              f"({st['cached_tokens']} of {st['prompt_tokens']} prompt tokens found cached), {st['decode_calls']} decode "
              f"steps ({st['decode_s']:.1f} s; sampling {st['sample_s']:.1f} s, {st['resampled']} redrawn, {st['redrawn_over_all']} over the whole vocabulary), at most {st['max_seqs_in_batch']} sequences in one step")
    print(f"   valid rate   {r['valid_rate']:.0%}")
    print(f"   engine rejections {r['engine_rejections'] or 'none'}; other failures {r['other_failures'] or 'none'}")
    print(f"   action mix   {r['mix']}")
    print(f"   units traded {r['traded']}" + ("" if all(r["traded"].values()) else "  (a good with no trade)"))
    share = f"{r['copied'] / r['moves']:.0%}" if r["moves"] else "n/a"
    print(f"   copied verbatim from the suggested moves: {r['copied']} of {r['moves']} non-pass actions ({share})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seeds", default="1")
    side = ap.add_mutually_exclusive_group()
    side.add_argument("--baseline", action="store_true", help="the old path: shipped Q4_1 GGUF, default threads")
    side.add_argument("--compare", action="store_true", help="baseline then new, for each seed")
    side.add_argument("--sides", help=f"these sides in this order, for each seed (of {', '.join(SIDES)})")
    args = ap.parse_args()
    sides = ["baseline", "new"] if args.compare else ["baseline"] if args.baseline else ["new"]
    if args.sides:
        sides = args.sides.split(",")
        if not sides or any(s not in SIDES for s in sides):
            ap.error(f"--sides: a comma-separated list of {', '.join(SIDES)}")
    print(f"python {sys.version.split()[0]}, cpus available {embedded.cpu_threads()}")
    totals: dict[str, list[float]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="wood-bench-") as tmp:
        for seed in (int(x) for x in args.seeds.split(",")):
            for s in sides:
                save = Path(tmp) / f"{s}-{seed}-{len(totals[s])}.db"
                run = asyncio.run(play(s, seed, args.rounds, save))
                r = report(save, run)
                show(s, seed, run, r)
                totals[s].extend(run["round_s"])
    if len(sides) > 1:
        print("== all seeds: s/round mean " + ", ".join(f"{s} {statistics.mean(v):.2f}" for s, v in totals.items()))


if __name__ == "__main__":
    main()
