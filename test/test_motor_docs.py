"""The code examples of the Motor documentation, run through the ``motor`` alias.

The examples are in ``test/motor_docs/*.txt``, copied from the docs
(``shared/seeds/003_9537a97bc822bd65.txt``) block by block, unedited. Each
test runs a few of them in a fresh interpreter (``test/motor_docs/runner.py``
installs the alias before anything imports ``motor``; real Motor in this
process stays untouched), on the test server. What the tests change:

- the server address: ``MotorClient()`` / ``AsyncIOMotorClient()`` get the
  test server's URI, ``'localhost', 27017`` its host and port, the example
  URIs its address (:func:`with_address`); a web example listens on
  127.0.0.1 at a free port instead of all interfaces at 8888 / 8080;
- data sizes, on the embedded server only: it slows down with the square of
  a collection's size (2000 inserts take ~20 s, 10000 minutes), so the
  tutorials' 2000 documents become 200 and the bulk tutorial's 10000 become
  300, with the numbers in their printed output (:data:`FULL_SIZE`);
- names the docs use without defining them (``pprint``, ``IOLoop``, a ``db``
  for the bulk-write page ...) are defined by a ``harness`` step, and so are
  calls of the functions the docs only define, and the checks.

Printed output is compared with the docs' where they show it (doctest,
``...`` matching anything). Examples a server cannot run are skipped by a
probed capability, so they run where ``MOTORLIKE_TEST_URI`` points at a
server that can; doc/motor-examples.md lists every example and why one does
not run here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from motorlike import testserver

ROOT = Path(__file__).resolve().parent.parent
DOCS = Path(__file__).resolve().parent / "motor_docs"
RUNNER = DOCS / "runner.py"

#: Run the tutorials with the docs' data sizes: by default only on a server
#: given by MOTORLIKE_TEST_URI (a real mongod inserts 10000 documents in a
#: blink); MOTORLIKE_DOCS_FULL_SIZE=1 or 0 decides explicitly.
FULL_SIZE = os.environ.get("MOTORLIKE_DOCS_FULL_SIZE", "1" if testserver.test_server_uri() else "0") == "1"
TUTORIAL_SIZE = 2000 if FULL_SIZE else 200
BULK_SIZE = 10000 if FULL_SIZE else 300
#: The un-awaited insert loop: its 2000 inserts at once would take the embedded server ~20 s.
UNAWAITED_SIZE = 2000 if FULL_SIZE else 50

# --------------------------------------------------------------------------
# The examples and how they are changed
# --------------------------------------------------------------------------


def read_examples(filename: str) -> dict[str, str]:
    """The blocks of ``motor_docs/FILENAME`` by name."""
    text = (DOCS / filename).read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    for chunk in re.split(r"^\.\. example:: ", text, flags=re.MULTILINE)[1:]:
        header, _, body = chunk.partition("\n")
        blocks[header.split()[0]] = body.strip("\n") + "\n"
    return blocks


def server_nodes(uri: str) -> list[tuple[str, int]]:
    from pymongo.uri_parser import parse_uri

    return parse_uri(uri)["nodelist"]


def server_address(uri: str) -> tuple[str, int]:
    return server_nodes(uri)[0]


def with_address(source: str, uri: str) -> str:
    """Point an example at the test server instead of localhost:27017."""
    host, port = server_address(uri)
    hosts = ",".join(f"{node_host}:{node_port}" for node_host, node_port in server_nodes(uri))
    for old, new in [
        ("MotorClient()", f"MotorClient({uri!r})"),  # and AsyncIOMotorClient()
        ("'localhost', 27017", f"{host!r}, {port}"),
        ("'mongodb://localhost:27017'", repr(uri)),
        ("mongodb://user:pass@localhost:27017/", f"mongodb://user:pass@{hosts}/"),
        ("mongodb://host1,host2/", f"mongodb://{hosts}/"),
    ]:
        source = source.replace(old, new)
    assert "localhost" not in source and "host1" not in source, source
    return source


def scaled(source: str, replacements: list[tuple[str, str]]) -> str:
    if FULL_SIZE:
        return source
    for old, new in replacements:
        source = source.replace(old, new)
    return source


def tutorial_sizes() -> list[tuple[str, str]]:
    n, half = TUTORIAL_SIZE, TUTORIAL_SIZE // 2
    return [
        ("range(2000)", f"range({n})"),
        ("inserted 2000 docs", f"inserted {n} docs"),
        ("2000 documents in collection", f"{n} documents in collection"),
        ("{'i': {'$gt': 1000}}", f"{{'i': {{'$gt': {half}}}}}"),
        ("999 documents where i > 1000", f"{half - 1} documents where i > {half}"),
        ("'%s documents where i > 1000'", f"'%s documents where i > {half}'"),
        ("2000 documents before", f"{n} documents before"),
        ("{'i': {'$gte': 1000}}", f"{{'i': {{'$gte': {half}}}}}"),
        ("1000 documents after", f"{half} documents after"),
    ]


def bulk_sizes() -> list[tuple[str, str]]:
    return [
        ("range(10000)", f"range({BULK_SIZE})"),
        ("Final count: 10000", f"Final count: {BULK_SIZE}"),
        ("'nRemoved': 10000", f"'nRemoved': {BULK_SIZE}"),
    ]


def docs(filename: str, name: str, uri: str, *, sizes: list | None = None, **options) -> dict:
    """A step running example NAME of FILENAME, pointed at the server at URI."""
    source = with_address(read_examples(filename)[name], uri)
    if sizes:
        source = scaled(source, sizes)
    return {"kind": "docs", "name": f"{filename}:{name}", "source": source, **options}


def harness(source: str, **options) -> dict:
    """A step of the test's own code (top-level await allowed)."""
    return {"kind": "harness", "name": "harness", "source": textwrap.dedent(source), **options}


# --------------------------------------------------------------------------
# Running them
# --------------------------------------------------------------------------


def runner_command(
    uri: str, framework: str, steps: list[dict], workdir: Path, implementation: str, **options
) -> list[str]:
    spec = workdir / f"spec-{time.monotonic_ns()}.json"
    spec.write_text(
        json.dumps({"implementation": implementation, "framework": framework, "steps": steps, **options})
    )
    return [sys.executable, str(RUNNER), str(spec)]


def runner_env(uri: str) -> dict:
    return dict(os.environ, MOTORLIKE_TEST_URI=uri, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")


def run_examples(
    uri: str, framework: str, steps: list[dict], workdir: Path, *, implementation: str = "motorlike", timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        runner_command(uri, framework, steps, workdir, implementation),
        cwd=workdir,
        env=runner_env(uri),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_ran(result: subprocess.CompletedProcess) -> str:
    """The examples ran, every doctest's output matched; returns stdout."""
    assert result.returncode == 0 and "runner: ok" in result.stdout, (
        f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout


def assert_fails_as_with_motor(uri: str, framework: str, steps: list[dict], workdir: Path, *messages: str) -> None:
    """Docs bugs: the steps marked expect_error fail with MESSAGES (in order), under motorlike and real Motor alike."""
    for implementation in ("motorlike", "motor"):
        output = assert_ran(run_examples(uri, framework, steps, workdir, implementation=implementation))
        raised = [line for line in output.splitlines() if line.startswith("raised ")]
        assert len(raised) == len(messages), (implementation, output)
        for line, message in zip(raised, messages):
            assert line.startswith(f"raised {message}"), (implementation, line, message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """An example serving HTTP, run in its own process group; output goes to files."""

    def __init__(self, command: list[str], workdir: Path, uri: str) -> None:
        stamp = time.monotonic_ns()
        self.stdout_path, self.stderr_path = workdir / f"stdout-{stamp}", workdir / f"stderr-{stamp}"
        with open(self.stdout_path, "w") as stdout, open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                command,
                cwd=workdir,
                env=runner_env(uri),
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # forked children stop with it
            )
        self.stopped = False

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def signal(self, signal_number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal_number)

    def stop(self) -> tuple[int, str, str]:
        """SIGTERM to the process group (forked children too); the exit code, stdout and stderr."""
        if not self.stopped:
            self.stopped = True
            self.signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        return self.process.returncode, self.stdout_path.read_text(), self.stderr()


@contextlib.contextmanager
def serving(uri: str, framework: str, steps: list[dict], workdir: Path, port: int, timeout: float = 30, **options):
    """Run examples that serve HTTP on PORT; yields a :class:`Served` once the port accepts."""
    served = Served(runner_command(uri, framework, steps, workdir, "motorlike", **options), workdir, uri)
    try:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if served.process.poll() is not None or time.monotonic() > deadline:
                returncode, out, err = served.stop()
                pytest.fail(f"the example did not listen on {port} (exit {returncode})\n--- stdout\n{out}\n--- stderr\n{err}")
            time.sleep(0.1)
        yield served
    finally:
        served.stop()


#: Never through a proxy: the requests go to 127.0.0.1.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(port: int, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with _opener.open(request, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def assert_clean(stderr: str) -> None:
    for sign in ("Traceback", "never awaited", "Exception ignored", "was destroyed", "unraisable"):
        assert sign not in stderr, stderr


# --------------------------------------------------------------------------
# Fixtures: data, capabilities the conftest does not probe
# --------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The examples' working directory (the GridFS ones write "myfile")."""
    return tmp_path


@pytest.fixture
def drop(sync_client):
    """drop("db.coll", ...): drop those collections now and after the test."""
    names: list[str] = []

    def drop_now(*namespaces: str) -> None:
        for namespace in namespaces:
            db_name, _, collection = namespace.partition(".")
            sync_client[db_name].drop_collection(collection)
            names.append(namespace)

    yield drop_now
    for namespace in names:
        db_name, _, collection = namespace.partition(".")
        sync_client[db_name].drop_collection(collection)


def require(capability: str, found: tuple[bool, str]) -> None:
    available, detail = found
    if not available:
        pytest.skip(f"the test server lacks the capability {capability!r} ({detail})")


_extra_capabilities: dict[str, tuple[bool, str]] = {}


@pytest.fixture
def extra_capabilities(server_uri: str, sync_client):
    """What the conftest does not probe, each probed once when first asked:
    capped_collections, authentication, tls -> (available, why not)."""
    probes = {
        "capped_collections": lambda: _probe_capped(sync_client),
        "authentication": lambda: _probe_authentication(sync_client),
        "tls": lambda: _probe_tls(server_uri),
    }

    class Probed(dict):
        def __missing__(self, capability: str) -> tuple[bool, str]:
            found = _extra_capabilities[capability] = probes[capability]()
            return found

    return Probed(_extra_capabilities)


def _probe_capped(sync_client) -> tuple[bool, str]:
    from pymongo.errors import PyMongoError

    scratch = sync_client["motor_docs_probe"]
    try:
        scratch.create_collection("capped", capped=True, size=1000)  # as the docs' example does
        return bool(scratch["capped"].options().get("capped")), "create_collection(capped=True) made no capped collection"
    except PyMongoError as exc:
        return False, f"create_collection('capped', capped=True, size=1000): {exc}"
    finally:
        with contextlib.suppress(PyMongoError):
            sync_client.drop_database("motor_docs_probe")


def _probe_authentication(sync_client) -> tuple[bool, str]:
    """Can the server create the docs' user (user:pass on database_name)? Dropped again at once."""
    from pymongo.errors import OperationFailure, PyMongoError

    try:
        sync_client.database_name.command("createUser", "motor_docs_probe", pwd="probe", roles=[])
    except OperationFailure as exc:
        return False, f"createUser: {exc.details.get('errmsg') if exc.details else exc}"
    except PyMongoError as exc:
        return False, f"createUser: {exc}"
    with contextlib.suppress(PyMongoError):
        sync_client.database_name.command("dropUser", "motor_docs_probe")
    return True, ""


def tls_handshake(uri: str) -> str | None:
    """The TLS version the server negotiates, or None if it does not speak TLS."""
    host, port = server_address(uri)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        # A server without TLS takes the ClientHello for the start of a message
        # and waits for the rest: the timeout is the answer.
        with socket.create_connection((host, port), timeout=1.5) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                return tls.version()
    except (OSError, ssl.SSLError):
        return None


def _probe_tls(uri: str) -> tuple[bool, str]:
    version = tls_handshake(uri)
    return (True, version) if version else (False, "no TLS handshake on its port")


# --------------------------------------------------------------------------
# Differences between Motor and PyMongo (a Tornado page; the is_locked,
# cursor-slicing and create_collection examples use no Tornado class, so
# they run on both frameworks)
# --------------------------------------------------------------------------

CLIENT_CLASS = {
    "asyncio": "import motor.motor_asyncio\nclient = motor.motor_asyncio.AsyncIOMotorClient(URI)\n",
    "tornado": "import motor.motor_tornado\nclient = motor.motor_tornado.MotorClient(URI)\n",
}


def a_db(framework: str) -> dict:
    """The docs' ``db``: a database of the framework's client."""
    return harness(CLIENT_CLASS[framework] + "db = client.test_database\n")


def test_differences_gridfs_set_fails_as_with_motor(server_uri, workdir, drop) -> None:
    """A docs bug: open_upload_stream() returns the GridIn alone, not (grid_in, file_id)."""
    drop("test_database.fs.files", "test_database.fs.chunks")
    steps = [
        a_db("tornado"),
        docs("differences.txt", "gridfs-set", server_uri),
        harness("await f()", expect_error="TypeError"),
    ]
    assert_fails_as_with_motor(server_uri, "tornado", steps, workdir, "TypeError: cannot unpack non-iterable MotorGridIn object")


def test_differences_is_locked(server_uri, framework, workdir) -> None:
    steps = [
        harness(CLIENT_CLASS[framework]),
        docs("differences.txt", "is-locked", server_uri),
        harness("assert locked is False, result"),
    ]
    assert_ran(run_examples(server_uri, framework, steps, workdir))


def test_differences_cursor_slicing(server_uri, framework, workdir, drop) -> None:
    drop("test_database.collection")
    steps = [
        a_db(framework),
        docs("differences.txt", "cursor-slicing", server_uri),
        harness(
            """
            import contextlib, io
            for count, printed in ((100, 0), (101, 1)):  # "Iterates zero or one times."
                await db.collection.delete_many({})
                await db.collection.insert_many([{'n': n} for n in range(count)])
                output = io.StringIO()
                with contextlib.redirect_stdout(output):
                    await f()
                lines = output.getvalue().splitlines()
                assert len(lines) == printed, (count, lines)
            assert "'n': 100" in lines[0], lines
            """
        ),
    ]
    assert_ran(run_examples(server_uri, framework, steps, workdir))


def test_differences_create_collection(server_uri, framework, workdir, drop, extra_capabilities) -> None:
    require("capped_collections", extra_capabilities["capped_collections"])
    drop("test_database.collection1")
    steps = [
        a_db(framework),
        docs("differences.txt", "create-collection", server_uri),
        harness(
            """
            await f()
            options = await db.collection1.options()
            assert options.get('capped') is True and options.get('size'), options
            """
        ),
    ]
    assert_ran(run_examples(server_uri, framework, steps, workdir))


# --------------------------------------------------------------------------
# The tutorials: Tornado, then asyncio
# --------------------------------------------------------------------------

#: Names the tutorials' doctests use without importing them.
TORNADO_SESSION = "import pprint\nfrom tornado.ioloop import IOLoop\n"
ASYNCIO_SESSION = "import pprint\n"

PING = harness("assert (await client.admin.command('ping'))['ok'] == 1")


def tutorial(framework: str, uri: str, *names: str, sizes: bool = False, **options) -> list[dict]:
    filename = f"tutorial_{framework}.txt"
    return [docs(filename, name, uri, sizes=tutorial_sizes() if sizes else None, **options) for name in names]


def test_tornado_tutorial_clients(server_uri, workdir) -> None:
    steps = [
        *tutorial("tornado", server_uri, "import", "client-default"),
        PING,
        *tutorial("tornado", server_uri, "client-host-port"),
        PING,
        *tutorial("tornado", server_uri, "client-uri"),
        PING,
        *tutorial("tornado", server_uri, "client-replica-set", "database", "collection"),
        harness(
            """
            # "Creating a reference to a database does no I/O": the replica set client was never used.
            assert isinstance(client, motor.motor_tornado.MotorClient)
            assert isinstance(db, motor.motor_tornado.MotorDatabase) and db.name == 'test_database'
            assert isinstance(collection, motor.motor_tornado.MotorCollection)
            assert collection.full_name == 'test_database.test_collection'
            """
        ),
    ]
    assert_ran(run_examples(server_uri, "tornado", steps, workdir))


def test_asyncio_tutorial_clients(server_uri, workdir) -> None:
    steps = [
        *tutorial("asyncio", server_uri, "client-default"),
        PING,
        *tutorial("asyncio", server_uri, "client-host-port"),
        PING,
        *tutorial("asyncio", server_uri, "client-uri"),
        PING,
        *tutorial("asyncio", server_uri, "client-replica-set", "database", "collection"),
        harness(
            """
            assert isinstance(client, motor.motor_asyncio.AsyncIOMotorClient)
            assert isinstance(db, motor.motor_asyncio.AsyncIOMotorDatabase) and db.name == 'test_database'
            assert isinstance(collection, motor.motor_asyncio.AsyncIOMotorCollection)
            assert collection.full_name == 'test_database.test_collection'
            """
        ),
    ]
    assert_ran(run_examples(server_uri, "asyncio", steps, workdir))


def test_tornado_tutorial_startup_sequence(server_uri, workdir) -> None:
    """The application: MainHandler (shown after it, needed before), then the startup code."""
    port = free_port()
    examples = read_examples("tutorial_tornado.txt")
    startup = with_address(examples["startup-app"], server_uri).replace(
        "application.listen(8888)", f"application.listen({port}, address='127.0.0.1')"
    )
    steps = [
        harness("import motor.motor_tornado\nimport tornado.ioloop\nimport tornado.web\n"),
        docs("tutorial_tornado.txt", "main-handler", server_uri),
        {"kind": "docs", "name": "tutorial_tornado.txt:startup-app", "source": startup},
    ]
    with serving(server_uri, "tornado", steps, workdir, port) as served:
        status, _, body = http(port, "/")
        # MainHandler reads self.settings['db'] (a KeyError, so a 500, if it were missing)
        assert (status, body) == (200, b"")
        _, _, stderr = served.stop()
    assert_clean(stderr)


def test_tornado_tutorial_startup_fork(server_uri, workdir) -> None:
    """HTTPServer.start(0) forks one process per CPU; each creates its MotorClient after forking."""
    port = free_port()
    examples = read_examples("tutorial_tornado.txt")
    startup = with_address(examples["startup-fork"], server_uri).replace(
        "server.bind(8888)", f"server.bind({port}, address='127.0.0.1')"
    )
    steps = [
        harness(
            "import tornado.httpserver\nimport tornado.web\nfrom tornado.ioloop import IOLoop\n"
            "from motor.motor_tornado import MotorClient\n"
        ),
        docs("tutorial_tornado.txt", "main-handler", server_uri),
        {"kind": "docs", "name": "tutorial_tornado.txt:startup-fork", "source": startup},
    ]
    # No event loop before the fork (Tornado's rule): the runner sets none.
    with serving(server_uri, "tornado", steps, workdir, port, event_loop=False) as served:
        # Until every child has set settings['db'], a request may find it missing.
        deadline = time.monotonic() + 20
        statuses = []
        while time.monotonic() < deadline:
            statuses = [http(port, "/")[0] for _ in range(6)]
            if statuses == [200] * 6:
                break
            time.sleep(0.2)
        assert statuses == [200] * 6, statuses
        _, _, stderr = served.stop()
    assert_clean(stderr)


def test_tornado_tutorial_insert_one(server_uri, workdir, drop) -> None:
    drop("test_database.test_collection")
    steps = [
        harness(TORNADO_SESSION),
        *tutorial("tornado", server_uri, "import", "client-default", "database", "collection", "insert-one"),
        harness("assert await db.test_collection.count_documents({'key': 'value'}) == 1"),
    ]
    assert_ran(run_examples(server_uri, "tornado", steps, workdir))


def test_tornado_tutorial_insert_loop_without_await(server_uri, workdir, drop, sync_client) -> None:
    """The "beginner's mistake": Motor runs all the un-awaited inserts at once."""
    drop("test_database.test_collection")
    steps = [
        harness(TORNADO_SESSION),
        *tutorial("tornado", server_uri, "import", "client-default", "database"),
        # As a script: in a session, the loop would echo each insert_one()'s result.
        docs(
            "tutorial_tornado.txt",
            "insert-loop-unawaited",
            server_uri,
            sizes=[("range(2000)", f"range({UNAWAITED_SIZE})")],
            compare_output=False,
        ),
        harness(
            f"""
            import asyncio
            for _ in range(30):
                if await db.test_collection.count_documents({{}}) == {UNAWAITED_SIZE}:
                    break
                await asyncio.sleep(0.1)
            assert await db.test_collection.count_documents({{}}) == {UNAWAITED_SIZE}
            """
        ),
    ]
    # What the docs describe, with real Motor (so the failure below is motorlike's):
    assert_ran(run_examples(server_uri, "tornado", steps, workdir, implementation="motor"))
    sync_client.test_database.drop_collection("test_collection")
    assert_ran(run_examples(server_uri, "tornado", steps, workdir))


def test_tornado_tutorial_insert_loop_with_await(server_uri, workdir, drop) -> None:
    drop("test_database.test_collection")
    steps = [
        harness(TORNADO_SESSION),
        *tutorial("tornado", server_uri, "import", "client-default", "database"),
        *tutorial("tornado", server_uri, "insert-loop-awaited", sizes=True),
        harness(
            f"""
            found = await db.test_collection.find({{}}, {{'_id': 0}}).to_list(None)
            assert found == [{{'i': i}} for i in range({TUTORIAL_SIZE})]  # in sequence
            """
        ),
    ]
    assert_ran(run_examples(server_uri, "tornado", steps, workdir, timeout=90))


CRUD = (
    "insert-many",
    "find-one",
    "find",
    "async-for",
    "sort-skip-limit",
    "count",
    "replace",
    "update",
)


def crud_steps(framework: str, uri: str) -> list[dict]:
    """From insert_many to the distinct command, in the docs' order, on one collection."""
    return [
        *tutorial(framework, uri, *CRUD, sizes=True),
        harness("coll = db.test_collection  # the fragment's coll, as in the functions around it"),
        *tutorial(framework, uri, "update-many", sizes=True),
        harness(
            # i > 100, plus the replaced document and i == 51
            f"assert await coll.count_documents({{'key': 'value'}}) == {TUTORIAL_SIZE - 101 + 2}"
        ),
        *tutorial(framework, uri, "delete-many", "command", sizes=True),
    ]


def test_tornado_tutorial_crud(server_uri, workdir, drop) -> None:
    drop("test_database.test_collection")
    steps = [
        harness(TORNADO_SESSION),
        *tutorial("tornado", server_uri, "import", "client-default", "database", "collection"),
        *crud_steps("tornado", server_uri),
    ]
    assert_ran(run_examples(server_uri, "tornado", steps, workdir))


def test_asyncio_tutorial_insert_one(server_uri, workdir, drop) -> None:
    drop("test_database.test_collection")
    steps = [
        harness(ASYNCIO_SESSION),
        *tutorial("asyncio", server_uri, "client-default", "database", "collection", "insert-one"),
        harness("assert await db.test_collection.count_documents({'key': 'value'}) == 1"),
    ]
    assert_ran(run_examples(server_uri, "asyncio", steps, workdir))


def test_asyncio_tutorial_crud(server_uri, workdir, drop) -> None:
    drop("test_database.test_collection")
    steps = [
        harness(ASYNCIO_SESSION),
        *tutorial("asyncio", server_uri, "client-default", "database", "collection"),
        # The docs' asyncio session imports asyncio in its insert_one example.
        harness("import asyncio"),
        *crud_steps("asyncio", server_uri),
    ]
    assert_ran(run_examples(server_uri, "asyncio", steps, workdir))


def test_asyncio_tutorial_aiohttp_application(server_uri, workdir, drop) -> None:
    drop("test.pages")
    port = free_port()
    examples = read_examples("tutorial_asyncio.txt")
    program = "\n\n".join(
        with_address(examples[name], server_uri) for name in ("aiohttp-setup-db", "aiohttp-page-handler", "aiohttp-start")
    ).replace("web.run_app(app)", f"web.run_app(app, host='127.0.0.1', port={port})")
    steps = [{"kind": "docs", "name": "tutorial_asyncio.txt:aiohttp-*", "source": program}]
    with serving(server_uri, "asyncio", steps, workdir, port) as served:
        status, _, body = http(port, "/pages/page-one")
        assert (status, body) == (200, b"<html><body>Hello!</body></html>")
        status, headers, body = http(port, "/pages/page-two")
        assert (status, body) == (200, b"<html><body>Goodbye.</body></html>")
        assert headers["Content-Type"].startswith("text/html")
        status, _, body = http(port, "/pages/other")
        assert (status, body) == (404, b"No page named 'other'")
        returncode, stdout, stderr = served.stop()  # run_app stops on SIGTERM
    assert returncode == 0 and "runner: ok" in stdout, (returncode, stdout, stderr)
    assert_clean(stderr)


# --------------------------------------------------------------------------
# Bulk Write Operations (a Tornado page)
# --------------------------------------------------------------------------

#: The page's doctests use a ``db`` it does not define.
BULK_SESSION = "import motor.motor_tornado\nfrom tornado.ioloop import IOLoop\ndb = motor.motor_tornado.MotorClient(URI).test_database\n"


def test_bulk_write_tutorial(server_uri, workdir, drop) -> None:
    """Bulk insert, then ordered and unordered bulk writes with their errors, output compared."""
    drop("test_database.test")
    steps = [
        harness(BULK_SESSION),
        *(
            docs("bulk.txt", name, server_uri, sizes=bulk_sizes())
            for name in ("bulk-insert", "ordered", "ordered-error", "unordered")
        ),
    ]
    assert_ran(run_examples(server_uri, "tornado", steps, workdir))


@pytest.mark.requires("replica_set")
def test_bulk_write_concern(server_uri, workdir, drop) -> None:
    """w=4 cannot be satisfied: the inserts happen, a write concern error comes back.

    The docs' output (code 64, wtimeout) is a 2020 server's with more than 4
    members; a smaller set reports code 100 at once, so the output is checked
    for what every server prints: 4 inserted, a writeConcernError, no writeError.
    """
    drop("test_database.test")
    steps = [
        harness(BULK_SESSION + "from pprint import pprint\nfrom pymongo import InsertOne\nfrom pymongo.errors import BulkWriteError\n"),
        docs("bulk.txt", "write-concern", server_uri, compare_output=False),
    ]
    output = assert_ran(run_examples(server_uri, "tornado", steps, workdir))
    import ast

    details = ast.literal_eval(output[: output.index("runner: ok")])
    assert details["nInserted"] == 4 and details["writeConcernErrors"] and not details["writeErrors"], details


# --------------------------------------------------------------------------
# Application Performance Monitoring (a Tornado page)
# --------------------------------------------------------------------------


def test_monitoring(server_uri, workdir, drop) -> None:
    """The four listeners, then the client example (its 10 s sleep included).

    The blocks run in the page's order except that the client example comes
    last: PyMongo gives a client the listeners registered when it is created.
    """
    drop("test.collection")
    names = ("command-logger", "register-command-logger", "server-logger", "topology-logger", "heartbeat-logger", "client")
    steps = [docs("monitoring.txt", name, server_uri) for name in names]
    output = assert_ran(run_examples(server_uri, "tornado", steps, workdir, timeout=60))
    address = r"\('[^']+', \d+\)"

    def logged(pattern: str) -> re.Match:
        found = re.search(rf"^INFO:root:{pattern}$", output, re.MULTILINE)
        assert found, f"no log line like {pattern!r} in:\n{output}"
        return found

    # "This logs something like: Command insert with request id 50073 started on server ('localhost', 27017)"
    started = logged(rf"Command insert with request id (\d+) started on server ({address})")
    logged(rf"Command insert with request id {started[1]} on server {re.escape(started[2])} succeeded in \d+ microseconds")
    logged(rf"Server {address} added to topology \w+")
    logged(rf"Server {address} changed type from Unknown to \w+")
    logged(r"Topology with id \w+ opened")
    logged(r"Topology description updated for topology id \w+")
    logged(rf"Heartbeat sent to server {address}")
    logged(rf"Heartbeat to server {address} succeeded with reply \{{.*'ok': 1.*\}}")


# --------------------------------------------------------------------------
# Motor Tailable Cursor Example (asyncio)
# --------------------------------------------------------------------------


@pytest.mark.requires("replica_set")
def test_tailable_cursor_oplog(server_uri, workdir, drop) -> None:
    """Tail the oplog: the first entry, then an insert made while tailing."""
    drop("test_database.tail_probe")
    steps = [
        harness("import pymongo\nimport motor.motor_asyncio\nclient = motor.motor_asyncio.AsyncIOMotorClient(URI)\n"),
        docs("tailable.txt", "tail-oplog", server_uri),
        harness(
            """
            import asyncio, contextlib, io
            output = io.StringIO()
            with contextlib.redirect_stdout(output):
                task = asyncio.ensure_future(tail_oplog_example())
                await asyncio.sleep(1)
                await client.test_database.tail_probe.insert_one({'tailed': 'yes'})
                for _ in range(150):
                    if "'tailed': 'yes'" in output.getvalue():
                        break
                    await asyncio.sleep(0.1)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            printed = output.getvalue()
            assert "'ts': Timestamp(" in printed.splitlines()[0], printed[:1000]
            assert "'tailed': 'yes'" in printed, printed[-2000:]
            """
        ),
    ]
    assert_ran(run_examples(server_uri, "asyncio", steps, workdir))


# --------------------------------------------------------------------------
# Tornado Change Stream Example
# --------------------------------------------------------------------------


async def _changes_over_websocket(port: int, collection) -> tuple[list[dict], list[dict]]:
    """Insert, update and delete one document; the changes the example's web socket sends."""
    from bson import json_util
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(f"ws://127.0.0.1:{port}/socket")
    received: asyncio.Queue = asyncio.Queue()

    async def read() -> None:
        while (message := await connection.read_message()) is not None:
            received.put_nowait(json_util.loads(message))

    reader = asyncio.ensure_future(read())
    try:
        # The example opens its change stream after it starts listening: an
        # insert made before that goes unseen, so insert until one is seen.
        warmups = []
        for attempt in range(100):
            await asyncio.to_thread(collection.insert_one, {"warmup": attempt})
            with contextlib.suppress(asyncio.TimeoutError):
                warmups.append(await asyncio.wait_for(received.get(), 0.3))
                break
        assert warmups, "the example sent no change"
        document_id = (await asyncio.to_thread(collection.insert_one, {})).inserted_id
        await asyncio.to_thread(collection.update_one, {"_id": document_id}, {"$set": {"x": 1}})
        await asyncio.to_thread(collection.delete_one, {"_id": document_id})
        changes: list[dict] = []
        while len(changes) < 3:
            change = await asyncio.wait_for(received.get(), 15)
            if change["documentKey"]["_id"] == document_id:
                changes.append(change)
        return warmups, changes
    finally:
        connection.close()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


def resume_tokens_are_binary(collection) -> bool:
    """MongoDB 3.6 and 4.0 (FCV 3.6) give a change's _id {'_data': BinData}, later servers a hex string."""
    with collection.watch(max_await_time_ms=200) as stream:
        collection.insert_one({"probe": True})
        deadline = time.monotonic() + 10
        while (change := stream.try_next()) is None:
            assert time.monotonic() < deadline, "no change"
    return isinstance(change["_id"]["_data"], bytes)


@pytest.mark.requires("change_streams")
def test_tornado_change_stream_example(server_uri, workdir, drop, sync_client) -> None:
    """The whole program, its address given by its own --mongo and --port options.

    Its on_change() does urlsafe_b64encode(change['_id']['_data']): bytes on
    MongoDB 3.6/4.0, a str (TypeError) since. On such a server the test
    checks that motorlike's change stream hands the example its changes, and
    that the example then fails just there (a docs bug, as with Motor).
    """
    drop("test.test")
    port = free_port()
    binary_tokens = resume_tokens_are_binary(sync_client.test.test)
    source = read_examples("change_stream.txt")["script"].replace(
        "app.listen(options.port)", "app.listen(options.port, address='127.0.0.1')"
    )
    steps = [
        {
            "kind": "script",
            "name": "change_stream.txt:script",
            "source": source,
            "file": str(DOCS / "change_stream.txt"),  # its templates are next to it
            "argv": [f"--mongo={server_uri}", f"--port={port}"],
        }
    ]
    with serving(server_uri, "tornado", steps, workdir, port) as served:
        if not binary_tokens:
            deadline = time.monotonic() + 30
            while "got change of type 'insert'" not in served.stderr():  # logged before the failing line
                assert time.monotonic() < deadline, served.stderr()
                sync_client.test.test.insert_one({"warmup": True})
                time.sleep(0.3)
            while "TypeError: a bytes-like object is required, not 'str'" not in served.stderr():
                assert time.monotonic() < deadline, served.stderr()
                time.sleep(0.1)
            return
        warmups, changes = asyncio.run(asyncio.wait_for(_changes_over_websocket(port, sync_client.test.test), 60))
        status, _, page = http(port, "/")
        # Stopped by SIGTERM, not Ctrl-C: on KeyboardInterrupt the example calls
        # change_stream.close() without await, a coroutine since Motor 3 (a docs bug).
        _, _, stderr = served.stop()
    assert [change["operationType"] for change in changes] == ["insert", "update", "delete"], changes
    assert changes[1]["updateDescription"]["updatedFields"] == {"x": 1}, changes[1]
    for change in warmups + changes:
        assert change["ns"] == {"db": "test", "coll": "test"} and "_id" not in change, change
        assert change["html"].startswith(f'<div id="change-{change["html_id"]}"><pre>'), change
    # The page shows the cached changes (the last 5)
    assert status == 200 and all(f'id="change-{change["html_id"]}"' in page.decode() for change in changes)
    assert "got change of type 'delete'" in stderr
    assert_clean(stderr)


# --------------------------------------------------------------------------
# Authentication With Motor (a Tornado page)
# --------------------------------------------------------------------------


@pytest.fixture
def docs_user(sync_client, extra_capabilities):
    """The docs' user: "user", password "pass", on database_name."""
    from pymongo.errors import OperationFailure

    require("authentication", extra_capabilities["authentication"])
    with contextlib.suppress(OperationFailure):
        sync_client.database_name.command("dropUser", "user")
    sync_client.database_name.command("createUser", "user", pwd="pass", roles=[])
    yield
    sync_client.database_name.command("dropUser", "user")


def test_authentication(server_uri, workdir, docs_user) -> None:
    steps = [
        harness("import motor.motor_tornado\n"),
        docs("authentication.txt", "uri", server_uri),
        harness(
            """
            # "Motor logs in to the server on demand, when you first attempt an operation."
            status = await client.database_name.command('connectionStatus')
            assert {'user': 'user', 'db': 'database_name'} in status['authInfo']['authenticatedUsers'], status
            """
        ),
    ]
    assert_ran(run_examples(server_uri, "tornado", steps, workdir))


# --------------------------------------------------------------------------
# Configuration: TLS Protocol Version
# --------------------------------------------------------------------------


@pytest.mark.no_server
def test_tls_openssl_version() -> None:
    """The docs' check (``openssl version``): 1.0.1 or newer supports TLS 1.1+.

    Both the openssl command, when there is one, and the OpenSSL this Python
    (and so Motor) uses.
    """
    import shutil

    assert ssl.OPENSSL_VERSION_INFO[:3] >= (1, 0, 1), ssl.OPENSSL_VERSION
    openssl = shutil.which("openssl")
    if openssl:
        version = subprocess.run([openssl, "version"], capture_output=True, text=True, timeout=10).stdout
        found = re.match(r"OpenSSL (\d+)\.(\d+)\.(\d+)", version)
        assert found and tuple(map(int, found.groups())) >= (1, 0, 1), version


def test_tls_connection(server_uri, framework, workdir, extra_capabilities) -> None:
    """The docs' howsmyssl.com check, asked of the test server: a Motor client
    connects over TLS, and the server negotiates TLS 1.1 or newer."""
    require("tls", extra_capabilities["tls"])
    from pymongo.uri_parser import parse_uri

    configured = parse_uri(server_uri)["options"].get("tls")
    # A server that merely allows TLS: its certificate is not the point here.
    arguments = "URI" if configured else "URI, tls=True, tlsInsecure=True"
    steps = [
        harness(
            CLIENT_CLASS[framework].replace("(URI)", f"({arguments})")
            + "assert (await client.admin.command('ping'))['ok'] == 1\n"
        )
    ]
    assert_ran(run_examples(server_uri, framework, steps, workdir))
    assert tls_handshake(server_uri) in ("TLSv1.1", "TLSv1.2", "TLSv1.3")


# --------------------------------------------------------------------------
# GridFS: the bucket's examples (Tornado and asyncio API pages)
# --------------------------------------------------------------------------

#: Names the GridFS API pages use without importing them, and ``fs`` (a
#: bucket) that two examples use without defining it.
GRIDFS_SESSION = {
    "tornado": "from bson import ObjectId\nfrom motor.motor_tornado import MotorClient, MotorGridFSBucket\n"
    "fs = MotorGridFSBucket(MotorClient(URI).test)\n",
    "asyncio": "from bson import ObjectId\nfrom motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorGridFSBucket\n"
    "fs = AsyncIOMotorGridFSBucket(AsyncIOMotorClient(URI).test)\n",
}


def gridfs_example(framework: str, name: str, uri: str, **options) -> dict:
    return docs(f"gridfs_{framework}.txt", name, uri, **options)


def test_gridfs_bucket_examples(server_uri, framework, workdir, drop) -> None:
    drop("test.fs.files", "test.fs.chunks")

    def example(name: str) -> dict:
        return gridfs_example(framework, name, server_uri)

    def stored(count: int, **query) -> str:
        query = {"filename": "test_file", **query}
        return f"assert files.count_documents({query!r}) == {count}, list(files.find())\n"

    steps = [
        harness(
            GRIDFS_SESSION[framework]
            + "import pymongo\nfiles = pymongo.MongoClient(URI).test.fs.files\nDATA = b'data I want to store!'\n"
        ),
        example("upload-from-stream"),
        harness("await upload_from_stream()\n" + stored(1, chunkSize=4, metadata={"contentType": "text/plain"})),
        example("upload-from-stream-with-id"),
        harness("await upload_from_stream_with_id()\n" + stored(2, chunkSize=4)),
        example("download"),
        harness("await download()\nassert open('myfile', 'rb').read() == DATA\n" + stored(3)),
        example("download-to-stream-by-name"),
        harness("open('myfile', 'wb').close()\nawait download_by_name()\nassert open('myfile', 'rb').read() == DATA"),
        example("open-download-stream"),
        harness("await download_stream()\n" + stored(4)),
        example("rename"),
        harness("await rename()\n" + stored(4) + stored(1, filename="new_test_name")),
        example("delete"),
        harness("await delete()\n" + stored(4)),
        example("find-most-recent-three"),
        harness(
            """
            recent = await most_recent_three.to_list(None)
            dates = [grid_out.upload_date for grid_out in recent]
            assert len(recent) == 3 and dates == sorted(dates, reverse=True), recent
            """
        ),
    ]
    assert_ran(run_examples(server_uri, framework, steps, workdir))


def test_gridfs_find_example(server_uri, framework, workdir, drop, sync_client) -> None:
    """``data = grid_data.read()`` without await: with Motor, a read that runs and is dropped."""
    drop("test.fs.files", "test.fs.chunks")
    steps = [
        harness(GRIDFS_SESSION[framework] + "await fs.upload_from_stream('lisa.txt', b'Lisa')\n"),
        gridfs_example(framework, "find", server_uri),
        harness("await find()"),
    ]
    assert_ran(run_examples(server_uri, framework, steps, workdir, implementation="motor"))
    sync_client.test.drop_collection("fs.files")
    sync_client.test.drop_collection("fs.chunks")
    assert_ran(run_examples(server_uri, framework, steps, workdir))


#: Examples of the GridFS pages that fail with Motor too: (example, the function it defines, the error).
GRIDFS_DOCS_BUGS = [
    # open_upload_stream(...) returns the GridIn alone; the docs unpack (grid_in, file_id)
    ("open-upload-stream", "upload", "TypeError: cannot unpack non-iterable "),
    ("open-upload-stream-with-id", "upload", "TypeError: cannot unpack non-iterable "),
    # open_download_stream_by_name(file_id): the docs pass the ObjectId as the filename
    (
        "open-download-stream-by-name",
        "download_by_name",
        "TypeError: Wrong type for filename, value must be an instance of str, not <class 'bson.objectid.ObjectId'>",
    ),
    # fs.new_file() was MotorGridFS's (removed in Motor 2.0), never the bucket's
    ("open-upload-stream-async-with", "upload", "AttributeError: "),
]


def test_gridfs_docs_bugs_fail_as_with_motor(server_uri, framework, workdir, drop) -> None:
    drop("test.fs.files", "test.fs.chunks")
    steps = [harness(GRIDFS_SESSION[framework])]
    for name, function, error in GRIDFS_DOCS_BUGS:
        steps += [
            gridfs_example(framework, name, server_uri),
            harness(f"await {function}()", expect_error=error.split(":")[0]),
        ]
    assert_fails_as_with_motor(server_uri, framework, steps, workdir, *(error for _, _, error in GRIDFS_DOCS_BUGS))


# --------------------------------------------------------------------------
# AIOHTTPGridFS Example, and the motor.aiohttp page's examples
# --------------------------------------------------------------------------


def test_aiohttp_gridfs_example(server_uri, workdir, drop) -> None:
    drop("my_database.fs.files", "my_database.fs.chunks")
    port = free_port()
    source = with_address(read_examples("aiohttp_gridfs.txt")["script"], server_uri).replace(
        "aiohttp.web.run_app(app)", f"aiohttp.web.run_app(app, host='127.0.0.1', port={port})"
    )
    steps = [{"kind": "docs", "name": "aiohttp_gridfs.txt:script", "source": source}]
    with serving(server_uri, "asyncio", steps, workdir, port) as served:
        status, headers, body = http(port, "/fs/my_file")
        assert status == 200 and headers["Content-Encoding"] == "gzip", (status, headers)
        assert gzip.decompress(body) == b"Nonesuch nonsense\n" * 10
        status, head_headers, head_body = http(port, "/fs/my_file", method="HEAD")
        assert (status, head_body) == (200, b"") and head_headers["Content-Length"] == str(len(body))
        assert http(port, "/fs/no_such_file")[0] == 404
        returncode, stdout, stderr = served.stop()
    assert returncode == 0 and "runner: ok" in stdout, (returncode, stdout, stderr)
    assert_clean(stderr)


def test_aiohttp_handler_options(server_uri, workdir, drop) -> None:
    """get_cache_time, get_gridfs_file and set_extra_headers, each served as the example serves a handler."""
    drop("my_database.fs.files", "my_database.fs.chunks")
    steps = [
        harness(
            """
            import aiohttp, aiohttp.web
            from motor.aiohttp import AIOHTTPGridFS
            from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorGridFSBucket

            bucket = AsyncIOMotorGridFSBucket(AsyncIOMotorClient(URI).my_database)
            await bucket.upload_from_stream('image.png', b'PNG')
            await bucket.upload_from_stream('notes.txt', b'notes')
            await bucket.upload_from_stream_with_id('by-id', 'named', b'found by id')

            async def get(gridfs_handler, path):
                app = aiohttp.web.Application()
                resource = app.router.add_resource('/fs/{filename}')
                resource.add_route('GET', gridfs_handler)
                runner = aiohttp.web.AppRunner(app)
                await runner.setup()
                site = aiohttp.web.TCPSite(runner, '127.0.0.1', 0)
                await site.start()
                port = runner.addresses[0][1]
                try:
                    async with aiohttp.ClientSession(auto_decompress=False, trust_env=False) as session:
                        async with session.get(f'http://127.0.0.1:{port}{path}') as response:
                            return response.status, response.headers, await response.read()
                finally:
                    await runner.cleanup()
            """
        ),
        docs("aiohttp_api.txt", "image-cache-time", server_uri),
        harness(
            """
            status, headers, body = await get(gridfs_handler, '/fs/image.png')
            assert (status, body) == (200, b'PNG') and 'max-age=3600' in headers['Cache-Control'], headers
            status, headers, body = await get(gridfs_handler, '/fs/notes.txt')
            assert (status, body) == (200, b'notes') and 'max-age' not in headers.get('Cache-Control', ''), headers
            """
        ),
        docs("aiohttp_api.txt", "gridfile-by-id", server_uri),
        harness(
            """
            status, headers, body = await get(gridfs_handler, '/fs/by-id')
            assert (status, body) == (200, b'found by id'), (status, body)
            """
        ),
        docs("aiohttp_api.txt", "gzip-header", server_uri),
        harness(
            """
            status, headers, body = await get(gridfs_handler, '/fs/notes.txt')
            assert (status, body) == (200, b'notes') and headers['Content-Encoding'] == 'gzip', headers
            """
        ),
    ]
    assert_ran(run_examples(server_uri, "asyncio", steps, workdir))
