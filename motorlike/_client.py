"""Declaration of the client (PyMongo's ``MongoClient``).

Event loops: no object is bound to a loop unless the user asked for one with
``io_loop=``. Every operation asks ``self.get_io_loop()`` when it starts; by
default that is the running loop, so one client serves any number of loops,
one after another or at once in different threads. ``get_io_loop`` is looked
up on the instance and delegated to the parent object (cursor -> collection ->
database -> client), so replacing ``client.get_io_loop`` affects everything
made from that client.
"""

from __future__ import annotations

from typing import Any

from pymongo.driver_info import DriverInfo
from pymongo.synchronous.mongo_client import MongoClient
from pymongo.typings import _DocumentType  # annotations only: the stubs' document type

from motorlike._bridge import client_lane
from motorlike._base import AgnosticBaseProperties, _legacy_call
from motorlike._database import AgnosticDatabase
from motorlike._version import version as _motorlike_version
from motorlike.metaprogramming import (
    AgnosticBase,
    AsyncCall,
    BackgroundMethod,
    DelegateMethod,
    ReadOnlyProperty,
    pymongo_parameters,
    wraps_pymongo,
)


@wraps_pymongo(MongoClient)
class AgnosticClient(AgnosticBaseProperties):
    __motor_class_name__ = "MotorClient"

    HOST = ReadOnlyProperty()
    PORT = ReadOnlyProperty()
    address = ReadOnlyProperty()
    arbiters = ReadOnlyProperty()
    is_mongos = ReadOnlyProperty()
    is_primary = ReadOnlyProperty()
    nodes = ReadOnlyProperty()
    options = ReadOnlyProperty()
    primary = ReadOnlyProperty()
    secondaries = ReadOnlyProperty()
    topology_description = ReadOnlyProperty()

    #: Never blocks the loop (ending sessions, killing cursors is network
    #: I/O): ``client.close()`` returns at once, ``await client.close()``
    #: waits for it. New calls raise InvalidOperation from the moment it is called.
    close = BackgroundMethod(closes_client=True)
    get_database = DelegateMethod(wrap=True)
    get_default_database = DelegateMethod(wrap=True)
    append_metadata = DelegateMethod()
    eq_props = DelegateMethod()

    bulk_write = AsyncCall()
    drop_database = AsyncCall()
    list_database_names = AsyncCall()
    list_databases = AsyncCall(wrap=True)
    server_info = AsyncCall()
    start_session = AsyncCall(wrap=True)
    _connect = AsyncCall()

    fsync = _legacy_call("fsync")
    unlock = _legacy_call("unlock")

    @pymongo_parameters(MongoClient.__init__, keyword_only=("io_loop",))
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create a client; arguments as for :class:`pymongo.MongoClient`.

        Nothing connects until the first operation. ``io_loop`` binds the
        client to one event loop; without it, each operation uses the loop
        that runs it.
        """
        io_loop = kwargs.pop("io_loop", None)
        if io_loop is not None:
            self._framework.check_event_loop(io_loop)
        self._io_loop = io_loop
        user_driver = kwargs.pop("driver", None)
        if user_driver is not None and not isinstance(user_driver, DriverInfo):
            raise TypeError(f"driver must be an instance of DriverInfo, not {type(user_driver).__name__}")
        kwargs.setdefault("connect", False)
        kwargs["driver"] = DriverInfo("motorlike", _motorlike_version, self._framework.platform_info())
        delegate = MongoClient(*args, **kwargs)
        if user_driver is not None:
            # PyMongo joins appended metadata itself; joining strings by hand
            # is what broke Motor 3.7.1 on PyMongo 4.20.
            delegate.append_metadata(user_driver)
        super().__init__(delegate)

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: MongoClient) -> AgnosticClient:
        client = cls.__new__(cls)
        client._io_loop = getattr(owner, "_io_loop", None)
        AgnosticBase.__init__(client, delegate)
        return client

    def get_io_loop(self) -> Any:
        io_loop = self._io_loop
        return io_loop if io_loop is not None else self._framework.get_event_loop()

    def _find_lane(self) -> Any:
        return client_lane(self)

    @property
    def io_loop(self) -> Any:
        """The loop this client is bound to, else the current one."""
        return self.get_io_loop()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}. To access the {name} database, use client[{name!r}]."
            )
        return self[name]

    def __getitem__(self, name: str) -> AgnosticDatabase[_DocumentType]:
        return self._new(AgnosticDatabase, self, name)
