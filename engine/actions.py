"""What a trader may propose each round: one `Action`, validated twice.

`Action` is the wire shape (pydantic): flat, enum-heavy and small, because
small models fill it in. The JSON schema a server turns into a grammar is
built for each turn from the trader's view (`engine.legal`), within these bounds.
Shape validation here says only "this is a well-formed proposal"; whether it
can be carried out (holdings, ids, self-trade) is the engine's call, in
`rules.apply_action`, which turns it into an applied event or a rejection
with a machine-readable `Reason`.
"""
from __future__ import annotations

import json
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .sanitise import clean_text

SAY_MAX = 80
QTY_MAX = 1000
PRICE_MAX = 10_000
RATE_MAX = 100  # percent per round of the loan's term
LOAN_ROUNDS_MAX = 20

WHISPER_MAX = 80
SHORT_ROUNDS_MAX = 10

ActionKind = Literal["offer", "accept", "lend", "gift", "short", "ally", "break", "whisper", "pass"]
Side = Literal["buy", "sell"]


class Reason(StrEnum):
    """Why the engine refused an action. Stable strings: they go to the ledger."""

    MISSING_FIELD = "missing_field"
    UNKNOWN_GOOD = "unknown_good"
    UNKNOWN_CREATURE = "unknown_creature"
    UNKNOWN_OFFER = "unknown_offer"
    SELF_TRADE = "self_trade"
    SELF_GIFT = "self_gift"
    SELF_LOAN = "self_loan"
    NOT_FOR_YOU = "not_for_you"
    INSUFFICIENT_GOODS = "insufficient_goods"
    INSUFFICIENT_COINS = "insufficient_coins"
    OFFER_UNFUNDED = "offer_unfunded"
    OFFER_TAKEN = "offer_taken"  # taken earlier this round, and nothing else as good to fall back on
    IN_DEFAULT = "in_default"    # a borrower with an unpaid defaulted debt cannot borrow again
    OUT_OF_RANGE = "out_of_range"
    SELF_PACT = "self_pact"
    SELF_WHISPER = "self_whisper"
    NO_BUYER = "no_buyer"          # a short found no standing buy offer at its price or better
    TOO_MANY_ALLIES = "too_many_allies"
    ALREADY_ALLIED = "already_allied"
    NOT_ALLIED = "not_allied"
    UNKNOWN_TIP = "unknown_tip"    # a whisper passing on a tip you do not hold
    FAULT = "fault"            # the brain failed (server down, timeout, ...)
    UNPARSEABLE = "unparseable"  # the brain's text could not be salvaged


# Why a move was refused, as a sentence a player can act on ("{}": the engine's detail).
REASON_WORDS: dict[str, str] = {
    Reason.MISSING_FIELD: "fill in: {}",
    Reason.UNKNOWN_GOOD: "there is no good called {}",
    Reason.UNKNOWN_CREATURE: "there is no creature called {}",
    Reason.UNKNOWN_OFFER: "that offer is not on the market ({}): it may have been filled, withdrawn or expired",
    Reason.SELF_TRADE: "you cannot trade with yourself: {}",
    Reason.SELF_GIFT: "you cannot give to yourself",
    Reason.SELF_LOAN: "you cannot lend to or borrow from yourself: {}",
    Reason.NOT_FOR_YOU: "that offer is meant for someone else: {}",
    Reason.INSUFFICIENT_GOODS: "not enough goods: you {}",
    Reason.INSUFFICIENT_COINS: "not enough coins: you {}",
    Reason.OFFER_UNFUNDED: "the other side can no longer pay or deliver: {}",
    Reason.OFFER_TAKEN: "it lost a race: {}",
    Reason.IN_DEFAULT: "a creature in default may not borrow or short until it has paid: {}",
    Reason.OUT_OF_RANGE: "a number is out of range: {}",
    Reason.SELF_PACT: "you cannot make a pact with yourself",
    Reason.SELF_WHISPER: "you cannot whisper to yourself",
    Reason.NO_BUYER: "no one is buying at that price or better, so nothing was sold short: {}",
    Reason.TOO_MANY_ALLIES: "no room for another pact: {}",
    Reason.ALREADY_ALLIED: "you are already allied: {}",
    Reason.NOT_ALLIED: "you have no pact with them: {}",
    Reason.UNKNOWN_TIP: "you hold no such tip: {}",
    Reason.FAULT: "no answer came in time, so it counted as a pass: {}",
    Reason.UNPARSEABLE: "the answer could not be read, so it counted as a pass: {}",
}
# a refusal with no detail: the sentence up to its colon
_BARE = {Reason.SELF_GIFT: "you cannot give to yourself", Reason.SELF_PACT: "you cannot make a pact with yourself",
         Reason.SELF_WHISPER: "you cannot whisper to yourself",
         # where the detail sits inside the sentence, the sentence without it
         Reason.MISSING_FIELD: "a field the move needs was left out",
         Reason.UNKNOWN_GOOD: "there is no such good", Reason.UNKNOWN_CREATURE: "there is no such creature",
         Reason.INSUFFICIENT_GOODS: "not enough goods", Reason.INSUFFICIENT_COINS: "not enough coins",
         Reason.UNKNOWN_OFFER: "that offer is not on the market: it may have been filled, withdrawn or expired"}


def reason_words(reason: str, detail: str = "") -> str:
    """Why the engine refused a move, as a sentence (never the raw code)."""
    detail = (detail or "").strip()
    if reason == Reason.MISSING_FIELD:
        detail = detail.replace(",", ", ")  # a list of fields
    words = REASON_WORDS.get(reason)
    if words is None:  # a reason newer than this table: still words, not a code
        words = str(reason).replace("_", " ") + (": {}" if detail else "")
    if not detail:
        return _BARE.get(reason, words.split(": {}")[0].split(" ({})")[0].replace("{}", "").strip())
    return words.format(detail)



class Action(BaseModel):
    """One proposal. Fields that an action kind does not use are ignored.

    - offer:  side, good, qty, price  (buy or sell `qty` of `good` at a limit `price` per unit)
    - accept: id [, qty]              (take a standing market offer or a loan offer)
    - lend:   amount, rate, rounds [, to]  (offer a loan of `amount` coins; repay amount + rate% per round
                                          of the term, after `rounds`)
    - gift:   to, good|"coins", qty   (give goods or coins; a bribe is a gift)
    - short:  good, qty, price [, rounds]  (borrow `qty` of `good` from the wood's store and sell it now to
                                          standing buy offers at `price` or better; coins are held as
                                          collateral; the units are owed back after `rounds`)
    - ally:   to                      (propose a public pact; `to` accepts it by id)
    - break:  to                      (break a pact: public)
    - whisper: to, text | tip         (a private line to one creature, or pass on a tip you hold, by id)
    - pass
    """

    model_config = ConfigDict(extra="ignore")

    action: ActionKind = "pass"
    side: Side | None = None
    good: str | None = None
    qty: int | None = Field(default=None, ge=1, le=QTY_MAX)
    price: int | None = Field(default=None, ge=1, le=PRICE_MAX)
    id: int | None = Field(default=None, ge=1)
    to: str | None = None
    amount: int | None = Field(default=None, ge=1, le=PRICE_MAX)
    rate: int | None = Field(default=None, ge=0, le=RATE_MAX)
    rounds: int | None = Field(default=None, ge=1, le=LOAN_ROUNDS_MAX)
    text: str | None = None
    tip: int | None = Field(default=None, ge=1)
    say: str | None = None

    def model_post_init(self, _ctx) -> None:  # model-written text: cleaned once, here
        if self.say is not None:
            self.say = clean_text(self.say, SAY_MAX) or None
        if self.text is not None:
            self.text = clean_text(self.text, WHISPER_MAX) or None

    def compact(self) -> dict:
        """The fields that are set, for ledgers and logs."""
        return self.model_dump(exclude_none=True)

    def compact_json(self) -> str:
        """`json.dumps(self.compact(), separators=(",", ":"))`, byte for byte,
        without building the dict (a prompt shows a few of these per creature)."""
        values = self.__dict__
        return "{" + ",".join(f'"{k}":{v}' if type(v) is int else f'"{k}":{_quoted(v)}'
                              for k in _FIELDS if (v := values[k]) is not None) + "}"


_FIELDS = tuple(Action.model_fields)
_quoted = json.encoder.encode_basestring_ascii  # a str as json.dumps writes it (ASCII, escaped)
PASS = Action()
