"""motorlike quickstart: connect, insert, find, aggregate and a transaction, with asyncio.

Run it with no arguments and it starts the embedded test server (mongoeco's
wire server, see motorlike.testserver) for the duration of the run; set
MOTORLIKE_TEST_URI=mongodb://... to use a real MongoDB server instead.
"""

from __future__ import annotations

import asyncio
import pprint

from motorlike.motor_asyncio import AsyncIOMotorClient
from motorlike.testserver import server_uri


async def main(uri: str) -> None:
    client = AsyncIOMotorClient(uri)
    try:
        db = client.quickstart
        await db.drop_collection("orders")
        orders = db.orders

        result = await orders.insert_many(
            [
                {"customer": "ada", "item": "keyboard", "price": 70},
                {"customer": "grace", "item": "mouse", "price": 25},
                {"customer": "ada", "item": "monitor", "price": 180},
            ]
        )
        print(f"inserted {len(result.inserted_ids)} orders")

        print("ada's orders, cheapest first:")
        async for order in orders.find({"customer": "ada"}, {"_id": 0}).sort("price", 1):
            print("  ", order)

        # aggregate() returns a cursor at once; the pipeline runs on first use.
        totals = await orders.aggregate(
            [{"$group": {"_id": "$customer", "spent": {"$sum": "$price"}}}, {"$sort": {"_id": 1}}]
        ).to_list(None)
        print("spent per customer:")
        pprint.pprint(totals)

        # A transaction: both writes happen, or neither does.
        async with await client.start_session() as session:
            async with session.start_transaction():
                await orders.update_one({"item": "mouse"}, {"$set": {"price": 20}}, session=session)
                await orders.insert_one({"customer": "grace", "item": "pad", "price": 5}, session=session)
        print("after the transaction:", await orders.count_documents({"customer": "grace"}), "orders for grace")
        print("mouse now costs", (await orders.find_one({"item": "mouse"}))["price"])
    finally:
        client.close()


if __name__ == "__main__":
    with server_uri() as uri:
        print(f"using the server at {uri}")
        asyncio.run(main(uri))
