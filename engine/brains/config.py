"""How to reach one model server: the fields the one chat client reads.

A roster file (`serve/roster.py`) holds one `ModelConfig` per `[models.X]`
table; adding a model is a config entry, not code. Server quirks are named
fields here (`json_mode`, `system_role`, `reasoning_effort`), never code
paths per model family.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ModelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    name: str = ""                       # filled from the table key
    base_url: str = ""                   # empty for the embedded default: the launcher fills it
    model: str                           # served model name sent as `model`
    backend: Literal["vllm", "llama_cpp_python", "llama_server", "other"] = "other"
    json_mode: Literal["json_schema", "json_object_schema", "none"] = "json_schema"
    max_concurrency: int = Field(default=4, ge=1, le=4096)
    timeout_s: float = Field(default=60, gt=0)
    connect_timeout_s: float = Field(default=5, gt=0)
    max_tokens: int = Field(default=256, ge=8, le=32768)
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    reasoning_effort: str | None = None  # e.g. "low" for gpt-oss
    system_role: Literal["native", "merge_into_user"] = "native"
    context_window: int = Field(default=4096, ge=256)
    tokenizer: str | None = None         # a GGUF path (vocab_only) for exact prompt counts
    embedded: bool = False               # started by serve.embedded (llama-cpp-python + SmolLM2)
    vllm_config: str | None = None       # a vLLM YAML under serve/vllm/, for `wood serve`
    api_key: str | None = None
