"""The action form: a seat's one move this round (offer, accept, lend, gift,
short, ally, break, whisper or pass) and its public `say` line.

The form checks the shape of what was typed (numbers, ranges: the engine's
own `Action` model) and posts `ActionForm.Chosen`; the screen then asks the
engine whether the move can be carried out and, if not, calls `explain()`
so the player can correct it in place. Under the fields: what the move would
cost or bring (from the seat's view), and what became of last round's move.
The lists follow the seat's view: `to` offers only allies to break with, and
marks those who proposed a pact to you (allying back accepts it); a whisper
may pass on one of the seat's live tips, picked from a list.

Every list is a `KeySelect`: typing a letter picks the option that starts
with it and, when only one does, moves on to the next field, so a move can
be typed without the mouse or Tab (`o s h 3 tab 8 enter`: sell 3 honey at 8).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import get_args

from pydantic import ValidationError
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Select, Static
from textual.widgets._select import SelectCurrent

from engine.actions import (LOAN_ROUNDS_MAX, PRICE_MAX, QTY_MAX, RATE_MAX, SAY_MAX, SHORT_ROUNDS_MAX, WHISPER_MAX, Action, ActionKind,
                             Reason)
from engine.events import Goods, units
from engine.flags import whole
from engine.metrics import counted
from engine.recap import reason_words
from engine.sanitise import clean_text
from engine.views import PublicView
from engine.world import COINS  # a gift may be coins; an offer may not (coins are not a good)

from .. import safe

HINTS = {  # one line at 80 columns
    "offer": "buy or sell qty of a good at your price each; what is not matched stands",
    "accept": "take an offer, loan or pact offer by its # (F3: pick it in the offers table)",
    "lend": "offer coins: taker owes amount + rate% a round after rounds; to: or anyone",
    "gift": "give coins or goods to another creature (a bribe is a gift)",
    "short": "sell qty you do not hold to buyers at price or better; buy back in rounds",
    "ally": "propose a public pact to one creature (it accepts by the pact's #)",
    "break": "break your pact with an ally (in public)",
    "whisper": "a private line to one creature, or pass on a tip you hold by its #",
    "pass": "do nothing this round (you can still say something)",
}
# the engine's moves, in its order, that this form knows how to fill in
KINDS = tuple(k for k in get_args(ActionKind) if k in HINTS)
# field id -> (title, action kinds that use it)
FIELDS = {
    "side": ("side", ("offer",)),
    "good": ("good", ("offer", "gift", "short")),
    "id": ("offer #", ("accept",)),
    "qty": ("qty", ("offer", "accept", "gift", "short")),
    "price": ("price", ("offer", "short")),
    "to": ("to", ("lend", "gift", "ally", "break", "whisper")),
    "amount": ("amount", ("lend",)),
    "rate": ("rate %", ("lend",)),
    "rounds": ("rounds", ("lend", "short")),
    "text": ("whisper", ("whisper",)),
    "tip": ("pass on tip", ("whisper",)),
}
# a field the engine names as missing that another field may fill instead: a whisper
# sends its words or passes on a tip, and the engine names only the words
OR_ELSE = {"text": "tip"}
NUMBERS = ("qty", "price", "id", "amount", "rate", "rounds", "tip")
DIGITS_MAX = 12  # digits a number field takes: far past any legal value, short enough to multiply and show


def missing(fid: str) -> str:
    """A field left empty, as the form titles it, with the one that may fill in for it."""
    return " or ".join(FIELDS.get(f, (f,))[0] for f in (fid, *([OR_ELSE[fid]] if fid in OR_ELSE else [])))


def why(reason: Reason | str, detail: str) -> str:
    """The engine's refusal, as a sentence; a field left empty is named by its
    title on the form ("fill in: offer #"), not the action's key ("id"), with
    any that may stand in for it ("fill in: whisper or pass on tip")."""
    if reason == Reason.MISSING_FIELD and detail:
        detail = ",".join(missing(f.strip()) for f in detail.split(","))
    return reason_words(reason, detail)


class KeySelect(Select):
    """A Select set by typing: a letter picks the next option whose label
    starts with it. The app calls `pick` in its own key dispatch, before the
    next key is routed, so keys typed fast after it land in the next field.
    Enter on it makes the form's move, as in any other field (Select's own
    Enter opened the list: `b` Enter, a break with its one ally filled in,
    opened and closed the list for ever); up, down or space open the list
    (a space after letters that begin a name with a space in it goes on
    with the name: `f o x space 2`, Fox 2)."""

    BINDINGS = [Binding("enter", "act", "act", show=False)]

    def action_act(self) -> None:
        form = next((a for a in self.ancestors if isinstance(a, ActionForm)), None)
        if form is not None:
            form.submit()

    def __init__(self, options, **kw):
        super().__init__(options, **kw)
        self.choices = [(self._label(p), v) for p, v in options]

    def on_mount(self) -> None:
        # a Select draws its border on the part that shows the choice: the title goes there
        self.query_one(SelectCurrent).border_title = self.border_title

    @staticmethod
    def _label(prompt) -> str:
        return (prompt.plain if isinstance(prompt, Text) else str(prompt)).lower()

    def set_options(self, options) -> None:
        options = list(options)
        self.choices = [(self._label(p), v) for p, v in options]
        super().set_options(options)

    typed = ""  # the letters typed on it so far (a prefix of an option)

    def pick(self, char: str | None) -> bool:
        """Handle a typed character; True if it was taken (it is then not
        routed anywhere else). Letters (or a tip's digits) narrow the choice by prefix; once one
        option is left, focus moves on. A key that matches nothing after a
        choice was begun, or a digit on a list none of whose options starts
        with it, keeps the choice as it is, moves on, and is left to be routed
        to the next field (`a 1 2`: accept, offer #12)."""
        if self.expanded or not char or not char.isprintable():
            return False
        prefix = self.typed + char.lower()
        # a space opens the list, unless it goes on with a name begun: "fox 2" in a wood with Fox and Fox 2
        # (the space had opened the list on Fox, and the 2 was lost)
        if char == " " and not (self.typed and any(label.startswith(prefix) for label, _ in self.choices)):
            return False
        # a tip is listed as "#31 honey": its number, typed with or without the #, picks it (the digits
        # had gone on to the next field, the public say line, and no tip was picked)
        number = prefix.removeprefix("#")
        numbered = [(label[1:].split(" ")[0], v) for label, v in self.choices if label.startswith("#")]
        hits = [v for label, v in self.choices if label.startswith(prefix)]
        hits += [v for n, v in numbered if n.startswith(number) and v not in hits]
        exact = [v for n, v in numbered if number and n == number]
        if not hits:
            if self.typed or char.isdigit():  # a number is for the next field (`l 1 0`: lend to anyone, 10 coins)
                self._advance()
                return False
            return True  # a letter nothing starts with: swallowed, not sent astray
        self.typed = prefix
        if exact and len(hits) > 1:  # "3" with #3 and #31 listed: #3, until a 1 follows
            self.value = exact[0]
        elif self.value not in hits:
            self.value = hits[0]
        if len(hits) == 1 and (exact or not (number == "" or number.isdigit())):  # a number moves on once whole
            self._advance()
        return True

    def _advance(self) -> None:
        self.typed = ""
        form = next((a for a in self.ancestors if isinstance(a, ActionForm)), None)
        if form is not None:
            form.advance(self)

    def on_blur(self) -> None:
        self.typed = ""


class PastedOwnWay(Input):
    """A field whose pastes (the terminal's, or ctrl+v of what was copied in
    the app) go through its own `_paste`, not Textual's Input's handler."""

    def _on_paste(self, event: events.Paste) -> None:
        event.prevent_default()  # not Input's own handler too
        event.stop()
        self._paste(event.text)

    def action_paste(self) -> None:
        self._paste(self.app.clipboard)

    def _paste(self, text: str) -> None:
        raise NotImplementedError


class WordsInput(PastedOwnWay):
    """A line of words with a cap on its length (the say line, a whisper).
    A paste (the terminal's, or ctrl+v of what was copied in the app) keeps
    what fits of its first line: Textual's own Input dropped a paste whole,
    without a word, when it would pass the cap (an 81-character line pasted
    into `say` left it empty), cleaned as the engine cleans what it sends.
    Numbers are not clipped: a number cut short would be another number."""

    def _paste(self, text: str) -> None:
        lines = text.splitlines()
        if not lines:
            return
        line = lines[0]
        # as the engine will send it (clean_text), spaces at its ends kept for the words around it: an escape
        # sequence, a control byte or a bidi override pasted had stayed in the field and been drawn raw, the
        # terminal obeying it (ESC[2J cleared the screen), and the field showed what would not be sent
        body = clean_text(line)
        line = (" " if line[:1].isspace() else "") + body + (" " if body and line[-1:].isspace() else "")
        start, end = sorted(self.selection)
        room = self.max_length - len(self.value) + (end - start) if self.max_length else len(line)
        self.replace(line[:max(room, 0)], start, end)


class NumberInput(PastedOwnWay):
    """A whole number field, read as a flag is (`engine.flags.whole`): the
    digits 0-9 alone (other scripts' digits, `٣`, had been read as 3 where
    the command line refuses them), at most DIGITS_MAX of them. A paste
    keeps what is plainly a number, spaces at its ends dropped (" 7 " is 7);
    one that is not (`7 coins`, `1e3`) or would not fit is refused whole, and
    the form's notice line says so (Textual's Input dropped it with a bell
    alone, and the field looked as if nothing had been pasted), as it does of
    a key typed that the field refuses."""

    def __init__(self, **kw):
        super().__init__(type="integer", restrict=r"[-+0-9_]*", max_length=DIGITS_MAX, **kw)

    _pasting = False

    def _paste(self, text: str) -> None:
        lines = text.splitlines()
        line = lines[0].strip() if lines else ""
        if not line:
            return
        start, end = sorted(self.selection)
        self._pasting = True
        try:
            self.replace(line, start, end)  # Input's own check: restrict, type and max_length
        finally:
            self._pasting = False

    def restricted(self) -> None:
        """A paste or a typed key the field refuses: the form's notice line says why (a key typed had rung
        Textual's bell alone: a letter, a 13th digit, another script's digit seemed to go nowhere)."""
        form = next((a for a in self.ancestors if isinstance(a, ActionForm)), None)
        if form is None:
            super().restricted()
            return
        form.explain(f"{'paste' if self._pasting else 'key'} not taken: {FIELDS[str(self.id)][0]} is a whole "
                     f"number of at most {DIGITS_MAX} digits (0-9)")  # one line at 80 columns


class ActionForm(Vertical):
    @dataclass
    class Chosen(Message):
        form: ActionForm
        action: Action

        @property
        def control(self) -> ActionForm:
            return self.form

    def __init__(self, goods: Goods, names: Sequence[str], economy: Mapping | None = None, **kw):
        """`goods`: the world's (`World.goods`), to pick from and to word units by; `economy`: the wood's rules (`World.economy`), for what a short would hold and when it falls due."""
        super().__init__(**kw)
        self.goods = tuple(goods)
        self.words = goods  # the world's goods, for the word for one unit of each
        self.names = list(names)
        eco = economy or {}
        self.collateral_pct = int(eco.get("short_collateral_pct", 150))
        self.short_rounds = int(eco.get("short_rounds", 4))
        self.view: PublicView | None = None
        self.problem: str | None = None  # the engine's last refusal, until the form changes

    def compose(self) -> ComposeResult:
        with Horizontal(id="action-fields"):
            yield self._titled(KeySelect([(k, k) for k in KINDS], value="offer", allow_blank=False, id="kind"),
                               "action")
            for fid, (title, kinds) in FIELDS.items():
                if fid == "side":
                    w = KeySelect([("buy", "buy"), ("sell", "sell")], value="buy", allow_blank=False, id=fid)
                elif fid == "good":
                    w = KeySelect([(Text(g), g) for g in self.goods], value=self.goods[0], allow_blank=False,
                                  id=fid)
                elif fid == "to":  # names come from a roster file or a model: drawn inert
                    w = KeySelect(self._names(), allow_blank=True, prompt="anyone", id=fid)
                elif fid == "tip":  # the seat's own live tips, by id (their words are in the preview)
                    w = KeySelect([], allow_blank=True, prompt="none", id=fid)
                elif fid == "text":
                    w = WordsInput(placeholder="private, to one creature", max_length=WHISPER_MAX, id=fid)
                else:
                    w = NumberInput(id=fid)
                yield self._titled(w, title, "field " + " ".join(f"f-{k}" for k in kinds))
        with Horizontal(id="action-say"):
            say = WordsInput(placeholder="say something (public, optional)", max_length=SAY_MAX, id="say")
            yield self._titled(say, "say")
            yield Button("Act", id="act", variant="primary")
        yield Static(id="explain")
        yield Static(id="verdict")

    def _names(self, me: str | None = None) -> list[tuple[Text, str]]:
        return [(safe.name(n), n) for n in self.names if n != me]

    def _to_options(self, kind: str) -> list[tuple[Text, str]]:
        """Whom this move may name: allies to break with; for a pact, those not
        allied yet (one who proposed to you marked with its proposal's #)."""
        v = self.view
        if v is None:
            return self._names()
        if kind == "break":
            return [(safe.name(n), n) for n in v.allies]
        if kind == "ally":
            offered = {po.proposer: po.id for po in v.pact_offers}
            return [(Text.assemble(safe.name(n), (f" (offers #{offered[n]})" if n in offered else "",
                                                              "blue")), n)
                    for n in self.names if n != v.name and n not in v.allies]
        return self._names(v.name)

    def _set_options(self, fid: str, options: list) -> None:
        """New choices for a list, keeping what was chosen when it is still among them."""
        w = self.query_one(f"#{fid}", KeySelect)
        if [(KeySelect._label(p), v) for p, v in options] == w.choices:
            return
        keep = w.value
        w.set_options(options)
        if keep in [v for _, v in options]:
            w.value = keep

    @staticmethod
    def _titled(w, title: str, classes: str = ""):
        w.border_title = title
        w.add_class(*classes.split())
        return w

    def on_mount(self) -> None:
        self._kind_changed("offer")

    @property
    def kind(self) -> str:
        return str(self.query_one("#kind", Select).value)

    @on(Select.Changed, "#kind")
    def _on_kind(self, event: Select.Changed) -> None:
        self._kind_changed(str(event.value))

    def sync_kind(self) -> None:
        """Show the fields of the move now chosen at once, not when its Changed
        message comes round (a Tab typed right behind the move's letter moves
        among that move's fields)."""
        if not self.has_class(f"-{self.kind}"):
            self._kind_changed(self.kind)

    def _kind_changed(self, kind: str) -> None:
        for k in KINDS:
            self.set_class(k == kind, f"-{k}")
        for fid, (_, kinds) in FIELDS.items():  # the fields this move uses, and no other
            self.query_one(f"#{fid}").display = kind in kinds
        good = self.query_one("#good", KeySelect)
        want = [*self.goods, COINS] if kind == "gift" else list(self.goods)
        if [v for _, v in good.choices] != want:
            keep = good.value
            good.set_options([(Text(g), g) for g in want])
            good.value = keep if keep in want else want[0]
        to = self.query_one("#to", KeySelect)
        self._set_options("to", self._to_options(kind))
        to.prompt = "anyone" if kind == "lend" else "no allies" if kind == "break" and not to.choices else "choose"
        if kind == "break" and len(to.choices) == 1 and to.value is Select.NULL:  # one ally: that is whom
            to.value = to.choices[0][1]
        tips = self.view.tips if self.view is not None else ()
        self.query_one("#tip", KeySelect).prompt = "none" if tips else "no tips"
        self.query_one("#rounds", Input).placeholder = str(self._short_term()) if kind == "short" else ""
        self._update_explain()

    # ---- a turn ----------------------------------------------------------
    def start(self, view: PublicView | None = None, verdict: str | None = None) -> None:
        """A fresh, empty form for a new turn (nothing typed by the previous
        seat survives), with focus in it: typed keys land here at once."""
        self._blank(view)
        self.query_one("#verdict", Static).update(
            Text.assemble(("last round: ", "bold"), safe.text(verdict, style="yellow")) if verdict else "")
        self.set_class(bool(verdict), "-verdict")
        self.disabled = False
        self.screen.set_focus(self.query_one("#kind"))

    def finish(self, note: str) -> None:
        """The turn is over: the form is shut, and what was typed or chosen in
        it is gone (in hot-seat play the others at the keyboard must not see
        whom a seat whispered to, or which tip it passed on)."""
        self.disabled = True
        self._blank(None)
        self.query_one("#explain", Static).update(safe.text(note, "italic"))
        self.query_one("#verdict", Static).update("")
        self.remove_class("-verdict")

    def _blank(self, view: PublicView | None) -> None:
        """Every field back to its default: no text typed, no creature or tip
        chosen (the tips listed are `view`'s: none without one)."""
        self.view = view
        self.problem = None
        for inp in self.query(Input):
            inp.value = ""
        self.query_one("#to", KeySelect).set_options(self._to_options("offer"))
        self.query_one("#tip", KeySelect).set_options(
            [(Text(f"#{t.id} {t.good}"), t.id) for t in view.tips] if view is not None else [])
        self.query_one("#kind", Select).value = "offer"
        self.query_one("#side", Select).value = "buy"
        self.query_one("#good", Select).value = self.goods[0]
        self._kind_changed("offer")

    def focus_form(self) -> None:
        if not self.disabled:
            self.screen.set_focus(self.query_one("#kind"))

    def take(self, offer_id: int) -> None:
        """Prefill an accept of offer `offer_id` (picked in the offers table):
        its number and, for goods, as much of it as you can take (what your
        coins buy of a sale, what you hold of a wanted good; all of it when
        that is nothing, and the preview says why it would be refused)."""
        self.query_one("#kind", Select).value = "accept"
        self.query_one("#id", Input).value = str(offer_id)
        v = self.view
        o = next((o for o in v.book if o.id == offer_id), None) if v else None
        can = 0 if o is None else min(o.qty, v.coins // o.price if o.side == "sell" else v.holding(o.good))
        self.query_one("#qty", Input).value = "" if o is None else str(can or o.qty)  # a loan or a pact: no qty
        self._kind_changed("accept")
        self.screen.set_focus(self.query_one("#qty"))

    def explain(self, problem: str) -> None:
        self.problem = problem
        self._update_explain()

    def advance(self, after: Widget) -> None:
        """Focus the field after `after` for the action chosen now (at once, so
        the next key typed goes there)."""
        order = self.fields_for(self.kind)
        at = order.index(after) if after in order else -1
        if at + 1 < len(order):
            self.screen.set_focus(order[at + 1])

    def fields_for(self, kind: str) -> list[Widget]:
        """The form's widgets an action of this kind uses, in order."""
        ids = ["kind", *(fid for fid, (_, kinds) in FIELDS.items() if kind in kinds), "say", "act"]
        return [self.query_one(f"#{i}") for i in ids]

    # ---- what the move would do -----------------------------------------------
    @on(Input.Changed)
    @on(Select.Changed)
    def _changed(self, event: Message) -> None:
        self.problem = None
        self._update_explain()

    def _update_explain(self) -> None:
        box = self.query_one("#explain", Static)
        if self.disabled and self.view is None:
            return
        if self.problem:
            box.update(Text.assemble(("✗ ", "bold red"), safe.text(self.problem, style="red")))
            return
        box.update(self.preview() or Text(HINTS.get(self.kind, ""), style="dim"))

    def _num(self, fid: str) -> int | None:
        try:
            v = whole(self.query_one(f"#{fid}", Input).value)
        except ValueError:
            return None
        return v if v > 0 or fid == "rate" else None

    def preview(self) -> Text | None:
        """What the move as typed would cost or bring, against what the seat holds."""
        v = self.view
        if v is None:
            return None
        kind = self.kind
        qty = self._num("qty")
        warn: list[str] = []
        if kind == "offer":
            side, good, price = str(self.query_one("#side", Select).value), str(self.query_one("#good", Select).value), self._num("price")
            if not qty or not price:
                return None
            total = qty * price
            if side == "buy":
                line = f"buy {units(qty, good, self.words)} at {price} each: up to {counted(total, 'coin')} (you hold {counted(v.coins, 'coin')})"
                if total > v.coins:
                    warn.append("more coins than you hold")
            else:
                line = (f"sell {units(qty, good, self.words)} at {price} each: {counted(total, 'coin')} if all sell "
                        f"(you hold {units(v.holding(good), good, self.words)})")
                if qty > v.holding(good):
                    warn.append(f"you hold only {v.holding(good)}")
        elif kind == "accept":
            oid = self._num("id")
            if not oid:
                return None
            o = next((o for o in v.book if o.id == oid), None)
            lo = next((lo for lo in v.loan_offers if lo.id == oid), None)
            if o is not None:
                q = min(qty or o.qty, o.qty)
                verb = "buy" if o.side == "sell" else "sell"
                line = Text.assemble(f"{verb} {units(q, o.good, self.words)} {'from' if verb == 'buy' else 'to'} ",
                                     safe.name(o.owner),
                                     f" at {o.price}: {'costs' if verb == 'buy' else 'brings'} {counted(q * o.price, 'coin')}")
                if verb == "buy" and q * o.price > v.coins:
                    warn.append(f"you hold {counted(v.coins, 'coin')}")
                if verb == "sell" and q > v.holding(o.good):
                    warn.append(f"you hold only {units(v.holding(o.good), o.good, self.words)}")
                return self._with(line, warn)
            if lo is not None:
                if (debt := self._in_default()):
                    warn.append(debt)
                owed = lo.amount + lo.amount * lo.rate * lo.rounds // 100
                line = Text.assemble(f"borrow {counted(lo.amount, 'coin')} from ", safe.name(lo.lender),
                                     f": you owe {owed} in round {v.round + lo.rounds}")
                if v.end and v.round + lo.rounds > v.end:  # an offer made earlier, for a term the game no longer has
                    warn.append(f"loan offer #{lo.id} would fall due after the last round ({v.end})")
                return self._with(line, warn)
            po = next((po for po in v.pact_offers if po.id == oid), None)
            if po is not None:
                return self._pact(po.proposer, oid)
            if any(o.id == oid for o in v.my_offers):  # the engine's refusal, before Enter
                return self._with(Text(f"take your own offer #{oid}"),
                                  [why(Reason.SELF_TRADE, f"offer #{oid} is your own")])
            if any(lo.id == oid for lo in v.my_loan_offers):  # so are the seat's own loan offers and pacts proposed
                return self._with(Text(f"take your own loan offer #{oid}"),
                                  [why(Reason.SELF_LOAN, f"loan offer #{oid} is your own")])
            if (mine := next((po for po in v.my_pact_offers if po.id == oid), None)) is not None:
                return self._with(Text.assemble(f"accept your own pact proposal #{oid} to ", safe.name(mine.to)),
                                  [why(Reason.NOT_FOR_YOU, f"pact proposal #{oid} is for another creature")])
            return self._with(Text(f"#{oid} is not among the offers you can take"), [])
        elif kind == "lend":
            amount, rate, rounds = self._num("amount"), self._num("rate"), self._num("rounds")
            if not amount or rate is None or not rounds:
                return None
            if rate < 0:
                return self._with(Text(f"lend {counted(amount, 'coin')} at {rate}% a round"), ["a rate is 0% or more"])
            to = self.query_one("#to", Select).value  # whom the offer is for: none chosen, anyone may take it
            line = Text.assemble(f"lend {counted(amount, 'coin')} to ", "anyone" if to is Select.NULL else safe.name(str(to), style="bold"),
                                 f" for {counted(rounds, 'round')}: {amount + amount * rate * rounds // 100} back, if repaid")
            if amount > v.coins:
                warn.append(f"you hold {counted(v.coins, 'coin')}")
            if rate > RATE_MAX:
                warn.append(f"a rate is at most {RATE_MAX}% a round")
            if rounds > LOAN_ROUNDS_MAX:
                warn.append(f"a loan lasts at most {LOAN_ROUNDS_MAX} rounds")
            elif (left := v.rounds_left()) is not None and rounds > left:
                warn.append(f"the game ends in round {v.end}: a loan must fall due by then")
        elif kind == "short":
            return self._short(v, qty)
        elif kind in ("ally", "break", "whisper"):
            to = self.query_one("#to", Select).value
            if kind == "break" and not v.allies:
                return self._with(Text("break a pact"), ["you have no allies: there is no pact to break"])
            if to is Select.NULL:
                return None
            who = safe.name(str(to), style="bold")
            if kind == "ally":
                po = next((po for po in v.pact_offers if po.proposer == to), None)
                if po is not None:
                    return self._pact(str(to), po.id)
                if v.ally_room <= 0:
                    warn.append("you have as many allies as the wood allows")
                elif to in v.pacts_full:
                    warn.append("they have as many allies as the wood allows: no pact can be proposed to them")
                return self._with(Text.assemble("propose a public pact to ", who, " (they accept by its #)"), warn)
            if kind == "break":
                return self._with(Text.assemble("break your pact with ", who, ", in public: they will take it badly"),
                                  warn)
            tip = self.query_one("#tip", Select).value
            t = next((t for t in v.tips if t.id == tip), None)
            text = clean_text(self.query_one("#text", Input).value, WHISPER_MAX)  # what the engine would send
            if t is not None:
                if text:  # the engine passes the tip on and drops the words
                    warn.append("the words you typed are not sent: a whisper passes on a tip or words, not both")
                return self._with(Text.assemble(f"pass on tip #{t.id} (", safe.text(t.text, style="italic",
                                                                                      max_len=40),
                                                ") to ", who, ": only they read it, next round"), warn)
            if not text:
                return None
            return self._with(Text.assemble("only ", who, " will read this, next round"), warn)
        elif kind == "gift":
            good = str(self.query_one("#good", Select).value)
            if not qty:
                return None
            have = v.coins if good == COINS else v.holding(good)
            line = f"give away {units(qty, good, self.words)} (you hold {have})"
            if qty > have:
                warn.append("more than you hold")
        else:
            return None
        return self._with(line if isinstance(line, Text) else Text(line), warn)

    def _pact(self, proposer: str, pid: int) -> Text:
        return self._with(Text.assemble("accept ", safe.name(proposer, style="bold"),
                                        f"'s pact #{pid}: you become allies, in public"), [])

    def _in_default(self) -> str | None:
        """Why the seat may not borrow or sell short now, in the engine's words: a default still unpaid."""
        mine = self.view.record(self.view.name) if self.view is not None else None
        return f"you still owe {counted(mine.unpaid, 'coin')} from a default" if mine is not None and mine.unpaid else None

    def _short_term(self, rounds: int | None = None) -> int:
        """The rounds a short would run: as asked (or the wood's default), never past the game's end."""
        term = rounds or self.short_rounds
        left = self.view.rounds_left() if self.view is not None else None
        return max(1, min(term, left)) if left is not None else term

    def _short(self, v: PublicView, qty: int | None) -> Text | None:
        """A short as typed: what the bids in sight would pay for it now, the
        collateral held (a share of that), and when the units are owed back."""
        good, price = str(self.query_one("#good", Select).value), self._num("price")
        if not qty or not price:
            return None
        # what the engine refuses before it looks for buyers
        if (barred := "the game ends this round: a short could not be closed" if v.rounds_left() == 0
                else self._in_default() or ("you have as many open shorts as the wood allows"
                                            if v.short_room <= 0 else None)):
            return self._with(Text(f"short {units(qty, good, self.words)} at {price} or better"), [barred])
        bids = sorted((o for o in v.book if o.side == "buy" and o.good == good and o.price >= price
                       and o.owner != v.name), key=lambda o: (-o.price, o.id))
        left, proceeds = qty, 0
        for o in bids:
            q = min(left, o.qty)
            proceeds += q * o.price
            left -= q
        sold = qty - left
        if not sold:
            return self._with(Text(f"short {units(qty, good, self.words)} at {price} or better: no bid that high in sight"),
                              ["it would find no buyer"])
        collateral = -(-proceeds * self.collateral_pct // 100)
        rounds = self._num("rounds")
        due = v.round + self._short_term(rounds)
        warn = [f"bids in sight take only {sold}"] if sold < qty else []
        if rounds and rounds > SHORT_ROUNDS_MAX:
            warn.append(f"a short lasts at most {SHORT_ROUNDS_MAX} rounds")
        own = collateral - proceeds
        if own > v.coins:
            warn.append(f"collateral needs {own} of your coins, you hold {v.coins}")
        return self._with(Text(f"sell {units(sold, good, self.words)} short for {proceeds} now; {collateral} held as collateral; "
                               f"owe {units(sold, good, self.words)} back in round {due}"), warn)

    def _caps(self) -> list[str]:
        """A quantity, price or amount typed past what a move may carry."""
        out = []
        for fid, cap, words in (("qty", QTY_MAX, f"a move carries at most {QTY_MAX} units"),
                                ("price", PRICE_MAX, f"a price is at most {PRICE_MAX}"),
                                ("amount", PRICE_MAX, f"a loan is at most {PRICE_MAX} coins")):
            if self.kind in FIELDS[fid][1] and (n := self._num(fid)) is not None and n > cap:
                out.append(words)
        return out

    def _with(self, line: Text | str, warn: list[str]) -> Text:
        out = Text.assemble(("→ ", "bold"), line)
        warn = [*warn, *(c for c in self._caps() if c not in warn)]
        if warn:
            out.append(f"  ! {'; '.join(warn)}", style="bold yellow")
        return out

    # ---- submitting --------------------------------------------------------
    @on(Button.Pressed, "#act")
    @on(Input.Submitted)
    def _submit(self, event: Message) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        """Make the move as typed, or say under the form what is wrong with its shape."""
        if self.disabled:
            return
        try:
            action = self.action()
        except ValueError as e:
            self.explain(str(e))
            return
        self.post_message(self.Chosen(self, action))

    @property
    def say(self) -> str:
        """The public line typed, if any ("" if none)."""
        return self.query_one("#say", Input).value.strip()

    def action(self) -> Action:
        """The action as typed; ValueError says what is wrong with its shape."""
        kind = self.kind
        fields: dict = {"action": kind}
        for fid, (_, kinds) in FIELDS.items():
            if kind not in kinds:
                continue
            w = self.query_one(f"#{fid}")
            value = w.value if isinstance(w, Select) else w.value.strip()
            if value == "" or value is Select.NULL:
                continue
            if fid in NUMBERS:
                try:
                    value = whole(value) if isinstance(value, str) else value  # a tip's id is one already
                except ValueError:
                    raise ValueError(f"{FIELDS[fid][0]} must be a whole number") from None
            fields[fid] = value
        if self.say:
            fields["say"] = self.say
        if kind == "break" and self.view is not None and not self.view.allies:
            raise ValueError("you have no allies: there is no pact to break")
        try:
            return Action(**fields)
        except ValidationError as e:
            err = e.errors()[0]
            where = FIELDS.get(str(err["loc"][0]), (str(err["loc"][0]),))[0] if err["loc"] else "action"
            bound = err.get("ctx") or {}
            if "ge" in bound:  # a number past its bounds: the bound, in words
                raise ValueError(f"{where} must be at least {bound['ge']}") from None
            if "le" in bound:  # a short's term has its own cap, below the loans' the model checks
                cap = SHORT_ROUNDS_MAX if kind == "short" and err["loc"] == ("rounds",) else bound["le"]
                raise ValueError(f"{where} must be at most {cap}") from None
            raise ValueError(f"{where}: {err['msg'].lower()}") from None
