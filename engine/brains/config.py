"""How to reach one model server: the fields the one chat client reads.

A roster file (`serve/roster.py`) holds one `ModelConfig` per `[models.X]`
table; adding a model is a config entry, not code. Server quirks are named
fields here (`json_mode`, `system_role`, `reasoning_effort`), never code
paths per model family.

A model may be served by several identical servers (replicas): `base_urls`
lists them all, and the one client spreads calls across them (fewest
outstanding first), taking one that fails out of rotation until it answers
its health check. `base_url` is then the first of them. `max_concurrency`
is per server: with replicas the model takes that many calls at once on each.
"""
from __future__ import annotations

import ipaddress
import os
import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..errors import WoodError
from ..sanitise import check_plain_name, clean_text


_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_IPV4_STYLE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")  # what httpx reads as an IPv4 address, not a name


def check_host(host: str) -> str:
    """`host` if it names a server as a URL or a bind address does: a name of
    letters, digits, '-', '_' and dots (an IPv4 address is one; an
    international name as IDNA spells it), or an IPv6 address, bare
    (`url_host` brackets it in a URL); else a ValueError that says so. One rule for a roster's URLs, a vLLM config's `host` and
    the --host of serve.loopback and serve.batched."""
    if not isinstance(host, str) or not host:
        raise ValueError(f"{host!r} is not a host name or an IP address")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not a host name or an IP address (an IPv6 address?)") from None
        return host
    name = host
    if not host.isascii():  # an international name, as the client sends it: IDNA (xn--...), as httpx spells it
        import idna  # httpx's own

        try:
            name = idna.encode(host.lower()).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise ValueError(f"{host!r} is not a host name or an IP address (not a name IDNA can spell)") from None
    if len(name) > 253 or not _HOST_NAME.fullmatch(name):
        raise ValueError(f"{host!r} is not a host name or an IP address (letters, digits, '-', '_' and dots)")
    if _IPV4_STYLE.fullmatch(name):  # four numbers are an IPv4 address or nothing (httpx refused 1.2.3.999 late)
        try:
            ipaddress.IPv4Address(name)
        except ValueError as e:
            raise ValueError(f"{host!r} is not an IP address ({e})") from None
    return host


def url_host(host: str) -> str:
    """`host` as a URL writes it: an IPv6 address in brackets (http://[::1]:8000/v1)."""
    return f"[{host}]" if ":" in host else host


def check_url(url: str) -> None:
    """An http(s) URL with a host (`check_host`'s rule) and, if given, a port
    that can be one (1-65535); no credentials, query or fragment (requests are
    made by appending paths to it, and it is printed in errors); no spaces or
    control characters (a roster error otherwise, not a traceback)."""
    authority = url.partition("://")[2].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if "@" in authority:  # first, so that no message below repeats a password
        scheme = url.partition("://")[0]
        host = authority.rpartition("@")[2]
        raise ValueError(f"{clean_text(scheme, 10)}://{clean_text(host, 60)}...: put credentials in api_key, "
                         "not in the URL")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError(f"{url!r} is not a server URL (it has spaces or control characters)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        if str(e).startswith("Port"):  # "Port out of range 0-65535", where 0 is no port either
            raise ValueError(f"{url!r}: the port is not a whole number from 1 to 65535") from None
        raise ValueError(f"{url!r} is not a server URL ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) server URL")
    if port == 0:
        raise ValueError(f"{url!r}: port 0 is not a server's port")
    if "?" in url or "#" in url:
        raise ValueError(f"{url!r}: a server URL has no query or fragment (paths are appended to it)")
    netloc = parts.netloc  # host[:port], no credentials (refused above)
    bracketed = netloc.startswith("[")
    host = netloc[1:netloc.find("]")] if bracketed else netloc.partition(":")[0]
    try:
        if bracketed and ":" not in host:  # http://[v1.x]/: only an IPv6 address goes in brackets
            raise ValueError(f"{host!r} is not an IPv6 address (only those go in brackets)")
        check_host(host)
    except ValueError as e:
        raise ValueError(f"{url!r}: the host {e}") from None


def _same_server(url: str) -> tuple:
    """What names one server: scheme and host in any case, the default port spelled or not, the path."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


MODEL_NAME_MAX = 200  # a served model name or a roster's key for it ("Qwen/Qwen2.5-0.5B-Instruct-GGUF:q4_0")


def check_model_name(what: str, v: str) -> str:
    """A model's name as the roster gives it (its `[models]` key, its served
    `model`): printed in every summary and error line, so plain text only --
    what the one sanitiser would leave unchanged, no escapes, no line breaks."""
    return check_plain_name(what, v, MODEL_NAME_MAX)


def _check_key(key: str) -> None:
    """An API key goes into a header as it is: printable ASCII without spaces."""
    if not key or any(not ("!" <= ch <= "~") for ch in key):
        raise ValueError("api_key must be printable ASCII without spaces or control characters")


class ModelConfig(BaseModel):
    # strict: a roster's `timeout_s = true` or `say = "no"` is refused, not read as 1 or False; and no inf
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), strict=True, allow_inf_nan=False)

    name: str = ""                       # filled from the table key
    base_url: str = ""                   # empty for the embedded default: the launcher fills it
    base_urls: list[str] = Field(default_factory=list)  # replicas of one model (base_url is the first)
    model: str                           # served model name sent as `model`
    backend: Literal["vllm", "llama_cpp_python", "llama_server", "other"] = "other"
    # how the turn's legal-moves schema reaches the server: OpenAI's json_schema (vLLM), llama-cpp-python's
    # json_object + schema, a llama.cpp grammar made from it (`engine/grammar.py`: faster there), or not at all
    json_mode: Literal["json_schema", "json_object_schema", "gbnf", "none"] = "json_schema"
    max_concurrency: int = Field(default=4, ge=1, le=4096)
    # at most a day (an hour to connect): 1e300 had loaded, and a game waited "up to 2e+300 s" for a reply
    timeout_s: float = Field(default=60, gt=0, le=86_400)
    connect_timeout_s: float = Field(default=5, gt=0, le=3_600)
    max_tokens: int = Field(default=256, ge=8, le=32768)
    temperature: float = Field(default=0.7, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    reasoning_effort: str | None = None  # e.g. "low" for gpt-oss
    system_role: Literal["native", "merge_into_user"] = "native"
    context_window: int = Field(default=4096, ge=256)
    tokenizer: str | None = None         # a GGUF path (vocab_only) for exact prompt counts
    embedded: bool = False               # started by serve.embedded (llama-cpp-python + SmolLM2)
    vllm_config: str | None = None       # a vLLM YAML under serve/vllm/, for `wood serve`
    api_key: str | None = None           # sent as a bearer token; never written into a save
    api_key_env: str | None = None       # ... or the environment variable that holds it (read at each start)
    http_client: Literal["lean", "httpx"] = "lean"  # the transport under httpx: see engine/brains/transport.py
    health_interval_s: float = Field(default=0.5, gt=0, le=3_600)  # first pause before a failed replica's health check
    # whether the model writes a public say line: with False its schema has no `say` field, its
    # rules leave the say line out, and a say line it writes anyway is dropped
    say: bool = True
    # whether its prompt carries its creature's temperament line (False: left out, ~15 tokens a prompt saved)
    temperament: bool = True

    @model_validator(mode="after")
    def _replicas(self) -> "ModelConfig":
        check_model_name("model", self.model)
        if self.name:  # the roster's key (a save's models are read back through here on a resume)
            check_model_name("model name", self.name)
        for u in [*self.base_urls, *([self.base_url] if self.base_url else [])]:
            check_url(u)
        if self.api_key is not None:
            _check_key(self.api_key)
        if self.api_key_env is not None and not _ENV_NAME.fullmatch(self.api_key_env):
            raise ValueError("api_key_env must name an environment variable (letters, digits, _)")
        for field in ("tokenizer", "vllm_config"):  # a file's path: no system call takes a NUL byte
            if "\x00" in (getattr(self, field) or ""):
                raise ValueError(f"{field} is a file path: it cannot contain a NUL byte")
        urls = [u.rstrip("/") for u in self.base_urls]
        if len({_same_server(u) for u in urls}) != len(urls):
            raise ValueError("base_urls lists a server twice")
        if urls and self.base_url and _same_server(self.base_url) not in {_same_server(u) for u in urls}:
            raise ValueError("set base_url or base_urls, not both (base_url must then be one of base_urls)")
        if urls and not self.base_url:
            self.base_url = self.base_urls[0]
        return self

    @property
    def key(self) -> str | None:
        """The API key to send: `api_key`, else the one in `api_key_env`'s variable (checked as api_key is)."""
        key = self.api_key
        if key is None and self.api_key_env:
            key = os.environ.get(self.api_key_env) or None
            if key is not None:
                try:
                    _check_key(key)
                except ValueError as e:
                    raise WoodError(f"model {self.name}: ${self.api_key_env}: {e}") from None
        return key

    def check_tokenizer(self) -> None:
        """`tokenizer` names a GGUF file that can be read: a WoodError before a
        round is played otherwise (else every answered call of a server that
        reports no token counts became a fault of the model)."""
        if self.tokenizer is None:
            return
        try:
            with open(self.tokenizer, "rb") as f:
                magic = f.read(4)
        except OSError as e:
            raise WoodError(f"model {self.name}: tokenizer {clean_text(self.tokenizer, 200)}: "
                            f"{e.strerror or e}") from None
        if magic != b"GGUF":
            raise WoodError(f"model {self.name}: tokenizer {clean_text(self.tokenizer, 200)} is not a GGUF file")

    def saved(self) -> dict:
        """This config as a save records it: every field but the API key (a save is a file people share;
        a resumed run whose server needs a key reads it from `api_key_env`)."""
        return self.model_dump(exclude={"api_key"})

    @property
    def urls(self) -> list[str]:
        """Every server of this model: its replicas, or its one base_url."""
        return list(self.base_urls) if self.base_urls else ([self.base_url] if self.base_url else [])


class _Recorded(ModelConfig):
    """A model as a save recorded it, read as the build that wrote it read its
    roster (loosely: a save written before rosters were read strictly, with
    `health_interval_s = inf`, still opens)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), strict=False, allow_inf_nan=True)
    # without the bounds a roster has had since (a wait of at most a day, an hour to connect)
    timeout_s: float = Field(default=60, gt=0)
    connect_timeout_s: float = Field(default=5, gt=0)
    health_interval_s: float = Field(default=0.5, gt=0)


def recorded_model(data: object) -> ModelConfig:
    """A save's recorded model config (`ModelConfig.saved()`), checked as it was when it was saved."""
    return _Recorded.model_validate(data)
