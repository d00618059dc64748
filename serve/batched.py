"""A batching llama.cpp chat server on llama-cpp-python's low-level API: the
embedded model's server (serve/embedded.py starts it).

    python -m serve.batched --model PATH --port 8010 --threads 2 --parallel 8 --n-ctx 2048

llama-cpp-python's own server answers one request at a time. This one keeps up
to `--parallel` requests decoding together in one llama context:

- Continuous batching. One engine thread owns the context. At every step the
  requests that arrived since the last one are admitted into free slots (one
  slot = one llama sequence id), and their prompt tokens go into the same
  `llama_batch` as the other sequences' next tokens (at most `--n-batch`
  tokens a step; a long prompt is prefilled over several steps).
- Prefix reuse. Each slot remembers the tokens its sequence holds in the KV
  cache. A new request takes the free slot whose tokens share the longest
  prefix with its prompt, or copies the longest prefix any sequence holds
  (`llama_memory_seq_cp`), and prefills only the rest. A request that shares more
  with a prompt still being prefilled waits a step for it, so when a round's
  five prompts arrive at once the system message and the round's shared lines
  are prefilled once, not five times. `usage.prompt_tokens_details.cached_tokens`
  says how many prompt tokens a request did not prefill; GET /stats sums them.
- Sampling per request, as llama.cpp's server does it: the request's chain
  (repeat penalty, top-k 40, top-p 0.95, min-p 0.05, temperature, a seeded
  dist; llama-cpp-python's server's defaults) picks a token from the whole
  vocabulary; with a grammar only that token is checked, and only if the
  grammar rejects it is the token drawn again among the tokens the grammar
  admits (asked of the best first, until top-k of them pass: the same draw as
  the grammar over the whole vocabulary, for much less). A reply ends at an
  end-of-generation token, `stop`, `max_tokens`, or as soon as its grammar
  admits nothing more (no extra step to sample the end token).
- The KV cache, `--kv split` (the default): each sequence has `--n-ctx`
  cells of its own and attends to those alone; a copied prefix is copied
  (memory: parallel x n_ctx cells, ~23 KB each for SmolLM2-135M; at most
  KV_CELLS_MAX, as a roster's embedded model, else one usage line). Flash
  attention stays off: on CPU it made a step of five single tokens about
  twice as slow. Measured on 2 cores, the same recorded rounds replayed
  against both: 4.4 s a round against 5.6 s for `--kv unified` (one pool of
  `--n-ctx` cells for all: a copied prefix shares its cells, but every token
  attends to the whole pool, so it needs flash attention, which skips other
  sequences' cells). Sequences are decoded as one batch while their ids are
  consecutive, so a request takes the lowest free slot among equals.
- The prompt is the `chatml` format of llama-cpp-python's server, character
  for character (`chatml_prompt`; tests/test_batched.py compares the two).

HTTP: GET /v1/models, /health, /stats; POST /v1/chat/completions (not
streamed) with `messages`, `max_tokens`, `temperature`, `top_p`, `top_k`,
`min_p`, `repeat_penalty`, `seed`, `stop`, a GBNF `grammar` (root rule
`root`) or `response_format` json_object (with or without `schema`) /
json_schema. A malformed request is a 400 with a JSON error; a prompt that
does not fit the context is a 400 `context_length_exceeded`, as
llama-cpp-python's server says it. The connection handling is
serve/loopback.py's.
"""
from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import math
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import llama_cpp
import numpy as np

from engine.sanitise import shown_path

from .embedded import KV_CELLS_MAX
from .loopback import HttpConnection, host_arg, port_arg, served_at

HOST = "127.0.0.1"
ALIAS = "smollm2"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
DEFER_MIN = 16  # a request waits for a prompt being prefilled when that shares this many more tokens
PENALTY_LAST_N = 64  # llama-cpp-python's last_n_tokens_size
DEFAULTS = {"temperature": 0.8, "top_p": 0.95, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.1}  # its server's
FLASH_ATTN = {"auto": llama_cpp.LLAMA_FLASH_ATTN_TYPE_AUTO, "on": llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED,
              "off": llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED}
REDRAW_BLOCK = 256  # tokens the grammar is asked about at a time when it refused the chain's draw
REDRAW_SCAN = 16 * REDRAW_BLOCK  # at most this many of the best; failing that, the whole vocabulary (~6 ms)
TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)

log = logging.getLogger("serve.batched")


class BadRequest(ValueError):
    """A request the server refuses with a 400; `code` as OpenAI names it."""

    def __init__(self, message: str, code: str = "invalid_request", param: str | None = None):
        super().__init__(message)
        self.code, self.param = code, param


# ---- the prompt -----------------------------------------------------------------
def chatml_prompt(messages: list[dict]) -> str:
    """The prompt llama-cpp-python's server builds with `--chat_format chatml`
    (llama_chat_format.format_chatml): the first system message's text, then
    each user and assistant message (other roles dropped; an empty or non-text
    content leaves the role line alone), then the assistant's opening."""
    system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
    out = [f"{IM_START}system\n{system}{IM_END}\n"]
    for m in messages:
        if m.get("role") in ("user", "assistant"):
            content = m.get("content") if isinstance(m.get("content"), str) else None
            out.append(f"{IM_START}{m['role']}\n{content}{IM_END}\n" if content else f"{IM_START}{m['role']}\n")
    out.append(f"{IM_START}assistant\n")
    return "".join(out)


# ---- a request --------------------------------------------------------------------
@dataclass
class Job:
    """One chat completion: its prompt, its samplers, what it has written."""

    prompt: list[int]
    max_tokens: int
    penalties: int  # llama_sampler*: the repeat penalty, applied first
    chain: int  # llama_sampler*: top-k .. dist, or greedy
    grammar: int | None  # llama_sampler* for the grammar, or None
    keep: int  # the chain keeps this many of the best tokens (top-k; 1 for greedy; 0: all)
    drop: float  # a token this far below the best (in logits) cannot be drawn (min-p; with a margin)
    stop: list[str]
    model: str
    done: Callable[[int, dict], None]  # (HTTP status, payload), called once, from the engine thread
    arrived: float = field(default_factory=time.perf_counter)
    cached: int = 0  # prompt tokens found in the KV cache
    out: list[int] = field(default_factory=list)
    text: bytearray = field(default_factory=bytearray)

    def free(self) -> None:
        for s in (self.penalties, self.chain, self.grammar):
            if s:
                llama_cpp.llama_sampler_free(s)
        self.penalties = self.chain = self.grammar = 0


@dataclass
class Slot:
    """One llama sequence: the tokens it holds in the KV cache and the job using it."""

    seq: int
    tokens: list[int] = field(default_factory=list)
    job: Job | None = None
    pending: list[int] = field(default_factory=list)  # prompt tokens still to prefill
    next_token: int | None = None  # sampled, to be decoded next step


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    lo, hi = 0, n  # a[:lo] == b[:lo], a[:hi] != b[:hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


# ---- the model and its engine thread -----------------------------------------------
class Engine:
    """The llama model and context, and the thread that batches every request through them."""

    def __init__(self, model_path: str, *, n_ctx: int = 2048, parallel: int = 8, threads: int | None = None,
                 n_batch: int = 2048, n_ubatch: int = 512, kv_split: bool = True, flash_attn: int | None = None,
                 trace: bool = False):
        llama_cpp.llama_backend_init()
        mparams = llama_cpp.llama_model_default_params()
        self.model = llama_cpp.llama_model_load_from_file(model_path.encode(), mparams)
        if not self.model:
            raise RuntimeError(f"cannot load model {shown_path(model_path)}")
        self.vocab = llama_cpp.llama_model_get_vocab(self.model)
        cparams = llama_cpp.llama_context_default_params()
        # split: each sequence its own n_ctx cells, attending to those alone (a prefix is copied across);
        # unified: one pool of n_ctx cells for all (a copied prefix shared), every token attending the whole pool
        cparams.n_ctx = n_ctx * parallel if kv_split else n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = min(n_ubatch, n_batch)
        cparams.n_seq_max = parallel
        cparams.kv_unified = not kv_split
        if flash_attn is None:  # see the module's docstring
            flash_attn = FLASH_ATTN["off" if kv_split else "auto"]
        cparams.flash_attn_type = flash_attn
        if threads:
            cparams.n_threads = cparams.n_threads_batch = threads
        self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
        if not self.ctx:
            raise RuntimeError("cannot create the llama context")
        self.mem = llama_cpp.llama_get_memory(self.ctx)
        self.kv_split = kv_split
        self.n_ctx = llama_cpp.llama_n_ctx_seq(self.ctx)  # what one request may fill
        self.n_batch = llama_cpp.llama_n_batch(self.ctx)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.threads = llama_cpp.llama_n_threads(self.ctx)
        self.parallel = parallel
        self.trace = trace  # a line per decode step on stdout
        self.eog = {t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self.vocab, t)}
        self.eog_probe = min(self.eog) if self.eog else -1
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self.ids = np.arange(self.n_vocab, dtype=np.int32)
        self.cur = np.zeros(self.n_vocab, dtype=TOKEN_DATA)
        self.cur_p = llama_cpp.llama_token_data_array(
            data=self.cur.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)), size=self.n_vocab,
            selected=-1, sorted=False)
        self.slots = [Slot(seq=i) for i in range(parallel)]
        self.waiting: list[Job] = []
        self.incoming: list[Job] = []
        self.cv = threading.Condition()
        self.full = False  # the KV cache had no room: admit nothing until a request ends
        self.stats = {"requests": 0, "prompt_tokens": 0, "cached_tokens": 0, "prefilled_tokens": 0,
                      "completion_tokens": 0, "decode_calls": 0, "decode_s": 0.0, "sample_s": 0.0,
                      "resampled": 0, "redrawn_over_all": 0, "max_seqs_in_batch": 0, "evictions": 0, "requeued": 0,
                      "parallel": parallel, "n_ctx": self.n_ctx, "kv": "split" if kv_split else "unified",
                      "n_batch": self.n_batch, "threads": self.threads}
        self.thread = threading.Thread(target=self._run, name="llama-engine", daemon=True)

    # -- called from the HTTP thread ----------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        buf = (llama_cpp.llama_token * (len(data) + 8))()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), buf, len(buf), True, True)
        if n < 0:
            raise BadRequest("the prompt could not be tokenized")
        return list(buf[:n])

    def samplers(self, *, temperature: float, top_k: int, top_p: float, min_p: float, repeat_penalty: float,
                 seed: int, grammar: str | None) -> dict:
        """The request's samplers, as Job fields: its repeat penalty, the rest of its
        chain, its grammar (a BadRequest for one llama.cpp refuses) and how many
        of the best tokens that chain keeps (0: it looks at all of them)."""
        g = None
        if grammar is not None:
            g = llama_cpp.llama_sampler_init_grammar(self.vocab, grammar.encode("utf-8"), b"root")
            if not g:
                raise BadRequest("the grammar does not parse (llama.cpp GBNF with a `root` rule)", param="grammar")
        penalties = llama_cpp.llama_sampler_init_penalties(self.n_vocab, PENALTY_LAST_N, repeat_penalty, 0.0, 0.0)
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        add = lambda s: llama_cpp.llama_sampler_chain_add(chain, s)  # noqa: E731
        if temperature <= 0:
            add(llama_cpp.llama_sampler_init_greedy())
        else:
            add(llama_cpp.llama_sampler_init_top_k(top_k))
            add(llama_cpp.llama_sampler_init_top_p(top_p, 1))
            add(llama_cpp.llama_sampler_init_min_p(min_p, 1))
            add(llama_cpp.llama_sampler_init_temp(temperature))
            add(llama_cpp.llama_sampler_init_dist(seed))
        keep = 1 if temperature <= 0 else max(top_k, 0)
        drop = -math.log(min_p) if temperature > 0 and min_p > 0 else math.inf
        return {"penalties": penalties, "chain": chain, "grammar": g, "keep": keep, "drop": drop}

    def submit(self, job: Job) -> None:
        with self.cv:
            self.incoming.append(job)
            self.cv.notify()

    # -- the engine thread ---------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def _busy(self) -> bool:
        return bool(self.waiting) or any(s.job is not None for s in self.slots)

    def _run(self) -> None:
        while True:
            with self.cv:
                while not self.incoming and not self._busy():
                    self.cv.wait()
                self.waiting.extend(self.incoming)
                self.incoming.clear()
            try:
                self._admit()
                self._step()
            except Exception as e:  # noqa: BLE001 - a bug must not leave requests hanging or the thread dead
                log.exception("engine step failed")
                for s in self.slots:
                    if s.job is not None:
                        self._fail(s, 500, f"the model server failed: {e}", "server_error")
                for job in self.waiting:
                    job.free()
                    job.done(500, {"error": {"message": f"the model server failed: {e}", "type": "server_error"}})
                self.waiting.clear()

    def _admit(self) -> None:
        """Give waiting jobs free slots, reusing the longest prefix the cache holds."""
        if self.full:
            return
        for job in list(self.waiting):
            free = [s for s in self.slots if s.job is None]
            if not free:
                return
            p = job.prompt
            src, held = max(((s, common_prefix(s.tokens, p)) for s in self.slots), key=lambda x: x[1])
            coming = max((common_prefix(s.tokens + s.pending, p) for s in self.slots if s.pending), default=0)
            if coming >= held + DEFER_MIN:
                continue  # prefilled next step by another request: copy it then
            target = max(free, key=lambda s: (common_prefix(s.tokens, p), -s.seq))  # low ids: --kv split
            # decodes a step's sequences as one batch only while their ids are consecutive
            own = min(common_prefix(target.tokens, p), len(p) - 1)  # at least one token to decode: its logits
            held = min(held, len(p) - 1)
            if held > own and src is not target:
                if self.kv_split:  # across streams llama.cpp copies a whole sequence: then cut it to the prefix
                    llama_cpp.llama_memory_seq_cp(self.mem, src.seq, target.seq, -1, -1)
                    llama_cpp.llama_memory_seq_rm(self.mem, target.seq, held, -1)
                else:
                    llama_cpp.llama_memory_seq_rm(self.mem, target.seq, -1, -1)
                    llama_cpp.llama_memory_seq_cp(self.mem, src.seq, target.seq, 0, held)
                reuse = held
            else:
                llama_cpp.llama_memory_seq_rm(self.mem, target.seq, own, -1)
                reuse = own
            target.tokens = p[:reuse]
            target.pending = p[reuse:]
            target.next_token = None
            target.job, job.cached = job, reuse
            self.waiting.remove(job)

    def _step(self) -> None:
        active = [s for s in self.slots if s.job is not None]
        if not active:
            return
        b, n, outputs, chunks = self.batch, 0, [], []
        for s in active:  # the next token of every sequence that is writing
            if s.next_token is not None:
                self._add(s.next_token, len(s.tokens), s.seq, True, n)
                outputs.append((s, n))
                n += 1
        for s in sorted((s for s in active if s.pending), key=lambda s: s.job.arrived):
            take = s.pending[:self.n_batch - n]
            if not take:
                break
            last = len(take) == len(s.pending)
            base = len(s.tokens)
            for i, t in enumerate(take):
                self._add(t, base + i, s.seq, last and i == len(take) - 1, n)
                n += 1
            if last:
                outputs.append((s, n - 1))
            chunks.append((s, take))
        b.n_tokens = n
        t0 = time.perf_counter()
        rc = llama_cpp.llama_decode(self.ctx, b)
        if rc == 1:  # no room in the KV cache: drop idle sequences' caches, then the newest request
            self._make_room(active)
            return
        if rc != 0:
            for s in active:
                self._fail(s, 500, f"llama_decode failed ({rc})", "server_error")
            return
        st = self.stats
        st["decode_calls"] += 1
        st["decode_s"] += time.perf_counter() - t0
        st["max_seqs_in_batch"] = max(st["max_seqs_in_batch"], len({s.seq for s, _ in outputs} | {s.seq for s, _ in chunks}))
        for s, _ in outputs:
            if s.next_token is not None:
                s.tokens.append(s.next_token)
        for s, take in chunks:
            s.tokens.extend(take)
            s.pending = s.pending[len(take):]
            st["prefilled_tokens"] += len(take)
        now = time.perf_counter()
        for s, i in outputs:
            self._sample(s, i)
        st["sample_s"] += time.perf_counter() - now
        if self.trace:
            print(f"step n_tokens={n} gen={sum(1 for x in active if x.next_token is not None)} "
                  f"prefill={sum(len(t) for _, t in chunks)} decode={now - t0:.3f} sample={time.perf_counter() - now:.3f} "
                  f"active={len(active)} waiting={len(self.waiting)}", flush=True)

    def _add(self, token: int, pos: int, seq: int, logits: bool, i: int) -> None:
        b = self.batch
        b.token[i] = token
        b.pos[i] = pos
        b.n_seq_id[i] = 1
        b.seq_id[i][0] = seq
        b.logits[i] = logits

    def _make_room(self, active: list[Slot]) -> None:
        """The KV cache is full: drop what idle sequences hold; failing that, the
        newest request goes back to wait until another one ends (or fails, when
        it is the only one: it cannot fit at all)."""
        idle = [s for s in self.slots if s.job is None and s.tokens]
        if idle:
            for s in idle:
                llama_cpp.llama_memory_seq_rm(self.mem, s.seq, -1, -1)
                s.tokens = []
            self.stats["evictions"] += len(idle)
            return
        newest = max(active, key=lambda s: s.job.arrived)
        if len(active) == 1:
            self._fail(newest, 400, f"the prompt and its reply do not fit the server's context of {self.n_ctx} tokens",
                       "invalid_request_error")
            return
        job = newest.job
        llama_cpp.llama_memory_seq_rm(self.mem, newest.seq, -1, -1)
        newest.tokens, newest.job, newest.next_token, newest.pending = [], None, None, []
        job.out.clear()
        job.text.clear()
        llama_cpp.llama_sampler_reset(job.penalties)
        llama_cpp.llama_sampler_reset(job.chain)
        if job.grammar:
            llama_cpp.llama_sampler_reset(job.grammar)
        self.waiting.insert(0, job)
        self.full = True  # admit nothing until a request ends
        self.stats["requeued"] += 1

    def _fill(self, i: int) -> None:
        """The token data array afresh from the logits of batch output `i`."""
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(self.ctx, i), shape=(self.n_vocab,))
        self.cur["id"] = self.ids
        self.cur["logit"] = logits
        self.cur_p.size, self.cur_p.selected, self.cur_p.sorted = self.n_vocab, -1, False

    def _admits(self, grammar: int, token: int) -> bool:
        one = llama_cpp.llama_token_data(token, 0.0, 0.0)
        arr = llama_cpp.llama_token_data_array(data=ctypes.pointer(one), size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(grammar, ctypes.byref(arr))
        return one.logit != -math.inf

    def _sample(self, s: Slot, i: int) -> None:
        job = s.job
        self._fill(i)
        llama_cpp.llama_sampler_apply(job.penalties, ctypes.byref(self.cur_p))
        llama_cpp.llama_sampler_apply(job.chain, ctypes.byref(self.cur_p))
        token = int(self.cur_p.data[self.cur_p.selected].id)
        if job.grammar and not self._admits(job.grammar, token):  # the grammar first, then the chain again
            self.stats["resampled"] += 1
            self._fill(i)
            llama_cpp.llama_sampler_apply(job.penalties, ctypes.byref(self.cur_p))
            token = self._redraw(job)
        if job.grammar:
            llama_cpp.llama_sampler_accept(job.grammar, token)
        llama_cpp.llama_sampler_accept(job.penalties, token)
        llama_cpp.llama_sampler_accept(job.chain, token)
        if token in self.eog:
            return self._finish(s, "stop")
        job.out.append(token)
        job.text += self._piece(token)
        if job.stop:
            text = job.text.decode("utf-8", "ignore")
            hits = [text.find(x) for x in job.stop if x in text]
            if hits:
                job.text = bytearray(text[:min(hits)].encode())
                return self._finish(s, "stop")
        if job.grammar and self._grammar_done(job.grammar):
            return self._finish(s, "stop")
        if len(job.out) >= job.max_tokens or len(s.tokens) + 1 >= self.n_ctx:
            return self._finish(s, "length")
        s.next_token = token

    def _redraw(self, job: Job) -> int:
        """The chain's draw among the tokens the grammar admits, from the
        penalised logits in `cur`. The chain keeps only its `keep` best tokens,
        and min-p drops any token far below the best, so the grammar is asked
        about the best tokens first, a block at a time, until `keep` pass or the
        rest are too far below the best that passed for min-p to keep them
        (log(1/min_p) in logits): the draw of the grammar over the whole
        vocabulary (what llama.cpp does) at a fraction of the cost, about 6 ms
        a token. (The tokens left out, which min-p would cut anyway, could only
        have moved top-p's cut-off, which sums over them: measured in play, the
        whole-vocabulary pass had been most of the sampling time.)"""
        logits = self.cur["logit"][:self.cur_p.size]
        if 0 < job.keep and REDRAW_SCAN < len(logits):
            top = np.argpartition(-logits, REDRAW_SCAN)[:REDRAW_SCAN]
            top = top[np.argsort(-logits[top], kind="stable")]
            found, n_found, best = [], 0, -math.inf
            for start in range(0, len(top), REDRAW_BLOCK):
                block = np.zeros(min(REDRAW_BLOCK, len(top) - start), dtype=TOKEN_DATA)
                ids = top[start:start + len(block)]
                block["id"], block["logit"] = self.cur["id"][ids], logits[ids]
                arr = llama_cpp.llama_token_data_array(
                    data=block.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)), size=len(block),
                    selected=-1, sorted=False)
                llama_cpp.llama_sampler_apply(job.grammar, ctypes.byref(arr))
                passed = block[np.isfinite(block["logit"])]
                if len(passed):
                    found.append(passed)
                    n_found += len(passed)
                    best = max(best, float(passed["logit"][0]))
                floor = float(logits[ids[-1]])
                if n_found >= job.keep or (n_found and floor < best - job.drop):
                    pool = np.concatenate(found)
                    arr = llama_cpp.llama_token_data_array(
                        data=pool.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token_data)), size=len(pool),
                        selected=-1, sorted=False)
                    llama_cpp.llama_sampler_apply(job.chain, ctypes.byref(arr))
                    return int(arr.data[arr.selected].id)
        self.stats["redrawn_over_all"] += 1
        llama_cpp.llama_sampler_apply(job.grammar, ctypes.byref(self.cur_p))  # the whole vocabulary
        llama_cpp.llama_sampler_apply(job.chain, ctypes.byref(self.cur_p))
        return int(self.cur_p.data[self.cur_p.selected].id)

    def _grammar_done(self, grammar: int) -> bool:
        """Whether the grammar admits nothing but the end: checked over the whole
        vocabulary, but only once it admits an end-of-generation token at all."""
        if self.eog_probe < 0 or not self._admits(grammar, self.eog_probe):
            return False
        self.cur["id"] = self.ids
        self.cur["logit"] = 0.0
        self.cur_p.size, self.cur_p.selected, self.cur_p.sorted = self.n_vocab, -1, False
        llama_cpp.llama_sampler_apply(grammar, ctypes.byref(self.cur_p))
        size = self.cur_p.size
        ok = self.cur["id"][:size][np.isfinite(self.cur["logit"][:size])]
        return all(int(t) in self.eog for t in ok[:len(self.eog) + 1])

    def _piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    def _finish(self, s: Slot, reason: str) -> None:
        job = s.job
        st = self.stats
        st["requests"] += 1
        st["prompt_tokens"] += len(job.prompt)
        st["cached_tokens"] += job.cached
        st["completion_tokens"] += len(job.out)
        s.job, s.next_token, s.pending = None, None, []
        self.full = False
        job.free()
        n_prompt = len(job.prompt)
        job.done(200, {
            "id": f"chatcmpl-{random.getrandbits(64):016x}", "object": "chat.completion", "created": int(time.time()),
            "model": job.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": job.text.decode("utf-8", "replace")},
                         "logprobs": None, "finish_reason": reason}],
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": len(job.out),
                      "total_tokens": n_prompt + len(job.out), "prompt_tokens_details": {"cached_tokens": job.cached}},
        })

    def _fail(self, s: Slot, status: int, message: str, kind: str) -> None:
        job = s.job
        llama_cpp.llama_memory_seq_rm(self.mem, s.seq, -1, -1)
        s.tokens, s.job, s.next_token, s.pending = [], None, None, []
        self.full = False
        job.free()
        job.done(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


# ---- HTTP -------------------------------------------------------------------------
def _number(req: dict, key: str, default, lo: float, hi: float, kind=float):
    v = req.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and v != int(v)) or not lo <= v <= hi:
        raise BadRequest(f"'{key}' must be a {'whole ' if kind is int else ''}number from {lo} to {hi}", param=key)
    return kind(v)


class ChatServer:
    """The HTTP side: parses and checks a request, hands a Job to the engine,
    answers when the engine calls back (on the event loop's thread)."""

    def __init__(self, engine: Engine, alias: str = ALIAS):
        self.engine = engine
        self.alias = alias
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = time.time()

    def handle(self, conn: HttpConnection, method: str, path: str, body: bytes) -> None:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path in ("/health", ""):
            conn.respond_json(200, {"status": "ok"})
        elif method == "GET" and path.endswith("/models"):
            conn.respond_json(200, {"object": "list", "data": [
                {"id": self.alias, "object": "model", "owned_by": "me", "permissions": []}]})
        elif method == "GET" and path == "/stats":
            conn.respond_json(200, {**self.engine.stats, "waiting": len(self.engine.waiting),
                                    "active": sum(s.job is not None for s in self.engine.slots)})
        elif method == "POST" and path.endswith("/chat/completions"):
            try:
                job = self.job(body, lambda status, payload: self.loop.call_soon_threadsafe(
                    conn.respond_json, status, payload))
            except BadRequest as e:
                conn.respond_json(400, {"error": {"message": str(e), "type": "invalid_request_error",
                                                  "param": e.param, "code": e.code}})
                return
            self.engine.submit(job)
        else:
            conn.respond_json(404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}})

    def job(self, body: bytes, done: Callable[[int, dict], None]) -> Job:
        """The request as a Job, or BadRequest saying what is wrong with it."""
        try:
            req = json.loads(body)
        except (ValueError, RecursionError):
            raise BadRequest("the body is not JSON") from None
        if not isinstance(req, dict):
            raise BadRequest("the body must be a JSON object")
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty list", param="messages")
        for m in messages:
            if not isinstance(m, dict) or not isinstance(m.get("role"), str) \
                    or not isinstance(m.get("content"), (str, type(None), list)):
                raise BadRequest("each message needs a 'role' and a 'content'", param="messages")
        if req.get("stream"):
            raise BadRequest("streaming is not supported", param="stream")
        if req.get("n") not in (None, 1):
            raise BadRequest("'n' must be 1", param="n")
        stop = req.get("stop") or []
        stop = [stop] if isinstance(stop, str) else stop
        if not isinstance(stop, list) or not all(isinstance(x, str) and x for x in stop):
            raise BadRequest("'stop' must be a string or a list of strings", param="stop")
        grammar = self._grammar(req)
        e = self.engine
        prompt = e.tokenize(chatml_prompt(messages))
        max_tokens = _number(req, "max_tokens", None, 1, 1 << 30, int)
        if len(prompt) >= e.n_ctx:
            asked = len(prompt) + (max_tokens or 0)
            raise BadRequest(f"This model's maximum context length is {e.n_ctx} tokens. However, you requested "
                             f"{asked} tokens ({len(prompt)} in the messages, {max_tokens} in the completion). "
                             "Please reduce the length of the messages or completion.",
                             code="context_length_exceeded", param="messages")
        max_tokens = min(max_tokens or e.n_ctx, e.n_ctx - len(prompt))
        seed = req.get("seed")
        if seed is None:
            seed = random.getrandbits(32)
        elif isinstance(seed, bool) or not isinstance(seed, int):
            raise BadRequest("'seed' must be a whole number", param="seed")
        samplers = e.samplers(
            temperature=_number(req, "temperature", DEFAULTS["temperature"], 0, 2),
            top_p=_number(req, "top_p", DEFAULTS["top_p"], 0, 1),
            top_k=_number(req, "top_k", DEFAULTS["top_k"], 0, e.n_vocab, int),
            min_p=_number(req, "min_p", DEFAULTS["min_p"], 0, 1),
            repeat_penalty=_number(req, "repeat_penalty", DEFAULTS["repeat_penalty"], 0.01, 10),
            seed=seed & 0xFFFFFFFF, grammar=grammar)
        model = req.get("model") if isinstance(req.get("model"), str) else self.alias
        return Job(prompt=prompt, max_tokens=max_tokens, stop=stop, model=model, done=done, **samplers)

    @staticmethod
    def _grammar(req: dict) -> str | None:
        grammar, fmt = req.get("grammar"), req.get("response_format")
        if grammar is not None:
            if not isinstance(grammar, str) or not grammar.strip():
                raise BadRequest("'grammar' must be GBNF text", param="grammar")
            return grammar
        if fmt is None:
            return None
        if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
            raise BadRequest("'response_format' must be text, json_object or json_schema", param="response_format")
        from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

        schema = fmt.get("schema") if fmt["type"] == "json_object" else (fmt.get("json_schema") or {}).get("schema")
        if fmt["type"] == "text":
            return None
        if schema is None:
            return JSON_GBNF
        try:
            return json_schema_to_gbnf(json.dumps(schema))
        except Exception as e:  # noqa: BLE001 - the converter raises whatever it meets
            raise BadRequest(f"the schema cannot be turned into a grammar: {e}", param="response_format") from None


async def serve(engine: Engine, port: int, host: str = HOST, *, alias: str = ALIAS, ready=None) -> None:
    """Serve until cancelled; `ready(port)` is called once it listens."""
    state = ChatServer(engine, alias)
    state.loop = asyncio.get_running_loop()
    server = await state.loop.create_server(lambda: HttpConnection(state), host, port, backlog=1024)
    engine.start()
    if ready is not None:
        ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


THREADS_MAX = 1024  # past any machine's cores; a larger number had wrapped round in llama.cpp's int (10**20: 1661992960)


def main(argv: list[str] | None = None) -> int:
    from engine.flags import Parser, bounded_int  # numbers as `wood` reads them; an option given twice refused

    ap = Parser(prog="python -m serve.batched", description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="the GGUF file")
    ap.add_argument("--alias", default=ALIAS, help="the model name /v1/models lists")
    ap.add_argument("--host", type=host_arg, help=f"the address to listen on (default {HOST}; IPv6 bare: ::1)")
    ap.add_argument("--port", type=port_arg, default=0, help="0: any free port (printed when ready)")
    ap.add_argument("--threads", type=bounded_int(0, THREADS_MAX), default=0,
                    help=f"decode and prefill threads, 0 to {THREADS_MAX:,} (0: llama.cpp's default)")
    # each at most KV_CELLS_MAX: --parallel and --n-ctx ask for that many cells at least, and a larger --n-batch
    # had wrapped round in llama.cpp's 32-bit field (2**32 + 1: 1, below --parallel, and llama.cpp aborted)
    ap.add_argument("--parallel", type=bounded_int(1, KV_CELLS_MAX), default=8,
                    help=f"requests decoded together, 1 to {KV_CELLS_MAX:,}; the rest wait")
    ap.add_argument("--n-ctx", type=bounded_int(1, KV_CELLS_MAX), default=2048,
                    help=f"the context of one request, 1 to {KV_CELLS_MAX:,} (--kv unified: the KV cells all requests "
                    "share)")
    ap.add_argument("--kv", choices=("split", "unified"), default="split",
                    help="split: each request its own KV cells (a shared prefix copied); unified: one pool")
    ap.add_argument("--n-batch", type=bounded_int(1, KV_CELLS_MAX), default=2048,
                    help=f"most tokens in one decode step, 1 to {KV_CELLS_MAX:,} (at least --parallel: a step holds one "
                    "of each request's)")
    ap.add_argument("--flash-attn", choices=("auto", "on", "off"),
                    help="flash attention (default: off with --kv split, auto with --kv unified)")
    ap.add_argument("--trace", action="store_true", help="a line per decode step: tokens, sequences, seconds")
    ap.add_argument("--verbose", action="store_true", help="llama.cpp's own log too")
    args = ap.parse_args(argv)
    if args.n_batch < args.parallel:  # llama.cpp had aborted the process (GGML_ASSERT) as the context was made
        ap.error(f"--n-batch {args.n_batch} is below --parallel {args.parallel}: a decode step holds a token of "
                 "every request decoded together")
    # llama.cpp had tried to allocate them (10**20: a hang), as no roster may ask; --kv unified's are --n-ctx's
    if args.kv == "split" and (cells := args.n_ctx * args.parallel) > KV_CELLS_MAX:
        ap.error(f"--n-ctx {args.n_ctx} x --parallel {args.parallel} asks for {cells:,} cells of KV cache (--kv split); "
                 f"at most {KV_CELLS_MAX:,} (~23 KB each)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("llama-cpp-python").setLevel(logging.DEBUG if args.verbose else logging.ERROR)
    t0 = time.perf_counter()
    if not Path(args.model).is_file():  # one line, the path as typed (control characters escaped)
        why = "a directory, not a GGUF file" if Path(args.model).is_dir() else "no model file there"
        print(f"serve.batched: {shown_path(args.model)}: {why}", file=sys.stderr, flush=True)
        return 2
    try:
        engine = Engine(args.model, n_ctx=args.n_ctx, parallel=args.parallel, threads=args.threads or None,
                        n_batch=args.n_batch, kv_split=args.kv == "split",
                        flash_attn=FLASH_ATTN[args.flash_attn] if args.flash_attn else None, trace=args.trace)
    except RuntimeError as e:  # llama.cpp could not load the file or make the context: one line
        print(f"serve.batched: {e}", file=sys.stderr, flush=True)
        return 1
    # only now: while the model loads, SIGTERM ends the process as it comes (a handler, run inside
    # llama.cpp's log callback, had printed a traceback there, and the server had gone on to serve)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def ready(port: int) -> None:
        print(f"batched serving {served_at(args.host, port)} ({args.alias}: {shown_path(args.model)}; parallel {engine.parallel}, "
              f"n_ctx {engine.n_ctx}, n_batch {engine.n_batch}, threads {engine.threads}; "
              f"loaded in {time.perf_counter() - t0:.1f} s)", flush=True)

    try:
        asyncio.run(serve(engine, args.port, args.host or HOST, alias=args.alias, ready=ready))
    except KeyboardInterrupt:
        pass
    except OSError as e:  # cannot bind: one line, not a traceback
        print(f"serve.batched: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
