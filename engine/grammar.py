"""A turn's legal moves as a llama.cpp grammar (GBNF), for servers that take one.

`gbnf(schema)` turns the per-turn schema of `legal.py` (an `anyOf` of flat
objects whose values are enums or bounded strings) into a grammar that admits
exactly those objects written as compact JSON, fields in the schema's order.
Whatever the grammar admits, the schema admits too; it only drops what a
model never needs (whitespace, other field orders, escapes in free text).

Why not let the server convert the JSON schema itself: llama.cpp's converter
writes each `anyOf` branch as its own alternative from the opening brace, with
optional whitespace between tokens, so while a model writes
`{"action":"offer","side":"buy",...` twenty-odd grammar stacks stay alive and
every one is checked against the whole vocabulary at every token (measured on
2 cores: about as long as the model's own forward pass). Here the branches
are merged into a tree on their common fields (`{"action":` once, then
`"offer"` once, then `,"side":`...), so only the alternatives that really
differ are ever alive, and there is no whitespace to allow.
"""
from __future__ import annotations

import json

STRING_CHAR = r'[^"\\\x00-\x1f\x7f]'  # a free-text character: no quote, backslash or control character
FIRST_CHAR = r'[^"\\\x00-\x20\x7f]'  # ... and the first of a text that must not be empty: no space either


def gbnf(schema: dict) -> str:
    """The grammar for `schema` (a legal-moves schema: `{"anyOf": [branch, ...]}`,
    or one branch). Raises ValueError for a schema outside that shape."""
    branches = schema.get("anyOf", [schema]) if isinstance(schema, dict) else None
    if not isinstance(branches, list) or not branches:
        raise ValueError("a legal-moves schema is an object or an anyOf of objects")
    rules: list[str] = []
    root = _alternatives([_items(b) for b in branches], rules)
    return "\n".join([f"root ::= {root}", *rules]) + "\n"


def _items(branch: dict) -> list[tuple]:
    """A branch as a sequence of items, one per piece of text a model writes:
    ("lit", text), ("one of", texts) or ("text", (min length, max length)); an optional
    field is ("opt", its items)."""
    props = branch.get("properties")
    if branch.get("type") != "object" or not isinstance(props, dict) or not props:
        raise ValueError("each branch must be an object with properties")
    required = set(branch.get("required", ()))
    items: list[tuple] = [("lit", "{")]
    first = True
    for key, spec in props.items():
        field = [("lit", ("" if first else ",") + json.dumps(key) + ":"), _value(key, spec)]
        if key in required:
            items.extend(field)
            first = False
        else:
            if first:  # an optional field before any required one cannot know its comma
                raise ValueError(f"optional field '{key}' before the required ones")
            items.append(("opt", tuple(field)))
    items.append(("lit", "}"))
    return items


def _value(key: str, spec: dict) -> tuple:
    if "enum" in spec:
        values = spec["enum"]
        if not values or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            raise ValueError(f"field '{key}': enums of strings or whole numbers only")
        texts = tuple(dict.fromkeys(json.dumps(v) for v in values))
        return ("lit", texts[0]) if len(texts) == 1 else ("one of", texts)
    if spec.get("type") == "string":
        return ("text", (int(spec.get("minLength", 0)), int(spec.get("maxLength", 80))))
    raise ValueError(f"field '{key}': an enum or a string")


def _alternatives(seqs: list[list[tuple]], rules: list[str]) -> str:
    """The grammar expression admitting any of `seqs`, with sequences that
    begin alike merged: one alternative per distinct first item."""
    groups: dict[tuple, list[list[tuple]]] = {}
    ends = False
    for seq in seqs:
        if not seq:
            ends = True
        else:
            groups.setdefault(seq[0], []).append(seq[1:])
    alts = []
    for first, rests in groups.items():
        rest = _alternatives(rests, rules)
        alts.append(f"{_expr(first, rules)} {rest}".strip() if rest else _expr(first, rules))
    if ends:
        alts.append('""')
    if len(alts) == 1:
        return alts[0] if alts[0] != '""' else ""
    name = f"n{len(rules)}"  # the rules of its alternatives are written already
    rules.append(f"{name} ::= " + " | ".join(alts))
    return name


def _expr(item: tuple, rules: list[str]) -> str:
    kind, arg = item
    if kind == "lit":
        return _quote(arg)
    if kind == "one of":
        return "(" + " | ".join(_quote(t) for t in arg) + ")"
    if kind == "text":
        least, most = arg
        if least and most:  # a text that must say something (a whisper): it starts with a visible character
            return f'"\\"" {FIRST_CHAR} {STRING_CHAR}{{{least - 1},{most - 1}}} "\\""'
        return f'"\\"" {STRING_CHAR}{{0,{most}}} "\\""'
    if kind == "opt":
        return "(" + " ".join(_expr(i, rules) for i in arg) + ")?"
    raise AssertionError(kind)


def _quote(text: str) -> str:
    """`text` as a GBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
