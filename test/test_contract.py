"""Promises made in the README and docstrings that no other test pins down.

- documents already received are served without a worker call, and
  ``to_list()`` fetches every batch it needs in one worker call;
- nothing connects until the first operation;
- constructor arguments reach PyMongo as given;
- ``with_transaction`` retries the commit and the callback as PyMongo does;
- database-level ``aggregate`` is a latent cursor sending ``aggregate: 1``;
- ``buildInfo`` and ``server_info``.

Worker calls are counted on the process's pool (``_bridge.get_pool().submit``),
the one place every framework's ``submit`` ends up; the calls still run.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from bson import Int64
from pymongo import monitoring, uri_parser
from pymongo.errors import OperationFailure, ServerSelectionTimeoutError

from motorlike import _bridge, core
from test.conftest import make_client
from test.test_mockupdb import (  # noqa: F401 - mock is a fixture
    MockServer,
    client_for,
    cursor_reply,
    mock,
    serve_in_batches,
)

FIVE = [{"_id": i, "x": i} for i in range(5)]
SEVEN = [{"_id": i, "x": i} for i in range(7)]


@pytest.fixture
def worker_calls(monkeypatch: pytest.MonkeyPatch) -> list:
    """The functions submitted to motorlike's worker pool during the test, in order."""
    pool = _bridge.get_pool()
    original = pool.submit
    calls: list = []

    def counting_submit(loop: Any, future: Any, fn: Any, args: tuple, kwargs: dict, *rest: Any, **options: Any) -> None:
        # Background calls (client.close(), a prefetch: no loop to report
        # to) are not recorded.
        if loop is not None:
            calls.append(fn)
        return original(loop, future, fn, args, kwargs, *rest, **options)

    monkeypatch.setattr(pool, "submit", counting_submit)
    return calls


class IORecorder(monitoring.ServerHeartbeatListener, monitoring.ConnectionPoolListener):
    """Records what PyMongo reports when it does network I/O: heartbeats, new connections.

    (TopologyOpenedEvent is no sign of I/O: PyMongo publishes it on construction.)
    """

    def __init__(self) -> None:
        self.events: list[str] = []

    def _record(self, event: Any) -> None:
        self.events.append(type(event).__name__)

    # Heartbeats: a monitor talking to a server.
    started = succeeded = failed = _record

    # Connection pools: only connections being made count.
    def connection_created(self, event: Any) -> None:
        self._record(event)

    def connection_check_out_started(self, event: Any) -> None:
        self._record(event)

    def pool_created(self, event: Any) -> None:
        pass

    pool_ready = pool_cleared = pool_closed = pool_created
    connection_ready = connection_closed = connection_check_out_failed = pool_created
    connection_checked_out = connection_checked_in = pool_created


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def client_class(framework: str) -> type:
    if framework == "asyncio":
        from motorlike.motor_asyncio import AsyncIOMotorClient

        return AsyncIOMotorClient
    from motorlike.motor_tornado import MotorClient

    return MotorClient


# ---------------------------------------------------------------------------
# 1. The thread bridge: buffered documents stay on the loop


async def test_buffered_documents_are_served_without_a_worker_call(framework, mock, worker_calls) -> None:
    find, _ = serve_in_batches(FIVE)
    mock.on("find", find)
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.find()
        assert worker_calls == []  # creating a cursor sends nothing
        assert await cursor.__anext__() == FIVE[0]
        assert len(worker_calls) == 1
        # The one find returned all five; the other four are in the buffer.
        assert [await cursor.__anext__(), await cursor.next()] == FIVE[1:3]
        assert await cursor.try_next() == FIVE[3]
        assert await cursor.to_list(1) == FIVE[4:]
        assert len(worker_calls) == 1
    finally:
        client.close()
    assert mock.names() == ["find"]


async def test_async_for_uses_one_worker_call_per_batch(framework, mock, worker_calls) -> None:
    """At most one worker call per batch for the reader, none inside a batch, none at the end.

    ``async for`` may also fetch the next batch ahead in the background (not
    counted: nobody waits for it). Whether that prefetch has finished when
    the reader reaches a batch's first document is up to the threads, so
    the reader makes one call there or none; everything else is exact.
    """
    find, get_more = serve_in_batches(FIVE)
    mock.on("find", find)
    mock.on("getMore", get_more, get_more)
    client = client_for(framework, mock.uri)
    received = []
    calls_before_each = []
    try:
        async for document in client.db.coll.find().batch_size(2):
            received.append(document)
            calls_before_each.append(len(worker_calls))
    finally:
        client.close()
    assert received == FIVE
    # Batches [0, 1], [2, 3], [4]. The first document needs the find.
    assert calls_before_each[0] == 1
    # Documents already received cost nothing: the second of each batch.
    assert calls_before_each[1] == calls_before_each[0]
    assert calls_before_each[3] == calls_before_each[2]
    # A batch's first document costs at most one call (none if prefetched).
    assert calls_before_each[2] - calls_before_each[1] in (0, 1)
    assert calls_before_each[4] - calls_before_each[3] in (0, 1)
    # Nothing after the last document: the exhausted cursor needs no call to
    # know it has no more.
    assert len(worker_calls) == calls_before_each[-1] <= 3
    # And the server saw each batch asked for once, whoever asked.
    assert mock.names() == ["find", "getMore", "getMore"]


async def test_to_list_of_several_batches_is_one_worker_call(collection, worker_calls) -> None:
    await collection.insert_many(SEVEN)
    worker_calls.clear()
    documents = await collection.find(sort=[("_id", 1)]).batch_size(2).to_list()
    assert documents == SEVEN
    assert len(worker_calls) == 1


async def test_to_list_sends_every_get_more_in_its_one_worker_call(framework, mock, worker_calls) -> None:
    find, get_more = serve_in_batches(SEVEN)
    mock.on("find", find)
    mock.on("getMore", get_more, get_more, get_more)
    client = client_for(framework, mock.uri)
    try:
        assert await client.db.coll.find().batch_size(2).to_list(None) == SEVEN
    finally:
        client.close()
    assert mock.names() == ["find", "getMore", "getMore", "getMore"]
    assert len(worker_calls) == 1


# ---------------------------------------------------------------------------
# 2. Nothing connects before the first operation


async def test_construction_opens_no_connection(framework) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    recorder = IORecorder()
    client = client_class(framework)(f"mongodb://127.0.0.1:{port}/", event_listeners=[recorder])
    try:
        # Objects made from the client do no I/O either.
        cursor = client.db.coll.find({"x": 1})
        latent = client.db.coll.aggregate([])
        assert not cursor.started and latent.delegate is None
        await asyncio.sleep(0.2)
        with pytest.raises(BlockingIOError):
            connection, _ = listener.accept()
            connection.close()
        assert recorder.events == []
    finally:
        client.close()
        listener.close()


async def test_first_operation_connects(framework, mock) -> None:
    mock.on("ping", {"ok": 1}, forever=True)
    recorder = IORecorder()
    client = client_for(framework, mock.uri, event_listeners=[recorder])
    try:
        client.db.coll.find()
        await asyncio.sleep(0.2)
        assert mock.handshakes == [] and mock.commands == []
        assert recorder.events == []
        assert await client.admin.command("ping") == {"ok": 1}
        assert mock.names() == ["ping"]
        assert mock.handshakes  # the monitor's and the pooled connection's
        assert "ServerHeartbeatStartedEvent" in recorder.events
        assert "ConnectionCreatedEvent" in recorder.events
    finally:
        client.close()


async def test_unreachable_server_fails_only_when_awaited(framework) -> None:
    port = closed_port()
    client = make_client(framework, f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=100)
    try:
        find = client.db.coll.find_one()  # a coroutine: nothing has run yet
        with pytest.raises(ServerSelectionTimeoutError) as info:
            await find
        # PyMongo's own exception, not wrapped or re-typed.
        assert type(info.value) is ServerSelectionTimeoutError
        assert f"127.0.0.1:{port}" in str(info.value)
    finally:
        client.close()


# ---------------------------------------------------------------------------
# 3. Constructors


async def test_no_argument_constructor_does_no_io(framework, monkeypatch) -> None:
    # No arguments at all, so the recorder is registered globally, on a
    # fresh registry that monkeypatch puts back afterwards.
    monkeypatch.setattr(monitoring, "_LISTENERS", monitoring._Listeners([], [], [], [], []))
    recorder = IORecorder()
    monitoring.register(recorder)
    client = client_class(framework)()
    try:
        description = client.topology_description
        assert description.topology_type_name == "Unknown"
        assert list(description.server_descriptions()) == [("localhost", 27017)]
        assert all(server.server_type_name == "Unknown" for server in description.server_descriptions().values())
        assert client.nodes == frozenset()  # nothing discovered: nothing was asked
        assert isinstance(client.test, core.AgnosticDatabase)
        await asyncio.sleep(0.1)
        assert recorder.events == []
    finally:
        client.close()


async def test_host_and_port_keywords(framework, server_uri) -> None:
    parsed = uri_parser.parse_uri(server_uri)
    host, port = parsed["nodelist"][0]
    credentials = {"username": parsed["username"], "password": parsed["password"]} if parsed["username"] else {}
    client = client_class(framework)(host=host, port=port, serverSelectionTimeoutMS=5000, **credentials)
    try:
        assert client.topology_description.server_descriptions().keys() == {(host, port)}
        assert (await client.admin.command("ping"))["ok"] == 1
        assert client.address is not None
    finally:
        client.close()


async def test_replica_set_option_is_accepted_without_connecting(framework) -> None:
    recorder = IORecorder()
    port = closed_port()
    client = client_class(framework)(f"mongodb://127.0.0.1:{port}/", replicaSet="rs0", event_listeners=[recorder])
    try:
        assert client.options.replica_set_name == "rs0"
        assert client.topology_description.topology_type_name == "ReplicaSetNoPrimary"
        await asyncio.sleep(0.1)
        assert recorder.events == []
    finally:
        client.close()


def test_username_and_password_reach_pymongo(framework) -> None:
    port = closed_port()
    client = client_class(framework)(
        f"mongodb://127.0.0.1:{port}/", username="us:er", password="p@ss/w", authSource="users"
    )
    try:
        credentials = client.delegate.options.pool_options._credentials
        assert credentials.username == "us:er"
        assert credentials.password == "p@ss/w"
        assert credentials.source == "users"
        assert credentials.mechanism == "DEFAULT"
    finally:
        client.close()


async def test_ten_clients_at_once(framework, server_uri, collection, sync_client) -> None:
    clients = [make_client(framework, server_uri) for _ in range(10)]
    try:

        async def insert(i: int, client: Any) -> Any:
            return (await client[collection.database.name][collection.name].insert_one({"_id": i})).inserted_id

        inserted = await asyncio.gather(*(insert(i, client) for i, client in enumerate(clients)))
    finally:
        for client in clients:
            client.close()
    assert inserted == list(range(10))
    stored = sync_client[collection.database.name][collection.name].find({}, sort=[("_id", 1)])
    assert [doc["_id"] for doc in stored] == list(range(10))


# ---------------------------------------------------------------------------
# 4. with_transaction: what is retried


@pytest.fixture
def replica_set_mock() -> MockServer:
    """A MockupDB that calls itself a replica set primary, so transactions are allowed."""
    server = MockServer(setName="rs0", logicalSessionTimeoutMinutes=30).start()
    server.hello["hosts"] = [f"127.0.0.1:{server.port}"]
    server.hello["me"] = f"127.0.0.1:{server.port}"
    server.on("insert", {"ok": 1, "n": 1}, forever=True)
    server.on("abortTransaction", {"ok": 1}, forever=True)
    yield server
    server.stop()


def commit_error(code: int, *labels: str, code_name: str = "") -> dict:
    reply: dict = {"ok": 0, "code": code, "errmsg": f"scripted error {code}"}
    if code_name:
        reply["codeName"] = code_name
    if labels:
        reply["errorLabels"] = list(labels)
    return reply


async def run_with_transaction(framework: str, server: MockServer) -> tuple[list, Any]:
    """Insert {_id: attempt} in a with_transaction; returns (attempts, outcome or exception)."""
    attempts: list[int] = []
    client = client_for(framework, server.uri)
    try:
        collection = client.db.coll

        async def callback(session: Any) -> str:
            attempts.append(len(attempts) + 1)
            await collection.insert_one({"_id": len(attempts)}, session=session)
            return f"done after {len(attempts)}"

        async with await client.start_session() as session:
            try:
                outcome = await session.with_transaction(callback)
            except OperationFailure as exc:
                outcome = exc
            assert not session.in_transaction
    finally:
        client.close()
    return attempts, outcome


async def test_with_transaction_retries_an_unknown_commit_result(framework, replica_set_mock) -> None:
    replica_set_mock.on(
        "commitTransaction", commit_error(8, "UnknownTransactionCommitResult"), {"ok": 1}, {"ok": 1}, forever=True
    )
    attempts, outcome = await run_with_transaction(framework, replica_set_mock)
    assert outcome == "done after 1"
    assert attempts == [1]  # the callback is not rerun, only the commit
    first, second = replica_set_mock.documents("commitTransaction")
    assert (first["lsid"], first["txnNumber"]) == (second["lsid"], second["txnNumber"])
    # PyMongo retries a commit with majority write concern.
    assert second["writeConcern"] == {"w": "majority", "wtimeout": 10000}
    assert replica_set_mock.names().count("insert") == 1
    assert "abortTransaction" not in replica_set_mock.names()


async def test_with_transaction_reruns_the_callback_on_a_transient_commit_error(framework, replica_set_mock) -> None:
    replica_set_mock.on(
        "commitTransaction",
        commit_error(251, "TransientTransactionError", code_name="NoSuchTransaction"),
        {"ok": 1},
        {"ok": 1},
        forever=True,
    )
    attempts, outcome = await run_with_transaction(framework, replica_set_mock)
    assert outcome == "done after 2"
    assert attempts == [1, 2]
    first, second = replica_set_mock.documents("insert")
    assert first["documents"] == [{"_id": 1}] and second["documents"] == [{"_id": 2}]
    # A new transaction: both inserts start one, with a new transaction number.
    assert first["startTransaction"] is True and second["startTransaction"] is True
    assert second["txnNumber"] > first["txnNumber"]
    commits = replica_set_mock.documents("commitTransaction")
    assert [commit["txnNumber"] for commit in commits] == [first["txnNumber"], second["txnNumber"]]


@pytest.mark.parametrize(
    "reply",
    [
        commit_error(50, code_name="MaxTimeMSExpired"),
        {"ok": 1, "writeConcernError": {"code": 50, "codeName": "MaxTimeMSExpired", "errmsg": "timed out"}},
    ],
    ids=["command-error", "write-concern-error"],
)
async def test_with_transaction_does_not_retry_max_time_expired(framework, replica_set_mock, reply) -> None:
    # A retried commit would succeed: only refusing to retry makes the error surface.
    replica_set_mock.on("commitTransaction", reply, {"ok": 1}, forever=True)
    attempts, outcome = await run_with_transaction(framework, replica_set_mock)
    assert isinstance(outcome, OperationFailure), outcome
    assert outcome.code == 50
    # PyMongo labels it an unknown commit result, yet it must not be retried.
    assert outcome.has_error_label("UnknownTransactionCommitResult")
    assert attempts == [1]
    assert len(replica_set_mock.documents("commitTransaction")) == 1


async def test_with_transaction_does_not_retry_an_unlabelled_commit_error(framework, replica_set_mock) -> None:
    replica_set_mock.on("commitTransaction", commit_error(8), {"ok": 1}, forever=True)
    attempts, outcome = await run_with_transaction(framework, replica_set_mock)
    assert isinstance(outcome, OperationFailure) and outcome.code == 8
    assert attempts == [1]
    assert len(replica_set_mock.documents("commitTransaction")) == 1


# ---------------------------------------------------------------------------
# 5. Database-level aggregate


def database_aggregate_handlers(docs: list, cursor_id: int = 9) -> tuple[Any, Any]:
    """Replies for ``aggregate: 1`` and its getMores, honouring batchSize."""
    remaining = list(docs)

    def take(size: int | None) -> list:
        batch = remaining[: size or len(remaining)]
        del remaining[: len(batch)]
        return batch

    def aggregate(request: Any) -> bool:
        doc = request.doc
        batch = take(doc["cursor"].get("batchSize"))
        namespace = f"{doc['$db']}.$cmd.aggregate"
        return request.replies(cursor_reply(cursor_id if remaining else 0, namespace, batch))

    def get_more(request: Any) -> bool:
        doc = request.doc
        batch = take(doc.get("batchSize"))
        namespace = f"{doc['$db']}.{doc['collection']}"
        return request.replies(cursor_reply(cursor_id if remaining else 0, namespace, batch, first=False))

    return aggregate, get_more


async def test_database_aggregate_is_latent_and_sends_aggregate_1(framework, mock) -> None:
    documents = [{"a": 1}, {"a": 2}, {"a": 3}]
    aggregate, get_more = database_aggregate_handlers(documents)
    mock.on("aggregate", aggregate)
    mock.on("getMore", get_more)
    mock.on("ping", {"ok": 1}, forever=True)
    client = client_for(framework, mock.uri)
    try:
        pipeline = [{"$documents": documents}]
        cursor = client.analytics.aggregate(pipeline)
        assert isinstance(cursor, core.AgnosticLatentCommandCursor)
        assert cursor.delegate is None and cursor.alive
        await client.admin.command("ping")
        await asyncio.sleep(0.05)
        assert "aggregate" not in mock.names()
        assert [document async for document in cursor] == documents
    finally:
        client.close()
    (command,) = mock.documents("aggregate")
    assert command["aggregate"] == 1
    assert command["pipeline"] == pipeline
    assert command["cursor"] == {}
    assert command["$db"] == "analytics"
    assert "getMore" not in mock.names()


async def test_database_aggregate_batch_size_and_get_more(framework, mock) -> None:
    documents = [{"a": i} for i in range(3)]
    aggregate, get_more = database_aggregate_handlers(documents, cursor_id=9)
    mock.on("aggregate", aggregate)
    mock.on("getMore", get_more)
    client = client_for(framework, mock.uri)
    try:
        cursor = client.analytics.aggregate([{"$documents": documents}]).batch_size(2)
        assert await cursor.to_list() == documents
    finally:
        client.close()
    (command,) = mock.documents("aggregate")
    assert command["aggregate"] == 1 and command["cursor"] == {"batchSize": 2}
    (more,) = mock.documents("getMore")
    assert more["getMore"] == Int64(9) and more["collection"] == "$cmd.aggregate" and more["$db"] == "analytics"


async def test_database_aggregate_on_the_test_server(db, sync_client) -> None:
    pipeline = [{"$documents": [{"a": 1}, {"a": 2}]}, {"$project": {"_id": 0, "a": 1}}]
    try:
        expected = list(sync_client[db.name].aggregate(pipeline))
    except OperationFailure:
        pytest.skip("the test server lacks the capability 'database-level aggregate' (plain PyMongo fails too)")
    cursor = db.aggregate(pipeline)
    assert cursor.delegate is None
    assert await cursor.to_list() == expected == [{"a": 1}, {"a": 2}]


# ---------------------------------------------------------------------------
# 6. buildInfo and server_info


@pytest.mark.requires("buildInfo")
async def test_build_info_command_by_document_and_by_name(db, sync_client) -> None:
    expected = sync_client.admin.command("buildInfo")["version"]
    by_document = await db.command({"buildInfo": 1})
    by_name = await db.command("buildInfo")
    for reply in (by_document, by_name):
        assert isinstance(reply, dict)
        assert reply["ok"] == 1
        assert reply["version"] == expected


@pytest.mark.requires("buildinfo_lowercase")
async def test_server_info_matches_pymongo(client, sync_client) -> None:
    info = await client.server_info()
    assert isinstance(info, dict)
    expected = sync_client.server_info()
    assert info["version"] == expected["version"]
    assert info.get("versionArray") == expected.get("versionArray")
