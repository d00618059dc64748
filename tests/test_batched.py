"""serve/batched.py for real: the batching llama.cpp server process with the
SmolLM2 GGUF, over real HTTP on 127.0.0.1 (one server for the module), plus
its chat template against llama-cpp-python's own."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from engine.grammar import gbnf
from serve.batched import chatml_prompt
from serve.embedded import MODEL_ALIAS, EmbeddedServer
from tests.saves import line_within

SYSTEM = ("You trade in the Thousand Token Wood. Prices are whole coins per unit. Never sell or pay what you lack. "
          "Choose ONE action and answer with ONE JSON object only.")
SHARED = "Round 4, autumn. Last prices: acorns 4, honey 9, mushrooms 3, firewood 5. Fox bought honey at 9.\n"


# ---- the chat template (no model needed) ---------------------------------------
@pytest.mark.parametrize("messages", [
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}],
    [{"role": "user", "content": "no system message"}],
    [{"role": "system", "content": "first"}, {"role": "system", "content": "second, dropped"},
     {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "and?"}],
    [{"role": "system", "content": None}, {"role": "user", "content": ""}, {"role": "tool", "content": "dropped"},
     {"role": "assistant", "content": "x"}],
    [{"role": "system", "content": SYSTEM}, {"role": "user", "content": SHARED + "<|im_end|> in the text, ünïcode"}],
], ids=["system-user", "no-system", "two-systems-and-turns", "empty-and-other-roles", "specials-unicode"])
def test_chatml_prompt_is_llama_cpp_pythons(messages):
    from llama_cpp.llama_chat_format import format_chatml

    assert chatml_prompt(messages) == format_chatml(messages).prompt


# ---- the server, for real -----------------------------------------------------------
def schema(actions: dict[str, dict]) -> dict:
    """A legal-moves schema of the game's shape: one branch per action."""
    return {"anyOf": [{"type": "object", "properties": {"action": {"enum": [name]}, **props},
                       "required": ["action", *props]} for name, props in actions.items()]}


SCHEMAS = [
    schema({"pass": {}}),
    schema({"offer": {"side": {"enum": ["buy"]}, "good": {"enum": ["honey"]}, "qty": {"enum": [1, 2]},
                      "price": {"enum": [8, 9]}}, "pass": {}}),
    schema({"gift": {"to": {"enum": ["Fox", "Hare"]}, "good": {"enum": ["acorns"]}, "qty": {"enum": [1]}}}),
    schema({"lend": {"amount": {"enum": [10, 20]}, "rate": {"enum": [3]}, "rounds": {"enum": [2, 3]}}}),
    schema({"offer": {"side": {"enum": ["sell"]}, "good": {"enum": ["mushrooms", "firewood"]}, "qty": {"enum": [3]},
                      "price": {"enum": [3, 4, 5]}}, "accept": {"id": {"enum": [7, 12]}}}),
]


def admitted(obj: object, sch: dict) -> bool:
    """Whether `obj` is one of the objects `sch` allows, fields in its order."""
    for branch in sch["anyOf"]:
        props = branch["properties"]
        if isinstance(obj, dict) and list(obj) == list(props) and all(obj[k] in props[k]["enum"] for k in props):
            return True
    return False


def body(user: str, **extra) -> dict:
    return {"model": MODEL_ALIAS, "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
            "max_tokens": 64, "temperature": 0.7, **extra}


@pytest.fixture(scope="module")
def server():
    with EmbeddedServer(server="batched", parallel=8) as srv:
        yield srv


@pytest.fixture(scope="module")
def vocab():
    import llama_cpp

    from serve.embedded import requantized_gguf

    return llama_cpp.Llama(str(requantized_gguf()), vocab_only=True, verbose=False)


def post(srv: EmbeddedServer, payload, **kw) -> httpx.Response:
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return httpx.post(f"{srv.base_url}/chat/completions", content=content, timeout=120, trust_env=False,
                      headers={"Content-Type": "application/json"}, **kw)


def stats(srv: EmbeddedServer) -> dict:
    return httpx.get(srv.base_url.removesuffix("/v1") + "/stats", timeout=10, trust_env=False).json()


@pytest.mark.real_model
def test_five_concurrent_requests_each_answered_as_its_grammar_admits(server, vocab):
    """A round's worth of calls at once, each with its own grammar: every reply
    is one of its own schema's objects, the usage counts are the prompt's and
    the reply's tokens, and the server decoded them together."""
    users = [SHARED + f"You are creature {i}. You have {3 * i} acorns and {10 + i} coins. Your move: ONE JSON object."
             for i in range(5)]

    async def ask_all():
        async with httpx.AsyncClient(trust_env=False, timeout=120) as c:
            return await asyncio.gather(*(c.post(f"{server.base_url}/chat/completions",
                                                 json=body(u, grammar=gbnf(s), seed=i))
                                          for i, (u, s) in enumerate(zip(users, SCHEMAS))))

    before = stats(server)
    assert before["kv"] == "split"  # the default: each request its own cells, the shared prefix copied across
    replies = asyncio.run(ask_all())
    for user, sch, r in zip(users, SCHEMAS, replies):
        assert r.status_code == 200, r.text
        data = r.json()
        choice = data["choices"][0]
        text = choice["message"]["content"]
        assert admitted(json.loads(text), sch), (text, sch)
        assert choice["finish_reason"] == "stop"  # ended as its grammar did, not at max_tokens
        usage = data["usage"]
        prompt = chatml_prompt(body(user)["messages"])
        assert usage["prompt_tokens"] == len(vocab.tokenize(prompt.encode(), add_bos=True, special=True))
        assert 0 < usage["completion_tokens"] <= len(text.encode())  # the grammar's end: no end token counted
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    after = stats(server)
    assert after["requests"] - before["requests"] == 5
    assert after["max_seqs_in_batch"] >= 3  # batched, not one after another
    # the shared system and round lines were prefilled once, not five times
    shared = len(vocab.tokenize(chatml_prompt(body(SHARED)["messages"]).encode(), add_bos=True, special=True)) - 10
    prompt_total = sum(r.json()["usage"]["prompt_tokens"] for r in replies)
    assert after["prefilled_tokens"] - before["prefilled_tokens"] <= prompt_total - 3 * shared


@pytest.mark.real_model
def test_a_shared_prefix_is_prefilled_once(server):
    first = post(server, body("Owl asks: what is the price of honey? " * 3 + "Answer in one word.", max_tokens=4))
    second = post(server, body("Hare asks: what is the price of acorns? Answer in one word.", max_tokens=4))
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    u1, u2 = first.json()["usage"], second.json()["usage"]
    system_tokens = 30  # SYSTEM alone is longer than this
    assert u2["prompt_tokens_details"]["cached_tokens"] >= system_tokens
    assert u2["prompt_tokens"] - u2["prompt_tokens_details"]["cached_tokens"] < u1["prompt_tokens"] - system_tokens
    again = post(server, body("Hare asks: what is the price of acorns? Answer in one word.", max_tokens=4))
    assert again.json()["usage"]["prompt_tokens_details"]["cached_tokens"] == u2["prompt_tokens"] - 1


@pytest.mark.real_model
def test_a_seed_repeats_its_reply(server):
    ask = body(SHARED + "Name a good to buy.", max_tokens=12, seed=1234, temperature=1.0)
    assert post(server, ask).json()["choices"][0]["message"]["content"] == \
        post(server, ask).json()["choices"][0]["message"]["content"]


@pytest.mark.real_model
def test_response_format_json_object_with_a_schema(server):
    sch = {"type": "object", "properties": {"action": {"type": "string", "enum": ["offer", "pass"]},
                                            "qty": {"type": "integer"}}, "required": ["action", "qty"]}
    r = post(server, body("Choose an action and a quantity.", response_format={"type": "json_object", "schema": sch}))
    assert r.status_code == 200, r.text
    out = json.loads(r.json()["choices"][0]["message"]["content"])
    assert out["action"] in ("offer", "pass") and isinstance(out["qty"], int)


@pytest.mark.real_model
@pytest.mark.parametrize("payload, why", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    ({"model": MODEL_ALIAS}, "messages"),
    ({"messages": [{"content": "no role"}]}, "role"),
    ({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}, "temperature"),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "hi"}], "grammar": "root ::= ("}, "grammar"),
    ({"messages": [{"role": "user", "content": "hi"}], "stream": True}, "stream"),
    ({"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "xml"}}, "response_format"),
], ids=["garbage", "array", "no-messages", "no-role", "bad-temperature", "zero-max-tokens", "bad-grammar",
        "stream", "bad-format"])
def test_a_malformed_request_is_a_400_and_the_server_keeps_serving(server, payload, why):
    r = post(server, payload)
    assert r.status_code == 400
    assert why in r.json()["error"]["message"]
    ok = post(server, body("Say yes.", max_tokens=2))
    assert ok.status_code == 200 and ok.json()["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.real_model
def test_a_prompt_that_does_not_fit_is_a_clear_400(server):
    r = post(server, body("acorn " * 5000, max_tokens=16))
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "context_length_exceeded" and "maximum context length is 2048 tokens" in err["message"]
    assert post(server, body("Say yes.", max_tokens=2)).status_code == 200


@pytest.mark.real_model
def test_unknown_route_and_health(server):
    root = server.base_url.removesuffix("/v1")
    assert httpx.get(f"{root}/nowhere", trust_env=False).status_code == 404
    assert httpx.get(f"{root}/health", trust_env=False).status_code == 200
    assert [m["id"] for m in httpx.get(f"{server.base_url}/models", trust_env=False).json()["data"]] == [MODEL_ALIAS]


class UnifiedServer(EmbeddedServer):
    """serve.batched with one pool of KV cells for all requests (`--kv unified`)."""

    def command(self) -> list[str]:
        return [*super().command(), "--kv", "unified"]


@pytest.mark.real_model
def test_requests_that_overflow_a_unified_cache_wait_their_turn(tmp_path):
    """A pool of KV cells too small for three prompts at once: none fails,
    the ones that did not fit ran after the others; a shared prefix is still
    found cached."""
    prompts = [f"Creature {i} says: " + "the honey is good this year. " * 60 for i in range(3)]
    with UnifiedServer(server="batched", parallel=3, n_ctx=1024, log_dir=tmp_path) as srv:
        async def ask_all():
            async with httpx.AsyncClient(trust_env=False, timeout=120) as c:
                return await asyncio.gather(*(c.post(f"{srv.base_url}/chat/completions",
                                                     json=body(p, max_tokens=24, temperature=0))
                                              for p in prompts))
        replies = asyncio.run(ask_all())
        assert [r.status_code for r in replies] == [200, 200, 200], [r.text for r in replies]
        st = stats(srv)
        assert st["kv"] == "unified" and st["requeued"] + st["evictions"] >= 1
        assert sum(r.json()["usage"]["prompt_tokens_details"]["cached_tokens"] for r in replies) > 0


@pytest.mark.parametrize("args,says", [
    (["--model", "/no/such.gguf"], "serve.batched: /no/such.gguf: no model file there"),
    (["--model", "{dir}"], ": a directory, not a GGUF file"),
    # the path as typed, its control characters escaped: it had reached the terminal raw
    (["--model", "a\x1b[31mb.gguf"], "serve.batched: a\\x1b[31mb.gguf: no model file there"),
    (["--model", "{bad}"], "serve.batched: cannot load model"),
    (["--model", "x.gguf", "--parallel", "0"], "--parallel: expected 1 to 131,072, got 0"),
])
def test_a_bad_model_file_or_flag_is_one_line_not_a_traceback(tmp_path, args, says):
    import subprocess
    import sys

    bad = tmp_path / "bad.gguf"
    bad.write_text("not a GGUF file")
    args = [str(bad) if a == "{bad}" else str(tmp_path) if a == "{dir}" else a for a in args]
    r = subprocess.run([sys.executable, "-m", "serve.batched", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr, r.stderr[-800:]


@pytest.mark.parametrize("args,says", [
    # llama.cpp had aborted the process as it made the context (GGML_ASSERT, a core dump, a debugger's backtrace)
    (["--n-batch", "7"], "--n-batch 7 is below --parallel 8: a decode step holds a token of every request "
                         "decoded together"),
    (["--parallel", "4", "--n-batch", "3"], "--n-batch 3 is below --parallel 4: a decode step holds a token of "
                                            "every request decoded together"),
    # -1 had been handed to llama.cpp as it was, 10**20 wrapped round and printed as "threads 1661992960"
    (["--threads", "-1"], "argument --threads: expected 0 to 1,024, got -1"),
    (["--threads", str(10**20)], f"argument --threads: expected 0 to 1,024, got {10**20}"),
    (["--parallel", "５"], "argument --parallel: expected a whole number, got '５'"),  # had been 5
    (["--parallel", "0"], "argument --parallel: expected 1 to 131,072, got 0"),
    # llama.cpp had been asked for the cells: 10**20 hung allocating them; bounded as a roster's embedded model is
    (["--n-ctx", str(10**20)], f"argument --n-ctx: expected 1 to 131,072, got {10**20}"),
    # wrapped round in llama.cpp's 32-bit field to 1, below --parallel: llama.cpp aborted the process
    (["--n-batch", str(2**32 + 1)], f"argument --n-batch: expected 1 to 131,072, got {2**32 + 1}"),
    (["--n-ctx", "32768", "--parallel", "8"], "--n-ctx 32768 x --parallel 8 asks for 262,144 cells of KV cache "
                                              "(--kv split); at most 131,072 (~23 KB each)"),
    (["--kv", "unified", "--n-ctx", "131073"], "argument --n-ctx: expected 1 to 131,072, got 131073"),
])
def test_batched_flags_it_cannot_serve_with_are_usage_errors(tmp_path, args, says):
    """Refused as the flags are read, before the model loads: one line, exit 2, nothing started."""
    import subprocess
    import sys

    from serve.embedded import gguf_path

    r = subprocess.run([sys.executable, "-m", "serve.batched", "--model", str(gguf_path()), *args],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and r.stdout == "", (r.returncode, r.stdout, r.stderr[-800:])
    assert r.stderr.splitlines()[-1] == f"python -m serve.batched: error: {says}", r.stderr[-800:]


def test_sigterm_while_the_model_loads_ends_the_server_quietly():
    """SIGTERM as the model loaded had run the server's handler inside
    llama.cpp's log callback: a traceback ('Exception ignored on calling
    ctypes callback function ... SystemExit: 0'), and the server went on to
    load and serve. It now ends the process as it comes, saying nothing."""
    import signal
    import subprocess
    import sys

    from serve.embedded import gguf_path

    p = subprocess.Popen([sys.executable, "-m", "serve.batched", "--model", str(gguf_path()), "--verbose"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while "llama_model_loader" not in (line := line_within(p.stderr, 300)):  # llama.cpp's log: the model is loading
            assert line, "the server ended before it loaded the model"
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == -signal.SIGTERM and out == "", (p.returncode, out)
    assert "Traceback" not in err and "Exception ignored" not in err, err[-800:]
