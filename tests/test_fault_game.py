"""Whole games against a model server that misbehaves on purpose: `wood sim
--roster` as a user runs it (a real process) talking to the real HTTP
`FaultServer` on 127.0.0.1. Every round completes, every creature's call is
in the ledger with its outcome and reason, and the run still replays to its
own hash."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from engine.ledger import Ledger
from engine.world import RosterEntry

from .fault_server import FREEZE, SCENARIOS, FaultServer

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("Owl", "Fox", "Badger", "Hare", "Squirrel")
CONTROL = {chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))} | set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def wood(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "wood_tui.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def roster_toml(base_url: str) -> str:
    head = (f'[models.flaky]\nbase_url = "{base_url}"\nmodel = "smollm2"\njson_mode = "json_object_schema"\n'
            "max_concurrency = 2\ntimeout_s = 1\nconnect_timeout_s = 1\nmax_tokens = 64\n")
    return head + "".join(f'\n[[creatures]]\nname = "{n}"\nspecies = "{n.lower()}"\nmodel = "flaky"\n' for n in NAMES)


def test_every_round_completes_against_a_misbehaving_server_and_the_ledger_has_every_call(tmp_path):
    rounds = -(-2 * len(SCENARIOS) // len(NAMES))  # enough decisions to meet every scenario twice, retries or not
    with FaultServer(stall_s=2.0) as srv:
        srv.play(*SCENARIOS, *SCENARIOS)  # every misbehaviour twice, then valid replies
        (tmp_path / "roster.toml").write_text(roster_toml(srv.base_url))
        db = tmp_path / "run.db"
        r = wood("sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", str(rounds), "--seed", "4",
                 "--save", str(db))
        assert r.returncode == 0, r.stderr
        assert not srv._script, "some scenarios were never met"
        requests = len(srv.requests)
    assert r.stdout.strip().splitlines()[-1].startswith("state hash: ")
    assert f"invariant checks passed: {rounds} rounds" in r.stdout
    assert f"model flaky: {rounds * len(NAMES)} decisions ({requests} requests)," in r.stdout and "faults" in r.stdout

    con = sqlite3.connect(db)
    assert [n for (n,) in con.execute("SELECT round FROM rounds ORDER BY round")] == list(range(1, rounds + 1))
    for table in ("actions", "calls"):
        per_round = dict(con.execute(f"SELECT round, COUNT(*) FROM {table} GROUP BY round"))
        assert per_round == {n: len(NAMES) for n in range(1, rounds + 1)}, table
    calls = list(Ledger.open(db).calls())
    outcomes = {c["outcome"] for c in calls}
    assert outcomes == {"clean", "repaired", "rejected", "fault"}, outcomes
    for c in calls:
        assert c["messages"] and c["latency_ms"] is not None
        if c["outcome"] in ("rejected", "fault"):
            assert c["reason"], c  # nothing falls back to pass without saying why
        if c["outcome"] == "fault":
            assert json.loads(con.execute("SELECT action FROM actions WHERE round=? AND creature=?",
                                          (c["round"], c["creature"])).fetchone()[0])["action"] == "pass"
    assert any("\x1b" in (c["raw"] or "") for c in calls)  # the hostile reply is kept raw, for the audit
    says = [json.loads(a).get("say", "") for (a,) in con.execute("SELECT action FROM actions")]
    assert not any(CONTROL & set(s) for s in says)  # what the engine applied is clean
    # a lone surrogate escape a model wrote (the surrogate_* replies) reaches no move, event or prompt as one
    for table, column in (("actions", "action"), ("events", "data"), ("calls", "messages")):
        for (text,) in con.execute(f"SELECT {column} FROM {table}"):
            json.dumps(json.loads(text), ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError if it did
    con.close()

    v = wood("replay", str(db), "--verify")
    assert v.returncode == 0, v.stderr
    out = tmp_path / "audit"
    e = wood("export", str(db), "--out", str(out))
    assert e.returncode == 0, e.stderr
    assert len((out / "calls.jsonl").read_text().splitlines()) == rounds * len(NAMES)

    # a clean call's action changed by hand (a fine-tuning target): the state hash cannot see it, --verify does
    with sqlite3.connect(db) as con:
        con.execute("""UPDATE calls SET action = '{"action": "pass", "say": "x"}' WHERE rowid = (
                       SELECT rowid FROM calls WHERE outcome = 'clean' ORDER BY round DESC LIMIT 1)""")
    con.close()
    v = wood("replay", str(db), "--verify")
    assert v.returncode == 1 and "recorded model call of" in v.stderr and "not what its actions make" in v.stderr, v.stderr


def test_a_joined_human_creature_trades_on_autopilot_when_a_model_game_is_resumed_headless(tmp_path):
    """`wood play --as Wren --species owl` saves Wren with model "human";
    `wood sim --resume` of that save has no one at Wren's seat."""
    with FaultServer() as srv:
        db = tmp_path / "play.db"
        roster = [RosterEntry(n, n.lower(), "cautious", "flaky") for n in NAMES[:3]]
        roster.append(RosterEntry("Wren", "owl", "cautious", "human"))
        models = {"flaky": {"base_url": srv.base_url, "model": "smollm2", "json_mode": "json_object_schema",
                            "max_concurrency": 2, "timeout_s": 5}}
        Ledger.create(db, seed=2, roster=roster, brains="llm", extra={"models": models}).close()
        r = wood("sim", "--resume", str(db), "--rounds", "3")
        assert r.returncode == 0, r.stderr
        assert len(srv.requests) == 3 * 3  # the three model creatures, never Wren
    con = sqlite3.connect(db)
    wren = [json.loads(a) for (a,) in con.execute("SELECT action FROM actions WHERE creature = 'Wren'")]
    assert len(wren) == 3
    assert con.execute("SELECT COUNT(*) FROM calls WHERE creature = 'Wren'").fetchone()[0] == 0


def test_a_server_that_is_down_at_start_is_one_line_and_leaves_no_empty_save(tmp_path):
    with FaultServer() as srv:
        url = srv.base_url  # a port that was just free, and is closed again below
    (tmp_path / "roster.toml").write_text(roster_toml(url))
    db = tmp_path / "run.db"
    r = wood("sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", "3", "--save", str(db))
    assert r.returncode == 2 and r.stderr.startswith("wood: error: ") and "unreachable" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not db.exists()  # the same command can be run again once the server is up


def test_a_resume_that_cannot_start_leaves_its_save_as_it_was(tmp_path):
    """A resume given a new length whose server is down changes nothing in the
    save: the length it was last given still stands."""
    with FaultServer() as srv:
        url = srv.base_url  # closed again below
    db = tmp_path / "run.db"
    roster = [RosterEntry(n, n.lower(), "cautious", "flaky") for n in NAMES]
    models = {"flaky": {"base_url": url, "model": "smollm2", "json_mode": "json_object_schema", "timeout_s": 1,
                        "connect_timeout_s": 1}}
    Ledger.create(db, seed=2, roster=roster, brains="llm", extra={"models": models}, rounds=8).close()
    before = db.read_bytes()
    r = wood("sim", "--resume", str(db), "--rounds", "19")
    assert r.returncode == 2 and "unreachable" in r.stderr, r.stderr
    assert "resuming" not in r.stderr  # said only once the game can go on
    assert db.read_bytes() == before


def test_ctrl_c_before_the_first_round_is_saved_says_nothing_was_kept(tmp_path):
    """Stopped while round 1 waits on the model, a new save holds no round and
    is removed: the interrupt line says so, rather than offering a resume of a
    file that is gone."""
    with FaultServer(stall_s=30) as srv:
        srv.default = "stall"
        (tmp_path / "roster.toml").write_text(roster_toml(srv.base_url).replace("timeout_s = 1\n", "timeout_s = 60\n"))
        db = tmp_path / "run.db"
        victim = subprocess.Popen([sys.executable, "-m", "wood_tui.cli", "sim", "--roster", str(tmp_path / "roster.toml"),
                                   "--rounds", "3", "--save", str(db)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not srv.requests and time.monotonic() < deadline:  # round 1 has asked the model
            time.sleep(0.05)
        assert srv.requests, "the run never asked the model"
        victim.send_signal(signal.SIGINT)
        _, err = victim.communicate(timeout=60)
    assert victim.returncode == 130, err
    assert err.strip().splitlines()[-1] == f"wood: interrupted; no round was finished, so {db} was not kept", err
    assert not db.exists() and "Traceback" not in err


def test_an_api_key_is_sent_but_never_saved_and_a_resume_reads_it_from_its_variable(tmp_path):
    """A save is a file people share: the roster's key goes to the server, not
    into the save. A run to be resumed names the variable that holds it."""
    secret = "sk-THE-WOODS-SECRET-1234"
    with FaultServer() as srv:
        head = roster_toml(srv.base_url).replace("max_tokens = 64\n", f'max_tokens = 64\napi_key = "{secret}"\n')
        (tmp_path / "keyed.toml").write_text(head)
        keyed = tmp_path / "keyed.db"
        r = wood("sim", "--roster", str(tmp_path / "keyed.toml"), "--rounds", "2", "--save", str(keyed))
        assert r.returncode == 0 and "api_key is sent but not kept in" in r.stderr, r.stderr  # said at once
        assert set(srv.auth) == {f"Bearer {secret}"}
        assert secret.encode() not in keyed.read_bytes()
        (tmp_path / "env.toml").write_text(roster_toml(srv.base_url).replace(
            "max_tokens = 64\n", 'max_tokens = 64\napi_key_env = "WOOD_TEST_KEY"\n'))
        env = {**os.environ, "WOOD_TEST_KEY": secret}
        db = tmp_path / "env.db"
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sim", "--roster", str(tmp_path / "env.toml"),
                            "--rounds", "2", "--save", str(db)], cwd=ROOT, capture_output=True, text=True, env=env,
                           timeout=240)
        assert r.returncode == 0, r.stderr
        srv.auth.clear()
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sim", "--resume", str(db), "--rounds", "3"],
                           cwd=ROOT, capture_output=True, text=True, env=env, timeout=240)
        assert r.returncode == 0, r.stderr
        assert srv.auth and set(srv.auth) == {f"Bearer {secret}"}
    assert secret.encode() not in db.read_bytes()


def test_a_model_that_stops_answering_is_said_at_once_and_stops_the_run_resumably(tmp_path):
    """A server that dies mid-run (here: answers its check, then fails every
    call) is not met with a silent run of passes that exits 0: the first
    round of failures is said, and after five rounds of nothing the run stops
    with exit 1, its rounds saved and resumable."""
    db = tmp_path / "run.db"
    with FaultServer() as srv:
        srv.default = "http_400"
        (tmp_path / "roster.toml").write_text(roster_toml(srv.base_url))
        r = wood("sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", "40", "--save", str(db), "--quiet")
        assert r.returncode == 1, r.stderr
        err = r.stderr.strip().splitlines()
        assert err[0].startswith("wood: model flaky: every call failed in round 1 (fault: http_400")
        assert err[0].endswith("); its creatures pass until it answers") and len(err) == 2, err
        assert err[-1].startswith("wood: model flaky has answered none of its calls for 5 rounds (fault: http_400")
        assert err[-1].endswith(f"stopped after round 5 of 40; every round played is in {db}: "
                                f"resume with wood sim --resume {db}"), err
        assert "rounds: 5" in r.stdout and f"passes: {5 * len(NAMES)} ({5 * len(NAMES)} of them for a model" in r.stdout
        assert "calls answered: latency p50 n/a, p95 n/a; prompt tokens mean n/a, max n/a" in r.stdout  # none came back
        assert Ledger.open(db).last_round() == 5
        srv.default = "valid"  # the server is back: the run goes on where it stopped, and says nothing more
        r = wood("sim", "--resume", str(db), "--quiet")
        assert r.returncode == 0, r.stderr
        assert "every call failed" not in r.stderr and Ledger.open(db).last_round() == 40
        srv.default = "http_400"  # failing through to the last round: nothing to resume, and it says no such thing
        r = wood("sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", "5", "--quiet")
        assert r.returncode == 1 and r.stderr.strip().splitlines()[-1].startswith(
            "wood: model flaky answered none of its calls in the last 5 rounds (fault: http_400"), r.stderr
        assert "resume" not in r.stderr and "rounds: 5" in r.stdout


def test_a_server_that_hangs_mid_game_is_said_and_not_waited_on_round_after_round(tmp_path):
    """A server that freezes from round 3 on (takes connections, answers
    nothing): the five creatures' calls, one at a time (max_concurrency 1),
    each waited its whole timeout_s, every round, until the run stopped. Now
    three timed-out calls and the server is sent no more: the rest of its
    creatures' turns are passes whose reason names it, the line on stderr
    says so, and the run stops after five rounds of nothing as before."""
    db = tmp_path / "run.db"
    with FaultServer() as srv:
        srv.play(*["valid"] * 2 * len(NAMES))
        srv.default = FREEZE
        (tmp_path / "roster.toml").write_text(roster_toml(srv.base_url).replace("max_concurrency = 2",
                                                                                "max_concurrency = 1"))
        r = wood("sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", "20", "--save", str(db), "--quiet")
        sent = len(srv.requests)
    assert r.returncode == 1, r.stderr
    assert sent == 2 * len(NAMES) + 3, sent  # two rounds answered, then three calls timed out: not 25
    err = r.stderr.strip().splitlines()
    assert err[0] == (f"wood: model flaky: every call failed in round 3 (fault: silent: not sent: {srv.base_url} "
                      "answered none of its last 3 calls within 1 s (timeout_s); asked again once it answers its "
                      "health check); its creatures pass until it answers"), err
    assert err[-1].startswith("wood: model flaky has answered none of its calls for 5 rounds") and len(err) == 2
    assert "stopped after round 7 of 20" in err[-1]
    assert "faults 25 (timeout 3, silent 22)" in r.stdout and "model flaky: 35 decisions (13 requests)" in r.stdout
    calls = [c for c in Ledger.open(db).calls() if c["round"] >= 3]
    assert len(calls) == 5 * len(NAMES) and all(c["outcome"] == "fault" and c["reason"] for c in calls)
    assert {c["reason"].split(":")[1].strip() for c in calls} == {"timeout", "silent"}


def test_an_embedded_model_already_served_on_its_port_is_used_not_started_again(tmp_path):
    """`embedded = true` with a base_url whose port already answers (a `wood
    serve` left running): the game uses that server, says so, and starts no
    server of its own (which would find the port taken); the model check
    still holds it to serving the model."""
    with FaultServer() as srv:
        (tmp_path / "roster.toml").write_text(roster_toml(srv.base_url).replace(
            "[models.flaky]\n", "[models.flaky]\nembedded = true\n", 1))
        r = wood("sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", "2", "--seed", "4")
        assert r.returncode == 0, r.stderr
        assert f"using the model already served at {srv.base_url} (wood serve?) for flaky" in r.stdout + r.stderr
        assert "starting the embedded model" not in r.stdout + r.stderr
        assert len(srv.requests) == 2 * len(NAMES)
    with FaultServer(models=("another",)) as srv:  # something else on the port: the check names the model
        (tmp_path / "roster.toml").write_text(roster_toml(srv.base_url).replace(
            "[models.flaky]\n", "[models.flaky]\nembedded = true\n", 1))
        r = wood("sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", "2", "--seed", "4")
        assert r.returncode == 2 and "model 'smollm2' not served at" in r.stderr, r.stderr
        assert "using the model" not in r.stdout + r.stderr  # it was not: said only once the check found it


def test_a_key_variable_that_is_not_set_is_said_at_the_start(tmp_path):
    """`api_key_env` naming a variable that is not set: the run says so once
    at the start (a server that needs no key plays on), not only when a
    server refuses it."""
    with FaultServer() as srv:
        (tmp_path / "roster.toml").write_text(roster_toml(srv.base_url).replace(
            "[models.flaky]\n", '[models.flaky]\napi_key_env = "WOOD_TEST_NO_SUCH_KEY"\n', 1))
        r = subprocess.run([sys.executable, "-m", "wood_tui.cli", "sim", "--roster", str(tmp_path / "roster.toml"),
                            "--rounds", "1"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env={k: v for k, v in os.environ.items() if k != "WOOD_TEST_NO_SUCH_KEY"})
    assert r.returncode == 0, r.stderr
    assert (r.stdout + r.stderr).count("model flaky: $WOOD_TEST_NO_SUCH_KEY is not set, so no API key is sent") == 1


def test_the_summary_counts_as_requests_only_what_reached_a_server(tmp_path):
    """`wood sim` with a model on two servers, one of them a port nothing
    listens on: a 503 from the live one sends its retry to the dead one,
    which refuses it. The summary had counted every attempt as a request
    ('N requests', the refused ones among them); now its requests are what
    the live server received (its 500s and garbage too) and the refused
    attempts are said apart, on the model's line and on the dead server's."""
    import re
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with FaultServer() as srv:
        srv.play("http_503", "http_500", "garbage", "bad_body", "http_503")
        (tmp_path / "roster.toml").write_text(roster_toml(srv.base_url).replace(
            f'base_url = "{srv.base_url}"', f'base_urls = ["{srv.base_url}", "{dead}"]\nhealth_interval_s = 0.05'))
        r = wood("sim", "--roster", str(tmp_path / "roster.toml"), "--rounds", "3", "--seed", "4", "--quiet")
        sent = len(srv.requests)
    assert r.returncode == 0, r.stderr
    assert not srv._script
    line = re.search(r"model flaky: 15 decisions \((\d+) requests?; (\d+) more attempts? could not connect\)",
                     r.stdout)
    assert line, r.stdout
    requests, refused = int(line[1]), int(line[2])
    assert requests == sent and refused >= 1, r.stdout
    assert f"  {srv.base_url}: {sent} requests, faults " in r.stdout, r.stdout
    attempts = f"{refused} attempt{'s' if refused > 1 else ''}"
    assert f"  {dead}: 0 requests ({attempts} could not connect), faults {refused} (connect {refused})," in r.stdout
