"""A canned-reply MongoDB wire-protocol server for driver-bound benchmarks.

It answers just enough of the protocol for a driver to connect, find, insert,
upload and download a GridFS file, with replies encoded once and reused, so that
nearly all the measured time is spent in the client.  Nothing is stored; every
GridFS bucket holds the same canned 16 MiB file.  It listens on 127.0.0.1 only.

    python bench/canned_server.py [--port 0] [--reply-delay-ms D] [--huge-count N] [--quiet]

prints ``PORT <n>`` once it listens, and a summary on stderr when it stops (on
SIGTERM, SIGINT, or a limit in --help).  ``CannedServer`` runs it as a process.

Replies: ``hello`` (also a legacy OP_QUERY ``isMaster``): a standalone.  ``find``
on ``big``: 10,000 documents, 101 (or ``batchSize``) then the rest in one getMore;
on ``huge``: ``--huge-count`` in batches of ``batchSize`` (else 1,000); on
``<bucket>.files``: a 16 MiB file, on ``<bucket>.chunks``: its 65 chunks, as a
mongod cuts them; else the filter's ``_id`` or nothing.  ``insert``: ``{n: <docs>}``;
``update``, ``delete``: ``{n: 0}``; the rest: ``{ok: 1}``; with w:0, none.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import os
import select
import signal
import struct
import subprocess
import sys
import threading
import time

import bson
from bson import Int64, ObjectId

HOST = "127.0.0.1"  # never anything else
OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
CHECKSUM_PRESENT, MORE_TO_COME = 1, 2
MAX_BSON_SIZE, MAX_MESSAGE_SIZE = 16 * 1024 * 1024, 48_000_000
BIG_COUNT, FIRST_BATCH = 10_000, 101  # FIRST_BATCH: what a mongod sends first, without a smaller batchSize
BIG_CURSOR_BASE = 0x5EED_0000_0000  # + the first batch's length: where a getMore on `big` goes on
HUGE_COUNT, HUGE_DEFAULT_BATCH, HUGE_MAX_BATCH = 1_000_000, 1000, 100_000
# Cursor ids that carry the position, so that any connection can answer a getMore: a tag in bits
# 56-62, the total (or end) in bits 28-55, the position in bits 0-27.
HUGE_CURSOR_TAG, CHUNKS_CURSOR_TAG, FIELD_MASK = 0x48 << 56, 0x47 << 56, (1 << 28) - 1
GRIDFS_LENGTH, CHUNK_SIZE = 16 * 1024 * 1024, 255 * 1024  # the default chunk, 261,120 bytes
CHUNK_LENGTHS = [min(CHUNK_SIZE, GRIDFS_LENGTH - at) for at in range(0, GRIDFS_LENGTH, CHUNK_SIZE)]  # 64 full, 1
GRIDFS_FILE_ID = ObjectId(b"cannedfile\0\0")
FILE_FIELDS, CHUNK_FIELDS = ("_id", "length", "chunkSize", "uploadDate", "filename"), ("_id", "files_id", "n", "data")
SENTINEL_ID = 0x7A7A_7A7A_7A7A_7A7A  # encoded once, batches get their cursor id (and files_id) patched in
CURSOR_KEY, FILES_ID_KEY = b"\x12id\x00", b"\x07files_id\x00"  # BSON: type, name, NUL
ZEROS = bytes(CHUNK_SIZE)  # every chunk's data (sliced whole: the same object, not a copy)
CACHE_LIMIT, CACHE_BYTES = 4096, 64 * 1024 * 1024  # encoded replies kept at most, and their bytes
HEADER, INT32 = struct.Struct("<iiii"), struct.Struct("<i")
OP_REPLY_PREFIX = struct.pack("<iqii", 0, 0, 0, 1)  # responseFlags, cursorID, startingFrom, numberReturned


def huge_cursor_id(total: int, served: int, tag: int = HUGE_CURSOR_TAG) -> int:
    """The id of a ``huge`` cursor (or one with ``tag``) that has served ``served`` of ``total``."""
    return tag | total << 28 | served


def parse_huge_cursor_id(cursor_id: int, tag: int = HUGE_CURSOR_TAG):
    """(total, served) from a ``huge`` cursor id (or one with ``tag``), or None if it is not one."""
    return (cursor_id >> 28 & FIELD_MASK, cursor_id & FIELD_MASK) if cursor_id >> 56 << 56 == tag else None


def _cursor(ns, docs, first=True, cursor_id=0):
    return {"cursor": {"firstBatch" if first else "nextBatch": docs, "id": Int64(cursor_id), "ns": ns}, "ok": 1.0}


def _docs(start, stop):  # of `big` and `huge`
    return [{"_id": i, "x": i, "s": "abcdefghij"} for i in range(start, stop)]


def _chunks(start, stop, fields, empty=False):  # empty: no data, to measure the rest
    docs = [{"_id": ObjectId(b"canned\0\0" + struct.pack(">I", n)), "files_id": GRIDFS_FILE_ID, "n": n,
             "data": ZEROS[: 0 if empty else CHUNK_LENGTHS[n]]} for n in range(start, stop)]
    return [{k: doc[k] for k in fields} for doc in docs]


def _kept(fields, projection):  # the fields an inclusion projection keeps (_id unless it says no)
    return tuple(f for f in fields if projection.get(f, f == "_id")) if projection else fields


def _pinned(flt, key, default=None):  # what a filter pins key to: v or {$eq: v}
    value = flt.get(key, default)
    return value["$eq"] if isinstance(value, dict) and "$eq" in value else value


class Replies:
    """Every reply body (bytes, or a list of pieces of a large one), encoded once and kept."""

    def __init__(self, huge_count: int = HUGE_COUNT) -> None:
        self.huge_count, self.cache, self.cache_bytes = huge_count, {}, 0
        self.started = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)

    def cached(self, key, build, template=False):
        """``build()`` encoded once, kept under ``key``; a template is kept cut where ``fill`` patches it."""
        try:
            return self.cache[key]
        except TypeError:  # an unhashable value (a filter's _id) in the key: encoded each time
            return bson.encode(build())
        except KeyError:
            entry = body = bson.encode(build())
        if template:  # the cursor id follows the batch
            head, _, tail = body.rpartition(CURSOR_KEY + struct.pack("<q", SENTINEL_ID))
            entry = (head.split(FILES_ID_KEY + GRIDFS_FILE_ID.binary), tail)
        if len(self.cache) >= CACHE_LIMIT or self.cache_bytes + len(body) > CACHE_BYTES:
            self.cache, self.cache_bytes = {}, 0
        self.cache[key] = entry
        self.cache_bytes += len(body)
        return entry

    @staticmethod
    def fill(template, cursor_id: int, files_id=GRIDFS_FILE_ID) -> list:
        """A template's reply in pieces (no copy of a large body), with this cursor id and ``files_id``."""
        parts, tail = template  # the body cut at each files_id, and what follows the cursor id
        pieces = [parts[0]]
        for part in parts[1:]:
            pieces += (FILES_ID_KEY, files_id.binary, part)
        return pieces + [CURSOR_KEY, struct.pack("<q", cursor_id), tail]

    def hello(self, connection_id: int) -> bytes:  # no topologyVersion: drivers poll rather than stream
        return bson.encode({
            "helloOk": True, "isWritablePrimary": True, "ismaster": True, "maxBsonObjectSize": MAX_BSON_SIZE,
            "maxMessageSizeBytes": MAX_MESSAGE_SIZE, "maxWriteBatchSize": 100_000, "localTime": self.started,
            "logicalSessionTimeoutMinutes": 30, "connectionId": connection_id, "minWireVersion": 0,
            "maxWireVersion": 21, "readOnly": False, "ok": 1.0})

    def command(self, name: str, cmd: dict, sequence_docs: int):
        if name in ("find", "getMore"):
            coll = cmd["find" if name == "find" else "collection"]
            ns = "%s.%s" % (cmd.get("$db", "test"), coll)
            return self.find(ns, coll, cmd) if name == "find" else self.get_more(ns, coll, int(cmd["getMore"]), cmd)
        if name in ("insert", "update", "delete"):
            n = sequence_docs + len(cmd.get("documents", ())) if name == "insert" else 0
            return self.cached(("n", n), lambda: {"n": n, "ok": 1.0})
        return self.cached("ok", lambda: {"ok": 1.0})

    def find(self, ns: str, coll: str, cmd: dict):
        batch_size, limit = cmd.get("batchSize") or 0, cmd.get("limit") or 0
        single, flt = bool(cmd.get("singleBatch")), cmd.get("filter") or {}
        if coll == "huge":
            total = min(self.huge_count, limit) if limit > 0 else self.huge_count
            length = min(min(batch_size, HUGE_MAX_BATCH) or HUGE_DEFAULT_BATCH, total)
            return self.huge_batch(ns, True, length, 0 if single or length >= total else huge_cursor_id(total, length))
        if coll == "big":
            first = min(batch_size, FIRST_BATCH) if batch_size > 0 else FIRST_BATCH
            return self.cached(("big", ns, first, single), lambda: _cursor(
                ns, _docs(0, first), True, 0 if single else BIG_CURSOR_BASE + first))
        if coll.endswith(".files"):
            doc = {"_id": _pinned(flt, "_id", GRIDFS_FILE_ID), "length": Int64(GRIDFS_LENGTH), "chunkSize": CHUNK_SIZE,
                   "uploadDate": self.started, "filename": _pinned(flt, "filename", "canned.bin")}
            fields = _kept(FILE_FIELDS, cmd.get("projection"))  # one per download: no need to keep it
            return bson.encode(_cursor(ns, [{k: doc[k] for k in fields}]))
        if coll.endswith(".chunks"):
            start = flt["n"].get("$gte", 0) if isinstance(flt.get("n"), dict) else 0
            end = min(len(CHUNK_LENGTHS), start + limit) if limit > 0 else len(CHUNK_LENGTHS)
            fields = _kept(CHUNK_FIELDS, cmd.get("projection"))
            return self.chunks(ns, True, start, end, batch_size, fields, _pinned(flt, "files_id"))
        if "_id" not in flt:
            return self.cached(("empty", ns), lambda: _cursor(ns, []))
        _id = flt["_id"]
        return self.cached(("by_id", ns, type(_id), _id),
                           lambda: _cursor(ns, [{"_id": _id, "x": 1, "name": "canned", "tags": ["a", "b"]}]))

    def get_more(self, ns: str, coll: str, cursor_id: int, cmd: dict):
        batch_size = cmd.get("batchSize") or 0
        state = parse_huge_cursor_id(cursor_id)
        if coll == "huge" and state and state[1] < state[0]:
            total, served = state
            length = min(min(batch_size, HUGE_MAX_BATCH) or HUGE_DEFAULT_BATCH, total - served)
            served += length
            return self.huge_batch(ns, False, length, huge_cursor_id(total, served) if served < total else 0)
        state = parse_huge_cursor_id(cursor_id, CHUNKS_CURSOR_TAG)
        if coll.endswith(".chunks") and state and state[1] < state[0]:
            return self.chunks(ns, False, state[1], state[0], batch_size, CHUNK_FIELDS)
        first = cursor_id - BIG_CURSOR_BASE
        if coll == "big" and 0 < first < BIG_COUNT:
            return self.cached(("big_rest", ns, first), lambda: _cursor(ns, _docs(first, BIG_COUNT), False))
        return bson.encode({"ok": 0.0, "errmsg": "cursor id %d not found" % cursor_id, "code": 43})

    def huge_batch(self, ns: str, first: bool, length: int, cursor_id: int) -> bytes:
        """``length`` documents of ``huge`` (``_id`` from 0) in a reply (memory.py measures a batch with it)."""
        template = self.cached(("huge", ns, first, length),
                               lambda: _cursor(ns, _docs(0, length), first, SENTINEL_ID), template=True)
        return b"".join(self.fill(template, cursor_id))

    def chunks(self, ns, first, start, end, batch_size, fields, files_id=None) -> list:
        """A batch of chunks from ``start`` (before ``end``), as many as a mongod would send (16 MiB at most)."""
        most = batch_size if batch_size > 0 else FIRST_BATCH if first else end - start
        if "data" in fields:  # the short last chunk does not fit after 64 full ones either
            most = min(most, MAX_BSON_SIZE // (CHUNK_SIZE + len(bson.encode(_chunks(0, 1, fields, empty=True)[0]))))
        stop = min(end, start + most)
        cursor_id = 0 if stop >= end else huge_cursor_id(end, stop, CHUNKS_CURSOR_TAG)
        template = self.cached(("chunks", ns, first, start, stop, fields), lambda: _cursor(
            ns, _chunks(start, stop, fields), first, SENTINEL_ID), template=True)
        return self.fill(template, cursor_id, files_id if isinstance(files_id, ObjectId) else GRIDFS_FILE_ID)


class Connection(asyncio.Protocol):
    """One client connection: cuts its byte stream into messages and answers each."""

    server: Server  # set once it listens

    def connection_made(self, transport) -> None:
        self.server.connections_made += 1
        self.transport, self.buf, self.hello, self.id = transport, bytearray(), None, self.server.connections_made

    def data_received(self, data: bytes) -> None:
        buf, pos = self.buf, 0
        buf += data
        try:
            while len(buf) - pos >= 16:
                (length,) = INT32.unpack_from(buf, pos)
                if not 16 <= length <= MAX_MESSAGE_SIZE:
                    raise ValueError("bad message length %d" % length)
                if len(buf) - pos < length:
                    break
                if pos == 0 and length == len(buf):  # just one message (the usual case; a 48 MB insert): no copy
                    self.buf = bytearray()
                    return self.handle(buf)
                self.handle(memoryview(buf)[pos : pos + length].tobytes())
                pos += length
        except Exception as exc:  # malformed input: drop the connection
            sys.stderr.write("canned_server: closing connection %d: %r\n" % (self.id, exc))
            return self.transport.close()
        del buf[:pos]

    def handle(self, msg) -> None:
        _length, request_id, _response_to, opcode = HEADER.unpack_from(msg)
        server = self.server
        server.requests += 1
        if server.requests >= server.args.max_requests:
            server.stop("request limit reached")  # once this reply is written
        if opcode == OP_QUERY:  # legacy: only the handshake on <db>.$cmd that a driver may send first
            query = next(bson.decode_iter(msg[msg.index(b"\0", 20) + 9 :]))  # after numberToSkip, numberToReturn
            return self.send(OP_REPLY, request_id, OP_REPLY_PREFIX, self.answer(next(iter(query), ""), query, 0))
        if opcode != OP_MSG:
            raise ValueError("unsupported opcode %d" % opcode)
        (flags,) = INT32.unpack_from(msg, 16)
        end, pos, body, sequence_docs = len(msg) - 4 * (flags & CHECKSUM_PRESENT), 20, None, 0
        while pos < end:
            kind, (size,) = msg[pos], INT32.unpack_from(msg, pos + 1)
            section_end = pos + 1 + size
            if size < 5 or section_end > end or kind > 1:
                raise ValueError("bad OP_MSG section")
            if kind == 0:
                body = msg[pos + 1 : section_end]
            else:  # a document sequence, up to 48 MB of GridFS chunks: counting its documents by their
                at = msg.index(b"\0", pos + 5) + 1  # sizes is cheap, decoding them would weigh on the client
                while at < section_end:
                    (doc_size,) = INT32.unpack_from(msg, at)
                    if doc_size < 5:
                        raise ValueError("bad document size in a document sequence")
                    at += doc_size
                    sequence_docs += 1
            pos = section_end
        # The name is the first key.  hello, and insert with a document sequence, skip decoding (it slows insert_one)
        name = bytes(body[5 : body.index(b"\0", 5)]).decode()
        lazy = name in ("hello", "isMaster", "ismaster") or name == "insert" and sequence_docs
        reply = self.answer(name, {} if lazy else bson.decode(body), sequence_docs)
        if not flags & MORE_TO_COME:  # moreToCome: the client wants no reply
            self.send(OP_MSG, request_id, b"\0" * 5, reply)  # flags, then a body section

    def answer(self, name: str, cmd: dict, sequence_docs: int):
        self.server.commands[name] += 1
        if name not in ("hello", "isMaster", "ismaster"):
            return self.server.replies.command(name, cmd, sequence_docs)
        self.hello = self.hello or self.server.replies.hello(self.id)  # this connection's: its connectionId
        return self.hello

    def send(self, opcode: int, response_to: int, prefix: bytes, body) -> None:
        server = self.server
        server.replies_sent += 1  # also this reply's requestID
        pieces = body if isinstance(body, list) else [body]
        header = HEADER.pack(16 + len(prefix) + sum(map(len, pieces)), server.replies_sent, response_to, opcode)
        server.send(self.transport, b"".join([header, prefix, *pieces]))  # one copy of a large body


class Server:
    """Replies, connections, counts and why it stopped.  Replies sent late leave from a thread:
    ``time.sleep`` is precise to tens of microseconds, the loop's timers to a millisecond."""

    def __init__(self, args) -> None:
        self.args, self.replies, self.delay = args, Replies(args.huge_count), args.reply_delay_ms / 1000
        self.commands, self.connections_made = collections.Counter(), 0
        self.requests = self.replies_sent = 0
        self.stop_reason, self.pending, self.ready = None, collections.deque(), threading.Condition()

    def send(self, transport, data: bytes) -> None:
        if not self.delay:
            return transport.write(data)
        with self.ready:
            self.pending.append((time.monotonic() + self.delay, transport, data))
            self.ready.notify()

    def send_late(self) -> None:  # the delay thread: all due replies in one callback, in order
        while True:
            with self.ready:
                self.ready.wait_for(lambda: self.pending)
                wait = self.pending[0][0] - time.monotonic()
            time.sleep(max(0.0, wait))
            with self.ready:
                now, due = time.monotonic(), []
                while self.pending and self.pending[0][0] <= now:
                    due.append(self.pending.popleft()[1:])
            try:
                self.loop.call_soon_threadsafe(self.write, due)
            except RuntimeError:  # the loop is closed: the server stopped
                return

    def write(self, replies) -> None:  # on the loop
        for transport, data in replies:
            if not transport.is_closing():
                transport.write(data)

    def stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason
        self.stopped.set()

    def stdin_readable(self) -> None:  # with --watch-stdin: the server stops when its stdin closes
        if not os.read(0, 4096):
            self.stop("stdin closed")

    async def serve(self) -> None:
        self.loop, self.stopped = asyncio.get_running_loop(), asyncio.Event()
        Connection.server = self
        listener = await self.loop.create_server(Connection, HOST, self.args.port, reuse_address=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stop, sig.name)
        self.loop.call_later(self.args.max_seconds, self.stop, "time limit reached")
        if self.delay:
            threading.Thread(target=self.send_late, name="canned-delay", daemon=True).start()
        if self.args.watch_stdin:
            self.loop.add_reader(0, self.stdin_readable)
        print("PORT %d" % listener.sockets[0].getsockname()[1], flush=True)
        await self.stopped.wait()
        listener.close()  # open connections close with the process, which ends now


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Canned-reply MongoDB wire-protocol server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--reply-delay-ms", type=float, default=0.0, help="send each reply this late (latency)")
    parser.add_argument("--huge-count", type=int, default=HUGE_COUNT, help="documents a find on `huge` streams")
    parser.add_argument("--max-requests", type=int, default=50_000_000, help="stop after this many requests")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="stop after this many seconds")
    parser.add_argument("--watch-stdin", action="store_true", help="stop when standard input is closed")
    parser.add_argument("--quiet", action="store_true", help="no summary on stderr at exit")
    args = parser.parse_args(argv)
    if not 0 <= args.huge_count <= FIELD_MASK:  # as a cursor id carries it
        parser.error("--huge-count must be from 0 to %d" % FIELD_MASK)
    started, server = time.monotonic(), Server(args)
    asyncio.run(server.serve())
    if not args.quiet:
        summary = "canned_server: stopped (%s) after %.1fs: %d connections, %d requests, %d replies, commands %s\n"
        sys.stderr.write(summary % (server.stop_reason, time.monotonic() - started, server.connections_made,
                                    server.requests, server.replies_sent, dict(sorted(server.commands.items()))))
    return 0


class CannedServer:
    """This server in its own process: ``with CannedServer(extra_args=[...]) as server:`` gives ``server.uri``,
    ``.port`` and ``.proc``; on exit, what it wrote on stderr is ``stderr_text``."""

    def __init__(self, extra_args=()) -> None:
        self.extra_args, self.stderr_text = list(extra_args), ""

    def __enter__(self) -> "CannedServer":
        command = [sys.executable, os.path.abspath(__file__), "--watch-stdin", *self.extra_args]
        pipe = subprocess.PIPE
        self.proc = subprocess.Popen(command, stdin=pipe, stdout=pipe, stderr=pipe, text=True)
        line = self.proc.stdout.readline() if select.select([self.proc.stdout], [], [], 30)[0] else ""
        if not line.startswith("PORT "):
            self.__exit__()
            raise RuntimeError("canned server did not start: %r %s" % (line, self.stderr_text))
        self.port = int(line.split()[1])
        self.uri = "mongodb://%s:%d/" % (HOST, self.port)
        return self

    def __exit__(self, *exc) -> None:
        try:  # communicate closes its stdin: it stops (--watch-stdin)
            self.stderr_text = self.proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.stderr_text = self.proc.communicate()[1]


if __name__ == "__main__":
    sys.exit(main())
