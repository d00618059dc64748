"""Property tests: arbitrary action sequences (invalid ones included) keep
the wood's books balanced; PublicView does not depend on hidden facts."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.actions import Action
from engine.invariants import check_round
from engine.rules import close_round, open_round
from engine.state import Tip, initial_state
from engine.views import public_view
from engine.world import build_roster, load_world

WORLD = load_world()
NAMES = [r.name for r in build_roster(WORLD)]
small = st.integers(min_value=1, max_value=40)

actions = st.one_of(
    st.builds(Action, action=st.just("pass")),
    st.builds(Action, action=st.just("offer"), side=st.sampled_from(["buy", "sell"]),
              good=st.sampled_from([*WORLD.good_names, "gold", "coins"]), qty=small, price=small),
    st.builds(Action, action=st.just("accept"), id=st.integers(1, 60), qty=st.one_of(st.none(), small)),
    st.builds(Action, action=st.just("lend"), amount=st.integers(1, 200), rate=st.integers(0, 100),
              rounds=st.integers(1, 5), to=st.one_of(st.none(), st.sampled_from(NAMES + ["Nobody"]))),
    st.builds(Action, action=st.just("gift"), to=st.sampled_from(NAMES + ["Nobody"]),
              good=st.sampled_from([*WORLD.good_names, "coins", "gold"]), qty=st.integers(1, 200)),
    # a proposal with fields missing
    st.builds(Action, action=st.sampled_from(["offer", "accept", "lend", "gift"])),
)
round_actions = st.fixed_dictionaries({n: actions for n in NAMES})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), rounds=st.lists(round_actions, min_size=1, max_size=12))
def test_arbitrary_actions_conserve_coins_and_goods_and_stay_non_negative(seed, rounds):
    state = initial_state(WORLD, seed)
    for acts in rounds:
        mid, opening, f1 = open_round(state, WORLD)
        after, closing, f2 = close_round(mid, WORLD, acts, opening)
        check_round(state, after, [f1, f2], [*opening, *closing])  # raises InvariantError on any breach
        assert all(c.coins >= 0 and min(c.goods.values()) >= 0 for c in after.creatures.values())
        state = after


def _with_tips(state, truths, recipients):
    for i, (truth, who) in enumerate(zip(truths, recipients)):
        tid = state.new_id()
        state.tips[tid] = Tip(tid, "drought", "berries", f"the berries harvest fails in {i + 2} rounds",
                              [who], truth, state.round, state.round + i + 2)
    return state


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**16), truths=st.lists(st.booleans(), min_size=1, max_size=4),
       recipients=st.lists(st.sampled_from(NAMES), min_size=4, max_size=4), viewer=st.sampled_from(NAMES),
       private=st.lists(st.booleans(), min_size=4, max_size=4))
def test_public_view_is_blind_to_hidden_facts(seed, truths, recipients, viewer, private):
    """Two states that differ only in hidden facts (tip truth; other traders'
    private tips) give the same PublicView."""
    base = initial_state(WORLD, seed)
    a = _with_tips(base.copy(), truths, recipients)
    b = _with_tips(base.copy(), [not t for t in truths], recipients)
    # b also hands extra private tips to traders other than the viewer
    for flag, who in zip(private, recipients):
        if flag and who != viewer:
            _with_tips(b, [True], [who])
            b.next_id = a.next_id  # ids are not a side channel here
    assert public_view(a, WORLD, viewer) == public_view(b, WORLD, viewer)
