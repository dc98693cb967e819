"""The collection declaration (PyMongo's ``Collection``).

A collection knows its database as the object that made it (``database``)
and recognises one by what it wraps: the database's module imports this one.
Annotations name the database's public class by its full name, unimported.
"""

from __future__ import annotations

from typing import Any, Mapping, MutableMapping

from pymongo.synchronous.collection import Collection
from pymongo.synchronous.cursor import Cursor
from pymongo.synchronous.database import Database
from pymongo.typings import _DocumentType  # annotations only: the stubs' document type

from motorlike._base import AgnosticBaseProperties, _legacy_call, _not_callable, wraps_a
from motorlike._command_cursor import AgnosticLatentCommandCursor
from motorlike._cursor import AgnosticCursor, AgnosticRawBatchCursor
from motorlike._bridge import lane_of
from motorlike.metaprogramming import (
    AsyncCall,
    DelegateMethod,
    ReadOnlyProperty,
    pymongo_parameters,
    unwrap_arguments,
    wraps_pymongo,
)


@wraps_pymongo(Collection)
class AgnosticCollection(AgnosticBaseProperties):
    __motor_class_name__ = "MotorCollection"

    name = ReadOnlyProperty()
    full_name = ReadOnlyProperty()

    bulk_write = AsyncCall()
    count_documents = AsyncCall()
    create_index = AsyncCall()
    create_indexes = AsyncCall()
    create_search_index = AsyncCall()
    create_search_indexes = AsyncCall()
    delete_many = AsyncCall()
    delete_one = AsyncCall()
    distinct = AsyncCall()
    drop = AsyncCall()
    drop_index = AsyncCall()
    drop_indexes = AsyncCall()
    drop_search_index = AsyncCall()
    estimated_document_count = AsyncCall()
    find_one = AsyncCall()
    find_one_and_delete = AsyncCall()
    find_one_and_replace = AsyncCall()
    find_one_and_update = AsyncCall()
    index_information = AsyncCall()
    insert_many = AsyncCall()
    insert_one = AsyncCall()
    options = AsyncCall()
    rename = AsyncCall()
    replace_one = AsyncCall()
    update_many = AsyncCall()
    update_one = AsyncCall()
    update_search_index = AsyncCall()

    with_options = DelegateMethod(wrap=True)
    __bool__ = DelegateMethod()

    map_reduce = _legacy_call("map_reduce", wrap=True)
    inline_map_reduce = _legacy_call("inline_map_reduce")
    reindex = _legacy_call("reindex")

    def __init__(
        self,
        database: "motorlike.core.AgnosticDatabase",
        name: str,
        codec_options: Any = None,
        read_preference: Any = None,
        write_concern: Any = None,
        read_concern: Any = None,
        _delegate: Collection | None = None,
    ) -> None:
        if not wraps_a(database, Database):
            raise TypeError(f"database must be a motorlike database, not {type(database).__name__}")
        #: The motorlike database this collection belongs to: a plain
        #: attribute, as in Motor, which subclasses may set themselves.
        self.database: "motorlike.core.AgnosticDatabase[_DocumentType]" = database
        if _delegate is None:
            _delegate = Collection(
                database.delegate,
                name,
                codec_options=codec_options,
                read_preference=read_preference,
                write_concern=write_concern,
                read_concern=read_concern,
            )
        super().__init__(_delegate)

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: Collection) -> AgnosticCollection:
        database = owner if wraps_a(owner, Database) else owner.database
        if database.delegate != delegate.database:
            # E.g. map_reduce's output collection in another database.
            database = database.client.wrap(delegate.database)
        return cls(database, delegate.name, _delegate=delegate)

    def get_io_loop(self) -> Any:
        return self.database.get_io_loop()

    def _find_lane(self) -> Any:
        return lane_of(self.database)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            full_name = f"{self.name}.{name}"
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}. To access the {full_name} collection, use database[{full_name!r}]."
            )
        return self[name]

    def __getitem__(self, name: str) -> AgnosticCollection[_DocumentType]:
        return type(self)._from_delegate(self, self.delegate[name])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if "." in self.name:
            method_name, parent = self.name.rsplit(".", 1)[1], type(self).__name__
        else:
            method_name, parent = self.name, type(self.database).__name__
        raise _not_callable(self, method_name, parent)

    @pymongo_parameters(Cursor.__init__, skip=2)
    def find(self, *args: Any, **kwargs: Any) -> AgnosticCursor[_DocumentType]:
        """Query the collection: a cursor, returned at once (no ``await``).

        Nothing is sent until the cursor is first read::

            cursor = collection.find({"status": "A"}).sort("qty", -1).limit(20)
            async for document in cursor:
                print(document)
            first_ten = await collection.find().to_list(10)

        The arguments are those of PyMongo's ``Collection.find``
        (https://pymongo.readthedocs.io/en/stable/api/pymongo/collection.html#pymongo.collection.Collection.find).
        """
        args, kwargs = unwrap_arguments(args, kwargs)
        return self._new(AgnosticCursor, self.delegate.find(*args, **kwargs), self)

    @pymongo_parameters(Cursor.__init__, skip=2)
    def find_raw_batches(self, *args: Any, **kwargs: Any) -> AgnosticRawBatchCursor[_DocumentType]:
        """Like :meth:`find`, but iterating yields raw BSON batches."""
        args, kwargs = unwrap_arguments(args, kwargs)
        return self._new(AgnosticRawBatchCursor, self.delegate.find_raw_batches(*args, **kwargs), self)

    @pymongo_parameters(Collection.aggregate)
    def aggregate(self, pipeline: Any, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[_DocumentType]:
        """Run an aggregation pipeline: a cursor, returned at once (no ``await``).

        The command is sent when the cursor is first read, so a bad pipeline
        raises there (Motor 2.x returned the same kind of cursor)::

            pipeline = [{"$group": {"_id": "$status", "total": {"$sum": "$qty"}}}]
            async for group in collection.aggregate(pipeline):
                print(group["_id"], group["total"])

        The arguments are those of PyMongo's ``Collection.aggregate``.
        """
        return self._new(AgnosticLatentCommandCursor, self, "aggregate", pipeline, *args, **kwargs)

    @pymongo_parameters(Collection.aggregate_raw_batches)
    def aggregate_raw_batches(self, pipeline: Any, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[_DocumentType]:
        """Like :meth:`aggregate`, but iterating yields raw BSON batches."""
        return self._new(AgnosticLatentCommandCursor, self, "aggregate_raw_batches", pipeline, *args, **kwargs)

    @pymongo_parameters(Collection.list_indexes)
    def list_indexes(self, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[MutableMapping[str, Any]]:
        """A cursor over the collection's index documents (use ``async for``)."""
        return self._new(AgnosticLatentCommandCursor, self, "list_indexes", *args, **kwargs)

    @pymongo_parameters(Collection.list_search_indexes)
    def list_search_indexes(self, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[Mapping[str, Any]]:
        """A cursor over the collection's Atlas Search indexes."""
        return self._new(AgnosticLatentCommandCursor, self, "list_search_indexes", *args, **kwargs)
