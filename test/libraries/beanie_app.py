"""A small Beanie 1.x application, run unchanged on motorlike through the motor alias.

Usage: python beanie_app.py URI. Prints one line per check; the test compares them.
It runs twice with asyncio.run() on one client, which Motor itself cannot do.
"""

import asyncio
import sys
import warnings

warnings.simplefilter("error", RuntimeWarning)

import motorlike  # noqa: E402

motorlike.install_motor_alias()

import motor  # noqa: E402
from beanie import Document, Indexed, init_beanie  # noqa: E402
from motor.motor_asyncio import AsyncIOMotorClient  # noqa: E402

assert motor is motorlike


class Product(Document):
    name: Indexed(str)  # type: ignore[valid-type]
    price: float

    class Settings:
        name = "products"


async def main(client: AsyncIOMotorClient, run: int) -> None:
    await client.drop_database("beanie_app")
    await init_beanie(database=client.beanie_app, document_models=[Product])
    await Product(name="pad", price=5).insert()
    await Product.insert_many([Product(name=f"p{i}", price=i) for i in range(5)])
    cheap = await Product.find(Product.price < 3).sort(+Product.price).to_list()
    print(run, "cheap", [product.name for product in cheap])
    pad = await Product.find_one(Product.name == "pad")
    pad.price = 6
    await pad.save()
    print(run, "saved", (await Product.get(pad.id)).price, await Product.count())
    total = await Product.aggregate([{"$group": {"_id": None, "sum": {"$sum": "$price"}}}]).to_list()
    print(run, "total", total[0]["sum"])
    async with await client.start_session() as session:
        async with session.start_transaction():
            await Product(name="tx", price=1).insert(session=session)
    print(run, "transaction", await Product.find(Product.name == "tx").count())


if __name__ == "__main__":
    shared_client = AsyncIOMotorClient(sys.argv[1])
    try:
        asyncio.run(main(shared_client, 1))
        asyncio.run(main(shared_client, 2))
    finally:
        shared_client.close()
