"""A typed asyncio program: what mypy --strict and pyright must infer (test/test_typing.py)."""

from __future__ import annotations

from typing import Any, TypedDict

from pymongo.results import DeleteResult, InsertOneResult, UpdateResult
from typing_extensions import assert_type

from motorlike.core import BackgroundCall
from motorlike.motor_asyncio import (
    AsyncIOMotorClient,
    AsyncIOMotorCollection,
    AsyncIOMotorCursor,
    AsyncIOMotorDatabase,
    AsyncIOMotorLatentCommandCursor,
)

Doc = dict[str, Any]


class Movie(TypedDict):
    title: str
    year: int


# A type alias, as Motor 3 code writes them (subscriptable at runtime too).
MovieCollection = AsyncIOMotorCollection[Movie]


async def untyped_documents() -> None:
    client = AsyncIOMotorClient("mongodb://127.0.0.1:27017")
    assert_type(client, AsyncIOMotorClient[Doc])
    db = client.shop
    assert_type(db, AsyncIOMotorDatabase[Doc])
    orders = db["orders"]
    assert_type(orders, AsyncIOMotorCollection[Doc])
    assert_type(await orders.find_one({"item": "pad"}), Doc | None)
    assert_type(await orders.insert_one({"item": "pad"}), InsertOneResult)
    assert_type(await orders.update_one({}, {"$set": {"x": 1}}), UpdateResult)
    assert_type(await orders.delete_many({}), DeleteResult)
    cursor = orders.find({"price": {"$lt": 10}}).sort("price").skip(1).limit(5)
    assert_type(cursor, AsyncIOMotorCursor[Doc])
    assert_type(await cursor.to_list(10), list[Doc])
    async for order in orders.find():
        assert_type(order, Doc)
    latent = orders.aggregate([{"$count": "n"}])
    assert_type(latent, AsyncIOMotorLatentCommandCursor[Doc])
    async for row in latent:
        assert_type(row, Doc)
    assert_type(client.close(), BackgroundCall)


async def typed_documents(movies: MovieCollection) -> list[str]:
    client = AsyncIOMotorClient("mongodb://127.0.0.1:27017", document_class=Movie)
    assert_type(client, AsyncIOMotorClient[Movie])
    found = await client.cinema.movies.find_one({"year": 1999})
    assert_type(found, Movie | None)
    titles = [movie["title"] async for movie in movies.find()]
    assert_type(await movies.find().to_list(None), list[Movie])
    await client.close()
    return titles
