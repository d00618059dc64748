"""A non-editable install carries the wood's data: the wheel built from this
tree holds the asset TOML files, the prompt templates, the .tcss, the rosters
and the vLLM configs, and the engine unpacked from it loads its world and
templates from there. Built offline from a copy of the tree, so no build/ or
*.egg-info lands in the repo."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("engine", "serve", "wood_tui", "assets")
DATA = ("assets/*.toml", "assets/prompts/*.txt", "wood_tui/styles/*.tcss",
        "serve/rosters/*.toml", "serve/vllm/*.yaml")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src)
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = work / "out"
    # offline, with the setuptools installed here (the test extras ask for one that builds wheels itself)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--disable-pip-version-check", "-q", "--wheel-dir", str(out), str(src)],
                          cwd=work, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    [built] = out.glob("thousand_token_wood-*.whl")
    return built


def test_the_wheel_holds_the_data_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for pattern in DATA:
        files = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob(pattern))
        assert files, f"nothing in the repo matches {pattern}"
        missing = [f for f in files if f not in names]
        assert not missing, f"not in the wheel: {missing}"
    for must in ("assets/goods.toml", "assets/creatures.toml", "assets/shocks.toml",
                 "assets/prompts/system.txt", "assets/prompts/user.txt", "wood_tui/styles/wood.tcss",
                 "serve/rosters/embedded.toml", "serve/rosters/vllm.toml"):
        assert must in names


def test_the_wheel_holds_every_module_and_the_command(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "wood = wood_tui.cli:main" in z.read(entry_points).decode()
    for pkg in PACKAGES:
        modules = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / pkg).rglob("*.py")
                         if "__pycache__" not in p.parts)
        assert f"{pkg}/__init__.py" in modules
        assert not [m for m in modules if m not in names], f"{pkg}: modules left out of the wheel"
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]


def test_the_unpacked_wheel_finds_its_world_and_templates(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import engine, engine.prompts as p, engine.world as w, serve.vllm as v, wood_tui, pathlib; "
            "world = w.load_world(); "
            "assert world.goods and p.SYSTEM.template and p.USER.template; "
            "print(pathlib.Path(engine.__file__).resolve().parent.parent, w.ASSETS, v.INSTALL_ROOT, "
            "pathlib.Path(wood_tui.__file__).parent / 'styles' / 'wood.tcss', "
            "v.resolve_config('serve/vllm/qwen2.5-0.5b.yaml'), sep='\\n')")
    # run from an empty folder, the unpacked wheel first on the path (before the editable install)
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    root, assets, install_root, tcss, vllm_yaml = (Path(line) for line in done.stdout.splitlines())
    assert root == site.resolve()
    assert assets == site.resolve() / "assets"
    assert install_root == site.resolve()
    assert tcss.is_file()
    assert vllm_yaml == site.resolve() / "serve" / "vllm" / "qwen2.5-0.5b.yaml"
    assert vllm_yaml.is_file()
