"""The economy's health for a run: what `wood report RUN.db` prints.

`EconomyReport` is fed one rebuilt round at a time (`add`, from
`replay.replayed_rounds`) and keeps only what its measures need: per-round
series (mean price per good, mood, wealth Gini) and running totals. `to_dict`
is the JSON; `lines` the text. The measures are the ones the design's
"Economy health" names (its targets: README, `wood report`): needs met, mood 0, spoilage, price discovery after
shocks, single-price stretches, the top holder's share, wealth Gini, coins in
circulation, loans and defaults, fines and the treasury, rejections. Beside
them, per model (`engine.behaviour`): how each model, scripted temperament
or human seat decided and traded; `report_of` measures a save file.
"""
from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from .behaviour import SCRIPTED, ModelBehaviour, Prices
from .brains.config import MODEL_NAME_MAX
from .events import Event
from .ledger import being_written
from .replay import checked_record, replayed_rounds
from .metrics import counted, decimals, goods_width, percent
from .rules import round_fills
from .sanitise import clean_text, pad_cells, resume_command
from .score import worths
from .state import State
from .world import NAME_MAX, World

SHOCK_WINDOW = 5          # rounds before and after a shock whose trade prices are compared
SHOCK_RISE = 0.20         # a price that "finds scarcity" rises at least this much
SINGLE_PRICE_ROUNDS = 50  # a good trading at one price this long is stuck
NAMES_SHOWN = 8           # a model's creatures named on its line (the JSON has them all)


def gini(values: list[float]) -> float:
    """The Gini coefficient of `values` (negative worth counts as 0)."""
    xs = sorted(max(0.0, float(v)) for v in values)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return 0.0
    weighted = sum((i + 1) * x for i, x in enumerate(xs))
    return (2 * weighted) / (n * total) - (n + 1) / n


@dataclass
class EconomyReport:
    world: World
    rounds: int = 0
    creatures: int = 0
    start_coins: int = 0
    needed: Counter = field(default_factory=Counter)     # good -> units needed
    eaten: Counter = field(default_factory=Counter)      # good -> units eaten
    produced: Counter = field(default_factory=Counter)
    spoiled: Counter = field(default_factory=Counter)
    trades: Counter = field(default_factory=Counter)     # good -> trades
    volume: Counter = field(default_factory=Counter)     # good -> units
    prices: dict = field(default_factory=lambda: defaultdict(dict))  # good -> {round: mean price}
    distinct: dict = field(default_factory=lambda: defaultdict(set))  # good -> prices seen
    stretch: dict = field(default_factory=dict)          # good -> (price, first round, last round) of the current run
    longest: Counter = field(default_factory=Counter)    # good -> longest single-price stretch, in rounds
    shocks: list = field(default_factory=list)           # (round, good, pct, foretold), one per good and round
    mood_mean: list = field(default_factory=list)
    mood_zero: list = field(default_factory=list)        # share at mood 0, per round
    gini_by_round: list = field(default_factory=list)
    actions: int = 0
    kinds: Counter = field(default_factory=Counter)      # action kind -> count
    rejections: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)     # event kind -> count
    fines_coins: int = 0
    granary_coins: int = 0
    defaulted_coins: int = 0
    loans_to_defaulters: int = 0
    defaulters: set = field(default_factory=set)
    shorts: Counter = field(default_factory=Counter)     # opened, closed, at_loss, squeezed, profit, units
    pacts: Counter = field(default_factory=Counter)      # proposed, formed, broken, broken_by_default
    whispers: Counter = field(default_factory=Counter)   # sent, tips_passed
    final: dict = field(default_factory=dict)            # end-of-run snapshot measures
    prices_given: Prices = field(default_factory=Prices)  # for the cost estimate per model
    behaviour: ModelBehaviour | None = None               # per model, fed with the rest
    save: str = ""                                        # the save measured (`report_of`), for its resume command
    stopped_early_of: int | None = None                   # the rounds its run was set to play, where it holds fewer
    resume_with: str = "sim"  # ... and the wood command that goes on with it (people played: play)
    still_played: bool = False                            # ... or another process is still saving to it

    def __post_init__(self) -> None:
        if self.behaviour is None:
            self.behaviour = ModelBehaviour(self.world, self.prices_given)

    def add_call(self, call: dict) -> None:
        """One recorded model call (a row of `Ledger.calls()`)."""
        self.behaviour.add_call(call)

    # ---- feeding ----------------------------------------------------------------
    def add(self, round_no: int, before: State, after: State, events: list[Event], flows, decisions: dict) -> None:
        w = self.world
        if not self.creatures:
            self.creatures = len(before.creatures)
            self.start_coins = int(w.economy["start_coins"])
        self.rounds = round_no
        for c in before.creatures.values():
            for g, n in w.needs_of(c.species, round_no).items():
                self.needed[g] += n
        for f in flows:
            self.produced.update(f.produced)
            self.eaten.update(f.consumed)
            self.spoiled.update(f.spoiled)
        for d in decisions.values():
            self.actions += 1
            self.kinds[d.action.action] += 1
        for e in events:
            self.events[e.kind] += 1
            k, x = e.kind, e.data
            if k == "trade":
                self.trades[x["good"]] += 1
                self.volume[x["good"]] += x["qty"]
            elif k == "rejected":
                self.rejections[x["reason"]] += 1
            elif k == "shock_started" and not any(x0 == round_no and g0 == x["good"] for x0, g0, _, _ in self.shocks) \
                    and not (any(sh.good == x["good"] and (sh.pct < 0) == (x["pct"] < 0) for sh in before.shocks)
                             and not any(o.kind == "shock_ended" and o.data.get("good") == x["good"] for o in events)):
                # a new one: a tip's shock starting again while the good already suffers it is the same failure
                foretold = any(o.kind == "tip_resolved" and o.data.get("truth") and o.data.get("good") == x["good"]
                               for o in events)
                self.shocks.append((round_no, x["good"], x["pct"], foretold))
            elif k == "fine":
                self.fines_coins += x["amount"]
            elif k == "granary":
                self.granary_coins += x.get("spent", 0)
            elif k == "default":
                self.defaulted_coins += x.get("short", 0)
                self.defaulters.add(x["borrower"])
            elif k == "loan_taken" and x["borrower"] in self.defaulters:
                self.loans_to_defaulters += 1
            elif k == "short_opened":
                self.shorts["opened"] += 1
                self.shorts["units"] += x["qty"]
            elif k == "short_closed":
                self.shorts["closed"] += 1
                self.shorts["at_loss"] += x["profit"] < 0
                self.shorts["squeezed"] += x["squeezed"] > 0
                self.shorts["profit"] += x["profit"]
            elif k == "pact_proposed" and not x.get("renewed"):
                self.pacts["proposed"] += 1
            elif k == "pact_formed":
                self.pacts["formed"] += 1
            elif k == "pact_broken":
                self.pacts["broken"] += 1
                self.pacts["broken_by_default"] += x["why"] == "default"
            elif k == "whisper":
                self.whispers["sent"] += 1
                self.whispers["tips_passed"] += x.get("tip") is not None
        for g, fills in round_fills(events).items():  # trades and the granary's and shorts' buy-ins: prices all
            units = sum(q for _, _, q, _ in fills)
            self.prices[g][round_no] = sum(p * q for _, _, q, p in fills) / units
            for *_, p in fills:
                self.distinct[g].add(p)
            self._stretch(g, round_no, {p for *_, p in fills})
        moods = [c.mood for c in after.creatures.values()]
        self.mood_mean.append(statistics.fmean(moods))
        self.mood_zero.append(sum(m == 0 for m in moods) / len(moods))
        worth = worths(after, w)
        self.gini_by_round.append(gini(list(worth.values())))
        self.behaviour.add(round_no, before, after, events, decisions,
                           worths(before, w) if len(self.gini_by_round) == 1 else None, worth)
        self.final = self._snapshot(after)

    def _stretch(self, good: str, round_no: int, prices: set[int]) -> None:
        """Consecutive trades of `good` all at one price: how many rounds they span."""
        run = self.stretch.get(good)
        if len(prices) == 1 and run is not None and run[0] in prices:
            run = (run[0], run[1], round_no)
        elif len(prices) == 1:
            run = (next(iter(prices)), round_no, round_no)
        else:
            run = None
        self.stretch[good] = run
        if run is not None:
            self.longest[good] = max(self.longest[good], run[2] - run[1] + 1)

    def _snapshot(self, s: State) -> dict:
        w = self.world
        stock: dict[str, list[int]] = {g: [c.goods.get(g, 0) for c in s.creatures.values()] for g in w.goods}
        coins = sorted(c.coins for c in s.creatures.values())
        return {
            "top_holder_share": {g: (max(v) / sum(v) if sum(v) else None) for g, v in stock.items()},
            "stock": {g: sum(v) for g, v in stock.items()},
            "median_coins": statistics.median(coins),
            "treasury": s.treasury,
            "mood_zero_share": sum(c.mood == 0 for c in s.creatures.values()) / len(s.creatures),
            "open_loans": len(s.loans),
        }

    # ---- measures ---------------------------------------------------------------
    def shock_responses(self) -> list[dict]:
        """For each harvest failure (a shock that cuts production): the good's mean
        trade price in the `SHOCK_WINDOW` rounds before and after it began. One
        whose window after runs past the run's last round is listed but not
        measured (`rise` None): its "after" would be fewer rounds."""
        out = []
        for r, g, pct, foretold in self.shocks:
            if pct >= 0:
                continue
            series = self.prices.get(g, {})
            before = [p for k, p in series.items() if r - SHOCK_WINDOW <= k < r]
            after = [p for k, p in series.items() if r <= k < r + SHOCK_WINDOW]
            whole = r + SHOCK_WINDOW - 1 <= self.rounds
            rise = (statistics.fmean(after) / statistics.fmean(before) - 1) if before and after and whole else None
            out.append({"round": r, "good": g, "pct": pct, "foretold": foretold,
                        "price_before": round(statistics.fmean(before), 2) if before else None,
                        "price_after": round(statistics.fmean(after), 2) if after else None,
                        "rise": None if rise is None else round(rise, 3)})
        return out

    def to_dict(self) -> dict:
        w = self.world
        needed, eaten = sum(self.needed.values()), sum(self.eaten.values())
        shocks = self.shock_responses()
        measured = [s for s in shocks if s["rise"] is not None]
        rej = sum(self.rejections.values())
        return {
            "rounds": self.rounds,
            "stopped_early_of": self.stopped_early_of,
            "still_played": self.still_played,
            "creatures": self.creatures,
            "needs_met": eaten / needed if needed else None,
            "needs_met_by_good": {g: (self.eaten[g] / self.needed[g] if self.needed[g] else None) for g in w.goods},
            "spoiled_share_by_good": {g: (self.spoiled[g] / self.produced[g] if self.produced[g] else None)
                                      for g in w.goods},
            "mood_zero_share_final": self.final.get("mood_zero_share"),
            "mood_mean_by_round": [round(m, 2) for m in self.mood_mean],
            "mood_zero_share_by_round": [round(m, 4) for m in self.mood_zero],
            "trades_by_good": dict(self.trades),
            "volume_by_good": dict(self.volume),
            "price_by_good_by_round": {g: {r: round(p, 2) for r, p in sorted(self.prices[g].items())}
                                       for g in w.goods},  # whole-number keys: JSON's sorted keys stay in round order
            "distinct_prices_by_good": {g: len(self.distinct[g]) for g in w.goods},
            "longest_single_price_rounds_by_good": {g: self.longest[g] for g in w.goods},
            "shocks": shocks,
            "shocks_with_rise": {"measured": len(measured),
                                 "rose_enough": sum(s["rise"] >= SHOCK_RISE for s in measured)},
            "top_holder_share_final": {g: self.final.get("top_holder_share", {}).get(g) for g in w.goods},
            "gini_final": self.gini_by_round[-1] if self.gini_by_round else None,
            "gini_by_round": [round(x, 4) for x in self.gini_by_round],
            "median_coins_final": self.final.get("median_coins"),
            "start_coins": self.start_coins,
            "treasury_final": self.final.get("treasury"),
            "loans": {"offered": self.events["loan_offered"], "taken": self.events["loan_taken"],
                      "repaid": self.events["loan_repaid"], "defaults": self.events["default"],
                      "coins_defaulted": self.defaulted_coins, "loans_to_defaulters": self.loans_to_defaulters},
            "fines": {"count": self.events["fine"], "coins": self.fines_coins, "cleared": self.events["cleared"]},
            "granary": {"rounds": self.events["granary"], "coins_spent": self.granary_coins},
            "shorts": {k: self.shorts[k] for k in ("opened", "closed", "at_loss", "squeezed", "units", "profit")},
            "pacts": {k: self.pacts[k] for k in ("proposed", "formed", "broken", "broken_by_default")},
            "whispers": {k: self.whispers[k] for k in ("sent", "tips_passed")},
            "actions": self.actions,
            "action_mix": dict(self.kinds),
            "rejections": dict(self.rejections),
            "rejected_share": rej / self.actions if self.actions else None,
            "models": self.behaviour.to_dict(),
            "decided_by": self.behaviour.decided_by(),  # creature -> {who decided: rounds}
        }

    def lines(self) -> list[str]:
        d = self.to_dict()
        goods = list(self.world.goods)
        planned = d["stopped_early_of"]
        if planned is None:
            so_far = ""
        elif d["still_played"]:
            so_far = f" {still_being_played(planned)}"
        else:
            so_far = (f" of the {planned} the run was set to play (stopped early; resume with: "
                      f"{resume_command(self.resume_with, self.save)})")
        out = [f"rounds {d['rounds']}{so_far}, creatures {d['creatures']}",
               f"needs met: {percent(d['needs_met'])} ("
               + ", ".join(f"{g} {percent(d['needs_met_by_good'][g])}" for g in goods) + ")",
               f"mood 0 at the end: {percent(d['mood_zero_share_final'])}; mean mood at the end "
               f"{decimals(self.mood_mean[-1] if self.mood_mean else None, 2, top=100)}",
               "spoiled (share of produced): " + ", ".join(f"{g} {percent(d['spoiled_share_by_good'][g])}" for g in goods),
               "top holder's share of the stock at the end: "
               + ", ".join(f"{g} {percent(d['top_holder_share_final'][g])}" for g in goods)]
        out.append("per good: trades and units between creatures; prices (the granary's and shorts' buy-ins too): "
                   "how many distinct, the longest span of rounds whose every trade was at one price, the mean in "
                   "the last round that had a price")
        w = goods_width(goods)
        out.append(f"{pad_cells('good', w)} {'trades':>7} {'units':>7} {'prices':>7} {'longest 1-price':>16} {'last mean':>10}")
        for g in goods:
            series = d["price_by_good_by_round"][g]
            last = f"{list(series.values())[-1]:.1f}" if series else "-"
            out.append(f"{pad_cells(g, w)} {d['trades_by_good'].get(g, 0):>7} {d['volume_by_good'].get(g, 0):>7} "
                       f"{d['distinct_prices_by_good'][g]:>7} {d['longest_single_price_rounds_by_good'][g]:>13} r "
                       f"{last:>10}")
        sw = d["shocks_with_rise"]
        out.append(f"harvest failures: {len(d['shocks'])}; measured {sw['measured']} (a price in the {SHOCK_WINDOW} "
                   f"rounds before and in the {SHOCK_WINDOW} from its start, all {SHOCK_WINDOW} within the run), "
                   f"price up >= {SHOCK_RISE:.0%} in {sw['rose_enough']}")
        for s in d["shocks"]:
            rise = f"{s['price_before']} -> {s['price_after']} ({_rise(s['rise'])})" if s["rise"] is not None else \
                "the run ends within its window" if s["round"] + SHOCK_WINDOW - 1 > d["rounds"] else \
                f"no price in the {SHOCK_WINDOW} rounds before" if s["price_before"] is None else \
                f"no price in the {SHOCK_WINDOW} rounds from its start"
            out.append(f"  round {s['round']} {s['good']}{' (foretold)' if s['foretold'] else ''}: {rise}")
        gf = d["gini_final"]
        mc = d["median_coins_final"]
        out.append(f"wealth Gini at the end: {decimals(gf, 2)}; median coins "
                   f"{'n/a' if mc is None else f'{mc:g}'} (start {d['start_coins']})")
        ln, fi, gr = d["loans"], d["fines"], d["granary"]
        tr = d["treasury_final"]
        out.append(f"loans: {ln['taken']} taken of {ln['offered']} offered, {ln['repaid']} repaid, "
                   f"{counted(ln['defaults'], 'default')} ({counted(ln['coins_defaulted'], 'coin')} short), "
                   f"{ln['loans_to_defaulters']} to past defaulters")
        out.append(f"fines: {fi['count']} ({counted(fi['coins'], 'coin')}), {fi['cleared']} cleared; granary: "
                   f"{counted(gr['rounds'], 'round')}, {counted(gr['coins_spent'], 'coin')} spent; treasury at the end "
                   f"{'n/a' if tr is None else tr}")
        sh, pa, wh = d["shorts"], d["pacts"], d["whispers"]
        out.append(f"shorts: {sh['opened']} opened ({counted(sh['units'], 'unit')}), {sh['closed']} closed: "
                   f"{sh['at_loss']} at a loss, {sh['squeezed']} squeezed, {counted(sh['profit'], 'coin', '+d')} in all")
        out.append(f"pacts: {pa['proposed']} proposed, {pa['formed']} formed, {pa['broken']} broken "
                   f"({pa['broken_by_default']} by a default)")
        out.append(f"whispers: {wh['sent']} sent, {wh['tips_passed']} passing on a tip")
        mix = ", ".join(f"{k} {v}" for k, v in sorted(d["action_mix"].items(), key=lambda kv: -kv[1]))
        out.append(f"actions: {d['actions']}" + (f" ({mix})" if mix else ""))
        rej = ", ".join(f"{k} {v}" for k, v in sorted(d["rejections"].items(), key=lambda kv: -kv[1])) or "none"
        out.append(f"rejected: {percent(d['rejected_share'])} of actions ({rej})")
        if not d["models"]:
            out.append("per model: none (no decision recorded)")
            return out
        out.append("per model (a scripted temperament and a human seat count as models; totals over its "
                   "creatures and the run unless a line says a round or a creature):")
        shared = {n: by for n, by in d["decided_by"].items() if len(by) > 1}
        for name, m in d["models"].items():
            out.extend("  " + line for line in model_lines(name, m, shared))
        if shared:
            out.append("seats decided by more than one (each round counts under whoever decided it): "
                       + "; ".join(shared_line(n, by) for n, by in shared.items()))
        return out


def shared_line(creature: str, by: dict[str, int]) -> str:
    """`Fox: human 30 rounds, autopilot 20 (scripted:merchant)`: who decided
    for a creature, and in how many rounds, in the order each first did."""
    def one(model: str, n: int, first: bool) -> str:
        rounds = counted(n, "round") if first else str(n)
        if model.startswith(f"{SCRIPTED}:"):  # a seat no one sat at trades on its temperament's rules
            return f"autopilot {rounds} ({clean_text(model, MODEL_NAME_MAX)})"
        return f"{clean_text(model, MODEL_NAME_MAX)} {rounds}"
    return f"{clean_text(creature, NAME_MAX)}: " + ", ".join(one(m, n, i == 0) for i, (m, n) in enumerate(by.items()))


def _rise(rise: float) -> str:
    """`+25%`, `-40%`: a price never falls to 0, so a fall short of all of it never reads `-100%` (`<-99%`)."""
    return ("+" if rise >= 0 else "") + decimals(100 * rise, 0, top=math.inf, bottom=-100) + "%"


PLAIN_PRICE_MAX = 20  # characters: a price whose plain digits run longer is written with an exponent


def price_text(price: float) -> str:
    """A price as given, in plain digits: `1000000` (`:g` had printed 1e+06,
    and 999999.5 as 1e+06 too), `0.0000001`, `2.5`; one that would take more
    than PLAIN_PRICE_MAX of them with an exponent, as Python writes it
    (`1e-300`: in plain digits, a line of 300 zeros)."""
    plain = format(Decimal(repr(price)).normalize(), "f")
    return plain if len(plain) <= PLAIN_PRICE_MAX else repr(price)


def model_lines(name: str, m: dict, shared: dict | None = None) -> list[str]:
    """One model's behaviour (`ModelBehaviour.to_dict()[name]`) as text; a
    creature in `shared` (decided for by more than one) is named with the
    rounds this model decided for it."""
    num = lambda x, f=".2f": "n/a" if x is None else format(x, f)  # noqa: E731
    rej = ", ".join(f"{k} {v}" for k, v in sorted(m["rejected"].items(), key=lambda kv: (-kv[1], kv[0])))
    name = clean_text(name, MODEL_NAME_MAX)  # a roster validates it; a save made by hand need not have
    names = m["creatures"]  # as the model's name: a save made by hand
    part = m.get("rounds_by_creature", {})
    who = ", ".join(clean_text(c, NAME_MAX) + (f" for {counted(part[c], 'round')}" if c in (shared or {}) else "")
                    for c in names[:NAMES_SHOWN]) + \
        (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")
    out = [f"{name} ({who}): {counted(m['decisions'], 'decision')}, valid {percent(m['valid_share'])} "
           f"(clean {m['clean']}, repaired {m['repaired']}), rejected {sum(m['rejected'].values())}"
           f"{f' ({rej})' if rej else ''}, self-trade attempts {m['self_trade_attempts']}"]
    c = m["calls"]
    if c is not None:
        lat, cost, price = c["latency_ms"], c["cost_per_1k_decisions"], c["prices"]
        # a price given but nothing to charge it on (no call's time recorded) is said so, not "no price given"
        costs = [(f"{cost[k]:.4f}" if cost[k] is not None else "n/a") + f" at {price_text(price[k])} {unit}"
                 + ("" if cost[k] is not None else " (no time in calls recorded)")
                 for k, unit in (("gpu_hour", "per GPU-hour"), ("mtok", "per million tokens")) if price[k] is not None]
        ms = lambda x: "n/a" if x is None else f"{x:.0f} ms"  # noqa: E731
        read = c["prompt_tokens"].get("n", c["n"])  # the means are of the calls whose prompt a server read
        of = "" if read >= c["n"] else f" (means of the {read} of {c['n']} whose prompt a server read)"
        out.append(f"  model calls {c['n']} (one a decision, its retries and re-asks in it): latency of those "
                   f"answered p50 {ms(lat['p50'])}, p95 {ms(lat['p95'])}; "
                   f"tokens in {num(c['prompt_tokens']['mean'], '.0f')}, out {num(c['completion_tokens']['mean'], '.0f')}"
                   f" a decision{of}; {num(c['tokens_per_s'], '.1f')} tokens/s; cost per 1,000 decisions: "
                   + ("; ".join(costs) if costs else "no price given (--gpu-hour-price, --mtok-price)"))
    mix = ", ".join(f"{k} {percent(v)}" for k, v in sorted(m["action_share"].items(), key=lambda kv: (-kv[1], kv[0])))
    topic = m.get("say_on_topic_share")
    about = f" ({percent(topic)} naming a good or a creature)" if topic is not None else ""
    out.append(f"  actions: {mix or 'none'}; says {num(m['say_per_round'])} a round{about}")
    tr, tips = m["trades"], m["tips"]
    out.append(f"  trades: bought {tr['bought']} ({counted(tr['units_bought'], 'unit')}), sold {tr['sold']} "
               f"({counted(tr['units_sold'], 'unit')}); holds {num(m['stock_rounds'])} rounds of needs, "
               f"{num(m['rotted_per_round'])} units rot a round")
    out.append(f"  tips: {tips['received']} received, {counted(tips['trades_on_tips'], 'trade')} on them "
               f"({tips['on_true']} true, {tips['on_planted']} planted); fines {tips['fines']} "
               f"({counted(tips['fined_coins'], 'coin')}), cleared {tips['cleared']}")
    ln, sh = m["loans"], m["shorts"]
    out.append(f"  credit: {counted(ln['taken'], 'loan')} taken, {ln['defaulted']} defaulted, {ln['made']} made; shorts "
               f"{sh['opened']} ({counted(sh['profit'], 'coin', '+d')}); gifts {m['gifts']}, whispers {m['whispers']}")
    wo, mo = m["worth"], m["mood"]
    out.append(f"  net worth {_moved(wo)}, mood {_moved(mo)} a creature")
    return out


def _moved(m: dict) -> str:
    """`171 -> 150 (-21)`: whole numbers, the change the one between the two shown."""
    if m["start"] is None or m["end"] is None:
        return "n/a"
    start, end = round(m["start"]), round(m["end"])
    return f"{start} -> {end} ({end - start:+d})"


def still_being_played(planned: int) -> str:
    """What follows the rounds a save holds where another wood process is still
    saving to it (`being_written`), its run set to play `planned` (`wood report`,
    `wood replay --verify`)."""
    return f"of the {planned} the run is set to play (still being played: another wood process is saving to it)"


def report_of(path, world: World, *, prices: Prices | None = None, upto: int | None = None) -> EconomyReport:
    """The report of the save at `path` (opened read-only, its record checked
    first), over rounds 1..`upto` (default: every committed round), each
    rebuilt round held to its recorded hash (a changed save is refused).
    Measured to its last round, a save whose run was set to play more (it
    was stopped early, or another process is still saving to it:
    `still_played`) says how many (`stopped_early_of`)."""
    report = EconomyReport(world, prices_given=prices or Prices(), save=str(path))
    with checked_record(path, world) as ledger:
        report.creatures = len(ledger.roster())  # so a save with no round yet still says who is in it
        report.start_coins = int(world.economy["start_coins"])
        held = ledger.last_round()
        for rr in replayed_rounds(ledger, world, upto=held if upto is None else min(upto, held), verify=True):
            report.add(rr.round, rr.before, rr.after, rr.events, rr.flows, rr.decisions)
        planned = ledger.end_for(held + 1)  # the last round a resume plays to (0: none recorded)
        if report.rounds == held < planned:
            report.stopped_early_of = planned
            report.resume_with = ledger.resume_with()
        for call in ledger.calls():
            if call["round"] <= report.rounds and call.get("model"):
                report.add_call(call)
    # asked once the save is closed: opening and closing the file while SQLite holds it open here would
    # drop this process's SQLite locks on it (POSIX locks go with any descriptor of the file closed)
    report.still_played = report.stopped_early_of is not None and being_written(path)
    return report
