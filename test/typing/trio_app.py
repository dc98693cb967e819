"""A typed Trio program: the TrioMotor* classes (test/test_typing.py)."""

from __future__ import annotations

from typing import Any, TypedDict

import trio
from pymongo.results import InsertOneResult
from typing_extensions import assert_type

from motorlike.motor_trio import (
    TrioMotorClient,
    TrioMotorClientSession,
    TrioMotorCollection,
    TrioMotorCursor,
    TrioMotorGridFSBucket,
)

Doc = dict[str, Any]


class Order(TypedDict):
    item: str
    qty: int


async def main() -> None:
    client = TrioMotorClient("mongodb://127.0.0.1:27017")
    assert_type(client, TrioMotorClient[Doc])
    orders = client.shop.orders
    assert_type(orders, TrioMotorCollection[Doc])
    assert_type(await orders.insert_one({"item": "pad"}), InsertOneResult)
    assert_type(await orders.find_one(), Doc | None)
    cursor = orders.find().sort("item")
    assert_type(cursor, TrioMotorCursor[Doc])
    with trio.move_on_after(1):
        assert_type(await cursor.to_list(10), list[Doc])
    async for order in orders.find():
        assert_type(order, Doc)
    session = await client.start_session()
    assert_type(session, TrioMotorClientSession)
    await session.end_session()
    typed_client = TrioMotorClient("mongodb://127.0.0.1:27017", document_class=Order)
    assert_type(typed_client, TrioMotorClient[Order])
    assert_type(await typed_client.shop.orders.find_one(), Order | None)
    bucket = TrioMotorGridFSBucket(client.shop)
    await bucket.delete(1)
    await client.close()


if __name__ == "__main__":
    trio.run(main)
