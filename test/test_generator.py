"""The class generator: naming, kinds, wrapping, and a third framework."""

from __future__ import annotations

import asyncio
import inspect
import sys
import types

import pytest
from pymongo.synchronous.collection import Collection
from pymongo.synchronous.database import Database

from motorlike import core, metaprogramming, motor_asyncio, motor_tornado
from motorlike.frameworks import asyncio as asyncio_framework

pytestmark = pytest.mark.no_server


def test_generated_classes_subclass_their_declarations() -> None:
    assert issubclass(motor_asyncio.AsyncIOMotorClient, core.AgnosticClient)
    assert issubclass(motor_tornado.MotorCollection, core.AgnosticCollection)
    assert motor_asyncio.AsyncIOMotorCursor.__module__ == "motorlike.motor_asyncio"
    assert motor_tornado.MotorCursor.__module__ == "motorlike.motor_tornado"
    # Generation is cached: one class per declaration and framework.
    again = metaprogramming.create_class_with_framework(core.AgnosticDatabase, asyncio_framework, "elsewhere")
    assert again is motor_asyncio.AsyncIOMotorDatabase


def test_factories_produce_the_declared_kinds() -> None:
    cls = motor_asyncio.AsyncIOMotorCollection
    # AsyncCall methods return a running future, as Motor's; marked as
    # coroutine functions where Python can say so (3.12+).
    marked = sys.version_info >= (3, 12)
    assert inspect.iscoroutinefunction(cls.insert_one) is marked
    assert cls.insert_one._is_coroutine_annotation
    assert isinstance(inspect.getattr_static(cls, "name"), property)
    assert not inspect.iscoroutinefunction(cls.with_options)
    assert inspect.iscoroutinefunction(motor_asyncio.AsyncIOMotorCursor.distinct) is marked
    assert not inspect.iscoroutinefunction(motor_asyncio.AsyncIOMotorCursor.sort)


async def test_a_call_starts_without_await_as_motors_do(framework: str, server_uri: str, sync_client) -> None:
    """Motor's tutorial inserts in a loop without await: the inserts happen."""
    from test.conftest import make_client

    client = make_client(framework, server_uri)
    name = f"no_await_{framework}"
    try:
        futures = [client.motorlike_test[name].insert_one({"i": i}) for i in range(20)]
        assert all(asyncio.isfuture(future) for future in futures)
        await asyncio.gather(*futures)  # only to know when they are done
        assert sync_client.motorlike_test[name].count_documents({}) == 20
    finally:
        sync_client.motorlike_test.drop_collection(name)
        client.close()


def test_results_are_wrapped_by_registered_pymongo_type() -> None:
    assert metaprogramming.declaration_for(Collection) is core.AgnosticCollection
    assert metaprogramming.declaration_for(Database) is core.AgnosticDatabase

    class CustomCollection(Collection):
        pass

    # A PyMongo subclass without a declaration of its own gets its base's.
    assert metaprogramming.declaration_for(CustomCollection) is core.AgnosticCollection
    assert metaprogramming.declaration_for(dict) is None
    client = motor_asyncio.AsyncIOMotorClient("mongodb://127.0.0.1:1", connect=False)
    try:
        wrapped = client.wrap(client.delegate.some_db.some_coll)
        assert type(wrapped) is motor_asyncio.AsyncIOMotorCollection
        assert wrapped.database.client is client
        assert client.wrap({"plain": 1}) == {"plain": 1}
    finally:
        client.close()


def test_unwrap_replaces_motorlike_objects_with_delegates() -> None:
    client = motor_asyncio.AsyncIOMotorClient("mongodb://127.0.0.1:1", connect=False)
    try:
        db = client.db
        args, kwargs = metaprogramming.unwrap_arguments((db, 1), {"other": db.coll, "n": 2})
        assert args == (db.delegate, 1)
        assert kwargs == {"other": db.coll.delegate, "n": 2}
        plain_args, plain_kwargs = (1, 2), {"a": 3}
        assert metaprogramming.unwrap_arguments(plain_args, plain_kwargs) == (plain_args, plain_kwargs)
    finally:
        client.close()


def _protocol_members() -> list[str]:
    from motorlike.frameworks import Framework

    return sorted(
        name for name in {*vars(Framework), *Framework.__annotations__} if not name.startswith("_")
    )


@pytest.mark.parametrize("module_name", ["motorlike.frameworks.asyncio", "motorlike.frameworks.tornado"])
def test_frameworks_implement_the_protocol(module_name: str) -> None:
    import importlib
    import inspect

    from motorlike.frameworks import Framework

    module = importlib.import_module(module_name)
    members = _protocol_members()
    assert {"get_event_loop", "submit", "wait_concurrent", "NAME"} <= set(members)
    for name in members:
        assert hasattr(module, name), f"{module_name} lacks {name}"
        expected = getattr(Framework, name, None)
        if callable(expected):
            wanted = [p for p in inspect.signature(expected).parameters if p != "self"]
            assert list(inspect.signature(getattr(module, name)).parameters) == wanted, name


def test_a_third_framework_is_one_small_module() -> None:
    """A framework module with the documented names is all it takes."""
    framework = types.ModuleType("motorlike_test_framework")
    framework.NAME = "testframework"
    framework.GENERATED_MODULE = "motorlike_test_generated"
    framework.CLASS_PREFIX = "Test"
    for name in _protocol_members():
        if name not in {"NAME", "GENERATED_MODULE", "CLASS_PREFIX", "platform_info"}:
            setattr(framework, name, getattr(asyncio_framework, name))
    framework.platform_info = lambda: "test framework"
    sys.modules[framework.GENERATED_MODULE] = types.ModuleType(framework.GENERATED_MODULE)

    client_class = metaprogramming.create_class_with_framework(core.AgnosticClient, framework, framework.GENERATED_MODULE)
    assert client_class.__name__ == "TestMotorClient"
    client = client_class("mongodb://127.0.0.1:1", connect=False)
    try:
        collection = client.db.coll
        assert type(collection).__name__ == "TestMotorCollection"
        assert type(collection.find()).__name__ == "TestMotorCursor"

        async def run_on_worker():
            loop = asyncio.get_running_loop()
            return await framework.submit(loop, lambda: "ran on worker", (), {})

        assert asyncio.run(run_on_worker()) == "ran on worker"
    finally:
        client.close()
        del sys.modules[framework.GENERATED_MODULE]


def test_declaring_a_subclass_with_extra_factories() -> None:
    """mongomotor's pattern: subclass a declaration and generate it."""

    class CountingCollection(core.AgnosticCollection):
        __motor_class_name__ = "MotorCountingCollection"
        find_one_raw = metaprogramming.AsyncCall(attr_name="find_one")

    generated = metaprogramming.create_class_with_framework(
        CountingCollection, asyncio_framework, "motorlike.motor_asyncio"
    )
    assert generated.__name__ == "AsyncIOMotorCountingCollection"
    assert metaprogramming.is_async_method(generated.find_one_raw)
    assert generated.find_one_raw.__name__ == "find_one_raw"


def test_forwarding_methods_show_pymongo_parameters() -> None:
    def source(self, collection, filter=None, *, limit: int = 0, **kwargs) -> str:  # noqa: A002
        return "pymongo"

    @metaprogramming.pymongo_parameters(source, skip=2, keyword_only=("io_loop",))
    def forwarding(self, *args, **kwargs) -> int:
        return len(args) + len(kwargs)

    signature = inspect.signature(forwarding)
    assert list(signature.parameters) == ["self", "filter", "limit", "io_loop", "kwargs"]
    assert signature.parameters["io_loop"].kind is inspect.Parameter.KEYWORD_ONLY
    assert signature.return_annotation == "int"  # the method's own, not the source's
    assert forwarding(None, 1, limit=2) == 2  # the call itself is unchanged

    client = motor_asyncio.AsyncIOMotorClient()
    try:
        collection = client.db.coll
        assert list(inspect.signature(collection.find).parameters)[:3] == ["filter", "projection", "skip"]
        assert "session" in inspect.signature(collection.aggregate).parameters
        assert list(inspect.signature(collection.list_indexes).parameters) == ["session", "comment"]
        assert "full_document" in inspect.signature(client.db.watch).parameters
        client_parameters = inspect.signature(motor_tornado.MotorClient).parameters
        assert list(client_parameters)[:2] == ["host", "port"] and "io_loop" in client_parameters
    finally:
        client.close()


@pytest.mark.no_server
def test_public_classes_are_subscriptable_like_motors() -> None:
    from typing import Any, get_args, get_origin

    from motorlike import motor_asyncio, motor_tornado

    for module in (motor_asyncio, motor_tornado):
        for name in module.__all__:
            cls = getattr(module, name)
            alias = cls[dict[str, Any]]
            assert get_origin(alias) is cls
            assert get_args(alias) == (dict[str, Any],)
    # A subscripted class still constructs the class itself.
    client = motor_asyncio.AsyncIOMotorClient[dict[str, Any]]("mongodb://127.0.0.1:1", connect=False)
    assert type(client) is motor_asyncio.AsyncIOMotorClient
    client.close()


def test_mypy_sees_each_framework_module_as_a_framework(tmp_path) -> None:
    """The Protocol is checked statically too: a module missing a member, or
    with a different signature, is not assignable to Framework."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("mypy") is None:
        pytest.skip("mypy is not installed (pip install mypy)")
    program = tmp_path / "frameworks_check.py"
    program.write_text(
        "from motorlike.frameworks import Framework\n"
        "from motorlike.frameworks import asyncio as asyncio_framework\n"
        "from motorlike.frameworks import tornado as tornado_framework\n"
        "implementations: list[Framework] = [asyncio_framework, tornado_framework]\n"
        "import types\n"
        "not_one: Framework = types  # error expected: a module without the members\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / ".cache"), str(program)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "frameworks_check.py:6:" in errors[0], result.stdout


@pytest.mark.parametrize("module, prefix", [(motor_asyncio, "AsyncIO"), (motor_tornado, "")])
def test_generated_coroutines_are_documented_for_motorlike(module, prefix: str) -> None:
    collection_class = getattr(module, f"{prefix}MotorCollection")
    client_class = getattr(module, f"{prefix}MotorClient")
    insert_one = collection_class.insert_one
    assert insert_one.__qualname__ == f"{prefix}MotorCollection.insert_one"
    doc = insert_one.__doc__
    assert doc.startswith("Insert a single document.")  # PyMongo's summary
    assert "``await collection.insert_one(...)``" in doc
    assert "pymongo.readthedocs.io/en/stable/api/pymongo/collection.html#pymongo.collection.Collection.insert_one" in doc
    # PyMongo's examples, with the awaits motorlike needs and no synchronous call left.
    assert ">>> result = await db.test.insert_one(" in doc
    assert ">>> result = db.test.insert_one(" not in doc
    start_session = inspect.signature(client_class.start_session)
    assert start_session.return_annotation == f"{prefix}MotorClientSession"
    find_one = inspect.signature(collection_class.find_one)
    # Not a wrapped class: unchanged, as the installed PyMongo spells it (4.18: Optional[...]).
    assert find_one.return_annotation in ("_DocumentType | None", "Optional[_DocumentType]")
    get_collection = inspect.signature(getattr(module, f"{prefix}MotorDatabase").get_collection)
    assert get_collection.return_annotation == f"{prefix}MotorCollection[_DocumentType]"


def test_examples_get_await_and_async_for() -> None:
    from motorlike import _docstrings

    text = "  >>> for doc in db.test.find({}):\n  ...     print(doc)\n  >>> n = db.test.count_documents({})\n  >>> db.name"
    converted = _docstrings.await_examples(text, {"count_documents", "find_one"})
    assert converted.splitlines() == [
        "  >>> async for doc in db.test.find({}):",
        "  ...     print(doc)",
        "  >>> n = await db.test.count_documents({})",
        "  >>> db.name",
    ]
