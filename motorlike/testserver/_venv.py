"""The server's own venv: a Python >= 3.13 found (pyenv's too), mongoeco
installed in a venv built once and cached, shared safely between processes.

Only the standard library is imported: the test suite and the examples import
this package before anything talks to a server.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
from typing import Iterator

MONGOECO_VERSION = "4.11.0"

# What the server venv gets. PyMongo is pinned too because mongoeco uses its
# bson package internally: a new PyMongo must not change the server under us.
SERVER_REQUIREMENTS = (f"mongoeco[wire]=={MONGOECO_VERSION}", "pymongo==4.20.0")

MINIMUM_SERVER_PYTHON = (3, 13)

TEST_URI_ENV = "MOTORLIKE_TEST_URI"
SERVER_PYTHON_ENV = "MOTORLIKE_SERVER_PYTHON"
SERVER_VENV_ENV = "MOTORLIKE_SERVER_VENV"

# Written last by ensure_server_venv: a venv without it is unfinished.
READY_MARKER_NAME = ".motorlike-server-ready"

PIP_INSTALL_TIMEOUT = 1800.0


def _python_version(executable: str) -> tuple[int, int] | None:
    """The (major, minor) of an interpreter, or None if it does not run.

    Run rather than trusted by name: a pyenv shim on PATH may exist for a
    version that pyenv does not currently select.
    """
    try:
        completed = subprocess.run(
            [executable, "-I", "-c", "import sys; print(*sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if completed.returncode != 0:
        return None
    try:
        major, minor = (int(part) for part in completed.stdout.split())
    except ValueError:
        return None
    return major, minor


def _pyenv_root() -> pathlib.Path | None:
    if os.environ.get("PYENV_ROOT"):
        return pathlib.Path(os.environ["PYENV_ROOT"])
    pyenv = shutil.which("pyenv")
    if pyenv:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            completed = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30)
            if completed.returncode == 0 and completed.stdout.strip():
                return pathlib.Path(completed.stdout.strip())
    default_root = pathlib.Path.home() / ".pyenv"
    return default_root if default_root.is_dir() else None


def _pyenv_pythons() -> list[str]:
    root = _pyenv_root()
    if root is None:
        return []

    def version_key(path: pathlib.Path) -> tuple[int, ...]:
        return tuple(int(number) for number in re.findall(r"\d+", path.parents[1].name))

    found = sorted(root.glob("versions/3.1[3-9]*/bin/python"), key=version_key)
    return [str(path) for path in found]


def find_server_python() -> tuple[str, tuple[int, int]]:
    """A Python >= 3.13 to build the server venv with, and its version.

    Looked for in order: ``MOTORLIKE_SERVER_PYTHON``; this interpreter;
    ``python3.13`` ... ``python3.19`` and ``python3`` on PATH;
    ``$(pyenv root)/versions/3.1[3-9]*/bin/python``.
    """
    explicit = os.environ.get(SERVER_PYTHON_ENV)
    if explicit:
        version = _python_version(explicit)
        if version is None or version < MINIMUM_SERVER_PYTHON:
            raise RuntimeError(
                f"{SERVER_PYTHON_ENV}={explicit!r} is not a working Python >= 3.13 "
                f"(found version {version}); mongoeco {MONGOECO_VERSION} needs 3.13+"
            )
        return explicit, version

    names = [f"python3.{minor}" for minor in range(MINIMUM_SERVER_PYTHON[1], 20)] + ["python3"]
    candidates = [sys.executable] + [path for path in map(shutil.which, names) if path]
    candidates += _pyenv_pythons()
    for candidate in candidates:
        version = _python_version(candidate)
        if version is not None and version >= MINIMUM_SERVER_PYTHON:
            return candidate, version
    tried = ", ".join(candidates) or "none found"
    raise RuntimeError(
        "The embedded test server (mongoeco) needs Python >= 3.13, and none was found "
        f"(tried: {tried}). Install one (e.g. `pyenv install 3.13`), point "
        f"{SERVER_PYTHON_ENV} at it, or set {TEST_URI_ENV} to use an existing MongoDB server."
    )


def _venv_python(venv: pathlib.Path) -> pathlib.Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _default_venv_dir(python_version: tuple[int, int]) -> pathlib.Path:
    cache_home = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    major, minor = python_version
    return cache_home / "motorlike" / f"mongoeco-{MONGOECO_VERSION}-py{major}.{minor}"


def _expected_marker_text() -> str:
    # Listing the requirements in the marker makes a change of pin rebuild
    # an explicitly configured venv instead of silently reusing it.
    return json.dumps({"requirements": list(SERVER_REQUIREMENTS)}, sort_keys=True)


def _venv_is_ready(venv: pathlib.Path) -> bool:
    marker = venv / READY_MARKER_NAME
    try:
        marker_text = marker.read_text(encoding="utf-8")
    except OSError:
        return False
    return marker_text == _expected_marker_text() and _venv_python(venv).exists()


@contextlib.contextmanager
def exclusive_file_lock(lock_path: pathlib.Path) -> Iterator[None]:
    """Hold an exclusive lock (e.g. between pytest-xdist workers building one venv)."""
    try:
        import fcntl
    except ImportError:  # Windows: no fcntl; building concurrently is the user's risk there.
        yield
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _run_install_step(command: list[str], what: str) -> None:
    try:
        completed = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PIP_INSTALL_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{what} timed out after {PIP_INSTALL_TIMEOUT:.0f}s: {' '.join(command)}") from error
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr).strip()
        raise RuntimeError(
            f"{what} failed (exit {completed.returncode}): {' '.join(command)}\n{output[-4000:]}"
        )


def _build_venv(venv: pathlib.Path, python: str) -> None:
    if venv.exists():
        # Leftover of an interrupted build (no ready marker): start afresh, but
        # never wipe a directory that is not a venv, whatever the env var says.
        if any(venv.iterdir()) and not (venv / "pyvenv.cfg").exists():
            raise RuntimeError(f"{venv} exists and is not a venv; refusing to replace it")
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run_install_step(
        [python, "-m", "venv", str(venv)],
        f"creating the server venv with {python} (on Debian, python3.13-venv may be missing)",
    )
    _run_install_step(
        [
            str(_venv_python(venv)),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            *SERVER_REQUIREMENTS,
        ],
        f"installing {', '.join(SERVER_REQUIREMENTS)} into {venv}",
    )
    (venv / READY_MARKER_NAME).write_text(_expected_marker_text(), encoding="utf-8")


def ensure_server_venv() -> pathlib.Path:
    """The venv that runs the server, built on first use and cached.

    Idempotent: a ready marker is written only after pip succeeded, so an
    interrupted build is redone. A file lock next to the venv keeps two
    processes from building it at once; the second waits and reuses it.
    """
    explicit = os.environ.get(SERVER_VENV_ENV)
    if explicit:
        venv = pathlib.Path(explicit).expanduser()
        if _venv_is_ready(venv):
            return venv
        python = None
    else:
        python, python_version = find_server_python()
        venv = _default_venv_dir(python_version)
        if _venv_is_ready(venv):
            return venv

    lock_path = venv.with_name(venv.name + ".lock")
    with exclusive_file_lock(lock_path):
        # Another process may have finished the build while we waited.
        if _venv_is_ready(venv):
            return venv
        if python is None:
            python, _ = find_server_python()
        _build_venv(venv, python)
    return venv


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------
