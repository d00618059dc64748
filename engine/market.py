"""The order book: standing offers per good and side, best price first.

`Book` is rebuilt from `State.offers` at the start of each round's action
phase (O(B log B)) and kept in step with it while actions apply, so crossing
a new offer touches only the offers it trades with, never the whole book.
It remembers the offers taken this round (`gone`), so an accept that comes
too late can fall back on the next best offer at the same price.
"""
from __future__ import annotations

import bisect

from .state import LoanOffer, Offer, State


def _key(o: Offer) -> tuple[int, int]:
    # best first: highest bid, lowest ask; ties by age (lower id first)
    return (-o.price, o.id) if o.side == "buy" else (o.price, o.id)


class Book:
    def __init__(self, state: State):
        self.state = state
        self.lanes: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self.placed: dict[int, int] = {o.id: o.qty for o in state.offers.values()}  # qty when the round began
        self.gone: dict[int, Offer] = {}  # offers taken this round, as they stood (for accepts that came late)
        self.gone_loans: dict[int, LoanOffer] = {}  # loan offers taken this round
        self._shorts: dict[str, int] | None = None  # owner -> open shorts (`open_shorts`)
        for o in state.offers.values():
            self.lanes.setdefault((o.good, o.side), []).append(_key(o))
        for lane in self.lanes.values():
            lane.sort()

    def open_shorts(self, name: str) -> int:
        """How many shorts `name` holds open: counted once a round from the
        state (shorts close only when the round opens), then kept in step
        by `short_opened`."""
        if self._shorts is None:
            self._shorts = {}
            for x in self.state.shorts.values():
                self._shorts[x.owner] = self._shorts.get(x.owner, 0) + 1
        return self._shorts.get(name, 0)

    def short_opened(self, name: str) -> None:
        self._shorts[name] = self.open_shorts(name) + 1

    def add(self, o: Offer) -> None:
        self.state.offers[o.id] = o
        self.placed[o.id] = o.qty
        bisect.insort(self.lanes.setdefault((o.good, o.side), []), _key(o))

    def remove(self, o: Offer) -> None:
        self.state.offers.pop(o.id, None)
        gone = self.gone[o.id] = o.copy()  # as it stood when the round began (`dataclasses.replace`, lighter)
        gone.qty = self.placed.get(o.id, o.qty)
        lane = self.lanes.get((o.good, o.side), [])
        k = _key(o)
        i = bisect.bisect_left(lane, k)
        if i < len(lane) and lane[i] == k:
            del lane[i]

    def crossing(self, side: str, good: str, limit: int):
        """Yield resting offers on the other side that a `side` order at `limit`
        would trade with, best first. Safe against removal while iterating."""
        other = "sell" if side == "buy" else "buy"
        lane = self.lanes.get((good, other), [])
        i = 0
        while i < len(lane):
            k = lane[i]
            o = self.state.offers.get(k[1])
            price = k[0] if other == "sell" else -k[0]
            if (side == "buy" and price > limit) or (side == "sell" and price < limit):
                return
            if o is None:
                del lane[i]
                continue
            before = len(lane)
            yield o
            if len(lane) == before:  # not removed by the consumer: move on
                i += 1
