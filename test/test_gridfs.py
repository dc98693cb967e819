"""GridFS: the bucket, GridIn, GridOut and GridOutCursor, on both frameworks."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import platform
import sys
import threading
import tracemalloc
import uuid
import warnings

import pytest
from bson import ObjectId
from gridfs.errors import NoFile
from pymongo import monitoring
from pymongo.errors import InvalidOperation

from motorlike import _gridfs_windows, motor_asyncio, motor_gridfs, motor_tornado
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


def commands_named(recorder: ChunkCommandRecorder, name: str) -> list[dict]:
    return [command for command in recorder.commands if name in command]


def patterned(size: int) -> bytes:
    """``size`` bytes where every 4-byte word differs from its neighbours: misplaced data shows."""
    words = -(-size // 4)
    return b"".join(index.to_bytes(4, "big") for index in range(words))[:size]


class DiscardingSink:
    def __init__(self) -> None:
        self.received = 0

    def write(self, data: bytes) -> int:
        self.received += len(data)
        return len(data)


# ---------------------------------------------------------------------------
# A window of chunks per request (motorlike.motor_gridfs.WINDOW_BYTES)


def test_the_default_window_is_sixteen_default_chunks():
    assert motor_gridfs.WINDOW_BYTES == 4 * 1024 * 1024
    assert _gridfs_windows.chunks_per_window(motor_gridfs.DEFAULT_CHUNK_SIZE) == 16
    assert _gridfs_windows.chunks_per_window(10 * 1024 * 1024) == 1  # at least one chunk


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1048576", 1 << 20), ("1M", 1 << 20), ("512k", 512 << 10), ("2MiB", 2 << 20), (" 300 ", 300), ("", 4 << 20)],
)
def test_window_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("MOTORLIKE_GRIDFS_WINDOW", value)
    assert _gridfs_windows.window_from_environment() == expected


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1.5M"])
def test_window_from_the_environment_rejects_nonsense(monkeypatch, value):
    monkeypatch.setenv("MOTORLIKE_GRIDFS_WINDOW", value)
    with pytest.raises(ValueError):
        _gridfs_windows.window_from_environment()


async def test_uploads_send_a_window_per_insert(recorded_bucket, monkeypatch):
    bucket, recorder = recorded_bucket
    monkeypatch.setattr(motor_gridfs, "WINDOW_BYTES", 30)  # 3 chunks of 10 bytes
    data = bytes(range(95))  # 10 chunks, the last one short
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

    # A window smaller than a chunk still sends whole chunks, one per insert.
    recorder.commands.clear()
    monkeypatch.setattr(motor_gridfs, "WINDOW_BYTES", 4)
    await bucket.upload_from_stream("tiny window", data[:25], chunk_size_bytes=10)
    assert recorder.inserted_per_command() == [1, 1, 1]


async def test_downloads_read_a_window_per_batch(recorded_bucket, monkeypatch):
    bucket, recorder = recorded_bucket
    monkeypatch.setattr(motor_gridfs, "WINDOW_BYTES", 30)
    data = bytes(range(95))
    file_id = await bucket.upload_from_stream("windowed", data, chunk_size_bytes=10)

    async def iterate(grid_out):
        return b"".join([chunk async for chunk in grid_out])

    async def read_in_pieces(grid_out):
        return b"".join([await grid_out.read(7) for _ in range(14)])

    reads = {
        "download_to_stream": None,
        "download_to_stream_by_name": None,
        "read()": lambda grid_out: grid_out.read(),
        "read(-1)": lambda grid_out: grid_out.read(-1),
        "read(95)": lambda grid_out: grid_out.read(95),
        "read(1000)": lambda grid_out: grid_out.read(1000),
        "async for": iterate,
        "read(7) ...": read_in_pieces,
    }
    for name, read in reads.items():
        recorder.commands.clear()
        if name == "download_to_stream":
            sink = io.BytesIO()
            await bucket.download_to_stream(file_id, sink)
            got = sink.getvalue()
        elif name == "download_to_stream_by_name":
            sink = io.BytesIO()
            await bucket.download_to_stream_by_name("windowed", sink)
            got = sink.getvalue()
        else:
            got = await read(await bucket.open_download_stream(file_id))
        assert got == data, name
        # 10 chunks in windows of 3: a find and three getMores, each for a window.
        assert [c.get("batchSize") for c in commands_named(recorder, "find")] == [3], name
        assert [c.get("batchSize") for c in commands_named(recorder, "getMore")] == [3, 3, 3], name


async def test_the_default_window_cuts_round_trips_sixteenfold(recorded_bucket):
    """8 MiB in default chunks (33 of them): 3 inserts instead of 33, 3 chunk batches instead of 33."""
    bucket, recorder = recorded_bucket
    size = 8 * 1024 * 1024
    data = patterned(size)
    file_id = await bucket.upload_from_stream("eight", data)
    assert recorder.inserted_per_command() == [16, 16, 1]

    recorder.commands.clear()
    sink = DiscardingSink()
    await bucket.download_to_stream(file_id, sink)
    assert sink.received == size
    assert [c.get("batchSize") for c in commands_named(recorder, "find")] == [16]
    assert len(commands_named(recorder, "getMore")) == 2

    recorder.commands.clear()
    grid_out = await bucket.open_download_stream(file_id)
    assert await grid_out.read() == data
    assert len(commands_named(recorder, "find")) == 1 and len(commands_named(recorder, "getMore")) == 2


# ---------------------------------------------------------------------------
# Reading across windows: the same bytes, wherever a read starts and ends

WINDOWED_CHUNK = 10
WINDOWED_DATA = patterned(257)  # 26 chunks: 8 windows of 3 chunks and 2 chunks, the last one short


async def upload_windowed(bucket, monkeypatch):
    """WINDOWED_DATA in chunks of WINDOWED_CHUNK, windows of three chunks; its file id."""
    monkeypatch.setattr(motor_gridfs, "WINDOW_BYTES", 3 * WINDOWED_CHUNK)
    return await bucket.upload_from_stream("across", WINDOWED_DATA, chunk_size_bytes=WINDOWED_CHUNK)


async def test_reads_of_every_size_across_windows(bucket, monkeypatch):
    file_id = await upload_windowed(bucket, monkeypatch)
    data = WINDOWED_DATA
    for size in (1, 7, 9, 10, 11, 29, 30, 31, 33, 61, 100, 256, 257, 300):
        grid_out = await bucket.open_download_stream(file_id)
        position = 0
        while position < len(data):
            piece = await grid_out.read(size)
            assert piece == data[position : position + size], (size, position)
            position += len(piece)
            assert grid_out.tell() == position
        assert await grid_out.read(size) == b""
        assert await grid_out.read() == b""


async def test_mixed_reads_across_windows(bucket, monkeypatch):
    file_id = await upload_windowed(bucket, monkeypatch)
    data = WINDOWED_DATA
    grid_out = await bucket.open_download_stream(file_id)
    assert await grid_out.read(25) == data[:25]
    assert await grid_out.readchunk() == data[25:30]  # the rest of chunk 2
    assert await grid_out.readchunk() == data[30:40]  # chunk 3, the first of the second window
    assert await grid_out.read(45) == data[40:85]
    assert [await grid_out.readchunk() for _ in range(2)] == [data[85:90], data[90:100]]
    assert await grid_out.read() == data[100:]
    assert await grid_out.readchunk() == b""


async def test_seek_across_windows(bucket, monkeypatch):
    file_id = await upload_windowed(bucket, monkeypatch)
    data = WINDOWED_DATA
    grid_out = await bucket.open_download_stream(file_id)
    assert await grid_out.read(12) == data[:12]
    for position in (200, 95, 5, 250, 0, 129, 31):
        assert grid_out.seek(position) == position
        assert await grid_out.read(41) == data[position : position + 41], position
    grid_out.seek(-17, os.SEEK_END)
    assert await grid_out.read() == data[-17:]
    grid_out.seek(60)
    grid_out.seek(33, os.SEEK_CUR)
    assert [chunk async for chunk in grid_out] == [data[93:100]] + [
        data[n : n + WINDOWED_CHUNK] for n in range(100, len(data), WINDOWED_CHUNK)
    ]
    await grid_out.close()


async def test_lines_across_windows(bucket, monkeypatch):
    monkeypatch.setattr(motor_gridfs, "WINDOW_BYTES", 16)
    lines = [b"x" * length + b"\n" for length in (0, 3, 17, 40, 1, 64, 5)] + [b"no newline at the end"]
    data = b"".join(lines)
    file_id = await bucket.upload_from_stream("lines", data, chunk_size_bytes=8)
    grid_out = await bucket.open_download_stream(file_id)
    assert [await grid_out.readline() for _ in lines] == lines
    assert await grid_out.readline() == b""
    grid_out.seek(0)
    assert await grid_out.readlines() == lines


async def test_round_trips_for_many_windows_and_chunk_sizes(bucket, monkeypatch):
    for window, chunk_size, size in ((30, 10, 300), (30, 10, 301), (30, 10, 299), (7, 3, 100), (1000, 64, 5000), (64, 64, 64)):
        monkeypatch.setattr(motor_gridfs, "WINDOW_BYTES", window)
        data = patterned(size)
        grid_in = bucket.open_upload_stream(f"w{window}c{chunk_size}s{size}", chunk_size_bytes=chunk_size)
        for start in range(0, size, 37):  # writes that straddle chunks and windows
            await grid_in.write(data[start : start + 37])
        await grid_in.close()
        sink = io.BytesIO()
        await bucket.download_to_stream(grid_in._id, sink)
        assert sink.getvalue() == data, (window, chunk_size, size)
        grid_out = await bucket.open_download_stream(grid_in._id)
        assert await grid_out.read() == data
        grid_out.seek(0)
        assert b"".join([chunk async for chunk in grid_out]) == data


async def test_a_missing_chunk_is_still_an_error(bucket, raw_bucket, monkeypatch):
    from gridfs.errors import CorruptGridFile

    monkeypatch.setattr(motor_gridfs, "WINDOW_BYTES", 30)
    _, chunks = raw_bucket
    file_id = await bucket.upload_from_stream("holed", bytes(100), chunk_size_bytes=10)
    chunks.delete_one({"files_id": file_id, "n": 5})
    with pytest.raises(CorruptGridFile):
        await (await bucket.open_download_stream(file_id)).read()
    with pytest.raises(CorruptGridFile):
        await bucket.download_to_stream(file_id, io.BytesIO())
    # An extra chunk after the end, too, when the whole rest is read.
    extra_id = await bucket.upload_from_stream("extra", bytes(100), chunk_size_bytes=10)
    chunks.insert_one({"files_id": extra_id, "n": 10, "data": b"surplus"})
    with pytest.raises(CorruptGridFile):
        await (await bucket.open_download_stream(extra_id)).read()


async def test_a_cancelled_read_leaves_the_grid_out_usable(bucket, monkeypatch):
    """A read whose caller gives up still runs to its end on its worker (so the
    chunk cursor is left in a clean state); the GridOut goes on from there."""
    file_id = await upload_windowed(bucket, monkeypatch)
    data = WINDOWED_DATA
    grid_out = await bucket.open_download_stream(file_id)
    assert await grid_out.read(15) == data[:15]
    for _ in range(3):
        task = asyncio.ensure_future(grid_out.read(100))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        piece = await grid_out.read(20)  # runs after the cancelled read, on the same GridOut
        end = grid_out.tell()
        assert piece == data[end - len(piece) : end]
    grid_out.seek(3)
    assert await grid_out.read(50) == data[3:53]

    # Cancelled, then closed: the close waits for nothing and the file is closed.
    task = asyncio.ensure_future(grid_out.read())
    await asyncio.sleep(0)
    task.cancel()
    await grid_out.close()
    assert grid_out.closed
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_iteration_then_a_new_download(bucket, monkeypatch):
    file_id = await upload_windowed(bucket, monkeypatch)

    async def consume() -> None:
        grid_out = await bucket.open_download_stream(file_id)
        async for _ in grid_out:
            await asyncio.sleep(0)

    task = asyncio.ensure_future(consume())
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    sink = io.BytesIO()
    await bucket.download_to_stream(file_id, sink)
    assert sink.getvalue() == WINDOWED_DATA


# ---------------------------------------------------------------------------
# Memory: a window plus a few chunks (tracemalloc)

MEMORY_CHUNK = 64 * 1024
MEMORY_WINDOW = 4 * MEMORY_CHUNK
MEMORY_FILE = 4 * 1024 * 1024  # 64 chunks, 16 windows


def traced_peak_of(run):
    """Run ``await run()`` with tracemalloc on; its peak traced memory over what was traced before."""

    async def measure():
        gc.collect()
        tracemalloc.start()
        try:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            result = await run()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return peak - before, result

    return measure()


async def upload_memory_file(bucket, monkeypatch):
    """MEMORY_FILE bytes in chunks of MEMORY_CHUNK, windows of MEMORY_WINDOW: (file id, data)."""
    monkeypatch.setattr(motor_gridfs, "WINDOW_BYTES", MEMORY_WINDOW)
    data = patterned(MEMORY_FILE)
    file_id = await bucket.upload_from_stream("memory", data, chunk_size_bytes=MEMORY_CHUNK)
    return file_id, data


async def test_a_streamed_download_holds_a_window_and_a_few_chunks(bucket, monkeypatch):
    file_id, data = await upload_memory_file(bucket, monkeypatch)

    async def to_stream():
        sink = DiscardingSink()
        await bucket.download_to_stream(file_id, sink)
        return sink.received

    async def iterate():
        received = 0
        async for chunk in await bucket.open_download_stream(file_id):
            received += len(chunk)
        return received

    for run in (to_stream, iterate):
        peak, received = await traced_peak_of(run)
        assert received == MEMORY_FILE
        # A batch's reply and the chunks PyMongo decodes from it (two windows),
        # not the server's 16 MiB batches (here the whole file).
        assert peak < 2 * MEMORY_WINDOW + 4 * MEMORY_CHUNK, f"{run.__name__}: {peak / MEMORY_CHUNK:.1f} chunks"


async def test_a_large_read_holds_its_result_a_window_and_a_few_chunks(bucket, monkeypatch):
    file_id, data = await upload_memory_file(bucket, monkeypatch)
    grid_out = await bucket.open_download_stream(file_id)
    await grid_out.read(10)

    async def read_most():
        return await grid_out.read(MEMORY_FILE - 20)

    peak, got = await traced_peak_of(read_most)
    assert got == data[10:-10]
    # PyMongo's read keeps every chunk until it joins them: twice the result.
    assert peak < len(got) + 2 * MEMORY_WINDOW + 3 * MEMORY_CHUNK, f"{peak / MEMORY_CHUNK:.1f} chunks"


async def test_an_upload_holds_two_windows_and_a_few_chunks(bucket, monkeypatch):
    monkeypatch.setattr(motor_gridfs, "WINDOW_BYTES", MEMORY_WINDOW)
    piece = patterned(MEMORY_CHUNK)

    class Pieces:
        """A file-like source of MEMORY_FILE bytes."""

        def __init__(self) -> None:
            self.left = MEMORY_FILE

        def read(self, size: int = -1) -> bytes:
            size = min(self.left, MEMORY_CHUNK if size < 0 else size)
            self.left -= size
            return piece[: size - 1] + b"!" if size else b""  # a new object each time, as from a file

    async def upload():
        return await bucket.upload_from_stream("memory up", Pieces(), chunk_size_bytes=MEMORY_CHUNK)

    await bucket.upload_from_stream("warm-up", b"x")  # what is made once per bucket and client
    peak, file_id = await traced_peak_of(upload)
    # A window of chunk documents and the insert that encodes them.
    assert peak < 2 * MEMORY_WINDOW + 3 * MEMORY_CHUNK, f"{peak / MEMORY_CHUNK:.1f} chunks"
    assert (await bucket.open_download_stream(file_id)).length == MEMORY_FILE


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


# ---------------------------------------------------------------------------
# Page faults: a window's memory is reused from one request to the next


async def test_requests_leave_the_allocator_alone_unless_asked(bucket, monkeypatch):
    def touched():
        raise AssertionError("a GridFS request changed the allocator by itself")

    monkeypatch.setattr(_gridfs_windows, "_glibc_malloc_and_free", touched)
    file_id = await bucket.upload_from_stream("plain", os.urandom(3 * motor_gridfs.DEFAULT_CHUNK_SIZE))
    assert len(await (await bucket.open_download_stream(file_id)).read()) == 3 * motor_gridfs.DEFAULT_CHUNK_SIZE


def test_reuse_window_memory_frees_one_block_of_two_windows_and_a_chunk(monkeypatch):
    blocks = []
    monkeypatch.setattr(_gridfs_windows, "_glibc_malloc_and_free", lambda: (blocks.append, lambda block: None))
    chunk = motor_gridfs.DEFAULT_CHUNK_SIZE
    assert motor_gridfs.reuse_window_memory() is True
    assert motor_gridfs.reuse_window_memory(1024 * 1024) is True
    assert motor_gridfs.reuse_window_memory(64 * 1024 * 1024) is True
    assert blocks == [2 * motor_gridfs.WINDOW_BYTES + chunk, 2 * 1024 * 1024 + chunk, 32 * 1024 * 1024]
    monkeypatch.setattr(_gridfs_windows, "_glibc_malloc_and_free", lambda: None)  # not glibc
    assert motor_gridfs.reuse_window_memory() is False


def minor_faults() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's malloc")
async def test_reuse_window_memory_stops_windowed_requests_faulting_their_memory_in(bucket):
    """Left to its defaults, glibc gives a window's memory back to the kernel
    after each request, and the next one faults every page in again (about
    700 faults per MiB uploaded); reuse_window_memory() lets it keep that memory."""
    assert motor_gridfs.reuse_window_memory()
    size = 16 * 1024 * 1024  # four windows
    data = os.urandom(size)
    file_ids = [await bucket.upload_from_stream("warm-up", data)]
    before = minor_faults()
    for _ in range(2):
        file_ids.append(await bucket.upload_from_stream("again", data))
    upload_faults = (minor_faults() - before) / 32
    # The first read of a 16 MiB result maps it afresh, as glibc does for any
    # block larger than it has freed before; from then on it is reused.
    assert len(await (await bucket.open_download_stream(file_ids[0])).read()) == size
    before = minor_faults()
    for file_id in file_ids:
        assert len(await (await bucket.open_download_stream(file_id)).read()) == size
    download_faults = (minor_faults() - before) / 48
    # 256 would be every page of every MiB once; without motorlike's step
    # uploads fault ~700 per MiB. Measured with it: 0 and ~50, which varies
    # from run to run, so the bound is half of every page.
    assert upload_faults < 128, f"{upload_faults:.0f} minor page faults per MiB uploaded"
    assert download_faults < 128, f"{download_faults:.0f} minor page faults per MiB read"


async def test_everything_read_is_bytes(bucket, monkeypatch):
    """read() copies chunks straight out of the reply buffer; nothing handed
    out is a view of that buffer, whichever way the file is read."""
    file_id = await upload_windowed(bucket, monkeypatch)
    grid_out = await bucket.open_download_stream(file_id)
    pieces = [await grid_out.read(25), await grid_out.read(61), await grid_out.readchunk(), await grid_out.read(5)]
    pieces += [await grid_out.readline(), await grid_out.read(100)]
    pieces += [chunk async for chunk in grid_out]
    assert all(type(piece) is bytes for piece in pieces), {type(piece) for piece in pieces}
    assert b"".join(pieces) == WINDOWED_DATA

    class Sink:
        def __init__(self) -> None:
            self.types: set[type] = set()

        def write(self, data) -> None:
            self.types.add(type(data))

    sink = Sink()
    await bucket.download_to_stream(file_id, sink)
    assert sink.types == {bytes}


async def test_grid_in_fields_are_set_as_attributes_while_open(bucket, sync_client, db, bucket_name):
    grid_in = bucket.open_upload_stream("draft")
    grid_in.filename = "final"
    with pytest.warns(DeprecationWarning):  # PyMongo's: content_type goes in PyMongo 5
        grid_in.content_type = "text/plain"
    grid_in.metadata = {"owner": "ann"}
    grid_in.reviewed = True
    for read_only in ("_id", "length", "chunk_size", "upload_date", "md5"):
        with pytest.raises(AttributeError):
            setattr(grid_in, read_only, 5)
    await grid_in.write(b"text")
    await grid_in.close()
    with pytest.raises(AttributeError, match="set"):
        grid_in.filename = "too late"  # would be I/O: set() is the way
    await grid_in.set("filename", "later")
    document = sync_client[db.name][f"{bucket_name}.files"].find_one({"_id": grid_in._id})
    assert document["filename"] == "later"
    assert document["contentType"] == "text/plain"
    assert document["metadata"] == {"owner": "ann"} and document["reviewed"] is True


async def test_grid_out_async_with_closes_it(bucket):
    file_id = await bucket.upload_from_stream("f", b"abc" * 1000)
    async with await bucket.open_download_stream(file_id) as grid_out:
        assert await grid_out.read(3) == b"abc"
    assert grid_out.closed
