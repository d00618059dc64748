"""How every program here reads its options: a number as a flag is typed
(`whole`, `decimal`, and argparse types made of them), and one option that
takes one value refuses a second. `Parser` is the argument parser that `wood`
(`wood_tui.cli`) and the developer servers (`python -m serve.loopback`,
`python -m serve.batched`) build on; each option it declares that stores a
value gets the `Once` action."""
from __future__ import annotations

import argparse
import math
import re

_WHOLE = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*")  # ASCII digits (int() takes any script's), `1_000` as Python writes it
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def whole(text: str) -> int:
    """A whole number as a flag is typed (`12`, `-3`, `1_000`); ValueError for
    anything else (other scripts' digits, `1__0`, `_5`, `1e3`)."""
    t = text.strip()
    if not _WHOLE.fullmatch(t):
        raise ValueError(f"not a whole number: {text!r}")
    return int(t.replace("_", ""))


def decimal(text: str) -> float:
    """A plain, finite decimal number (`2.5`, `.5`, `1e3`); ValueError for
    anything else (other scripts' digits, `nan`, `inf`, `1e999`, `1_0`)."""
    t = text.strip()
    if not _DECIMAL.fullmatch(t) or not math.isfinite(x := float(t)):
        raise ValueError(f"not a number: {text!r}")
    return x + 0.0  # `-0` is 0: a price of -0 had been printed as a cost of -0.0000 "at -0 per GPU-hour"


def whole_arg(v: str) -> int:
    """An option's whole number (`whole`), or argparse's usage error."""
    try:
        return whole(v)
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"expected a whole number, got {v!r}") from None


def bounded_int(lo: int, hi: int):
    """An option's whole number from `lo` to `hi`."""
    def parse(v: str) -> int:
        n = whole_arg(v)
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"expected {lo:,} to {hi:,}, got {v.strip()}")
        return n
    return parse


def bounded_decimal(lo: float, hi: float, expected: str):
    """An option's plain decimal (`decimal`) from `lo` to `hi`, else argparse's
    usage error "expected {expected}, got ..." (`nan`, `inf`, `-5`)."""
    def parse(v: str) -> float:
        try:
            x = decimal(v)
        except (ValueError, AttributeError):
            x = math.nan
        if not lo <= x <= hi:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {v!r}")
        return x
    return parse


class Once(argparse.Action):
    """An option that takes one value, refusing a second: `--roster a.toml
    --roster b.toml` had served b alone, a dropped without a word, and `--seed
    1 --seed 2` had run seed 2. `Parser` gives this action to every option
    that stores a value; one meant to repeat is declared `action="append"`."""

    GIVEN = "_given_once"  # the namespace's set of the Once flags given so far

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        given = namespace.__dict__.setdefault(self.GIVEN, set())
        if self.dest in given:
            raise argparse.ArgumentError(self, f"given more than once: it takes one {self._one()}")
        given.add(self.dest)
        setattr(namespace, self.dest, values)

    def _one(self) -> str:
        """What the option takes, as its help names it (`FILE`, `PATH`), or "value"
        where that is a letter (`S`, `N`), a list of choices, or a pattern (`A-B`)."""
        name = self.metavar if isinstance(self.metavar, str) else ""
        return name if re.fullmatch(r"[A-Z][A-Za-z.]+", name) else "value"


class Parser(argparse.ArgumentParser):
    def add_argument(self, *names, **kwargs):
        """An option that stores one value refuses a second (`Once`): `wood
        sim --seed 1 --seed 2` had run seed 2 without a word, and `python -m
        serve.loopback --port 8020 --port 8021` listened on 8021. Options meant
        to repeat say so (`action="append"`: `--as`, sweep's `--roster`, the
        loopback's `--model`)."""
        if names and names[0][:1] in self.prefix_chars and kwargs.get("action", "store") == "store":
            kwargs["action"] = Once
        return super().add_argument(*names, **kwargs)
