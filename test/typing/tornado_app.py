"""A typed Tornado application: the Motor* classes (test/test_typing.py)."""

from __future__ import annotations

from typing import Any

import tornado.web
from typing_extensions import assert_type

from motorlike.motor_tornado import MotorClient, MotorClientSession, MotorCollection, MotorCursor, MotorDatabase

Doc = dict[str, Any]


class OrdersHandler(tornado.web.RequestHandler):
    async def get(self) -> None:
        db: MotorDatabase[Doc] = self.settings["db"]
        orders = db.orders
        assert_type(orders, MotorCollection[Doc])
        cursor = orders.find().limit(10)
        assert_type(cursor, MotorCursor[Doc])
        names = [order["item"] async for order in cursor]
        one = await orders.find_one()
        assert_type(one, Doc | None)
        self.set_status(200 if names else 404)


def make_app() -> tornado.web.Application:
    client = MotorClient("mongodb://127.0.0.1:27017")
    assert_type(client, MotorClient[Doc])
    return tornado.web.Application([(r"/orders", OrdersHandler)], db=client.shop)


async def with_session(client: MotorClient[Doc]) -> None:
    session = await client.start_session()
    assert_type(session, MotorClientSession)
    async with session.start_transaction():
        await client.shop.orders.insert_one({"item": "pad"}, session=session)
