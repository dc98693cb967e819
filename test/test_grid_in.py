"""motorlike's windowed GridIn (motorlike/_grid_in.py) against PyMongo's GridIn.

The same writes through each must leave the same documents and indexes on the
server, and the same errors must come out; motorlike's only sends chunks
sooner (a window per insert).
"""

from __future__ import annotations

import io
import uuid
import warnings

import pytest
from bson import ObjectId
from gridfs.errors import FileExists
from gridfs.synchronous.grid_file import GridIn
from pymongo import MongoClient, monitoring
from pymongo.errors import ConfigurationError, InvalidOperation
from pymongo.write_concern import WriteConcern

from motorlike._grid_in import WindowedGridIn


def windowed(root, session=None, chunks=2, **fields):
    return WindowedGridIn(lambda chunk_size: chunks, root, session, **fields)


@pytest.fixture
def roots(sync_client):
    """Two fresh bucket roots of one database: PyMongo's and motorlike's."""
    db = sync_client[f"grid_in_{uuid.uuid4().hex[:8]}"]
    yield db.pymongo_fs, db.motorlike_fs
    sync_client.drop_database(db.name)


def stored(root, file_id):
    """The files document (without its upload date) and the chunks of one file, and the bucket's indexes."""
    file = root.files.find_one({"_id": file_id})
    assert file is not None
    file.pop("uploadDate")
    chunks = [(chunk["n"], chunk["data"]) for chunk in root.chunks.find({"files_id": file_id}, sort=[("n", 1)])]
    indexes = {
        name: sorted((sorted(dict(index["key"]).items()), bool(index.get("unique"))) for index in collection.list_indexes())
        for name, collection in (("files", root.files), ("chunks", root.chunks))
    }
    return file, chunks, indexes


@pytest.mark.parametrize(
    "writes",
    [
        [b""],
        [b"x" * 25],
        [b"abc", b"defghijk", b"l" * 21, io.BytesIO(b"m" * 17), b"n"],
        [b"q" * 30, b"r" * 10],  # whole chunks only
        ["héllo wörld"],  # with an encoding field
    ],
)
def test_the_same_writes_store_the_same_file(roots, writes):
    pymongo_root, motorlike_root = roots
    fields = {"filename": "f", "chunk_size": 10, "contentType": "text/plain", "metadata": {"a": 1}, "encoding": "utf-8"}
    file_id = ObjectId()
    theirs = GridIn(pymongo_root, _id=file_id, **fields)
    ours = windowed(motorlike_root, _id=file_id, **fields)
    for data in writes:
        if isinstance(data, io.BytesIO):  # a file-like object: a fresh one each
            theirs.write(io.BytesIO(data.getvalue()))
            ours.write(io.BytesIO(data.getvalue()))
        else:
            theirs.write(data)
            ours.write(data)
    theirs.close()
    ours.close()
    assert stored(motorlike_root, file_id) == stored(pymongo_root, file_id)
    assert ours.length == theirs.length and ours.closed and ours.upload_date is not None


def test_chunks_go_a_window_per_insert(sync_client, roots):
    _, root = roots
    inserted = []

    class Inserts(monitoring.CommandListener):
        def started(self, event):
            if event.command_name == "insert" and event.command.get("insert") == "motorlike_fs.chunks":
                inserted.append(len(event.command["documents"]))

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    listener = Inserts()
    client = MongoClient(sync_client.address[0], sync_client.address[1], event_listeners=[listener])
    try:
        ours = windowed(client[root.database.name].motorlike_fs, chunks=3, chunk_size=10)
        ours.write(b"x" * 25)
        assert inserted == []  # two whole chunks wait for a third
        ours.write(b"y" * 70)
        assert inserted == [3, 3, 3]
        ours.close()
        assert inserted == [3, 3, 3, 1]
    finally:
        client.close()


def test_fields_properties_and_errors_as_pymongos(roots):
    pymongo_root, motorlike_root = roots
    for grid_in in (GridIn(pymongo_root, filename="a"), windowed(motorlike_root, filename="a")):
        kind = type(grid_in).__name__
        assert grid_in.filename == grid_in.name == "a", kind
        assert grid_in.chunk_size == 255 * 1024 and not grid_in.closed, kind
        for closed_only in ("length", "upload_date"):
            with pytest.raises(AttributeError):  # ("can only get ... on a closed file", then __getattr__)
                getattr(grid_in, closed_only)
        for read_only in ("_id", "chunk_size"):
            with pytest.raises(AttributeError):
                setattr(grid_in, read_only, 1)
        with pytest.warns(DeprecationWarning):
            grid_in.content_type = "text/plain"
        grid_in.extra = {"b": 2}
        assert grid_in.extra == {"b": 2}
        with pytest.raises(AttributeError, match="has no attribute 'missing'"):
            grid_in.missing
        with pytest.raises(TypeError, match="encoding"):
            grid_in.write("text without an encoding")
        with pytest.raises(TypeError, match="strings or file-like"):
            grid_in.write(12)
        with pytest.raises(io.UnsupportedOperation):
            grid_in.read()
        assert (grid_in.readable(), grid_in.seekable(), grid_in.writeable()) == (False, False, True)
        grid_in.close()
        grid_in.close()  # again: nothing
        with pytest.raises(ValueError, match="closed file"):
            grid_in.write(b"more")
        assert grid_in.length == 0
        # After close a field goes to the server at once.
        grid_in.extra = {"c": 3}
        root = motorlike_root if isinstance(grid_in, WindowedGridIn) else pymongo_root
        assert root.files.find_one({"_id": grid_in._id})["extra"] == {"c": 3}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            assert grid_in.md5 is None


def test_a_taken_id_is_file_exists_and_abort_deletes(roots):
    _, root = roots
    first = windowed(root, _id=1, chunk_size=4)
    first.write(b"12345678")
    first.close()
    with pytest.raises(FileExists):
        again = windowed(root, _id=1, chunk_size=4)
        again.write(b"abcdefgh")  # the chunks' ids clash on (files_id, n)
        again.close()

    aborted = windowed(root, _id=2, chunk_size=4, chunks=1)
    aborted.write(b"abcdefghij")
    assert root.chunks.count_documents({"files_id": 2}) == 2
    aborted.abort()
    assert aborted.closed
    assert root.chunks.count_documents({"files_id": 2}) == 0 and root.files.count_documents({"_id": 2}) == 0


def test_with_closes_or_only_marks_closed(roots):
    _, root = roots
    with windowed(root, _id="ok") as grid_in:
        grid_in.write(b"data")
    assert root.files.count_documents({"_id": "ok"}) == 1
    with pytest.raises(RuntimeError):
        with windowed(root, _id="failed") as grid_in:
            grid_in.write(b"data")
            raise RuntimeError("boom")
    assert grid_in.closed and root.files.count_documents({"_id": "failed"}) == 0


def test_bad_root_collection_write_concern_and_transactions(roots, sync_client):
    _, root = roots
    with pytest.raises(TypeError):
        windowed(root.database)
    with pytest.raises(ConfigurationError):
        windowed(root.with_options(write_concern=WriteConcern(w=0)))

    class InTransaction:
        in_transaction = True

    with pytest.raises(InvalidOperation, match="transactions"):
        windowed(root, session=InTransaction())


def test_a_failed_insert_leaves_the_file_failed_never_short_or_doubled(roots, monkeypatch):
    """After an insert of chunks fails, writing on or closing raises that error
    again: a file missing a chunk, or with one stored twice, is never completed."""
    _, root = roots
    from pymongo.errors import AutoReconnect
    from pymongo.synchronous.collection import Collection

    real_insert_many = Collection.insert_many
    calls = []

    def fails_once(self, documents, *args, **kwargs):
        calls.append([document["n"] for document in documents])
        if len(calls) == 1:
            raise AutoReconnect("connection lost")
        return real_insert_many(self, documents, *args, **kwargs)

    monkeypatch.setattr(Collection, "insert_many", fails_once)
    grid_in = windowed(root, _id="broken", chunk_size=2, chunks=2)
    grid_in.write(b"ab")
    with pytest.raises(AutoReconnect):
        grid_in.write(b"cdef")  # the second chunk fills the window: the insert fails
    for later in (lambda: grid_in.write(b"gh"), grid_in.close):
        with pytest.raises(AutoReconnect):
            later()
    assert calls == [[0, 1]]  # nothing was sent again, under the same or another n
    assert root.files.count_documents({"_id": "broken"}) == 0 and not grid_in.closed
    grid_in.abort()
    assert root.chunks.count_documents({"files_id": "broken"}) == 0


def test_a_chunk_larger_than_the_chunk_size_is_refused(roots):
    _, root = roots

    class Greedy:
        """A reader that returns more than it is asked for."""

        def __init__(self) -> None:
            self.data = b"0123456789"

        def read(self, size: int = -1) -> bytes:
            data, self.data = self.data, b""
            return data

    grid_in = windowed(root, _id="greedy", chunk_size=4)
    grid_in.write(Greedy())
    with pytest.raises(ValueError, match="larger than the file's chunk size"):
        grid_in.close()
    assert root.files.count_documents({"_id": "greedy"}) == 0


def test_bulk_errors_become_the_errors_of_one_insert():
    from pymongo.errors import BulkWriteError, WriteConcernError, WriteError, WTimeoutError

    from motorlike._grid_in import _single_insert_error

    def bulk(write_errors=(), concern_errors=()):
        return BulkWriteError({"writeErrors": list(write_errors), "writeConcernErrors": list(concern_errors)})

    assert isinstance(_single_insert_error(bulk([{"code": 11000, "errmsg": "dup"}]), 1), FileExists)
    error = _single_insert_error(bulk([{"code": 2, "errmsg": "first"}, {"code": 121, "errmsg": "last"}]), 1)
    assert type(error) is WriteError and error.code == 121
    timed_out = _single_insert_error(bulk(concern_errors=[{"code": 64, "errmsg": "x", "errInfo": {"wtimeout": True}}]), 1)
    assert type(timed_out) is WTimeoutError
    assert type(_single_insert_error(bulk(concern_errors=[{"code": 50, "errmsg": "x"}]), 1)) is WTimeoutError
    assert type(_single_insert_error(bulk(concern_errors=[{"code": 100, "errmsg": "x"}]), 1)) is WriteConcernError


def test_an_index_with_the_keys_in_another_order_is_not_made_again(roots):
    _, root = roots
    root.chunks.create_index([("n", 1), ("files_id", 1)], unique=True)
    grid_in = windowed(root, chunk_size=4)
    grid_in.write(b"abcdefgh")
    grid_in.close()
    keys = [sorted(dict(index["key"]).items()) for index in root.chunks.list_indexes() if index["name"] != "_id_"]
    assert keys == [[("files_id", 1), ("n", 1)]]


def test_constructor_aliases_set_after_close_writelines_and_type(roots):
    _, root = roots
    grid_in = windowed(root, _id="f", content_type="text/plain", chunk_size=3)
    assert isinstance(grid_in, GridIn)  # code that checks for PyMongo's class still finds one
    grid_in.writelines([b"ab", b"cd", b"e"])
    grid_in.close()
    grid_in.set("label", "x")
    stored = root.files.find_one({"_id": "f"})
    assert (stored["contentType"], stored["chunkSize"], stored["length"], stored["label"]) == ("text/plain", 3, 5, "x")
    assert [chunk["data"] for chunk in root.chunks.find({"files_id": "f"}, sort=[("n", 1)])] == [b"abc", b"de"]
