"""No error is swallowed, deferred past a result or left to a log line.

An error a background fetch (a cursor's prefetch) finds is raised by the
first read that would otherwise return fewer documents than asked or report
the end; StopIteration raised inside a worker call reaches the caller as
RuntimeError on every framework; an outcome the loop cannot deliver fails
the future. And what nobody asked for is never waited for: ``close()``
does not wait for a prefetch, nor does the interpreter at exit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo.errors import AutoReconnect, CursorNotFound, OperationFailure, PyMongoError

from motorlike import _bridge
from test.fault_server import FaultServer
from test.test_mockupdb import MockServer, client_for, cursor_reply, mock  # noqa: F401 - mock is a fixture

DOCS = [{"_id": n, "i": n} for n in range(300)]


@pytest.fixture(params=["asyncio", "tornado"])
def framework(request: pytest.FixtureRequest) -> str:
    return request.param


async def read_then_break(cursor: Any, count: int) -> list:
    """``async for`` over ``cursor``, leaving the loop after ``count`` documents."""
    seen = []
    async for document in cursor:
        seen.append(document)
        if len(seen) == count:
            break
    return seen


async def test_a_killed_cursor_raises_instead_of_returning_short(framework, mock: MockServer) -> None:
    """async for, break at 60, the server cursor killed meanwhile: to_list(None) raises."""
    mock.on("find", cursor_reply(42, "db.coll", DOCS[:100]))
    mock.on("getMore", {"ok": 0, "errmsg": "cursor id 42 not found", "code": 43}, forever=True)
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.find().batch_size(100)
        seen = await read_then_break(cursor, 60)
        with pytest.raises(CursorNotFound):
            await cursor.to_list(None)
        # The forty documents fetched before the error are still there, once,
        # and a read that needs more than them raises rather than ends.
        rest = await cursor.to_list(None)
        assert seen + rest == DOCS[:100]
    finally:
        client.close()


async def test_async_for_hands_out_what_came_before_then_raises(framework, mock: MockServer) -> None:
    mock.on("find", cursor_reply(42, "db.coll", DOCS[:100]))
    mock.on("getMore", {"ok": 0, "errmsg": "cursor id 42 not found", "code": 43}, forever=True)
    client = client_for(framework, mock.uri)
    try:
        seen = []
        with pytest.raises(CursorNotFound):
            async for document in client.db.coll.find().batch_size(100):
                seen.append(document)
        assert seen == DOCS[:100]
    finally:
        client.close()


async def test_a_server_restart_mid_cursor_raises_instead_of_returning_short(framework) -> None:
    with FaultServer(docs=DOCS) as server:
        client = client_for(framework, server.uri, retryReads=False)
        try:
            cursor = client.db.coll.find().batch_size(100)
            seen = [await cursor.__anext__() for _ in range(60)]
            server.stop()  # its cursors are gone with it
            server.start()
            with pytest.raises((CursorNotFound, AutoReconnect, OperationFailure)):
                await cursor.to_list(None)
            assert seen == DOCS[:60]
        finally:
            client.close()


class StopsIterating:
    """A file-like source with a bug: reading raises StopIteration (user
    code PyMongo runs inside a worker call)."""

    def read(self, size: int = -1) -> bytes:
        raise StopIteration


def _bucket(framework: str, client: Any) -> Any:
    from motorlike import motor_asyncio, motor_tornado

    module = motor_asyncio if framework == "asyncio" else motor_tornado
    bucket_class = getattr(module, ("AsyncIO" if framework == "asyncio" else "") + "MotorGridFSBucket")
    return bucket_class(client.motorlike_test, "stop_iteration")


async def test_stop_iteration_in_a_worker_call_becomes_runtime_error(framework, server_uri) -> None:
    from test.conftest import make_client

    client = make_client(framework, server_uri)
    try:
        bucket = _bucket(framework, client)
        with pytest.raises(RuntimeError, match="StopIteration") as raised:
            await bucket.upload_from_stream("never", StopsIterating())
        assert isinstance(raised.value.__cause__, StopIteration)
        assert await client.admin.command("ping") == {"ok": 1.0}  # the client is fine
    finally:
        await bucket.drop()
        client.close()


@pytest.mark.trio
async def test_stop_iteration_becomes_runtime_error_on_trio(server_uri) -> None:
    trio = pytest.importorskip("trio", reason="Trio is not installed (pip install 'motorlike[trio]')")
    from motorlike.motor_trio import TrioMotorClient, TrioMotorGridFSBucket

    client = TrioMotorClient(server_uri, serverSelectionTimeoutMS=5000)
    try:
        bucket = TrioMotorGridFSBucket(client.motorlike_test, "stop_iteration_trio")
        with trio.fail_after(60), pytest.raises(RuntimeError, match="StopIteration"):
            await bucket.upload_from_stream("never", StopsIterating())
        await bucket.drop()
    finally:
        client.close()


async def test_an_outcome_that_cannot_be_delivered_fails_the_future(monkeypatch) -> None:
    pool = _bridge.WorkerPool(2)
    monkeypatch.setattr(_bridge, "_pool", pool)
    from motorlike.frameworks import asyncio as asyncio_framework

    def broken_deliver(future: Any, result: Any, error: Any) -> None:
        raise ValueError("cannot deliver this")

    try:
        loop = asyncio.get_running_loop()
        future = asyncio_framework.submit(loop, lambda: 1, (), {}, broken_deliver)
        with pytest.raises(ValueError, match="cannot deliver"):
            await future
    finally:
        pool.shutdown(wait=False)


async def test_close_does_not_wait_for_a_prefetch_nobody_asked_for(framework) -> None:
    with FaultServer(docs=DOCS, stall_get_more_after=0) as server:
        client = client_for(framework, server.uri, socketTimeoutMS=60000)
        try:
            cursor = client.db.coll.find().batch_size(100)
            seen = await read_then_break(cursor, 60)
            assert cursor._fetched.prefetching  # a getMore nobody asked for ...
            while "getMore" not in server.commands:  # ... until it hangs on the server
                await asyncio.sleep(0.005)
            assert not any(future for future in _bridge._pending)  # the interpreter will not wait for it
            await cursor.close()
            # close() returned while that getMore still hangs: it did not wait.
            assert not cursor._strand.idle and cursor._fetched.prefetching
            assert seen == DOCS[:60]
            assert await cursor.to_list(None) == DOCS[60:100]  # buffered before close: still readable
        finally:
            client.close()


async def test_tornado_with_timeout_never_reorders_or_doubles(mock: MockServer) -> None:
    """gen.with_timeout does not cancel what it wraps, so a batch that arrives
    after its timeout has no taker and is lost (doc/reliability.md): what is
    read stays in order, once, and every loss is a whole batch of a call that
    timed out."""
    from tornado import gen

    from motorlike.motor_tornado import MotorClient

    served = list(range(400))
    mock.on("find", cursor_reply(42, "db.coll", [{"_id": n} for n in served[:200]]))
    mock.on("getMore", cursor_reply(0, "db.coll", [{"_id": n} for n in served[200:]], first=False))
    client = MotorClient(mock.uri, serverSelectionTimeoutMS=5000)
    try:
        cursor = client.db.coll.find().batch_size(200)
        read: list[int] = []
        timeouts = 0
        while True:
            try:
                batch = await gen.with_timeout(asyncio.get_running_loop().time() + 0.0005, cursor.to_list(5))
            except gen.TimeoutError:
                timeouts += 1
                continue
            if not batch:
                break
            read.extend(document["_id"] for document in batch)
        assert read == sorted(set(read))  # in order, none twice
        assert len(served) - len(read) <= 5 * timeouts
    finally:
        client.close()


async def test_every_error_of_the_pool_reaches_a_caller_under_load(framework) -> None:
    """Calls on a silent server, each abandoned or awaited at random: every
    awaited one ends with an error (a timeout), none hangs or succeeds."""
    import random

    rng = random.Random(7)
    with FaultServer("stall_ops") as server:
        client = client_for(framework, server.uri, socketTimeoutMS=300, retryReads=False, maxPoolSize=10)
        try:
            await client.admin.command("ping")
            calls = [client.db.coll.find_one() for _ in range(200)]
            kept = []
            for call in calls:
                if rng.random() < 0.5:
                    call.cancel()
                else:
                    kept.append(call)
            outcomes = await asyncio.gather(*kept, return_exceptions=True)
            assert all(isinstance(outcome, PyMongoError) and outcome.timeout for outcome in outcomes), outcomes
        finally:
            client.close()


@pytest.mark.trio
async def test_an_outcome_that_cannot_be_delivered_fails_the_future_on_trio(monkeypatch) -> None:
    pytest.importorskip("trio", reason="Trio is not installed (pip install 'motorlike[trio]')")
    from motorlike.frameworks import trio as trio_framework

    pool = _bridge.WorkerPool(2)
    monkeypatch.setattr(_bridge, "_pool", pool)

    def broken_deliver(future: Any, result: Any, error: Any) -> None:
        raise ValueError("cannot deliver this")

    try:
        future = trio_framework.submit(trio_framework.get_event_loop(), lambda: 1, (), {}, broken_deliver)
        with pytest.raises(ValueError, match="cannot deliver"):
            await future  # instead of ending the whole Trio run
    finally:
        pool.shutdown(wait=False)
