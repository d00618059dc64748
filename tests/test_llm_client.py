"""The chat client and the model brain against a real HTTP server that
misbehaves on purpose (tests/fault_server.py): every scenario ends in a
Decision, never an exception, with the outcome, reason and retries expected."""
from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
import unicodedata

import pytest

from engine.actions import PASS, Action
from engine.brains import Decision
from engine.brains.llm import CallStats, ChatClient, LLMBrain, ModelServerError
from engine.parsing import MAX_REPLY_CHARS
from engine.prompts import shared_system
from engine.runner import EVENT_LOOP_ENV, run_headless
from engine.sanitise import clean_text
from engine.state import initial_state
from engine.views import public_view
from engine.brains.config import ModelConfig
from tests.fault_server import FREEZE, LONG_REPLY, REPLIES, SCENARIOS, FaultServer

NAMES = ("Owl", "Fox", "Badger", "Hare", "Squirrel")


@pytest.fixture
def server():
    with FaultServer() as srv:
        yield srv


def config(base_url: str, **overrides) -> ModelConfig:
    fields = dict(name="smol", base_url=base_url, model="smollm2", json_mode="json_object_schema",
                  max_concurrency=2, timeout_s=1.0, connect_timeout_s=1.0, max_tokens=64, temperature=0.3)
    return ModelConfig(**{**fields, **overrides})


@pytest.fixture
def view(world):
    return public_view(initial_state(world, 7), world, "Fox")


async def decide(world, view, cfg: ModelConfig) -> Decision:
    async with ChatClient(cfg) as client:
        brain = LLMBrain("Fox", client, world, names=NAMES, temperament_line=world.temperaments["speculator"])
        return await brain.decide(view)


# scenario -> (outcome, reason starts with, requests the server saw)
EXPECTED = {
    "valid": ("clean", "", 1),
    "garbage": ("rejected", "unparseable: no JSON object", 1),
    "half_json": ("repaired", "repaired: json_repair", 1),
    "fenced": ("repaired", "repaired: fence", 1),
    "harmony": ("repaired", "repaired: harmony", 1),
    "think": ("repaired", "repaired: think", 1),
    "thought_first": ("repaired", "repaired: prose", 1),  # the move after it, not "schema: action: missing"
    "hostile": ("repaired", "repaired: json_repair, clean:say", 1),
    "hostile_whisper": ("repaired", "repaired: clean:text", 1),  # the sanitiser's work is a repair, as on a say line
    "null_content": ("fault", "fault: empty: no content (reasoning only)", 1),
    "null_length": ("fault", "fault: empty", 2),       # cut off while reasoning: once more, then give up
    "content_parts": ("clean", "", 1),                   # a list of text parts is the text they make
    "reasoning_content": ("fault", "fault: empty: no content (reasoning only)", 1),
    "tool_call": ("fault", 'fault: empty: no content (a tool call: offer {"qty": 2})', 1),  # what it called, kept
    "truncated": ("rejected", "unparseable: cut off at", 2),  # cut off and unsalvageable: once more
    "truncated_salvage": ("repaired", "repaired: json_repair", 1),  # only its say line was cut
    "truncated_number": ("rejected", "unparseable: cut off at", 2),  # "price":1 may be 12 cut short: once more
    "surrogate_qty": ("rejected", "schema: qty: Input should be a valid integer, unable to parse string as an integer",
                      1),  # not "Input should be a valid string": a surrogate is no digit
    "surrogate_good": ("repaired", "repaired: surrogate", 1),  # as "?": an unknown good, for the engine to refuse
    "surrogate_to": ("repaired", "repaired: surrogate", 1),
    "long_move": ("rejected", "unparseable: the reply is 33,026 characters, over the 32,000 a reply may have", 1),
    "deep_nesting": ("rejected", "unparseable: nesting too deep", 1),  # not an object within it: "schema: action: ..."
    "http_400": ("fault", "fault: http_400", 1),
    "http_500": ("fault", "fault: http_500", 1),        # llama-cpp-python's answer to a bad request: no retry
    "http_503": ("fault", "fault: http_503", 2),        # retried once
    "stall": ("fault", "fault: timeout", 1),
    "slow": ("clean", "", 1),
    "drop": ("fault", "fault: dropped", 2),
    "late_drop": ("fault", "fault: dropped: server disconnected mid-response (after ", 1),  # waited as a timeout:
    # not sent again, and it says how long it waited
    "bad_body": ("fault", "fault: bad_body", 1),
    "two_lengths": ("fault", "fault: dropped", 2),      # as httpx says: a malformed response, retried once
    "bad_chunk": ("fault", "fault: dropped", 2),
    "huge_length": ("fault", "fault: bad_body: the response body is 1073741824 bytes, over the 4194304", 1),
    "huge_chunked": ("fault", "fault: bad_body: the response body runs over the 4194304 bytes", 1),
    "trickle": ("fault", "fault: timeout", 1),           # every byte in time, the whole reply never
    "gzip": ("fault", "fault: bad_body", 1),             # compressed, though identity was asked for
    "fake_gzip": ("fault", "fault: bad_body: the reply is gzip-encoded", 1),  # refused by its header, body unread
    "gzip_transfer": ("fault", "fault: bad_body: the reply's Transfer-Encoding is gzip, chunked; only chunked is read",
                      1),  # its compressed bytes had been taken for the reply, and shown as its fault's detail
    "chunked_twice": ("fault", "fault: bad_body: the reply's Transfer-Encoding names chunked more than once; only "
                      "chunked alone is read", 1),  # not "is chunked, chunked; only chunked is read"
    "redirect": ("fault", "fault: http_302: a redirect to http://127.0.0.1:9/v1/chat/completions (redirects are not "
                 "followed: set base_url to http://127.0.0.1:9/v1)", 1),  # not followed: it says where it pointed
    "redirect_hostile": ("fault", "fault: http_307: a redirect to http://127.0.0.1:9/‹|im_end|>aaa", 1),  # made inert
    "interim": ("clean", "", 1),                         # 100 and 103 are skipped: the 200 after them is the reply
    "interim_flood": ("fault", "fault: dropped: interim (1xx) responses past the 65536 bytes", 2),  # not parsed on
    "bare_lf": ("clean", "", 1),                         # lines ended by LF alone are lines (it waited to the timeout)
    "bare_lf_chunked": ("clean", "", 1),
    "signed_length": ("fault", "fault: dropped", 2),    # as httpx: a length is digits alone (it was read as one)
    "lone_surrogate": ("clean", "", 1),
    "odd_usage": ("clean", "", 1),
    "vast_usage": ("clean", "", 1),  # a count no int() reads is unknown, not a lost reply
    "absurd_usage": ("clean", "", 1),
    "zero_usage": ("clean", "", 1),
    "odd_finish": ("clean", "", 1),
    "long_reply": ("clean", "", 1),
    "number_content": ("fault", "fault: bad_body: the message's content is a number, not text", 1),  # not "empty"
    "list_content": ("fault", "fault: bad_body: the message's content is a list with no text part, not text", 1),
    "empty_200": ("fault", "fault: bad_body: no body", 1),  # not a bare "bad_body"
}


def test_every_scenario_has_an_expectation():
    assert set(EXPECTED) == set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_every_scenario_ends_in_a_decision(world, view, server, scenario):
    server.default = scenario
    _expected_decision(await decide(world, view, config(server.base_url)), server, scenario)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_ends_in_a_decision_on_the_headless_event_loop(world, view, server, scenario, monkeypatch):
    """`wood sim` runs on uvloop's loop (`run_headless`): the transport's
    protocol, timers and retries behave the same on it."""
    pytest.importorskip("uvloop")
    monkeypatch.setenv(EVENT_LOOP_ENV, "uvloop")
    server.default = scenario

    async def on_the_loop():
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        return await decide(world, view, config(server.base_url))
    _expected_decision(run_headless(on_the_loop()), server, scenario)


def _expected_decision(d: Decision, server: FaultServer, scenario: str) -> None:
    outcome, reason, requests = EXPECTED[scenario]
    assert isinstance(d, Decision) and isinstance(d.action, Action)
    assert (d.outcome, len(server.requests)) == (outcome, requests), d.reason
    assert d.reason.startswith(reason), d.reason
    assert d.call["outcome"] == outcome and d.call["reason"] == d.reason and d.call["model"] == "smol"
    if outcome in ("fault", "rejected"):
        assert d.action == PASS and d.call["action"] is None
    else:
        assert d.call["action"] == d.action.compact()
    assert d.raw == d.call["raw"]
    if scenario in REPLIES:
        sent = REPLIES[scenario][0]  # the reply is kept as it came, for the audit (a list of parts: their text),
        sent = "".join(p["text"] for p in sent) if isinstance(sent, list) else sent
        assert d.raw == (sent[:MAX_REPLY_CHARS] if sent is not None else None)  # as far as the parser reads it


async def test_a_clean_call_records_everything_the_ledger_keeps(world, view, server):
    d = await decide(world, view, config(server.base_url))
    assert d.action == Action(action="offer", side="sell", good="berries", qty=2, price=6)
    call = d.call
    assert [m["role"] for m in call["messages"]] == ["system", "user"]
    assert "\nYou are Fox, a fox." in call["messages"][1]["content"]
    assert (call["prompt_tokens"], call["completion_tokens"], call["finish_reason"]) == (321, 23, "stop")
    assert call["latency_ms"] > 0 and call["attempts"] == 1 and call["fault"] is None and call["repairs"] == []


async def test_a_hostile_say_comes_out_inert(world, view, server):
    server.default = "hostile"
    d = await decide(world, view, config(server.base_url))
    say = d.action.say
    assert say == clean_text(say) and "red" in say and "evil" in say
    assert not any(unicodedata.category(c) in ("Cc", "Cf") for c in say)
    assert "\x1b" in d.raw  # the raw reply is kept as it came, for the audit


async def test_a_503_then_a_reply_is_retried_once_and_succeeds(world, view, server):
    server.play("http_503", "valid")
    d = await decide(world, view, config(server.base_url))
    assert d.outcome == "clean" and d.call["attempts"] == 2 and len(server.requests) == 2


async def test_a_dropped_connection_then_a_reply_succeeds(world, view, server):
    server.play("drop", "fenced")
    d = await decide(world, view, config(server.base_url))
    assert d.outcome == "repaired" and d.call["attempts"] == 2


async def test_truncated_output_is_asked_again_with_twice_the_room(world, view, server):
    server.play("truncated", "valid")
    d = await decide(world, view, config(server.base_url, max_tokens=64))
    assert d.outcome == "clean" and d.call["attempts"] == 2
    assert [r["max_tokens"] for r in server.requests] == [64, 128]


async def test_truncated_but_salvageable_output_is_not_asked_again(world, view, server):
    server.default = "truncated_salvage"
    d = await decide(world, view, config(server.base_url))
    assert d.outcome == "repaired" and "truncated" in d.call["repairs"]
    assert d.action == Action(action="pass", say="The winter is lo")


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("scenario, waited", [("stall", 1), ("trickle", 1)])
async def test_a_call_that_timed_out_says_which_server_and_how_long_it_waited(world, view, server, transport,
                                                                               scenario, waited):
    """A timeout's reason is what a player reads on stderr and in the panels
    when a server stops answering: it said "timed out waiting for the
    response" (our transport) or "no whole reply within 2 s" (httpx's), and
    neither named the server. Now both say which server, how long, and the
    setting that decides it."""
    server.default = scenario
    d = await decide(world, view, config(server.base_url, http_client=transport))
    if transport == "httpx" and scenario == "trickle":  # httpx's timeouts are per read: the whole call's deadline
        waited, setting = 2, "connect_timeout_s + timeout_s"
    else:
        setting = "timeout_s"
    assert d.reason == f"fault: timeout: no whole reply from {server.base_url} within {waited} s ({setting})"


async def test_a_server_that_hangs_is_not_sent_more_calls_until_its_check_answers(server):
    """A server that takes every connection and answers nothing cost each
    call its whole timeout_s, one after another behind its max_concurrency,
    round after round. After SICK_STRIKES calls in a row that timed out it is
    sent none (a `silent` fault at once, naming it) until its health check
    answers; then calls go to it again."""
    from engine.brains.llm import SICK_STRIKES

    msgs = [{"role": "user", "content": "your move"}]
    server.default = FREEZE
    async with ChatClient(config(server.base_url, max_concurrency=1, health_interval_s=0.05)) as client:
        held = await asyncio.gather(*(client.chat(msgs) for _ in range(5)))  # queued behind one another
        later = await client.chat(msgs)
        assert len(server.requests) == SICK_STRIKES  # not 6
        assert [r.fault for r in held] == ["timeout"] * SICK_STRIKES + ["silent"] * 2 and later.fault == "silent"
        assert (later.attempts, later.replica, later.latency_ms) == (0, server.base_url, 0)
        assert later.detail == (f"not sent: {server.base_url} answered none of its last {SICK_STRIKES} calls "
                                "within 1 s (timeout_s); asked again once it answers its health check")
        server.frozen.clear()  # it answers again: its check brings it back
        server.default = "valid"
        deadline = time.monotonic() + 10
        while not client.replicas[0].up:
            assert time.monotonic() < deadline, "never back"
            await asyncio.sleep(0.02)
        back = await client.chat(msgs)
    assert back.fault is None and back.attempts == 1


async def test_a_server_that_hangs_up_just_before_timeout_s_is_not_sent_more_calls_until_its_check_answers(server):
    """A server that sent part of each reply and hung up just before
    timeout_s was a `dropped` fault, never a timeout: it was retried, so each
    call cost about two timeouts, and it was never held back, so every round
    paid that. A drop after LATE_DROP_SHARE of timeout_s or more now counts
    toward SICK_STRIKES as a timeout does, and the silent calls say so; nor
    is it sent again, as a timeout is not (its first call had been, and cost
    two waits)."""
    from engine.brains.llm import LATE_DROP_SHARE, SICK_STRIKES

    msgs = [{"role": "user", "content": "your move"}]
    # a drop 2.5 s into a 4 s timeout_s (past its half): on a loaded machine the client still sees the drop before
    # its deadline (0.7 s of 1 s had left 0.3 s for the server's thread to wake and hang up)
    server.default, server.late_drop_s = "late_drop", 2.5
    async with ChatClient(config(server.base_url, max_concurrency=1, health_interval_s=30, timeout_s=4.0)) as client:
        calls = [await client.chat(msgs) for _ in range(SICK_STRIKES + 1)]
        assert len(server.requests) == SICK_STRIKES  # not 8: each call sent once (one wait, not two), then none
        assert [(c.fault, c.attempts) for c in calls] == [("dropped", 1)] * SICK_STRIKES + [("silent", 0)]
        said = re.fullmatch(r"server disconnected mid-response \(after (\d+\.\d\d) s of timeout_s 4 s\)", calls[0].detail)
        assert said and float(said[1]) >= server.late_drop_s, calls[0].detail  # any load: never below the drop
        assert calls[-1].detail == (f"not sent: {server.base_url} answered none of its last {SICK_STRIKES} calls "
                                    f"within 4 s (timeout_s), {SICK_STRIKES} of them hung up after "
                                    f"{LATE_DROP_SHARE * 4:g} s or more with no whole reply; asked again once it "
                                    "answers its health check")
        assert client.replica_summary()[0]["faults"] == {"dropped": SICK_STRIKES}


@pytest.mark.parametrize("http_client", ["lean", "httpx"])
async def test_a_slow_connection_then_a_drop_at_once_is_not_a_late_drop(http_client):
    """A late drop was timed from before connecting: a server whose
    connections took a second to complete (timeout_s 1 s) and which then
    hung up at once counted as hanging up late, held back as hung after
    SICK_STRIKES tries. The wait for the reply is timed from the request
    going out, as timeout_s is, so these drops are not late."""
    from engine.brains.llm import SICK_STRIKES
    from tests.fault_server import SlowConnectPort

    half = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"choices\""
    with SlowConnectPort(half) as slow:
        url = f"http://127.0.0.1:{slow.port}/v1"
        cfg = config(url, max_concurrency=1, connect_timeout_s=5.0, health_interval_s=30, http_client=http_client)
        async with ChatClient(cfg) as client:
            started = time.perf_counter()
            calls = [await client.chat([{"role": "user", "content": "your move"}]) for _ in range(2)]
            spent = time.perf_counter() - started
    assert spent >= 0.5 * SICK_STRIKES  # each connection was slow: had it counted, 3 late drops, then silence
    assert [(c.fault, c.attempts) for c in calls] == [("dropped", 2), ("dropped", 2)], calls
    assert not [c.detail for c in calls if "timeout_s" in c.detail]  # not said as a late drop either


async def test_a_server_silent_in_more_than_one_way_says_each_way_it_was():
    """A server whose last tries waited out different deadlines (here two
    calls read nothing within timeout_s, then its connections stopped
    completing) was said to have "took none of its last 3 connections",
    from the last try's kind alone. Each kind is now counted."""
    from engine.brains.llm import SICK_STRIKES
    from tests.fault_server import SilentPort

    msgs = [{"role": "user", "content": "your move"}]
    with SilentPort() as silent:
        url = f"http://127.0.0.1:{silent.port}/v1"
        cfg = config(url, timeout_s=0.3, connect_timeout_s=0.3, max_concurrency=1, health_interval_s=30)
        async with ChatClient(cfg) as client:
            calls = [await client.chat(msgs) for _ in range(SICK_STRIKES - 1)]
            silent.stop_taking()
            calls += [await client.chat(msgs) for _ in range(2)]
    assert [(c.fault, c.attempts) for c in calls] == [("timeout", 1), ("timeout", 1), ("connect", 1), ("silent", 0)]
    assert calls[-1].detail == (f"not sent: {url} answered none of its last 3 tries: 1 took no connection within "
                                "0.3 s (connect_timeout_s), 2 had no whole reply within 0.3 s (timeout_s); asked "
                                "again once it answers its health check")


async def test_a_quick_drop_does_not_count_toward_silence(server):
    """A drop soon after sending (a server restarting) is retried, and is
    not a late one: SICK_STRIKES of them do not hold the server back."""
    msgs = [{"role": "user", "content": "your move"}]
    server.default = "drop"
    async with ChatClient(config(server.base_url, max_concurrency=1)) as client:
        calls = [await client.chat(msgs) for _ in range(3)]
    assert [(c.fault, c.attempts) for c in calls] == [("dropped", 2)] * 3 and len(server.requests) == 6


def dead_url() -> str:
    """A port on 127.0.0.1 with nothing listening (it was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.mark.parametrize("transport", ["lean", "httpx"])
async def test_a_server_that_is_down_is_a_fault_after_one_retry_and_no_request_sent(world, view, transport):
    """Both tries were refused: two attempts, neither of them a request. The
    summary had said '2 requests' to a port nothing listens on."""
    d = await decide(world, view, config(dead_url(), http_client=transport))
    assert (d.outcome, d.action, d.call["attempts"]) == ("fault", PASS, 2)
    assert d.reason.startswith("fault: connect")
    assert d.call["prompt_tokens"] is None  # no server read it: no tokens were spent
    stats = CallStats()
    stats.record(d)
    s = stats.summary()["smol"]
    assert s["faults"] == {"connect": 1} and s["requests"] == 0  # it had said 2
    assert d.call["unconnected"] == s["unconnected"] == 2
    assert s["latency_ms"]["p50"] is None and s["prompt_tokens"]["mean"] is None  # a call that never came back
    from wood_tui.game import model_lines

    assert model_lines(stats.summary())[0].startswith("model smol: 1 decision (0 requests; 2 attempts could not "
                                                      "connect), valid 0 of 1")


@pytest.mark.parametrize("scenario", ["http_500", "http_503", "garbage", "bad_body", "drop", "stall", "empty_200"])
async def test_what_reached_the_server_is_a_request_whatever_came_back(world, view, server, scenario):
    """A request the server read counts as sent, whether it answered 500,
    garbage or nothing in time; the tries at a dead port are counted apart,
    as attempts that could not connect, and the line `wood sim` prints says both."""
    from wood_tui.game import model_lines

    server.default = scenario
    stats = CallStats()
    stats.record(await decide(world, view, config(server.base_url)))
    stats.record(await decide(world, view, config(dead_url())))
    sent = len(server.requests)
    assert sent >= 1
    s = stats.summary()["smol"]
    assert s["requests"] == sent  # it had said sent + 2
    assert s["unconnected"] == 2
    assert model_lines(stats.summary())[0].startswith(
        f"model smol: 2 decisions ({sent} request{'s' if sent > 1 else ''}; 2 more attempts could not connect), ")


@pytest.mark.parametrize("scenario", ["odd_usage", "vast_usage"])
async def test_a_reply_whose_usage_is_nonsense_has_its_prompt_counted_here(world, view, server, scenario):
    server.default = scenario
    d = await decide(world, view, config(server.base_url))
    assert d.outcome == "clean"
    assert 0 < d.call["prompt_tokens"] < 10_000  # counted locally when the server does not say a sane number


async def test_an_exception_inside_the_brain_becomes_a_fault(world, server):
    d = await decide(world, None, config(server.base_url))  # not a view at all
    assert (d.outcome, d.action, d.call["fault"]) == ("fault", PASS, "internal")
    assert d.reason.startswith("fault: AttributeError") and server.requests == []


@pytest.mark.parametrize("mode, expected", [
    ("json_schema", "json_schema"), ("json_object_schema", "json_object"), ("gbnf", "grammar"), ("none", None),
])
async def test_json_mode_shapes_the_request(world, view, server, mode, expected):
    await decide(world, view, config(server.base_url, json_mode=mode))
    fmt = server.requests[0].get("response_format")
    if expected == "grammar":  # the legal moves as a llama.cpp grammar, no response_format beside it
        grammar = server.requests[0]["grammar"]
        assert fmt is None and grammar.startswith('root ::= "{" "\\"action\\":"')
        assert '"\\"gift\\""' in grammar and '"\\"Owl\\""' in grammar and '"\\"Fox\\""' not in grammar
        return
    assert "grammar" not in server.requests[0]
    if expected is None:
        assert fmt is None
        return
    if expected == "json_schema":
        assert fmt["json_schema"]["name"] == "action" and fmt["json_schema"]["strict"] is True
        schema = fmt["json_schema"]["schema"]
    else:
        assert fmt["type"] == "json_object"
        schema = fmt["schema"]
    gift = next(k for k in schema["anyOf"] if k["properties"]["action"]["enum"] == ["gift"])
    assert gift["properties"]["to"]["enum"] == [n for n in NAMES if n != "Fox"]  # never a gift to oneself


async def test_sampling_settings_and_reasoning_effort_are_sent(world, view, server):
    await decide(world, view, config(server.base_url, top_p=0.9, reasoning_effort="low", temperature=0.5))
    body = server.requests[0]
    assert (body["model"], body["temperature"], body["top_p"], body["reasoning_effort"], body["max_tokens"]) == (
        "smollm2", 0.5, 0.9, "low", 64)
    await decide(world, view, config(server.base_url))
    assert "top_p" not in server.requests[1] and "reasoning_effort" not in server.requests[1]


async def test_merge_into_user_folds_the_system_text_into_the_first_user_turn(world, view, server):
    await decide(world, view, config(server.base_url, system_role="merge_into_user"))
    messages = server.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"].startswith(shared_system(world) + "\n\nRound 0, ")
    assert "Your move, Fox" in messages[0]["content"]


async def test_concurrency_per_model_is_capped_by_the_client(world, view, server):
    server.default = "slow"
    async with ChatClient(config(server.base_url, max_concurrency=2)) as client:
        brain = LLMBrain("Fox", client, world, names=NAMES, temperament_line="")
        decisions = await asyncio.gather(*(brain.decide(view) for _ in range(6)))
    assert [d.outcome for d in decisions] == ["clean"] * 6
    assert server.max_in_flight == 2


async def test_check_models_lists_what_is_served(server):
    async with ChatClient(config(server.base_url)) as client:
        assert await client.check_models() == {"smollm2"}


async def test_check_models_names_the_missing_model(server):
    async with ChatClient(config(server.base_url, model="gpt-oss-20b")) as client:
        with pytest.raises(ModelServerError, match=r"model 'gpt-oss-20b' not served at http://127\.0\.0\.1:\d+/v1 "
                                                   r"\(serves: smollm2\)"):
            await client.check_models()


async def test_check_models_says_when_the_server_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with ChatClient(config(f"http://127.0.0.1:{port}/v1")) as client:
        with pytest.raises(ModelServerError, match="unreachable"):
            await client.check_models()


async def test_call_stats_count_outcomes_repairs_and_faults(world, view, server):
    stats = CallStats()
    server.play("valid", "fenced", "garbage", "http_500", "think")
    decisions = [await decide(world, view, config(server.base_url)) for _ in range(5)]
    for d in decisions:
        stats.record(d)
    stats.record(Decision(PASS))  # a scripted decision: not a model call
    # a well-formed proposal the engine refused, as the runner marks it
    stats.record(Decision(PASS, "rejected", "engine: insufficient_goods", call=dict(decisions[0].call)))
    s = stats.summary()["smol"]
    assert (s["calls"], s["clean"], s["repaired"], s["rejected_schema"], s["unparseable"]) == (6, 1, 2, 0, 1)
    assert s["faults"] == {"http_500": 1}
    assert s["repairs"] == {"fence": 1, "think": 1}
    assert s["rejected_engine"] == {"insufficient_goods": 1}
    assert s["valid_rate"] == pytest.approx(3 / 6, abs=1e-3) and s["repair_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert decisions[3].call["prompt_tokens"] is None  # the 500 never answered: neither tokens nor latency
    assert s["prompt_tokens"] == {"mean": pytest.approx(321, abs=0.1), "max": 321}
    assert s["latency_ms"]["max"] >= s["latency_ms"]["p50"] > 0


def test_latency_percentiles_of_the_last_calls_only_say_so(monkeypatch):
    """The percentiles are kept over the last LATENCY_WINDOW answered calls (a
    1,000-creature run makes far more): `wood sim`'s line had printed them as
    every answered call's. Past the window it says of how many; within it, nothing."""
    import engine.brains.llm as llm
    from wood_tui.game import model_lines

    monkeypatch.setattr(llm, "LATENCY_WINDOW", 3)
    stats = CallStats()
    for ms in (900.0, 800.0, 10.0, 20.0, 30.0):
        stats.record(Decision(PASS, "clean", "", call={"model": "smol", "outcome": "clean", "attempts": 1,
                                                          "latency_ms": ms, "prompt_tokens": 300}))
    s = stats.summary()["smol"]
    assert (s["latency_ms"]["p95"], s["latency_ms"]["of"], s["latency_ms"]["answered"]) == (30.0, 3, 5)
    assert "calls answered: latency p50 20 ms, p95 30 ms (of the last 3 of 5 answered); " in model_lines(
        {"smol": s})[2]
    monkeypatch.setattr(llm, "LATENCY_WINDOW", 5)
    stats = CallStats()
    for ms in (900.0, 10.0):
        stats.record(Decision(PASS, "clean", "", call={"model": "smol", "outcome": "clean", "attempts": 1,
                                                          "latency_ms": ms, "prompt_tokens": 300}))
    assert "calls answered: latency p50 10 ms, p95 900 ms; " in model_lines(stats.summary())[2]


async def test_a_proxy_in_the_environment_is_not_used_for_a_server_on_this_machine(world, view, server, monkeypatch):
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    d = await decide(world, view, config(server.base_url))
    assert d.outcome == "clean", d.reason


@pytest.mark.parametrize("mode", ["json_schema", "json_object_schema", "gbnf", "none"])
def test_the_request_body_is_the_bytes_json_dumps_would_send(world, view, mode):
    from engine.brains.llm import _encode
    from engine.legal import legal_schema

    client = ChatClient(config("http://127.0.0.1:9/v1", json_mode=mode, top_p=0.9))
    schema = legal_schema(view, world.good_names, (*NAMES, "Hérisson"))
    body = client._body([{"role": "user", "content": "déjà vu"}], schema, 64)
    assert _encode(body) == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("mode", ["json_schema", "json_object_schema", "gbnf", "none"])
@pytest.mark.parametrize("merge", [False, True])
def test_a_request_joined_into_its_kept_frame_is_the_bytes_json_dumps_would_send(world, view, mode, merge):
    """`ChatClient.request` cuts each body's frame (model, settings, the
    response format around the schema) once and joins the messages and schema
    into it: byte for byte what encoding the whole body sends, for every json
    mode, with and without a schema, at two max_tokens, the system text merged or not."""
    from engine.legal import legal_schema

    cfg = config("http://127.0.0.1:9/v1", json_mode=mode, top_p=0.9, model='m"\\ü',
                 system_role="merge_into_user" if merge else "native")
    client = ChatClient(cfg)
    schema = legal_schema(view, world.good_names, (*NAMES, "Hérisson"))
    messages = [{"role": "system", "content": "rules \"quoted\" \u0000"}, {"role": "user", "content": "déjà vu"}]
    for s, max_tokens in [(schema, None), (schema, 256), (None, None), ({"type": "object"}, 99)]:
        body = client._body(messages, s, max_tokens or cfg.max_tokens)
        assert client.request(messages, s, max_tokens=max_tokens) == \
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), (s is None, max_tokens)


@pytest.mark.parametrize("scenario", ["valid", "drop", "http_503", "stall", "bad_body", "two_lengths", "bad_chunk",
                                      "huge_length", "huge_chunked", "trickle", "gzip", "fake_gzip", "redirect",
                                      "signed_length"])
async def test_httpx_own_transport_is_still_a_choice(world, view, server, scenario):
    server.default = scenario
    async with ChatClient(config(server.base_url, http_client="httpx")) as theirs, ChatClient(config(server.base_url)) as ours:
        assert theirs.replicas[0].lean is None and ours.replicas[0].lean is not None  # httpx's own transport, not ours
    d = await decide(world, view, config(server.base_url, http_client="httpx"))
    outcome, reason, requests = EXPECTED[scenario]
    assert (d.outcome, len(server.requests)) == (outcome, requests) and d.reason.startswith(reason)



async def test_a_model_set_to_write_no_say_line_is_neither_offered_nor_given_one(world, view, server):
    """`say = false` (the embedded default): the schema has no `say` field, the
    rules leave the say line out, and a say line written anyway is dropped."""
    server.default = "hostile"  # a reply with a say line
    d = await decide(world, view, config(server.base_url, say=False))
    body = server.requests[0]
    assert all("say" not in b["properties"] for b in body["response_format"]["schema"]["anyOf"])
    system = body["messages"][0]["content"]
    assert 'Optional "say"' not in system and system == shared_system(world, say=False)
    assert shared_system(world, say=False) != shared_system(world)  # the one line apart
    assert d.action.say is None and d.outcome == "repaired"
    d2 = await decide(world, view, config(server.base_url))  # the default: offered and kept
    assert d2.action.say and any("say" in b["properties"] for b in server.requests[1]["response_format"]["schema"]["anyOf"])


def test_the_embedded_default_writes_no_say_line(world):
    from serve.roster import embedded_roster

    assert [m.say for m in embedded_roster(world).models.values()] == [False]


async def test_a_model_set_to_carry_no_temperament_gets_none_in_its_prompt(world, view, server):
    """`temperament = false` (the embedded default): the creature's temperament
    line is left out of its prompt; by default it is there."""
    from serve.roster import embedded_roster, load_roster

    line = world.temperaments["speculator"]
    await decide(world, view, config(server.base_url, temperament=False))
    await decide(world, view, config(server.base_url))
    users = [r["messages"][1]["content"] for r in server.requests]
    assert line not in users[0] and "You are Fox, a fox.\n" in users[0]
    assert line in users[1]
    assert [m.temperament for m in embedded_roster(world).models.values()] == [False]
    assert [m.temperament for m in load_roster("serve/rosters/embedded.toml").models.values()] == [False]


async def test_read_timeouts_share_one_timer_and_skip_answered_calls():
    """The lean transport's read timeouts (one timer for the earliest deadline,
    replies in the order sent): an answered call is never failed, a stalled one
    fails with ReadTimeout at its own deadline, not at an earlier call's. Each
    failure is waited for, not slept for, and the deadlines stand a second apart:
    on a loaded machine a late wake-up had let the later deadline pass before
    the check that it had not."""
    import httpx

    from engine.brains.transport import _Timeouts

    loop = asyncio.get_running_loop()
    timeouts = _Timeouts(loop, 2.0)
    answered, stalled, later = loop.create_future(), loop.create_future(), loop.create_future()
    failed_at = {}
    for f in (stalled, later):
        f.add_done_callback(lambda f: failed_at.setdefault(f, loop.time()))
    stalled_deadline = loop.time() + 2.0  # or later: the loop's clock read before the watch
    timeouts.watch(answered)
    timeouts.watch(stalled)
    answered.set_result("reply")
    await asyncio.sleep(1.0)
    assert not stalled.done() and timeouts.timer is not None  # `later` is watched under the first call's timer
    later_deadline = loop.time() + 2.0
    timeouts.watch(later)  # its deadline is a second or so after the others'
    await asyncio.wait([stalled], timeout=60)
    assert answered.result() == "reply" and isinstance(stalled.exception(), httpx.ReadTimeout)
    assert failed_at[stalled] >= stalled_deadline - 0.01  # not before its deadline (timers run a moment early)
    assert not later.done()  # nor `later` at it
    await asyncio.wait([later], timeout=60)
    assert isinstance(later.exception(), httpx.ReadTimeout) and timeouts.timer is None and not timeouts.waiting
    assert failed_at[later] >= later_deadline - 0.01


async def test_a_reply_in_a_flood_of_tiny_chunks_is_read_in_linear_time():
    """A chunked body of 1-byte chunks, arriving 64 KB at a time: each arrival
    reads only its new chunks. (It walked every chunk from the start each time:
    400,000 of them took seconds of the event loop, which no read timeout
    can interrupt: 5 such replies held a round for 20 s under a 1 s timeout.)"""
    from engine.brains.transport import _Connection

    class Wire:
        def write(self, data): pass
        def close(self): pass
        def get_extra_info(self, name): return None

    class Counted(bytearray):  # the work is the searches for line ends: counted, not timed
        finds = 0

        def find(self, *a):
            Counted.finds += 1
            return super().find(*a)

    conn = _Connection()
    conn.connection_made(Wire())
    conn.buf = Counted()
    reply = conn.send(b"", asyncio.get_running_loop())
    chunks, step = 50_000, 4096
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\nx\r\n" * chunks + b"0\r\n\r\n"
    arrivals = 0
    for i in range(0, len(raw), step):
        conn.data_received(raw[i:i + step])
        arrivals += 1
    status, _, body = reply.result()
    assert status == 200 and body == b"x" * chunks
    # linear: a search or two per chunk and per arrival (walked from the start each time: about 2 million here)
    assert Counted.finds <= 2 * chunks + 3 * arrivals, (Counted.finds, chunks, arrivals)


async def test_a_request_made_ahead_for_the_round_is_the_one_made_when_asked(world, server):
    """`LLMBrain.prepare_round` (the runner calls it before asking anyone)
    makes each creature's request stage by stage; `decide` then sends that
    request, byte for byte the one it would have made itself. A creature
    whose request fails to build ahead is left to `decide`, which records
    the failure as its own fault; the others in the batch are not touched."""
    from engine.brains.llm import PREPARED

    state = initial_state(world, 7)
    async with ChatClient(config(server.base_url)) as client:
        fox, owl = (LLMBrain(n, client, world, names=NAMES, temperament_line=world.temperaments["speculator"])
                    for n in ("Fox", "Owl"))
        asked = await fox.decide(public_view(state, world, "Fox"))
        views = {n: public_view(state, world, n) for n in ("Fox", "Owl")}
        owl._schema = lambda view: 1 / 0  # this one's schema cannot be made
        LLMBrain.prepare_round([(fox, views["Fox"]), (owl, views["Owl"])])
        assert PREPARED in views["Fox"].memo and PREPARED not in views["Owl"].memo
        ahead = await fox.decide(views["Fox"])
        broken = await owl.decide(views["Owl"])
    assert PREPARED not in views["Fox"].memo  # sent once, not kept
    assert len(server.requests) == 2 and server.requests[1] == server.requests[0]
    assert ahead.outcome == asked.outcome == "clean" and ahead.action == asked.action
    assert broken.outcome == "fault" and broken.reason.startswith("fault: ZeroDivisionError")


async def test_a_reply_is_kept_as_what_the_parser_reads_and_as_a_file_can_hold_it(world, view, server):
    """The raw text kept for the ledger and the panels: at most MAX_REPLY_CHARS
    (all the parser reads), valid UTF-8 (a lone surrogate escape becomes `?`)."""
    server.play("long_reply", "lone_surrogate")
    long, odd = await decide(world, view, config(server.base_url)), await decide(world, view, config(server.base_url))
    assert long.outcome == "clean" and long.raw == LONG_REPLY[:MAX_REPLY_CHARS]
    assert odd.raw == '{"action":"pass","say":"odd ? text"}' and odd.action.say == "odd ? text"
    odd.raw.encode("utf-8")  # storable


async def test_usage_counts_and_finish_reasons_no_server_could_mean_are_recorded_as_unknown(world, view, server):
    server.play("odd_usage", "odd_finish")
    usage, finish = await decide(world, view, config(server.base_url)), await decide(world, view, config(server.base_url))
    assert usage.outcome == "clean" and usage.call["completion_tokens"] is None
    assert 0 < usage.call["prompt_tokens"] < 2_000  # 10**30 is not a count: counted here instead
    assert finish.outcome == "clean" and finish.call["finish_reason"] is None


@pytest.mark.parametrize("scenario", ["absurd_usage", "zero_usage"])
async def test_usage_counts_the_request_rules_out_are_unknown_not_figures_for_the_means(world, view, server,
                                                                                        scenario):
    """2e9 tokens for a prompt of a few KB, a reply past the max_tokens asked for, zeros for a prompt and a reply
    that has text: counts, but of no such request. The prompt is counted here; the reply's is unknown."""
    server.default = scenario
    d = await decide(world, view, config(server.base_url))
    assert d.outcome == "clean" and d.call["completion_tokens"] is None
    assert 0 < d.call["prompt_tokens"] < 2_000
    stats = CallStats()
    stats.record(d)
    assert stats.summary()["smol"]["prompt_tokens"]["max"] == d.call["prompt_tokens"]


async def test_a_decision_asked_twice_costs_both_requests_tokens(world, view, server):
    server.play("truncated")  # cut off: asked again with twice the room, and answered
    d = await decide(world, view, config(server.base_url))
    assert d.call["attempts"] == 2 and len(server.requests) == 2
    assert (d.call["prompt_tokens"], d.call["completion_tokens"]) == (2 * 321, 2 * 23)
    stats = CallStats()
    stats.record(d)
    assert stats.summary()["smol"]["calls"] == 1 and stats.summary()["smol"]["requests"] == 2


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("mode", ["gzip", "gzip_bomb"])
async def test_a_compressed_model_list_is_refused_unread(transport, mode):
    """We ask for identity; a gzip body (a bomb could inflate a megabyte to a
    gigabyte) is not decompressed, not even in passing: the server is not
    one we can use."""
    import tracemalloc

    from tests.fault_server import _bomb

    _bomb()  # made beforehand: the server runs in this process, and its making is not the client's
    with FaultServer(models_mode=mode) as srv:
        async with ChatClient(config(srv.base_url, http_client=transport)) as client:
            tracemalloc.start()
            try:
                with pytest.raises(ModelServerError, match="gzip-encoded"):
                    await client.check_models()
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
    assert peak < 20 << 20, f"{peak >> 20} MB allocated: the body was inflated"


async def test_a_model_list_trickled_a_byte_at_a_time_ends_at_the_deadline():
    """httpx's own timeouts are per read: the whole GET has a deadline too."""
    with FaultServer(models_mode="trickle") as srv:
        async with ChatClient(config(srv.base_url, http_client="httpx", timeout_s=0.5, connect_timeout_s=0.5)) as client:
            assert client.check_wait_s == 1.0  # what the game's "waiting for model ... (up to 1 s)" says
            with pytest.raises(ModelServerError, match="did not answer GET models within 1 s"):
                await client.check_models()
            assert not srv.trickled_whole.is_set()  # cut at the deadline: not read to its last byte (6 s of it)


async def test_a_model_list_refused_with_no_body_says_so_not_a_dangling_colon():
    with FaultServer(models_mode="empty_404") as srv:
        async with ChatClient(config(srv.base_url)) as client:
            with pytest.raises(ModelServerError) as e:
                await client.check_models()
    assert str(e.value).endswith("answered GET models with HTTP 404 (no body)"), str(e.value)


async def test_a_base_url_missing_v1_is_asked_whether_it_needs_it():
    """vLLM serves its routes under /v1 and answers 404 elsewhere: a roster's
    base_url without /v1 got a bare "HTTP 404" at the start. Now the line asks
    whether it needs /v1, on one line, and only where the path lacks it."""
    with FaultServer(models_mode="v1_only") as srv:
        for url in (srv.root_url, srv.root_url + "/", srv.root_url + "/api"):
            async with ChatClient(config(url)) as client:
                with pytest.raises(ModelServerError) as e:
                    await client.check_models()
            assert str(e.value) == (f"model server for 'smol' at {url} answered GET models with HTTP 404: "
                                    '{"detail": "Not Found"} (does base_url need to end in /v1?)'), str(e.value)
        for url in (srv.base_url, srv.base_url + "/"):  # it has /v1: served
            async with ChatClient(config(url)) as client:
                assert await client.check_models() == {"smollm2"}
    with FaultServer(models_mode="empty_404") as srv:  # a 404 at a base_url that ends in /v1: no such question
        for url in (srv.base_url, srv.base_url + "/", srv.root_url + "/api/v1"):
            async with ChatClient(config(url)) as client:
                with pytest.raises(ModelServerError) as e:
                    await client.check_models()
            assert "/v1?" not in str(e.value) and str(e.value).endswith("HTTP 404 (no body)"), str(e.value)


@pytest.mark.parametrize("transport", ["lean", "httpx"])
async def test_a_chat_call_redirected_says_where_to_shown_inert_and_capped(world, view, server, transport):
    """A chat call answered 3xx had been recorded as `fault: http_302` and no
    more (the body of a redirect is empty): now the record says where its
    Location pointed, through the one sanitiser and capped, and that
    redirects are not followed."""
    server.play("redirect", "redirect_hostile", "redirect_hostile")  # httpx's fault is retried: twice
    plain = await decide(world, view, config(server.base_url, http_client=transport))
    assert plain.reason == ("fault: http_302: a redirect to http://127.0.0.1:9/v1/chat/completions "
                            "(redirects are not followed: set base_url to http://127.0.0.1:9/v1)")
    hostile = await decide(world, view, config(server.base_url, http_client=transport))
    if transport == "httpx":  # httpx refuses the response itself: its ESC is no URL (and its words are made inert)
        assert hostile.reason.startswith("fault: dropped: Invalid URL in location header: Invalid non-printable "
                                         "ASCII character in URL"), hostile.reason
        assert clean_text(hostile.reason) == hostile.reason
        return
    detail = hostile.reason.removeprefix("fault: http_307: a redirect to ")
    assert detail.startswith("http://127.0.0.1:9/‹|im_end|>aaa"), hostile.reason  # no ESC [2J, no bidi override
    assert detail.endswith(" (redirects are not followed: set base_url to the server's own address)")
    assert clean_text(hostile.reason) == hostile.reason and len(hostile.reason) < 400  # 5 KB of Location, capped
    assert hostile.call["fault"] == "http_307" and len(server.requests) == 2  # not followed, not retried


@pytest.mark.parametrize("transport", ["lean", "httpx"])
async def test_a_model_list_that_redirects_says_where_to_not_that_it_is_no_server(transport):
    """A proxy that moves http to https answers GET models with a 301: the
    start says so and names the base_url it points at (it had said only
    "did not answer like an OpenAI-compatible server")."""
    with FaultServer(models_mode="redirect") as srv:
        async with ChatClient(config(srv.base_url, http_client=transport)) as client:
            with pytest.raises(ModelServerError) as e:
                await client.check_models()
    https = srv.base_url.replace("http://", "https://")
    assert str(e.value) == (f"model server for 'smol' at {srv.base_url} answered GET models with HTTP 301, a redirect "
                            f"to {https}/models (redirects are not followed: set base_url to {https})")


@pytest.mark.parametrize("mode, says", [
    ("redirect_slash", "a redirect to {url}/models/, under this same base_url (redirects are not followed, and no "
                       "other base_url reaches it: the server must answer {url}/models itself)"),
    ("redirect_loop", "a redirect to {url}/models, the address asked (a loop: redirects are not followed)"),
])
async def test_a_model_list_that_redirects_under_its_own_base_url_is_not_told_to_set_it(mode, says):
    """A 307 from /v1/models to /v1/models/ (or to itself): the line had said
    "set base_url to" the base_url in the roster, which changes nothing."""
    with FaultServer(models_mode=mode) as srv:
        async with ChatClient(config(srv.base_url)) as client:
            with pytest.raises(ModelServerError) as e:
                await client.check_models()
    assert str(e.value) == (f"model server for 'smol' at {srv.base_url} answered GET models with HTTP 307, "
                            + says.format(url=srv.base_url))


@pytest.mark.parametrize("transport", ["lean", "httpx"])
async def test_a_model_list_answered_in_no_http_is_said_so_not_that_the_server_is_unreachable(transport):
    """A port that answers, but not in HTTP (another protocol's greeting): the
    start had said the server was "unreachable", though it answered at once.
    Both transports say so alike (httpx's in h11's words had been "illegal
    status line: bytearray(b'...')")."""
    said = "bad status line b'220 mail.example ESMTP ready'"
    async def greet(reader, writer):
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"220 mail.example ESMTP ready\r\n\r\n")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    try:
        async with ChatClient(config(url, http_client=transport)) as client:
            with pytest.raises(ModelServerError) as e:
                await client.check_models()
    finally:
        server.close()
    assert str(e.value) == f"model server for 'smol' at {url} gave no HTTP answer to GET models: {said}"


@pytest.mark.parametrize("key, says", [
    ({}, "no API key was sent: a roster names the environment variable that holds it with api_key_env"),
    ({"api_key_env": "WOOD_TEST_UNSET_KEY"}, "read from $WOOD_TEST_UNSET_KEY, which is not set"),
])
async def test_a_server_that_wants_a_key_is_told_apart_from_one_that_is_down(key, says, monkeypatch):
    """A 401 at the start says where the key comes from (a save never keeps a
    literal api_key, so a resume needs api_key_env)."""
    monkeypatch.delenv("WOOD_TEST_UNSET_KEY", raising=False)
    with FaultServer(models_mode="needs_key") as srv:
        async with ChatClient(config(srv.base_url, **key)) as client:
            with pytest.raises(ModelServerError, match="HTTP 401") as e:
                await client.check_models()
    assert says in str(e.value) and "\n" not in str(e.value)


async def test_a_slow_start_is_said_once_and_a_quick_one_not_at_all():
    from wood_tui.game import _said_if_slow

    said = []
    assert await _said_if_slow(asyncio.sleep(0, "quick"), said.append, "waiting", after_s=5) == "quick"
    assert said == []
    assert await _said_if_slow(asyncio.sleep(0.3, "slow"), said.append, "waiting", after_s=0.05) == "slow"
    assert said == ["waiting"]


async def test_a_reask_that_fails_keeps_the_reply_it_followed(world, view, server):
    server.play("truncated", "http_500")  # cut off, then the server errs on the re-ask
    d = await decide(world, view, config(server.base_url))
    assert d.outcome == "fault" and d.reason.startswith("fault: http_500")
    assert d.call["raw"] == REPLIES["truncated"][0] and d.call["finish_reason"] == "length"  # the reply, as it ended
    assert d.call["prompt_tokens"] > 0  # the first request was read and answered


async def test_a_slow_note_is_not_said_for_work_that_was_cancelled():
    from wood_tui.game import _said_if_slow

    said, ended = [], []

    async def work():
        try:
            await asyncio.sleep(5)
        finally:
            ended.append(True)  # cancelled with the wait, not left running under it

    waiting = asyncio.ensure_future(_said_if_slow(work(), said.append, "waiting", after_s=0.1))
    await asyncio.sleep(0.02)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert ended == [True]
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    await asyncio.sleep(0.2)
    assert said == []  # nothing of it left running


@pytest.mark.parametrize("url,host", [
    ("http://xn--nxasmq6b:8005/v1", "Host: xn--nxasmq6b:8005"),  # IDNA: httpx's `.host` is its Unicode form
    ("http://ünï.example/v1", "Host: xn--n-nga1b.example:80"),
    ("http://[::1]:8005/v1", "Host: [::1]:8005"),
])
def test_a_roster_url_with_an_international_or_ipv6_host_makes_a_client(url, host):
    """A chat call's request head is made once per server: an international
    host had raised UnicodeEncodeError (a traceback from `wood sim`), and an
    IPv6 address went into Host without its brackets."""
    client = ChatClient(ModelConfig(name="m", model="m", base_url=url))
    head = client.replicas[0].chat_head.decode("ascii")
    assert host + "\r\n" in head
    asyncio.run(client.aclose())


@contextlib.asynccontextmanager
async def raw_server(*answers: bytes):
    """A server on 127.0.0.1 that answers each request, on whichever
    connection it comes, with the next of `answers` byte for byte (one write),
    and keeps the connection open; yields its port."""
    queue = list(answers)

    async def serve(reader, writer):
        try:
            while queue:
                head = await reader.readuntil(b"\r\n\r\n")
                await reader.readexactly(int(re.search(rb"Content-Length: (\d+)", head)[1]))
                writer.write(queue.pop(0))
                await writer.drain()
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def exchange_each(port: int, n: int) -> tuple[list[object], int]:
    """`n` requests in turn through one lean transport: what each got (the
    body, or the error's type) and how many connections it opened."""
    from engine.brains.transport import LeanTransport

    lean, got = LeanTransport(), []
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
    for _ in range(n):  # deadlines a loaded machine keeps: no exchange here is meant to wait one out
        try:
            got.append((await lean.exchange("127.0.0.1", port, request, connect_timeout=30, read_timeout=30))[2])
        except Exception as e:
            got.append(type(e).__name__)
    await lean.aclose()
    return got, lean.connections_opened


SECOND = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"second\":2}"


@pytest.mark.parametrize("transport", ["lean", "httpx"])
async def test_a_request_a_server_died_reading_is_sent_not_one_that_could_not_connect(transport):
    """A server that reads a request on a kept-alive connection and dies (its
    connection and its port closed): the request went out, so the try is
    dropped and only the retry could not connect. The lean transport's resend
    on a new connection had been refused and the first try counted as never
    sent: 0 requests and 2 attempts that could not connect."""
    read = []

    async def serve(reader, writer):
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await answer(reader, writer)

    async def answer(reader, writer):
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            read.append(await reader.readexactly(int(re.search(rb"Content-Length: (\d+)", head)[1])))
            if len(read) == 2:  # it dies on the second
                server.close()
                writer.transport.abort()
                return
            reply = json.dumps({"choices": [{"message": {"content": '{"action":"pass"}'}}]}).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(reply), reply))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cfg = ModelConfig(name="m", base_url=f"http://127.0.0.1:{port}/v1", model="m", json_mode="none", timeout_s=1.0,
                      connect_timeout_s=1.0, http_client=transport)
    try:
        async with ChatClient(cfg) as client:
            first = await client.chat([{"role": "user", "content": "hi"}])
            second = await client.chat([{"role": "user", "content": "hi"}])
    finally:
        server.close()
    assert first.fault is None and len(read) == 2
    assert (second.fault, second.attempts, second.unconnected) == ("connect", 2, 1)  # sent, then refused


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_port_that_closes_each_connection_as_it_is_made_fails_at_once_not_at_the_timeout(loop, reset,
                                                                                            monkeypatch):
    """A port that takes each connection and closes it (or resets it) before
    reading a byte: the request went onto a connection already closed and
    waited its whole timeout_s for a reply (a `timeout`, then the server
    `silent` for answering none), or, on uvloop (`wood sim`'s loop), writing
    it raised RuntimeError out of the client. It is a connection that could
    not be made, said at once: or, where the close came only after the
    request went out, a dropped one."""
    from engine.brains.llm import SICK_STRIKES

    from .fault_server import ClosingPort

    if loop == "uvloop":
        pytest.importorskip("uvloop")
    monkeypatch.setenv(EVENT_LOOP_ENV, loop)
    msgs = [{"role": "user", "content": "hi"}]
    with ClosingPort(reset=reset) as closing:
        cfg = ModelConfig(name="m", base_url=f"http://127.0.0.1:{closing.port}/v1", model="m", json_mode="none",
                          timeout_s=2.0, connect_timeout_s=1.0)

        async def calls():
            async with ChatClient(cfg) as client:
                return [await client.chat(msgs) for _ in range(SICK_STRIKES + 1)]
        results = run_headless(calls())
    for r in results:
        assert r.fault in ("connect", "dropped") and r.waited is None and r.attempts == 2, r
        assert r.unconnected >= (r.fault == "connect")  # a try that found the connection closed was not sent


@pytest.mark.parametrize("scenario, transport, said", [
    ("gzip_transfer", "lean", "is gzip, chunked; only chunked is read"),
    ("gzip_transfer", "httpx", "is not chunked alone; only chunked is read"),
    ("chunked_twice", "lean", "names chunked more than once; only chunked alone is read"),
    ("chunked_twice", "httpx", "is not chunked alone; only chunked is read")])
async def test_a_reply_in_a_transfer_coding_other_than_chunked_is_a_bad_body_on_both_transports(world, view, server,
                                                                                                scenario, transport,
                                                                                                said):
    """Through httpx's own transport a reply with `Transfer-Encoding: gzip,
    chunked` was 'dropped' (h11 refuses the head) and sent again, where the
    lean transport refuses it as a bad body, once: both now do the same.
    `Transfer-Encoding: chunked, chunked` on one line was refused as "the
    reply's Transfer-Encoding is chunked, chunked; only chunked is read" by
    the one, and "is other than chunked" by the other: a contradiction to
    anyone who read the head. Each now says what is wrong with it."""
    server.default = scenario
    d = await decide(world, view, config(server.base_url, http_client=transport))
    assert d.reason == f"fault: bad_body: the reply's Transfer-Encoding {said}"
    assert len(server.requests) == 1  # a reply, not a hang-up: not retried


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("again", [b"chunked", b"gzip"])
async def test_a_second_transfer_encoding_after_chunked_is_one_framing_error_on_both_transports(transport, again):
    """A reply with `Transfer-Encoding: chunked` on two lines was refused by
    the lean transport as "the reply's Transfer-Encoding is chunked, chunked;
    only chunked is read" (a bad body, not retried), while httpx's own
    transport called it a dropped connection, "multiple Transfer-Encoding
    headers". Both now say it alike, a reply whose end is in doubt: dropped,
    and tried again."""
    from .fault_server import ClosingPort

    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: %s\r\n\r\n2\r\nhi\r\n0\r\n\r\n" % again
    with ClosingPort(after=reply) as closing:
        url = f"http://127.0.0.1:{closing.port}/v1"
        async with ChatClient(config(url, http_client=transport)) as client:
            r = await client.chat([{"role": "user", "content": "hi"}])
    assert (r.fault, r.detail, r.attempts) == ("dropped", "the reply's head has Transfer-Encoding again after chunked",
                                               2), r


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("after, said", [(b"", "server closed the connection without a response"),
                                         (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", "server disconnected "
                                          "mid-response")], ids=["unanswered", "mid_response"])
async def test_a_connection_reset_is_said_the_same_way_by_both_transports(transport, after, said):
    """A server that read the request and reset the connection (before its
    response, or within it) was 'dropped: ReadError' through httpx's own
    transport (`http_client = "httpx"`), a bare name where the lean
    transport says what happened; both now say it alike."""
    from .fault_server import ClosingPort

    with ClosingPort(reset=True, after=after) as closing:
        url = f"http://127.0.0.1:{closing.port}/v1"
        async with ChatClient(config(url, http_client=transport)) as client:
            r = await client.chat([{"role": "user", "content": "hi"}])
    assert (r.fault, r.detail, r.attempts, r.unconnected) == ("dropped", said, 2, 0)


@pytest.mark.parametrize("first, body, connections", [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n{\"ok\":1}HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG",
     b'{"ok":1}', 2),                                                          # a reply past its Content-Length
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n{\"ok\":1}\r\n0\r\n\r\nJUNK", b'{"ok":1}', 2),
    (b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG", b"", 2),  # a 204 has no body
    (b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", b"", 1),  # nor a chunked one: it waited
    (b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n", b"", 2),  # another protocol follows
])
async def test_a_connection_is_not_reused_after_a_reply_that_leaves_its_framing_in_doubt(first, body, connections):
    """Bytes past a reply's end (or a 101) and the connection is closed, not
    kept: they had been dropped unread at the next request, and any arriving
    after it would have been read as its reply."""
    async with raw_server(first, SECOND) as port:
        assert await exchange_each(port, 2) == ([body, b'{"second":2}'], connections)


@pytest.mark.parametrize("first, body, connections", [
    (b"HTTP/1.1 200 OK\r\nConnection: Upgrade, close\r\nContent-Length: 2\r\n\r\nhi", b"hi", 2),
    (b"HTTP/1.0 200 OK\r\nConnection: x-trace\r\nContent-Length: 2\r\n\r\nhi", b"hi", 2),  # 1.0: only keep-alive keeps it
    (b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi", b"hi", 1),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", b"hi", 2),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
     "DecodingError", 2),
])
async def test_connection_and_transfer_encoding_are_read_as_lists(first, body, connections):
    """`Connection` and `Transfer-Encoding` are comma lists, over any number of
    lines (RFC 9110 5.3): a `close` among others closes, an HTTP/1.0 reply is
    kept only for `keep-alive`, and chunked with a Content-Length frames the
    body but closes the connection after it (RFC 9112 6.3). A coding under
    the chunked one (no TE header asked for one) is refused, its body unread."""
    async with raw_server(first, SECOND) as port:
        assert await exchange_each(port, 2) == ([body, b'{"second":2}'], connections)


@pytest.mark.parametrize("raw, step", [
    (b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 4000 + b"Content-Length: 2\r\n\r\nhi", 1),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n" + b"X-T: b\r\n" * 8000 + b"\r\n", 64),
], ids=["head", "trailers"])
async def test_a_head_or_trailers_arriving_in_pieces_are_searched_in_linear_time(raw, step, monkeypatch):
    """The search for a head's (or trailers') end resumes where the last one
    gave up. (Each read searched from the start: a 64 KB head a byte at a
    time took 25 s of the event loop; 4 MB of trailers, minutes.)"""
    from engine.brains import transport

    class Counted:  # the work is the bytes searched: counted, not timed
        searched = 0

        def search(self, buf, pos=0):
            Counted.searched += len(buf) - pos
            return blank_line.search(buf, pos)

    blank_line = transport._BLANK_LINE
    monkeypatch.setattr(transport, "_BLANK_LINE", Counted())
    conn = transport._Connection()
    conn.connection_made(_Wire())
    reply = conn.send(b"", asyncio.get_running_loop())
    for i in range(0, len(raw), step):
        conn.data_received(raw[i:i + step])
    assert reply.result()[::2] == (200, b"hi")
    assert Counted.searched <= 4 * len(raw), (Counted.searched, len(raw))  # 3 bytes again, at most, a read


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 9000 + b"Content-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n" + b"X-T: b\r\n" * 9000 + b"\r\n",
], ids=["head", "trailers"])
async def test_a_head_or_trailers_past_head_max_fail_even_arriving_at_once(raw):
    """HEAD_MAX held only while the head's end had not come: 72 KB of
    headers arriving in one read were taken, and trailers up to 4 MB."""
    import httpx

    from engine.brains import transport

    conn = transport._Connection()
    conn.connection_made(_Wire())
    reply = conn.send(b"", asyncio.get_running_loop())
    conn.data_received(raw)
    with pytest.raises(httpx.RemoteProtocolError, match="headers too long"):
        reply.result()


class _Wire:
    """A transport for a `_Connection` fed by hand."""
    def write(self, data): pass
    def close(self): pass
    def get_extra_info(self, name): return None


@pytest.mark.parametrize("first", [
    b"HTTP/1.1 2_00 OK\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0_2\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x2\r\nhi\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n-0\r\n\r\n",
], ids=["status", "length", "chunk_0x", "chunk_signed"])
async def test_numbers_in_a_head_or_chunk_line_are_digits_alone(first):
    """`int()` reads `2_00`, `0_2`, `0x2` and `-0`; the RFC's numbers are
    digits (hex for a chunk size) and httpx refuses the rest."""
    async with raw_server(first, SECOND) as port:
        assert await exchange_each(port, 1) == (["RemoteProtocolError"], 1)


async def test_a_folded_header_line_is_more_of_the_value_above_not_a_header():
    """obs-fold (RFC 9112 5.2): a line that starts with a space continues the
    header above, as httpx reads it. It had been a header of its own: here a
    Transfer-Encoding that was only a note's words."""
    first = b"HTTP/1.1 200 OK\r\nX-Note: see\r\n Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nhi"
    async with raw_server(first, SECOND) as port:
        assert await exchange_each(port, 2) == ([b"hi", b'{"second":2}'], 1)


PASS_REPLY = json.dumps({"choices": [{"message": {"content": '{"action":"pass"}'}, "finish_reason": "stop"}]}).encode()


@contextlib.asynccontextmanager
async def counting_server(*, hang_up=lambda n: False, close_after_answer: bool = False):
    """A chat server on 127.0.0.1 that counts each request it reads whole
    (`read`, yielded with its port): the `n`th (from 1) it closes without a
    word where `hang_up(n)`, else answers a move, promising keep-alive and,
    where `close_after_answer`, closing the connection at once all the same."""
    read: list[bytes] = []
    serving: set[asyncio.Task] = set()

    async def serve(reader, writer):
        serving.add(asyncio.current_task())
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                read.append(await reader.readexactly(int(re.search(rb"Content-Length: (\d+)", head)[1])))
                if hang_up(len(read)):
                    break
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(PASS_REPLY), PASS_REPLY))
                if close_after_answer:
                    break
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], read
    finally:
        server.close()
        if serving:  # each ends as the client's connection closes: not cancelled by the loop's end (logged)
            await asyncio.wait(serving, timeout=5)


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("hang_up, sent, attempts, fault", [
    (lambda n: n == 2, 3, 2, None),       # the retry is answered
    (lambda n: n > 1, 3, 2, "dropped"),   # every request after the first is read and hung up on
], ids=["then_answered", "every_time"])
async def test_a_request_read_on_a_kept_alive_connection_and_hung_up_on_is_dropped_not_resent_unsaid(
        world, view, transport, hang_up, sent, attempts, fault):
    """A server that reads a request whole on a kept-alive connection and
    closes it without answering (it died, or gave up on the request) may have
    done the work: the lean transport had sent it again at once on a new
    connection, unsaid, so the server did the work twice and the summary
    counted one request (two where the resend was hung up on too, and the
    server had read four). Now it is a dropped try, retried once by the
    client like any other and counted: the summary says what the server read."""
    from wood_tui.game import model_lines

    stats = CallStats()
    async with counting_server(hang_up=hang_up) as (port, read):
        async with ChatClient(config(f"http://127.0.0.1:{port}/v1", json_mode="none", http_client=transport)) as client:
            brain = LLMBrain("Fox", client, world, names=NAMES, temperament_line=world.temperaments["speculator"])
            first = await brain.decide(view)  # leaves its connection kept alive
            second = await brain.decide(view)  # sent on it
            replica = client.replica_summary()[0]
    stats.record(first)
    stats.record(second)
    assert first.call["attempts"] == 1 and first.call["fault"] is None
    assert (second.call["attempts"], second.call["fault"]) == (attempts, fault)
    assert len(read) == sent  # the old lean transport: 3 read where the first hang-up's resend was answered, else 4
    assert stats.summary()["smol"]["requests"] == replica["calls"] == sent  # it had said 2
    assert replica["faults"] == {"dropped": 2 if fault else 1}  # it had said none
    assert model_lines(stats.summary())[0].startswith(f"model smol: 2 decisions ({sent} requests), ")


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("pause_s", [0, 0.1], ids=["at_once", "after_a_pause"])
async def test_a_kept_alive_connection_the_server_closed_while_idle_is_not_a_fault(world, view, transport, pause_s):
    """A server that closes a kept-alive connection after answering on it
    (its keep-alive timeout) never saw the next request: that one goes on a
    new connection, one request, no fault, whether the client had noticed the
    close (after a pause) or not yet (the next call at once)."""
    async with counting_server(close_after_answer=True) as (port, read):
        async with ChatClient(config(f"http://127.0.0.1:{port}/v1", json_mode="none", http_client=transport)) as client:
            brain = LLMBrain("Fox", client, world, names=NAMES, temperament_line=world.temperaments["speculator"])
            decisions = []
            for _ in range(3):
                decisions.append(await brain.decide(view))
                await asyncio.sleep(pause_s)
            replica = client.replica_summary()[0]
            lean = client.replicas[0].lean
    assert [(d.call["attempts"], d.call["fault"]) for d in decisions] == [(1, None)] * 3
    assert len(read) == replica["calls"] == 3 and replica["faults"] == {}
    if lean is not None:
        assert lean.connections_opened == 3


async def test_a_kept_alive_connection_closed_after_its_answer_is_not_used_for_the_next_request():
    """The next request goes out in the same step of the event loop that read
    the answer, before the loop has read the server's close that came after
    it: the connection is looked at first, found closed, and left."""
    async with counting_server(close_after_answer=True) as (port, read):
        got, connections = await exchange_each(port, 3)
    assert got == [PASS_REPLY] * 3  # it had been a RemoteProtocolError, had the request not been sent again
    assert len(read) == connections == 3


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("after, said", [(b"", "server closed the connection without a response"),
                                         (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{", "server disconnected "
                                          "mid-response")], ids=["unanswered", "mid_response"])
async def test_a_hang_up_is_said_the_same_way_by_both_transports(transport, after, said):
    """A server that read the request and closed the connection (a close, not
    a reset) before its response, or within it, was said in httpx's and
    h11's own words through httpx's transport ('Server disconnected without
    sending a response.', 'peer closed connection without sending complete
    message body (received 1 bytes, expected 100)'); both now say it alike."""
    r = await _one_chat_answered_with(after, transport)  # the request read whole first: no reset
    assert (r.fault, r.detail, r.attempts, r.unconnected) == ("dropped", said, 2, 0)


@pytest.mark.parametrize("transport", ["lean", "httpx"])
async def test_a_port_nothing_listens_on_is_said_the_same_way_by_both_transports(transport):
    """A refused connection was 'Connect call failed ('127.0.0.1', N)' (the
    event loop's words) through the lean transport and 'All connection
    attempts failed' (anyio's) through httpx's: both now say the system's."""
    url = dead_url()
    async with ChatClient(config(url, http_client=transport)) as client:
        r = await client.chat([{"role": "user", "content": "hi"}])
    port = url.removesuffix("/v1").rsplit(":", 1)[1]
    assert (r.fault, r.detail, r.attempts, r.unconnected) == ("connect", f"cannot connect to 127.0.0.1:{port}: "
                                                              "Connection refused", 2, 2)


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_port_that_closes_each_connection_at_once_is_counted_and_said_alike_by_both_transports(transport,
                                                                                                      reset):
    """A port that takes each connection and closes (or resets) it before
    reading a byte: the lean transport finds a connection closed before its
    request goes on it, a connect fault (no request sent), where httpx's
    wrote the request and called it dropped, in its own words ('Server
    disconnected without sending a response.', '[Errno 104] Connection reset
    by peer', 'All connection attempts failed'). Both now look, and count and
    say each try alike: not connected, or (the close come only after the
    request went out) dropped."""
    from engine.brains.transport import CLOSED_AS_MADE

    from .fault_server import ClosingPort

    with ClosingPort(reset=reset) as closing:
        async with ChatClient(config(f"http://127.0.0.1:{closing.port}/v1", http_client=transport)) as client:
            results = [await client.chat([{"role": "user", "content": "hi"}]) for _ in range(4)]
    words = {("connect", f"cannot connect to 127.0.0.1:{closing.port}: {why}")
             for why in (CLOSED_AS_MADE, "Connection reset by peer", "Connection refused")}
    words.add(("dropped", "server closed the connection without a response"))
    for r in results:
        assert (r.fault, r.detail) in words and r.attempts == 2, r
        assert r.unconnected >= (r.fault == "connect")  # a try that found the connection closed was not sent


async def _one_chat_answered_with(reply: bytes, transport: str):
    """One chat through `transport` with a server on 127.0.0.1 that reads the
    request whole and answers `reply`, bytes as they are."""
    async def serve(reader, writer):
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(re.search(rb"Content-Length: (\d+)", head)[1]))
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        async with ChatClient(config(url, http_client=transport)) as client:
            r = await client.chat([{"role": "user", "content": "hi"}])
    finally:
        server.close()
    return r


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("reply, said", [
    (b"HTTP/2 200 OK\r\nContent-Length: 2\r\n\r\n{}", "bad status line b'HTTP/2 200 OK'"),  # lean read it as a reply
    (b"http/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "bad status line b'http/1.1 200 OK'"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (1 << 20) + b"\r\nContent-Length: 2\r\n\r\n{}", "response headers too long"),
], ids=["http2", "lowercase", "header_1mb"])
async def test_a_head_that_is_no_http_1_head_is_refused_and_said_alike_by_both_transports(transport, reply, said):
    """A status line of another HTTP version (or none), and a head of a
    megabyte: the lean transport took 'HTTP/2 200' and 'http/1.1 200' for
    replies, which h11 refuses, and httpx's transport said h11's words
    ('illegal status line: bytearray(...)', 'Receive buffer too long'). Both
    now refuse them alike: no HTTP answer, dropped and tried again."""
    r = await _one_chat_answered_with(reply, transport)
    assert (r.fault, r.detail, r.attempts) == ("dropped", said, 2), r


@pytest.mark.parametrize("transport", ["lean", "httpx"])
async def test_a_server_that_speaks_first_is_said_so_not_to_have_closed(transport):
    """A port whose server greets each connection before any request (SSH,
    SMTP): the lean transport found the connection unusable and said 'the
    connection closed as it was made', which it had not. Both transports now
    say what it sent."""
    async def greet(reader, writer):
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(reader.read(), 3)
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with ChatClient(config(f"http://127.0.0.1:{port}/v1", http_client=transport)) as client:
            results = [await client.chat([{"role": "user", "content": "hi"}]) for _ in range(2)]
    finally:
        server.close()
    said = (f"cannot connect to 127.0.0.1:{port}: the server sent b'SSH-2.0-OpenSSH_9.6\\r\\n' as the connection was "
            "made, before a request went on it, as no HTTP server does")
    for r in results:  # or, its greeting come only after the request went out, no whole reply in time
        assert (r.fault, r.detail) == ("connect", said) or r.fault == "timeout", r
    assert any(r.fault == "connect" for r in results)


@pytest.mark.parametrize("transport", ["lean", "httpx"])
@pytest.mark.parametrize("lengths, fault, detail", [
    (b"Content-Length: {n}, {n}", None, ""),  # a list of one value is that value (RFC 9110 8.6)
    (b"Content-Length: 3, {n}", "dropped", "conflicting Content-Length headers"),
    (b"Content-Length: 3\r\nContent-Length: {n}", "dropped", "conflicting Content-Length headers"),
    (b"Content-Length: +{n}", "dropped", "bad Content-Length"),
], ids=["one_value_twice", "two_values", "two_lines", "signed"])
async def test_a_content_length_list_is_read_alike_by_both_transports(transport, lengths, fault, detail):
    """'Content-Length: 89, 89' was refused by the lean transport as a bad
    Content-Length, and read by httpx's (h11) as 89; two that conflict were
    'bad Content-Length' to the one and 'conflicting Content-Length headers'
    to the other. Both now read and say them alike."""
    body = json.dumps({"choices": [{"finish_reason": "stop", "message": {"content": '{"action":"pass"}'}}]}).encode()
    reply = b"HTTP/1.1 200 OK\r\n" + lengths.replace(b"{n}", b"%d" % len(body)) + b"\r\nConnection: close\r\n\r\n" + body

    r = await _one_chat_answered_with(reply, transport)
    assert (r.fault, r.detail) == (fault, detail), r


async def test_a_fault_server_closed_mid_game_answers_no_more_on_its_kept_alive_connections():
    """The fault server closed (as a test kills it mid-game) only stopped
    taking new connections: a client's kept-alive one went on getting valid
    replies, so a 'server gone' test met a server still there; closing it
    drops them, and the next request finds the server gone."""
    with FaultServer() as srv:
        async with ChatClient(config(srv.base_url)) as client:
            assert "smollm2" in await client.check_models()  # answered, on a connection kept alive
            srv.__exit__(None, None, None)  # killed, the game going on
            with pytest.raises(ModelServerError):
                await client.check_models()
