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

import bson
import pytest
from pymongo import InsertOne, MongoClient, monitoring

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "bench", "canned_server.py")
RUN = os.path.join(ROOT, "bench", "run.py")


def _start_server():
    proc = subprocess.Popen(
        [sys.executable, SERVER, "--port", "0", "--max-seconds", "300"],
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
    started = time.monotonic()
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
    assert time.monotonic() - started < 120
