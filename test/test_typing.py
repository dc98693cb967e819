"""Type checkers on typed user programs (test/typing/): mypy --strict and pyright (strict).

The programs use ``assert_type`` for what each checker must infer:
``find_one`` -> ``Doc | None``, ``to_list`` -> ``list[Doc]``, an ``async for``
item -> ``Doc``, ``insert_one`` -> ``InsertOneResult``, ``start_session`` ->
the framework's session class ... A wrong stub fails here. motorlike is found
as installed (the README's development install); ``motor`` through the alias
stubs in stubs/motor-stubs, as a user of the alias installs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_server

REPO = Path(__file__).resolve().parent.parent
PROGRAMS = sorted((REPO / "test" / "typing").glob("*.py"))


@pytest.fixture
def programs(tmp_path: Path) -> list[Path]:
    """Copies of the programs outside the repository, so that checkers find
    motorlike as installed, not as the source tree around test/typing/."""
    target = tmp_path / "programs"
    target.mkdir()
    return [Path(shutil.copy(program, target)) for program in PROGRAMS]


@pytest.fixture
def search_path(tmp_path: Path) -> Path:
    """A directory holding the alias stubs under their import name, ``motor``."""
    search = tmp_path / "search"
    search.mkdir()
    (search / "motor").symlink_to(REPO / "stubs" / "motor-stubs")
    return search


def test_mypy_strict_accepts_the_typed_programs(tmp_path: Path, search_path: Path, programs: list[Path]) -> None:
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install mypy)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MYPYPATH"] = str(search_path)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / ".cache"), *map(str, programs)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"no issues found in {len(PROGRAMS)} source files" in result.stdout


def _pyright() -> str | None:
    found = shutil.which("pyright", path=str(Path(sys.executable).parent)) or shutil.which("pyright")
    if found is None or shutil.which("node") is None:
        return None
    return found


def test_pyright_strict_accepts_the_typed_programs(tmp_path: Path, search_path: Path, programs: list[Path]) -> None:
    pyright = _pyright()
    if pyright is None:
        pytest.skip("pyright (pip install pyright) and Node.js are needed to run pyright")
    config = {"typeCheckingMode": "strict", "extraPaths": [str(search_path)], "reportMissingModuleSource": False}
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(config))
    result = subprocess.run(
        [pyright, "--pythonpath", sys.executable, "--outputjson", *map(str, programs)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    report = json.loads(result.stdout)
    problems = [
        f"{Path(d['file']).name}:{d['range']['start']['line'] + 1}: {d['message']}"
        for d in report["generalDiagnostics"]
        if d["severity"] in ("error", "warning")
    ]
    assert problems == [], "\n".join(problems)
    assert report["summary"]["filesAnalyzed"] == len(programs)


def test_the_checkers_catch_a_wrong_expectation(tmp_path: Path, search_path: Path) -> None:
    """The corpus can fail: a wrong assert_type is reported."""
    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install mypy)")
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "from typing_extensions import assert_type\n"
        "from motorlike.motor_asyncio import AsyncIOMotorClient\n"
        "async def main() -> None:\n"
        "    assert_type(await AsyncIOMotorClient().db.c.find_one(), int)\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / ".cache"), str(wrong)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert 'Expression is of type "dict[str, Any] | None", not "int"' in result.stdout, result.stdout


def _oldest_accepted_pymongo() -> str:
    """The lower bound of the package's PyMongo dependency (pyproject.toml)."""
    import re

    text = (REPO / "pyproject.toml").read_text()
    match = re.search(r'dependencies = \["pymongo>=([0-9.]+)', text)
    assert match, "pyproject.toml: no pymongo>=X dependency"
    return match.group(1)


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)  # type: ignore[call-overload]


@pytest.mark.slow
def test_stubs_agree_with_the_oldest_accepted_pymongo(tmp_path: Path, search_path: Path, programs: list[Path]) -> None:
    """A wheel of this tree, installed beside the oldest PyMongo accepted, type-checks the programs.

    (The newest is the one this environment runs: the tests above.)
    """
    oldest = _oldest_accepted_pymongo()
    venv = Path.home() / ".cache" / "motorlike" / f"typing-pymongo-{oldest}-py{sys.version_info[0]}{sys.version_info[1]}"
    python = venv / "bin" / "python"
    requirements = [f"pymongo=={oldest}.*", "mypy>=1.15", "typing_extensions", "tornado>=6,<7", "trio>=0.22"]
    ready = venv / "ready"
    if not ready.exists() or ready.read_text() != " ".join(requirements):
        shutil.rmtree(venv, ignore_errors=True)
        made = _run([sys.executable, "-m", "venv", str(venv)])
        assert made.returncode == 0, made.stderr
        installed = _run([str(python), "-m", "pip", "install", "-q", *requirements])
        if installed.returncode != 0:
            pytest.skip(f"could not install PyMongo {oldest} from the package index: {installed.stderr[-300:]}")
        ready.write_text(" ".join(requirements))
    wheel = _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(REPO)])
    assert wheel.returncode == 0, wheel.stderr
    version = _run([str(python), "-c", "import pymongo; print(pymongo.version)"])
    assert version.stdout.startswith(oldest + "."), version.stdout
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MYPYPATH"] = str(search_path)
    result = _run([str(python), "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / ".cache"), *map(str, programs)],
                  cwd=tmp_path, env=env)
    assert result.returncode == 0, f"PyMongo {version.stdout.strip()}:\n" + result.stdout + result.stderr
