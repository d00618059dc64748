"""The standing offers and loan offers, as a table, best first per good
(capped at `MAX_OFFER_ROWS`); owners' names drawn through `safe`."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from engine.state import State

from .. import safe

MAX_OFFER_ROWS = 200


class OffersTable(DataTable):
    """Every standing offer and loan offer, best first per good (capped)."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        # fixed widths: rows are replaced every round, and auto widths would move under the reader
        for label, width in (("#", 4), ("good", 9), ("side", 4), ("qty", 4), ("price", 5), ("who", 12), ("until", 5)):
            self.add_column(label, key=label, width=width)

    def show(self, state: State) -> None:
        offers = sorted(state.offers.values(),
                        key=lambda o: (o.good, o.side, -o.price if o.side == "buy" else o.price, o.id))
        rows = [(o.id, o.owner, o.side, o.good, o.qty, o.price, o.expires) for o in offers]
        rows += [(lo.id, lo.lender, "lend", "coins", lo.amount, f"{lo.rate}%", lo.expires)
                 for lo in sorted(state.loan_offers.values(), key=lambda lo: (lo.rate, lo.id))]
        self.clear()
        for oid, who, side, good, qty, price, until in rows[:MAX_OFFER_ROWS]:
            style = "green" if side == "buy" else "red" if side == "sell" else "cyan"
            self.add_row(Text(str(oid), style="dim"), Text(good), Text(side, style=style),
                         Text(str(qty), justify="right"), Text(str(price), justify="right"),
                         safe.name(who), Text(str(until), style="dim"), key=str(oid))
