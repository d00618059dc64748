"""Model brains: the one chat client, the brain that drives a creature with
it, and the per-model call counters.

`ChatClient` speaks OpenAI-compatible chat completions (non-streaming, httpx,
async) to one model server, at most `max_concurrency` calls at a time, and
turns every way a call can fail into a `ChatResult.fault` instead of an
exception. Server quirks are named config entries (`json_mode`,
`system_role`, `reasoning_effort`), not code paths per model family.

`LLMBrain.decide` builds the prompt and this turn's legal-moves schema
(`legal.legal_schema`) from the creature's `PublicView` (or takes the
request `LLMBrain.prepare_round` made for the whole round ahead), calls the
client, runs the reply through the repair layer and always returns a
`Decision`: what cannot be salvaged, or a call that failed, becomes `pass`
with the reason and the whole call recorded for the ledger. A reply body
past `transport.BODY_MAX` is a `bad_body` fault, read no further. A server
that let SICK_STRIKES calls in a row wait out the whole timeout_s (hung:
it takes the connection and answers nothing; a call dropped
LATE_DROP_SHARE of timeout_s or more after its request went out counts so too), or connect_timeout_s for a
connection (a host gone dark), is not sent more until its health check answers: where the model has no other server, each call is a
`silent` fault at once, not another full timeout.
"""
from __future__ import annotations

import ast
import asyncio
import json
import math
import os
import re
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from ..actions import PASS
from ..errors import WoodError
from ..grammar import gbnf
from ..legal import legal_schema, moves_of, schema_json, without_say
from ..parsing import MAX_REPLY_CHARS, Parsed, parse_reply
from ..metrics import counted
from ..prompts import build_messages, count_tokens
from ..sanitise import clean_text, valid_utf8
from ..views import PublicView, once_per
from ..world import World
from . import ENGINE_PREFIX, Decision, served
from .config import ModelConfig
from .transport import (BODY_MAX, CLOSED_AS_MADE, HEAD_TOO_LONG, MID_RESPONSE, TE_AGAIN, UNANSWERED, BodyTooLarge,
                        LeanTransport, bad_status_line, cannot_connect, coding_refused, made_unusable, os_reason,
                        too_large)


RETRYABLE = frozenset({"connect", "dropped", "http_502", "http_503", "http_504"})
SICK_STRIKES = 3  # a replica whose last this many calls failed at the server (5xx, a broken body, a timeout) leaves
                  # the rotation too, though those are not retried: else, failing fast, it drew half the calls;
                  # a server (replica or not) whose last this many calls timed out is sent none until it answers
RETRY_BACKOFF_S = 0.25
LATE_DROP_SHARE = 0.5  # a try dropped after this share of timeout_s or more waited as a timeout does: it is not
                       # sent again, and counts toward `_silent` as one (a server that hangs up just before
                       # timeout_s cost every call two, and its first call two more before it was held back)
DETAIL_MAX = 200
LOOPBACK = ("127.0.0.1", "localhost", "::1")
LATENCY_WINDOW = 4096  # latencies kept per model for percentiles
HEALTH_TIMEOUT_S = 2.0    # a replica's health check
HEALTH_MAX_INTERVAL_S = 5.0
JSON_HEADERS = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
IDENTITY = {"Accept-Encoding": "identity"}  # a compressed reply is refused unread: a small body can inflate to gigabytes
TOKENS_MAX = 1 << 31  # a usage count past this (or under 0) is not a count: recorded as unknown
TEMPLATE_TOKENS = 4096  # tokens a chat template may add around a request's text (role headers, a default system
                        # prompt): a prompt count past the request's bytes and these is no count of its prompt
FINISH_MAX = 40       # characters of a finish_reason kept


class ModelServerError(WoodError):
    """A model server that cannot be used: unreachable, or not serving the model."""


@dataclass
class ChatResult:
    """One chat call as the client saw it. `fault` is None when a reply came, else
    connect | timeout | dropped | transport | http_<status> | bad_body | empty,
    or silent (not sent: the server answers nothing, `ChatClient._silent`).
    `attempts` are the tries made, `unconnected` those of them that could not
    connect (refused, no such host, no connection within connect_timeout_s):
    no request went out; every other try was sent, whatever came back."""

    text: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_ms: float = 0.0
    fault: str | None = None
    attempts: int = 0
    unconnected: int = 0              # of `attempts`, those that never reached the server (`connect` faults)
    detail: str = ""
    replica: str | None = None        # the server that gave this answer (or this fault)
    waited: str | None = None         # the deadline it waited out, if it did: "timeout_s" or "connect_timeout_s"
    failover_from: str | None = None  # the server whose failure sent the call to `replica`


class Replica:
    """One server of a model, as the client sees it: in rotation or not, and its figures."""

    def __init__(self, index: int, url: str, http: httpx.AsyncClient, max_concurrency: int,
                 lean: LeanTransport | None = None, headers: dict[str, str] | None = None):
        self.index = index
        self.url = url
        self.http = http
        self.lean = lean  # the hot path: chat calls straight through the lean transport
        if lean is not None:
            parts = urlsplit(url)
            self.host, self.port = parts.hostname, parts.port or 80
            self.chat_head = lean.request_head("POST", url.rstrip("/") + "/chat/completions",
                                               {**(headers or {}), **JSON_HEADERS})
        self.gate = asyncio.Semaphore(max_concurrency)
        self.up = True
        self.outstanding = 0   # calls sent to it or waiting for its gate
        self.calls = 0         # requests sent to it, answered or failed
        self.unconnected = 0   # attempts that could not connect to it: not sent
        self.faults: Counter = Counter()
        self.failovers = 0     # calls that failed here and went to another replica
        self.strikes = 0       # its calls in a row that failed at the server (`sick`) ...
        self.sick_downs = 0    # ... and the times it left the rotation so since it last answered well
        self.unanswered = 0    # its calls in a row that waited out a deadline (SICK_STRIKES of them: `silent`) ...
        self.unconnected_in_row = 0  # ... how many of them took no connection within connect_timeout_s ...
        self.late_drops = 0    # ... and how many were dropped late (LATE_DROP_SHARE): the rest timed out (timeout_s)
        self.downs = 0         # times taken out of rotation
        self.backs = 0         # times back after a health check
        self.peak = 0          # most calls outstanding at once
        self.latencies_ms: deque = deque(maxlen=LATENCY_WINDOW)
        self.answered = 0      # its attempts that came back: more than LATENCY_WINDOW, the percentiles are of the last
        self.probe: asyncio.Task | None = None

    def summary(self) -> dict:
        lat = sorted(self.latencies_ms)
        return {"url": self.url, "up": self.up, "calls": self.calls, "unconnected": self.unconnected,
                "faults": dict(self.faults),
                "failovers": self.failovers, "downs": self.downs, "backs": self.backs, "peak_outstanding": self.peak,
                "latency_ms": {"p50": nearest_rank(lat, 0.5), "p95": nearest_rank(lat, 0.95),
                               "max": lat[-1] if lat else None, "of": len(lat), "answered": self.answered}}


class ChatClient:
    """The one client for OpenAI-compatible chat-completion servers (one per
    model; several servers of one model are its replicas). At most
    `max_concurrency` calls at a time per server; a call goes to the replica
    with the fewest outstanding; a replica whose call fails to connect, drops
    (soon after it was sent) or answers 502/503/504 leaves the rotation (the call is sent once more,
    to another replica) until its health check (GET models) answers 200; so
    does one, replica or the model's only server, whose last calls timed out
    or were dropped late (`_silent`): it is sent nothing meanwhile."""

    def __init__(self, cfg: ModelConfig):
        self.cfg = cfg
        urls = cfg.urls or [cfg.base_url]
        self.replicas = [self._replica(i, u) for i, u in enumerate(urls)]
        self._turn = 0
        self._closed = False
        self._frames: dict[tuple[int, bool], tuple] = {}  # (max_tokens, no schema) -> `_frame`

    def _replica(self, index: int, url: str) -> Replica:
        cfg = self.cfg
        key = cfg.key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        parts = urlsplit(url)
        local = parts.hostname in LOOPBACK
        # a proxy from the environment must never sit between us and a server on this machine
        lean = LeanTransport() if cfg.http_client == "lean" and parts.scheme == "http" and _direct(url) else None
        http = httpx.AsyncClient(
            base_url=url.rstrip("/") + "/", headers=headers,
            timeout=httpx.Timeout(cfg.timeout_s, connect=cfg.connect_timeout_s),
            limits=httpx.Limits(max_connections=cfg.max_concurrency, max_keepalive_connections=cfg.max_concurrency),
            transport=lean, trust_env=not local,
        )
        return Replica(index, url, http, cfg.max_concurrency, lean, headers)

    async def __aenter__(self) -> "ChatClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        for r in self.replicas:
            if r.probe is not None:
                r.probe.cancel()
        for r in self.replicas:
            await r.http.aclose()

    async def check_models(self) -> set[str]:
        """The names the servers serve; raises ModelServerError if ours is not
        among them. With replicas, one that cannot be reached leaves the
        rotation until its health check answers (if none can be, it raises)."""
        served: set[str] = set()
        unreachable: list[ModelServerError] = []
        for r in self.replicas:
            try:
                served |= await self._served(r)
            except _Unreachable as e:
                unreachable.append(ModelServerError(str(e)))
                if len(self.replicas) > 1:
                    self._take_out(r)
        if len(unreachable) == len(self.replicas):
            raise unreachable[0]
        return served

    @property
    def check_wait_s(self) -> float:
        """The longest `check_models` waits for one server to answer."""
        return self.cfg.connect_timeout_s + self.cfg.timeout_s

    async def _served(self, r: Replica) -> set[str]:
        wait = self.check_wait_s
        try:
            status, body, location = await _get(r.http, "models", wait, self.cfg.connect_timeout_s)
        except httpx.ConnectTimeout:
            raise _Unreachable(f"model server for '{self.cfg.name}' at {r.url} did not take the connection "
                               f"within {self.cfg.connect_timeout_s:g} s (connect_timeout_s)") from None
        except TimeoutError:
            raise _Unreachable(f"model server for '{self.cfg.name}' at {r.url} did not answer GET models "
                               f"within {wait:g} s") from None
        except (httpx.DecodingError, BodyTooLarge) as e:  # it answered, but not as a model server does
            raise ModelServerError(f"{r.url}/models did not answer like an OpenAI-compatible server "
                                   f"({_detail(e)})") from None
        except httpx.RemoteProtocolError as e:  # reached, but no HTTP answer: a line that is none, a hang-up
            raise _Unreachable(f"model server for '{self.cfg.name}' at {r.url} gave no HTTP answer to GET models: "
                               f"{_detail(e)}") from None
        except httpx.HTTPError as e:
            raise _Unreachable(f"model server for '{self.cfg.name}' unreachable at {r.url}: "
                               f"{clean_text(e, DETAIL_MAX) or type(e).__name__}") from None
        if 300 <= status < 400:  # not followed: it could lead anywhere, and the next call would meet it again
            raise ModelServerError(f"model server for '{self.cfg.name}' at {r.url} answered GET models with "
                                   f"HTTP {status}, a redirect{_redirect_hint(r.url, location)}")
        if status >= 400:
            raise _Unreachable(f"model server for '{self.cfg.name}' at {r.url} answered GET models "
                               f"with HTTP {status}" + (f": {said}" if (said := _text(body)) else " (no body)")
                               + (_key_hint(self.cfg) if status in (401, 403) else "")
                               + (_v1_hint(r.url) if status == 404 else ""))
        try:
            served = {str(m["id"]) for m in json.loads(body)["data"]}
        except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: JSON nested beyond reason
            raise ModelServerError(f"{r.url}/models did not answer like an OpenAI-compatible server") from None
        if self.cfg.model not in served:
            raise ModelServerError(f"model '{self.cfg.model}' not served at {r.url} "
                                   f"(serves: {clean_text(', '.join(sorted(served)), DETAIL_MAX) or 'nothing'})")
        return served

    async def chat(self, messages: list[dict], schema: dict | None = None, *,
                   max_tokens: int | None = None) -> ChatResult:
        """One chat completion. Never raises for anything the server or the
        network does; a connect error, dropped connection (not one dropped
        LATE_DROP_SHARE of timeout_s or more after it was sent: that waited as
        a timeout does, and is not sent again either) or 502/503/504 is
        retried once: on another replica at once if there is one in rotation,
        else on the same server after a short pause (a Retry-After is not
        waited for). A server that read the request before the connection
        dropped may so do its work twice (a completion changes nothing
        there: it costs only its time); both requests are counted."""
        return await self.post(self.request(messages, schema, max_tokens=max_tokens), max_tokens=max_tokens)

    def request(self, messages: list[dict], schema: dict | None = None, *, max_tokens: int | None = None) -> bytes:
        """The body `chat` sends for these messages and schema, as bytes:
        `_encode(self._body(...))`, byte for byte. Where the body's frame does
        not depend on the schema (every json mode but `gbnf`), the frame
        around the messages and the schema is encoded once per max_tokens
        (`_frame`) and each call joins its two variable parts into it."""
        max_tokens = max_tokens or self.cfg.max_tokens
        frame = self._frames.get((max_tokens, schema is None))
        if frame is None:
            frame = self._frames[(max_tokens, schema is None)] = self._frame(max_tokens, schema is None)
        if not frame:
            return _encode(self._body(messages, schema, max_tokens))
        if self.cfg.system_role == "merge_into_user":
            messages = _merge_system(messages)
        head, mid, tail = frame
        if schema is None or tail is None:  # no schema, or a json mode that sends none
            return (head + _messages_json(messages) + mid).encode("utf-8")
        return (head + _messages_json(messages) + mid + schema_json(schema) + tail).encode("utf-8")

    def _frame(self, max_tokens: int, no_schema: bool) -> tuple:
        """(text before the messages, between them and the schema, after the
        schema; tail None where no schema goes in), cut from `_encode` itself
        over stand-ins; () where the frame varies with the schema (a grammar)."""
        if self.cfg.json_mode == "gbnf" and not no_schema:
            return ()
        body = self._body([], None if no_schema else _SCHEMA_MARK, max_tokens)
        body["messages"] = _MESSAGES_MARK
        head, found, rest = _encode(body).decode("utf-8").partition(_dumps(_MESSAGES_MARK))
        mid, schema_found, tail = rest.partition(_dumps(_SCHEMA_MARK))
        if not found or _dumps(_MESSAGES_MARK) in rest or _dumps(_SCHEMA_MARK) in tail:
            return ()
        return (head, mid, tail) if schema_found else (head, rest, None)

    async def post(self, data: bytes, *, max_tokens: int | None = None) -> ChatResult:
        """`chat` with its body made beforehand (`request`, with the same `max_tokens`)."""
        max_tokens = max_tokens or self.cfg.max_tokens
        spent = 0.0  # seconds in requests: the back-off between two is not the server's time
        r, failed, result = self._pick(), None, None
        unconnected = 0  # tries that could not connect: no request went out
        for attempt in (1, 2):
            waited_on: set[Replica] = set()  # replicas gone silent while this try waited for its turn there
            while True:
                r.outstanding += 1
                r.peak = max(r.peak, r.outstanding)
                try:
                    async with r.gate:
                        sent = not self._silent(r)  # checked once through the gate: it may have gone silent meanwhile
                        if sent:
                            t1 = sent_at = time.perf_counter()

                            def on_sent() -> None:  # the request goes out: a late drop is judged from here
                                nonlocal sent_at
                                sent_at = time.perf_counter()

                            result = await self._post(r, data, max_tokens, on_sent)
                            done = time.perf_counter()
                            took, waited = done - t1, done - sent_at
                            spent += took
                            if _answered(result):  # as the model's line: a call that never came back has no latency
                                r.latencies_ms.append(took * 1000)
                                r.answered += 1
                finally:
                    r.outstanding -= 1
                if sent:
                    break
                waited_on.add(r)
                other = self._pick(avoid=r)  # a replica still answering takes the try, rather than a silent pass
                if other in waited_on or self._silent(other):
                    break
                r = other
            if not sent:  # a retry not sent keeps the fault it followed
                result = result or ChatResult(fault="silent", detail=self._silence(r), replica=r.url)
                break
            if result.fault == "connect":
                r.unconnected += 1
                unconnected += 1
            else:
                r.calls += 1
            result.attempts, result.unconnected, result.replica = attempt, unconnected, r.url
            result.failover_from = failed.url if failed is not None and failed is not r else None
            if result.fault:
                r.faults[result.fault] += 1
            late = result.fault == "dropped" and waited >= LATE_DROP_SHARE * self.cfg.timeout_s
            if late:  # the wait for the reply, connecting not counted, as timeout_s times it
                result.detail += f" (after {waited:.2f} s of timeout_s {self.cfg.timeout_s:g} s)"
            retry = result.fault in RETRYABLE and not late  # a late drop waited as a timeout does: not sent again
            r.strikes = r.strikes + 1 if _sick(result.fault) or late else 0
            if result.waited or late:
                r.unanswered += 1
                r.unconnected_in_row += result.waited == "connect_timeout_s"
                r.late_drops += late
            else:
                r.unanswered, r.unconnected_in_row, r.late_drops = 0, 0, 0
            if not r.strikes and result.fault is None:
                r.sick_downs = 0
            hung = r.unanswered >= SICK_STRIKES  # or gone dark: sent nothing until its check answers
            sick = not retry and r.strikes >= SICK_STRIKES and len(self.replicas) > 1
            if r.up and (hung or sick):
                r.sick_downs += 1
                r.strikes = 0
                self._take_out(r)  # its health check brings it back, later each time it is so taken out
            elif not retry and not r.up and not r.strikes and not hung:
                self._bring_back(r)  # it answered after all: back in rotation
            if not retry:
                break
            if attempt == 2:
                break
            if len(self.replicas) > 1:
                self._take_out(r)
            failed, r = r, self._pick(avoid=r)
            if r is failed:  # nowhere else to go: pause, then the same server again
                await asyncio.sleep(RETRY_BACKOFF_S)
            else:
                failed.failovers += 1
        result.latency_ms = spent * 1000
        return result

    def _pick(self, avoid: Replica | None = None) -> Replica:
        """The replica in rotation with the fewest outstanding calls (ties in
        turn); if none is in rotation, any but `avoid`; failing that, `avoid`."""
        reps = self.replicas
        if len(reps) == 1:
            return reps[0]
        pool = ([r for r in reps if r.up and r is not avoid] or [r for r in reps if r is not avoid and not self._silent(r)]
                or [r for r in reps if r is not avoid] or reps)
        self._turn = turn = (self._turn + 1) % len(reps)
        return min(pool, key=lambda r: (r.outstanding, (r.index - turn) % len(reps)))

    @staticmethod
    def _silent(r: Replica) -> bool:
        """Whether calls to `r` are not sent: out of rotation since its last
        SICK_STRIKES calls each waited out a deadline (timeout_s, or
        connect_timeout_s for the connection) or were dropped after
        LATE_DROP_SHARE of timeout_s or more, and its health check has not
        answered since. A hung server would cost every call its full wait,
        round after round; `_pick` sends elsewhere where it can."""
        return not r.up and r.unanswered >= SICK_STRIKES

    def _silence(self, r: Replica) -> str:
        """Why a call to a `_silent` server was not sent, as its record says it:
        each kind of wait among its last tries counted (a mix of them is told as one)."""
        n, unconnected, late = r.unanswered, r.unconnected_in_row, r.late_drops
        connect = f"within {self.cfg.connect_timeout_s:g} s (connect_timeout_s)"
        reply = f"within {self.cfg.timeout_s:g} s (timeout_s)"
        hung = f"hung up after {LATE_DROP_SHARE * self.cfg.timeout_s:g} s or more with no whole reply"
        if unconnected == n:
            said = f"took none of its last {n} connections {connect}"
        elif not unconnected:
            said = f"answered none of its last {n} calls {reply}" + (f", {late} of them {hung}" if late else "")
        else:
            kinds = [f"{unconnected} took no connection {connect}"]
            if n - unconnected - late:
                kinds.append(f"{n - unconnected - late} had no whole reply {reply}")
            if late:
                kinds.append(f"{late} {hung}")
            said = f"answered none of its last {n} tries: " + ", ".join(kinds)
        return f"not sent: {r.url} {said}; asked again once it answers its health check"

    def _take_out(self, r: Replica) -> None:
        if not r.up or self._closed:
            return
        r.up = False
        r.downs += 1
        if r.lean is not None:  # its kept-alive connections went with it
            r.lean.forget(r.host, r.port)
        if r.probe is None or r.probe.done():
            r.probe = asyncio.get_running_loop().create_task(self._probe(r))

    def _bring_back(self, r: Replica) -> None:
        if not r.up:
            r.up = True
            r.backs += 1
        if r.probe is not None and r.probe is not asyncio.current_task():
            r.probe.cancel()
        r.probe = None

    async def _probe(self, r: Replica) -> None:
        """Until the replica's health check (GET models) answers 200, ask again
        with growing pauses; then it is back in rotation. A replica out for
        failing its calls (`SICK_STRIKES`) may still answer its check at once:
        its first pause doubles each time it is so taken out."""
        pause = min(self.cfg.health_interval_s * 2 ** max(0, r.sick_downs - 1), HEALTH_MAX_INTERVAL_S)
        while not r.up and not self._closed:
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, HEALTH_MAX_INTERVAL_S)
            try:
                status, _, _ = await _get(r.http, "models", HEALTH_TIMEOUT_S, self.cfg.connect_timeout_s)
            except (httpx.HTTPError, TimeoutError):
                continue
            if status == 200:
                r.probe = None
                if not r.up:
                    r.up = True
                    r.backs += 1
                return

    def replica_summary(self) -> list[dict]:
        """Per server: calls, faults, failovers, times out of rotation and back, latencies."""
        return [r.summary() for r in self.replicas]

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
        elif schema is not None and cfg.json_mode == "gbnf":  # llama.cpp servers: the schema as a merged grammar
            try:
                body["grammar"] = gbnf(schema)
            except ValueError:  # not a legal-moves schema: the server's own conversion
                body["response_format"] = {"type": "json_object", "schema": schema}
        return body

    async def _post(self, r: Replica, data: bytes, max_tokens: int,
                    on_sent: Callable[[], None] | None = None) -> ChatResult:
        """One try of a chat call on replica `r`; `on_sent()` is called as the
        request goes out on a connection."""
        try:
            if r.lean is not None:  # straight through the lean transport: no httpx Request/Response objects
                status, headers, content = await r.lean.exchange(
                    r.host, r.port, b"%s%d\r\n\r\n%s" % (r.chat_head, len(data), data),
                    connect_timeout=self.cfg.connect_timeout_s, read_timeout=self.cfg.timeout_s, on_sent=on_sent)
                _refuse_coding(next((v for k, v in headers if k.lower() == b"content-encoding"), b"").decode("latin-1"))
                location = next((v for k, v in headers if k.lower() == b"location"), None)
                location = location.decode("utf-8", "replace") if location is not None else None
            else:  # httpx's own transport: its timeouts are per read, so the whole call has a deadline too
                status, content, location = await _post_stream(r.http, data,
                                                                self.cfg.connect_timeout_s + self.cfg.timeout_s,
                                                                on_sent)
        except BodyTooLarge as e:
            return ChatResult(fault="bad_body", detail=_detail(e))
        except TimeoutError:  # httpx's transport: the whole call's deadline
            return ChatResult(fault="timeout", waited="timeout_s",
                              detail=f"no whole reply from {r.url} within "
                                     f"{self.cfg.connect_timeout_s + self.cfg.timeout_s:g} s "
                                     "(connect_timeout_s + timeout_s)")
        except httpx.DecodingError as e:  # a compressed reply (identity was asked for)
            return ChatResult(fault="bad_body", detail=_detail(e))
        except httpx.ConnectTimeout:  # no connection, or no TLS handshake, in time: its text is empty
            return ChatResult(fault="connect", waited="connect_timeout_s",
                              detail=f"no connection within {self.cfg.connect_timeout_s:g} s (connect_timeout_s)")
        except httpx.ConnectError as e:
            return ChatResult(fault="connect", detail=_detail(e))
        except httpx.ReadTimeout:  # ours: no whole reply in time after sending; httpx's: no byte in time
            return ChatResult(fault="timeout", waited="timeout_s",
                              detail=f"no whole reply from {r.url} within {self.cfg.timeout_s:g} s (timeout_s)")
        except httpx.TimeoutException as e:
            return ChatResult(fault="timeout", waited="timeout_s", detail=_detail(e))
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
            return ChatResult(fault="dropped", detail=_detail(e))
        except httpx.HTTPError as e:
            return ChatResult(fault="transport", detail=_detail(e))
        if 300 <= status < 400:  # not followed: where it pointed, shown inert and capped
            return ChatResult(fault=f"http_{status}",
                              detail="a redirect" + _redirect_hint(r.url, location, "chat/completions"))
        if not 200 <= status < 300:  # an error, or an interim reply we do not follow
            return ChatResult(fault=f"http_{status}", detail=_text(content))
        try:
            reply = json.loads(content, parse_int=_whole)
            choice = reply["choices"][0]
            message = choice["message"]
            content = message.get("content")
            usage = reply.get("usage")
            usage = usage if isinstance(usage, dict) else {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, RecursionError):
            return ChatResult(fault="bad_body", detail=_text(content) or "no body")
        finish = choice.get("finish_reason")
        content = _content_text(content)
        if content is not None and not isinstance(content, str):  # 5, true, {...}: no chat reply, not "no content"
            return ChatResult(fault="bad_body", detail=f"the message's content is {_json_kind(content)}, not text")
        # counts this request rules out are unknown, not figures for the means: a prompt of no tokens, or of more
        # than its bytes (a token is at least one) and a template's; a reply of more than the max_tokens asked
        # for, or of none where it has text
        wrote = 1 if isinstance(content, str) and content.strip() else 0
        result = ChatResult(
            # valid UTF-8 (a JSON reply may carry a lone surrogate escape); whole, for the parser to say where it
            # is too long: kept (the ledger, the panels) only as far as the parser reads (MAX_REPLY_CHARS)
            text=valid_utf8(content) if isinstance(content, str) else None,
            finish_reason=(clean_text(finish, FINISH_MAX) or None) if isinstance(finish, str) else None,
            prompt_tokens=_int(usage.get("prompt_tokens"), 1, len(data) + TEMPLATE_TOKENS),
            completion_tokens=_int(usage.get("completion_tokens"), wrote, max_tokens),
        )
        if not (result.text or "").strip():  # reasoning models may spend the budget in message.reasoning
            result.fault = "empty"
            reasoned = message.get("reasoning") or message.get("reasoning_content")  # servers name it either way
            result.detail = "no content" + (" (reasoning only)" if reasoned else
                                            f" (a tool call: {_tool_call(message)})" if message.get("tool_calls")
                                            else "")
        return result


def _tool_call(message: dict) -> str:
    """A tool-call reply's first call, as the record shows it (the game asks
    for no tools, so it is not played): its name and arguments, cleaned and
    cut short like any text a server sends."""
    calls = message.get("tool_calls")
    call = calls[0] if isinstance(calls, list) and calls and isinstance(calls[0], dict) else {}
    fn = call.get("function") if isinstance(call.get("function"), dict) else {}
    name, args = fn.get("name"), fn.get("arguments")
    text = " ".join(x if isinstance(x, str) else json.dumps(x) for x in (name, args) if x is not None)
    return clean_text(text, DETAIL_MAX) or "unnamed"


def _content_text(content: object) -> object:
    """A message's content as text: a string as it is; a list of content
    parts (as some servers send: `[{"type": "text", "text": "..."}]`) as its
    text parts joined (none at all: no content); anything else, a list
    without a text part too, as it is (not text: no chat reply)."""
    if isinstance(content, list):
        parts = [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "".join(parts) if parts or not content else content
    return content


def _json_kind(value: object) -> str:
    """What a JSON value is, in words (a message's content that is not text)."""
    return ("a true/false value" if isinstance(value, bool) else "a number" if isinstance(value, (int, float))
            else "an object" if isinstance(value, dict) else "a list with no text part" if isinstance(value, list)
            else f"a {type(value).__name__}")


class _Unreachable(ModelServerError):
    """A replica that did not answer at all (as opposed to one serving the wrong model)."""


def _text(content: bytes) -> str:
    return clean_text(content[:DETAIL_MAX * 4].decode("utf-8", "replace"), DETAIL_MAX)


def _redirect_hint(url: str, location: str | None, path: str = "models") -> str:
    """Where a redirect of GET models (or of a chat call, `path`
    chat/completions) pointed, and the base_url that would reach it (its
    address less `/<path>`), for the line that refuses it: the Location as
    the server sent it is hostile text, so it goes through the sanitiser, capped."""
    where = (location or "").strip()
    try:
        where = urljoin(url.rstrip("/") + "/" + path, where) if where else ""
    except ValueError:  # no address urljoin can read ("http://[bad"): shown as it came
        pass
    where = clean_text(where, DETAIL_MAX)
    if not where:
        return " with no Location (redirects are not followed)"
    base = where.split("?", 1)[0].rstrip("/")
    base = base.removesuffix("/" + path) if base.endswith("/" + path) else ""
    asked = url.rstrip("/") + "/" + path
    if where == asked:  # no base_url to suggest: the one in hand
        return f" to {where}, the address asked (a loop: redirects are not followed)"
    if base == url.rstrip("/"):  # a slash or a query added (Starlette's redirect_slashes): no base_url reaches it
        return (f" to {where}, under this same base_url (redirects are not followed, and no other base_url "
                f"reaches it: the server must answer {asked} itself)")
    return (f" to {where} (redirects are not followed: "
            + (f"set base_url to {base})" if base else "set base_url to the server's own address)"))


def _v1_hint(url: str) -> str:
    """What to ask a user whose server has no models route at base_url: an
    OpenAI-compatible server serves it under /v1 (vLLM's answers 404 at
    /models), so a base_url whose path does not end in /v1 may lack it."""
    return "" if urlsplit(url).path.rstrip("/").endswith("/v1") else " (does base_url need to end in /v1?)"


def _refuse_coding(content_encoding: str) -> None:
    """We ask for identity (IDENTITY); a reply whose Content-Encoding says
    otherwise is refused, its body unread (a small one can inflate to gigabytes)."""
    coding = content_encoding.strip().lower()
    if coding not in ("", "identity"):
        raise httpx.DecodingError(f"the reply is {clean_text(coding, 40)}-encoded; identity was asked for")


async def _read_capped(resp: httpx.Response) -> bytes:
    """The raw body, at most BODY_MAX bytes (else BodyTooLarge, read no further)."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > BODY_MAX:
        raise too_large(int(declared))
    chunks, size = [], 0
    async for chunk in resp.aiter_raw():
        size += len(chunk)
        if size > BODY_MAX:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


async def _get(http: httpx.AsyncClient, path: str, wait: float,
               connect: float) -> tuple[int, bytes, str | None]:
    """GET `path`: (status, body, its Location header if any), within `wait` seconds in all (else
    TimeoutError), connected (TLS handshake included) within `connect` of
    them (else httpx.ConnectTimeout: a port that takes the connection and
    then says nothing is no server, and waited for no longer than one down)."""
    return await _fetch(http, "GET", path, wait, headers=IDENTITY,
                        timeout=httpx.Timeout(wait, connect=min(connect, wait)))


async def _post_stream(http: httpx.AsyncClient, data: bytes, wait: float,
                       on_sent: Callable[[], None] | None = None) -> tuple[int, bytes, str | None]:
    """POST a chat body through httpx's own transport: (status, body, its
    Location header if any), within `wait` seconds in all; `on_sent()` as the
    request's head goes out on a connection (httpcore's trace)."""
    return await _fetch(http, "POST", "chat/completions", wait, on_sent, content=data, headers=JSON_HEADERS)


H11_NOT_CHUNKED = "Only Transfer-Encoding: chunked is supported"  # h11's words for a coding it does not read
H11_TE_AGAIN = "multiple Transfer-Encoding headers"  # ... and for a second Transfer-Encoding line after chunked
HTTPCORE_UNANSWERED = "Server disconnected without sending a response."  # httpcore's words for UNANSWERED ...
H11_MID_RESPONSE = "peer closed connection without sending complete message body"  # ... and h11's for MID_RESPONSE
H11_HEAD_TOO_LONG = "Receive buffer too long"  # h11's words for HEAD_TOO_LONG (a head past its 16 KB)
H11_BAD_STATUS = re.compile(r"illegal status line: bytearray\((b'.*'|b\".*\")\)", re.S)  # ... and for no status line


async def _fetch(http: httpx.AsyncClient, method: str, path: str, wait: float,
                 on_sent: Callable[[], None] | None = None, **kw) -> tuple[int, bytes, str | None]:
    """One request through `http`: (status, body, its Location header if any),
    within `wait` seconds in all; `on_sent()` as the request's head goes out
    on a connection (httpcore's trace). Faults are said, and counted, as the
    lean transport says and counts them: a connection closed before a
    response began (UNANSWERED) or within one (MID_RESPONSE), by a close or
    a reset; a new connection to the server itself (no proxy between) found
    closed before the request went on it, a connect fault (CLOSED_AS_MADE),
    not a dropped request; a connection not made, in the system's words
    (`os_reason`); a transfer coding other than chunked, which h11 refuses
    with the head unseen (its value too)."""
    url = http.base_url
    direct = _direct(str(url))
    host, port = url.host, url.port or (443 if url.scheme == "https" else 80)
    made = []  # the connection this request made, if it made one

    async def trace(event: str, info: dict) -> None:
        if event == "connection.connect_tcp.complete":
            made.append(info.get("return_value"))
        elif event == "http11.send_request_headers.started":
            # only plain http: on TLS, the server's session tickets are there to read
            if direct and url.scheme == "http" and made and made[-1] is not None \
                    and made[-1].get_extra_info("is_readable"):
                sock = made[-1].get_extra_info("socket")
                raise cannot_connect(host, port, made_unusable(sock.fileno()) if sock is not None else CLOSED_AS_MADE)
            if on_sent is not None:
                on_sent()
    headed = False
    async with asyncio.timeout(wait):
        try:
            async with http.stream(method, path, extensions={"trace": trace}, **kw) as resp:
                headed = True
                _refuse_coding(resp.headers.get("content-encoding", ""))
                return resp.status_code, await _read_capped(resp), resp.headers.get("location")
        except httpx.ReadError as e:
            if str(e).strip():
                raise
            raise httpx.ReadError(MID_RESPONSE if headed else UNANSWERED) from e
        except httpx.RemoteProtocolError as e:
            said = str(e)
            if said == H11_NOT_CHUNKED:
                raise coding_refused(None) from e
            if said == H11_TE_AGAIN:
                raise httpx.RemoteProtocolError(TE_AGAIN) from e
            if said == HTTPCORE_UNANSWERED:
                raise httpx.RemoteProtocolError(UNANSWERED) from e
            if said.startswith(H11_MID_RESPONSE):
                raise httpx.RemoteProtocolError(MID_RESPONSE) from e
            if said == H11_HEAD_TOO_LONG and not headed:  # once headed, a chunk's size line or trailers: its words
                raise httpx.RemoteProtocolError(HEAD_TOO_LONG) from e
            line = _h11_status_line(said)
            if line is not None:
                raise bad_status_line(line) from e
            raise
        except httpx.ConnectError as e:
            cause = _os_cause(e)
            if not direct or cause is None or str(e).startswith("cannot connect to "):  # through a proxy: its words
                raise
            raise cannot_connect(host, port, os_reason(cause)) from e


def _h11_status_line(said: str) -> bytes | None:
    """The line h11 refused as no status line, from its words ("illegal status line: bytearray(b'...')")."""
    found = H11_BAD_STATUS.fullmatch(said)
    if found is None:
        return None
    try:
        line = ast.literal_eval(found[1])
    except (ValueError, SyntaxError):
        return None
    return line if isinstance(line, bytes) else None


def _os_cause(e: BaseException) -> OSError | None:
    """The system's error at the root of `e` (httpx's ConnectError wraps httpcore's, anyio's, then the socket's)."""
    seen = 0
    while e is not None and seen < 16:
        if isinstance(e, OSError) and e.errno:
            return e
        e, seen = e.__cause__ or e.__context__, seen + 1
    return None


def _encode(body: dict) -> bytes:
    """The request body as httpx's `json=` would send it (compact, UTF-8),
    byte for byte; the messages from `_messages_json` (the shared system
    text encoded once), the schema, last, from `legal.schema_json`'s kept text."""
    fmt = body.get("response_format")
    parts = [f"{_scalar(k)}:{_messages_json(v) if k == 'messages' else _scalar(v)}"
             for k, v in body.items() if k != "response_format"]
    if fmt is not None:
        if fmt.get("type") == "json_schema" and list(fmt) == ["type", "json_schema"] \
                and list(fmt["json_schema"]) == ["name", "schema", "strict"]:
            inner = fmt["json_schema"]
            parts.append(f'"response_format":{{"type":"json_schema","json_schema":{{"name":{_scalar(inner["name"])},'
                         f'"schema":{schema_json(inner["schema"])},"strict":{_scalar(inner["strict"])}}}}}')
        elif fmt.get("type") == "json_object" and list(fmt) == ["type", "schema"]:
            parts.append(f'"response_format":{{"type":"json_object","schema":{schema_json(fmt["schema"])}}}')
        else:
            parts.append(f'"response_format":{_dumps(fmt)}')
    return ("{" + ",".join(parts) + "}").encode("utf-8")


PREPARED = "prepared request"  # a view's memo key: the (messages, schema, body) `prepare_round` made for it
_MESSAGES_MARK = "\x00messages\x00"   # stand-ins `ChatClient._frame` cuts a body's frame at
_SCHEMA_MARK = {"\x00schema\x00": 0}
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)  # made once, not per call
_dumps = _ENCODER.encode
_SCALARS: dict[tuple[type, object], str] = {}  # a body's keys and settings (model, temperature, ...): encoded once
SCALARS_MAX = 4096
SCALAR_CHARS = 64


def _scalar(v) -> str:
    """`_dumps(v)`; a short str, an int, float, bool or None from a small cache
    (not a grammar: long, and new each turn)."""
    t = type(v)
    if ((t not in (str, int, float, bool) and v is not None) or (t is float and v == 0)  # 0.0 == -0.0: not cached
            or (t is str and len(v) > SCALAR_CHARS)):
        return _dumps(v)
    text = _SCALARS.get((t, v))
    if text is None:
        if len(_SCALARS) > SCALARS_MAX:
            _SCALARS.clear()
        text = _SCALARS[(t, v)] = _dumps(v)
    return text

def _messages_json(messages) -> str:
    """`_dumps(messages)`, byte for byte; the system text (one object for
    every creature of a world) is encoded once."""
    if not isinstance(messages, list) or not all(type(m) is dict and tuple(m) == ("role", "content")
                                                  and type(m["content"]) is str for m in messages):
        return _dumps(messages)
    out = []
    for m in messages:
        text = m["content"]
        encoded = once_per(text, "json", _dumps) if m["role"] == "system" else _dumps(text)
        out.append(f'{{"role":{_scalar(m["role"])},"content":{encoded}}}')
    return "[" + ",".join(out) + "]"


def _direct(url: str) -> bool:
    """Whether a client connects to `url`'s server itself: a server on this
    machine (no proxy from the environment is let between), or one no proxy is set for."""
    return urlsplit(url).hostname in LOOPBACK or not _proxied(url)


def _proxied(url: str) -> bool:
    """Whether the environment sends `url` through a proxy (then httpx's own transport goes)."""
    host = urlsplit(url).hostname or ""
    proxies = urllib.request.getproxies()
    return bool(proxies.get("http") or proxies.get("all")) and not urllib.request.proxy_bypass(host)


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


def _whole(text: str) -> int | None:
    """A JSON whole number of a reply: one past any count (Python refuses to
    read a number of over 4,300 digits, which cost the reply) is no number (None)."""
    return int(text) if len(text) <= 40 else None


def _int(v: object, least: int = 0, most: int = TOKENS_MAX) -> int | None:
    """A usage count as the server gave it, if it can be one (`least`..`most`, within 0..TOKENS_MAX); else unknown."""
    return (v if isinstance(v, int) and not isinstance(v, bool) and max(0, least) <= v <= min(most, TOKENS_MAX)
            else None)


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

    def _messages(self, view: PublicView) -> list[dict]:
        cfg = self.client.cfg
        return build_messages(view, self.world, names=self.names, say=cfg.say,
                              temperament_line=self.temperament_line if cfg.temperament else "")

    def _schema(self, view: PublicView) -> dict:
        schema = legal_schema(view, self.world.good_names, self.names)  # this round's legal moves only
        return schema if self.client.cfg.say else without_say(schema)

    @staticmethod
    def prepare_round(pairs: list[tuple["LLMBrain", PublicView]]) -> None:
        """Make the round's requests before any creature is asked (the runner
        calls this with every model brain and its view), a stage at a time:
        every view's market moves, then every prompt, every schema, every body.
        At 1,000 creatures that costs about a fifth less CPU than each creature
        making its own request in turn (the same code stays hot; BENCHMARKS.md,
        "The model path at 1,000 creatures"). The request waits in the view's
        memo for `decide`; a creature whose request fails to build here is
        left to `decide`, which builds it again and records the fault."""
        stages = (lambda brain, view: moves_of(view),
                  lambda brain, view, *_: brain._messages(view),
                  lambda brain, view, *_: brain._schema(view),
                  lambda brain, view, _, messages, schema: brain.client.request(messages, schema))
        jobs = [[brain, view] for brain, view in pairs]  # each grows by what each stage makes for it
        for stage in stages:
            done = []
            for job in jobs:
                try:
                    job.append(stage(*job))
                except Exception:
                    continue
                done.append(job)
            jobs = done
        for _, view, _, messages, schema, data in jobs:
            view.memo[PREPARED] = (messages, schema, data)

    async def decide(self, view: PublicView) -> Decision:
        messages: list[dict] = []
        try:
            prepared = view.memo.pop(PREPARED, None)
            if prepared is not None:
                messages, schema, data = prepared
            else:
                messages = self._messages(view)
                schema = self._schema(view)
                data = self.client.request(messages, schema)
                # Asked without `prepare_round`, every creature of a round at once: yielding here, each
                # makes its request before any is sent, rather than each between other calls' socket work.
                await asyncio.sleep(0)
            return await self._ask(messages, schema, data)
        except Exception as e:  # a brain never takes the round down: the failure becomes a recorded pass
            reason = f"fault: {type(e).__name__}: {clean_text(e, DETAIL_MAX)}"
            return Decision(PASS, "fault", reason, call={
                "model": self.client.cfg.name, "creature": self.name, "messages": messages, "raw": None,
                "action": None, "outcome": "fault", "reason": reason, "repairs": [], "fault": "internal"})

    async def _ask(self, messages: list[dict], schema: dict, data: bytes) -> Decision:
        cfg = self.client.cfg
        goods = self.world.good_names
        result = await self.client.post(data)
        parsed = parse_reply(result.text, goods, self.names)
        attempts, unconnected, latency_ms = result.attempts, result.unconnected, result.latency_ms
        answered = [result] if _answered(result) else []  # the requests whose tokens the decision counts
        raw, finish = result.text, result.finish_reason  # the reply kept, and how it ended
        if _cut(result, parsed):  # cut off mid-object: once more with room to finish
            result = await self.client.chat(messages, schema, max_tokens=cfg.max_tokens * 2)
            parsed = parse_reply(result.text, goods, self.names)
            attempts, latency_ms = attempts + result.attempts, latency_ms + result.latency_ms
            unconnected += result.unconnected
            answered += [result] if _answered(result) else []
            if result.text is not None:  # a re-ask that failed keeps the reply it followed
                raw, finish = result.text, result.finish_reason
            if _cut(result, parsed):  # cut off again: what json_repair closed may end in a cut number ("1" of "12")
                parsed = Parsed(None, "rejected", parsed.repairs, f"unparseable: cut off at {cfg.max_tokens * 2} tokens")
        if result.finish_reason == "length" and parsed.action is not None:
            parsed.repairs.append("truncated")
            parsed.outcome, parsed.reason = "repaired", "repaired: " + ", ".join(parsed.repairs)

        if result.fault:
            outcome = "fault"
            reason = f"fault: {result.fault}" + (f": {result.detail}" if result.detail else "")
        else:
            outcome, reason = parsed.outcome, parsed.reason
        action = parsed.action if outcome != "fault" else None
        if action is not None and action.say and not cfg.say:  # a say line the model was not to write: dropped
            action = action.model_copy(update={"say": None})
        counted = None
        prompt_tokens = 0 if answered else None  # None: no server read the prompt
        for r in answered:  # a server that does not say is counted here (the same prompt each time)
            if r.prompt_tokens is None and counted is None:
                counted = count_tokens(messages, self.tokenizer)
            prompt_tokens += r.prompt_tokens if r.prompt_tokens is not None else counted
        completions = [r.completion_tokens for r in answered if r.completion_tokens is not None]
        raw = raw[:MAX_REPLY_CHARS] if raw is not None else None  # the reply kept: what the parser read of it
        return Decision(action or PASS, outcome, reason, raw=raw, call={
            "model": cfg.name, "creature": self.name, "messages": messages, "raw": raw,
            "action": action.compact() if action else None, "outcome": outcome, "reason": reason,
            "repairs": parsed.repairs, "latency_ms": round(latency_ms, 1), "prompt_tokens": prompt_tokens,
            "completion_tokens": sum(completions) if completions else None, "finish_reason": finish,
            "fault": result.fault, "attempts": attempts, "unconnected": unconnected, "replica": result.replica,
            "failover_from": result.failover_from,
        })


def _key_hint(cfg: ModelConfig) -> str:
    """What to tell a user whose server refused us for want of a key."""
    if cfg.api_key_env:
        set_ = "is set" if os.environ.get(cfg.api_key_env) else "is not set"
        return f" (the key is read from ${cfg.api_key_env}, which {set_})"
    if cfg.api_key:
        return " (the roster's api_key was sent)"
    return (" (no API key was sent: a roster names the environment variable that holds it with api_key_env; "
            "a save keeps that name but never a literal api_key, so a run begun with one cannot be resumed: "
            "start it anew with api_key_env)")


def _sick(fault: str | None) -> bool:
    """A fault of the server, not of the request or the model: an HTTP 5xx, a
    body that is no chat reply, no answer in time."""
    return fault is not None and (fault.startswith("http_5") or fault in ("bad_body", "timeout"))


def _answered(result: ChatResult) -> bool:
    """Whether the server read the request and answered it (even emptily): its prompt was spent."""
    return result.fault in (None, "empty")


def _cut(result: ChatResult, parsed: Parsed) -> bool:
    """Whether a reply stopped at max_tokens before its action was whole: nothing
    parsed, or json_repair closed an object that ends in a number, which may
    be cut short ("price":1 of "price":12). A say line cut short is only shorter."""
    if result.finish_reason != "length":
        return False
    return parsed.action is None or ("json_repair" in parsed.repairs
                                     and (result.text or "").rstrip()[-1:] in tuple("0123456789.+-"))


# ---- measures -------------------------------------------------------------------
@dataclass
class ModelStats:
    calls: int = 0     # decisions that went to the model
    requests: int = 0  # HTTP requests they sent (a retry or a re-ask is one more)
    unconnected: int = 0  # their attempts that could not connect: not sent, not among `requests`
    clean: int = 0
    repaired: int = 0
    rejected_schema: int = 0   # a reply that was JSON but no action the schema admits
    unparseable: int = 0       # a reply with no action in it at all (no JSON object, empty, cut off)
    repairs: Counter = field(default_factory=Counter)          # repair tag -> count
    rejected_engine: Counter = field(default_factory=Counter)  # engine Reason -> count
    faults: Counter = field(default_factory=Counter)           # fault kind -> count
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    answered: int = 0  # calls that came back: more than LATENCY_WINDOW, the percentiles are of the last ones
    prompt_tokens_max: int = 0
    prompt_tokens_sum: int = 0
    prompt_tokens_n: int = 0

    def summary(self) -> dict:
        valid = self.clean + self.repaired
        lat = sorted(self.latencies_ms)
        return {
            "calls": self.calls, "requests": self.requests, "unconnected": self.unconnected,
            "clean": self.clean, "repaired": self.repaired,
            "rejected_schema": self.rejected_schema, "unparseable": self.unparseable,
            "rejected_engine": dict(self.rejected_engine),
            "faults": dict(self.faults), "repairs": dict(self.repairs),
            "valid_rate": _ratio(valid, self.calls),
            "repair_rate": _ratio(self.repaired, valid),
            "latency_ms": {"mean": _ratio(sum(lat), len(lat)),
                           "p50": nearest_rank(lat, 0.5), "p95": nearest_rank(lat, 0.95),
                           "max": lat[-1] if lat else None, "of": len(lat), "answered": self.answered},
            "prompt_tokens": {"mean": _ratio(self.prompt_tokens_sum, self.prompt_tokens_n),
                              "max": self.prompt_tokens_max if self.prompt_tokens_n else None},
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
        # a record without `unconnected` (the ledger keeps neither field; a record made by hand) counts every
        # attempt it has as sent, as before the field was kept
        unconnected = call.get("unconnected") or 0
        s.requests += (call.get("attempts") or 0) - unconnected
        s.unconnected += unconnected
        if decision.outcome == "clean":
            s.clean += 1
        elif decision.outcome == "repaired":
            s.repaired += 1
        elif decision.outcome == "rejected" and decision.reason.startswith(ENGINE_PREFIX):
            s.rejected_engine[decision.reason.removeprefix(ENGINE_PREFIX)] += 1  # the runner's verdict
        elif decision.outcome == "rejected" and decision.reason.startswith("unparseable"):
            s.unparseable += 1
        elif decision.outcome == "rejected":
            s.rejected_schema += 1
        elif decision.outcome == "fault":
            s.faults[call.get("fault") or "internal"] += 1
        s.repairs.update(call.get("repairs") or ())
        if served(call) and call.get("latency_ms") is not None:  # a call that never came back has no latency
            s.latencies_ms.append(call["latency_ms"])
            s.answered += 1
        if call.get("prompt_tokens") is not None:  # None: no server read its prompt
            s.prompt_tokens_max = max(s.prompt_tokens_max, call["prompt_tokens"])
            s.prompt_tokens_sum += call["prompt_tokens"]
            s.prompt_tokens_n += 1

    def summary(self) -> dict:
        return {model: s.summary() for model, s in sorted(self.models.items())}


def replica_lines(clients: dict[str, "ChatClient"]) -> list[str]:
    """Per-replica figures of the models served by more than one server, as `wood sim` prints them."""
    out = []
    for name, client in sorted(clients.items()):
        if len(client.replicas) < 2:
            continue
        out.append(f"model {name}: {len(client.replicas)} replicas")
        for r in client.replica_summary():
            faults = ", ".join(f"{k} {v}" for k, v in sorted(r["faults"].items())) or "none"
            unsent = could_not_connect(r["unconnected"], r["calls"])
            out.append(f"  {r['url']}: {counted(r['calls'], 'request')}{f' ({unsent})' if unsent else ''}, "
                       f"faults {sum(r['faults'].values())} ({faults}), "
                       f"failed over {r['failovers']}, out of rotation {r['downs']}x, back {r['backs']}x"
                       + (f", p50 {r['latency_ms']['p50']:.0f} ms{latency_window(r['latency_ms'])}"
                          if r["latency_ms"]["p50"] is not None else ""))
    return out


def could_not_connect(unconnected: int, requests: int) -> str:
    """`3 more attempts could not connect` beside `requests` sent (`3 attempts
    could not connect` where none was), as the summaries say it; "" for none."""
    if not unconnected:
        return ""
    return f"{counted(unconnected, 'more attempt' if requests else 'attempt')} could not connect"


def latency_window(lat: dict) -> str:
    """` (of the last 4,096 of 10,000 answered)` where the percentiles in
    `lat` (a summary's `latency_ms`) are of the last LATENCY_WINDOW answered
    calls only, not of all of them; "" where they are of all."""
    of, answered = lat.get("of", 0), lat.get("answered", 0)
    return f" (of the last {of:,} of {answered:,} answered)" if answered > of else ""


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b else None


def nearest_rank(xs: list[float], q: float) -> float | None:
    """The q-th percentile of sorted `xs`, by nearest rank (the `wood sim` summary's and the bench's)."""
    return xs[max(0, math.ceil(q * len(xs)) - 1)] if xs else None
