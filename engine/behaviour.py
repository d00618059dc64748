"""How each model trades: per-model behaviour over a run (`wood report`).

A "model" is whatever thinks for a creature: a served model by its roster
name (`smol`), a scripted temperament (`scripted:hoarder`), or `human` (a
seat a person played). `ModelBehaviour` is fed the rounds `EconomyReport`
is fed (`add`) and the ledger's model calls (`add_call`); `to_dict` gives,
per model:

- its decisions: valid (clean, repaired), rejected by reason (the engine's
  reasons, `schema`/`unparseable` for a reply that was no action, `fault`),
  self-trade attempts (every `self_*` refusal);
- its calls: latency p50/p95, prompt and completion tokens, tokens per
  second, and an estimated cost per 1,000 decisions from `Prices`;
- how it trades: the action mix, goods held against needs (hoarding) and
  what rotted, trades, trades on live tips (true or planted) and the
  magistrate's fines, loans taken, defaulted and made, shorts, gifts,
  whispers, net worth and mood at the start and the end, say lines a round.

Rates are per creature and round (a model may drive several creatures), so
rosters of different sizes compare.

A creature is counted round by round under whoever decided for it that
round (each decision's recorded outcome says: `human` is a person's): a
seat a person played for 30 rounds and left to its autopilot (a `wood sim
--resume`) for 20 counts 30 rounds under `human` and 20 under its scripted
temperament, and `decided_by` says so per creature.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .brains import ENGINE_PREFIX, served
from .events import Event
from .state import State
from .world import World

SCRIPTED = "scripted"  # a roster entry's model that is the rule-based trader
HUMAN = "human"        # a decision a person made (Decision.outcome)


@dataclass(frozen=True)
class Prices:
    """What thinking costs, to estimate a cost per 1,000 decisions: a price
    per GPU-hour (the GPU time is the calls' summed latency: a server that
    batches N calls at once costs up to N times less), or per million tokens
    (prompt and completion alike). None: no estimate."""

    gpu_hour: float | None = None
    mtok: float | None = None


def model_of(model: str, temperament: str) -> str:
    """The name a creature's thinker goes by in the report. A creature a
    person joined as (model `human`) trades on the scripted rules of its
    temperament while no one is at its seat (a `wood sim` resume): those
    rounds go by them, and each round a person decided goes by `human`
    (`decider`)."""
    return f"{SCRIPTED}:{temperament}" if model in (SCRIPTED, HUMAN) else model


def decider(model: str, temperament: str, outcome: str | None) -> str:
    """Who decided a creature's round, by the outcome its decision is
    recorded with: a person (`human`), else the creature's own thinker
    (`model_of`: its model, or for a seat no one sat at, its autopilot)."""
    return HUMAN if outcome == HUMAN else model_of(model, temperament)


def percentile(xs: list[float], q: float) -> float | None:
    """The q-th percentile of sorted `xs` by nearest rank (as `wood sim`'s summary)."""
    return xs[max(0, math.ceil(q * len(xs)) - 1)] if xs else None


@dataclass
class _Tally:
    """One creature's counts over the rounds one thinker decided for it."""

    model: str
    creature: str
    decisions: int = 0
    clean: int = 0
    repaired: int = 0
    rejected: Counter = field(default_factory=Counter)   # reason -> count
    kinds: Counter = field(default_factory=Counter)      # proposed action kind -> count
    held: int = 0          # units held at the end of each round, summed
    needed: int = 0        # units needed in each round, summed
    rotted: int = 0
    bought: int = 0
    sold: int = 0
    units_bought: int = 0
    units_sold: int = 0
    tips: int = 0          # tips received
    tip_trades: Counter = field(default_factory=Counter)  # "true" / "planted" -> trades while the tip was live
    fines: int = 0
    fined_coins: int = 0
    cleared: int = 0
    loans_taken: int = 0
    loans_made: int = 0
    defaults: int = 0
    shorts: int = 0
    short_profit: int = 0
    gifts: int = 0
    whispers: int = 0
    says: int = 0
    says_on_topic: int = 0  # say lines that name a good or a creature (about the market, not noise)
    rounds: int = 0
    worth_start: int | None = None
    worth_end: int = 0
    mood_start: int | None = None
    mood_end: int = 0


def on_topic(text: str, goods: tuple[str, ...], names: tuple[str, ...]) -> bool:
    """Whether a say line names a good (singular or plural) or a creature."""
    low = text.lower()
    stems = [g.lower()[:-3] + "y" if g.lower().endswith("ies") else g.lower().rstrip("s") for g in goods]
    return any(st in low for st in stems if st) or any(n.lower() in low for n in names if n)


@dataclass
class _Calls:
    n: int = 0
    latencies: list = field(default_factory=list)
    prompt: list = field(default_factory=list)
    completion: list = field(default_factory=list)
    timed_completion: int = 0   # completion tokens of calls with a latency
    timed_s: float = 0.0        # their latency, in seconds
    busy_s: float = 0.0         # every call's latency, answered or not, in seconds
    tokens: int = 0             # prompt + completion, for a price per million tokens


@dataclass
class ModelBehaviour:
    world: World
    prices: Prices = field(default_factory=Prices)
    creatures: dict = field(default_factory=dict)        # (name, who decided) -> _Tally, in the order first seen
    calls: dict = field(default_factory=lambda: defaultdict(_Calls))  # call's model -> _Calls
    worth_series: dict = field(default_factory=lambda: defaultdict(list))  # model -> mean worth per round
    mood_series: dict = field(default_factory=lambda: defaultdict(list))   # model -> mean mood per round
    series_rounds: dict = field(default_factory=lambda: defaultdict(list))  # model -> the rounds of those means
    now: dict = field(default_factory=dict)              # name -> the _Tally of who decides for it this round
    last_worth: dict = field(default_factory=dict)       # name -> its net worth after the last round fed

    # ---- feeding ----------------------------------------------------------------
    def add(self, round_no: int, before: State, after: State, events: list[Event], decisions: dict,
            worths_before: dict[str, int] | None, worths_after: dict[str, int]) -> None:
        """One rebuilt round. `worths_before` is needed in the first round only."""
        w = self.world
        self.now = {}
        for c in before.creatures.values():
            d = decisions.get(c.name)
            key = (c.name, decider(c.model, c.temperament, d.outcome if d is not None else None))
            t = self.creatures.get(key)
            if t is None:
                t = self.creatures[key] = _Tally(key[1], c.name)
            if t.worth_start is None:  # the first round this thinker decided for it: its worth then
                t.worth_start = self.last_worth.get(c.name, (worths_before or {}).get(c.name, 0))
                t.mood_start = c.mood
            self.now[c.name] = t
        refused = {e.data["creature"]: e.data["reason"] for e in events if e.kind == "rejected"}
        for name, d in decisions.items():
            t = self.now[name]
            t.decisions += 1
            t.kinds[d.action.action] += 1
            if d.outcome == "fault":
                t.rejected["fault"] += 1
            elif d.outcome == "rejected" and not d.reason.startswith(ENGINE_PREFIX):
                t.rejected["unparseable" if d.reason.startswith("unparseable") else "schema"] += 1
            elif name in refused:
                t.rejected[refused[name]] += 1
            elif d.outcome == "repaired":
                t.repaired += 1
            else:
                t.clean += 1
        for e in events:
            self._event(e)
        for tid, tip in after.tips.items():  # trades recipients made in a good they held a live tip on
            old = before.tips.get(tid)
            if old is not None and old.resolved:  # resolved before this round: its record is closed
                continue
            for who, *_ in tip.trades[len(old.trades) if old else 0:]:
                self.now[who].tip_trades["true" if tip.truth else "planted"] += 1
        for c in after.creatures.values():
            t = self.now[c.name]
            t.rounds += 1
            t.held += sum(c.goods.values())
            t.needed += sum(w.needs_of(c.species, round_no).values())
            t.worth_end, t.mood_end = worths_after[c.name], c.mood
        self.last_worth = dict(worths_after)
        by_model: dict[str, list[str]] = defaultdict(list)  # the creatures each thinker decided for this round
        for name, t in self.now.items():
            by_model[t.model].append(name)
        for m, names in by_model.items():
            self.worth_series[m].append(statistics.fmean(worths_after[n] for n in names))
            self.mood_series[m].append(statistics.fmean(after.creatures[n].mood for n in names))
            self.series_rounds[m].append(round_no)

    def _event(self, e: Event) -> None:
        k, x, of = e.kind, e.data, self.now.get
        if k == "trade":
            if (b := of(x["buyer"])) is not None:
                b.bought += 1
                b.units_bought += x["qty"]
            if (s := of(x["seller"])) is not None:
                s.sold += 1
                s.units_sold += x["qty"]
        elif k == "tip_issued":
            for n in e.who:
                if (t := of(n)) is not None:
                    t.tips += 1
        elif k == "meal" and (t := of(x["creature"])) is not None:
            t.rotted += sum(x.get("rotted", {}).values())
        elif k == "fine" and (t := of(x["creature"])) is not None:
            t.fines += 1
            t.fined_coins += x["amount"]
        elif k == "cleared" and (t := of(x["creature"])) is not None:
            t.cleared += 1
        elif k == "loan_taken":
            if (t := of(x["borrower"])) is not None:
                t.loans_taken += 1
            if (t := of(x["lender"])) is not None:
                t.loans_made += 1
        elif k == "default" and (t := of(x["borrower"])) is not None:
            t.defaults += 1
        elif k == "short_opened" and (t := of(x["owner"])) is not None:
            t.shorts += 1
        elif k == "short_closed" and (t := of(x["owner"])) is not None:
            t.short_profit += x["profit"]
        elif k == "gift" and (t := of(x["giver"])) is not None:
            t.gifts += 1
        elif k == "whisper" and (t := of(x["from"])) is not None:
            t.whispers += 1
        elif k == "say" and (t := of(x["creature"])) is not None:
            t.says += 1
            t.says_on_topic += on_topic(x["text"], self.world.good_names, tuple(self.now))

    def add_call(self, call: dict) -> None:
        """One row of the ledger's calls table."""
        c = self.calls[call["model"]]
        c.n += 1
        lat, pt, ct = call.get("latency_ms"), call.get("prompt_tokens"), call.get("completion_tokens")
        if lat is not None:
            c.busy_s += lat / 1000  # the time the server was asked for, answered or not: the GPU-hour cost
            if served(call):  # the model's latency: of replies that came back
                c.latencies.append(lat)
        if pt is not None:  # None: no server read the prompt (saves before 2026-12 estimated it even then)
            c.prompt.append(pt)
            c.tokens += pt
        if ct is not None:
            c.completion.append(ct)
            c.tokens += ct
            if lat is not None:
                c.timed_completion += ct
                c.timed_s += lat / 1000

    # ---- measures ---------------------------------------------------------------
    def to_dict(self) -> dict:
        groups: dict[str, list[_Tally]] = defaultdict(list)
        for t in self.creatures.values():
            groups[t.model].append(t)
        out = {}
        for m in sorted(groups):
            out[m] = self._model(m, groups[m])
        return out

    def decided_by(self) -> dict[str, dict[str, int]]:
        """Per creature, who decided for it and in how many rounds (in the
        order each first did): `{"Fox": {"human": 30, "scripted:merchant": 20}}`."""
        out: dict[str, dict[str, int]] = {}
        for (name, model), t in self.creatures.items():
            out.setdefault(name, {})[model] = t.rounds
        return out

    def _model(self, model: str, ts: list[_Tally]) -> dict:
        names = [t.creature for t in ts]
        total = lambda attr: sum(getattr(t, attr) for t in ts)  # noqa: E731
        decisions, turns = total("decisions"), total("rounds")
        rejected: Counter = sum((t.rejected for t in ts), Counter())
        kinds: Counter = sum((t.kinds for t in ts), Counter())
        tip_trades: Counter = sum((t.tip_trades for t in ts), Counter())
        valid = total("clean") + total("repaired")
        per = lambda n, d: round(n / d, 4) if d else None  # noqa: E731
        mean = lambda xs: round(statistics.fmean(xs), 2) if xs else None  # noqa: E731
        starts = [t.worth_start for t in ts if t.worth_start is not None]
        mstarts = [t.mood_start for t in ts if t.mood_start is not None]
        return {
            "creatures": names,
            "rounds_by_creature": {t.creature: t.rounds for t in ts},  # the rounds it decided for each
            "decisions": decisions,
            "valid": valid, "clean": total("clean"), "repaired": total("repaired"),
            "valid_share": per(valid, decisions),
            "rejected": dict(sorted(rejected.items())),
            "rejected_share": per(sum(rejected.values()), decisions),
            "self_trade_attempts": sum(v for k, v in rejected.items() if k.startswith("self_")),
            "calls": self._calls(model, decisions),
            "action_mix": dict(sorted(kinds.items())),
            "action_share": {k: per(v, decisions) for k, v in sorted(kinds.items())},
            "stock_rounds": per(total("held"), total("needed")),
            "rotted_per_round": per(total("rotted"), turns),
            "trades": {"bought": total("bought"), "sold": total("sold"), "units_bought": total("units_bought"),
                       "units_sold": total("units_sold"), "per_round": per(total("bought") + total("sold"), turns)},
            "tips": {"received": total("tips"), "trades_on_tips": sum(tip_trades.values()),
                     "on_true": tip_trades["true"], "on_planted": tip_trades["planted"],
                     "fines": total("fines"), "fined_coins": total("fined_coins"), "cleared": total("cleared")},
            "loans": {"taken": total("loans_taken"), "defaulted": total("defaults"), "made": total("loans_made")},
            "shorts": {"opened": total("shorts"), "profit": total("short_profit"),
                       "per_100_rounds": per(100 * total("shorts"), turns)},
            "gifts": total("gifts"),
            "whispers": total("whispers"),
            "say_per_round": per(total("says"), turns),
            "say_on_topic_share": per(total("says_on_topic"), total("says")),
            "worth": {"start": mean(starts), "end": mean([t.worth_end for t in ts]),
                      "change": mean([t.worth_end - (t.worth_start or 0) for t in ts])},
            "mood": {"start": mean(mstarts), "end": mean([t.mood_end for t in ts]),
                     "change": mean([t.mood_end - (t.mood_start or 0) for t in ts])},
            "worth_by_round": [round(x, 2) for x in self.worth_series.get(model, [])],
            "mood_by_round": [round(x, 2) for x in self.mood_series.get(model, [])],
            "series_rounds": list(self.series_rounds.get(model, [])),  # the round of each of those two's values
        }

    def _calls(self, model: str, decisions: int) -> dict | None:
        c = self.calls.get(model)
        if c is None or not c.n:
            return None
        lat = sorted(c.latencies)
        cost: dict[str, float | None] = {"gpu_hour": None, "mtok": None}
        if decisions and self.prices.gpu_hour is not None and c.busy_s:
            cost["gpu_hour"] = round(c.busy_s / 3600 * self.prices.gpu_hour / decisions * 1000, 4)
        if decisions and self.prices.mtok is not None:
            cost["mtok"] = round(c.tokens / 1e6 * self.prices.mtok / decisions * 1000, 4)
        mean = lambda xs: round(statistics.fmean(xs), 1) if xs else None  # noqa: E731
        return {
            "n": c.n,
            "latency_ms": {"p50": percentile(lat, 0.5), "p95": percentile(lat, 0.95), "mean": mean(lat)},
            "prompt_tokens": {"mean": mean(c.prompt), "total": sum(c.prompt), "n": len(c.prompt)},  # n: prompts read
            "completion_tokens": {"mean": mean(c.completion), "total": sum(c.completion), "n": len(c.completion)},
            "tokens_per_s": round(c.timed_completion / c.timed_s, 2) if c.timed_s else None,
            "cost_per_1k_decisions": cost,
            "prices": {"gpu_hour": self.prices.gpu_hour, "mtok": self.prices.mtok},
        }
