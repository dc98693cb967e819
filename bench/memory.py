"""Memory benchmark: long cursors and large GridFS files, motorlike against its peers.

    python bench/memory.py [--quick] [--only cursor|gridfs] [--repeat N] [--gridfs-mib N] [--uri URI]
                           [--out PATH | --no-write] [--json PATH]       (or --render PATH.json: report it again)

Cursors: every driver iterates the canned server's 1,000,000 documents (``huge``); GridFS: a 64 MiB file up and
down the embedded mongoeco (or ``--uri``) as ``GRIDFS_OPERATIONS`` says. The method is in ``HEAD``, in the report.
Writes ``doc/memory.md`` (``--out`` elsewhere); ``--quick`` (20,000 documents, 2 MiB, one run) writes only ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc

import bson

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench.*, motorlike: this tree

from bench import harness  # noqa: E402
from bench.canned_server import HUGE_DEFAULT_BATCH, CannedServer, Replies  # noqa: E402
from bench.harness import DRIVER_LABELS, maybe_await  # noqa: E402

MiB, CHUNK_SIZE = 1024 * 1024, 255 * 1024
DB_NAME, HUGE_COLL, UPLOAD_BUCKET, DOWNLOAD_BUCKET = "motorlike_memory", "huge", "memup", "memdown"
TO_LIST_LENGTH, TWO_BATCHES, FEW_CHUNKS = 1000, 2.0, 3.0  # FEW_CHUNKS: one read or written, one decoded, slack
MONGOD_BATCH_CHUNKS = (16 * MiB) // (CHUNK_SIZE + 64)  # 64: what a mongod puts in a 16 MiB batch
SUMMARY_KEYS = ("seconds", "rss_peak", "trace_peak", "trace_end", "rss_end", "trace_held", "rss_held")
CURSOR_CASES = [(driver, method) for driver in ("motorlike", "motorlike_tornado", "motor", "pymongo_async", "pymongo")
                for method in ("for", "to_list") if (driver, method) != ("motorlike_tornado", "to_list")]
GRIDFS_METHODS = ("upload_from_stream", "upload_write", "download_iter", "download_to_stream", "download_read")
# (case id, driver, method, settings, note): the drivers as they are, then motorlike with another window
GRIDFS_CASES = [("%s/%s" % (method, driver), driver, method, {}, "")
                for method in GRIDFS_METHODS for driver in ("motorlike", "motor", "pymongo")]
GRIDFS_CASES += [("%s/motorlike/pymongo_buffer" % method, "motorlike", method, {"window": 48_000_000},
                  "what if: WINDOW_BYTES = 48 MB (PyMongo's own upload buffer)")
                 for method in ("upload_from_stream", "upload_write")]
GRIDFS_CASES += [("%s/motorlike/one_chunk" % method, "motorlike", method, {"window": CHUNK_SIZE},
                  "what if: WINDOW_BYTES = 255 KiB (a chunk per request, as before windows)")
                 for method in ("upload_write", "download_iter", "download_read")]


class Meter:
    """Growth since ``baseline()`` of RSS ("rss") or of traced memory ("trace"); from ``pre()`` on too ("held")."""

    def __init__(self, mode: str) -> None:
        self.mode, self.pre_value = mode, None
        if mode == "trace":
            tracemalloc.start()

    def _mark(self) -> tuple:
        """(in use, peak since the last mark) in bytes, after ``gc.collect()``."""
        gc.collect()
        if self.mode == "trace":
            current, peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            return current, peak
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # VmHWM := VmRSS
        return tuple(int(status[key].split()[0]) * 1024 for key in ("VmRSS", "VmHWM"))

    def pre(self) -> None:
        self.pre_value = self._mark()[0]

    def baseline(self) -> None:
        self.base, self.pre_peak = self._mark()
        self.t0 = time.perf_counter()

    def stop(self) -> dict:
        seconds, (current, peak) = time.perf_counter() - self.t0, self._mark()
        result = {self.mode + "_peak": peak - self.base, self.mode + "_end": current - self.base}
        if self.pre_value is not None:
            result[self.mode + "_held"] = max(self.pre_peak, peak) - self.pre_value
        if self.mode == "rss":
            return dict(result, seconds=seconds)  # timed without tracemalloc, which slows what it traces
        tracemalloc.stop()
        return result


def pieces(piece: bytes, total: int):
    """``piece`` again and again (the last one cut short) until ``total`` bytes were given."""
    for sent in range(0, total, len(piece)):
        yield piece[: total - sent]


class GeneratorReader:
    """A read-only file-like object whose data comes from a generator of bytes pieces."""

    def __init__(self, parts) -> None:
        self._parts, self._rest = iter(parts), memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        size, out = sys.maxsize if size < 0 else size, []
        while size > 0:
            self._rest = self._rest or memoryview(next(self._parts, b""))
            if not self._rest:
                break
            out.append(self._rest[:size])
            self._rest, size = self._rest[size:], size - len(out[-1])
        return b"".join(out)


class Sink:
    """A file-like object that counts what is written to it and keeps nothing."""

    count = 0

    def write(self, data) -> int:
        self.count += len(data)
        return len(data)


def _apply_settings(spec: dict) -> None:
    """A "what if" window; a mongod's batches for PyMongo's GridOut, which leaves the batch size to the server."""
    if spec.get("settings", {}).get("window"):
        import motorlike.motor_gridfs
        motorlike.motor_gridfs.WINDOW_BYTES = spec["settings"]["window"]
    if spec["kind"] == "gridfs":
        from gridfs.synchronous.grid_file import GridOutChunkIterator

        def create_cursor(self, create=GridOutChunkIterator._create_cursor) -> None:
            create(self)
            if not self._cursor._batch_size:
                self._cursor.batch_size(MONGOD_BATCH_CHUNKS)

        GridOutChunkIterator._create_cursor = create_cursor


async def _cursor(collection, method: str, meter: Meter) -> dict:
    meter.pre()
    cursor, count = collection.find({}), 1
    if method == "to_list":  # each list stays alive while the next is fetched, as in a loop
        docs = await maybe_await(cursor.to_list(TO_LIST_LENGTH))
        count = len(docs)
        meter.baseline()
        while docs := await maybe_await(cursor.to_list(TO_LIST_LENGTH)):
            count += len(docs)
    elif hasattr(cursor, "__anext__"):
        await cursor.__anext__()  # the first batch (its first document) is in the baseline
        meter.baseline()
        async for _doc in cursor:
            count += 1
    else:
        next(cursor)
        meter.baseline()
        count += sum(1 for _doc in cursor)
    return dict(meter.stop(), count=count)


async def _gridfs(db, bucket_cls, spec: dict, meter: Meter) -> dict:
    method, size, file_id, count = spec["method"], spec["size"], bson.ObjectId(spec["file_id"]), 0
    bucket = bucket_cls(db, bucket_name=UPLOAD_BUCKET if method.startswith("upload") else DOWNLOAD_BUCKET)
    piece = os.urandom(MiB)
    meter.baseline()
    if method == "upload_from_stream":
        file_id = await maybe_await(bucket.upload_from_stream("memory", GeneratorReader(pieces(piece, size))))
    elif method == "upload_write":
        grid_in = bucket.open_upload_stream("memory")
        for part in pieces(piece, size):
            await maybe_await(grid_in.write(part))
        await maybe_await(grid_in.close())
        file_id = grid_in._id
    elif method == "download_to_stream":
        await maybe_await(bucket.download_to_stream(file_id, sink := Sink()))
        count = sink.count
    else:
        grid_out = await maybe_await(bucket.open_download_stream(file_id))
        if method == "download_read":
            count = len(await maybe_await(grid_out.read()))
        elif hasattr(grid_out, "__aiter__"):
            async for chunk in grid_out:
                count += len(chunk)
        else:
            while chunk := grid_out.readchunk():
                count += len(chunk)
    result = meter.stop()
    if method.startswith("upload"):  # the length stored, then away with the file
        document = await maybe_await(db[UPLOAD_BUCKET + ".files"].find_one({"_id": file_id}))
        await maybe_await(bucket.delete(file_id))
        count = document["length"] if document else -1
    return dict(result, count=count)


def worker_main(spec: dict) -> dict:
    """One measurement: {"ok", "count", the Meter's figures} or what failed."""
    try:
        client_cls, bucket_cls, _version = harness.import_driver(spec["driver"])
        _apply_settings(spec)
        meter = Meter(spec["mode"])  # tracemalloc starts before the client is made

        async def measure() -> dict:  # sync PyMongo too: its calls return at once, maybe_await passes them on
            client = client_cls(spec["uri"], serverSelectionTimeoutMS=20000)
            try:
                await maybe_await(client[DB_NAME].command("ping"))
                if spec["kind"] == "cursor":
                    return await _cursor(client[DB_NAME][HUGE_COLL], spec["method"], meter)
                return await _gridfs(client[DB_NAME], bucket_cls, spec, meter)
            finally:
                await maybe_await(client.close())

        result = harness.run_async(spec["driver"], measure)
    except Exception as exc:
        return harness.failed(exc, limit=300)
    if result["count"] != spec["expected"]:
        return {"ok": False, "error": "got %s documents/bytes, expected %s" % (result["count"], spec["expected"])}
    return dict(result, ok=True)


def batch_main(batch_length: int) -> dict:
    """One batch of the canned server's documents: its length, raw BSON size and decoded size (tracemalloc)."""
    body = Replies().huge_batch("%s.%s" % (DB_NAME, HUGE_COLL), False, batch_length, 0)
    meter = Meter("trace")
    meter.baseline()
    docs = bson.decode(body)["cursor"]["nextBatch"]
    return {"length": len(docs), "decoded": meter.stop()["trace_end"], "raw": len(body)}


def _measure(specs: dict, repeat: int) -> dict:
    """Case id -> medians and maxima of ``repeat`` runs (interleaved), each an RSS and a tracemalloc process."""
    def run_once(case: str) -> dict:
        rss, trace = (harness.run_worker(__file__, ["--worker", json.dumps(dict(specs[case], mode=mode))], 900)
                      for mode in ("rss", "trace"))
        errors = sorted({result["error"] for result in (rss, trace) if not result["ok"]})
        print("  %-44s %s" % (case, "FAILED " + "; ".join(errors) if errors else "ok"), flush=True)
        return {**rss, **trace, "errors": errors}

    summaries = {}
    for case, runs in harness.interleaved(repeat, specs, run_once).items():
        good, spec = [run for run in runs if not run["errors"]], specs[case]
        summary = summaries[case] = {key: spec[key] for key in ("driver", "method", "settings", "note") if key in spec}
        summary.update(n=len(good), runs=len(runs), errors=sorted({error for run in runs for error in run["errors"]}))
        for key in SUMMARY_KEYS:
            if values := [run[key] for run in good if run.get(key) is not None]:
                summary[key], summary[key + "_max"] = statistics.median(values), max(values)
    return summaries


def run_cursor(count: int, repeat: int) -> dict:
    with CannedServer(extra_args=["--huge-count", str(count), "--quiet"]) as server:
        specs = {"/".join(case): {"kind": "cursor", "driver": case[0], "method": case[1], "uri": server.uri,
                                  "expected": count} for case in CURSOR_CASES}
        return {"count": count, "batch": batch_main(HUGE_DEFAULT_BATCH), "cases": _measure(specs, repeat)}


def run_gridfs(size: int, repeat: int, uri: str | None) -> dict:
    import gridfs
    import pymongo
    from motorlike import testserver
    with contextlib.nullcontext(uri) if uri else testserver.server_uri() as server_uri, pymongo.MongoClient(
            server_uri, serverSelectionTimeoutMS=30000) as client:
        try:
            client.drop_database(DB_NAME)
            file_id = gridfs.GridFSBucket(client[DB_NAME], bucket_name=DOWNLOAD_BUCKET).upload_from_stream(
                "download", GeneratorReader(pieces(os.urandom(MiB), size)))  # by sync PyMongo, before all
            specs = {case: {"kind": "gridfs", "driver": driver, "method": method, "settings": settings, "note": note,
                            "uri": server_uri, "size": size, "file_id": str(file_id), "expected": size}
                     for case, driver, method, settings, note in GRIDFS_CASES}
            server = "%s (--uri)" % uri if uri else "mongoeco %s (motorlike.testserver, 127.0.0.1)" % (
                testserver.MONGOECO_VERSION)
            return {"size": size, "server": server, "cases": _measure(specs, repeat)}
        finally:
            client.drop_database(DB_NAME)


# The report; "{case}": a case's worst run in batches (cursors) or traced chunks (GridFS); "{case s}": its time.
HEAD = """# Memory: long cursors and large GridFS files

Generated by `python bench/memory.py{quick}` (its docstring says how to run it).

- date: {date} ({seconds:.0f} s)
- machine: {os}, nproc {nproc}, {cpu_model}; load average at start {loadavg}, at end {loadavg_end}
- Python {python}; PyMongo {pymongo}; Motor {motor}; Tornado {tornado}; motorlike from this tree
- runs per case: {repeat:d}, each in two fresh processes (RSS and time; tracemalloc, from before the client is made)

Method: a baseline is taken after connecting (cursors: and the first batch) and `gc.collect()`.  "RSS growth" is the \
peak RSS after it (`VmHWM`, reset there by `/proc/self/clear_refs`) minus the RSS at it, "traced growth" the same for \
tracemalloc.  Figures are medians of the runs; "worst run": the largest growth of any run, RSS or traced."""
CURSOR_INTRO = """## Iterating {count} documents (canned server, collection `huge`)

One batch: {length:d} documents `{{_id, x, s: 'abcdefghij'}}`, {raw:.1f} KiB of BSON, **{decoded:.1f} KiB decoded** \
(tracemalloc), the unit in parentheses.  "Held" counts from before the first `find`: the first batch included."""
CURSOR_FINDING = """Cursors: motorlike grew by {motorlike/for:.1f} batches with `async for` (Tornado: \
{motorlike_tornado/for:.1f}) and {motorlike/to_list:.1f} with the `to_list({n:d})` loop, the previous list alive \
during the next fetch; counting the first batch, at most {held:.1f}; within two batches in every case: {verdict}."""
GRIDFS_INTRO = """## GridFS, a {mib:d} MiB file ({server}, chunks of 255 KiB)

PyMongo's GridOut leaves the chunk cursor's batch size to the server: its rows get a mongod's, {batch:d} chunks (16 \
MiB).  motorlike's GridOut asks for a window (`WINDOW_BYTES`, {window}) per batch and its GridIn sends a window per \
insert; PyMongo's GridIn, which Motor uses, buffers up to 48 MB of chunks before one `insert_many`.  The tests' bound \
on traced memory, every run, for the peers too: two windows and {few:.0f} chunks (a `read()`: and the file).  RSS \
also counts what tracemalloc does not see: PyMongo's C encoding buffer, freed blocks the allocator keeps."""
GRIDFS_FINDING = """GridFS, traced growth in chunks, motorlike / Motor / PyMongo: {medians}.  motorlike's uploads \
take {upload_from_stream/motorlike s}, {upload_write/motorlike s} (PyMongo's buffer: \
{upload_from_stream/motorlike/pymongo_buffer s}, {upload_write/motorlike/pymongo_buffer s}); `download_iter` by \
single chunks: {download_iter/motorlike/one_chunk} in {download_iter/motorlike/one_chunk s}.  motorlike as it is \
within its bounds in every run: {verdict}."""
GRIDFS_OPERATIONS = """Operations: `upload_from_stream` of a file-like object fed 1 MiB pieces by a generator; \
`upload_write`: open_upload_stream, write(1 MiB piece) ..., close; `download_iter`: open_download_stream, async for \
chunk (sync: readchunk()); `download_to_stream` to a sink that discards; `download_read`: read() of the whole file."""


def _table(header: str, left: int, rows: list, unit: int, more) -> str:
    """A row per (names, summary): time, RSS and traced growth in MiB (``unit``s), ``more(summary)``; or errors."""
    header = header.split("|")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * left + "---:|" * (len(header) - left - 1) + "---|"]
    for names, s in rows:
        cells = ["%.2f" % s["seconds"]] + ["%.2f (%.1f)" % (s[key] / MiB, s[key] / unit) for key in (
            "rss_peak", "trace_peak")] + more(s) if s.get("n") else ["error: %s" % "; ".join(s["errors"])[:200]]
        lines.append("| " + " | ".join(names + cells + [""] * (len(header) - len(names) - len(cells))) + " |")
    return "\n".join(lines)


def _worst(summary: dict, unit: int) -> float:
    """The largest growth of any run, RSS or traced, in ``unit``s."""
    return max(summary["rss_peak_max"], summary["trace_peak_max"]) / unit


def _cursor_blocks(cursor: dict, findings: list) -> list:
    batch, unit = cursor["batch"], cursor["batch"]["decoded"]
    cases = {case: cursor["cases"][case] for case in map("/".join, CURSOR_CASES)}  # JSON sorts them
    worst = {case: _worst(s, unit) for case, s in cases.items() if s.get("n")}
    rows = [([DRIVER_LABELS[s["driver"]], "`to_list(%d)` loop" % TO_LIST_LENGTH if s["method"] == "to_list" else
              "`for`" if s["driver"] == "pymongo" else "`async for`"], s) for s in cases.values()]
    table = _table("driver|iteration|time (s)|RSS growth, MiB (batches)|traced growth, MiB (batches)|worst run "
                   "(batches)|held, traced (batches)|within 2 batches", 2, rows, unit, lambda s: [
                       "%.1f" % _worst(s, unit), "%.1f" % (s["trace_held"] / unit),
                       "yes" if _worst(s, unit) <= TWO_BATCHES else "**no**"])
    values = dict(worst, count="{:,}".format(cursor["count"]), length=batch["length"], raw=batch["raw"] / 1024,
                  decoded=unit / 1024, n=TO_LIST_LENGTH)
    ours = [case for case in cases if case.startswith("motorlike")]
    if all(case in worst for case in ours):
        values["held"] = max(cases[case]["trace_held"] for case in ours) / unit
        values["verdict"] = "yes" if max(worst[case] for case in ours) <= TWO_BATCHES else "**NO**"
        findings.append(CURSOR_FINDING.format_map(values))
    return [CURSOR_INTRO.format_map(values), table]


def _gridfs_blocks(gfs: dict, window: int, findings: list) -> list:
    size = gfs["size"]
    cases = {case: gfs["cases"][case] for case, *_ in GRIDFS_CASES}  # JSON sorts them

    def bound(s: dict) -> float:  # two windows (whole chunks, as motorlike counts them), a few chunks, a read's file
        windows = 2 * max(1, s["settings"].get("window", window) // CHUNK_SIZE)
        return (windows + FEW_CHUNKS) * CHUNK_SIZE + (size if s["method"] == "download_read" else 0)

    rows = [(["`%s`" % s["method"], DRIVER_LABELS[s["driver"]], s["note"] or "as is"], s) for s in cases.values()]
    table = _table("operation|driver|setting|time (s)|RSS growth, MiB (chunks)|traced growth, MiB (chunks)|worst run "
                   "(chunks)|bound (chunks)|traced within bound", 3, rows, CHUNK_SIZE, lambda s: [
                       "%.0f" % _worst(s, CHUNK_SIZE), "%.0f" % (bound(s) / CHUNK_SIZE),
                       "yes" if s["trace_peak_max"] <= bound(s) else "**no**"])
    traced = {case: "%.0f" % (s["trace_peak"] / CHUNK_SIZE) if s.get("n") else "-" for case, s in cases.items()}
    times = {case + " s": "%.2f s" % s["seconds"] if s.get("n") else "-" for case, s in cases.items()}
    medians = ["`%s` %s" % (method, " / ".join(traced[method + "/" + driver] for driver in ("motorlike", "motor",
               "pymongo"))) for method in GRIDFS_METHODS]
    ours = [s for s in cases.values() if s["driver"] == "motorlike" and not s["note"]]
    verdict = "yes" if all(s.get("n") and s["trace_peak_max"] <= bound(s) for s in ours) else "**NO**"
    findings.append(GRIDFS_FINDING.format_map(dict(traced, **times, medians="; ".join(medians), verdict=verdict)))
    return [GRIDFS_INTRO.format(mib=size // MiB, server=gfs["server"], batch=MONGOD_BATCH_CHUNKS, few=FEW_CHUNKS,
                                window="%g MiB, %d chunks" % (window / MiB, window // CHUNK_SIZE)), table,
            GRIDFS_OPERATIONS]


def render(result: dict) -> str:
    meta = result["meta"]
    findings = ["(A --quick run: the sizes are too small for these figures to mean much.)"] if meta["quick"] else []
    blocks = [HEAD.format_map(dict(meta, **meta["versions"], quick=" --quick" if meta["quick"] else ""))]
    if result.get("cursor"):
        blocks += _cursor_blocks(result["cursor"], findings)
    if result.get("gridfs"):
        blocks += _gridfs_blocks(result["gridfs"], meta["window_bytes"], findings)
    return "\n\n".join(blocks + ["## Findings", " ".join(findings)]) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: small sizes, one run, writes only --out")
    parser.add_argument("--only", choices=("cursor", "gridfs"), help="run one half only")
    parser.add_argument("--repeat", type=int, help="runs per case (default 3; 1 with --quick)")
    parser.add_argument("--gridfs-mib", type=int, help="GridFS file size in MiB (default 64)")
    parser.add_argument("--uri", help="GridFS against this loopback server instead of mongoeco")
    parser.add_argument("--out", help="markdown file to write (default doc/memory.md)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--json", help="also write the raw results to this JSON file")
    parser.add_argument("--render", metavar="JSON", help="measure nothing: report the results --json kept")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return harness.report(worker_main(json.loads(args.worker)))
    repeat = (1 if args.quick else 3) if args.repeat is None else args.repeat
    if repeat < 1:
        parser.error("--repeat must be >= 1")
    if args.uri and harness.refuse_remote(args.uri):
        return 2
    if args.render:
        with open(args.render) as f:
            result = json.load(f)
    else:
        from motorlike.motor_gridfs import WINDOW_BYTES  # the window to report; the workers measure
        meta = dict(harness.machine(), window_bytes=WINDOW_BYTES, repeat=repeat, quick=args.quick,
                    versions={name: harness.module_version(name) for name in ("motor", "tornado")})
        result = {"meta": meta}
        started = time.monotonic()
        if args.only != "gridfs":
            result["cursor"] = run_cursor(20_000 if args.quick else 1_000_000, repeat)
        if args.only != "cursor":
            result["gridfs"] = run_gridfs((args.gridfs_mib or (2 if args.quick else 64)) * MiB, repeat, args.uri)
        meta.update(loadavg_end=harness.loadavg(), seconds=time.monotonic() - started)
    text = render(result)
    print("\n" + text)
    if args.json:
        harness.write_json(args.json, result)
    out = args.out or (None if args.quick else os.path.join(harness.ROOT, "doc", "memory.md"))
    if out and not args.no_write:
        with open(out, "w") as f:
            f.write(text)
    failed = [case for part in ("cursor", "gridfs") for case, s in result.get(part, {}).get("cases", {}).items()
              if s["n"] < s["runs"]]
    return 1 if failed else 0  # which and why: in the report and in the lines printed while measuring


if __name__ == "__main__":
    sys.exit(main())
