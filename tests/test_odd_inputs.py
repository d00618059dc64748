"""Odd input at the edges: file names a shell or a terminal would mangle,
output that cannot be written, a model server that accepts a connection and
then says nothing. Each is one clear line, and nothing is lost."""
from __future__ import annotations

import pytest


# ---- a model server that takes the connection and says nothing ---------------------------------------------
def _silent_config(url: str):
    from engine.brains.config import ModelConfig

    return ModelConfig(name="smol", base_url=url, model="smollm2", json_mode="json_object_schema",
                       max_concurrency=2, timeout_s=30.0, connect_timeout_s=0.3, max_tokens=64)


async def test_a_chat_call_to_a_tls_port_that_never_answers_ends_at_the_connect_timeout():
    """https to a port that takes the connection and never answers the TLS
    handshake: the call is a `connect` fault once connect_timeout_s has passed
    (twice: it is retried once), never the 30 s of timeout_s."""
    import asyncio
    import time

    from engine.brains.llm import ChatClient
    from tests.fault_server import SilentPort

    with SilentPort() as silent:
        async with ChatClient(_silent_config(f"https://127.0.0.1:{silent.port}/v1")) as client:
            t0 = time.perf_counter()
            result = await asyncio.wait_for(client.chat([{"role": "user", "content": "hi"}]), 10)
            took = time.perf_counter() - t0
    assert result.fault == "connect" and result.attempts == 2, result
    assert result.detail == "no connection within 0.3 s (connect_timeout_s)", result.detail
    assert took < 3, took
    assert silent.accepted >= 1  # it was the handshake that never came, not the connection


@pytest.mark.parametrize("replicas", [1, 2])
async def test_the_model_check_of_a_tls_port_that_never_answers_ends_at_the_connect_timeout(replicas):
    """`check_models` (the start of every game, and a replica's health check)
    had waited connect_timeout_s + timeout_s (30.3 s here) for a TLS handshake
    that never came: it is unreachable once connect_timeout_s has passed. With
    a second, working replica the game starts without it."""
    import asyncio
    import time

    from engine.brains.llm import ChatClient, ModelServerError
    from tests.fault_server import FaultServer, SilentPort

    with SilentPort() as silent, FaultServer() as good:
        url = f"https://127.0.0.1:{silent.port}/v1"
        cfg = _silent_config(url) if replicas == 1 else _silent_config("").model_copy(
            update={"base_url": url, "base_urls": [url, good.base_url]})
        async with ChatClient(cfg) as client:
            t0 = time.perf_counter()
            if replicas == 1:
                with pytest.raises(ModelServerError) as caught:
                    await asyncio.wait_for(client.check_models(), 10)
                assert str(caught.value) == (f"model server for 'smol' at https://127.0.0.1:{silent.port}/v1 did not "
                                             "take the connection within 0.3 s (connect_timeout_s)")
            else:
                assert await asyncio.wait_for(client.check_models(), 10) == {"smollm2"}
                assert [r.up for r in client.replicas] == [False, True]
            assert time.perf_counter() - t0 < 3
