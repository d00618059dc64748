"""The pure parts of `wood sweep`: which runs a sweep is made of, the
measures taken from each run's report, and the comparison table.

A sweep plays the same seeds under several rosters. Each run's report
(`EconomyReport.to_dict()`) is flattened by `run_metrics` into one number
per metric: the economy's (needs met, Gini, ...) and, per model, how it
traded (`"stock_rounds[scripted:hoarder]"`). `compare` turns the runs of
each roster into one row per metric: the mean over seeds with a 95%
interval (Student's t: the seeds are a small sample; cut to what the metric
can be), and `table_lines`
prints it. Nothing here plays or reads a run.
"""
from __future__ import annotations

import math
import re
import statistics
from dataclasses import dataclass

from .metrics import decimals
from .sanitise import cells, pad_cells

MAX_SEEDS = 10_000
# two-sided 95% quantiles of Student's t by degrees of freedom (1..30); beyond, the normal's
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
       2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z95 = 1.960

# The economy's measures: (metric, label, where in the report)
ECONOMY = (
    ("needs_met", "needs met (share)", ("needs_met",)),
    ("mood_mean_final", "mean mood at the end", None),
    ("mood_zero_share_final", "share at mood 0 at the end", ("mood_zero_share_final",)),
    ("gini_final", "wealth Gini at the end", ("gini_final",)),
    ("median_coins_final", "median coins at the end", ("median_coins_final",)),
    ("trades", "trades", None),
    ("rejected_share", "rejected actions (share)", ("rejected_share",)),
    ("loans_taken", "loans taken", ("loans", "taken")),
    ("defaults", "defaults", ("loans", "defaults")),
    ("fines", "fines", ("fines", "count")),
    ("shorts_opened", "shorts opened", ("shorts", "opened")),
)
# Each model's measures: (metric, label, where in its part of the report)
PER_MODEL = (
    ("valid_share", "valid decisions (share)", ("valid_share",)),
    ("self_trade_per_100", "self-trade attempts per 100 decisions", None),
    ("stock_rounds", "goods held, in rounds of needs (hoarding)", ("stock_rounds",)),
    ("rotted_per_round", "units rotted a round", ("rotted_per_round",)),
    ("trades_per_round", "trades a round", ("trades", "per_round")),
    ("shorts_per_100_rounds", "shorts per 100 rounds (speculation)", ("shorts", "per_100_rounds")),
    ("tip_trades_per_100_rounds", "trades on live tips per 100 rounds", None),
    ("loans_taken_per_100_rounds", "loans taken per 100 rounds", None),
    ("worth_change", "net worth change per creature", ("worth", "change")),
    ("mood_change", "mood change per creature", ("mood", "change")),
    ("say_per_round", "say lines a round", ("say_per_round",)),
    ("latency_p50_ms", "call latency p50, ms", ("calls", "latency_ms", "p50")),
    ("latency_p95_ms", "call latency p95, ms", ("calls", "latency_ms", "p95")),
    ("tokens_per_s", "tokens per second", ("calls", "tokens_per_s")),
    ("cost_gpu_hour", "cost per 1,000 decisions (GPU-hour price)", ("calls", "cost_per_1k_decisions", "gpu_hour")),
    ("cost_mtok", "cost per 1,000 decisions (token price)", ("calls", "cost_per_1k_decisions", "mtok")),
)
# What each metric can be: its interval is clipped to it (with two or three seeds, t's interval can
# run past a share's 0..1 or below a count's 0). Unlisted metrics (changes) may be anything.
SHARES = {"needs_met", "mood_zero_share_final", "gini_final", "rejected_share", "valid_share"}
UNSIGNED = {"median_coins_final", "trades", "loans_taken", "defaults", "fines", "shorts_opened", "self_trade_per_100",
            "stock_rounds", "rotted_per_round", "trades_per_round", "shorts_per_100_rounds", "tip_trades_per_100_rounds",
            "loans_taken_per_100_rounds", "say_per_round", "latency_p50_ms", "latency_p95_ms", "tokens_per_s",
            "cost_gpu_hour", "cost_mtok"}
RANGES = {**dict.fromkeys(SHARES, (0.0, 1.0)), **dict.fromkeys(UNSIGNED, (0.0, math.inf)),
          "mood_mean_final": (0.0, 100.0), "mood_change": (-100.0, 100.0)}
_SEEDS = re.compile(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?", re.ASCII)  # ASCII digits: int() takes any script's


def parse_seeds(text: str) -> list[int]:
    """"1-10", "1,3,7" or "1-3,9" as a sorted list of seeds; ValueError
    otherwise, and where a seed is named twice (`1,1`, `1-3,2`): it had been
    dropped without a word, and each seed is played once."""
    out: set[int] = set()
    for part in text.split(","):
        m = _SEEDS.fullmatch(part)
        if not m:
            raise ValueError(f"expected seeds like 1-10 or 1,3,7, got {text.strip()!r}")
        a, b = int(m[1]), int(m[2] if m[2] is not None else m[1])
        if b < a:
            raise ValueError(f"the range {part.strip()} runs backwards")
        if len(out) + b - a + 1 > MAX_SEEDS:
            raise ValueError(f"at most {MAX_SEEDS:,} seeds")
        if again := out.intersection(range(a, b + 1)):
            raise ValueError(f"seed {min(again)} is given more than once (in {text.strip()!r})")
        out.update(range(a, b + 1))
    return sorted(out)


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    lo: float | None  # None: one value has no interval
    hi: float | None

    def to_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "lo": self.lo, "hi": self.hi}


def interval(values: list[float], within: tuple[float, float] = (-math.inf, math.inf)) -> Interval | None:
    """The mean of `values` with its 95% interval (t over n-1 degrees of
    freedom; one value: none, lo and hi None), clipped to `within`, what the
    metric can be."""
    xs = [float(v) for v in values if v is not None]
    if not xs:
        return None
    m = statistics.fmean(xs)
    if len(xs) == 1:
        return Interval(1, _r(m), None, None)
    t = T95[len(xs) - 2] if len(xs) - 1 <= len(T95) else Z95
    half = t * statistics.stdev(xs) / math.sqrt(len(xs))
    lo, hi = within
    return Interval(len(xs), _r(m), _r(max(lo, m - half)), _r(min(hi, m + half)))


def _r(x: float) -> float:
    return round(x, 6)


def dig(d, keys):
    """`d[k0][k1]...`, or None where a key is missing or a level is not a dict."""
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def run_metrics(report: dict) -> dict[str, float | None]:
    """One run's report (`EconomyReport.to_dict()`) as {metric: number}."""
    out: dict[str, float | None] = {}
    for key, _, where in ECONOMY:
        out[key] = dig(report, where) if where else None
    moods = report.get("mood_mean_by_round") or []
    out["mood_mean_final"] = moods[-1] if moods else None
    out["trades"] = sum(report.get("trades_by_good", {}).values())
    for model, m in report.get("models", {}).items():
        turns = m["decisions"]  # one decision per creature and round
        for key, _, where in PER_MODEL:
            out[f"{key}[{model}]"] = dig(m, where) if where else None
        out[f"self_trade_per_100[{model}]"] = _per100(m["self_trade_attempts"], turns)
        out[f"tip_trades_per_100_rounds[{model}]"] = _per100(m["tips"]["trades_on_tips"], turns)
        out[f"loans_taken_per_100_rounds[{model}]"] = _per100(m["loans"]["taken"], turns)
    return out


def _per100(n: int, turns: int) -> float | None:
    return 100 * n / turns if turns else None


def _labels() -> dict[str, str]:
    return {k: label for k, label, _ in (*ECONOMY, *PER_MODEL)}


def compare(runs: dict[str, list[dict]]) -> list[dict]:
    """{roster: [run_metrics of each seed]} as the comparison table: one row
    per metric (the economy's first, then each model's), each with the 95%
    interval per roster. A metric a roster never measured (a model it does
    not have, a cost with no price) is absent from that row."""
    labels = _labels()
    keys: list[str] = []
    for metrics in (m for rows in runs.values() for m in rows):
        keys += [k for k in metrics if k not in keys]
    economy = [k for k, _, _ in ECONOMY]
    per_model = [k for k in keys if "[" in k]
    order = {k: i for i, (k, _, _) in enumerate(PER_MODEL)}
    per_model.sort(key=lambda k: (k[k.index("[") + 1:-1], order[k[:k.index("[")]]))
    table = []
    for key in economy + per_model:
        base, _, model = key.partition("[")
        cells = {}
        for roster, rows in runs.items():
            iv = interval([r.get(key) for r in rows], RANGES.get(base, (-math.inf, math.inf)))
            if iv is not None:
                cells[roster] = iv.to_dict()
        if not cells:
            continue
        label = labels[base] + (f" · {model[:-1]}" if model else "")
        table.append({"metric": key, "label": label, "by_roster": cells})
    return table


def within(metric: str) -> tuple[float, float]:
    """The bounds `metric` (`"valid_share[smol]"` too) is shown within: a share's 0..1, a mood's
    0..100; none, (-inf, inf), for a count, a cost or a change that has no top."""
    lo, hi = RANGES.get(metric.partition("[")[0], (-math.inf, math.inf))
    return (lo, hi) if math.isfinite(hi) else (-math.inf, math.inf)


def fmt(x: float, bounds: tuple[float, float] = (-math.inf, math.inf)) -> str:
    """`x` to three or so figures; within `bounds` (what the metric can be),
    a value short of a bound never reads as it (`>0.99`, `<0.001`: `metrics.decimals`)."""
    a = abs(x)
    places = 0 if a >= 100 else 1 if a >= 10 else 2 if a >= 0.1 or a == 0 else 3
    return decimals(x, places, top=bounds[1], bottom=bounds[0])


def table_lines(table: list[dict], rosters: list[str], seeds: int) -> list[str]:
    """The table as text: per metric, per roster, mean [95% interval]."""
    w = max([cells(r["label"]) for r in table] + [6])

    def cell(c: dict, b: tuple[float, float]) -> str:
        return (f"{fmt(c['mean'], b)} " + (f"[{fmt(c['lo'], b)}, {fmt(c['hi'], b)}]" if c["lo"] is not None
                                           else "[no interval: 1 run]") + ("" if c["n"] == seeds else f" n={c['n']}"))

    shown = {r["metric"]: {k: cell(c, within(r["metric"])) for k, c in r["by_roster"].items()} for r in table}
    cw = {ro: max([cells(ro)] + [cells(c.get(ro, "")) for c in shown.values()]) for ro in rosters}
    out = [pad_cells("metric", w) + "  " + "  ".join(pad_cells(ro, cw[ro]) for ro in rosters)]
    for r in table:
        out.append(pad_cells(r["label"], w) + "  " + "  ".join(pad_cells(shown[r["metric"]].get(ro, "-"), cw[ro])
                                                               for ro in rosters).rstrip())
    return out
