"""Tests for motorlike.testserver: the embedded mongoeco server and its helpers.

Self-contained: uses only its own fixtures. The server tests start real
mongoeco processes (the server venv is built on first use).
"""

from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from motorlike import testserver

URI_PATTERN = re.compile(r"^mongodb://127\.0\.0\.1:(\d+)/$")
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


def port_accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def listening_addresses(pid: int) -> list[str]:
    """Local addresses of the TCP sockets ``pid`` listens on (Linux /proc)."""
    socket_inodes = set()
    for fd in pathlib.Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            socket_inodes.add(target[len("socket:[") : -1])
    addresses = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in pathlib.Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_address, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in socket_inodes:  # 0A: LISTEN
                addresses.append(local_address)
    return addresses


@pytest.fixture(scope="module")
def embedded():
    with testserver.EmbeddedServer() as server:
        yield server


@pytest.fixture
def client(embedded):
    mongo_client = MongoClient(embedded.uri, serverSelectionTimeoutMS=5000)
    yield mongo_client
    mongo_client.close()


# ---------------------------------------------------------------- the server


def test_start_returns_loopback_uri_and_hello_answers(embedded, client):
    match = URI_PATTERN.match(embedded.uri)
    assert match, embedded.uri
    assert int(match.group(1)) == embedded.port
    assert embedded.running
    hello = client.admin.command("hello")
    assert hello["ok"] == 1
    assert hello["isWritablePrimary"] is True


@pytest.mark.skipif(not pathlib.Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_server_listens_on_127_0_0_1_only(embedded):
    addresses = listening_addresses(embedded._process.pid)
    # /proc/net/tcp writes 127.0.0.1:PORT as little-endian hex: 0100007F:XXXX
    assert addresses == [f"0100007F:{embedded.port:04X}"]


def test_server_info_works_through_lowercase_buildinfo_shim(client):
    info = client.server_info()  # PyMongo sends {buildinfo: 1}
    assert isinstance(info, dict)
    assert re.match(r"^\d+\.\d+", info["version"])
    assert client.admin.command("buildinfo")["version"] == info["version"]


def test_get_parameter_star(client):
    parameters = client.admin.command("getParameter", "*")
    assert parameters["ok"] == 1
    assert parameters["featureCompatibilityVersion"]["version"] == ".".join(
        client.server_info()["version"].split(".")[:2]
    )
    assert parameters["requireApiVersion"] is False
    assert parameters["enableTestCommands"] is True


def test_get_parameter_named_and_show_details(client):
    named = client.admin.command("getParameter", 1, requireApiVersion=1)
    assert named == {"requireApiVersion": False, "ok": 1.0}
    detailed = client.admin.command({"getParameter": {"showDetails": True}, "featureCompatibilityVersion": 1})
    assert detailed["featureCompatibilityVersion"]["value"] == {"version": "7.0"}


def test_get_parameter_errors_like_mongod(client):
    with pytest.raises(OperationFailure) as unknown:
        client.admin.command("getParameter", 1, noSuchParameter=1)
    assert unknown.value.code == 72
    with pytest.raises(OperationFailure) as not_admin:
        client.some_db.command("getParameter", "*")
    assert not_admin.value.code == 13


def test_rename_collection_sent_to_admin_works(client):
    database = client.motorlike_test_rename
    try:
        database.source.insert_one({"x": 1})
        database.source.rename("target")  # PyMongo runs renameCollection on admin
        assert database.list_collection_names() == ["target"]
        assert database.target.find_one({}, {"_id": 0}) == {"x": 1}
    finally:
        client.drop_database(database.name)


def test_transaction_commits_and_aborts(client):
    collection = client.motorlike_test_txn.items
    try:
        collection.insert_one({"setup": True})
        with client.start_session() as session:
            session.start_transaction()
            collection.insert_one({"aborted": True}, session=session)
            assert collection.count_documents({"aborted": True}) == 0  # not visible outside yet
            session.abort_transaction()
            session.start_transaction()
            collection.insert_one({"committed": True}, session=session)
            session.commit_transaction()
        assert collection.count_documents({"aborted": True}) == 0
        assert collection.count_documents({"committed": True}) == 1
    finally:
        client.drop_database("motorlike_test_txn")


def test_get_more_honours_batch_size(client):
    collection = client.motorlike_test_batches.items
    try:
        collection.insert_many([{"i": i} for i in range(25)])
        cursor = collection.find({}, sort=[("i", 1)], batch_size=10)
        assert [document["i"] for document in cursor] == list(range(25))
    finally:
        client.drop_database("motorlike_test_batches")


def test_probe_capabilities_of_embedded_server(embedded):
    found = testserver.probe_capabilities(embedded.uri)
    expected_keys = {
        "buildInfo",
        "buildinfo_lowercase",
        "getParameter",
        "transactions",
        "change_streams",
        "replica_set",
        "sessions",
    }
    assert expected_keys <= set(found)
    assert all(isinstance(found[key], bool) for key in expected_keys)
    assert found["buildInfo"] and found["buildinfo_lowercase"] and found["getParameter"]
    assert found["sessions"] and found["transactions"]
    assert found["replica_set"] is False
    assert found["version"].startswith("7.")
    # The probe cleans up after itself.
    with MongoClient(embedded.uri) as check:
        assert not [name for name in check.list_database_names() if name.startswith("motorlike_probe_")]


def test_stop_leaves_nothing_listening_and_no_zombie():
    server = testserver.EmbeddedServer()
    uri = server.start()
    port = server.port
    process = server._process
    assert port_accepts_connections(port)
    server.stop()
    assert process.returncode is not None  # waited for: no zombie
    assert not port_accepts_connections(port)
    assert server.uri is None and not server.running
    server.stop()  # idempotent
    assert uri


def test_start_failure_reports_server_output(tmp_path, monkeypatch):
    failing_launcher = tmp_path / "launcher.py"
    failing_launcher.write_text("import sys\nprint('boom: cannot start', file=sys.stderr)\nsys.exit(3)\n")
    monkeypatch.setattr(testserver._server, "LAUNCHER_PATH", failing_launcher)
    server = testserver.EmbeddedServer(startup_timeout=20)
    with pytest.raises(RuntimeError, match=r"(?s)exited with code 3.*boom: cannot start"):
        server.start()
    assert not server.running
    log_dir = server.log_path.parent
    assert log_dir.exists()  # kept for the post-mortem the message points to
    server.stop()
    assert not log_dir.exists()


def test_command_line_serves_until_sigterm():
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    environment.pop(testserver.TEST_URI_ENV, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "motorlike.testserver"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=environment,
        text=True,
    )
    try:
        uri = process.stdout.readline().strip()
        match = URI_PATTERN.match(uri)
        assert match, uri
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as mongo_client:
            assert mongo_client.admin.command("ping")["ok"] == 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert not port_accepts_connections(int(match.group(1)))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


_PROGRAM_USING_THE_SERVER = """
import asyncio
from motorlike.testserver import EmbeddedServer
from motorlike.motor_asyncio import AsyncIOMotorClient

async def main(uri):
    client = AsyncIOMotorClient(uri)
    await client.db.c.insert_one({})
    print("ready", flush=True)
    await asyncio.sleep(60)

with EmbeddedServer() as server:
    print(server.log_path.parent, flush=True)
    asyncio.run(main(server.uri))
"""


def test_a_program_stopped_by_sigterm_cleans_up_like_on_ctrl_c():
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    environment.pop(testserver.TEST_URI_ENV, None)
    process = subprocess.Popen(
        [sys.executable, "-c", _PROGRAM_USING_THE_SERVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        text=True,
    )
    try:
        work_dir = pathlib.Path(process.stdout.readline().strip())
        assert work_dir.is_dir(), process.stderr.read()
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 128 + signal.SIGTERM
        assert not work_dir.exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


# ------------------------------------------------------- choosing the server


def test_test_server_uri_reads_environment(monkeypatch):
    monkeypatch.setenv("MOTORLIKE_TEST_URI", "mongodb://db.example:27017/")
    assert testserver.test_server_uri() == "mongodb://db.example:27017/"
    monkeypatch.setenv("MOTORLIKE_TEST_URI", "")
    assert testserver.test_server_uri() is None
    monkeypatch.delenv("MOTORLIKE_TEST_URI")
    assert testserver.test_server_uri() is None


def test_server_uri_prefers_environment_and_starts_nothing(monkeypatch):
    def no_server(*args, **kwargs):
        raise AssertionError("must not start an embedded server when MOTORLIKE_TEST_URI is set")

    monkeypatch.setattr(testserver._server, "EmbeddedServer", no_server)
    monkeypatch.setenv("MOTORLIKE_TEST_URI", "mongodb://db.example:27017/")
    with testserver.server_uri() as uri:
        assert uri == "mongodb://db.example:27017/"


def test_server_uri_starts_and_stops_embedded_server(monkeypatch):
    monkeypatch.delenv("MOTORLIKE_TEST_URI", raising=False)
    with testserver.server_uri() as uri:
        port = int(URI_PATTERN.match(uri).group(1))
        with MongoClient(uri, serverSelectionTimeoutMS=5000) as mongo_client:
            assert mongo_client.admin.command("hello")["ok"] == 1
    assert not port_accepts_connections(port)


# ------------------------------------------------------------ the server venv


def fake_ready_venv(venv: pathlib.Path) -> None:
    python = testserver._venv._venv_python(venv)
    python.parent.mkdir(parents=True)
    python.write_text("")
    (venv / "pyvenv.cfg").write_text("")
    (venv / testserver.READY_MARKER_NAME).write_text(testserver._venv._expected_marker_text())


def test_venv_override_is_used_when_ready(tmp_path, monkeypatch):
    venv = tmp_path / "server-venv"
    fake_ready_venv(venv)
    monkeypatch.setenv("MOTORLIKE_SERVER_VENV", str(venv))
    monkeypatch.setattr(testserver._venv, "_build_venv", lambda *args: pytest.fail("must not rebuild a ready venv"))
    assert testserver.ensure_server_venv() == venv


def test_venv_without_current_marker_is_rebuilt(tmp_path, monkeypatch):
    venv = tmp_path / "server-venv"
    fake_ready_venv(venv)
    (venv / testserver.READY_MARKER_NAME).write_text('{"requirements": ["mongoeco[wire]==0.0.1"]}')
    builds = []
    monkeypatch.setenv("MOTORLIKE_SERVER_VENV", str(venv))
    monkeypatch.setattr(testserver._venv, "find_server_python", lambda: ("python3.13", (3, 13)))
    monkeypatch.setattr(testserver._venv, "_build_venv", lambda venv, python: builds.append((venv, python)))
    testserver.ensure_server_venv()
    assert builds == [(venv, "python3.13")]


def test_build_refuses_to_replace_a_directory_that_is_not_a_venv(tmp_path):
    precious = tmp_path / "not-a-venv"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(RuntimeError, match="not a venv"):
        testserver._venv._build_venv(precious, sys.executable)
    assert (precious / "notes.txt").read_text() == "keep me"


def test_concurrent_callers_build_the_venv_once(tmp_path, monkeypatch):
    venv = tmp_path / "server-venv"
    monkeypatch.setenv("MOTORLIKE_SERVER_VENV", str(venv))
    monkeypatch.setattr(testserver._venv, "find_server_python", lambda: ("python3.13", (3, 13)))
    builds = []
    building_now = []
    overlaps = []

    def slow_fake_build(venv_dir, python):
        if building_now:
            overlaps.append(True)
        building_now.append(True)
        time.sleep(0.3)
        fake_ready_venv(venv_dir)
        builds.append(venv_dir)
        building_now.pop()

    monkeypatch.setattr(testserver._venv, "_build_venv", slow_fake_build)
    results = []
    workers = [threading.Thread(target=lambda: results.append(testserver.ensure_server_venv())) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert results == [venv, venv, venv]
    assert builds == [venv]
    assert not overlaps


def _fake_python(directory, name, version):
    script = directory / name
    script.write_text(f"#!/bin/sh\necho {version}\n")
    script.chmod(0o755)
    return str(script)


def test_server_python_found_as_plain_python3(tmp_path, monkeypatch):
    monkeypatch.delenv("MOTORLIKE_SERVER_PYTHON", raising=False)
    monkeypatch.setattr(sys, "executable", _fake_python(tmp_path, "this-python", "3 11"))
    _fake_python(tmp_path, "python3.13", "3 12")  # a stale shim: its name lies
    python3 = _fake_python(tmp_path, "python3", "3 15")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    assert testserver.find_server_python() == (python3, (3, 15))

    # The running interpreter comes first when it is new enough.
    monkeypatch.setattr(sys, "executable", _fake_python(tmp_path, "this-python", "3 13"))
    assert testserver.find_server_python() == (sys.executable, (3, 13))


def test_missing_python_error_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("MOTORLIKE_SERVER_PYTHON", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no python3.13 / pyenv here
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    with pytest.raises(RuntimeError, match=r"needs Python >= 3\.13.*MOTORLIKE_SERVER_PYTHON.*MOTORLIKE_TEST_URI"):
        testserver.find_server_python()


def test_bad_server_python_override_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTORLIKE_SERVER_PYTHON", str(tmp_path / "python-that-does-not-exist"))
    with pytest.raises(RuntimeError, match="MOTORLIKE_SERVER_PYTHON"):
        testserver.find_server_python()


def test_module_imports_without_pymongo():
    # The driver's test suite and examples import the module; only probing may need PyMongo.
    code = textwrap.dedent(
        """
        import sys
        sys.modules["pymongo"] = None  # any import of pymongo now fails
        import motorlike.testserver as t
        assert t.test_server_uri is not None
        """
    )
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    subprocess.run([sys.executable, "-c", code], check=True, env=environment, timeout=60)
