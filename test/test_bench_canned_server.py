"""Tests of bench/canned_server.py (and a smoke run of bench/run.py --quick).

The smoke run is marked ``slow``: deselect it with ``-m "not slow"``.
"""

import os
import signal
import socket
import struct
import subprocess
import sys
import time

import asyncio

import bson
import pytest
from bson import ObjectId
from gridfs import GridFSBucket
from pymongo import InsertOne, MongoClient, monitoring

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "bench", "canned_server.py")
RUN = os.path.join(ROOT, "bench", "run.py")


def _start_server(*extra):
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--port", "0", "--max-seconds", "300", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        _out, err = proc.communicate()
        pytest.fail("canned server did not start: %r %s" % (line, err))
    return proc, int(line.split()[1])


@pytest.fixture
def server():
    proc, port = _start_server()
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


class _Listener(monitoring.CommandListener):
    def __init__(self):
        self.names = []

    def started(self, event):
        pass

    def succeeded(self, event):
        self.names.append(event.command_name)

    def failed(self, event):
        self.names.append("FAILED:" + event.command_name)


class _Recorder(monitoring.CommandListener):
    """(name, command, reply) of every command that succeeded; failures by name."""

    def __init__(self):
        self.started_commands = {}
        self.calls = []
        self.failed_names = []

    def started(self, event):
        self.started_commands[event.request_id] = event.command

    def succeeded(self, event):
        command = self.started_commands.pop(event.request_id, {})
        self.calls.append((event.command_name, command, event.reply))

    def failed(self, event):
        self.failed_names.append(event.command_name)

    def on(self, name, collection):
        """(command, reply) of the ``name`` commands that went to ``collection``."""
        key = "collection" if name == "getMore" else name
        return [(c, r) for n, c, r in self.calls if n == name and c.get(key) == collection]


def _client(port, **kw):
    return MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=10000, **kw)


def test_hello(server):
    _proc, port = server
    with _client(port) as client:
        reply = client.admin.command("hello")
        assert reply["ok"] == 1
        assert reply["isWritablePrimary"] is True
        assert reply["maxWireVersion"] == 21
        assert reply["minWireVersion"] == 0
        assert reply["logicalSessionTimeoutMinutes"] == 30
        assert reply["maxBsonObjectSize"] == 16 * 1024 * 1024
        assert reply["maxWriteBatchSize"] > 0
        assert isinstance(reply["connectionId"], int)
        legacy = client.admin.command("isMaster")
        assert legacy["ismaster"] is True


def test_find_by_id(server):
    _proc, port = server
    with _client(port) as client:
        coll = client.benchdb.small
        for _id in (7, "abc", 12345):
            doc = coll.find_one({"_id": _id})
            assert doc is not None
            assert doc["_id"] == _id


def test_find_big_uses_getmore(server):
    _proc, port = server
    listener = _Listener()
    with _client(port, event_listeners=[listener]) as client:
        docs = list(client.benchdb.big.find({}))
        assert len(docs) == 10_000
        assert [d["_id"] for d in docs] == list(range(10_000))
        assert listener.names.count("find") == 1
        assert listener.names.count("getMore") == 1
        assert not [n for n in listener.names if n.startswith("FAILED")]
        # a smaller batchSize still gives all documents in one getMore
        docs = list(client.benchdb.big.find({}, batch_size=7))
        assert len(docs) == 10_000
        assert len({d["_id"] for d in docs}) == 10_000


def test_insert_reports_count(server):
    _proc, port = server
    with _client(port) as client:
        coll = client.benchdb.things
        result = coll.insert_many([{"i": i} for i in range(1000)])
        assert len(result.inserted_ids) == 1000
        # inserted_count comes from the server's n (documents in a kind-1 section)
        bulk = coll.bulk_write([InsertOne({"i": i}) for i in range(321)])
        assert bulk.inserted_count == 321
        # documents inside the command body
        reply = client.benchdb.command({"insert": "things", "documents": [{"a": 1}, {"a": 2}, {"a": 3}]})
        assert reply["n"] == 3


GRIDFS_LENGTH = 16 * 1024 * 1024
CHUNK_SIZE = 255 * 1024
CHUNK_COUNT = 65  # 64 full chunks of 261,120 bytes and one of 65,536


def _batch(reply):
    cursor = reply["cursor"]
    return cursor["firstBatch"] if "firstBatch" in cursor else cursor["nextBatch"]


def test_gridfs_pymongo_upload_and_download(server):
    _proc, port = server
    rec = _Recorder()
    with _client(port, event_listeners=[rec]) as client:
        bucket = GridFSBucket(client.benchdb, bucket_name="fs_t")
        file_id = bucket.upload_from_stream("sixteen", b"\xab" * GRIDFS_LENGTH)
        # all 65 chunks in one insert_many (a ~16.7 MB OP_MSG), acknowledged with their count
        chunk_inserts = rec.on("insert", "fs_t.chunks")
        assert [r["n"] for _c, r in chunk_inserts] == [CHUNK_COUNT]
        assert [r["n"] for _c, r in rec.on("insert", "fs_t.files")] == [1]
        # the index checks find a file and a chunk, as on a server that holds files
        assert len(rec.on("find", "fs_t.files")) == 1 and len(rec.on("find", "fs_t.chunks")) == 1
        assert rec.on("find", "fs_t.chunks")[0][1]["cursor"]["firstBatch"][0].keys() == {"_id"}
        del rec.calls[:]

        grid_out = bucket.open_download_stream(file_id)
        data = grid_out.read()
        assert len(data) == GRIDFS_LENGTH
        assert grid_out._id == file_id and grid_out.chunk_size == CHUNK_SIZE
        ((files_cmd, files_reply),) = rec.on("find", "fs_t.files")
        assert files_reply["cursor"]["firstBatch"][0]["_id"] == file_id
        # no batchSize: batches as a mongod cuts them, 16 MiB at most: 64 chunks, then 1
        ((find_cmd, find_reply),) = rec.on("find", "fs_t.chunks")
        assert "batchSize" not in find_cmd
        first = _batch(find_reply)
        assert [c["n"] for c in first] == list(range(64))
        assert all(c["files_id"] == file_id for c in first)
        get_mores = rec.on("getMore", "fs_t.chunks")
        assert [[c["n"] for c in _batch(r)] for _c, r in get_mores] == [[64]]
        assert len(_batch(get_mores[0][1])[0]["data"]) == GRIDFS_LENGTH - 64 * CHUNK_SIZE
        assert get_mores[0][1]["cursor"]["id"] == 0

        # seek: the new chunk cursor starts at n >= 5
        del rec.calls[:]
        grid_out.seek(5 * CHUNK_SIZE + 7)
        assert len(grid_out.read()) == GRIDFS_LENGTH - 5 * CHUNK_SIZE - 7
        ((find_cmd, find_reply),) = rec.on("find", "fs_t.chunks")
        assert find_cmd["filter"]["n"] == {"$gte": 5}
        assert _batch(find_reply)[0]["n"] == 5

        # by filename: the filename is echoed
        del rec.calls[:]
        assert bucket.open_download_stream_by_name("sixteen").filename == "sixteen"

        # an explicit batchSize is honoured by the find and by each getMore, which go on at the right n
        del rec.calls[:]
        chunks = client.benchdb["fs_t.chunks"].find(
            {"files_id": file_id, "n": {"$gte": 3}}, sort=[("n", 1)], batch_size=10
        )
        got = list(chunks)
        assert [c["n"] for c in got] == list(range(3, CHUNK_COUNT))
        assert [len(c["data"]) for c in got] == [CHUNK_SIZE] * 61 + [GRIDFS_LENGTH - 64 * CHUNK_SIZE]
        assert [len(_batch(r)) for _c, r in rec.on("find", "fs_t.chunks")] == [10]
        get_mores = rec.on("getMore", "fs_t.chunks")
        assert [c["batchSize"] for c, _r in get_mores] == [10] * 6
        assert [len(_batch(r)) for _c, r in get_mores] == [10, 10, 10, 10, 10, 2]
    assert rec.failed_names == []


def test_gridfs_large_insert_messages(server):
    # PyMongo's GridIn sends up to 48 MB of chunks per insert_many: OP_MSG
    # document sequences of almost maxMessageSizeBytes must be read whole.
    _proc, port = server
    rec = _Recorder()
    size = 48 * 1024 * 1024
    with _client(port, event_listeners=[rec]) as client:
        bucket = GridFSBucket(client.benchdb, bucket_name="fs_big")
        bucket.upload_from_stream("big", bytes(size))
        counts = [r["n"] for _c, r in rec.on("insert", "fs_big.chunks")]
        assert sum(counts) == -(-size // CHUNK_SIZE)
        assert max(counts) * CHUNK_SIZE > 45_000_000, counts
        assert client.admin.command("ping")["ok"] == 1  # the connection is still fine
    assert rec.failed_names == []


def test_gridfs_motorlike_download(server):
    from motorlike.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorGridFSBucket

    _proc, port = server
    rec = _Recorder()

    async def main():
        client = AsyncIOMotorClient("127.0.0.1", port, serverSelectionTimeoutMS=10000, event_listeners=[rec])
        try:
            bucket = AsyncIOMotorGridFSBucket(client.benchdb, bucket_name="fs_ml")
            uploaded = await bucket.upload_from_stream("three", b"x" * (2 * CHUNK_SIZE + 10))
            file_id = ObjectId()
            grid_out = await bucket.open_download_stream(file_id)
            # Streamed chunk by chunk, fetched a window at a time.
            data = b"".join([chunk async for chunk in grid_out])
            return uploaded, file_id, grid_out._id, len(data)
        finally:
            client.close()

    uploaded, file_id, got_id, length = asyncio.run(asyncio.wait_for(main(), 30))
    assert isinstance(uploaded, ObjectId)
    assert sum(r["n"] for _c, r in rec.on("insert", "fs_ml.chunks")) == 3
    assert [r["n"] for _c, r in rec.on("insert", "fs_ml.files")] == [1]
    assert got_id == file_id
    assert length == GRIDFS_LENGTH
    # motorlike asks a window of 16 chunks per batch: a find and 4 getMores
    finds = [(c, r) for c, r in rec.on("find", "fs_ml.chunks") if "files_id" in c["filter"]]
    assert [(c["batchSize"], len(_batch(r))) for c, r in finds] == [(16, 16)]
    get_mores = rec.on("getMore", "fs_ml.chunks")
    assert [c["batchSize"] for c, _r in get_mores] == [16] * 4
    assert [c["n"] for _c, r in get_mores for c in _batch(r)] == list(range(16, CHUNK_COUNT))
    assert rec.failed_names == []


def _recv_message(sock):
    header = b""
    while len(header) < 16:
        chunk = sock.recv(16 - len(header))
        assert chunk, "server closed the connection"
        header += chunk
    length, request_id, response_to, opcode = struct.unpack("<iiii", header)
    body = b""
    while len(body) < length - 16:
        chunk = sock.recv(length - 16 - len(body))
        assert chunk, "server closed the connection"
        body += chunk
    return request_id, response_to, opcode, body


def _op_msg(request_id, doc, flags=0):
    payload = struct.pack("<I", flags) + b"\x00" + bson.encode(doc)
    return struct.pack("<iiii", 16 + len(payload), request_id, 0, 2013) + payload


def test_legacy_op_query_handshake_and_more_to_come(server):
    _proc, port = server
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        query = bson.encode({"isMaster": 1, "helloOk": True})
        payload = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + query
        sock.sendall(struct.pack("<iiii", 16 + len(payload), 41, 0, 2004) + payload)
        _rid, response_to, opcode, body = _recv_message(sock)
        assert opcode == 1  # OP_REPLY
        assert response_to == 41
        flags, cursor_id, _start, returned = struct.unpack_from("<iqii", body)
        assert (cursor_id, returned) == (0, 1)
        reply = bson.decode(body[20:])
        assert reply["ismaster"] is True and reply["ok"] == 1

        # moreToCome: no reply to request 42; the next reply answers 43
        unacked = {"insert": "x", "documents": [{"a": 1}], "writeConcern": {"w": 0}, "$db": "benchdb"}
        sock.sendall(_op_msg(42, unacked, flags=2) + _op_msg(43, {"hello": 1, "$db": "admin"}))
        _rid, response_to, opcode, body = _recv_message(sock)
        assert opcode == 2013
        assert response_to == 43
        assert bson.decode(body[5:])["isWritablePrimary"] is True


def test_listens_on_loopback_only(server):
    _proc, port = server
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    listening = [r[1] for r in rows if r[3] == "0A" and int(r[1].split(":")[1], 16) == port]
    assert listening == ["0100007F:%04X" % port]


def test_stops_on_sigterm(server):
    proc, port = server
    with _client(port) as client:
        assert client.admin.command("ping")["ok"] == 1
    proc.send_signal(signal.SIGTERM)  # stdin stays open: only the signal stops it
    try:
        _out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("canned server did not stop on SIGTERM")
    assert proc.returncode == 0
    assert "stopped (SIGTERM)" in err
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_stops_by_itself_after_max_requests():
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--port", "0", "--max-requests", "5"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(proc.stdout.readline().split()[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for i in range(5):
                sock.sendall(_op_msg(i + 1, {"ping": 1, "$db": "admin"}))
                _recv_message(sock)
        _out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0
        assert "request limit reached" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.slow
def test_run_quick_smoke(tmp_path):
    proc = subprocess.run(
        [sys.executable, RUN, "--quick", "--server", "canned", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| find_one | ops/s |" in proc.stdout
    assert "PyMongo sync" in proc.stdout
    md = (tmp_path / "benchmarks.md").read_text()
    assert "## canned-unpinned-quick" in md
    # the reference drivers must all have run (motorlike may be missing or failing: reported, not fatal)
    for line in proc.stdout.splitlines():
        fields = line.split()
        if line.startswith("rep ") and fields[3] in ("pymongo", "motor", "pymongo_async"):
            assert "FAILED" not in line, line


def test_reply_delay_keeps_order_and_is_never_early():
    """--reply-delay-ms: each reply leaves the server no sooner than the
    delay after its request (a lower bound holds on any machine), in order."""
    proc, port = _start_server("--reply-delay-ms", "50")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sent = {}
            for request_id in (1, 2, 3):
                sent[request_id] = time.monotonic()
                sock.sendall(_op_msg(request_id, {"ping": 1, "$db": "admin"}))
            for request_id in (1, 2, 3):
                _rid, response_to, opcode, body = _recv_message(sock)
                assert (response_to, opcode) == (request_id, 2013)
                assert time.monotonic() - sent[request_id] >= 0.05
                assert bson.decode(body[5:])["ok"] == 1
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.slow
def test_run_several_processes_at_once(tmp_path):
    proc = subprocess.run(
        [sys.executable, RUN, "--quick", "--processes", "2", "--reply-delay-ms", "0.2", "--drivers",
         "pymongo,motorlike", "--workloads", "find_one", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rep_lines = [line for line in proc.stdout.splitlines() if line.startswith("rep ")]
    assert len(rep_lines) == 2 and not any("FAILED" in line for line in rep_lines), rep_lines
    assert "CPUs busy during motorlike/find_one x2" in proc.stdout
    assert "## canned-delay0.2ms-unpinned-x2processes-quick" in (tmp_path / "benchmarks.md").read_text()
