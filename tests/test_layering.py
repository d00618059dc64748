"""The import contracts in pyproject.toml ([tool.importlinter]): imports run one
way, engine <- serve <- wood_tui, and neither engine nor serve imports textual.
The real tree keeps them; a copy of it with one forbidden import added breaks
the contract that forbids it (so lint-imports analyses what it is pointed at,
TYPE_CHECKING imports included)."""
from __future__ import annotations

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


def test_the_money_good_is_named_in_one_place():
    """The good a gift of money names, "coins" (and `1 coin`), is
    engine.world's COIN and COINS: the parser, the rules, the legal moves, the
    events' unit word and the play form had each compared with, or kept, their
    own copy of the word. No module but engine/world.py compares a value with
    the literal word or keeps it in a name of its own (a line of English that
    says coins is no copy of the concept)."""
    import ast

    words = {"coin", "coins"}
    found = []
    for pkg in ("engine", "serve", "wood_tui"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path == ROOT / "engine" / "world.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Compare):
                    operands = [node.left, *node.comparators]
                elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                    operands = [node.value]
                else:
                    continue
                if any(isinstance(o, ast.Constant) and o.value in words for o in operands):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, found
