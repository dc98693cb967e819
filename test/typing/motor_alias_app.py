"""Code written for Motor, typed, checked against motorlike through the motor alias stubs."""

from __future__ import annotations

from typing import Any

import motor.motor_asyncio
from typing_extensions import assert_type

Doc = dict[str, Any]


async def main() -> None:
    client: motor.motor_asyncio.AsyncIOMotorClient[Doc] = motor.motor_asyncio.AsyncIOMotorClient()
    collection: motor.motor_asyncio.AsyncIOMotorCollection[Doc] = client.test.test
    assert_type(await collection.find_one(), Doc | None)
    async for document in collection.find():
        assert_type(document, Doc)
    assert_type(await collection.find().to_list(length=2), list[Doc])
