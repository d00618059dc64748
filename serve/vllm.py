"""vLLM servers from their own YAML config files (`serve/vllm/*.yaml`, keys =
`vllm serve`'s long flag names): reading a config, the command line that runs
it, and `VLLMFleet`, which starts several on one GPU one at a time.

Instances that initialise together on one GPU mis-profile each other's memory,
so each server starts only after the previous one's `/health` answers 200."""
from __future__ import annotations

import atexit
import ipaddress
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from engine.brains.config import check_host, url_host
from engine.errors import WoodError
from engine.sanitise import shown_path

from .health import ServerExited, die_with_parent, ended, log_tail, port_in_use, stop_process, wait_ready
from .roster import ModelConfig, Roster, not_utf8, read_utf8

INSTALL_ROOT = Path(__file__).resolve().parent.parent  # holds the `serve` package
NOT_FOUND = "vllm not found: install it on a GPU machine (pip install vllm)"


def find_vllm(vllm_bin: str) -> str:
    """The vllm executable to run for --vllm-bin `vllm_bin`: a bare name found
    on PATH, or a path to an executable file; else a WoodError that says why
    (not installed; a path to nothing, to a folder, to a file without the
    execute bit), before any folder is made or any server started."""
    if "/" not in vllm_bin:
        found = shutil.which(vllm_bin) if vllm_bin.strip() else None
        if found is None:
            raise WoodError(NOT_FOUND)
        return found
    check_vllm_path(vllm_bin)
    if not Path(vllm_bin).exists():
        raise WoodError(f"--vllm-bin {shown_path(vllm_bin)}: no such executable")
    return vllm_bin


def check_vllm_path(vllm_bin: str) -> None:
    """A WoodError where --vllm-bin `vllm_bin` names, on this machine, a folder
    or a file without the execute bit: it can run nowhere as given. A path
    to nothing here, or a bare name, passes (a dry run's lines may be for
    another machine)."""
    if "/" not in vllm_bin:
        return
    p = Path(vllm_bin)
    if p.is_dir():
        raise WoodError(f"--vllm-bin {shown_path(vllm_bin)}: is a directory, not the vllm executable")
    if p.exists() and not os.access(p, os.X_OK):
        raise WoodError(f"--vllm-bin {shown_path(vllm_bin)}: is not executable (no execute permission: chmod +x it?)")

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_INT = re.compile(r"[-+]?(0|[1-9][0-9_]*)")
_FLOAT = re.compile(r"[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?")
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


class VLLMConfigError(WoodError):
    """A vLLM YAML config that this launcher cannot read or use."""


def read_config(path: str | Path) -> dict[str, object]:
    """Read a flat vLLM YAML config: one `key: value` per line, comments and
    blank lines allowed. Values: quoted strings, integers, decimals, booleans,
    null, plain strings. Nested options go in as a quoted JSON string, as on
    the command line: `structured-outputs-config: '{"disable_any_whitespace": true}'`."""
    p = Path(path)
    try:
        text = read_utf8(p)
    except FileNotFoundError:
        raise VLLMConfigError(f"vLLM config not found: {shown_path(p)}") from None
    except UnicodeDecodeError as e:
        raise VLLMConfigError(f"cannot read vLLM config {shown_path(p)}: {not_utf8(e)}") from None
    except IsADirectoryError:
        raise VLLMConfigError(f"cannot read vLLM config {shown_path(p)}: it is a directory, not a YAML file") from None
    except OSError as e:  # its strerror: Python's own text repeats the path raw
        raise VLLMConfigError(f"cannot read vLLM config {shown_path(p)}: {e.strerror or e}") from None
    out: dict[str, object] = {}
    for n, line in enumerate(text.splitlines(), 1):
        where = f"{shown_path(p)}:{n}"
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped == "---":
            continue
        if line[0].isspace() or stripped.startswith("- "):
            raise VLLMConfigError(f"{where}: nested YAML is not supported; write nested options as a quoted JSON string")
        key, sep, rest = stripped.partition(":")
        if not sep or not _KEY.fullmatch(key) or (rest and not rest[0].isspace()):
            raise VLLMConfigError(f"{where}: expected `key: value`")
        if key in out:
            raise VLLMConfigError(f"{where}: {key} is set twice")
        out[key] = _scalar(rest.strip(), where)
    if not out.get("model"):
        raise VLLMConfigError(f"{shown_path(p)}: no `model` (the weights to serve)")
    if out.get("host") not in (None, ""):  # unset or empty: vLLM's default (every address)
        try:
            check_host(out["host"])
        except ValueError as e:
            raise VLLMConfigError(f"{shown_path(p)}: host: {e}") from None
    port = out.get("port", 8000)
    if not isinstance(port, int) or isinstance(port, bool) or not 1024 <= port <= 65535:
        raise VLLMConfigError(f"{shown_path(p)}: port must be an integer in 1024..65535, not {port!r}")
    return out


def _scalar(s: str, where: str) -> object:
    if s.startswith("'"):
        i, chars = 1, []
        while True:
            j = s.find("'", i)
            if j < 0:
                raise VLLMConfigError(f"{where}: unterminated quoted string")
            chars.append(s[i:j])
            if s.startswith("''", j):  # '' is a quote inside a single-quoted string
                chars.append("'")
                i = j + 2
                continue
            value, end = "".join(chars), j + 1
            break
    elif s.startswith('"'):
        try:
            value, end = json.JSONDecoder().raw_decode(s)
        except json.JSONDecodeError as e:
            raise VLLMConfigError(f"{where}: bad double-quoted string: {e.msg}") from None
    else:
        plain = s.split(" #", 1)[0].strip()
        if not plain:
            raise VLLMConfigError(f"{where}: no value (nested YAML is not supported)")
        if plain in ("~", "null", "Null", "NULL"):
            return None
        if plain[0] in "[{&*!|>%@`" or ": " in plain:
            raise VLLMConfigError(f"{where}: quote this value (YAML collections, anchors, tags and blocks are not supported)")
        if plain.lower() in _BOOLS and plain in (plain.lower(), plain.capitalize(), plain.upper()):
            return _BOOLS[plain.lower()]
        if _INT.fullmatch(plain):
            return int(plain.replace("_", ""))
        if _FLOAT.fullmatch(plain) and any(c.isdigit() for c in plain):
            return float(plain.replace("_", ""))
        return plain
    trailing = s[end:].strip()
    if trailing and not trailing.startswith("#"):
        raise VLLMConfigError(f"{where}: unexpected text after the quoted string: {trailing!r}")
    return value


def resolve_config(path: str | Path) -> Path:
    """A roster's `vllm_config` path: as given (absolute, or relative to the
    working directory), else relative to where the `serve` package lives."""
    p = Path(path)
    if p.is_absolute() or p.exists():
        return p
    installed = INSTALL_ROOT / p
    return installed if installed.exists() else p


def render_command(config_path: str | Path, *, vllm_bin: str = "vllm") -> list[str]:
    """The command line that serves one config (the YAML holds `model`)."""
    return [vllm_bin, "serve", "--config", str(config_path)]


def _host(config: dict) -> str:
    """Where this machine reaches the server: its `host`, or loopback where it
    listens on every address (unset, 0.0.0.0, ::)."""
    host = str(config.get("host") or "0.0.0.0")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    return ("::1" if ip.version == 6 else "127.0.0.1") if ip.is_unspecified else host


def _port(config: dict) -> int:
    return int(config.get("port", 8000))  # vLLM's default


def health_url(config: dict) -> str:
    return f"http://{url_host(_host(config))}:{_port(config)}/health"


def served_name(config: dict) -> str:
    """The `model` id clients send: served-model-name, else the model path."""
    return str(config.get("served-model-name") or config["model"])


def log_name(config: dict) -> str:
    """A server's log file in the fleet's folder: its served name as a file
    name may spell it (anything but letters, digits, '.', '_' and '-' as '_',
    cut to 100), then its port, which no two servers share: `org/m` and
    `org_m`, or one model served twice, each writes its own log."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", served_name(config))[:100]
    return f"{name}-{_port(config)}.log"


def check_model(model: ModelConfig, config_path: Path, config: dict) -> None:
    """A roster model must reach the server its YAML starts: same port, same
    served name. With replicas (`base_urls`: the same YAML on several
    machines) every one of them must use that port."""
    for url in model.urls or [model.base_url]:
        url_port = urlsplit(url).port
        if url_port is None:  # http's 80 or https's 443: never a vLLM config's (1024..65535)
            raise VLLMConfigError(f"model {model.name}: base_url {url} names no port; {shown_path(config_path)} serves on "
                                  f"port {_port(config)}")
        if url_port != _port(config):
            raise VLLMConfigError(f"model {model.name}: base_url port {url_port} does not match port "
                                  f"{_port(config)} in {shown_path(config_path)}")
    if model.model != served_name(config):
        raise VLLMConfigError(f"model {model.name}: model {model.model!r} is not the served name "
                              f"{served_name(config)!r} in {shown_path(config_path)}")


def roster_configs(roster: Roster) -> list[Path]:
    """The distinct vLLM configs of a roster's models, in roster order, each
    checked against the model that uses it."""
    paths: list[Path] = []
    for m in roster.models.values():
        if m.vllm_config:
            path = resolve_config(m.vllm_config)
            try:
                try:
                    config = read_config(path)
                except VLLMConfigError as e:
                    raise VLLMConfigError(f"model {m.name}: {e}") from None
                check_model(m, path, config)
            except VLLMConfigError as e:  # which roster, as a roster's own errors say
                raise VLLMConfigError(f"{roster._source}{e}") from None
            if path.resolve() not in [p.resolve() for p in paths]:
                paths.append(path)
    return paths


@dataclass
class VLLMServer:
    """One `vllm serve --config` process of a fleet."""

    config_path: Path
    config: dict
    log_path: Path
    process: subprocess.Popen | None = None
    ready_s: float | None = None  # seconds from launch to /health 200
    stopped: bool = False

    @property
    def name(self) -> str:
        return served_name(self.config)

    @property
    def port(self) -> int:
        return _port(self.config)

    @property
    def health_url(self) -> str:
        return health_url(self.config)

    @property
    def base_url(self) -> str:
        return f"http://{url_host(_host(self.config))}:{self.port}/v1"


Event = Callable[[str, VLLMServer], None]  # ("starting" | "healthy" | "stopping" | "stopped", server)


class VLLMFleet:
    """Start vLLM servers one at a time; stop them all (in reverse) on exit.

        with VLLMFleet(roster, on_event=print_progress) as fleet:
            while True:
                fleet.check()   # WoodError once a server has exited
                time.sleep(1)
    """

    def __init__(
        self,
        configs: Roster | Iterable[str | Path],
        *,
        vllm_bin: str = "vllm",
        log_dir: str | Path | None = None,
        deadline_s: float = 1800,
        grace_s: float = 30,
        on_event: Event | None = None,
    ) -> None:
        paths = roster_configs(configs) if isinstance(configs, Roster) else [resolve_config(c) for c in configs]
        folder = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="wood-vllm-"))
        self.servers: list[VLLMServer] = []
        seen: dict[int, Path] = {}
        for path in paths:
            config = read_config(path)
            server = VLLMServer(path, config, folder / log_name(config))
            if server.port in seen:
                raise VLLMConfigError(f"{shown_path(path)} and {shown_path(seen[server.port])} both use port {server.port}")
            seen[server.port] = path
            self.servers.append(server)
        self.vllm_bin = vllm_bin
        self.deadline_s = deadline_s
        self.grace_s = grace_s
        self.on_event = on_event

    def commands(self) -> list[list[str]]:
        return [render_command(s.config_path, vllm_bin=self.vllm_bin) for s in self.servers]

    def start(self) -> "VLLMFleet":
        """Start each server after the previous one is healthy. On any failure
        (or Ctrl-C) the ones already started are stopped before raising.
        Each server is sent SIGTERM when the thread that started it ends
        (`die_with_parent`), so call this from a thread that lives as long
        as the servers should (`wood serve`: the main thread)."""
        binary = find_vllm(self.vllm_bin)
        atexit.register(self.stop)
        try:
            for server in self.servers:
                self._start_one(server, binary)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_one(self, server: VLLMServer, binary: str) -> None:
        if port_in_use(_host(server.config), server.port):
            raise WoodError(f"port {server.port} is already in use: is {server.name} already running? "
                            f"(stop it, or change port in {shown_path(server.config_path)})")
        self._emit("starting", server)
        began = time.monotonic()
        try:
            server.log_path.parent.mkdir(parents=True, exist_ok=True)
            log = open(server.log_path, "wb")
        except OSError as e:
            raise WoodError(f"cannot write {server.name}'s log at {shown_path(server.log_path)} ({e.strerror or e})") from None
        with log:
            # its own process group: stopping it also reaches vLLM's engine processes; SIGTERM when this
            # thread ends however it ends (a `kill -9` of the game included), so no server outlives it
            try:
                server.process = subprocess.Popen(render_command(server.config_path, vllm_bin=binary),
                                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                                  preexec_fn=die_with_parent, start_new_session=True)
            except OSError as e:  # not a program (no #! line: "Exec format error"), or gone since it was found
                server.log_path.unlink(missing_ok=True)  # empty: a folder made for the logs is not left behind
                raise WoodError(f"cannot run {shown_path(binary)} for {server.name}: {e.strerror or e}") from None
        try:
            wait_ready(server.health_url, deadline_s=self.deadline_s, proc=server.process)
        except WoodError as e:
            why = "exited during start" if isinstance(e, ServerExited) else "did not become healthy"
            raise WoodError(f"vllm server {server.name} {why}: {e}\nlog {shown_path(server.log_path)}:\n"
                            f"{log_tail(server.log_path)}") from None
        server.ready_s = time.monotonic() - began
        self._emit("healthy", server)

    def check(self) -> None:
        """Raise WoodError if a started server has exited since."""
        for server in self.servers:
            if server.process is not None and not server.stopped and server.process.poll() is not None:
                raise WoodError(f"vllm server {server.name} {ended(server.process.returncode)}\n"
                                f"log {shown_path(server.log_path)}:\n{log_tail(server.log_path)}")

    def stop(self) -> None:
        """Stop every started server, last started first; safe to call again."""
        for server in reversed(self.servers):
            if server.process is not None and not server.stopped:
                self._emit("stopping", server)
                stop_process(server.process, grace_s=self.grace_s, group=True)
                server.stopped = True
                self._emit("stopped", server)
        atexit.unregister(self.stop)

    def _emit(self, event: str, server: VLLMServer) -> None:
        if self.on_event is not None:
            self.on_event(event, server)

    def __enter__(self) -> "VLLMFleet":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

