"""A real OpenAI-compatible HTTP server on 127.0.0.1 that misbehaves on purpose.

Each POST to `.../chat/completions` plays the next scenario queued with
`play(...)` (then `default`); GET `.../models` lists `models`. Every chat
request body is kept in `requests`, so a test can see what the client sent
and how often it retried. Scenarios: a reply (valid JSON, garbage, half
JSON, fenced, harmony or <think> preambles, a JSON thought before the move,
hostile `say` or whisper text, null content, truncated output, nested too deep to read) or a failure (HTTP 400/500/503, a stall past the client's
timeout, a connection dropped mid-response (at once, or after late_drop_s), a body that is not JSON, a
body far past any reply's size, by Content-Length or chunked, a body
trickled a byte at a time, a gzip-compressed body (by Content-Encoding, or
by a Transfer-Encoding under the chunked one), chunked named twice on one Transfer-Encoding line, a redirect (its Location plain, or hostile), interim 1xx responses before
the reply (two, or a flood of them), a Content-Length with a sign, a 200 with no body at all) or a reply
with odd fields (a lone surrogate escape in the text, usage counts no server
could mean, or none for this request (2e9 prompt tokens, more reply than max_tokens, zeros), a finish_reason that is not a string, text far past any reply's
length, a content that is a number, or a list with no text part, not text). `models_mode` makes GET `.../models` answer compressed ("gzip", or
"gzip_bomb": 100 MB inflated), said to be gzip but not ("fake_gzip"), a byte at a time ("trickle": the body;
"trickle_head": the status line and headers, for HEAD_TRICKLE_BYTES bytes, before any body), asks for a key
(401, "needs_key"), is a 404 with no body ("empty_404") or a 301 to https, as a proxy
in front of a server may answer plain http ("redirect"), or a 307 to itself with a slash added
("redirect_slash") or as it is ("redirect_loop"); "v1_only" answers 404 to any GET outside /v1/, as
vLLM does (`root_url`: the base_url less its /v1).
`FREEZE` (queued, or the `default`) is a server that hangs: that chat
request, and every request after it (its model list too), is taken and
never answered until the server closes.
"""
from __future__ import annotations

import contextlib
import gzip
import json
import socket
import struct
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VALID = '{"action":"offer","side":"sell","good":"berries","qty":2,"price":6}'
HOSTILE_SAY = ("[@click=app.quit] \x1b[31mred\x1b[0m \x1b]8;;http://evil.example\x1b\\link\x1b]8;;\x1b\\ "
               "\u202eevil\u202c")

# name -> (content, finish_reason, extra message fields)
REPLIES: dict[str, tuple[str | list | None, str, dict]] = {
    "valid": (VALID, "stop", {}),
    "garbage": ("The wood is lovely this time of year.", "stop", {}),
    "half_json": ('{"action": "offer", "side": "sell", "good": "berries", "qty": 2, "price": 6', "stop", {}),
    "fenced": (f"Here you go:\n```json\n{VALID}\n```", "stop", {}),
    "harmony": ("<|channel|>analysis<|message|>Berries sell well {maybe}.<|end|>"
                f"<|start|>assistant<|channel|>final<|message|>{VALID}<|return|>", "stop", {}),
    "think": (f"<think>I hold berries; selling two {{at 6}} seems fair.</think>\n{VALID}", "stop", {}),
    "thought_first": (f'{{"thought": "I hold berries; two at 6 seems fair"}}\n{VALID}', "stop", {}),  # then the move
    "hostile": ('{"action": "pass", "say": "%s"}' % HOSTILE_SAY, "stop", {}),  # raw control bytes, as a model may
    "hostile_whisper": (json.dumps({"action": "whisper", "to": "Owl", "text": HOSTILE_SAY}), "stop", {}),  # escaped
    "null_content": (None, "stop", {"reasoning": "I should sell berries because"}),
    "null_length": (None, "length", {"reasoning": "Let me think about every good in turn"}),
    "content_parts": ([{"type": "text", "text": VALID[:20]}, {"type": "text", "text": VALID[20:]}], "stop", {}),
    "reasoning_content": (None, "stop", {"reasoning_content": "Berries are dear"}),  # another server's name for it
    "tool_call": (None, "tool_calls", {"tool_calls": [{"id": "t", "type": "function",
                                                      "function": {"name": "offer", "arguments": '{"qty": 2}'}}]}),
    "truncated": ('{"action":"offer","side":"se', "length", {}),
    "truncated_salvage": ('{"action":"pass","say":"The winter is lo', "length", {}),
    "truncated_number": ('{"action":"offer","side":"sell","good":"berries","qty":2,"price":1', "length", {}),
    # a lone surrogate escape the model wrote inside its JSON: in a number, a good's name, whom it whispers to
    "surrogate_qty": ('{"action":"offer","side":"sell","good":"berries","qty":"\\ud800","price":6}', "stop", {}),
    "surrogate_good": ('{"action":"offer","side":"sell","good":"\\udfff","qty":2,"price":6}', "stop", {}),
    "surrogate_to": ('{"action":"whisper","to":"\\ud800","text":"the \\ud800 honey is off"}', "stop", {}),
    "long_move": ('{"action":"pass","say":"%s"}' % ("la " * 11_000), "stop", {}),  # valid, past any reply's length
    # an object nested past what the decoder reads, and the objects within it not so deep: not a reply of their own
    "deep_nesting": (('{"action":' + "[" * 100) * 10 + "1" + ("]" * 100 + "}") * 10, "stop", {}),
}
FAILURES = ("http_400", "http_500", "http_503", "stall", "slow", "drop", "late_drop", "bad_body", "two_lengths",
            "bad_chunk", "huge_length", "huge_chunked", "trickle", "gzip", "gzip_transfer", "chunked_twice",
            "fake_gzip", "redirect", "redirect_hostile", "interim", "interim_flood", "bare_lf", "bare_lf_chunked",
            "signed_length", "empty_200")
ODD = ("lone_surrogate", "odd_usage", "vast_usage", "absurd_usage", "zero_usage", "odd_finish", "long_reply",
       "number_content", "list_content")  # a reply, with fields no server should send
LONG_REPLY = VALID + " " * 100_000  # a valid action, then far more text than any max_tokens
HUGE = 5 << 20  # bytes a "huge" reply sends: past the client's cap on a reply body
SCENARIOS = (*REPLIES, *FAILURES, *ODD)
FREEZE = "freeze"  # not a scenario a call meets and the server outlives: from it on, nothing is answered
REDIRECT_HOSTILE = "http://127.0.0.1:9/\x1b[2J\u202e<|im_end|>".encode() + b"a" * 5000
TRICKLE_S = 0.1  # "trickle": a byte this often (for at most 60 of them), each a chunk
HEAD_TRICKLE_BYTES = 300  # "trickle_head": a head this long, a byte every TRICKLE_S (30 s), then a 200's body


_BOMB: list[bytes] = []


def _bomb() -> bytes:
    if not _BOMB:
        _BOMB.append(gzip.compress(b" " * (100 << 20), compresslevel=9))
    return _BOMB[0]


class FaultServer:
    """`with FaultServer() as srv:` serves on `srv.base_url` until the block ends
    (or `srv.__exit__`, a server killed mid-game): then it takes no connection
    and drops those kept alive, as a server gone does."""

    def __init__(self, models: tuple[str, ...] = ("smollm2",), *, stall_s: float = 3.0, slow_s: float = 0.2,
                 late_drop_s: float = 0.7, models_mode: str = "plain"):
        self.models = models
        self.models_mode = models_mode
        self.stall_s = stall_s
        self.slow_s = slow_s
        self.late_drop_s = late_drop_s
        self.default = "valid"
        self.requests: list[dict] = []
        self.auth: list[str | None] = []  # each chat request's Authorization header
        self.max_in_flight = 0
        self.trickled_whole = threading.Event()  # set once a trickled body or head was sent to its last byte
        self.frozen = threading.Event()  # set by FREEZE: every request from then on waits for `closing`
        self.closing = threading.Event()
        self._script: deque[str] = deque()
        self._in_flight = 0
        self._open: set[socket.socket] = set()  # connections served (kept alive between requests), to drop on close
        self._closed = False
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fault = self
        self._httpd.handle_error = lambda request, address: None  # stalled replies meet closed sockets
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def root_url(self) -> str:
        """`base_url` less its /v1 (a roster's base_url missing it)."""
        return self.base_url.removesuffix("/v1")

    def play(self, *scenarios: str) -> None:
        """Queue the scenarios the next chat requests will meet, in order."""
        unknown = set(scenarios) - {*SCENARIOS, FREEZE}
        if unknown:
            raise ValueError(f"unknown scenarios {sorted(unknown)}")
        self._script.extend(scenarios)

    def __enter__(self) -> "FaultServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.closing.set()  # frozen requests end, unanswered
        self._httpd.shutdown()
        with self._lock:  # a server gone drops its kept-alive connections: their next request meets a closed one
            self._closed = True
            for conn in self._open:
                _drop(conn)
        self._httpd.server_close()

    def _opened(self, conn: socket.socket) -> None:
        with self._lock:
            if self._closed:  # taken as the server closed
                _drop(conn)
            else:
                self._open.add(conn)

    def _finished(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.discard(conn)

    def _next(self, body: dict) -> str:
        with self._lock:
            self.requests.append(body)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            return self._script.popleft() if self._script else self.default

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1


def _drop(conn: socket.socket) -> None:
    """End a connection from under its handler's thread (a read waiting for the next request returns)."""
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.server.fault._opened(self.connection)

    def finish(self) -> None:
        self.server.fault._finished(self.connection)
        super().finish()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        srv: FaultServer = self.server.fault
        if srv.frozen.is_set():
            srv.closing.wait()
            self.close_connection = True
        elif srv.models_mode == "v1_only" and not self.path.startswith("/v1/"):  # as vLLM: its routes are under /v1
            self._json(404, {"detail": "Not Found"})
        elif self.path.rstrip("/").endswith("/models"):
            listing = json.dumps({"object": "list", "data": [{"id": m, "object": "model"} for m in srv.models]})
            if srv.models_mode == "gzip":
                self._raw(200, gzip.compress(listing.encode()), "application/json", {"Content-Encoding": "gzip"})
            elif srv.models_mode == "fake_gzip":
                self._raw(200, listing.encode(), "application/json", {"Content-Encoding": "gzip"})
            elif srv.models_mode == "gzip_bomb":  # about 100 KB on the wire, 100 MB once inflated
                self._raw(200, _bomb(), "application/json", {"Content-Encoding": "gzip"})
            elif srv.models_mode == "trickle":
                self._trickle(listing.encode())
            elif srv.models_mode == "trickle_head":
                self._trickle_head(listing.encode())
            elif srv.models_mode == "needs_key":
                self._raw(401, b'{"error": "no key"}', "application/json")
            elif srv.models_mode == "empty_404":  # a server with no such route, and nothing to say
                self._raw(404, b"", "text/plain")
            elif srv.models_mode == "redirect":  # a proxy that moves plain http to https
                host, port = self.server.server_address[:2]
                self._raw(301, b"<html>301 Moved Permanently</html>", "text/html",
                          {"Location": f"https://{host}:{port}{self.path}"})
            elif srv.models_mode in ("redirect_slash", "redirect_loop"):  # Starlette's redirect_slashes; a loop
                self._raw(307, b"", "text/plain",
                          {"Location": self.path + "/" if srv.models_mode == "redirect_slash" else self.path})
            else:
                self._raw(200, listing.encode(), "application/json")
        else:
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        srv: FaultServer = self.server.fault
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        srv.auth.append(self.headers.get("Authorization"))
        scenario = srv._next(body)
        try:
            self._play(srv, scenario, body)
        finally:
            srv._done()

    def _play(self, srv: FaultServer, scenario: str, body: dict) -> None:
        if scenario == FREEZE or srv.frozen.is_set():
            srv.frozen.set()
            srv.closing.wait()
            self.close_connection = True
        elif scenario in REPLIES:
            content, finish, extra = REPLIES[scenario]
            self._completion(body, content, finish, extra)
        elif scenario.startswith("http_"):
            status = int(scenario.removeprefix("http_"))
            self._json(status, {"error": {"message": f"scripted {status}", "type": "server_error"}})
        elif scenario in ("stall", "slow"):
            time.sleep(srv.stall_s if scenario == "stall" else srv.slow_s)
            self._completion(body, VALID, "stop", {})
        elif scenario in ("drop", "late_drop"):  # promise a body, send half of it, hang up: at once, or ("late_drop")
            self.send_response(200)              # after late_drop_s (under the tests' timeout_s)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "4096")
            self.end_headers()
            self.wfile.write(b'{"choices": [{"message": {"content": "{\\"act')
            self.wfile.flush()
            if scenario == "late_drop":
                time.sleep(srv.late_drop_s)
            self.close_connection = True
        elif scenario == "bad_body":
            self._raw(200, b"<html><body>Bad gateway, friend</body></html>", "text/html")
        elif scenario == "two_lengths":  # two Content-Length headers that disagree
            data = json.dumps({"choices": [{"message": {"content": VALID}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", "3")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True
        elif scenario == "huge_length":  # a body declared far past any reply's size, then sent at length
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(1 << 30))
            self.end_headers()
            self._pour(HUGE)
        elif scenario == "huge_chunked":  # a chunked body that never ends in time
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._pour(HUGE, chunked=True)
        elif scenario == "trickle":  # a reply one byte at a time: each read is quick, the whole never comes in time
            self._trickle(json.dumps({"choices": [{"message": {"content": VALID}}]}).encode())
        elif scenario == "gzip":  # a whole, valid reply, compressed though identity was asked for
            data = json.dumps({"choices": [{"finish_reason": "stop", "message": {"content": VALID}}]}).encode()
            self._raw(200, gzip.compress(data), "application/json", {"Content-Encoding": "gzip"})
        elif scenario == "gzip_transfer":  # compressed as a transfer coding, which no TE header asked for
            data = gzip.compress(json.dumps({"choices": [{"finish_reason": "stop", "message": {"content": VALID}}]})
                                 .encode())
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                             % (len(data), data))
            self.wfile.flush()
        elif scenario == "chunked_twice":  # a valid reply, chunked, on a head that names chunked twice
            data = json.dumps({"choices": [{"finish_reason": "stop", "message": {"content": VALID}}]}).encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                             % (len(data), data))
            self.wfile.flush()
        elif scenario == "fake_gzip":  # said to be compressed, though it is not: not a reply to trust either
            data = json.dumps({"choices": [{"finish_reason": "stop", "message": {"content": VALID}}]}).encode()
            self._raw(200, data, "application/json", {"Content-Encoding": "gzip"})
        elif scenario == "interim":  # 100 Continue and 103 Early Hints before the reply: not the reply (RFC 9110 15.2)
            self.send_response_only(100)
            self.end_headers()
            self.send_response_only(103)
            self.send_header("Link", "</style.css>; rel=preload")
            self.end_headers()
            self.wfile.flush()
            self._completion(body, VALID, "stop", {})
        elif scenario == "interim_flood":  # 100 Continue without end (here 4,000 of them, 100 KB), then the reply
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 4000)
            self._completion(body, VALID, "stop", {})
        elif scenario in ("bare_lf", "bare_lf_chunked"):  # lines end in LF alone, which a client may accept
            data = json.dumps({"choices": [{"finish_reason": "stop", "message": {"content": VALID}}]}).encode()
            if scenario == "bare_lf":  # (RFC 9112 2.2); the connection stays open: only the head says where it ends
                self.wfile.write(b"HTTP/1.1 200 OK\nContent-Type: application/json\nContent-Length: %d\n\n%s"
                                 % (len(data), data))
            else:
                half = len(data) // 2
                self.wfile.write(b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n%x\n%s\n%x\r\n%s\n0\nX-Trailer: 1\n\n"
                                 % (half, data[:half], len(data) - half, data[half:]))
            self.wfile.flush()
        elif scenario == "signed_length":  # "Content-Length: +N": int() reads it, the RFC's digits do not
            data = json.dumps({"choices": [{"finish_reason": "stop", "message": {"content": VALID}}]}).encode()
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: +%d\r\n\r\n%s" % (len(data), data))
            self.close_connection = True
        elif scenario == "redirect":
            self._raw(302, b"", "text/plain", {"Location": "http://127.0.0.1:9/v1/chat/completions"})
        elif scenario == "redirect_hostile":  # a Location to be shown: an escape, a bidi override, a control token, 5 KB
            self.wfile.write(b"HTTP/1.1 307 Temporary Redirect\r\nContent-Length: 0\r\nLocation: " + REDIRECT_HOSTILE
                             + b"\r\n\r\n")
            self.wfile.flush()
        elif scenario == "lone_surrogate":  # valid JSON whose text no UTF-8 file can hold: "\ud800"
            self._completion(body, '{"action":"pass","say":"odd \ud800 text"}', "stop", {})
        elif scenario == "odd_usage":
            self._completion(body, VALID, "stop", {}, usage={"prompt_tokens": 10 ** 30, "completion_tokens": -5})
        elif scenario == "absurd_usage":  # counts that pass for numbers, but not for this request's: 2e9 tokens of
            self._completion(body, VALID, "stop", {},  # prompt, and one more of reply than its max_tokens allowed
                             usage={"prompt_tokens": 2_000_000_000, "completion_tokens": body["max_tokens"] + 1})
        elif scenario == "zero_usage":  # zeros, as a proxy that counts nothing sends: no prompt, and a reply, has none
            self._completion(body, VALID, "stop", {}, usage={"prompt_tokens": 0, "completion_tokens": 0})
        elif scenario == "vast_usage":  # a count of 5,000 digits: past what Python's int() reads from text
            reply = json.dumps({"id": "x", "object": "chat.completion", "model": body.get("model"),
                                "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant", "content": VALID}}],
                                "usage": {"prompt_tokens": 12345, "completion_tokens": 23}})
            self._raw(200, reply.replace("12345", "9" * 5000).encode(), "application/json")
        elif scenario == "number_content":
            self._completion(body, 5, "stop", {})
        elif scenario == "list_content":  # a list, as content parts come, but with no text part: nested 500 deep
            self._completion(body, [[1, {"a": 2}]] + json.loads("[" * 500 + "]" * 500), "stop", {})
        elif scenario == "empty_200":
            self._raw(200, b"", "application/json")
        elif scenario == "odd_finish":
            self._completion(body, VALID, {"why": "because"}, {})
        elif scenario == "long_reply":
            self._completion(body, LONG_REPLY, "stop", {})
        elif scenario == "bad_chunk":  # a chunk not followed by CRLF
            data = json.dumps({"choices": [{"message": {"content": VALID}}]}).encode()
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%sXX0\r\n\r\n" % (len(data), data))
            self.close_connection = True

    def _pour(self, total: int, chunked: bool = False) -> None:
        """`total` bytes of a JSON-looking body, 64 KB at a time, until sent or the client hangs up."""
        piece = b'{"choices":[' + b" " * (65536 - 12)
        self.close_connection = True
        try:
            for _ in range(total // len(piece)):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            self.wfile.flush()
        except OSError:
            pass  # the client stopped reading: as it should

    def _trickle(self, data: bytes) -> None:
        """`data` as a chunked body, a byte every TRICKLE_S (at most 60 bytes), or until the client hangs up."""
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        try:
            for b in data[:60]:
                self.wfile.write(b"1\r\n%c\r\n" % b)
                self.wfile.flush()
                time.sleep(TRICKLE_S)
            self.server.fault.trickled_whole.set()
        except OSError:
            pass  # the client gave up: as it should

    def _trickle_head(self, data: bytes) -> None:
        """A 200 whose status line and headers come a byte every TRICKLE_S (HEAD_TRICKLE_BYTES of them, a
        padding header making up the length), then `data` at once; or until the client hangs up."""
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Padding: " % len(data)
        head += b"." * (HEAD_TRICKLE_BYTES - len(head) - 4) + b"\r\n\r\n"
        self.close_connection = True
        try:
            for i in range(len(head)):
                self.wfile.write(head[i:i + 1])
                self.wfile.flush()
                time.sleep(TRICKLE_S)
            self.wfile.write(data)
            self.server.fault.trickled_whole.set()
        except OSError:
            pass  # the client gave up: as it should

    def _completion(self, body: dict, content: object, finish: object, extra: dict,
                    usage: dict | None = None) -> None:
        self._json(200, {
            "id": "chatcmpl-wood", "object": "chat.completion", "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": content, **extra}}],
            "usage": usage or {"prompt_tokens": 321, "completion_tokens": 23, "total_tokens": 344},
        })

    def _json(self, status: int, payload: dict) -> None:
        self._raw(status, json.dumps(payload).encode(), "application/json")

    def _raw(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class SilentPort:
    """`with SilentPort() as silent:` `silent.port`, a port on 127.0.0.1 that takes every
    connection and then says nothing, ever (a TLS handshake is never answered),
    until the block ends."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._taking = threading.Event()
        self._taking.set()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.port = self._sock.getsockname()[1]
        self.accepted = 0

    def stop_taking(self) -> None:
        """From now on no connection to the port completes, as to a host gone
        dark: it accepts none, and its queue of one is full (its own), so a
        client's SYN is dropped and its connect waits out its timeout."""
        self._taking.clear()
        time.sleep(0.2)  # an accept() under way ends (its 0.05 s timeout) before the queue fills
        self._sock.listen(0)
        self._held.append(socket.create_connection(("127.0.0.1", self.port), 1))

    def _accept(self) -> None:
        while not self._stop.is_set():
            if not self._taking.is_set():
                self._stop.wait(0.02)
                continue
            try:
                conn, _ = self._sock.accept()
            except OSError:  # the timeout: look at the stop flag again
                continue
            self._take(conn)
            self.accepted += 1

    def _take(self, conn: socket.socket) -> None:
        self._held.append(conn)

    def __enter__(self) -> "SilentPort":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._sock.close()


class ClosingPort(SilentPort):
    """`with ClosingPort() as closing:` `closing.port`, a port on 127.0.0.1 that
    takes every connection and closes it at once, before reading a byte (with
    `reset=True`, by a TCP reset), until the block ends. With `after` (bytes),
    it first reads the request and answers those bytes (a response begun,
    or none), then closes."""

    def __init__(self, *, reset: bool = False, after: bytes | None = None) -> None:
        super().__init__()
        self._reset = reset
        self._after = after

    def _take(self, conn: socket.socket) -> None:
        if self._after is not None:
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(self._after)
                time.sleep(0.1 if self._after else 0)  # read by the client before the reset (it drops what is unread)
        if self._reset:  # SO_LINGER on, 0 s: close() sends RST, not FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()


class SlowConnectPort:
    """`with SlowConnectPort(answer) as slow:` `slow.port`, a port on 127.0.0.1
    where every connection completes only about a second after it was asked
    for (its queue of one is full, so the client's first SYN is dropped and
    its second, a second later, gets in); each then has its request read, is
    answered `answer` (a response begun, say) and closed at once."""

    def __init__(self, answer: bytes) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(0)
        self._sock.settimeout(0.05)
        self._answer = answer
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = self._sock.getsockname()[1]
        self.served = 0

    def _fill(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), 1)  # the queue's one place, taken

    def _accept(self, within: float) -> socket.socket | None:
        deadline = time.monotonic() + within
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                return self._sock.accept()[0]
            except OSError:  # the accept timeout: look at the stop flag again
                continue
        return None

    def _serve(self) -> None:
        filler = self._fill()
        while not self._stop.is_set():
            self._stop.wait(0.3)  # a client's SYN meanwhile is dropped
            taken = self._accept(1)  # the filler: the queue is free for the client's second SYN
            filler.close()
            if taken is not None:
                taken.close()
            conn = self._accept(3)
            if conn is None:  # the block ended (or no client came): the queue is refilled only to go on
                if self._stop.is_set():
                    return
                filler = self._fill()
                continue
            with contextlib.suppress(OSError):
                conn.settimeout(1)
                conn.recv(65536)
                conn.sendall(self._answer)
            filler = self._fill()  # before the close: the client's next connection is slow too
            conn.close()
            self.served += 1
        filler.close()

    def __enter__(self) -> "SlowConnectPort":
        self._thread.start()
        time.sleep(0.1)  # the queue filled
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()
