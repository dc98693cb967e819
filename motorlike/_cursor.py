"""Cursor declarations: find, raw-batch, command and latent command cursors.
"""

from __future__ import annotations

import collections
import logging
from typing import Any, Callable

from pymongo.errors import InvalidOperation
from pymongo.synchronous.collection import Collection as PyMongoCollection
from pymongo.synchronous.command_cursor import CommandCursor, RawBatchCommandCursor
from pymongo.synchronous.cursor import Cursor, RawBatchCursor
from pymongo.typings import _DocumentType  # annotations only: the stubs' document type

from motorlike._base import _validate_length, _warn_deprecated, wraps_a
from motorlike._internals import _buffer, _is_empty, _is_tailable, _refill, _server_done, _set_buffer, _skip_of
from motorlike._bridge import BackgroundCall, lane_of
from motorlike.metaprogramming import (
    AgnosticBase,
    AsyncCall,
    MotorCursorChainingMethod,
    ReadOnlyProperty,
    SerializedWorkerCalls,
    unwrap_arguments,
    wraps_pymongo,
)

_log = logging.getLogger("motorlike")



# ---------------------------------------------------------------------------
# Cursors
#
# How documents travel (the one mechanism behind every cursor read):
#
# * Only a call on the cursor's strand touches the PyMongo cursor (see
#   motorlike._strand): calls run one at a time, in the order they were
#   made, whatever loops and threads its readers run on.
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
# * ``async for`` may start one prefetch (a background call on the strand,
#   like any other) when half of what the last fetch left remains: it only
#   appends, so the rules above hold. Its error waits in ``_Fetched.error``
#   and is raised by the first read that needs more documents than are
#   buffered (``to_list``, ``__anext__``, ``try_next``, ``fetch_next``):
#   never traded for a short result or a reported end.
# * ``close()`` marks the cursor closed at once: reads made after it hand
#   out what is buffered and then end, without a worker call; a prefetch
#   still queued or running drops what it fetches (nobody asked for it),
#   and the server cursor is killed on the strand after the calls made
#   before it.


#: _fetch_on_worker's answer when an empty batch came and next() should ask again.
_FETCH_AGAIN = "again"


class _Fetched:
    """What the workers fetched from one PyMongo cursor and no reader took yet."""

    __slots__ = ("cursor", "docs", "exhausted", "handed_out", "low_water", "prefetching", "error", "closing")

    def __init__(self, cursor: Any) -> None:
        #: The PyMongo cursor; None until a latent cursor's command runs.
        self.cursor = cursor
        self.docs: collections.deque = collections.deque()
        self.exhausted = False
        #: Documents taken so far (a give-back checks nobody read on since).
        self.handed_out = 0
        #: ``async for`` starts fetching the next batch when no more than
        #: this many documents are left (half of what the last fetch left);
        #: -1 until a fetch has run, and for cursors that never prefetch.
        self.low_water = -1
        #: A prefetch is queued or running (set on the loop, cleared on the strand).
        self.prefetching = False
        #: What a prefetch raised; raised by the first read that needs more
        #: documents than are buffered.
        self.error: BaseException | None = None
        #: Set by close() and rewind() on the loop: a prefetch drops what it fetches.
        self.closing = False

    def ended(self) -> bool:
        """Nothing more will be fetched: the end came (and no prefetch error
        waits to be raised), or the cursor was closed. Read on the loop."""
        return (self.exhausted and self.error is None) or self.closing

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


def _fetch(
    fetched: _Fetched, cursor: Any, wanted: int | None, batches: int | None = None, prefetch: bool = False
) -> bool:
    """On the strand: buffer ``wanted`` documents (None: all).

    Stops early at the end of the cursor, or at an empty batch (a tailable
    cursor with nothing new), or after ``batches`` batches. Never loops on
    empty batches: that would hold the strand, and a thread, for as long as
    the server has nothing, however long ago the reader gave up. Returns
    whether documents are buffered. A ``prefetch`` drops its batch if the
    cursor was closed meanwhile.
    """
    docs = fetched.docs
    refills = 0
    if fetched.exhausted:
        return bool(docs)
    if _is_empty(cursor):
        fetched.exhausted = True
        return bool(docs)
    while True:
        data = _buffer(cursor)
        if prefetch and fetched.closing:
            return bool(docs)
        if data is not docs:
            # A batch PyMongo received: it joins ours, and ours becomes
            # PyMongo's buffer again, so that anything reading the PyMongo
            # cursor (its alive, PyMongo's own tests) sees the documents.
            docs.extend(data)
            _set_buffer(cursor, docs)
        if _server_done(cursor):
            fetched.exhausted = True
            return bool(docs)
        if (wanted is not None and len(docs) >= wanted) or (batches is not None and refills >= batches):
            return bool(docs)
        _set_buffer(cursor, collections.deque())  # PyMongo fetches only into an empty buffer
        refills += 1
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
    #: Whether ``async for`` fetches the next batch ahead (never for a
    #: tailable cursor: its getMore waits for new documents).
    _prefetches = True

    def __init__(self, cursor: Any, *args: Any, **kwargs: Any) -> None:
        """Motor's form, ``(pymongo_cursor, collection)``, as the collection's
        methods make them; or PyMongo's constructor with a motorlike
        collection: ``AsyncIOMotorCursor(collection, filter, ...)``,
        ``AsyncIOMotorCommandCursor(collection, cursor_info, address, ...)``.
        Neither sends anything to the server."""
        if isinstance(cursor, AgnosticBase):
            collection = cursor
            cursor = self._pymongo_cursor(collection, args, kwargs)
        elif isinstance(cursor, PyMongoCollection):
            raise TypeError(f"{type(self).__name__}() needs a motorlike collection, not PyMongo's Collection")
        elif len(args) == 1 and not kwargs:
            (collection,) = args
        elif not args and list(kwargs) == ["collection"]:
            collection = kwargs["collection"]
        else:
            raise TypeError(
                f"{type(self).__name__}() takes a PyMongo cursor and its collection, "
                "or a motorlike collection followed by PyMongo's cursor arguments"
            )
        super().__init__(cursor)
        self.collection = collection
        self.started = False
        self.closed = False
        self._fetched = _Fetched(cursor)
        self._init_strand()

    @classmethod
    def _pymongo_cursor(cls, collection: Any, args: tuple, kwargs: dict) -> Any:
        if not wraps_a(collection, PyMongoCollection):
            raise TypeError(f"{cls.__name__}() needs a motorlike collection, not {type(collection).__name__}")
        args, kwargs = unwrap_arguments(args, kwargs)
        return cls.__delegate_class__(collection.delegate, *args, **kwargs)  # type: ignore[attr-defined]

    @property
    def collection(self) -> Any:
        """The object this cursor came from: a collection, or for command
        cursors possibly a database or client.

        Set once, by the constructor (a subclass's own ``__init__`` may set
        it, as Motor's did), then read-only, as PyMongo's.
        """
        return self._motorlike_collection

    @collection.setter
    def collection(self, collection: Any) -> None:
        if "_motorlike_collection" in self.__dict__:
            raise AttributeError(f"{type(self).__name__}.collection is read-only once set")
        self._motorlike_collection = collection

    def get_io_loop(self) -> Any:
        return self._motorlike_collection.get_io_loop()

    def _find_lane(self) -> Any:
        return lane_of(self.collection)

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
        error = fetched.error
        if error is not None:
            if wanted is not None and len(fetched.docs) >= wanted:
                return True  # the documents fetched before the error go first
            # A prefetch failed: the reader who needs what it was fetching
            # gets its error, once (the buffered documents stay readable).
            fetched.error = None
            raise error
        if fetched.exhausted:
            # Closed or rewound by an earlier call: never start a latent
            # cursor's command after close().
            return bool(fetched.docs)
        cursor = fetched.cursor
        if cursor is None:
            cursor = fetched.cursor = self._ensure_started()
        self.started = True
        buffered = _fetch(fetched, cursor, wanted)
        # Never ahead of a tailable cursor (its getMore waits for new data),
        # nor with an explicit session: PyMongo's sessions are not
        # thread-safe, and the caller may use it meanwhile.
        if self._prefetches and not _is_tailable(cursor) and cursor.session is None:
            fetched.low_water = len(fetched.docs) // 2
        if not buffered and for_next and isinstance(cursor, CommandCursor) and not fetched.exhausted:
            # PyMongo's CommandCursor.next() goes on through empty batches:
            # so does __anext__, one worker call per batch, from the loop.
            return _FETCH_AGAIN
        return buffered

    def _prefetch_on_worker(self, fetched: _Fetched) -> None:
        """On the strand: fetch one more batch for ``async for``.

        Its outcome goes nowhere but ``fetched``: documents are appended in
        order, as any fetch's; an error waits in ``fetched.error`` for the
        first reader that needs more documents than are buffered. Dropped
        if the cursor was closed or rewound meanwhile.
        """
        try:
            cursor = fetched.cursor
            if cursor is not None and fetched.error is None and not fetched.exhausted and not fetched.closing:
                _fetch(fetched, cursor, None, batches=1, prefetch=True)
                fetched.low_water = len(fetched.docs) // 2
        except BaseException as exc:  # noqa: BLE001 - kept for the reader
            if not fetched.closing:
                fetched.error = exc
        finally:
            fetched.prefetching = False

    def _start_prefetch(self, fetched: _Fetched) -> None:
        fetched.prefetching = True
        fetched.low_water = -1  # until this prefetch has fetched
        try:
            # A background call on the strand: nobody waits for it.
            self._run_in_background(self._prefetch_on_worker, fetched)
        except BaseException:  # noqa: BLE001 - no thread to be had: only an optimisation is lost
            fetched.prefetching = False

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
            ended = fetched.ended()  # before looking at docs: see the notes above
            docs = fetched.docs
            try:
                document = docs.popleft()
            except IndexError:
                if ended:
                    raise StopAsyncIteration from None
            else:
                fetched.handed_out += 1
                if len(docs) <= fetched.low_water and not ended and not fetched.prefetching:
                    # Fetch the next batch while this one is consumed.
                    self._start_prefetch(fetched)
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
        if fetched.docs or fetched.ended():
            taken = fetched.take(1)
            return self._hand_out(taken)[0] if taken else None
        await self._run(self._fetch_on_worker, fetched, 1, False)
        taken = fetched.take(1)
        return self._hand_out(taken)[0] if taken else None

    def to_list(self, length: int | None = None) -> Any:
        """Up to ``length`` documents (all if None), as a list: ``await`` it.

        ::

            documents = await collection.find({"qty": {"$gt": 5}}).to_list(100)
            everything = await collection.find().to_list()

        Documents already buffered are used first; the rest is fetched in a
        single worker call however many batches it takes. A caller that stops
        waiting takes nothing: the next read gets every document, in order.
        Raises InvalidOperation on a tailable cursor (it never ends).
        """
        _validate_length(length)
        delegate = self.delegate
        if delegate is not None and _is_tailable(delegate):
            raise InvalidOperation("Can't call to_list on tailable cursor")
        loop = self.get_io_loop()
        fetched = self._fetched
        ended = fetched.ended()
        future = self._framework.returnable_future(loop)

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

        enough = length is not None and len(fetched.docs) >= length
        if length == 0 or enough or ended:
            deliver(future, None, None)
            return future
        return self._run(self._fetch_on_worker, fetched, length, False, loop=loop, deliver=deliver, future=future)

    @property
    def fetch_next(self) -> Any:
        """Deprecated: a future that is True when a document can be had with next_object()."""
        _warn_deprecated("fetch_next", "'async for' or to_list()")
        loop = self.get_io_loop()
        fetched = self._fetched
        if fetched.docs or fetched.ended():
            future = self._framework.get_future(loop)
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
        loop = self.get_io_loop()

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

        self._framework.spawn(loop, iterate())

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

        The cursor is closed at once: documents already buffered stay
        readable, a prefetch nobody asked for drops what it fetches. The
        server cursor is killed after the calls made on this cursor before
        ``close()``; ``await`` waits for that only if none is still running
        (it never waits for a prefetch, nor for a read whose caller gave up).
        The kill runs even if the caller stops waiting.
        """
        if self.closed:
            return
        self.closed = True
        fetched = self._fetched
        fetched.closing = True
        await self._close_in_turn(self._close_on_worker, fetched)

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
        cursor with the same options (and a strand of its own), and the old
        server cursor, if any, is killed on a worker once the calls made on
        it before are over.
        """
        old, old_strand = self._fetched, self._strand
        old.closing = True
        # clone() reads only the query's options, which no call in flight
        # changes; the old PyMongo cursor itself is left to the old strand:
        # reads made before rewind() finish on it, then it is killed, while
        # the new cursor's calls need not wait for that.
        self.delegate = self.delegate.clone()
        self._fetched = _Fetched(self.delegate)
        self._init_strand()
        BackgroundCall(self._close_on_worker, old, strand=old_strand, lane=self._lane())
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
