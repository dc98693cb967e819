"""GridFS: the bucket, GridIn, GridOut and GridOutCursor, on both frameworks."""

from __future__ import annotations

import asyncio
import io
import threading
import uuid
import warnings

import pytest
from bson import ObjectId
from gridfs.errors import NoFile
from pymongo import monitoring
from pymongo.errors import InvalidOperation

from motorlike import motor_asyncio, motor_gridfs, motor_tornado
from test.conftest import make_client

MODULES = {"asyncio": motor_asyncio, "tornado": motor_tornado}
PREFIXES = {"asyncio": "AsyncIO", "tornado": ""}


def gridfs_class(framework: str, name: str) -> type:
    return getattr(MODULES[framework], PREFIXES[framework] + "Motor" + name)


@pytest.fixture
def bucket_name(db, sync_client):
    """A fresh bucket name; its two collections are dropped after the test."""
    name = f"b_{uuid.uuid4().hex[:12]}"
    yield name
    sync_client[db.name].drop_collection(f"{name}.files")
    sync_client[db.name].drop_collection(f"{name}.chunks")


@pytest.fixture
def bucket(framework, db, bucket_name):
    return gridfs_class(framework, "GridFSBucket")(db, bucket_name)


@pytest.fixture
def raw_bucket(db, bucket_name, sync_client):
    """The bucket's two collections, through plain PyMongo."""
    database = sync_client[db.name]
    return database[f"{bucket_name}.files"], database[f"{bucket_name}.chunks"]


# ---------------------------------------------------------------------------
# The bucket


async def test_classes_are_generated_per_framework(framework, bucket):
    assert type(bucket) is gridfs_class(framework, "GridFSBucket")
    assert isinstance(bucket, motor_gridfs.AgnosticGridFSBucket)
    grid_in = bucket.open_upload_stream("x")
    assert type(grid_in) is gridfs_class(framework, "GridIn")
    assert type(bucket.find()) is gridfs_class(framework, "GridOutCursor")
    assert bucket.collection.name == bucket.bucket_name


async def test_upload_and_download_whole_files(bucket):
    data = b"data I want to store!" * 1000
    file_id = await bucket.upload_from_stream("test_file", data, chunk_size_bytes=1000, metadata={"k": "v"})
    assert isinstance(file_id, ObjectId)

    destination = io.BytesIO()
    await bucket.download_to_stream(file_id, destination)
    assert destination.getvalue() == data

    # From a file-like source, with our own id.
    await bucket.upload_from_stream_with_id("my-id", "test_file", io.BytesIO(b"second version"))
    destination = io.BytesIO()
    await bucket.download_to_stream_by_name("test_file", destination)
    assert destination.getvalue() == b"second version"
    destination = io.BytesIO()
    await bucket.download_to_stream_by_name("test_file", destination, revision=0)
    assert destination.getvalue() == data


async def test_open_download_stream_reads(bucket):
    data = b"line one\nline two\nthe rest"
    file_id = await bucket.upload_from_stream("lines", data, chunk_size_bytes=5)
    grid_out = await bucket.open_download_stream(file_id)
    assert grid_out.length == len(data)
    assert grid_out.filename == grid_out.name == "lines"
    assert grid_out.chunk_size == 5
    assert grid_out._id == file_id
    assert grid_out.upload_date is not None
    assert await grid_out.readline() == b"line one\n"
    assert grid_out.tell() == 9
    assert await grid_out.read(4) == b"line"
    assert await grid_out.readchunk() == b" t"  # the rest of the current chunk
    assert await grid_out.read() == b"wo\nthe rest"
    assert await grid_out.read() == b""
    assert grid_out.seek(0) == 0
    assert await grid_out.read() == data
    assert grid_out.seek(-4, 2) == len(data) - 4
    assert await grid_out.read() == b"rest"
    grid_out.seek(5)
    assert grid_out.seek(-5, 1) == 0
    assert await grid_out.readlines() == [b"line one\n", b"line two\n", b"the rest"]

    by_name = await bucket.open_download_stream_by_name("lines")
    assert await by_name.read() == data


async def test_async_for_reads_chunk_by_chunk(bucket):
    data = bytes(range(256)) * 10
    file_id = await bucket.upload_from_stream("chunks", data, chunk_size_bytes=1000)
    grid_out = await bucket.open_download_stream(file_id)
    chunks = [chunk async for chunk in grid_out]
    assert [len(chunk) for chunk in chunks] == [1000, 1000, 560]
    assert b"".join(chunks) == data


async def test_revisions_and_missing_revision(bucket):
    for content in (b"v0", b"v1", b"v2"):
        await bucket.upload_from_stream("doc", content)
    assert await (await bucket.open_download_stream_by_name("doc")).read() == b"v2"
    assert await (await bucket.open_download_stream_by_name("doc", revision=0)).read() == b"v0"
    assert await (await bucket.open_download_stream_by_name("doc", revision=-2)).read() == b"v1"
    with pytest.raises(NoFile):
        await bucket.open_download_stream_by_name("doc", revision=3)


async def test_missing_file_raises_nofile(framework, bucket):
    missing = ObjectId()
    with pytest.raises(NoFile):
        await bucket.open_download_stream(missing)
    with pytest.raises(NoFile):
        await bucket.open_download_stream_by_name("no such file")
    with pytest.raises(NoFile):
        await bucket.download_to_stream(missing, io.BytesIO())
    with pytest.raises(NoFile):
        await bucket.download_to_stream_by_name("no such file", io.BytesIO())
    with pytest.raises(NoFile):
        await bucket.delete(missing)
    with pytest.raises(NoFile):
        await bucket.rename(missing, "new name")
    grid_out = gridfs_class(framework, "GridOut")(bucket.collection, file_id=missing)
    with pytest.raises(NoFile):
        await grid_out.open()
    with pytest.raises(NoFile):
        await grid_out.read()


async def test_delete_rename_and_drop(bucket, raw_bucket):
    files, chunks = raw_bucket
    file_id = await bucket.upload_from_stream("one", b"1" * 10, chunk_size_bytes=4)
    await bucket.upload_from_stream("two", b"2")
    await bucket.upload_from_stream("two", b"22")

    await bucket.rename(file_id, "uno")
    assert (await bucket.open_download_stream_by_name("uno"))._id == file_id
    await bucket.rename_by_name("two", "dos")
    assert files.count_documents({"filename": "dos"}) == 2

    await bucket.delete(file_id)
    assert chunks.count_documents({"files_id": file_id}) == 0
    await bucket.delete_by_name("dos")
    assert files.count_documents({}) == 0

    await bucket.upload_from_stream("three", b"3")
    await bucket.drop()
    assert files.count_documents({}) == 0 and chunks.count_documents({}) == 0


# ---------------------------------------------------------------------------
# GridIn


async def test_open_upload_stream_is_synchronous_and_writes(bucket, raw_bucket):
    files, _ = raw_bucket
    grid_in = bucket.open_upload_stream("upload", chunk_size_bytes=4, metadata={"contentType": "text/plain"})
    assert not asyncio.iscoroutine(grid_in)
    assert grid_in.closed is False
    assert grid_in.filename == grid_in.name == "upload"
    assert grid_in.chunk_size == 4
    assert grid_in.readable() is False and grid_in.seekable() is False and grid_in.writeable() is True
    with pytest.raises(AttributeError):
        grid_in.length  # only once closed, as in PyMongo

    await grid_in.write(b"data I ")
    await grid_in.writelines([b"want ", b"to ", io.BytesIO(b"store!")])
    await grid_in.close()
    await grid_in.close()  # closing twice is allowed
    assert grid_in.closed is True
    assert grid_in.length == len(b"data I want to store!")
    assert grid_in.upload_date is not None
    with pytest.raises(ValueError):
        await grid_in.write(b"more")

    # set() after close updates the files document at once.
    await grid_in.set("my_field", "my_value")
    document = files.find_one({"_id": grid_in._id})
    assert document["my_field"] == "my_value"
    assert document["metadata"] == {"contentType": "text/plain"}
    grid_out = await bucket.open_download_stream(grid_in._id)
    assert grid_out.my_field == "my_value"
    assert grid_out.metadata == {"contentType": "text/plain"}
    assert await grid_out.read() == b"data I want to store!"


async def test_open_upload_stream_with_id(bucket):
    file_id = ObjectId()
    grid_in = bucket.open_upload_stream_with_id(file_id, "with id")
    await grid_in.write(b"abc")
    await grid_in.close()
    assert grid_in._id == file_id
    assert await (await bucket.open_download_stream(file_id)).read() == b"abc"


async def test_set_before_close_is_stored_on_close(bucket, raw_bucket):
    files, _ = raw_bucket
    grid_in = bucket.open_upload_stream("later")
    await grid_in.set("colour", "blue")
    assert grid_in.colour == "blue"
    assert files.count_documents({}) == 0
    await grid_in.close()
    assert files.find_one({"_id": grid_in._id})["colour"] == "blue"


async def test_set_a_property_sets_its_field(bucket, raw_bucket):
    files, _ = raw_bucket
    grid_in = bucket.open_upload_stream("typed")
    with pytest.warns(DeprecationWarning):  # PyMongo deprecates content_type
        await grid_in.set("content_type", "text/html")
        assert grid_in.content_type == "text/html"
    await grid_in.close()
    with pytest.warns(DeprecationWarning):
        await grid_in.set("content_type", "text/plain")  # after close: sent at once
    assert files.find_one({"_id": grid_in._id})["contentType"] == "text/plain"


async def test_async_with_closes(bucket):
    async with bucket.open_upload_stream("ctx") as grid_in:
        await grid_in.write(b"First part\n")
        await grid_in.write(b"Second part")
    assert grid_in.closed
    assert await (await bucket.open_download_stream(grid_in._id)).read() == b"First part\nSecond part"


async def test_async_with_error_marks_closed_without_files_document(bucket, raw_bucket):
    files, _ = raw_bucket
    with pytest.raises(RuntimeError):
        async with bucket.open_upload_stream("failing") as grid_in:
            await grid_in.write(b"partial")
            raise RuntimeError("boom")
    assert grid_in.closed
    assert files.count_documents({}) == 0
    await grid_in.abort()  # the way to remove chunks already sent


async def test_aborted_upload_leaves_no_chunks(bucket, raw_bucket):
    files, chunks = raw_bucket
    grid_in = bucket.open_upload_stream("aborted", chunk_size_bytes=1024)
    await grid_in.write(b"x" * 10_000)  # several chunks worth
    await grid_in.abort()
    assert grid_in.closed
    assert chunks.count_documents({"files_id": grid_in._id}) == 0
    assert files.count_documents({"_id": grid_in._id}) == 0

    # Aborting a closed upload removes it entirely.
    grid_in = bucket.open_upload_stream("closed then aborted", chunk_size_bytes=1024)
    await grid_in.write(b"y" * 5000)
    await grid_in.close()
    assert chunks.count_documents({"files_id": grid_in._id}) == 5
    await grid_in.abort()
    assert chunks.count_documents({"files_id": grid_in._id}) == 0
    assert files.count_documents({"_id": grid_in._id}) == 0


async def test_non_bytes_write_raises_type_error(framework, bucket):
    grid_in = bucket.open_upload_stream("bad input")
    for bad in (12, 1.5, object(), [b"a"], None):
        with pytest.raises(TypeError):
            await grid_in.write(bad)
    with pytest.raises(TypeError):
        await grid_in.write("text without an encoding")
    with pytest.raises(TypeError):
        await grid_in.writelines([b"ok", 3])
    await grid_in.abort()

    # str is accepted when the file has an encoding.
    grid_in = gridfs_class(framework, "GridIn")(bucket.collection, filename="text", encoding="utf-8")
    await grid_in.write("héllo")
    await grid_in.close()
    assert await (await bucket.open_download_stream(grid_in._id)).read() == "héllo".encode()


async def test_grid_in_constructor(framework, bucket, collection):
    grid_in_class = gridfs_class(framework, "GridIn")
    grid_in = grid_in_class(bucket.collection, filename="direct", content_type="text/plain", chunk_size=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert grid_in.content_type == "text/plain"
    assert grid_in.chunk_size == 3
    await grid_in.write(b"abcdefg")
    await grid_in.close()
    assert await (await bucket.open_download_stream_by_name("direct")).read() == b"abcdefg"
    with pytest.raises(TypeError):
        grid_in_class(bucket.collection.delegate)


# ---------------------------------------------------------------------------
# GridOut


async def test_grid_out_properties_need_open(framework, bucket):
    file_id = await bucket.upload_from_stream("props", b"12345", metadata={"a": 1})
    grid_out = gridfs_class(framework, "GridOut")(bucket.collection, file_id=file_id)
    for name in ("length", "filename", "metadata", "upload_date", "chunk_size", "_id", "name", "custom"):
        with pytest.raises(InvalidOperation):
            getattr(grid_out, name)
    with pytest.raises(InvalidOperation):
        grid_out.seek(0, 2)
    assert await grid_out.open() is grid_out
    assert grid_out.length == 5
    assert grid_out.metadata == {"a": 1}
    assert grid_out._id == file_id
    with pytest.raises(AttributeError):
        grid_out.custom
    assert grid_out.readable() and grid_out.seekable() and not grid_out.writable()
    with pytest.raises(io.UnsupportedOperation):
        grid_out.write(b"no")
    assert await grid_out.read() == b"12345"


async def test_grid_out_reads_without_open(framework, bucket):
    file_id = await bucket.upload_from_stream("unopened", b"read me", chunk_size_bytes=2)
    grid_out = gridfs_class(framework, "GridOut")(bucket.collection, file_id=file_id)
    assert await grid_out.read() == b"read me"  # opens itself, on the worker
    assert grid_out.length == 7
    grid_out = gridfs_class(framework, "GridOut")(bucket.collection, file_id=file_id)
    assert [chunk async for chunk in grid_out] == [b"re", b"ad", b" m", b"e"]


async def test_grid_out_close(bucket):
    file_id = await bucket.upload_from_stream("closing", b"z" * 100, chunk_size_bytes=10)
    grid_out = await bucket.open_download_stream(file_id)
    assert await grid_out.read(15) == b"z" * 15  # a chunk cursor is now open
    result = grid_out.close()
    await result
    assert grid_out.closed
    # Without a chunk cursor, close() need not be awaited.
    grid_out = await bucket.open_download_stream(file_id)
    grid_out.close()
    assert grid_out.closed


async def test_seek_mid_file_then_read(bucket):
    data = bytes(range(100))
    file_id = await bucket.upload_from_stream("seek", data, chunk_size_bytes=7)
    grid_out = await bucket.open_download_stream(file_id)
    assert await grid_out.read(20) == data[:20]
    grid_out.seek(50)
    assert await grid_out.read(10) == data[50:60]
    grid_out.seek(3)
    assert await grid_out.read() == data[3:]


async def test_grid_out_equality(bucket):
    file_id = await bucket.upload_from_stream("eq", b"x")
    grid_out = await bucket.open_download_stream(file_id)
    assert grid_out == grid_out
    with pytest.raises(TypeError):
        hash(grid_out)


# ---------------------------------------------------------------------------
# GridOutCursor


async def test_find_yields_grid_outs(framework, bucket):
    for index in range(5):
        await bucket.upload_from_stream(f"file{index}", b"#" * index, metadata={"index": index})
    grid_out_class = gridfs_class(framework, "GridOut")

    found = []
    async for grid_out in bucket.find({}, batch_size=2).sort("filename", -1):
        assert type(grid_out) is grid_out_class
        found.append((grid_out.filename, grid_out.length, await grid_out.read()))
    assert found == [(f"file{index}", index, b"#" * index) for index in reversed(range(5))]

    listed = await bucket.find({"metadata.index": {"$gte": 2}}).sort("metadata.index", 1).to_list(None)
    assert [grid_out.metadata["index"] for grid_out in listed] == [2, 3, 4]
    assert all(type(grid_out) is grid_out_class for grid_out in listed)
    assert await listed[1].read() == b"###"

    assert [g.filename for g in await bucket.find().sort("filename", 1).skip(1).limit(2).to_list(10)] == [
        "file1",
        "file2",
    ]
    cursor = bucket.find({"filename": "file3"})
    grid_out = await cursor.next()
    assert type(grid_out) is grid_out_class and grid_out.length == 3
    with pytest.raises(StopAsyncIteration):
        await cursor.next()

    cursor = bucket.find({"filename": "file4"})
    grid_out = await cursor.try_next()
    assert grid_out.filename == "file4"
    assert await cursor.try_next() is None

    cursor = bucket.find({}, sort=[("filename", 1)])
    with pytest.warns(DeprecationWarning):
        assert await cursor.fetch_next
    with pytest.warns(DeprecationWarning):
        grid_out = cursor.next_object()
    assert type(grid_out) is grid_out_class and grid_out.filename == "file0"
    await cursor.close()

    clone = bucket.find({"filename": "file2"}).clone()
    assert [g.length async for g in clone] == [2]
    assert await bucket.find().distinct("filename") == [f"file{index}" for index in range(5)]


async def test_grid_out_cursor_unsupported_options(bucket):
    with pytest.raises(NotImplementedError):
        bucket.find().add_option(2)
    with pytest.raises(NotImplementedError):
        bucket.find().remove_option(2)


async def test_wrap(framework, bucket):
    pymongo_bucket = bucket.delegate
    wrapped = bucket.wrap(pymongo_bucket.open_upload_stream("wrapped"))
    assert type(wrapped) is gridfs_class(framework, "GridIn")
    assert type(bucket.wrap(pymongo_bucket.find())) is gridfs_class(framework, "GridOutCursor")


# ---------------------------------------------------------------------------
# Never blocking the event loop


class ThreadRecorder(monitoring.CommandListener):
    """Records which thread started each command."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, int]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.command_name, threading.get_ident()))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_no_server_call_on_the_event_loop_thread(framework, server_uri, db, bucket_name):
    recorder = ThreadRecorder()
    monitored = make_client(framework, server_uri, event_listeners=[recorder])
    try:
        bucket = gridfs_class(framework, "GridFSBucket")(monitored[db.name], bucket_name)
        for index in range(4):
            grid_in = bucket.open_upload_stream(f"f{index}", chunk_size_bytes=100)
            await grid_in.write(bytes(350))
            await grid_in.close()
        total = 0
        async for grid_out in bucket.find({}, batch_size=2):
            async for chunk in grid_out:
                total += len(chunk)
            grid_out.seek(0)
            total += len(await grid_out.readchunk())
            await grid_out.close()
        assert total == 4 * (350 + 100)
        loop_thread = threading.get_ident()
        names = {name for name, _ in recorder.commands}
        assert {"find", "insert", "getMore"} <= names
        on_loop = [name for name, thread in recorder.commands if thread == loop_thread]
        assert not on_loop, f"commands sent from the event loop's thread: {on_loop}"
    finally:
        monitored.close()


async def test_chunk_cursor_batches_are_bounded(bucket, monkeypatch):
    # A small batch bound: 3 chunks of 10 bytes per batch.
    monkeypatch.setattr(motor_gridfs, "CHUNK_BATCH_BYTES", 30)
    data = bytes(range(95))
    file_id = await bucket.upload_from_stream("batched", data, chunk_size_bytes=10)
    grid_out = await bucket.open_download_stream(file_id)
    assert b"".join([chunk async for chunk in grid_out]) == data
    assert grid_out.delegate._chunk_iter._cursor._batch_size == 3


class ChunkCommandRecorder(monitoring.CommandListener):
    """Records the commands sent to a bucket's chunks collection."""

    def __init__(self, bucket_name: str) -> None:
        self.chunks = f"{bucket_name}.chunks"
        self.commands: list[dict] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if command.get(event.command_name) == self.chunks or command.get("collection") == self.chunks:
            self.commands.append(dict(command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def inserted_per_command(self) -> list[int]:
        return [len(c["documents"]) for c in self.commands if "insert" in c]


@pytest.fixture
def recorded_bucket(framework, server_uri, db, bucket_name):
    """A bucket on a client of its own that records its chunk commands."""
    recorder = ChunkCommandRecorder(bucket_name)
    monitored = make_client(framework, server_uri, event_listeners=[recorder])
    yield gridfs_class(framework, "GridFSBucket")(monitored[db.name], bucket_name), recorder
    monitored.close()


async def test_uploads_send_chunks_as_the_buffer_fills(recorded_bucket, monkeypatch):
    bucket, recorder = recorded_bucket
    # PyMongo alone would collect up to 48 MB of chunks for one insert.
    monkeypatch.setattr(motor_gridfs, "UPLOAD_BUFFER_BYTES", 30)
    data = bytes(range(95))  # 10 chunks of 10 bytes, the last one short
    await bucket.upload_from_stream("from-stream", data, chunk_size_bytes=10)
    assert recorder.inserted_per_command() == [3, 3, 3, 1]

    recorder.commands.clear()
    grid_in = bucket.open_upload_stream("written", chunk_size_bytes=10)
    await grid_in.write(data[:25])
    # Two full chunks wait in the buffer: nothing sent yet.
    assert recorder.inserted_per_command() == []
    await grid_in.write(data[25:])
    assert recorder.inserted_per_command() == [3, 3, 3]
    await grid_in.close()
    assert recorder.inserted_per_command() == [3, 3, 3, 1]
    assert await (await bucket.open_download_stream(grid_in._id)).read() == data


async def test_default_upload_sends_every_chunk_alone(recorded_bucket):
    bucket, recorder = recorded_bucket
    size = 2 * motor_gridfs.DEFAULT_CHUNK_SIZE + 1000
    await bucket.upload_from_stream("default", bytes(size))
    assert recorder.inserted_per_command() == [1, 1, 1]


async def test_download_to_stream_reads_bounded_batches(recorded_bucket, monkeypatch):
    bucket, recorder = recorded_bucket
    monkeypatch.setattr(motor_gridfs, "CHUNK_BATCH_BYTES", 30)
    data = bytes(range(95))
    file_id = await bucket.upload_from_stream("bounded", data, chunk_size_bytes=10)
    for download in (
        lambda sink: bucket.download_to_stream(file_id, sink),
        lambda sink: bucket.download_to_stream_by_name("bounded", sink),
    ):
        recorder.commands.clear()
        sink = io.BytesIO()
        await download(sink)
        assert sink.getvalue() == data
        finds = [c for c in recorder.commands if "find" in c]
        get_mores = [c for c in recorder.commands if "getMore" in c]
        assert [c.get("batchSize") for c in finds] == [3]
        assert len(get_mores) == 3 and all(c.get("batchSize") == 3 for c in get_mores)


# ---------------------------------------------------------------------------
# Construction


async def test_bucket_constructor_checks(framework, db, client):
    bucket_class = gridfs_class(framework, "GridFSBucket")
    with pytest.raises(TypeError):
        bucket_class(db.delegate)
    with pytest.raises(TypeError):
        bucket_class(client)
    other = "tornado" if framework == "asyncio" else "asyncio"
    other_client = make_client(other, "mongodb://127.0.0.1:1/")
    try:
        with pytest.raises(TypeError):
            bucket_class(other_client["x"])
    finally:
        other_client.close()
    with pytest.warns(DeprecationWarning):
        bucket = bucket_class(db, collection="legacy")
    assert bucket.bucket_name == "legacy"
    from pymongo import WriteConcern
    from pymongo.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        bucket_class(db, write_concern=WriteConcern(w=0))


async def test_bucket_options(framework, db, bucket_name, raw_bucket):
    from pymongo import ReadPreference, WriteConcern

    bucket = gridfs_class(framework, "GridFSBucket")(
        db, bucket_name, chunk_size_bytes=3, write_concern=WriteConcern(w=1), read_preference=ReadPreference.PRIMARY
    )
    await bucket.upload_from_stream("small chunks", b"abcdefgh")
    _, chunks = raw_bucket
    assert chunks.count_documents({}) == 3
    assert bucket.collection.write_concern == WriteConcern(w=1)


class _PosingDatabase:
    """A stand-in posing as AsyncIOMotorDatabase, the way mongomock-motor's classes do."""

    def __init__(self, delegate, io_loop_source) -> None:
        self.delegate = delegate
        self._io_loop_source = io_loop_source

    @property
    def __class__(self):
        return motor_asyncio.AsyncIOMotorDatabase

    def get_io_loop(self):
        return self._io_loop_source()

    def __getattr__(self, name):
        raise AssertionError(f"the bucket must not use {name!r}")


async def test_bucket_accepts_object_posing_as_database(sync_client):
    database = sync_client["motorlike_test"]
    name = f"posing_{uuid.uuid4().hex[:12]}"
    posing = _PosingDatabase(database, asyncio.get_running_loop)
    assert isinstance(posing, motor_asyncio.AsyncIOMotorDatabase)
    try:
        bucket = motor_asyncio.AsyncIOMotorGridFSBucket(posing, name)
        file_id = await bucket.upload_from_stream("posing", b"through a stand-in")
        assert await (await bucket.open_download_stream(file_id)).read() == b"through a stand-in"
        assert [g.filename async for g in bucket.find()] == ["posing"]
        with pytest.raises(TypeError):
            motor_tornado.MotorGridFSBucket(posing, name)
    finally:
        database.drop_collection(f"{name}.files")
        database.drop_collection(f"{name}.chunks")


async def test_reading_the_whole_rest_lets_the_server_fill_batches(recorded_bucket, monkeypatch):
    # The rest of the file is in memory at once then anyway: no reason for
    # a getMore per bounded batch.
    bucket, recorder = recorded_bucket
    monkeypatch.setattr(motor_gridfs, "CHUNK_BATCH_BYTES", 30)
    data = bytes(range(95))
    file_id = await bucket.upload_from_stream("whole", data, chunk_size_bytes=10)
    for read in (lambda g: g.read(), lambda g: g.read(-1), lambda g: g.read(95), lambda g: g.read(1000)):
        recorder.commands.clear()
        grid_out = await bucket.open_download_stream(file_id)
        assert await read(grid_out) == data
        finds = [c for c in recorder.commands if "find" in c]
        assert [c.get("batchSize") for c in finds] == [None]
        assert not [c for c in recorder.commands if "getMore" in c]

    # A part, or the rest after streaming began: bounded batches.
    recorder.commands.clear()
    grid_out = await bucket.open_download_stream(file_id)
    assert await grid_out.read(25) == data[:25]
    assert await grid_out.read() == data[25:]
    assert [c.get("batchSize") for c in recorder.commands if "find" in c] == [3]
    assert all(c.get("batchSize") == 3 for c in recorder.commands if "getMore" in c)


async def test_stream_to_handler_accepts_a_plain_flush(bucket):
    file_id = await bucket.upload_from_stream("plain", b"x" * 1000, chunk_size_bytes=300)

    class Handler:
        def __init__(self) -> None:
            self.written: list[bytes] = []
            self.flushes = 0

        def write(self, chunk: bytes) -> None:
            self.written.append(chunk)

        def flush(self) -> None:  # not awaitable
            self.flushes += 1

    handler = Handler()
    grid_out = await bucket.open_download_stream(file_id)
    await grid_out.stream_to_handler(handler)
    assert b"".join(handler.written) == b"x" * 1000
    assert handler.flushes == len(handler.written) == 4


async def test_one_file_is_read_by_one_thread_at_a_time(bucket, monkeypatch):
    """Reads of one GridOut from several tasks run one after another on the
    workers (PyMongo's GridOut is not thread-safe), and each chunk comes once."""
    from gridfs.synchronous.grid_file import GridOut

    data = bytes(range(100))
    file_id = await bucket.upload_from_stream("shared", data, chunk_size_bytes=10)
    grid_out = await bucket.open_download_stream(file_id)
    guard = threading.Lock()
    state = {"inside": 0, "most": 0}
    real_readchunk = GridOut.readchunk

    def readchunk(self):  # type: ignore[no-untyped-def]
        with guard:
            state["inside"] += 1
            state["most"] = max(state["most"], state["inside"])
        try:
            threading.Event().wait(0.01)  # long enough for another worker to come in
            return real_readchunk(self)
        finally:
            with guard:
                state["inside"] -= 1

    monkeypatch.setattr(GridOut, "readchunk", readchunk)
    chunks = await asyncio.gather(*(grid_out.readchunk() for _ in range(10)))
    assert state["most"] == 1
    assert sorted(chunks) == [data[n : n + 10] for n in range(0, 100, 10)]
