"""``async for`` fetches the next batch while the current one is consumed.

When a quarter of the last fetch is left, one background call (holding the
cursor's lock, as every fetch) appends the next batch; at most one is in
flight. These tests pin what that may and may not change: the getMore goes
out early, order and completeness hold under cancellation, an error reaches
the reader after the documents before it, and tailable cursors wait.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from pymongo import CursorType
from pymongo.errors import OperationFailure

from test.fault_server import FaultServer
from test.test_mockupdb import MockServer, client_for, cursor_reply, mock  # noqa: F401 - mock is a fixture

pytestmark = pytest.mark.no_server

DOCS = [{"_id": i} for i in range(8)]


@pytest.fixture(params=["asyncio", "tornado"])
def framework(request: pytest.FixtureRequest) -> str:
    return request.param


def _record_prefetches(monkeypatch, cursor) -> list:
    """Calls of the cursor class's _start_prefetch: __anext__ makes them
    synchronously, so none recorded right after the reads means none was started."""
    started: list = []
    real = type(cursor)._start_prefetch

    def recording(self, fetched):
        started.append(fetched)
        real(self, fetched)

    monkeypatch.setattr(type(cursor), "_start_prefetch", recording)
    return started


async def test_the_next_batch_is_asked_for_before_the_buffer_is_empty(framework, mock, monkeypatch) -> None:
    mock.on("find", cursor_reply(42, "db.coll", DOCS))
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.find().batch_size(8)
        started = _record_prefetches(monkeypatch, cursor)
        first = [await cursor.__anext__() for _ in range(6)]
        assert len(started) == 1  # what the negative tests below rely on
        # Two documents are still buffered and nobody asked for more: only a
        # prefetch sends this getMore.
        held = await mock.receive("getMore")
        assert held.doc["getMore"] == 42
        held.replies(cursor_reply(0, "db.coll", [{"_id": 8}, {"_id": 9}], first=False))
        rest = [document async for document in cursor]
        assert first + rest == [{"_id": i} for i in range(10)]
        assert [name for name, _ in mock.commands].count("getMore") == 1
    finally:
        client.close()


async def test_a_prefetch_error_reaches_the_reader_after_the_documents_before_it(framework, mock) -> None:
    mock.on("find", cursor_reply(42, "db.coll", DOCS))
    mock.on("getMore", {"ok": 0, "errmsg": "cursor went away", "code": 43})
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.find().batch_size(8)
        received = []
        with pytest.raises(OperationFailure, match="cursor went away"):
            async for document in cursor:
                received.append(document)
        assert received == DOCS
    finally:
        client.close()


async def test_tailable_cursors_do_not_prefetch(framework, mock, monkeypatch) -> None:
    mock.on("find", cursor_reply(42, "db.coll", DOCS))
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.find(cursor_type=CursorType.TAILABLE).batch_size(8)
        started = _record_prefetches(monkeypatch, cursor)
        assert [await cursor.__anext__() for _ in range(8)] == DOCS
        # A tailable getMore waits for new documents on the server: it is sent
        # only when the reader asks.
        assert started == [] and not cursor._fetched.prefetching
        assert "getMore" not in [name for name, _ in mock.commands]
    finally:
        client.close()


async def test_random_cancellation_with_prefetch_loses_and_reorders_nothing(framework) -> None:
    docs = [{"_id": i} for i in range(300)]
    with FaultServer(docs=docs, get_more_delay=0.002) as server:
        client = client_for(framework, server.uri)
        rng = random.Random(20261202)
        try:
            cursor = client.db.coll.find().batch_size(9)
            seen, timeouts = [], 0
            while True:
                try:
                    document = await asyncio.wait_for(cursor.__anext__(), rng.uniform(0, 0.003))
                except asyncio.TimeoutError:
                    timeouts += 1
                    continue
                except StopAsyncIteration:
                    break
                seen.append(document["_id"])
                if rng.random() < 0.2:
                    await asyncio.sleep(rng.uniform(0, 0.002))  # the consumer works a little
            assert seen == list(range(300))
            assert timeouts > 0
            # At most one batch ahead: a getMore per batch, no more.
            assert server.commands.count("getMore") <= 300 // 9 + 1
        finally:
            client.close()


async def test_no_prefetch_with_an_explicit_session(framework, monkeypatch) -> None:
    """PyMongo's sessions are not thread-safe: a background getMore must not
    use one the caller may be using meanwhile."""
    mock = MockServer(logicalSessionTimeoutMinutes=30).start()
    mock.on("find", cursor_reply(42, "db.coll", DOCS))
    client = client_for(framework, mock.uri)
    try:
        session = await client.start_session()
        cursor = client.db.coll.find(session=session).batch_size(8)
        started = _record_prefetches(monkeypatch, cursor)
        assert [await cursor.__anext__() for _ in range(7)] == DOCS[:7]
        assert started == [] and not cursor._fetched.prefetching
        assert "getMore" not in [name for name, _ in mock.commands]
        await cursor.close()
        await session.end_session()
    finally:
        client.close()
        mock.stop()


async def test_after_a_prefetch_error_to_list_raises_it_and_loses_nothing(framework, mock) -> None:
    mock.on("find", cursor_reply(42, "db.coll", DOCS))
    mock.on("getMore", {"ok": 0, "errmsg": "cursor went away", "code": 43})
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.find().batch_size(8)
        first = [await cursor.__anext__() for _ in range(5)]  # the prefetch starts, and fails
        await cursor._run(lambda: None)  # in turn on the strand: the prefetch is over
        assert cursor._fetched.error is not None
        # to_list() would return fewer documents than asked: the error, not a short list.
        with pytest.raises(OperationFailure, match="cursor went away"):
            await cursor.to_list()
        # What came before the error is still there, once.
        assert await cursor.to_list() == DOCS[5:]
        assert await cursor.to_list() == []
        assert first == DOCS[:5]
    finally:
        client.close()
