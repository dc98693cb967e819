"""Event loops: without ``io_loop=``, each operation uses the loop running
when it is awaited, or the instance's ``get_io_loop()`` if the user replaced it.

Most tests here are plain functions that make their own loops
(``asyncio.run``, ``run_until_complete``, threads), because how loops come
and go is the point.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import uuid
import warnings
from typing import Any, Callable

import pytest
from bson import Timestamp
from pymongo.errors import PyMongoError
from tornado.ioloop import IOLoop

from motorlike.core import (
    AgnosticChangeStream,
    AgnosticClientSession,
    AgnosticCommandCursor,
    AgnosticCursor,
    AgnosticLatentCommandCursor,
)
from test.test_mockupdb import (  # noqa: F401 - mock is a fixture
    FRAMEWORK_MODULES,
    MockServer,
    client_for,
    cursor_reply,
    mock,
)

DB_NAME = os.environ.get("MOTORLIKE_TEST_DB", "motorlike_test")


@pytest.fixture
def collection_name(sync_client) -> str:
    """A fresh collection name in the test database, dropped afterwards."""
    name = f"loops_{uuid.uuid4().hex[:12]}"
    yield name
    sync_client[DB_NAME].drop_collection(name)


def current_loop(framework: str) -> Any:
    """What the framework's default get_io_loop returns right now."""
    return FRAMEWORK_MODULES[framework].get_event_loop()


def as_asyncio(loop: Any) -> asyncio.AbstractEventLoop:
    return getattr(loop, "asyncio_loop", loop)


# ---------------------------------------------------------------------------
# One client, many loops


def test_one_client_across_consecutive_asyncio_runs(framework: str, server_uri: str, collection_name: str) -> None:
    # Created outside any loop; each asyncio.run() makes and closes its own.
    client = client_for(framework, server_uri)
    collection = client[DB_NAME][collection_name]

    async def use(n: int) -> dict:
        running = asyncio.get_running_loop()
        assert as_asyncio(client.get_io_loop()) is running
        await collection.insert_one({"_id": n, "n": n})
        iterated = [document["_id"] async for document in collection.find().sort("_id")]
        listed = await collection.find({}, {"n": 1}).sort("_id").to_list()
        grouped = await collection.aggregate([{"$group": {"_id": None, "total": {"$sum": "$n"}}}]).to_list()
        return {
            "loop": running,  # kept alive, so identities are distinct
            "iterated": iterated,
            "listed": [document["n"] for document in listed],
            "total": grouped[0]["total"],
            "count": await collection.count_documents({}),
            "estimated": await collection.estimated_document_count(),
        }

    try:
        runs = [asyncio.run(use(n)) for n in range(3)]
    finally:
        client.close()
    for n, run in enumerate(runs):
        expected = list(range(n + 1))
        assert run["iterated"] == expected
        assert run["listed"] == expected
        assert run["total"] == sum(expected)
        assert run["count"] == run["estimated"] == n + 1
    # Three different loops served the same client.
    assert len({id(run["loop"]) for run in runs}) == 3
    assert all(run["loop"].is_closed() for run in runs)


def test_one_client_from_three_threads_at_once(framework: str, server_uri: str, collection_name: str, sync_client) -> None:
    client = client_for(framework, server_uri)
    collection = client[DB_NAME][collection_name]
    errors: list[BaseException] = []
    loops: dict[int, asyncio.AbstractEventLoop] = {}
    barrier = threading.Barrier(3, timeout=10)

    async def one(thread: int, n: int) -> None:
        key = f"{thread}-{n}"
        await collection.insert_one({"_id": key, "thread": thread})
        assert await collection.find_one({"_id": key}) == {"_id": key, "thread": thread}

    async def per_thread(thread: int) -> None:
        loops[thread] = asyncio.get_running_loop()
        assert as_asyncio(client.get_io_loop()) is asyncio.get_running_loop()
        await asyncio.gather(*(one(thread, n) for n in range(10)))
        mine = await collection.find({"thread": thread}).to_list()
        assert len(mine) == 10

    def run(thread: int) -> None:
        try:
            barrier.wait()  # start together, so the loops overlap
            asyncio.run(asyncio.wait_for(per_thread(thread), 30))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,), name=f"loop-{t}") for t in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(40)
        assert not any(thread.is_alive() for thread in threads), "a loop thread hung"
    finally:
        client.close()
    assert errors == []
    assert len({id(loop) for loop in loops.values()}) == 3
    assert sync_client[DB_NAME][collection_name].count_documents({}) == 30


# ---------------------------------------------------------------------------
# io_loop=


def test_io_loop_not_yet_running_asyncio(server_uri: str, collection_name: str) -> None:
    from motorlike.motor_asyncio import AsyncIOMotorClient

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(None)
    client = AsyncIOMotorClient(server_uri, io_loop=loop, serverSelectionTimeoutMS=5000)
    try:
        assert client.io_loop is loop and client.get_io_loop() is loop
        collection = client[DB_NAME][collection_name]
        assert collection.get_io_loop() is loop
        # With no loop running nor set, a future still has a home: the bound loop.
        early = collection.find({"nothing": True}).to_list()
        assert isinstance(early, asyncio.Future) and early.get_loop() is loop

        async def main() -> Any:
            await collection.insert_one({"_id": 1})
            return await collection.find_one()

        assert loop.run_until_complete(main()) == {"_id": 1}
        assert loop.run_until_complete(early) == []
    finally:
        client.close()
        loop.close()


def test_io_loop_not_yet_running_tornado(server_uri: str, collection_name: str) -> None:
    from motorlike.motor_tornado import MotorClient

    io_loop = IOLoop(make_current=False)
    client = MotorClient(server_uri, io_loop=io_loop, serverSelectionTimeoutMS=5000)
    try:
        assert client.io_loop is io_loop and client.get_io_loop() is io_loop
        collection = client[DB_NAME][collection_name]
        early = collection.find({"nothing": True}).to_list()
        assert early.get_loop() is io_loop.asyncio_loop

        async def main() -> Any:
            await collection.insert_one({"_id": 1})
            return await collection.find_one(), await early

        assert io_loop.run_sync(main, timeout=10) == ({"_id": 1}, [])
    finally:
        client.close()
        io_loop.close()


def test_io_loop_must_be_the_frameworks_loop() -> None:
    from motorlike.motor_asyncio import AsyncIOMotorClient
    from motorlike.motor_tornado import MotorClient

    uri = "mongodb://127.0.0.1:1/"
    asyncio_loop = asyncio.new_event_loop()
    io_loop = IOLoop(make_current=False)
    try:
        for bad in (object(), "loop", io_loop):
            with pytest.raises(TypeError):
                AsyncIOMotorClient(uri, io_loop=bad)
        for bad in (object(), asyncio_loop):
            with pytest.raises(TypeError):
                MotorClient(uri, io_loop=bad)
        accepted = [AsyncIOMotorClient(uri, io_loop=asyncio_loop), MotorClient(uri, io_loop=io_loop)]
        assert accepted[0].io_loop is asyncio_loop
        assert accepted[1].io_loop is io_loop
        for client in accepted:
            client.close()
    finally:
        io_loop.close()
        asyncio_loop.close()


# ---------------------------------------------------------------------------
# A replaced get_io_loop


class CountingLoopGetter:
    """A replacement get_io_loop that counts its calls."""

    def __init__(self, get: Callable[[], Any]) -> None:
        self.get = get
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.get()

    async def counts(self, make: Callable[[], Any]) -> Any:
        """Call ``make``, await what it returns; check the loop was asked for."""
        before = self.calls
        result = await make()
        assert self.calls > before, f"{make!r} did not call the replaced get_io_loop"
        return result


async def test_replaced_get_io_loop_reaches_everything(framework: str, server_uri: str, collection_name: str) -> None:
    client = client_for(framework, server_uri)
    getter = client.get_io_loop = CountingLoopGetter(lambda: current_loop(framework))
    try:
        db = client[DB_NAME]
        collection = db[collection_name]
        expected = as_asyncio(current_loop(framework))
        for made in (db, collection, collection.find(), collection.aggregate([]), collection.watch()):
            assert as_asyncio(made.get_io_loop()) is expected

        await getter.counts(lambda: db.command("ping"))
        await getter.counts(lambda: collection.insert_many([{"_id": n} for n in range(3)]))

        cursor = collection.find().sort("_id")
        assert isinstance(cursor, AgnosticCursor)
        assert await getter.counts(lambda: cursor.to_list()) == [{"_id": n} for n in range(3)]
        cursor = collection.find().sort("_id").batch_size(1)
        assert await getter.counts(lambda: cursor.next()) == {"_id": 0}
        before = getter.calls
        assert [document async for document in cursor] == [{"_id": 1}, {"_id": 2}]
        assert getter.calls > before

        latent = collection.aggregate([{"$sort": {"_id": 1}}])
        assert isinstance(latent, AgnosticLatentCommandCursor)
        assert await getter.counts(lambda: latent.to_list()) == [{"_id": n} for n in range(3)]
        command_cursor = await getter.counts(lambda: db.list_collections())
        assert isinstance(command_cursor, AgnosticCommandCursor)
        names = [info["name"] for info in await getter.counts(lambda: command_cursor.to_list())]
        assert collection_name in names

        session = await getter.counts(lambda: client.start_session())
        assert isinstance(session, AgnosticClientSession)
        assert as_asyncio(session.get_io_loop()) is expected
        await getter.counts(lambda: collection.find_one({"_id": 0}, session=session))
        await getter.counts(lambda: session.end_session())

        stream = collection.watch()
        assert isinstance(stream, AgnosticChangeStream)
        before = getter.calls
        try:
            await stream.try_next()
        except PyMongoError:
            pass  # a server without change streams; the loop was asked first
        assert getter.calls > before
        await stream.close()
    finally:
        client.close()


async def test_replaced_get_io_loop_reaches_change_streams(framework: str, mock: MockServer) -> None:
    reply = cursor_reply(5, "db.coll", [], postBatchResumeToken={"_data": "t0"})
    reply["operationTime"] = Timestamp(1, 1)
    mock.on("aggregate", reply, forever=True)
    mock.on("getMore", cursor_reply(5, "db.coll", [], first=False, postBatchResumeToken={"_data": "t1"}), forever=True)
    client = client_for(framework, mock.uri)
    getter = client.get_io_loop = CountingLoopGetter(lambda: current_loop(framework))
    try:
        for stream in (client.db.coll.watch(), client.db.watch(), client.watch()):
            assert await getter.counts(lambda: stream.try_next()) is None
            # close() needs no loop: a background call, awaited where it is.
            await stream.close()
        async with client.db.coll.watch() as stream:
            assert await getter.counts(lambda: stream.try_next()) is None
    finally:
        client.close()


async def test_replacement_on_a_collection_reaches_its_cursors(
    framework: str, server_uri: str, collection_name: str
) -> None:
    client = client_for(framework, server_uri)
    try:
        collection = client[DB_NAME][collection_name]
        getter = collection.get_io_loop = CountingLoopGetter(lambda: current_loop(framework))
        await getter.counts(lambda: collection.insert_one({"_id": 1}))
        assert await getter.counts(lambda: collection.find().to_list()) == [{"_id": 1}]
        assert await getter.counts(lambda: collection.aggregate([]).to_list()) == [{"_id": 1}]
        # The client and other collections still use their own.
        before = getter.calls
        await client[DB_NAME].command("ping")
        await client[DB_NAME][collection_name].find_one()
        assert getter.calls == before
    finally:
        client.close()


def test_replaced_get_io_loop_with_a_specific_loop(framework: str, server_uri: str, collection_name: str) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(None)
    client = client_for(framework, server_uri)
    getter = client.get_io_loop = CountingLoopGetter(lambda: loop)
    try:
        collection = client[DB_NAME][collection_name]
        # No loop running or set: only the replacement can provide one.
        future = collection.find({"nothing": True}).to_list()
        assert future.get_loop() is loop and getter.calls == 1
        assert loop.run_until_complete(future) == []
        assert loop.run_until_complete(collection.insert_one({"_id": 1})).inserted_id == 1
        assert loop.run_until_complete(collection.find().to_list()) == [{"_id": 1}]
        assert getter.calls == 3
    finally:
        client.close()
        loop.close()


# ---------------------------------------------------------------------------
# to_list's future


async def test_to_list_returns_an_asyncio_future(framework: str, collection) -> None:
    await collection.insert_many([{"_id": n} for n in range(3)])
    future = collection.find().sort("_id").to_list()
    assert isinstance(future, asyncio.Future)
    assert hasattr(future, "__await__")
    assert future.get_loop() is asyncio.get_running_loop()
    called = asyncio.Event()
    seen = []

    def done(f: asyncio.Future) -> None:
        seen.append(f.result())
        called.set()

    future.add_done_callback(done)
    assert await future == [{"_id": 0}, {"_id": 1}, {"_id": 2}]
    await asyncio.wait_for(called.wait(), 5)
    assert seen == [[{"_id": 0}, {"_id": 1}, {"_id": 2}]]

    # Lists served from the buffer or empty are futures too, already done.
    cursor = collection.find().sort("_id").batch_size(3)
    assert await cursor.to_list(1) == [{"_id": 0}]
    for length, expected in ((1, [{"_id": 1}]), (0, [])):
        immediate = cursor.to_list(length)
        assert isinstance(immediate, asyncio.Future) and immediate.done()
        assert await immediate == expected


def test_to_list_before_run_until_complete(framework: str, server_uri: str, collection_name: str, sync_client) -> None:
    sync_client[DB_NAME][collection_name].insert_many([{"_id": 1}, {"_id": 2}])
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    client = client_for(framework, server_uri)
    try:
        # The set (not running) loop is the one the future belongs to.
        future = client[DB_NAME][collection_name].find().sort("_id").to_list()
        assert isinstance(future, asyncio.Future) and future.get_loop() is loop
        assert loop.run_until_complete(future) == [{"_id": 1}, {"_id": 2}]
    finally:
        client.close()
        asyncio.set_event_loop(None)
        loop.close()


# ---------------------------------------------------------------------------
# Warnings


def _troublesome(category: type) -> Callable[[warnings.WarningMessage], bool]:
    return lambda caught: issubclass(caught.category, category)


def test_no_runtime_or_resource_warnings(framework: str, server_uri: str, collection_name: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = client_for(framework, server_uri)
        collection = client[DB_NAME][collection_name]

        async def use(n: int) -> None:
            await collection.insert_many([{"_id": f"{n}-{i}"} for i in range(4)])
            async for _ in collection.find():
                break  # abandoned mid-way, never closed
            cursor = collection.find().batch_size(1)
            await cursor.next()
            await cursor.close()
            await collection.aggregate([{"$match": {}}]).to_list()
            await collection.find().to_list(2)
            to_cancel = asyncio.ensure_future(collection.count_documents({}))
            await asyncio.sleep(0)
            to_cancel.cancel()
            await asyncio.gather(to_cancel, return_exceptions=True)
            # Let a cancelled call finish on its worker within this loop's life.
            await collection.find_one()

        for n in range(2):
            asyncio.run(use(n))
        client.close()
        del client, collection
        gc.collect()
        time.sleep(0.05)  # any worker still finishing a dropped call
        gc.collect()
        bad = [w for w in caught if _troublesome(RuntimeWarning)(w) or _troublesome(ResourceWarning)(w)]
        assert bad == [], [str(w.message) for w in bad]

        # The check itself works: a never-awaited coroutine is reported.
        # (motorlike's operations, as Motor's, run without await: futures.)
        async def control() -> None:
            pass

        never_awaited = control()
        del never_awaited
        gc.collect()
        assert any("never awaited" in str(w.message) for w in caught if _troublesome(RuntimeWarning)(w))
