"""A seat's own screen, built only from its `PublicView`: holdings against
needs and the market's quotes, its private tips (the words, never the truth;
true or planted shows in a later headline) and the whispers it got last
round, pacts offered to it, its shorts, allies, offers (its own loan offers
and pact proposals too: its view lists them, as it lists its offers), loans
and feelings, and the offers (and pact offers) it can take. Nothing here
reads the engine's state: a seat sees what its view holds, no more.

`conceal()` blanks all of it: in hot-seat play nothing of one seat stays on
screen once its turn is over.
"""
from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.events import Goods, units, units_list
from engine.groves import Pairs, harvest_left
from engine.memory import telling
from engine.metrics import counted
from engine.score import going_price
from engine.views import PublicView

from .. import safe
from .creature_panel import mood_bar
from .fitted import FittedTable


MAX_RESOLVED_TIPS = 3  # resolved tips still shown, with their outcome


def weather_words(good: str, pct: int) -> str:
    """`the berries harvest fails`, `acorns: production +100%`: a shock as the seat reads it."""
    if pct <= -100:
        return f"the {good} harvest fails"
    return f"{good}: production {pct:+d}%"


def _opt(v: int | None) -> Text:
    return Text("—" if v is None else str(v), style="dim" if v is None else "", justify="right")


class GoodsTable(FittedTable):
    """A seat's holdings against this round's needs, with the market's quotes
    and the going price (what a unit counts for in net worth: `going_price`)."""

    WIDTHS = {"good": 9, "hold": 4, "need": 4, "bid": 3, "ask": 3, "last": 4, "going": 5}


class SeatPanel(VerticalScroll):
    def compose(self) -> ComposeResult:
        yield Static(id="seat-head")
        # the holdings and quotes are read every turn: first, where an 80x24 screen shows them whole
        yield GoodsTable(id="seat-goods", cursor_type="none", zebra_stripes=True)
        yield Static(id="seat-tips")
        yield Static(id="seat-notes")

    def show(self, view: PublicView, goods: Goods, regard: Sequence[str] = (), resolved: Sequence[tuple[str, bool]] = (),
             after: bool = False, make: tuple[Pairs, str] | None = None) -> None:
        """The seat's view, its units worded by `goods` (`World.goods`); `regard`: how others feel about it (one line each);
        `resolved`: its tips that have resolved, (text, came true), newest last;
        `after`: the view is of the state after the last round (the season is over);
        `make`: what it makes a round and a note on the next harvest's mood cut (`engine.groves.next_make`;
        None: the view's `produces`, what its grove makes at any mood); once no harvest is left
        (`engine.groves.harvest_left`), the line says so instead."""
        self.border_title = Text.assemble("You: ", safe.text(view.name, max_len=40), " (", safe.text(view.species, max_len=24), ")")
        made, note = make or (view.produces, "")
        # what the next harvest makes; none comes after the last round's
        make_line = (Text.assemble(("you make ", "dim"), units_list(made, goods), (" a round", "dim"),
                                   (f" ({note})" if note else "", "yellow")) if harvest_left(view) else
                     Text("no harvest is left this season", "dim"))
        self.query_one("#seat-head", Static).update(Text.assemble(
            ("coins ", "dim"), (str(view.coins), "bold"), ("   mood ", "dim"), mood_bar(view.mood),
            (f"   after round {view.round}" if after else f"   {view.season}", "dim"), "\n", make_line))
        # the weather is public: a tip that came true shows here the round it does (its verdict, a round on)
        tips = [Text.assemble(("weather ", "bold blue"), weather_words(s.good, s.pct),
                              (f"  until round {s.until}", "dim"))
                for s in view.shocks if not after]  # the season is over: no weather to come
        tips += [Text.assemble(("tip (private) ", "bold yellow"), safe.text(t.text, style="yellow"),
                               (f"  resolves in round {t.resolves}", "dim")) for t in view.tips]
        tips += [Text.assemble(("tip ", "bold"), ("came true: ", "bold green") if true else
                               ("was planted: ", "bold white"), safe.text(text, style="dim"))
                 for text, true in list(resolved)[-MAX_RESOLVED_TIPS:]]
        tips += [Text.assemble(safe.name(w.sender, style="bold cyan"), (" whispered: ", "cyan"),
                               safe.text(w.text, style="italic", max_len=80)) for w in view.whispers]
        self.query_one("#seat-tips", Static).update(Text("\n").join(tips))
        self.query_one("#seat-tips").set_class(not tips, "-empty")
        need = dict(view.needs)
        rows = []
        for q in view.quotes:
            have = view.holding(q.good)
            short = have < need.get(q.good, 0)
            rows.append((q.good, (Text(q.good), Text(str(have), style="bold red" if short else "bold", justify="right"),
                                  _opt(need.get(q.good)), _opt(q.best_bid), _opt(q.best_ask), _opt(q.last),
                                  _opt(going_price(q.base, q.avg)))))
        self.query_one(GoodsTable).fill(rows)
        self.query_one("#seat-notes", Static).update(self._notes(view, goods, regard, after))
        self.remove_class("-concealed")

    def conceal(self, note: str) -> None:
        self.border_title = "Your creature"
        self.query_one("#seat-head", Static).update(safe.text(note, "italic"))
        self.query_one("#seat-tips", Static).update("")
        self.query_one(GoodsTable).reset()
        self.query_one("#seat-notes", Static).update("")
        self.add_class("-concealed")

    @staticmethod
    def _notes(view: PublicView, goods: Goods, regard: Sequence[str] = (), after: bool = False) -> Text:
        parts: list[Text] = []

        def section(title: str, lines: list[Text]) -> None:
            if lines:
                parts.append(Text(title, style="bold"))
                parts.extend(Text.assemble("  ", line) for line in lines)

        section("Pacts offered to you",
                [Text.assemble(f"#{po.id} from ", safe.name(po.proposer, style="bold"),
                               (f": accept #{po.id} to ally", "dim")) for po in view.pact_offers])
        section("Your shorts",
                [Text(f"#{x.id} owe {units(x.owed, x.good, goods)} back in round {x.due} (sold at {x.price}; "
                      f"{counted(x.collateral, 'coin')} held)") for x in view.shorts])
        if view.allies:
            parts.append(Text.assemble(("Your allies: ", "bold"), Text(", ").join(
                safe.name(a) for a in view.allies)))
        section("Your standing offers",
                [Text(f"#{o.id} {o.side} {units(o.qty, o.good, goods)} @ {o.price} (until round {o.expires})")
                 for o in view.my_offers]
                + [Text.assemble(f"#{lo.id} lend {counted(lo.amount, 'coin')} at {lo.rate}% for {counted(lo.rounds, 'round')} to ",
                                 safe.name(lo.to) if lo.to else "anyone", f" (until round {lo.expires})")
                   for lo in view.my_loan_offers]
                + [Text.assemble(f"#{po.id} pact proposed to ", safe.name(po.to), f" (until round {po.expires})")
                   for po in view.my_pact_offers])
        section("Your loans",  # a defaulted loan falls due again each round: in default, collected each round
                [Text.assemble(("you owe ", ""), safe.text(ln.other), f" {counted(ln.owed, 'coin')}, "
                               + ("in default: part of your coins go to it each round" if ln.defaulted else f"due round {ln.due}"))
                 if ln.role == "borrower" else
                 Text.assemble(safe.text(ln.other), f" owes you {counted(ln.owed, 'coin')}, "
                               + ("in default: part of its coins come to you each round" if ln.defaulted else f"due round {ln.due}"))
                 for ln in view.loans])
        section("How you feel", [safe.text(line) for line in telling(view.relations)])  # not neutral: it tells nothing
        section("How others feel about you", [safe.text(line) for line in regard])
        section("Last round in the wood", [safe.text(h) for h in view.headlines])
        return Text("\n").join(parts) if parts else Text("The season is over: nothing more to come." if after
                                                          else "Nothing else to know yet.", style="dim")


class BookTable(FittedTable):
    """The offers a seat can take: the best of others' offers per good and
    side, loan offers open to it and pacts proposed to it."""

    WIDTHS = {"#": 3, "good": 9, "side": 4, "qty": 3, "at": 3, "who": 9}  # at: the price (a loan's: its rate)
    FLEX = "who"

    def on_mount(self) -> None:  # FittedTable's on_mount runs too (Textual calls each class's in the MRO)
        self.cursor_type = "row"
        self.zebra_stripes = True

    def show(self, view: PublicView) -> None:
        """The offers in the seat's view."""
        who = safe.name
        rows = [(str(o.id), (Text(str(o.id), style="dim"), Text(o.good),
                             Text(o.side, style="green" if o.side == "buy" else "red"),
                             Text(str(o.qty), justify="right"), Text(str(o.price), justify="right"), who(o.owner)))
                for o in view.book]
        rows += [(str(lo.id), (Text(str(lo.id), style="dim"), Text(f"coins {lo.rounds}r"), Text("lend", style="cyan"),
                               Text(str(lo.amount), justify="right"), Text(f"{lo.rate}%", justify="right"),
                               who(lo.lender)))
                 for lo in view.loan_offers]
        rows += [(str(po.id), (Text(str(po.id), style="dim"), Text("pact"), Text("ally", style="blue"), Text(""),
                               Text(""), who(po.proposer)))
                 for po in view.pact_offers]
        self.fill(rows)

    def conceal(self) -> None:
        self.reset()  # nothing of the last seat's view, not even how wide it was
