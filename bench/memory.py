"""Memory benchmark: long cursors and large GridFS files, motorlike against its peers.

    python bench/memory.py [--quick] [--only cursor|gridfs] [--repeat N] [--gridfs-mib N]
                           [--uri mongodb://127.0.0.1:...] [--out PATH | --no-write]

It measures two requirements:

1. "Iterating 1,000,000 documents keeps memory within two batches."  The
   canned server (``bench/canned_server.py``, its own process) streams the
   collection ``huge``: 1,000,000 small documents, 1,000 per batch, through
   ``getMore`` after ``getMore``.  Each driver iterates all of them:
   motorlike asyncio (``async for``, and ``to_list(1000)`` repeated until it
   returns an empty list), motorlike Tornado (``async for``), Motor 3.7.1,
   PyMongo's AsyncMongoClient (``async for`` and ``to_list(1000)``) and sync
   PyMongo (``for`` and ``Cursor.to_list(1000)``).
2. GridFS: uploading a 64 MiB file (``upload_from_stream`` from a file-like
   object whose ``read`` takes its data from a generator of 1 MiB pieces, and
   ``open_upload_stream`` + ``write`` of 1 MiB pieces) and downloading it
   (``open_download_stream`` + ``async for chunk`` / ``readchunk()``,
   ``download_to_stream`` to a sink that discards the data, and
   ``open_download_stream`` + ``read()`` of the whole file), with motorlike
   asyncio, Motor 3.7.1 and sync PyMongo's ``GridFSBucket``, against the
   embedded mongoeco server (``motorlike.testserver``) or ``--uri``.

Method
------
* Every measurement runs in a fresh subprocess (``memory.py --worker ...``)
  that connects, does what comes before the measured operation, then takes a
  baseline (after ``gc.collect()``), runs the operation and reads the peak.
* Each case runs twice, in two processes: once without tracemalloc for the
  RSS and the elapsed time, once with tracemalloc for Python's allocations.
* RSS: at the baseline the process's high-water mark is reset to the current
  RSS (``echo 5 > /proc/self/clear_refs``), so ``ru_maxrss`` (= ``VmHWM``)
  afterwards is the peak since the baseline, not some earlier peak from
  imports; growth = that peak - the RSS at the baseline.  Where the reset is
  not allowed, growth is ``ru_maxrss`` after - ``ru_maxrss`` at the baseline.
* tracemalloc: started before the client is made (so all allocations of the
  driver and its threads are traced); growth = peak traced memory since the
  baseline (``reset_peak()``) - traced memory at the baseline.
* Cursors: the baseline is taken after connect + the first batch (after the
  first document, or the first ``to_list(1000)``).  "Held" counts from just
  before the ``find`` instead (after a ``ping``), first batch included.  A "batch" is the
  tracemalloc size of one batch of decoded documents as the server sends it
  (a list of dicts decoded from the canned server's own reply); the raw BSON
  size of a batch is given too.  ``to_list`` keeps the previous list alive
  while the next one is fetched, as ``docs = await cursor.to_list(1000)`` in
  a loop does.
* GridFS: the baseline is taken after connect (``ping``), making the bucket
  and the 1 MiB piece (made once by ``os.urandom`` and yielded again and
  again).  Growth is given in MiB and in chunk sizes (255 KiB).  The
  download file is uploaded once beforehand by sync PyMongo; every uploaded
  file is deleted after its measurement.  mongoeco answers a find on the
  chunks with every chunk in one reply whatever its size (a real mongod stops
  a batch at 16 MiB), which PyMongo refuses above 48 MB; so downloads through
  PyMongo's own GridOut (Motor, sync PyMongo) get mongod's batches: when the
  driver leaves the chunk cursor's batch size to the server, it is set to 64
  chunks (16 MiB).  motorlike's GridOut, which its ``download_to_stream``
  uses too, sets its own: a window (``motorlike.motor_gridfs.WINDOW_BYTES``,
  4 MiB), which is also what its GridIn sends per insert.
* "What if" rows change one motorlike setting inside the worker (never
  motorlike's files) to show what it buys: the window (set to PyMongo's own
  48 MB upload buffer, and to one chunk, motorlike's setting before windows).
* The bound a row is held to ("within bound"): two windows and 3 chunks (a
  streamed download: a batch's reply and the chunks decoded from it; an
  upload: the chunks waiting and the insert encoding them), and for a
  ``read()`` of the file the file itself besides (the window's size as that
  row's process has it).
* Figures are the median over ``--repeat`` runs (default 3); the "worst run"
  column is the largest growth of any run, RSS or traced.

Results are printed and written to ``doc/memory.md`` (``--out`` elsewhere,
``--no-write`` not at all; ``--json PATH`` keeps the raw figures).  A full
run takes about 5 minutes on 2 vCPUs.  ``--quick`` is a smoke test (20,000
documents, a 2 MiB file, one run, about 40 s) that writes nothing unless
``--out`` is given.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench.*, motorlike: this tree

from bench import harness  # noqa: E402
from bench.harness import DRIVER_LABELS, maxrss_kib  # noqa: E402

ROOT = harness.ROOT

MiB = 1024 * 1024
CHUNK_SIZE = 255 * 1024  # GridFS default chunk size
DB_NAME = "motorlike_memory"
HUGE_COLL = "huge"  # bench/canned_server.py streams HUGE_COUNT documents for it
TO_LIST_LENGTH = 1000
UPLOAD_BUCKET = "memup"
DOWNLOAD_BUCKET = "memdown"
MONGOD_BATCH_CHUNKS = (16 * MiB) // (CHUNK_SIZE + 64)  # 64: what a mongod puts in a 16 MiB batch
TWO_BATCHES = 2.0
# The bound of a GridFS row beyond its windows: a few chunks (the chunk being
# read or written, the one decoded from the batch, the allocator's slack).
FEW_CHUNKS = 3.0
WINDOW = 4 * MiB  # motorlike.motor_gridfs.WINDOW_BYTES by default

SIZES = {
    "full": {"huge_count": 1_000_000, "gridfs_mib": 64, "repeat": 3},
    "quick": {"huge_count": 20_000, "gridfs_mib": 2, "repeat": 1},
}

# (driver, method): method "for" is async for (sync: for), "to_list" is to_list(1000) until empty
CURSOR_CASES = [
    ("motorlike", "for"),
    ("motorlike", "to_list"),
    ("motorlike_tornado", "for"),
    ("motor", "for"),
    ("motor", "to_list"),
    ("pymongo_async", "for"),
    ("pymongo_async", "to_list"),
    ("pymongo", "for"),
    ("pymongo", "to_list"),
]

GRIDFS_METHODS = {
    "upload_from_stream": "upload_from_stream(file-like object fed by a generator of 1 MiB pieces)",
    "upload_write": "open_upload_stream + write(1 MiB piece) ... + close",
    "download_iter": "open_download_stream + async for chunk (sync: readchunk() loop)",
    "download_to_stream": "download_to_stream(file id, sink that discards)",
    "download_read": "open_download_stream + read() of the whole file",
}


def _bound_bytes(method: str, window: int, size: int) -> float:
    """What a row of ``method`` may grow by: its windows and FEW_CHUNKS chunks (and the result of a read)."""
    window_chunks = max(1, window // CHUNK_SIZE)  # whole chunks per request, as motorlike counts them
    # Uploads: the window's chunks and the insert encoding them; downloads: a
    # batch's reply and the chunks PyMongo decodes from it.
    windows = 2
    extra = size if method == "download_read" else 0
    return (windows * window_chunks + FEW_CHUNKS) * CHUNK_SIZE + extra


def _gridfs_cases():
    """(case id, driver, method, settings, note) of every GridFS measurement."""
    cases = []
    for method in GRIDFS_METHODS:
        for driver in ("motorlike", "motor", "pymongo"):
            settings = {}
            if method.startswith("download"):
                settings["default_chunk_batch"] = MONGOD_BATCH_CHUNKS
            cases.append(("%s/%s" % (method, driver), driver, method, settings, ""))
    pymongo_buffer = "what if: WINDOW_BYTES = 48 MB (PyMongo's own upload buffer)"
    for method in ("upload_from_stream", "upload_write"):
        cases.append(("%s/motorlike/pymongo_buffer" % method, "motorlike", method,
                      {"window": 48_000_000}, pymongo_buffer))
    one_chunk = "what if: WINDOW_BYTES = 255 KiB (a chunk per request, as before windows)"
    for method in ("upload_write", "download_iter", "download_read"):
        cases.append(("%s/motorlike/one_chunk" % method, "motorlike", method, {"window": CHUNK_SIZE}, one_chunk))
    return cases


# ---------------------------------------------------------------------------
# worker side: one measurement in its own process
# ---------------------------------------------------------------------------


def _proc_status_kib() -> dict:
    found = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":", 1)
                    found[key] = int(value.split()[0])
    except OSError:
        pass
    return found


def _reset_rss_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Meter:
    """Peak memory growth from a baseline: RSS (mode "rss") or tracemalloc (mode "trace")."""

    def __init__(self, mode: str) -> None:
        if mode not in ("rss", "trace"):
            raise ValueError("mode must be rss or trace")
        self.mode = mode
        self.t0 = None
        self.pre_value = None  # memory in use at pre(), if it was called
        self.pre_peak = None  # peak from pre() to baseline()
        if mode == "trace":
            tracemalloc.start()

    def pre(self) -> None:
        """Optional: mark the state before the first batch (connected, nothing fetched)."""
        gc.collect()
        if self.mode == "trace":
            self.pre_value = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
        elif _reset_rss_high_water_mark():
            self.pre_value = _proc_status_kib().get("VmRSS", 0) * 1024

    def baseline(self) -> None:
        gc.collect()
        if self.mode == "trace":
            current, peak = tracemalloc.get_traced_memory()
            if self.pre_value is not None:
                self.pre_peak = peak
            self.base_traced = current
            tracemalloc.reset_peak()
        else:
            if self.pre_value is not None:
                self.pre_peak = _proc_status_kib().get("VmHWM", 0) * 1024
            self.hwm_reset = _reset_rss_high_water_mark()
            self.base_status = _proc_status_kib()
            self.base_maxrss = maxrss_kib()
        self.t0 = time.perf_counter()

    def stop(self) -> dict:
        seconds = time.perf_counter() - self.t0
        if self.mode == "trace":
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            result = {
                "trace_seconds": seconds,
                "trace_peak": peak - self.base_traced,
                "trace_end": current - self.base_traced,
            }
            if self.pre_value is not None:
                result["trace_held"] = max(self.pre_peak, peak) - self.pre_value
            return result
        maxrss = maxrss_kib()
        status = _proc_status_kib()
        ru_growth = (maxrss - self.base_maxrss) * 1024
        base_rss = self.base_status.get("VmRSS")
        if self.hwm_reset and base_rss is not None and "VmHWM" in status:
            peak = (status["VmHWM"] - base_rss) * 1024
        else:
            peak = ru_growth
        result = {
            "seconds": seconds,
            "rss_peak": peak,
            "ru_maxrss_growth": ru_growth,
            "rss_end": (status.get("VmRSS", 0) - (base_rss or 0)) * 1024,
            "hwm_reset": self.hwm_reset,
        }
        if self.pre_value is not None and self.hwm_reset and "VmHWM" in status:
            result["rss_held"] = max(self.pre_peak, status["VmHWM"] * 1024) - self.pre_value
        return result


async def _cursor_async(client_cls, spec: dict, meter: Meter) -> dict:
    client = client_cls(spec["uri"], serverSelectionTimeoutMS=20000)
    try:
        await client.admin.command("ping")
        meter.pre()
        cursor = client[DB_NAME][HUGE_COLL].find({})
        if spec.get("batch_size"):
            cursor = cursor.batch_size(spec["batch_size"])
        if spec["method"] == "to_list":
            docs = await cursor.to_list(TO_LIST_LENGTH)
            count = len(docs)
            meter.baseline()
            while True:
                docs = await cursor.to_list(TO_LIST_LENGTH)
                if not docs:
                    break
                count += len(docs)
        else:
            await cursor.__anext__()  # the first batch arrives; its first document is dropped at once
            count = 1
            meter.baseline()
            async for _doc in cursor:
                count += 1
        result = meter.stop()
    finally:
        await harness.maybe_await(client.close())
    result["count"] = count
    return result


def _cursor_sync(client_cls, spec: dict, meter: Meter) -> dict:
    client = client_cls(spec["uri"], serverSelectionTimeoutMS=20000)
    try:
        client.admin.command("ping")
        meter.pre()
        cursor = client[DB_NAME][HUGE_COLL].find({})
        if spec.get("batch_size"):
            cursor = cursor.batch_size(spec["batch_size"])
        if spec["method"] == "to_list":
            docs = cursor.to_list(TO_LIST_LENGTH)
            count = len(docs)
            meter.baseline()
            while True:
                docs = cursor.to_list(TO_LIST_LENGTH)
                if not docs:
                    break
                count += len(docs)
        else:
            next(cursor)  # the first batch arrives; its first document is dropped at once
            count = 1
            meter.baseline()
            for _doc in cursor:
                count += 1
        result = meter.stop()
    finally:
        client.close()
    result["count"] = count
    return result


def pieces(piece: bytes, total: int):
    """``piece`` again and again (the last one cut short) until ``total`` bytes were given."""
    sent = 0
    while sent < total:
        part = piece if total - sent >= len(piece) else piece[: total - sent]
        sent += len(part)
        yield part


class GeneratorReader:
    """A read-only file-like object whose data comes from a generator of bytes pieces."""

    def __init__(self, parts) -> None:
        self._parts = iter(parts)
        self._view = memoryview(b"")
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = sys.maxsize
        out = []
        while size > 0:
            if self._pos >= len(self._view):
                part = next(self._parts, None)
                if part is None:
                    break
                self._view = memoryview(part)
                self._pos = 0
            taken = self._view[self._pos : self._pos + size]
            self._pos += len(taken)
            size -= len(taken)
            out.append(taken)
        if len(out) == 1:
            return bytes(out[0])
        return b"".join(out)

    def readable(self) -> bool:
        return True


class Sink:
    """A file-like object that counts what is written to it and keeps nothing."""

    def __init__(self) -> None:
        self.count = 0

    def write(self, data) -> int:
        self.count += len(data)
        return len(data)


def _apply_settings(settings: dict) -> None:
    """The worker-only changes of a case: mongod-like batches and "what if" settings."""
    if settings.get("window"):
        import motorlike.motor_gridfs as motor_gridfs

        motor_gridfs.WINDOW_BYTES = settings["window"]
    if settings.get("default_chunk_batch"):
        from gridfs.synchronous.grid_file import GridOutChunkIterator

        chunks_per_batch = settings["default_chunk_batch"]
        create_cursor = GridOutChunkIterator._create_cursor

        def _create_cursor(self) -> None:
            create_cursor(self)
            if not self._cursor._batch_size:  # left to the server: batches as a mongod would send
                self._cursor.batch_size(chunks_per_batch)

        GridOutChunkIterator._create_cursor = _create_cursor


async def _gridfs_async(client_cls, bucket_cls, spec: dict, meter: Meter) -> dict:
    from bson import ObjectId

    size = spec["size"]
    method = spec["method"]
    client = client_cls(spec["uri"], serverSelectionTimeoutMS=20000)
    result = {}
    try:
        db = client[DB_NAME]
        await db.command("ping")
        upload = method.startswith("upload")
        bucket = bucket_cls(db, bucket_name=UPLOAD_BUCKET if upload else DOWNLOAD_BUCKET)
        piece = os.urandom(MiB)
        meter.baseline()
        if method == "upload_from_stream":
            file_id = await bucket.upload_from_stream("memory", GeneratorReader(pieces(piece, size)))
        elif method == "upload_write":
            grid_in = bucket.open_upload_stream("memory")
            for part in pieces(piece, size):
                await grid_in.write(part)
            await grid_in.close()
            file_id = grid_in._id
        elif method == "download_iter":
            grid_out = await bucket.open_download_stream(ObjectId(spec["file_id"]))
            count = 0
            async for chunk in grid_out:
                count += len(chunk)
            result["count"] = count
        elif method == "download_to_stream":
            sink = Sink()
            await bucket.download_to_stream(ObjectId(spec["file_id"]), sink)
            result["count"] = sink.count
        elif method == "download_read":
            grid_out = await bucket.open_download_stream(ObjectId(spec["file_id"]))
            result["count"] = len(await grid_out.read())
        else:
            raise ValueError("unknown method %r" % method)
        result.update(meter.stop())
        if upload:
            document = await db[UPLOAD_BUCKET + ".files"].find_one({"_id": file_id})
            result["count"] = document["length"] if document else -1
            await bucket.delete(file_id)
    finally:
        await harness.maybe_await(client.close())
    return result


def _gridfs_sync(client_cls, bucket_cls, spec: dict, meter: Meter) -> dict:
    from bson import ObjectId

    size = spec["size"]
    method = spec["method"]
    client = client_cls(spec["uri"], serverSelectionTimeoutMS=20000)
    result = {}
    try:
        db = client[DB_NAME]
        db.command("ping")
        upload = method.startswith("upload")
        bucket = bucket_cls(db, bucket_name=UPLOAD_BUCKET if upload else DOWNLOAD_BUCKET)
        piece = os.urandom(MiB)
        meter.baseline()
        if method == "upload_from_stream":
            file_id = bucket.upload_from_stream("memory", GeneratorReader(pieces(piece, size)))
        elif method == "upload_write":
            grid_in = bucket.open_upload_stream("memory")
            for part in pieces(piece, size):
                grid_in.write(part)
            grid_in.close()
            file_id = grid_in._id
        elif method == "download_iter":
            grid_out = bucket.open_download_stream(ObjectId(spec["file_id"]))
            count = 0
            while True:
                chunk = grid_out.readchunk()
                if not chunk:
                    break
                count += len(chunk)
            result["count"] = count
        elif method == "download_to_stream":
            sink = Sink()
            bucket.download_to_stream(ObjectId(spec["file_id"]), sink)
            result["count"] = sink.count
        elif method == "download_read":
            grid_out = bucket.open_download_stream(ObjectId(spec["file_id"]))
            result["count"] = len(grid_out.read())
        else:
            raise ValueError("unknown method %r" % method)
        result.update(meter.stop())
        if upload:
            document = db[UPLOAD_BUCKET + ".files"].find_one({"_id": file_id})
            result["count"] = document["length"] if document else -1
            bucket.delete(file_id)
    finally:
        client.close()
    return result


def worker_main(spec: dict) -> dict:
    driver = spec["driver"]
    out = {"case": spec["case"], "mode": spec["mode"], "driver": driver}
    try:
        client_cls, bucket_cls, version = harness.import_driver(driver)
        out["version"] = version
        _apply_settings(spec.get("settings") or {})
        meter = Meter(spec["mode"])
        if spec["kind"] == "cursor":
            if driver == "pymongo":
                res = _cursor_sync(client_cls, spec, meter)
            else:
                res = harness.run_async(driver, lambda: _cursor_async(client_cls, spec, meter))
        else:
            if driver == "pymongo":
                res = _gridfs_sync(client_cls, bucket_cls, spec, meter)
            else:
                res = harness.run_async(driver, lambda: _gridfs_async(client_cls, bucket_cls, spec, meter))
    except Exception as exc:
        out.update(harness.failed(exc, limit=300))
        return out
    out.update(res)
    expected = spec["expected"]
    out["ok"] = res.get("count") == expected
    if not out["ok"]:
        out["error"] = "got %s documents/bytes, expected %s" % (res.get("count"), expected)
    return out


def batch_main(batch_length: int) -> dict:
    """The size of one batch of the canned server's documents: raw BSON and decoded."""
    import bson
    from bench.canned_server import Replies

    body = Replies().huge_batch("%s.%s" % (DB_NAME, HUGE_COLL), False, batch_length, 0)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    docs = bson.decode(body)["cursor"]["nextBatch"]
    gc.collect()
    decoded = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return {"length": len(docs), "decoded": decoded, "raw": len(body)}


# ---------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------


def _measure(spec: dict, repeat: int, timeout: float, log) -> list:
    """Run one case ``repeat`` times in both modes; a list of merged results."""
    runs = []
    for rep in range(repeat):
        merged = {"ok": True, "errors": []}
        for mode in ("rss", "trace"):
            res = harness.run_worker(__file__, ["--worker", json.dumps(dict(spec, mode=mode))], timeout)
            if not res.get("ok"):
                merged["ok"] = False
                merged["errors"].append("%s: %s" % (mode, res.get("error", "?")))
            merged.update({k: v for k, v in res.items() if k not in ("ok", "error", "mode")})
        messages = {e.split(": ", 1)[1] for e in merged["errors"]}
        if len(merged["errors"]) == 2 and len(messages) == 1:  # the same failure without and with tracemalloc
            merged["errors"] = sorted(messages)
        runs.append(merged)
        if merged["ok"]:
            log(
                "  %-42s run %d: %6.2fs  RSS +%7.2f MiB  traced +%7.2f MiB"
                % (spec["case"], rep + 1, merged["seconds"], merged["rss_peak"] / MiB, merged["trace_peak"] / MiB)
            )
        else:
            log("  %-42s run %d: FAILED %s" % (spec["case"], rep + 1, "; ".join(merged["errors"])))
    return runs


def _summary(
    runs: list, keys=("seconds", "rss_peak", "trace_peak", "trace_end", "rss_end", "trace_held", "rss_held")
) -> dict:
    good = [r for r in runs if r.get("ok")]
    out = {"n": len(good), "runs": len(runs), "errors": sorted({e for r in runs for e in r.get("errors", [])})}
    for key in keys:
        values = [r[key] for r in good if r.get(key) is not None]
        if values:
            out[key] = harness.median(values)
            out[key + "_max"] = max(values)
    return out


def run_cursor_benchmark(sizes: dict, repeat: int, log) -> dict:
    from bench.canned_server import CannedServer

    count = sizes["huge_count"]
    batch = batch_main(1000)  # what the canned server sends by default
    log("one batch: %d documents, %.1f KiB raw BSON, %.1f KiB decoded" % (
        batch["length"], batch["raw"] / 1024, batch["decoded"] / 1024))
    results = {}
    with CannedServer(extra_args=["--huge-count", str(count), "--quiet"]) as server:
        uri = server.uri
        for driver, method in CURSOR_CASES:
            case = "%s/%s" % (driver, method)
            spec = {"kind": "cursor", "case": case, "driver": driver, "method": method, "uri": uri, "expected": count}
            results[case] = _summary(_measure(spec, repeat, 900, log))
            results[case].update(driver=driver, method=method)
    return {"count": count, "batch": batch, "cases": results}


def _upload_download_file(uri: str, size: int) -> str:
    import gridfs
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=30000)
    try:
        db = client[DB_NAME]
        for name in (UPLOAD_BUCKET, DOWNLOAD_BUCKET):
            db.drop_collection(name + ".files")
            db.drop_collection(name + ".chunks")
        piece = os.urandom(MiB)
        return str(gridfs.GridFSBucket(db, bucket_name=DOWNLOAD_BUCKET).upload_from_stream(
            "download", GeneratorReader(pieces(piece, size))))
    finally:
        client.close()


def _drop_database(uri: str) -> None:
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=30000)
    try:
        client.drop_database(DB_NAME)
    finally:
        client.close()


def run_gridfs_benchmark(sizes: dict, repeat: int, uri: str | None, log) -> dict:
    import contextlib

    size = sizes["gridfs_mib"] * MiB
    results = {}
    if uri is None:
        from motorlike import testserver

        server_cm = testserver.server_uri()
        server_desc = "mongoeco %s (motorlike.testserver, 127.0.0.1)" % testserver.MONGOECO_VERSION
    else:
        server_cm = contextlib.nullcontext(uri)
        server_desc = "%s (--uri)" % uri
    with server_cm as server_uri:
        t0 = time.monotonic()
        file_id = _upload_download_file(server_uri, size)
        log("uploaded the %d MiB download file with sync PyMongo in %.1fs" % (size // MiB, time.monotonic() - t0))
        try:
            for case, driver, method, settings, note in _gridfs_cases():
                spec = {
                    "kind": "gridfs",
                    "case": case,
                    "driver": driver,
                    "method": method,
                    "uri": server_uri,
                    "size": size,
                    "file_id": file_id,
                    "settings": settings,
                    "expected": size,
                }
                results[case] = _summary(_measure(spec, repeat, 900, log))
                results[case].update(driver=driver, method=method, settings=settings, note=note)
        finally:
            _drop_database(server_uri)
    return {"size": size, "server": server_desc, "cases": results}


# ---------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------


def _versions() -> dict:
    found = {name: harness.module_version(name) for name in ("pymongo", "motor", "tornado")}
    found["python"] = platform.python_version()
    return found


def _worst(summary: dict, unit: int) -> float | None:
    """The largest growth of any run, RSS or traced, in ``unit``s (None if no run succeeded)."""
    if not summary.get("n"):
        return None
    return max(summary["rss_peak_max"], summary["trace_peak_max"]) / unit


def _cell(value, unit: int) -> str:
    """``MiB (units)`` of a byte count."""
    if value is None:
        return "-"
    return "%.2f (%.1f)" % (value / MiB, value / unit)


def _size_text(size: int) -> str:
    """A byte count as KiB or MiB, with its number of default chunks."""
    text = "%d MiB" % (size // MiB) if size % MiB == 0 else "%d KiB" % (size // 1024)
    chunks = size // CHUNK_SIZE
    return "%s, %d chunk%s" % (text, chunks, "" if chunks == 1 else "s")


def _error_row(summary: dict, leading: list, columns: int) -> str:
    cells = leading + ["error: %s" % "; ".join(summary["errors"])[:200]]
    cells += [""] * (columns - len(cells))
    return "| " + " | ".join(cells) + " |"


def _cursor_label(summary: dict) -> str:
    if summary["method"] == "to_list":
        return "`to_list(%d)` loop" % TO_LIST_LENGTH
    return "`for`" if summary["driver"] == "pymongo" else "`async for`"


def _cursor_section(cur: dict, meta: dict, findings: list) -> list:
    batch = cur["batch"]
    unit = batch["decoded"]
    lines = ["## Iterating %s documents (canned server, collection `huge`)" % "{:,}".format(cur["count"]), ""]
    lines.append(
        "One batch: %d documents `{_id, x, s: 'abcdefghij'}`, %.1f KiB of BSON, **%.1f KiB decoded** (a list of "
        "dicts, measured with tracemalloc): the unit of the figures in parentheses.  Growth is over the baseline "
        "taken after connect and the first batch; \"held\" counts from before the first `find` instead, so it "
        "includes the first batch." % (batch["length"], batch["raw"] / 1024, unit / 1024))
    lines.append("")
    header = [
        "driver", "iteration", "time (s)", "RSS growth, MiB (batches)", "traced growth, MiB (batches)",
        "worst run (batches)", "held, traced (batches)", "within 2 batches",
    ]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|---|" + "---:|" * 5 + "---|")
    for s in cur["cases"].values():
        leading = [DRIVER_LABELS[s["driver"]], _cursor_label(s)]
        if not s.get("n"):
            lines.append(_error_row(s, leading, len(header)))
            continue
        worst = _worst(s, unit)
        held = s.get("trace_held")
        lines.append("| " + " | ".join(leading + [
            "%.2f" % s["seconds"], _cell(s["rss_peak"], unit), _cell(s["trace_peak"], unit), "%.1f" % worst,
            "-" if held is None else "%.1f" % (held / unit), "yes" if worst <= TWO_BATCHES else "**no**",
        ]) + " |")
    lines.append("")

    cases = cur["cases"]

    def worst_of(case):
        return _worst(cases.get(case, {}), unit)

    ours = [c for c, s in cases.items() if s["driver"].startswith("motorlike")]
    measured = [worst_of(c) for c in ours]
    if ours and None not in measured:
        held = [cases[c]["trace_held"] / unit for c in ours if cases[c].get("trace_held") is not None]
        peers = ["%s %.1f" % (DRIVER_LABELS[s["driver"]], _worst(s, unit)) for c, s in cases.items()
                 if not s["driver"].startswith("motorlike") and s["method"] == "for" and s.get("n")]
        text = (
            "Iterating %s documents in batches of %d, motorlike grew by at most %.1f batches over the baseline "
            "with `async for` (asyncio %.1f, Tornado %.1f) and %.1f with the `to_list(%d)` loop, whose previous "
            "list is still alive while the next one is fetched; " % (
                "{:,}".format(cur["count"]), batch["length"],
                max(worst_of("motorlike/for"), worst_of("motorlike_tornado/for")), worst_of("motorlike/for"),
                worst_of("motorlike_tornado/for"), worst_of("motorlike/to_list"), TO_LIST_LENGTH))
        if held:
            text += "counting the first batch it never held more than %.1f batches (traced); " % max(held)
        text += "the peers' `async for`/`for`: %s.  " % ", ".join(peers)
        if max(measured) <= TWO_BATCHES:
            text += "motorlike meets \"within two batches\": memory stays flat over the whole run."
        else:
            text += "motorlike does NOT stay within two batches here."
        findings.append(text)
    return lines


def _gridfs_section(gfs: dict, meta: dict, findings: list) -> list:
    size_mib = gfs["size"] // MiB
    cases = gfs["cases"]
    window = meta.get("window_bytes", WINDOW)
    lines = ["## GridFS, a %d MiB file (%s, chunks of 255 KiB)" % (size_mib, gfs["server"]), ""]
    lines.append(
        "Downloads through PyMongo's own GridOut get a mongod's batches, %d chunks (16 MiB), where the driver "
        "leaves the chunk cursor's batch size to the server; motorlike's GridOut asks for a window "
        "(`WINDOW_BYTES`, %s) per batch itself, and its GridIn sends a window per insert.  A \"what if\" "
        "row changes one setting in its own process only.  The bound, on traced memory in every run, as the tests "
        "have it: a streamed download may grow by two windows and %d chunks, an upload by two windows and %d chunks, a "
        "`read()` by the file and two windows and %d chunks (PyMongo's and Motor's rows are held to motorlike's bound).  "
        "RSS also counts what tracemalloc does not see, such as the growing C buffer in which PyMongo encodes an "
        "insert before it copies it into a bytes object: an upload's RSS is nearer three windows.  Figures in parentheses are in chunk "
        "sizes.  RSS can exceed traced memory when freed blocks stay with the allocator (in another thread's malloc "
        "arena, say); the \"worst run\" column shows such outliers." % (
            MONGOD_BATCH_CHUNKS, _size_text(window), FEW_CHUNKS, FEW_CHUNKS, FEW_CHUNKS))
    lines.append("")
    header = [
        "operation", "driver", "setting", "time (s)", "RSS growth, MiB (chunks)", "traced growth, MiB (chunks)",
        "worst run (chunks)", "bound (chunks)", "traced within bound",
    ]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|---|---|" + "---:|" * 5 + "---|")

    def bound(s: dict) -> float:
        return _bound_bytes(s["method"], s["settings"].get("window", window), gfs["size"])

    for s in cases.values():
        leading = ["`%s`" % s["method"], DRIVER_LABELS[s["driver"]], s["note"] or "as is"]
        if not s.get("n"):
            lines.append(_error_row(s, leading, len(header)))
            continue
        worst = _worst(s, CHUNK_SIZE)
        lines.append("| " + " | ".join(leading + [
            "%.2f" % s["seconds"], _cell(s["rss_peak"], CHUNK_SIZE), _cell(s["trace_peak"], CHUNK_SIZE),
            "%.0f" % worst, "%.0f" % (bound(s) / CHUNK_SIZE),
            "yes" if s["trace_peak_max"] <= bound(s) else "**no**",
        ]) + " |")
    lines.append("")
    lines.append("Operations: " + "; ".join("`%s`: %s" % kv for kv in GRIDFS_METHODS.items()) + ".")
    lines.append("")

    def chunks(case):
        s = cases.get(case, {})
        return "-" if not s.get("n") else "%.0f" % (s["trace_peak"] / CHUNK_SIZE)

    def seconds(case):
        s = cases.get(case, {})
        return "-" if not s.get("n") else "%.2f s" % s["seconds"]

    plain = [c for c, s in cases.items() if s["driver"] == "motorlike" and not s["note"]]
    if not plain:
        return lines
    text = (
        "GridFS, %d MiB, growth in chunk sizes (traced, median; RSS in the table).  Uploads: motorlike %s "
        "(`upload_from_stream`) and %s (`write`), Motor %s and %s, PyMongo %s and %s.  PyMongo's GridIn, which "
        "Motor uses, collects chunk documents until 48 MB (its `_UPLOAD_BUFFER_SIZE`, the maximum message size) "
        "before one `insert_many` that encodes them all at once, so it peaks near twice the smaller of the file "
        "and 48 MB; motorlike's sends a window per insert, so it holds the window's chunks and their encoded "
        "insert (%s and %s, against %s and %s with PyMongo's buffer, which peaks at %s and %s chunks, and %s for "
        "`write` with a chunk per insert).  Downloads: motorlike's `open_download_stream` + `async for` peaks at "
        "%s chunks and its `download_to_stream` at %s, against %s and %s (Motor) and %s and %s (PyMongo) with a "
        "mongod's 16 MiB batches.  PyMongo decodes a batch's reply whole, so the reply and every chunk decoded from "
        "it are alive together; motorlike asks for a window per batch, so that is two windows, not two 16 MiB "
        "batches.  A chunk per request (what if) holds %s chunks and takes %s against %s.  `read()` of the whole "
        "file: motorlike %s chunks (the file is %d), Motor %s, PyMongo %s, which keep every chunk until they join "
        "them into the result." % (
            size_mib,
            chunks("upload_from_stream/motorlike"), chunks("upload_write/motorlike"),
            chunks("upload_from_stream/motor"), chunks("upload_write/motor"),
            chunks("upload_from_stream/pymongo"), chunks("upload_write/pymongo"),
            seconds("upload_from_stream/motorlike"), seconds("upload_write/motorlike"),
            seconds("upload_from_stream/motorlike/pymongo_buffer"), seconds("upload_write/motorlike/pymongo_buffer"),
            chunks("upload_from_stream/motorlike/pymongo_buffer"), chunks("upload_write/motorlike/pymongo_buffer"),
            seconds("upload_write/motorlike/one_chunk"),
            chunks("download_iter/motorlike"), chunks("download_to_stream/motorlike"),
            chunks("download_iter/motor"), chunks("download_to_stream/motor"),
            chunks("download_iter/pymongo"), chunks("download_to_stream/pymongo"),
            chunks("download_iter/motorlike/one_chunk"), seconds("download_iter/motorlike/one_chunk"),
            seconds("download_iter/motorlike"),
            chunks("download_read/motorlike"), gfs["size"] // CHUNK_SIZE,
            chunks("download_read/motor"), chunks("download_read/pymongo")))
    ok = all(cases[c].get("n") and cases[c]["trace_peak_max"] <= bound(cases[c]) for c in plain)
    text += "  motorlike as it is %s its bounds in every run (traced)." % ("keeps within" if ok else "does NOT keep within")
    findings.append(text)
    return lines


def render(result: dict) -> str:
    meta = result["meta"]
    lines = ["# Memory: long cursors and large GridFS files", ""]
    lines.append("Generated by `python bench/memory.py%s`; the method is in the docstring of `bench/memory.py`." % (
        " --quick" if meta["quick"] else ""))
    lines.append("")
    lines.append("- date: %s (%.0f s)" % (meta["date"], meta.get("seconds", 0)))
    lines.append("- machine: %s, nproc %s, %s; load average at start %s, at end %s" % (
        meta["os"], meta["nproc"], meta["cpu_model"], meta["loadavg"], meta.get("loadavg_end", "?")))
    v = meta["versions"]
    lines.append("- Python %s; PyMongo %s; Motor %s; Tornado %s; motorlike from this tree" % (
        v["python"], v["pymongo"], v["motor"], v["tornado"]))
    lines.append("- runs per case: %d, each in two fresh processes (one for RSS and time, one with tracemalloc)" %
                 meta["repeat"])
    lines.append("")
    lines.append(
        "Method: each measurement is a fresh process.  A baseline is taken after connecting (cursors: and after "
        "the first batch) and `gc.collect()`.  \"RSS growth\" is the peak RSS since the baseline (the high-water "
        "mark is reset there through `/proc/self/clear_refs`, then read as `ru_maxrss`) minus the RSS at the "
        "baseline; \"traced growth\" is tracemalloc's peak since the baseline minus its value at the baseline, "
        "from a second process in which tracemalloc starts before the client is made.  Figures are medians of "
        "the runs; \"worst run\" is the largest growth of any run, RSS or traced.  Times are from the runs "
        "without tracemalloc.")
    lines.append("")
    findings = []
    if result.get("cursor"):
        lines += _cursor_section(result["cursor"], meta, findings)
    if result.get("gridfs"):
        lines += _gridfs_section(result["gridfs"], meta, findings)
    lines.append("## Findings")
    lines.append("")
    if findings and meta["quick"]:
        findings.insert(0, "(A --quick run: the sizes are too small for these figures to mean much.)")
    lines.append(" ".join(findings) if findings else "(nothing measured)")
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: small sizes, one run, writes nothing unless --out")
    parser.add_argument("--only", choices=("cursor", "gridfs"), help="run one half only")
    parser.add_argument("--repeat", type=int, default=None, help="runs per case (default 3; 1 with --quick)")
    parser.add_argument("--huge-count", type=int, default=None, help="documents to iterate (default 1,000,000)")
    parser.add_argument("--gridfs-mib", type=int, default=None, help="GridFS file size in MiB (default 64)")
    parser.add_argument("--uri", default=None, help="GridFS against this loopback server instead of mongoeco")
    parser.add_argument("--out", default=None, help="markdown file to write (default doc/memory.md)")
    parser.add_argument("--json", default=None, help="also write the raw results to this JSON file")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        harness.report(worker_main(json.loads(args.worker)))
        return 0

    sizes = dict(SIZES["quick" if args.quick else "full"])
    if args.huge_count is not None:
        sizes["huge_count"] = args.huge_count
    if args.gridfs_mib is not None:
        sizes["gridfs_mib"] = args.gridfs_mib
    repeat = args.repeat if args.repeat is not None else sizes["repeat"]
    if repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.uri is not None and harness.refuse_remote(args.uri):
        return 2

    def log(message: str) -> None:
        print(message, flush=True)

    import motorlike.motor_gridfs as motor_gridfs  # the settings to report; measured in the workers only

    result = {
        "meta": {
            "date": harness.now(),
            "os": harness.os_name(),
            "nproc": os.cpu_count(),
            "cpu_model": harness.cpu_model(),
            "loadavg": harness.loadavg(),
            "versions": _versions(),
            "window_bytes": motor_gridfs.WINDOW_BYTES,
            "repeat": repeat,
            "quick": args.quick,
            "sizes": sizes,
        },
    }
    started = time.monotonic()
    if args.only in (None, "cursor"):
        log("== cursor: %s documents from the canned server" % "{:,}".format(sizes["huge_count"]))
        result["cursor"] = run_cursor_benchmark(sizes, repeat, log)
    if args.only in (None, "gridfs"):
        log("== GridFS: %d MiB file" % sizes["gridfs_mib"])
        result["gridfs"] = run_gridfs_benchmark(sizes, repeat, args.uri, log)
    result["meta"]["loadavg_end"] = harness.loadavg()
    result["meta"]["seconds"] = time.monotonic() - started
    text = render(result)
    print()
    print(text)
    if args.json:
        harness.write_json(args.json, result)
    out = args.out
    if out is None and not args.quick and not args.no_write:
        out = os.path.join(ROOT, "doc", "memory.md")
    if out and not args.no_write:
        with open(out, "w") as f:
            f.write(text)
        log("wrote %s" % out)
    failed = [c for part in ("cursor", "gridfs") for c, s in result.get(part, {}).get("cases", {}).items()
              if s.get("n", 0) < s.get("runs", 0) and not c.endswith("/asis")]
    if failed:
        log("failed cases: %s" % ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
