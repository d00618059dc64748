"""The information firewall, end to end through the prompt builder.

Hidden facts (a tip's truth, other traders' private tips) must never reach a
prompt. Two tests: a long game with many tips whose every prompt is scanned
for truth in any wording, and a noninterference run: the same seed with
every tip's truth inverted gives byte-identical prompts until tips resolve.
"""
from __future__ import annotations

import asyncio
import dataclasses
import re

from engine.prompts import build_messages
from engine.rules import close_round, open_round
from engine.state import initial_state
from engine.views import market_index, public_view
from engine.world import build_roster
from engine.brains.scripted import scripted_brains

TRUTH_WORDS = re.compile(r"\b(truth|true|untrue|false|planted|fake|genuine|real|hoax|bogus|honest|lie|lies|lying)\b", re.I)
RESOLUTION = re.compile(r'^The tip ".*$', re.M)  # last round's public record of a resolved tip
WHISPERED = re.compile(r'^[^\n]* whispered: ".*$', re.M)  # a tip passed on: its words, given away by a recipient


def tip_world(world, lead: int):
    odds = dict(world.odds, tip_per_round=1.0, tip_lead_min=lead, tip_lead_max=lead)
    return dataclasses.replace(world, odds=odds)


def play_prompts(world, seed: int, rounds: int, invert: bool = False, n: int = 5):
    """Play scripted rounds, building every creature's prompt each round.
    Returns [(round, creature, prompt_text)], and the tips issued."""
    roster = build_roster(world, n)
    brains = scripted_brains(roster, seed)
    names = tuple(r.name for r in roster)
    state = initial_state(world, seed, roster)
    prompts, tips = [], {}

    async def go(state):
        for _ in range(rounds):
            mid, opening, _ = open_round(state, world)
            for e in opening:
                if e.kind == "tip_issued":
                    t = mid.tips[e.data["tip"]]
                    if invert:
                        t.truth = not t.truth
                    tips[t.id] = (t.text, t.truth, tuple(t.recipients), t.resolves)
            idx = market_index(mid)
            actions = {}
            for r in roster:
                v = public_view(mid, world, r.name, idx)
                msgs = build_messages(v, world, temperament_line=world.temperaments[r.temperament], names=names)
                prompts.append((mid.round, r.name, "\n".join(m["content"] for m in msgs)))
                actions[r.name] = (await brains[r.name].decide(v)).action
            state, _, _ = close_round(mid, world, actions, opening)
        return state

    asyncio.run(go(state))
    return prompts, tips


def test_no_prompt_in_a_long_tip_heavy_game_carries_a_tip_truth(world):
    w = tip_world(world, lead=3)
    prompts, tips = play_prompts(w, seed=21, rounds=150)
    assert len(tips) == 150 and {t[1] for t in tips.values()} == {True, False}
    leaks = []
    for rnd, creature, text in prompts:
        public = RESOLUTION.sub("", text)  # a resolved tip's fate is public record
        if m := TRUTH_WORDS.search(public):
            leaks.append((rnd, creature, m.group(0)))
        own = {t for t, _, recipients, resolves in tips.values() if creature in recipients and rnd < resolves}
        told = WHISPERED.sub("", public)  # passing a tip on is a recipient's own choice (and carries no truth)
        for tid, (tip_text, _truth, recipients, resolves) in tips.items():
            # another's live tip in this prompt, where no live tip of its own has those words
            if creature not in recipients and rnd < resolves and tip_text in told and tip_text not in own:
                leaks.append((rnd, creature, f"someone else's tip #{tid}"))
    assert leaks == []
    # and the prompts do carry the tips to their recipients
    some = next(iter(tips.items()))
    tid, (tip_text, _, recipients, resolves) = some
    assert any(tip_text in text for rnd, c, text in prompts if c in recipients and rnd == resolves - 1)


def test_inverting_every_tip_truth_leaves_prompts_byte_identical_until_resolution(world):
    w = tip_world(world, lead=40)  # every tip issued in rounds 1..39 resolves at 41 or later
    a, tips_a = play_prompts(w, seed=5, rounds=45)
    b, tips_b = play_prompts(w, seed=5, rounds=45, invert=True)
    first_resolution = min(t[3] for t in tips_a.values())
    early = [t for t, v in tips_a.items() if v[3] - 40 < first_resolution]  # issued before any resolved
    assert len(early) >= 39 and all(tips_a[t][1] != tips_b[t][1] for t in early)  # truths really were inverted
    before = [(x, y) for x, y in zip(a, b) if x[0] < first_resolution]
    assert len(before) == 5 * (first_resolution - 1) >= 5 * 40
    assert all(x == y for x, y in before)
    # after a tip resolves the worlds may differ (a shock happens or not): the test can see that
    assert any(x != y for x, y in zip(a, b) if x[0] > first_resolution)


def test_prompt_size_is_flat_in_rounds_and_creatures(world):
    from engine.prompts import count_tokens

    early, _ = play_prompts(world, seed=3, rounds=3)
    late, _ = play_prompts(world, seed=3, rounds=120)
    big, _ = play_prompts(world, seed=3, rounds=2, n=1000)
    size = lambda ps: max(count_tokens([{"role": "user", "content": t}]) for _, _, t in ps)  # noqa: E731
    assert size(late) < size(early) * 1.5 and size(big) < size(early) * 1.5, (size(early), size(late), size(big))


def test_a_trader_never_sees_its_own_offers_in_the_book_others_share(world):
    """Views share the round's book, but a trader whose offer is among the best
    sees the next best in its place (and everyone else sees its offer)."""
    from engine.actions import Action
    from engine.views import BOOK_DEPTH

    state = initial_state(world, seed=1)
    mid, opening, _ = open_round(state, world)
    asks = {"Owl": 5, "Badger": 6}  # both make timber
    actions = {n: Action(action="offer", side="sell", good="timber", qty=1, price=p) for n, p in asks.items()}
    actions.update(Fox=Action(action="offer", side="buy", good="honey", qty=1, price=2))
    after, _, _ = close_round(mid, world, actions, opening)
    mid2, _, _ = open_round(after, world)
    idx = market_index(mid2)
    views = {n: public_view(mid2, world, n, idx) for n in mid2.creatures}
    timber = {n: [o.owner for o in v.book if o.good == "timber" and o.side == "sell"] for n, v in views.items()}
    assert timber["Owl"] == ["Badger"] and timber["Badger"] == ["Owl"]
    assert timber["Squirrel"] == ["Owl", "Badger"] == timber["Hare"]
    for n, v in views.items():
        assert all(o.owner != n for o in v.book), n
        assert len([o for o in v.book if o.good == "timber" and o.side == "sell"]) <= BOOK_DEPTH
    assert views["Squirrel"].book == views["Hare"].book and views["Squirrel"].quotes == views["Owl"].quotes


def own_offers_round(world):
    """Round 3 of seed 1, opened: Owl has a loan offer open to anyone (10
    coins at 5% for 2 rounds) and a pact proposed to Hare; Fox a loan offer
    to Hare alone (7 at 3% for 1 round) and a pact proposed to Owl."""
    from engine.actions import Action

    state = initial_state(world, 1)
    names = sorted(state.creatures)
    moves = [{"Owl": Action(action="lend", amount=10, rate=5, rounds=2),
              "Fox": Action(action="lend", amount=7, rate=3, rounds=1, to="Hare")},
             {"Owl": Action(action="ally", to="Hare"), "Fox": Action(action="ally", to="Owl")}]
    for made in moves:
        mid, opening, _ = open_round(state, world)
        state, _, _ = close_round(mid, world, {n: made.get(n, Action(action="pass")) for n in names}, opening)
    return open_round(state, world)[0]


def test_a_view_lists_its_own_loan_offers_and_pact_proposals_and_none_of_anothers(world):
    """A creature's own loan offers and pact proposals are its own doing: its
    view lists them (the seat's panel reads them there, not from the state),
    and no creature's view lists another's among its own. The prompt is
    built as before: it does not list them."""
    mid = own_offers_round(world)
    names = sorted(mid.creatures)
    idx = market_index(mid)
    views = {n: public_view(mid, world, n, idx) for n in names}
    for n, v in views.items():
        assert [(lo.id, lo.amount, lo.rate, lo.rounds, lo.expires, lo.to) for lo in v.my_loan_offers] == [
            (lo.id, lo.amount, lo.rate, lo.rounds, lo.expires, lo.to) for lo in mid.loan_offers.values()
            if lo.lender == n], n
        assert [(po.id, po.to, po.expires) for po in v.my_pact_offers] == [
            (po.id, po.to, po.expires) for po in mid.pact_offers.values() if po.proposer == n], n
    assert [lo.amount for lo in views["Owl"].my_loan_offers] == [10]
    assert [po.to for po in views["Owl"].my_pact_offers] == ["Hare"]
    assert [lo.to for lo in views["Fox"].my_loan_offers] == ["Hare"]
    assert [po.to for po in views["Fox"].my_pact_offers] == ["Owl"]
    assert not views["Hare"].my_loan_offers and not views["Hare"].my_pact_offers  # offered to, not its own
    for n, v in views.items():  # the prompts do not grow by them
        bare = dataclasses.replace(v, my_loan_offers=(), my_pact_offers=())
        assert build_messages(v, world, temperament_line="calm", names=tuple(names)) == \
            build_messages(bare, world, temperament_line="calm", names=tuple(names)), n
