"""The roster file: models (how to reach each server) and creatures (who
thinks with which model). Adding a model is a config entry, not code.

    [models.smol]
    base_url = "http://127.0.0.1:8010/v1"
    model = "smollm2"                 # the served model name
    json_mode = "gbnf"                # json_schema | json_object_schema | gbnf | none
    max_concurrency = 1
    timeout_s = 60
    max_tokens = 96
    temperature = 0.7
    [[creatures]]
    name = "Owl"
    species = "owl"
    temperament = "hoarder"           # optional
    model = "smol"

At least two creatures; each name unique (ignoring case and how Unicode spells a letter), 1-40
characters of plain text (no control characters, no leading or trailing spaces or runs of spaces); a
species of the wood.
A creature whose model is `"scripted"` trades with the rule-based trader of
its temperament (no `[models]` entry; a roster may have no models at all), so
a model and the scripted traders can share a market.

A large market need not list every creature: a `[crowd]` fills the roster up
to `count` creatures with the wood's generated traders (`Owl 2`, `Fox 2`, ...
as `wood sim --creatures` names them), all thinking with one model:

    [crowd]
    count = 1000
    model = "qwen"

A model served by several identical servers lists them all (replicas; the
client spreads calls across them and routes around one that fails):

    [models.qwen]
    base_urls = ["http://gpu-a:8005/v1", "http://gpu-b:8005/v1"]
"""
from __future__ import annotations

import errno
import os
import select
import stat
import time
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from engine.brains.config import ModelConfig, check_model_name
from engine.errors import WoodError
from engine.sanitise import check_plain_name, shown_path
from engine.world import MAX_CREATURES, MIN_CREATURES, NAME_MAX, NAMES_ALIKE, RosterEntry, World, build_roster, name_key, twin_name

from .embedded import MODEL_ALIAS, N_CTX, PARALLEL, check_embedded

EMBEDDED = "smol"  # the model name of the embedded default
SCRIPTED = "scripted"  # a creature's model that is no model: the rule-based trader of its temperament


class RosterError(WoodError):
    """A roster file that cannot be used; the message is one line for the user."""


class CreatureConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=NAME_MAX)
    species: str
    temperament: str | None = None
    model: str

    @field_validator("name")
    @classmethod
    def _plain(cls, v: str) -> str:
        return check_plain_name("creature name", v, NAME_MAX)  # the one sanitiser decides


class CrowdConfig(BaseModel):
    """Generated creatures that fill a roster up to `count`, thinking with `model`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    count: int = Field(ge=MIN_CREATURES, le=MAX_CREATURES)  # the whole roster's size, listed creatures included
    model: str


class Roster(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    models: dict[str, ModelConfig] = Field(default_factory=dict)
    creatures: list[CreatureConfig] = Field(default_factory=list)
    crowd: CrowdConfig | None = None
    _source: str = PrivateAttr(default="")  # "roster PATH: " when loaded from a file, for messages

    @model_validator(mode="after")
    def _links(self) -> "Roster":
        for key, m in self.models.items():
            if key == SCRIPTED:
                raise ValueError(f"[models.{SCRIPTED}]: the name is taken (a creature with model = \"{SCRIPTED}\" "
                                 "trades with the scripted rules)")
            check_model_name("[models] key", key)
            m.name = key
            if m.embedded:  # refused as the roster loads, not when its server starts (a game's screen is up by then)
                check_embedded(m)
            elif not m.urls:  # else refused only as a game starts: a sweep's every run failed, "run it again"
                raise ValueError(f"[models.{key}] has no server: give its base_url (or base_urls), or set "
                                 "embedded = true for the model the game starts itself")
        if "creatures" not in self.model_fields_set and self.crowd is None:
            raise ValueError("creatures: Field required (list [[creatures]], or fill the roster with a [crowd])")
        size = max(len(self.creatures), self.crowd.count if self.crowd else 0)
        if size < MIN_CREATURES:
            raise ValueError(f"a market needs at least {MIN_CREATURES} creatures; the roster has {size}")
        if size > MAX_CREATURES:
            raise ValueError(f"a wood has at most {MAX_CREATURES:,} creatures; the roster has {size:,}")
        if self.crowd is not None and self.crowd.model not in self.models and self.crowd.model != SCRIPTED:
            raise ValueError(f"the crowd uses unknown model {self.crowd.model!r}")
        if self.crowd is not None and self.crowd.count < len(self.creatures):
            raise ValueError(f"[crowd] count = {self.crowd.count} is the whole roster's size, listed creatures "
                             f"included: it cannot be below the {len(self.creatures)} creatures listed")
        if twins := twin_name(c.name for c in self.creatures):  # ascii: names that print alike, told apart
            raise ValueError(f"creature names must be unique, {NAMES_ALIKE}: {ascii(twins[0])} and "
                             f"{ascii(twins[1])} are one name")
        for c in self.creatures:
            if c.model not in self.models and c.model != SCRIPTED:
                raise ValueError(f"creature {c.name} uses unknown model {c.model!r}")
        return self

    def entries(self, world: World) -> list[RosterEntry]:
        """The roster as the engine's RosterEntry list (temperaments defaulted by species)."""
        defaults = {r.species: r.temperament for r in world.default_roster}
        out = []
        for c in self.creatures:
            if c.species not in world.species:
                raise RosterError(f"{self._source}creature {c.name}: unknown species {c.species!r} "
                                  f"(known: {', '.join(world.species)})")
            temp = c.temperament or defaults.get(c.species) or next(iter(world.temperaments))
            if temp not in world.temperaments:
                raise RosterError(f"{self._source}creature {c.name}: unknown temperament {temp!r} "
                                  f"(known: {', '.join(world.temperaments)})")
            out.append(RosterEntry(c.name, c.species, temp, c.model))
        if self.crowd is not None and self.crowd.count > len(out):
            taken = {name_key(r.name) for r in out}
            extra = build_roster(world, self.crowd.count + len(out), self.crowd.model)
            out.extend([r for r in extra if name_key(r.name) not in taken][:self.crowd.count - len(out)])
        return out


ROSTERS = Path(__file__).resolve().parent / "rosters"  # the rosters installed with the package


def find_roster(path: str | Path) -> Path:
    """`path` as given; failing that, a relative `serve/rosters/NAME.toml` or
    bare `NAME.toml` names a roster installed with the package (so the README's
    examples work from any folder after `pip install .`)."""
    p = Path(path)
    if p.exists() or p.is_absolute() or p.parent not in (Path("."), Path("serve/rosters")):
        return p
    installed = ROSTERS / p.name
    return installed if installed.is_file() else p


TEXT_MAX = 16 * 1024 * 1024  # bytes of a roster or a vLLM config read: past any real one (a [crowd] fills a large roster)
PIPE_WAIT_S = 10.0  # seconds a roster or config that is no file on disk (`<(...)`, a named pipe) has to reach its end


_PIPED: dict[str, bytes] = {}  # what a roster or config that is no file on disk gave, by path: it can be read but once


def read_utf8(path: Path) -> str:
    """A text file (a roster, a vLLM config) as UTF-8, a leading byte-order
    mark dropped (Windows' Notepad writes one); UnicodeDecodeError (see
    `not_utf8`) where it is not UTF-8 (`read_text_bytes`)."""
    return read_text_bytes(path).decode("utf-8-sig")


def read_text_bytes(path: Path) -> bytes:
    """The bytes of a roster or vLLM config. One that is no file on disk
    (`<(cat roster.toml)`, a named pipe) is read once per process and kept:
    the game reads its roster more than once (checked before the screen
    opens, then played), and a pipe's second reader would find it spent and
    empty. A named pipe with no writer reads as
    empty: opened as the file was, it waited for one without end, deaf to a
    stop (the game's loop waits on it) -- `<(...)`, whose writer is there
    already, reads as before. A pipe or device that has not ended within
    PIPE_WAIT_S (`<(sleep 1000)`: its writer holds it open, writing nothing)
    is OSError (ETIMEDOUT); OSError (EFBIG) past TEXT_MAX (`/dev/zero`)."""
    key = os.path.abspath(path)
    if key in _PIPED:
        return _PIPED[key]
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISREG(mode) or not hasattr(select, "poll"):
            if hasattr(os, "set_blocking"):
                os.set_blocking(fd, True)  # opened without waiting; read as any file
            data = f.read(TEXT_MAX + 1)
        else:
            data = _read_within(fd, PIPE_WAIT_S)
        if not data and stat.S_ISFIFO(mode):
            raise OSError(errno.ENODATA, "it is a named pipe that nothing writes to")
    if len(data) > TEXT_MAX:
        raise OSError(errno.EFBIG, f"it is larger than {TEXT_MAX // 1024 // 1024} MiB, no roster or config")
    if not stat.S_ISREG(mode):
        _PIPED[key] = data
    return data


def _read_within(fd: int, wait_s: float) -> bytes:
    """A pipe or device opened without blocking, to its end (or TEXT_MAX + 1
    bytes), or OSError (ETIMEDOUT) once `wait_s` has passed without its end.
    The wait is polled in short steps, so that a stop lands within one: Ctrl-C
    outside an event loop raises where it stands, and inside one (`wood sim`
    reads its roster there) it only cancels the loop's main task, which ends
    here as at an await (CancelledError)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + wait_s
    chunks: list[bytes] = []
    size = 0
    while size <= TEXT_MAX:
        try:
            chunk = os.read(fd, min(1024 * 1024, TEXT_MAX + 1 - size))
        except BlockingIOError:  # nothing to read yet, and its writer holds it open
            chunk = None
        if chunk == b"":  # its end
            break
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
        left = deadline - time.monotonic()
        if left <= 0:
            raise OSError(errno.ETIMEDOUT, f"it gave no end-of-file within {wait_s:g} seconds (what writes to it "
                                           "neither finished nor closed it)")
        if chunk is None:
            poller.poll(min(left, 0.1) * 1000)
            _end_if_cancelled()
    return b"".join(chunks)


def _end_if_cancelled() -> None:
    """CancelledError if the event loop task running this (if any) has been
    asked to stop: asyncio's Runner cancels it on Ctrl-C, `engine.stops` on SIGTERM."""
    import asyncio

    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop in this thread: a stop raises where it lands
        return
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def not_utf8(e: UnicodeDecodeError) -> str:
    """What `read_utf8`'s error says: where the file stops being UTF-8."""
    return f"it is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start:,}); save it as UTF-8"


def load_roster(path: str | Path) -> Roster:
    p = find_roster(path)
    try:
        doc = tomllib.loads(read_utf8(p))
    except FileNotFoundError:
        raise RosterError(f"roster file not found: {shown_path(p)}") from None
    except UnicodeDecodeError as e:
        raise RosterError(f"cannot read roster {shown_path(p)}: {not_utf8(e)}") from None
    except IsADirectoryError:
        raise RosterError(f"cannot read roster {shown_path(p)}: it is a directory, not a roster file") from None
    except OSError as e:  # its strerror: Python's own text repeats the path raw ("[Errno 13] ...: 'R'")
        raise RosterError(f"cannot read roster {shown_path(p)}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise RosterError(f"cannot read roster {shown_path(p)}: {e}") from None
    try:
        roster = Roster.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        msg = first["msg"].removeprefix("Value error, ")
        raise RosterError(f"roster {shown_path(p)}: {where}: {msg}" if where else f"roster {shown_path(p)}: {msg}") from None
    roster._source = f"roster {shown_path(p)}: "
    return roster


def embedded_roster(world: World, n: int | None = None) -> Roster:
    """The default: every creature thinks with the embedded SmolLM2 server."""
    model = ModelConfig(name=EMBEDDED, model=MODEL_ALIAS, backend="llama_cpp_python", json_mode="gbnf",
                        max_concurrency=PARALLEL,  # serve.batched decodes that many requests together
                        context_window=N_CTX["batched"], timeout_s=60, max_tokens=96, temperature=0.7, embedded=True,
                        say=False,  # its say lines were noise ("Moose-Oak 2017-08-30"): left out, tokens saved
                        temperament=False)  # ~75 tokens a round of five to prefill: left out
    creatures = [CreatureConfig(name=r.name, species=r.species, temperament=r.temperament, model=EMBEDDED)
                 for r in build_roster(world, n)]
    return Roster(models={EMBEDDED: model}, creatures=creatures)
