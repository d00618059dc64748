"""The one sanitiser for text a model (or any trader) wrote.

Every `say` line, every raw reply shown anywhere, passes through
`clean_text` before it reaches a prompt, a headline or the screen: control
characters (C0, DEL, C1 — ESC included), every format character (bidi
overrides and isolates, zero-width tricks, soft hyphens, the invisible "tag"
letters U+E0000-E007F that can spell out a hidden instruction) and unassigned
or private code points are removed, combining marks beyond two on a letter
(stacked "Zalgo" text) dropped, whitespace is collapsed, what a chat
template would read as a control token (<|im_end|>, </s>, [INST]) loses its
opening bracket to a look-alike, the length capped.
The Textual side (`wood_tui/safe.py`) wraps the result in `rich.text.Text`
so markup in it is never parsed.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from rich.cells import cell_len, split_graphemes

# Line and paragraph separators: not format characters (Cf, all removed below), removed too.
_INVISIBLE = {"\u2028", "\u2029"}
# ANSI/VT escape sequences: CSI ... final, OSC ... BEL/ST, and two-byte ESC x.
_ESCAPES = re.compile(
    r"(?:\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?)"      # OSC
    r"|(?:\x1b\[[0-?]*[ -/]*[@-~])"                 # CSI
    r"|(?:\x9b[0-?]*[ -/]*[@-~])"                   # 8-bit CSI
    r"|(?:\x9d[^\x07\x9c]*(?:\x07|\x9c)?)"          # 8-bit OSC
    r"|(?:\x1b[@-_])"                               # other ESC sequences
)
_SPACE = re.compile(r"\s+")
# What a chat template or a tokenizer reads as a control token when it is in a message's text: <|im_end|>,
# <|start_header_id|>, </s>, <file_sep>, [INST]. Written by a model (a whisper to another creature), it would
# open a system turn in that creature's prompt: its opening bracket becomes a look-alike (<|im_end|> -> ‹|im_end|>).
_TOKEN_LIKE = re.compile(r"<(?=[|/]?[A-Za-z_|][^<>\s]{0,48}>)|\[(?=/?INST\])")
_LOOKALIKE = {"<": "\u2039", "[": "\u2045"}
_PRINTABLE_LINES = bytes(range(0x20, 0x7F)) + b"\n"  # printable ASCII (what str.isprintable passes) and newlines
MARKS_KEPT = 2  # combining marks kept on one letter (é, ệ); more is "Zalgo" text, stacked over the lines around it


def clean_text(text: object, max_len: int | None = None) -> str:
    """Inert, single-line text: safe for prompts, logs and widgets."""
    if text is None:
        return ""
    s = str(text)
    if not (s.isascii() and s.isprintable()):  # printable ASCII (most text) has nothing to remove
        s = _ESCAPES.sub("", s)
        out = []
        marks = 0
        for ch in s:
            if ch in _INVISIBLE:
                continue
            cat = unicodedata.category(ch)
            if cat == "Cc":  # C0, DEL, C1 controls (tabs/newlines become spaces)
                if ch in "\t\n\r":
                    out.append(" ")
                continue
            if cat in ("Cf", "Cs", "Co", "Cn"):  # format (invisible), surrogate, private, unassigned
                continue
            marks = marks + 1 if cat in ("Mn", "Me") else 0
            if marks > MARKS_KEPT:
                continue
            out.append(ch)
        s = "".join(out)
    s = _SPACE.sub(" ", s).strip()
    if "<" in s or "[" in s:
        s = _TOKEN_LIKE.sub(lambda m: _LOOKALIKE[m.group()], s)
    if max_len is not None and len(s) > max_len:
        s = s[:max_len].rstrip()
    return s


def valid_utf8(text: str) -> str:
    """`text` as valid UTF-8, each lone surrogate in it as `?`: a JSON escape
    such as "\\ud800" decodes to one, which no UTF-8 file (the ledger), request
    or screen can hold (`clean_text` drops them)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_lines(text: str, max_len: int | None = None) -> str:
    """Each line of `text` through `clean_text` (a prompt: lines kept, each
    inert and capped at `max_len`), the whole stripped at its ends; at once
    when no line would change (printable ASCII lines, no runs of spaces, none
    padded or too long, no bracket that could open a control token)."""
    text = text.strip()
    if (text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_LINES) and "  " not in text
            and " \n" not in text and "\n " not in text and "<" not in text and "[" not in text
            and (max_len is None or max(map(len, text.split("\n"))) <= max_len)):
        return text
    return "\n".join(clean_text(line, max_len) for line in text.splitlines())


def check_plain_name(what: str, v: str, max_len: int) -> str:
    """`v`, if it is a plain name: 1 to `max_len` characters that the sanitiser
    leaves as they are (printable, no control or invisible characters, no
    leading or trailing spaces, no runs of spaces); else a ValueError that
    says so (a creature's name, a model's, one typed after --as)."""
    if not v or len(v) > max_len or clean_text(v) != v:
        raise ValueError(f"{what} {shown_name(v, max_len)} is not a plain name (1-{max_len} characters of printable "
                         "text, no control characters, no leading or trailing spaces or runs of spaces)")
    return v


def shown_name(v: str, max_len: int, every: bool = False) -> str:
    """`v` quoted with its escapes (`'Ow\\x1b[31ml'`) for a line that refuses it: one over `max_len` characters cut
    there visibly, with its true length (`'WWW...W'... (41 characters)`), so the line shows no name it was not given.
    `every`: each character not ASCII written as its escape too (`ascii`), for a name shown beside one it is a twin
    of (`world.name_key`): `e` + a combining accent and the one letter `é` print alike, `'Zoe\\u0301'` and `'Zo\\xe9'` not."""
    quote = ascii if every else repr
    if len(v) <= max_len:
        return quote(v)
    return f"{quote(v[:max_len])}... ({len(v)} characters)"


# ---- terminal cells ----------------------------------------------------------------
# A wide letter (CJK, most emoji) takes two cells of a terminal, a combining mark none: text is measured, padded
# and cut by its cells (`len`, `ljust` and f"{name:<{w}}" count characters), as Rich and Textual draw it.


def cells(text: str) -> int:
    """The terminal cells `text` takes (栗鼠: 4, é written as e and its accent: 1)."""
    return cell_len(text)


def pad_cells(text: str, width: int) -> str:
    """`text` and spaces after it to `width` cells: a column of names lines up
    whatever letters they are written in (`text` as it is where it is as wide or wider)."""
    return text + " " * (width - cell_len(text))


def first_cells(text: str, width: int) -> str:
    """The longest start of `text` within `width` cells, of whole letters (a
    wide one is not halved, a combining mark stays with its letter)."""
    spans, total = split_graphemes(text)
    if total <= width:
        return text
    used = 0
    for start, _end, n in spans:
        if used + n > width:
            return text[:start]
        used += n
    return text


def last_cells(text: str, width: int) -> str:
    """The longest end of `text` within `width` cells, of whole letters."""
    spans, total = split_graphemes(text)
    if total <= width:
        return text
    used = 0
    for _start, end, n in reversed(spans):
        if used + n > width:
            return text[end:]
        used += n
    return text


# ---- words a shell reads back ------------------------------------------------------
# Shells: POSIX sh as dash, bash, ksh and zsh read it. No $'...' (bash, ksh and zsh read it; dash before
# 0.5.13 and POSIX before 2024 do not): a word with a character that cannot be printed as it is (a control
# character, an invisible or bidi format character, a byte that is not UTF-8) is made by printf from octal
# escapes, which every POSIX printf reads, inside double quotes.
_SHELL_SAFE = re.compile(r"[A-Za-z0-9@%+=:,./_-]+")


def shell_word(text: str) -> str:
    """`text` as one word a POSIX shell reads back byte for byte, written on one
    line of printable text: bare where that is safe (`run.db`), else in single
    quotes (`'my run.db'`, a quote as `'\\''`), else, for text with a
    character that cannot be shown as it is, `"$(printf '...')"` with that
    character's bytes in octal (`"$(printf 'a\\012b')"`). Text ending in a
    newline cannot be one such word (a command substitution drops trailing
    newlines): ValueError; `shell_command` writes it through a variable."""
    if _SHELL_SAFE.fullmatch(text):
        return text
    if text.isprintable():
        return "'" + text.replace("'", "'\\''") + "'"
    if text.endswith("\n"):
        raise ValueError("a word that ends in a newline cannot be one word on one line; use shell_command")
    return f'"$(printf {_printf_format(text)})"'


def _printf_format(text: str) -> str:
    """`text` as a printf format in single quotes that prints it: % doubled, a
    backslash doubled, each character that cannot be shown as its bytes in
    octal (a lone surrogate, as os.fsdecode makes of a byte that is not UTF-8,
    as that byte), a leading dash too."""
    out = []
    for i, ch in enumerate(text):
        if ch == "-" and i == 0:  # not an option to printf (bash's reads one)
            out.append("\\055")
        elif ch == "%":
            out.append("%%")
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("'\\''")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append("".join(f"\\{b:03o}" for b in ch.encode("utf-8", "surrogateescape")))
    return "'" + "".join(out) + "'"


def shell_command(*words: str) -> str:
    """The command line of `words`, one line a POSIX shell (sh/dash, bash, ksh,
    zsh) runs as exactly those words: each through `shell_word`, but for a
    word that ends in a newline, which goes through a variable first
    (`wood_arg1="$(printf 'run.db\\012_')"; wood sim --resume "${wood_arg1%_}"`)."""
    before, out = [], []
    for word in words:
        if word.endswith("\n"):
            var = f"wood_arg{len(before) + 1}"
            before.append(f'{var}="$(printf {_printf_format(word + "_")})"')
            out.append(f'"${{{var}%_}}"')
        else:
            out.append(shell_word(word))
    return "; ".join([*before, " ".join(out)])


def resume_command(command: str, path: object, seats: Sequence[str] = ()) -> str:
    """The line that resumes the save at `path` (as the user gave it) with
    `wood COMMAND`, for a POSIX shell (`shell_command`), with an `--as` for
    each of `seats` (the creatures to play, where `--resume` alone would seat
    others); a path or name that begins with a dash is joined to its flag
    (`--resume=-x.db`), else the flag would read it as one of its own."""
    words = ["wood", command]
    for flag, value in (("--resume", str(path)), *(("--as", s) for s in seats)):
        words += [f"{flag}={value}"] if value.startswith("-") else [flag, value]
    return shell_command(*words)


def shown_path(path: object) -> str:
    """A file's path as the user gave it, for a line of text: as it is where
    every character of it can be shown and none is a backslash (spaces and
    all: `my  run.db` is not `my run.db`), else with each that cannot be (a
    newline, an escape sequence's ESC, a bidi override, a byte that is not
    UTF-8) written as its escape, Python's way (`a\\nb.db`, `\\x1b[31m`,
    `\\u202e`, `\\xff`), and each backslash doubled, so that no escape can be
    mistaken for text: a path typed `a\\xff` (a backslash, x, f, f) is shown
    `a\\\\xff`, the path of the byte 0xff after `a` is `a\\xff`."""
    text = str(path)
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch.isprintable():
            out.append(ch)
        elif "\udc80" <= ch <= "\udcff":  # os.fsdecode's stand-in for a byte that is not UTF-8: that byte
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        else:
            out.append(ascii(ch)[1:-1])
    return "".join(out)


def json_path(path: object) -> str:
    """A file's path for a field of JSON (`wood sweep --json`, the sweep's
    sweep.json): as it is where it is text with no backslash (a newline or an
    ESC in it is escaped by the JSON itself, and read back whole), else as
    `shown_path` shows it: where it holds a byte that is not UTF-8 (Python's
    lone surrogate, which no valid JSON text can hold: it was written as a
    bare "\\udcff") that byte is `\\xff`, and a backslash is doubled, so that
    a path typed `a\\xff` is not read as that byte's (a value with a backslash
    in it is `shown_path`'s writing, one without is the path itself)."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return shown_path(text)
    return shown_path(text) if "\\" in text else text


def inert_lines(text: str) -> str:
    """Each line of `text` as it is where it is all printable (nothing in it a
    terminal obeys: runs of spaces in a path kept), else through `clean_text`."""
    return "\n".join(line if line.isprintable() else clean_text(line) for line in text.strip().split("\n"))


def shell_line(words: list[object]) -> str:
    """`shell_command` of a list of words (paths among them): one printable line a
    POSIX shell runs as exactly those words."""
    return shell_command(*(str(w) for w in words))
