"""Run mongomotor 0.16.2's own test suite on motorlike (or on Motor 3.7.1).

mongomotor extends Motor the way Motor extends PyMongo: it subclasses
Motor's agnostic classes and attribute factories (doc/extending.md). Its
last release built on Motor is 0.16.2; its tests are not in the sdist, so
they are read from its git repository at tag v0.16.2 (``--source``: a clone
or a bare mirror; default ``$MONGOMOTOR_SOURCE``, then the search tool's
mirror under /work/.mirror). Nothing of theirs is kept in this repository:
the tests are extracted into the cache directory
(``~/.cache/motorlike/mongomotor``, ``$MONGOMOTOR_SUITE_CACHE`` overrides).

Each driver gets a venv there, made with the Python running this script:

* ``motorlike``: mongomotor 0.16.2 (without its dependency on Motor),
  mongoengine 0.27.0, PyMongo as installed here, and this checkout's
  motorlike on the path; the suite's conftest calls
  ``motorlike.install_motor_alias()``, as a mongomotor user would;
* ``motor``: the same with Motor 3.7.1 instead, for the baseline.

Both get the same conftest (ours, written next to their tests/): mongoengine
0.27 imports ``pymongo.database._check_name``, which PyMongo 4.9 moved, so it
puts it back; and the suite connects to an embedded test server
(``motorlike.testserver``) or ``$MOTORLIKE_TEST_URI``, through its own
``MONGOMOTOR_TEST_DB_HOST``/``_PORT`` and, for the tests that call
``connect()`` with no address, mongoengine's default host and port.

    .venv/bin/python -m tools.run_mongomotor_suite                  # motorlike
    .venv/bin/python -m tools.run_mongomotor_suite --driver motor   # Motor 3.7.1
    .venv/bin/python -m tools.run_mongomotor_suite --driver both    # both, and the tests whose outcome differs

It prints the counts and the failing tests, and writes the outcomes as JSON
(``results-<driver>.json`` in the cache directory) for comparison.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import urllib.parse
import xml.etree.ElementTree as ElementTree

from motorlike.testserver import exclusive_file_lock, server_uri

MONGOMOTOR_VERSION = "0.16.2"
TAG = "v0.16.2"
MOTOR_VERSION = "3.7.1"
#: mongomotor's own pins where they still install (mongoengine 0.27.x is the
#: series it was released against; 0.28 changed the queryset internals it patches).
COMMON_REQUIREMENTS = (
    "mongoengine==0.27.0",
    "asyncblink==0.3.2",
    "blinker==1.5",  # asyncblink 0.3 imports what blinker 1.8 removed
    "pytest>=8",
    "pytest-timeout>=2.3",
)
#: Where the search tool's ``fetch`` leaves a mirror of mongomotor's repository.
DEFAULT_MIRROR = pathlib.Path("/work/.mirror/jucacrispim+mongomotor/repo")
ROOT = pathlib.Path(__file__).resolve().parent.parent

#: The suite's conftest (ours, written next to their tests/ at each run).
CONFTEST = '''\
"""Written by motorlike's tools/run_mongomotor_suite.py; not part of mongomotor."""
import os

import pymongo.database
from pymongo.database_shared import _check_name

# mongoengine 0.27 imports it from pymongo.database, where PyMongo < 4.9 had it.
pymongo.database._check_name = _check_name

import mongoengine.connection

# The suite's connect() without a host means a mongod on localhost:27017:
# the test server's address instead.
mongoengine.connection.DEFAULT_HOST = os.environ["MONGOMOTOR_TEST_DB_HOST"]
mongoengine.connection.DEFAULT_PORT = int(os.environ["MONGOMOTOR_TEST_DB_PORT"])

if os.environ["MONGOMOTOR_SUITE_DRIVER"] == "motorlike":
    import motorlike

    motorlike.install_motor_alias()
    import motor

    assert motor.__name__ == "motorlike", motor
'''


def _log(message: str) -> None:
    print(f"[mongomotor-suite] {message}", file=sys.stderr, flush=True)


def cache_dir() -> pathlib.Path:
    configured = os.environ.get("MONGOMOTOR_SUITE_CACHE")
    path = pathlib.Path(configured) if configured else pathlib.Path.home() / ".cache" / "motorlike" / "mongomotor"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(command: list[str], what: str) -> None:
    _log(f"{what}: {' '.join(command)}")
    completed = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"{what} failed ({completed.returncode}):\n{completed.stdout[-4000:]}")


def _git_dir(source: pathlib.Path) -> pathlib.Path:
    """The git directory of a clone (``source/.git``) or of a bare mirror (``source``)."""
    if (source / ".git").exists():
        return source / ".git"
    if (source / "HEAD").exists() and (source / "objects").exists():
        return source
    raise SystemExit(f"{source} is not a git repository of mongomotor")


def suite_dir(source: pathlib.Path | None) -> pathlib.Path:
    """mongomotor's tests/ at TAG, extracted once into the cache directory."""
    target = cache_dir() / f"suite-{TAG}"
    if (target / "tests" / "__init__.py").exists():
        return target
    if source is None:
        configured = os.environ.get("MONGOMOTOR_SOURCE")
        source = pathlib.Path(configured) if configured else DEFAULT_MIRROR
    if not source.exists():
        raise SystemExit(
            "mongomotor's tests are not in its sdist: pass --source with a clone of its repository "
            f"(git clone https://github.com/jucacrispim/mongomotor; tag {TAG}) or set MONGOMOTOR_SOURCE"
        )
    archive = subprocess.run(
        ["git", f"--git-dir={_git_dir(source)}", "archive", "--format=tar", TAG, "tests"],
        stdout=subprocess.PIPE,
        check=True,
    ).stdout
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(partial, filter="data")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def requirements(driver: str) -> list[str]:
    pymongo = importlib.metadata.version("pymongo")
    tornado = importlib.metadata.version("tornado")
    wanted = [f"pymongo=={pymongo}", f"tornado=={tornado}", *COMMON_REQUIREMENTS]
    if driver == "motor":
        wanted.append(f"motor=={MOTOR_VERSION}")
    return wanted


def venv_dir(driver: str) -> pathlib.Path:
    """A venv with mongomotor 0.16.2 and what it needs for ``driver``; built when missing."""
    tag = f"py{sys.version_info[0]}.{sys.version_info[1]}"
    target = cache_dir() / f"venv-{driver}-{tag}"
    wanted = json.dumps({"python": sys.version, "requirements": requirements(driver)}, sort_keys=True)
    marker = target / ".requirements.json"
    with exclusive_file_lock(cache_dir() / f".venv-{driver}.lock"):
        if marker.exists() and marker.read_text() == wanted:
            return target
        shutil.rmtree(target, ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(target)], f"creating the {driver} venv")
        python = str(target / "bin" / "python")
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run([*pip, *requirements(driver)], "installing the suite's requirements")
        # Without its dependencies: they are above, and on motorlike there is no Motor.
        _run([*pip, "--no-deps", f"mongomotor=={MONGOMOTOR_VERSION}"], "installing mongomotor")
        marker.write_text(wanted)
    return target


def _motorlike_path() -> pathlib.Path:
    """A directory holding only a ``motorlike`` symlink to this checkout's package (for PYTHONPATH)."""
    target = cache_dir() / "path"
    target.mkdir(exist_ok=True)
    link = target / "motorlike"
    source = ROOT / "motorlike"
    if not (link.is_symlink() and os.readlink(link) == str(source)):
        temporary = target / f".motorlike.{os.getpid()}"
        temporary.symlink_to(source, target_is_directory=True)
        os.replace(temporary, link)
    return target


def outcomes_from_junit(path: pathlib.Path) -> dict[str, str]:
    """test id -> passed / failed / error / skipped, from pytest's JUnit XML."""
    outcomes: dict[str, str] = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed"}.get(child.tag, child.tag)
        outcomes[name] = outcome
    return outcomes


def run_suite(driver: str, uri: str, suite: pathlib.Path, pytest_args: list[str]) -> dict[str, str]:
    venv = venv_dir(driver)
    (suite / "conftest.py").write_text(CONFTEST)
    address = urllib.parse.urlsplit(uri)
    environment = {
        **os.environ,
        "MONGOMOTOR_SUITE_DRIVER": driver,
        "MONGOMOTOR_TEST_DB_HOST": address.hostname or "127.0.0.1",
        "MONGOMOTOR_TEST_DB_PORT": str(address.port or 27017),
    }
    if driver == "motorlike":
        environment["PYTHONPATH"] = str(_motorlike_path())
    else:
        environment.pop("PYTHONPATH", None)
    report = cache_dir() / f"junit-{driver}.xml"
    command = [
        str(venv / "bin" / "python"), "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider",
        # A hung test must not hang the run; none takes more than seconds.
        "--timeout=120", f"--junitxml={report}",
        # pytest's own rendering of some of their tracebacks fails on Python
        # 3.11 ("AST constructor recursion depth mismatch") and ends the run.
        "--tb=native", *pytest_args,
    ]
    _log(f"running mongomotor {MONGOMOTOR_VERSION}'s suite on {driver}")
    completed = subprocess.run(command, cwd=suite, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    (cache_dir() / f"output-{driver}.txt").write_text(completed.stdout)
    if not report.exists():
        raise SystemExit(f"pytest wrote no report ({completed.returncode}):\n{completed.stdout[-4000:]}")
    outcomes = outcomes_from_junit(report)
    (cache_dir() / f"results-{driver}.json").write_text(json.dumps(outcomes, indent=1, sort_keys=True))
    return outcomes


def summary(driver: str, outcomes: dict[str, str]) -> str:
    counts = {kind: sum(1 for value in outcomes.values() if value == kind) for kind in ("passed", "failed", "error", "skipped")}
    failing = sorted(name for name, value in outcomes.items() if value in ("failed", "error"))
    lines = [f"{driver}: {counts['passed']} passed, {counts['failed'] + counts['error']} failed, {counts['skipped']} skipped (of {len(outcomes)})"]
    lines += [f"  {outcomes[name]}: {name}" for name in failing]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--driver", choices=("motorlike", "motor", "both"), default="motorlike")
    parser.add_argument("--source", type=pathlib.Path, help="a clone or mirror of mongomotor's git repository")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --), e.g. -k gridfs")
    arguments = parser.parse_args(argv)
    suite = suite_dir(arguments.source)
    drivers = ("motor", "motorlike") if arguments.driver == "both" else (arguments.driver,)
    results = {}
    with server_uri() as uri:
        for driver in drivers:
            results[driver] = run_suite(driver, uri, suite, arguments.pytest_args)
    for driver, outcomes in results.items():
        print(summary(driver, outcomes))
    if len(results) == 2:
        motor, motorlike = results["motor"], results["motorlike"]
        differing = sorted(name for name in motor.keys() | motorlike.keys() if motor.get(name) != motorlike.get(name))
        print(f"outcomes that differ: {len(differing)}")
        for name in differing:
            print(f"  motor {motor.get(name)}, motorlike {motorlike.get(name)}: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
