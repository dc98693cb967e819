"""Framework-agnostic declarations of motorlike's GridFS classes.

:mod:`motorlike.motor_asyncio` and :mod:`motorlike.motor_tornado` generate
the concrete classes from them: ``AsyncIOMotorGridFSBucket`` /
``MotorGridFSBucket``, ``...GridIn``, ``...GridOut`` and ``...GridOutCursor``.

Everything that talks to the server runs on motorlike's worker pool, never
on the event loop:

* ``async for grid_out in bucket.find(...)`` yields motorlike GridOut
  objects (their file document comes with the query, so their properties
  can be read at once);
* ``async for chunk in grid_out`` reads one chunk per worker call, so a
  large file is never held in memory as a whole;
* ``grid_out.seek()`` and ``grid_out.close()`` hand the killing of the
  chunk cursor to a worker instead of doing it on the loop.

A GridOut made from a file id (``open_download_stream`` opens it for you)
has no file document until ``await grid_out.open()``: until then its
properties raise :class:`~pymongo.errors.InvalidOperation`, as in Motor,
because reading them would mean blocking I/O.
"""

from __future__ import annotations

import inspect
import os
import warnings
from typing import Any, Callable

from bson import ObjectId
from gridfs.synchronous.grid_file import DEFAULT_CHUNK_SIZE, GridFSBucket, GridIn, GridOut, GridOutCursor
from pymongo.common import validate_string
from pymongo.errors import InvalidOperation

from motorlike.core import AgnosticBaseCursor, AgnosticCollection, AgnosticCursor, AgnosticDatabase
from motorlike.metaprogramming import (
    AgnosticBase,
    AsyncCall,
    DelegateMethod,
    ReadOnlyProperty,
    SerializedWorkerCalls,
    generated_class,
    unwrap_arguments,
    wrapper_for_framework,
    wraps_pymongo,
)

__all__ = [
    "AgnosticGridFSBucket",
    "AgnosticGridIn",
    "AgnosticGridOut",
    "AgnosticGridOutCursor",
    "MotorGridOutProperty",
]

# ---------------------------------------------------------------------------
# PyMongo GridOut internals motorlike relies on, all in one place.


def _file_document(grid_out: GridOut) -> Any:
    """The files-collection document of a PyMongo GridOut, or None before open()."""
    return grid_out._file


def _detach_chunk_iterator(grid_out: GridOut) -> Any:
    """Take the GridOut's chunk iterator (holding a server cursor) away from it.

    The GridOut makes a new one when next read. Closing the old one may send
    killCursors, which is blocking I/O: the caller closes it on a worker.
    """
    iterator = grid_out._chunk_iter
    grid_out._chunk_iter = None
    return iterator


#: Upper bound on the chunk data one batch of a GridOut's chunk cursor brings.
#: PyMongo leaves the batch to the server, which fills up to 16 MiB: the
#: whole of a smaller file would sit in the cursor's buffer at once. One
#: default chunk per batch keeps a streamed download at a few chunks of
#: memory, for a getMore per chunk (see _read for reads of the whole rest).
CHUNK_BATCH_BYTES = DEFAULT_CHUNK_SIZE

#: Upper bound on the chunk data a GridIn collects before sending it.
#: PyMongo's own GridIn collects up to its maximum message size (48 MB) for
#: one insert_many, so an upload holds about twice that in memory. PyMongo's
#: own, smaller limits (chunk count, buffer size) still apply.
UPLOAD_BUFFER_BYTES = DEFAULT_CHUNK_SIZE


class _BatchedChunks:
    """Stands in for a GridOut's chunks collection; its chunk queries get a batch size.

    PyMongo's GridOut only ever calls ``find`` on it (for the cursor that
    reads the chunks); everything else is passed through. While
    ``whole_rest`` is set (a read returning the rest of the file, which is
    in memory then anyway) the server fills the batches, as PyMongo has it.
    """

    __slots__ = ("_collection", "_grid_out", "whole_rest")

    def __init__(self, collection: Any, grid_out: GridOut) -> None:
        self._collection = collection
        self._grid_out = grid_out
        self.whole_rest = False

    def find(self, *args: Any, **kwargs: Any) -> Any:
        if not self.whole_rest:
            document = _file_document(self._grid_out) or {}
            chunk_size = int(document.get("chunkSize") or DEFAULT_CHUNK_SIZE)
            kwargs.setdefault("batch_size", max(1, CHUNK_BATCH_BYTES // max(1, chunk_size)))
        return self._collection.find(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


def _bound_chunk_batches(grid_out: GridOut) -> GridOut:
    """Make the GridOut read its chunks in batches of about CHUNK_BATCH_BYTES."""
    chunks = grid_out._chunks
    if not isinstance(chunks, _BatchedChunks):
        grid_out._chunks = _BatchedChunks(chunks, grid_out)
    return grid_out


def _read(grid_out: GridOut, size: int = -1) -> bytes:
    """``grid_out.read(size)`` of a bounded GridOut; server-filled batches when it returns the whole rest."""
    document = _file_document(grid_out)
    whole_rest = size < 0 or (document is not None and size >= grid_out.length - grid_out.tell())
    if not whole_rest or grid_out._chunk_iter is not None:
        return grid_out.read(size)
    chunks = grid_out._chunks
    chunks.whole_rest = True
    try:
        return grid_out.read(size)
    finally:
        chunks.whole_rest = False


def _set_field(grid_in: GridIn, name: str, value: Any) -> None:
    """Set a field of the file document (sent at once if the file is closed).

    As Motor's ``set``: like ``setattr`` on the GridIn, so a property name
    such as ``content_type`` sets its field (``contentType``).
    """
    member = inspect.getattr_static(type(grid_in), name, None)
    if isinstance(member, property) and member.fset is not None:
        member.fset(grid_in, value)
    else:
        grid_in.set(name, value)


class _BoundedGridIn(GridIn):
    """PyMongo's GridIn, sending its chunks once UPLOAD_BUFFER_BYTES are waiting."""

    def _flush_data(self, data: Any, force: bool = False) -> None:
        # Every chunk waiting is a full one: only the last can be short.
        waiting = (len(self._buffered_docs) + 1) * self.chunk_size
        super()._flush_data(data, force=force or waiting >= UPLOAD_BUFFER_BYTES)


class _BoundedGridFSBucket(GridFSBucket):
    """PyMongo's GridFSBucket whose streams hold a few chunks, not whole batches.

    Its own ``upload_from_stream(_with_id)`` and ``download_to_stream(_by_name)``
    go through the ``open_*_stream`` methods, so they are bounded too.
    """

    def open_upload_stream(
        self, filename: str, chunk_size_bytes: int | None = None, metadata: Any = None, session: Any = None
    ) -> GridIn:
        return self.open_upload_stream_with_id(ObjectId(), filename, chunk_size_bytes, metadata, session)

    def open_upload_stream_with_id(
        self,
        file_id: Any,
        filename: str,
        chunk_size_bytes: int | None = None,
        metadata: Any = None,
        session: Any = None,
    ) -> GridIn:
        validate_string("filename", filename)
        fields: dict[str, Any] = {
            "_id": file_id,
            "filename": filename,
            "chunk_size": self._chunk_size_bytes if chunk_size_bytes is None else chunk_size_bytes,
        }
        if metadata is not None:
            fields["metadata"] = metadata
        return _BoundedGridIn(self._collection, session=session, **fields)

    def open_download_stream(self, file_id: Any, session: Any = None) -> GridOut:
        return _bound_chunk_batches(super().open_download_stream(file_id, session=session))

    def open_download_stream_by_name(
        self, filename: str, revision: int = -1, session: Any = None
    ) -> GridOut:
        return _bound_chunk_batches(super().open_download_stream_by_name(filename, revision, session=session))



def _retrieve_exception(future: Any) -> None:
    # Fire-and-forget work: consume its outcome so asyncio does not log it.
    if not future.cancelled():
        future.exception()


# ---------------------------------------------------------------------------
# GridFSBucket


@wraps_pymongo(GridFSBucket)
class AgnosticGridFSBucket(AgnosticBase):
    """A GridFS bucket: files in ``<bucket_name>.files``, data in ``<bucket_name>.chunks``.

    ``upload_from_stream`` / ``download_to_stream`` move whole files in one
    worker call; ``open_upload_stream`` (synchronous, no I/O) returns a
    GridIn to ``await write()`` into, ``open_download_stream`` a GridOut to
    read from, chunk by chunk with ``async for``.
    """

    __motor_class_name__ = "MotorGridFSBucket"
    __hash__ = None  # type: ignore[assignment]

    delete = AsyncCall()
    delete_by_name = AsyncCall()
    download_to_stream = AsyncCall()
    download_to_stream_by_name = AsyncCall()
    open_download_stream = AsyncCall(wrap=True)
    open_download_stream_by_name = AsyncCall(wrap=True)
    rename = AsyncCall()
    rename_by_name = AsyncCall()
    upload_from_stream = AsyncCall()
    upload_from_stream_with_id = AsyncCall()

    open_upload_stream = DelegateMethod(wrap=True)
    open_upload_stream_with_id = DelegateMethod(wrap=True)
    find = DelegateMethod(wrap=True)

    def __init__(
        self,
        database: Any,
        bucket_name: str = "fs",
        chunk_size_bytes: int = DEFAULT_CHUNK_SIZE,
        write_concern: Any = None,
        read_preference: Any = None,
        collection: str | None = None,
    ) -> None:
        """A bucket in ``database`` (a motorlike database of this framework).

        Only ``database.delegate`` (the PyMongo database) and
        ``database.get_io_loop()`` are used, so objects that stand in for a
        motorlike database (test doubles) work too. No I/O happens here.
        ``collection`` is Motor's deprecated name for ``bucket_name``.
        """
        if collection is not None:
            warnings.warn(
                "the 'collection' parameter is deprecated, use 'bucket_name' instead",
                DeprecationWarning,
                stacklevel=2,
            )
            bucket_name = collection
        database_class = generated_class(AgnosticDatabase, self._framework)
        if not isinstance(database, database_class):
            raise TypeError(f"First argument to {type(self).__name__} must be {database_class.__name__}, not {database!r}")
        self._database = database
        super().__init__(
            _BoundedGridFSBucket(
                database.delegate,
                bucket_name,
                chunk_size_bytes=chunk_size_bytes,
                write_concern=write_concern,
                read_preference=read_preference,
            )
        )
        self._bucket_name = bucket_name
        # The root collection, as Motor had it: GridIn, GridOut and cursors
        # made by this bucket belong to it.
        root = database.delegate.get_collection(
            bucket_name, write_concern=write_concern, read_preference=read_preference
        )
        self._collection = generated_class(AgnosticCollection, self._framework)(database, bucket_name, _delegate=root)

    @property
    def collection(self) -> AgnosticCollection:
        """The bucket's root collection (``fs``): ``collection.files``, ``collection.chunks``."""
        return self._collection

    @property
    def database(self) -> Any:
        """The database this bucket was made for."""
        return self._database

    @property
    def bucket_name(self) -> str:
        return self._bucket_name

    def get_io_loop(self) -> Any:
        return self._database.get_io_loop()

    def wrap(self, obj: Any) -> Any:
        """Wrap a PyMongo GridIn, GridOut or GridOutCursor in this framework's class."""
        return wrapper_for_framework(self._framework)(self, obj)

    async def drop(self, session: Any = None) -> None:
        """Drop the bucket's files and chunks collections: every file in it is gone."""
        if session is not None:
            (session,), _ = unwrap_arguments((session,), {})
        root = self._collection.delegate

        def drop_both() -> None:
            root.files.drop(session=session)
            root.chunks.drop(session=session)

        framework = self._framework
        await framework.submit(framework.to_asyncio_loop(self.get_io_loop()), drop_both, (), {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._database!r}, {self._bucket_name!r})"


def _root_collection_of(owner: Any) -> Any:
    """The root collection for a GridFS object made from ``owner``'s result."""
    if isinstance(owner, AgnosticCollection):
        return owner
    return owner.collection


def _check_root_collection(obj: Any, root_collection: Any) -> None:
    if not isinstance(root_collection, AgnosticCollection):
        raise TypeError(f"First argument to {type(obj).__name__} must be a motorlike collection, not {root_collection!r}")


# ---------------------------------------------------------------------------
# GridIn


@wraps_pymongo(GridIn)
class AgnosticGridIn(SerializedWorkerCalls, AgnosticBase):
    """A file being written to GridFS; get one from ``bucket.open_upload_stream()``.

    Data is buffered and sent a chunk at a time by ``await write(data)``;
    ``await close()`` sends the rest and the files document. ``async with``
    closes it (or, after an exception, only marks it closed, as PyMongo
    does: call ``abort()`` to delete what was already sent).
    """

    __motor_class_name__ = "MotorGridIn"
    __hash__ = None  # type: ignore[assignment]

    _id = ReadOnlyProperty()
    chunk_size = ReadOnlyProperty()
    closed = ReadOnlyProperty()
    content_type = ReadOnlyProperty()
    filename = ReadOnlyProperty()
    length = ReadOnlyProperty()
    md5 = ReadOnlyProperty()
    name = ReadOnlyProperty()
    upload_date = ReadOnlyProperty()

    abort = AsyncCall()
    close = AsyncCall()
    set = AsyncCall(run=_set_field)
    write = AsyncCall()
    writelines = AsyncCall()

    read = DelegateMethod()
    readable = DelegateMethod()
    seekable = DelegateMethod()
    writeable = DelegateMethod()

    def __init__(self, root_collection: Any, delegate: GridIn | None = None, session: Any = None, **kwargs: Any) -> None:
        """A new file in ``root_collection`` (the bucket's root, e.g. ``db.fs``).

        Keyword arguments are file fields (``filename``, ``content_type``,
        ``chunk_size``, ``_id``, anything else), as for PyMongo's GridIn.
        """
        _check_root_collection(self, root_collection)
        self._root_collection = root_collection
        self._init_worker_lock()
        if delegate is None:
            (session,), kwargs = unwrap_arguments((session,), kwargs)
            delegate = _BoundedGridIn(root_collection.delegate, session=session, **kwargs)
        super().__init__(delegate)

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: GridIn) -> AgnosticGridIn:
        return cls(_root_collection_of(owner), delegate=delegate)

    def get_io_loop(self) -> Any:
        return self._root_collection.get_io_loop()

    def __getattr__(self, name: str) -> Any:
        # Other fields of the file document (set through set() or kwargs).
        if name.startswith("__"):
            raise AttributeError(name)
        delegate = self.__dict__.get("delegate")
        if delegate is None:
            raise AttributeError(name)
        return getattr(delegate, name)

    async def __aenter__(self) -> AgnosticGridIn:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        if exc_type is None:
            await self.close()
        else:
            # PyMongo's __exit__ only marks the file closed then: no I/O.
            self.delegate.__exit__(exc_type, exc, traceback)
        return False


# ---------------------------------------------------------------------------
# GridOut


class MotorGridOutProperty(ReadOnlyProperty):
    """A GridOut property; InvalidOperation until the file document is loaded.

    PyMongo's synchronous GridOut would fetch the document, blocking, on the
    first property read; motorlike asks for ``await grid_out.open()`` first.
    """

    def create_attribute(self, cls: type, attr_name: str, framework: Any) -> Any:
        pymongo_name = self.attr_name or attr_name

        def read(self: Any) -> Any:
            delegate = self.delegate
            if not _file_document(delegate):
                raise InvalidOperation(
                    f"call {type(self).__name__}.open() before reading the {attr_name} property"
                )
            return getattr(delegate, pymongo_name)

        member = inspect.getattr_static(GridOut, pymongo_name, None)
        doc = self.doc if self.doc is not None else getattr(member, "__doc__", None)
        return property(read, doc=doc)


@wraps_pymongo(GridOut)
class AgnosticGridOut(SerializedWorkerCalls, AgnosticBase):
    """A file read from GridFS.

    ``await read()``, ``readchunk()``, ``readline()`` run on a worker;
    ``async for chunk in grid_out`` reads chunk by chunk. Properties need
    the file document: a GridOut from ``open_download_stream`` or from a
    ``find`` cursor has it, one made from a file id needs ``await open()``.
    """

    __motor_class_name__ = "MotorGridOut"
    __hash__ = None  # type: ignore[assignment]

    _id = MotorGridOutProperty()
    aliases = MotorGridOutProperty()
    chunk_size = MotorGridOutProperty()
    content_type = MotorGridOutProperty()
    filename = MotorGridOutProperty()
    length = MotorGridOutProperty()
    md5 = MotorGridOutProperty()
    metadata = MotorGridOutProperty()
    name = MotorGridOutProperty()
    upload_date = MotorGridOutProperty()

    closed = ReadOnlyProperty()

    _open = AsyncCall(attr_name="open")
    read = AsyncCall(run=_read)
    readchunk = AsyncCall()
    readline = AsyncCall()
    readlines = AsyncCall()

    fileno = DelegateMethod()
    flush = DelegateMethod()
    isatty = DelegateMethod()
    readable = DelegateMethod()
    seekable = DelegateMethod()
    tell = DelegateMethod()
    truncate = DelegateMethod()
    writable = DelegateMethod()
    write = DelegateMethod()
    writelines = DelegateMethod()

    def __init__(
        self,
        root_collection: Any,
        file_id: Any = None,
        file_document: Any = None,
        delegate: GridOut | None = None,
        session: Any = None,
    ) -> None:
        """The file with ``file_id`` (or described by ``file_document``) in ``root_collection``."""
        _check_root_collection(self, root_collection)
        self._root_collection = root_collection
        self._init_worker_lock()
        if delegate is None:
            (session,), _ = unwrap_arguments((session,), {})
            delegate = GridOut(root_collection.delegate, file_id, file_document, session=session)
        _bound_chunk_batches(delegate)
        super().__init__(delegate)

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: GridOut) -> AgnosticGridOut:
        return cls(_root_collection_of(owner), delegate=delegate)

    def get_io_loop(self) -> Any:
        return self._root_collection.get_io_loop()

    def __getattr__(self, name: str) -> Any:
        # Other fields of the file document, e.g. ones set with GridIn.set().
        if name.startswith("_"):
            raise AttributeError(name)
        delegate = self.__dict__.get("delegate")
        if delegate is None:
            raise AttributeError(name)
        document = _file_document(delegate)
        if not document:
            raise InvalidOperation(f"call {type(self).__name__}.open() before reading the {name} property")
        if name in document:
            return document[name]
        raise AttributeError(f"{type(self).__name__} object has no attribute {name!r}")

    def _open_on_worker(self) -> AgnosticGridOut:
        self.delegate.open()
        return self

    def open(self) -> Any:
        """Load the file document from the server; a future resolving to this GridOut."""
        return self._run(self._open_on_worker)

    def _close_chunk_iterator_later(self, iterator: Any) -> Any:
        """Close a detached chunk iterator on a worker; a future of that."""
        try:
            future = self._run(iterator.close)
        except RuntimeError:
            # No event loop to report to (called outside one): close here.
            iterator.close()
            return None
        future.add_done_callback(_retrieve_exception)
        return future

    def _close(self) -> Any:
        iterator = _detach_chunk_iterator(self.delegate)
        self.delegate.close()  # no I/O left: only marks the file closed
        if iterator is None:
            try:
                future = self._framework.get_future(self.get_io_loop())
            except RuntimeError:
                return None  # no event loop here, and nothing to wait for
            future.set_result(None)
            return future
        return self._close_chunk_iterator_later(iterator)

    @property
    def close(self) -> Callable[[], Any]:
        """Close the file: ``grid_out.close()``, optionally awaited.

        A property, as in Motor, whose value is the closing function. It
        returns a future: the server cursor reading chunks, if any, is
        killed on a worker.
        """
        return self._close

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        """Set the current position (``whence`` as for files); returns the new position.

        Seeking from the end needs the file's length: ``open()`` first.
        """
        delegate = self.delegate
        if whence == os.SEEK_END and not _file_document(delegate):
            raise InvalidOperation(f"call {type(self).__name__}.open() before seeking from the end")
        position = delegate.tell()
        if (whence == os.SEEK_SET and pos == position) or (whence == os.SEEK_CUR and pos == 0):
            return position
        iterator = _detach_chunk_iterator(delegate)
        try:
            new_position = delegate.seek(pos, whence)
        except BaseException:
            delegate._chunk_iter = iterator
            raise
        if iterator is not None:
            self._close_chunk_iterator_later(iterator)
        return new_position

    def __aiter__(self) -> AgnosticGridOut:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.readchunk()
        if chunk:
            return chunk
        raise StopAsyncIteration

    async def stream_to_handler(self, request_handler: Any) -> None:
        """Write the rest of the file to a Tornado RequestHandler, chunk by chunk.

        Each chunk is flushed before the next is read, so the file never
        sits in memory whole. Set the headers before calling this.
        """
        async for chunk in self:
            request_handler.write(chunk)
            flushed = request_handler.flush()
            if inspect.isawaitable(flushed):  # Tornado's is; Motor accepts a plain one too
                await flushed


# ---------------------------------------------------------------------------
# GridOutCursor


@wraps_pymongo(GridOutCursor)
class AgnosticGridOutCursor(AgnosticCursor):
    """A cursor over a bucket's files; iterating yields motorlike GridOut objects.

    The GridOut objects carry their file document, so their properties can
    be read without ``open()``.
    """

    __motor_class_name__ = "MotorGridOutCursor"

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: GridOutCursor) -> AgnosticGridOutCursor:
        if isinstance(owner, AgnosticBaseCursor):
            return cls(delegate, owner.collection)
        return cls(delegate, _root_collection_of(owner))

    def _transform(self, item: Any) -> AgnosticGridOut:  # type: ignore[override]
        """A motorlike GridOut for a files document (buffered) or a PyMongo GridOut."""
        if not isinstance(item, GridOut):
            item = GridOut(self.collection.delegate, file_document=item, session=self.delegate.session)
        return generated_class(AgnosticGridOut, self._framework)(self.collection, delegate=item)

    # The same as a cursor's (documents become GridOuts through _transform),
    # declared again for their types.

    async def __anext__(self) -> AgnosticGridOut:
        return await super().__anext__()  # type: ignore[no-any-return]

    async def try_next(self) -> AgnosticGridOut | None:
        """The next file, or None if none arrived after one fetch."""
        return await super().try_next()  # type: ignore[no-any-return]

    def to_list(self, length: int | None = None) -> Any:
        """A future of a list of up to ``length`` GridOut objects (all if None)."""
        return super().to_list(length)

    def next_object(self) -> AgnosticGridOut | None:
        """Deprecated: the next buffered file (after fetch_next), or None."""
        return super().next_object()  # type: ignore[no-any-return]
