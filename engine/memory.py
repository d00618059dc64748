"""Bounded memory: relationships as integers S[a][b] in -100..100.

Moved by deterministic rules (`RELATION_MOVES`), rendered for prompts by one
function, `relation_line`, as a bucketed one-liner. No history is kept.
"""
from __future__ import annotations

REL_MIN, REL_MAX = -100, 100

# How much a's feeling toward b moves on each kind of encounter.
RELATION_MOVES = {
    "fair_trade": 2,      # both ways, price near the reference
    "unfair_trade": -3,   # the side that got the worse price, toward the other
    "gift": 6,            # receiver toward giver (+1 per 5 coins' worth, capped)
    "loan_taken": 2,      # borrower toward lender
    "loan_repaid": 6,     # lender toward borrower
    "default": -20,       # lender toward borrower
    "fine": -10,          # the fined trader's counterparties toward it
    "pact": 10,           # both ways, when an alliance is made
    "pact_broken": -25,   # the ally left behind toward the one who broke the pact (or defaulted)
}


def move(relations: dict[str, dict[str, int]], a: str, b: str, delta: int) -> int:
    """Move a's feeling toward b by `delta`, clamped; returns the new value."""
    if a == b or delta == 0:
        return relations.get(a, {}).get(b, 0)
    row = relations.setdefault(a, {})
    v = max(REL_MIN, min(REL_MAX, row.get(b, 0) + delta))
    row[b] = v
    return v


def drift(relations: dict[str, dict[str, int]], div: int) -> None:
    """Feelings fade back toward neutral: each moves by 1/`div` of its
    strength (at least 1) a round, so only fresh dealings keep them strong."""
    for a in list(relations):
        row = relations[a]
        for b, v in list(row.items()):
            step = max(1, abs(v) // div)
            v = v - step if v > 0 else v + step
            if v:
                row[b] = v
            else:
                del row[b]
        if not row:
            del relations[a]


BUCKETS = ((60, "trust", "deeply"), (20, "feel warmly toward", ""), (-19, "feel neutral about", ""),
           (-59, "distrust", ""), (REL_MIN, "resent", ""))  # (at least, verb, adverb): the only buckets


def bucket(value: int) -> tuple[str, str]:
    """A feeling's bucket: (verb, adverb), e.g. ("trust", "deeply")."""
    return next((verb, adv) for floor, verb, adv in BUCKETS if value >= floor)


def relation_line(other: str, value: int) -> str:
    """The one rendering of a relationship that a prompt ever carries."""
    verb, adv = bucket(value)
    return f"you {verb} {other}" + (f" {adv}" if adv else "")


NEUTRAL = relation_line("", 0)  # "you feel neutral about ": a feeling that tells nothing


def telling(lines) -> list[str]:
    """Relation lines that say something: a neutral feeling is left out (of a
    prompt, of a seat's panel), as it is of how others feel (`recap.regard`)."""
    return [line for line in lines if not line.startswith(NEUTRAL)]


def align(relations: dict[str, dict[str, int]], pacts: list[list]) -> None:
    """Allies' feelings move together: for each pact, each ally's feeling
    toward every third creature closes a quarter of the gap to the other's."""
    for a, b, _ in pacts:
        ra, rb = relations.get(a, {}), relations.get(b, {})
        for c in sorted((set(ra) | set(rb)) - {a, b}):
            va, vb = ra.get(c, 0), rb.get(c, 0)
            step = (vb - va) // 4 if vb >= va else -((va - vb) // 4)
            if step:
                move(relations, a, c, step)
                move(relations, b, c, -step)
