"""Whispers, end to end through the prompt builder: a whispered line reaches
its recipient's prompt in the round after it was sent and no other prompt
ever; a tip passed on in a whisper arrives as words, never with its truth."""
from __future__ import annotations

import collections
import dataclasses
import re

from engine.prompts import WHISPER_SHOWN
from engine.sanitise import clean_text
from tests.social_brains import MARK, marker, play_social
from tests.test_firewall import RESOLUTION, TRUTH_WORDS

MARKER = re.compile(rf"{MARK}:(\w+):(\d+):(\w+):qz")


def whisper_world(world, lead: int = 3):
    odds = dict(world.odds, tip_per_round=1.0, tip_lead_min=lead, tip_lead_max=lead)
    return dataclasses.replace(world, odds=odds)


def test_every_whisper_reaches_only_its_recipients_next_prompt_and_tips_travel_without_truth(world):
    w = whisper_world(world)
    rounds = play_social(w, seed=17, rounds=60, n=6, mode="whisper", prompts=True)
    sent = collections.defaultdict(list)  # (round sent, recipient) -> [(sender, words, tip)] in the order sent
    issued = {}  # tip id -> its recipients when issued
    for r in rounds:
        for e in r["events"]:
            if e.kind == "whisper":
                assert not e.public and e.who == (e.data["from"], e.data["to"])
                assert set(e.data) == {"from", "to", "text", "tip"}
                sent[(r["round"], e.data["to"])].append((e.data["from"], e.data["text"], e.data["tip"]))
            elif e.kind == "tip_issued":
                issued[e.data["tip"]] = list(e.who)
    markers = [x for v in sent.values() for x in v if x[2] is None]
    passed = [(rnd, to, x) for (rnd, to), v in sent.items() for x in v if x[2] is not None]
    assert len(markers) > 150 and len(passed) > 20, (len(markers), len(passed))

    leaks, shown = [], 0
    for r in rounds:
        rnd = r["round"]
        for name, text in r["prompts"].items():
            # a marker in a prompt: only the recipient's, only the round after it was sent
            for sender, when, to in MARKER.findall(text):
                if (to, int(when) + 1) != (name, rnd) or marker(sender, int(when), to) not in {
                        m for s, m, _ in sent[(int(when), to)] if s == sender}:
                    leaks.append((rnd, name, f"marker {sender}:{when}:{to}"))
            # no truth in any wording (a resolved tip's fate is public record)
            if m := TRUTH_WORDS.search(RESOLUTION.sub("", text)):
                leaks.append((rnd, name, m.group(0)))
            # the latest whisper to it last round is in its prompt, quoted
            got = sent.get((rnd - 1, name))
            if got:
                sender, words, _ = got[-1]
                assert f'{sender} whispered: "{clean_text(words, WHISPER_SHOWN)}"' in text, (rnd, name)
                shown += 1
            else:
                assert "whispered:" not in text, (rnd, name)
        for name, v in r["views"].items():
            # a view holds exactly the latest whispers sent to it last round, words only
            expect = [(s, words) for s, words, _ in sent.get((rnd - 1, name), [])][-int(w.economy["whispers_shown"]):]
            assert [(x.sender, x.text) for x in v.whispers] == expect, (rnd, name)
        # passing a tip on never makes the listener one of its recipients
        for t in r["mid"].tips.values():
            if t.id in issued:
                assert t.recipients == issued[t.id], t.id
    assert leaks == []
    assert shown > 50
    # tips passed on reached listeners who were not their recipients, as words
    reached = [(rnd, to) for rnd, to, (_, _, tip) in passed if to not in issued.get(tip, [to])]
    assert reached
    for rnd, to, (sender, _words, _tip) in passed:
        prompt = rounds[rnd]["prompts"][to] if rnd < len(rounds) else ""
        for line in prompt.splitlines():
            if line.startswith(f"{sender} whispered:"):
                assert not TRUTH_WORDS.search(line), line


def test_a_whisper_never_reaches_a_spectators_public_record(world):
    rounds = play_social(whisper_world(world), seed=3, rounds=20, n=5, mode="whisper")
    for r in rounds:
        assert not any(MARK in h for h in r["after"].headlines)
        assert all(not e.public for e in r["events"] if e.kind == "whisper")
