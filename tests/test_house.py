"""The layout promises of ARCHITECTURE.md, checked on the source: `bot/` and `bench/`
use the core only through `model.__all__`, no module reaches for another's private
names, each shared constant has one definition, `import model` is cheap and changes
nothing, and what the code imports is declared in pyproject.toml."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import model

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("bot", "model", "bench")


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


@functools.cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_public_name_resolves_to_its_home() -> None:
    for name in model.__all__:
        value = getattr(model, name)
        home = importlib.import_module(model._HOMES[name])
        assert value is getattr(home, model._AS.get(name, name)), name


@pytest.mark.parametrize("folder", ["bot", "bench"])
def test_adapters_and_benchmarks_import_only_the_public_face(folder: str) -> None:
    public = set(model.__all__)
    wrong = []
    for path in sources(folder):
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("model."):
                    wrong.append(f"{path.name}: from {node.module} import ...")
                elif node.module == "model":
                    wrong += [f"{path.name}: {a.name}" for a in node.names if a.name not in public]
            elif isinstance(node, ast.Import):
                wrong += [f"{path.name}: import {a.name}" for a in node.names if a.name == "model"]
                wrong += [
                    f"{path.name}: import {a.name}"
                    for a in node.names
                    if a.name.startswith("model.")
                ]
    assert not wrong, wrong


def is_module(dotted: str) -> bool:
    return (ROOT / (dotted.replace(".", "/") + ".py")).is_file() or (
        ROOT / dotted.replace(".", "/") / "__init__.py"
    ).is_file()


def test_no_module_imports_another_modules_private_name() -> None:
    """`from x import _y`, or `x._y` on a project module imported as `x`."""
    wrong = []
    for path in sources(*PROJECT):
        here = module_name(path)
        modules: set[str] = set()  # local names bound to project modules
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top = node.module.split(".")[0]
                for a in node.names:
                    private = a.name.startswith("_") and not a.name.startswith("__")
                    if top in PROJECT and private and node.module != here:
                        wrong.append(f"{here}: from {node.module} import {a.name}")
                    if top in PROJECT and is_module(f"{node.module}.{a.name}"):
                        modules.add(a.asname or a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] in PROJECT and a.asname:
                        modules.add(a.asname)
        for node in ast.walk(tree(path)):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                wrong.append(f"{here}: {node.value.id}.{node.attr}")
    assert not wrong, wrong


def literal_definitions(value: object) -> list[str]:
    """Where `value` is written as a literal in bot/ and model/ (docstrings aside)."""
    found = set()
    for path in sources("bot", "model"):
        nodes = list(ast.walk(tree(path)))
        docstrings = {
            id(n.body[0].value)
            for n in nodes
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body
            and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)
        }
        for n in nodes:
            if (isinstance(n, ast.Constant) and id(n) not in docstrings and n.value == value) or (
                isinstance(n, ast.Tuple)
                and all(isinstance(e, ast.Constant) for e in n.elts)
                and tuple(e.value for e in n.elts) == value
            ):
                found.add(f"{path.relative_to(ROOT)}:{n.lineno}")
    return sorted(found)


@pytest.mark.parametrize(
    "value, home",
    [
        (("elbow", "clusters", "profiles"), "model/charts/__init__.py"),
        ("text.npy", "model/versions/version.py"),
        ("@row", "model/data/ids.py"),
    ],
)
def test_each_shared_constant_is_written_once(value: object, home: str) -> None:
    found = literal_definitions(value)
    assert len(found) == 1 and found[0].startswith(home + ":"), found


def test_importing_model_is_cheap_and_changes_nothing() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = (
        "import os, sys; import model; "
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('pandas', 'sklearn', 'matplotlib', 'scipy', 'pyarrow', 'sqlalchemy')]; "
        "print(heavy, os.environ.get('OMP_WAIT_POLICY'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["[]", "None"]


def test_every_third_party_import_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {
        d.split(";")[0].split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        for d in project["dependencies"]
        + [
            d
            for extra, ds in project["optional-dependencies"].items()
            if extra != "dev"
            for d in ds
        ]
    }
    declared = {d.replace("_", "-") for d in declared}
    distributions = importlib.metadata.packages_distributions()
    stdlib = sys.stdlib_module_names
    missing = set()
    for path in sources("bot", "model"):
        for node in ast.walk(tree(path)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top in PROJECT or top == "__future__":
                    continue
                dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                if not dists & declared:
                    missing.add(f"{top} ({path.relative_to(ROOT)})")
    assert not missing, sorted(missing)
