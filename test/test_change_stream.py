"""Change streams, served by MockupDB (mongoeco has none).

The mock plays a server that answers ``aggregate`` with ``$changeStream``
and the getMores after it; each change document's ``_id`` is its resume
token, as on a real server. One test uses the real test server and is
skipped unless it supports change streams.
"""

from __future__ import annotations

import asyncio

import pytest
from bson import Timestamp

from motorlike import _bridge
from motorlike.core import AgnosticChangeStream
from test.test_mockupdb import MockServer, client_for, cursor_reply, hang_up, mock  # noqa: F401 - fixture

NAMESPACE = "db.coll"
CURSOR_ID = 77


def change(n: int) -> dict:
    return {
        "_id": {"_data": f"token{n}"},
        "operationType": "insert",
        "ns": {"db": "db", "coll": "coll"},
        "documentKey": {"_id": n},
        "fullDocument": {"_id": n},
    }


def opened(batch: list, cursor_id: int = CURSOR_ID, token: str = "token0") -> dict:
    """The reply to the $changeStream aggregate."""
    reply = cursor_reply(cursor_id, NAMESPACE, batch, postBatchResumeToken={"_data": token})
    reply["operationTime"] = Timestamp(1, 1)
    return reply


def more(batch: list, token: str, cursor_id: int = CURSOR_ID) -> dict:
    """The reply to a getMore on the stream."""
    return cursor_reply(cursor_id, NAMESPACE, batch, first=False, postBatchResumeToken={"_data": token})


def change_stream_stage(command: dict) -> dict:
    first = command["pipeline"][0]
    assert list(first) == ["$changeStream"], command
    return first["$changeStream"]


async def test_watch_returns_at_once_without_io(framework: str, mock: MockServer) -> None:
    mock.on("ping", {"ok": 1}, forever=True)
    client = client_for(framework, mock.uri)
    try:
        collection = client.db.coll
        streams = [collection.watch(), collection.database.watch(), client.watch()]
        for stream in streams:
            assert isinstance(stream, AgnosticChangeStream)
            assert type(stream)._framework is type(client)._framework
            assert stream.alive
            assert stream.resume_token is None
        # A round trip later, still nothing was sent for the streams.
        await client.admin.command("ping")
        await asyncio.sleep(0.05)
        assert mock.names() == ["ping"]
        for stream in streams:
            await stream.close()
        assert mock.names() == ["ping"]
    finally:
        client.close()


async def test_async_with_and_async_for(framework: str, mock: MockServer) -> None:
    mock.on("aggregate", opened([change(1)], token="token1"))
    mock.on("getMore", more([change(2), change(3)], "token3"))
    client = client_for(framework, mock.uri)
    received = []
    try:
        pipeline = [{"$match": {"operationType": "insert"}}]
        async with client.db.coll.watch(pipeline, full_document="updateLookup") as stream:
            # Entering opened the stream: the aggregate was sent, nothing else.
            assert mock.names() == ["aggregate"]
            async for document in stream:
                received.append(document)
                if len(received) == 3:
                    break
            assert stream.resume_token == {"_data": "token3"}
        assert not stream.alive
    finally:
        client.close()
    assert received == [change(1), change(2), change(3)]
    (aggregate,) = mock.documents("aggregate")
    assert aggregate["aggregate"] == "coll"
    assert change_stream_stage(aggregate) == {"fullDocument": "updateLookup"}
    assert aggregate["pipeline"][1:] == pipeline
    (get_more,) = mock.documents("getMore")
    assert get_more["getMore"] == CURSOR_ID and get_more["collection"] == "coll"
    # Leaving the block killed the server cursor.
    (kill,) = mock.documents("killCursors")
    assert kill["killCursors"] == "coll" and kill["cursors"] == [CURSOR_ID]


def test_plain_with_points_at_async_with(framework: str) -> None:
    client = client_for(framework, "mongodb://127.0.0.1:1", serverSelectionTimeoutMS=100)
    stream = client.db.coll.watch()
    with pytest.raises(RuntimeError, match="async with"):
        with stream:
            pass
    client.close()


async def test_try_next_returns_none_on_empty_batch(framework: str, mock: MockServer) -> None:
    mock.on("aggregate", opened([], token="token0"))
    mock.on("getMore", more([], "token1"), more([change(2)], "token2"), more([], "token5"))
    client = client_for(framework, mock.uri)
    try:
        stream = client.db.coll.watch()
        # Opening (empty first batch) and one empty getMore.
        assert await stream.try_next() is None
        assert mock.names() == ["aggregate", "getMore"]
        assert stream.resume_token == {"_data": "token1"}
        assert stream.alive
        assert await stream.try_next() == change(2)
        assert stream.resume_token == {"_data": "token2"}
        assert await stream.try_next() is None
        assert stream.resume_token == {"_data": "token5"}
        assert mock.names() == ["aggregate", "getMore", "getMore", "getMore"]
        await stream.close()
    finally:
        client.close()


async def test_resumes_once_after_network_error(framework: str, mock: MockServer) -> None:
    mock.on("aggregate", opened([change(1)], token="token1"), opened([change(2)], cursor_id=78, token="token2"))
    mock.on("getMore", hang_up, more([change(3)], "token3", cursor_id=78))
    client = client_for(framework, mock.uri)
    received = []
    try:
        async with client.db.coll.watch() as stream:
            async for document in stream:
                received.append(document)
                if len(received) == 3:
                    break
            assert stream.resume_token == {"_data": "token3"}
    finally:
        client.close()
    assert received == [change(1), change(2), change(3)]
    first, second = mock.documents("aggregate")
    assert "resumeAfter" not in change_stream_stage(first)
    assert change_stream_stage(second) == {"resumeAfter": {"_data": "token1"}}
    assert [doc["getMore"] for doc in mock.documents("getMore")] == [CURSOR_ID, 78]


async def test_non_resumable_error_raises_and_closes(framework: str, mock: MockServer) -> None:
    from pymongo.errors import OperationFailure

    mock.on("aggregate", opened([], token="token0"))
    mock.on("getMore", lambda request: request.command_err(code=2, errmsg="BadValue"))
    client = client_for(framework, mock.uri)
    try:
        stream = client.db.coll.watch()
        with pytest.raises(OperationFailure) as info:
            await stream.try_next()
        assert info.value.code == 2
        assert not stream.alive
        assert mock.names().count("aggregate") == 1
    finally:
        client.close()


async def test_no_worker_is_held_between_waits(framework: str, mock: MockServer, monkeypatch) -> None:
    # With a single worker, the ping after each wait can only run if the
    # stream gave the worker back.
    pool = _bridge.WorkerPool(1)
    monkeypatch.setattr(_bridge, "_pool", pool)
    mock.on("aggregate", opened([], token="token0"))
    mock.on("getMore", more([], "token1"), forever=True)
    mock.on("ping", {"ok": 1}, forever=True)
    client = client_for(framework, mock.uri)
    try:
        stream = client.db.coll.watch(max_await_time_ms=50)
        for _ in range(3):
            assert await asyncio.wait_for(stream.try_next(), 5) is None
            assert await asyncio.wait_for(client.admin.command("ping"), 5) == {"ok": 1}
        # Each try_next was exactly one bounded getMore.
        get_mores = mock.documents("getMore")
        assert len(get_mores) == 3
        assert all(command["maxTimeMS"] == 50 for command in get_mores)
        await asyncio.wait_for(stream.close(), 5)
        assert pool.thread_count == 1
    finally:
        client.close()
        pool.shutdown()


async def test_close_kills_the_cursor(framework: str, mock: MockServer) -> None:
    mock.on("aggregate", opened([change(1)], token="token1"))
    client = client_for(framework, mock.uri)
    try:
        stream = client.db.coll.watch()
        assert await stream.try_next() == change(1)
        await stream.close()
        assert not stream.alive
        (kill,) = mock.documents("killCursors")
        assert kill["cursors"] == [CURSOR_ID]
        # A closed stream ends iteration and sends nothing more.
        assert [document async for document in stream] == []
        await stream.close()
        assert mock.names() == ["aggregate", "killCursors"]
    finally:
        client.close()


async def test_try_next_after_close_returns_none(framework: str, mock: MockServer) -> None:
    # As PyMongo documents for try_next: None "when the cursor is closed".
    mock.on("aggregate", opened([], token="token0"))
    mock.on("getMore", more([], "token1"))
    client = client_for(framework, mock.uri)
    try:
        stream = client.db.coll.watch()
        assert await stream.try_next() is None
        await stream.close()
        assert await stream.try_next() is None
        assert mock.names() == ["aggregate", "getMore", "killCursors"]
    finally:
        client.close()


async def test_stream_without_operation_time_fails_like_pymongo(framework: str, mock: MockServer) -> None:
    from pymongo.errors import OperationFailure

    # PyMongo's own check (PYTHON-2181) reaches the caller unchanged.
    mock.on("aggregate", cursor_reply(0, NAMESPACE, []))
    client = client_for(framework, mock.uri)
    try:
        with pytest.raises(OperationFailure, match="operationTime"):
            async with client.db.coll.watch():
                pass
    finally:
        client.close()


@pytest.mark.requires("change_streams")
async def test_real_server_change_stream(collection) -> None:
    async with collection.watch(max_await_time_ms=100) as stream:
        await collection.insert_one({"_id": 1, "x": "changed"})
        change_document = None
        for _ in range(50):
            change_document = await stream.try_next()
            if change_document is not None:
                break
        assert change_document is not None
        assert change_document["operationType"] == "insert"
        assert change_document["fullDocument"] == {"_id": 1, "x": "changed"}
        assert stream.resume_token is not None and "_data" in stream.resume_token


async def test_change_is_kept_when_the_waiter_times_out(framework: str, mock: MockServer) -> None:
    """wait_for(stream.next(), t) timing out during a getMore loses no change."""
    mock.on("aggregate", opened([], token="token0"))
    client = client_for(framework, mock.uri)
    try:
        stream = await client.db.coll.watch().__aenter__()  # sends the aggregate only
        waiter = asyncio.ensure_future(stream.next())
        held = await mock.receive("getMore")
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        held.replies(more([change(7)], "token7"))
        # The change that arrived for the cancelled waiter is the next one out.
        assert await asyncio.wait_for(stream.try_next(), 5) == change(7)
        await stream.close()
    finally:
        client.close()
