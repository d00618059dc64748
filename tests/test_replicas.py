"""Replicas: one model served by several real loopback servers (processes on
127.0.0.1). The one client spreads calls across them (fewest outstanding),
takes one that fails out of rotation (its calls fall over to another and are
counted), and puts it back once its health check answers. One of two dies
mid-game, by SIGKILL, while a round's calls are in flight."""
from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from pydantic import ValidationError

from engine.brains.config import ModelConfig
from engine.brains.llm import ChatClient, replica_lines
from engine.ledger import Ledger
from serve.loopback import LoopbackServer
from serve.roster import RosterError, load_roster
from wood_tui.game import open_game
from wood_tui.options import RunOptions

CREATURES = 30
MSGS = [{"role": "user", "content": "your move"}]


@pytest.fixture
def pair():
    a, b = LoopbackServer(latency_ms=300).start(), LoopbackServer(latency_ms=300).start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def roster_file(tmp_path, urls: list[str], n: int = CREATURES):
    path = tmp_path / "replicas.toml"
    path.write_text(
        "[models.loop]\n"
        f"base_urls = [{', '.join(f'{chr(34)}{u}{chr(34)}' for u in urls)}]\n"
        'model = "loopback"\nmax_concurrency = 64\ntimeout_s = 10\nhealth_interval_s = 0.05\n\n'
        f'[crowd]\ncount = {n}\nmodel = "loop"\n', encoding="utf-8")
    return path


async def held(servers, each: int, timeout_s: float = 10.0) -> None:
    """Until every server holds `each` calls in flight (received, not yet
    answered): a wait on what the servers report, not a guess at the time."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = [(st := srv.stats())["active"] + st["queued"] for srv in servers]
        if all(n >= each for n in counts):
            return
        assert time.monotonic() < deadline, f"in flight {counts}, waited for {each} each"
        await asyncio.sleep(0.01)


def cfg(urls: list[str], **kw) -> ModelConfig:
    return ModelConfig(name="loop", base_urls=urls, model="loopback", max_concurrency=64, timeout_s=10,
                       health_interval_s=0.05, **kw)


def test_base_urls_in_the_config():
    m = cfg(["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"])
    assert m.base_url == "http://127.0.0.1:1/v1" and m.urls == ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]
    assert ModelConfig.model_validate(m.model_dump()) == m  # as a save keeps it
    with pytest.raises(ValidationError, match="twice"):
        cfg(["http://a:1/v1", "http://a:1/v1/"])
    with pytest.raises(ValidationError, match="not both"):
        cfg(["http://a:1/v1"], base_url="http://b:1/v1")
    assert ModelConfig(model="m", base_url="http://a:1/v1").urls == ["http://a:1/v1"]


async def test_calls_are_spread_by_fewest_outstanding(pair):
    a, b = pair
    async with ChatClient(cfg([a.base_url, b.base_url])) as client:
        results = await asyncio.gather(*(client.chat(MSGS) for _ in range(40)))
        by = Counter(r.replica for r in results)
        summary = client.replica_summary()
    assert by == {a.base_url: 20, b.base_url: 20}
    assert [s["calls"] for s in summary] == [20, 20] and all(s["peak_outstanding"] == 20 for s in summary)
    assert (a.stats()["requests"], b.stats()["requests"]) == (20, 20)


async def test_a_replica_killed_mid_call_costs_only_the_calls_it_held(pair):
    a, b = pair
    async with ChatClient(cfg([a.base_url, b.base_url])) as client:
        calls = [asyncio.ensure_future(client.chat(MSGS)) for _ in range(20)]
        await held([a, b], 10)  # all sent, none answered (300 ms)
        a.kill()
        results = await asyncio.gather(*calls)
        after = await asyncio.gather(*(client.chat(MSGS) for _ in range(10)))
        ra, rb = client.replica_summary()
    assert all(r.fault is None for r in results + after), {r.fault for r in results}
    moved = [r for r in results if r.failover_from == a.base_url]
    assert len(moved) == 10 and all(r.replica == b.base_url and r.attempts == 2 for r in moved)
    assert {r.replica for r in after} == {b.base_url}  # out of rotation
    assert (ra["up"], ra["downs"], ra["failovers"], ra["faults"]) == (False, 1, 10, {"dropped": 10})
    assert rb["calls"] == 30 and rb["faults"] == {}  # its own 10, the 10 moved, the 10 after


async def test_a_replica_comes_back_when_its_health_check_answers(pair):
    a, b = pair
    async with ChatClient(cfg([a.base_url, b.base_url])) as client:
        a.kill()
        first = await asyncio.gather(*(client.chat(MSGS) for _ in range(6)))
        assert not client.replicas[0].up
        a.start()  # a new process on the same port
        for _ in range(100):
            if client.replicas[0].up:
                break
            await asyncio.sleep(0.05)
        again = await asyncio.gather(*(client.chat(MSGS) for _ in range(10)))
        ra = client.replica_summary()[0]
    assert all(r.fault is None for r in first + again)
    assert (ra["up"], ra["downs"], ra["backs"]) == (True, 1, 1)
    assert Counter(r.replica for r in again) == {a.base_url: 5, b.base_url: 5}


async def test_with_every_replica_down_a_call_is_a_fault_not_a_hang(pair):
    a, b = pair
    a.kill()
    b.kill()
    async with ChatClient(cfg([a.base_url, b.base_url])) as client:
        r = await client.chat(MSGS)
    assert (r.fault, r.attempts) == ("connect", 2)


async def test_one_of_two_replicas_dies_mid_game(pair, tmp_path, world):
    """Every round completes, every call is in the ledger, the survivor takes the load."""
    a, b = pair
    roster = roster_file(tmp_path, [a.base_url, b.base_url])
    save = tmp_path / "run.db"
    options = RunOptions.parse("sim", ["--roster", str(roster), "--seed", "2", "--rounds", "5", "--save", str(save)])
    async with open_game(options, world) as game:
        run = game.runner
        results = [await run.play_round(), await run.play_round()]
        round3 = asyncio.ensure_future(run.play_round())
        await held([a, b], CREATURES // 2)  # its calls are in flight on both servers
        a.kill()
        results.append(await round3)
        results += [await run.play_round(), await run.play_round()]
        client = next(iter(run.brains.values())).client
        ra, rb = client.replica_summary()
        lines = game.model_report()
    assert [r.round for r in results] == [1, 2, 3, 4, 5]
    for r in results:
        assert {d.outcome for d in r.decisions.values()} <= {"clean", "rejected"}  # no faults: they fell over
    replicas = [Counter(d.call["replica"] for d in r.decisions.values()) for r in results]
    assert replicas[0] == replicas[1] == {a.base_url: CREATURES // 2, b.base_url: CREATURES // 2}
    moved = sum(d.call["failover_from"] == a.base_url for d in results[2].decisions.values())
    assert moved == CREATURES // 2 and ra["failovers"] == moved
    assert replicas[3] == replicas[4] == {b.base_url: CREATURES}  # the survivor takes the load
    assert (ra["up"], ra["downs"], rb["faults"]) == (False, 1, {})
    ledger = Ledger.open(save)
    try:
        per_round = Counter(c["round"] for c in ledger.calls())
    finally:
        ledger.close()
    assert per_round == {n: CREATURES for n in range(1, 6)}
    assert any("2 replicas" in line for line in lines) and any("failed over 15" in line for line in lines)


def test_a_roster_with_replicas_and_a_crowd(tmp_path, world):
    roster = load_roster(roster_file(tmp_path, ["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"], n=1000))
    entries = roster.entries(world)
    assert len(entries) == 1000 and len({e.name for e in entries}) == 1000
    assert {e.model for e in entries} == {"loop"} and roster.models["loop"].urls[1] == "http://127.0.0.1:10/v1"


def test_a_crowd_smaller_than_the_creatures_listed_is_refused_with_the_reason(tmp_path, world):
    listed = "".join(f'[[creatures]]\nname = "C{i}"\nspecies = "owl"\nmodel = "scripted"\n\n' for i in range(6))
    path = tmp_path / "r.toml"
    path.write_text(listed + '[crowd]\ncount = 4\nmodel = "scripted"\n', encoding="utf-8")
    with pytest.raises(RosterError, match=r"count = 4 .* below the 6 creatures listed"):
        load_roster(path)
    path.write_text(listed + '[crowd]\ncount = 8\nmodel = "scripted"\n', encoding="utf-8")
    assert [e.name for e in load_roster(path).entries(world)][:6] == [f"C{i}" for i in range(6)]
    assert len(load_roster(path).entries(world)) == 8


def test_replica_lines_name_each_server():
    client = ChatClient(cfg(["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"]))
    lines = replica_lines({"loop": client})
    assert lines[0] == "model loop: 2 replicas" and lines[1].startswith("  http://127.0.0.1:9/v1: 0 requests")
    assert replica_lines({"one": ChatClient(ModelConfig(model="m", base_url="http://127.0.0.1:9/v1"))}) == []
    one = client.replicas[0]  # one request, answered: it had read '1 requests'
    one.calls, one.answered = 1, 1
    one.latencies_ms.append(40.0)
    assert replica_lines({"loop": client})[1] == ("  http://127.0.0.1:9/v1: 1 request, faults 0 (none), failed over 0, "
                                                  "out of rotation 0x, back 0x, p50 40 ms")


async def test_a_replica_that_fails_every_call_leaves_the_rotation():
    """A replica answering every chat call with a 500 (its model list still
    fine) is not retried, so it used to draw half the calls for good: after
    SICK_STRIKES failures in a row it leaves the rotation, and each time its
    check brings it back it waits longer before the next."""
    from engine.brains.llm import SICK_STRIKES

    from .fault_server import FaultServer

    good = LoopbackServer(latency_ms=1).start()
    try:
        with FaultServer(models=("loopback",)) as bad:
            bad.default = "http_500"
            async with ChatClient(cfg([bad.base_url, good.base_url])) as client:
                results = [await client.chat(MSGS) for _ in range(40)]
                rb, rg = client.replica_summary()
    finally:
        good.stop()
    faults = [r for r in results if r.fault]
    assert all(r.fault == "http_500" and r.replica == bad.base_url for r in faults)
    assert rb["downs"] >= 1 and len(faults) <= 3 * SICK_STRIKES, (len(faults), rb)  # not 20 of 40
    assert rg["calls"] == 40 - len(faults)


async def test_a_sick_replicas_first_check_waits_twice_as_long_each_time(monkeypatch):
    """Taken out for failing its calls (its model list may still answer at
    once), a replica's first health check waits health_interval_s, then twice
    that the next time it is so taken out, and so on up to the cap."""
    import engine.brains.llm as llm

    m = cfg(["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"]).model_copy(update={"health_interval_s": 0.5})
    async with ChatClient(m) as client:
        r = client.replicas[0]
        first = []

        async def pause(s):  # the first pause of each check, and then the replica is let back
            first.append(s)
            r.up = True

        monkeypatch.setattr(llm.asyncio, "sleep", pause)
        for downs in (0, 1, 2, 3, 10):
            r.up, r.sick_downs = False, downs
            await client._probe(r)
    assert first == [0.5, 0.5, 1.0, 2.0, llm.HEALTH_MAX_INTERVAL_S]


async def test_a_replica_nothing_listens_on_is_sent_no_requests_and_its_line_says_so():
    """A replica that refuses every connection: the calls that fell over to it
    (from a 503 on the other) are attempts that could not connect, not
    requests. Its line had said 'N requests' to a port nothing listens on."""
    import socket

    from .fault_server import FaultServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with FaultServer(models=("loopback",)) as live:
        live.default = "http_503"  # retried: on the other replica
        async with ChatClient(cfg([live.base_url, dead])) as client:
            results = [await client.chat(MSGS) for _ in range(4)]
            rl, rd = client.replica_summary()
            lines = replica_lines({"loop": client})
        sent = len(live.requests)
    assert (rl["calls"], rd["calls"]) == (sent, 0)  # the dead one's had been its refused attempts
    tried = sum(r.attempts for r in results)
    refused = sum(r.unconnected for r in results)
    assert refused >= 1 and rd["faults"].get("connect") == refused == rd["unconnected"]
    assert rl["unconnected"] == 0 and tried == sent + refused
    assert lines[1].startswith(f"  {live.base_url}: {sent} request{'s' if sent > 1 else ''}, faults ")
    attempts = f"{refused} attempt{'s' if refused > 1 else ''}"
    assert lines[2].startswith(f"  {dead}: 0 requests ({attempts} could not connect), faults {refused} (connect {refused})")


async def test_a_call_queued_for_a_replica_that_goes_silent_goes_to_one_still_answering():
    """Calls queued behind a hung replica's max_concurrency: once SICK_STRIKES
    of them timed out it is sent nothing more, and the calls still queued for
    it had become `silent` passes, though the other replica answered all
    along. They go to the one still answering."""
    from engine.brains.llm import SICK_STRIKES

    from .fault_server import FREEZE, FaultServer

    with FaultServer(models=("loopback",)) as hung, FaultServer(models=("loopback",)) as live:
        hung.default = FREEZE
        m = cfg([hung.base_url, live.base_url]).model_copy(update={"max_concurrency": 1, "timeout_s": 0.5})
        async with ChatClient(m) as client:
            results = await asyncio.gather(*(client.chat(MSGS) for _ in range(2 * (SICK_STRIKES + 1))))
            rh, rl = client.replica_summary()
        answered = len(live.requests)
    assert Counter(r.fault for r in results) == {"timeout": SICK_STRIKES, None: SICK_STRIKES + 2}, results
    assert answered == rl["calls"] == SICK_STRIKES + 2 and rh["calls"] == SICK_STRIKES
    assert all(r.replica == live.base_url and r.attempts == 1 for r in results if r.fault is None)
