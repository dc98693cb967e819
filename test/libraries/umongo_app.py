"""A small umongo 4 application (motor_asyncio backend), run unchanged on motorlike.

Usage: python umongo_app.py URI [transactions]. Prints one line per check; the
test compares them. It runs twice with asyncio.run() on one client and one umongo
instance, which Motor itself cannot do. The transaction step runs only when the
second argument says the server has transactions.
"""

import asyncio
import sys
import warnings

warnings.simplefilter("error", RuntimeWarning)

import motorlike  # noqa: E402

motorlike.install_motor_alias()

import motor  # noqa: E402
import motor.motor_asyncio  # noqa: E402
from umongo import Document, EmbeddedDocument, Instance, ValidationError, fields  # noqa: E402
from umongo.frameworks.motor_asyncio import MotorAsyncIOInstance, WrappedCursor  # noqa: E402

assert motor is motorlike

shared_client = motor.motor_asyncio.AsyncIOMotorClient(sys.argv[1], serverSelectionTimeoutMS=5000)
# umongo picks its framework by isinstance(db, AsyncIOMotorDatabase).
instance = Instance.from_db(shared_client.umongo_app)


@instance.register
class Address(EmbeddedDocument):
    city = fields.StrField(required=True)
    zipcode = fields.StrField()


@instance.register
class Author(Document):
    name = fields.StrField(required=True, unique=True)
    address = fields.EmbeddedField(Address)

    class Meta:
        collection_name = "authors"


@instance.register
class Post(Document):
    title = fields.StrField(required=True)
    views = fields.IntField(default=0)
    tags = fields.ListField(fields.StrField())
    author = fields.ReferenceField(Author)

    class Meta:
        collection_name = "posts"
        indexes = [("views", "-title")]


async def main(run: int, transactions: bool) -> None:
    await shared_client.drop_database("umongo_app")
    await Author.ensure_indexes()
    await Post.ensure_indexes()
    print(run, "indexes", sorted(await Post.collection.index_information()), sorted(await Author.collection.index_information()))

    ada = Author(name="ada", address={"city": "London", "zipcode": "N1"})
    await ada.commit()
    for i in range(5):
        await Post(title=f"p{i}", views=10 * i, tags=["odd"] if i % 2 else [], author=ada).commit()
    print(run, "counts", await Author.count_documents(), await Post.count_documents())

    cursor = Post.find({"views": {"$lt": 35}}).sort("views", -1)
    assert isinstance(cursor, WrappedCursor)
    popular = await cursor.to_list(length=None)  # a Future, cooked by add_done_callback
    print(run, "find", [post.title for post in popular], type(popular[0]).__name__)
    titles = [post.title async for post in Post.find({"tags": "odd"}).sort("title", 1)]
    print(run, "iterate", titles)
    first = await Post.find_one({"title": "p3"})
    author = await first.author.fetch()
    print(run, "reference", first.views, author.name, author.address.city, await first.author.exists)

    first.views = 99
    first.tags.append("hot")
    await first.commit()
    await first.reload()
    print(run, "updated", first.views, list(first.tags), await Post.count_documents({"views": {"$gt": 50}}))

    try:
        await Author(name="ada").commit()
    except ValidationError as exc:
        print(run, "unique", sorted(exc.messages), type(exc.__cause__).__name__)

    await first.delete()
    print(run, "deleted", await Post.count_documents(), first.is_created)

    if transactions:
        async with instance.session() as session:
            async with session.start_transaction():
                await Post(title="tx", author=ada).commit()
            try:
                async with session.start_transaction():
                    await Post(title="aborted", author=ada).commit()
                    raise LookupError("roll back")
            except LookupError:
                pass
        print(run, "transaction", await Post.count_documents({"title": "tx"}), await Post.count_documents({"title": "aborted"}))


if __name__ == "__main__":
    # umongo really holds motorlike objects.
    assert type(instance) is MotorAsyncIOInstance
    assert isinstance(Post.collection, motorlike.motor_asyncio.AsyncIOMotorCollection)
    assert type(Post.collection).__module__.startswith("motorlike")
    has_transactions = sys.argv[2:] == ["transactions"]
    try:
        asyncio.run(main(1, has_transactions))
        asyncio.run(main(2, has_transactions))
    finally:
        shared_client.close()
