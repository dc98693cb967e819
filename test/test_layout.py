"""The package's shape: no import circle, no module too long to read at once.

An import circle counts every import statement, at module level or inside a
function or an ``if TYPE_CHECKING:`` block: each is a dependency a reader has
to hold in mind, and a circle hidden in a function is still a circle.
``from package import submodule`` is an import of the submodule only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("motorlike", "synchro")
MAX_LINES = 500


def modules_under(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that the module ``name`` (file ``path``) imports, anywhere in it."""
    imported = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            submodules = {f"{base}.{alias.name}" for alias in node.names} & known.keys()
            imported |= submodules
            if base in known and len(submodules) < len(node.names):
                imported.add(base)
    imported.discard(name)
    return imported


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, directly or through others (Tarjan's SCC)."""
    order: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:
        order[module] = lowest[module] = len(order)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in order:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in stack:
                lowest[module] = min(lowest[module], order[imported])
        if lowest[module] == order[module]:
            group = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return circles


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    known = modules_under(root, packages)
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def test_no_import_circle():
    assert import_circles(import_graph(REPO, PACKAGES)) == []


@pytest.mark.parametrize(
    "files, circle",
    [
        # Plain, relative, inside a function, under TYPE_CHECKING: each closes a circle.
        ({"a.py": "import pkg.b", "b.py": "from pkg import a"}, ["pkg.a", "pkg.b"]),
        ({"a.py": "from .b import thing", "b.py": "from . import a"}, ["pkg.a", "pkg.b"]),
        ({"a.py": "import pkg.b", "b.py": "def f():\n    from pkg.c import x", "c.py": "import pkg.a"},
         ["pkg.a", "pkg.b", "pkg.c"]),
        ({"a.py": "import pkg.b", "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a"},
         ["pkg.a", "pkg.b"]),
        # The package's __init__ importing a name from a module that imports a name back.
        ({"__init__.py": "from pkg.a import x", "a.py": "from pkg import y"}, ["pkg", "pkg.a"]),
    ],
)
def test_the_walk_finds_a_circle(tmp_path, files, circle):
    (tmp_path / "pkg").mkdir()
    files = {"__init__.py": "", **files}
    for name, text in files.items():
        (tmp_path / "pkg" / name).write_text(text + "\n")
    assert import_circles(import_graph(tmp_path, ("pkg",))) == [circle]


def test_importing_a_submodule_from_the_package_is_not_a_circle(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("def __getattr__(name):\n    from pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("from pkg import c\n")
    (tmp_path / "pkg" / "c.py").write_text("x = 1\n")
    assert import_circles(import_graph(tmp_path, ("pkg",))) == []


def test_every_module_is_short_enough_to_read_at_once():
    too_long = {
        str(path.relative_to(REPO)): lines
        for path in modules_under(REPO, PACKAGES).values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert too_long == {}
