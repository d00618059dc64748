"""The import contracts in pyproject.toml ([tool.importlinter]): imports run one
way, engine <- serve <- wood_tui, and neither engine nor serve imports textual.
The real tree keeps them; a copy of it with one forbidden import added breaks
the contract that forbids it (so lint-imports analyses what it is pointed at,
TYPE_CHECKING imports included)."""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "serve", "wood_tui", "assets")
LAYERS = "layers: engine <- serve <- wood_tui"
ENGINE = "engine imports no serve, wood_tui or textual"
SERVE = "serve imports no wood_tui or textual"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    # lint-imports finds the root packages on sys.path: the folder it runs in
    # first, so a copy is analysed and not the editable install
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([str(exe), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_tree_keeps_every_contract():
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in (LAYERS, ENGINE, SERVE):
        assert f"{name} KEPT" in done.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("tree")
    shutil.copy2(ROOT / "pyproject.toml", dst)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, dst / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


TYPE_CHECKING_SERVE = """
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from serve.roster import Roster
"""


# `broken`: the contracts this import must break (an engine module's import also
# reaches serve, whose imports of engine count too); `kept`: those it cannot touch.
@pytest.mark.parametrize(("module", "added", "imported", "broken", "kept"), [
    ("engine/world.py", "import wood_tui\n", "wood_tui", {LAYERS, ENGINE}, set()),
    ("engine/runner.py", "import textual.app\n", "textual", {ENGINE}, {LAYERS}),
    ("engine/rules.py", TYPE_CHECKING_SERVE, "serve.roster", {LAYERS, ENGINE}, set()),
    ("serve/health.py", "from wood_tui import app\n", "wood_tui", {LAYERS, SERVE}, {ENGINE}),
    ("serve/vllm.py", "import textual\n", "textual", {SERVE}, {LAYERS, ENGINE}),
], ids=["engine-imports-ui", "engine-imports-textual", "engine-type-checking-serve",
        "serve-imports-ui", "serve-imports-textual"])
def test_a_forbidden_import_breaks_its_contract(tree_copy, tmp_path, module, added, imported, broken, kept):
    tree = tmp_path / "tree"
    shutil.copytree(tree_copy, tree)
    path = tree / module
    path.write_text(path.read_text(encoding="utf-8") + added, encoding="utf-8")
    done = _lint_imports(tree)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    for name in broken:
        assert f"{name} BROKEN" in out, out
    for name in kept:
        assert f"{name} KEPT" in out, out
    importer = module.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {imported}" in out, out


# Where "coins" or "coin" is written out and is not the good a gift of money
# names, by module and the name it is kept in or passed to (else the code's text):
# the test names each, so a new copy of the money's word is not one of them.
NOT_THE_MONEY_GOOD = {
    ("wood_tui/widgets/standings.py", "COLUMNS"): "the table's column keys: a Standing's fields, its coins one",
    ("wood_tui/widgets/standings.py", "SCORE_FIRST"): "the same keys, in a narrow pane's order",
    ("wood_tui/widgets/creature_panel.py", '("coins", "coins", 5)'): "the coins column: its label and a card's field",
    ("wood_tui/plots.py", "_line_file"): "the worth chart's axis label, English as 'coins per unit' beside it",
}


def _money_words(tree: ast.Module, src: str) -> list[tuple[int, str]]:
    """Each place in `tree` that compares with, keeps, lists or passes the
    literal "coins" or "coin": its line and where (see NOT_THE_MONEY_GOOD). The
    noun of `counted(n, "coin")` is English (`3 coins`), as `counted(n, "round")` is."""
    words = {"coin", "coins"}
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            operands = [node.value]
        elif isinstance(node, ast.Tuple | ast.List | ast.Set):
            operands = node.elts
        elif isinstance(node, ast.Call):
            callee = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            noun = [a for a in node.args[1:2] if callee == "counted" and isinstance(a, ast.Constant) and a.value == "coin"]
            operands = [a for a in (*node.args, *(k.value for k in node.keywords)) if a not in noun]
        else:
            continue
        if not any(isinstance(o, ast.Constant) and o.value in words for o in operands):
            continue
        up = parents.get(node)
        if isinstance(node, ast.Call):
            where = callee
        elif isinstance(up, ast.Assign) and len(up.targets) == 1 and isinstance(up.targets[0], ast.Name):
            where = up.targets[0].id
        else:
            where = ast.get_source_segment(src, node) or ""
        found.append((node.lineno, where))
    return found


def test_the_money_good_is_named_in_one_place():
    """The good a gift of money names, "coins" (and `1 coin`), is
    engine.world's COIN and COINS: the parser, the rules, the legal moves, the
    events' unit word and the play form had each compared with, or kept, their
    own copy of the word. No module but engine/world.py compares a value with
    the literal word, keeps it in a name of its own, lists it (`(*goods,
    "coins")`) or passes it (`_str(["coins"])`), but where NOT_THE_MONEY_GOOD
    says it is something else (a line of English that says coins is no copy of
    the concept)."""
    found, exempt = [], set()
    for pkg in ("engine", "serve", "wood_tui"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path == ROOT / "engine" / "world.py":
                continue
            src = path.read_text(encoding="utf-8")
            module = path.relative_to(ROOT).as_posix()
            for line, where in _money_words(ast.parse(src), src):
                if (module, where) in NOT_THE_MONEY_GOOD:
                    exempt.add((module, where))
                else:
                    found.append(f"{module}:{line} {where}")
    assert not found, found
    assert exempt == set(NOT_THE_MONEY_GOOD), set(NOT_THE_MONEY_GOOD) - exempt  # none left that names nothing


@pytest.mark.parametrize(("src", "where"), [
    ('known = (*goods, "coins")\n', 'known'),
    ('good = _str(["coins"])\n', '["coins"]'),
    ('use({*goods, "coin"})\n', '{*goods, "coin"}'),
    ('have = v.holding("coins")\n', 'holding'),
    ('say(counted(n, "coin"))\n', None),
    ('say(counted(n, "coins"))\n', 'counted'),
    ('say("not enough coins")\n', None),
], ids=["tuple", "call-list", "set", "call", "counted-noun", "counted-plural", "english"])
def test_a_copy_of_the_money_good_is_found(src, where):
    found = _money_words(ast.parse(src), src)
    assert [w for _, w in found] == ([where] if where else [])
