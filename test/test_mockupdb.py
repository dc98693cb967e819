"""Wire-level behaviour checked against MockupDB, a scriptable fake server.

MockupDB 1.8.1 speaks OP_MSG and works with PyMongo 4.20 as long as its
hello reply advertises a wire version PyMongo accepts; it only knows the
legacy ``ismaster`` name, so :class:`MockServer` answers ``hello`` itself.
It binds to 127.0.0.1 (MockupDB's default is "localhost").

:class:`MockServer` and :func:`client_for` are shared with the change stream,
pool and loop tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any, Callable

import pymongo
import pytest
from bson import Int64
from mockupdb import MockupDB
from pymongo.driver_info import DriverInfo
from pymongo.errors import AutoReconnect, ConnectionFailure, OperationFailure

from motorlike._version import version as motorlike_version
from motorlike.frameworks import asyncio as asyncio_framework
from motorlike.frameworks import tornado as tornado_framework

#: MongoDB 7.0; PyMongo 4.20 refuses servers older than 4.2.
MAX_WIRE_VERSION = 21
#: How long a test waits for the mock to receive a request it holds.
RECEIVE_TIMEOUT = 5

FRAMEWORK_MODULES = {"asyncio": asyncio_framework, "tornado": tornado_framework}


def hang_up(request: Any) -> bool:
    """A scripted response: close the connection instead of replying."""
    return request.hangup()


class MockServer:
    """A MockupDB on 127.0.0.1 that answers hello and records every command.

    ``on(name, *responses)`` scripts the replies to a command: each matching
    request takes the next response (a reply document, or a callable taking
    the request, like :func:`hang_up`); ``forever=True`` repeats the last one.
    Requests nobody scripted wait in MockupDB's queue for :meth:`receive`.
    """

    def __init__(self, **hello: Any) -> None:
        self.server = MockupDB(verbose=False, request_timeout=RECEIVE_TIMEOUT)
        # MockupDB binds to "localhost"; tests use 127.0.0.1 only.
        self.server._address = ("127.0.0.1", None)
        self.hello = {
            "ismaster": True,
            "isWritablePrimary": True,
            "helloOk": True,
            "minWireVersion": 0,
            "maxWireVersion": MAX_WIRE_VERSION,
            **hello,
        }
        #: Every hello document, in order, and the last one per client port.
        self.handshakes: list[dict] = []
        self.handshake_by_port: dict[int, dict] = {}
        #: (command name, command document) of every request but hello, in order.
        self.commands: list[tuple[str, dict]] = []
        #: The client port each of those commands came from.
        self.ports: list[int] = []
        self._scripts: dict[str, list] = {}
        self._forever: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.server.autoresponds(self._dispatch)
        # Cursors left open when a client closes must not hang the test.
        self.on("killCursors", {"cursorsKilled": [], "ok": 1}, forever=True)
        self.on("endSessions", {"ok": 1}, forever=True)

    def start(self) -> MockServer:
        self.server.run()
        # MockupDB's accept thread sets up the listening socket itself; wait
        # until it serves a first connection, or a quick stop() can close the
        # socket under it.
        with socket.create_connection(("127.0.0.1", self.port), timeout=RECEIVE_TIMEOUT):
            deadline = time.monotonic() + RECEIVE_TIMEOUT
            while not self.server._server_threads and time.monotonic() < deadline:
                time.sleep(0.002)
        return self

    def stop(self) -> None:
        # MockupDB's accept loop polls once a second; flag it and wake it with
        # a connection so that stop() need not wait out the poll.
        self.server._stopped = True
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
            pass
        self.server.stop()

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def on(self, name: str, *responses: Any, forever: bool = False) -> None:
        with self._lock:
            key = name.lower()
            if forever:
                self._forever[key] = responses[-1]
                responses = responses[:-1]
            self._scripts.setdefault(key, []).extend(responses)

    def _dispatch(self, request: Any) -> bool:
        # Runs on MockupDB's connection thread.
        name = request.command_name or ""
        if name.lower() in ("ismaster", "hello"):
            self.handshakes.append(dict(request.doc))
            self.handshake_by_port[request.client_port] = dict(request.doc)
            return request.replies(self.hello)
        self.commands.append((name, dict(request.doc)))
        self.ports.append(request.client_port)
        with self._lock:
            key = name.lower()
            script = self._scripts.get(key)
            if script:
                response = script.pop(0)
            elif key in self._forever:
                response = self._forever[key]
            else:
                return False  # queued for receive()
        if callable(response):
            return response(request)
        return request.replies(response)

    def names(self) -> list[str]:
        return [name for name, _ in self.commands]

    def documents(self, name: str) -> list[dict]:
        return [doc for command, doc in self.commands if command.lower() == name.lower()]

    def handshake_for(self, name: str) -> dict:
        """The hello that opened the connection the first ``name`` command came on."""
        for (command, _), port in zip(self.commands, self.ports):
            if command.lower() == name.lower():
                return self.handshake_by_port[port]
        raise AssertionError(f"no {name} command received")

    async def receive(self, name: str, timeout: float = RECEIVE_TIMEOUT) -> Any:
        """Wait (off the event loop) for an unscripted request; check its name."""
        request = await asyncio.to_thread(self.server.receives, timeout=timeout)
        assert request.command_name.lower() == name.lower(), request
        return request


@pytest.fixture
def mock() -> MockServer:
    server = MockServer().start()
    yield server
    server.stop()


def client_for(framework: str, uri: str, **kwargs: Any) -> Any:
    if framework == "asyncio":
        from motorlike.motor_asyncio import AsyncIOMotorClient as client_class
    else:
        from motorlike.motor_tornado import MotorClient as client_class
    kwargs.setdefault("serverSelectionTimeoutMS", 5000)
    return client_class(uri, **kwargs)


def cursor_reply(cursor_id: int, namespace: str, batch: list, first: bool = True, **cursor_fields: Any) -> dict:
    key = "firstBatch" if first else "nextBatch"
    return {"cursor": {"id": Int64(cursor_id), "ns": namespace, key: batch, **cursor_fields}, "ok": 1}


def serve_in_batches(docs: list, cursor_id: int = 42) -> tuple[Callable, Callable]:
    """Handlers for a query command and its getMores, honouring batchSize."""
    remaining = list(docs)

    def take(size: int | None) -> list:
        size = size or len(remaining)
        batch = remaining[:size]
        del remaining[:size]
        return batch

    def first(request: Any) -> bool:
        doc = request.doc
        name = request.command_name
        size = doc.get("batchSize", (doc.get("cursor") or {}).get("batchSize"))
        batch = take(size)
        namespace = f"{doc['$db']}.{doc[name]}"
        return request.replies(cursor_reply(cursor_id if remaining else 0, namespace, batch))

    def more(request: Any) -> bool:
        doc = request.doc
        assert doc["getMore"] == cursor_id
        batch = take(doc.get("batchSize"))
        namespace = f"{doc['$db']}.{doc['collection']}"
        return request.replies(cursor_reply(cursor_id if remaining else 0, namespace, batch, first=False))

    return first, more


def handshake_client_documents(mock: MockServer) -> list[dict]:
    return [hello["client"] for hello in mock.handshakes if "client" in hello]


# ---------------------------------------------------------------------------
# Handshake metadata


async def test_handshake_names_motorlike_and_framework(framework: str, mock: MockServer) -> None:
    mock.on("ping", {"ok": 1}, forever=True)
    client = client_for(framework, mock.uri)
    try:
        assert await client.admin.command("ping") == {"ok": 1}
    finally:
        client.close()
    documents = handshake_client_documents(mock)
    # The monitor's handshake and the pooled connection's.
    assert len(documents) >= 2
    platform = FRAMEWORK_MODULES[framework].platform_info()
    for document in documents:
        driver = document["driver"]
        assert "motorlike" in driver["name"].split("|")
        assert motorlike_version in driver["version"].split("|")
        assert platform in document["platform"]
    other = FRAMEWORK_MODULES["tornado" if framework == "asyncio" else "asyncio"].platform_info()
    assert all(other not in document["platform"] for document in documents)


async def test_handshake_appends_user_driver_info(framework: str, mock: MockServer) -> None:
    mock.on("ping", {"ok": 1}, forever=True)
    client = client_for(framework, mock.uri, driver=DriverInfo("MyLib", "1.0", "MyPlatform"))
    try:
        await client.admin.command("ping")
    finally:
        client.close()
    # The connection that ran the operation carries both names, motorlike's first.
    document = mock.handshake_for("ping")["client"]
    names = document["driver"]["name"].split("|")
    assert "motorlike" in names and "MyLib" in names
    assert names.index("motorlike") < names.index("MyLib")
    versions = document["driver"]["version"].split("|")
    if pymongo.version_tuple >= (4, 20):
        # PyMongo keeps names and versions index-aligned since 4.20 only
        # (4.18, the newest for Python 3.10, does not).
        assert versions[names.index("MyLib")] == "1.0"
        assert versions[names.index("motorlike")] == motorlike_version
    assert "1.0" in versions and motorlike_version in versions
    assert "MyPlatform" in document["platform"]
    assert FRAMEWORK_MODULES[framework].platform_info() in document["platform"]
    # PyMongo builds its monitors' handshake from the constructor's DriverInfo
    # only (append_metadata does not reach them), so there only motorlike's
    # own name is promised.
    for other in handshake_client_documents(mock):
        assert "motorlike" in other["driver"]["name"].split("|")


def test_driver_must_be_driver_info(framework: str) -> None:
    with pytest.raises(TypeError):
        client_for(framework, "mongodb://127.0.0.1:1/", driver=("MyLib", "1.0"))


# ---------------------------------------------------------------------------
# Cursors and getMore

FIVE = [{"_id": i, "x": i * 10} for i in range(5)]


async def test_async_for_issues_get_mores(framework: str, mock: MockServer) -> None:
    find, get_more = serve_in_batches(FIVE)
    mock.on("find", find)
    mock.on("getMore", get_more, get_more)
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.find({"x": {"$gte": 0}}).batch_size(2)
        received = [document async for document in cursor]
    finally:
        client.close()
    assert received == FIVE
    assert [name for name in mock.names() if name != "killCursors"] == ["find", "getMore", "getMore"]
    (find_command,) = mock.documents("find")
    assert find_command["find"] == "coll" and find_command["batchSize"] == 2
    assert find_command["filter"] == {"x": {"$gte": 0}}
    for command in mock.documents("getMore"):
        assert command["getMore"] == 42 and command["collection"] == "coll" and command["batchSize"] == 2
    # The cursor was exhausted by the server: nothing to kill.
    assert "killCursors" not in mock.names()


async def test_to_list_fetches_every_batch_in_order(framework: str, mock: MockServer) -> None:
    find, get_more = serve_in_batches(FIVE)
    mock.on("find", find)
    mock.on("getMore", get_more, get_more)
    client = client_for(framework, mock.uri)
    try:
        received = await client.db.coll.find().batch_size(2).to_list()
    finally:
        client.close()
    assert received == FIVE
    assert mock.names() == ["find", "getMore", "getMore"]


async def test_to_list_length_stops_early(framework: str, mock: MockServer) -> None:
    find, get_more = serve_in_batches(FIVE)
    mock.on("find", find)
    mock.on("getMore", get_more, get_more)
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.find().batch_size(2)
        assert await cursor.to_list(3) == FIVE[:3]
        assert mock.names() == ["find", "getMore"]
        # One document is still buffered; the rest needs one more getMore.
        assert await cursor.to_list() == FIVE[3:]
        assert mock.names() == ["find", "getMore", "getMore"]
    finally:
        client.close()


async def test_aggregate_sends_nothing_until_iterated(framework: str, mock: MockServer) -> None:
    aggregate, get_more = serve_in_batches(FIVE, cursor_id=7)
    mock.on("aggregate", aggregate)
    mock.on("getMore", get_more, get_more)
    mock.on("ping", {"ok": 1}, forever=True)
    client = client_for(framework, mock.uri)
    try:
        pipeline = [{"$match": {"x": {"$gte": 0}}}]
        cursor = client.db.coll.aggregate(pipeline).batch_size(2)
        # A round trip after the call, then a moment: an eagerly sent
        # aggregate would have arrived by now.
        await client.admin.command("ping")
        await asyncio.sleep(0.05)
        assert "aggregate" not in mock.names()
        received = [document async for document in cursor]
    finally:
        client.close()
    assert received == FIVE
    (command,) = mock.documents("aggregate")
    assert command["aggregate"] == "coll"
    assert command["pipeline"] == pipeline
    assert command["cursor"] == {"batchSize": 2}
    assert mock.names()[-3:] == ["aggregate", "getMore", "getMore"]


async def test_aggregate_error_raises_on_first_use(framework: str, mock: MockServer) -> None:
    mock.on("aggregate", lambda request: request.command_err(code=40324, errmsg="Unrecognized pipeline stage"))
    client = client_for(framework, mock.uri)
    try:
        cursor = client.db.coll.aggregate([{"$bogus": 1}])
        with pytest.raises(OperationFailure) as info:
            await cursor.to_list()
    finally:
        client.close()
    assert info.value.code == 40324


# ---------------------------------------------------------------------------
# Network errors


async def test_hang_up_raises_pymongo_auto_reconnect(framework: str, mock: MockServer) -> None:
    mock.on("ping", hang_up, {"ok": 1})
    client = client_for(framework, mock.uri)
    try:
        with pytest.raises(AutoReconnect) as info:
            await client.admin.command("ping")
        # PyMongo's own exception, not wrapped or re-typed.
        assert isinstance(info.value, ConnectionFailure)
        assert type(info.value).__module__ == "pymongo.errors"
        # The client recovers once the server answers again.
        assert await asyncio.wait_for(client.admin.command("ping"), 10) == {"ok": 1}
    finally:
        client.close()


async def test_hang_up_during_get_more(framework: str, mock: MockServer) -> None:
    find, _ = serve_in_batches(FIVE)
    mock.on("find", find)
    mock.on("getMore", hang_up)
    client = client_for(framework, mock.uri, retryReads=False)
    received = []
    try:
        with pytest.raises(AutoReconnect):
            async for document in client.db.coll.find().batch_size(2):
                received.append(document)
    finally:
        client.close()
    assert received == FIVE[:2]


async def test_hang_up_on_find_without_retry(framework: str, mock: MockServer) -> None:
    mock.on("find", hang_up)
    client = client_for(framework, mock.uri, retryReads=False)
    try:
        with pytest.raises(ConnectionFailure) as info:
            await client.db.coll.find_one()
    finally:
        client.close()
    assert type(info.value).__module__ == "pymongo.errors"
    assert mock.names().count("find") == 1


def test_mock_server_uses_loopback_only() -> None:
    server = MockServer().start()
    try:
        assert server.server.address[0] == "127.0.0.1"
        assert server.uri.startswith("mongodb://127.0.0.1:")
    finally:
        server.stop()

