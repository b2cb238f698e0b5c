"""The house rules, checked: pure rules import no I/O library, services come from the app, modules stay small.

Read from the source tree (ast) and from a fresh interpreter, so a rule
broken anywhere in ``app/`` fails here with the module and line named.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "app"
MODULES = sorted(APP.rglob("*.py"))
IO_LIBRARIES = ("faust", "mode", "aiokafka", "aiohttp", "aiopg", "psycopg2", "redis")
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 40


def _name(path: Path) -> str:
    return ".".join(path.relative_to(APP.parent).with_suffix("").parts)


def test_pure_modules_import_no_io_library() -> None:
    pure = ["app.models"] + [_name(p) for p in sorted((APP / "domain").rglob("*.py"))]
    code = (
        "import importlib, sys\n"
        f"for name in {pure!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({IO_LIBRARIES!r})))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=APP.parent)
    assert loaded.stdout.strip() == "[]", f"app.models and app.domain pulled in {loaded.stdout.strip()}"


def test_no_two_modules_share_a_name() -> None:
    names = Counter(p.stem for p in MODULES if p.stem not in ("__init__", "__main__"))
    assert [name for name, n in names.items() if n > 1] == []


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{_name(path)} has {lines} lines: it is probably two modules"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_functions_stay_short(path: Path) -> None:
    tree = ast.parse(path.read_text())
    long = [
        f"{node.name} (line {node.lineno}, {node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"{_name(path)}: {', '.join(long)}"


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_services_are_reached_through_the_app_not_module_globals(path: Path) -> None:
    """Only the app class may be imported from app.app (for type hints); the entry points take the app itself."""
    allowed = {"LogpipeApp"} | ({"app"} if _name(path) in ("app.__main__", "app.cli.admin") else set())
    imported = {
        alias.name
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == "app.app"
        for alias in node.names
    }
    assert imported <= allowed, f"{_name(path)} imports {sorted(imported - allowed)} from app.app"


def test_importing_the_app_builds_no_connection() -> None:
    code = (
        "import asyncio, app.app as m\n"
        "services = m.app.services\n"
        "print(services.database._pool is None, services.validator is not None, asyncio.all_tasks.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=APP.parent)
    assert out.stdout.split()[:2] == ["True", "True"]
