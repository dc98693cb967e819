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
    return WindowedGridIn(root, session, chunks_per_request=lambda chunk_size: chunks, **fields)


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
        root = pymongo_root if isinstance(grid_in, GridIn) else motorlike_root
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
