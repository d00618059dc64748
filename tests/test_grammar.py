"""The legal-moves grammar (engine/grammar.py): it admits exactly the compact
JSON objects the turn's schema admits (in the schema's field order), and the
branches are merged so a model's first tokens keep one grammar path alive.

The grammar's language is checked by translating the GBNF text itself into a
Python regular expression (the grammar has no recursion), so these tests read
what llama.cpp will read; the real embedded model writes under it in
tests/test_real_model.py."""
from __future__ import annotations

import json
import random
import re

import pytest

from engine.grammar import gbnf
from engine.legal import legal_schema, without_say
from engine.views import market_index, public_view

TOKEN = re.compile(r'\s*(?:(?P<str>"(?:\\.|[^"\\])*")|(?P<cls>\[(?:\\.|[^\]\\])*\])|(?P<rep>\{\d+,\d+\})'
                   r'|(?P<def>::=)|(?P<name>[a-z][a-z0-9-]*)|(?P<op>[|()?]))')


def grammar_regex(text: str) -> re.Pattern:
    """The language of a non-recursive GBNF grammar (the subset gbnf() writes) as a regex."""
    rules: dict[str, list[tuple[str, str]]] = {}
    for line in text.strip().splitlines():
        name, body = line.split(" ::= ", 1)
        toks, pos = [], 0
        while pos < len(body):
            m = TOKEN.match(body, pos)
            assert m and m.end() > pos, f"cannot read {body[pos:pos + 30]!r}"
            toks.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        rules[name] = toks

    def expand(name: str) -> str:
        out = []
        for kind, tok in rules[name]:
            if kind == "str":
                out.append(re.escape(json.loads(tok)))
            elif kind == "cls":
                out.append(tok.replace("\\x7f", "\\x7f"))
            elif kind == "rep":
                out.append(tok)
            elif kind == "name":
                out.append(f"(?:{expand(tok)})")
            elif tok == "(":
                out.append("(?:")
            else:
                out.append(tok)
        return "".join(out)

    return re.compile(expand("root"))


def admitted_by_schema(schema: dict, text: str) -> bool:
    """Whether `text` is compact JSON of one branch of `schema`, fields in its order, values in its enums."""
    try:
        obj = json.loads(text)
    except ValueError:
        return False
    if json.dumps(obj, separators=(",", ":"), ensure_ascii=False) != text:
        return False
    for b in schema["anyOf"]:
        props, required = b["properties"], b["required"]
        keys = [k for k in props if k in obj]
        if list(obj) != keys or not set(required) <= set(obj):
            continue
        ok = True
        for k, v in obj.items():
            spec = props[k]
            if "enum" in spec:
                ok &= v in spec["enum"] and type(v) is type(spec["enum"][0])
            else:
                ok &= isinstance(v, str) and spec.get("minLength", 0) <= len(v) <= spec.get("maxLength", 80)
        if ok:
            return True
    return False


def instances(schema: dict, rng: random.Random, n: int = 60) -> list[str]:
    """Compact JSON objects the schema admits, drawn at random (optional fields sometimes left out)."""
    out = []
    for _ in range(n):
        b = rng.choice(schema["anyOf"])
        obj = {}
        for k, spec in b["properties"].items():
            if k not in b["required"] and rng.random() < 0.5:
                continue
            obj[k] = rng.choice(spec["enum"]) if "enum" in spec else \
                "the honey is good"[:rng.randint(spec.get("minLength", 0), 17)]
        out.append(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
    return out


def schemas(world, n: int, rounds: int = 6) -> list[dict]:
    """Every creature's legal schema (with and without say) after a few scripted rounds."""
    import asyncio

    from wood_tui.game import open_game
    from wood_tui.options import RunOptions

    async def play():
        options = RunOptions.parse("sim", ["--creatures", str(n), "--rounds", str(rounds), "--seed", "4"])
        async with open_game(options, world) as game:
            await game.runner.run(rounds)
            st, names = game.runner.state, tuple(r.name for r in game.roster)
            idx = market_index(st)
            out = []
            for r in game.roster[:40]:
                s = legal_schema(public_view(st, world, r.name, idx), world.good_names, names)
                out += [s, without_say(s)]
            return out
    return asyncio.run(play())


@pytest.mark.parametrize("n", [5, 80])
def test_the_grammar_admits_what_the_schema_admits_and_nothing_else(world, n):
    rng = random.Random(n)
    for schema in schemas(world, n):
        lang = grammar_regex(gbnf(schema))
        for text in instances(schema, rng):
            assert lang.fullmatch(text), text
        for text in instances(schema, rng, 30):  # one value changed, one field dropped, spaces added
            obj = json.loads(text)
            key = rng.choice(list(obj))
            variants = [text.replace(",", ", ", 1), text.replace(f'"{key}":', f'"{key}" :'),
                        json.dumps({**obj, key: 10_001 if isinstance(obj[key], int) else "Nobody"}, separators=(",", ":")),
                        json.dumps({k: v for k, v in obj.items() if k != key}, separators=(",", ":"))]
            for v in variants:
                assert bool(lang.fullmatch(v)) == admitted_by_schema(schema, v), v


def test_branches_are_merged_on_what_they_share(world):
    """The opening `{"action":` is written once, and each action kind once, however many branches."""
    schema = schemas(world, 5)[0]
    text = gbnf(schema)
    assert len(schema["anyOf"]) > 10
    assert text.count('"{" "\\"action\\":"') == 1
    kinds = {b["properties"]["action"]["enum"][0] for b in schema["anyOf"]}
    for kind in kinds:
        assert text.count(f'"\\"{kind}\\""') == 1, kind


def test_a_schema_outside_the_legal_moves_shape_is_refused():
    for bad in ({}, {"anyOf": []}, {"anyOf": [{"type": "array"}]},
                {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
                {"type": "object", "properties": {"x": {"enum": [1.5]}}, "required": ["x"]},
                {"type": "object", "properties": {"x": {"enum": [1]}, "y": {"enum": [2]}}, "required": ["y"]}):
        with pytest.raises(ValueError):
            gbnf(bad)


def test_free_text_cannot_break_out_of_its_string():
    schema = {"type": "object", "properties": {"action": {"enum": ["whisper"]}, "to": {"enum": ["Fox"]},
                                               "text": {"type": "string", "maxLength": 5}},
              "required": ["action", "to", "text"]}
    lang = grammar_regex(gbnf(schema))
    assert lang.fullmatch('{"action":"whisper","to":"Fox","text":"hi"}')
    for bad in ('{"action":"whisper","to":"Fox","text":"toolong"}', '{"action":"whisper","to":"Fox","text":"a"b"}',
                '{"action":"whisper","to":"Fox","text":"a\\n"}', '{"action":"whisper","to":"Fox","text":"a\n"}'):
        assert not lang.fullmatch(bad), bad
