"""A GridFS file being written, a window of chunks per insert, on PyMongo's public API.

PyMongo's GridIn keeps chunk documents until 32 MiB before one
``insert_many``, and when it sends is decided inside a private method.
:class:`WindowedGridIn` writes the documents the GridFS specification asks
for, as PyMongo's GridIn does (chunks ``{files_id, n, data}``, then the files
document with ``length`` and ``uploadDate``), with public collection methods
only: an ``insert_many`` per window of chunks (motorlike._gridfs_windows), the
indexes PyMongo creates before the first chunk, ``insert_one`` of the files
document on ``close()``. Its public interface is PyMongo's GridIn's:
constructor, fields as attributes and properties, ``write``, ``writelines``,
``close``, ``abort``, ``set``, ``with``.

It is a ``GridIn`` by type (code that checks ``isinstance(obj, GridIn)``, or
wraps results by their PyMongo class, keeps working) with every public
member its own: none of GridIn's code runs, and none of its private methods
is overridden. An insert that fails leaves the file failed: every later
``write()`` or ``close()`` raises that error again, so a file with a chunk
missing is never completed (``abort()`` deletes what was sent). Not
thread-safe, as PyMongo's: motorlike runs its calls on the file's strand.
"""

from __future__ import annotations

import datetime
import io
import warnings
from typing import Any, Callable, Iterable

from bson import ObjectId
from bson.int64 import Int64
from gridfs.errors import FileExists
from gridfs.synchronous.grid_file import DEFAULT_CHUNK_SIZE, GridIn
from pymongo import ASCENDING, ReadPreference
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    DuplicateKeyError,
    InvalidOperation,
    OperationFailure,
    WriteConcernError,
    WriteError,
    WTimeoutError,
)
from pymongo.synchronous.collection import Collection

#: The indexes PyMongo's GridIn creates on an empty bucket before its first
#: chunk (dicts: an index with the same keys in another order counts, as there).
_FILES_INDEX = {"filename": ASCENDING, "uploadDate": ASCENDING}
_CHUNKS_INDEX = {"files_id": ASCENDING, "n": ASCENDING}
#: Server codes of a duplicate key: the file id is taken.
_DUPLICATE_KEY_CODES = (11000, 11001, 12582)


def _refuse_transactions(session: Any) -> None:
    if session is not None and session.in_transaction:
        raise InvalidOperation("GridFS does not support multi-document transactions")


def _field(name: str, doc: str, *, read_only: bool = False, closed_only: bool = False) -> property:
    """A property for one field of the files document, as PyMongo's GridIn has them."""
    deprecated = doc.startswith("DEPRECATED")

    def get(self: WindowedGridIn) -> Any:
        if deprecated:
            warnings.warn(f"GridIn property '{name}' is deprecated and will be removed in PyMongo 5.0",
                          DeprecationWarning, stacklevel=2)
        if closed_only and not self._closed:
            raise AttributeError(f"can only get {name!r} on a closed file")
        return self._file.get(name, 0 if name == "length" else None)

    def set_(self: WindowedGridIn, value: Any) -> None:
        if deprecated:
            warnings.warn(f"GridIn property '{name}' is deprecated and will be removed in PyMongo 5.0",
                          DeprecationWarning, stacklevel=2)
        if self._closed:  # the server first: a failed update leaves the field as it was
            self._root.files.update_one({"_id": {"$eq": self._file["_id"]}}, {"$set": {name: value}})
        self._file[name] = value

    return property(get, None if read_only or closed_only else set_, doc=doc)


class WindowedGridIn(GridIn):
    """Write a file to GridFS (PyMongo's ``GridIn`` interface), a window of chunks per insert.

    ``chunks_per_request(chunk_size)`` says how many chunks one insert
    carries; the other arguments are GridIn's.
    """

    def __init__(
        self,
        chunks_per_request: Callable[[int], int],
        root_collection: Collection,
        session: Any = None,
        **fields: Any,
    ) -> None:
        # GridIn.__init__ is not called: this class keeps its own state.
        if not isinstance(root_collection, Collection):
            raise TypeError(f"root_collection must be an instance of Collection, not {type(root_collection)}")
        if not root_collection.write_concern.acknowledged:
            raise ConfigurationError("root_collection must use acknowledged write_concern")
        _refuse_transactions(session)
        if "content_type" in fields:
            fields["contentType"] = fields.pop("content_type")
        if "chunk_size" in fields:
            fields["chunkSize"] = fields.pop("chunk_size")
        fields.setdefault("_id", ObjectId())
        fields.setdefault("chunkSize", DEFAULT_CHUNK_SIZE)
        # Chunks are plain documents: no custom types, and written to the primary.
        root = root_collection.with_options(
            codec_options=root_collection.codec_options.with_options(type_registry=None),
            read_preference=ReadPreference.PRIMARY,
        )
        state = {
            "_root": root,
            "_session": session,
            "_file": fields,
            "_chunks_per_request": chunks_per_request,
            "_partial": bytearray(),  # the start of the next chunk
            "_waiting": [],  # whole chunk documents not sent yet
            "_chunk_number": 0,
            "_position": 0,
            "_closed": False,
            "_indexes_checked": False,
            "_failed": None,  # the error of an insert that failed: the file can't be completed
        }
        for name, value in state.items():
            object.__setattr__(self, name, value)

    _id = _field("_id", "The ``'_id'`` value for this file.", read_only=True)
    filename = _field("filename", "Name of this file.")
    name = _field("filename", "Alias for `filename`.")
    content_type = _field("contentType", "DEPRECATED, will be removed in PyMongo 5.0. Mime-type for this file.")
    length = _field("length", "Length (in bytes) of this file.", closed_only=True)
    chunk_size = _field("chunkSize", "Chunk size for this file.", read_only=True)
    upload_date = _field("uploadDate", "Date that this file was uploaded.", closed_only=True)
    md5 = _field("md5", "DEPRECATED, will be removed in PyMongo 5.0. MD5 of the contents of this file "
                 "if an md5 sum was created.", closed_only=True)

    @property
    def closed(self) -> bool:
        """Whether this file is closed."""
        return self._closed

    def __getattr__(self, name: str) -> Any:
        file = self.__dict__.get("_file")
        if file is not None and name in file:
            return file[name]
        raise AttributeError(f"GridIn object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        # Any other attribute is a field of the files document, as in PyMongo.
        if name in self.__dict__ or name in vars(type(self)):
            object.__setattr__(self, name, value)
        else:
            self.set(name, value)

    def set(self, name: str, value: Any) -> None:
        """Set a field of the files document; sent at once if the file is closed."""
        self._file[name] = value
        if self._closed:
            self._root.files.update_one({"_id": {"$eq": self._file["_id"]}}, {"$set": {name: value}})

    # -- writing -------------------------------------------------------------

    def write(self, data: Any) -> None:
        """Write bytes, a str (with an ``encoding`` field), or what a file-like object reads."""
        if self._closed:
            raise ValueError("cannot write to a closed file")
        self._raise_if_failed()
        read = getattr(data, "read", None)
        if read is None:
            if isinstance(data, str):
                encoding = self._file.get("encoding")
                if encoding is None:
                    raise TypeError("must specify an encoding for file in order to write str")
                data = data.encode(encoding)
            elif not isinstance(data, bytes):
                raise TypeError("can only write strings or file-like objects")
            read = io.BytesIO(data).read
        chunk_size = self.chunk_size
        partial = self._partial
        if partial:
            space = chunk_size - len(partial)
            try:
                piece = read(space)
            except BaseException:
                self.abort()
                raise
            partial += piece
            if len(piece) < space:
                return  # the end of the data, the chunk not yet whole
            whole = bytes(partial)
            partial.clear()  # before sending: a failed send must not leave it to be sent again
            self._add_chunk(whole)
        piece = read(chunk_size)
        while piece and len(piece) == chunk_size:
            self._add_chunk(piece)
            piece = read(chunk_size)
        partial += piece

    def writelines(self, sequence: Iterable[Any]) -> None:
        """Write each item of ``sequence`` (no separators added)."""
        for item in sequence:
            self.write(item)

    def _raise_if_failed(self) -> None:
        if self._failed is not None:
            raise self._failed

    def _add_chunk(self, data: bytes) -> None:
        if len(data) > self.chunk_size:  # a reader that returned more than asked, say
            raise ValueError(f"a chunk of {len(data)} bytes is larger than the file's chunk size, {self.chunk_size}")
        self._ensure_indexes()
        self._waiting.append({"files_id": self._file["_id"], "n": self._chunk_number, "data": data})
        self._chunk_number += 1
        self._position += len(data)
        if len(self._waiting) >= self._chunks_per_request(self.chunk_size):
            self._send_chunks()

    def _send_chunks(self) -> None:
        if not self._waiting:
            return
        try:
            try:
                self._root.chunks.insert_many(self._waiting, session=self._session)
            except BulkWriteError as exc:
                raise _single_insert_error(exc, self._file["_id"]) from exc
        except BaseException as exc:
            self._failed = exc
            raise
        self._waiting = []

    def _ensure_indexes(self) -> None:
        if self._indexes_checked:
            return
        _refuse_transactions(self._session)
        for collection, keys, unique in ((self._root.files, _FILES_INDEX, False), (self._root.chunks, _CHUNKS_INDEX, True)):
            # Only on an empty collection, and only if it has no such index.
            if collection.find_one(projection={"_id": 1}, session=self._session) is None:
                try:
                    existing = [index["key"] for index in collection.list_indexes(session=self._session)]
                except OperationFailure:
                    existing = []
                if keys not in existing:
                    collection.create_index(list(keys.items()), unique=unique, session=self._session)
        self._indexes_checked = True

    # -- closing -------------------------------------------------------------

    def close(self) -> None:
        """Send what is left and the files document; a closed file takes no more writes.

        Closing again does nothing.
        """
        if self._closed:
            return
        self._raise_if_failed()
        try:
            self._ensure_indexes()
            if self._partial:
                last = bytes(self._partial)
                self._partial.clear()
                self._add_chunk(last)
            self._send_chunks()
            self._file["length"] = Int64(self._position)  # the GridFS spec: SHOULD be an Int64
            self._file["uploadDate"] = datetime.datetime.now(tz=datetime.timezone.utc)
            self._root.files.insert_one(self._file, session=self._session)
        except DuplicateKeyError as exc:
            raise FileExists(f"file with _id {self._file['_id']!r} already exists") from exc
        self._closed = True

    def abort(self) -> None:
        """Delete the chunks (and files document) sent so far, and close."""
        file_id = self._file["_id"]
        self._root.chunks.delete_many({"files_id": {"$eq": file_id}}, session=self._session)
        self._root.files.delete_one({"_id": {"$eq": file_id}}, session=self._session)
        self._closed = True

    def __enter__(self) -> WindowedGridIn:
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> bool:
        """Closes the file; after an exception only marks it closed, as PyMongo's."""
        if exc_type is None:
            self.close()
        else:
            self._closed = True
        return False

    # -- what a writable file is not -------------------------------------------

    def read(self, size: int = -1) -> Any:
        raise io.UnsupportedOperation("read")

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def writeable(self) -> bool:
        return True


def _single_insert_error(error: BulkWriteError, file_id: Any) -> BaseException:
    """The error of one insert for a failed ``insert_many`` of chunks, as PyMongo's GridIn raises."""
    write_errors = error.details.get("writeErrors") or []
    if any(write_error.get("code") in _DUPLICATE_KEY_CODES for write_error in write_errors):
        return FileExists(f"file with _id {file_id!r} already exists")
    if write_errors:
        last = write_errors[-1]
        return WriteError(last.get("errmsg"), last.get("code"), last)
    concern_errors = error.details.get("writeConcernErrors") or []
    if concern_errors:
        last = concern_errors[-1]
        timed_out = last.get("code") == 50 or bool((last.get("errInfo") or {}).get("wtimeout"))
        return (WTimeoutError if timed_out else WriteConcernError)(last.get("errmsg"), last.get("code"), last)
    return error
