"""Properties of the social moves (short, ally, break, whisper): arbitrary
sequences keep the books balanced and the pacts well formed; hidden facts and
whispered words reach no one they should not; a game full of them survives a
kill -9 and replays to the same state hash."""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.actions import Action
from engine.invariants import check_round
from engine.ledger import Ledger
from engine.prompts import build_messages
from engine.replay import rebuild, verified_state
from engine.rules import close_round, open_round
from engine.runner import Runner
from engine.state import initial_state, state_hash
from engine.world import build_roster, load_world
from tests.saves import wait_for_rounds
from tests.social_brains import play_social, social_brains

ROOT = Path(__file__).resolve().parent.parent
WORLD = load_world()
# tips in about half the rounds, so whispers can pass some on (a tip's id is its round)
TIPPY = dataclasses.replace(WORLD, odds=dict(WORLD.odds, tip_per_round=0.5))
NAMES = [r.name for r in build_roster(WORLD)]
TARGETS = st.sampled_from([*NAMES, "Nobody"])  # the actor itself among them
GOODS = st.sampled_from([*WORLD.good_names, "gold", "coins"])
small = st.integers(min_value=1, max_value=40)
huge = st.sampled_from([1000, 10_000])

social = st.one_of(
    st.builds(Action, action=st.just("short"), good=GOODS, qty=st.one_of(small, st.just(1000)),
              price=st.one_of(small, huge), rounds=st.one_of(st.none(), st.integers(1, 20))),
    st.builds(Action, action=st.just("ally"), to=TARGETS),
    st.builds(Action, action=st.just("break"), to=TARGETS),
    st.builds(Action, action=st.just("whisper"), to=TARGETS,
              text=st.one_of(st.none(), st.text(max_size=120), st.just("\x1b[2J[bold]hi[/]\x07")),
              tip=st.one_of(st.none(), st.integers(1, 14))),
    st.builds(Action, action=st.just("accept"), id=st.integers(1, 80), qty=st.one_of(st.none(), small)),
    # bids and asks, so shorts find buyers and buy-ins find sellers
    st.builds(Action, action=st.just("offer"), side=st.sampled_from(["buy", "sell"]),
              good=st.sampled_from(WORLD.good_names), qty=st.integers(1, 4), price=st.integers(3, 14)),
    st.builds(Action, action=st.just("lend"), amount=st.integers(1, 200), rate=st.integers(0, 100),
              rounds=st.integers(1, 4), to=st.one_of(st.none(), TARGETS)),
    st.builds(Action, action=st.sampled_from(["short", "ally", "break", "whisper", "accept"])),  # fields missing
    st.just(Action()),
)
round_actions = st.fixed_dictionaries({n: social for n in NAMES})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), rounds=st.lists(round_actions, min_size=1, max_size=12))
def test_arbitrary_social_moves_conserve_coins_and_goods_and_keep_pacts_well_formed(seed, rounds):
    state = initial_state(TIPPY, seed)
    for acts in rounds:
        mid, opening, f1 = open_round(state, TIPPY)
        after, closing, f2 = close_round(mid, TIPPY, acts, opening)
        # coins; goods held less goods shorted; nothing negative; pacts well formed and within max_allies
        check_round(state, after, [f1, f2], [*opening, *closing], TIPPY)
        assert all(c.coins >= 0 and min(c.goods.values()) >= 0 for c in after.creatures.values())
        assert all(x.owed > 0 and x.collateral >= 0 for x in after.shorts.values())
        assert all(po.proposer != po.to for po in after.pact_offers.values())
        assert all(w.sender != w.to and w.round == after.round for w in after.whispers)
        state = after


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_long_social_games_keep_every_invariant_and_use_every_move(seed):
    """Sixty rounds of brains that short, ally, break and whisper (invalid
    proposals among them), every round checked by the engine's invariants
    (`play_social` raises on the first breach); and the moves really happened."""
    rounds = play_social(TIPPY, seed, 60, n=6)
    kinds = collections.Counter(e.kind for r in rounds for e in r["events"])
    for k in ("short_opened", "short_closed", "pact_proposed", "pact_formed", "pact_broken", "whisper", "trade"):
        assert kinds[k] > 0, (k, kinds)
    rejected = {e.data["reason"] for r in rounds for e in r["events"] if e.kind == "rejected"}
    assert {"out_of_range", "unknown_creature", "not_allied"} <= rejected, rejected
    assert any(e.data["squeezed"] for r in rounds for e in r["events"] if e.kind == "short_closed")


# --------------------------------------------------------------------------
# noninterference
# --------------------------------------------------------------------------
def _tip_world(lead: int):
    return dataclasses.replace(WORLD, odds=dict(WORLD.odds, tip_per_round=1.0, tip_lead_min=lead, tip_lead_max=lead))


def _prompt(view, world):
    return "\n".join(m["content"] for m in build_messages(view, world, temperament_line="calm"))


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_tip_truths_reach_no_view_or_prompt_in_a_wood_of_pacts_shorts_and_whispers(seed):
    """The same game twice, every tip's truth inverted in the second: every
    creature's view and prompt is identical in every round before the first
    tip resolves, though the wood is full of pacts, shorts and whispers
    (tips passed on among them)."""
    horizon = 30
    world = _tip_world(lead=horizon + 5)  # no tip resolves while we compare

    def invert(mid, opening):
        for e in opening:
            if e.kind == "tip_issued":
                t = mid.tips[e.data["tip"]]
                t.truth = not t.truth

    a = play_social(world, seed, horizon, n=6)
    b = play_social(world, seed, horizon, n=6, on_open=invert)
    assert all(ra["mid"].tips[t].truth != rb["mid"].tips[t].truth for ra, rb in zip(a, b) for t in ra["mid"].tips)
    for ra, rb in zip(a, b):
        for name, va in ra["views"].items():
            vb = rb["views"][name]
            assert va == vb, (ra["round"], name)
            assert _prompt(va, world) == _prompt(vb, world), (ra["round"], name)
    # the wood really held what the property is about
    assert any(r["mid"].pacts for r in a) and any(r["mid"].shorts for r in a) and any(r["mid"].whispers for r in a)
    passed_on = [e for r in a for e in r["events"] if e.kind == "whisper" and e.data["tip"] is not None]
    assert passed_on


def test_a_whispers_words_change_no_view_but_its_recipients(world):
    """Change the words of one delivered whisper: the recipient's next view
    (and prompt) differ, no one else's does in any round, and once the round
    after it closes the two woods are the same state again."""
    a = play_social(world, 11, 14, n=6)
    k, sender, to = next((r["round"], e.data["from"], e.data["to"]) for r in a if r["round"] >= 4
                         for e in r["events"] if e.kind == "whisper" and e.data["tip"] is None)

    def reword(round_no, actions):
        if round_no == k:
            assert actions[sender].action == "whisper" and actions[sender].to == to
            actions[sender] = actions[sender].model_copy(update={"text": "entirely other words"})

    b = play_social(world, 11, 14, n=6, edit=reword)
    differed = []
    for ra, rb in zip(a, b):
        for name, va in ra["views"].items():
            vb = rb["views"][name]
            if va != vb or _prompt(va, world) != _prompt(vb, world):
                differed.append((ra["round"], name))
    assert differed == [(k + 1, to)]
    vb = b[k]["views"][to]
    assert any(w.sender == sender and w.text == "entirely other words" for w in vb.whispers)
    assert state_hash(a[k - 1]["after"]) != state_hash(b[k - 1]["after"])  # the words sat in the state ...
    assert all(state_hash(ra["after"]) == state_hash(rb["after"]) for ra, rb in zip(a[k:], b[k:]))  # ... then left


# --------------------------------------------------------------------------
# kill -9, resume and replay
# --------------------------------------------------------------------------
def _uninterrupted(seed: int, n: int, rounds: int) -> str:
    roster = build_roster(WORLD, n)
    runner = Runner(WORLD, initial_state(WORLD, seed, roster), social_brains([r.name for r in roster], seed))
    asyncio.run(runner.run(rounds))
    return state_hash(runner.state)


def test_a_social_game_killed_mid_run_resumes_and_replays_to_the_same_hash(tmp_path):
    seed, n = 13, 6
    db = tmp_path / "social.db"
    victim = subprocess.Popen([sys.executable, "-m", "tests.social_brains", str(db), str(seed), str(n), "100000",
                               "0.01"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = 0
    try:
        done = wait_for_rounds(db, 30, 120, victim)
    finally:
        victim.send_signal(signal.SIGKILL)
        _, err = victim.communicate(timeout=60)
    assert victim.returncode == -signal.SIGKILL, err
    assert done >= 30, err
    target = done + 20
    ledger = Ledger.open(db, readonly=False)
    try:
        state = asyncio.run(verified_state(ledger, WORLD))  # every recorded round rebuilt, checked and hash-compared
        recorded = ledger.last_round()
        assert recorded >= done and state.round == recorded
        runner = Runner(WORLD, state, social_brains([r.name for r in ledger.roster()], seed), ledger=ledger)
        asyncio.run(runner.run(target))
        resumed = state_hash(runner.state)
        kinds = collections.Counter(e.kind for r in range(1, target + 1) for e in ledger.events(r))
    finally:
        ledger.close()
    assert resumed == _uninterrupted(seed, n, target)
    for k in ("short_opened", "short_closed", "pact_formed", "pact_broken", "whisper"):
        assert kinds[k] > 0, (k, kinds)
    ro = Ledger.open(db)  # and `wood replay --verify`'s way: every round's hash on the way
    try:
        assert state_hash(rebuild(ro, WORLD, verify_each=True)) == resumed
    finally:
        ro.close()
