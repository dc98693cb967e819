"""Sessions and transactions on both frameworks."""

from __future__ import annotations

import pytest
from pymongo.errors import InvalidOperation, OperationFailure, PyMongoError

from motorlike import _session, core
from test.conftest import make_client


async def test_start_session_and_async_with(client, collection) -> None:
    session = await client.start_session()
    assert isinstance(session, core.AgnosticClientSession)
    assert session.client is client
    assert not session.has_ended
    async with session as entered:
        assert entered is session
        await collection.insert_one({"x": 1}, session=session)
        assert (await collection.find_one({}, session=session))["x"] == 1
        assert session.session_id is not None
    assert session.has_ended
    async with await client.start_session() as other:
        cursor = collection.find(session=other)
        assert [doc["x"] async for doc in cursor] == [1]
        assert cursor.session is other.delegate
    await session.end_session()  # ending twice is harmless, as in PyMongo


async def test_session_from_another_client_is_refused(framework, server_uri, client, collection) -> None:
    other_client = make_client(framework, server_uri)
    try:
        foreign = await other_client.start_session()
        with pytest.raises(InvalidOperation):
            await collection.insert_one({"x": 1}, session=foreign)
        await foreign.end_session()
    finally:
        other_client.close()


@pytest.mark.requires("transactions")
async def test_start_transaction_commits_and_aborts(client, collection) -> None:
    async with await client.start_session() as session:
        transaction = session.start_transaction()
        assert session.in_transaction
        await transaction.__aenter__()
        await collection.insert_one({"_id": "committed"}, session=session)
        await transaction.__aexit__(None, None, None)
        assert not session.in_transaction

        with pytest.raises(RuntimeError):
            async with session.start_transaction():
                await collection.insert_one({"_id": "aborted"}, session=session)
                raise RuntimeError("roll back")
        assert not session.in_transaction

        session.start_transaction()
        await collection.insert_one({"_id": "explicit-abort"}, session=session)
        await session.abort_transaction()
        session.start_transaction()
        await collection.insert_one({"_id": "explicit-commit"}, session=session)
        await session.commit_transaction()
    ids = sorted([doc["_id"] async for doc in collection.find()])
    assert ids == ["committed", "explicit-commit"]


@pytest.mark.requires("transactions")
async def test_with_transaction_commits_and_returns(client, collection) -> None:
    async def callback(session):
        await collection.insert_one({"_id": 1}, session=session)
        return "result"

    async with await client.start_session() as session:
        assert await session.with_transaction(callback) == "result"
        assert not session.in_transaction
    assert await collection.count_documents({}) == 1


@pytest.mark.requires("transactions")
async def test_with_transaction_retries_transient_errors(client, collection) -> None:
    calls = []

    async def callback(session):
        calls.append(1)
        await collection.insert_one({"attempt": len(calls)}, session=session)
        if len(calls) < 3:
            error = OperationFailure("write conflict", code=112)
            error._add_error_label("TransientTransactionError")
            raise error

    async with await client.start_session() as session:
        await session.with_transaction(callback)
    assert len(calls) == 3
    # Only the last attempt's write was committed.
    assert [doc["attempt"] async for doc in collection.find()] == [3]


@pytest.mark.requires("transactions")
async def test_with_transaction_does_not_retry_other_errors(client, collection) -> None:
    calls = []

    async def callback(session):
        calls.append(1)
        await collection.insert_one({"x": 1}, session=session)
        raise ValueError("application error")

    async with await client.start_session() as session:
        with pytest.raises(ValueError):
            await session.with_transaction(callback)
        assert not session.in_transaction
    assert len(calls) == 1
    assert await collection.count_documents({}) == 0


async def test_with_transaction_gives_up_after_the_time_limit(client, monkeypatch) -> None:
    monkeypatch.setattr(_session, "_WITH_TRANSACTION_RETRY_TIME_LIMIT", 0)
    calls = []

    async def callback(session):
        calls.append(1)
        error = PyMongoError("transient")
        error._add_error_label("TransientTransactionError")
        raise error

    async with await client.start_session() as session:
        with pytest.raises(PyMongoError):
            await session.with_transaction(callback)
    assert len(calls) == 1


async def test_bound_session_is_used_implicitly(framework, server_uri) -> None:
    from pymongo import monitoring

    class Recorder(monitoring.CommandListener):
        def __init__(self) -> None:
            self.commands: list = []

        def started(self, event) -> None:
            self.commands.append((event.command_name, event.command.get("lsid")))

        def succeeded(self, event) -> None:
            pass

        def failed(self, event) -> None:
            pass

    recorder = Recorder()
    motor_client = make_client(framework, server_uri, event_listeners=[recorder])
    try:
        collection = motor_client.motorlike_test.bound_session
        async with await motor_client.start_session() as session:
            async with session.bind(end_session=False) as bound:
                assert bound is session
                await collection.insert_one({"x": 1})
                await collection.find_one({"x": 1})
            lsids = [lsid for name, lsid in recorder.commands if name in ("insert", "find")]
            assert lsids == [session.session_id, session.session_id]
            recorder.commands.clear()
            await collection.find_one({"x": 1})
            assert recorder.commands[-1][1] != session.session_id
        await collection.drop()
    finally:
        motor_client.close()


async def test_sync_with_on_a_session_is_refused(client) -> None:
    session = await client.start_session()
    with pytest.raises(AttributeError, match="async with"):
        with session:
            pass
    await session.end_session()
