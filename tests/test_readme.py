"""The README has a section per command that matches the program: every flag
`wood CMD --help` lists is in `wood CMD`'s section (or the section it points
to for flags it shares), and every `wood ...` line in a section's examples
is one the parser takes."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from wood_tui.cli import COMMANDS, build_parser
from wood_tui.options import RUN_FLAGS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
# flags a section leaves to another's words: "the run flags are the same for sim, watch and play",
# "the price flags are wood report's"
SHARED = {**{(c, f.name): "sim" for c in ("play", "watch") for f in RUN_FLAGS},
          ("sweep", "--gpu-hour-price"): "report", ("sweep", "--mtok-price"): "report"}


def section(command: str) -> str:
    m = re.search(rf"^### `wood {command}`\n(.*?)(?=^##)", README, re.S | re.M)
    assert m, f"README has no section for wood {command}"
    return m.group(1)


def subparser(command: str):
    [sub] = [a for a in build_parser()._actions if a.dest == "command"]
    return sub.choices[command]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_flag_in_a_commands_help_is_in_its_readme_section(command):
    flags = sorted({o for a in subparser(command)._actions for o in a.option_strings if o.startswith("--")} - {"--help"})
    missing = [f for f in flags
               if not re.search(re.escape(f) + r"(?![\w-])", section(SHARED.get((command, f), command)))]
    assert not missing, f"wood {command} --help has {missing}; its README section does not say them"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_example_in_a_commands_readme_section_parses(command):
    parser = build_parser()
    lines = [shlex.split(line, comments=True) for block in re.findall(r"```bash\n(.*?)```", section(command), re.S)
             for line in block.replace("\\\n", " ").splitlines()]
    examples = [a[1:-1] if a[-1] == "&" else a[1:] for a in lines if a and a[0] == "wood" and "..." not in a]
    assert examples, f"wood {command}'s section has no example"
    for argv in examples:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"README example `wood {shlex.join(argv)}` is refused by the parser")
