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
* chunks travel a window at a time (``WINDOW_BYTES``, 4 MiB): an insert per
  window when uploading, a cursor batch per window when downloading, so
  memory stays near a window while round trips are few;
* every call on a GridIn or GridOut, ``seek()`` and ``close()`` included,
  runs in turn on the file's strand (motorlike._strand), in the order made:
  ``write()`` without ``await`` then ``await close()`` stores the data, and
  ``seek()`` after a read that timed out moves the file only once that read
  is over.

A GridOut made from a file id (``open_download_stream`` opens it for you)
has no file document until ``await grid_out.open()``: until then its
properties raise :class:`~pymongo.errors.InvalidOperation`, as in Motor,
because reading them would mean blocking I/O.
"""

from __future__ import annotations

import inspect
import io
import os
import struct
import threading
import warnings
from collections.abc import Mapping
from typing import Any, Callable

import bson
from bson import ObjectId
from gridfs.errors import CorruptGridFile
from gridfs.synchronous.grid_file import DEFAULT_CHUNK_SIZE, GridFSBucket, GridIn, GridOut, GridOutCursor
from pymongo.common import validate_string
from pymongo.cursor import Cursor
from pymongo.errors import InvalidOperation

from motorlike._extension import AssignableIoLoop, StrandOnFirstUse, assigned_io_loop
from motorlike._internals import (
    _chunk_iterator,
    _chunk_reader,
    _detach_chunk_iterator,
    _file_document,
    _set_chunk_reader,
)
from motorlike.core import AgnosticBaseCursor, AgnosticCollection, AgnosticCursor, AgnosticDatabase
from motorlike._bridge import lane_of
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

def _window_from_environment(default: int = 4 * 1024 * 1024) -> int:
    """``$MOTORLIKE_GRIDFS_WINDOW`` in bytes (a plain integer, or with K/M suffix), else ``default``."""
    text = os.environ.get("MOTORLIKE_GRIDFS_WINDOW", "").strip().upper()
    if not text:
        return default
    factor = 1
    for suffix, multiple in (("KIB", 1024), ("MIB", 1024 * 1024), ("K", 1024), ("M", 1024 * 1024)):
        if text.endswith(suffix):
            text, factor = text[: -len(suffix)], multiple
            break
    try:
        value = int(text) * factor
    except ValueError:
        raise ValueError(f"MOTORLIKE_GRIDFS_WINDOW must be a number of bytes (or KiB/MiB), not {text!r}") from None
    if value <= 0:
        raise ValueError("MOTORLIKE_GRIDFS_WINDOW must be positive")
    return value


#: The chunk data one GridFS request carries: a GridIn sends its chunks in
#: inserts of this many bytes' worth, a GridOut reads them with a cursor whose
#: batches hold this many bytes' worth (whole chunks, at least one; 16 default
#: chunks at the default of 4 MiB). PyMongo alone sends up to 48 MB per insert
#: and lets the server fill 16 MiB batches; a chunk per request would cost a
#: round trip per 255 KiB. Memory, traced: a streamed download holds about a
#: window and two chunks (a batch stays in the buffer it arrived in, see
#: _ChunkCursor), a read() its result besides; an upload about two windows
#: (the chunks waiting and the insert that encodes them). ``doc/gridfs.md``.
#: Set ``$MOTORLIKE_GRIDFS_WINDOW`` (bytes, or e.g. ``1M``, ``512K``) before
#: import, or assign this at run time: it is read whenever a request is made.
WINDOW_BYTES = _window_from_environment()


def _chunks_per_window(chunk_size: Any) -> int:
    """How many chunks of ``chunk_size`` bytes one request carries: WINDOW_BYTES' worth, at least one."""
    chunks = max(1, WINDOW_BYTES // max(1, int(chunk_size or DEFAULT_CHUNK_SIZE)))
    if chunks > 1:
        _let_the_allocator_keep_windows(chunks * int(chunk_size or DEFAULT_CHUNK_SIZE))
    return chunks


_allocator_ready_for = 0
#: glibc raises its mmap threshold to the size of the largest mmapped block
#: freed so far, up to 32 MiB, and returns free memory at the top of a heap
#: above twice that.
_GLIBC_DYNAMIC_THRESHOLD_MAX = 32 * 1024 * 1024


def _glibc_malloc_and_free() -> Any:
    """glibc's own ``malloc`` and ``free`` (through ctypes), or None elsewhere."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return None
        import ctypes

        libc = ctypes.CDLL(None)
        malloc, free = libc.malloc, libc.free
    except (AttributeError, ImportError, OSError, ValueError):
        return None
    malloc.restype = ctypes.c_void_p
    malloc.argtypes = [ctypes.c_size_t]
    free.restype = None
    free.argtypes = [ctypes.c_void_p]
    return malloc, free


def _let_the_allocator_keep_windows(window: int) -> None:
    """Free one block of about two windows, once, so that glibc keeps a window's memory between requests.

    A windowed request frees a few blocks of about a window at once (an
    upload: its chunks, the encoder's buffer and the message; a download:
    the reply buffer and the chunks). glibc hands freed memory at the top of
    a heap back to the kernel once it exceeds twice its mmap threshold, which
    starts at 128 KiB and rises to the largest mmapped block freed; left to
    itself, it gives each window's memory back and the next request faults
    every page in again (about 250 page faults per MiB and per block,
    ``doc/performance.md``). Freeing one block of two windows, mapped and
    never touched, raises that threshold as glibc would after any such
    block, just far enough to keep the next window's memory. Only on glibc;
    the block is not Python memory (tracemalloc does not see it) and never
    resident.
    """
    global _allocator_ready_for
    size = min(2 * window + DEFAULT_CHUNK_SIZE, _GLIBC_DYNAMIC_THRESHOLD_MAX)
    if size <= _allocator_ready_for:
        return
    _allocator_ready_for = size
    functions = _glibc_malloc_and_free()
    if functions is not None:
        malloc, free = functions
        free(malloc(size))


class _Unparsed(Exception):
    """A reply _ChunkCursor does not take apart itself (PyMongo's own decoding takes over)."""


_INT32 = struct.Struct("<i")
# BSON element types whose values have a fixed size, and those that start
# with an int32: the size of the value (documents, arrays, code with scope),
# or of what follows it (strings, code, symbols; binary also has a subtype byte).
_FIXED_SIZES = {0x01: 8, 0x06: 0, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16, 0x7F: 0, 0xFF: 0}
_SIZED_VALUES = (0x03, 0x04, 0x0F)
_EXTRA_AFTER_LENGTH = {0x02: 4, 0x0D: 4, 0x0E: 4, 0x05: 5}


def _bson_elements(view: memoryview, start: int, end: int) -> Any:
    """(type, key, element start, value start, element end) of each element in ``view[start:end]``.

    ``start`` is just after a document's int32 size, ``end`` its last byte
    (the terminating NUL). Raises _Unparsed for a type it does not know.
    """
    position = start
    while position < end:
        kind = view[position]
        key_end = position + 1
        while view[key_end]:
            key_end += 1
        key = bytes(view[position + 1 : key_end]).decode("utf-8")
        value = key_end + 1
        if kind in _FIXED_SIZES:
            size = _FIXED_SIZES[kind]
        elif kind in _SIZED_VALUES:
            size = _INT32.unpack_from(view, value)[0]
        elif kind in _EXTRA_AFTER_LENGTH:
            size = _EXTRA_AFTER_LENGTH[kind] + _INT32.unpack_from(view, value)[0]
        else:
            raise _Unparsed(kind)
        if size < 0 or value + size > end:
            raise _Unparsed("size")
        yield kind, key, position, value, value + size
        position = value + size
    if position != end:
        raise _Unparsed("end")


def _decode_element(view: memoryview, start: int, end: int, codec_options: Any) -> dict[str, Any]:
    """The one element ``view[start:end]`` decoded, as a one-key dict."""
    return bson.decode(_INT32.pack(end - start + 5) + bytes(view[start:end]) + b"\x00", codec_options)


#: Set on a worker thread while _read copies chunks into its result: their
#: data is then a view of the reply buffer (copied once, into the result)
#: instead of bytes of its own (copied twice).
_reading_into_result = threading.local()


class _ChunkDocument(Mapping):
    """A chunk document still in the reply buffer, decoded on first use.

    Its binary data (subtype 0) is copied out of the buffer once, into the
    bytes GridOut reads; a RawBSONDocument would copy the whole document
    first, then the data from that copy. The buffer is let go once decoded,
    unless the data stays a view of it (for _read, which copies it at once).
    """

    __slots__ = ("_view", "_codec_options", "_fields")

    def __init__(self, view: memoryview, codec_options: Any) -> None:
        self._view: memoryview | None = view
        self._codec_options = codec_options
        self._fields: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        fields = self._fields
        if fields is None:
            view = self._view
            assert view is not None
            fields = {}
            as_view = getattr(_reading_into_result, "active", False)
            for kind, key, start, value, end in _bson_elements(view, 4, len(view) - 1):
                if kind == 0x05 and view[value + 4] == 0:
                    data = view[value + 5 : end]
                    fields[key] = data if as_view else bytes(data)
                else:
                    fields.update(_decode_element(view, start, end, self._codec_options))
            self._fields = fields
            self._view = None
        return fields

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __iter__(self) -> Any:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())

    def __repr__(self) -> str:
        return f"_ChunkDocument({self._decoded()!r})"


def _cursor_reply_over_buffer(payload: memoryview, codec_options: Any) -> list[dict[str, Any]]:
    """A find/getMore reply whose batch documents stay in ``payload``, the driver's receive buffer.

    PyMongo decodes a whole reply at once: for a moment the buffer and every
    chunk decoded from it are alive together, two windows of data. Here the
    batch is a list of _ChunkDocument views of the buffer; each chunk is
    decoded when GridOut reads it. Everything else in the reply is
    decoded as PyMongo would.
    """
    size = _INT32.unpack_from(payload, 0)[0]
    if size != len(payload):
        raise _Unparsed("size")
    reply: dict[str, Any] = {}
    for kind, key, start, value, end in _bson_elements(payload, 4, size - 1):
        if key != "cursor" or kind != 0x03:
            reply.update(_decode_element(payload, start, end, codec_options))
            continue
        cursor: dict[str, Any] = {}
        for kind2, key2, start2, value2, end2 in _bson_elements(payload, value + 4, end - 1):
            if key2 not in ("firstBatch", "nextBatch") or kind2 != 0x04:
                cursor.update(_decode_element(payload, start2, end2, codec_options))
                continue
            batch = []
            for kind3, _, _, value3, end3 in _bson_elements(payload, value2 + 4, end2 - 1):
                if kind3 != 0x03:
                    raise _Unparsed("not a document")
                batch.append(_ChunkDocument(payload[value3:end3], codec_options))
            cursor[key2] = batch
        reply["cursor"] = cursor
    return [reply]


class _ChunkCursor(Cursor):
    """A cursor over a file's chunks that keeps each batch in the buffer it arrived in.

    Memory for a batch is then about the batch's size, not twice that, and
    falls back to PyMongo's own decoding for any reply it does not recognise.
    """

    def _unpack_response(  # type: ignore[override]
        self,
        response: Any,
        cursor_id: Any,
        codec_options: Any,
        user_fields: Any = None,
        legacy_response: bool = False,
    ) -> Any:
        payload = getattr(response, "payload_document", None)
        if not legacy_response and isinstance(payload, (bytes, memoryview)):
            # A memoryview of the receive buffer; bytes when the reply came compressed.
            try:
                return _cursor_reply_over_buffer(memoryview(payload), codec_options)
            except (_Unparsed, IndexError, struct.error, UnicodeDecodeError):
                pass
        return super()._unpack_response(response, cursor_id, codec_options, user_fields, legacy_response)


class _WindowedChunks:
    """Stands in for a GridOut's chunks collection; its chunk queries read a window per batch.

    PyMongo's GridOut only ever calls ``find`` on it (for the cursor that
    reads the chunks); everything else is passed through.
    """

    __slots__ = ("_collection", "_grid_out")

    def __init__(self, collection: Any, grid_out: GridOut) -> None:
        self._collection = collection
        self._grid_out = grid_out

    def find(self, *args: Any, **kwargs: Any) -> Any:
        document = _file_document(self._grid_out) or {}
        kwargs.setdefault("batch_size", _chunks_per_window(document.get("chunkSize")))
        return _ChunkCursor(self._collection, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


def _window_chunk_batches(grid_out: GridOut) -> GridOut:
    """Make the GridOut read its chunks in batches of a window (WINDOW_BYTES)."""
    chunks = _chunk_reader(grid_out)
    if not isinstance(chunks, _WindowedChunks):
        _set_chunk_reader(grid_out, _WindowedChunks(chunks, grid_out))
    return grid_out


def _read(grid_out: GridOut, size: int = -1) -> bytes:
    """``grid_out.read(size)``, run on a worker; a read of more than a chunk fills its result in place.

    PyMongo's read decodes every chunk into bytes of its own and keeps them
    all until it joins them: the result and its chunks, twice the size read,
    are alive together. Here the result is allocated once, at its final size
    (a BytesIO whose buffer becomes the returned bytes, no copy), and each
    chunk is copied into it straight from the reply buffer, so a read holds
    its result, the driver's current batch and a chunk.
    """
    if _file_document(grid_out) is None:
        grid_out.open()
    chunk_size = int(grid_out.chunk_size)
    remainder = int(grid_out.length) - grid_out.tell()
    if size < 0 or size > remainder:
        size = remainder
    if size <= chunk_size:
        return grid_out.read(size)
    out = io.BytesIO()
    out.seek(size - 1)
    out.write(b"\0")  # the buffer at its final size, once
    out.seek(0)
    written = 0
    while written < size:
        wanted = size - written
        if wanted >= chunk_size:
            # readchunk() returns the rest of the current chunk: never more
            # than wanted then; a view of the reply buffer, copied right here.
            _reading_into_result.active = True
            try:
                piece = grid_out.readchunk()
            finally:
                _reading_into_result.active = False
        else:
            # (A plain read: it may keep the rest of its chunk for later reads.)
            piece = grid_out.read(wanted)
        if not piece:
            raise CorruptGridFile("truncated file: no data at position %d" % grid_out.tell())
        written += out.write(piece)
        del piece
    iterator = _chunk_iterator(grid_out)
    if size == remainder and iterator is not None:
        # As PyMongo's read of the whole rest: an extra chunk is an error.
        try:
            iterator.next()
        except StopIteration:
            pass
    return out.getvalue()


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
    """PyMongo's GridIn, sending its chunks a window (WINDOW_BYTES) at a time."""

    def _flush_data(self, data: Any, force: bool = False) -> None:
        # Every chunk waiting is a full one: only the last can be short.
        waiting = len(self._buffered_docs) + (1 if data else 0)
        super()._flush_data(data, force=force or waiting >= _chunks_per_window(self.chunk_size))


class _BoundedGridFSBucket(GridFSBucket):
    """PyMongo's GridFSBucket whose streams move a window of chunks per request.

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
        return _window_chunk_batches(super().open_download_stream(file_id, session=session))

    def open_download_stream_by_name(
        self, filename: str, revision: int = -1, session: Any = None
    ) -> GridOut:
        return _window_chunk_batches(super().open_download_stream_by_name(filename, revision, session=session))



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
        super().__init__(
            _BoundedGridFSBucket(
                database.delegate,
                bucket_name,
                chunk_size_bytes=chunk_size_bytes,
                write_concern=write_concern,
                read_preference=read_preference,
            )
        )
        root = database.delegate.get_collection(
            bucket_name, write_concern=write_concern, read_preference=read_preference
        )
        #: The bucket's root collection (``fs``: ``collection.files``,
        #: ``collection.chunks``); GridIn, GridOut and cursors made by this
        #: bucket belong to it. A plain attribute, as in Motor.
        self.collection: AgnosticCollection = generated_class(AgnosticCollection, self._framework)(database, bucket_name, _delegate=root)

    io_loop = AssignableIoLoop()

    @property
    def database(self) -> Any:
        """The database this bucket was made for."""
        return self.collection.database

    @property
    def bucket_name(self) -> str:
        return self.collection.name  # type: ignore[no-any-return]

    def get_io_loop(self) -> Any:
        assigned = assigned_io_loop(self)
        return assigned if assigned is not None else self.collection.get_io_loop()

    def _find_lane(self) -> Any:
        return lane_of(self.database)

    def wrap(self, obj: Any) -> Any:
        """Wrap a PyMongo GridIn, GridOut or GridOutCursor in this framework's class.

        Every method that returns one of them calls this: a subclass may
        override it (Motor's protocol) to return its own classes.
        """
        return wrapper_for_framework(self._framework)(self, obj)

    async def drop(self, session: Any = None) -> None:
        """Drop the bucket's files and chunks collections: every file in it is gone."""
        if session is not None:
            (session,), _ = unwrap_arguments((session,), {})
        root = self.collection.delegate

        def drop_both() -> None:
            root.files.drop(session=session)
            root.chunks.drop(session=session)

        framework = self._framework
        await framework.submit(self.get_io_loop(), drop_both, (), {}, lane=self._lane())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.database!r}, {self.bucket_name!r})"


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


#: Attributes of the motorlike object itself, not fields of the file.
_GRID_IN_OWN_STATE = frozenset({"delegate", "_root_collection", "_strand", "io_loop"})
#: File fields PyMongo computes and never lets a user set.
_GRID_IN_READ_ONLY = frozenset({"_id", "chunk_size", "closed", "length", "md5", "upload_date"})


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
        self._init_strand()
        if delegate is None:
            (session,), kwargs = unwrap_arguments((session,), kwargs)
            delegate = _BoundedGridIn(root_collection.delegate, session=session, **kwargs)
        super().__init__(delegate)

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: GridIn) -> AgnosticGridIn:
        return cls(_root_collection_of(owner), delegate=delegate)

    io_loop = AssignableIoLoop()
    _strand = StrandOnFirstUse()  # type: ignore[assignment]

    def get_io_loop(self) -> Any:
        assigned = assigned_io_loop(self)
        return assigned if assigned is not None else self._root_collection.get_io_loop()

    def _find_lane(self) -> Any:
        # A Motor-style subclass may not have run motorlike's __init__.
        root = self.__dict__.get("_root_collection")
        return None if root is None else lane_of(root)

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
        _window_chunk_batches(delegate)
        super().__init__(delegate)

    @classmethod
    def _from_delegate(cls, owner: Any, delegate: GridOut) -> AgnosticGridOut:
        return cls(_root_collection_of(owner), delegate=delegate)

    io_loop = AssignableIoLoop()
    _strand = StrandOnFirstUse()  # type: ignore[assignment]

    def get_io_loop(self) -> Any:
        assigned = assigned_io_loop(self)
        return assigned if assigned is not None else self._root_collection.get_io_loop()

    def _find_lane(self) -> Any:
        # A Motor-style subclass may not have run motorlike's __init__.
        root = self.__dict__.get("_root_collection")
        return None if root is None else lane_of(root)

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
