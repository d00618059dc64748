"""Brains: what chooses a creature's action from its PublicView.

Every brain has one coroutine, `decide(view) -> Decision`. Scripted brains
(`scripted`) are deterministic rules; model brains (`llm`) call a model
server; the human brain (`human`) waits for the player. A brain sees only
the `PublicView` it is handed.

A brain class may also offer a static `prepare_round(pairs)`: the runner
calls it once a round with every (brain, view) of that class before asking
any creature, and it must not raise. Model brains make their requests there,
a stage at a time for the whole round (`LLMBrain.prepare_round`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..actions import Action
from ..views import PublicView

ENGINE_PREFIX = "engine: "  # how the runner marks a proposal the engine refused, in `Decision.reason`


@dataclass(frozen=True)
class Decision:
    """A brain's choice, and for model brains the record of the call behind it.

    `outcome` is one of clean | repaired | rejected | fault (a model call),
    or "scripted" / "human". `call` holds what the ledger keeps of a model
    call: messages, raw text, latency_ms, prompt_tokens, completion_tokens,
    what was repaired. Frozen: once posted to an observer it never changes
    (the engine's verdict makes a new one, `runner.with_verdicts`).
    """

    action: Action
    outcome: str = "scripted"
    reason: str = ""
    raw: str | None = None
    call: dict = field(default_factory=dict)


def served(call: dict) -> bool:
    """Whether a model call's record is of a reply the server gave, so that its
    time was the model's: every outcome but a fault, and of faults only an
    empty reply. A call that never came back (refused, timed out, an HTTP
    error) counts in the faults, never in the latencies. (Its tokens are what
    its record says: None where no server read the prompt.)"""
    return call.get("outcome") != "fault" or str(call.get("reason") or "").startswith("fault: empty")


class Brain(Protocol):
    async def decide(self, view: PublicView) -> Decision: ...
