"""FaultServer behaves as its modes promise, seen through plain synchronous PyMongo.

The reliability benchmark's numbers are only as good as the server faking the
faults, so each mode is checked against the driver error it must provoke.
"""

from __future__ import annotations

import threading
import time

import pymongo
import pytest
from pymongo.errors import NetworkTimeout, ServerSelectionTimeoutError

from test.fault_server import FaultServer

pytestmark = pytest.mark.no_server

DOCS = [{"_id": i, "i": i} for i in range(300)]


def _client(server: FaultServer, **kwargs) -> pymongo.MongoClient:
    kwargs = {"serverSelectionTimeoutMS": 1000, "socketTimeoutMS": 1000, "retryReads": False, **kwargs}
    return pymongo.MongoClient(server.uri, **kwargs)


def _fault_server_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("FaultServer")]


def test_healthy_find_serves_every_document_in_batches() -> None:
    with FaultServer(docs=DOCS) as server:
        client = _client(server)
        try:
            got = list(client.db.things.find().sort("i", 1).batch_size(10))
            assert client.db.things.insert_many([{"a": 1}, {"a": 2}]).acknowledged
            assert client.db.things.find_one() == DOCS[0]
        finally:
            client.close()
    assert [doc["i"] for doc in got] == list(range(300))
    commands = server.commands
    assert commands.count("find") == 2 and commands.count("getMore") == 29 and "insert" in commands


def test_stall_ops_times_out_operations_but_not_the_handshake() -> None:
    with FaultServer("stall_ops") as server:
        client = _client(server, socketTimeoutMS=300)
        try:
            client.admin.command("ping")
            started = time.monotonic()
            with pytest.raises(NetworkTimeout):
                client.db.things.find_one()
            # The timeout ended it (the server holds the reply forever): not before it.
            assert time.monotonic() - started > 0.25
        finally:
            client.close()
    assert "find" in server.commands


def test_blackhole_fails_server_selection() -> None:
    with FaultServer("blackhole") as server:
        client = _client(server, serverSelectionTimeoutMS=300, connectTimeoutMS=1000)
        try:
            started = time.monotonic()
            with pytest.raises(ServerSelectionTimeoutError):
                client.db.things.find_one()
            assert time.monotonic() - started > 0.25
            assert server.stalled >= 1  # the monitor's hello, held (its connectTimeoutMS is not up yet)
        finally:
            client.close()
        assert "find" not in server.commands


def test_mode_switches_at_runtime() -> None:
    with FaultServer(docs=DOCS[:3]) as server:
        client = _client(server, socketTimeoutMS=300)
        try:
            assert client.db.things.find_one() == DOCS[0]
            server.mode = "stall_ops"
            with pytest.raises(NetworkTimeout):
                client.db.things.find_one()
            server.mode = "healthy"
            assert client.db.things.find_one() == DOCS[0]  # on a new connection: the timed-out one was closed
            with pytest.raises(ValueError):
                server.mode = "sleepy"
        finally:
            client.close()
        assert server.commands.count("find") == 3 and server.stalled == 0


def test_get_more_delay_and_stall_after_k_get_mores() -> None:
    with FaultServer(docs=DOCS[:100], get_more_delay=0.05, stall_get_more_after=2) as server:
        client = _client(server, socketTimeoutMS=300)
        got = []
        try:
            started = time.monotonic()
            with pytest.raises(NetworkTimeout):
                for doc in client.db.things.find().batch_size(10):
                    got.append(doc)
            assert time.monotonic() - started > 0.35  # two delayed getMores, then the held one
        finally:
            client.close()
    assert got == DOCS[:30]


def test_stop_closes_connections_and_joins_every_thread() -> None:
    server = FaultServer("stall_ops").start()
    held_for = 60.0  # the held find_one's socket timeout: stop() must not wait for it
    client = _client(server, socketTimeoutMS=int(held_for * 1000))
    worker = threading.Thread(target=lambda: pytest.raises(Exception, client.db.things.find_one))
    try:
        worker.start()
        deadline = time.monotonic() + held_for / 2
        while server.stalled == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.stalled == 1
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < held_for / 2
        assert _fault_server_threads() == []
        worker.join(held_for / 2)  # the held find_one fails at once: stop() closed its connection
        assert not worker.is_alive()
    finally:
        client.close()
