"""Declaration of a database (PyMongo's ``Database``).

A database knows its client only as the object that made it (``client``), and
recognises one by what it wraps, a ``MongoClient``: the client module imports
this one, not the other way round. Annotations name the client's public class
by its full name, unimported.
"""

from __future__ import annotations

from typing import Any

from pymongo.synchronous.database import Database
from pymongo.synchronous.mongo_client import MongoClient
from pymongo.typings import _DocumentType  # annotations only: the stubs' document type

from motorlike._base import AgnosticBaseProperties, _legacy_call, _not_callable, wraps_a
from motorlike._bridge import lane_of
from motorlike._collection import AgnosticCollection
from motorlike._command_cursor import AgnosticLatentCommandCursor
from motorlike.metaprogramming import (
    AsyncCall,
    DelegateMethod,
    MotorBackReference,
    ReadOnlyProperty,
    pymongo_parameters,
    wraps_pymongo,
)


@wraps_pymongo(Database)
class AgnosticDatabase(AgnosticBaseProperties):
    __motor_class_name__ = "MotorDatabase"

    name = ReadOnlyProperty()

    command = AsyncCall()
    create_collection = AsyncCall(wrap=True)
    cursor_command = AsyncCall(wrap=True)
    dereference = AsyncCall()
    drop_collection = AsyncCall()
    list_collection_names = AsyncCall()
    list_collections = AsyncCall(wrap=True)
    validate_collection = AsyncCall()

    get_collection = DelegateMethod(wrap=True)
    with_options = DelegateMethod(wrap=True)
    __bool__ = DelegateMethod()

    current_op = _legacy_call("current_op")
    profiling_level = _legacy_call("profiling_level")
    set_profiling_level = _legacy_call("set_profiling_level")
    profiling_info = _legacy_call("profiling_info")

    #: Motor's subclasses set ``self._client``; it becomes ``client``.
    _client = MotorBackReference("_motorlike_client")

    def __init__(self, client: "motorlike.core.AgnosticClient", name: str, _delegate: Database | None = None, **kwargs: Any) -> None:
        self._motorlike_client = client
        super().__init__(_delegate if _delegate is not None else Database(client.delegate, name, **kwargs))

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: Database) -> AgnosticDatabase:
        client = owner if wraps_a(owner, MongoClient) else owner.client
        return cls(client, delegate.name, _delegate=delegate)

    @property
    def client(self) -> "motorlike.core.AgnosticClient[_DocumentType]":
        """The motorlike client this database belongs to."""
        return self._motorlike_client

    def get_io_loop(self) -> Any:
        return self._motorlike_client.get_io_loop()

    def _find_lane(self) -> Any:
        return lane_of(self.client)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}. To access the {name} collection, use database[{name!r}]."
            )
        return self[name]

    def __getitem__(self, name: str) -> AgnosticCollection[_DocumentType]:
        return self._new(AgnosticCollection, self, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_callable(self, self.name, type(self.client).__name__)

    @pymongo_parameters(Database.aggregate)
    def aggregate(self, pipeline: Any, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[_DocumentType]:
        """Run a database-level aggregation; a latent cursor, nothing is sent until first use."""
        return self._new(AgnosticLatentCommandCursor, self, "aggregate", pipeline, *args, **kwargs)
