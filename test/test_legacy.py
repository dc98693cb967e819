"""Motor 2.x helpers that PyMongo 4 removed, kept as deprecated coroutines (doc/legacy.md)."""

from __future__ import annotations

import asyncio

import pytest
from mockupdb import MockupDB

from motorlike import core
from test.conftest import make_client

HELLO = {"maxWireVersion": 21, "minWireVersion": 0}


@pytest.fixture
def mock_server():
    server = MockupDB(auto_ismaster=HELLO)
    server.run()
    yield server
    server.stop()


async def _answer(mock_server, coroutine, reply: dict):
    """Run ``coroutine`` while the mock answers its one command; returns (request, result)."""
    task = asyncio.ensure_future(coroutine)
    request = await asyncio.get_running_loop().run_in_executor(None, mock_server.receives)
    request.ok(**reply)
    return request, await task


async def test_profiling_helpers_against_the_server(db) -> None:
    with pytest.warns(DeprecationWarning, match="profiling_level"):
        level = await db.profiling_level()
    assert level in (0, 1, 2)
    with pytest.warns(DeprecationWarning):
        await db.set_profiling_level(level)
    with pytest.warns(DeprecationWarning):
        assert isinstance(await db.profiling_info(), list)
    with pytest.warns(DeprecationWarning):
        with pytest.raises(ValueError):
            await db.set_profiling_level(7)
    with pytest.warns(DeprecationWarning):
        with pytest.raises(TypeError):
            await db.set_profiling_level(0, slow_ms="fast")


async def test_current_op_against_the_server(client) -> None:
    with pytest.warns(DeprecationWarning, match="currentOp"):
        result = await client.admin.current_op()
    assert "inprog" in result


async def test_fsync_and_unlock_send_the_commands(framework, mock_server) -> None:
    motor_client = make_client(framework, mock_server.uri)
    try:
        with pytest.warns(DeprecationWarning, match="fsync"):
            request, result = await _answer(mock_server, motor_client.fsync(lock=True), {"lockCount": 1})
        assert request.doc["fsync"] == 1 and request.doc["lock"] is True and request.doc["$db"] == "admin"
        assert result["lockCount"] == 1
        with pytest.warns(DeprecationWarning, match="fsyncUnlock"):
            request, result = await _answer(mock_server, motor_client.unlock(), {})
        assert request.doc["fsyncUnlock"] == 1 and result is None
    finally:
        motor_client.close()


async def test_map_reduce_returns_the_output_collection(framework, mock_server) -> None:
    motor_client = make_client(framework, mock_server.uri)
    try:
        collection = motor_client.shop.orders
        with pytest.warns(DeprecationWarning, match="aggregate"):
            request, output = await _answer(
                mock_server,
                collection.map_reduce("function(){}", "function(k, v){}", "totals", query={"paid": True}),
                {"result": "totals"},
            )
        assert request.doc["mapReduce"] == "orders" and request.doc["out"] == "totals"
        assert request.doc["query"] == {"paid": True}
        assert isinstance(output, core.AgnosticCollection) and output.name == "totals"
        assert output.database is collection.database

        with pytest.warns(DeprecationWarning):
            _, output = await _answer(
                mock_server,
                collection.map_reduce("m", "r", {"replace": "t", "db": "other"}),
                {"result": {"db": "other", "collection": "t"}},
            )
        assert output.full_name == "other.t" and output.database.client is motor_client

        with pytest.warns(DeprecationWarning):
            request, results = await _answer(
                mock_server, collection.inline_map_reduce("m", "r"), {"results": [{"_id": 1, "value": 2}]}
            )
        assert request.doc["out"] == {"inline": 1} and results == [{"_id": 1, "value": 2}]

        with pytest.warns(DeprecationWarning):
            with pytest.raises(TypeError):
                await collection.map_reduce("m", "r", 42)
    finally:
        motor_client.close()


async def test_reindex_sends_the_command(framework, mock_server) -> None:
    motor_client = make_client(framework, mock_server.uri)
    try:
        with pytest.warns(DeprecationWarning, match="reindex"):
            request, result = await _answer(mock_server, motor_client.db.things.reindex(), {"nIndexesWas": 1})
        assert request.doc["reIndex"] == "things" and result["nIndexesWas"] == 1
    finally:
        motor_client.close()
