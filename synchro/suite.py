"""PyMongo's test suite and the venv that runs it, fetched once and cached.

Everything comes from the package registry through pip: the suite is the
``test/`` directory of PyMongo's sdist for exactly the installed PyMongo
version; the venv gets that PyMongo plus the pytest versions the suite is
known to run with. Both live under ``~/.cache/motorlike/synchro/``
(``SYNCHRO_CACHE`` overrides), built under a lock, and are reused while
their recorded inputs are unchanged.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from motorlike.testserver import exclusive_file_lock

CACHE_ENV = "SYNCHRO_CACHE"

#: What the suite's venv gets besides PyMongo. pytest-asyncio 1.5 turns
#: every test of PyMongo 4.x's suite into an error; 1.3.0 works.
SUITE_REQUIREMENTS = (
    "pytest==9.0.2",
    "pytest-asyncio==1.3.0",
    "pytest-timeout==2.4.0",
    'importlib_metadata>=7.0; python_version < "3.13"',
)

#: Parts of the sdist a run needs. The package sources (pymongo/, gridfs/,
#: bson/) are left out on purpose: on sys.path they would shadow the
#: installed PyMongo.
SDIST_MEMBERS = ("test/", "pyproject.toml")


def cache_dir() -> pathlib.Path:
    configured = os.environ.get(CACHE_ENV)
    path = pathlib.Path(configured) if configured else pathlib.Path.home() / ".cache" / "motorlike" / "synchro"
    path.mkdir(parents=True, exist_ok=True)
    return path


def installed_pymongo_version() -> str:
    return importlib.metadata.version("pymongo")


def _log(message: str) -> None:
    print(f"[synchro] {message}", file=sys.stderr, flush=True)


def _run(command: list[str], what: str) -> None:
    _log(f"{what}: {' '.join(command)}")
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{what} failed ({completed.returncode}):\n{completed.stdout[-4000:]}")


def suite_dir(version: str | None = None) -> pathlib.Path:
    """The extracted suite for ``version`` (default: the installed PyMongo); fetched if missing.

    The directory holds ``test/`` and ``pyproject.toml`` (pytest's settings).
    """
    version = version or installed_pymongo_version()
    root = cache_dir()
    target = root / f"pymongo-{version}-suite"
    marker = target / ".synchro-complete"
    if marker.exists():
        return target
    with exclusive_file_lock(root / f".pymongo-{version}.lock"):
        if marker.exists():
            return target
        sdist = _download_sdist(version, root / "sdist")
        if target.exists():
            shutil.rmtree(target)
        partial = root / f"pymongo-{version}-suite.partial"
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir()
        prefix = f"pymongo-{version}/"
        with tarfile.open(sdist) as archive:
            members = []
            for member in archive.getmembers():
                if not member.name.startswith(prefix):
                    continue
                relative = member.name[len(prefix) :]
                if not relative.startswith(SDIST_MEMBERS):
                    continue
                if member.issym() or member.islnk() or ".." in pathlib.PurePosixPath(relative).parts:
                    continue
                member.name = relative
                members.append(member)
            try:
                archive.extractall(partial, members=members, filter="data")
            except TypeError:  # Python without extraction filters; members were vetted above
                archive.extractall(partial, members=members)
        if not (partial / "test" / "__init__.py").exists():
            raise RuntimeError(f"{sdist.name} has no test/ package")
        (partial / ".synchro-complete").write_text(json.dumps({"pymongo": version, "sdist": sdist.name}))
        partial.rename(target)
    return target


def _download_sdist(version: str, directory: pathlib.Path) -> pathlib.Path:
    existing = directory / f"pymongo-{version}.tar.gz"
    if existing.exists():
        return existing
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        _run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--no-binary", ":all:", f"pymongo=={version}", "-d", scratch,
            ],
            f"fetching PyMongo {version}'s sdist",
        )
        found = list(pathlib.Path(scratch).glob("pymongo-*.tar.gz"))
        if len(found) != 1:
            raise RuntimeError(f"expected one pymongo sdist, pip left {[p.name for p in pathlib.Path(scratch).iterdir()]}")
        os.replace(found[0], existing)
    return existing


def _tornado_requirement() -> str:
    try:
        return f"tornado=={importlib.metadata.version('tornado')}"
    except importlib.metadata.PackageNotFoundError:
        return "tornado>=6"


def venv_requirements(version: str | None = None) -> list[str]:
    version = version or installed_pymongo_version()
    return [f"pymongo=={version}", _tornado_requirement(), *SUITE_REQUIREMENTS]


def venv_dir(version: str | None = None) -> pathlib.Path:
    """A venv (same Python as this one) that can run the suite; built if missing."""
    version = version or installed_pymongo_version()
    python_tag = f"py{sys.version_info[0]}.{sys.version_info[1]}"
    root = cache_dir()
    target = root / f"venv-{python_tag}-pymongo-{version}"
    requirements = venv_requirements(version)
    marker = target / ".synchro-requirements.json"
    wanted = json.dumps({"python": sys.version, "requirements": requirements}, sort_keys=True)
    if marker.exists() and marker.read_text() == wanted:
        return target
    with exclusive_file_lock(root / f".venv-{python_tag}-{version}.lock"):
        if marker.exists() and marker.read_text() == wanted:
            return target
        if target.exists():
            shutil.rmtree(target)
        _run([sys.executable, "-m", "venv", str(target)], "creating the suite's venv")
        _run(
            [str(venv_python(target)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements],
            "installing the suite's requirements",
        )
        marker.write_text(wanted)
    return target


def venv_python(venv: pathlib.Path) -> pathlib.Path:
    return venv / "bin" / "python"


def source_path_dir() -> pathlib.Path:
    """A directory holding only ``motorlike`` and ``synchro`` (symlinks), for PYTHONPATH.

    The repository root itself cannot go on the path: its ``test`` package
    would compete with PyMongo's.
    """
    here = pathlib.Path(__file__).resolve().parent
    import motorlike

    packages = {"synchro": here, "motorlike": pathlib.Path(motorlike.__file__).resolve().parent}
    digest = hashlib.sha256("\0".join(str(p) for p in packages.values()).encode()).hexdigest()[:12]
    target = cache_dir() / f"path-{digest}"
    target.mkdir(exist_ok=True)
    for name, source in packages.items():
        link = target / name
        if link.is_symlink() and os.readlink(link) == str(source):
            continue
        temporary = target / f".{name}.{os.getpid()}"
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        temporary.symlink_to(source, target_is_directory=True)
        os.replace(temporary, link)
    return target
