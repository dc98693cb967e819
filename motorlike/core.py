"""Framework-agnostic declarations of motorlike's classes.

Each ``Agnostic*`` class names the PyMongo class it wraps and lists, attribute
by attribute, what it offers (see :mod:`motorlike.metaprogramming`). They are
never instantiated themselves: :mod:`motorlike.motor_asyncio` and
:mod:`motorlike.motor_tornado` generate the concrete classes from them.

Event loops: no object is bound to a loop unless the user asked for one with
``io_loop=``. Every operation asks ``self.get_io_loop()`` when it starts; by
default that is the running loop, so one client serves any number of loops,
one after another or at once in different threads. ``get_io_loop`` is looked
up on the instance and delegated to the parent object (cursor -> collection ->
database -> client), so replacing ``client.get_io_loop`` affects everything
made from that client.
"""

from __future__ import annotations

import collections
import logging
import time
import warnings
from typing import Any, Callable, Coroutine, Mapping, MutableMapping

from pymongo import CursorType
from pymongo.driver_info import DriverInfo
from pymongo.errors import InvalidOperation, OperationFailure, PyMongoError
from pymongo.synchronous.change_stream import ChangeStream
from pymongo.synchronous.client_session import ClientSession
from pymongo.synchronous.collection import Collection
from pymongo.synchronous.command_cursor import CommandCursor, RawBatchCommandCursor
from pymongo.synchronous.cursor import Cursor, RawBatchCursor
from pymongo.synchronous.database import Database
from pymongo.synchronous.mongo_client import MongoClient
from pymongo.typings import _DocumentType  # annotations only: the stubs' document type

from motorlike import _legacy
from motorlike._version import version as _motorlike_version
from motorlike._pool import BackgroundCall
from motorlike.metaprogramming import (
    AgnosticBase,
    AsyncCall,
    BackgroundMethod,
    DelegateMethod,
    MotorCursorChainingMethod,
    ReadOnlyProperty,
    SerializedWorkerCalls,
    coroutine_annotation,
    generated_class,
    pymongo_parameters,
    unwrap_arguments,
    wrapper_for_framework,
    wraps_pymongo,
)

__all__ = [
    "AgnosticBase",
    "AgnosticBaseCursor",
    "AgnosticBaseProperties",
    "AgnosticChangeStream",
    "AgnosticClient",
    "AgnosticClientEncryption",
    "AgnosticClientSession",
    "AgnosticCollection",
    "AgnosticCommandCursor",
    "AgnosticCursor",
    "AgnosticDatabase",
    "AgnosticLatentCommandCursor",
    "AgnosticRawBatchCommandCursor",
    "AgnosticRawBatchCursor",
    "BackgroundCall",
    "coroutine_annotation",
]

_log = logging.getLogger("motorlike")

# ---------------------------------------------------------------------------
# PyMongo cursor internals motorlike relies on, all in one place. Serving
# buffered documents without a thread hop needs the cursor's batch buffer;
# test_pymongo_internals checks these still exist on the installed PyMongo.


def _buffer(cursor: Any) -> Any:
    """The deque of documents a PyMongo cursor has received but not returned."""
    return cursor._data


def _set_buffer(cursor: Any, documents: Any) -> None:
    """Make ``documents`` (a deque) the PyMongo cursor's buffer."""
    cursor._data = documents


def _refill(cursor: Any) -> int:
    """Fetch the next batch (blocking) into an empty buffer; returns its length."""
    return cursor._refresh()


def _server_done(cursor: Any) -> bool:
    """Whether the server cursor is finished (exhausted, killed or failed)."""
    return bool(cursor._killed)


def _skip_of(cursor: Any) -> int:
    """The skip a find cursor has so far."""
    return int(cursor._skip)


def _is_tailable(cursor: Any) -> bool:
    return bool(getattr(cursor, "_query_flags", 0) & CursorType.TAILABLE)


def _is_empty(cursor: Any) -> bool:
    # A find cursor sliced to an empty range never queries the server.
    return bool(getattr(cursor, "_empty", False))


def _validate_length(length: Any) -> None:
    if length is None:
        return
    if isinstance(length, bool) or not isinstance(length, int):
        raise TypeError(f"length must be an int or None, not {type(length).__name__}")
    if length < 0:
        raise ValueError(f"length must be non-negative, not {length}")


def _legacy_call(name: str, wrap: bool = False) -> AsyncCall:
    """A deprecated coroutine for a helper PyMongo 4 removed (see _legacy)."""
    return AsyncCall(run=getattr(_legacy, name), deprecated=_legacy.DEPRECATIONS[name], wrap=wrap)


def _warn_deprecated(what: str, instead: str) -> None:
    warnings.warn(f"{what} is deprecated, use {instead} instead", DeprecationWarning, stacklevel=3)


# Strong references to tasks started by each(), which asyncio keeps only weakly.
_background_tasks: set = set()


# ---------------------------------------------------------------------------
# Client, database, collection


class AgnosticBaseProperties(AgnosticBase):
    codec_options = ReadOnlyProperty()
    read_preference = ReadOnlyProperty()
    read_concern = ReadOnlyProperty()
    write_concern = ReadOnlyProperty()

    def __hash__(self) -> int:
        return hash(self.delegate)

    def wrap(self, obj: Any) -> Any:
        """Wrap a PyMongo object (database, collection, cursor ...) in motorlike's class."""
        return wrapper_for_framework(self._framework)(self, obj)

    # Not iterable, as PyMongo's: without this, iter() would fall back to
    # __getitem__(0), (1) ... which names sub-databases/collections forever.
    # None (not a raising method) also keeps isinstance(x, Iterable) False.
    __iter__ = None

    @pymongo_parameters(Collection.watch)
    def watch(self, pipeline: Any = None, **kwargs: Any) -> AgnosticChangeStream[_DocumentType]:
        """A change stream on this client, database or collection, opened on first use.

        Arguments are those of PyMongo's ``watch``; nothing is sent until the
        stream is first used (``async with``, ``async for``, ``try_next``).
        """
        return generated_class(AgnosticChangeStream, self._framework)(self, pipeline, kwargs)


def _not_callable(obj: Any, method_name: str, parent_class_name: str) -> TypeError:
    return TypeError(
        f"'{type(obj).__name__}' object is not callable. If you meant to call the "
        f"'{method_name}' method on a '{parent_class_name}' object it is failing "
        "because no such method exists." + _legacy.removed_hint(method_name)
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
    #: waits for it.
    close = BackgroundMethod()
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
        return generated_class(AgnosticDatabase, self._framework)(self, name)



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

    def __init__(self, client: AgnosticClient, name: str, _delegate: Database | None = None, **kwargs: Any) -> None:
        self._client = client
        super().__init__(_delegate if _delegate is not None else Database(client.delegate, name, **kwargs))

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: Database) -> AgnosticDatabase:
        client = owner if isinstance(owner, AgnosticClient) else owner.client
        return cls(client, delegate.name, _delegate=delegate)

    @property
    def client(self) -> AgnosticClient[_DocumentType]:
        """The motorlike client this database belongs to."""
        return self._client

    def get_io_loop(self) -> Any:
        return self._client.get_io_loop()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(
                f"{type(self).__name__} has no attribute {name!r}. To access the {name} collection, use database[{name!r}]."
            )
        return self[name]

    def __getitem__(self, name: str) -> AgnosticCollection[_DocumentType]:
        return generated_class(AgnosticCollection, self._framework)(self, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise _not_callable(self, self.name, type(self._client).__name__)

    @pymongo_parameters(Database.aggregate)
    def aggregate(self, pipeline: Any, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[_DocumentType]:
        """Run a database-level aggregation; a latent cursor, nothing is sent until first use."""
        return generated_class(AgnosticLatentCommandCursor, self._framework)(self, "aggregate", pipeline, *args, **kwargs)



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
        database: AgnosticDatabase,
        name: str,
        codec_options: Any = None,
        read_preference: Any = None,
        write_concern: Any = None,
        read_concern: Any = None,
        _delegate: Collection | None = None,
    ) -> None:
        if not isinstance(database, AgnosticDatabase):
            raise TypeError(f"database must be a motorlike database, not {type(database).__name__}")
        self._database = database
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
        database = owner if isinstance(owner, AgnosticDatabase) else owner.database
        if database.delegate != delegate.database:
            # E.g. map_reduce's output collection in another database.
            database = database.client.wrap(delegate.database)
        return cls(database, delegate.name, _delegate=delegate)

    @property
    def database(self) -> AgnosticDatabase[_DocumentType]:
        """The motorlike database this collection belongs to."""
        return self._database

    def get_io_loop(self) -> Any:
        return self._database.get_io_loop()

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
        """Query the collection; returns a cursor at once, nothing is sent until first use."""
        args, kwargs = unwrap_arguments(args, kwargs)
        return generated_class(AgnosticCursor, self._framework)(self.delegate.find(*args, **kwargs), self)

    @pymongo_parameters(Cursor.__init__, skip=2)
    def find_raw_batches(self, *args: Any, **kwargs: Any) -> AgnosticRawBatchCursor[_DocumentType]:
        """Like :meth:`find`, but iterating yields raw BSON batches."""
        args, kwargs = unwrap_arguments(args, kwargs)
        return generated_class(AgnosticRawBatchCursor, self._framework)(self.delegate.find_raw_batches(*args, **kwargs), self)

    @pymongo_parameters(Collection.aggregate)
    def aggregate(self, pipeline: Any, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[_DocumentType]:
        """Run an aggregation; a latent cursor, nothing is sent until first use."""
        return generated_class(AgnosticLatentCommandCursor, self._framework)(self, "aggregate", pipeline, *args, **kwargs)

    @pymongo_parameters(Collection.aggregate_raw_batches)
    def aggregate_raw_batches(self, pipeline: Any, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[_DocumentType]:
        """Like :meth:`aggregate`, but iterating yields raw BSON batches."""
        return generated_class(AgnosticLatentCommandCursor, self._framework)(
            self, "aggregate_raw_batches", pipeline, *args, **kwargs
        )

    @pymongo_parameters(Collection.list_indexes)
    def list_indexes(self, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[MutableMapping[str, Any]]:
        """A cursor over the collection's index documents (use ``async for``)."""
        return generated_class(AgnosticLatentCommandCursor, self._framework)(self, "list_indexes", *args, **kwargs)

    @pymongo_parameters(Collection.list_search_indexes)
    def list_search_indexes(self, *args: Any, **kwargs: Any) -> AgnosticLatentCommandCursor[Mapping[str, Any]]:
        """A cursor over the collection's Atlas Search indexes."""
        return generated_class(AgnosticLatentCommandCursor, self._framework)(self, "list_search_indexes", *args, **kwargs)




# ---------------------------------------------------------------------------
# Cursors
#
# How documents travel (the one mechanism behind every cursor read):
#
# * Only a worker call holding the cursor's ``_worker_lock`` touches the
#   PyMongo cursor (see SerializedWorkerCalls), so one thread at a time
#   drives it, whatever loops and threads its readers run on.
# * That worker moves what it fetched into ``_Fetched.docs``, a deque owned
#   by motorlike, appending on the right. Readers take documents from the
#   left, on their own loop, one atomic ``popleft`` at a time. So a document
#   is handed out at most once, and in cursor order.
# * A reader takes documents only once its worker call is done and while it
#   is still waiting. A reader that gave up (cancelled, timed out, its loop
#   closed) takes nothing: what its call fetched stays for the next reader,
#   on whatever loop that runs.
# * ``exhausted`` is set after the last append; readers read it *before*
#   looking at ``docs``, so "exhausted and nothing buffered" means done.


#: _fetch_on_worker's answer when an empty batch came and next() should ask again.
_FETCH_AGAIN = "again"


class _Fetched:
    """What the workers fetched from one PyMongo cursor and no reader took yet."""

    __slots__ = ("cursor", "docs", "exhausted", "handed_out")

    def __init__(self, cursor: Any) -> None:
        #: The PyMongo cursor; None until a latent cursor's command runs.
        self.cursor = cursor
        self.docs: collections.deque = collections.deque()
        self.exhausted = False
        #: Documents taken so far (a give-back checks nobody read on since).
        self.handed_out = 0

    def take(self, length: int | None) -> list:
        """Up to ``length`` documents (all if None), in order, on the reader's loop."""
        docs = self.docs
        count = len(docs) if length is None else min(length, len(docs))
        taken: list = []
        append, popleft = taken.append, docs.popleft
        try:
            for _ in range(count):
                append(popleft())
        except IndexError:
            pass  # a reader on another thread took the rest
        self.handed_out += len(taken)
        return taken

    def give_back(self, taken: list, handed_out_then: int) -> None:
        """Put documents a reader took but never received back at the front."""
        if self.handed_out != handed_out_then:
            # Someone read on meanwhile: the next read gets these older
            # documents after newer ones. Rare (see doc/reliability.md); said.
            _log.warning(
                "motorlike: %d documents a cancelled to_list() had taken go back to the cursor "
                "after %d later ones were read",
                len(taken),
                self.handed_out - handed_out_then,
            )
        self.docs.extendleft(reversed(taken))
        self.handed_out -= len(taken)


def _fetch(fetched: _Fetched, cursor: Any, wanted: int | None) -> bool:
    """Worker, holding the cursor's lock: buffer ``wanted`` documents (None: all).

    Stops early at the end of the cursor, or at an empty batch (a tailable
    cursor with nothing new). Never loops on empty batches: that would hold
    the lock, and a thread, for as long as the server has nothing, however
    long ago the reader gave up. Returns whether documents are buffered.
    """
    docs = fetched.docs
    if fetched.exhausted:
        return bool(docs)
    if _is_empty(cursor):
        fetched.exhausted = True
        return bool(docs)
    while True:
        data = _buffer(cursor)
        if data is not docs:
            # A batch PyMongo received: it joins ours, and ours becomes
            # PyMongo's buffer again, so that anything reading the PyMongo
            # cursor (its alive, PyMongo's own tests) sees the documents.
            docs.extend(data)
            _set_buffer(cursor, docs)
        if _server_done(cursor):
            fetched.exhausted = True
            return bool(docs)
        if wanted is not None and len(docs) >= wanted:
            return True
        _set_buffer(cursor, collections.deque())  # PyMongo fetches only into an empty buffer
        if not _refill(cursor) and not _server_done(cursor):
            # Another fetch may follow later: a tailable cursor, or a
            # server that answered an empty batch.
            _set_buffer(cursor, docs)
            return bool(docs)


class AgnosticBaseCursor(SerializedWorkerCalls, AgnosticBase):
    """What find cursors and command cursors share.

    Documents already fetched are returned without leaving the event loop's
    thread; only fetching a batch goes to a worker (see the notes above).
    All instance state is set in ``__init__`` (never class defaults), so
    that proxy subclasses like umongo's, which skip ``__init__`` and forward
    attribute access, see the proxied cursor's state.
    """

    __hash__ = None  # type: ignore[assignment]

    address = ReadOnlyProperty()
    cursor_id = ReadOnlyProperty()
    session = ReadOnlyProperty()

    #: Applied to each document handed out (GridFS cursors make GridOuts).
    _transform: Callable[[Any, Any], Any] | None = None

    def __init__(self, cursor: Any, collection: Any) -> None:
        super().__init__(cursor)
        self._collection = collection
        self.started = False
        self.closed = False
        self._fetched = _Fetched(cursor)
        self._init_worker_lock()

    @property
    def collection(self) -> Any:
        """The object this cursor came from: a collection, or for command
        cursors possibly a database or client."""
        return self._collection

    def get_io_loop(self) -> Any:
        return self._collection.get_io_loop()

    @property
    def alive(self) -> bool:
        """Whether the cursor may still return documents."""
        fetched = self._fetched
        if fetched.docs:
            return True
        if fetched.exhausted:
            return False
        delegate = self.delegate
        return True if delegate is None else delegate.alive

    def _ensure_started(self) -> Any:
        """Worker-side: the PyMongo cursor (latent cursors create it here)."""
        self.started = True
        return self.delegate

    def _fetch_on_worker(self, fetched: _Fetched, wanted: int | None, for_next: bool) -> Any:
        """True if documents are buffered; ``_FETCH_AGAIN`` if ``next()`` should ask again."""
        if fetched.exhausted:
            # Closed or rewound meanwhile (the lock is not first come, first
            # served): never start a latent cursor's command after close().
            return bool(fetched.docs)
        cursor = fetched.cursor
        if cursor is None:
            cursor = fetched.cursor = self._ensure_started()
        self.started = True
        buffered = _fetch(fetched, cursor, wanted)
        if not buffered and for_next and isinstance(cursor, CommandCursor) and not fetched.exhausted:
            # PyMongo's CommandCursor.next() goes on through empty batches:
            # so does __anext__, one worker call per batch, from the loop.
            return _FETCH_AGAIN
        return buffered

    def _hand_out(self, documents: list) -> list:
        transform = self._transform
        return documents if transform is None else [transform(document) for document in documents]

    def _buffered(self) -> int:
        return len(self._fetched.docs)

    def __aiter__(self) -> AgnosticBaseCursor[_DocumentType]:
        return self

    async def __anext__(self) -> _DocumentType:
        while True:
            fetched = self._fetched
            exhausted = fetched.exhausted  # before looking at docs: see the notes above
            try:
                document = fetched.docs.popleft()
            except IndexError:
                if exhausted:
                    raise StopAsyncIteration from None
            else:
                transform = self._transform
                return document if transform is None else transform(document)
            if not await self._run(self._fetch_on_worker, fetched, 1, True) and not fetched.docs:
                raise StopAsyncIteration

    async def next(self) -> _DocumentType:
        """The next document; raises StopAsyncIteration when exhausted."""
        return await self.__anext__()

    async def try_next(self) -> _DocumentType | None:
        """The next document, or None if none arrived after one fetch."""
        fetched = self._fetched
        exhausted = fetched.exhausted
        if fetched.docs or exhausted:
            taken = fetched.take(1)
            return self._hand_out(taken)[0] if taken else None
        await self._run(self._fetch_on_worker, fetched, 1, False)
        taken = fetched.take(1)
        return self._hand_out(taken)[0] if taken else None

    def to_list(self, length: int | None = None) -> Any:
        """A future of a list of up to ``length`` documents (all if None).

        Documents already buffered are used first; the rest is fetched in a
        single worker call however many batches it takes. A caller that stops
        waiting takes nothing: the next read gets every document, in order.
        """
        _validate_length(length)
        delegate = self.delegate
        if delegate is not None and _is_tailable(delegate):
            raise InvalidOperation("Can't call to_list on tailable cursor")
        framework = self._framework
        loop = framework.to_asyncio_loop(self.get_io_loop())
        fetched = self._fetched
        exhausted = fetched.exhausted
        future = framework.returnable_future(loop)

        def deliver(future: Any, _: Any, error: BaseException | None) -> None:
            # On the caller's loop, once the worker is done (or at once).
            if future.done():
                return  # the caller gave up: the documents stay buffered
            if error is not None:
                future.set_exception(error)
                return
            taken = fetched.take(length)
            try:
                documents = self._hand_out(taken)
            except Exception as exc:  # noqa: BLE001 - e.g. a bad GridFS file document
                fetched.give_back(taken, fetched.handed_out)
                future.set_exception(exc)
                return
            # Should the caller be cancelled before it takes them, they go back.
            handed_out = fetched.handed_out
            future.resolve(documents, lambda: fetched.give_back(taken, handed_out))

        if length == 0 or exhausted or (length is not None and len(fetched.docs) >= length):
            deliver(future, None, None)
            return future
        return self._run(self._fetch_on_worker, fetched, length, False, loop=loop, deliver=deliver, future=future)

    @property
    def fetch_next(self) -> Any:
        """Deprecated: a future that is True when a document can be had with next_object()."""
        _warn_deprecated("fetch_next", "'async for' or to_list()")
        loop = self._framework.to_asyncio_loop(self.get_io_loop())
        fetched = self._fetched
        exhausted = fetched.exhausted
        if fetched.docs or exhausted:
            future = loop.create_future()
            future.set_result(bool(fetched.docs))
            return future

        def deliver(future: Any, _: Any, error: BaseException | None) -> None:
            if future.done():
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(bool(fetched.docs))

        return self._run(self._fetch_on_worker, fetched, 1, False, loop=loop, deliver=deliver)

    def next_object(self) -> _DocumentType | None:
        """Deprecated: the next buffered document (after fetch_next), or None."""
        _warn_deprecated("next_object", "'async for' or to_list()")
        taken = self._fetched.take(1)
        return self._hand_out(taken)[0] if taken else None

    def each(self, callback: Callable[[Any, Any], Any]) -> None:
        """Deprecated: call ``callback(document, None)`` for each document.

        Then ``callback(None, None)`` when done, or ``callback(None, error)``
        on an error. Returning False from the callback stops the iteration.
        """
        if not callable(callback):
            raise TypeError("callback must be a callable")
        _warn_deprecated("each", "'async for'")
        loop = self._framework.to_asyncio_loop(self.get_io_loop())

        async def iterate() -> None:
            while True:
                try:
                    document = await self.__anext__()
                except StopAsyncIteration:
                    callback(None, None)
                    return
                except Exception as exc:  # noqa: BLE001 - handed to the callback
                    callback(None, exc)
                    return
                if callback(document, None) is False:
                    return

        task = loop.create_task(iterate())
        _background_tasks.add(task)
        task.add_done_callback(_background_tasks.discard)

    def batch_size(self, batch_size: int) -> AgnosticBaseCursor[_DocumentType]:
        """Limit the number of documents per batch; returns this cursor."""
        self.delegate.batch_size(batch_size)
        return self

    def _close_on_worker(self, fetched: _Fetched) -> None:
        # A latent cursor's command may have run on a path that did not
        # record it in ``fetched`` (synchro starts it directly).
        cursor = fetched.cursor if fetched.cursor is not None else self.delegate
        if cursor is not None and _buffer(cursor) is not fetched.docs:
            # What is buffered stays readable, a first batch still in
            # PyMongo's own buffer included.
            fetched.docs.extend(_buffer(cursor))
            _set_buffer(cursor, fetched.docs)
        fetched.exhausted = True  # nothing more is fetched
        if cursor is not None:
            cursor.close()

    async def close(self) -> None:
        """Kill the cursor on the server, if it is still open there.

        Waits for a fetch still running on this cursor (one whose caller gave
        up, say) to finish first: one thread at a time drives a cursor. The
        close runs even if the caller stops waiting for it.
        """
        if self.closed:
            return
        self.closed = True
        loop = self._framework.to_asyncio_loop(self.get_io_loop())
        await BackgroundCall(self._close_on_worker, self._fetched, lock=self._worker_lock).on_loop(loop)

    async def __aenter__(self) -> AgnosticBaseCursor[_DocumentType]:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __enter__(self) -> Any:
        raise TypeError(f"use 'async with' with {type(self).__name__}, not 'with'")

    def __exit__(self, *exc_info: Any) -> None:
        """Never reached: __enter__ refuses."""

    def __iter__(self) -> Any:
        raise TypeError(f"'{type(self).__name__}' object is not iterable; use 'async for'")


@wraps_pymongo(Cursor)
class AgnosticCursor(AgnosticBaseCursor):
    __motor_class_name__ = "MotorCursor"

    add_option = MotorCursorChainingMethod()
    allow_disk_use = MotorCursorChainingMethod()
    collation = MotorCursorChainingMethod()
    comment = MotorCursorChainingMethod()
    hint = MotorCursorChainingMethod()
    limit = MotorCursorChainingMethod()
    max = MotorCursorChainingMethod()
    max_await_time_ms = MotorCursorChainingMethod()
    max_scan = MotorCursorChainingMethod()
    max_time_ms = MotorCursorChainingMethod()
    min = MotorCursorChainingMethod()
    remove_option = MotorCursorChainingMethod()
    skip = MotorCursorChainingMethod()
    sort = MotorCursorChainingMethod()
    where = MotorCursorChainingMethod()

    distinct = AsyncCall()
    explain = AsyncCall()

    retrieved = ReadOnlyProperty()

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: Cursor) -> AgnosticCursor:
        collection = owner.collection if isinstance(owner, AgnosticBaseCursor) else owner
        return cls(delegate, collection)

    def rewind(self) -> AgnosticCursor[_DocumentType]:
        """Rewind to the unevaluated state; the query runs again on next use.

        Never blocks the loop: the cursor starts over as a fresh PyMongo
        cursor with the same options, and the old server cursor, if any, is
        killed on a worker once any fetch still running on it is over.
        """
        old = self._fetched
        self.delegate = self.delegate.clone()
        self._fetched = _Fetched(self.delegate)
        # Also stops reads still queued for the old cursor from starting it.
        BackgroundCall(self._close_on_worker, old, lock=self._worker_lock)
        self.started = False
        self.closed = False
        return self

    def clone(self) -> AgnosticCursor[_DocumentType]:
        """A new, unevaluated cursor with the same options."""
        return type(self)(self.delegate.clone(), self.collection)

    def __copy__(self) -> AgnosticCursor[_DocumentType]:
        return type(self)(self.delegate.__copy__(), self.collection)

    def __deepcopy__(self, memo: Any) -> AgnosticCursor[_DocumentType]:
        return type(self)(self.delegate.__deepcopy__(memo), self.collection)

    def __getitem__(self, index: Any) -> AgnosticCursor[_DocumentType]:
        """Set skip and limit, as Motor 2 did; returns this cursor.

        ``cursor[10:20]`` reads documents 10 to 19; ``cursor[100]`` reads
        document 100 alone (zero or one document: iterate it, or
        ``to_list(1)``). Reading the document at once, as PyMongo's
        ``cursor[100]`` does, would block.
        """
        if isinstance(index, slice):
            self.delegate[index]
            return self
        if isinstance(index, int) and not isinstance(index, bool):
            if index < 0:
                raise IndexError("Cursor instances do not support negative indices")
            delegate = self.delegate
            delegate.skip(_skip_of(delegate) + index)
            delegate.limit(-1)  # one document, in a single batch
            return self
        raise TypeError(f"index {index!r} cannot be applied to {type(self).__name__}")


@wraps_pymongo(RawBatchCursor)
class AgnosticRawBatchCursor(AgnosticCursor):
    __motor_class_name__ = "MotorRawBatchCursor"


@wraps_pymongo(CommandCursor)
class AgnosticCommandCursor(AgnosticBaseCursor):
    __motor_class_name__ = "MotorCommandCursor"

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: CommandCursor) -> AgnosticCommandCursor:
        return cls(delegate, owner)


@wraps_pymongo(RawBatchCommandCursor)
class AgnosticRawBatchCommandCursor(AgnosticCommandCursor):
    __motor_class_name__ = "MotorRawBatchCommandCursor"


class AgnosticLatentCommandCursor(AgnosticCommandCursor):
    """A command cursor whose command runs on first use (aggregate, list_indexes ...).

    ``collection.aggregate(pipeline)`` returns at once, without ``await``;
    the aggregation is sent when the cursor is first iterated, so a bad
    pipeline raises there.
    """

    __motor_class_name__ = "MotorLatentCommandCursor"
    __delegate_class__ = CommandCursor

    def __init__(self, owner: Any, start_method: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(None, owner)
        args, kwargs = unwrap_arguments(args, kwargs)
        self._start_method = start_method
        self._start_args = args
        self._start_kwargs = kwargs
        self._pending_batch_size: int | None = None

    def _ensure_started(self) -> Any:
        if self.delegate is None:
            start = getattr(self.collection.delegate, self._start_method)
            kwargs = self._start_kwargs
            if self._pending_batch_size is not None and self._start_method.startswith("aggregate"):
                kwargs = {"batchSize": self._pending_batch_size, **kwargs}
            cursor = start(*self._start_args, **kwargs)
            if self._pending_batch_size is not None:
                cursor.batch_size(self._pending_batch_size)
            self.delegate = cursor
        self.started = True
        return self.delegate

    def batch_size(self, batch_size: int) -> AgnosticLatentCommandCursor[_DocumentType]:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool):
            raise TypeError(f"batch_size must be an integer, not {type(batch_size).__name__}")
        if batch_size < 0:
            raise ValueError("batch_size must be >= 0")
        if self.delegate is None:
            self._pending_batch_size = batch_size
        else:
            self.delegate.batch_size(batch_size)
        return self

    @property
    def cursor_id(self) -> Any:  # type: ignore[override]
        return None if self.delegate is None else self.delegate.cursor_id

    @property
    def address(self) -> Any:  # type: ignore[override]
        return None if self.delegate is None else self.delegate.address

    @property
    def session(self) -> Any:  # type: ignore[override]
        return None if self.delegate is None else self.delegate.session


# ---------------------------------------------------------------------------
# Change streams


@wraps_pymongo(ChangeStream)
class AgnosticChangeStream(SerializedWorkerCalls, AgnosticBase):
    """A change stream, opened on first use.

    Each wait for a change is one ``try_next`` on a worker, bounded by the
    server's ``maxAwaitTimeMS``; between waits no thread is held, so a
    stream that sees no changes for hours costs no worker. PyMongo resumes
    the stream after a resumable error (a dropped connection ...).
    """

    __motor_class_name__ = "MotorChangeStream"
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, target: Any, pipeline: Any, options: Mapping[str, Any]) -> None:
        super().__init__(None)
        _, options = unwrap_arguments((), dict(options))
        self._target = target
        self._pipeline = pipeline
        self._options = options
        self._closed = False
        # Changes fetched by a worker and not yet handed out: appended by
        # workers holding the lock, popped by readers (as cursors' _Fetched).
        self._received: collections.deque = collections.deque()
        self._init_worker_lock()

    def get_io_loop(self) -> Any:
        return self._target.get_io_loop()

    def _open_on_worker(self) -> Any:
        if self.delegate is None and not self._closed:
            self.delegate = self._target.delegate.watch(self._pipeline, **self._options)
        return self.delegate

    def _try_next_on_worker(self) -> None:
        # The change is left for the loop thread to take, so one whose
        # waiter was cancelled (wait_for(stream.next(), t)) is not lost.
        if self._received or self._closed:
            return  # an earlier, abandoned call already fetched one; or closed meanwhile
        change = self._open_on_worker().try_next()
        if change is not None:
            self._received.append(change)

    @property
    def resume_token(self) -> Mapping[str, Any] | None:
        """The token to resume after the last change seen; None before the stream opens."""
        return None if self.delegate is None else self.delegate.resume_token

    @property
    def alive(self) -> bool:
        """False once the stream is closed or has failed for good."""
        if self._closed:
            return False
        return True if self.delegate is None else self.delegate.alive

    def _take(self) -> Any:
        try:
            return self._received.popleft()
        except IndexError:  # empty, or a reader on another thread took it
            return None

    async def try_next(self) -> _DocumentType | None:
        """The next change, or None if none came within one server wait or the stream is closed."""
        change = self._take()
        if change is not None or self._closed:
            # After close(), PyMongo and Motor document None; next() ends on alive.
            return change
        await self._run(self._try_next_on_worker)
        return self._take()

    async def next(self) -> _DocumentType:
        """Wait for the next change; raises StopAsyncIteration once closed."""
        while self.alive:
            change = await self.try_next()
            if change is not None:
                return change
        raise StopAsyncIteration

    __anext__ = next

    def __aiter__(self) -> AgnosticChangeStream[_DocumentType]:
        return self

    async def close(self) -> None:
        """Close the stream and kill its server cursor."""
        if self._closed:
            return
        self._closed = True
        loop = self._framework.to_asyncio_loop(self.get_io_loop())
        # A background call: it runs even if we stop waiting.
        await BackgroundCall(self._close_on_worker, lock=self._worker_lock).on_loop(loop)

    def _close_on_worker(self) -> None:
        # Holding the lock: an open still in flight has set delegate by now.
        if self.delegate is not None:
            self.delegate.close()

    async def __aenter__(self) -> AgnosticChangeStream[_DocumentType]:
        await self._run(self._open_on_worker)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    def __enter__(self) -> Any:
        raise RuntimeError(f"use 'async with' with {type(self).__name__}, not 'with'")

    def __exit__(self, *exc_info: Any) -> None:
        """Never reached: __enter__ refuses."""


# ---------------------------------------------------------------------------
# Sessions and transactions

# PyMongo's limit on retrying a with_transaction callback and its commit.
_WITH_TRANSACTION_RETRY_TIME_LIMIT = 120


def _within_time_limit(start: float) -> bool:
    return time.monotonic() - start < _WITH_TRANSACTION_RETRY_TIME_LIMIT


def _max_time_expired(error: PyMongoError) -> bool:
    if isinstance(error, OperationFailure):
        if error.code == 50:
            return True
        details = error.details or {}
        return (details.get("writeConcernError") or {}).get("codeName") == "MaxTimeMSExpired"
    return False


class _MotorTransactionContext:
    """What ``session.start_transaction()`` returns: commits or aborts on exit."""

    __slots__ = ("_session",)

    def __init__(self, session: AgnosticClientSession) -> None:
        self._session = session

    async def __aenter__(self) -> _MotorTransactionContext:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        if self._session.in_transaction:
            if exc_type is None:
                await self._session.commit_transaction()
            else:
                await self._session.abort_transaction()


class _BoundSession:
    """What ``session.bind()`` returns: PyMongo's binding, entered in the caller's context."""

    __slots__ = ("_session", "_end_session", "_binding")

    def __init__(self, session: AgnosticClientSession, end_session: bool) -> None:
        self._session = session
        self._end_session = end_session
        self._binding: Any = None

    def __enter__(self) -> AgnosticClientSession:
        if self._end_session:
            raise TypeError(
                "bind() ends the session on exit, which needs 'async with' (a coroutine); "
                "use 'with session.bind(end_session=False)' for a plain 'with'"
            )
        self._binding = self._session.delegate.bind(end_session=False)
        self._binding.__enter__()
        return self._session

    def __exit__(self, *exc_info: Any) -> None:
        self._binding.__exit__(*exc_info)

    async def __aenter__(self) -> AgnosticClientSession:
        self._binding = self._session.delegate.bind(end_session=False)
        self._binding.__enter__()
        return self._session

    async def __aexit__(self, *exc_info: Any) -> None:
        self._binding.__exit__(*exc_info)
        if self._end_session:
            await self._session.end_session()


@wraps_pymongo(ClientSession)
class AgnosticClientSession(AgnosticBase):
    __motor_class_name__ = "MotorClientSession"
    __hash__ = None  # type: ignore[assignment]

    abort_transaction = AsyncCall()
    commit_transaction = AsyncCall()
    end_session = AsyncCall()

    cluster_time = ReadOnlyProperty()
    has_ended = ReadOnlyProperty()
    in_transaction = ReadOnlyProperty()
    operation_time = ReadOnlyProperty()
    options = ReadOnlyProperty()
    session_id = ReadOnlyProperty()

    advance_cluster_time = DelegateMethod()
    advance_operation_time = DelegateMethod()

    def __init__(self, delegate: ClientSession, motor_client: AgnosticClient) -> None:
        super().__init__(delegate)
        self._client = motor_client

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: ClientSession) -> AgnosticClientSession:
        return cls(delegate, owner)

    @property
    def client(self) -> AgnosticClient:
        """The motorlike client this session was started from."""
        return self._client

    def get_io_loop(self) -> Any:
        return self._client.get_io_loop()

    def start_transaction(
        self,
        read_concern: Any = None,
        write_concern: Any = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
    ) -> _MotorTransactionContext:
        """Start a transaction (no I/O); ``async with`` commits it or aborts on error."""
        self.delegate.start_transaction(
            read_concern=read_concern,
            write_concern=write_concern,
            read_preference=read_preference,
            max_commit_time_ms=max_commit_time_ms,
        )
        return _MotorTransactionContext(self)

    async def with_transaction(
        self,
        coro: Callable[[Any], Coroutine[Any, Any, Any]],  # Any: each framework passes its own session class
        read_concern: Any = None,
        write_concern: Any = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
    ) -> Any:
        """Run ``await coro(session)`` in a transaction, retrying as Motor does.

        The whole callback is retried on a TransientTransactionError, the
        commit alone on an UnknownTransactionCommitResult (not after a
        MaxTimeMSExpired), for up to 120 s; then the last error is raised.
        Retries follow at once: PyMongo 4.20's randomised backoff between
        them is not applied.
        """
        start = time.monotonic()
        while True:
            self.start_transaction(read_concern, write_concern, read_preference, max_commit_time_ms)
            try:
                result = await coro(self)
            except BaseException as exc:
                if self.in_transaction:
                    await self.abort_transaction()
                if (
                    isinstance(exc, PyMongoError)
                    and exc.has_error_label("TransientTransactionError")
                    and _within_time_limit(start)
                ):
                    continue
                raise
            if not self.in_transaction:
                # The callback committed or aborted by itself.
                return result
            while True:
                try:
                    await self.commit_transaction()
                except PyMongoError as exc:
                    if (
                        exc.has_error_label("UnknownTransactionCommitResult")
                        and _within_time_limit(start)
                        and not _max_time_expired(exc)
                    ):
                        continue
                    if exc.has_error_label("TransientTransactionError") and _within_time_limit(start):
                        break
                    raise
                return result

    def bind(self, end_session: bool = True) -> _BoundSession:
        """Use this session implicitly for operations in the block.

        ``async with session.bind():`` makes every operation started inside
        it (in this task) use the session without passing ``session=``; the
        binding travels to the worker threads with the task's context. As
        with PyMongo's ``bind``, the session is ended on exit unless
        ``end_session=False`` (which a plain ``with`` needs).
        """
        return _BoundSession(self, end_session)

    def __copy__(self) -> Any:
        # As PyMongo's: a copy would share the server session's state.
        raise TypeError("A ClientSession cannot be copied, create a new session instead")

    def __deepcopy__(self, memo: Any) -> Any:
        raise TypeError("A ClientSession cannot be copied, create a new session instead")

    async def __aenter__(self) -> AgnosticClientSession:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.end_session()

    def __enter__(self) -> Any:
        raise AttributeError(f"use 'async with' with {type(self).__name__}, not 'with'")

    def __exit__(self, *exc_info: Any) -> None:
        """Never reached: __enter__ refuses."""


# ---------------------------------------------------------------------------
# Client-side field level encryption

try:
    from pymongo.synchronous.encryption import ClientEncryption as _ClientEncryption
except ImportError:  # pragma: no cover - PyMongo always ships the module
    _ClientEncryption = None


@wraps_pymongo(_ClientEncryption)
class AgnosticClientEncryption(AgnosticBase):
    """Explicit encryption and key management (needs ``pymongo[encryption]``)."""

    __motor_class_name__ = "MotorClientEncryption"
    __hash__ = None  # type: ignore[assignment]

    add_key_alt_name = AsyncCall()
    close = AsyncCall()
    create_data_key = AsyncCall()
    decrypt = AsyncCall()
    delete_key = AsyncCall()
    encrypt = AsyncCall()
    encrypt_expression = AsyncCall()
    get_key = AsyncCall()
    get_key_by_alt_name = AsyncCall()
    remove_key_alt_name = AsyncCall()
    rewrap_many_data_key = AsyncCall()

    def __init__(
        self,
        kms_providers: Mapping[str, Any],
        key_vault_namespace: str,
        key_vault_client: AgnosticClient,
        codec_options: Any,
        io_loop: Any = None,
        kms_tls_options: Mapping[str, Any] | None = None,
        key_expiration_ms: int | None = None,
    ) -> None:
        if io_loop is not None:
            self._framework.check_event_loop(io_loop)
        if not isinstance(key_vault_client, AgnosticClient):
            raise TypeError(f"key_vault_client must be a motorlike client, not {type(key_vault_client).__name__}")
        self._io_loop = io_loop
        self._key_vault_client = key_vault_client
        options: dict[str, Any] = {"kms_tls_options": kms_tls_options}
        if key_expiration_ms is not None:
            options["key_expiration_ms"] = key_expiration_ms
        super().__init__(
            _ClientEncryption(kms_providers, key_vault_namespace, key_vault_client.delegate, codec_options, **options)
        )
        self._key_vault_namespace = key_vault_namespace

    def get_io_loop(self) -> Any:
        if self._io_loop is not None:
            return self._io_loop
        return self._key_vault_client.get_io_loop()

    @property
    def io_loop(self) -> Any:
        return self.get_io_loop()

    def _key_vault_collection(self) -> AgnosticCollection:
        database, collection = self._key_vault_namespace.split(".", 1)
        return self._key_vault_client[database][collection]

    async def get_keys(self) -> AgnosticCursor:
        """A cursor over all data keys in the key vault."""
        framework = self._framework
        cursor = await framework.submit(framework.to_asyncio_loop(self.get_io_loop()), self.delegate.get_keys, (), {})
        return generated_class(AgnosticCursor, self._framework)(cursor, self._key_vault_collection())

    async def create_encrypted_collection(
        self, database: AgnosticDatabase, name: str, encrypted_fields: Mapping[str, Any], **kwargs: Any
    ) -> tuple[AgnosticCollection, Mapping[str, Any]]:
        """Create a collection with encrypted fields; returns it and the final field map."""
        _, kwargs = unwrap_arguments((), kwargs)
        framework = self._framework
        collection, fields = await framework.submit(
            framework.to_asyncio_loop(self.get_io_loop()),
            self.delegate.create_encrypted_collection,
            (database.delegate, name, encrypted_fields),
            kwargs,
        )
        return database.wrap(collection), fields

    async def __aenter__(self) -> AgnosticClientEncryption:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

