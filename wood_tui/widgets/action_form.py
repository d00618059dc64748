"""The action form: a seat's one move this round (offer, accept, lend, gift
or pass) and its public `say` line.

The form checks the shape of what was typed (numbers, ranges: the engine's
own `Action` model) and posts `ActionForm.Chosen`; the screen then asks the
engine whether the move can be carried out and, if not, calls `explain()`
so the player can correct it in place.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Select, Static

from engine.actions import SAY_MAX, Action, Reason
from engine.sanitise import clean_text

from .. import safe

KINDS = ("offer", "accept", "lend", "gift", "pass")
HINTS = {
    "offer": "buy or sell qty of a good at a limit price each; the rest of it stands",
    "accept": "take a standing offer or loan offer by its # (or select it in the table)",
    "lend": "the taker gets amount, owes amount + rate% after rounds; no 'to': anyone",
    "gift": "give coins or goods to another creature (a bribe is a gift)",
    "pass": "do nothing this round (you can still say something)",
}
# field id -> (title, action kinds that use it)
FIELDS = {
    "side": ("side", ("offer",)),
    "good": ("good", ("offer", "gift")),
    "qty": ("qty", ("offer", "accept", "gift")),
    "price": ("price", ("offer",)),
    "id": ("offer #", ("accept",)),
    "to": ("to", ("lend", "gift")),
    "amount": ("amount", ("lend",)),
    "rate": ("rate %", ("lend",)),
    "rounds": ("rounds", ("lend",)),
}
NUMBERS = ("qty", "price", "id", "amount", "rate", "rounds")
WHY = {
    Reason.MISSING_FIELD: "fill in: {}",
    Reason.UNKNOWN_GOOD: "there is no good called {}",
    Reason.UNKNOWN_CREATURE: "there is no creature called {}",
    Reason.INSUFFICIENT_GOODS: "not enough goods: you {}",
    Reason.INSUFFICIENT_COINS: "not enough coins: you {}",
    Reason.OUT_OF_RANGE: "out of range: {}",
}


def why(reason: Reason, detail: str) -> str:
    """The engine's refusal, as a sentence."""
    return WHY.get(reason, "{}").format(detail.replace(",", ", ")) if detail else str(reason).replace("_", " ")


class ActionForm(Vertical):
    @dataclass
    class Chosen(Message):
        form: ActionForm
        action: Action

        @property
        def control(self) -> ActionForm:
            return self.form

    def __init__(self, goods: Sequence[str], names: Sequence[str], **kw):
        super().__init__(**kw)
        self.goods = tuple(goods)
        self.names = list(names)

    def compose(self) -> ComposeResult:
        with Horizontal(id="action-fields"):
            yield self._titled(Select([(k, k) for k in KINDS], value="offer", allow_blank=False, id="kind"), "action")
            for fid, (title, kinds) in FIELDS.items():
                if fid == "side":
                    w = Select([("buy", "buy"), ("sell", "sell")], value="buy", allow_blank=False, id=fid)
                elif fid == "good":
                    w = Select([(Text(g), g) for g in (*self.goods, "coins")], value=self.goods[0],
                               allow_blank=False, id=fid)
                elif fid == "to":
                    w = Input(placeholder="anyone", id=fid, suggester=SuggestFromList(
                        [n for n in self.names if clean_text(n) == n], case_sensitive=False))  # names may come from a file
                else:
                    w = Input(type="integer", id=fid)
                yield self._titled(w, title, "field " + " ".join(f"f-{k}" for k in kinds))
        with Horizontal(id="action-say"):
            say = Input(placeholder="say something (public, optional)", max_length=SAY_MAX, id="say")
            yield self._titled(say, "say")
            yield Button("Act", id="act", variant="primary")
        yield Static(id="explain")

    @staticmethod
    def _titled(w, title: str, classes: str = ""):
        w.border_title = title
        w.add_class(*classes.split())
        return w

    def on_mount(self) -> None:
        self._kind_changed("offer")

    @on(Select.Changed, "#kind")
    def _on_kind(self, event: Select.Changed) -> None:
        self._kind_changed(str(event.value))

    def _kind_changed(self, kind: str) -> None:
        for k in KINDS:
            self.set_class(k == kind, f"-{k}")
        self.query_one("#explain", Static).update(Text(HINTS[kind], style="dim"))

    # ---- a turn ----------------------------------------------------------
    def start(self) -> None:
        """A fresh, empty form for a new turn (nothing typed by the previous seat survives)."""
        for inp in self.query(Input):
            inp.value = ""
        self.query_one("#kind", Select).value = "offer"
        self.query_one("#side", Select).value = "buy"
        self.query_one("#good", Select).value = self.goods[0]
        self._kind_changed("offer")
        self.disabled = False
        self.query_one("#kind", Select).focus()

    def finish(self, note: str) -> None:
        self.disabled = True
        self.query_one("#explain", Static).update(safe.text(note, "italic"))

    def take(self, offer_id: int) -> None:
        """Prefill an accept of offer `offer_id` (picked in the offers table)."""
        self.query_one("#kind", Select).value = "accept"
        self.query_one("#id", Input).value = str(offer_id)
        self._kind_changed("accept")
        self.query_one("#qty", Input).focus()

    def explain(self, problem: str) -> None:
        self.query_one("#explain", Static).update(Text.assemble(("✗ ", "bold red"), safe.text(problem, style="red")))

    # ---- submitting --------------------------------------------------------
    @on(Button.Pressed, "#act")
    @on(Input.Submitted)
    def _submit(self, event: Message) -> None:
        event.stop()
        if self.disabled:
            return
        try:
            action = self.action()
        except ValueError as e:
            self.explain(str(e))
            return
        self.post_message(self.Chosen(self, action))

    def action(self) -> Action:
        """The action as typed; ValueError says what is wrong with its shape."""
        kind = str(self.query_one("#kind", Select).value)
        fields: dict = {"action": kind}
        for fid, (_, kinds) in FIELDS.items():
            if kind not in kinds:
                continue
            w = self.query_one(f"#{fid}")
            value = w.value if isinstance(w, Select) else w.value.strip()
            if value in ("", Select.BLANK):
                continue
            if fid in NUMBERS:
                try:
                    value = int(value)
                except ValueError:
                    raise ValueError(f"{FIELDS[fid][0]} must be a whole number") from None
            fields[fid] = value
        say = self.query_one("#say", Input).value.strip()
        if say:
            fields["say"] = say
        try:
            return Action(**fields)
        except ValidationError as e:
            err = e.errors()[0]
            where = FIELDS.get(str(err["loc"][0]), (str(err["loc"][0]),))[0] if err["loc"] else "action"
            raise ValueError(f"{where}: {err['msg'].lower()}") from None
