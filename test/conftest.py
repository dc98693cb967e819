"""Shared fixtures: one test server per run, clients for both frameworks.

The server is mongoeco's wire server started by :mod:`motorlike.testserver`,
or whatever ``MOTORLIKE_TEST_URI`` points at (a real mongod, say). What the
server can do is probed once; tests needing a missing capability are skipped
with a reason naming it (``@pytest.mark.requires("transactions")``).

``async def`` tests run without any plugin: each gets a fresh event loop via
``asyncio.run``, the way per-test loops in Motor users' suites work. That
is deliberately harsh on loop handling: nothing may survive from one test's
loop into the next.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import uuid

import pytest

FRAMEWORKS = ("asyncio", "tornado")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requires(capability): skip unless the test server has the capability")
    config.addinivalue_line("markers", "no_server: the test does not need the test server")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj) or pyfuncitem.get_closest_marker("trio"):
        return None  # Trio tests run under pytest-trio
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**arguments), timeout=60))
    return True


#: What the test server can do, probed as soon as it is up.
_probed: dict = {}


@pytest.fixture(scope="session")
def server_uri() -> str:
    from motorlike import testserver

    with testserver.server_uri() as uri:
        _probed.update(testserver.probe_capabilities(uri))
        yield uri


@pytest.fixture(scope="session")
def capabilities(server_uri: str) -> dict:
    return dict(_probed)


def pytest_terminal_summary(terminalreporter) -> None:
    if _probed:
        missing = sorted(name for name, value in _probed.items() if value is False)
        terminalreporter.write_line(
            f"test server {_probed.get('version') or '(version unknown)'}; lacks: {', '.join(missing) or 'nothing'}"
        )


@pytest.fixture(autouse=True)
def _skip_missing_capabilities(request: pytest.FixtureRequest) -> None:
    markers = list(request.node.iter_markers("requires"))
    if not markers:
        return
    found = request.getfixturevalue("capabilities")
    for marker in markers:
        for capability in marker.args:
            if not found.get(capability):
                pytest.skip(f"the test server lacks the capability {capability!r}")


def make_client(framework: str, uri: str, **kwargs):
    if framework == "asyncio":
        from motorlike.motor_asyncio import AsyncIOMotorClient as client_class
    else:
        from motorlike.motor_tornado import MotorClient as client_class
    kwargs.setdefault("serverSelectionTimeoutMS", 5000)
    return client_class(uri, **kwargs)


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def client(framework: str, server_uri: str):
    """A client of the parametrized framework, closed after the test."""
    motor_client = make_client(framework, server_uri)
    yield motor_client
    motor_client.close()


@pytest.fixture
def aio_client(server_uri: str):
    motor_client = make_client("asyncio", server_uri)
    yield motor_client
    motor_client.close()


@pytest.fixture
def sync_client(server_uri: str):
    """A plain PyMongo client, to check results independently of motorlike."""
    import pymongo

    plain = pymongo.MongoClient(server_uri, serverSelectionTimeoutMS=5000)
    yield plain
    plain.close()


@pytest.fixture
def db(client):
    return client[os.environ.get("MOTORLIKE_TEST_DB", "motorlike_test")]


@pytest.fixture
def collection(db, sync_client):
    """A fresh, empty collection, dropped after the test (keep data small)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield db[name]
    sync_client[db.name].drop_collection(name)


# ---------------------------------------------------------------------------
# The documentation, built once for the test files that read it
# (test_doc_examples.py, test_doc_reference.py)


@pytest.fixture(scope="session")
def built_html(tmp_path_factory: pytest.TempPathFactory):
    """doc/ built as HTML with Sphinx, warnings as errors, offline: the output directory."""
    import importlib.util
    import subprocess
    import sys
    from pathlib import Path

    if importlib.util.find_spec("sphinx") is None or importlib.util.find_spec("myst_parser") is None:
        pytest.skip("sphinx and myst-parser are not installed (pip install -e '.[docs]')")
    root = Path(__file__).resolve().parent.parent
    out = tmp_path_factory.mktemp("html")
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(root / "doc"), str(out)],
        cwd=root,
        env=dict(os.environ, MOTORLIKE_DOCS_OFFLINE="1", PYTHONPATH=str(root)),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"the docs do not build cleanly\n{result.stdout}\n{result.stderr}"
    return out
