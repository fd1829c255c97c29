"""The shape of the code (DESIGN 1): dependencies point one way, no import cycles, no imports hidden
inside functions to dodge one. `make lint` runs the same import-linter contracts."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("aep", "live", "plans", "memory_graph", "ops")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def test_import_linter_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_no_module_of_the_project_is_in_an_import_cycle(graph: grimp.ImportGraph) -> None:
    cycles = []
    for module in sorted(graph.modules):
        for imported in graph.find_modules_directly_imported_by(module):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain is not None:
                cycles.append((module, *chain))
    assert cycles == []


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    found = []
    tree = ast.parse(path.read_text())
    functions = (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    for function in functions:
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((node.lineno, node.module))
            elif isinstance(node, ast.Import):
                found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.split(".")[0] in PACKAGES]


def test_no_import_of_the_project_is_hidden_in_a_function() -> None:
    """Only `AppConfig.ready()` imports inside a function: Django loads apps before their modules
    may import models, which is why ready() exists."""
    hidden = []
    files = itertools.chain.from_iterable((ROOT / package).rglob("*.py") for package in PACKAGES)
    for path in files:
        if "migrations" in path.parts or path.name == "apps.py":
            continue
        hidden.extend(
            f"{path.relative_to(ROOT)}:{line} imports {name}" for line, name in _function_level_imports(path)
        )
    assert hidden == []


def test_live_knows_nothing_of_the_apps(graph: grimp.ImportGraph) -> None:
    for module in graph.find_descendants("live") | {"live"}:
        imported = graph.find_modules_directly_imported_by(module)
        assert not {m for m in imported if m.split(".")[0] in ("plans", "memory_graph")}, module


def test_only_settings_reads_the_environment() -> None:
    """Everything configurable is a setting, so tests can override it with `settings`."""
    readers = []
    for path in itertools.chain.from_iterable((ROOT / package).rglob("*.py") for package in PACKAGES[:-1]):
        if path.name == "settings.py" or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            reads = "os.environ" in line or "getenv(" in line
            if reads and 'os.environ.setdefault("DJANGO_SETTINGS_MODULE"' not in line:
                readers.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert readers == []
