"""Framework-agnostic declarations of a GridFS file being written (GridIn) or read (GridOut).

Every call on one file, ``seek()`` and ``close()`` included, runs in turn on
the file's strand (motorlike._strand), in the order made: ``write()`` without
``await`` then ``await close()`` stores the data, and ``seek()`` after a read
that timed out moves the file only once that read is over. Chunks move a
window at a time (motorlike._gridfs_windows).
"""

from __future__ import annotations

import inspect
import os
from typing import Any, Callable

from gridfs.synchronous.grid_file import GridIn, GridOut
from pymongo.errors import InvalidOperation

from motorlike._bridge import lane_of
from motorlike._extension import AssignableIoLoop, StrandOnFirstUse, assigned_io_loop
from motorlike._gridfs_windows import read_into_one_buffer, window_chunk_batches, windowed_grid_in
from motorlike._internals import _detach_chunk_iterator, _file_document
from motorlike.core import AgnosticCollection
from motorlike.metaprogramming import (
    AgnosticBase,
    AsyncCall,
    DelegateMethod,
    ReadOnlyProperty,
    SerializedWorkerCalls,
    unwrap_arguments,
    wraps_pymongo,
)


def root_collection_of(owner: Any) -> Any:
    """The root collection for a GridFS object made from ``owner``'s result."""
    if isinstance(owner, AgnosticCollection):
        return owner
    return owner.collection


def _check_root_collection(obj: Any, root_collection: Any) -> None:
    if not isinstance(root_collection, AgnosticCollection):
        raise TypeError(f"First argument to {type(obj).__name__} must be a motorlike collection, not {root_collection!r}")


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


class _GridFile:
    """What GridIn and GridOut share: a file belongs to its root collection's
    client (its lane) and, unless a subclass assigns ``io_loop``, to no loop."""

    _root_collection: Any

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: Any) -> Any:
        return cls(root_collection_of(owner), delegate=delegate)  # type: ignore[call-arg]

    io_loop = AssignableIoLoop()
    _strand = StrandOnFirstUse()

    def get_io_loop(self) -> Any:
        assigned = assigned_io_loop(self)
        return assigned if assigned is not None else self._root_collection.get_io_loop()

    def _find_lane(self) -> Any:
        # A Motor-style subclass may not have run motorlike's __init__.
        root = self.__dict__.get("_root_collection")
        return None if root is None else lane_of(root)


# ---------------------------------------------------------------------------
# GridIn


#: Attributes of the motorlike object itself, not fields of the file.
_GRID_IN_OWN_STATE = frozenset({"delegate", "_root_collection", "_strand", "io_loop"})
#: File fields PyMongo computes and never lets a user set.
_GRID_IN_READ_ONLY = frozenset({"_id", "chunk_size", "closed", "length", "md5", "upload_date"})


@wraps_pymongo(GridIn)
class AgnosticGridIn(_GridFile, SerializedWorkerCalls, AgnosticBase):
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
        self._init_strand()
        if delegate is None:
            (session,), kwargs = unwrap_arguments((session,), kwargs)
            delegate = windowed_grid_in(root_collection.delegate, session=session, **kwargs)
        super().__init__(delegate)

    def __getattr__(self, name: str) -> Any:
        # Other fields of the file document (set through set() or kwargs).
        if name.startswith("__"):
            raise AttributeError(name)
        delegate = self.__dict__.get("delegate")
        if delegate is None:
            raise AttributeError(name)
        return getattr(delegate, name)

    def __setattr__(self, name: str, value: Any) -> None:
        """Set a field of the file document (``filename``, ``content_type``,
        ``metadata``, any other) while the file is open, as PyMongo's GridIn
        does; it is sent with the file document on ``close()``. After
        ``close()`` that would be I/O: ``await grid_in.set(name, value)``.
        """
        if name in _GRID_IN_OWN_STATE or "delegate" not in self.__dict__:
            object.__setattr__(self, name, value)
            return
        if name in _GRID_IN_READ_ONLY:
            raise AttributeError(f"{type(self).__name__}.{name} is read-only")
        if not self._strand.idle:
            # A write or close made before may be running with the file's fields.
            raise InvalidOperation(
                f"{type(self).__name__}: a call made before is still running; await it before setting "
                f"{name!r}, or use 'await grid_in.set({name!r}, value)', which runs after it"
            )
        if self.delegate.closed:
            raise AttributeError(
                f"{type(self).__name__} is closed: setting {name!r} now writes to the server, "
                f"use 'await grid_in.set({name!r}, value)'"
            )
        delegate = self.delegate
        if isinstance(inspect.getattr_static(type(delegate), name, None), property):
            # PyMongo's own field properties (content_type -> contentType):
            # its __setattr__ finds them only on GridIn itself, not on a subclass.
            object.__setattr__(delegate, name, value)
        else:
            setattr(delegate, name, value)

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
class AgnosticGridOut(_GridFile, SerializedWorkerCalls, AgnosticBase):
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


    _open = AsyncCall(attr_name="open")
    read = AsyncCall(run=read_into_one_buffer)
    readchunk = AsyncCall()
    readline = AsyncCall()
    readlines = AsyncCall()

    fileno = DelegateMethod()
    flush = DelegateMethod()
    isatty = DelegateMethod()
    readable = DelegateMethod()
    seekable = DelegateMethod()
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
        self._init_strand()
        #: (calls made on the strand, position) just after the last seek():
        #: tell() knows the position while nothing else was made since.
        self._seek_mark = (-1, 0)
        self._close_made = False
        if delegate is None:
            (session,), _ = unwrap_arguments((session,), {})
            delegate = GridOut(root_collection.delegate, file_id, file_document, session=session)
        window_chunk_batches(delegate)
        super().__init__(delegate)

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

    def _close_on_worker(self) -> None:
        iterator = _detach_chunk_iterator(self.delegate)
        self.delegate.close()  # only marks the file closed
        if iterator is not None:
            iterator.close()  # kills the chunk cursor: I/O

    def _close(self) -> Any:
        self._close_made = True
        return self._close_in_turn(self._close_on_worker)

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called (the file closes in turn, after the calls made before)."""
        return self._close_made or bool(self.delegate.closed)

    @property
    def close(self) -> Callable[[], Any]:
        """Close the file: ``grid_out.close()``, optionally awaited.

        A property, as in Motor, whose value is the closing function. The
        file closes in turn, after the calls made on it before (the server
        cursor reading chunks, if any, is killed then); ``await`` waits for
        that unless one of those calls is still running.
        """
        return self._close

    def _seek_on_worker(self, position: int) -> None:
        self.delegate.seek(position, os.SEEK_SET)  # closes the chunk cursor if it moves: I/O

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        """Set the current position (``whence`` as for files); returns the new position.

        The file moves in turn, after the reads made before (so a read that
        timed out but still runs cannot read past it). Seeking from the end
        needs the file's length: ``open()`` first.
        """
        if whence == os.SEEK_SET:
            position = pos
        elif whence == os.SEEK_CUR:
            position = self.tell() + pos
        elif whence == os.SEEK_END:
            if not _file_document(self.delegate):
                raise InvalidOperation(f"call {type(self).__name__}.open() before seeking from the end")
            position = int(self.delegate.length) + pos
        else:
            raise OSError(22, "Invalid value for `whence`")
        if position < 0:
            raise OSError(22, "Invalid value for `pos` - must be positive")
        self._run_in_background(self._seek_on_worker, position)
        self._seek_mark = (self._strand.made, position)
        return position

    def tell(self) -> int:
        """The current position: where the next read starts.

        While a read made before is still running the position depends on
        it: InvalidOperation then (await the read first), unless a seek()
        was made since.
        """
        strand = self._strand
        if strand.idle:
            return int(self.delegate.tell())
        made, position = self._seek_mark
        if made == strand.made:
            return position
        raise InvalidOperation(
            f"{type(self).__name__}.tell(): the position depends on a call made before that is still running; await it first"
        )

    def __aiter__(self) -> AgnosticGridOut:
        return self

    async def __aenter__(self) -> AgnosticGridOut:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """``async with grid_out:`` closes the file on exit, as PyMongo's ``with`` does."""
        closing = self.close()
        if closing is not None:
            await closing

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
