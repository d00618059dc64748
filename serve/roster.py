"""The roster file: models (how to reach each server) and creatures (who
thinks with which model). Adding a model is a config entry, not code.

    [models.smol]
    base_url = "http://127.0.0.1:8010/v1"
    model = "smollm2"                 # the served model name
    json_mode = "json_object_schema"  # json_schema | json_object_schema | none
    max_concurrency = 1
    timeout_s = 60
    max_tokens = 96
    temperature = 0.7
    [[creatures]]
    name = "Owl"
    species = "owl"
    temperament = "hoarder"           # optional
    model = "smol"
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.errors import WoodError
from engine.world import RosterEntry, World, build_roster

EMBEDDED = "smol"  # the model name of the embedded default


class RosterError(WoodError):
    """A roster file that cannot be used; the message is one line for the user."""


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


class CreatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    species: str
    temperament: str | None = None
    model: str


class Roster(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: dict[str, ModelConfig]
    creatures: list[CreatureConfig]

    @model_validator(mode="after")
    def _links(self) -> "Roster":
        for key, m in self.models.items():
            m.name = key
        names = [c.name for c in self.creatures]
        if len(set(names)) != len(names):
            raise ValueError("creature names must be unique")
        for c in self.creatures:
            if c.model not in self.models:
                raise ValueError(f"creature {c.name} uses unknown model {c.model!r}")
        return self

    def entries(self, world: World) -> list[RosterEntry]:
        """The roster as the engine's RosterEntry list (temperaments defaulted by species)."""
        defaults = {r.species: r.temperament for r in world.default_roster}
        out = []
        for c in self.creatures:
            if c.species not in world.species:
                raise RosterError(f"creature {c.name}: unknown species {c.species!r} (known: {', '.join(world.species)})")
            temp = c.temperament or defaults.get(c.species) or next(iter(world.temperaments))
            if temp not in world.temperaments:
                raise RosterError(f"creature {c.name}: unknown temperament {temp!r} (known: {', '.join(world.temperaments)})")
            out.append(RosterEntry(c.name, c.species, temp, c.model))
        return out


def load_roster(path: str | Path) -> Roster:
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RosterError(f"roster file not found: {p}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise RosterError(f"cannot read roster {p}: {e}") from None
    try:
        return Roster.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise RosterError(f"roster {p}: {where}: {first['msg']}") from None


def embedded_roster(world: World, n: int | None = None) -> Roster:
    """The default: every creature thinks with the embedded SmolLM2 server."""
    model = ModelConfig(name=EMBEDDED, model="smollm2", backend="llama_cpp_python", json_mode="json_object_schema",
                        max_concurrency=1, timeout_s=60, max_tokens=96, temperature=0.7, embedded=True)
    creatures = [CreatureConfig(name=r.name, species=r.species, temperament=r.temperament, model=EMBEDDED)
                 for r in build_roster(world, n)]
    return Roster(models={EMBEDDED: model}, creatures=creatures)
