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

Here: the bucket and its cursor. GridIn and GridOut are declared in
``motorlike._gridfs_files``, the windowed chunk I/O under them is in
``motorlike._gridfs_windows``; both are re-exported from here.
"""

from __future__ import annotations

import sys
import types
import warnings
from typing import Any

from gridfs.synchronous.grid_file import DEFAULT_CHUNK_SIZE, GridFSBucket, GridOut, GridOutCursor

from motorlike import _gridfs_windows
from motorlike._bridge import lane_of
from motorlike._extension import AssignableIoLoop, assigned_io_loop
from motorlike._gridfs_files import AgnosticGridIn, AgnosticGridOut, MotorGridOutProperty, root_collection_of
from motorlike._gridfs_windows import BoundedGridFSBucket, reuse_window_memory
from motorlike.core import AgnosticBaseCursor, AgnosticCollection, AgnosticCursor, AgnosticDatabase
from motorlike.metaprogramming import (
    AgnosticBase,
    AsyncCall,
    DelegateMethod,
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
    "reuse_window_memory",
]

# Declared in motorlike._gridfs_files; public here, as in Motor (docs, stubs, repr).
for _declaration in (AgnosticGridIn, AgnosticGridOut, MotorGridOutProperty):
    _declaration.__module__ = __name__
del _declaration


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
            BoundedGridFSBucket(
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
        return cls(delegate, root_collection_of(owner))

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


class _GridFSModule(types.ModuleType):
    """This module's own type, for one attribute: ``WINDOW_BYTES``.

    Reading it gives the window requests use now; assigning it changes that
    window for every request made afterwards (the window lives with the chunk
    I/O, in motorlike._gridfs_windows, which this module imports).
    """

    @property
    def WINDOW_BYTES(self) -> int:
        """Bytes of chunk data per GridFS request (4 MiB; ``$MOTORLIKE_GRIDFS_WINDOW``)."""
        return _gridfs_windows.window_bytes()

    @WINDOW_BYTES.setter
    def WINDOW_BYTES(self, value: int) -> None:
        _gridfs_windows.set_window_bytes(value)


sys.modules[__name__].__class__ = _GridFSModule
