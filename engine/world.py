"""The wood's fixed facts, loaded from the TOML files in `assets/`.

Goods, species, temperaments, weather shocks and the odds of tips are data,
not code. `build_roster(n)` turns the species table into `n` uniquely named
traders (the default five first).
"""
from __future__ import annotations

import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import assets

from .errors import WoodError
from .sanitise import check_plain_name, clean_text, shown_name, shown_path

MIN_CREATURES = 2  # a market needs at least two traders
NAME_MAX = 40  # characters of a creature's name (a roster's, one typed after --as)
MAX_CREATURES = 10_000  # ... and has at most this many (a --creatures run, or a roster however it is filled)
BRAIN_KINDS = ("scripted", "llm")  # what a run's creatures think with (`--brains`, a save's meta)
ASSETS = Path(assets.__file__).resolve().parent  # the installed `assets` package
SEASONS = ("spring", "summer", "autumn", "winter")
# goods.toml's [economy] numbers, each a whole number from low to high (None: no top); `_check` refuses others
ECONOMY_RANGES = (
    ("start_coins", 0, None), ("pantry", 0, None), ("offer_lifetime", 1, None),
    ("mood_start", 0, 100), ("mood_fed", 0, 100), ("mood_hungry", 0, 100), ("low_mood", 0, 100),  # mood is 0 to 100
    ("price_memory_pct", 0, 100), ("debt_garnish_pct", 0, 100), ("granary_min", 0, None),
    ("granary_spend_pct", 0, 100), ("feelings_drift_div", 1, None), ("short_collateral_pct", 0, None),
    ("short_rounds", 1, None), ("max_shorts", 0, None), ("squeeze_pct", 0, None), ("max_allies", 0, None),
    ("whispers_shown", 0, None), ("grove_luck_pct", 0, 200), ("grove_rounds", 1, 10_000),
)
# the wood's money, named here alone: `1 coin` (`events.unit_word`), and the good of a gift of money (`good: "coins"`,
# read by the parser, the rules, the legal moves and the play form); no good may be named either
COIN, COINS = "coin", "coins"
CURRENCY_WORDS = (COIN, COINS)
ODDS_CHANCES = ("weather_per_round", "tip_per_round", "tip_true", "investigate")  # shocks.toml [odds], each 0 to 1
ODDS_WHOLE = (("tip_lead_min", 1), ("tip_lead_max", 1), ("fine_base", 0))  # ... and its whole numbers, from low


@dataclass(frozen=True)
class Good:
    name: str
    food: bool
    base_price: int
    spoil_pct: int
    fuel: bool = False
    one: str = ""  # the word for one unit (`acorn`); the good's name is its plural


@dataclass(frozen=True)
class Species:
    name: str
    produces: dict[str, int]
    needs: dict[str, int]


@dataclass(frozen=True)
class Shock:
    name: str
    good: str
    pct: int
    rounds: int
    tip: str
    headline: str


@dataclass(frozen=True)
class RosterEntry:
    """One trader of a run: who it is and which brain/model drives it."""

    name: str
    species: str
    temperament: str
    model: str = "scripted"


@dataclass(frozen=True)
class World:
    goods: dict[str, Good]
    species: dict[str, Species]
    temperaments: dict[str, str]
    shocks: dict[str, Shock]
    economy: dict
    odds: dict
    default_roster: tuple[RosterEntry, ...] = field(default=())
    _baskets: dict = field(default_factory=dict, init=False, compare=False, repr=False)  # (species, season) -> `basket`

    @property
    def good_names(self) -> tuple[str, ...]:
        return tuple(self.goods)

    @property
    def fuel_good(self) -> str:
        return next(g.name for g in self.goods.values() if g.fuel)

    def season(self, round_no: int) -> str:
        return SEASONS[(round_no - 1) % 4]

    def needs_of(self, species: str, round_no: int) -> dict[str, int]:
        """The basket a creature of `species` must consume in `round_no`."""
        basket = dict(self.species[species].needs)
        fuel = self.economy["fuel_by_season"][self.season(round_no)]
        if fuel:
            basket[self.fuel_good] = basket.get(self.fuel_good, 0) + fuel
        return basket

    def basket(self, species: str, round_no: int) -> tuple[tuple[str, int], ...]:
        """`needs_of` as (good, units) pairs by good: one tuple per species and
        season, shared by every creature's meal, view and granary turn."""
        key = (species, self.season(round_no))
        hit = self._baskets.get(key)
        if hit is None:
            hit = self._baskets[key] = tuple(sorted(self.needs_of(species, round_no).items()))
        return hit


class WorldError(WoodError):
    """The asset files are inconsistent."""


def _file_of(where: str) -> str:
    """The asset file that holds `where` (`roster[2].species`: creatures.toml), by its top key in `ASSET_SHAPES`."""
    top = where.split(".", 1)[0].split("[", 1)[0]
    return next((file for file, shape in ASSET_SHAPES.items() if top in shape), "the world's files")


def in_file(where: str, file: str | None = None) -> str:
    """`where` and its file, as every line about the world names a value: `roster[2].species in creatures.toml`."""
    return f"{where} in {file or _file_of(where)}"


def _wrong(where: str, what: str, file: str | None = None) -> WorldError:
    """The one line refusing the world for its value at `where`: 'KEY in FILE WHAT' (`what`: 'must be text')."""
    return WorldError(f"{in_file(where, file)} {what}")


@dataclass(frozen=True)
class Named:
    """A table of entries named freely (`[goods.acorns]`, `[species.owl]`), each of one `shape`; with `plain`, each
    name is one the wood shows and a model writes back: a plain name (`check_plain_name`), none a twin of another
    (`twin_name`); with `least`, at least that many entries (a run draws its weather from `[shocks.*]`)."""

    shape: object
    plain: bool = False
    least: int = 0


@dataclass(frozen=True)
class Rows:
    """An array of tables (`[[roster]]`), each of one `shape`, and at least `least` of them."""

    shape: object
    least: int = 0


JUDGED = object()  # a value of any type: `_check` says what is wrong with it ('... must be a whole number ...')
# What each asset file holds, in one place: a table is a dict of its keys (one ending in `?` may be left out), each
# with its shape: a table, `Named`, `Rows`, JUDGED, or the type its value must have. `_shape` refuses a file that
# differs (a key missing, a key the wood does not know, a value where a table belongs) in one line naming the key.
ASSET_SHAPES = {
    "goods.toml": {
        "goods": Named({"one": JUDGED, "food?": bool, "fuel?": bool, "base_price": JUDGED, "spoil_pct": JUDGED},
                       plain=True, least=1),
        "economy": {**{key: JUDGED for key, _, _ in ECONOMY_RANGES}, "fuel_by_season": dict.fromkeys(SEASONS, JUDGED)},
    },
    "creatures.toml": {
        "species": Named({"produces": Named(JUDGED), "needs": Named(JUDGED)}, plain=True, least=1),
        "temperaments": Named({"line": str}, plain=True, least=1),
        "roster": Rows({"name": str, "species": str, "temperament": str}, least=1),  # `build_roster` cycles it
    },
    "shocks.toml": {
        "shocks": Named({"good": str, "pct": JUDGED, "rounds": JUDGED, "tip": JUDGED, "headline": str}, plain=True,
                         least=1),
        "odds": dict.fromkeys((*ODDS_CHANCES, *(key for key, _ in ODDS_WHOLE)), JUDGED),
    },
}
_MUST_BE = {str: "text", bool: "true or false"}


def _read(path: Path) -> dict:
    """`path`'s TOML: a file that cannot be read (not there), is not TOML, or is not of its shape in `ASSET_SHAPES`
    is refused in one line."""
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise WorldError(f"{path.name} is not valid TOML: {str(e).splitlines()[0]}") from None
    except OSError as e:
        raise WorldError(f"{path.name}, one of the world's files, cannot be read ({e.strerror or e}: "
                         f"{shown_path(path)})") from None
    _shape(doc, ASSET_SHAPES[path.name], path.name)
    return doc


def _shape(value, shape, file: str, where: str = "") -> None:
    """Refuse `value`, found at `where` in `file`, unless it has `shape` (see `ASSET_SHAPES`)."""
    if shape is JUDGED:
        return
    if isinstance(shape, type):
        if type(value) is not shape:
            raise _wrong(where, f"must be {_MUST_BE[shape]}", file)
        return
    if isinstance(shape, Rows):
        if type(value) is not list or not all(type(row) is dict for row in value):
            raise _wrong(where, f"must be a list of tables ([[{where}]])", file)
        if len(value) < shape.least:
            raise _wrong(where, f"must have at least {shape.least} [[{where}]] table{'' if shape.least == 1 else 's'}",
                         file)
        for i, row in enumerate(value, 1):  # counted from 1, as a reader counts the file's [[roster]] tables
            _shape(row, shape.shape, file, f"{where}[{i}]")
        return
    if type(value) is not dict:
        raise _wrong(where, "must be a table", file)
    at = (lambda key: f"{where}.{_key(key)}") if where else _key
    if isinstance(shape, Named):
        if len(value) < shape.least:
            raise _wrong(where, f"must have at least {shape.least} [{where}.NAME] table{'' if shape.least == 1 else 's'}",
                         file)
        if shape.plain:
            for name in value:
                _plain_name(f"{in_file(where, file)}: the name", name)
            if twins := twin_name(value):  # one good, species, ... to a reader and a model
                raise _wrong(at(twins[1]), f"is one name with {at(twins[0])}: the names of {where} must be unique, "
                             f"{NAMES_ALIKE}", file)
        for name, entry in value.items():
            _shape(entry, shape.shape, file, at(name))
        return
    keys = {key.removesuffix("?"): key for key in shape}
    for key in value:
        if key not in keys:
            raise _wrong(at(key), f"is not a key the wood knows ({where or file} takes {', '.join(keys)})", file)
    for key, spec in keys.items():
        if key in value:
            _shape(value[key], shape[spec], file, at(key))
        elif not spec.endswith("?"):
            raise WorldError(f"{at(key)} is missing from {file}")


@lru_cache(maxsize=4)
def load_world(assets: Path = ASSETS) -> World:
    goods_doc = _read(assets / "goods.toml")  # each of the right shape: every key read here is there
    creatures_doc = _read(assets / "creatures.toml")
    shocks_doc = _read(assets / "shocks.toml")
    goods = {
        name: Good(name, bool(g.get("food")), g["base_price"], g["spoil_pct"], bool(g.get("fuel")),
                   g["one"])  # numbers as written: `_check` refuses any that is not a whole number
        for name, g in goods_doc["goods"].items()
    }
    species = {
        name: Species(name, dict(s["produces"]), dict(s["needs"]))
        for name, s in creatures_doc["species"].items()
    }
    temperaments = {name: t["line"] for name, t in creatures_doc["temperaments"].items()}
    shocks = {name: Shock(name, **s) for name, s in shocks_doc["shocks"].items()}
    roster = tuple(RosterEntry(r["name"], r["species"], r["temperament"]) for r in creatures_doc["roster"])
    world = World(goods, species, temperaments, shocks, goods_doc["economy"], shocks_doc["odds"], roster)
    _check(world)
    return world


def _plain_name(said: str, name: str) -> None:
    """`check_plain_name` for a name in the world's files, a bad one refusing the world: one WorldError line that
    begins with `said` (its key and file)."""
    try:
        check_plain_name(said, name, NAME_MAX)
    except ValueError as e:
        raise WorldError(str(e)) from None


def _key(name: str) -> str:
    """A key of the world's files as a line names it: as written where it is a plain name, else quoted with its
    escapes (`check_plain_name`, `shown_name`), so no line holds what a terminal obeys or cannot show."""
    try:
        return check_plain_name("", name, NAME_MAX)
    except ValueError:
        return shown_name(name, NAME_MAX)


def _check(world: World) -> None:
    fuel = [g for g in world.goods.values() if g.fuel]
    if not fuel:
        raise _wrong("goods", "must have one good that is fuel (fuel = true), and has none")
    if len(fuel) > 1:
        raise _wrong(f"goods.{fuel[1].name}.fuel", f"is true, and {fuel[0].name} is fuel already: exactly one good "
                     "must be fuel")
    goods = f"({', '.join(world.goods)} in goods.toml)"
    for sp in world.species.values():
        for part, units in (("produces", sp.produces), ("needs", sp.needs)):  # units a round; a good of 0 is left out,
            for g, n in units.items():  # or a species needing none of a good it cannot make passes the test below
                if g not in world.goods:
                    raise _wrong(f"species.{sp.name}.{part}.{_key(g)}", f"names {shown_name(g, NAME_MAX)}, which is "
                                 f"not a good {goods}")
                _whole(f"species.{sp.name}.{part}.{g}", n, 1)
        if not set(sp.needs) - set(sp.produces):
            raise _wrong(f"species.{sp.name}.needs", "lists only goods the species produces: it could feed itself, "
                         "and scarcity is deliberate")
    for g in world.goods.values():
        if type(g.one) is not str or not g.one.strip():
            raise _wrong(f"goods.{g.name}.one", "must be the word for one unit of it (`1 acorn` of acorns)")
        # shown beside the good's name (`1 acorn`), and written as it by a model: held to the names' rule
        _plain_name(in_file(f"goods.{g.name}.one") + ":", g.one)
        for where, word in ((f"goods.{g.name}", g.name), (f"goods.{g.name}.one", g.one)):
            if name_key(word) in CURRENCY_WORDS:
                raise _wrong(where, f"is {word!r}, the word for the wood's money: a move's good \"{COINS}\" gives "
                             "coins, and `1 coin` is money in every line; a good must be named otherwise")
        if g.name != g.name.lower():  # a move's good is read in lower case (`parsing._reshape`): `Nuts` never traded
            raise _wrong(f"goods.{g.name}", f"is {g.name!r}: a good is named in lower case ({g.name.lower()!r}), as a "
                         "model's reply is read")
        if type(g.spoil_pct) is int and g.spoil_pct <= 0:
            raise _wrong(f"goods.{g.name}.spoil_pct", "must be above 0: every good must spoil, or it can be hoarded "
                         "forever")
        _whole(f"goods.{g.name}.spoil_pct", g.spoil_pct, 1, 100)
        _whole(f"goods.{g.name}.base_price", g.base_price, 1)
    for key, low, high in ECONOMY_RANGES:
        _whole(f"economy.{key}", world.economy[key], low, high)
    for season in SEASONS:
        _whole(f"economy.fuel_by_season.{season}", world.economy["fuel_by_season"][season], 0)
    for key in ODDS_CHANCES:
        v = world.odds[key]
        if type(v) not in (int, float) or not 0 <= v <= 1:
            raise _wrong(f"odds.{key}", "must be a chance from 0 to 1")
    for key, low in ODDS_WHOLE:
        _whole(f"odds.{key}", world.odds[key], low)
    if world.odds["tip_lead_min"] > world.odds["tip_lead_max"]:
        raise _wrong("odds.tip_lead_min", "must be at most odds.tip_lead_max (rounds from a tip to its resolution)")
    for sh in world.shocks.values():
        if sh.good not in world.goods:
            raise _wrong(f"shocks.{sh.name}.good", f"names {shown_name(sh.good, NAME_MAX)}, which is not a good {goods}")
        _fills(f"shocks.{sh.name}.tip", sh.tip, good=sh.good, rounds="2 rounds")  # as `rules.tip_text` fills it
        _fills(f"shocks.{sh.name}.headline", sh.headline, good=sh.good)  # ... and `rules` the shock's headline
        _sentence(f"shocks.{sh.name}.tip", sh.tip)
        _sentence(f"shocks.{sh.name}.headline", sh.headline)
        _whole(f"shocks.{sh.name}.pct", sh.pct, -100)
        _whole(f"shocks.{sh.name}.rounds", sh.rounds, 1)
    from .brains.scripted import STYLE  # here: the scripted brain reads this module's RosterEntry
    for name, line in world.temperaments.items():
        _sentence(f"temperaments.{name}.line", line)
        if name not in STYLE:  # every run's scripted traders, and a seat's autopilot, play it
            raise _wrong(f"temperaments.{name}", f"is not a temperament the scripted brain plays ({', '.join(STYLE)}):"
                         " a world's temperaments must be among those")
    for i, r in enumerate(world.default_roster, 1):  # a creature's name, as a roster file's must be (serve.roster)
        _plain_name(in_file(f"roster[{i}].name") + ":", r.name)
        for key, table in (("species", world.species), ("temperament", world.temperaments)):
            if (value := getattr(r, key)) not in table:
                raise _wrong(f"roster[{i}].{key}", f"names {shown_name(value, NAME_MAX)}, which is not a {key} ({', '.join(table)})")
    if twins := twin_name(r.name for r in world.default_roster):  # every run would be refused for it
        keys = [name_key(r.name) for r in world.default_roster]
        first = keys.index(name_key(twins[0])) + 1
        second = keys.index(name_key(twins[0]), first) + 1  # the second of that name, counted from 1 as `first`
        raise _wrong(f"roster[{second}].name", f"is {ascii(twins[1])}, one name with roster[{first}].name "
                     f"{ascii(twins[0])}: roster names must be unique, {NAMES_ALIKE}")


def _fills(where: str, text, **names: str) -> None:
    """Refuse `text`, the world's wording at `where`, unless it is text that `str.format` fills in with `names`
    alone (a `{bogus}`, a `{good.x}` or a lone `{` would fail when the game came to say it)."""
    try:
        if type(text) is not str:
            raise ValueError
        text.format(**names)
    except (KeyError, IndexError, ValueError, AttributeError, TypeError):
        raise _wrong(where, f"may fill in only {' and '.join(f'{{{name}}}' for name in names)}") from None


SENTENCE_SHOWN = 60  # characters of a refused sentence the line shows


def _sentence(where: str, text: str) -> None:
    """Refuse `text`, the world's sentence at `where` (a tip, a headline, a temperament's line: on the screen, in
    printed lines and in every model's prompt), unless the sanitiser (`clean_text`) leaves it as it is: the world's
    own words are held to the rule that model-written text is made to keep, once, as the world loads."""
    if clean_text(text) != text:
        raise _wrong(where, f"is {shown_name(text, SENTENCE_SHOWN)}, not one line of plain text (no control "
                     "characters, escape sequences or invisible characters, no leading or trailing spaces or runs of "
                     "spaces, nothing a chat template reads as a control token, as <|im_end|>)")


def _whole(where: str, v, low: int, high: int | None = None) -> None:
    """Refuse `v`, the world's number at `where`, unless it is a whole number from `low` (to `high`)."""
    if type(v) is not int or v < low or (high is not None and v > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise _wrong(where, f"must be a whole number {span}")


NAMES_ALIKE = "ignoring case and how Unicode spells a letter"  # what `name_key` sets aside, in every line that says so


def name_key(name: str) -> str:
    """What tells a creature's name from another's: not its case (a model's
    reply names a creature in any case, `parsing`), nor how Unicode spells its
    letters (`école` as one character or as `e` and a combining accent, a
    fullwidth `Ｏｗｌ`), which print alike."""
    return unicodedata.normalize("NFKC", name).casefold()


def twin_name(names) -> tuple[str, str] | None:
    """Two of `names` with one `name_key`, if any: two creatures a reader, or a model, could not tell apart."""
    seen: dict[str, str] = {}
    for name in names:
        key = name_key(name)
        if key in seen:
            return seen[key], name
        seen[key] = name
    return None


def build_roster(world: World, n: int | None = None, model: str = "scripted") -> list[RosterEntry]:
    """`n` traders with unique names: the default roster first, then
    `Owl 2`, `Fox 2`, ... cycling species and shifting temperaments (a name
    the world's roster lists already is passed over: `name_key`) (None:
    the default roster as it is, refused if it lists fewer than a market needs)."""
    base = list(world.default_roster)
    if n is None and len(base) < MIN_CREATURES:  # a run of the world's own roster: the edited file is to blame
        raise WorldError(f"a market needs at least {MIN_CREATURES} creatures, and {in_file('roster')} (the "
                         f"world's default) lists {len(base)}: add a [[roster]] table, or give --creatures N")
    n = len(base) if n is None else n
    if n < MIN_CREATURES:
        raise WorldError(f"a market needs at least {MIN_CREATURES} creatures")
    temps = list(world.temperaments)
    out: list[RosterEntry] = []
    taken: set[str] = set()
    i = 0
    while len(out) < n:
        b = base[i % len(base)]
        k = i // len(base)
        i += 1
        name = b.name if k == 0 else f"{b.name} {k + 1}"
        if name_key(name) in taken:  # a made name the world lists already (its roster has an `Owl 2`): the next
            continue
        taken.add(name_key(name))
        temp = b.temperament if k == 0 else temps[(temps.index(b.temperament) + k) % len(temps)]
        out.append(RosterEntry(name, b.species, temp, model))
    return out
