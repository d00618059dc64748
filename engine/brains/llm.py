"""Model brains: the one chat client, the brain that drives a creature with
it, and the per-model call counters.

`ChatClient` speaks OpenAI-compatible chat completions (non-streaming, httpx,
async) to one model server, at most `max_concurrency` calls at a time, and
turns every way a call can fail into a `ChatResult.fault` instead of an
exception. Server quirks are named config entries (`json_mode`,
`system_role`, `reasoning_effort`), not code paths per model family.

`LLMBrain.decide` builds the prompt and this turn's legal-moves schema
(`legal.legal_schema`) from the creature's `PublicView`, calls the client, runs the reply through the repair layer and always returns a
`Decision`: what cannot be salvaged, or a call that failed, becomes `pass`
with the reason and the whole call recorded for the ledger.
"""
from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from ..actions import PASS
from ..errors import WoodError
from ..legal import legal_schema
from ..parsing import parse_reply
from ..prompts import build_messages, count_tokens
from ..sanitise import clean_text
from ..views import PublicView
from ..world import World
from . import ENGINE_PREFIX, Decision
from .config import ModelConfig


RETRYABLE = frozenset({"connect", "dropped", "http_502", "http_503", "http_504"})
RETRY_BACKOFF_S = 0.25
DETAIL_MAX = 200
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LATENCY_WINDOW = 4096  # latencies kept per model for percentiles


class ModelServerError(WoodError):
    """A model server that cannot be used: unreachable, or not serving the model."""


@dataclass
class ChatResult:
    """One chat call as the client saw it. `fault` is None when a reply came, else
    connect | timeout | dropped | transport | http_<status> | bad_body | empty."""

    text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    fault: str | None = None
    attempts: int = 0
    detail: str = ""


class ChatClient:
    """The one client for OpenAI-compatible chat-completion servers (one per model)."""

    def __init__(self, cfg: ModelConfig):
        self.cfg = cfg
        self._gate = asyncio.Semaphore(cfg.max_concurrency)
        headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        self._http = httpx.AsyncClient(
            base_url=cfg.base_url.rstrip("/") + "/", headers=headers,
            timeout=httpx.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s),
            limits=httpx.Limits(max_connections=cfg.max_concurrency, max_keepalive_connections=cfg.max_concurrency),
            # a proxy from the environment must never sit between us and a server on this machine
            trust_env=urlsplit(cfg.base_url).hostname not in LOOPBACK,
        )

    async def __aenter__(self) -> "ChatClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def check_models(self) -> set[str]:
        """The names the server serves; raises ModelServerError if ours is not among them."""
        where = self.cfg.base_url
        try:
            resp = await self._http.get("models")
            resp.raise_for_status()
            served = {str(m["id"]) for m in resp.json()["data"]}
        except httpx.HTTPError as e:
            raise ModelServerError(f"model server for '{self.cfg.name}' unreachable at {where}: "
                                   f"{clean_text(e, DETAIL_MAX) or type(e).__name__}") from None
        except (ValueError, KeyError, TypeError):
            raise ModelServerError(f"{where}/models did not answer like an OpenAI-compatible server") from None
        if self.cfg.model not in served:
            raise ModelServerError(f"model '{self.cfg.model}' not served at {where} "
                                   f"(serves: {clean_text(', '.join(sorted(served)), DETAIL_MAX) or 'nothing'})")
        return served

    async def chat(self, messages: list[dict], schema: dict | None = None, *,
                   max_tokens: int | None = None) -> ChatResult:
        """One chat completion. Never raises for anything the server or the
        network does; a connect error, dropped connection or 502/503/504 is
        retried once after a short pause."""
        body = self._body(messages, schema, max_tokens or self.cfg.max_tokens)
        async with self._gate:
            t0 = time.perf_counter()
            for attempt in (1, 2):
                result = await self._post(body)
                result.attempts = attempt
                if result.fault not in RETRYABLE or attempt == 2:
                    break
                await asyncio.sleep(RETRY_BACKOFF_S)
            result.latency_ms = (time.perf_counter() - t0) * 1000
        return result

    def _body(self, messages: list[dict], schema: dict | None, max_tokens: int) -> dict:
        cfg = self.cfg
        body: dict = {
            "model": cfg.model,
            "messages": _merge_system(messages) if cfg.system_role == "merge_into_user" else messages,
            "temperature": cfg.temperature,
            "max_tokens": max_tokens,
        }
        if cfg.top_p is not None:
            body["top_p"] = cfg.top_p
        if cfg.reasoning_effort:
            body["reasoning_effort"] = cfg.reasoning_effort
        if schema is not None and cfg.json_mode == "json_schema":
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "action", "schema": schema, "strict": True}}
        elif schema is not None and cfg.json_mode == "json_object_schema":  # llama-cpp-python's grammar form
            body["response_format"] = {"type": "json_object", "schema": schema}
        return body

    async def _post(self, body: dict) -> ChatResult:
        try:
            resp = await self._http.post("chat/completions", json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            return ChatResult(fault="connect", detail=_detail(e))
        except httpx.TimeoutException as e:
            return ChatResult(fault="timeout", detail=_detail(e))
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
            return ChatResult(fault="dropped", detail=_detail(e))
        except httpx.HTTPError as e:
            return ChatResult(fault="transport", detail=_detail(e))
        if resp.status_code >= 400:
            return ChatResult(fault=f"http_{resp.status_code}", detail=clean_text(resp.text, DETAIL_MAX))
        try:
            data = resp.json()
            choice = data["choices"][0]
            message = choice["message"]
            content = message.get("content")
            usage = data.get("usage")
            usage = usage if isinstance(usage, dict) else {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return ChatResult(fault="bad_body", detail=clean_text(resp.text, DETAIL_MAX))
        result = ChatResult(
            text=content if isinstance(content, str) else None,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
        )
        if not (result.text or "").strip():  # reasoning models may spend the budget in message.reasoning
            result.fault = "empty"
            result.detail = "no content" + (" (reasoning only)" if message.get("reasoning") else "")
        return result


def _merge_system(messages: list[dict]) -> list[dict]:
    """system_role = merge_into_user: the system text leads the first user message."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    first_user = next((m for m in rest if m["role"] == "user"), None)
    if first_user is None:
        return [{"role": "user", "content": system}, *rest]
    first_user["content"] = f"{system}\n\n{first_user['content']}"
    return rest


def _detail(e: Exception) -> str:
    return clean_text(e, DETAIL_MAX) or type(e).__name__


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


class LLMBrain:
    """A creature that thinks with a model behind a `ChatClient`."""

    def __init__(self, name: str, client: ChatClient, world: World, *, names: tuple[str, ...],
                 temperament_line: str, tokenizer: str | Path | None = None):
        self.name = name
        self.client = client
        self.world = world
        self.names = names
        self.temperament_line = temperament_line
        self.tokenizer = tokenizer or client.cfg.tokenizer

    async def decide(self, view: PublicView) -> Decision:
        messages: list[dict] = []
        try:
            messages = build_messages(view, self.world, temperament_line=self.temperament_line, names=self.names)
            schema = legal_schema(view, self.world.good_names, self.names)  # this round's legal moves only
            return await self._ask(messages, schema)
        except Exception as e:  # a brain never takes the round down: the failure becomes a recorded pass
            reason = f"fault: {type(e).__name__}: {clean_text(e, DETAIL_MAX)}"
            return Decision(PASS, "fault", reason, call={
                "model": self.client.cfg.name, "creature": self.name, "messages": messages, "raw": None,
                "action": None, "outcome": "fault", "reason": reason, "repairs": [], "fault": "internal"})

    async def _ask(self, messages: list[dict], schema: dict) -> Decision:
        cfg = self.client.cfg
        goods = self.world.good_names
        result = await self.client.chat(messages, schema)
        parsed = parse_reply(result.text, goods, self.names)
        attempts, latency_ms = result.attempts, result.latency_ms
        if result.finish_reason == "length" and parsed.action is None:  # cut off: once more with room to finish
            result = await self.client.chat(messages, schema, max_tokens=cfg.max_tokens * 2)
            parsed = parse_reply(result.text, goods, self.names)
            attempts, latency_ms = attempts + result.attempts, latency_ms + result.latency_ms
        if result.finish_reason == "length" and parsed.action is not None:
            parsed.repairs.append("truncated")
            parsed.outcome, parsed.reason = "repaired", "repaired: " + ", ".join(parsed.repairs)

        if result.fault:
            outcome = "fault"
            reason = f"fault: {result.fault}" + (f": {result.detail}" if result.detail else "")
        else:
            outcome, reason = parsed.outcome, parsed.reason
        action = parsed.action if outcome != "fault" else None
        prompt_tokens = result.prompt_tokens
        if prompt_tokens is None:
            prompt_tokens = count_tokens(messages, self.tokenizer)
        return Decision(action or PASS, outcome, reason, raw=result.text, call={
            "model": cfg.name, "creature": self.name, "messages": messages, "raw": result.text,
            "action": action.compact() if action else None, "outcome": outcome, "reason": reason,
            "repairs": parsed.repairs, "latency_ms": round(latency_ms, 1), "prompt_tokens": prompt_tokens,
            "completion_tokens": result.completion_tokens, "finish_reason": result.finish_reason,
            "fault": result.fault, "attempts": attempts,
        })


# ---- measures -------------------------------------------------------------------
@dataclass
class ModelStats:
    calls: int = 0
    clean: int = 0
    repaired: int = 0
    rejected_schema: int = 0
    repairs: Counter = field(default_factory=Counter)          # repair tag -> count
    rejected_engine: Counter = field(default_factory=Counter)  # engine Reason -> count
    faults: Counter = field(default_factory=Counter)           # fault kind -> count
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    prompt_tokens_max: int = 0
    prompt_tokens_sum: int = 0
    prompt_tokens_n: int = 0

    def summary(self) -> dict:
        valid = self.clean + self.repaired
        lat = sorted(self.latencies_ms)
        return {
            "calls": self.calls, "clean": self.clean, "repaired": self.repaired,
            "rejected_schema": self.rejected_schema, "rejected_engine": dict(self.rejected_engine),
            "faults": dict(self.faults), "repairs": dict(self.repairs),
            "valid_rate": _ratio(valid, self.calls),
            "repair_rate": _ratio(self.repaired, valid),
            "latency_ms": {"mean": _ratio(sum(lat), len(lat)),
                           "p50": nearest_rank(lat, 0.5), "p95": nearest_rank(lat, 0.95),
                           "max": lat[-1] if lat else None},
            "prompt_tokens": {"mean": _ratio(self.prompt_tokens_sum, self.prompt_tokens_n),
                              "max": self.prompt_tokens_max},
        }


class CallStats:
    """Per-model counters over model-brain decisions (valid, repair and fault
    rates, latencies, prompt sizes). Decisions without a call record
    (scripted, human) are ignored."""

    def __init__(self) -> None:
        self.models: dict[str, ModelStats] = {}

    def _of(self, model: str) -> ModelStats:
        return self.models.setdefault(model, ModelStats())

    def record(self, decision: Decision) -> None:
        call = decision.call
        if not call:
            return
        s = self._of(call["model"])
        s.calls += 1
        if decision.outcome == "clean":
            s.clean += 1
        elif decision.outcome == "repaired":
            s.repaired += 1
        elif decision.outcome == "rejected" and decision.reason.startswith(ENGINE_PREFIX):
            s.rejected_engine[decision.reason.removeprefix(ENGINE_PREFIX)] += 1  # the runner's verdict
        elif decision.outcome == "rejected":
            s.rejected_schema += 1
        elif decision.outcome == "fault":
            s.faults[call.get("fault") or "internal"] += 1
        s.repairs.update(call.get("repairs") or ())
        if call.get("latency_ms") is not None:
            s.latencies_ms.append(call["latency_ms"])
        if call.get("prompt_tokens") is not None:
            s.prompt_tokens_max = max(s.prompt_tokens_max, call["prompt_tokens"])
            s.prompt_tokens_sum += call["prompt_tokens"]
            s.prompt_tokens_n += 1

    def summary(self) -> dict:
        return {model: s.summary() for model, s in sorted(self.models.items())}


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def nearest_rank(xs: list[float], q: float) -> float | None:
    """The q-th percentile of sorted `xs`, by nearest rank (the `wood sim` summary's and the bench's)."""
    return xs[max(0, math.ceil(q * len(xs)) - 1)] if xs else None
