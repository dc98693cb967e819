"""Side-by-side driver benchmark: PyMongo, Motor 3.7.1, AsyncMongoClient, motorlike.

    python bench/run.py [--server canned|mongoeco] [--pin] [--repeat N] [--processes N] [--quick] [--costs]
    python bench/run.py --render-only [--out DIR]   # DIR/benchmarks.md from DIR/benchmarks.json

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

(That paragraph opens doc/benchmarks.md, rewritten from the results kept by label in doc/benchmarks.json.)  A
workload is one coroutine for every driver; PyMongo sync's calls block it.  ``--costs`` adds context switches and
page faults per unit, and the background find_one/s of ``gridfs_*_busy``.  Opt-in: ``find_async_for_waiting`` (what
cursor prefetch overlaps) and the ``VARIANTS``; the hop: ``--drivers pymongo,pymongo_async,motorlike,motorlike_no_inbox,
motorlike_workers,motorlike_affinity,motorlike_one_cpu --workloads find_one,concurrent_find_one``; prefetch:
``--reply-delay-ms 2 --drivers pymongo,motorlike,motorlike_no_prefetch --workloads find_async_for_waiting``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import pymongo

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench.*, motorlike: this tree

from bench import harness  # noqa: E402
from bench.harness import DRIVER_LABELS, fmt_rate  # noqa: E402

DB, SMALL, SMALL_COUNT, BIG, BIG_COUNT = "motorlike_bench", "small", 100, "big", 10_000  # canned: any find on big
PAGED = 2000  # find_async_for_waiting's documents (canned: from `huge`, which honours limit and batchSize)
CONCURRENCY, BUSY_TASKS, GRIDFS_SIZE = 100, 30, 16 * 1024 * 1024  # the canned server's one GridFS file: 16 MiB
DOC = {"name": "bench", "tags": ["a", "b"], "value": 0.5}  # what is inserted, with its number `i`
# name -> (unit of the rate, what one unit is, description, counts per worker: canned, mongoeco, --quick).  Counts
# are calls (concurrent_find_one: per task), calls of 1,000 (insert_many), passes (find_*) or files (gridfs_*).
WORKLOADS = {
    "find_one": ("ops/s", "op", "find_one({_id}) sequentially", (3000, 1000, 200)),
    "insert_one": ("ops/s", "op", "insert_one sequentially", (2000, 500, 100)),
    "insert_many": ("docs/s", "doc", "insert_many of 1,000 small documents", (30, 3, 2)),
    "find_to_list": ("docs/s", "doc", "find() + to_list of 10,000 documents", (10, 3, 1)),
    "find_async_for": ("docs/s", "doc", "find() + async for over 10,000 documents", (10, 3, 1)),
    "concurrent_find_one": ("ops/s", "op", "100 concurrent tasks x find_one (asyncio.gather; PyMongo sync: a pool"
                            " of 100 threads)", (30, 5, 2)),
    "gridfs_upload": ("MiB/s", "MiB", "GridFS upload_from_stream of 16 MiB", (3, 2, 1)),
    "gridfs_download": ("MiB/s", "MiB", "GridFS open_download_stream + read of 16 MiB", (3, 2, 1)),
    **{"gridfs_%s_busy" % way: ("MiB/s", "MiB", "GridFS %s of 16 MiB while 30 other tasks (threads) run find_one"
                                % way, (3, 2, 1)) for way in ("upload", "download")},
    "find_async_for_waiting": ("docs/s", "doc", "find() of 2,000 documents in batches of 100 + async for, waiting "
                               "200 us after every 10 (asyncio.sleep; PyMongo sync: time.sleep)", (5, 2, 1)),
}
OPT_IN_WORKLOADS = ["find_async_for_waiting"]
VARIANTS = {  # opt-in drivers: motorlike asyncio with one change each (import_variant)
    "motorlike_workers": "motorlike asyncio, workers placement", "motorlike_no_inbox": "motorlike asyncio, no inbox",
    "motorlike_one_cpu": "motorlike asyncio, client on one CPU",
    "motorlike_no_prefetch": "motorlike asyncio, no prefetch",
}
LABELS = {**DRIVER_LABELS, **VARIANTS}
OURS = ["motorlike", "motorlike_tornado", "motorlike_affinity", *VARIANTS]  # the ratio table's columns: ours / peers
PEERS = ["pymongo", "motor", "pymongo_async"]
COSTS = ("voluntary_per_unit", "involuntary_per_unit", "faults_per_unit", "background_ops_s")  # --costs
HEADER = "# Benchmarks\n\nGenerated by `python bench/run.py` (see the docstring of `bench/run.py`).\n\n%s\n\n" \
    "Workloads:\n\n" % __doc__.split("\n\n")[2]


def import_variant(driver: str):
    """``harness.import_driver``; for a variant, after its change (made before any client exists)."""
    if driver == "motorlike_workers":
        os.environ["MOTORLIKE_WORKER_AFFINITY"] = "workers"  # the placement mode
    elif driver == "motorlike_one_cpu":  # the client process alone on the CPU it is on (stat field 39)
        with open("/proc/thread-self/stat") as stat:
            os.sched_setaffinity(0, {int(stat.read().rsplit(")", 1)[1].split()[36])})
    elif driver == "motorlike_no_inbox":  # a call_soon_threadsafe per finished call, as before the loop inbox
        import motorlike.frameworks.asyncio as framework
        framework.inbox_for = lambda loop: loop  # what a loop that cannot carry an inbox gets
    elif driver == "motorlike_no_prefetch":
        import motorlike._cursor as cursor
        cursor.AgnosticBaseCursor._prefetches = False
    return harness.import_driver("motorlike" if driver in VARIANTS else driver)


async def workload(driver: str, client_cls, bucket_cls, spec: dict):
    """Time one workload: (Measured, units, background find_one calls or None)."""
    sync, name, n, tag = driver == "pymongo", spec["workload"], spec["count"], spec["tag"]
    client = client_cls(spec["uri"], serverSelectionTimeoutMS=20000)
    db, loop, to_drop, background, units = client[DB], asyncio.get_running_loop(), [], None, n
    small, busy = db[SMALL], {"on": name.endswith("_busy"), "calls": [0] * BUSY_TASKS}  # one Collection, as in an app
    timer = harness.Measured(collect=True, barrier=harness.file_barrier(spec["barrier_dir"], spec["index"]))
    if sync:
        loop.set_default_executor(ThreadPoolExecutor(CONCURRENCY))  # PyMongo sync's concurrent tasks

    async def value(result):  # PyMongo sync's result, awaited where an async driver's awaitable is
        return result
    wait = value if sync else (lambda awaitable: awaitable)

    def finish(coroutine):  # runs to its end, on this thread, a coroutine that never suspends (PyMongo sync's)
        with contextlib.suppress(StopIteration):
            coroutine.send(None)
            raise RuntimeError("a PyMongo sync job suspended")

    def at_once(jobs):  # coroutines run together: as tasks, or PyMongo sync's each on a thread
        return asyncio.gather(*[loop.run_in_executor(None, finish, job) if sync else job for job in jobs])

    async def find_ones(t: int, count: int) -> int:  # how many found nothing
        return sum([await wait(small.find_one({"_id": (t + i) % SMALL_COUNT})) is None for i in range(count)])

    async def busy_task(t: int) -> None:
        while busy["on"]:
            await wait(small.find_one({"_id": busy["calls"][t] % SMALL_COUNT}))
            busy["calls"][t] += 1

    async def one_pass() -> int:  # of a find_* workload: how many documents
        if name == "find_to_list":
            return len(await wait(db[BIG].find({}).to_list(None)))
        waiting, count = name.endswith("_waiting"), 0
        cursor = db[spec["paged"]].find({}).limit(PAGED).batch_size(100) if waiting else db[BIG].find({})
        if sync:
            for _ in cursor:
                count += 1
                if waiting and count % 10 == 0:
                    time.sleep(200e-6)
        else:
            async for _ in cursor:
                count += 1
                if waiting and count % 10 == 0:
                    await asyncio.sleep(200e-6)
        return count

    try:
        if name == "find_one":
            if await find_ones(0, max(20, n // 10)):
                raise RuntimeError("find_one found nothing")
            with timer:
                await find_ones(0, n)
        elif name == "concurrent_find_one":
            await at_once([find_ones(t, 1) for t in range(CONCURRENCY)])
            with timer:
                await at_once([find_ones(t, n) for t in range(CONCURRENCY)])
            units = n * CONCURRENCY
        elif name.startswith("insert_"):  # insert_many on mongoeco (which slows as a collection grows): fresh ones
            many, warm = name == "insert_many", 1 if name == "insert_many" else max(10, n // 10)
            names = ["%s_%s_%d" % (name, tag, k if many and spec["mongoeco"] else 0) for k in range(warm + n)]
            colls = {coll_name: db[coll_name] for coll_name in names}  # one Collection object per name
            inserts = [getattr(colls[coll_name], name) for coll_name in names]  # bound before the clock starts
            docs = [[dict(DOC, i=i) for i in range(1000)] if many else dict(DOC, i=k) for k in range(warm + n)]
            to_drop, units = list(colls), n * 1000 if many else n
            for insert, doc in zip(inserts[:warm], docs[:warm]):
                result = await wait(insert(doc))
                if len(result.inserted_ids) != 1000 if many else result.inserted_id is None:
                    raise RuntimeError("%s did not report what it inserted" % name)
            with timer:
                for insert, doc in zip(inserts[warm:], docs[warm:]):
                    await wait(insert(doc))
        elif name.startswith("find_"):
            if await one_pass() != (PAGED if name.endswith("_waiting") else BIG_COUNT):
                raise RuntimeError("%s saw too few or too many documents" % name)
            with timer:
                units = sum([await one_pass() for _ in range(n)])
        elif name.startswith("gridfs_"):
            if bucket_cls is None:
                raise RuntimeError("%s has no GridFS bucket class here" % driver)
            to_drop, units = ["fs_%s.files" % tag, "fs_%s.chunks" % tag], n * GRIDFS_SIZE / (1024 * 1024)
            bucket, data = bucket_cls(db, bucket_name="fs_" + tag), os.urandom(GRIDFS_SIZE)
            await wait(bucket.upload_from_stream("warmup", b"x" * 1024))
            ids = [] if "upload" in name else [await wait(bucket.upload_from_stream("f%d" % k, data)) for k in range(n)]
            others = at_once([busy_task(t) for t in range(BUSY_TASKS if busy["on"] else 0)])
            try:
                await asyncio.sleep(0.05 if busy["on"] else 0)  # the background tasks under way
                with timer:
                    calls = sum(busy["calls"])  # here: the timer's start may wait at the barrier and collect garbage
                    for k in range(0 if ids else n):
                        await wait(bucket.upload_from_stream("f%d" % k, data))
                    for file_id in ids:
                        grid_out = await wait(bucket.open_download_stream(file_id))
                        if len(await wait(grid_out.read())) != GRIDFS_SIZE:
                            raise RuntimeError("a download was short")
                    background = sum(busy["calls"]) - calls if busy["on"] else None
            finally:
                busy["on"] = False
                await others
        else:
            raise ValueError("unknown workload %r" % name)
    finally:
        for coll_name in to_drop if spec["mongoeco"] else ():  # the canned server stores nothing
            with contextlib.suppress(Exception):
                await wait(db.drop_collection(coll_name))
        await harness.maybe_await(client.close())
    return timer, units, background


def _rates(r: dict) -> dict:
    """A result's rate and costs per unit, from its totals (of one worker or several)."""
    per_unit, per_second = 1 / r["units"] if r["units"] else 0.0, 1 / r["seconds"] if r["seconds"] > 0 else 0.0
    r.update({key + "_per_unit": r[key] * per_unit for key in ("voluntary", "involuntary", "faults")},
             rate=r["units"] * per_second, cpu_per_unit_us=r["cpu"] * per_unit * 1e6,
             background_ops_s=None if r["background_calls"] is None else r["background_calls"] * per_second)
    return r


def worker_main(spec: dict) -> dict:
    driver, out = spec["driver"], {"driver": spec["driver"], "workload": spec["workload"]}
    try:
        client_cls, bucket_cls, out["version"] = import_variant(driver)
    except Exception as exc:  # the driver is missing: reported, never a crash of the run
        return dict(out, ok=False, missing=True, error=harness.error_text(exc))
    out.update(affinity=sorted(os.sched_getaffinity(0)), rss_base_kib=harness.maxrss_kib())
    try:
        timer, units, background = harness.run_async(driver, lambda: workload(driver, client_cls, bucket_cls, spec))
    except Exception as exc:
        return dict(out, **harness.failed(exc))
    return _rates(dict(out, ok=True, units=units, seconds=timer.wall, cpu=timer.cpu, started_at=timer.started_at,
                       ended_at=timer.ended_at, voluntary=timer.voluntary, involuntary=timer.involuntary,
                       faults=timer.faults, background_calls=background, maxrss_kib=harness.maxrss_kib()))


def run_processes(spec: dict, count: int, timeout: float) -> dict:
    """``count`` workers at once (``--processes``), released together after their warm-up: their units over
    the span from the first start to the last end, and how busy each CPU was meanwhile."""
    with tempfile.TemporaryDirectory(prefix="bench-barrier-") as barrier_dir:
        procs = [harness.start_worker(__file__, ["--worker", json.dumps(dict(
            spec, barrier_dir=barrier_dir, index=i, tag="%s_p%d" % (spec["tag"], i)))]) for i in range(count)]
        released, before = harness.release_barrier(barrier_dir, count, procs, timeout), harness.per_cpu_busy()
        results = [harness.collect(proc, timeout if released else 1) for proc in procs]
        after = harness.per_cpu_busy()
    # A worker that failed by itself first: the others may only have been cut short waiting for it.
    failed = sorted((r for r in results if not r.get("ok")), key=lambda r: r.get("error", "").startswith("timed out"))
    if failed or not released:
        return failed[0] if failed else {"ok": False, "error": "a worker never started"}
    total = {key: sum(r[key] for r in results) for key in ("units", "cpu", "voluntary", "involuntary", "faults")}
    calls = [r["background_calls"] for r in results]
    return _rates(dict(
        results[0], **total, seconds=max(r["ended_at"] for r in results) - min(r["started_at"] for r in results),
        background_calls=None if None in calls else sum(calls), maxrss_kib=max(r["maxrss_kib"] for r in results),
        rss_base_kib=max(r["rss_base_kib"] for r in results), cpu_busy=harness.cpu_shares(before, after)))


def preload(uri: str) -> None:
    """Load `small` and `big` into mongoeco, 100 at a time (its inserts slow with a collection's size)."""
    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=30000) as client:
        for coll, count, make in ((client[DB][SMALL], SMALL_COUNT, lambda i: dict(DOC, i=i, _id=i)),
                                  (client[DB][BIG], BIG_COUNT, lambda i: {"_id": i, "x": i, "s": "abcdefghij"})):
            if coll.count_documents({}) != count:
                coll.drop()
                for start in range(0, count, 100):
                    coll.insert_many([make(i) for i in range(start, min(count, start + 100))])


def summarize(raw: list, drivers: list, workloads: list) -> dict:
    """Worker results -> per workload, per driver: medians over the repetitions (and best, spread)."""
    table = {w: {} for w in workloads}
    for w in workloads:
        for d in drivers:
            runs = [r for r in raw if r["workload"] == w and r["driver"] == d]
            good = [r for r in runs if r.get("ok")]
            cell = table[w][d] = {"n": len(good), "errors": sorted({r["error"] for r in runs if not r.get("ok")})}
            if good:
                rates = harness.figures([r["rate"] for r in good])
                cell.update(rate=rates["median"], best=rates["best"], spread=rates["spread"],
                            cpu_us=harness.median(r["cpu_per_unit_us"] for r in good),
                            rss_mib=harness.median(r["maxrss_kib"] for r in good) / 1024.0,
                            rss_base_mib=harness.median(r["rss_base_kib"] for r in good) / 1024.0,
                            **{key: harness.median(r[key] for r in good)
                               for key in COSTS if good[0].get(key) is not None})
    return table


def render_section(result: dict, costs: bool = False) -> str:
    """The Markdown of one configuration."""
    meta, table, probe = result["meta"], result["table"], result["probe"]
    present = [d for d in result["drivers"] if probe.get(d, {}).get("ok")]
    workloads, foreign = [w for w in result["workloads"] if w in table], meta.get("foreign_cpus")
    lines = ["## " + result["label"], "", "- date: " + meta["date"],
             "- machine: %(os)s, nproc %(nproc)s, %(cpu_model)s; Python %(python)s; PyMongo %(pymongo)s" % meta,
             "- load average at start: %s, at end: %s" % (meta["loadavg"], meta.get("loadavg_end", "?"))] + [
        "- other processes on the machine kept %.2f CPUs busy on average during the run%s"
        % (foreign, " (a busy machine: expect noise)" if foreign > 0.2 else "")] * (foreign is not None) + [
        "- server: " + meta["server_desc"], "- CPU placement: " + meta["placement"],
        "- repetitions: %d%s; counts per worker: %s" % (meta["repeat"], " (quick)" if meta["quick"] else "",
                                                         dict(sorted(meta["sizes"].items()))),
        "- drivers: " + (", ".join("%s %s" % (LABELS[d], probe[d].get("version", "?")) for d in present) or "none")]
    lines += ["- missing: %s (%s)" % (LABELS[d], probe.get(d, {}).get("error", "?"))
              for d in result["drivers"] if d not in present]
    lines += ["- note: " + note for note in meta.get("notes", [])] + [""]

    def per_driver(title, key, show, unit=None, rows=workloads):  # a figure per workload and driver
        head = ["workload"] + ["unit"] * (unit is not None) + [LABELS[d] for d in present]
        body = [[w] + ([] if unit is None else [WORKLOADS[w][unit]]) + [
            show(table[w][d]) if table[w][d].get(key) is not None else "error" if table[w][d]["errors"] else "-"
            for d in present] for w in rows]
        return ["### " + title, ""] + harness.markdown_table(head, body, 1 + (unit is not None)) + [""] if rows else []

    lines += per_driver("Throughput (median; spread = (max-min)/median)", "rate",
                        lambda c: "%s ±%.0f%%" % (fmt_rate(c["rate"]), 50 * c["spread"]), 0)
    if meta["repeat"] > 1:
        lines += per_driver("Throughput, best of %d (interference from other processes only ever slows a run down)"
                            % meta["repeat"], "best", lambda c: fmt_rate(c["best"]), 0)
    pairs = [(o, p) for o in OURS if o in present for p in PEERS if p in present]
    if pairs:
        rows = [[w] + ["%.2f" % (table[w][o]["rate"] / table[w][p]["rate"]) if table[w][o].get("rate")
                       and table[w][p].get("rate") else "-" for o, p in pairs] for w in workloads]
        lines += ["### Ratios (motorlike median / peer median; > 1 means motorlike is faster)", ""]
        lines += harness.markdown_table(["workload"] + ["%s / %s" % (LABELS[o], LABELS[p]) for o, p in pairs], rows)
        lines.append("")
    lines += per_driver("Client CPU time per unit (median, microseconds; unit = op, doc or MiB)", "cpu_us",
                        lambda c: ("%.2f" if c["cpu_us"] < 10 else "%.0f") % c["cpu_us"], 1)
    lines += per_driver("Peak RSS of the client process (median MiB; in parentheses: after import and before the "
                        "workload)", "rss_mib", lambda c: "%.1f (%.1f)" % (c["rss_mib"], c["rss_base_mib"]))
    if costs:
        lines += per_driver("OS costs per unit (median: voluntary + involuntary context switches, all threads; "
                            "minor page faults)", "faults_per_unit", lambda c: "%.2f + %.2f; %.2f" % (
                                c["voluntary_per_unit"], c["involuntary_per_unit"], c["faults_per_unit"]), 1)
        lines += per_driver("Background find_one/s during the _busy workloads (median)", "background_ops_s",
                            lambda c: fmt_rate(c["background_ops_s"]), rows=[w for w in workloads if "_busy" in w])
    errors = ["- %s / %s: %s" % (w, LABELS[d], e) for w in workloads for d in present for e in table[w][d]["errors"]]
    return "\n".join(lines + (["### Errors", ""] + errors + [""] if errors else []))


def render_markdown(results: dict, costs: bool = False) -> str:
    """doc/benchmarks.md: the method, the workloads, a section per configuration (canned, unpinned first)."""
    ran = [w for w in WORKLOADS if w not in OPT_IN_WORKLOADS or any(w in r["workloads"] for r in results.values())]
    order = sorted(results, key=lambda label: ({"canned": 0, "mongoeco": 1}.get(label.split("-")[0], 2),
                                               "pinned" in label.split("-"), label))
    parts = [HEADER + "".join("- `%s` (%s): %s\n" % (w, WORKLOADS[w][0], WORKLOADS[w][2]) for w in ran)]
    return "\n".join(parts + [render_section(results[label], costs) for label in order]).rstrip() + "\n"


def write_reports(out_dir: str, result, costs: bool) -> None:
    """Store ``result`` (if any) by its label in DIR/benchmarks.json; rewrite DIR/benchmarks.md from it."""
    os.makedirs(out_dir, exist_ok=True)
    json_path, results = os.path.join(out_dir, "benchmarks.json"), {}
    with contextlib.suppress(OSError, ValueError), open(json_path) as f:
        results = json.load(f)
    if result is not None:
        results[result["label"]] = {key: value for key, value in result.items() if key != "raw"}
        harness.write_json(json_path, results)
    with open(os.path.join(out_dir, "benchmarks.md"), "w") as f:
        f.write(render_markdown(results, costs))
    print("wrote %s" % os.path.join(out_dir, "benchmarks.md") + " and .json" * (result is not None))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--server", default="canned", choices=("canned", "mongoeco"), help="the canned server or mongoeco")
    add("--pin", action="store_true", help="pin client and server to CPU 0")
    add("--repeat", type=int, default=None, help="repetitions (default 7; 1 with --quick)")
    add("--quick", action="store_true", help="smoke test: tiny counts, no _busy, writes nothing unless --out")
    add("--drivers", default=",".join(DRIVER_LABELS), help="comma-separated, of " + ",".join(LABELS))
    add("--workloads", help="comma-separated (default: all but %s, and with --quick the _busy ones)" % OPT_IN_WORKLOADS)
    add("--out", help="directory for benchmarks.md and .json (default: doc/)")
    add("--no-write", action="store_true", help="print only")
    add("--reply-delay-ms", type=float, default=0.0, help="canned server: send each reply this late (e.g. 0.2)")
    add("--processes", type=int, default=1, help="N processes of each driver at once: their aggregate rate")
    add("--costs", action="store_true", help="add tables of OS costs per unit and of background find_one/s")
    add("--render-only", action="store_true", help="only rewrite benchmarks.md from benchmarks.json")
    add("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        harness.report(worker_main(json.loads(args.worker)))
        return 0
    out_dir = args.out or (None if args.quick and not args.render_only else os.path.join(harness.ROOT, "doc"))
    if args.render_only:
        if not os.path.exists(os.path.join(out_dir, "benchmarks.json")):
            parser.error("no benchmarks.json in %s" % out_dir)
        write_reports(out_dir, None, args.costs)
        return 0
    drivers, canned = [d for d in args.drivers.split(",") if d], args.server == "canned"
    default = [w for w in WORKLOADS if w not in OPT_IN_WORKLOADS and not (args.quick and w.endswith("_busy"))]
    workloads = [w for w in args.workloads.split(",") if w] if args.workloads else default
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 7)
    unknown = [d for d in drivers if d not in LABELS] + [w for w in workloads if w not in WORKLOADS]
    if unknown or min(args.processes, repeat) < 1 or (args.reply_delay_ms and not canned):
        parser.error("unknown drivers or workloads %s, --processes or --repeat below 1, or --reply-delay-ms "
                     "without the canned server" % unknown)

    loadavg, cpu_start, started, raw = harness.loadavg(), harness.cpu_times(), time.monotonic(), []
    if args.pin:
        os.sched_setaffinity(0, {0})  # inherited by the server and every worker we start
    sizes = {w: WORKLOADS[w][3][2 if args.quick else 0 if canned else 1] for w in workloads}
    notes = [] if canned else ["the mongoeco server is started by this process and inherits its CPU affinity",
        "insert_many writes each call into a fresh collection (mongoeco slows with collection size)"]
    with contextlib.ExitStack() as stack:
        if canned:
            from bench.canned_server import CannedServer
            server = CannedServer(extra_args=["--reply-delay-ms", str(args.reply_delay_ms)])
            stack.callback(lambda: server.stderr_text and print(server.stderr_text.strip()))  # once it stopped
            uri, server_aff = stack.enter_context(server).uri, sorted(os.sched_getaffinity(server.pid))
            server_desc = "bench/canned_server.py (pid %d, pre-encoded replies%s)" % (
                server.pid, ", each sent %g ms late" % args.reply_delay_ms if args.reply_delay_ms else "")
        else:
            from motorlike.testserver import server_uri
            uri, server_aff = stack.enter_context(server_uri()), sorted(os.sched_getaffinity(0))
            server_desc = "mongoeco via motorlike.testserver.server_uri() (%s)" % uri
            preload(uri)
        client_aff = sorted(os.sched_getaffinity(0))
        placement = "client CPUs %s, server CPUs %s (%s)" % (client_aff, server_aff, "--pin: both on CPU 0"
                                                             if args.pin else "unpinned")
        print("server: %s\nplacement: %s" % (server_desc, placement))
        for rep, order in harness.rotations(repeat, drivers):
            for w in workloads:
                for d in order:
                    spec = {"driver": d, "workload": w, "uri": uri, "count": sizes[w], "mongoeco": not canned,
                            "tag": "%s_%d_%d" % (d, rep, os.getpid()), "paged": "huge" if canned else BIG}
                    res = run_processes(spec, args.processes, 120 if args.quick else 600)
                    raw.append(dict(res, driver=d, workload=w, rep=rep))
                    msg = "%s: %s" % ("MISSING" if res.get("missing") else "FAILED", res.get("error"))
                    if res.get("ok"):
                        if res["affinity"] != client_aff:
                            notes.append("worker %s/%s ran on CPUs %s" % (d, w, res["affinity"]))
                        if args.processes > 1:
                            notes.append("CPUs busy during %s/%s x%d: %s" % (d, w, args.processes, res["cpu_busy"]))
                        msg = "%s %s/s  cpu %.2f us/%s  rss %.1f MiB" % (fmt_rate(res["rate"]), WORKLOADS[w][1],
                            res["cpu_per_unit_us"], WORKLOADS[w][1], res["maxrss_kib"] / 1024.0)
                        if res["background_ops_s"] is not None:
                            msg += "  background find_one %s/s" % fmt_rate(res["background_ops_s"])
                    print("rep %d/%d %-20s %-18s %s" % (rep + 1, repeat, w, d, msg), flush=True)

    versions = {r["driver"]: r["version"] for r in raw if "version" in r}  # a driver no worker imported is missing
    probe = {d: {"driver": d, "ok": True, "version": versions[d]} if d in versions else {
        "driver": d, "ok": False, "error": next((r["error"] for r in raw if r["driver"] == d), "?")} for d in drivers}
    foreign = harness.foreign_cpus(cpu_start, harness.cpu_times())
    label = "%s%s-%s%s%s" % (args.server, "-delay%gms" % args.reply_delay_ms if args.reply_delay_ms else "",
                             "pinned" if args.pin else "unpinned",
                             "-x%dprocesses" % args.processes if args.processes > 1 else "", "-quick" * args.quick)
    meta = dict(harness.machine(), nproc="%d (usable by the client: %d)" % (os.cpu_count(), len(client_aff)),
                loadavg=loadavg, loadavg_end=harness.loadavg(), foreign_cpus=None if foreign is None else round(
                    foreign, 2), server_desc=server_desc, placement=placement, repeat=repeat, quick=args.quick,
                sizes=sizes, notes=sorted(set(notes)), elapsed_s=round(time.monotonic() - started, 1))
    result = {"label": label, "meta": meta, "drivers": drivers, "workloads": workloads, "probe": probe,
              "table": summarize(raw, drivers, workloads), "raw": raw}
    print("\n%s\n(elapsed %.1fs)" % (render_section(result, args.costs), meta["elapsed_s"]))
    if out_dir and not args.no_write:
        write_reports(out_dir, result, args.costs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
