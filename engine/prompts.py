"""The one prompt builder: a `PublicView` -> chat messages for a model brain.

Laid out for prefix caching (llama.cpp reuses the previous prompt's longest
common prefix; vLLM's prefix cache does so across requests): what every
creature shares comes first, the creature's own lines last.

- The system message is the same bytes for every creature of every round
  of a world: the rules in plain words and the actions, with examples
  tied to no creature (no name; the offer is a bid for fuel). Chat-templated, it is a
  prefix of every prompt (and stays one when a model config merges it into
  the first user turn: it leads that turn).
- The user message opens with the round as every creature sees it (round,
  prices, last round's record, the best standing offers), so the creatures
  of one round, asked one after another, share all of that too (the book
  differs only for a creature whose own offer is among the best; the record
  is cut short by as many lines as the creature has social lines). Then
  what is the creature's own: who it is, its purse and stores, its offers,
  loans, tips and feelings, and its best few market moves (`moves.py`) as
  ready JSON. (Counted with the embedded model's tokenizer over 5-creature
  rounds: the tokens a creature's prompt does not share with the one before
  it fall from ~350 to ~270 of ~650; a single-slot server never sees the
  same creature twice in a row, so a creature-stable block first would save
  nothing there.)

Both come from the templates in `assets/prompts/` and from the `PublicView`
alone, so hidden facts cannot reach a prompt, and its size is bounded by the
view's own bounds (target: <= 1,000 tokens). Every rendered line passes
through `clean_text`, so model-written text (say lines in the headlines)
arrives inert.
"""
from __future__ import annotations

import atexit
import contextlib
import io
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from string import Template

from .events import a_kind, units
from .groves import next_make
from .legal import moves_of
from .memory import telling
from .moves import action_json, rots
from .sanitise import clean_lines, clean_text
from .views import PublicView, once_per
from .world import ASSETS, World

PROMPTS = ASSETS / "prompts"
SYSTEM = Template((PROMPTS / "system.txt").read_text(encoding="utf-8"))
USER = Template((PROMPTS / "user.txt").read_text(encoding="utf-8"))


def format_template(template: str) -> str:
    """A `string.Template` text as a `str.format` string: `$name` and
    `${name}` become `{name}`, literal braces are doubled."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)|([{}])", lambda m: m[3] * 2 if m[3] else "{" + (m[1] or m[2]) + "}", template)


# The user template as a `str.format` string: `format` fills a prompt in one
# C call, `Template.substitute` calls back per field.
_USER_FORMAT = format_template(USER.template)

LINE_MAX = 240     # any one rendered line
HEADLINE_MAX = 80  # one line of last round's public record
SAY_LINE_MAX = 50  # ... when it is a creature's say line (chatter, cut shorter)
TIP_MAX = 80       # one tip's words
WHISPER_SHOWN = 50  # one whisper's words (cut shorter, like a say line)
WHISPERS_SHOWN = 1  # of the view's whispers, the latest
PACT_OFFERS_SHOWN = 1
LOAN_OFFERS_SHOWN = 1
LOANS_SHOWN = 3
SHORTS_SHOWN = 2    # the nearest due
MOVES_SHOWN = 1    # suggested market moves: the best one. With two, SmolLM2 copied neither most turns and
                   # took fewer standing offers; with one it copies it about 4 times in 10, trades about
                   # twice the units, and each prompt is ~25 tokens shorter (BENCHMARKS.md, issue 10)
RECORDS_SHOWN = 2  # credit records of defaulters in view, on the feelings line
HEADLINES_SHOWN = 5  # of last round's public record (the view holds more, for the screen)
# Without a tokenizer: SmolLM2's BPE splits numbers into single digits, and these
# prompts average 2.9-3.0 characters per token; 2.7 errs on the high side.
CHARS_PER_TOKEN = 2.7


def build_messages(view: PublicView, world: World, *, temperament_line: str,
                   names: tuple[str, ...] = (), say: bool = True) -> list[dict]:
    """System + user messages for one creature's turn. The system message
    depends on the world alone (`shared_system`), and on whether the model
    writes say lines (`say`). `names` (the roster) is accepted for the
    callers' sake; no example names a creature any more."""
    return [{"role": "system", "content": shared_system(world, say)},
            {"role": "user", "content": _user(view, world, temperament_line)}]


SAY_RULE = 'Optional "say"'  # the system line that offers a say line: left out for a model that writes none


def shared_system(world: World, say: bool = True) -> str:
    """The rules and the action formats: byte-identical for every creature and
    round of `world`. The offer example is a bid for fuel at its base price,
    which any creature with a few coins may make; gift and accept have no
    example, since a fixed name or id gets copied (a gift to oneself)."""
    return once_per(world, ("system text", say), lambda w: _system(w, say))


def _system(world: World, say: bool) -> str:
    fuel = world.fuel_good
    text = _clean_lines(SYSTEM.substitute(
        fuel=fuel, pantry=world.economy["pantry"],
        ex_offer=_json(action="offer", side="buy", good=fuel, qty=2, price=world.goods[fuel].base_price),
        fuel_price=world.goods[fuel].base_price,
    ))
    return text if say else "\n".join(line for line in text.splitlines() if not line.startswith(SAY_RULE))


def _user(view: PublicView, world: World, temperament_line: str) -> str:
    shortfall = [(g, n - h) for g, n in view.needs if n > (h := view.holding(g))]
    needs = once_per(view.needs, "pairs", _pairs) + (f" (short: {_pairs(shortfall)})" if shortfall else "")
    social = _social(view, world)  # each of its lines takes the place of a headline, to keep within budget
    shown = HEADLINES_SHOWN - social.count("\n")
    held = _held(view)
    text = _USER_FORMAT.format(
        name=view.name, species=a_kind(view.species),
        temperament=temperament_line, **_produces(view, world),
        round=f"{view.round} of {view.end}" if view.end else view.round, season=view.season, coins=view.coins, mood=view.mood,
        goods=_pairs(view.goods), needs=needs,  # (each good, at 0 too: without the zeros, SmolLM2 bought no acorns)
        prices=once_per(view.quotes, "prices line", _prices_line),  # the same for every trader of a round
        book=_book(view),
        my_offers=_joined(f"{o.side} {units(o.qty, o.good, world.goods)} at {o.price}" for o in view.my_offers),
        **held, held=_optional(held),  # the old layout's separate lines too (bench/embedded_round.py)
        social=social,
        headlines=once_per(view.headlines, ("record", shown), lambda h: _headlines(h, shown)),
        moves=_moves(view, world),
    )
    return _clean_lines(text)


def _produces(view: PublicView, world: World) -> dict[str, str]:
    """What its grove makes a round (`produces`), and after that sentence the
    next harvest's mood cut as far as it is known (`make_note`; "": none), by
    `groves.next_make` (the seat panel's words too)."""
    made, note = next_make(world, view)
    if not note:  # its grove's make, once per distinct one
        return {"produces": once_per(made, "pairs", _pairs), "make_note": ""}
    return {"produces": _pairs(made), "make_note": f" {note[:1].upper()}{note[1:]}."}


HELD = (("loan_offers", "Loan offers"), ("loans", "Your loans"), ("tips", "Tips"), ("relations", "Feelings"))


def _held(view: PublicView) -> dict[str, str]:
    """The creature's loan offers, loans, tips and feelings, each as one line's text ("none": nothing)."""
    return {
        "loan_offers": _joined(f"#{lo.id} {lo.lender} {lo.amount} at {lo.rate}% for {lo.rounds} rounds"
                               for lo in view.loan_offers[:LOAN_OFFERS_SHOWN]),
        "loans": _joined((f"you owe {ln.other} {ln.owed}" if ln.role == "borrower" else f"{ln.other} owes you {ln.owed}")
                         + (" in default" if ln.defaulted else f" by {ln.due}") for ln in view.loans[:LOANS_SHOWN]),
        "tips": _joined(f'"{clean_text(t.text, TIP_MAX)}" (by {t.resolves})' for t in view.tips),
        "relations": _joined([*telling(view.relations),
                              *(r.line() for r in view.records[:RECORDS_SHOWN])]),
    }


def _optional(held: dict[str, str]) -> str:
    """Those of `_held`'s lines that say something: a line saying "none" is
    tokens a model reads for nothing (on the embedded model, about a tenth of
    what a round prefills for each creature)."""
    return "".join(f"{label}: {held[key]}\n" for key, label in HELD if held[key] != "none")


def _prices_line(quotes) -> str:
    return ", ".join(f"{q.good} {q.ref_price}" for q in quotes)


def _headlines(headlines, n: int) -> str:
    return _lines(_headline(h, SAY_LINE_MAX if ' says: "' in h else HEADLINE_MAX) for h in headlines[:n])


def _social(view: PublicView, world: World) -> str:
    """Shorts, pacts and whispers: a line each, only when there is something
    (most turns have none, and the prompt stays as it was). Whisper text is
    another model's words: cleaned and quoted, like a say line."""
    lines = []
    if view.shorts:
        lines.append("Shorts to return: " + _joined(f"{units(x.owed, x.good, world.goods)} by {x.due}" for x in view.shorts[:SHORTS_SHOWN]))
    if view.allies or view.pact_offers:
        offered = _joined(f"#{p.id} {p.proposer}" for p in view.pact_offers[:PACT_OFFERS_SHOWN])
        lines.append(f"Allies: {_joined(view.allies)}" + (f"; pacts offered: {offered}" if view.pact_offers else ""))
    lines.extend(f'{w.sender} whispered: "{clean_text(w.text, WHISPER_SHOWN)}"'
                 for w in view.whispers[-WHISPERS_SHOWN:])
    return "".join(f"{line}\n" for line in lines)


def _moves(view: PublicView, world: World) -> str:
    """The most urgent market move(s) for this round as ready JSON, each with
    what it does in words: small models copy examples, so give them fitting
    ones (`_urgency` ranks them)."""
    picks = sorted(moves_of(view), key=lambda m: -_urgency(view, m))[:MOVES_SHOWN]
    return _lines(f"{action_json(m.take)} ({m.describe(world.goods)})" if m.take else action_json(m.offer) for m in picks)


def _urgency(view: PublicView, m) -> int:
    """How strongly the prompt suggests a market move: its weight, but a sale
    of stock that rots (beyond the pantry) counts like taking a standing offer
    (three times), since what is not sold is lost."""
    a = m.offer
    if m.take is None and a.side == "sell" and rots(view, a.good):
        return 3 * m.weight
    return m.weight


def _book(view: PublicView) -> str:
    """The best offer of others per good and side: `honey for sale: #12 Fox 3 at 9`.
    (The view holds a second one per side; it is left out to keep within budget.)
    Rendered once per book: most traders of a round see the same one."""
    return once_per(view.book, "prompt lines", _book_lines)


def _book_lines(book) -> str:
    best: dict[str, str] = {}
    for o in book:
        head = f"{o.good} {'wanted' if o.side == 'buy' else 'for sale'}"
        if head not in best:
            best[head] = f"#{o.id} {o.owner} {o.qty} at {o.price}"
    return _lines(f"{head}: {offer}" for head, offer in best.items())


def _pairs(items: tuple[tuple[str, int], ...] | list[tuple[str, int]]) -> str:
    return ", ".join([f"{g} {n}" for g, n in items]) or "nothing"


def _lines(items) -> str:
    return "\n".join(items) or "none"


def _joined(items) -> str:
    return "; ".join(items) or "none"


_JSON = json.JSONEncoder(separators=(",", ":"))  # made once, not per call


def _json(**fields) -> str:
    return _JSON.encode(fields)


def _clean_lines(text: str) -> str:
    return clean_lines(text, LINE_MAX)


@lru_cache(maxsize=1024)
def _headline(text: str, max_len: int) -> str:
    """A line of last round's public record, cleaned: every trader's prompt shows the same few."""
    return clean_text(text, max_len)


# ---- token counting -----------------------------------------------------------
def count_tokens(messages: list[dict], tokenizer: str | Path | None = None) -> int:
    """Prompt tokens of `messages` as a ChatML server counts them: each turn as
    `<|im_start|>role\n...<|im_end|>\n`, then the opening of the reply.

    With `tokenizer` (a GGUF path) the count is exact for that model's
    vocabulary; without one it is len(text) / CHARS_PER_TOKEN, rounded up."""
    rendered = [f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages]
    rendered.append("<|im_start|>assistant\n")
    if tokenizer is None:
        return math.ceil(sum(len(r) for r in rendered) / CHARS_PER_TOKEN)
    vocab = _vocab(str(tokenizer))
    return sum(len(vocab.tokenize(r.encode("utf-8"), add_bos=False, special=True)) for r in rendered)


@lru_cache(maxsize=4)
def _vocab(gguf: str):
    from llama_cpp import Llama  # heavy, and optional: only exact counts need it

    with contextlib.redirect_stderr(io.StringIO()):  # llama.cpp warns about the context it never uses
        return Llama(model_path=gguf, vocab_only=True, verbose=False)


atexit.register(_vocab.cache_clear)  # free the vocabularies while llama_cpp can still do it
