"""The life of a model server process, shared by the embedded and vLLM
launchers: wait until it answers (watching the process, so a crash fails fast
instead of timing out), read its log tail for errors, stop it.

vLLM refuses connections until its weights are loaded, then `/health` is 200
(503 only once the engine has died); llama-cpp-python also refuses until
ready; llama.cpp's `llama-server` answers 503 while loading."""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from engine.errors import WoodError
from engine.sanitise import shown_path

PR_SET_PDEATHSIG = 1  # prctl(2)


class ServerExited(WoodError):
    """The server process ended before it became ready."""

    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


def wait_ready(
    url: str,
    *,
    deadline_s: float,
    interval_s: float = 0.25,
    max_interval_s: float = 5.0,
    proc: subprocess.Popen | None = None,
    on_wait: Callable[[float, str], None] | None = None,
    its_own: bool = False,
) -> float:
    """Poll GET `url` until it answers 200; return the seconds waited.
    With `its_own`, only an answer on a port `proc` itself listens on counts
    (`listens`; a server that binds in the process it was started as):
    another program that took the port while `proc` loaded, before it could
    bind it, answers for none of ours, and `proc` then ends.

    The pause between polls starts at `interval_s` and grows by half each time
    up to `max_interval_s`. `on_wait(elapsed_s, last_status)` is called after
    every unsuccessful poll (`last_status`: "connection refused", "HTTP 503",
    ...). Raises `ServerExited` if `proc` ends first, `WoodError` after
    `deadline_s` (a poll under way then is cut short: `_poll`)."""
    start = time.monotonic()
    pause = interval_s
    # no connection kept between polls: `_poll` meets each one's socket as it connects, to cut it at the deadline
    with httpx.Client(trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        while True:
            if proc is not None and proc.poll() is not None:
                raise ServerExited(f"it {ended(proc.returncode)} before {url} was ready", proc.returncode)
            status = _poll(client, url, max(0.05, deadline_s - (time.monotonic() - start)))
            if status is None and its_own and proc is not None and listens(proc.pid, urlsplit(url).port) is False:
                status = ANOTHER_ANSWERED
            if status is None:
                return time.monotonic() - start
            elapsed = time.monotonic() - start
            if elapsed >= deadline_s:
                raise WoodError(f"{url} not ready after {deadline_s:.0f} s (last: {status})")
            if on_wait is not None:
                on_wait(elapsed, status)
            time.sleep(min(pause, max(0.0, deadline_s - elapsed)))
            pause = min(pause * 1.5, max_interval_s)


CUT_SHORT = "its answer's status line and headers were still not all in at the deadline"
ANOTHER_ANSWERED = "another program answered there, not the server started"


def listens(pid: int, port: int | None, proc_root: Path = Path("/proc")) -> bool | None:
    """Whether process `pid` holds a TCP socket listening on `port` (IPv4 or
    IPv6), read from /proc as it sees its own network; None where that cannot
    be read (not Linux, or the process gone)."""
    if port is None:
        return None
    inodes = set()
    try:
        for table in ("tcp", "tcp6"):
            with contextlib.suppress(FileNotFoundError):  # no IPv6 here
                for line in (proc_root / str(pid) / "net" / table).read_text().splitlines()[1:]:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{fields[9]}]")
        held = set()
        for fd in (proc_root / str(pid) / "fd").iterdir():
            with contextlib.suppress(FileNotFoundError):  # closed as it was read: no socket of its (this had been
                held.add(os.readlink(fd))  # None, "cannot tell", and so another program's answer taken for its own)
    except (OSError, ValueError):
        return None
    return bool(inodes & held)


def _poll(client: httpx.Client, url: str, left: float) -> str | None:
    """One GET of `url`, over within `left` seconds: None if it answered 200,
    else what it met ("connection refused", "HTTP 503", "ReadTimeout", `CUT_SHORT`).

    Only the status is read: a body trickled, or said to be gzip and not, had
    held the poll past its deadline or ended in a DecodingError traceback.
    httpx's timeouts bound each read, not the whole answer, so a server that
    sent its status line and headers a byte at a time held the poll as long
    as it pleased: when `left` runs out the socket is shut down under httpx
    (its trace extension hands the socket over as it connects), and the read
    waiting on it ends at once."""
    sockets: list[socket.socket] = []
    cut = threading.Event()

    def trace(event: str, info: dict) -> None:
        if event == "connection.connect_tcp.complete":
            sock = info["return_value"].get_extra_info("socket")
            if sock is not None:
                sockets.append(sock)
                if cut.is_set():  # connected as the time ran out: `cut_short` may have looked before it was here
                    _shut(sock)

    def cut_short() -> None:
        cut.set()
        for sock in list(sockets):
            _shut(sock)

    timer = threading.Timer(left, cut_short)
    timer.daemon = True
    timer.start()
    try:
        with client.stream("GET", url, timeout=httpx.Timeout(min(5.0, left), connect=min(2.0, left)),
                           extensions={"trace": trace}) as r:
            return None if r.status_code == 200 else f"HTTP {r.status_code}"
    except httpx.ConnectError:
        return "connection refused"
    except httpx.HTTPError as e:  # a read timeout, a dropped connection: still booting
        return CUT_SHORT if cut.is_set() else type(e).__name__
    finally:
        timer.cancel()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # closed already: nothing left to cut
        pass


def ended(returncode: int) -> str:
    """How a process ended, from its return code: `exited with code 3`, or
    `was killed by signal 9 (SIGKILL)` (Popen's negative code, which no
    process exits with)."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        name = f" ({signal.Signals(-returncode).name})"
    except ValueError:
        name = ""
    return f"was killed by signal {-returncode}{name}"


def log_tail(path: Path, lines: int = 15, width: int = 240) -> str:
    """The last `lines` lines of a server log, each cut to `width`, for an error message."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            tail = deque(fh, maxlen=lines)
    except OSError:
        return f"(no log at {shown_path(path)})"
    text = "\n".join(ln.rstrip()[:width] + ("..." if len(ln.rstrip()) > width else "") for ln in tail).strip()
    return text or f"(empty log at {shown_path(path)})"


def _prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
    except (OSError, AttributeError):
        return None


_PRCTL = _prctl()  # looked up here, in the parent: the child between fork and exec only calls it


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """A `preexec_fn`: on Linux the child gets `sig` when the thread that
    started it ends, however it ends (SIGKILL included), so a killed game
    leaves no model server behind. Elsewhere it does nothing. A stopped child
    (SIGSTOP) holds a SIGTERM until it is continued, so it would be left
    frozen for good; a stateless child, with nothing to finish, takes SIGKILL
    (`die_with_parent_now`)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, sig)


def die_with_parent_now() -> None:
    """`die_with_parent` with SIGKILL, which reaches a stopped child too."""
    die_with_parent(signal.SIGKILL)


def stop_process(proc: subprocess.Popen, *, grace_s: float, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after `grace_s`. With `group`, the kill reaches the
    process's whole group (a vLLM API server leaves engine processes behind)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if group:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def port_in_use(host: str, port: int) -> bool:
    """Whether something already accepts connections there (a server left
    running would otherwise pass our health check for the new one)."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def port_taken(host: str, port: int) -> bool:
    """Whether another program holds the port: it listens there
    (`port_in_use`), or it has bound it without listening, so a server's bind
    fails (tried here as asyncio's and uvicorn's servers bind, with
    SO_REUSEADDR, so a connection of the past in TIME_WAIT is no holder)."""
    if port_in_use(host, port):
        return True
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            return e.errno == errno.EADDRINUSE
    return False
