"""Reliability, round two: ten more faults, motorlike vs Motor 3.7.1 vs PyMongo's AsyncMongoClient.

Rerun with ``.venv/bin/python bench/reliability_two.py [--json out.json] [--drivers ...] [--scenarios ...]``.

Same method as ``bench/reliability.py``, whose helpers this imports: each (scenario, driver) pair runs in a fresh
subprocess with a hard timeout and reports one ``RESULT`` line; every wait inside a scenario is bounded too. GridFS
rows use one embedded server (``motorlike.testserver.server_uri()``) the parent starts, the others FaultServers.

1. ``unawaited_write``: ``grid_in.write(data)`` not awaited, then ``await close()``: 200 files' lengths.
2. ``cursor_after_restart``: ``to_list(None)`` on a cursor left at 60/3000 after the server restarted.
3. ``seek_after_abandoned_read``: ``seek(0)``, ``read(1 MiB)`` after a 3 MiB read abandoned at 5 ms.
4. ``stop_iteration``: ``upload_from_stream`` from a source whose ``read()`` raises StopIteration.
5. ``abandoned_2100``: another client's ``find_one`` after 2100 abandoned on a silent server.
6. ``busy_threads``: threads alive during 300 concurrent ``find_one``, 11 runs.
7. ``close_after_break``: ``await cursor.close()`` after ``break``, getMore never answered.
8. ``tornado_with_timeout``: ``gen.with_timeout`` (which cancels nothing) around ``to_list(5)``.
9. ``fork_child``: a cursor made before ``os.fork()``, read in the child.
10. ``close_not_awaited``: a call after ``client.close()`` not awaited; warnings when it is collected.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import importlib
import json
import os
import select
import signal
import sys
import threading
import time
import warnings
import weakref
from datetime import timedelta

# The repository first: its ``test`` package ahead of the standard library's; bench.*, motorlike from this tree.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from bench.reliability import DRIVERS, HARNESS_DRIVERS, emit, fault_type, order_report  # noqa: E402
from test.fault_server import FaultServer  # noqa: E402

SCENARIOS = {  # name -> the table's row title
    "unawaited_write": "1. unawaited grid_in.write, then close (200 files)",
    "cursor_after_restart": "2. to_list(None) after the server restarted (3000 docs, 60 read)",
    "seek_after_abandoned_read": "3. seek(0) after a read abandoned at 5 ms (3 MiB)",
    "stop_iteration": "4. upload_from_stream, source.read() raises StopIteration",
    "abandoned_2100": "5. B's find_one after 2100 abandoned calls on A (no socket timeout)",
    "busy_threads": "6. threads during 300 concurrent find_one (11 runs)",
    "close_after_break": "7. await cursor.close() after break, getMore never answered",
    "tornado_with_timeout": "8. Tornado gen.with_timeout(1 ms, to_list(5)), retried (2000 docs)",
    "fork_child": "9. cursor made before fork(), read in the child",
    "close_not_awaited": "10. client.close() not awaited",
}
GRIDFS_SCENARIOS = {"unawaited_write", "seek_after_abandoned_read", "stop_iteration"}
TORNADO_DRIVERS = {"motorlike-tornado", "motor"}  # scenario 8 compares the two Tornado clients only
DB, COLL = "reliability_two", "docs"
MIB = 1024 * 1024
DEFAULT_WORKERS = 5 * (os.cpu_count() or 1)  # Motor's and motorlike's default worker threads


def docs(n: int) -> list[dict]:
    return [{"_id": i, "i": i} for i in range(n)]


def loop_errors() -> collections.Counter:
    """What the running loop's exception handler is given (e.g. a result that could not be delivered)."""
    seen: collections.Counter = collections.Counter()

    def handler(_loop, context: dict) -> None:
        exc = context.get("exception")
        seen[f"{context.get('message', '')[:50]}: {fault_type(exc) if exc else '-'}"] += 1

    asyncio.get_running_loop().set_exception_handler(handler)
    return seen


def outcome_of(exc: BaseException, message: int = 0) -> str:
    """"hangs" for our own timeout, else "raised <Type>", with the message's start if ``message`` > 0."""
    if isinstance(exc, asyncio.TimeoutError):
        return "hangs"
    return f"raised {fault_type(exc)}" + (f" ({str(exc)[:message]})" if message else "")


async def settle(call, timeout: float, message: int = 0) -> tuple:
    """(result of awaiting ``call()``, None) or (None, ``outcome_of`` what was raised: "at call" if by ``call()``)."""
    try:
        awaitable = call()
    except Exception as exc:  # noqa: BLE001 - Motor's API returns a future; raising at once is a difference
        return None, outcome_of(exc, message) + " at call"
    try:
        return await asyncio.wait_for(awaitable, timeout), None
    except Exception as exc:  # noqa: BLE001
        return None, outcome_of(exc, message)


async def break_at(cursor, n: int) -> None:
    """``async for`` over ``cursor``, left with ``break`` at the n-th document."""
    seen = 0
    async for _doc in cursor:
        if (seen := seen + 1) == n:
            break


def thread_counts() -> dict:
    """``threading.active_count()``; the OS's count, which also sees bare ``_thread`` threads (motorlike's workers);
    ``workers``: the OS's count less the main thread, FaultServer's and PyMongo's monitor threads."""
    with open("/proc/self/status") as status:
        os_threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    named = threading.enumerate()
    server = sum(t.name.startswith("FaultServer") for t in named)
    not_workers = sum(t is threading.main_thread() or t.name.startswith(
        ("FaultServer", "pymongo_", "motorlike-pool-watchdog")) for t in named)
    return {"active_count": threading.active_count(), "os": os_threads, "fault_server": server,
            "workers": os_threads - not_workers}


def counted(counter: dict) -> str:
    return ", ".join(f"{n} x {what}" for what, n in counter.items())


def bucket_name(scenario: str, driver: str) -> str:
    return f"{scenario}_{driver.replace('-', '_')}_{os.getpid()}"


def compare(got: bytes, data: bytes, start: int, length: int) -> str:
    """Is ``got`` the ``length`` bytes of ``data`` at ``start``? If not, where in the file it came from."""
    if got == data[start:start + length]:
        return "correct"
    found = data.find(got[:4096]) if got else -1
    if found < 0:
        return f"wrong bytes ({len(got)} B, not from the file)" if got else "empty"
    return f"wrong bytes (from offset {found}, {len(got)} B)"


# -- the scenarios, in the child process --------------------------------------------------------------------------

async def unawaited_write(cls, bucket_cls, uri: str, driver: str) -> None:
    import pymongo

    errors = loop_errors()
    client = cls(uri, serverSelectionTimeoutMS=5000)
    data = os.urandom(2560)  # 1 KiB chunks: the write sends two, close() the last half one
    names = [f"{bucket_name('unawaited', driver)}_{i}" for i in range(10)]
    close_errors: collections.Counter = collections.Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(200):
            # A bucket per 20 files: the embedded server slows down as a collection grows.
            bucket = bucket_cls(client[DB], bucket_name=names[i // 20])
            grid_in = bucket.open_upload_stream(f"f{i}", chunk_size_bytes=1024)
            grid_in.write(data)  # not awaited: the mistake under test
            _, failure = await settle(lambda: grid_in.close(), 10)
            close_errors.update([failure] if failure else [])
        gc.collect()
        await asyncio.sleep(0.5)  # writes still running on a worker (Motor) end before the files are read back
    files: list[dict] = []
    chunks: dict = collections.defaultdict(list)
    sync: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000)
    with sync:
        for name in names:
            files += sync[DB][name + ".files"].find({}, {"length": 1})
            for chunk in sync[DB][name + ".chunks"].find({}, {"files_id": 1, "n": 1, "data": 1}):
                chunks[chunk["files_id"]].append((chunk["n"], bytes(chunk["data"])))
    wrong_length = sum(f.get("length") != len(data) for f in files)
    wrong_bytes = sum(b"".join(d for _n, d in sorted(chunks[f["_id"]])) != data for f in files)
    emit({"files": len(files), "wrong_length": wrong_length, "empty": sum(f.get("length") == 0 for f in files),
          "lengths": collections.Counter(f.get("length") for f in files), "wrong_bytes": wrong_bytes,
          "close_errors": close_errors, "loop_errors": errors,
          "warnings": collections.Counter(f"{w.category.__name__}: {str(w.message)[:60]}" for w in caught)})


async def cursor_after_restart(cls, driver: str) -> None:
    errors = loop_errors()
    server = FaultServer(docs=docs(3000)).start()
    client = cls(server.uri, retryReads=False, serverSelectionTimeoutMS=5000)
    cursor = client[DB][COLL].find().batch_size(100)
    await break_at(cursor, 60)
    port = server.port
    server.stop()
    # FaultServer cannot start again once stopped: a fresh one on the same port is the restarted server, no cursors.
    server = FaultServer(docs=docs(3000), port=port).start()
    rest, failure = await settle(lambda: cursor.to_list(None), 30, message=200)
    emit({"outcome": failure or f"returned {len(rest)} ({3000 - 60 - len(rest)} missing)",
          "sent_after_restart": server.commands, "loop_errors": errors})


async def seek_after_abandoned_read(cls, bucket_cls, uri: str, driver: str) -> None:
    errors = loop_errors()
    client = cls(uri, serverSelectionTimeoutMS=5000)
    bucket = bucket_cls(client[DB], bucket_name=bucket_name("seek", driver))
    data = os.urandom(3 * MIB)
    file_id = await bucket.upload_from_stream("big", data)
    for attempt in range(1, 21):  # until one read outlives the 5 ms
        grid_out = await bucket.open_download_stream(file_id)
        try:
            await asyncio.wait_for(grid_out.read(3 * MIB), 0.005)
        except asyncio.TimeoutError:
            break
    else:
        emit({"error": "no read of 3 MiB took over 5 ms in 20 tries"})
    # No tell() here: motorlike's raises InvalidOperation while the abandoned read still runs.
    try:
        await harness.maybe_await(grid_out.seek(0))  # a coroutine in AsyncMongoClient's GridFS only
    except Exception as exc:  # noqa: BLE001
        emit({"outcome": f"seek(0) {outcome_of(exc, 80)}", "loop_errors": errors})
    got, failure = await settle(lambda: grid_out.read(MIB), 15, message=80)
    first = failure or compare(got, data, 0, MIB)
    rest, failure = await settle(lambda: grid_out.read(), 15, message=80)
    second = failure or f"{compare(rest, data, MIB, 2 * MIB)} ({len(rest)} B)"
    emit({"outcome": f"seek(0)+read(1 MiB): {first}; then read(): {second}", "timed_out_on_try": attempt,
          "loop_errors": errors})


class StopIterationSource:
    """A file-like source whose read() raises StopIteration, as a generator-backed reader might."""

    def read(self, size: int = -1) -> bytes:
        raise StopIteration


async def stop_iteration(cls, bucket_cls, uri: str, driver: str) -> None:
    errors = loop_errors()
    client = cls(uri, serverSelectionTimeoutMS=5000)
    bucket = bucket_cls(client[DB], bucket_name=bucket_name("stopiter", driver))
    started = time.perf_counter()
    _, failure = await settle(lambda: bucket.upload_from_stream("x", StopIterationSource()), 10, message=60)
    emit({"outcome": failure or "returned", "after_s": round(time.perf_counter() - started, 2),
          "loop_errors": errors})


async def abandoned_2100(cls, driver: str) -> None:
    errors = loop_errors()
    stalling = FaultServer("stall_ops").start()
    healthy = FaultServer(docs=docs(1)).start()
    client_a = cls(stalling.uri)  # default options: no socketTimeoutMS, maxPoolSize 100
    client_b = cls(healthy.uri)

    settled = await asyncio.gather(*(settle(lambda: client_a[DB][COLL].find_one(), 1) for _ in range(2100)))
    outcomes = collections.Counter(failure or "answered" for _, failure in settled)
    started = time.perf_counter()
    _, failure = await settle(lambda: client_b[DB][COLL].find_one(), 60)
    b_s = time.perf_counter() - started
    emit({"a_outcomes": outcomes, "b": "never answered (60 s)" if failure == "hangs" else failure or f"{b_s:.2f} s",
          "threads": thread_counts(), "held_by_server": stalling.stalled, "loop_errors": errors})


async def busy_threads(cls, driver: str) -> None:
    errors = loop_errors()
    server = FaultServer(docs=docs(1)).start()
    client = cls(server.uri, serverSelectionTimeoutMS=5000)
    coll = client[DB][COLL]
    await coll.find_one()
    runs = []
    for _run in range(11):
        peak = {"active_count": 0, "own": 0, "workers": 0}
        running = True

        async def sample() -> None:
            while running:
                counts = thread_counts()
                counts["own"] = counts["active_count"] - counts["fault_server"]  # the server's are not the driver's
                for key in peak:
                    peak[key] = max(peak[key], counts[key])
                await asyncio.sleep(0.001)

        sampler = asyncio.ensure_future(sample())
        await asyncio.sleep(0.002)  # the sampler's first look comes before the calls start
        await asyncio.wait_for(asyncio.gather(*(coll.find_one() for _ in range(300))), 30)
        running = False
        await sampler
        runs.append(peak)
    emit({"runs": runs, "loop_errors": errors, "runs_over_default": sum(r["workers"] > DEFAULT_WORKERS for r in runs),
          **{f"max_{key}": max(r[key] for r in runs) for key in peak}})


async def close_after_break(cls, driver: str) -> None:
    errors = loop_errors()
    server = FaultServer(docs=docs(300), stall_get_more_after=0).start()  # no getMore is ever answered
    client = cls(server.uri, socketTimeoutMS=15000, serverSelectionTimeoutMS=5000)
    cursor = client[DB][COLL].find().batch_size(100)
    await break_at(cursor, 60)
    started = time.perf_counter()
    _, failure = await settle(lambda: harness.maybe_await(cursor.close()), 20)
    close_s = time.perf_counter() - started
    # A close() that returns before the cursor is killed on the server: does the killCursors come later?
    while "killCursors" not in server.commands and time.perf_counter() - started < 17:
        await asyncio.sleep(0.05)
    kill_s = time.perf_counter() - started
    killed = f"killCursors at {kill_s:.2f} s" if "killCursors" in server.commands else "no killCursors within 17 s"
    prefetched = "getMore sent, " if "getMore" in server.commands else ""
    emit({"outcome": f"{failure or f'{close_s:.2f} s'} ({prefetched}{killed})", "sent": server.commands,
          "loop_errors": errors})


def tornado_with_timeout(driver: str) -> None:
    from tornado import gen
    from tornado.ioloop import IOLoop

    if driver == "motor":
        harness.import_driver("motor")  # refuses motorlike's alias standing in for Motor 3.7
    client_class = importlib.import_module(f"{'motor' if driver == 'motor' else 'motorlike'}.motor_tornado").MotorClient

    async def run() -> dict:
        errors = loop_errors()
        server = FaultServer(docs=docs(2000), get_more_delay=0.002).start()
        client = client_class(server.uri, serverSelectionTimeoutMS=5000)
        cursor = client[DB][COLL].find().batch_size(100)
        ids: list[int] = []
        timeouts, failures = 0, collections.Counter[str]()
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                chunk = await gen.with_timeout(timedelta(milliseconds=1), cursor.to_list(5))
            except gen.TimeoutError:
                timeouts += 1  # the to_list goes on: with_timeout cancels nothing
                continue
            except Exception as exc:  # noqa: BLE001 - the read ends; what it missed counts as lost
                failures[fault_type(exc)] += 1
                break
            if not chunk:
                break
            ids.extend(doc["i"] for doc in chunk)
        r = order_report(ids, 2000)
        return {"outcome": f"{r['delivered']} delivered, {r['lost']} lost, {r['duplicated']} dup, "
                           f"{r['out_of_order']} out of order ({timeouts} timeouts"
                           + (f", errors {counted(failures)}" if failures else "")
                           + (", stopped at 40 s" if time.monotonic() >= deadline else "") + ")",
                **r, "loop_errors": errors}

    emit(IOLoop(make_current=False).run_sync(run, timeout=60))


async def fork_child(cls, driver: str) -> None:
    server = FaultServer(docs=docs(300)).start()
    client = cls(server.uri, serverSelectionTimeoutMS=3000)
    await client[DB][COLL].find_one()  # used before the fork, as an application would be
    cursor = client[DB][COLL].find().batch_size(100)

    async def read() -> str:
        got, failure = await settle(lambda: cursor.to_list(None), 5, message=70)
        return failure or f"read {len(got)}"

    # The fork happens inside the parent's loop, so that the parent's own read afterwards (the control) is on the
    # loop that made the cursor: a difference between child and parent is then the fork's doing.
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads running: the point here
        pid = os.fork()
    if pid == 0:
        try:
            asyncio._set_running_loop(None)  # Python < 3.12 leaves the parent's loop marked running in the child
            answer = asyncio.run(read())
        except BaseException as exc:  # noqa: BLE001
            answer = f"raised {fault_type(exc)} outside the read"
        os.write(writer, answer.encode())
        os._exit(0)
    os.close(writer)
    child, started = "", time.monotonic()
    while not child and time.monotonic() - started < 15:  # the child's own wait is 5 s
        if select.select([reader], [], [], 0)[0]:
            child = os.read(reader, 1000).decode() or "exited without an answer"
        await asyncio.sleep(0.05)
    if not child:
        os.kill(pid, signal.SIGKILL)
        child = "stuck, no answer in 15 s (killed)"
    os.waitpid(pid, 0)
    emit({"outcome": f"child: {child}; parent: {await read()}"})


async def close_not_awaited(cls, driver: str) -> None:
    errors = loop_errors()
    server = FaultServer(docs=docs(1)).start()
    client = cls(server.uri, serverSelectionTimeoutMS=3000)
    coll = client[DB][COLL]
    await coll.find_one()
    with warnings.catch_warnings(record=True) as caught_first:
        warnings.simplefilter("always")
        client.close()  # not awaited: the mistake under test
        _, failure = await settle(lambda: coll.find_one(), 10)
        gc.collect()
    second = cls(server.uri, serverSelectionTimeoutMS=3000)
    await second[DB][COLL].find_one()
    second_ref = weakref.ref(second)  # no warning from a client nobody collected means nothing
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second.close()  # not awaited, and garbage at once
        del second
        gc.collect()
        await asyncio.sleep(0.2)  # a close still running on a worker ends, and what it held is freed
        gc.collect()
    resource = [f"ResourceWarning: {str(w.message)[:90]}" for w in caught if issubclass(w.category, ResourceWarning)]
    others = collections.Counter(f"{w.category.__name__}: {str(w.message)[:90]}" for w in caught_first + caught
                                 if not issubclass(w.category, ResourceWarning))
    emit({"outcome": f"find_one after close(): {failure or 'succeeded'}; gc "
                     f"({'collected' if second_ref() is None else 'NOT collected'}): "
                     f"{'; '.join(resource) or 'no ResourceWarning'}" + (f"; also {counted(others)}" if others else ""),
          "loop_errors": errors})


def run_child(scenario: str, driver: str, uri: str | None) -> None:
    try:
        if scenario == "tornado_with_timeout":
            tornado_with_timeout(driver)
        # motorlike's Tornado classes run under asyncio.run() too: Tornado 6 runs on asyncio.
        cls, bucket_cls, _version = harness.import_driver(HARNESS_DRIVERS[driver])
        if scenario in GRIDFS_SCENARIOS:
            if not uri or harness.refuse_remote(uri):
                emit({"error": "this GridFS scenario needs --uri of a loopback server"})
            asyncio.run(globals()[scenario](cls, bucket_cls, uri, driver))
        else:
            asyncio.run(globals()[scenario](cls, driver))
    except BaseException as exc:  # noqa: BLE001
        emit({"error": f"{fault_type(exc)}: {str(exc)[:200]}"})
    emit({"error": "the scenario reported nothing"})


# -- in the parent process --------------------------------------------------------------------------------------

def measure(scenario: str, driver: str, uri: str | None, timeout: float) -> dict:
    if scenario == "tornado_with_timeout" and driver not in TORNADO_DRIVERS:
        return {"na": True}
    started = time.perf_counter()
    result = harness.run_worker(__file__, ["--child", scenario, driver] + (["--uri", uri] if uri else []), timeout)
    result["wall_s"] = round(time.perf_counter() - started, 2)
    return result


def summary(scenario: str, r: dict) -> str:
    """One table cell: the child's own ``outcome`` line, plus what the loop's exception handler was given."""
    if r.get("na"):
        return "n/a"
    if "error" in r:
        return f"error: {r['error']}"
    if scenario == "unawaited_write":
        cell = f"{r['wrong_length']}/{r['files']} wrong length ({r['empty']} empty)"
        if r["wrong_bytes"] != r["wrong_length"]:
            cell += f", {r['wrong_bytes']} wrong bytes"
        for key in ("close_errors", "warnings"):
            cell += f"; {key.replace('_', ' ')}: {counted(r[key])}" if r[key] else ""
    elif scenario == "abandoned_2100":
        t = r["threads"]
        cell = (f"B: {r['b']}; threading.active_count() {t['active_count']} "
                f"(OS threads {t['os']}, {t['fault_server']} of them FaultServer's)")
    elif scenario == "busy_threads":
        cell = (f"max active_count {r['max_active_count']} ({r['max_own']} without FaultServer's), max worker "
                f"threads (OS count) {r['max_workers']}; {r['runs_over_default']}/11 runs over {DEFAULT_WORKERS}")
    else:
        cell = r["outcome"]
    return cell + (f"; loop: {counted(r['loop_errors'])}" if r.get("loop_errors") else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--uri", help=argparse.SUPPRESS)  # the embedded server, given to a child
    parser.add_argument("--timeout", type=float, default=120.0, help="hard limit per subprocess, seconds")
    parser.add_argument("--drivers", nargs="+", default=list(DRIVERS), choices=list(DRIVERS))
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "DRIVER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        scenario, driver = args.child
        run_child(scenario, driver, args.uri)
    started, date = time.perf_counter(), harness.now()
    results: dict = {scenario: {} for scenario in args.scenarios}
    # One embedded server for the GridFS rows (FaultServer speaks no GridFS), only if any of them runs.
    from motorlike.testserver import server_uri
    with server_uri() if GRIDFS_SCENARIOS & set(args.scenarios) else contextlib.nullcontext() as uri:
        if uri and harness.refuse_remote(uri):
            sys.exit(2)
        for scenario in args.scenarios:
            for driver in args.drivers:
                results[scenario][driver] = measure(scenario, driver, uri, args.timeout)
                print(f"{scenario:>26} {driver:>17}: {json.dumps(results[scenario][driver], default=str)[:600]}",
                      file=sys.stderr, flush=True)
    total_s = time.perf_counter() - started
    print(f"\n| scenario | {' | '.join(DRIVERS[d] for d in args.drivers)} |")
    print(f"|---|{'---|' * len(args.drivers)}")
    for scenario in args.scenarios:
        cells = " | ".join(summary(scenario, results[scenario][driver]).replace("|", "/") for driver in args.drivers)
        print(f"| {SCENARIOS[scenario]} | {cells} |")
    versions = {name: harness.module_version(name) for name in ("motorlike", "motor", "pymongo", "tornado")}
    print(f"\nRun {date} on {harness.os_name()}, {os.cpu_count()} CPUs ({harness.cpu_model()}), load "
          f"{harness.loadavg()}; motorlike {versions['motorlike']}, Motor {versions['motor']}, PyMongo "
          f"{versions['pymongo']}, Tornado {versions['tornado']}, Python {sys.version.split()[0]}; "
          f"{sum(len(r) for r in results.values())} cells in {total_s:.0f} s")
    if args.json:
        harness.write_json(args.json, {"date": date, "versions": versions, "python": sys.version.split()[0],
                                       "total_s": round(total_s, 1), "results": results})


if __name__ == "__main__":
    main()
