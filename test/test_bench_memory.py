"""Tests of bench/memory.py and of the canned server's `huge` collection it streams.

The smoke run of ``bench/memory.py --quick`` needs the embedded test server
(or ``MOTORLIKE_TEST_URI``) and is marked ``slow``: deselect it with
``-m "not slow"``.  The rest takes a few seconds.
"""

import json
import math
import os
import subprocess
import sys

import pytest
from pymongo import MongoClient, monitoring

from bench import memory
from bench.canned_server import (
    HUGE_CURSOR_TAG,
    HUGE_DEFAULT_BATCH,
    CannedServer,
    huge_cursor_id,
    parse_huge_cursor_id,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY = os.path.join(ROOT, "bench", "memory.py")

pytestmark = pytest.mark.no_server


class _Replies(monitoring.CommandListener):
    """Commands sent, and the length and cursor id of every batch received."""

    def __init__(self):
        self.started_commands = []
        self.batches = []

    def started(self, event):
        self.started_commands.append((event.command_name, event.command.get("batchSize")))

    def succeeded(self, event):
        if event.command_name in ("find", "getMore"):
            cursor = event.reply["cursor"]
            batch = cursor.get("firstBatch", cursor.get("nextBatch"))
            self.batches.append((event.command_name, len(batch), cursor["id"]))

    def failed(self, event):
        self.started_commands.append(("FAILED " + event.command_name, str(event.failure)))

    def names(self, name):
        return [c for c in self.started_commands if c[0] == name]


@pytest.fixture(scope="module")
def huge_server():
    with CannedServer(extra_args=["--quiet"]) as server:
        yield server


def _client(port, listener):
    return MongoClient("127.0.0.1", port, serverSelectionTimeoutMS=10000, event_listeners=[listener])


def test_huge_streams_a_million_documents_through_getmores(huge_server):
    listener = _Replies()
    with _client(huge_server.port, listener) as client:
        count = 0
        ids_ok = True
        expected_id = 0
        for doc in client.benchdb.huge.find({}):
            count += 1
            # `_id` runs from 0 to the batch's length - 1 in every batch
            ids_ok = ids_ok and doc["_id"] == expected_id
            expected_id = (expected_id + 1) % HUGE_DEFAULT_BATCH
        assert count == 1_000_000
        assert ids_ok
        assert len(listener.names("find")) == 1
        assert len(listener.names("getMore")) == 999
        assert not [c for c in listener.started_commands if c[0].startswith("FAILED") or c[0] == "killCursors"]
        assert all(length == HUGE_DEFAULT_BATCH for _name, length, _id in listener.batches)
        assert [cursor_id for _n, _l, cursor_id in listener.batches][-1] == 0
        assert all(cursor_id != 0 for _n, _l, cursor_id in listener.batches[:-1])


def test_huge_honours_batch_size_limit_and_single_batch(huge_server):
    listener = _Replies()
    with _client(huge_server.port, listener) as client:
        coll = client.benchdb.huge
        # batchSize in find and in every getMore
        assert sum(1 for _ in coll.find({}, batch_size=4096)) == 1_000_000
        assert listener.names("find") == [("find", 4096)]
        getmores = listener.names("getMore")
        assert len(getmores) == math.ceil((1_000_000 - 4096) / 4096)
        assert set(getmores) == {("getMore", 4096)}
        assert listener.batches[-1] == ("getMore", 1_000_000 % 4096, 0)

        listener.__init__()
        docs = coll.find({}, limit=2500).to_list()
        assert len(docs) == 2500
        # PyMongo asks the getMore for just what the limit leaves
        assert listener.batches == [("find", 1000, listener.batches[0][2]), ("getMore", 1500, 0)]

        listener.__init__()
        assert len(coll.find({}, limit=-10).to_list()) == 10  # singleBatch
        assert listener.batches == [("find", 10, 0)]
        assert not listener.names("getMore")

        listener.__init__()
        docs = coll.find({}, batch_size=300, limit=1000).to_list()
        assert len(docs) == 1000
        assert [b[1] for b in listener.batches] == [300, 300, 300, 100]


def test_huge_count_option_and_unknown_cursor():
    listener = _Replies()
    with CannedServer(extra_args=["--quiet", "--huge-count", "2345"]) as server:
        with _client(server.port, listener) as client:
            db = client.benchdb
            assert sum(1 for _ in db.huge.find({})) == 2345
            assert [b[1] for b in listener.batches] == [1000, 1000, 345]
            reply = db.command({"getMore": huge_cursor_id(2345, 2345), "collection": "huge"}, check=False)
            assert reply["ok"] == 0 and reply["code"] == 43
            reply = db.command({"getMore": 12345, "collection": "huge"}, check=False)
            assert reply["ok"] == 0


def test_huge_cursor_ids():
    for total, served in [(1_000_000, 1000), (1, 0), (2**28 - 1, 2**28 - 2)]:
        cursor_id = huge_cursor_id(total, served)
        assert 0 < cursor_id < 2**63
        assert cursor_id & HUGE_CURSOR_TAG == HUGE_CURSOR_TAG
        assert parse_huge_cursor_id(cursor_id) == (total, served)
    assert parse_huge_cursor_id(0) is None
    assert parse_huge_cursor_id(0x5EED_0000_0000 + 101) is None  # a `big` cursor


def test_generator_reader_and_sink():
    piece = bytes(range(256)) * 4  # 1 KiB
    assert sum(len(p) for p in memory.pieces(piece, 5000)) == 5000
    reader = memory.GeneratorReader(memory.pieces(piece, 5000))
    parts = [reader.read(700) for _ in range(8)]
    assert [len(p) for p in parts] == [700] * 7 + [100]
    assert b"".join(parts) == (piece * 5)[:5000]
    assert reader.read(10) == b""
    assert memory.GeneratorReader(memory.pieces(piece, 3000)).read() == (piece * 3)[:3000]
    sink = memory.Sink()
    sink.write(b"abc")
    sink.write(memoryview(b"defg"))
    assert sink.count == 7


def test_meter_sees_an_allocation():
    traced = memory.Meter("trace")
    traced.baseline()
    blob = bytearray(8 << 20)
    del blob
    result = traced.stop()
    assert 8 << 20 <= result["trace_peak"] < 9 << 20
    assert abs(result["trace_end"]) < 1 << 20


# RSS in a fresh process: in this one, freed but still resident heap pages
# from earlier tests can take part of the allocation without raising RSS.
_RSS_PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from bench import memory
meter = memory.Meter("rss")
meter.baseline()
blob = bytearray(16 << 20)
for i in range(0, len(blob), 4096):
    blob[i] = 1
del blob
print(json.dumps(meter.stop()))
"""


def test_rss_meter_sees_an_allocation():
    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, ROOT], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    result = json.loads(out)
    assert result["rss_peak"] >= 15 << 20
    assert result["rss_end"] < 4 << 20


def test_batch_size_measurement():
    batch = memory.batch_main(1000)
    assert batch["length"] == 1000
    # a few hundred bytes per small decoded document, tens as BSON
    assert 100_000 < batch["decoded"] < 1_000_000
    assert 30_000 < batch["raw"] < 60_000


@pytest.mark.slow
def test_memory_quick_smoke(tmp_path):
    out = tmp_path / "memory.md"
    raw = tmp_path / "memory.json"
    proc = subprocess.run(
        [sys.executable, MEMORY, "--quick", "--out", str(out), "--json", str(raw)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(raw.read_text())
    cursor = result["cursor"]
    assert cursor["count"] == 20_000
    assert {tuple(c.split("/")) for c in cursor["cases"]} == set(memory.CURSOR_CASES)
    for case, summary in cursor["cases"].items():
        assert summary["n"] == 1, (case, summary["errors"])
        # the first batch is in the baseline: iterating adds at most two batches
        assert summary["trace_peak"] <= 2 * cursor["batch"]["decoded"], case
    for case, summary in result["gridfs"]["cases"].items():
        if not case.endswith("/asis"):
            assert summary["n"] == 1, (case, summary["errors"])
    text = out.read_text()
    assert "## Iterating 20,000 documents" in text
    assert "## GridFS, a 2 MiB file" in text
    assert "## Findings" in text
    assert "| motorlike asyncio | `async for` |" in text
