"""Cursors: find, latent aggregate, to_list, iteration, deprecated API, on both frameworks."""

from __future__ import annotations

import asyncio
import gc
import sys
import uuid
import warnings

import pytest
from pymongo import CursorType
from pymongo.errors import InvalidOperation, OperationFailure

from motorlike import core


async def _fill(collection, count: int = 10) -> None:
    await collection.insert_many([{"_id": i, "i": i} for i in range(count)])


async def test_find_returns_a_cursor_without_await(collection) -> None:
    await _fill(collection)
    cursor = collection.find({"i": {"$gte": 5}}, {"_id": 0}, sort=[("i", 1)], skip=1, limit=3)
    assert isinstance(cursor, core.AgnosticCursor)
    assert not cursor.started
    assert await cursor.to_list() == [{"i": 6}, {"i": 7}, {"i": 8}]


async def test_chaining_methods_return_the_same_cursor(collection) -> None:
    await _fill(collection)
    cursor = collection.find()
    for chained in (
        cursor.sort("i", -1),
        cursor.limit(4),
        cursor.skip(1),
        cursor.batch_size(2),
        cursor.comment("hi"),
        cursor.max_time_ms(5000),
        cursor.allow_disk_use(True),
        cursor.hint([("_id", 1)]),
    ):
        assert chained is cursor
    assert [doc["i"] async for doc in cursor] == [8, 7, 6, 5]


async def test_async_for_and_anext_called_directly(collection) -> None:
    await _fill(collection, 4)
    cursor = collection.find(sort=[("i", 1)])
    assert cursor.__aiter__() is cursor
    first = await cursor.__anext__()
    second = await cursor.next()
    assert (first["i"], second["i"]) == (0, 1)
    rest = [doc["i"] async for doc in cursor]
    assert rest == [2, 3]
    with pytest.raises(StopAsyncIteration):
        await cursor.__anext__()


async def test_iteration_across_batches(collection) -> None:
    await _fill(collection, 7)
    cursor = collection.find(sort=[("i", 1)]).batch_size(2)
    assert [doc["i"] async for doc in cursor] == list(range(7))
    cursor = collection.find(sort=[("i", 1)]).batch_size(3)
    assert [doc["i"] for doc in await cursor.to_list(None)] == list(range(7))


async def test_to_list_returns_a_future(collection) -> None:
    await _fill(collection, 3)
    seen = []
    future = collection.find(sort=[("i", 1)]).to_list(length=10)
    assert isinstance(future, asyncio.Future)
    future.add_done_callback(lambda f: seen.append(len(f.result())))
    assert hasattr(future, "__await__")
    documents = await future
    await asyncio.sleep(0)
    assert [doc["i"] for doc in documents] == [0, 1, 2]
    assert seen == [3]


async def test_to_list_length_and_continuation(collection) -> None:
    await _fill(collection, 10)
    cursor = collection.find(sort=[("i", 1)]).batch_size(3)
    assert [d["i"] for d in await cursor.to_list(4)] == [0, 1, 2, 3]
    # A second to_list continues where the first one stopped.
    assert [d["i"] for d in await cursor.to_list(length=2)] == [4, 5]
    assert [d["i"] for d in await cursor.to_list(None)] == [6, 7, 8, 9]
    assert await cursor.to_list(5) == []
    assert await collection.find().to_list(0) == []


async def test_to_list_rejects_bad_lengths(collection) -> None:
    cursor = collection.find()
    with pytest.raises(TypeError):
        cursor.to_list("10")
    with pytest.raises(TypeError):
        cursor.to_list(1.5)
    with pytest.raises(ValueError):
        cursor.to_list(-1)
    with pytest.raises(TypeError):
        cursor.to_list(10, callback=lambda *args: None)


async def test_to_list_refuses_tailable_cursors(collection) -> None:
    cursor = collection.find(cursor_type=CursorType.TAILABLE)
    with pytest.raises(InvalidOperation):
        cursor.to_list(10)


async def test_rewind_and_clone(collection) -> None:
    await _fill(collection, 3)
    cursor = collection.find(sort=[("i", 1)])
    assert len(await cursor.to_list()) == 3
    assert await cursor.to_list() == []
    assert cursor.rewind() is cursor
    assert len(await cursor.to_list()) == 3
    clone = cursor.clone()
    assert clone is not cursor and isinstance(clone, type(cursor))
    assert [d["i"] for d in await clone.to_list()] == [0, 1, 2]


async def test_cursor_distinct_explain_close(collection) -> None:
    await _fill(collection, 4)
    assert sorted(await collection.find({"i": {"$lt": 3}}).distinct("i")) == [0, 1, 2]
    assert isinstance(await collection.find().explain(), dict)
    cursor = collection.find().batch_size(2)
    await cursor.next()
    await cursor.close()
    assert cursor.closed and cursor.cursor_id is not None
    async with collection.find() as managed:
        assert (await managed.next())["i"] == 0


async def test_fetch_next_and_next_object(collection) -> None:
    await _fill(collection, 3)
    cursor = collection.find(sort=[("i", 1)]).batch_size(2)
    seen = []
    with pytest.warns(DeprecationWarning):
        while await cursor.fetch_next:
            with pytest.warns(DeprecationWarning):
                seen.append(cursor.next_object()["i"])
    assert seen == [0, 1, 2]


async def test_each(collection) -> None:
    await _fill(collection, 3)
    done = asyncio.get_running_loop().create_future()
    seen = []

    def callback(document, error):
        if error is not None:
            done.set_exception(error)
        elif document is None:
            done.set_result(seen)
        else:
            seen.append(document["i"])

    with pytest.warns(DeprecationWarning):
        collection.find(sort=[("i", 1)]).each(callback)
    assert await done == [0, 1, 2]


async def test_each_stops_when_the_callback_returns_false(collection) -> None:
    await _fill(collection, 5)
    seen = []
    stopped = asyncio.Event()

    def callback(document, error):
        seen.append(document)
        if len(seen) == 2:
            stopped.set()
            return False
        return None

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        collection.find().each(callback)
    await stopped.wait()
    await asyncio.sleep(0.05)
    assert len(seen) == 2 and None not in seen


async def test_aggregate_is_latent(collection) -> None:
    await _fill(collection, 5)
    cursor = collection.aggregate([{"$match": {"i": {"$gte": 3}}}, {"$sort": {"i": 1}}, {"$project": {"_id": 0}}])
    assert isinstance(cursor, core.AgnosticLatentCommandCursor)
    assert cursor.delegate is None and cursor.cursor_id is None and cursor.alive
    assert await cursor.to_list(None) == [{"i": 3}, {"i": 4}]
    assert cursor.delegate is not None


async def test_aggregate_async_for_with_batch_size(collection) -> None:
    await _fill(collection, 6)
    cursor = collection.aggregate([{"$sort": {"i": 1}}]).batch_size(2)
    assert [doc["i"] async for doc in cursor] == list(range(6))


async def test_aggregate_bad_stage_raises_on_first_use(collection) -> None:
    await _fill(collection, 1)
    cursor = collection.aggregate([{"$noSuchStage": {}}])
    with pytest.raises(OperationFailure):
        await cursor.to_list(None)


def _plain_pymongo_reads_raw_aggregates(plain_collection) -> bool:
    """Whether plain PyMongo can read ``aggregate_raw_batches`` from this server.

    Some PyMongo releases (4.14) assert on a non-empty first batch inside
    RawBatchCommandCursor's constructor; the half-built cursor's ``__del__``
    then fails with AttributeError as "unraisable", which the suite turns
    into an error of whichever test runs next. That one is expected here.
    """
    original_hook = sys.unraisablehook

    def ignore_half_built_cursor(unraisable) -> None:
        if isinstance(unraisable.exc_value, AttributeError) and type(unraisable.object).__name__ == "function" and (
            getattr(unraisable.object, "__qualname__", "").endswith("Cursor.__del__")
        ):
            return
        original_hook(unraisable)

    sys.unraisablehook = ignore_half_built_cursor
    try:
        try:
            list(plain_collection.aggregate_raw_batches([]))
        except AssertionError:
            return False
        return True
    finally:
        gc.collect()  # the half-built cursor goes while the hook is in place
        sys.unraisablehook = original_hook


async def test_raw_batches(collection, sync_client) -> None:
    import bson

    await _fill(collection, 3)
    batches = await collection.find_raw_batches(sort=[("i", 1)]).to_list(None)
    documents = [doc for batch in batches for doc in bson.decode_all(batch)]
    assert [doc["i"] for doc in documents] == [0, 1, 2]
    if not _plain_pymongo_reads_raw_aggregates(sync_client[collection.database.name][collection.name]):
        pytest.skip("the test server lacks the capability 'raw aggregate replies' (plain PyMongo fails too)")
    batches = [batch async for batch in collection.aggregate_raw_batches([{"$sort": {"i": 1}}])]
    assert [doc["i"] for batch in batches for doc in bson.decode_all(batch)] == [0, 1, 2]


async def test_concurrent_operations_on_one_client(client) -> None:
    # uuid, not id(client): unique across test runs that share a server.
    collection = client.motorlike_test[f"concurrent_{uuid.uuid4().hex[:12]}"]
    try:

        async def insert_then_find(i: int) -> int:
            await collection.insert_one({"_id": i})
            return (await collection.find_one({"_id": i}))["_id"]

        results = await asyncio.gather(*(insert_then_find(i) for i in range(10)))
        assert sorted(results) == list(range(10))
    finally:
        await collection.drop()


async def test_cursor_slicing_sets_skip_and_limit(collection) -> None:
    await _fill(collection, 6)
    cursor = collection.find(sort=[("i", 1)])
    assert cursor[2:4] is cursor
    assert [d["i"] for d in await cursor.to_list()] == [2, 3]
    # An integer index reads that one document, as Motor 2's did.
    assert [d["i"] async for d in collection.find(sort=[("i", 1)])[4]] == [4]
    assert [d["i"] async for d in collection.find(sort=[("i", 1)]).skip(1)[2]] == [3]
    assert await collection.find()[100].to_list(None) == []
    with pytest.raises(IndexError):
        collection.find()[-1]
    with pytest.raises(TypeError):
        collection.find()["a"]


def test_sync_iteration_is_refused(collection) -> None:
    with pytest.raises(TypeError):
        iter(collection.find())
    with pytest.raises(TypeError):
        with collection.find():
            pass


@pytest.mark.no_server
def test_pymongo_internals_motorlike_relies_on_are_there() -> None:
    """Fails loudly when a PyMongo release moves what motorlike/_internals.py reads."""
    import collections

    from pymongo import CursorType, MongoClient
    from pymongo.synchronous.command_cursor import CommandCursor

    from motorlike import _internals

    client = MongoClient("mongodb://127.0.0.1:1", connect=False)
    try:
        cursor = client.db.coll.find()
        command_cursor = CommandCursor(client.db.coll, {"id": 0, "firstBatch": [{"a": 1}]}, None)
        for pymongo_cursor in (cursor, command_cursor):
            buffered = _internals._buffer(pymongo_cursor)
            assert isinstance(buffered, collections.deque)
            replacement = collections.deque(buffered)
            _internals._set_buffer(pymongo_cursor, replacement)
            assert _internals._buffer(pymongo_cursor) is replacement
            assert callable(pymongo_cursor._refresh)
        assert list(_internals._buffer(command_cursor)) == [{"a": 1}]
        assert _internals._server_done(cursor) is False
        assert _internals._server_done(command_cursor) is True  # id 0: nothing more on the server
        assert _internals._skip_of(cursor.skip(3)) == 3
        assert _internals._is_tailable(cursor) is False
        assert _internals._is_tailable(client.db.coll.find(cursor_type=CursorType.TAILABLE)) is True
        assert _internals._is_empty(cursor) is False
        assert _internals._is_empty(client.db.coll.find()[5:5]) is True
    finally:
        client.close()


@pytest.mark.no_server
def test_pymongo_gridfs_internals_motorlike_relies_on_are_there() -> None:
    """Fails loudly when a PyMongo release moves the GridFS internals of motorlike/_internals.py."""
    from gridfs.synchronous.grid_file import GridOut
    from pymongo import MongoClient
    from pymongo.synchronous.collection import Collection

    from motorlike import _internals

    client = MongoClient("mongodb://127.0.0.1:1", connect=False)
    try:
        grid_out = GridOut(client.db.fs, file_id=1)
        assert _internals._file_document(grid_out) is None  # not opened
        assert isinstance(_internals._chunk_reader(grid_out), Collection)
        _internals._set_chunk_reader(grid_out, client.db.other)
        assert _internals._chunk_reader(grid_out).name == "other"
        assert _internals._chunk_iterator(grid_out) is None
        _internals._set_chunk_iterator(grid_out, "iterator")
        assert _internals._detach_chunk_iterator(grid_out) == "iterator"
        assert _internals._chunk_iterator(grid_out) is None
    finally:
        client.close()


async def test_cursors_built_with_pymongos_constructor(collection, framework) -> None:
    """PyMongo's ``Cursor(collection, filter, ...)`` and ``CommandCursor(collection,
    cursor_info, address)``, with a motorlike collection, as PyMongo's suite builds them."""
    from bson import Int64

    from motorlike import motor_asyncio, motor_tornado

    if framework == "asyncio":
        cursor_class, command_cursor_class = motor_asyncio.AsyncIOMotorCursor, motor_asyncio.AsyncIOMotorCommandCursor
    else:
        cursor_class, command_cursor_class = motor_tornado.MotorCursor, motor_tornado.MotorCommandCursor
    await collection.insert_many([{"_id": i} for i in range(5)])
    cursor = cursor_class(collection, {"_id": {"$gte": 2}}, sort=[("_id", 1)], batch_size=2)
    assert cursor.collection is collection and not cursor.started
    assert [doc["_id"] async for doc in cursor] == [2, 3, 4]

    first_batch = {"id": Int64(0), "firstBatch": [{"_id": "a"}, {"_id": "b"}], "ns": collection.full_name}
    command_cursor = command_cursor_class(collection, first_batch, ("127.0.0.1", 1))
    assert await command_cursor.to_list(None) == [{"_id": "a"}, {"_id": "b"}]

    with pytest.raises(TypeError, match="motorlike collection"):
        cursor_class(collection.database, {})
    with pytest.raises(TypeError, match="PyMongo cursor and its collection"):
        cursor_class(collection.delegate.find(), collection, {"x": 1})
    with pytest.raises(TypeError, match="not PyMongo's Collection"):
        cursor_class(collection.delegate, {"x": 1})
    # Motor's form, by keywords too.
    by_keywords = cursor_class(cursor=collection.delegate.find({"_id": 4}), collection=collection)
    assert by_keywords.collection is collection and await by_keywords.to_list(None) == [{"_id": 4}]
