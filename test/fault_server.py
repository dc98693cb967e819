"""A tiny MongoDB wire-protocol server that misbehaves on purpose, for tests and benchmarks.

Drivers differ most in how they cope with a server that stops answering: a
stuck call may hold a pooled connection, block an event loop in ``close()``
or lose documents when a cursor is abandoned half-way. A real mongod cannot
be told to go silent on cue, so :class:`FaultServer` fakes one (standard
library and ``bson`` only; it binds to loopback addresses only).
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import itertools
import socket
import struct
import threading
import time

import bson
import bson.errors
from bson.int64 import Int64

OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
#: Commands that "stall_ops" still answers, so server selection succeeds.
HANDSHAKE = frozenset({"hello", "ismaster", "ping", "buildinfo", "endsessions"})
MODES = ("healthy", "stall_ops", "blackhole")
_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode


class FaultServer:
    """Speaks just enough of the MongoDB wire protocol (OP_MSG, and OP_QUERY for legacy hello) to be a standalone server.

    ``mode`` (changeable while running; applies to requests read afterwards):

    * ``"healthy"``: a standalone server, without ``topologyVersion`` so that
      PyMongo's monitor polls rather than streams. ``find`` serves ``docs``
      in their given order (filter and sort are ignored; ``skip``, ``limit``,
      ``batchSize``, ``singleBatch`` are honoured) and ``getMore`` continues
      the cursor; ``insert`` answers ``n``; other commands ``{ok: 1}``.
    * ``"stall_ops"``: answers ``HANDSHAKE`` commands, reads and ignores the
      rest, so calls hang on the wire until the client's socket timeout.
    * ``"blackhole"``: accepts and reads, never answers (not even hello).

    ``get_more_delay`` (seconds) slows every ``getMore``; with
    ``stall_get_more_after=K`` each cursor's getMores after its K-th go
    unanswered. One daemon thread per connection, so a held request blocks
    only its own connection, as on a slow mongod.
    """

    def __init__(self, mode: str = "healthy", host: str = "127.0.0.1", port: int = 0, *,
                 docs: list[dict] | None = None, get_more_delay: float = 0.0,
                 stall_get_more_after: int | None = None, tailing: bool = False) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"FaultServer binds to loopback addresses only, not {host!r}")
        self.mode, self.host, self.port, self.docs = mode, host, port, list(docs or [])
        self.get_more_delay, self.stall_get_more_after = get_more_delay, stall_get_more_after
        # Like an awaitData cursor with nothing new: getMores past the end
        # answer empty batches and keep the cursor open.
        self.tailing = tailing
        self._lock, self._stopping = threading.Lock(), threading.Event()
        self._commands: list[str] = []  # names of the commands received
        self._inserted: list[dict] = []  # documents of every insert answered
        self._stalled = 0  # requests held unanswered on connections still open
        self._cursors: dict[int, dict] = {}  # id -> {"ns", "pos", "left" (of the limit), "get_mores"}
        self._ids = itertools.count(1)  # cursor, request and connection ids
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._acceptor: threading.Thread | None = None

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {value!r}")
        self._mode = value

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    @property
    def commands(self) -> list[str]:
        """Names of every command received so far, answered or not, in arrival order."""
        with self._lock:
            return list(self._commands)

    @property
    def inserted(self) -> list[dict]:
        """Every document an answered ``insert`` carried, in arrival order."""
        with self._lock:
            return list(self._inserted)

    @property
    def stalled(self) -> int:
        """Requests read and currently held unanswered (released when their connection closes)."""
        with self._lock:
            return self._stalled

    def start(self) -> "FaultServer":
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(128)
        listener.settimeout(0.05)  # accept() polls so stop() never depends on waking it up
        self.port = listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True,
                                          name=f"FaultServer-{self.port}-accept")
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Close the listener and every connection; wait (up to ~2 s) for all threads."""
        self._stopping.set()
        with self._lock:
            connections = dict(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):  # shutdown wakes the thread blocked in recv(); it closes the socket
                conn.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 2.0
        for thread in [self._acceptor, *connections.values()]:
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        self._acceptor = None

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _accept_loop(self, listener: socket.socket) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    conn, _ = listener.accept()
                except (socket.timeout, BlockingIOError):
                    continue
                except OSError:
                    return
                conn.settimeout(None)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True,
                                          name=f"FaultServer-{self.port}-conn")
                with self._lock:
                    if self._stopping.is_set():
                        conn.close()
                        return
                    self._connections[conn] = thread
                    thread.start()  # under the lock, so stop() never joins a thread not yet started
        finally:
            listener.close()

    def _serve(self, conn: socket.socket) -> None:
        """Read requests until the peer or stop() closes the connection; answer those the mode allows."""
        held = 0
        try:
            while not self._stopping.is_set():
                length, request_id, _, opcode = _HEADER.unpack(_recv_exactly(conn, 16))
                payload = _recv_exactly(conn, length - 16)
                if opcode == OP_MSG:
                    flags, command = _parse_op_msg(payload)
                elif opcode == OP_QUERY:
                    flags, command = 0, _parse_op_query(payload)
                else:
                    return  # OP_COMPRESSED etc.: never negotiated, so a broken client; drop it
                name = next(iter(command), "")
                with self._lock:
                    self._commands.append(name)
                reply = self._answer(name, command)
                if reply is None:
                    held += 1
                    with self._lock:
                        self._stalled += 1
                    continue
                if flags & 2:  # moreToCome: the client expects no reply (w=0)
                    continue
                if opcode == OP_MSG:  # flagBits 0, one kind-0 section
                    message, reply_opcode = struct.pack("<IB", 0, 0) + bson.encode(reply), OP_MSG
                else:  # OP_REPLY: responseFlags, cursorID, startingFrom, numberReturned, the document
                    message, reply_opcode = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(reply), OP_REPLY
                conn.sendall(_HEADER.pack(16 + len(message), next(self._ids), request_id, reply_opcode) + message)
        except (OSError, EOFError, ValueError, struct.error, bson.errors.BSONError):
            pass
        finally:
            conn.close()
            with self._lock:
                self._stalled -= held
                self._connections.pop(conn, None)

    def _answer(self, name: str, command: dict) -> dict | None:
        """The reply to one command, or None to hold the request unanswered."""
        lower = name.lower()
        if self.mode == "blackhole" or (self.mode == "stall_ops" and lower not in HANDSHAKE):
            return None
        if lower in ("hello", "ismaster"):
            return {"ismaster": True, "isWritablePrimary": True, "helloOk": True,
                    "maxBsonObjectSize": 16 * 1024 * 1024, "maxMessageSizeBytes": 48_000_000,
                    "maxWriteBatchSize": 100_000, "logicalSessionTimeoutMinutes": 30,
                    "localTime": datetime.datetime.now(datetime.timezone.utc),
                    "connectionId": next(self._ids), "minWireVersion": 0, "maxWireVersion": 21,
                    "readOnly": False, "ok": 1.0}
        if lower == "buildinfo":
            return {"version": "7.0.0", "versionArray": [7, 0, 0, 0], "ok": 1.0}
        ns = f"{command.get('$db', 'test')}.{command.get(name)}"
        if name == "find":
            return self._find(ns, command)
        if name == "getMore":
            return self._get_more(int(command[name]), command.get("batchSize"))
        if name == "aggregate":  # the pipeline is ignored: docs, as find serves them
            return self._find(ns, {"batchSize": command.get("cursor", {}).get("batchSize", 101)})
        if name in ("listCollections", "listIndexes"):
            return {"cursor": {"firstBatch": [], "id": Int64(0), "ns": ns}, "ok": 1.0}
        if name == "insert":
            documents = command.get("documents", [])
            with self._lock:
                self._inserted.extend(documents)
            return {"n": len(documents), "ok": 1.0}
        if name == "killCursors":
            with self._lock:
                for cursor_id in command.get("cursors", []):
                    self._cursors.pop(int(cursor_id), None)
            return {"cursorsKilled": command.get("cursors", []), "ok": 1.0}
        return {"ok": 1.0}

    def _find(self, ns: str, command: dict) -> dict:
        limit = abs(int(command.get("limit", 0))) or len(self.docs)
        cursor: dict = {"ns": ns, "pos": int(command.get("skip", 0)), "left": limit, "get_mores": 0}
        batch = self._next_batch(cursor, command.get("batchSize", 101))
        cursor_id = 0
        more = self.tailing or (cursor["left"] > 0 and cursor["pos"] < len(self.docs))
        if more and not command.get("singleBatch"):
            cursor_id = next(self._ids)
            with self._lock:
                self._cursors[cursor_id] = cursor
        return {"cursor": {"firstBatch": batch, "id": Int64(cursor_id), "ns": ns}, "ok": 1.0}

    def _get_more(self, cursor_id: int, batch_size: int | None) -> dict | None:
        with self._lock:
            cursor = self._cursors.get(cursor_id)
            if cursor is not None:
                cursor["get_mores"] += 1
        if cursor is None:
            return {"ok": 0.0, "errmsg": f"cursor id {cursor_id} not found", "code": 43, "codeName": "CursorNotFound"}
        if self.stall_get_more_after is not None and cursor["get_mores"] > self.stall_get_more_after:
            return None
        if self.get_more_delay and self._stopping.wait(self.get_more_delay):
            return None  # stopping: the connection is about to close anyway
        with self._lock:
            batch = self._next_batch(cursor, batch_size or len(self.docs))
            if not self.tailing and (cursor["left"] <= 0 or cursor["pos"] >= len(self.docs)):
                self._cursors.pop(cursor_id, None)
                cursor_id = 0
        return {"cursor": {"nextBatch": batch, "id": Int64(cursor_id), "ns": cursor["ns"]}, "ok": 1.0}

    def _next_batch(self, cursor: dict, batch_size: int) -> list[dict]:
        count = min(int(batch_size) or len(self.docs), cursor["left"])
        batch = self.docs[cursor["pos"]:cursor["pos"] + count]
        cursor["pos"] += len(batch)
        cursor["left"] -= len(batch)
        return batch


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    chunks, missing = [], size
    while missing:
        chunk = conn.recv(min(missing, 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _parse_op_msg(payload: bytes) -> tuple[int, dict]:
    """flagBits and the command: the kind-0 body with each kind-1 document sequence added as a list."""
    (flags,) = struct.unpack_from("<I", payload)
    end = len(payload) - (4 if flags & 1 else 0)  # checksumPresent: a CRC-32C trails the sections
    position, body, sequences = 4, {}, {}
    while position < end:
        kind, (size,) = payload[position], struct.unpack_from("<i", payload, position + 1)
        section, position = payload[position + 1:position + 1 + size], position + 1 + size
        if kind == 0:
            body = bson.decode(section)
        else:  # kind 1: int32 size, cstring identifier, documents
            identifier, _, documents = section[4:].partition(b"\x00")
            sequences[identifier.decode()] = bson.decode_all(documents)
    body.update(sequences)
    return flags, body


def _parse_op_query(payload: bytes) -> dict:
    """The query document of an OP_QUERY (only legacy handshakes to ``admin.$cmd`` arrive this way)."""
    start = payload.index(b"\x00", 4) + 1 + 8  # flags, fullCollectionName, numberToSkip, numberToReturn
    (size,) = struct.unpack_from("<i", payload, start)
    query = bson.decode(payload[start:start + size])
    return query.get("$query", query)  # {$query: ..., $readPreference: ...} wraps the command
