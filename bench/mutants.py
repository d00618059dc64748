"""Mutation check: every rule of the engine is pinned by a rule test.

    .venv/bin/python bench/mutants.py                 # every mutant, one at a time
    .venv/bin/python bench/mutants.py -j 2            # two at a time
    .venv/bin/python bench/mutants.py --only gift-feelings-off,mood-frozen
    .venv/bin/python bench/mutants.py --list          # names and what each breaks
    .venv/bin/python bench/mutants.py --all-failures  # no -x: list every test that kills each mutant

Each mutant is a textual patch to one file of `engine/` (exact old text ->
new text) that breaks one rule: spoilage off, mood frozen, the magistrate
fining either direction, and so on. For each mutant the script copies the
parts of the repository the tests import (engine/, assets/, tests/, serve/,
wood_tui/, pyproject.toml) to a fresh temporary directory, applies the patch
there (and stops, loudly, if the old text is not found exactly once), and runs
the rule and property tests (`tests/test_rules.py`, `tests/test_properties.py`)
in the copy with this interpreter. The repository itself is only read, once:
a snapshot taken at the start is what the baseline and every mutant copy, so
edits made to the tree during a run do not mix into it.

The project is installed editable into .venv, so `import engine` could
resolve to the working tree instead of the copy. The child process therefore
puts the copy first on sys.path, imports engine, serve, wood_tui (and assets,
where it is a package), and refuses to run (status "error") unless each was loaded from the copy; pytest
then runs in that same process, so the modules it tests are the checked ones.

Before any mutant, the unpatched copy must pass; otherwise the run stops
(exit 2), because a failing baseline would "kill" every mutant. A mutant is
`killed` when a test fails, `survived` when all pass, `error` when the run
could not be judged (a collection error, a wrong import, a timeout). The
table at the end names the first failing test of each killed mutant. Exit
status: 0 when every mutant was killed, 1 otherwise.

Hypothesis runs derandomised (`--hypothesis-seed=0`) so a result repeats,
without shrinking (a failing example is reported as found: killed or not is
all this needs) and without an example database.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPY = ("engine", "assets", "tests", "serve", "wood_tui", "pyproject.toml")
TESTS = ("tests/test_rules.py", "tests/test_properties.py")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache", "__snapshots__")
TIMEOUT_S = 600

# Runs in the child: put the copy first, prove the packages come from it, then run pytest here.
PROBE = r"""
import sys, pathlib
root = pathlib.Path(sys.argv[1]).resolve()
sys.path.insert(0, str(root))
import importlib
for name in ("engine", "serve", "wood_tui", "assets"):
    if not (root / name / "__init__.py").exists():
        continue  # not a package in this tree (assets/ was plain data once)
    where = pathlib.Path(importlib.import_module(name).__file__).resolve()
    if root not in where.parents:
        print(f"WRONG-IMPORT {name} from {where}", flush=True)
        sys.exit(97)
print(f"engine from {pathlib.Path(sys.modules['engine'].__file__).resolve()}", flush=True)
# kill or survive is all we need: no shrinking, no example database
from hypothesis import Phase, settings
settings.register_profile("mutants", phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None)
settings.load_profile("mutants")
import pytest
sys.exit(pytest.main(sys.argv[2:]))
"""


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    breaks: str


R, W, M, V = "engine/rules.py", "engine/world.py", "engine/memory.py", "engine/views.py"

MUTANTS = [
    # ---- eating, rotting, mood
    Mutant("spoilage-off", R, "if good.spoil_pct and c.goods.get(g, 0) > pantry:",
           "if False and good.spoil_pct and c.goods.get(g, 0) > pantry:", "hoarded food never rots"),
    Mutant("spoilage-no-minimum", R, "rot = max(1, (c.goods[g] - pantry) * good.spoil_pct // 100)",
           "rot = max(0, (c.goods[g] - pantry) * good.spoil_pct // 100)", "a small hoard above the pantry never rots"),
    Mutant("spoilage-ignores-pantry", R, "rot = max(1, (c.goods[g] - pantry) * good.spoil_pct // 100)",
           "rot = max(1, c.goods[g] * good.spoil_pct // 100)", "the pantry is not exempt from rot"),
    Mutant("spoilage-before-eating", R, "            eat = min(have, need)\n",
           "            have = have - (max(1, max(0, have - int(world.economy['pantry'])) * world.goods[g].spoil_pct"
           " // 100) if world.goods[g].spoil_pct and have > int(world.economy['pantry']) else 0)\n"
           "            eat = min(have, need)\n",
           "food rots before it is eaten (and the rot is not counted)"),
    Mutant("mood-frozen", R, "c.mood = max(0, min(100, c.mood + delta))", "c.mood = max(0, min(100, c.mood))",
           "mood never moves"),
    Mutant("mood-sign-flipped", R, "c.mood = max(0, min(100, c.mood + delta))",
           "c.mood = max(0, min(100, c.mood - delta))", "hunger cheers, food saddens"),
    Mutant("mood-unclamped", R, "c.mood = max(0, min(100, c.mood + delta))", "c.mood = c.mood + delta",
           "mood leaves 0..100"),
    Mutant("mood-all-or-nothing", R,
           "delta = round(-hungry_loss + (fed_gain + hungry_loss) * eaten / needed) if needed else fed_gain",
           "delta = (fed_gain if eaten == needed else -hungry_loss) if needed else fed_gain",
           "a part-fed creature is as sad as a starving one"),
    Mutant("fuel-not-burned", W, "        if fuel:\n", "        if False:\n", "no seasonal fuel need"),
    Mutant("seasons-shifted", W, "return SEASONS[(round_no - 1) % 4]", "return SEASONS[round_no % 4]",
           "round 1 is not spring"),
    # ---- production, shocks, weather, tips
    Mutant("low-mood-penalty-off", R, "if c.mood < low:", "if False:", "low mood costs nothing"),
    Mutant("low-mood-at-the-line", R, "if c.mood < low:", "if c.mood <= low:",
           "a creature exactly at low_mood is penalised"),
    Mutant("low-mood-hits-every-good", R, "made[main] = max(0, made[main] - 1)",
           "made = {g: max(0, q - 1) for g, q in made.items()}", "low mood cuts every good, not the main one"),
    Mutant("shock-ignored-in-production", R, "pct = {sh.good: sh.pct for sh in s.shocks}", "pct = {}",
           "shocks do not change production"),
    Mutant("shocks-never-end", R, "if sh.until < r:", "if False:", "a shock lasts for ever"),
    Mutant("planted-tips-come-true", R, "            if t.truth:\n                ev.append(_start_shock",
           "            if True:\n                ev.append(_start_shock", "a planted tip's shock happens"),
    Mutant("true-tips-never-come-true", R, "            if t.truth:\n                ev.append(_start_shock",
           "            if False:\n                ev.append(_start_shock", "a true tip's shock does not happen"),
    Mutant("tips-issued-publicly", R, "public=False, who=tuple(recipients)", "public=True, who=tuple(recipients)",
           "a private tip is announced to everyone"),
    Mutant("resolved-tips-kept", R, "        del s.tips[tid]  # resolved", "        pass  # resolved",
           "resolved tips stay in the state"),
    Mutant("tips-resolve-early", R, "if not t.resolved and t.resolves == r:",
           "if not t.resolved and t.resolves <= r + 1:", "a tip resolves (and its truth is public) a round early"),
    Mutant("tip-trades-not-recorded", R, "            if buyer in t.recipients:\n",
           "            if False:\n", "a recipient's buying on its tip goes unrecorded"),
    Mutant("weather-never", R, 'if wr.random() < world.odds["weather_per_round"]:', "if False:",
           "no weather"),
    Mutant("weather-stacks", R, "if all(sh.good != world.shocks[name].good for sh in s.shocks):", "if True:",
           "weather replaces a shock already on the good"),
    # ---- expiry
    Mutant("offers-never-expire", R, "for oid in [i for i, o in s.offers.items() if o.expires < r]:",
           "for oid in [i for i, o in s.offers.items() if False]:", "standing offers live for ever"),
    Mutant("offer-lifetime-off-by-one", R, 'return s.round + int(world.economy["offer_lifetime"]) - 1',
           'return s.round + int(world.economy["offer_lifetime"])', "offers stand one round too long"),
    Mutant("loan-offers-never-expire", R, "for oid in [i for i, o in s.loan_offers.items() if o.expires < r]:",
           "for oid in [i for i, o in s.loan_offers.items() if False]:", "loan offers live for ever"),
    # ---- trade
    Mutant("fair-trade-feelings-off", R,
           '        memory.move(s.relations, buyer, seller, memory.RELATION_MOVES["fair_trade"])\n'
           '        memory.move(s.relations, seller, buyer, memory.RELATION_MOVES["fair_trade"])\n',
           "        pass\n", "a fair trade warms nobody"),
    Mutant("unfair-trade-blames-wrong-side", R, "    elif price > ref:\n", "    elif price < ref:\n",
           "the winner of an unfair trade is the one soured"),
    Mutant("fairness-ignores-last-price", R,
           "ref = q.last if q.last is not None else world.goods[good].base_price",
           "ref = world.goods[good].base_price", "fairness judged against the base price only"),
    Mutant("volume-never-reset", R, "        q.volume = 0\n", "        pass\n", "quote volume accumulates for ever"),
    Mutant("crossing-trades-unfunded-offers", R,
           "        if not _funded(s, buyer, seller, a.good, q, o.price):\n"
           "            continue  # the resting side",
           "        if False:\n            continue  # the resting side",
           "a resting offer its owner can no longer honour still trades"),
    Mutant("self-trade-by-crossing", R,
           "        if o.owner == name:\n            continue  # never trade with yourself",
           "        if False:\n            continue  # never trade with yourself",
           "a new offer trades with its owner's own"),
    Mutant("no-accept-fallback", R,
           "    if a.id in book.gone:\n        return _fall_back(s, world, book, name, a, book.gone[a.id])\n", "",
           "an accept that comes too late is refused instead of falling back"),
    Mutant("no-loan-fallback", R, "if a.id in s.loan_offers or a.id in book.gone_loans:", "if a.id in s.loan_offers:",
           "a loan accept that comes too late is refused instead of taking the next as good"),
    Mutant("loan-fallback-any-size", R, "lo.rate <= taken.rate and lo.amount >= taken.amount",
           "lo.rate <= taken.rate", "a too-late loan accept takes a smaller loan than the one it wanted"),
    Mutant("accept-ignores-qty", R, "q = min(a.qty or o.qty, o.qty)", "q = o.qty",
           "accept always takes the whole offer"),
    # ---- prices, the granary, drift
    Mutant("price-memory-forgets", R,
           "q.avg100 = mean100 if q.avg100 is None else (q.avg100 * (100 - w) + mean100 * w) // 100",
           "q.avg100 = mean100", "the average price is just the last round's"),
    Mutant("price-memory-unweighted", R, "t[0] += p * q\n            t[1] += q",
           "t[0] += p\n            t[1] += 1", "a round's mean price ignores how many units traded"),
    Mutant("price-memory-ignores-granary", R, 'if e.kind == "granary" else []', "if False else []",
           "the granary's purchases do not count in the moving average"),
    Mutant("granary-off", R, 'if s.treasury < int(world.economy["granary_min"]):', "if True:",
           "fines never come back into the wood"),
    Mutant("granary-ignores-minimum", R, 'if s.treasury < int(world.economy["granary_min"]):', "if s.treasury <= 0:",
           "the granary opens below granary_min"),
    Mutant("granary-spends-everything", R,
           'budget = s.treasury * int(world.economy["granary_spend_pct"]) // 100', "budget = s.treasury",
           "the granary spends the whole treasury in one round"),
    Mutant("granary-feeds-the-fed", R, "            lack = need - c.goods.get(g, 0)\n", "            lack = need\n",
           "the granary buys for creatures that lack nothing"),
    Mutant("granary-food-is-free", R, "                s.treasury -= q * o.price\n", "                pass\n",
           "the granary's purchases cost the treasury nothing"),
    Mutant("feelings-never-drift", R, 'memory.drift(s.relations, int(world.economy["feelings_drift_div"]))', "pass",
           "feelings never fade"),
    Mutant("drift-ignores-strength", M, "step = max(1, abs(v) // div)", "step = 1",
           "strong feelings fade as slowly as weak ones"),
    # ---- gifts and feelings
    Mutant("gift-feelings-off", R,
           'memory.move(s.relations, a.to, name, min(memory.RELATION_MOVES["gift"] + value // 5, 15))', "pass",
           "a gift warms nobody"),
    Mutant("gift-feelings-wrong-way", R,
           'memory.move(s.relations, a.to, name, min(memory.RELATION_MOVES["gift"] + value // 5, 15))',
           'memory.move(s.relations, name, a.to, min(memory.RELATION_MOVES["gift"] + value // 5, 15))',
           "the giver warms to the receiver"),
    Mutant("gift-value-ignored", R,
           'memory.move(s.relations, a.to, name, min(memory.RELATION_MOVES["gift"] + value // 5, 15))',
           'memory.move(s.relations, a.to, name, memory.RELATION_MOVES["gift"])',
           "a big gift counts as much as a small one"),
    Mutant("relations-unclamped", M, "v = max(REL_MIN, min(REL_MAX, row.get(b, 0) + delta))",
           "v = row.get(b, 0) + delta", "feelings leave -100..100"),
    Mutant("relation-buckets-shifted", M, "    if value >= 20:\n", "    if value > 20:\n",
           "feeling 20 reads as neutral"),
    # ---- loans
    Mutant("loans-never-repaid", R, "paid = min(can, ln.owed)", "paid = 0", "loans fall due and nothing moves"),
    Mutant("loan-repaid-feelings-off", R,
           'memory.move(s.relations, ln.lender, ln.borrower, memory.RELATION_MOVES["loan_repaid"])', "pass",
           "repaying a loan earns no trust"),
    Mutant("default-feelings-off", R,
           'memory.move(s.relations, ln.lender, ln.borrower, memory.RELATION_MOVES["default"])', "pass",
           "a default costs no trust"),
    Mutant("loan-taken-feelings-off", R,
           'memory.move(s.relations, name, lo.lender, memory.RELATION_MOVES["loan_taken"])', "pass",
           "a borrower does not warm to its lender"),
    Mutant("interest-ignored", R, "owed = lo.amount + lo.amount * lo.rate * lo.rounds // 100", "owed = lo.amount",
           "loans carry no interest"),
    Mutant("interest-not-per-round", R, "owed = lo.amount + lo.amount * lo.rate * lo.rounds // 100",
           "owed = lo.amount + lo.amount * lo.rate // 100", "the rate is charged once, not per round of the term"),
    Mutant("garnish-off", R, "can = b.coins if not ln.defaulted else min(b.coins, -(-b.coins * garnish_pct // 100))",
           "can = b.coins if not ln.defaulted else 0", "a defaulted debt is never collected"),
    Mutant("garnish-takes-everything", R,
           "can = b.coins if not ln.defaulted else min(b.coins, -(-b.coins * garnish_pct // 100))",
           "can = b.coins", "a defaulter loses all its coins each round, not debt_garnish_pct of them"),
    Mutant("default-forgives-the-rest", R, "    ln.due = r + 1\n", "    ln.due = r + 1\n    ln.owed = 0\n",
           "a default wipes out what is still owed"),
    Mutant("default-not-on-record", R, "s.defaults[ln.borrower] = s.defaults.get(ln.borrower, 0) + 1",
           "s.defaults[ln.borrower] = s.defaults.get(ln.borrower, 0)", "a default leaves no public record"),
    Mutant("defaulter-may-borrow", R, "if (debt := unpaid_debt(s, name)):", "if False and (debt := unpaid_debt(s, name)):",
           "a creature in default can borrow again"),
    Mutant("late-debt-earns-trust", R, "        if ln.defaulted:\n            return Event(\"debt_cleared\", r, who)\n",
           "", "paying off a defaulted debt counts as a loan repaid on time"),
    Mutant("directed-loan-open-to-all", R, "if lo.to is not None and lo.to != name:", "if False:",
           "a loan offered to one creature can be taken by any"),
    # ---- the magistrate
    Mutant("magistrate-fines-either-direction", R,
           'profit = sum((after - price) * q if side == "buy" else (price - after) * q',
           'profit = sum(abs(after - price) * q if side == "buy" else abs(price - after) * q',
           "trading against the tip (a loss) counts as profit too"),
    Mutant("magistrate-direction-flipped", R,
           'profit = sum((after - price) * q if side == "buy" else (price - after) * q',
           'profit = sum((price - after) * q if side == "buy" else (after - price) * q',
           "buying before a fall and selling before a rise are the profitable ways"),
    Mutant("fine-ignores-profit", R, 'amount = min(c.coins, int(world.odds["fine_base"]) + profit)',
           'amount = min(c.coins, int(world.odds["fine_base"]))', "the fine does not take the profit"),
    Mutant("magistrate-never-clears", R,
           '                out.append(Event("cleared", r, {"creature": who, "good": t.good, "tip": t.id, "units": units}))\n',
           "", "an investigation that finds nothing is not made public"),
    Mutant("magistrate-fines-planted-tips", R, "if t.resolves != r or not t.truth:", "if t.resolves != r:",
           "trading on a planted tip is fined"),
    Mutant("magistrate-judges-live-tips", R, "if t.resolves != r or not t.truth:",
           "if t.resolves < r or not t.truth:", "recipients are judged while the tip is still secret"),
    Mutant("magistrate-ignores-odds", R, '.random() >= world.odds["investigate"]:', ".random() >= 1.0:",
           "every profiting recipient is investigated"),
    Mutant("fine-not-to-treasury", R, "            s.treasury += amount\n", "            s.treasury += 0\n",
           "fined coins vanish"),
    Mutant("fine-uncapped", R, 'amount = min(c.coins, int(world.odds["fine_base"]) + profit)',
           'amount = int(world.odds["fine_base"]) + profit', "a fine exceeds the coins held"),
    Mutant("fine-feelings-off", R,
           'memory.move(s.relations, other, who, memory.RELATION_MOVES["fine"])', "pass",
           "a fine costs the trader no trust"),
    Mutant("trades-after-resolution-judged", R, "if not t.resolved and t.good == good:", "if t.good == good:",
           "trades made once the news is public are judged"),
    # ---- order and the public record
    Mutant("action-order-unseeded", R, 'rng(state.seed, state.round, "order").shuffle(names)', "pass",
           "actions always apply in roster order"),
    Mutant("actions-ignore-the-order", R, "for name in action_order(s):", "for name in s.creatures:",
           "close_round does not follow action_order"),
    Mutant("says-uncapped", R, "(notable + says[:MAX_SAYS_IN_HEADLINES])[:MAX_HEADLINES]",
           "(notable + says)[:MAX_HEADLINES]", "chatter crowds out the news"),
    # ---- the firewall
    Mutant("view-leaks-tip-truth", V, "TipView(t.id, t.text, t.good, t.resolves)",
           "TipView(t.id, t.text, t.good, t.resolves + (0 if t.truth else 1))",
           "a tip's truth shows in its recipient's view"),
    Mutant("records-hidden", V, "records=tuple(records[:MAX_RECORDS]),", "records=(),",
           "a defaulter's public record is not shown to those who deal with it"),
    Mutant("records-hide-unpaid", V, "unpaid[ln.borrower] = unpaid.get(ln.borrower, 0) + ln.owed",
           "unpaid[ln.borrower] = unpaid.get(ln.borrower, 0)", "the record does not say what is still owed"),
    Mutant("view-leaks-others-tips", V, "        for r in t.recipients:\n            tips_by",
           "        for r in state.creatures:\n            tips_by", "every trader sees every tip"),
]


@dataclass
class Result:
    name: str
    status: str  # killed | survived | error
    first: str
    seconds: float
    detail: str = ""


def patch(root: Path, m: Mutant) -> None:
    path = root / m.file
    text = path.read_text()
    n = text.count(m.old)
    if n != 1:
        raise SystemExit(f"mutant {m.name}: its old text occurs {n} times in {m.file} (must be exactly once):\n{m.old}")
    path.write_text(text.replace(m.old, m.new))


def copy_repo(src_root: Path, prefix: str = "wood-mutant-") -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    for item in COPY:
        src = src_root / item
        if not src.exists():
            continue  # the baseline run shows whether the tests still find all they need
        if src.is_dir():
            shutil.copytree(src, tmp / item, ignore=IGNORE)
        else:
            shutil.copy2(src, tmp / item)
    return tmp


def run(m: Mutant | None, source: Path, all_failures: bool = False, keep: bool = False) -> Result:
    """Copy `source` (the snapshot), apply `m` (None: the baseline) and run the tests there."""
    name = m.name if m else "(baseline)"
    tmp = copy_repo(source)
    t0 = time.perf_counter()
    try:
        if m:
            patch(tmp, m)
        args = ["-q", "-p", "no:cacheprovider", "-rfE", "--hypothesis-seed=0", "--no-header",
                "-W", "ignore::pytest.PytestAssertRewriteWarning", *TESTS]
        if not all_failures:
            args.insert(0, "-x")
        env = {**os.environ, "PYTHONPATH": str(tmp), "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp), *args], cwd=tmp, env=env,
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return Result(name, "error", f"timeout after {TIMEOUT_S}s", time.perf_counter() - t0)
        out = proc.stdout + proc.stderr
        dt = time.perf_counter() - t0
        failed = re.findall(r"^FAILED (\S+)", out, re.M)
        errors = re.findall(r"^ERROR (\S+)", out, re.M)
        if proc.returncode == 97 or "WRONG-IMPORT" in out:
            return Result(name, "error", "imported the working tree, not the copy", dt, out[-2000:])
        if proc.returncode == 0:
            return Result(name, "survived", "", dt, out[-2000:])
        if proc.returncode == 1 and failed and not errors:
            first = failed[0] if not all_failures else f"{failed[0]} (+{len(failed) - 1} more)"
            return Result(name, "killed", first, dt, out[-2000:])
        return Result(name, "error", (errors or failed or [f"pytest exit {proc.returncode}"])[0], dt, out[-3000:])
    finally:
        if keep:
            print(f"  kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="", help="comma-separated mutant names")
    ap.add_argument("-j", "--jobs", type=int, default=1)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--all-failures", action="store_true", help="run every test (no -x): slower, fuller")
    ap.add_argument("--keep", action="store_true", help="keep the temporary copies (their paths go to stderr)")
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    names = [m.name for m in MUTANTS]
    if len(set(names)) != len(names):
        raise SystemExit("mutant names must be unique")
    if args.list:
        for m in MUTANTS:
            print(f"{m.name:38} {m.file:18} {m.breaks}")
        return 0
    chosen = MUTANTS
    if args.only:
        want = set(args.only.split(","))
        unknown = want - set(names)
        if unknown:
            raise SystemExit(f"unknown mutants: {sorted(unknown)}")
        chosen = [m for m in MUTANTS if m.name in want]
    # One snapshot of the working tree for the whole run: others may be editing
    # it meanwhile, and every mutant (and the baseline) must start from the same code.
    source = copy_repo(ROOT, "wood-mutants-snapshot-")
    try:
        return _main(args, chosen, source)
    finally:
        shutil.rmtree(source, ignore_errors=True)


def _main(args, chosen: list[Mutant], source: Path) -> int:
    # every patch must apply before anything runs (fail loudly, early)
    for m in chosen:
        text = (source / m.file).read_text()
        if text.count(m.old) != 1:
            raise SystemExit(f"mutant {m.name}: its old text occurs {text.count(m.old)} times in {m.file}:\n{m.old}")
    if not args.skip_baseline:
        base = run(None, source, keep=args.keep)
        print(f"baseline (unpatched): {'all tests pass' if base.status == 'survived' else base.status}"
              f" in {base.seconds:.1f}s", flush=True)
        if base.status != "survived":
            print(base.detail, file=sys.stderr)
            print("the unpatched tests do not pass: fix that first", file=sys.stderr)
            return 2
    results: list[Result] = []

    def one(m: Mutant) -> Result:
        r = run(m, source, args.all_failures, args.keep)
        print(f"  {r.name:38} {r.status:8} {r.seconds:6.1f}s  {r.first}", flush=True)
        return r

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, chosen))
    print()
    w = max(len(r.name) for r in results)
    print(f"| {'mutant':{w}} | result   | first failing test")
    print(f"|{'-' * (w + 2)}|----------|{'-' * 40}")
    for r in results:
        print(f"| {r.name:{w}} | {r.status:8} | {r.first}")
    bad = [r for r in results if r.status != "killed"]
    print(f"\n{len(results) - len(bad)}/{len(results)} killed", end="")
    print(f"; not killed: {', '.join(r.name for r in bad)}" if bad else "")
    for r in bad:
        if r.status == "error":
            print(f"\n--- {r.name} ---\n{r.detail}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
