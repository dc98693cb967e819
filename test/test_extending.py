"""Motor's extension protocol: a library built on Motor's internals runs on motorlike.

``test/tinyodm`` is such a library, written against ``motor`` as mongomotor
is (doc/extending.md); it is imported here with the motor alias in effect and
used on asyncio and Tornado. mongomotor's own suite is run by
``tools/run_mongomotor_suite.py``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
import sys

import pytest
from pymongo.synchronous.collection import Collection
from pymongo.write_concern import WriteConcern

from motorlike import alias
from motorlike.core import AgnosticClient, AgnosticCollection, AgnosticCursor, AgnosticDatabase
from motorlike.metaprogramming import create_class_with_framework

DB_NAME = "motorlike_test_extending"


@pytest.fixture(scope="module")
def tinyodm():
    """The library, imported as its users do: ``motor`` is motorlike.

    Other tests of this run may have imported the real Motor (the libraries
    in the test extra depend on it): it is set aside meanwhile, then put back.
    """
    if "test.tinyodm" not in sys.modules:
        real_motor = {name: module for name, module in sys.modules.items() if name == "motor" or name.startswith("motor.")}
        for name in real_motor:
            del sys.modules[name]
        alias.install_motor_alias()
        try:
            importlib.import_module("test.tinyodm")
        finally:
            alias.uninstall_motor_alias()
            sys.modules.update(real_motor)
    return sys.modules["test.tinyodm"]


@pytest.fixture
def odm_client(tinyodm, framework, server_uri):
    client = tinyodm.connect(server_uri, framework, serverSelectionTimeoutMS=5000)
    yield client
    client.delegate.drop_database(DB_NAME)
    client.close()


def _frameworks():
    from motorlike.frameworks import asyncio as asyncio_framework
    from motorlike.frameworks import tornado as tornado_framework

    return {"asyncio": asyncio_framework, "tornado": tornado_framework}


@pytest.mark.no_server
def test_library_classes_are_generated_for_each_framework(tinyodm) -> None:
    for framework_name, framework in _frameworks().items():
        prefix = framework.CLASS_PREFIX
        client_class = tinyodm.connect.__globals__["CLIENTS"][framework_name]
        assert client_class.__name__ == f"{prefix}OdmClient"
        assert client_class.__module__ == "test.tinyodm.core"
        assert issubclass(client_class, (tinyodm.OdmClient, AgnosticClient))
        collection_class = create_class_with_framework(tinyodm.OdmCollection, framework, "anywhere")
        # Made once: the module of the first call stays.
        assert collection_class is create_class_with_framework(tinyodm.OdmCollection, framework, "elsewhere")
        # Motor's protocol: create_attribute(cls, attr_name), cls the generated class.
        assert collection_class.count_documents_blocking is Collection.count_documents
        # motorlike's protocol: create_attribute(declaration, attr_name, framework).
        assert collection_class.framework_name.fget(None) == f"{framework_name} OdmCollection"


@pytest.mark.no_server
def test_a_declaration_need_not_derive_from_motorlike_classes(tinyodm) -> None:
    class Delegate:
        def method(self) -> str:
            return "delegate's"

    class Declaration:  # mongomotor's own tests declare classes this way
        __motor_class_name__ = "Declared"
        __delegate_class__ = Delegate
        method = tinyodm.Blocking("method")

    generated = create_class_with_framework(Declaration, _frameworks()["asyncio"], __name__)
    assert generated.__name__ == "AsyncIODeclared"
    assert generated.method is Delegate.method


async def test_a_motor_style_subclass_of_a_stock_factory(odm_client, tinyodm) -> None:
    collection = odm_client[DB_NAME].things
    await collection.insert_one({"x": 1})
    await collection.insert_one({"x": 2})
    assert await collection.count_documents({"x": {"$gt": 0}}) == 2
    assert collection.calls == {"insert_one": 2, "count_documents": 1}


async def test_subclass_init_sets_database_and_client_itself(odm_client, tinyodm) -> None:
    database = odm_client[DB_NAME]
    collection = database.things
    assert isinstance(database, tinyodm.OdmDatabase) and isinstance(database, AgnosticDatabase)
    assert database.client is odm_client  # OdmDatabase set Motor's private _client
    assert collection.database is database  # a plain attribute, set by OdmCollection
    assert collection.get_io_loop() is database.get_io_loop()
    await collection.insert_one({"x": 1})
    assert await collection.count_documents({}) == 1


async def test_wrap_is_used_on_every_path(odm_client, tinyodm) -> None:
    database = odm_client.get_database(DB_NAME)
    assert isinstance(database, tinyodm.OdmDatabase)
    assert isinstance(database.get_collection("things", write_concern=WriteConcern(w=1)), tinyodm.OdmCollection)
    created = await database.create_collection("created")  # a coroutine's result
    assert isinstance(created, tinyodm.OdmCollection) and created.name == "created"
    models = database.collection_for(tinyodm.Model)
    faster = models.with_options(write_concern=WriteConcern(w=0))
    assert isinstance(faster, tinyodm.OdmCollection) and faster.model is tinyodm.Model
    assert faster.write_concern == WriteConcern(w=0)
    cursor = models.find({})
    assert isinstance(cursor, tinyodm.OdmCursor) and isinstance(cursor, AgnosticCursor)
    assert isinstance(cursor.clone(), tinyodm.OdmCursor)


async def test_without_a_wrap_override_pymongo_results_of_its_own_kind_keep_the_subclass(server_uri, framework) -> None:
    class Plain(AgnosticDatabase):
        __motor_class_name__ = "PlainDatabase"

    class PlainCollection(AgnosticCollection):
        __motor_class_name__ = "PlainCollection"

    module = _frameworks()[framework]
    client = create_class_with_framework(AgnosticClient, module, __name__)(server_uri)
    database = create_class_with_framework(Plain, module, __name__)(client, DB_NAME)
    assert type(database.with_options(write_concern=WriteConcern(w=0))) is type(database)
    # Another kind: the stock class, as Motor's wrap() gives.
    assert type(database.get_collection("x")) is create_class_with_framework(AgnosticCollection, module, __name__)
    collection = create_class_with_framework(PlainCollection, module, __name__)(database, "x")
    assert type(collection.with_options(write_concern=WriteConcern(w=0))) is type(collection)
    assert type(collection["sub"]) is type(collection)
    client.close()


async def test_models_round_trip(odm_client, tinyodm) -> None:
    class City(tinyodm.Model):
        collection_name = "cities"

    cities = odm_client[DB_NAME].collection_for(City)
    for name, people in (("Lyon", 500), ("Nice", 340), ("Metz", 120)):
        await cities.save(City(name=name, people=people))
    found = await cities.find({"people": {"$gt": 200}}, {"_id": 0}).sort("people", -1).models()
    assert found == [City(name="Lyon", people=500), City(name="Nice", people=340)]


async def test_pymongo_methods_bound_to_the_wrapper_see_pymongo_private_attributes(odm_client) -> None:
    """The wrapper has no private attribute of its PyMongo object's: a
    PyMongo method run against it (mongomotor's way) reads PyMongo's."""
    collection = odm_client[DB_NAME].things
    await collection.insert_one({"x": 1})
    loop = asyncio.get_running_loop()
    assert await loop.run_in_executor(None, collection.count_documents_blocking, {}) == 1


def _private_names(pymongo_class: type) -> set[str]:
    """What a PyMongo object of this class may have: its class's names and
    every ``self._x = ...`` in its class's or its bases' source."""
    names = set(dir(pymongo_class))
    for klass in pymongo_class.__mro__:
        try:
            source = inspect.getsource(klass)
        except (TypeError, OSError):
            continue
        names.update(re.findall(r"self\.(_\w+)\s*(?::[^=\n]*)?=[^=]", source))
    return names


async def test_no_wrapper_has_a_private_attribute_of_its_pymongo_object(client, db, server_uri) -> None:
    from motorlike.motor_gridfs import AgnosticGridFSBucket

    collection = db.extending_shadows
    await collection.insert_one({"x": 1})
    bucket = create_class_with_framework(AgnosticGridFSBucket, type(client)._framework, __name__)(db)
    grid_in = bucket.open_upload_stream("f")
    await grid_in.write(b"data")
    await grid_in.close()
    session = await client.start_session()
    cursor = collection.find()
    await cursor.to_list(None)
    wrappers = [
        client, db, collection, cursor, collection.aggregate([]), await db.list_collections(),
        bucket, grid_in, await bucket.open_download_stream(grid_in._id), bucket.find(), session,
        collection.watch(),  # opened on first use: its PyMongo object does not exist yet
    ]
    for wrapper in wrappers:
        pymongo_class = type(wrapper).__delegate_class__
        theirs = _private_names(pymongo_class) | set(getattr(wrapper.delegate, "__dict__", ()))
        mine = {name for name in vars(wrapper) if name.startswith("_")}
        assert not mine & theirs, f"{type(wrapper).__name__} hides {sorted(mine & theirs)} of {pymongo_class.__name__}"
    await session.end_session()
    await bucket.drop()


def test_motor_private_back_references_set_the_public_ones(client, db) -> None:
    other = type(client)("mongodb://127.0.0.1:1", connect=False)
    db._client = other
    assert db.client is other
    with pytest.raises(AttributeError):
        db._client  # noqa: B018 - reading finds nothing on the wrapper
    other.close()


async def test_gridfs_subclasses_with_their_own_init_and_wrap(odm_client, tinyodm) -> None:
    database = odm_client[DB_NAME]
    bucket = tinyodm.open_bucket(database, "files")
    assert bucket.get_io_loop() is bucket.io_loop is database.get_io_loop()
    grid_in = bucket.open_upload_stream("notes.txt")
    assert isinstance(grid_in, tinyodm.OdmGridIn)
    await grid_in.write(b"first line\n")
    await grid_in.write(b"second line\n")
    await grid_in.close()
    file_id = await bucket.upload_from_stream("other.txt", b"other")
    grid_out = await bucket.open_download_stream(grid_in._id)
    assert isinstance(grid_out, tinyodm.OdmGridOut)
    assert await grid_out.text() == "first line\nsecond line\n"
    names = [found.filename async for found in bucket.find({}).sort("filename")]
    assert names == ["notes.txt", "other.txt"]
    await bucket.delete(file_id)
    assert [found.filename for found in await bucket.find({}).to_list(None)] == ["notes.txt"]
