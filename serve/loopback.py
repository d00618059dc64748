"""A fast OpenAI-compatible model server on 127.0.0.1, for benchmarks, tests
and development without a GPU: it answers every chat completion with a valid
action at once, or after a fixed latency, at most `concurrency` at a time.

    python -m serve.loopback --port 8020 --latency-ms 200 --concurrency 1024

Then point a roster's model at `http://127.0.0.1:8020/v1` with `model =
"loopback"` (chat requests for any name are answered, but GET /v1/models
lists only "loopback", or the `--model` names, and a game refuses a model
its server does not list). It runs in its own process, so what it spends is not the
game's CPU time; `LoopbackServer` starts and stops one from Python.

The reply comes from the request itself: with a `response_format` schema (the
game's per-turn legal-moves schema), one `anyOf` branch chosen at random
(seeded) and its required fields filled from their enums; without one,
`{"action": "pass"}`. Like vLLM it reports `usage` (prompt tokens estimated
from characters), serves GET /health and /v1/models, and keeps requests
beyond `concurrency` waiting in a queue (vLLM's `--max-num-seqs`). GET /stats
says how many requests it has served and the most it has held at once.

The server side is plain asyncio (no dependency): HTTP/1.1 with keep-alive,
one request at a time per connection, Content-Length bodies only.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

HOST = "127.0.0.1"
CHARS_PER_TOKEN = 2.7  # as engine.prompts estimates without a tokenizer
WHISPER = "the honey is good this year"
MAX_BODY = 16 * 1024 * 1024


# ---- replies ------------------------------------------------------------------
def choose_action(schema: dict | None, rng: random.Random, policy: str = "schema") -> dict:
    """A valid action for `schema` (the legal-moves schema): one branch of its
    `anyOf`, required fields filled from their enums. `pass` when there is no
    schema, or under policy "pass"."""
    if policy == "pass" or not isinstance(schema, dict):
        return {"action": "pass"}
    branches = schema.get("anyOf") or [schema]
    branch = rng.choice(branches)
    props = branch.get("properties") or {}
    out: dict = {}
    for key in branch.get("required") or list(props)[:1]:
        spec = props.get(key) or {}
        if spec.get("enum"):
            out[key] = rng.choice(spec["enum"])
        elif spec.get("type") == "string":
            out[key] = WHISPER[: spec.get("maxLength", len(WHISPER))]
        elif spec.get("type") == "integer":
            out[key] = spec.get("minimum", 1)
    return out or {"action": "pass"}


class Loopback:
    """The server's state: what it answers, its queue and its counters."""

    def __init__(self, *, latency_s: float = 0.0, concurrency: int = 1024, models: tuple[str, ...] = ("loopback",),
                 policy: str = "schema", seed: int = 0, any_model: bool = True):
        self.latency_s = latency_s
        self.concurrency = concurrency
        self.models = models
        self.any_model = any_model
        self.policy = policy
        self.rng = random.Random(seed)
        self.active = 0        # requests "generating" (held for latency_s)
        self.queue: deque = deque()
        self.requests = 0
        self.max_active = 0
        self.max_held = 0      # generating + queued
        self.started = time.time()
        self.loop: asyncio.AbstractEventLoop | None = None

    # called by a connection with one complete request
    def handle(self, conn: "HttpConnection", method: str, path: str, body: bytes) -> None:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path in ("/health", ""):
            conn.respond(200, b"", "text/plain")
        elif method == "GET" and path.endswith("/models"):
            conn.respond_json(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "loopback"}
                                                               for m in self.models]})
        elif method == "GET" and path == "/stats":
            conn.respond_json(200, {"requests": self.requests, "active": self.active, "queued": len(self.queue),
                                    "max_active": self.max_active, "max_held": self.max_held,
                                    "latency_ms": self.latency_s * 1000, "concurrency": self.concurrency,
                                    "cpu_s": time.process_time(), "pid": os.getpid()})
        elif method == "POST" and path.endswith("/chat/completions"):
            self._chat(conn, body)
        else:
            conn.respond_json(404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}})

    def _chat(self, conn: "HttpConnection", body: bytes) -> None:
        try:
            req = json.loads(body)
            messages = req["messages"]
            model = req.get("model")
        except (ValueError, KeyError, TypeError):
            conn.respond_json(400, {"error": {"message": "bad request body", "type": "invalid_request_error"}})
            return
        if not self.any_model and model not in self.models:
            conn.respond_json(404, {"error": {"message": f"The model `{model}` does not exist.", "type": "NotFoundError"}})
            return
        self.requests += 1
        fmt = req.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else fmt.get("schema")
        content = json.dumps(choose_action(schema, self.rng, self.policy), separators=(",", ":"))
        chars = sum(len(m.get("content") or "") for m in messages if isinstance(m, dict))
        reply = json.dumps({
            "id": f"chatcmpl-loop{self.requests}", "object": "chat.completion", "created": int(self.started),
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": math.ceil(chars / CHARS_PER_TOKEN), "completion_tokens": len(content) // 3,
                      "total_tokens": math.ceil(chars / CHARS_PER_TOKEN) + len(content) // 3},
        }, separators=(",", ":")).encode()
        if self.latency_s <= 0:
            conn.respond(200, reply, "application/json")
            return
        self.queue.append((conn, reply))
        self.max_held = max(self.max_held, self.active + len(self.queue))
        self._admit()

    def _admit(self) -> None:
        while self.queue and self.active < self.concurrency:
            conn, reply = self.queue.popleft()
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.loop.call_later(self.latency_s, self._finish, conn, reply)

    def _finish(self, conn: "HttpConnection", reply: bytes) -> None:
        self.active -= 1
        conn.respond(200, reply, "application/json")
        self._admit()


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: reads requests one at a time and
    hands each to `server.handle(conn, method, path, body)`, which answers
    with `conn.respond(...)` or `conn.respond_json(...)`, now or later (from
    the event loop's thread). Shared by serve.batched."""

    def __init__(self, server):
        self.server = server
        self.buf = bytearray()
        self.busy = False
        self.close_after = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._next()

    def _next(self) -> None:
        if self.busy or self.transport is None:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > 65536:
                self.transport.close()
            return
        lines = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        try:
            method, path, version = lines[0].split(" ", 2)
        except ValueError:
            self.transport.close()
            return
        length, close = 0, version == "HTTP/1.0"
        for line in lines[1:]:
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key == "content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = -1
            elif key == "connection":
                close = value.strip().lower() == "close"
        if not 0 <= length <= MAX_BODY:
            self.transport.close()
            return
        if len(self.buf) < end + 4 + length:
            return
        body = bytes(self.buf[end + 4:end + 4 + length])
        del self.buf[:end + 4 + length]
        self.busy, self.close_after = True, close
        self.server.handle(self, method, path, body)

    def respond_json(self, status: int, payload: dict) -> None:
        self.respond(status, json.dumps(payload).encode(), "application/json")

    def respond(self, status: int, data: bytes, content_type: str) -> None:
        if self.transport is None:  # the client went away while it waited
            return
        reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error",
                  503: "Service Unavailable"}.get(status, "Error")
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n"
                f"{'Connection: close' if self.close_after else 'Connection: keep-alive'}\r\n\r\n")
        self.transport.write(head.encode() + data)
        self.busy = False
        if self.close_after:
            self.transport.close()
            return
        if self.buf:
            self._next()


async def serve(port: int, host: str = HOST, *, ready=None, **options) -> None:
    """Serve until cancelled; `ready(port)` is called once it listens."""
    state = Loopback(**options)
    state.loop = asyncio.get_running_loop()
    server = await state.loop.create_server(lambda: HttpConnection(state), host, port, backlog=4096)
    if ready is not None:
        ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def host_arg(text: str) -> str:
    """--host: a host name or an IP address, IPv6 bare (engine.brains.config.check_host's rule, imported
    only when --host is given: the default start stays quick); else a usage error."""
    from engine.brains.config import check_host

    try:
        return check_host(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def port_arg(text: str) -> int:
    """--port: 0 (any free port) to 65535; else a usage error (bind had raised OverflowError)."""
    if not text.strip().isascii() or not text.strip().isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return int(text)


LATENCY_MS_MAX = 3_600_000  # an hour: a reply held longer is no model's
CONCURRENCY_MAX = 1_000_000


def served_at(host: str | None, port: int) -> str:
    """The base URL a server started with --host `host` (None: the default) prints."""
    if host is None:
        return f"http://{HOST}:{port}/v1"
    from engine.brains.config import url_host

    return f"http://{url_host(host)}:{port}/v1"


def main(argv: list[str] | None = None) -> int:
    from engine.flags import Parser, bounded_decimal, bounded_int, whole_arg  # numbers as `wood` reads them; a repeat refused

    ap = Parser(prog="python -m serve.loopback", description=__doc__.splitlines()[0])
    ap.add_argument("--host", type=host_arg, help=f"the address to listen on (default {HOST}; IPv6 bare: ::1)")
    ap.add_argument("--port", type=port_arg, default=0, help="0: any free port (printed when ready)")
    ap.add_argument("--latency-ms", type=bounded_decimal(0, LATENCY_MS_MAX, f"0 to {LATENCY_MS_MAX:,} milliseconds"),
                    default=0.0,
                    help=f"each reply's fixed delay, 0 to {LATENCY_MS_MAX:,}")
    ap.add_argument("--concurrency", type=bounded_int(1, CONCURRENCY_MAX), default=1024,
                    help=f"requests served at once, 1 to {CONCURRENCY_MAX:,}; the rest wait in a queue")
    ap.add_argument("--model", action="append", help="a served model name (repeatable; default: loopback)")
    ap.add_argument("--strict-model", action="store_true", help="404 for a model name it does not serve (as vLLM)")
    ap.add_argument("--policy", choices=("schema", "pass"), default="schema")
    ap.add_argument("--seed", type=whole_arg, default=0)
    args = ap.parse_args(argv)

    def ready(port: int) -> None:
        print(f"loopback serving {served_at(args.host, port)}", flush=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(serve(args.port, args.host or HOST, ready=ready, latency_s=args.latency_ms / 1000,
                          concurrency=args.concurrency, models=tuple(args.model or ("loopback",)),
                          any_model=not args.strict_model, policy=args.policy, seed=args.seed))
    except KeyboardInterrupt:
        pass
    except OSError as e:  # cannot bind (the port taken, a host that is not this machine's): one line
        print(f"serve.loopback: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


# ---- the process, from Python ---------------------------------------------------
class LoopbackServer:
    """`with LoopbackServer(latency_ms=200) as srv:` a loopback server process
    on `srv.base_url` until the block ends. `kill()` ends it at once (SIGKILL),
    as a replica that dies; `start()` again brings it back on the same port."""

    def __init__(self, *, port: int | None = None, latency_ms: float = 0.0, concurrency: int = 1024,
                 models: tuple[str, ...] = ("loopback",), policy: str = "schema", seed: int = 0,
                 strict: bool = False, deadline_s: float = 20.0):
        from .embedded import free_port

        self.port = port or free_port()
        self.latency_ms = latency_ms
        self.concurrency = concurrency
        self.models = models
        self.policy = policy
        self.seed = seed
        self.strict = strict
        self.deadline_s = deadline_s
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "serve.loopback", "--port", str(self.port), "--latency-ms", str(self.latency_ms),
               "--concurrency", str(self.concurrency), "--policy", self.policy, "--seed", str(self.seed)]
        for m in self.models:
            cmd += ["--model", m]
        return cmd + (["--strict-model"] if self.strict else [])

    def start(self) -> "LoopbackServer":
        from .health import die_with_parent, wait_ready

        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.process = subprocess.Popen(self.command(), cwd=root, env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        preexec_fn=die_with_parent)
        try:
            wait_ready(f"http://{HOST}:{self.port}/health", deadline_s=self.deadline_s, interval_s=0.02,
                       max_interval_s=0.2, proc=self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stats(self) -> dict:
        import httpx

        with httpx.Client(trust_env=False, timeout=5) as c:
            return c.get(f"http://{HOST}:{self.port}/stats").json()

    def kill(self) -> None:
        """SIGKILL: the process ends mid-reply, its connections drop."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        from .health import stop_process

        if self.process is not None:
            stop_process(self.process, grace_s=2)

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
