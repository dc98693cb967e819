"""Cursor declarations: what every cursor shares, and find and raw-batch cursors.

Command cursors are in motorlike._command_cursor; the buffer of fetched
documents the reads share is motorlike._fetched.
"""

from __future__ import annotations

from typing import Any, Callable

from pymongo.errors import InvalidOperation
from pymongo.synchronous.collection import Collection as PyMongoCollection
from pymongo.synchronous.command_cursor import CommandCursor
from pymongo.synchronous.cursor import Cursor, RawBatchCursor
from pymongo.typings import _DocumentType  # annotations only: the stubs' document type

from motorlike._base import _validate_length, _warn_deprecated, wraps_a
from motorlike._fetched import FETCH_AGAIN, Fetched, fetch
from motorlike._internals import _buffer, _is_tailable, _set_buffer, _skip_of
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
        self._fetched = Fetched(cursor)
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

    def _fetch_on_worker(self, fetched: Fetched, wanted: int | None, for_next: bool) -> Any:
        """True if documents are buffered; ``FETCH_AGAIN`` if ``next()`` should ask again."""
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
        buffered = fetch(fetched, cursor, wanted)
        # Never ahead of a tailable cursor (its getMore waits for new data),
        # nor with an explicit session: PyMongo's sessions are not
        # thread-safe, and the caller may use it meanwhile.
        if self._prefetches and not _is_tailable(cursor) and cursor.session is None:
            fetched.low_water = len(fetched.docs) // 2
        if not buffered and for_next and isinstance(cursor, CommandCursor) and not fetched.exhausted:
            # PyMongo's CommandCursor.next() goes on through empty batches:
            # so does __anext__, one worker call per batch, from the loop.
            return FETCH_AGAIN
        return buffered

    def _prefetch_on_worker(self, fetched: Fetched) -> None:
        """On the strand: fetch one more batch for ``async for``.

        Its outcome goes nowhere but ``fetched``: documents are appended in
        order, as any fetch's; an error waits in ``fetched.error`` for the
        first reader that needs more documents than are buffered. Dropped
        if the cursor was closed or rewound meanwhile.
        """
        try:
            cursor = fetched.cursor
            if cursor is not None and fetched.error is None and not fetched.exhausted and not fetched.closing:
                fetch(fetched, cursor, None, batches=1, prefetch=True)
                fetched.low_water = len(fetched.docs) // 2
        except BaseException as exc:  # noqa: BLE001 - kept for the reader
            if not fetched.closing:
                fetched.error = exc
        finally:
            fetched.prefetching = False

    def _start_prefetch(self, fetched: Fetched) -> None:
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

    def _close_on_worker(self, fetched: Fetched) -> None:
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
        self._fetched = Fetched(self.delegate)
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
