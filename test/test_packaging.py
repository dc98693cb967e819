"""What the wheel ships: the library, its stubs and py.typed; no build tools, no synchro."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _source_files() -> list[str]:
    """The checkout's files as a clean clone has them (tracked, or new and not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    if listed.returncode != 0:
        pytest.skip(f"listing the checkout's files needs git: {listed.stderr.strip()}")
    return [name for name in listed.stdout.split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built, as the README's Install section builds one, from a copy of the
    checkout's own files: a stale build/ directory left by an earlier build (setuptools
    reuses it) must not decide what this test sees."""
    source = tmp_path_factory.mktemp("source")
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (found,) = out.glob("motorlike-*.whl")
    return found


@pytest.mark.no_server
@pytest.mark.slow
def test_the_wheel_ships_the_library_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.startswith("motorlike-")}
    assert top_level == {"motorlike"}
    assert "motorlike/py.typed" in names and "motorlike/core.pyi" in names
    assert not [name for name in names if "stubgen" in name or name.startswith(("synchro/", "tools/", "test/"))]
    # The embedded test server stays importable for users' own tests.
    assert "motorlike/testserver/__init__.py" in names and "motorlike/testserver/__main__.py" in names
    # Exactly the package's own files: nothing stale, nothing left out.
    shipped = {name for name in names if name.startswith("motorlike/")}
    ours = {name for name in _source_files() if name.startswith("motorlike/")}
    assert shipped == ours, (sorted(shipped - ours), sorted(ours - shipped))


def _public_modules(wheel: Path) -> list[str]:
    """Every module of the wheel whose name has no part starting with "_" (packages included)."""
    modules = []
    for name in zipfile.ZipFile(wheel).namelist():
        if not name.endswith(".py"):
            continue
        parts = name[: -len(".py")].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            modules.append(".".join(parts))
    return sorted(modules)


@pytest.mark.slow
def test_the_wheel_installs_in_a_fresh_environment_and_runs_an_example(
    wheel: Path, tmp_path: Path, server_uri: str
) -> None:
    """As a user without the repository would: a new venv, the wheel with its extras,
    every public module imported, the quickstart run (on this run's test server)."""
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", f"{wheel}[tornado,aiohttp,trio]"],
        capture_output=True, text=True, timeout=900,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    outside = dict(os.environ, MOTORLIKE_TEST_URI=server_uri)
    outside.pop("PYTHONPATH", None)
    modules = _public_modules(wheel)
    assert {"motorlike", "motorlike.motor_asyncio", "motorlike.motor_trio", "motorlike.web"} <= set(modules)
    program = (
        "import importlib, pathlib\n"
        f"for name in {modules!r}:\n"
        "    module = importlib.import_module(name)\n"
        "    assert 'site-packages' in pathlib.Path(module.__file__).parts, module.__file__\n"
        "print('imported', len(" + repr(modules) + "))\n"
    )
    imported = subprocess.run(
        [str(python), "-c", program], cwd=tmp_path, env=outside, capture_output=True, text=True, timeout=300
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == f"imported {len(modules)}"
    example = Path(shutil.copy(REPO / "examples" / "quickstart.py", tmp_path))
    ran = subprocess.run(
        [str(python), str(example)], cwd=tmp_path, env=outside, capture_output=True, text=True, timeout=300
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "inserted 3 orders" in ran.stdout, ran.stdout


def _documented_commands() -> list[tuple[str, str]]:
    """(file, line) for every command line in the README, doc/*.md, tox.ini and .ci/run."""
    files = [REPO / "README.md", *sorted((REPO / "doc").glob("*.md")), REPO / "tox.ini", REPO / ".ci" / "run"]
    return [
        (path.relative_to(REPO).as_posix(), line.strip())
        for path in files
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


@pytest.mark.no_server
def test_every_documented_editable_install_keeps_type_checkers_working() -> None:
    """``pip install -e`` without ``editable_mode=compat`` hides motorlike from mypy
    and pyright (setuptools' import hook), and test_typing.py then fails."""
    editable = [(page, line) for page, line in _documented_commands() if re.search(r"pip install .*(-e|--editable) ", line)]
    assert len(editable) >= 3, editable  # README's two, .ci/run's
    lacking = [f"{page}: {line}" for page, line in editable if "editable_mode=compat" not in line]
    assert lacking == [], "\n".join(lacking)


def _extras() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs tomllib (Python 3.11+)")
    with open(REPO / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]["optional-dependencies"]


@pytest.mark.no_server
@pytest.mark.parametrize("extra", ["tornado", "aiohttp", "trio"])
def test_the_docs_extra_has_what_every_reference_page_imports(extra: str) -> None:
    """doc/api/ documents motor_tornado, web, aiohttp and motor_trio: building the
    docs from the docs extra alone (tox -e docs, a fresh venv) needs their extras."""
    extras = _extras()
    assert set(extras[extra]) <= set(extras["docs"]), (extra, extras[extra], extras["docs"])


@pytest.mark.parametrize(
    "module, missing, extra",
    [
        ("motorlike.motor_tornado", "tornado", "motorlike[tornado]"),
        ("motorlike.motor_trio", "trio", "motorlike[trio]"),
        ("motorlike.aiohttp", "aiohttp", "motorlike[aiohttp]"),
    ],
)
def test_a_missing_extra_is_named(module: str, missing: str, extra: str) -> None:
    """Without its optional dependency, a module says which extra to install."""
    import subprocess
    import sys

    program = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {missing!r} or name.startswith({missing + '.'!r}):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "try:\n"
        f"    import {module}\n"
        "except ModuleNotFoundError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert extra in result.stdout, result.stdout + result.stderr
