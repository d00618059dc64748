"""The vLLM side of serving: the shipped YAML configs and rosters, the flat
YAML reader, and VLLMFleet's one-at-a-time start, driven against a stub
`vllm` (tests/stub_vllm.py: a real process serving /health on 127.0.0.1)."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from hashlib import sha256
from pathlib import Path

import pytest

from engine.errors import WoodError
from engine.world import load_world
from serve.embedded import QUANT, free_port, gguf_path, sha256_file
from serve.roster import RosterError, embedded_roster, load_roster
from serve.vllm import (
    NOT_FOUND,
    VLLMConfigError,
    VLLMFleet,
    check_model,
    health_url,
    read_config,
    render_command,
    resolve_config,
    roster_configs,
)
from tests.saves import line_within
from wood_tui.cli import main

ROOT = Path(__file__).resolve().parent.parent
ALL_YAMLS = sorted((ROOT / "serve" / "vllm").glob("*.yaml"))
YAMLS = [p for p in ALL_YAMLS if "-thousand" not in p.stem]  # the four models of vllm.toml, on one GPU
THOUSAND = [p for p in ALL_YAMLS if "-thousand" in p.stem]     # the GPU recipe for 1,000 creatures
ROSTERS = ROOT / "serve" / "rosters"
STUB = Path(__file__).resolve().parent / "stub_vllm.py"


# --- shipped configs ---------------------------------------------------------

def test_the_four_models_are_shipped():
    assert [p.name for p in YAMLS] == ["gpt-oss-20b.yaml", "minicpm3-4b.yaml", "nemotron-mini-4b.yaml", "qwen2.5-0.5b.yaml"]


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.stem)
def test_shipped_yaml_parses_and_renders(path):
    cfg = read_config(path)
    assert cfg["model"] and cfg["served-model-name"] and cfg["host"] == "127.0.0.1"
    assert 8001 <= cfg["port"] <= 8004
    assert 0 < cfg["gpu-memory-utilization"] < 1
    assert render_command(path) == ["vllm", "serve", "--config", str(path)]
    assert render_command(path, vllm_bin="/opt/vllm/bin/vllm")[0] == "/opt/vllm/bin/vllm"
    assert health_url(cfg) == f"http://127.0.0.1:{cfg['port']}/health"


def test_shipped_yaml_model_specific_flags():
    cfgs = {p.stem: read_config(p) for p in YAMLS}
    assert cfgs["gpt-oss-20b"]["reasoning-parser"] == "openai_gptoss"
    assert cfgs["minicpm3-4b"]["trust-remote-code"] is True
    assert cfgs["nemotron-mini-4b"]["max-model-len"] == 4096
    assert json.loads(cfgs["qwen2.5-0.5b"]["structured-outputs-config"]) == {"disable_any_whitespace": True}


def test_the_thousand_creature_recipe_is_shipped():
    assert [p.stem for p in THOUSAND] == ["qwen2.5-0.5b-thousand-dp", "qwen2.5-0.5b-thousand-node",
                                          "qwen2.5-0.5b-thousand"]
    for path in THOUSAND:
        cfg = read_config(path)
        assert cfg["enable-prefix-caching"] is True and cfg["max-model-len"] >= 2048
        assert cfg["port"] == 8005 and render_command(path) == ["vllm", "serve", "--config", str(path)]
        # the whole round in one batch: 1,024 sequences in all, over the data-parallel engines
        assert cfg["max-num-seqs"] * cfg.get("data-parallel-size", 1) >= 1024
        assert json.loads(cfg["structured-outputs-config"]) == {"disable_any_whitespace": True}
    assert read_config(ROOT / "serve/vllm/qwen2.5-0.5b-thousand-node.yaml")["host"] == "0.0.0.0"
    assert health_url(read_config(ROOT / "serve/vllm/qwen2.5-0.5b-thousand-node.yaml")) == "http://127.0.0.1:8005/health"


@pytest.mark.parametrize("name, urls", [("thousand", 1), ("thousand-nodes", 2)])
def test_the_thousand_creature_rosters(name, urls):
    roster = load_roster(ROSTERS / f"{name}.toml")
    entries = roster.entries(load_world())
    assert len(entries) == 1000 and len({e.name for e in entries}) == 1000
    qwen = roster.models["qwen"]
    assert len(qwen.urls) == urls and qwen.max_concurrency * urls >= 1000 and qwen.json_mode == "json_schema"
    [path] = roster_configs(roster)  # every replica on the port its YAML serves
    assert check_model(qwen, path, read_config(path)) is None


def test_replicas_must_all_use_the_yaml_port(tmp_path):
    text = (ROSTERS / "thousand-nodes.toml").read_text().replace("gpu-node-2:8005", "gpu-node-2:8006")
    (tmp_path / "r.toml").write_text(text)
    with pytest.raises(VLLMConfigError, match="port 8006 does not match port 8005"):
        roster_configs(load_roster(tmp_path / "r.toml"))


def test_shipped_yamls_share_one_80gb_gpu():
    cfgs = [read_config(p) for p in YAMLS]
    assert sum(c["gpu-memory-utilization"] for c in cfgs) <= 0.85
    assert len({c["port"] for c in cfgs}) == len(cfgs)


def test_vllm_roster_matches_its_yamls():
    roster = load_roster(ROSTERS / "vllm.toml")
    assert [c.name for c in roster.creatures] == ["Owl", "Fox", "Badger", "Hare", "Squirrel"]
    paths = roster_configs(roster)
    assert [p.name for p in paths] == ["gpt-oss-20b.yaml", "minicpm3-4b.yaml", "nemotron-mini-4b.yaml", "qwen2.5-0.5b.yaml"]
    for m in roster.models.values():
        path = resolve_config(m.vllm_config)
        assert path.exists()
        check_model(m, path, read_config(path))  # same port, same served name
        assert m.backend == "vllm" and m.json_mode == "json_schema"
    oss = roster.models["gpt-oss"]
    assert oss.max_tokens >= 1024 and oss.reasoning_effort == "low"
    assert roster.models["nemotron"].context_window == 4096
    roster.entries(load_world())  # species known to the world


def test_embedded_roster_file_is_the_builtin_default():
    world = load_world()
    shipped = load_roster(ROSTERS / "embedded.toml")
    assert shipped.model_dump() == embedded_roster(world).model_dump()


def test_roster_config_mismatch_is_an_error(tmp_path):
    text = (ROSTERS / "vllm.toml").read_text().replace("127.0.0.1:8003", "127.0.0.1:8005")
    (tmp_path / "r.toml").write_text(text)
    roster = load_roster(tmp_path / "r.toml")
    with pytest.raises(VLLMConfigError, match="port 8005 does not match port 8003"):
        roster_configs(roster)


# --- the flat YAML reader ----------------------------------------------------

def test_read_config_values(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("---\n# comment\nmodel: org/m  # trailing comment\nport: 8100\nratio: 0.5\n"
                 "flag: true\noff-flag: no\nnothing: ~\nsq: 'it''s # not a comment'\n"
                 "dq: \"a\\tb\"\njson: '{\"k\": [1, 2]}'\n")
    assert read_config(p) == {"model": "org/m", "port": 8100, "ratio": 0.5, "flag": True, "off-flag": False,
                              "nothing": None, "sq": "it's # not a comment", "dq": "a\tb", "json": '{"k": [1, 2]}'}


@pytest.mark.parametrize("body, message", [
    ("model: m\nspeculative-config:\n  model: x\n", "nested YAML"),
    ("model: m\nlist:\n- a\n", "nested YAML"),
    ("model: m\nx: {a: 1}\n", "quote this value"),
    ("model: m\nport: 8000\nport: 8001\n", "port is set twice"),
    ("model: m\nx: 'open\n", "unterminated"),
    ("model: m\njust words\n", "expected `key: value`"),
    ("port: 8000\n", "no `model`"),
    ("model: m\nport: eighty\n", "port must be an integer"),
])
def test_read_config_rejects_what_it_cannot_read(tmp_path, body, message):
    p = tmp_path / "bad.yaml"
    p.write_text(body)
    with pytest.raises(VLLMConfigError, match=message):
        read_config(p)


def test_missing_config_file():
    with pytest.raises(VLLMConfigError, match="vLLM config not found"):
        read_config("serve/vllm/no-such-model.yaml")


# --- VLLMFleet against the stub ----------------------------------------------

@pytest.fixture
def stub_bin(tmp_path):
    """An executable `vllm` that runs tests/stub_vllm.py with this interpreter."""
    path = tmp_path / "vllm"
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STUB}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def write_config(folder: Path, name: str, record: Path, **extra) -> Path:
    lines = [f"model: stub/{name}", f"served-model-name: {name}", "host: 127.0.0.1",
             f"port: {free_port()}", f"stub-record: {record}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in extra.items()]
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: list[int], timeout_s: float = 5) -> list[int]:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and any(alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_fleet_starts_one_at_a_time_and_stops_all(tmp_path, stub_bin):
    record = tmp_path / "record.jsonl"
    paths = [write_config(tmp_path, name, record, stub_delay=0.6) for name in ("alpha", "beta", "gamma")]
    events: list[tuple[str, str]] = []
    fleet = VLLMFleet(paths, vllm_bin=stub_bin, log_dir=tmp_path / "logs",
                      on_event=lambda event, server: events.append((event, server.name)))
    with fleet:
        steps = records(record)
        starts = [r for r in steps if r["event"] == "start"]
        readies = {r["name"]: r["t"] for r in steps if r["event"] == "ready"}
        assert [r["name"] for r in starts] == ["alpha", "beta", "gamma"]
        for before, after in zip(starts, starts[1:]):
            assert after["t"] > readies[before["name"]], f"{after['name']} started before {before['name']} was healthy"
        assert all(s.ready_s >= 0.6 for s in fleet.servers)
        assert all(port_open(s.port) for s in fleet.servers)
        fleet.check()  # all running
        pids = [r["pid"] for r in steps if r["event"] == "start"]
        pids += [r["engine_pid"] for r in steps if r["event"] == "engine"]
    assert events == [("starting", "alpha"), ("healthy", "alpha"), ("starting", "beta"), ("healthy", "beta"),
                      ("starting", "gamma"), ("healthy", "gamma"),
                      ("stopping", "gamma"), ("stopped", "gamma"), ("stopping", "beta"), ("stopped", "beta"),
                      ("stopping", "alpha"), ("stopped", "alpha")]
    assert wait_gone(pids) == [], "a server or its engine process outlived the fleet"
    assert not any(port_open(s.port) for s in fleet.servers)
    assert all((tmp_path / "logs" / f"{s.name}-{s.port}.log").exists() for s in fleet.servers)


def test_each_server_of_a_fleet_writes_its_own_log(tmp_path):
    """Served names a file name spells alike (`org/m`, `org_m`), or one model
    served twice on two ports: each server's log is its own, named by name and port."""
    paths = []
    for i, name in enumerate(("org/m", "org_m", "org_m", "a b\\c")):
        path = tmp_path / f"{i}.yaml"
        path.write_text(f"model: stub/x\nserved-model-name: {name}\nhost: 127.0.0.1\nport: {9101 + i}\n")
        paths.append(path)
    fleet = VLLMFleet(paths, log_dir=tmp_path / "logs")
    logs = [s.log_path for s in fleet.servers]
    assert [p.name for p in logs] == ["org_m-9101.log", "org_m-9102.log", "org_m-9103.log", "a_b_c-9104.log"]
    assert all(p.parent == tmp_path / "logs" for p in logs)


def test_a_server_that_dies_during_start_gives_its_log_and_stops_the_rest(tmp_path, stub_bin):
    record = tmp_path / "record.jsonl"
    paths = [write_config(tmp_path, "alpha", record, stub_delay=0.2),
             write_config(tmp_path, "beta", record, stub_exit=3),
             write_config(tmp_path, "gamma", record)]
    fleet = VLLMFleet(paths, vllm_bin=stub_bin, log_dir=tmp_path)
    with pytest.raises(WoodError) as err:
        fleet.start()
    message = str(err.value)
    assert "vllm server beta exited during start" in message and "code 3" in message
    assert "CUDA out of memory (on purpose)" in message  # the log tail
    steps = records(record)
    assert [r["name"] for r in steps if r["event"] == "start"] == ["alpha", "beta"]  # gamma never started
    assert wait_gone([r["pid"] for r in steps] + [r["engine_pid"] for r in steps if r["event"] == "engine"]) == []


def test_a_server_that_dies_later_is_reported(tmp_path, stub_bin):
    record = tmp_path / "record.jsonl"
    with VLLMFleet([write_config(tmp_path, "alpha", record, stub_delay=0.1)], vllm_bin=stub_bin, log_dir=tmp_path) as fleet:
        os.kill(fleet.servers[0].process.pid, signal.SIGKILL)
        fleet.servers[0].process.wait()
        with pytest.raises(WoodError, match=r"vllm server alpha was killed by signal 9 \(SIGKILL\)"):
            fleet.check()


def test_missing_vllm_binary(tmp_path):
    fleet = VLLMFleet([write_config(tmp_path, "alpha", tmp_path / "r.jsonl")], vllm_bin="no-such-vllm-here")
    with pytest.raises(WoodError) as err:
        fleet.start()
    assert str(err.value) == NOT_FOUND


def test_port_already_taken(tmp_path, stub_bin):
    path = write_config(tmp_path, "alpha", tmp_path / "r.jsonl")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", read_config(path)["port"]))
        busy.listen()
        with pytest.raises(WoodError, match="already in use"):
            VLLMFleet([path], vllm_bin=stub_bin, log_dir=tmp_path).start()


@pytest.mark.parametrize("mode", ["fake_gzip", "trickle"])
def test_the_readiness_poll_reads_the_status_not_the_body(mode):
    """`wait_ready` asks only whether GET answers 200: a body said to be gzip
    and not had ended the start in a DecodingError traceback, and one
    trickled a byte at a time had held the poll seconds past its deadline."""
    from serve.health import wait_ready
    from tests.fault_server import FaultServer

    with FaultServer(models_mode=mode) as srv:
        wait_ready(f"{srv.base_url}/models", deadline_s=30.0)  # ready: its 200 read, no traceback
        assert not srv.trickled_whole.is_set()  # ... from the status line, before a trickled body's end


def test_the_readiness_poll_gives_up_at_its_deadline_on_a_trickled_head():
    """A server that sends its status line and headers a byte at a time (30 s
    of them, then a 200): each read is quick, so httpx's timeouts never fire,
    and the poll had waited for the whole head, past its deadline, then said
    ready. It ends at the deadline now, saying why, while the head still trickles."""
    from serve.health import wait_ready
    from tests.fault_server import FaultServer

    with FaultServer(models_mode="trickle_head") as srv:
        url = f"{srv.base_url}/models"
        with pytest.raises(WoodError) as err:
            wait_ready(url, deadline_s=1.0)
        assert not srv.trickled_whole.is_set()  # given up while the head was still coming (the hang guard: 30 s)
    assert str(err.value) == (f"{url} not ready after 1 s (last: its answer's status line and headers "
                              "were still not all in at the deadline)")


def test_two_configs_on_one_port(tmp_path):
    a = write_config(tmp_path, "alpha", tmp_path / "r.jsonl")
    b = tmp_path / "beta.yaml"
    b.write_text(a.read_text().replace("alpha", "beta"))
    with pytest.raises(VLLMConfigError, match="both use port"):
        VLLMFleet([a, b])


# --- wood serve ---------------------------------------------------------------

def test_wood_serve_dry_run(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["serve", "--dry-run", "--roster", "serve/rosters/vllm.toml"]) == 0
    out = capsys.readouterr().out
    commands = [line for line in out.splitlines() if line and not line.startswith("#")]
    assert commands == [f"vllm serve --config serve/vllm/{n}.yaml"
                        for n in ("gpt-oss-20b", "minicpm3-4b", "nemotron-mini-4b", "qwen2.5-0.5b")]
    assert "# gpt-oss-20b -> http://127.0.0.1:8001/v1 (first)" in out
    assert "# minicpm3-4b -> http://127.0.0.1:8002/v1 (start when the previous /health answers 200)" in out
    assert main(["serve", "--dry-run", "--roster", "serve/rosters/thousand-nodes.toml"]) == 0
    out = capsys.readouterr().out  # a model served by replicas: this node's address, and where the roster looks
    assert out.splitlines()[0] == ("# qwen2.5-0.5b-instruct -> http://127.0.0.1:8005/v1 (first); on each node: the "
                                   "roster's replicas are http://gpu-node-1:8005/v1, http://gpu-node-2:8005/v1")


def test_wood_serve_dry_run_writes_nothing_and_says_what_the_start_decides(tmp_path, monkeypatch, capsys):
    """The embedded model's port is picked at start and its requantized file
    made on the first start: a dry run picks and makes neither, and says so."""
    monkeypatch.chdir(ROOT)
    cache, tmp = tmp_path / "cache", tmp_path / "tmp"
    cache.mkdir()
    tmp.mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))  # where the requantized model is cached
    monkeypatch.setattr("tempfile.tempdir", str(tmp))  # where a log folder would be made
    runs = []
    for _ in range(2):
        assert main(["serve", "--roster", "serve/rosters/embedded.toml", "--dry-run"]) == 0
        runs.append(capsys.readouterr().out)
    assert list(cache.iterdir()) == [] and list(tmp.iterdir()) == []
    assert runs[0] == runs[1]
    lines = runs[0].splitlines()
    command = lines[-1].split()
    assert lines[0] == "# smollm2 (embedded) -> http://127.0.0.1:PORT/v1"
    assert command[command.index("--port") + 1] == "PORT" and command[command.index("--model") + 1] == "MODEL"
    assert "# PORT: a free port on 127.0.0.1, chosen at start" in lines
    assert f"written into {cache / 'thousand-token-wood'}/ on the first start" in runs[0]
    # a sound cached copy (its name holds its own hash) is what the start serves: its path is printed, as it is
    src = gguf_path()
    name = f"{src.stem}-{sha256_file(src)[:16]}-{QUANT}-{sha256(b'GGUF').hexdigest()[:16]}.gguf"
    made = cache / "thousand-token-wood" / name
    made.parent.mkdir()
    made.write_bytes(b"GGUF")
    assert main(["serve", "--roster", "serve/rosters/embedded.toml", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f" --model {made} " in out and "MODEL" not in out
    assert list(made.parent.iterdir()) == [made] and made.read_bytes() == b"GGUF"


def test_wood_serve_without_vllm(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert main(["serve", "--roster", "serve/rosters/vllm.toml", "--vllm-bin", "no-such-vllm-here"]) == 2
    assert capsys.readouterr().err.strip() == f"wood: error: {NOT_FOUND}"


def test_wood_serve_roster_without_servers(tmp_path, capsys, monkeypatch):
    text = (ROSTERS / "vllm.toml").read_text()
    (tmp_path / "r.toml").write_text("\n".join(l for l in text.splitlines() if not l.startswith("vllm_config")))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # where the logs' folder would be made
    (tmp_path / "tmp").mkdir()
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert main(["serve", "--roster", str(tmp_path / "r.toml")]) == 2
    assert "has nothing to serve" in capsys.readouterr().err
    assert list((tmp_path / "tmp").iterdir()) == []  # no empty logs' folder left behind


def two_stub_servers(tmp_path, **config) -> Path:
    """A roster of two stand-in vLLM servers (alpha for Owl, beta for Fox),
    their configs written into `tmp_path` (`write_config`'s `config`); they
    record what they do in `tmp_path / "record.jsonl"`."""
    record = tmp_path / "record.jsonl"
    models = []
    for name in ("alpha", "beta"):
        path = write_config(tmp_path, name, record, **config)
        port = read_config(path)["port"]
        models.append(f'[models.{name}]\nbackend = "vllm"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                      f'model = "{name}"\nvllm_config = "{path}"\n')
    roster = tmp_path / "roster.toml"
    roster.write_text("\n".join(models) + '[[creatures]]\nname = "Owl"\nspecies = "owl"\nmodel = "alpha"\n'
                      '[[creatures]]\nname = "Fox"\nspecies = "fox"\nmodel = "beta"\n')
    return roster


@pytest.mark.parametrize("log_dir", [True, False])
def test_wood_serve_runs_until_interrupted(tmp_path, stub_bin, log_dir):
    """Ctrl-C stops every server; the logs stay in --log-dir, and a temporary
    folder made for them (no --log-dir) goes with a clean stop."""
    roster, record = two_stub_servers(tmp_path, stub_delay=0.3), tmp_path / "record.jsonl"
    (tmp_path / "tmp").mkdir()
    wood = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "serve", "--roster", str(roster),
                             "--vllm-bin", stub_bin, *(["--log-dir", str(tmp_path / "logs")] if log_dir else [])],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path / "tmp")})
    try:
        lines = []
        while not lines or not lines[-1].startswith("serving"):
            line = line_within(wood.stdout, 120)
            assert line, f"wood serve ended early: {wood.communicate(timeout=20)[1]}"
            lines.append(line.strip())
        wood.send_signal(signal.SIGINT)
        rest, err = wood.communicate(timeout=20)
    finally:
        wood.kill()
    assert wood.returncode == 0, err
    if log_dir:
        assert lines[0] == f"logs in {tmp_path / 'logs'}"
        assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == [f"{n}-{read_config(tmp_path / f'{n}.yaml')['port']}.log"
                                                                       for n in ("alpha", "beta")]
    else:
        made = lines[0].split()[2]
        assert lines[0] == f"logs in {made} (removed on a clean stop; --log-dir DIR keeps them)"
        assert Path(made).parent == tmp_path / "tmp" and list((tmp_path / "tmp").iterdir()) == []
    assert lines[1].startswith("starting alpha on :") and " ... healthy after " in lines[1]
    assert lines[2].startswith("starting beta on :") and " ... healthy after " in lines[2]
    assert "stopping beta ... stopped\nstopping alpha ... stopped" in rest
    steps = records(record)
    assert wait_gone([r["pid"] for r in steps] + [r["engine_pid"] for r in steps if r["event"] == "engine"]) == []


def _serve_until_serving(roster: Path, stub_bin: str, tmp: Path) -> tuple[subprocess.Popen, list[str]]:
    """`wood serve --roster ROSTER` with its temporary folder in `tmp`, once it says it is serving."""
    wood = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "serve", "--roster", str(roster),
                             "--vllm-bin", stub_bin], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(tmp)})
    lines: list[str] = []
    while not lines or not lines[-1].startswith("serving"):
        try:
            line = line_within(wood.stdout, 120)
        except AssertionError:  # no line in time: the test fails, leaving no wood serve behind
            wood.kill()
            wood.wait()
            raise
        if not line:
            wood.kill()
            pytest.fail(f"wood serve ended early: {wood.communicate(timeout=20)[1]}")
        lines.append(line.strip())
    return wood, lines


def test_the_log_folder_of_a_wood_serve_killed_outright_is_swept_a_day_on(tmp_path, stub_bin):
    """`wood serve` without --log-dir made $TMPDIR/wood-serve-XXXXXXXX, which
    only a clean stop removed: a `kill -9` left it for good. Named now for
    its pid, it is swept as a game's is (`drop_orphaned_logs`), by a later
    `wood serve` or game: once no process has the pid and its logs are a
    day old; a folder holding anything but its servers' logs, a running
    pid's, a link, one with a fresh log or one named for no pid stays."""
    from serve.embedded import ORPHAN_AGE_S

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    record = tmp_path / "record.jsonl"
    rosters = []
    for name in ("alpha", "beta"):
        path = write_config(tmp_path, name, record)
        port = read_config(path)["port"]
        rosters.append(tmp_path / f"{name}.toml")
        rosters[-1].write_text(f'[models.{name}]\nbackend = "vllm"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                               f'model = "{name}"\nvllm_config = "{path}"\n'
                               f'[[creatures]]\nname = "Owl"\nspecies = "owl"\nmodel = "{name}"\n'
                               '[[creatures]]\nname = "Fox"\nspecies = "fox"\nmodel = "scripted"\n')
    first, lines = _serve_until_serving(rosters[0], stub_bin, tmp)
    first.kill()
    first.communicate(timeout=60)  # reaped: its pid is no process's now
    for r in records(record):  # its vLLM server stops with it (SIGTERM); the stub's engine is stopped here
        for pid in (r["pid"], r.get("engine_pid")):
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGKILL)
    orphan = Path(lines[0].split()[2])
    assert orphan.parent == tmp and orphan.name.startswith(f"wood-serve-{first.pid}-"), lines[0]
    assert [p.name.split("-")[0] for p in orphan.iterdir()] == ["alpha"]  # alpha-PORT.log: what a wood serve killed outright leaves

    def folder(name: str, *files: str) -> Path:
        (tmp / name).mkdir()
        for f in files:
            (tmp / name / f).write_text("kept")
        return tmp / name

    kept = [folder(f"wood-serve-{os.getpid()}-running", "a.log"),  # a running process's
            folder(f"wood-serve-{first.pid}-notesadd", "a.log", "notes.txt"),  # more than its servers' logs
            folder("wood-serve-nopidnam", "a.log"),  # named as before, for no pid
            folder("elsewhere", "a.log")]
    (tmp / f"wood-serve-{first.pid}-linklink").symlink_to(tmp / "elsewhere")  # a link
    kept.append(tmp / f"wood-serve-{first.pid}-linklink")
    day_old = time.time() - ORPHAN_AGE_S - 60
    for path in [p for f in [orphan, *kept] if not f.is_symlink() for p in (f, *f.iterdir())]:
        os.utime(path, (day_old, day_old))
    kept.append(folder(f"wood-serve-{first.pid}-recent00", "a.log"))  # a failed run's, its log fresh
    os.utime(kept[-1], (day_old, day_old))  # the folder old, its log not: the log's age counts

    second, lines = _serve_until_serving(rosters[1], stub_bin, tmp)
    second.send_signal(signal.SIGINT)
    rest, err = second.communicate(timeout=20)
    assert second.returncode == 0, err
    assert not orphan.exists()
    assert sorted(tmp.iterdir()) == sorted(kept)  # the second's own folder gone with its clean stop
    assert all((f / "a.log").is_file() for f in kept)


def test_the_servers_of_a_wood_serve_killed_outright_stop_with_it(tmp_path, stub_bin):
    """A `kill -9` of `wood serve` had left its vLLM servers running (each in
    its own session, which no Ctrl-C reaches): each now gets SIGTERM when the
    thread that started it ends (`die_with_parent`), `wood serve`'s main thread."""
    roster, record = two_stub_servers(tmp_path), tmp_path / "record.jsonl"
    (tmp_path / "tmp").mkdir()
    wood, _ = _serve_until_serving(roster, stub_bin, tmp_path / "tmp")
    servers = [r["pid"] for r in records(record) if r["event"] == "start"]
    try:
        assert len(servers) == 2 and all(alive(p) for p in servers)
        wood.kill()
        wood.communicate(timeout=60)
        assert wait_gone(servers) == [], "a vLLM server outlived the wood serve killed outright"
    finally:
        wood.kill()
        for pid in servers:  # each server's group (the stub's engine too): none left, whatever the test found
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


def test_installed_rosters_are_found_from_any_folder(tmp_path, monkeypatch):
    """`--roster serve/rosters/vllm.toml` (as the README writes it) works outside the checkout too."""
    monkeypatch.chdir(tmp_path)
    assert {c.name for c in load_roster("serve/rosters/vllm.toml").creatures} >= {"Owl", "Fox"}
    assert load_roster("embedded.toml").models
    with pytest.raises(RosterError, match="not found"):
        load_roster("elsewhere/vllm.toml")


def test_wood_serve_with_a_vllm_path_to_nothing_or_a_bad_log_dir_is_one_line_and_makes_no_folder(tmp_path, capsys,
                                                                                                  monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # where a log folder would be made
    (tmp_path / "afile").write_text("")
    for argv, words in ((["--vllm-bin", "/nonexistent/vllm"], "--vllm-bin /nonexistent/vllm: no such executable"),
                        (["--vllm-bin", "/bin/false", "--log-dir", str(tmp_path / "afile")], "is a file, not a directory"),
                        (["--vllm-bin", "/bin/false", "--log-dir", ""], "expected a directory path")):
        try:
            rc = main(["serve", "--roster", "serve/rosters/vllm.toml", *argv])
        except SystemExit as e:  # a usage error argparse reads (wood_tui/cli.py: one line, exit 2)
            rc = e.code
        assert rc == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("wood: error: ") and words in err and len(err.splitlines()) == 1, err
    assert main(["serve", "--roster", "serve/rosters/vllm.toml", "--dry-run"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no wood-serve-* folder was made


def test_an_embedded_models_roster_settings_reach_its_server(tmp_path, monkeypatch, capsys):
    """`context_window` and `max_concurrency` of an `embedded = true` model are
    the server's context per request and the requests it decodes together
    (`wood serve` and a game start it through one `server_for`); a pair that
    would need more KV cache than KV_CELLS_MAX is one line."""
    from engine.brains.config import ModelConfig
    from serve.embedded import KV_CELLS_MAX, server_for

    monkeypatch.chdir(ROOT)
    roster = tmp_path / "r.toml"
    text = (ROSTERS / "embedded.toml").read_text()
    roster.write_text(text.replace("max_concurrency = 8", "max_concurrency = 3")
                      .replace("context_window = 2048", "context_window = 1024"))
    assert main(["serve", "--roster", str(roster), "--dry-run"]) == 0
    command = capsys.readouterr().out.splitlines()[-1].split()
    assert command[command.index("--parallel") + 1] == "3" and command[command.index("--n-ctx") + 1] == "1024"
    cfg = ModelConfig(name="big", model="smollm2", embedded=True, max_concurrency=64, context_window=4096)
    with pytest.raises(WoodError, match=f"model 'big' is embedded: its max_concurrency x context_window "
                                        f"\\(64 x 4096 = 262,144\\) must be at most {KV_CELLS_MAX:,}"):
        server_for(cfg)
    assert server_for(cfg.model_copy(update={"max_concurrency": 32})).parallel == 32


def test_an_embedded_model_past_the_kv_cap_is_refused_as_its_roster_loads(tmp_path, monkeypatch, capsys):
    """Checked only when the server started, such a roster left `wood serve`'s
    new temporary log folder behind, and a game learnt of it after its
    screen had taken over; the line said the product 'is at most' the cap."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR read afresh
    roster = tmp_path / "r.toml"
    roster.write_text((ROSTERS / "embedded.toml").read_text().replace("max_concurrency = 8", "max_concurrency = 64")
                      .replace("context_window = 2048", "context_window = 4096"))
    for argv in (["serve", "--roster", str(roster)], ["sim", "--roster", str(roster), "--save", str(tmp_path / "x.db")]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"wood: error: roster {roster}: model 'smol' is embedded: its max_concurrency x context_window " \
               "(64 x 4096 = 262,144) must be at most 131,072" in err, err
    assert list((tmp_path / "tmp").iterdir()) == [] and not (tmp_path / "x.db").exists()


def test_an_embedded_model_named_other_than_its_server_serves_is_refused_as_its_roster_loads(tmp_path, monkeypatch,
                                                                                             capsys):
    """`embedded = true` with `model = "qwen"`: the roster loaded, a game
    started the embedded server and then refused the model it did not list
    ('model 'qwen' not served at ... (serves: smollm2)'), and `wood serve
    --dry-run` printed the line of a server that would never serve it. It is
    refused as the roster loads, before any server, save or log folder."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR read afresh
    roster = tmp_path / "r.toml"
    roster.write_text((ROSTERS / "embedded.toml").read_text().replace('model = "smollm2"', 'model = "qwen"'))
    for argv in (["serve", "--roster", str(roster), "--dry-run"],  # first: a real start had served on till stopped
                 ["sim", "--roster", str(roster), "--save", str(tmp_path / "x.db")], ["serve", "--roster", str(roster)]):
        capsys.readouterr()
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert (out, err) == ("", f"wood: error: roster {roster}: model 'smol' is embedded: its model is 'smollm2', "
                                  "the name the embedded server serves, not 'qwen'\n"), (out, err)
    assert list((tmp_path / "tmp").iterdir()) == [] and not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("url", ["http://10.1.2.3:8010/v1", "http://127.0.0.1:8010/other", "http://[::1]:8010/v1",
                                 "https://127.0.0.1:8010/v1", "http://localhost:8010/v1"])
def test_an_embedded_model_whose_base_url_is_not_where_its_server_listens_is_refused(tmp_path, monkeypatch, capsys,
                                                                                     url):
    """The embedded server listens on http://127.0.0.1:PORT/v1 alone, yet a
    base_url of another host, scheme or path loaded: `wood serve` (and its
    --dry-run) served on 127.0.0.1 saying nothing of it, and a game asked the
    other host whether the model was served there before starting its own
    here. The roster is refused as it loads, naming the URL it takes."""
    monkeypatch.chdir(ROOT)
    roster = tmp_path / "r.toml"
    roster.write_text((ROSTERS / "embedded.toml").read_text().replace("embedded = true\n",
                                                                       f'embedded = true\nbase_url = "{url}"\n', 1))
    for argv in (["serve", "--roster", str(roster), "--dry-run"],
                 ["sim", "--roster", str(roster), "--save", str(tmp_path / "x.db")]):
        capsys.readouterr()
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert (out, err) == ("", f"wood: error: roster {roster}: model 'smol' is embedded: its base_url is "
                                  "http://127.0.0.1:PORT/v1, where its server listens on this machine (with no port, "
                                  f"a free one), not '{url}'\n"), (out, err)
    assert not (tmp_path / "x.db").exists()
    roster.write_text(roster.read_text().replace(url, "http://127.0.0.1:8010/v1"))
    assert main(["serve", "--roster", str(roster), "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "# smollm2 (embedded) -> http://127.0.0.1:8010/v1"


@pytest.mark.parametrize("urls", [["http://127.0.0.1:8010/v1", "http://10.1.2.3:8010/v1"],
                                  ["http://127.0.0.1:8010/v1", "http://127.0.0.1:8011/v1"]])
def test_an_embedded_model_with_base_urls_is_refused(tmp_path, monkeypatch, capsys, urls):
    """Only base_url was checked: an embedded model's base_urls whose second
    entry was another host loaded, `wood serve --dry-run` exited 0, and a
    game started one server on the first port yet sent turns to every entry
    (another host's, or a port nothing serves). The game starts one server,
    so the roster is refused as it loads, naming base_urls."""
    monkeypatch.chdir(ROOT)
    roster = tmp_path / "r.toml"
    listed = ", ".join(f'"{u}"' for u in urls)
    roster.write_text((ROSTERS / "embedded.toml").read_text().replace(
        "embedded = true\n", f"embedded = true\nbase_urls = [{listed}]\n", 1))
    for argv in (["serve", "--roster", str(roster), "--dry-run"],
                 ["sim", "--roster", str(roster), "--save", str(tmp_path / "x.db")]):
        capsys.readouterr()
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert (out, err) == ("", f"wood: error: roster {roster}: model 'smol' is embedded: it takes no base_urls (the "
                                  "game starts its one server; a base_url, if any, is http://127.0.0.1:PORT/v1), "
                                  f"not {urls!r}\n"), (out, err)
    assert not (tmp_path / "x.db").exists()


def test_wood_serve_on_a_taken_port_leaves_no_empty_log_folder(tmp_path, capsys, monkeypatch):
    """The embedded model's port is another program's: one line, and the
    temporary log folder, which no server wrote in, is not left behind."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # where the log folder is made
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        roster = tmp_path / "taken.toml"
        roster.write_text((ROOT / "serve/rosters/embedded.toml").read_text().replace(
            "\n[models.smol]\n", f"\n[models.smol]\nbase_url = \"http://127.0.0.1:{port}/v1\"\n"))
        assert main(["serve", "--roster", str(roster)]) == 2
    out, err = capsys.readouterr()
    assert f"port {port} is already in use" in err
    folder = out.split("logs in ", 1)[1].split(" ", 1)[0]
    assert not Path(folder).exists(), out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.toml"]


def test_wood_serve_with_the_embedded_model_reads_the_temporary_folder_for_orphaned_logs_once(tmp_path, capsys,
                                                                                              monkeypatch):
    """`wood serve` swept the temporary folder for orphaned log folders as it
    began, and its embedded server's start read it whole again: once now."""
    import serve.embedded as embedded

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    reads = []
    monkeypatch.setattr(embedded, "drop_orphaned_logs", lambda tmp=None: reads.append(tmp))
    # no model to load: a server that exits at once, its start failing as one line
    monkeypatch.setattr(embedded.EmbeddedServer, "command", lambda self: [sys.executable, "-c", "raise SystemExit(3)"])
    monkeypatch.chdir(ROOT)
    assert main(["serve", "--roster", "serve/rosters/embedded.toml"]) == 2
    assert "the embedded model server exited early" in capsys.readouterr().err
    assert reads == [None]


def test_wood_serve_serves_every_embedded_model_of_a_roster(tmp_path, monkeypatch, capsys):
    """A roster with two embedded models: `wood serve` (and its --dry-run)
    had started the first alone, saying nothing of the second, while a game
    starts one server per embedded model. Each now has its own, named, as a
    game starts them; two whose base_url names one port share the server
    started there, as a game uses the one it finds answering there."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    base = (ROSTERS / "embedded.toml").read_text()
    twin = base.split("[[creatures]]")[0].replace("[models.smol]", "[models.wide]").replace(
        "context_window = 2048", "context_window = 4096")
    roster = tmp_path / "r.toml"
    roster.write_text(base.replace('name = "Fox"\nspecies = "fox"\ntemperament = "speculator"\nmodel = "smol"',
                                   'name = "Fox"\nspecies = "fox"\ntemperament = "speculator"\nmodel = "wide"')
                      + "\n" + twin)
    assert 'model = "wide"' in roster.read_text()
    assert main(["serve", "--roster", str(roster), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [x for x in lines if "(embedded" in x] == ["# smollm2 (embedded, for smol) -> http://127.0.0.1:PORT/v1",
                                                      "# smollm2 (embedded, for wide) -> http://127.0.0.1:PORT/v1"]
    commands = [x.split() for x in lines if not x.startswith("#")]
    assert [c[c.index("--n-ctx") + 1] for c in commands] == ["2048", "4096"]  # each its own context_window
    shared = roster.read_text().replace("embedded = true\n", 'embedded = true\nbase_url = "http://127.0.0.1:8010/v1"\n')
    roster.write_text(shared)
    assert main(["serve", "--roster", str(roster), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [x for x in lines if "(embedded" in x] == ["# smollm2 (embedded, for smol, wide) -> http://127.0.0.1:8010/v1"]
