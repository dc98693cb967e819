"""A canned-reply MongoDB wire-protocol server for driver-bound benchmarks.

The server answers just enough of the protocol that a driver can connect,
run ``find``/``getMore``/``insert``, upload and download a GridFS file and
disconnect, with replies that are encoded once and reused, so that nearly all
of the measured time is spent in the client.  It is *not* a database:
nothing is stored, and every GridFS bucket holds the same canned file.

``--reply-delay-ms D`` sends every reply D ms after it was made (on a
thread of its own, so replies to different connections overlap): a server
with latency, where a driver's own cost weighs less.

What it answers (OP_MSG, opcode 2013):

* ``hello`` / ``isMaster`` / ``ismaster``: a standalone server
  (maxWireVersion 21, logical sessions, no ``topologyVersion`` so drivers use
  polling rather than the streaming monitor protocol).
* ``find`` on collection ``big``: 10,000 small documents, split into a first
  batch of 101 (what a real server sends by default, or ``batchSize`` if the
  request gives a smaller one) with a nonzero cursor id, and one ``getMore``
  that answers the rest with cursor id 0.
* ``find`` on collection ``huge``: 1,000,000 small documents (``--huge-count``),
  streamed in batches of the cursor's ``batchSize`` (from the ``find`` for the
  first batch, from each ``getMore`` for the next; 1,000 if none is given, at
  most 100,000) until all were served; ``limit`` and ``singleBatch`` are
  honoured.  One batch is encoded once per size and reused with only the
  cursor id patched in, so the server stays cheap; ``_id`` runs from 0 to the
  batch's length - 1 in every batch.  The cursor id carries the total and the
  number served so far, so any connection can answer its ``getMore``.
* ``find`` on any collection named ``<bucket>.files``: one files document
  of a 16 MiB file (``length`` 16,777,216, ``chunkSize`` 261,120, a fixed
  ``uploadDate``), whose ``_id`` is the filter's ``_id`` (``v`` or
  ``{$eq: v}``) and ``filename`` the filter's ``filename`` when they are
  given (a canned ObjectId and ``canned.bin`` otherwise); none when ``skip``
  is positive.  A ``projection`` is applied.
* ``find`` on any collection named ``<bucket>.chunks``: that file's 65
  chunks ``{_id, files_id, n, data}`` in ascending ``n`` (64 of 261,120
  bytes, the last of 65,536; the data are zero bytes), restricted by the
  filter's ``n`` (``$gte``, ``$gt``, ``$lt``, ``$lte``, ``$eq`` or a number),
  ``skip`` and ``limit``.  Batches are as a mongod cuts them: ``batchSize``
  chunks if given (the first batch: 101 if not), never more than fit in
  16 MiB (at least one), so a find without ``batchSize`` gets 64 chunks and
  one ``getMore`` the last.  The cursor id carries the chunk range's end and
  the next ``n``, so any connection can answer its ``getMore``.  Each batch
  is encoded once (per namespace, first chunk and length) and reused with
  the cursor id and, in a ``find``'s first batch, the filter's ``files_id``
  (if an ObjectId) patched in; ``getMore`` batches carry the canned file's
  id and all four fields (a stateless cursor does not remember the rest).
* ``find`` with a filter on ``_id``: one small document with that ``_id``.
* ``listIndexes``: ``_id_``, and on ``<bucket>.files`` / ``<bucket>.chunks``
  also the GridFS index (``filename_1_uploadDate_1`` / unique
  ``files_id_1_n_1``).
* any other ``find``, ``aggregate``, ``listCollections``: an empty cursor.
* ``createIndexes``: ``{numIndexesBefore: 1, numIndexesAfter: 1 + <number
  of indexes>, createdCollectionAutomatically: false, ok: 1}``.
* ``insert``: ``{n: <number of documents>, ok: 1}``; the documents may come in
  an OP_MSG kind-1 section (messages up to ``maxMessageSizeBytes``,
  48,000,000 bytes: one GridFS chunk per insert or PyMongo's batches of
  many) or inside the command body.  So GridFS uploads are acknowledged;
  their index checks find the canned file and chunks, as on a server that
  already holds files.
* ``update`` / ``delete``: ``{n: 0, ok: 1}``.
* everything else (``endSessions``, ``killCursors``, ``ping``, ...): ``{ok: 1}``.

Legacy OP_QUERY (opcode 2004) on ``<db>.$cmd`` is answered with OP_REPLY for
the ``isMaster``/``hello`` handshake that drivers may send first; other legacy
commands get ``{ok: 1}`` and legacy queries on collections get an error.

Requests with the ``moreToCome`` flag get no reply (fire-and-forget writes);
``exhaustAllowed`` is ignored: every reply is a single, ordinary one.

It listens on 127.0.0.1 only.  It stops on SIGTERM/SIGINT, after
``--max-requests`` requests, after ``--max-seconds`` seconds, or (with
``--watch-stdin``) when its standard input is closed, so that a benchmark
which dies does not leave it running.

Run it as its own process::

    python bench/canned_server.py --port 0     # prints "PORT <n>" once ready

or from Python with :class:`CannedServer` (a context manager that starts the
process and yields the port).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import os
import signal
import struct
import subprocess
import sys
import threading
import time

import bson
from bson import ObjectId

HOST = "127.0.0.1"  # never anything else

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013

FLAG_CHECKSUM = 1
FLAG_MORE_TO_COME = 2

MAX_BSON_SIZE = 16 * 1024 * 1024
MAX_MESSAGE_SIZE = 48_000_000
MAX_WRITE_BATCH = 100_000

BIG_COLLECTION = "big"
BIG_COUNT = 10_000
DEFAULT_FIRST_BATCH = 101
# The cursor id of a find on `big` carries the size of its first batch, so a
# getMore on any connection knows where to go on from without server state.
BIG_CURSOR_BASE = 0x5EED_0000_0000

HUGE_COLLECTION = "huge"
HUGE_COUNT = 1_000_000
HUGE_DEFAULT_BATCH = 1000
HUGE_MAX_BATCH = 100_000
# A cursor id on `huge`: tag in bits 56-62, total in bits 28-55, number of
# documents already served in bits 0-27.
HUGE_CURSOR_TAG = 0x48 << 56
HUGE_FIELD_MASK = (1 << 28) - 1
HUGE_MAX_COUNT = HUGE_FIELD_MASK
_HUGE_ID_SENTINEL = 0x7A7A_7A7A_7A7A_7A7A
_HUGE_TEMPLATE_LIMIT = 64

# GridFS: any collection named `<bucket>.files` holds one 16 MiB file and any
# `<bucket>.chunks` its chunks.
GRIDFS_FILES_SUFFIX = ".files"
GRIDFS_CHUNKS_SUFFIX = ".chunks"
GRIDFS_LENGTH = 16 * 1024 * 1024
GRIDFS_CHUNK_SIZE = 255 * 1024  # the GridFS default, 261,120 bytes
GRIDFS_CHUNK_COUNT = -(-GRIDFS_LENGTH // GRIDFS_CHUNK_SIZE)  # 65: 64 full chunks and one of 64 KiB
GRIDFS_FILENAME = "canned.bin"
GRIDFS_FILE_ID = ObjectId("63616e6e656466696c650000")  # b"cannedfile\0\0"
# A cursor id on `<bucket>.chunks`: tag in bits 56-62, the end of the chunk
# range in bits 28-55, the next chunk number in bits 0-27.
CHUNKS_CURSOR_TAG = 0x47 << 56
# Chunk batch encodings (up to 16 MiB each) kept at most, in bytes.
_CHUNK_TEMPLATE_BYTES = 64 * 1024 * 1024
_CHUNK_FIELDS = ("_id", "files_id", "n", "data")
_FILE_FIELDS = ("_id", "length", "chunkSize", "uploadDate", "filename")
_FILES_ID_ELEMENT = b"\x07files_id\x00" + GRIDFS_FILE_ID.binary

_HEADER = struct.Struct("<iiii")
_INT32 = struct.Struct("<i")
_UINT32 = struct.Struct("<I")
_REPLY_PREFIX = struct.Struct("<iqii")  # responseFlags, cursorID, startingFrom, numberReturned

_CACHE_LIMIT = 4096


def _small_doc(_id):
    return {"_id": _id, "x": 1, "name": "canned", "tags": ["a", "b"]}


def _big_doc(i):
    return {"_id": i, "x": i, "s": "abcdefghij"}


def huge_cursor_id(total: int, served: int) -> int:
    """The cursor id of a ``huge`` cursor that has served ``served`` of ``total`` documents."""
    return HUGE_CURSOR_TAG | (total << 28) | served


def parse_huge_cursor_id(cursor_id: int):
    """(total, served) from a ``huge`` cursor id, or None if it is not one."""
    if cursor_id <= 0 or cursor_id & ~((1 << 56) - 1) != HUGE_CURSOR_TAG:
        return None
    return (cursor_id >> 28) & HUGE_FIELD_MASK, cursor_id & HUGE_FIELD_MASK


def _huge_batch_size(value) -> int:
    """The batch size to serve for a requested ``batchSize`` (None, 0: the default)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return HUGE_DEFAULT_BATCH
    return min(value, HUGE_MAX_BATCH)


def _first_key(doc: bytes, start: int = 0) -> str:
    """Name of the first element of the BSON document starting at ``start``."""
    nul = doc.index(b"\x00", start + 5)
    return doc[start + 5 : nul].decode("utf-8", "replace")


def _count_documents(buf, pos: int, end: int) -> int:
    n = 0
    while pos < end:
        (size,) = _INT32.unpack_from(buf, pos)
        if size < 5:
            raise ValueError("bad BSON document size in document sequence")
        pos += size
        n += 1
    return n


def chunks_cursor_id(end: int, next_n: int) -> int:
    """The cursor id of a ``<bucket>.chunks`` cursor that goes on at chunk ``next_n``, up to ``end``."""
    return CHUNKS_CURSOR_TAG | (end << 28) | next_n


def parse_chunks_cursor_id(cursor_id: int):
    """(end, next chunk number) from a ``<bucket>.chunks`` cursor id, or None if it is not one."""
    if cursor_id <= 0 or cursor_id & ~((1 << 56) - 1) != CHUNKS_CURSOR_TAG:
        return None
    return (cursor_id >> 28) & HUGE_FIELD_MASK, cursor_id & HUGE_FIELD_MASK


def _int_arg(value, default=None):
    """An integer command argument (``batchSize``, ``limit``, ...), or ``default``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return int(value)


def _filter_value(flt, key):
    """The value a filter pins ``key`` to (``{key: v}`` or ``{key: {"$eq": v}}``), or None."""
    value = flt.get(key)
    if isinstance(value, dict):
        if set(value) != {"$eq"}:
            return None
        value = value["$eq"]
    return value


def _kept_fields(names, projection):
    """Which of ``names`` (a document's fields, in order) a find ``projection`` keeps."""
    if not isinstance(projection, dict) or not projection:
        return tuple(names)

    def shown(value):
        return isinstance(value, dict) or bool(value)  # {"$slice": ...} and the like show the field

    included = {k for k, v in projection.items() if k != "_id" and shown(v)}
    if included or set(projection) == {"_id"} and shown(projection["_id"]):  # {_id: 1} shows _id alone
        keep_id = shown(projection.get("_id", 1))
        return tuple(n for n in names if n in included or (n == "_id" and keep_id))
    excluded = {k for k, v in projection.items() if not shown(v)}
    return tuple(n for n in names if n not in excluded)


def _chunk_id(n: int) -> ObjectId:
    return ObjectId(b"canned\x00\x00" + struct.pack(">I", n))


def _chunk_length(n: int) -> int:
    return min(GRIDFS_CHUNK_SIZE, GRIDFS_LENGTH - n * GRIDFS_CHUNK_SIZE)


class Replies:
    """Every reply body the server sends, encoded once and kept."""

    def __init__(self) -> None:
        self.local_time = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
        self.ok = bson.encode({"ok": 1.0})
        self.insert_n = {}  # n -> encoded {n, ok}
        self.write_zero = bson.encode({"n": 0, "ok": 1.0})
        self.big_docs = [_big_doc(i) for i in range(BIG_COUNT)]
        self._cache = {}
        self.huge_count = HUGE_COUNT
        self._huge_templates = {}  # (batch key, length, ns) -> (encoded reply, offset of the cursor id)
        self.chunk_data = bytes(GRIDFS_CHUNK_SIZE)  # every chunk's data (the last one: its start)
        # (batch key, first n, length, ns, fields) -> (encoded reply, offsets of files_id values, of the cursor id)
        self._chunk_templates = {}
        self._chunk_template_bytes = 0
        self._chunk_doc_sizes = {}  # (fields, data length) -> BSON size of one chunk document

    def hello(self, connection_id: int, legacy: bool) -> bytes:
        doc = {"helloOk": True}
        if legacy:
            doc["ismaster"] = True
        else:
            doc["isWritablePrimary"] = True
        doc.update(
            {
                "maxBsonObjectSize": MAX_BSON_SIZE,
                "maxMessageSizeBytes": MAX_MESSAGE_SIZE,
                "maxWriteBatchSize": MAX_WRITE_BATCH,
                "localTime": self.local_time,
                "logicalSessionTimeoutMinutes": 30,
                "connectionId": connection_id,
                "minWireVersion": 0,
                "maxWireVersion": 21,
                "readOnly": False,
                "ok": 1.0,
            }
        )
        return bson.encode(doc)

    def _cached(self, key, build):
        body = self._cache.get(key)
        if body is None:
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            body = self._cache[key] = bson.encode(build())
        return body

    def inserted(self, n: int) -> bytes:
        body = self.insert_n.get(n)
        if body is None:
            body = bson.encode({"n": n, "ok": 1.0})
            if len(self.insert_n) < _CACHE_LIMIT:
                self.insert_n[n] = body
        return body

    def big_first(self, ns: str, first: int, single_batch: bool) -> bytes:
        def build():
            docs = self.big_docs[:first]
            cursor_id = 0 if single_batch or first >= BIG_COUNT else BIG_CURSOR_BASE + first
            return {"cursor": {"firstBatch": docs, "id": bson.Int64(cursor_id), "ns": ns}, "ok": 1.0}

        return self._cached(("big_first", ns, first, single_batch), build)

    def big_rest(self, ns: str, first: int) -> bytes:
        def build():
            docs = self.big_docs[first:]
            return {"cursor": {"nextBatch": docs, "id": bson.Int64(0), "ns": ns}, "ok": 1.0}

        return self._cached(("big_rest", ns, first), build)

    def huge_batch(self, ns: str, first: bool, length: int, cursor_id: int) -> bytes:
        """A ``huge`` batch of ``length`` documents: a cached encoding with ``cursor_id`` patched in."""
        key = ("firstBatch" if first else "nextBatch", length, ns)
        entry = self._huge_templates.get(key)
        if entry is None:
            docs = [_big_doc(i) for i in range(length)]
            body = bson.encode(
                {"cursor": {key[0]: docs, "id": bson.Int64(_HUGE_ID_SENTINEL), "ns": ns}, "ok": 1.0}
            )
            offset = body.rindex(b"\x12id\x00" + struct.pack("<q", _HUGE_ID_SENTINEL)) + 4
            if len(self._huge_templates) >= _HUGE_TEMPLATE_LIMIT:
                self._huge_templates.clear()
            entry = self._huge_templates[key] = (body, offset)
        body, offset = entry
        return body[:offset] + struct.pack("<q", cursor_id) + body[offset + 8 :]

    def huge_find(self, ns: str, cmd) -> bytes:
        total = self.huge_count
        limit = cmd.get("limit")
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
            total = min(total, limit)
        length = min(_huge_batch_size(cmd.get("batchSize")), total)
        done = length >= total or bool(cmd.get("singleBatch"))
        return self.huge_batch(ns, True, length, 0 if done else huge_cursor_id(total, length))

    def huge_get_more(self, ns: str, total: int, served: int, cmd) -> bytes:
        length = min(_huge_batch_size(cmd.get("batchSize")), total - served)
        served += length
        return self.huge_batch(ns, False, length, 0 if served >= total else huge_cursor_id(total, served))

    def by_id(self, ns: str, _id) -> bytes:
        try:
            key = ("by_id", ns, type(_id).__name__, _id)
            hash(key)
        except TypeError:  # unhashable filter value, e.g. {"$in": [...]}
            return bson.encode(
                {"cursor": {"firstBatch": [_small_doc(_id)], "id": bson.Int64(0), "ns": ns}, "ok": 1.0}
            )
        return self._cached(
            key,
            lambda: {"cursor": {"firstBatch": [_small_doc(_id)], "id": bson.Int64(0), "ns": ns}, "ok": 1.0},
        )

    def empty_cursor(self, ns: str) -> bytes:
        return self._cached(
            ("empty", ns),
            lambda: {"cursor": {"firstBatch": [], "id": bson.Int64(0), "ns": ns}, "ok": 1.0},
        )

    def empty_next(self, ns: str) -> bytes:
        return self._cached(
            ("empty_next", ns),
            lambda: {"cursor": {"nextBatch": [], "id": bson.Int64(0), "ns": ns}, "ok": 1.0},
        )

    # -- GridFS -----------------------------------------------------------
    def gridfs_file(self, ns: str, cmd) -> bytes:
        """A find on ``<bucket>.files``: the canned 16 MiB file (none if ``skip`` passes it)."""
        skip = _int_arg(cmd.get("skip"), 0)
        if skip > 0:
            return self.empty_cursor(ns)
        flt = cmd.get("filter") or {}
        _id = _filter_value(flt, "_id") if "_id" in flt else None
        filename = _filter_value(flt, "filename") if "filename" in flt else None
        if _id is None:
            _id = GRIDFS_FILE_ID
        if not isinstance(filename, str):
            filename = GRIDFS_FILENAME
        fields = _kept_fields(_FILE_FIELDS, cmd.get("projection"))

        def build():
            full = {
                "_id": _id,
                "length": bson.Int64(GRIDFS_LENGTH),
                "chunkSize": GRIDFS_CHUNK_SIZE,
                "uploadDate": self.local_time,
                "filename": filename,
            }
            doc = {k: full[k] for k in fields}
            return {"cursor": {"firstBatch": [doc], "id": bson.Int64(0), "ns": ns}, "ok": 1.0}

        key = ("gridfs_file", ns, type(_id).__name__, _id, filename, fields)
        try:
            hash(key)
        except TypeError:  # an unhashable _id: encode it every time
            return bson.encode(build())
        return self._cached(key, build)

    def _chunk_doc_size(self, fields, data_length: int) -> int:
        key = (fields, data_length)
        size = self._chunk_doc_sizes.get(key)
        if size is None:
            size = self._chunk_doc_sizes[key] = len(bson.encode(self._chunk_doc(0, fields, data_length)))
        return size

    def _chunk_doc(self, n: int, fields, data_length: int):
        full = {"_id": _chunk_id(n), "files_id": GRIDFS_FILE_ID, "n": n, "data": self.chunk_data[:data_length]}
        return {k: full[k] for k in fields}

    def chunk_batch_length(self, start: int, end: int, batch_size, first: bool, fields) -> int:
        """How many chunks from ``start`` a mongod would put in one batch.

        At most ``batchSize`` (101 for a first batch without one) and no more
        than fit in 16 MiB, but always at least one.
        """
        most = batch_size if batch_size and batch_size > 0 else (DEFAULT_FIRST_BATCH if first else end - start)
        count = size = 0
        for n in range(start, min(end, start + most)):
            doc_size = self._chunk_doc_size(fields, _chunk_length(n))
            if count and size + doc_size > MAX_BSON_SIZE:
                break
            size += doc_size
            count += 1
        return count

    def chunk_batch(self, ns: str, first: bool, start: int, length: int, fields, files_id, cursor_id: int):
        """Chunks ``start`` .. ``start + length - 1``: a cached encoding as pieces, ids patched in.

        ``files_id`` is patched into every chunk if it is an ObjectId (the
        canned file's id stays there otherwise).
        """
        key = ("firstBatch" if first else "nextBatch", start, length, ns, fields)
        entry = self._chunk_templates.get(key)
        if entry is None:
            docs = [self._chunk_doc(n, fields, _chunk_length(n)) for n in range(start, start + length)]
            body = bson.encode(
                {"cursor": {key[0]: docs, "id": bson.Int64(_HUGE_ID_SENTINEL), "ns": ns}, "ok": 1.0}
            )
            id_offset = body.rindex(b"\x12id\x00" + struct.pack("<q", _HUGE_ID_SENTINEL)) + 4
            fid_offsets = []
            if "files_id" in fields:
                at = body.find(_FILES_ID_ELEMENT)
                while at >= 0:
                    fid_offsets.append(at + len(_FILES_ID_ELEMENT) - 12)
                    at = body.find(_FILES_ID_ELEMENT, at + len(_FILES_ID_ELEMENT))
            if self._chunk_template_bytes + len(body) > _CHUNK_TEMPLATE_BYTES:
                self._chunk_templates.clear()
                self._chunk_template_bytes = 0
            entry = self._chunk_templates[key] = (memoryview(body), tuple(fid_offsets), id_offset)
            self._chunk_template_bytes += len(body)
        body, fid_offsets, id_offset = entry
        pieces = []
        pos = 0
        if isinstance(files_id, ObjectId) and files_id != GRIDFS_FILE_ID:
            binary = files_id.binary
            for offset in fid_offsets:
                pieces.append(body[pos:offset])
                pieces.append(binary)
                pos = offset + 12
        pieces.append(body[pos:id_offset])
        pieces.append(struct.pack("<q", cursor_id))
        pieces.append(body[id_offset + 8 :])
        return pieces

    def chunks_find(self, ns: str, cmd):
        """A find on ``<bucket>.chunks``: the canned file's chunks, ``n`` ascending."""
        flt = cmd.get("filter") or {}
        start, end = 0, GRIDFS_CHUNK_COUNT
        n_filter = flt.get("n")
        if isinstance(n_filter, dict):
            for op, value in n_filter.items():
                value = _int_arg(value)
                if value is None:
                    continue
                if op == "$gte":
                    start = max(start, value)
                elif op == "$gt":
                    start = max(start, value + 1)
                elif op == "$lt":
                    end = min(end, value)
                elif op == "$lte":
                    end = min(end, value + 1)
                elif op == "$eq":
                    start, end = max(start, value), min(end, value + 1)
        elif _int_arg(n_filter) is not None:
            start, end = max(start, int(n_filter)), min(end, int(n_filter) + 1)
        start += max(0, _int_arg(cmd.get("skip"), 0))
        single = bool(cmd.get("singleBatch"))
        limit = _int_arg(cmd.get("limit"), 0)
        if limit < 0:
            limit, single = -limit, True
        if limit > 0:
            end = min(end, start + limit)
        end = max(end, start)
        fields = _kept_fields(_CHUNK_FIELDS, cmd.get("projection"))
        files_id = _filter_value(flt, "files_id")
        length = self.chunk_batch_length(start, end, _int_arg(cmd.get("batchSize")), True, fields)
        served = start + length
        cursor_id = 0 if single or served >= end else chunks_cursor_id(end, served)
        return self.chunk_batch(ns, True, start, length, fields, files_id, cursor_id)

    def chunks_get_more(self, ns: str, end: int, next_n: int, cmd):
        length = self.chunk_batch_length(next_n, end, _int_arg(cmd.get("batchSize")), False, _CHUNK_FIELDS)
        served = next_n + length
        cursor_id = 0 if served >= end else chunks_cursor_id(end, served)
        return self.chunk_batch(ns, False, next_n, length, _CHUNK_FIELDS, None, cursor_id)

    def list_indexes(self, ns: str, coll: str) -> bytes:
        def build():
            indexes = [{"v": 2, "key": {"_id": 1}, "name": "_id_"}]
            if coll.endswith(GRIDFS_FILES_SUFFIX):
                indexes.append({"v": 2, "key": {"filename": 1, "uploadDate": 1}, "name": "filename_1_uploadDate_1"})
            elif coll.endswith(GRIDFS_CHUNKS_SUFFIX):
                indexes.append({"v": 2, "key": {"files_id": 1, "n": 1}, "name": "files_id_1_n_1", "unique": True})
            return {"cursor": {"firstBatch": indexes, "id": bson.Int64(0), "ns": ns}, "ok": 1.0}

        return self._cached(("list_indexes", ns), build)

    def indexes_created(self, count: int) -> bytes:
        return self._cached(
            ("indexes_created", count),
            lambda: {
                "createdCollectionAutomatically": False,
                "numIndexesBefore": 1,
                "numIndexesAfter": 1 + count,
                "ok": 1.0,
            },
        )

    def error(self, message: str, code: int = 59) -> bytes:
        return bson.encode({"ok": 0.0, "errmsg": message, "code": code})


class Stats:
    def __init__(self) -> None:
        self.requests = 0
        self.replies = 0
        self.connections = 0
        self.open_connections = 0
        self.commands = {}


class WireProtocol(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: "CannedWireServer") -> None:
        self.server = server
        self.replies = server.replies
        self.stats = server.stats
        self.buf = bytearray()
        self.transport = None
        self.connection_id = 0
        self._hello = {}

    # -- asyncio.Protocol -------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.stats.connections += 1
        self.stats.open_connections += 1
        self.connection_id = self.stats.connections
        self.server.protocols.add(self)
        if self.stats.open_connections > self.server.max_connections:
            transport.close()

    def connection_lost(self, exc) -> None:
        self.stats.open_connections -= 1
        self.server.protocols.discard(self)
        self.buf = bytearray()

    def pause_writing(self) -> None:  # the client is not reading: stop reading it too
        self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        n = len(buf)
        try:
            while n - pos >= 16:
                (length,) = _INT32.unpack_from(buf, pos)
                if length < 16 or length > MAX_MESSAGE_SIZE:
                    raise ValueError("bad message length %d" % length)
                if n - pos < length:
                    break
                if pos == 0 and length == n:
                    # The buffer is exactly one message (the usual case, and
                    # the one of a 48 MB insert): hand it over without a copy.
                    self.buf = bytearray()
                    self._handle(buf)
                    return
                self._handle(memoryview(buf)[pos : pos + length].tobytes())
                pos += length
        except Exception as exc:  # malformed input: drop the connection
            sys.stderr.write("canned_server: closing connection %d: %r\n" % (self.connection_id, exc))
            self.transport.close()
            self.buf = bytearray()
            return
        if pos:
            del buf[:pos]

    # -- messages ---------------------------------------------------------
    def _handle(self, msg: bytes) -> None:
        length, request_id, _response_to, opcode = _HEADER.unpack_from(msg, 0)
        stats = self.stats
        stats.requests += 1
        if opcode == OP_MSG:
            self._handle_msg(msg, length, request_id)
        elif opcode == OP_QUERY:
            self._handle_query(msg, length, request_id)
        else:
            raise ValueError("unsupported opcode %d" % opcode)
        if stats.requests >= self.server.max_requests:
            self.server.stop("request limit reached")

    def _send_msg(self, response_to: int, body) -> None:
        """Send one OP_MSG reply; ``body`` is its encoded document, or a list of pieces of it."""
        server = self.server
        server.next_request_id += 1
        if isinstance(body, list):  # joined with the header: one copy of a large body, not two
            size = sum(len(piece) for piece in body)
            header = _HEADER.pack(16 + 4 + 1 + size, server.next_request_id, response_to, OP_MSG)
            server.send(self.transport, b"".join([header, b"\x00\x00\x00\x00\x00", *body]))
        else:
            header = _HEADER.pack(16 + 4 + 1 + len(body), server.next_request_id, response_to, OP_MSG)
            server.send(self.transport, header + b"\x00\x00\x00\x00\x00" + body)
        self.stats.replies += 1

    def _handle_msg(self, msg: bytes, length: int, request_id: int) -> None:
        (flags,) = _UINT32.unpack_from(msg, 16)
        end = length - 4 if flags & FLAG_CHECKSUM else length
        pos = 20
        body_start = -1
        sequences = {}  # identifier -> (start, end) of the documents
        while pos < end:
            kind = msg[pos]
            pos += 1
            (size,) = _INT32.unpack_from(msg, pos)
            if size < 5 or pos + size > end:
                raise ValueError("bad section size")
            if kind == 0:
                body_start = pos
            elif kind == 1:
                nul = msg.index(b"\x00", pos + 4)
                ident = msg[pos + 4 : nul].decode("utf-8", "replace")
                sequences[ident] = (nul + 1, pos + size)
            else:
                raise ValueError("unknown OP_MSG section kind %d" % kind)
            pos += size
        if body_start < 0:
            raise ValueError("OP_MSG without a body section")
        (body_size,) = _INT32.unpack_from(msg, body_start)
        body = msg[body_start : body_start + body_size]
        reply = self._command(body, msg, sequences)
        if flags & FLAG_MORE_TO_COME:
            return  # the client does not want a reply
        self._send_msg(request_id, reply)

    def _command(self, body: bytes, msg: bytes, sequences) -> bytes:
        name = _first_key(body)
        commands = self.stats.commands
        commands[name] = commands.get(name, 0) + 1
        replies = self.replies
        if name in ("hello", "isMaster", "ismaster"):
            return self._hello_reply(legacy=name != "hello")
        if name == "find":
            cmd = bson.decode(body)
            coll = cmd["find"]
            ns = "%s.%s" % (cmd.get("$db", "test"), coll)
            if coll == HUGE_COLLECTION:
                return replies.huge_find(ns, cmd)
            if coll == BIG_COLLECTION:
                first = DEFAULT_FIRST_BATCH
                batch_size = cmd.get("batchSize")
                if isinstance(batch_size, int) and 0 < batch_size < first:
                    first = batch_size
                limit = cmd.get("limit")
                single = bool(cmd.get("singleBatch"))
                if isinstance(limit, int) and limit > 0:
                    first = min(first, limit) if not single else min(BIG_COUNT, limit)
                    single = single or limit <= first
                return replies.big_first(ns, first, single)
            if coll.endswith(GRIDFS_FILES_SUFFIX):
                return replies.gridfs_file(ns, cmd)
            if coll.endswith(GRIDFS_CHUNKS_SUFFIX):
                return replies.chunks_find(ns, cmd)
            flt = cmd.get("filter") or {}
            if "_id" in flt:
                return replies.by_id(ns, flt["_id"])
            return replies.empty_cursor(ns)
        if name == "getMore":
            cmd = bson.decode(body)
            coll = cmd.get("collection", "")
            ns = "%s.%s" % (cmd.get("$db", "test"), coll)
            if coll == HUGE_COLLECTION:
                state = parse_huge_cursor_id(int(cmd.get("getMore", 0)))
                if state is not None and state[1] < state[0]:
                    return replies.huge_get_more(ns, state[0], state[1], cmd)
                return replies.error("cursor id %s not found" % cmd.get("getMore"), code=43)
            if coll.endswith(GRIDFS_CHUNKS_SUFFIX):
                state = parse_chunks_cursor_id(int(cmd.get("getMore", 0)))
                if state is not None and state[1] < state[0]:
                    return replies.chunks_get_more(ns, state[0], state[1], cmd)
                return replies.error("cursor id %s not found" % cmd.get("getMore"), code=43)
            first = int(cmd.get("getMore", 0)) - BIG_CURSOR_BASE
            if coll == BIG_COLLECTION and 0 < first < BIG_COUNT:
                return replies.big_rest(ns, first)
            return replies.empty_next(ns)
        if name == "insert":
            if "documents" in sequences:
                start, stop = sequences["documents"]
                n = _count_documents(msg, start, stop)
            else:
                cmd = bson.decode(body)
                n = len(cmd.get("documents", ()))
            return replies.inserted(n)
        if name in ("update", "delete"):
            return replies.write_zero
        if name == "createIndexes":
            cmd = bson.decode(body)
            indexes = cmd.get("indexes")
            return replies.indexes_created(len(indexes) if isinstance(indexes, list) else 0)
        if name in ("aggregate", "listCollections", "listIndexes"):
            cmd = bson.decode(body)
            target = cmd.get(name)
            if name == "listIndexes" and isinstance(target, str):
                return replies.list_indexes("%s.%s" % (cmd.get("$db", "test"), target), target)
            coll = target if isinstance(target, str) else "$cmd.%s" % name
            return replies.empty_cursor("%s.%s" % (cmd.get("$db", "test"), coll))
        return replies.ok

    def _hello_reply(self, legacy: bool) -> bytes:
        body = self._hello.get(legacy)
        if body is None:
            body = self._hello[legacy] = self.replies.hello(self.connection_id, legacy)
        return body

    def _handle_query(self, msg: bytes, length: int, request_id: int) -> None:
        # flags(int32) fullCollectionName(cstring) numberToSkip numberToReturn query
        nul = msg.index(b"\x00", 20)
        full_name = msg[20:nul].decode("utf-8", "replace")
        query_start = nul + 1 + 8
        if full_name.endswith(".$cmd"):
            name = _first_key(msg, query_start)
            if name == "$query":  # wrapped: {$query: {isMaster: 1}, $readPreference: ...}
                (size,) = _INT32.unpack_from(msg, query_start)
                inner = bson.decode(msg[query_start : query_start + size])["$query"]
                name = next(iter(inner), "")
            commands = self.stats.commands
            commands["legacy:" + name] = commands.get("legacy:" + name, 0) + 1
            if name in ("hello", "isMaster", "ismaster"):
                body = self._hello_reply(legacy=True)
            else:
                body = self.replies.ok
        else:
            body = self.replies.error("legacy OP_QUERY on a collection is not supported")
        server = self.server
        server.next_request_id += 1
        prefix = _REPLY_PREFIX.pack(0, 0, 0, 1)
        header = _HEADER.pack(16 + len(prefix) + len(body), server.next_request_id, request_id, OP_REPLY)
        server.send(self.transport, header + prefix + body)
        self.stats.replies += 1


class DelayedReplies:
    """Sends each reply ``delay`` seconds after it was made: a server (or a
    network) with latency. A thread sleeps until the oldest reply is due
    (``time.sleep`` is precise to tens of microseconds, the loop's timers to
    a millisecond) and hands every due reply to the loop in one callback;
    the delay is the same for all, so replies keep their order."""

    def __init__(self, loop, delay: float) -> None:
        self.loop = loop
        self.delay = delay
        self.pending = collections.deque()
        self.ready = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="canned-delay", daemon=True)
        self.thread.start()

    def send(self, transport, data: bytes) -> None:
        with self.ready:
            self.pending.append((time.monotonic() + self.delay, transport, data))
            if len(self.pending) == 1:
                self.ready.notify()

    def _run(self) -> None:
        while True:
            with self.ready:
                while not self.pending:
                    self.ready.wait()
                due = self.pending[0][0]
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            now = time.monotonic()
            batch = []
            with self.ready:
                while self.pending and self.pending[0][0] <= now:
                    batch.append(self.pending.popleft())
            try:
                self.loop.call_soon_threadsafe(self._write, batch)
            except RuntimeError:  # the loop is closed: the server stopped
                return

    @staticmethod
    def _write(batch) -> None:
        for _due, transport, data in batch:
            if not transport.is_closing():
                transport.write(data)


class CannedWireServer:
    def __init__(
        self, port: int = 0, max_requests: int = 50_000_000, max_connections: int = 1000, huge_count: int = HUGE_COUNT,
        reply_delay: float = 0.0,
    ) -> None:
        self.port = port
        self.reply_delay = reply_delay
        self.delayed = None
        self.max_requests = max_requests
        self.max_connections = max_connections
        self.replies = Replies()
        self.replies.huge_count = huge_count
        self.stats = Stats()
        self.next_request_id = 0
        self._stopped = None
        self.stop_reason = None
        self._server = None
        self.protocols = set()

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        if self.reply_delay > 0:
            self.delayed = DelayedReplies(loop, self.reply_delay)
        self._stopped = asyncio.Event()
        self._server = await loop.create_server(
            lambda: WireProtocol(self), host=HOST, port=self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    def send(self, transport, data: bytes) -> None:
        if self.delayed is None:
            transport.write(data)
        else:
            self.delayed.send(transport, data)

    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if self._stopped is not None:
            self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()
        self._server.close()
        for protocol in list(self.protocols):
            if protocol.transport is not None:
                protocol.transport.close()
        await self._server.wait_closed()


async def _serve(args) -> CannedWireServer:
    server = CannedWireServer(
        args.port, args.max_requests, args.max_connections, args.huge_count, args.reply_delay_ms / 1000
    )
    loop = asyncio.get_running_loop()
    port = await server.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.stop, signal.Signals(sig).name)
    loop.call_later(args.max_seconds, server.stop, "time limit reached")
    stdin_fd = sys.stdin.fileno() if args.watch_stdin else -1
    if stdin_fd >= 0:

        def on_stdin() -> None:
            try:
                data = os.read(stdin_fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(stdin_fd)
                server.stop("stdin closed")

        os.set_blocking(stdin_fd, False)
        loop.add_reader(stdin_fd, on_stdin)
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()
    await server.wait_stopped()
    if stdin_fd >= 0:
        loop.remove_reader(stdin_fd)
    return server


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Canned-reply MongoDB wire-protocol server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--max-requests", type=int, default=50_000_000, help="stop after this many requests")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop after this many seconds")
    parser.add_argument("--max-connections", type=int, default=1000, help="refuse connections beyond this many")
    parser.add_argument("--watch-stdin", action="store_true", help="stop when standard input is closed")
    parser.add_argument(
        "--huge-count", type=int, default=HUGE_COUNT, help="documents a find on `huge` streams (default 1,000,000)"
    )
    parser.add_argument("--quiet", action="store_true", help="no summary on stderr at exit")
    parser.add_argument(
        "--reply-delay-ms", type=float, default=0.0, help="send each reply this long after it is made (latency)"
    )
    args = parser.parse_args(argv)
    if args.reply_delay_ms < 0:
        parser.error("--reply-delay-ms must be >= 0")
    if not 0 <= args.port <= 65535:
        parser.error("bad port")
    if not 0 <= args.huge_count <= HUGE_MAX_COUNT:
        parser.error("--huge-count must be between 0 and %d" % HUGE_MAX_COUNT)
    started = time.monotonic()
    server = asyncio.run(_serve(args))
    if not args.quiet:
        stats = server.stats
        sys.stderr.write(
            "canned_server: stopped (%s) after %.1fs: %d connections, %d requests, %d replies, commands %s\n"
            % (
                server.stop_reason,
                time.monotonic() - started,
                stats.connections,
                stats.requests,
                stats.replies,
                dict(sorted(stats.commands.items())),
            )
        )
    return 0


class CannedServer:
    """Start ``canned_server.py`` in its own process; a context manager.

    ``with CannedServer() as server: server.uri``.  ``server.pid`` is the
    process id (for CPU placement).  On exit the process gets SIGTERM and is
    waited for (killed if it does not stop in time).
    """

    def __init__(self, port: int = 0, python: str = sys.executable, extra_args=(), start_timeout: float = 30.0):
        self.port = port
        self.python = python
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.proc = None
        self.stderr_text = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def uri(self) -> str:
        """``mongodb://127.0.0.1:<port>/``: what a driver connects to."""
        return "mongodb://%s:%d/" % (HOST, self.port)

    def start(self) -> int:
        cmd = [self.python, os.path.abspath(__file__), "--port", str(self.port), "--watch-stdin"]
        cmd += self.extra_args
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        line_box = []
        reader = threading.Thread(target=lambda: line_box.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.start_timeout)
        line = line_box[0] if line_box else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError("canned server did not start: %r %s" % (line, self.stderr_text))
        self.port = int(line.split()[1])
        return self.port

    def stop(self, timeout: float = 10.0) -> int:
        proc = self.proc
        if proc is None:
            return 0
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            _out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _out, err = proc.communicate()
        self.stderr_text = err or ""
        return proc.returncode

    def __enter__(self) -> "CannedServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
