"""GridFS chunk I/O a window at a time: motorlike's GridIn, PyMongo's GridOut.

A window (``window_bytes()``, 4 MiB by default: 16 default chunks) is the
chunk data one request carries: an upload inserts a window of chunks per
``insert_many``, a download's chunk cursor asks for a window per batch. PyMongo
alone sends up to 32 MiB per insert and takes whatever batches the server
sends (16 MiB from a mongod); a chunk per request would cost a round trip per
255 KiB. ``doc/gridfs.md`` has the measurements.

Uploads go through motorlike._grid_in's GridIn, which sends when a window
is full. Downloads ask for a window per batch of the chunk cursor, which
PyMongo decodes as it arrives (the reply and its chunks are alive together:
about two windows, measured against one for taking the reply apart by hand,
which motorlike no longer does, and five to six for PyMongo's raw-batch
cursors; doc/gridfs.md). Nothing here parses BSON.
"""

from __future__ import annotations

import io
import os
from typing import Any

from bson import ObjectId
from gridfs.errors import CorruptGridFile
from gridfs.synchronous.grid_file import DEFAULT_CHUNK_SIZE, GridFSBucket, GridOut
from pymongo.common import validate_string

from motorlike._grid_in import WindowedGridIn
from motorlike._internals import _chunk_iterator, _chunk_reader, _file_document, _set_chunk_reader

DEFAULT_WINDOW_BYTES = 4 * 1024 * 1024


def window_from_environment(default: int = DEFAULT_WINDOW_BYTES) -> int:
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


class _Window:
    """The window every request reads when it is made (set through ``motor_gridfs.WINDOW_BYTES``)."""

    bytes = window_from_environment()


def window_bytes() -> int:
    return _Window.bytes


def set_window_bytes(value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"WINDOW_BYTES must be an int, not {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"WINDOW_BYTES must be positive, not {value}")
    _Window.bytes = value


def chunks_per_window(chunk_size: Any) -> int:
    """How many chunks of ``chunk_size`` bytes one request carries: a window's worth, at least one."""
    return max(1, window_bytes() // max(1, int(chunk_size or DEFAULT_CHUNK_SIZE)))


# ---------------------------------------------------------------------------
# Opt-in: let glibc keep a window's memory between requests

#: glibc raises its mmap threshold to the size of the largest mmapped block
#: freed so far, up to 32 MiB, and returns free memory at the top of a heap
#: above twice that.
_GLIBC_DYNAMIC_THRESHOLD_MAX = 32 * 1024 * 1024


def _glibc_malloc_and_free() -> Any:
    """glibc's own ``malloc`` and ``free`` (through ctypes), or None elsewhere."""
    import ctypes  # only for the opt-in reuse_window_memory(): no cost at import

    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return None
        libc = ctypes.CDLL(None)
        malloc, free = libc.malloc, libc.free
    except (AttributeError, OSError, ValueError):
        return None
    malloc.restype = ctypes.c_void_p
    malloc.argtypes = [ctypes.c_size_t]
    free.restype = None
    free.argtypes = [ctypes.c_void_p]
    return malloc, free


def reuse_window_memory(window: int | None = None) -> bool:
    """Let this process's allocator keep a GridFS window's memory between requests (glibc only).

    Each windowed request frees a few blocks of about a window at once. glibc
    hands freed memory at the top of a heap back to the kernel once it
    exceeds twice its mmap threshold, which starts at 128 KiB and rises to
    the largest mmapped block freed; left alone, it gives each window's
    memory back and the next request faults every page in again (about 700
    minor faults per MiB uploaded, ``doc/performance.md``). This mallocs and
    frees one block of two windows and a chunk (``window``, default the
    current one), never touched and so never resident, which raises those
    thresholds as glibc itself would after any such block.

    It changes the whole process's allocator (up to glibc's own ceiling of
    32 MiB), so motorlike never does it by itself: call it once at start-up
    if GridFS throughput matters. The environment can do the same without
    code, both thresholds above two windows:
    ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=9437184:glibc.malloc.trim_threshold=18874368``
    (fixed thresholds: glibc stops adjusting them). Returns whether it did
    anything (False off glibc).
    """
    size = min(2 * (window or window_bytes()) + DEFAULT_CHUNK_SIZE, _GLIBC_DYNAMIC_THRESHOLD_MAX)
    functions = _glibc_malloc_and_free()
    if functions is None:
        return False
    malloc, free = functions
    free(malloc(size))
    return True


# ---------------------------------------------------------------------------
# Downloads


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
        kwargs.setdefault("batch_size", chunks_per_window(document.get("chunkSize")))
        return self._collection.find(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)


def window_chunk_batches(grid_out: GridOut) -> GridOut:
    """Make the GridOut read its chunks in batches of a window."""
    chunks = _chunk_reader(grid_out)
    if not isinstance(chunks, _WindowedChunks):
        _set_chunk_reader(grid_out, _WindowedChunks(chunks, grid_out))
    return grid_out


def read_into_one_buffer(grid_out: GridOut, size: int = -1) -> bytes:
    """``grid_out.read(size)``, run on a worker; a read of more than a chunk fills its result in place.

    PyMongo's read keeps every chunk it read until it joins them: the result
    and its chunks, twice the size read, are alive together. Here the result
    is allocated once, at its final size (a BytesIO whose buffer becomes the
    returned bytes, no copy), and each chunk is copied into it as it is read,
    so a read holds its result, the current batch and a chunk.
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
        # readchunk() returns the rest of the current chunk, never more than
        # wanted then; a plain read of less may keep the rest for later reads.
        piece = grid_out.readchunk() if wanted >= chunk_size else grid_out.read(wanted)
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


# ---------------------------------------------------------------------------
# Uploads


def windowed_grid_in(root_collection: Any, session: Any = None, **fields: Any) -> WindowedGridIn:
    """A new file in ``root_collection`` that inserts a window of chunks per request."""
    return WindowedGridIn(chunks_per_window, root_collection, session, **fields)


class BoundedGridFSBucket(GridFSBucket):
    """PyMongo's GridFSBucket whose streams move a window of chunks per request.

    Its own ``upload_from_stream(_with_id)`` and ``download_to_stream(_by_name)``
    go through the ``open_*_stream`` methods, so they are bounded too.
    """

    def __init__(self, db: Any, bucket_name: str = "fs", chunk_size_bytes: int = DEFAULT_CHUNK_SIZE, **options: Any):
        super().__init__(db, bucket_name, chunk_size_bytes, **options)
        # The root collection GridFSBucket gives its GridIns: the database's
        # options, without a custom type registry (chunks are plain documents).
        plain = db.with_options(codec_options=db.codec_options.with_options(type_registry=None))
        self._root_for_uploads = plain[bucket_name]
        self._default_chunk_size = chunk_size_bytes

    def open_upload_stream(
        self, filename: str, chunk_size_bytes: int | None = None, metadata: Any = None, session: Any = None
    ) -> Any:
        return self.open_upload_stream_with_id(ObjectId(), filename, chunk_size_bytes, metadata, session)

    def open_upload_stream_with_id(
        self,
        file_id: Any,
        filename: str,
        chunk_size_bytes: int | None = None,
        metadata: Any = None,
        session: Any = None,
    ) -> Any:
        validate_string("filename", filename)
        fields: dict[str, Any] = {
            "_id": file_id,
            "filename": filename,
            "chunk_size": self._default_chunk_size if chunk_size_bytes is None else chunk_size_bytes,
        }
        if metadata is not None:
            fields["metadata"] = metadata
        return windowed_grid_in(self._root_for_uploads, session=session, **fields)

    def open_download_stream(self, file_id: Any, session: Any = None) -> GridOut:
        return window_chunk_batches(super().open_download_stream(file_id, session=session))

    def open_download_stream_by_name(self, filename: str, revision: int = -1, session: Any = None) -> GridOut:
        return window_chunk_batches(super().open_download_stream_by_name(filename, revision, session=session))
