"""A small aiomongodel 0.2 application, run unchanged on motorlike through the motor alias.

Usage: python aiomongodel_app.py URI [transactions]. Prints one line per check;
the test compares them. It runs twice with asyncio.run() on one client, which
Motor itself cannot do. The transaction step runs only when the second argument
says the server has transactions.
"""

import asyncio
import sys
import warnings

warnings.simplefilter("error", RuntimeWarning)

import motorlike  # noqa: E402

motorlike.install_motor_alias()

import motor  # noqa: E402
import motor.motor_asyncio  # noqa: E402
from aiomongodel import Document, EmbeddedDocument  # noqa: E402
from aiomongodel.errors import DocumentNotFoundError, DuplicateKeyError  # noqa: E402
from aiomongodel.fields import EmbDocField, IntField, ListField, RefField, StrField  # noqa: E402
from pymongo import ASCENDING, DESCENDING, IndexModel, WriteConcern  # noqa: E402

assert motor is motorlike


class Customer(Document):
    _id = StrField(regex=r"^[a-z]+$")
    name = StrField()

    class Meta:
        collection = "customers"


class Line(EmbeddedDocument):
    sku = StrField()
    qty = IntField(gte=1)


class Order(Document):
    number = IntField()
    customer = RefField(Customer)
    lines = ListField(EmbDocField(Line))
    status = StrField(default="new")

    class Meta:
        collection = "orders"
        indexes = [IndexModel([("number", ASCENDING)], unique=True), IndexModel([("status", ASCENDING), ("number", DESCENDING)])]
        default_sort = [("number", ASCENDING)]


async def main(client: motor.motor_asyncio.AsyncIOMotorClient, run: int, transactions: bool) -> None:
    db = client.aiomongodel_app
    await client.drop_database(db)  # aiomongodel's tests pass the Database itself
    await Order.q(db).create_indexes()
    print(run, "indexes", sorted(await Order.coll(db).index_information()))

    bob = await Customer.q(db).create(_id="bob", name="Bob")
    for number in range(1, 6):
        lines = [Line(sku=f"s{k}", qty=number) for k in range(number % 3 + 1)]
        await Order(number=number, customer=bob, lines=lines).save(db, do_insert=True)
    print(run, "counts", await Customer.q(db).count_documents(), await Order.q(db).count_documents())

    cursor = Order.q(db).find({"number": {"$lte": 3}}).sort("number", DESCENDING)
    found = await cursor.to_list(10)
    print(run, "find", [order.number for order in found], type(found[0]).__name__, found[0].customer)
    rest = [order.number async for order in Order.q(db).find({"number": {"$gt": 3}})]  # default_sort
    print(run, "iterate", rest)
    fourth = await Order.q(db).find_one({"number": 4})
    owner = await Customer.q(db).get(fourth.customer)
    print(run, "reference", owner.name, [(line.sku, line.qty) for line in fourth.lines])

    await fourth.update(db, {"$set": {"status": "paid"}, "$push": {"lines": {"sku": "extra", "qty": 1}}})
    shipped = await Order.q(db).update_many({"number": {"$lt": 3}}, {"$set": {"status": "shipped"}})
    statuses = await Order.q(db).aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}]).to_list(None)
    print(run, "updated", fourth.status, len(fourth.lines), shipped, [(s["_id"], s["n"]) for s in statuses])

    try:
        await Order(number=4, customer=bob, lines=[]).save(db, do_insert=True)
    except DuplicateKeyError as exc:
        print(run, "duplicate", exc.index_name)

    unsafe = Order.q(db).with_options(write_concern=WriteConcern(w=1))
    deleted = await unsafe.delete_many({"status": "shipped"})
    await fourth.delete(db)
    try:
        await Order.q(db).get(fourth._id)
    except DocumentNotFoundError:
        print(run, "deleted", deleted, await Order.q(db).count_documents(), type(unsafe.collection).__module__)

    if transactions:
        async with await client.start_session() as session:
            async with session.start_transaction():
                await Order.q(db, session=session).create(number=10, customer=bob, lines=[])
            session.start_transaction()
            await Order(number=11, customer=bob, lines=[]).save(db, session=session)
            await session.abort_transaction()
        print(run, "transaction", await Order.q(db).count_documents({"number": {"$gte": 10}}))


if __name__ == "__main__":
    shared_client = motor.motor_asyncio.AsyncIOMotorClient(sys.argv[1], serverSelectionTimeoutMS=5000)
    # aiomongodel really gets motorlike objects.
    collection = Order.coll(shared_client.aiomongodel_app)
    assert isinstance(collection, motorlike.motor_asyncio.AsyncIOMotorCollection)
    assert type(collection).__module__.startswith("motorlike")
    assert type(Order.q(shared_client.aiomongodel_app).find({}).cursor).__module__.startswith("motorlike")
    has_transactions = sys.argv[2:] == ["transactions"]
    try:
        asyncio.run(main(shared_client, 1, has_transactions))
        asyncio.run(main(shared_client, 2, has_transactions))
    finally:
        shared_client.close()
