"""What the wheel ships: the library, its stubs and py.typed; no build tools, no synchro."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.no_server
@pytest.mark.slow
def test_the_wheel_ships_the_library_only(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("motorlike-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.startswith("motorlike-")}
    assert top_level == {"motorlike"}
    assert "motorlike/py.typed" in names and "motorlike/core.pyi" in names
    assert not [name for name in names if "stubgen" in name or name.startswith(("synchro/", "tools/", "test/"))]
    # The embedded test server stays importable for users' own tests.
    assert "motorlike/testserver.py" in names


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
