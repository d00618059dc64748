"""Property tests: arbitrary action sequences (invalid ones included) keep
the wood's books balanced; PublicView does not depend on hidden facts."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.actions import Action
from engine.invariants import check_round
from engine.rules import close_round, open_round, tip_text
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


def busy_rounds(goods):
    """Rounds of trading in `goods` (each trader bids or asks for a small lot
    of one of them, asks at or below every bid, so they cross and tip
    recipients really trade), mixed with arbitrary rounds."""
    def trading_in(good):
        bid = st.builds(Action, action=st.just("offer"), side=st.just("buy"), good=st.just(good),
                        qty=st.integers(1, 2), price=st.integers(8, 12))
        ask = st.builds(Action, action=st.just("offer"), side=st.just("sell"), good=st.just(good),
                        qty=st.integers(1, 2), price=st.integers(4, 8))
        return st.fixed_dictionaries({n: st.one_of(bid, ask) for n in NAMES})
    return st.one_of(st.sampled_from(sorted(goods)).flatmap(trading_in), round_actions)


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


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), rounds=st.lists(round_actions, min_size=1, max_size=6))
def test_the_fast_paths_of_a_turn_make_what_the_plain_ones_make(seed, rounds):
    """A view is the one its dataclass `__init__` makes from the same values
    (`public_view` fills the instance dict directly); the suggested moves'
    shared actions are the ones validation makes; the schema's JSON, joined
    from kept pieces, is what json.dumps writes."""
    import json
    from dataclasses import fields

    from engine.legal import legal_schema, schema_json, without_say
    from engine.moves import market_moves
    from engine.views import PublicView, market_index

    state = initial_state(WORLD, seed)
    for acts in rounds:
        mid, opening, _ = open_round(state, WORLD)
        idx = market_index(mid)
        for n in NAMES:
            v = public_view(mid, WORLD, n, idx)
            made = PublicView(**{f.name: getattr(v, f.name) for f in fields(PublicView)})
            assert v == made and repr(v) == repr(made) and vars(v) == vars(made)
            for m in market_moves(v):
                assert all(a == Action.model_validate(a.model_dump()) for a in (m.offer, m.take) if a is not None)
            for schema in (s := legal_schema(v, WORLD.good_names, tuple(NAMES)), without_say(s)):
                assert schema_json(schema) == json.dumps(schema, ensure_ascii=False, separators=(",", ":"))
        state, _, _ = close_round(mid, WORLD, acts, opening)


SHOCKS = sorted(WORLD.shocks)
# Ids for the hand-made tips. The engine numbers a tip by the round it was
# issued in (at most one a round), apart from the public offer ids, so a tip
# leaves no trace in them; the hand-made ones take ids no round reaches here
# (shared from SHARED_IDS, b's hidden extras from HIDDEN_IDS).
SHARED_IDS = 10**5
HIDDEN_IDS = 10**6
MAX_ROUNDS = 6


def _tip(state, tid, shock, who, truth, resolves):
    sh = WORLD.shocks[shock]
    state.tips[tid] = Tip(tid, shock, sh.good, tip_text(sh, resolves - state.round),
                          list(who), truth, state.round, resolves)


hidden_tips = st.lists(st.tuples(st.sampled_from(SHOCKS), st.lists(st.sampled_from(NAMES), min_size=1, max_size=2,
                                                                   unique=True), st.booleans()), max_size=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**16), viewer=st.sampled_from(NAMES),
       shared=st.lists(st.tuples(st.sampled_from(SHOCKS), st.sampled_from(NAMES), st.booleans()),
                       min_size=1, max_size=4),
       extra=hidden_tips, data=st.data())
def test_public_view_is_blind_to_hidden_facts(seed, viewer, shared, extra, data):
    """Two woods that differ only in hidden facts give every trader the same
    PublicView, round after round, under the same actions.

    a and b share the tips in `shared` (some may reach the viewer) with every
    truth flag inverted in b; b also holds `extra` private tips to traders
    other than the viewer. What may legitimately differ: once a tip resolves,
    its truth is public news (a shock starts or not; the magistrate may fine),
    so every differing tip resolves after the last compared round. Tips the
    world step issues during the game are identical in a and b (same seed).
    If any hidden fact reached a PublicView (a truth flag, another trader's
    tip, a trace of one in the book, headlines, quotes or ids), the views of
    a and b would differ and this fails. Most rounds are busy trading in the
    tips' goods, so a rule that judged or priced trades by a live tip's truth
    (the magistrate acting early, say) would show in fines and headlines."""
    goods = {WORLD.shocks[sh].good for sh, _, _ in shared} | {WORLD.shocks[sh].good for sh, _, _ in extra}
    rounds = data.draw(st.lists(busy_rounds(goods), min_size=3, max_size=MAX_ROUNDS), label="rounds")
    base = initial_state(WORLD, seed)
    a, b = base.copy(), base.copy()
    horizon = len(rounds)
    for i, (shock, who, truth) in enumerate(shared):
        resolves = horizon + 1 + i % 3  # beyond the horizon: no truth becomes public while we compare
        tid = SHARED_IDS + i
        _tip(a, tid, shock, [who], truth, resolves)
        _tip(b, tid, shock, [who], not truth, resolves)
    n_hidden = 0
    for i, (shock, who, truth) in enumerate(extra):
        who = [w for w in who if w != viewer]
        if who:
            _tip(b, HIDDEN_IDS + i, shock, who, truth, horizon + 1 + i % 3)
            n_hidden += 1
    assert len(b.tips) == len(a.tips) + n_hidden and a.next_id == b.next_id

    def same(x, y):
        assert public_view(x, WORLD, viewer) == public_view(y, WORLD, viewer), x.round

    same(a, b)
    for acts in rounds:
        a, ev_a, _ = open_round(a, WORLD)
        b, ev_b, _ = open_round(b, WORLD)
        same(a, b)  # what each brain sees when it chooses
        a, _, _ = close_round(a, WORLD, acts, ev_a)
        b, _, _ = close_round(b, WORLD, acts, ev_b)
        same(a, b)
        assert max(a.tips) < HIDDEN_IDS and a.round < SHARED_IDS  # hand-made ids never collide with issued ones
    # the hidden tips were really there all along (the comparison was not vacuous)
    assert len(b.tips) - len(a.tips) == n_hidden
    assert all(a.tips[k].truth != b.tips[k].truth for k in range(SHARED_IDS, SHARED_IDS + len(shared)))


@settings(max_examples=200, deadline=None)
@given(st.one_of(actions, st.builds(Action, action=st.just("whisper"), to=st.sampled_from(NAMES),
                                     text=st.text(max_size=90), say=st.one_of(st.none(), st.text(max_size=90)))))
def test_an_actions_compact_json_is_json_dumps_of_its_fields(a):
    """The prompt's ready-made moves use the fast path; it must write what json.dumps writes."""
    import json

    assert a.compact_json() == json.dumps(a.compact(), separators=(",", ":"))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120),
                st.text(st.sampled_from(" ab\n\t\x1b[é\u200b<|>/"), max_size=60), st.text(max_size=120)),
       st.one_of(st.none(), st.integers(0, 60)))
def test_the_sanitisers_fast_path_cleans_as_the_full_walk_does(text, max_len):
    """Printable ASCII skips clean_text's character walk; a zero-width space in
    front forces the walk and is removed by it, so both must agree. And
    clean_lines (a prompt's whole text at once) is clean_text line by line."""
    from engine.sanitise import clean_lines, clean_text

    assert clean_text(text, max_len) == clean_text("\u200b" + text, max_len)
    assert clean_lines(text, max_len) == "\n".join(clean_text(line, max_len) for line in text.strip().splitlines())
