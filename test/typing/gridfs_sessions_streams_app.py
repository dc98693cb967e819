"""GridFS, sessions and change streams, typed (test/test_typing.py)."""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from motorlike.motor_asyncio import (
    AsyncIOMotorChangeStream,
    AsyncIOMotorClient,
    AsyncIOMotorClientSession,
    AsyncIOMotorGridFSBucket,
    AsyncIOMotorGridIn,
    AsyncIOMotorGridOut,
    AsyncIOMotorGridOutCursor,
)

Doc = dict[str, Any]


async def files(client: AsyncIOMotorClient[Doc]) -> bytes:
    bucket = AsyncIOMotorGridFSBucket(client.media)
    grid_in = bucket.open_upload_stream("cat.png")
    assert_type(grid_in, AsyncIOMotorGridIn)
    await grid_in.write(b"...")
    await grid_in.close()
    grid_out = await bucket.open_download_stream(grid_in._id)
    assert_type(grid_out, AsyncIOMotorGridOut)
    cursor = bucket.find({"filename": "cat.png"})
    assert_type(cursor, AsyncIOMotorGridOutCursor)
    async for found in cursor:
        assert_type(found, AsyncIOMotorGridOut)
    return await grid_out.read()


async def sessions(client: AsyncIOMotorClient[Doc]) -> None:
    async with await client.start_session() as session:
        assert_type(session, AsyncIOMotorClientSession)

        async def transfer(s: AsyncIOMotorClientSession) -> None:
            await client.bank.accounts.update_one({"_id": 1}, {"$inc": {"balance": -5}}, session=s)

        await session.with_transaction(transfer)


async def changes(client: AsyncIOMotorClient[Doc]) -> None:
    stream = client.shop.orders.watch([{"$match": {"operationType": "insert"}}])
    assert_type(stream, AsyncIOMotorChangeStream[Doc])
    async with stream as changes:
        async for change in changes:
            assert_type(change, Doc)
            break
        assert_type(await stream.try_next(), Doc | None)
