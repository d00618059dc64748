"""A lean HTTP/1.1 transport for the one chat client (an `httpx` transport).

httpx's default transport (httpcore) scans its whole connection pool for
every queued request each time a request starts or a connection frees: with
a thousand calls in flight that is O(n^2) per round, and at 1,000 creatures
it was most of the game process's CPU (BENCHMARKS.md, "The model path at
1,000 creatures"). This transport keeps idle keep-alive connections on a
stack per server: taking one or giving one back is O(1). The caller (the
chat client's per-replica gate) bounds how many are open at once.

It speaks what OpenAI-compatible servers answer (vLLM/uvicorn,
llama-cpp-python, llama.cpp's server): HTTP/1.1 responses with a
Content-Length or chunked body, or a body ended by closing the connection;
lines ended by CRLF or, as httpx's own parser allows, a bare LF.
Plain `http://` only, no proxies: the client picks httpx's own transport for
anything else. Failures come out as httpx's exceptions (ConnectError,
ConnectTimeout, ReadTimeout, RemoteProtocolError, ReadError, WriteError, and
DecodingError for transfer codings other than chunked alone), so callers handle
one set. A kept-alive connection is looked at before a
request goes on it (`_Connection.stale`): one the server has closed meanwhile
(its keep-alive timeout), whether or not the event loop has read the close
yet, is left for a new one, and the request goes out once. A request that
went out is never sent again here: its connection closed with no answer is
a RemoteProtocolError (dropped), since the server may have read it and done
its work before it died or hung up; the chat client's one retry of a dropped
call is a request it counts.
"""
from __future__ import annotations

import asyncio
import os
import re
import select
import socket
import ssl
from collections import deque
from collections.abc import Callable

import httpx

KEEPALIVE_MAX = 4096  # idle connections kept per server
HEAD_MAX = 65536      # bytes of a response's status line and headers
BODY_MAX = 4 << 20    # bytes of a response's body (a chat reply is a few KB): past this the call fails, unread
UNANSWERED = "server closed the connection without a response"  # a dropped call, as both transports say it:
MID_RESPONSE = "server disconnected mid-response"  # before its response began, or within it


HEAD_TOO_LONG = "response headers too long"  # a head past what a transport reads (h11: "Receive buffer too long")


def bad_status_line(line: bytes) -> httpx.RemoteProtocolError:
    """A reply whose first line is no HTTP/1.x status line, as both transports say it."""
    return httpx.RemoteProtocolError(f"bad status line {bytes(line[:80])!r}")


CLOSED_AS_MADE = "the connection closed as it was made, before a request went on it"  # a connect fault, as both
# transports say it: a port that takes each connection and closes (or resets) it before a request is written


def made_unusable(fd: int) -> str:
    """Why a connection just made, with something to read before any request
    went on it, is not to carry one: the server closed (or reset) it, or
    spoke first (a banner: SSH, SMTP), as no HTTP server does. Its bytes are
    peeked at, not taken."""
    try:
        with socket.socket(fileno=os.dup(fd)) as peek:  # a second handle: closing it leaves the connection be
            first = peek.recv(40, socket.MSG_PEEK)
    except (ConnectionError, BlockingIOError):  # reset; or closed, its close already taken by the event loop
        return CLOSED_AS_MADE
    except (OSError, ValueError, AttributeError):  # no such peek here (Windows): which of the two is not known
        return "the connection closed, or the server spoke first, as it was made, before a request went on it"
    return spoke_first(first) if first else CLOSED_AS_MADE


def spoke_first(first: bytes) -> str:
    """A connection on which the server sent `first` before any request, as both transports say it."""
    return f"the server sent {first[:40]!r} as the connection was made, before a request went on it, as no HTTP " \
           "server does"


def os_reason(e: OSError) -> str:
    """Why a connection could not be made, in the system's words for its error
    ("Connection refused"), not the event loop's ("Connect call failed (...)")."""
    if e.errno and e.errno > 0 and not isinstance(e, (socket.gaierror, ssl.SSLError)):
        return os.strerror(e.errno)
    return str(e.strerror or e)


def cannot_connect(host: str, port: int, why: str) -> httpx.ConnectError:
    """A connection not made, as both transports say it."""
    return httpx.ConnectError(f"cannot connect to {host}:{port}: {why}")


TE_AGAIN = "the reply's head has Transfer-Encoding again after chunked"  # a framing error, as both transports
# say it (h11's "multiple Transfer-Encoding headers": its first was chunked alone, and another line followed)


def coding_refused(codings: list[bytes] | None) -> httpx.DecodingError:
    """A reply whose transfer codings (lowercased; None where they went unseen, as h11 refuses them) are other
    than chunked alone, refused unread, as both transports say it."""
    if codings is None:
        said = "not chunked alone"
    elif set(codings) == {b"chunked"}:  # "chunked, chunked": chunked, but more than once
        return httpx.DecodingError("the reply's Transfer-Encoding names chunked more than once; only chunked alone "
                                   "is read")
    else:
        said = b", ".join(codings)[:80].decode("latin-1")
    return httpx.DecodingError(f"the reply's Transfer-Encoding is {said}; only chunked is read")
CHUNKING_SLACK = 65536  # room in the raw bytes for chunk-size lines around a body up to BODY_MAX
TIMER_SLACK_S = 0.001  # a read timeout's timer may run this early (the event loop's clock resolution)
# Line ends: CRLF, or a bare LF, which a recipient may take for one (RFC 9112 2.2; httpx's h11 does)
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")  # where a head (or a chunked body's trailers) ends
_LINE_END = re.compile(rb"\r?\n")
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")  # a status line's version, as h11 reads it
_DIGITS = {10: re.compile(rb"[0-9]+"), 16: re.compile(rb"[0-9A-Fa-f]+")}


def _number(text: bytes, base: int = 10) -> int:
    """A status code, Content-Length or chunk size as the RFC writes it, in
    digits alone (`int()` also takes a sign, spaces, `_` and `0x`), else -1."""
    if not _DIGITS[base].fullmatch(text):
        return -1
    try:
        return int(text, base)
    except ValueError:  # past the digits int() reads
        return -1


def _tokens(value: bytes) -> list[bytes]:
    """A header's comma-separated list, lowercased (`Connection: Upgrade, close`)."""
    return [t for t in (t.strip() for t in value.lower().split(b",")) if t]


def _expire(reply: asyncio.Future) -> None:
    """The read timeout: a reply still awaited fails (a lighter `asyncio.wait_for`)."""
    if not reply.done():
        reply.set_exception(httpx.ReadTimeout("timed out waiting for the response"))


class _Timeouts:
    """Read timeouts of one length on one event loop: the replies awaited, in
    the order sent (so their deadlines ascend), and one timer for the
    earliest. A timer per call costs a heap push and, once cancelled, a pop,
    each comparing handles in Python: a thousand of each a round."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop, self.timeout = loop, timeout
        self.waiting: deque[tuple[float, asyncio.Future]] = deque()  # (deadline, reply)
        self.timer: asyncio.TimerHandle | None = None

    def watch(self, reply: asyncio.Future) -> None:
        waiting = self.waiting
        while waiting and waiting[0][1].done():  # answered: forgotten here, lazily
            waiting.popleft()
        waiting.append((self.loop.time() + self.timeout, reply))
        if self.timer is None:
            self.timer = self.loop.call_at(waiting[0][0], self._sweep)

    def _sweep(self) -> None:
        self.timer = None
        waiting, now = self.waiting, self.loop.time() + TIMER_SLACK_S
        while waiting and (waiting[0][0] <= now or waiting[0][1].done()):
            _expire(waiting.popleft()[1])
        if waiting:
            self.timer = self.loop.call_at(waiting[0][0], self._sweep)

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.waiting.clear()


class BodyTooLarge(httpx.HTTPError):
    """A response body past BODY_MAX (or declared so): what the server sent is not read further."""


def too_large(size: int | None = None) -> BodyTooLarge:
    said = f"is {size} bytes," if size is not None else "runs"
    return BodyTooLarge(f"the response body {said} over the {BODY_MAX} bytes a reply may have")


if hasattr(select, "poll"):  # select() fails on descriptors past FD_SETSIZE (1024), a thousand connections in
    def _readable(fd: int) -> bool:
        """Whether a socket has something to read, or is closed or broken: on
        an idle kept-alive connection, the server's close (or bytes no request
        asked for) that the event loop has not yet handled."""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
else:  # where there is no poll (Windows)
    def _readable(fd: int) -> bool:
        """As above, by select()."""
        return bool(select.select([fd], [], [], 0)[0])


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, the response parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.reusable = True
        self.unasked = b""  # the first bytes the server sent that no request asked for
        self._head: tuple[int, list[tuple[bytes, bytes]], int, int | None, bool] | None = None
        self._chunk_pos, self._chunk_out = 0, bytearray()
        self._scanned = 0  # where the search for a blank line resumes
        self._interim = 0  # bytes of interim (1xx) responses before this reply's own head

    # asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # bytes nobody asked for: the connection is not to be trusted
            self.unasked = self.unasked or bytes(data[:40])
            self.reusable = False
            self.close()
            return
        self.buf += data
        if len(self.buf) > HEAD_MAX + BODY_MAX + CHUNKING_SLACK:
            self._fail(too_large())
            return
        self._parse(eof=False)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        w = self.waiter
        if w is not None and not w.done():
            if self._head is not None and self._head[3] is None and not self._head[4]:
                self._parse(eof=True)  # a body that ends when the connection does
            if not w.done():
                w.set_exception(httpx.RemoteProtocolError(UNANSWERED if not self.buf and self._head is None else
                                                          MID_RESPONSE))

    # one exchange
    def send(self, data: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future:
        self.buf.clear()
        self._head = None
        self._chunk_pos, self._chunk_out = 0, bytearray()  # where the next chunk starts; the body so far
        self._scanned = self._interim = 0
        self.waiter = loop.create_future()
        self.transport.write(data)
        return self.waiter

    def stale(self) -> bool:
        """Whether this idle connection is not to carry a request: closed or
        closing (the server's close read by the event loop, or not yet read),
        or holding bytes no request asked for."""
        if self.closed or not self.reusable or self.transport is None or self.transport.is_closing():
            return True
        sock = self.transport.get_extra_info("socket")
        return sock is not None and _readable(sock.fileno())

    def _parse(self, *, eof: bool) -> None:
        buf = self.buf
        while self._head is None:
            blank = self._blank_line(0)
            if blank is None:
                return
            end, body_at = blank.span()
            lines = _LINE_END.split(bytes(buf[:end]))
            parts = lines[0].split(b" ", 2)
            status = _number(parts[1]) if len(parts) > 1 and len(parts[1]) == 3 else -1
            if status < 0 or not _VERSION.fullmatch(parts[0]):  # "HTTP/2 200", "http/1.1 200": as h11, none
                self._fail(bad_status_line(lines[0]))
                return
            if 100 <= status < 200 and status != 101:  # an interim response (100 Continue, 103 Early Hints):
                self._interim += body_at               # the final one follows (RFC 9110 15.2); all of them
                if self._interim > HEAD_MAX:           # together a head's size, not a stream parsed until timeout_s
                    self._fail(httpx.RemoteProtocolError(f"interim (1xx) responses past the {HEAD_MAX} bytes "
                                                         "a response's head may have"))
                    return
                del buf[:body_at]
                self._scanned = 0
                continue
            headers, length, codings, options, te_lines = [], None, [], [], 0
            for line in lines[1:]:
                if line[:1] in (b" ", b"\t") and headers:  # obs-fold: more of the value above (RFC 9112 5.2)
                    headers[-1] = (headers[-1][0], (headers[-1][1] + b" " + line.strip()).strip())
                    continue
                name, _, value = line.partition(b":")
                headers.append((name.strip(), value.strip()))
            for name, value in headers:
                low = name.lower()
                if low == b"content-length":  # as h11: a list of one value ("12, 12") is that value
                    values = {v.strip() for v in value.split(b",")}
                    n = _number(values.pop()) if len(values) == 1 else -1
                    if len(values) or (n >= 0 and length is not None and n != length):
                        self._fail(httpx.RemoteProtocolError("conflicting Content-Length headers"))
                        return
                    if n < 0:
                        self._fail(httpx.RemoteProtocolError("bad Content-Length"))
                        return
                    length = n
                elif low == b"transfer-encoding":
                    if te_lines and codings == [b"chunked"]:  # where the body ends is in doubt: a dropped reply
                        self._fail(httpx.RemoteProtocolError(TE_AGAIN))
                        return
                    te_lines += 1
                    codings += _tokens(value)
                elif low == b"connection":
                    options += _tokens(value)
            if codings and codings != [b"chunked"]:  # we send no TE, so chunked alone may come (RFC 9112 6.1): a
                # body in another coding (gzip, under chunked or not) was handed on as the reply's own bytes
                self._fail(coding_refused(codings))
                return
            persistent = b"keep-alive" in options if parts[0] == b"HTTP/1.0" else b"close" not in options
            chunked = bool(codings)  # else a Content-Length, or a body that ends with the connection (RFC 9112 6.3)
            if codings:  # overrides a Content-Length, and the two together make the connection not reused
                persistent, length = persistent and length is None, None
            if status in (204, 304, 101):  # no body, whatever the headers say (RFC 9112 6.3)
                length, chunked = 0, False
            if length is not None and length > BODY_MAX:
                self._fail(too_large(length))
                return
            self._head = (status, headers, body_at, None if chunked else length, chunked)
            self._chunk_pos = body_at
            # after 101 the connection speaks another protocol
            self.reusable = persistent and status != 101 and (chunked or length is not None)
        status, headers, start, length, chunked = self._head
        if chunked:
            body = self._dechunk()
            if body is None:
                return
            end = self._chunk_pos
        elif length is not None:
            end = start + length
            if len(buf) < end:
                return
            body = bytes(buf[start:end])
        elif eof:
            body, end = bytes(buf[start:]), len(buf)
        else:
            return
        if len(buf) > end:  # bytes past the reply's end: its framing is in doubt, and they are no next reply
            self.reusable = False
        self.waiter.set_result((status, headers, body))

    def _dechunk(self) -> bytes | None:
        """The chunked body once whole (`_chunk_pos` then where it ends), else None. Incremental: the chunks
        already read are not walked again when more bytes arrive (a flood of
        1-byte chunks cost the square of its length, seconds of a blocked loop)."""
        buf, out, pos = self.buf, self._chunk_out, self._chunk_pos
        while True:
            self._chunk_pos = pos
            nl = buf.find(b"\n", pos)
            if nl < 0:
                return None
            eol = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl  # the size line ends at CRLF or a bare LF
            size = _number(bytes(buf[pos:eol]).split(b";", 1)[0].rstrip(b" \t"), 16)  # spaces may precede a ;
            if size < 0:
                self._fail(httpx.RemoteProtocolError("bad chunk size"))
                return None
            if size == 0:
                blank = self._blank_line(eol)  # trailers (if any) end with an empty line
                if blank is None:
                    return None
                self._chunk_pos = blank.end()
                return bytes(out)
            if len(out) + size > BODY_MAX:
                self._fail(too_large())
                return None
            data_end = nl + 1 + size
            footer = buf[data_end:data_end + 2]
            if footer == b"\r\n" or footer[:1] == b"\n":
                out += buf[nl + 1:data_end]
                pos = data_end + (2 if footer == b"\r\n" else 1)
            elif footer in (b"", b"\r"):  # the chunk, or its line end, not all here yet
                return None
            else:
                self._fail(httpx.RemoteProtocolError("malformed chunk footer"))
                return None

    def _blank_line(self, start: int) -> re.Match | None:
        """The first blank line past `start` (a head's end, or its trailers'),
        if within HEAD_MAX of it. Each search resumes where the last gave up: a
        head arriving a byte at a time was scanned whole for every byte (25 s of
        CPU for 64 KB), and trailers up to the 4 MB a reply may have, per read."""
        buf = self.buf
        blank = _BLANK_LINE.search(buf, max(start, self._scanned))
        if blank is None:
            self._scanned = max(start, len(buf) - 3)  # a blank line is at most 4 bytes
        if (len(buf) if blank is None else blank.start()) - start > HEAD_MAX:
            self._fail(httpx.RemoteProtocolError(HEAD_TOO_LONG))
            return None
        return blank

    def _fail(self, exc: Exception) -> None:
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.closed:
            self.transport.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=LeanTransport())`: keep-alive HTTP/1.1 with an O(1) pool."""

    def __init__(self, *, keepalive: int = KEEPALIVE_MAX) -> None:
        self.keepalive = keepalive
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._timeouts: dict[float, _Timeouts] = {}  # read timeout -> the replies awaited under it
        self.connections_opened = 0  # for the bench: how often a call had to connect

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"LeanTransport speaks plain http, not {url.scheme}")
        host, port = url.host, url.port or 80
        timeout = request.extensions.get("timeout") or {}
        try:
            status, headers, body = await self.exchange(host, port, self._serialise(request, host, port),
                                                        connect_timeout=timeout.get("connect"),
                                                        read_timeout=timeout.get("read"))
        except httpx.HTTPError as e:
            e.request = request
            raise
        # as a stream, not `content=`: httpx decodes `content` on the spot by its Content-Encoding, and a
        # compressed body is for the caller to refuse unread (a small one can inflate to gigabytes)
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body), request=request,
                              extensions={"http_version": b"HTTP/1.1"})

    async def exchange(self, host: str, port: int, data: bytes, *, connect_timeout: float | None = None,
                       read_timeout: float | None = None, on_sent: Callable[[], None] | None = None,
                       ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send one serialised request; return (status, headers, body). The
        chat client's hot path calls this directly with bytes it made itself
        (see `request_head`), skipping httpx's Request and Response objects.
        `on_sent()` is called as the request goes out, once connected."""
        loop = asyncio.get_running_loop()
        conn = self._idle_connection(host, port) or await self._connect(loop, host, port, connect_timeout)
        if on_sent is not None:
            on_sent()
        try:
            reply = conn.send(data, loop)
            if read_timeout is not None:
                self._timeouts_of(loop, read_timeout).watch(reply)
            status, headers, body = await reply
        except BaseException:
            self._open.discard(conn)
            conn.close()
            raise
        self._give_back(conn, host, port)
        return status, headers, body

    def _timeouts_of(self, loop: asyncio.AbstractEventLoop, timeout: float) -> _Timeouts:
        t = self._timeouts.get(timeout)
        if t is None or t.loop is not loop:
            t = self._timeouts[timeout] = _Timeouts(loop, timeout)
        return t

    @staticmethod
    def _serialise(request: httpx.Request, host: str, port: int) -> bytes:
        body = request.content  # httpx has the body in memory for json=/content= requests
        target = request.url.raw_path.decode("ascii")
        head = [f"{request.method} {target} HTTP/1.1"]
        have = set()
        for name, value in request.headers.raw:
            low = name.lower()
            have.add(low)
            if low in (b"transfer-encoding",):
                continue
            head.append(f"{name.decode('latin-1')}: {value.decode('latin-1')}")
        if b"host" not in have:
            head.append(f"Host: {host}:{port}")
        if b"content-length" not in have and (body or request.method in ("POST", "PUT", "PATCH")):
            head.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body

    def _idle_connection(self, host: str, port: int) -> _Connection | None:
        """A kept-alive connection to the server that is still usable, if there
        is one; those found stale on the way are closed."""
        idle = self._idle.get((host, port))
        while idle:
            conn = idle.pop()
            if not conn.stale():
                return conn
            self._open.discard(conn)
            conn.close()
        return None

    async def _connect(self, loop, host: str, port: int, connect_timeout: float | None) -> _Connection:
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(_Connection, host, port), connect_timeout)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except OSError as e:
            raise cannot_connect(host, port, os_reason(e)) from None
        self._open.add(conn)
        self.connections_opened += 1
        if conn.stale():  # the server closed (or reset) it as it was made: the request had waited out its whole
            self._open.discard(conn)  # timeout for a reply on a closed connection (uvloop: raised RuntimeError)
            sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
            why = (spoke_first(conn.unasked) if conn.unasked else made_unusable(sock.fileno())
                   if sock is not None and not conn.closed else CLOSED_AS_MADE)
            conn.close()
            raise cannot_connect(host, port, why)
        return conn

    def _give_back(self, conn: _Connection, host: str, port: int) -> None:
        conn.waiter = None
        if not conn.reusable or conn.closed:
            self._open.discard(conn)
            conn.close()
            return
        idle = self._idle.setdefault((host, port), [])
        if len(idle) >= self.keepalive:
            self._open.discard(conn)
            conn.close()
            return
        idle.append(conn)

    @staticmethod
    def request_head(method: str, url: str, headers: dict[str, str]) -> bytes:
        """The start of a request to `url` up to `Content-Length: ` (the caller
        appends the length, a blank line and the body): made once per server."""
        parts = httpx.URL(url)
        host = parts.raw_host.decode("ascii")  # an international name as IDNA (`.host` is its Unicode form)
        host = f"[{host}]" if ":" in host else host  # an IPv6 address goes in brackets
        lines = [f"{method} {parts.raw_path.decode('ascii')} HTTP/1.1", f"Host: {host}:{parts.port or 80}",
                 *(f"{k}: {v}" for k, v in headers.items()), "Content-Length: "]
        return "\r\n".join(lines).encode("latin-1")

    def forget(self, host: str, port: int) -> None:
        """Close the idle connections to one server (it was taken out of rotation)."""
        for conn in self._idle.pop((host, port), []):
            self._open.discard(conn)
            conn.close()

    async def aclose(self) -> None:
        for t in self._timeouts.values():
            t.close()
        self._timeouts.clear()
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
