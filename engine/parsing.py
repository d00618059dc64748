"""The one repair layer: a model's reply text -> an `Action`, or a reason why not.

Grammars guarantee syntax, not sense, and many servers give no grammar at
all, so every reply passes through `parse_reply`: reasoning and harmony
preambles, code fences and prose around the JSON are stripped; broken JSON is
mended with `json_repair`; common near-miss shapes (a wrapped action, `type`
for `action`, `quantity` for `qty`, "Berries " for "berries", numbers as
strings) are mapped onto the `Action` wire shape; numbers out of range are
clamped to its bounds (0 units -> 1, a million -> the most); a lone
surrogate escape in the JSON ("\\ud800", no character any text can hold) is
read as `?`. What would change the reply's meaning is not mended but
`rejected` with a reason: a
negative amount, a number that is not plainly one ("1,000", "5-10"), a
reference (an offer's or a tip's id) out of range. Each fix leaves a short
tag in `Parsed.repairs` so the repair rate can be measured. It never raises,
and its work is bounded (`MAX_REPLY_CHARS`, `REPAIR_MAX_CHARS`,
`NUMBER_TEXT_MAX`), whatever a server sends: it is given a reply whole, to
say so where one is too long.

Whether the action can be carried out (holdings, ids, unknown goods) stays
the engine's call: an unknown good is passed through unless it is a near miss.
"""
from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Literal, get_args

import json_repair
from pydantic import ValidationError

from .actions import Action, ActionKind
from .sanitise import valid_utf8
from .views import once_per
from .world import COINS

Outcome = Literal["clean", "repaired", "rejected"]

MAX_REPLY_CHARS = 32_000  # far beyond any max_tokens we ask for; bounds the work on a runaway reply: a longer
                          # one is read this far, and refused as too long unless a move is whole within it
MAX_DECODE_TRIES = 16     # `{` positions tried with the strict decoder before json_repair
REPAIR_MAX_CHARS = 1_500  # the most json_repair is given: its time grows with the square of broken input
                          # (32,000 characters of '{"' took 30 s); an action is a few hundred. Longer
                          # broken text is rejected, not cut: a cut could fall inside a number
NAMES_SCANNED = 64        # a roster up to this size is searched as it is; a larger one as a set (made once)

# Bounds of the numeric fields, read off the Action model so they cannot drift.
# `id` and `tip` are references, not amounts: coerced but never clamped.
BOUNDS: dict[str, tuple[int | None, int | None]] = {
    name: (next((m.ge for m in f.metadata if hasattr(m, "ge")), None),
           next((m.le for m in f.metadata if hasattr(m, "le")), None))
    for name, f in Action.model_fields.items() if f.metadata
}
INT_FIELDS = tuple(BOUNDS)
CLAMPED = tuple(k for k in BOUNDS if k not in ("id", "tip"))

ACTION_KINDS = get_args(ActionKind)
ACTION_KEYS = ("action", "type", "kind", "act")  # first found names the action
KEY_ALIASES = {
    "quantity": "qty", "count": "qty", "units": "qty",
    "offer_id": "id", "offerid": "id", "loan_id": "id",
    "unit_price": "price", "price_per_unit": "price", "limit_price": "price", "limit": "price",
    "recipient": "to", "target": "to", "creature": "to", "borrower": "to",
    "interest": "rate", "interest_rate": "rate",
    "duration": "rounds", "term": "rounds",
    "item": "good", "goods": "good", "resource": "good",
    "direction": "side",
    "tip_id": "tip",
    "message": "say", "speech": "say", "says": "say",
}
# action words small models use -> (action, side)
ACTION_ALIASES: dict[str, tuple[str, str | None]] = {
    "buy": ("offer", "buy"), "sell": ("offer", "sell"), "bid": ("offer", "buy"), "ask": ("offer", "sell"),
    "take": ("accept", None), "accept_offer": ("accept", None),
    "loan": ("lend", None), "give": ("gift", None), "bribe": ("gift", None),
    "none": ("pass", None), "wait": ("pass", None), "skip": ("pass", None), "hold": ("pass", None),
    "nothing": ("pass", None), "rest": ("pass", None),
    "short_sell": ("short", None), "shortsell": ("short", None),
    "alliance": ("ally", None), "pact": ("ally", None), "propose_pact": ("ally", None),
    "unally": ("break", None), "break_pact": ("break", None), "end_pact": ("break", None),
    "tell": ("whisper", None), "gossip": ("whisper", None), "rumour": ("whisper", None), "rumor": ("whisper", None),
}
SIDE_ALIASES = {"bid": "buy", "ask": "sell", "purchase": "buy"}
WHISPER_TEXT_KEYS = ("message", "msg", "words", "content", "whisper", "rumour", "rumor")

_FINAL = re.compile(r"<\|channel\|>\s*final\s*(?:<\|constrain\|>\s*\w+\s*)?<\|message\|>", re.I)
_ANALYSIS = re.compile(r"<\|channel\|>\s*(?:analysis|commentary)\b.*?(?:<\|end\|>|$)", re.I | re.S)
_HARMONY_TOKEN = re.compile(r"<\|(?:start|end|return|call|channel|message|constrain)\|>", re.I)
_HARMONY_END = re.compile(r"<\|(?:end|return|call)\|>", re.I)
_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.I | re.S)
_THINK_TAG = re.compile(r"</?(?:think|thinking|reasoning)>", re.I)
_FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)(?:```|$)", re.S)
# a number as text: "12", " 6.5 ", "#12", "10%", "6 coins" (the spaces inside the optional unit, so that no two
# runs of spaces can trade characters: matching stays linear whatever a server sends)
_NUMBER = re.compile(r"\s*#?([+-]?\d+(?:\.\d+)?(?:e\+?\d+)?)(?:\s*(?:%|coins?|units?|rounds?))?\s*", re.I)
NUMBER_TEXT_MAX = 40  # a longer text is not a plain number, whatever it holds


class _NumberTooLong(ValueError):
    """A JSON number of more digits than Python reads (sys.get_int_max_str_digits, 4,300)."""


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:  # the digits are JSON's: only their count can fail
        raise _NumberTooLong(text[:20]) from None


_DECODER = json.JSONDecoder(parse_int=_whole_number)
# why a reply no parser can read is refused, by the error that stopped it
UNREADABLE = {_NumberTooLong: "a number too long to read", RecursionError: "nesting too deep"}


def _unreadable(e: BaseException) -> str | None:
    """The true reason a reply's JSON could not be read at all, if `e` (or what
    raised it: json_repair turns its RecursionError into a ValueError) says one (`UNREADABLE`)."""
    return next((why for kind, why in UNREADABLE.items() if isinstance(e, kind) or isinstance(e.__cause__, kind)), None)


@dataclass
class Parsed:
    """What the repair layer made of one reply."""

    action: Action | None
    outcome: Outcome
    repairs: list[str] = field(default_factory=list)
    reason: str = ""


def parse_reply(text: str | None, goods: tuple[str, ...], names: tuple[str, ...]) -> Parsed:
    """Salvage one `Action` from a model's reply. Never raises."""
    repairs: list[str] = []
    try:
        return _parse(text, goods, names, repairs)
    except Exception as e:  # the contract is "never raises": any input, however odd, becomes a rejection
        return Parsed(None, "rejected", repairs, f"unparseable: {_unreadable(e) or type(e).__name__}")


def _parse(text: str | None, goods: tuple[str, ...], names: tuple[str, ...], repairs: list[str]) -> Parsed:
    if not text or not text.strip():
        return Parsed(None, "rejected", repairs, "unparseable: empty reply")
    body = _strip_wrappers(text[:MAX_REPLY_CHARS], repairs)
    obj = _find_object(body, repairs)
    if len(text) > MAX_REPLY_CHARS and (not isinstance(obj, dict) or "json_repair" in repairs):
        # no move read whole within what is read of a reply: mended, its cut end could fall inside a number
        return Parsed(None, "rejected", repairs,
                      f"unparseable: the reply is {len(text):,} characters, over the {MAX_REPLY_CHARS:,} a reply may have")
    if not isinstance(obj, dict):
        return Parsed(None, "rejected", repairs, f"unparseable: {obj}")
    if "\\u" in body or not body.isascii():  # where a lone surrogate can come from: an escape, or the text itself
        obj = _valid_text(obj, repairs)
    fields_ = _normalise(obj, goods, names, repairs)
    if "action" not in fields_:
        return Parsed(None, "rejected", repairs, "schema: action: missing")
    raw_text = {k: fields_.get(k) for k in ("say", "text")}  # a say line, a whisper: text the Action cleans
    try:
        action = Action.model_validate(fields_)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "action"
        return Parsed(None, "rejected", repairs, f"schema: {where}: {err['msg']}")
    repairs += [f"clean:{k}" for k, raw in raw_text.items() if isinstance(raw, str) and raw != getattr(action, k)]
    if repairs:
        return Parsed(action, "repaired", repairs, "repaired: " + ", ".join(repairs))
    return Parsed(action, "clean")


# ---- text: preambles, channels, fences --------------------------------------
def _strip_wrappers(text: str, repairs: list[str]) -> str:
    if _HARMONY_TOKEN.search(text):
        repairs.append("harmony")
        finals = list(_FINAL.finditer(text))
        if finals:
            text = text[finals[-1].end():]
            end = _HARMONY_END.search(text)
            text = text[:end.start()] if end else text
        else:
            text = _ANALYSIS.sub(" ", text)
        text = _HARMONY_TOKEN.sub(" ", text)
    if _THINK_TAG.search(text):
        repairs.append("think")
        text = _THINK_BLOCK.sub(" ", text)
        closing = text.lower().rfind("</think>")
        text = text[closing + len("</think>"):] if closing >= 0 else text  # template opened <think> for it
        text = _THINK_TAG.sub(" ", text)
    if "```" in text:
        bodies = [m.group(1) for m in _FENCE.finditer(text) if "{" in m.group(1)]
        if bodies:  # several (a plan, then the move): all of them, for `_find_object` to choose the move
            repairs.append("fence")
            return "\n".join(bodies)
    return text


def _find_object(text: str, repairs: list[str]) -> dict | str:
    """The first JSON object in `text` that names a move (`_names_move`),
    else the first at all: strictly decoded if possible, else mended; or, if
    there is none, why not. ({"thought": ...} then the move: the move.)"""
    starts = [m.start() for m in re.finditer(r"\{", text)]
    first, decoded_to, broken, why = None, -1, None, None
    for i in starts[:MAX_DECODE_TRIES]:
        if i < decoded_to:  # inside an object already read: a part of it, not a reply of its own
            continue
        try:
            obj, end = _DECODER.raw_decode(text, i)
        except (ValueError, RecursionError) as e:
            if broken is None:  # the first object strict decoding cannot read: mended below if need be ...
                broken, why = i, _unreadable(e)  # ... and why not, where no mending can help
            if isinstance(e, RecursionError):  # whole, but too deep: the objects within it are parts of it, not
                decoded_to = _end_of(text, i)  # replies of their own (one read was refused as "action: missing")
            continue
        if isinstance(obj, dict):
            decoded_to = end
            if first is None:
                first = (obj, i, end)
            if _names_move(obj):
                first = (obj, i, end)
                break
    if first is not None and (broken is None or _names_move(first[0])):
        return _decoded(text, first, repairs)
    if not starts:
        return "no JSON object"
    at = starts[0] if first is None else broken  # a thought read whole, the move beside it broken: mend the move
    if len(text) - at > REPAIR_MAX_CHARS:  # cut to size, its end could fall inside a number ("1" of "12")
        return (_decoded(text, first, repairs) if first is not None else
                why or f"broken JSON too long to mend (over {REPAIR_MAX_CHARS:,} characters)")
    try:
        mended = json_repair.loads(text[at:])
    except (RecursionError, ValueError) as e:  # nesting deeper than either parser will go
        mended, why = None, why or _unreadable(e)
    if isinstance(mended, list):
        mended = next((x for x in mended if isinstance(x, dict) and (first is None or _names_move(x))), None)
    if first is not None and not (isinstance(mended, dict) and _names_move(mended)):
        return _decoded(text, first, repairs)  # nothing mended names a move: the object read, as before
    if isinstance(mended, dict) and mended:
        if text[:at].strip():  # a thought before the mended move
            repairs.append("prose")
        repairs.append("json_repair")
        return mended
    return why or "no JSON object"


_BRACKET_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"?|[][{}]', re.S)


def _end_of(text: str, i: int) -> int:
    """Where the JSON value opened at text[i] closes (its brackets matched,
    those in strings skipped), else the text's end."""
    depth = 0
    for m in _BRACKET_OR_STRING.finditer(text, i):
        c = m[0]
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if not depth:
                return m.end()
    return len(text)


def _valid_text(obj: dict, repairs: list[str]) -> dict:
    """`obj` with each lone surrogate in its text, keys and values, as `?`
    (`valid_utf8`), tagged "surrogate": a JSON escape such as "\\ud800" decodes
    to one, which no prompt, screen or ledger can hold. A field so changed
    is then read as any other: "?" is no number, "ber?ries" a near miss."""
    text = json.dumps(obj, ensure_ascii=False)
    valid = valid_utf8(text)
    if valid is text:
        return obj
    repairs.append("surrogate")
    return json.loads(valid)


def _decoded(text: str, found: tuple[dict, int, int], repairs: list[str]) -> dict:
    """An object strict decoding read at text[i:end]: "prose" if anything is around it."""
    obj, i, end = found
    if text[:i].strip() or text[end:].strip():
        repairs.append("prose")
    return obj


def _names_move(obj: dict) -> bool:
    """Whether a decoded object says what to do: an action key (`ACTION_KEYS`,
    as `_reshape` reads keys), a side, or one key wrapping an object
    ({"offer": {...}}), as `_unwrap` reads it; not a thought or a plan."""
    if len(obj) == 1 and isinstance(next(iter(obj.values())), dict):
        return True
    return any(str(k).strip().lower() in _MOVE_KEYS for k in obj)


_MOVE_KEYS = frozenset((*ACTION_KEYS, "side"))


# ---- shape: keys, wrappers, values -------------------------------------------
def _normalise(obj: dict, goods: tuple[str, ...], names: tuple[str, ...], repairs: list[str]) -> dict:
    """`obj` in the `Action` wire shape: as it is when it already has that
    shape (`_plain`: the usual reply under a schema), else `_reshape`d."""
    return dict(obj) if _plain(obj, goods, names) else _reshape(obj, goods, names, repairs)


_WIRE_KEYS = frozenset(k for k in Action.model_fields if k not in KEY_ALIASES and k not in ACTION_KEYS[1:])
_SIDES = frozenset({"buy", "sell"})


def _plain(obj: dict, goods: tuple[str, ...], names: tuple[str, ...]) -> bool:
    """Whether `_reshape` would return an equal dict and repair nothing:
    only wire keys, a known action word (a whisper with its text), a side,
    good and name as the engine spells them, whole numbers within bounds,
    a say line that is text."""
    kind = obj.get("action")
    if type(kind) is not str or kind not in ACTION_KINDS or not _WIRE_KEYS.issuperset(obj) \
            or (kind == "whisper" and "text" not in obj):
        return False
    for k, v in obj.items():
        if v is None or k == "action" or k == "text":
            continue
        if k in BOUNDS:
            lo, hi = BOUNDS[k]
            if type(v) is not int or (k in CLAMPED and ((lo is not None and v < lo) or (hi is not None and v > hi))):
                return False
        elif k == "side":
            if type(v) is not str or v not in _SIDES:
                return False
        elif k == "good":  # lower case, as `_reshape` reads a good (a world may not tell goods apart by case)
            if type(v) is not str or (v not in goods and v != COINS) or not v.islower():
                return False
        elif k == "to":
            if type(v) is not str or v not in _roster(names):
                return False
        elif k == "say" and type(v) is not str:
            return False
    return True


def _reshape(obj: dict, goods: tuple[str, ...], names: tuple[str, ...], repairs: list[str]) -> dict:
    d = _unwrap(obj, repairs)
    out: dict = {}
    for key, value in d.items():
        k = str(key).strip().lower().replace("-", "_").replace(" ", "_")
        if k in KEY_ALIASES and KEY_ALIASES[k] not in d:
            repairs.append(f"alias:{k}")
            k = KEY_ALIASES[k]
        elif k != key and k in Action.model_fields:
            repairs.append(f"alias:{k}")
        out.setdefault(k, value)
    kind_key = next((k for k in ACTION_KEYS if k in out), None)
    if kind_key is not None:
        kind = out.pop(kind_key)
        for k in ACTION_KEYS:  # a second one often carries the side: {"action": "offer", "type": "sell"}
            extra = out.pop(k, None)
            if isinstance(extra, str) and extra.strip().lower() in ("buy", "sell") and "side" not in out:
                repairs.append(f"alias:{k}")
                out["side"] = extra
        if kind_key != "action":
            repairs.append(f"alias:{kind_key}")
        out["action"] = _action_word(kind, out, repairs)
    elif "side" in out:
        repairs.append("infer:action")
        out["action"] = "offer"
    elif "id" in out:
        repairs.append("infer:action")
        out["action"] = "accept"
    if out.get("action") == "whisper" and "text" not in out:
        # a whisper's words under another key are the whisper, never a public say line
        key = next((k for k in WHISPER_TEXT_KEYS if k in d), None)
        if key is not None:
            if f"alias:{key}" not in repairs:
                repairs.append(f"alias:{key}")
            out["text"] = d[key]
            if KEY_ALIASES.get(key) == "say" and out.get("say") is d[key]:
                del out["say"]
    if "side" in out:
        out["side"] = _word(out["side"], SIDE_ALIASES, "side", repairs)
    if isinstance(out.get("good"), str):
        out["good"] = _near_good(out["good"], goods, repairs)
    if isinstance(out.get("to"), str):
        out["to"] = _near_name(out["to"], names, repairs)
    for k in INT_FIELDS:
        if k in out and out[k] is not None:
            out[k] = _number(k, out[k], repairs)
    if "say" in out and out["say"] is not None and not isinstance(out["say"], str):
        repairs.append("drop:say")
        del out["say"]
    return out


def _unwrap(obj: dict, repairs: list[str]) -> dict:
    """{"action": {"type": "offer", ...}}, {"offer": {...}}, {"response": {...}} -> one flat dict."""
    for _ in range(3):
        inner_key = next((k for k in ACTION_KEYS if isinstance(obj.get(k), dict)), None)
        if inner_key is not None:
            inner = obj[inner_key]
            rest = {k: v for k, v in obj.items() if k != inner_key}
            repairs.append("wrapped")
            obj = {**rest, **inner}
            continue
        if len(obj) == 1:
            (key, value), = obj.items()
            if isinstance(value, dict):
                repairs.append("wrapped")
                word = str(key).strip().lower()
                is_kind = word in ACTION_KINDS or word in ACTION_ALIASES
                obj = {"action": word, **value} if is_kind and not any(k in value for k in ACTION_KEYS) else value
                continue
        break
    return obj


def _action_word(kind: object, out: dict, repairs: list[str]) -> object:
    if not isinstance(kind, str):
        return kind
    word = kind.strip().lower().replace(" ", "_")
    if word in ACTION_ALIASES:
        word, side = ACTION_ALIASES[word]
        if side and "side" not in out:
            out["side"] = side
    if word != kind:
        repairs.append("near_miss:action")
    return word


def _word(value: object, aliases: dict[str, str], tag: str, repairs: list[str]) -> object:
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    word = aliases.get(word, word)
    if word != value:
        repairs.append(f"near_miss:{tag}")
    return word


def _near_good(value: str, goods: tuple[str, ...], repairs: list[str]) -> str:
    known = (*goods, COINS)
    word = value.strip().lower()
    if word not in known:
        forms = (word + "s", word + "es", word[:-1] + "ies" if word.endswith("y") else "", word.rstrip("s"))
        word = next((f for f in forms if f in known), None) or next(
            iter(difflib.get_close_matches(word, known, n=1, cutoff=0.8)), value)
    if word != value:
        repairs.append("near_miss:good")
    return word


def _roster(names: tuple[str, ...]) -> tuple[str, ...] | frozenset[str]:
    """`names` to look a name up in: as it is when small, else as a set (made once per roster)."""
    return names if len(names) <= NAMES_SCANNED else once_per(names, "as a set", frozenset)


def _near_name(value: str, names: tuple[str, ...], repairs: list[str]) -> str:
    if value in _roster(names):
        return value
    wanted = value.strip().casefold()
    match = next((n for n in names if n.casefold() == wanted), None)
    if match is None:
        return value  # the engine rejects an unknown creature with its own reason
    repairs.append("near_miss:to")
    return match


def _number(key: str, value: object, repairs: list[str]) -> object:
    """"3" -> 3, 2.0 -> 2, "10%" -> 10, "6 coins" -> 6, "#12" -> 12; then, for an amount,
    clamp into the field's bounds. Left for pydantic to reject with a reason:
    a text that is not plainly one number ("1,000", "5-10", "cheap"), and a
    negative number (-50 coins is not a slip of range but of sense: clamped,
    it would become a real gift of 1)."""
    n = value
    if isinstance(value, str):
        m = _NUMBER.fullmatch(value) if len(value) <= NUMBER_TEXT_MAX else None
        n = float(m.group(1)) if m else value
    if isinstance(n, float) and n < 0:
        return n  # -0.4 is negative too, though it rounds to 0 (left for pydantic to reject, as below)
    if isinstance(n, float):
        n = round(n) if math.isfinite(n) else value
    if not isinstance(n, int) or isinstance(n, bool):
        return value  # pydantic rejects it with a reason
    if n < 0:
        return n  # ... and this too, never clamped up into a real trade
    if type(value) is not int:
        repairs.append(f"coerce:{key}")
    lo, hi = BOUNDS[key]
    if key in CLAMPED and ((lo is not None and n < lo) or (hi is not None and n > hi)):
        repairs.append(f"clamp:{key}")
        n = max(lo, n) if lo is not None else n
        n = min(hi, n) if hi is not None else n
    return n
