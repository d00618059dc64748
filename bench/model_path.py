"""The model path at scale: rounds of 5, 100 and 1,000 model creatures against
the loopback server (serve/loopback.py: a real OpenAI-compatible server in
its own process that answers valid actions at once, or after a fixed latency).

    .venv/bin/python bench/model_path.py [--sizes 5,100,1000] [--rounds 5]
        [--latency-ms 0] [--concurrency 1024] [--http-client lean|httpx] [--replicas 1]
        [--profile FILE]

The run is built as `wood sim --roster FILE` builds it (a roster whose
`[crowd]` fills it to N creatures on one model, `open_game`), with no save,
on the event loop `wood sim` runs (`run_headless`: uvloop's where installed;
WOOD_EVENT_LOOP=asyncio for the standard library's).
For each size it prints the mean round wall time, the slowest call's latency
beside it, and the game process's CPU time per creature per round (user +
system, `time.process_time`; the server's own process is not counted), split:

- prompt: `build_messages` (the chat messages) and the market moves it
  suggests (`moves_of`, made for every creature first);
- schema: `legal_schema` (this turn's legal moves as a JSON schema);
- encode: the request body to JSON bytes;
- client: the rest of a call in this process: httpx, the transport, the
  event loop's socket work, the reply's JSON, coroutine and task switching;
- parse: `parse_reply` (repair and validation);
- engine: the round itself (views, rules, invariants, state hash).

Figures go in BENCHMARKS.md; nothing here is asserted.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import resource
import statistics
import tempfile
import time
from pathlib import Path

import engine.brains.llm as llm
import engine.runner as runner_mod
from engine.runner import event_loop_kind, run_headless
from engine.world import load_world
from serve.loopback import LoopbackServer
from wood_tui.game import open_game
from wood_tui.options import RunOptions

PARTS = ("prompt", "schema", "encode", "client", "parse", "engine")
ENGINE_FUNCS = ("open_round", "close_round", "check_round", "market_index", "public_view", "canonical_state", "digest",
                "with_verdicts")


class Meter:
    """CPU seconds spent inside wrapped functions, by part."""

    def __init__(self) -> None:
        self.cpu = dict.fromkeys(PARTS, 0.0)

    def wrap(self, module, name: str, part: str) -> None:
        fn = getattr(module, name)
        clock = time.process_time

        @functools.wraps(fn)
        def timed(*a, **k):
            t = clock()
            try:
                return fn(*a, **k)
            finally:
                self.cpu[part] += clock() - t
        setattr(module, name, timed)

    def reset(self) -> None:
        self.cpu = dict.fromkeys(PARTS, 0.0)


def roster_file(folder: Path, n: int, urls: list[str], concurrency: int, http_client: str) -> Path:
    path = folder / f"loopback-{n}.toml"
    path.write_text(
        "[models.loop]\n"
        f"base_urls = [{', '.join(repr(u).replace(chr(39), chr(34)) for u in urls)}]\n"
        'model = "loopback"\nbackend = "vllm"\njson_mode = "json_schema"\n'
        f"max_concurrency = {concurrency}\ntimeout_s = 60\nmax_tokens = 128\ntemperature = 0.7\n"
        f'http_client = "{http_client}"\n\n'
        f'[crowd]\ncount = {n}\nmodel = "loop"\n', encoding="utf-8")
    return path


async def measure(n: int, rounds: int, roster: Path, meter: Meter, servers: list, warmup: int = 2,
                  profile: Path | None = None) -> dict:
    options = RunOptions.parse("sim", ["--roster", str(roster), "--seed", "1", "--rounds", str(rounds + warmup + 5)])
    async with open_game(options, load_world()) as game:
        run = game.runner
        for _ in range(warmup):  # the first rounds have an empty book; connections are opened here
            await run.play_round()
        meter.reset()
        server_cpu = sum(srv.stats()["cpu_s"] for srv in servers)
        walls, slowest, outcomes = [], [], {}
        prof = cProfile.Profile() if profile else None
        if prof:
            prof.enable()
        c0, ru0 = time.process_time(), resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(rounds):
            res = await run.play_round()
            walls.append(res.wall_s)
            lat = [d.call["latency_ms"] for d in res.decisions.values() if d.call.get("latency_ms") is not None]
            slowest.append(max(lat) / 1000)
            for d in res.decisions.values():
                outcomes[d.outcome] = outcomes.get(d.outcome, 0) + 1
        cpu = time.process_time() - c0
        if prof:
            prof.disable()
            prof.dump_stats(profile)
        server_cpu = sum(srv.stats()["cpu_s"] for srv in servers) - server_cpu
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        system = ru1.ru_stime - ru0.ru_stime
        tokens = max(d.call.get("prompt_tokens") or 0 for d in res.decisions.values())
        replicas = [c.replica_summary() for c in _clients(run)]
    parts = dict(meter.cpu)
    parts["client"] = cpu - sum(v for k, v in parts.items() if k != "client")
    per = 1000 / (n * rounds)  # seconds over the run -> ms per creature per round
    return {"n": n, "wall": statistics.mean(walls), "slowest": statistics.mean(slowest), "cpu_ms": cpu * per,
            "parts": {k: v * per for k, v in parts.items()}, "system_ms": system * per, "server_ms": server_cpu * per, "outcomes": outcomes, "tokens_max_est": tokens,
            "replicas": replicas}


def _clients(run) -> list:
    seen = {}
    for b in run.brains.values():
        c = getattr(b, "client", None)
        if c is not None:
            seen[id(c)] = c
    return list(seen.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="5,100,1000")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--concurrency", type=int, default=1024, help="the server's and the client's (per replica)")
    ap.add_argument("--http-client", choices=("lean", "httpx"), default="lean")
    ap.add_argument("--replicas", type=int, default=1)
    ap.add_argument("--profile", type=Path, metavar="FILE",
                    help="write a cProfile of the measured rounds (of the last size) to FILE; "
                         "the profiler's overhead inflates every figure printed")
    args = ap.parse_args()

    meter = Meter()
    meter.wrap(llm, "moves_of", "prompt")  # the market judgement behind the suggested move (made ahead, in stages)
    meter.wrap(llm, "build_messages", "prompt")
    meter.wrap(llm, "legal_schema", "schema")
    meter.wrap(llm.ChatClient, "request", "encode")
    meter.wrap(llm, "parse_reply", "parse")
    for name in ENGINE_FUNCS:
        meter.wrap(runner_mod, name, "engine")

    servers = [LoopbackServer(latency_ms=args.latency_ms, concurrency=args.concurrency).start()
               for _ in range(args.replicas)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            print(f"loopback latency {args.latency_ms:g} ms, concurrency {args.concurrency}, "
                  f"{args.replicas} replica(s), http client {args.http_client}, event loop {event_loop_kind()}")
            print(f"{'creatures':>9} {'round s':>8} {'slowest call s':>14} {'wall/(lat+cpu)':>14} {'cpu ms/creature':>15}  "
                  + "  ".join(f"{p:>6}" for p in PARTS))
            for n in [int(x) for x in args.sizes.split(",")]:
                roster = roster_file(Path(tmp), n, [s.base_url for s in servers], args.concurrency, args.http_client)
                r = run_headless(measure(n, args.rounds, roster, meter, servers, profile=args.profile))
                own = r["cpu_ms"] * n / 1000  # the game's own CPU seconds per round
                ratio = r["wall"] / (args.latency_ms / 1000 + own)
                print(f"{n:>9} {r['wall']:>8.3f} {r['slowest']:>14.3f} {ratio:>14.2f} {r['cpu_ms']:>15.3f}  "
                      + "  ".join(f"{r['parts'][p]:>6.3f}" for p in PARTS))
                print(f"{'':>9} of which system (kernel) time {r['system_ms']:.3f} ms/creature; "
                      f"the loopback server's own CPU {r['server_ms']:.3f} ms/creature")
                bad = {k: v for k, v in r["outcomes"].items() if k not in ("clean", "rejected")}
                if bad:
                    print(f"{'':>9} outcomes: {r['outcomes']}")
                if args.replicas > 1:
                    for rep in r["replicas"][0]:
                        print(f"{'':>9} {rep['url']}: {rep['calls']} calls, peak outstanding {rep['peak_outstanding']}")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
