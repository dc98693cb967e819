"""Collection, database and client behaviour on both frameworks, against the test server."""

from __future__ import annotations

import collections.abc

import pytest
from bson import ObjectId
from pymongo import ASCENDING, DeleteOne, IndexModel, InsertOne, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, InvalidURI, OperationFailure
from pymongo.results import (
    BulkWriteResult,
    DeleteResult,
    InsertManyResult,
    InsertOneResult,
    UpdateResult,
)
from pymongo.write_concern import WriteConcern

from motorlike import core
from test.conftest import make_client


async def test_insert_and_find_one(collection, sync_client) -> None:
    result = await collection.insert_one({"name": "ada", "n": 1})
    assert isinstance(result, InsertOneResult)
    assert isinstance(result.inserted_id, ObjectId)
    # Seen by an independent PyMongo client: the write really happened.
    stored = sync_client[collection.database.name][collection.name].find_one({"_id": result.inserted_id})
    assert stored["name"] == "ada"
    found = await collection.find_one({"name": "ada"})
    assert found == stored
    assert await collection.find_one({"name": "nobody"}) is None


async def test_crud_results_are_pymongo_types(collection) -> None:
    many = await collection.insert_many([{"i": i} for i in range(5)])
    assert isinstance(many, InsertManyResult) and len(many.inserted_ids) == 5

    updated = await collection.update_one({"i": 1}, {"$set": {"tag": "one"}})
    assert isinstance(updated, UpdateResult) and updated.modified_count == 1
    updated = await collection.update_many({"i": {"$gte": 3}}, {"$set": {"big": True}})
    assert updated.modified_count == 2
    replaced = await collection.replace_one({"i": 0}, {"i": 0, "replaced": True})
    assert replaced.matched_count == 1

    doc = await collection.find_one_and_update(
        {"i": 2}, {"$inc": {"i": 10}}, return_document=ReturnDocument.AFTER, projection={"_id": 0}
    )
    assert doc == {"i": 12}
    doc = await collection.find_one_and_replace({"i": 12}, {"i": 20}, projection={"_id": 0})
    assert doc == {"i": 12}
    doc = await collection.find_one_and_delete({"i": 20}, projection={"_id": 0})
    assert doc == {"i": 20}

    deleted = await collection.delete_one({"i": 0})
    assert isinstance(deleted, DeleteResult) and deleted.deleted_count == 1
    deleted = await collection.delete_many({"big": True})
    assert deleted.deleted_count == 2
    assert await collection.count_documents({}) == 1
    assert await collection.estimated_document_count() == 1
    assert await collection.distinct("i") == [1]


async def test_bulk_write(collection) -> None:
    result = await collection.bulk_write(
        [InsertOne({"_id": 1}), InsertOne({"_id": 2}), UpdateOne({"_id": 1}, {"$set": {"x": 1}}), DeleteOne({"_id": 2})]
    )
    assert isinstance(result, BulkWriteResult)
    assert (result.inserted_count, result.modified_count, result.deleted_count) == (2, 1, 1)
    with pytest.raises(BulkWriteError):
        await collection.bulk_write([InsertOne({"_id": 1})])


async def test_pymongo_errors_pass_through_unchanged(collection) -> None:
    await collection.insert_one({"_id": "same"})
    with pytest.raises(DuplicateKeyError) as raised:
        await collection.insert_one({"_id": "same"})
    assert raised.value.code == 11000
    with pytest.raises(OperationFailure):
        await collection.database.command("noSuchCommandAtAll")


async def test_indexes(collection) -> None:
    name = await collection.create_index([("email", ASCENDING)], unique=True)
    assert name == "email_1"
    names = await collection.create_indexes([IndexModel([("a", 1)]), IndexModel([("b", -1)], name="b_desc")])
    assert names == ["a_1", "b_desc"]
    info = await collection.index_information()
    assert {"_id_", "email_1", "a_1", "b_desc"} <= set(info)
    # list_indexes is synchronous and gives an async-iterable cursor.
    cursor = collection.list_indexes()
    assert isinstance(cursor, core.AgnosticLatentCommandCursor)
    listed = [index["name"] async for index in cursor]
    assert set(listed) == set(info)
    await collection.drop_index("a_1")
    assert "a_1" not in await collection.index_information()
    await collection.insert_one({"email": "x@example.com"})
    with pytest.raises(DuplicateKeyError):
        await collection.insert_one({"email": "x@example.com"})


async def test_database_level_calls(db, collection) -> None:
    assert (await db.command("ping"))["ok"] == 1
    assert (await db.command({"ping": 1}))["ok"] == 1
    await collection.insert_one({"x": 1})
    assert collection.name in await db.list_collection_names()
    cursor = await db.list_collections()
    assert isinstance(cursor, core.AgnosticCommandCursor)
    names = [info["name"] async for info in cursor]
    assert collection.name in names
    new = await db.create_collection(collection.name + "_new")
    assert isinstance(new, core.AgnosticCollection) and new.database is db
    await db.drop_collection(new)
    assert new.name not in await db.list_collection_names()


async def test_client_level_calls(client, collection) -> None:
    assert (await client.admin.command("ping"))["ok"] == 1
    await collection.insert_one({"x": 1})
    assert collection.database.name in await client.list_database_names()
    databases = await client.list_databases()
    assert collection.database.name in [info["name"] async for info in databases]


async def test_drop_database_accepts_a_motor_database(client, sync_client) -> None:
    name = "motorlike_test_drop_db"
    await client[name].things.insert_one({"x": 1})
    assert name in sync_client.list_database_names()
    await client.drop_database(client[name])
    assert name not in sync_client.list_database_names()


async def test_with_options_returns_a_new_collection(collection) -> None:
    acknowledged = collection.with_options(write_concern=WriteConcern(w=0))
    assert isinstance(acknowledged, core.AgnosticCollection)
    assert acknowledged is not collection
    assert acknowledged.write_concern == WriteConcern(w=0)
    assert collection.write_concern != WriteConcern(w=0)
    assert acknowledged.database is collection.database
    same_db = collection.database.with_options(write_concern=WriteConcern(w=1))
    assert same_db.name == collection.database.name and same_db.client is collection.database.client


def test_names_give_databases_and_collections(client) -> None:
    db = client.some_db
    assert isinstance(db, core.AgnosticDatabase) and db.name == "some_db"
    assert client["some_db"] == db
    assert db.client is client
    coll = db.some_coll
    assert isinstance(coll, core.AgnosticCollection) and coll.name == "some_coll"
    assert coll.database is db and coll.full_name == "some_db.some_coll"
    sub = coll.child
    assert sub.name == "some_coll.child" and sub.database is db
    assert db.get_collection("x", write_concern=WriteConcern(w=0)).write_concern == WriteConcern(w=0)
    assert client.get_database("other").name == "other"
    assert db["some_coll"] == coll and db["some_coll"] != db["other"]


def test_underscore_names_raise_attribute_error(client) -> None:
    with pytest.raises(AttributeError, match="client\\['_private'\\]"):
        client._private
    with pytest.raises(AttributeError, match="database\\['_private'\\]"):
        client.db._private
    with pytest.raises(AttributeError):
        client.db.coll._private


def test_calling_a_collection_raises_type_error_with_a_hint(client) -> None:
    with pytest.raises(TypeError, match="'find_onee' method on a '.*MotorDatabase' object"):
        client.db.find_onee({})
    with pytest.raises(TypeError, match="'foo' method on a '.*MotorCollection' object"):
        client.db.coll.foo()
    with pytest.raises(TypeError, match="'list_databasez' method on a '.*MotorClient' object"):
        client.list_databasez()
    # Methods PyMongo 4 removed and motorlike left out (doc/legacy.md) say so too.
    # Methods PyMongo 4 removed and motorlike left out (doc/legacy.md) name
    # their replacement.
    replacements = {
        "insert": "insert_one",
        "save": "replace_one",
        "update": "update_one",
        "remove": "delete_one",
        "find_and_modify": "find_one_and_update",
        "count": "count_documents",
        "ensure_index": "create_index",
    }
    for removed, replacement in replacements.items():
        with pytest.raises(TypeError, match=f"'{removed}' method on a '.*MotorCollection' object") as raised:
            getattr(client.db.coll, removed)({})
        assert f"PyMongo 4 removed {removed}(): use {replacement}" in str(raised.value)
    with pytest.raises(TypeError, match="'collection_names' method on a '.*MotorDatabase' object.*list_collection_names"):
        client.db.collection_names()
    with pytest.raises(TypeError, match="'database_names' method on a '.*MotorClient' object.*list_database_names"):
        client.database_names()
    # A misspelt name gets no such hint.
    with pytest.raises(TypeError) as raised:
        client.db.coll.insert_onee({})
    assert "PyMongo 4 removed" not in str(raised.value)


def test_iteration_is_refused(client) -> None:
    for obj in (client, client.db, client.db.coll):
        with pytest.raises(TypeError, match="not iterable"):
            iter(obj)
        with pytest.raises(TypeError, match="not iterable"):
            list(obj)
        assert not isinstance(obj, collections.abc.Iterable)


def test_truth_value_is_refused(client) -> None:
    with pytest.raises(NotImplementedError):
        bool(client.db)
    with pytest.raises(NotImplementedError):
        bool(client.db.coll)


def test_get_default_database(framework, server_uri) -> None:
    base = server_uri.split("?")[0].rstrip("/")
    query = server_uri.split("?", 1)[1] if "?" in server_uri else ""
    motor_client = make_client(framework, f"{base}/defaultdb" + (f"?{query}" if query else ""))
    try:
        default = motor_client.get_default_database()
        assert isinstance(default, core.AgnosticDatabase) and default.name == "defaultdb"
        assert default.client is motor_client
    finally:
        motor_client.close()


def test_invalid_uri_raises_invalid_uri(framework) -> None:
    with pytest.raises(InvalidURI):
        make_client(framework, "mongodb://")
    with pytest.raises(InvalidURI):
        make_client(framework, "http://127.0.0.1:27017")


def test_pymongo_keyword_arguments_pass_through(framework, server_uri) -> None:
    motor_client = make_client(
        framework, server_uri, uuidRepresentation="standard", retryWrites=False, directConnection=True
    )
    try:
        assert motor_client.options.retry_writes is False
        assert motor_client.codec_options.uuid_representation == 4  # STANDARD
    finally:
        motor_client.close()


async def test_server_info(client, capabilities) -> None:
    if not capabilities.get("buildinfo_lowercase"):
        pytest.skip("the test server lacks the capability 'buildinfo_lowercase'")
    info = await client.server_info()
    assert "version" in info
