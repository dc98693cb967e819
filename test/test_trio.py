"""The Trio classes (motorlike.motor_trio): the same declarations, a third framework.

Tests marked ``trio`` run under pytest-trio; the ones about several runs
and threads call ``trio.run()`` themselves.
"""

from __future__ import annotations

import io
import os
import random
import threading
import uuid

import pytest

trio = pytest.importorskip("trio", reason="Trio is not installed (pip install 'motorlike[trio]')")

from pymongo.errors import ServerSelectionTimeoutError  # noqa: E402

from motorlike import core  # noqa: E402
from motorlike.motor_trio import (  # noqa: E402
    TrioMotorClient,
    TrioMotorClientSession,
    TrioMotorCollection,
    TrioMotorCursor,
    TrioMotorGridFSBucket,
    TrioMotorLatentCommandCursor,
)
from test.fault_server import FaultServer  # noqa: E402

DB_NAME = os.environ.get("MOTORLIKE_TEST_DB", "motorlike_test")


@pytest.fixture
def coll_name(sync_client):
    name = f"trio_{uuid.uuid4().hex[:12]}"
    yield name
    sync_client[DB_NAME].drop_collection(name)


def _client(uri: str, **kwargs) -> TrioMotorClient:
    kwargs.setdefault("serverSelectionTimeoutMS", 5000)
    return TrioMotorClient(uri, **kwargs)


@pytest.mark.trio
async def test_crud_and_cursors(server_uri: str, coll_name: str) -> None:
    client = _client(server_uri)
    try:
        collection = client[DB_NAME][coll_name]
        assert isinstance(collection, TrioMotorCollection) and isinstance(collection, core.AgnosticCollection)
        result = await collection.insert_many([{"_id": i, "n": i * i} for i in range(25)])
        assert result.inserted_ids == list(range(25))
        assert await collection.find_one({"_id": 3}) == {"_id": 3, "n": 9}
        cursor = collection.find({}, sort=[("_id", 1)]).batch_size(4)
        assert isinstance(cursor, TrioMotorCursor)
        assert [doc["_id"] async for doc in cursor] == list(range(25))
        assert [doc["_id"] for doc in await collection.find().sort("_id", -1).to_list(3)] == [24, 23, 22]
        assert await collection.count_documents({"n": {"$gt": 100}}) == 14
        await collection.update_one({"_id": 0}, {"$set": {"n": -1}})
        aggregate = collection.aggregate([{"$match": {"n": -1}}])
        assert isinstance(aggregate, TrioMotorLatentCommandCursor)
        assert await aggregate.to_list() == [{"_id": 0, "n": -1}]
        assert coll_name in await client[DB_NAME].list_collection_names()
    finally:
        await client.close()


@pytest.mark.trio
async def test_sessions(server_uri: str, coll_name: str) -> None:
    client = _client(server_uri)
    try:
        async with await client.start_session() as session:
            assert isinstance(session, TrioMotorClientSession)
            await client[DB_NAME][coll_name].insert_one({"_id": 1}, session=session)
            assert await client[DB_NAME][coll_name].find_one({}, session=session) == {"_id": 1}
        assert session.has_ended
    finally:
        await client.close()


@pytest.mark.trio
async def test_gridfs_upload_and_download(server_uri: str, sync_client) -> None:
    client = _client(server_uri)
    bucket_name = f"trio_fs_{uuid.uuid4().hex[:8]}"
    try:
        bucket = TrioMotorGridFSBucket(client[DB_NAME], bucket_name, chunk_size_bytes=1000)
        data = os.urandom(5500)
        file_id = await bucket.upload_from_stream("f.bin", io.BytesIO(data))
        grid_out = await bucket.open_download_stream(file_id)
        assert await grid_out.read(10) == data[:10]
        assert await grid_out.read() == data[10:]
        target = io.BytesIO()
        await bucket.download_to_stream(file_id, target)
        assert target.getvalue() == data
        async with await bucket.open_download_stream(file_id) as grid_out:
            assert [len(chunk) async for chunk in grid_out] == [1000] * 5 + [500]
        await bucket.drop()
        assert await bucket.find().to_list() == []
    finally:
        await client.close()
        sync_client[DB_NAME].drop_collection(f"{bucket_name}.files")
        sync_client[DB_NAME].drop_collection(f"{bucket_name}.chunks")


@pytest.mark.trio
@pytest.mark.requires("change_streams")
async def test_change_stream(server_uri: str, coll_name: str) -> None:
    client = _client(server_uri)
    try:
        collection = client[DB_NAME][coll_name]
        async with collection.watch() as stream:
            await collection.insert_one({"_id": 7})
            change = None
            with trio.move_on_after(10):
                change = await stream.next()
            assert change is not None and change["fullDocument"] == {"_id": 7}
    finally:
        await client.close()


@pytest.mark.trio
async def test_io_loop_is_checked() -> None:
    with pytest.raises(TypeError):
        TrioMotorClient("mongodb://127.0.0.1:1", io_loop=object())
    token = trio.lowlevel.current_trio_token()
    client = TrioMotorClient("mongodb://127.0.0.1:1", io_loop=token, connect=False)
    assert client.io_loop is token
    client.close()


@pytest.mark.trio
async def test_errors_arrive_as_pymongo_raises_them() -> None:
    client = TrioMotorClient("mongodb://127.0.0.1:1", serverSelectionTimeoutMS=200)
    try:
        with pytest.raises(ServerSelectionTimeoutError):
            await client.db.coll.find_one()
    finally:
        await client.close()


@pytest.mark.trio
async def test_move_on_after_abandons_a_stuck_call_without_blocking_trio() -> None:
    """A cancel scope leaves at once; the call finishes on its thread."""
    with FaultServer("stall_ops") as server:
        client = TrioMotorClient(server.uri, serverSelectionTimeoutMS=2000, socketTimeoutMS=1500)
        try:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await trio.sleep(0.01)
                    ticks += 1

            async with trio.open_nursery() as nursery:
                nursery.start_soon(ticker)
                with trio.move_on_after(0.3) as scope:
                    await client.db.coll.find_one()
                nursery.cancel_scope.cancel()
            assert scope.cancelled_caught
            assert ticks >= 10  # the Trio loop kept running while the call hung
        finally:
            await client.close()


@pytest.mark.trio
async def test_cancellation_at_random_points_loses_no_document() -> None:
    """A cursor read with move_on_after of random length, retried after each
    timeout, hands out every document once, in order (as with asyncio)."""
    docs = [{"_id": i} for i in range(120)]
    with FaultServer("healthy", docs=docs, get_more_delay=0.002) as server:
        client = TrioMotorClient(server.uri, serverSelectionTimeoutMS=2000)
        rng = random.Random(1234)
        try:
            seen: list[int] = []
            timeouts = 0
            cursor = client.db.coll.find().batch_size(7)
            while True:
                batch = None
                with trio.move_on_after(rng.uniform(0, 0.004)):
                    batch = await cursor.to_list(5)
                if batch is None:
                    timeouts += 1
                    continue
                if not batch:
                    break
                seen.extend(doc["_id"] for doc in batch)
            assert seen == list(range(120))
            assert timeouts > 0  # the cancellations did happen
        finally:
            await client.close()


def test_one_client_across_trio_runs_and_threads(server_uri: str, coll_name: str) -> None:
    client = _client(server_uri)
    try:
        collection = client[DB_NAME][coll_name]

        async def insert(start: int) -> None:
            await collection.insert_many([{"_id": start + i} for i in range(5)])

        trio.run(insert, 0)
        trio.run(insert, 100)

        errors: list[BaseException] = []

        def in_thread(start: int) -> None:
            try:
                trio.run(insert, start)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=in_thread, args=(1000 * (n + 1),)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []

        async def count() -> int:
            return await collection.count_documents({})

        assert trio.run(count) == 30
    finally:
        client.close()


def test_a_cursor_read_on_in_the_next_trio_run(server_uri: str, coll_name: str, sync_client) -> None:
    sync_client[DB_NAME][coll_name].insert_many([{"_id": i} for i in range(30)])
    client = _client(server_uri)
    try:
        cursor = client[DB_NAME][coll_name].find(sort=[("_id", 1)], batch_size=4)

        async def read(n: int) -> list:
            return [doc["_id"] for doc in await cursor.to_list(n)]

        first = trio.run(read, 10)
        rest = trio.run(read, None)
        assert first + rest == list(range(30))
    finally:
        client.close()


def test_runs_under_anyio_with_the_trio_backend(server_uri: str, coll_name: str) -> None:
    anyio = pytest.importorskip("anyio", reason="AnyIO is not installed")
    client = _client(server_uri)

    async def main() -> list:
        collection = client[DB_NAME][coll_name]
        await collection.insert_one({"_id": "anyio"})
        with anyio.move_on_after(10):
            return await collection.find().to_list()
        return []

    try:
        assert anyio.run(main, backend="trio") == [{"_id": "anyio"}]
    finally:
        client.close()


def test_outside_a_trio_run_an_operation_says_so() -> None:
    client = TrioMotorClient("mongodb://127.0.0.1:1", connect=False)
    try:
        with pytest.raises(RuntimeError):
            client.db.coll.find_one()
    finally:
        client.close()


@pytest.mark.trio
async def test_deprecated_cursor_api_and_closing(server_uri: str, coll_name: str) -> None:
    """fetch_next/next_object, each() (a Trio system task), rewind, close: the
    rest of the cursor API goes through the framework too."""
    client = _client(server_uri)
    try:
        collection = client[DB_NAME][coll_name]
        await collection.insert_many([{"_id": i} for i in range(5)])
        cursor = collection.find(sort=[("_id", 1)], batch_size=2)
        seen = []
        with pytest.warns(DeprecationWarning):
            while await cursor.fetch_next:
                seen.append(cursor.next_object()["_id"])
        assert seen == list(range(5))
        cursor.rewind()
        assert [doc["_id"] async for doc in cursor] == list(range(5))

        done = trio.Event()
        each_seen = []

        def callback(document, error):
            if document is None:
                each_seen.append(error)
                done.set()
            else:
                each_seen.append(document["_id"])

        with pytest.warns(DeprecationWarning):
            collection.find(sort=[("_id", 1)]).each(callback)
        with trio.fail_after(10):
            await done.wait()
        assert each_seen == [0, 1, 2, 3, 4, None]

        open_cursor = collection.find(batch_size=1)
        assert (await open_cursor.to_list(1))[0]["_id"] in range(5)
        await open_cursor.close()
        assert not open_cursor.alive
    finally:
        closing = client.close()
        await closing


@pytest.mark.trio
async def test_documents_given_back_are_not_also_returned() -> None:
    """A to_list future cancelled at its checkpoint gives its documents back;
    awaiting it again must not return them too (they would be read twice)."""
    import concurrent.futures

    from motorlike.frameworks.trio import TrioFuture

    given_back = []
    future = TrioFuture()
    future.resolve([1, 2], lambda: given_back.append([1, 2]))
    with trio.CancelScope() as scope:
        scope.cancel()
        await future
    assert given_back == [[1, 2]]
    with pytest.raises(concurrent.futures.CancelledError):
        await future
    # A wait cancelled before any result: a cancelled future, not None.
    pending = TrioFuture()
    called = []
    pending.add_done_callback(lambda f: called.append(f.cancelled()))
    with trio.move_on_after(0.01):
        await pending
    assert pending.cancelled() and called == [True]
    with pytest.raises(concurrent.futures.CancelledError):
        pending.result()


def test_a_failing_each_callback_does_not_end_the_trio_run(server_uri: str, coll_name: str, caplog) -> None:
    client = _client(server_uri)

    async def main() -> str:
        await client[DB_NAME][coll_name].insert_one({"_id": 1})

        def callback(document, error):
            raise ValueError("the callback's own bug")

        with pytest.warns(DeprecationWarning):
            client[DB_NAME][coll_name].find().each(callback)
        await trio.sleep(0.5)
        return "run went on"

    try:
        assert trio.run(main) == "run went on"
        assert "the callback's own bug" in caplog.text
    finally:
        client.close()
