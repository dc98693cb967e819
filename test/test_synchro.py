"""Unit tests of synchro, the synchronous PyMongo look-alike over motorlike.

The full check (PyMongo's own suite through synchro) is ``python -m
synchro``; these tests keep the shim itself honest and fast.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import uuid

import pytest

import synchro
from synchro import exclusions, importer, reports, runner
from synchro._api import COROUTINE, IN_CALLER, ON_LOOP, PROPERTY, classify
from synchro.reports import build_report


@pytest.fixture
def sclient(framework, server_uri):
    client = synchro.api(framework).classes()["MongoClient"](server_uri, serverSelectionTimeoutMS=5000)
    yield client
    client.close()


@pytest.fixture
def scollection(sclient):
    collection = sclient["motorlike_test"][f"synchro_{uuid.uuid4().hex[:12]}"]
    yield collection
    collection.drop()


# ---------------------------------------------------------------------------
# The shim against the test server, both frameworks


def test_insert_find_and_cursor_iteration(scollection, framework):
    result = scollection.insert_one({"_id": 0, "x": 0})
    assert result.inserted_id == 0
    scollection.insert_many([{"_id": i, "x": i} for i in range(1, 10)])
    assert scollection.count_documents({}) == 10
    assert scollection.find_one({"_id": 3}) == {"_id": 3, "x": 3}

    cursor = scollection.find({}, batch_size=3).sort("x", -1)
    assert cursor.skip(1) is cursor  # chaining returns the same synchro cursor
    assert type(cursor).__name__ == "Cursor"
    assert [doc["x"] for doc in cursor] == [8, 7, 6, 5, 4, 3, 2, 1, 0]
    assert list(cursor) == []  # exhausted, as PyMongo's
    assert cursor.alive is False

    assert scollection.find().sort("x")[4]["x"] == 4  # PyMongo's cursor[n]
    with pytest.raises(IndexError):
        scollection.find()[100]
    assert scollection.find().sort("x").to_list(2) == [{"_id": 0, "x": 0}, {"_id": 1, "x": 1}]
    with scollection.find({"x": {"$gte": 8}}).sort("x") as managed:
        assert next(managed)["x"] == 8
        assert managed.next()["x"] == 9
        with pytest.raises(StopIteration):
            managed.next()


def test_command_cursors_start_when_called(scollection):
    from pymongo.errors import OperationFailure

    scollection.insert_many([{"x": i} for i in range(5)])
    cursor = scollection.aggregate([{"$match": {"x": {"$gte": 3}}}, {"$sort": {"x": 1}}])
    assert [doc["x"] for doc in cursor] == [3, 4]
    # PyMongo sends aggregate when called; so must synchro (Motor's is lazy).
    with pytest.raises(OperationFailure):
        scollection.aggregate([{"$noSuchStage": {}}])
    names = [index["name"] for index in scollection.list_indexes()]
    assert "_id_" in names


def test_wrapped_objects(sclient, scollection, framework):
    classes = synchro.api(framework).classes()
    database = scollection.database
    assert isinstance(database, classes["Database"])
    assert isinstance(scollection, classes["Collection"])
    assert database == sclient["motorlike_test"]
    assert database[scollection.name] == scollection
    assert repr(scollection).startswith("Collection(Database(MongoClient(")
    # Private PyMongo state is read from the PyMongo object underneath.
    assert sclient._topology is scollection.delegate.delegate.database.client._topology
    prefix = "AsyncIOMotor" if framework == "asyncio" else "Motor"
    assert type(sclient.delegate).__name__ == f"{prefix}Client"


def test_sessions(sclient, scollection, capabilities):
    if not capabilities.get("sessions"):
        pytest.skip("the test server lacks sessions")
    with sclient.start_session() as session:
        scollection.insert_one({"in": "session"}, session=session)
        assert scollection.find_one({"in": "session"}, session=session)["in"] == "session"
        assert session.client == sclient
        assert not session.has_ended
        with session.bind():
            assert scollection.count_documents({}) == 1
    assert session.has_ended


@pytest.mark.requires("transactions")
def test_with_transaction_takes_a_synchronous_callback(sclient, scollection):
    scollection.insert_one({"setup": True})

    def callback(session):
        # Runs in a helper thread; synchro calls inside it go to the loop.
        scollection.insert_one({"in": "transaction"}, session=session)
        return "done"

    with sclient.start_session() as session:
        assert session.with_transaction(callback) == "done"
        with session.start_transaction():
            scollection.insert_one({"second": True}, session=session)
    assert scollection.count_documents({}) == 3


def test_errors_are_pymongo_errors(scollection):
    from pymongo.errors import DuplicateKeyError

    scollection.insert_one({"_id": 1})
    with pytest.raises(DuplicateKeyError):
        scollection.insert_one({"_id": 1})


def test_gridfs_bucket(sclient, framework):
    pytest.importorskip("motorlike.motor_gridfs")
    classes = synchro.api(framework).classes()
    database = sclient["motorlike_test"]
    bucket = classes["GridFSBucket"](database, bucket_name=f"fs_{uuid.uuid4().hex[:8]}")
    try:
        file_id = bucket.upload_from_stream("hello.txt", b"hello world")
        grid_out = bucket.open_download_stream(file_id)
        assert grid_out.read() == b"hello world"
        assert grid_out.filename == "hello.txt"
        with bucket.open_upload_stream("second.txt") as grid_in:
            grid_in.write(b"abc")
        assert sorted(f.filename for f in bucket.find()) == ["hello.txt", "second.txt"]
    finally:
        bucket.drop()


def test_classification_follows_the_declarations():
    from motorlike import core

    assert classify(vars(core.AgnosticCollection)["insert_one"]) == COROUTINE
    assert classify(vars(core.AgnosticCollection)["with_options"]) == IN_CALLER
    assert classify(vars(core.AgnosticCollection)["name"]) == PROPERTY
    assert classify(vars(core.AgnosticCursor)["limit"]) == ON_LOOP
    assert classify(vars(core.AgnosticBaseCursor)["to_list"]) == ON_LOOP  # returns a future
    assert classify(vars(core.AgnosticClientSession)["with_transaction"]) == COROUTINE


# ---------------------------------------------------------------------------
# The import hook


@pytest.mark.no_server
def test_import_hook_maps_pymongo_to_synchro_and_leaves_bson(tmp_path):
    import bson
    import pymongo
    import pymongo.errors
    from pymongo.synchronous.collection import Collection as RealCollection

    package = tmp_path / "synchro_hook_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "probe.py").write_text(
        textwrap.dedent(
            """
            import bson
            import pymongo
            import pymongo.synchronous.collection
            from bson import ObjectId
            from gridfs import GridFSBucket
            from pymongo import MongoClient, errors
            from pymongo.asynchronous.mongo_client import AsyncMongoClient
            from pymongo.collection import Collection
            from pymongo.change_stream import CollectionChangeStream

            def lazily_imported():
                from pymongo.cursor import Cursor
                return Cursor
            """
        )
    )
    outside = tmp_path / "synchro_hook_outside.py"
    outside.write_text("from pymongo import MongoClient\n")

    api = synchro.api("asyncio")
    finder = importer.SynchroFinder(api, [str(package)])
    finder.install()
    sys.path.insert(0, str(tmp_path))
    try:
        probe = importlib.import_module("synchro_hook_probe.probe")
        outside_module = importlib.import_module("synchro_hook_outside")
    finally:
        finder.uninstall()
        sys.path.remove(str(tmp_path))
        for name in ("synchro_hook_probe.probe", "synchro_hook_probe", "synchro_hook_outside"):
            sys.modules.pop(name, None)

    classes = api.classes()
    assert probe.MongoClient is classes["MongoClient"]
    assert probe.Collection is classes["Collection"]
    assert probe.pymongo.synchronous.collection.Collection is classes["Collection"]
    assert probe.CollectionChangeStream is classes["ChangeStream"]
    assert probe.lazily_imported() is classes["Cursor"]
    if "GridFSBucket" in classes:
        assert probe.GridFSBucket is classes["GridFSBucket"]
    # Modules with nothing to replace are the real ones; bson is untouched.
    assert probe.errors is pymongo.errors
    assert probe.bson is bson and probe.ObjectId is bson.ObjectId
    assert probe.AsyncMongoClient is pymongo.AsyncMongoClient
    assert probe.pymongo is not pymongo and probe.pymongo.ASCENDING == pymongo.ASCENDING
    # Nothing changed for everyone else.
    assert sys.modules["pymongo"] is pymongo
    assert pymongo.synchronous.collection.Collection is RealCollection
    assert outside_module.MongoClient is pymongo.MongoClient


# ---------------------------------------------------------------------------
# Exclusions and the report


@pytest.mark.no_server
def test_exclusion_check_fails_on_an_entry_matching_nothing():
    collected = [
        "test/test_cursor.py::TestCursor::test_clone",
        "test/test_cursor.py::TestCursor::test_max[1]",
    ]
    matching = exclusions.Exclusion("test/test_cursor.py::TestCursor::test_max", "parametrized")
    stale = exclusions.Exclusion("test/test_cursor.py::TestCursor::test_gone", "renamed upstream")
    exclusions.check([matching], collected)
    with pytest.raises(exclusions.StaleExclusionError, match="test_gone"):
        exclusions.check([matching, stale], collected)
    assert exclusions.unmatched([matching, stale], collected) == [stale]
    assert not exclusions.matches("test/test_cursor.py::TestCursor::test_clo", collected[0])
    assert exclusions.matches("test/test_cursor.py::TestCursor::test_clo*", collected[0])
    assert not exclusions.matches("test/test_cursor.py::TestCursor::test_clo*", collected[1])
    prefix = exclusions.Exclusion("test/test_cursor.py::TestCursor::test_ma*", "a family")
    assert exclusions.unmatched([prefix, stale], collected) == [stale]
    with pytest.raises(ValueError, match="only end"):
        exclusions.Exclusion("test/test_cursor.py::*::test_max", "inner star")
    with pytest.raises(ValueError):
        exclusions.Exclusion("test/test_cursor.py::TestCursor::test_x", "  ")


@pytest.mark.no_server
def test_every_exclusion_has_a_reason_and_a_known_kind():
    for entry in exclusions.EXCLUSIONS:
        assert entry.reason.strip()
        assert entry.runs in ("both", "synchro")
    ids = [entry.id for entry in exclusions.EXCLUSIONS]
    assert len(ids) == len(set(ids))


@pytest.mark.no_server
def test_report_gap_is_plain_passes_that_fail_through_synchro():
    plain = {
        "outcomes": {
            "test/test_a.py::T::test_1": "passed",
            "test/test_a.py::T::test_2": "passed",
            "test/test_a.py::T::test_3": "failed",
            "test/test_a.py::T::test_4": "passed",
        }
    }
    through = {
        "outcomes": {
            "test/test_a.py::T::test_1": "passed",
            "test/test_a.py::T::test_2": "error",
            "test/test_a.py::T::test_3": "passed",
        }
    }
    excluded = [exclusions.Exclusion("test/test_a.py::T::test_4", "by design")]
    report = build_report("4.20.0", "asyncio", ["test_a.py"], plain, through, excluded)
    entry = report["files"]["test_a.py"]
    assert (entry["plain_passed"], entry["synchro_passed"]) == (3, 2)
    assert entry["gap"] == ["test/test_a.py::T::test_2"]
    assert report["framework"] == "asyncio" and report["pymongo_version"] == "4.20.0"


@pytest.mark.no_server
def test_full_runs_lose_only_the_file_pytest_cannot_run():
    """--full runs files in groups; a group that crashes is run again file by file."""
    calls: list[list[str]] = []

    def run_files(group: list[str]) -> dict:
        calls.append(list(group))
        if "test_broken.py" in group:
            raise runner.PytestRunFailed("pytest exited 2 (collection error)")
        return {
            "outcomes": {f"test/{name}::T::test_1": "passed" for name in group},
            "collected": [f"test/{name}::T::test_1" for name in group],
            "seconds": 1.0,
        }

    files = ["test_a.py", "test_b.py", "test_broken.py", "test_c.py", "test_d.py"]
    merged = runner.run_in_groups(files, run_files, group_size=3)
    assert calls == [
        ["test_a.py", "test_b.py", "test_broken.py"],  # fails: one by one
        ["test_a.py"], ["test_b.py"], ["test_broken.py"],
        ["test_c.py", "test_d.py"],
    ]
    assert sorted(merged["outcomes"]) == [f"test/{name}::T::test_1" for name in ("test_a.py", "test_b.py", "test_c.py", "test_d.py")]
    assert list(merged["failed_files"]) == ["test_broken.py"]
    assert "collection error" in merged["failed_files"]["test_broken.py"]
    # The report says which file was not run, and counts its plain passes as gap.
    plain = {"outcomes": {"test/test_broken.py::T::test_1": "passed", "test/test_a.py::T::test_1": "passed"}}
    report = build_report("4.20.0", "asyncio", ["test_a.py", "test_broken.py"], plain, merged, [])
    assert report["failed_files"]["synchro"] == merged["failed_files"]
    assert report["files"]["test_broken.py"]["gap"] == ["test/test_broken.py::T::test_1"]
    assert "not run (synchro): test_broken.py" in reports.format_table(report)


@pytest.mark.no_server
def test_markdown_table_counts_exclusions_and_lists_the_gap():
    import datetime

    from synchro import markdown

    plain = {"outcomes": {"test/test_a.py::T::test_1": "passed", "test/test_a.py::T::test_2": "passed"},
             "file_seconds": {"test/test_a.py": 1.2}}
    collected = ["test/test_a.py::T::test_1", "test/test_a.py::T::test_2", "test/test_a.py::T::test_3",
                 "test/test_a.py::U::test_4"]
    excluded = [
        exclusions.Exclusion("test/test_a.py::T::test_3", "Motor's API differs"),
        exclusions.Exclusion("test/test_a.py::U", "the server cannot", runs="both"),
    ]
    reports = {
        "asyncio": build_report("4.20.0", "asyncio", ["test_a.py"], plain,
                                {"outcomes": {"test/test_a.py::T::test_1": "passed"}, "collected": collected,
                                 "file_seconds": {"test/test_a.py": 3.4}}, excluded),
        "tornado": build_report("4.20.0", "tornado", ["test_a.py"], plain,
                                {"outcomes": {"test/test_a.py::T::test_1": "passed", "test/test_a.py::T::test_2": "passed"},
                                 "collected": collected}, excluded),
    }
    entry = reports["asyncio"]["files"]["test_a.py"]
    assert (entry["excluded_tests"], entry["server_excluded_tests"]) == (1, 1)
    text = markdown.render(reports, server="a test server", when=datetime.date(2026, 12, 2), found={"pymongo": "4.20.0"})
    assert "Run on 2026-12-02: PyMongo 4.20.0's suite, pymongo 4.20.0; server: a test server." in text
    assert "| `test_a.py` | 2 | 1 | 2 | 1 | 1 | 1 | 1 / 3 / 0 |" in text
    assert "- `test/test_a.py::T::test_2` (asyncio)" in text
    assert "- `test/test_a.py::T::test_3` (by design): Motor's API differs" in text
    assert "- `test/test_a.py::U` (server): the server cannot" in text


@pytest.mark.requires("change_streams")
def test_change_stream_opens_when_watch_is_called(scollection):
    import time

    with scollection.watch(max_await_time_ms=200) as stream:
        assert stream.alive
        # PyMongo opens the stream in watch(): a change made now is seen.
        scollection.insert_one({"watched": 1})
        deadline = time.monotonic() + 10
        change = None
        while change is None and time.monotonic() < deadline:
            change = stream.try_next()
        assert change is not None and change["operationType"] == "insert"
        assert stream.resume_token is not None
    assert not stream.alive


@pytest.mark.no_server
def test_combined_report_keeps_the_per_file_shape():
    def report(passed, gap):
        return {"files": {"test_a.py": {"plain_passed": 5, "synchro_passed": passed, "gap": gap, "excluded": []}}}

    combined = reports.combine_reports(
        "4.20.1",
        {"asyncio": report(5, []), "tornado": report(3, ["test/test_a.py::T::test_2", "test/test_a.py::T::test_1"])},
    )
    assert combined["pymongo_version"] == "4.20.1" and combined["framework"] == "asyncio+tornado"
    entry = combined["files"]["test_a.py"]
    assert (entry["plain_passed"], entry["synchro_passed"]) == (5, 3)
    assert entry["gap"] == ["test/test_a.py::T::test_1", "test/test_a.py::T::test_2"]
    assert entry["frameworks"]["asyncio"] == {"synchro_passed": 5, "gap": []}
    assert combined["gap_total"] == 2


@pytest.mark.no_server
def test_a_run_pytest_could_not_make_says_why(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(
        "_____ ERROR collecting test/test_fuzz_capture.py _____\n"
        "ImportError while importing test module 'test_fuzz_capture.py'.\n"
        "E   ModuleNotFoundError: No module named 'capture_corpus'\n"
    )
    assert reports.explain_failure(log) == "ModuleNotFoundError: No module named 'capture_corpus'"
    log.write_text("INTERNALERROR> SystemError: AST constructor recursion depth mismatch\n")
    assert reports.explain_failure(log) == "INTERNALERROR> SystemError: AST constructor recursion depth mismatch"
    log.write_text("1 failed, 2 passed\n")
    assert reports.explain_failure(log) is None
    assert reports.explain_failure(tmp_path / "missing.log") is None
