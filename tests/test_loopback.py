"""The loopback model server (serve/loopback.py), a real process on 127.0.0.1:
it answers OpenAI-compatible chat completions with actions its request's
schema admits, holds at most `concurrency` calls at once (the rest queue),
and the game drives it through the one client like any model server."""
from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest

from engine.brains.config import ModelConfig
from engine.brains.llm import ChatClient, LLMBrain
from engine.legal import legal_schema
from engine.state import initial_state
from engine.views import public_view
from engine.world import build_roster
from serve.loopback import LoopbackServer, choose_action
from tests.test_legal import admits

NAMES = ("Owl", "Fox", "Badger", "Hare", "Squirrel")


@pytest.fixture(scope="module")
def loopback():
    with LoopbackServer() as srv:
        yield srv


def config(url: str, **overrides) -> ModelConfig:
    return ModelConfig(**{"name": "loop", "base_url": url, "model": "loopback", "max_concurrency": 64,
                          "timeout_s": 10, **overrides})


def test_it_serves_health_models_and_stats(loopback):
    with httpx.Client(trust_env=False, timeout=5) as c:
        assert c.get(loopback.base_url.removesuffix("/v1") + "/health").status_code == 200
        assert [m["id"] for m in c.get(f"{loopback.base_url}/models").json()["data"]] == ["loopback"]
        assert c.post(f"{loopback.base_url}/chat/completions", content=b"not json").status_code == 400
        assert c.get(f"{loopback.base_url}/nowhere").status_code == 404
        assert loopback.stats()["requests"] >= 0


def test_choose_action_fills_a_branch_the_schema_admits(world):
    view = public_view(initial_state(world, 3), world, "Fox")
    schema = legal_schema(view, world.good_names, NAMES)
    rng = random.Random(1)
    picks = [choose_action(schema, rng) for _ in range(200)]
    assert all(admits(schema, p) for p in picks)
    assert len({p["action"] for p in picks}) >= 4  # it ranges over the branches, not one move
    assert choose_action(None, rng) == {"action": "pass"} == choose_action(schema, rng, "pass")


@pytest.mark.parametrize("json_mode", ["json_schema", "json_object_schema", "none"])
async def test_model_brains_get_valid_actions_through_the_client(world, loopback, json_mode):
    roster = build_roster(world, 40)
    names = tuple(r.name for r in roster)
    state = initial_state(world, 5, roster)
    async with ChatClient(config(loopback.base_url, json_mode=json_mode)) as client:
        brains = [LLMBrain(r.name, client, world, names=names, temperament_line="") for r in roster]
        decisions = await asyncio.gather(*(b.decide(public_view(state, world, b.name)) for b in brains))
    assert {d.outcome for d in decisions} == {"clean"}, {d.reason for d in decisions}
    for d in decisions:
        assert d.call["prompt_tokens"] > 0 and d.call["replica"] == loopback.base_url
    if json_mode == "none":  # no schema to choose from: it passes
        assert {d.action.action for d in decisions} == {"pass"}


async def test_requests_beyond_its_concurrency_wait_in_a_queue(world):
    with LoopbackServer(latency_ms=150, concurrency=3) as srv:
        async with ChatClient(config(srv.base_url, max_concurrency=16)) as client:
            msgs = [{"role": "user", "content": "hello"}]
            results = await asyncio.gather(*(client.chat(msgs) for _ in range(8)))
        stats = srv.stats()
    assert [r.fault for r in results] == [None] * 8
    assert json.loads(results[0].text) == {"action": "pass"}
    assert (stats["requests"], stats["max_active"], stats["max_held"]) == (8, 3, 8)


def test_the_strict_model_flag_refuses_other_names():
    with LoopbackServer(models=("qwen",), strict=True) as srv, httpx.Client(trust_env=False, timeout=5) as c:
        body = {"model": "other", "messages": [{"role": "user", "content": "hi"}]}
        assert c.post(f"{srv.base_url}/chat/completions", json=body).status_code == 404
        assert c.post(f"{srv.base_url}/chat/completions", json={**body, "model": "qwen"}).status_code == 200


async def test_a_restarted_server_is_reached_on_new_connections():
    """Kept-alive connections to a server process that died are never reused."""
    with LoopbackServer() as srv:
        async with ChatClient(config(srv.base_url)) as client:
            msgs = [{"role": "user", "content": "hello"}]
            assert [r.fault for r in await asyncio.gather(*(client.chat(msgs) for _ in range(4)))] == [None] * 4
            srv.kill()
            srv.start()  # the same port, a new process
            again = await asyncio.gather(*(client.chat(msgs) for _ in range(4)))
            stats = srv.stats()
    assert [(r.fault, r.attempts) for r in again] == [(None, 1)] * 4 and stats["requests"] == 4
