"""Side-by-side driver benchmark: PyMongo, Motor 3.7.1, AsyncMongoClient, motorlike.

    python bench/run.py [--server canned|mongoeco|URI] [--pin] [--repeat N] [--quick]

Method
------
* Every (repetition, workload, driver) runs in a fresh subprocess
  (``run.py --worker ...``), so the client CPU time (``time.process_time``
  over the timed region, background threads included) and the peak RSS
  (``ru_maxrss`` of that process: interpreter + driver + one workload) belong
  to one driver alone.  Within a repetition the drivers take turns workload by
  workload, and the order of the drivers is rotated from one repetition to the
  next, so slow drift of a shared machine is spread over all of them.
* Each worker connects, warms up (connection pool, first handshake, one
  untimed pass of the workload) and then times a fixed number of operations.
* The reported figure is the median over the repetitions (default 7), with
  half of (max - min) / median as "±"; the best repetition is shown too, since
  other processes on a shared machine only ever slow a run down.  The average
  number of CPUs that other processes kept busy during the run (/proc/stat
  minus this benchmark's own process tree) is recorded with the results.
* ``--server canned`` (the default) starts ``bench/canned_server.py`` in its
  own process: replies are pre-encoded, so the numbers are driver-bound.
  It stores nothing: GridFS uploads are acknowledged, and every download
  reads its one canned 16 MiB file (the size the GridFS workloads upload).
  ``--server mongoeco`` uses ``motorlike.testserver.server_uri()``;
  ``--server mongodb://...`` uses that server (loopback addresses only).
* ``gridfs_upload_busy`` / ``gridfs_download_busy`` time the GridFS
  workloads while 30 other tasks (threads, for PyMongo sync) run
  ``find_one`` one after another; ``--quick`` leaves them out unless
  ``--workloads`` names them.
* ``--pin`` pins the benchmark, its workers and the server it starts all to
  CPU 0 (``os.sched_setaffinity``), so no request pays a cross-core wake-up.

Results of full runs are printed, and kept per configuration
(server x pinning) in ``doc/benchmarks.json``, from which ``doc/benchmarks.md``
and ``doc/benchmarks.png`` are rewritten.  ``--quick`` runs are a smoke test:
tiny counts, one repetition, and nothing written unless ``--out DIR`` is given.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench.*, motorlike: this tree

from bench import harness  # noqa: E402
from bench.harness import DRIVER_LABELS, Measured  # noqa: E402

ROOT = harness.ROOT

DB_NAME = "motorlike_bench"
SMALL_COLL = "small"  # find_one by _id
SMALL_COUNT = 100
BIG_COLL = "big"  # the canned server answers 10,000 documents for any find on it
BIG_COUNT = 10_000
CONCURRENCY = 100
GRIDFS_SIZE = 16 * 1024 * 1024  # also the size of the canned server's one GridFS file

DRIVERS = list(DRIVER_LABELS)
OURS = ["motorlike", "motorlike_tornado", "motorlike_affinity"]
PEERS = ["pymongo", "motor", "pymongo_async"]

# name -> (unit of the rate, what one unit is, description)
WORKLOADS = {
    "find_one": ("ops/s", "op", "find_one({_id}) sequentially"),
    "insert_one": ("ops/s", "op", "insert_one sequentially"),
    "insert_many": ("docs/s", "doc", "insert_many of 1,000 small documents"),
    "find_to_list": ("docs/s", "doc", "find() + to_list of 10,000 documents"),
    "find_async_for": ("docs/s", "doc", "find() + async for over 10,000 documents"),
    "concurrent_find_one": (
        "ops/s",
        "op",
        "100 concurrent tasks x find_one (asyncio.gather; PyMongo sync: a pool of 100 threads)",
    ),
    "gridfs_upload": ("MiB/s", "MiB", "GridFS upload_from_stream of 16 MiB"),
    "gridfs_download": ("MiB/s", "MiB", "GridFS open_download_stream + read of 16 MiB"),
    "gridfs_upload_busy": ("MiB/s", "MiB", "GridFS upload of 16 MiB while 30 other tasks (threads) run find_one"),
    "gridfs_download_busy": ("MiB/s", "MiB", "GridFS download of 16 MiB while 30 other tasks (threads) run find_one"),
}
GRIDFS_WORKLOADS = ["gridfs_upload", "gridfs_download", "gridfs_upload_busy", "gridfs_download_busy"]
# The GridFS workloads "_busy": so many tasks (threads for PyMongo) run
# find_one one after another for as long as the GridFS calls are timed.
BUSY_TASKS = 30

# Operation counts per worker: calls (find_one/insert_one/concurrent: ops;
# insert_many: calls of 1,000; find_*: passes over 10,000; gridfs: files).
SIZES = {
    "full": {
        "find_one": 3000,
        "insert_one": 2000,
        "insert_many": 30,
        "find_to_list": 10,
        "find_async_for": 10,
        "concurrent_find_one": 30,  # per task, x100 tasks
        "gridfs_upload": 3,
        "gridfs_download": 3,
        "gridfs_upload_busy": 3,
        "gridfs_download_busy": 3,
    },
    # mongoeco is an in-memory server in Python: keep its data small
    "mongoeco": {
        "find_one": 1000,
        "insert_one": 500,
        "insert_many": 3,
        "find_to_list": 3,
        "find_async_for": 3,
        "concurrent_find_one": 5,
        "gridfs_upload": 2,
        "gridfs_download": 2,
        "gridfs_upload_busy": 2,
        "gridfs_download_busy": 2,
    },
    "quick": {
        "find_one": 200,
        "insert_one": 100,
        "insert_many": 2,
        "find_to_list": 1,
        "find_async_for": 1,
        "concurrent_find_one": 2,
        "gridfs_upload": 1,
        "gridfs_download": 1,
        "gridfs_upload_busy": 1,
        "gridfs_download_busy": 1,
    },
}


# ---------------------------------------------------------------------------
# worker side: one driver, one workload, in its own process
# ---------------------------------------------------------------------------


def _barrier(spec: dict):
    """With ``--processes``: wait for the other processes before timing."""
    if "barrier_dir" not in spec:
        return None
    return harness.file_barrier(spec["barrier_dir"], spec["index"])


def _doc(i: int) -> dict:
    return {"i": i, "name": "bench", "tags": ["a", "b"], "value": i * 0.5}


async def _async_workload(client_cls, bucket_cls, spec) -> dict:
    """Run one workload with an async driver (Motor API or AsyncMongoClient)."""
    name = spec["workload"]
    n = spec["count"]
    tag = spec["tag"]
    fresh = spec["fresh_collections"]
    client = client_cls(spec["uri"], serverSelectionTimeoutMS=20000)
    db = client[DB_NAME]
    timer = Measured(collect=True, barrier=_barrier(spec))
    units = 0
    to_drop = []
    try:
        if name == "find_one":
            coll = db[SMALL_COLL]
            warm = max(20, n // 10)
            for i in range(warm):
                doc = await coll.find_one({"_id": i % SMALL_COUNT})
                if doc is None:
                    raise RuntimeError("find_one returned None")
            with timer:
                for i in range(n):
                    await coll.find_one({"_id": i % SMALL_COUNT})
            units = n
        elif name == "insert_one":
            coll = db["ins_" + tag]
            to_drop.append(coll.name)
            warm = max(10, n // 10)
            docs = [_doc(i) for i in range(warm + n)]
            for d in docs[:warm]:
                await coll.insert_one(d)
            todo = docs[warm:]
            with timer:
                for d in todo:
                    await coll.insert_one(d)
            units = n
        elif name == "insert_many":
            batches = [[_doc(i) for i in range(1000)] for _ in range(n + 1)]
            names = ["im_%s_%d" % (tag, k if fresh else 0) for k in range(n + 1)]
            to_drop.extend(sorted(set(names)))
            result = await db[names[0]].insert_many(batches[0])
            if len(result.inserted_ids) != 1000:
                raise RuntimeError("insert_many inserted %d" % len(result.inserted_ids))
            with timer:
                for k in range(1, n + 1):
                    await db[names[k]].insert_many(batches[k])
            units = n * 1000
        elif name == "find_to_list":
            coll = db[BIG_COLL]
            got = len(await coll.find({}).to_list(None))
            if got != BIG_COUNT:
                raise RuntimeError("to_list returned %d documents" % got)
            with timer:
                for _ in range(n):
                    units += len(await coll.find({}).to_list(None))
        elif name == "find_async_for":
            coll = db[BIG_COLL]
            got = 0
            async for _doc_ in coll.find({}):
                got += 1
            if got != BIG_COUNT:
                raise RuntimeError("async for saw %d documents" % got)
            with timer:
                for _ in range(n):
                    async for _doc_ in coll.find({}):
                        units += 1
        elif name == "concurrent_find_one":
            coll = db[SMALL_COLL]

            async def task(t: int, count: int) -> None:
                for i in range(count):
                    await coll.find_one({"_id": (t + i) % SMALL_COUNT})

            await asyncio.gather(*[task(t, 1) for t in range(CONCURRENCY)])
            with timer:
                await asyncio.gather(*[task(t, n) for t in range(CONCURRENCY)])
            units = n * CONCURRENCY
        elif name in GRIDFS_WORKLOADS:
            if bucket_cls is None:
                raise RuntimeError("this driver has no GridFS bucket class")
            bucket_name = "fs_" + tag
            to_drop += [bucket_name + ".files", bucket_name + ".chunks"]
            bucket = bucket_cls(db, bucket_name=bucket_name)
            data = os.urandom(GRIDFS_SIZE)
            await bucket.upload_from_stream("warmup", b"x" * 1024)
            ids = [] if name.startswith("gridfs_upload") else [
                await bucket.upload_from_stream("f%d" % k, data) for k in range(n)]
            busy = {"on": name.endswith("_busy"), "calls": 0}

            async def background() -> None:
                coll = db[SMALL_COLL]
                while busy["on"]:
                    await coll.find_one({"_id": busy["calls"] % SMALL_COUNT})
                    busy["calls"] += 1

            tasks = [asyncio.ensure_future(background()) for _ in range(BUSY_TASKS if busy["on"] else 0)]
            try:
                await asyncio.sleep(0.05 if tasks else 0)  # the background tasks under way
                with timer:
                    if not ids:
                        for k in range(n):
                            await bucket.upload_from_stream("f%d" % k, data)
                    for file_id in ids:
                        grid_out = await bucket.open_download_stream(file_id)
                        got = await grid_out.read()
                        if len(got) != GRIDFS_SIZE:
                            raise RuntimeError("downloaded %d bytes" % len(got))
            finally:
                busy["on"] = False
                await asyncio.gather(*tasks)
            units = n * GRIDFS_SIZE / (1024 * 1024)
        else:
            raise ValueError("unknown workload %r" % name)
    finally:
        if spec["drop_after"]:
            for coll_name in to_drop:
                try:
                    await db.drop_collection(coll_name)
                except Exception:
                    pass
        await harness.maybe_await(client.close())
    return {"seconds": timer.wall, "cpu": timer.cpu, "units": units, "started_at": timer.started_at,
            "ended_at": timer.ended_at}


def _sync_workload(client_cls, bucket_cls, spec) -> dict:
    """The same workloads with synchronous PyMongo."""
    name = spec["workload"]
    n = spec["count"]
    tag = spec["tag"]
    fresh = spec["fresh_collections"]
    client = client_cls(spec["uri"], serverSelectionTimeoutMS=20000)
    db = client[DB_NAME]
    timer = Measured(collect=True, barrier=_barrier(spec))
    units = 0
    to_drop = []
    try:
        if name == "find_one":
            coll = db[SMALL_COLL]
            warm = max(20, n // 10)
            for i in range(warm):
                if coll.find_one({"_id": i % SMALL_COUNT}) is None:
                    raise RuntimeError("find_one returned None")
            with timer:
                for i in range(n):
                    coll.find_one({"_id": i % SMALL_COUNT})
            units = n
        elif name == "insert_one":
            coll = db["ins_" + tag]
            to_drop.append(coll.name)
            warm = max(10, n // 10)
            docs = [_doc(i) for i in range(warm + n)]
            for d in docs[:warm]:
                coll.insert_one(d)
            todo = docs[warm:]
            with timer:
                for d in todo:
                    coll.insert_one(d)
            units = n
        elif name == "insert_many":
            batches = [[_doc(i) for i in range(1000)] for _ in range(n + 1)]
            names = ["im_%s_%d" % (tag, k if fresh else 0) for k in range(n + 1)]
            to_drop.extend(sorted(set(names)))
            if len(db[names[0]].insert_many(batches[0]).inserted_ids) != 1000:
                raise RuntimeError("insert_many did not insert 1000")
            with timer:
                for k in range(1, n + 1):
                    db[names[k]].insert_many(batches[k])
            units = n * 1000
        elif name in ("find_to_list", "find_async_for"):
            # sync PyMongo: list(cursor) and a plain for loop
            coll = db[BIG_COLL]
            got = len(list(coll.find({})))
            if got != BIG_COUNT:
                raise RuntimeError("find returned %d documents" % got)
            with timer:
                for _ in range(n):
                    if name == "find_to_list":
                        units += len(coll.find({}).to_list())
                    else:
                        for _doc_ in coll.find({}):
                            units += 1
        elif name == "concurrent_find_one":
            from concurrent.futures import ThreadPoolExecutor

            coll = db[SMALL_COLL]

            def task(t: int, count: int) -> None:
                for i in range(count):
                    coll.find_one({"_id": (t + i) % SMALL_COUNT})

            with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
                list(pool.map(task, range(CONCURRENCY), [1] * CONCURRENCY))
                with timer:
                    list(pool.map(task, range(CONCURRENCY), [n] * CONCURRENCY))
            units = n * CONCURRENCY
        elif name in GRIDFS_WORKLOADS:
            bucket_name = "fs_" + tag
            to_drop += [bucket_name + ".files", bucket_name + ".chunks"]
            bucket = bucket_cls(db, bucket_name=bucket_name)
            data = os.urandom(GRIDFS_SIZE)
            bucket.upload_from_stream("warmup", b"x" * 1024)
            ids = [] if name.startswith("gridfs_upload") else [
                bucket.upload_from_stream("f%d" % k, data) for k in range(n)]
            stop = threading.Event()

            def background() -> None:
                coll = db[SMALL_COLL]
                calls = 0
                while not stop.is_set():
                    coll.find_one({"_id": calls % SMALL_COUNT})
                    calls += 1

            threads = [threading.Thread(target=background) for _ in range(BUSY_TASKS if name.endswith("_busy") else 0)]
            for thread in threads:
                thread.start()
            try:
                time.sleep(0.05 if threads else 0)
                with timer:
                    if not ids:
                        for k in range(n):
                            bucket.upload_from_stream("f%d" % k, data)
                    for file_id in ids:
                        got = bucket.open_download_stream(file_id).read()
                        if len(got) != GRIDFS_SIZE:
                            raise RuntimeError("downloaded %d bytes" % len(got))
            finally:
                stop.set()
                for thread in threads:
                    thread.join()
            units = n * GRIDFS_SIZE / (1024 * 1024)
        else:
            raise ValueError("unknown workload %r" % name)
    finally:
        if spec["drop_after"]:
            for coll_name in to_drop:
                try:
                    db.drop_collection(coll_name)
                except Exception:
                    pass
        client.close()
    return {"seconds": timer.wall, "cpu": timer.cpu, "units": units, "started_at": timer.started_at,
            "ended_at": timer.ended_at}


def worker_main(spec: dict) -> dict:
    driver = spec["driver"]
    out = {"driver": driver, "workload": spec["workload"], "affinity": sorted(os.sched_getaffinity(0))}
    try:
        client_cls, bucket_cls, version = harness.import_driver(driver)
    except Exception as exc:  # reported as missing, never a crash of the run
        out.update(ok=False, missing=True, error=harness.error_text(exc))
        return out
    out["version"] = version
    out["rss_base_kib"] = harness.maxrss_kib()
    try:
        if driver == "pymongo":
            res = _sync_workload(client_cls, bucket_cls, spec)
        else:
            res = harness.run_async(driver, lambda: _async_workload(client_cls, bucket_cls, spec))
    except Exception as exc:
        out.update(harness.failed(exc), missing=False)
        return out
    out.update(res)
    out["ok"] = True
    out["rate"] = res["units"] / res["seconds"] if res["seconds"] > 0 else 0.0
    out["cpu_per_unit_us"] = res["cpu"] / res["units"] * 1e6 if res["units"] else 0.0
    out["maxrss_kib"] = harness.maxrss_kib()
    return out


def probe_main(driver: str) -> dict:
    out = {"driver": driver}
    try:
        _client, bucket, version = harness.import_driver(driver)
    except Exception as exc:
        out.update(ok=False, error=harness.error_text(exc))
        return out
    out.update(ok=True, version=version, gridfs=bucket is not None)
    return out


# ---------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------


def _per_cpu_busy():
    try:
        with open("/proc/stat") as f:
            lines = [line.split() for line in f if line.startswith("cpu") and not line.startswith("cpu ")]
    except OSError:
        return {}
    out = {}
    for fields in lines:
        values = [int(v) for v in fields[1:9]]
        idle = values[3] + values[4]
        out[fields[0]] = (sum(values) - idle, sum(values))
    return out


def run_processes(spec: dict, count: int, timeout: float) -> dict:
    """``count`` workers of one driver and workload at once, started together
    (a file barrier after their warm-up); their units over the span from the
    first start to the last end, and how busy each CPU was meanwhile."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="bench-barrier-") as barrier_dir:
        procs = []
        for index in range(count):
            one = dict(spec, barrier_dir=barrier_dir, index=index, tag="%s_p%d" % (spec["tag"], index))
            procs.append(harness.start_worker(__file__, ["--worker", json.dumps(one)]))
        released = harness.release_barrier(barrier_dir, count, procs, timeout)
        before = _per_cpu_busy()
        results = [harness.collect(proc, timeout) for proc in procs]
        after = _per_cpu_busy()
    failed = [r for r in results if not r.get("ok")]
    if failed or not released:
        return dict(failed[0] if failed else {"ok": False, "error": "a process did not reach the start"},
                    driver=spec["driver"], workload=spec["workload"])
    units = sum(r["units"] for r in results)
    span = max(r["ended_at"] for r in results) - min(r["started_at"] for r in results)
    cpu = sum(r["cpu"] for r in results)
    busy = {name: round((after[name][0] - before[name][0]) / max(1, after[name][1] - before[name][1]), 2)
            for name in after if name in before}
    return {
        "ok": True, "driver": spec["driver"], "workload": spec["workload"], "version": results[0].get("version"),
        "affinity": results[0].get("affinity"), "units": units, "seconds": span, "cpu": cpu,
        "rate": units / span if span > 0 else 0.0, "cpu_per_unit_us": cpu / units * 1e6 if units else 0.0,
        "maxrss_kib": max(r["maxrss_kib"] for r in results), "rss_base_kib": max(r["rss_base_kib"] for r in results),
        "processes": count, "cpu_busy": busy,
        "process_rates": [round(r["rate"]) for r in results],
    }


def probe_drivers(drivers) -> dict:
    """Import each driver in a process of its own, all at once: what is there, which version."""
    procs = {d: harness.start_worker(__file__, ["--probe", d]) for d in drivers}
    found = {}
    for d, proc in procs.items():
        found[d] = harness.collect(proc, 120)
        found[d].setdefault("driver", d)
    return found


def _preload(uri: str) -> None:
    """Load `small` and `big` once (real servers and mongoeco).

    Batches of 100: mongoeco's inserts get slower with collection size (about
    O(size) per document), and a request that keeps it busy for longer than
    the monitor's hello timeout makes PyMongo drop the connection.
    """
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=30000)
    try:
        db = client[DB_NAME]
        if db[SMALL_COLL].count_documents({}) != SMALL_COUNT:
            db.drop_collection(SMALL_COLL)
            db[SMALL_COLL].insert_many([dict(_doc(i), _id=i) for i in range(SMALL_COUNT)])
        if db[BIG_COLL].count_documents({}) != BIG_COUNT:
            db.drop_collection(BIG_COLL)
            t0 = time.monotonic()
            for start in range(0, BIG_COUNT, 100):
                db[BIG_COLL].insert_many([{"_id": i, "x": i, "s": "abcdefghij"} for i in range(start, start + 100)])
                if (start + 100) % 2000 == 0:
                    print("preloading %s.%s: %d/%d documents (%.0fs)" % (
                        DB_NAME, BIG_COLL, start + 100, BIG_COUNT, time.monotonic() - t0), flush=True)
    finally:
        client.close()


def _cpu_snapshot():
    """(wall, busy CPU seconds of the whole machine, CPU seconds of this process tree)."""
    busy = None
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        busy = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    ours = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        ru = resource.getrusage(who)
        ours += ru.ru_utime + ru.ru_stime
    return time.monotonic(), busy, ours


def _foreign_load(start, end):
    """Average number of CPUs kept busy by processes other than this benchmark."""
    if start[1] is None or end[1] is None or end[0] <= start[0]:
        return None
    return max(0.0, ((end[1] - start[1]) - (end[2] - start[2])) / (end[0] - start[0]))


def _fmt_rate(x) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return "{:,.0f}".format(x)
    if x >= 10:
        return "{:.1f}".format(x)
    return "{:.2f}".format(x)


def summarize(raw: list, drivers: list, workloads: list) -> dict:
    """raw: worker results -> per workload, per driver medians."""
    table = {}
    for w in workloads:
        row = {}
        for d in drivers:
            runs = [r for r in raw if r.get("workload") == w and r.get("driver") == d]
            good = [r for r in runs if r.get("ok")]
            cell = {"n": len(good), "errors": sorted({r.get("error", "?") for r in runs if not r.get("ok")})}
            if good:
                rates = [r["rate"] for r in good]
                med = harness.median(rates)
                cell.update(
                    rate=med,
                    best=max(rates),
                    spread=(max(rates) - min(rates)) / med if med else 0.0,
                    cpu_us=harness.median([r["cpu_per_unit_us"] for r in good]),
                    rss_mib=harness.median([r["maxrss_kib"] for r in good]) / 1024.0,
                    rss_base_mib=harness.median([r["rss_base_kib"] for r in good]) / 1024.0,
                )
            row[d] = cell
        table[w] = row
    return table


def render_section(result: dict) -> str:
    """Markdown for one configuration."""
    meta = result["meta"]
    drivers = result["drivers"]
    table = result["table"]
    present = [d for d in drivers if result["probe"].get(d, {}).get("ok")]
    lines = []
    lines.append("## %s" % result["label"])
    lines.append("")
    lines.append("- date: %s" % meta["date"])
    lines.append(
        "- machine: %s, nproc %s, %s; Python %s; PyMongo %s"
        % (meta["os"], meta["nproc"], meta["cpu_model"], meta["python"], meta["pymongo"])
    )
    lines.append("- load average at start: %s, at end: %s" % (meta["loadavg"], meta.get("loadavg_end", "?")))
    foreign = meta.get("foreign_cpus")
    if foreign is not None:
        lines.append(
            "- other processes on the machine kept %.2f CPUs busy on average during the run%s"
            % (foreign, " (a busy machine: expect noise)" if foreign > 0.2 else "")
        )
    lines.append("- server: %s" % meta["server_desc"])
    lines.append("- CPU placement: %s" % meta["placement"])
    lines.append("- repetitions: %d%s; counts per worker: %s" % (
        meta["repeat"], " (quick)" if meta["quick"] else "", meta["sizes"]))
    vers = ", ".join(
        "%s %s" % (DRIVER_LABELS[d], result["probe"][d].get("version", "?")) for d in present
    )
    lines.append("- drivers: %s" % (vers or "none"))
    missing = [d for d in drivers if not result["probe"].get(d, {}).get("ok")]
    for d in missing:
        lines.append("- missing: %s (%s)" % (DRIVER_LABELS[d], result["probe"].get(d, {}).get("error", "?")))
    for note in meta.get("notes", []):
        lines.append("- note: %s" % note)
    lines.append("")

    def cell_text(cell, key, fmt):
        if cell.get(key) is None:
            if cell["errors"]:
                return "error"
            return "-"
        return fmt(cell[key])

    workloads = [w for w in result["workloads"] if w in table]

    lines.append("### Throughput (median; spread = (max-min)/median)")
    lines.append("")
    lines.append("| workload | unit | " + " | ".join(DRIVER_LABELS[d] for d in present) + " |")
    lines.append("|---|---|" + "---:|" * len(present))
    for w in workloads:
        cells = []
        for d in present:
            c = table[w][d]
            if c.get("rate") is None:
                cells.append(cell_text(c, "rate", _fmt_rate))
            else:
                cells.append("%s ±%.0f%%" % (_fmt_rate(c["rate"]), 100 * c["spread"] / 2))
        lines.append("| %s | %s | %s |" % (w, WORKLOADS[w][0], " | ".join(cells)))
    lines.append("")

    if meta["repeat"] > 1:
        lines.append("### Throughput, best of %d (interference from other processes only ever slows a run down)" % meta["repeat"])
        lines.append("")
        lines.append("| workload | unit | " + " | ".join(DRIVER_LABELS[d] for d in present) + " |")
        lines.append("|---|---|" + "---:|" * len(present))
        for w in workloads:
            cells = [cell_text(table[w][d], "best", _fmt_rate) for d in present]
            lines.append("| %s | %s | %s |" % (w, WORKLOADS[w][0], " | ".join(cells)))
        lines.append("")

    ours = [d for d in OURS if d in present]
    peers = [d for d in PEERS if d in present]
    if ours and peers:
        lines.append("### Ratios (motorlike median / peer median; > 1 means motorlike is faster)")
        lines.append("")
        cols = [(o, p) for o in ours for p in peers]
        lines.append(
            "| workload | "
            + " | ".join("%s / %s" % (DRIVER_LABELS[o], DRIVER_LABELS[p]) for o, p in cols)
            + " |"
        )
        lines.append("|---|" + "---:|" * len(cols))
        for w in workloads:
            cells = []
            for o, p in cols:
                a, b = table[w][o].get("rate"), table[w][p].get("rate")
                cells.append("%.2f" % (a / b) if a and b else "-")
            lines.append("| %s | %s |" % (w, " | ".join(cells)))
        lines.append("")

    lines.append("### Client CPU time per unit (median, microseconds; unit = op, doc or MiB)")
    lines.append("")
    lines.append("| workload | unit | " + " | ".join(DRIVER_LABELS[d] for d in present) + " |")
    lines.append("|---|---|" + "---:|" * len(present))
    for w in workloads:
        cells = [cell_text(table[w][d], "cpu_us", lambda x: "%.2f" % x if x < 10 else "%.0f" % x) for d in present]
        lines.append("| %s | %s | %s |" % (w, WORKLOADS[w][1], " | ".join(cells)))
    lines.append("")

    lines.append("### Peak RSS of the client process (median MiB; in parentheses: after import and before the workload)")
    lines.append("")
    lines.append("| workload | " + " | ".join(DRIVER_LABELS[d] for d in present) + " |")
    lines.append("|---|" + "---:|" * len(present))
    for w in workloads:
        cells = []
        for d in present:
            c = table[w][d]
            if c.get("rss_mib") is None:
                cells.append(cell_text(c, "rss_mib", str))
            else:
                cells.append("%.1f (%.1f)" % (c["rss_mib"], c["rss_base_mib"]))
        lines.append("| %s | %s |" % (w, " | ".join(cells)))
    lines.append("")

    errors = []
    for w in workloads:
        for d in present:
            for e in table[w][d]["errors"]:
                errors.append("- %s / %s: %s" % (w, DRIVER_LABELS[d], e))
    if errors:
        lines.append("### Errors")
        lines.append("")
        lines.extend(errors)
        lines.append("")
    for w, reason in sorted(result.get("skipped", {}).items()):
        lines.append("- skipped %s: %s" % (w, reason))
    if result.get("skipped"):
        lines.append("")
    return "\n".join(lines)


HEADER = """# Benchmarks

Generated by `python bench/run.py` (see the docstring of `bench/run.py`).

Method: every (repetition, workload, driver) runs in a fresh subprocess, so
client CPU time (`time.process_time` over the timed region, background
threads included) and peak RSS (`ru_maxrss`, interpreter + driver + one
workload) belong to one driver.  Drivers take turns workload by workload and
their order is rotated each repetition.  Each worker warms up (connection
pool, handshake, one untimed pass) before it times a fixed number of
operations.  Figures are medians over repetitions; "±" is half of
(max - min) / median; the best repetition is listed too, and so is how many
CPUs other processes kept busy during the run (a shared 2-CPU machine is
noisy).  With the canned server (`bench/canned_server.py`,
another process, replies pre-encoded) the numbers are driver-bound: they show
client overhead, not database speed; it stores nothing (GridFS uploads are
acknowledged, downloads read one canned 16 MiB file).  PyMongo sync has no `async for` or
`to_list` coroutine: its rows use a `for` loop and `Cursor.to_list()`, and its
concurrent row uses a pool of 100 threads.

Workloads:

""" + "\n".join("- `%s` (%s): %s" % (w, u, d) for w, (u, _x, d) in WORKLOADS.items()) + "\n"


def _label_order(results: dict) -> list:
    def key(label):
        kind = label.split("-")[0]
        return ({"canned": 0, "mongoeco": 1}.get(kind, 2), "pinned" in label.split("-"), label)

    return sorted(results, key=key)


def render_markdown(results: dict) -> str:
    order = _label_order(results)
    parts = [HEADER]
    parts.append("![throughput relative to Motor 3.7](benchmarks.png)\n")
    for label in order:
        parts.append(render_section(results[label]))
    return "\n".join(parts).rstrip() + "\n"


def render_chart(results: dict, path: str) -> str:
    """Bar chart of throughput relative to Motor; returns a reason if skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        return "matplotlib is not installed (%s): no chart" % exc
    order = _label_order(results)
    fig, axes = plt.subplots(len(order), 1, figsize=(11, 3.6 * len(order)), squeeze=False)
    colors = {
        "pymongo": "#8c8c8c",
        "motor": "#4c72b0",
        "pymongo_async": "#55a868",
        "motorlike": "#dd8452",
        "motorlike_tornado": "#c44e52",
        "motorlike_affinity": "#8172b2",
    }
    for ax, label in zip(axes[:, 0], order):
        res = results[label]
        table = res["table"]
        present = [d for d in res["drivers"] if res["probe"].get(d, {}).get("ok")]
        base = "motor" if "motor" in present else (present[0] if present else None)
        workloads = [w for w in res["workloads"] if w in table]
        width = 0.8 / max(1, len(present))
        for j, d in enumerate(present):
            xs, ys = [], []
            for i, w in enumerate(workloads):
                a, b = table[w][d].get("rate"), table[w][base].get("rate") if base else None
                if a and b:
                    xs.append(i + (j - (len(present) - 1) / 2) * width)
                    ys.append(a / b)
            ax.bar(xs, ys, width, label=DRIVER_LABELS[d], color=colors.get(d))
        ax.axhline(1.0, color="black", linewidth=0.6)
        ax.set_ylim(0, ax.get_ylim()[1] * 1.18)  # room for the legend above the bars
        ax.set_xticks(range(len(workloads)))
        ax.set_xticklabels(workloads, fontsize=8)
        ax.set_ylabel("throughput / %s" % (DRIVER_LABELS[base] if base else "?"), fontsize=8)
        ax.set_title("%s (%s)" % (label, res["meta"]["date"][:10]), fontsize=10)
        ax.legend(fontsize=7, ncol=len(present))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="canned", help="canned (default), mongoeco, or a mongodb:// URI")
    parser.add_argument("--pin", action="store_true", help="pin client and server to CPU 0")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (default 7; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny counts, writes nothing unless --out")
    parser.add_argument("--drivers", default=",".join(DRIVERS), help="comma-separated subset of " + ",".join(DRIVERS))
    parser.add_argument("--workloads", default=None,
                        help="comma-separated subset (default: all; with --quick, all but the GridFS _busy ones)")
    parser.add_argument("--out", default=None, help="directory for benchmarks.md/.json/.png (default: doc/)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--reply-delay-ms", type=float, default=0.0,
                        help="canned server: send each reply this long after it is made (e.g. 0.2)")
    parser.add_argument("--processes", type=int, default=1,
                        help="run N processes of each driver at once against the one server; "
                             "rate = their units / (last end - first start)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        harness.report(worker_main(json.loads(args.worker)))
        return 0
    if args.probe:
        harness.report(probe_main(args.probe))
        return 0

    drivers = [d.strip() for d in args.drivers.split(",") if d.strip()]
    if args.workloads is None:
        args.workloads = ",".join(w for w in WORKLOADS if not (args.quick and w.endswith("_busy")))
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for d in drivers:
        if d not in DRIVERS:
            parser.error("unknown driver %r" % d)
    for w in workloads:
        if w not in WORKLOADS:
            parser.error("unknown workload %r" % w)
    if args.processes < 1:
        parser.error("--processes must be >= 1")
    if args.reply_delay_ms and args.server != "canned":
        parser.error("--reply-delay-ms is for the canned server")
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 7)
    if repeat < 1:
        parser.error("--repeat must be >= 1")

    if args.server == "canned":
        kind = "canned"
    elif args.server == "mongoeco":
        kind = "mongoeco"
    elif args.server.startswith("mongodb://") or args.server.startswith("mongodb+srv://"):
        kind = "uri"
        if harness.refuse_remote(args.server):
            return 2
    else:
        parser.error("--server must be canned, mongoeco or a mongodb:// URI")

    notes = []
    loadavg = harness.loadavg()
    cpu_start = _cpu_snapshot()
    if args.pin:
        os.sched_setaffinity(0, {0})  # inherited by the server and every worker we start
    sizes = dict(SIZES["quick" if args.quick else ("mongoeco" if kind == "mongoeco" else "full")])
    started = time.monotonic()

    probe = probe_drivers(drivers)
    for d in drivers:
        p = probe[d]
        print(
            "driver %-18s %s"
            % (d, "ok (%s)" % p.get("version") if p.get("ok") else "MISSING: %s" % p.get("error"))
        )
    present = [d for d in drivers if probe[d].get("ok")]

    skipped = {}
    gridfs_wanted = [w for w in workloads if w in GRIDFS_WORKLOADS]
    if gridfs_wanted:
        reason = None
        ml_probe = probe["motorlike"] if "motorlike" in probe else probe_drivers(["motorlike"])["motorlike"]
        if not ml_probe.get("gridfs"):
            reason = "motorlike.motor_asyncio.AsyncIOMotorGridFSBucket does not exist (or motorlike is missing)"
        if reason:
            for w in gridfs_wanted:
                skipped[w] = reason
                print("skipping %s: %s" % (w, reason))
            workloads = [w for w in workloads if w not in GRIDFS_WORKLOADS]

    server_cm = None
    if kind == "canned":
        from bench.canned_server import CannedServer

        server_cm = CannedServer(extra_args=["--reply-delay-ms", str(args.reply_delay_ms)])
    elif kind == "mongoeco":
        try:
            from motorlike.testserver import server_uri  # written separately; imported lazily
        except Exception as exc:
            print("skipping: --server mongoeco needs motorlike.testserver.server_uri (%s)" % harness.error_text(exc))
            return 0
        server_cm = server_uri()

    raw = []
    try:
        if kind == "canned":
            server = server_cm.__enter__()
            uri = server.uri
            server_aff = sorted(os.sched_getaffinity(server.pid))
            server_desc = "bench/canned_server.py (pid %d, pre-encoded replies%s)" % (
                server.pid, ", each sent %g ms late" % args.reply_delay_ms if args.reply_delay_ms else "")
        elif kind == "mongoeco":
            try:
                uri = server_cm.__enter__()
            except Exception as exc:
                server_cm = None
                print("skipping: the mongoeco test server did not start (%s)" % harness.error_text(exc))
                return 0
            server_aff = sorted(os.sched_getaffinity(0))
            server_desc = "mongoeco via motorlike.testserver.server_uri() (%s)" % uri
            notes.append("the mongoeco server is started by this process and inherits its CPU affinity")
        else:
            uri = args.server
            server_aff = None
            server_desc = "external server %s" % uri
            if args.pin:
                notes.append("--pin pins the client only: an external server's placement is not ours")
        fresh = kind == "mongoeco"
        drop_after = kind != "canned"
        if kind != "canned":
            _preload(uri)
        if kind == "mongoeco":
            notes.append("insert_many writes each call into a fresh collection (mongoeco slows with collection size)")

        client_aff = sorted(os.sched_getaffinity(0))
        placement = "client CPUs %s, server CPUs %s%s" % (
            client_aff,
            server_aff if server_aff is not None else "unknown",
            " (--pin: both on CPU 0)" if args.pin else " (unpinned)",
        )
        print("server: %s" % server_desc)
        print("placement: %s" % placement)

        timeout = 120 if args.quick else 600
        for rep in range(repeat):
            shift = rep % max(1, len(present))
            order = present[shift:] + present[:shift]
            for w in workloads:
                for d in order:
                    spec = {
                        "driver": d,
                        "workload": w,
                        "uri": uri,
                        "count": sizes[w],
                        "tag": "%s_%d_%d" % (d, rep, os.getpid()),
                        "fresh_collections": fresh,
                        "drop_after": drop_after,
                    }
                    if args.processes > 1:
                        res = run_processes(spec, args.processes, timeout)
                    else:
                        res = harness.run_worker(__file__, ["--worker", json.dumps(spec)], timeout)
                    res.setdefault("driver", d)
                    res.setdefault("workload", w)
                    res["rep"] = rep
                    raw.append(res)
                    if res.get("ok"):
                        if sorted(res.get("affinity", [])) != client_aff:
                            notes.append("worker %s/%s ran on CPUs %s" % (d, w, res.get("affinity")))
                        if "cpu_busy" in res:
                            notes.append("CPUs busy during %s/%s x%d: %s" % (d, w, args.processes, res["cpu_busy"]))
                        msg = "%s %s/s  cpu %.2f us/%s  rss %.1f MiB" % (
                            _fmt_rate(res["rate"]),
                            WORKLOADS[w][1],
                            res["cpu_per_unit_us"],
                            WORKLOADS[w][1],
                            res["maxrss_kib"] / 1024.0,
                        )
                    else:
                        msg = "FAILED: %s" % res.get("error")
                    print("rep %d/%d %-20s %-18s %s" % (rep + 1, repeat, w, d, msg), flush=True)
    finally:
        if server_cm is not None:
            server_cm.__exit__(None, None, None)
        if kind == "canned" and getattr(server_cm, "stderr_text", ""):
            print(server_cm.stderr_text.strip())

    foreign = _foreign_load(cpu_start, _cpu_snapshot())
    label = "%s%s-%s%s%s" % (
        kind if kind != "uri" else "server",
        "-delay%gms" % args.reply_delay_ms if args.reply_delay_ms else "",
        "pinned" if args.pin else "unpinned",
        "-x%dprocesses" % args.processes if args.processes > 1 else "",
        "-quick" if args.quick else "",
    )
    meta = {
        "date": harness.now(),
        "os": harness.os_name(),
        "nproc": "%d (usable by the client: %d)" % (os.cpu_count(), len(os.sched_getaffinity(0))),
        "cpu_model": harness.cpu_model(),
        "python": platform.python_version(),
        "pymongo": harness.module_version("pymongo"),
        "loadavg": loadavg,
        "loadavg_end": harness.loadavg(),
        "foreign_cpus": None if foreign is None else round(foreign, 2),
        "server_desc": server_desc,
        "placement": placement,
        "repeat": repeat,
        "quick": args.quick,
        "sizes": {w: sizes[w] for w in workloads},
        "notes": sorted(set(notes)),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    result = {
        "label": label,
        "meta": meta,
        "drivers": drivers,
        "workloads": workloads,
        "probe": probe,
        "skipped": skipped,
        "table": summarize(raw, present, workloads),
        "raw": raw,
    }
    for d in drivers:
        if not probe[d].get("ok"):
            for w in workloads:
                result["table"].setdefault(w, {})[d] = {"n": 0, "errors": ["missing"]}

    print()
    print(render_section(result))
    print("(elapsed %.1fs)" % meta["elapsed_s"])

    out_dir = args.out or (None if args.quick else os.path.join(ROOT, "doc"))
    if out_dir and not args.no_write:
        os.makedirs(out_dir, exist_ok=True)
        json_path = os.path.join(out_dir, "benchmarks.json")
        results = {}
        if os.path.exists(json_path):
            try:
                with open(json_path) as f:
                    results = json.load(f)
            except (OSError, ValueError):
                results = {}
        for r in results.values():
            r.pop("raw", None)
        stored = dict(result)
        stored.pop("raw", None)
        results[label] = stored
        harness.write_json(json_path, results)
        reason = render_chart(results, os.path.join(out_dir, "benchmarks.png"))
        if reason:
            print(reason)
        with open(os.path.join(out_dir, "benchmarks.md"), "w") as f:
            f.write(render_markdown(results))
        print("wrote %s" % ", ".join(
            os.path.join(out_dir, n) for n in ("benchmarks.md", "benchmarks.json")
            + (() if reason else ("benchmarks.png",))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
