"""The standing offers and loan offers, as a table, best first per good
(capped at `MAX_OFFER_ROWS`); owners' names drawn through `safe`, fitted to
the width left (`FittedTable`): at 80 columns each row shows whole, but for
when the offer expires."""
from __future__ import annotations

from rich.text import Text

from engine.state import State
from engine.world import COINS

from .. import safe
from .fitted import FittedTable

MAX_OFFER_ROWS = 200


class OffersTable(FittedTable):
    """Every standing offer and loan offer, best first per good (capped)."""

    WIDTHS = {"#": 3, "good": 9, "side": 4, "qty": 3, "at": 3, "who": 12, "until": 5}  # at: the price (or rate)
    FLEX = "who"
    SPARE = ("until",)  # at 80 columns: the names whole, not when the offers expire

    def on_mount(self) -> None:  # FittedTable's on_mount runs too (Textual calls each class's in the MRO)
        self.cursor_type = "row"
        self.zebra_stripes = True

    def show(self, state: State) -> None:
        offers = sorted(state.offers.values(),
                        key=lambda o: (o.good, o.side, -o.price if o.side == "buy" else o.price, o.id))
        rows = [(o.id, o.owner, o.side, o.good, o.qty, o.price, o.expires) for o in offers]
        rows += [(lo.id, lo.lender, "lend", COINS, lo.amount, f"{lo.rate}%", lo.expires)
                 for lo in sorted(state.loan_offers.values(), key=lambda lo: (lo.rate, lo.id))]
        self.fill([(str(oid), (Text(str(oid), style="dim"), Text(good),
                               Text(side, style="green" if side == "buy" else "red" if side == "sell" else "cyan"),
                               Text(str(qty), justify="right"), Text(str(price), justify="right"),
                               safe.name(who), Text(str(until), style="dim", justify="right")))
                   for oid, who, side, good, qty, price, until in rows[:MAX_OFFER_ROWS]])
