"""A small ODMantic 1.1 application, run unchanged on motorlike through the motor alias.

Usage: python odmantic_app.py URI [transactions]. Prints one line per check; the
test compares them. It runs twice with asyncio.run() on one client and one engine,
which Motor itself cannot do. The transaction step runs only when the second
argument says the server has transactions.
"""

import asyncio
import sys
import warnings
from typing import List, Optional

warnings.simplefilter("error", RuntimeWarning)

import motorlike  # noqa: E402

motorlike.install_motor_alias()

import motor  # noqa: E402
import motor.motor_asyncio  # noqa: E402
from odmantic import AIOEngine, EmbeddedModel, Field, Index, Model, Reference, query  # noqa: E402
from odmantic.exceptions import DuplicateKeyError  # noqa: E402

assert motor is motorlike


class Address(EmbeddedModel):
    city: str
    zipcode: str


class Publisher(Model):
    name: str = Field(unique=True)
    address: Address

    model_config = {"collection": "publishers"}


class Book(Model):
    title: str = Field(index=True)
    pages: int
    tags: List[str] = []
    publisher: Publisher = Reference()
    rating: Optional[float] = None

    model_config = {
        "collection": "books",
        "indexes": lambda: [Index(Book.pages, Book.title, name="pages_title")],
    }


async def main(engine: AIOEngine, run: int, transactions: bool) -> None:
    await engine.client.drop_database(engine.database.name)
    await engine.configure_database([Publisher, Book])
    indexes = await engine.get_collection(Book).index_information()
    unique = await engine.get_collection(Publisher).index_information()
    print(
        run,
        "indexes",
        sorted(indexes),
        sorted(name for name, info in unique.items() if info.get("unique") and name != "_id_"),
    )

    acme = Publisher(name="acme", address=Address(city="Lyon", zipcode="69001"))
    books = [Book(title=f"b{i}", pages=100 * i, tags=["t"] * (i % 2), publisher=acme) for i in range(1, 6)]
    await engine.save_all(books)  # saves the referenced publisher too
    print(run, "counts", await engine.count(Publisher), await engine.count(Book))

    short = await engine.find(Book, Book.pages < 350, sort=query.desc(Book.pages))
    print(run, "short", [book.title for book in short], short[0].publisher.address.city)
    one = await engine.find_one(Book, Book.title == "b4")
    print(run, "found", one.pages, one.publisher.name, type(one.publisher).__name__)
    paged = [book.title async for book in engine.find(Book, sort=Book.title, skip=1, limit=2)]
    print(run, "paged", paged)

    one.rating = 4.5
    one.tags.append("new")
    await engine.save(one)
    again = await engine.find_one(Book, Book.id == one.id)
    print(run, "updated", again.rating, again.tags)

    try:
        await engine.save(Publisher(name="acme", address=Address(city="Paris", zipcode="75001")))
    except DuplicateKeyError as exc:
        driver_error = type(exc.driver_error)
        print(run, "duplicate", f"{driver_error.__module__}.{driver_error.__qualname__}", exc.instance.address.city)

    await engine.delete(again)
    removed = await engine.remove(Book, Book.pages >= 400)
    print(run, "deleted", removed, await engine.count(Book), await engine.count(Book, query.in_(Book.tags, ["t"])))

    if transactions:
        async with engine.transaction() as transaction:
            await transaction.save(Book(title="tx", pages=1, publisher=acme))
            await transaction.commit()
        async with engine.transaction() as transaction:
            await transaction.save(Book(title="aborted", pages=2, publisher=acme))
            await transaction.abort()
        print(run, "transaction", await engine.count(Book, Book.title == "tx"), await engine.count(Book, Book.title == "aborted"))
    async with engine.session() as session:
        print(run, "session", await session.count(Book), type(session.get_driver_session()).__module__)


if __name__ == "__main__":
    shared_client = motor.motor_asyncio.AsyncIOMotorClient(sys.argv[1], serverSelectionTimeoutMS=5000)
    shared_engine = AIOEngine(client=shared_client, database="odmantic_app")
    # ODMantic really holds motorlike objects.
    assert isinstance(shared_engine.client, motorlike.motor_asyncio.AsyncIOMotorClient)
    assert isinstance(shared_engine.database, motorlike.motor_asyncio.AsyncIOMotorDatabase)
    assert type(shared_engine.get_collection(Book)).__module__.startswith("motorlike")
    has_transactions = sys.argv[2:] == ["transactions"]
    try:
        asyncio.run(main(shared_engine, 1, has_transactions))
        asyncio.run(main(shared_engine, 2, has_transactions))
    finally:
        shared_client.close()
