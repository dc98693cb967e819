"""Tornado-specific use: IOLoop binding, Tornado coroutines and a request handler."""

from __future__ import annotations

import asyncio

import pytest
import tornado.escape
import tornado.httpserver
import tornado.web
from tornado import gen
from tornado.httpclient import AsyncHTTPClient
from tornado.ioloop import IOLoop
from tornado.testing import bind_unused_port

from motorlike.motor_tornado import MotorClient, MotorCollection, MotorCursor


def test_run_sync_on_a_fresh_ioloop(server_uri) -> None:
    client = MotorClient(server_uri, serverSelectionTimeoutMS=5000)
    collection = client.motorlike_test.tornado_run_sync

    async def work():
        await collection.drop()
        await collection.insert_many([{"i": i} for i in range(3)])
        return [doc["i"] async for doc in collection.find(sort=[("i", 1)])]

    try:
        for _ in range(2):  # two IOLoops one after the other, one client
            io_loop = IOLoop(make_current=False)
            try:
                assert io_loop.run_sync(work) == [0, 1, 2]
            finally:
                io_loop.close()
    finally:
        client.close()


def test_io_loop_argument_binds_the_client(server_uri) -> None:
    io_loop = IOLoop(make_current=False)
    client = MotorClient(server_uri, io_loop=io_loop, serverSelectionTimeoutMS=5000)
    try:
        assert client.get_io_loop() is io_loop
        assert client.db.coll.get_io_loop() is io_loop
        assert io_loop.run_sync(lambda: client.admin.command("ping"))["ok"] == 1
    finally:
        client.close()
        io_loop.close()
    plain_asyncio_loop = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError):
            MotorClient(server_uri, io_loop=plain_asyncio_loop)
    finally:
        plain_asyncio_loop.close()


def test_legacy_gen_coroutines_can_yield_operations(server_uri) -> None:
    client = MotorClient(server_uri, serverSelectionTimeoutMS=5000)
    collection = client.motorlike_test.tornado_gen

    @gen.coroutine
    def work():
        yield collection.drop()
        yield collection.insert_one({"x": 1})
        document = yield collection.find_one({}, {"_id": 0})
        documents = yield collection.find({}, {"_id": 0}).to_list(10)
        raise gen.Return((document, documents))

    io_loop = IOLoop(make_current=False)
    try:
        assert io_loop.run_sync(work) == ({"x": 1}, [{"x": 1}])
    finally:
        io_loop.close()
        client.close()


class ItemsHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        collection = self.settings["collection"]
        assert isinstance(collection, MotorCollection)
        cursor = collection.find({}, {"_id": 0}).sort("i", 1)
        assert isinstance(cursor, MotorCursor)
        self.write({"items": await cursor.to_list(None)})


async def test_request_handler_serves_from_motorlike(server_uri) -> None:
    client = MotorClient(server_uri, serverSelectionTimeoutMS=5000)
    collection = client.motorlike_test.tornado_handler
    await collection.drop()
    await collection.insert_many([{"i": 2}, {"i": 1}])
    sock, port = bind_unused_port()
    server = tornado.httpserver.HTTPServer(tornado.web.Application([(r"/items", ItemsHandler)], collection=collection))
    server.add_sockets([sock])
    http_client = AsyncHTTPClient()
    try:
        response = await http_client.fetch(f"http://127.0.0.1:{port}/items")
        assert tornado.escape.json_decode(response.body) == {"items": [{"i": 1}, {"i": 2}]}
    finally:
        http_client.close()
        server.stop()
        await server.close_all_connections()
        await collection.drop()
        client.close()
