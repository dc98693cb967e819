"""Reliability under faults: motorlike vs Motor 3.7.1 vs PyMongo's AsyncMongoClient (doc/reliability.md).

``python bench/reliability.py [--json PATH] [--uri URI] [--drivers D ...] [--scenarios S ...]``. Each scenario
provokes one fault with ``test/fault_server.py``'s FaultServer (GridFS rows: on ``--uri``, else the embedded server)
and records what the application sees, as its row title says, in a fresh process with a hard timeout, every wait in
it bounded. The child reports its table cell (``outcome``), figures and what its loop's exception handler was given
in one ``RESULT`` line, then leaves with ``os._exit``: threads stuck on the wire cannot delay it.
"""

import argparse
import asyncio
import collections
import contextlib
import gc
import importlib
import os
import random
import signal
import sys
import threading
import time
import types
import warnings
import weakref
from datetime import timedelta

import pymongo

# The repository first: its ``test`` package ahead of the standard library's; bench.*, motorlike from this tree.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from test.fault_server import FaultServer  # noqa: E402

COLUMNS = {"motorlike": "motorlike (asyncio)", "motorlike_tornado": "motorlike (Tornado)", "motor": "Motor 3.7.1",
           "pymongo_async": "AsyncMongoClient"}  # harness driver name -> doc/reliability.md's column
ROUND_ONE = {  # scenario -> its row title in doc/reliability.md's first table
    "starvation": "1. B's find_one done within 5 s after 20 abandoned calls on A",
    "close_blocks_loop": "2. longest event-loop stall in close() (server stalls)",
    "errors_50": "3. slowest error, 50 ops, no server (SSTO 1 s)",
    "errors_100": "3. slowest error, 100 ops", "errors_1000": "3. slowest error, 1000 ops",
    "cursor_across_runs": "4. to_list across two asyncio.run() (300 docs)",
    "timeout_retries": "5. to_list(5) under random 0-4 ms timeouts (100 x 200 docs)",
}
ROUND_TWO = {  # the second table
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
GRIDFS = {"unawaited_write", "seek_after_abandoned_read", "stop_iteration"}  # on --uri or the embedded server
DB, COLL, MIB, DOCS = "reliability_bench", "docs", 1024 * 1024, [{"_id": i, "i": i} for i in range(3000)]
CHILD_TIMEOUT_S, ERRORS_CAP_S = 120.0, 20.0  # the cap of an errors_N run stays below the child's timeout
DEFAULT_WORKERS = 5 * (os.cpu_count() or 1)  # Motor's and motorlike's default worker threads
Run = collections.namedtuple("Run", "scenario driver cls bucket_cls uri name")  # name: unique, for GridFS buckets

def emit(result: dict) -> None:  # and leave at once: worker threads stuck on the wire must not delay the exit
    harness.report(result)
    os._exit(0)

def fault_type(exc: BaseException) -> str:
    return f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"

def counted(counter: dict) -> str:
    return ", ".join(f"{n} x {what}" for what, n in counter.items())

async def settle(call, timeout: float, message: int = 0) -> tuple:
    """(result, None), or (None, "hangs" past ``timeout`` or "raised <Type> (<message>)"; "... at call": by call())."""
    at_call, started = " at call", time.monotonic()
    try:
        awaitable, at_call = call(), ""
        return await asyncio.wait_for(awaitable, timeout), None
    except Exception as exc:  # noqa: BLE001  (a driver's own TimeoutError before the wait ran out is an error)
        hung = isinstance(exc, asyncio.TimeoutError) and time.monotonic() - started >= timeout
        return None, ("hangs" if hung else f"raised {fault_type(exc)}"
                      + (f" ({str(exc)[:message]})" if message else "")) + at_call

async def abandon(client, n: int, after_s: float) -> collections.Counter:  # n find_one, each given up after after_s
    settled = await asyncio.gather(*(settle(client[DB][COLL].find_one, after_s) for _ in range(n)))
    return collections.Counter(failure or "answered" for _, failure in settled)

def order_report(ids: list[int], expected: int) -> dict:  # what the application received, and that as a cell
    r = {"delivered": len(ids), "lost": expected - len(set(ids) & set(range(expected))), "duplicated":
         len(ids) - len(set(ids)), "out_of_order": sum(after < before for before, after in zip(ids, ids[1:]))}
    return {**r, "outcome": f"{r['delivered']} delivered, {r['lost']} lost, {r['duplicated']} dup, "
                            f"{r['out_of_order']} out of order"}

async def read_retrying(cursor, give_up, deadline: float) -> tuple:  # (ids, timeouts, errors) of to_list(5) reads
    ids, timeouts, errors, chunk = list[int](), 0, collections.Counter[str](), [None]
    while chunk and time.monotonic() < deadline:
        try:
            chunk = await give_up(cursor.to_list(5))
            ids.extend(doc["i"] for doc in chunk)
        except asyncio.TimeoutError:  # Tornado's gen.TimeoutError too: retried
            timeouts += 1
        except Exception as exc:  # noqa: BLE001 - ends the read: what it missed counts as lost
            errors[fault_type(exc)] += 1
            chunk = []
    return ids, timeouts, errors

def thread_counts() -> dict[str, int]:  # the OS's count also sees bare _thread threads: motorlike's workers
    with open("/proc/self/status") as status:
        os_threads = next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
    named = threading.enumerate()
    server = sum(t.name.startswith("FaultServer") for t in named)
    others = sum(t.name.startswith(("pymongo_", "motorlike-pool-watchdog")) for t in named) + 1 + server  # 1: main
    return {"active_count": len(named), "own": len(named) - server, "os": os_threads, "fault_server": server,
            "workers": os_threads - others}

def compare(got: bytes, data: bytes, start: int, length: int) -> str:  # and if wrong, where from
    found = data.find(got[:4096]) if got else -1
    return ("correct" if got == data[start:start + length] else "empty" if not got else
            f"wrong bytes ({len(got)} B, not from the file)" if found < 0 else
            f"wrong bytes (from offset {found}, {len(got)} B)")

async def starvation(run: Run) -> dict:
    client_a = run.cls(FaultServer("stall_ops").start().uri, socketTimeoutMS=30000, serverSelectionTimeoutMS=5000)
    client_b = run.cls(FaultServer(docs=DOCS[:1]).start().uri, serverSelectionTimeoutMS=5000)
    a_outcomes, b_outcomes = await abandon(client_a, 20, 0.3), await abandon(client_b, 20, 5)
    return {"outcome": f"{b_outcomes['answered']}/20", "a_outcomes": a_outcomes, "b_outcomes": b_outcomes}

async def close_blocks_loop(run: Run) -> dict:
    server = FaultServer(docs=DOCS[:10]).start()
    client = run.cls(server.uri, socketTimeoutMS=3000, serverSelectionTimeoutMS=5000)
    await client[DB][COLL].find_one()  # connects, and leaves an implicit session for close() to end
    await client[DB][COLL].find().batch_size(2).to_list(1)  # a cursor left open on the server, for close() to kill
    gc.collect()
    server.mode, ticks = "stall_ops", [time.perf_counter()]
    async def tick() -> None:  # every 1 ms for 4 s from close(): the longest gap is how long the loop was held
        while ticks[-1] < ticks[0] + 4.05:
            await asyncio.sleep(0.001)
            ticks.append(time.perf_counter())
    ticker = asyncio.ensure_future(tick())  # its first gap starts before close(): a close() that blocks is in it
    started, returned = time.perf_counter(), client.close()
    if run.driver == "pymongo_async":  # a coroutine: its work happens when awaited
        await returned
    how = (f"awaited, done in {time.perf_counter() - started:.2f} s" if run.driver == "pymongo_async"
           else "returned None" if returned is None else "returned an awaitable")
    await ticker
    stall_ms = round(max(b - a for a, b in zip(ticks, ticks[1:])) * 1000, 1)
    return {"outcome": f"{stall_ms:.0f} ms ({how})", "sent": server.commands}

async def errors_on_time(run: Run) -> dict:
    n, nobody = int(run.scenario.split("_")[1]), FaultServer().start()
    nobody.stop()  # nothing listens on its port now
    client, started = run.cls(nobody.uri, serverSelectionTimeoutMS=1000), time.perf_counter()
    outcomes = await abandon(client, n, ERRORS_CAP_S)  # all at once: the slowest ends the wait
    hung, slowest_s = outcomes["hangs"], round(time.perf_counter() - started, 3)
    return {"outcome": f"> {ERRORS_CAP_S:.0f} s ({n - hung}/{n} errors by then)" if hung else f"{slowest_s:.2f} s",
            "outcomes": outcomes}

def cursor_across_runs(run: Run) -> dict:
    async def first_run() -> tuple:  # returns 5 ms into to_list(None), which asyncio.run() then cancels
        client = run.cls(FaultServer(docs=DOCS[:300], get_more_delay=0.02).start().uri, serverSelectionTimeoutMS=5000)
        await client[DB][COLL].find_one()  # connect first, so that 5 ms is enough for the find itself
        cursor = client[DB][COLL].find().sort("i", 1).batch_size(10)
        task = asyncio.ensure_future(cursor.to_list(None))  # getMores are slow: it is mid-way at 5 ms
        await asyncio.sleep(0.005)
        return task.result() if task.done() and task.exception() is None else [], cursor, client
    first, cursor, _client = asyncio.run(first_run())
    second, failure = asyncio.run(settle(lambda: cursor.to_list(None), 20))
    if failure:  # the cursor cannot be used from the second loop
        return {"outcome": f"unusable ({failure.removeprefix('raised ').removesuffix(' at call')})"}
    return {"first_run": len(first), **order_report([doc["i"] for doc in first + second], 300)}

async def timeout_retries(run: Run, passes: int = 100, size: int = 200) -> dict:
    client = run.cls(FaultServer(docs=DOCS[:size]).start().uri, serverSelectionTimeoutMS=5000)
    await client[DB][COLL].find_one()
    rng, t, errors = random.Random(20240611), collections.Counter[str](), collections.Counter[str]()
    deadline = time.monotonic() + 40
    while t["passes"] < passes and time.monotonic() < deadline:
        cursor = client[DB][COLL].find({"i": {"$lt": size}}).sort("i", 1).batch_size(20)
        ids, timeouts, failures = await read_retrying(
            cursor, lambda aw: asyncio.wait_for(aw, rng.uniform(0, 0.004)), time.monotonic() + 20)
        r = order_report(ids, size)
        errors.update(failures)
        t.update(passes=1, timeouts=timeouts, passes_out_of_order=r["out_of_order"] > 0,
                 passes_with_loss=r["lost"] > 0, lost=r["lost"], duplicated=r["duplicated"])
        await settle(lambda: harness.maybe_await(cursor.close()), 2)
    return {"outcome": f"{t['passes_out_of_order']}/{t['passes']} passes out of order, {t['lost']} docs lost in "
                       f"{t['passes_with_loss']} passes, {t['duplicated']} dup ({t['timeouts']} timeouts)"
                       + (f", errors {dict(errors)}" if errors else ""), **t}

async def unawaited_write(run: Run) -> dict:
    client, data, close_errors = run.cls(run.uri, serverSelectionTimeoutMS=5000), os.urandom(2560), []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(200):  # a bucket per 20 files: the embedded server slows down as a collection grows
            grid_in = run.bucket_cls(client[DB], bucket_name=f"{run.name}_{i // 20}").open_upload_stream(
                f"f{i}", chunk_size_bytes=1024)  # 1 KiB chunks: the write sends two, close() the last half one
            grid_in.write(data)  # not awaited: the mistake under test
            close_errors.append((await settle(grid_in.close, 10))[1])  # None: it closed
        gc.collect()
        await asyncio.sleep(0.5)  # writes still running on a worker (Motor) end before the files are read back
    with pymongo.MongoClient[dict](run.uri, serverSelectionTimeoutMS=5000) as sync:
        files = [(f, sync[DB][f"{run.name}_{b}.chunks"]) for b in range(10)
                 for f in sync[DB][f"{run.name}_{b}.files"].find()]
        stored = [b"".join(c["data"] for c in chunks.find({"files_id": f["_id"]}).sort("n", 1)) for f, chunks in files]
    lengths = [f.get("length") for f, _ in files]
    wrong_length, wrong_bytes = sum(n != len(data) for n in lengths), sum(got != data for got in stored)
    warned = collections.Counter(f"{w.category.__name__}: {str(w.message)[:60]}" for w in caught)
    extra = {"close errors": collections.Counter(filter(None, close_errors)), "warnings": warned}
    return {"lengths": collections.Counter(lengths), "outcome": f"{wrong_length}/{len(files)} wrong length "
            f"({lengths.count(0)} empty)" + (f", {wrong_bytes} wrong bytes" if wrong_bytes != wrong_length else "")
            + "".join(f"; {what}: {counted(c)}" for what, c in extra.items() if c)}

async def cursor_after_restart(run: Run) -> dict:
    server = FaultServer(docs=DOCS).start()
    cursor = run.cls(server.uri, retryReads=False, serverSelectionTimeoutMS=5000)[DB][COLL].find().batch_size(100)
    for _ in range(60):  # as ``async for`` leaves it with ``break`` at the 60th document
        await anext(cursor)
    server.stop()  # it cannot start again: a fresh one on the same port is the restarted server, without cursors
    server = FaultServer(docs=DOCS, port=server.port).start()
    rest, failure = await settle(lambda: cursor.to_list(None), 30, message=200)
    return {"outcome": failure or f"returned {len(rest)} ({3000 - 60 - len(rest)} missing)"}

async def seek_after_abandoned_read(run: Run) -> dict:
    bucket = run.bucket_cls(run.cls(run.uri, serverSelectionTimeoutMS=5000)[DB], bucket_name=run.name)
    file_id = await bucket.upload_from_stream("big", data := os.urandom(3 * MIB))
    for _attempt in range(20):  # a fast server may finish the read within 5 ms: try a fresh stream again
        grid_out = await bucket.open_download_stream(file_id)
        if (await settle(lambda: grid_out.read(3 * MIB), 0.005))[1] == "hangs":
            break
    else:
        return {"error": "20 reads of 3 MiB took under 5 ms each: nothing was abandoned"}
    # No tell() here: motorlike's raises InvalidOperation while the abandoned read still runs.
    _, failure = await settle(lambda: harness.maybe_await(grid_out.seek(0)), 15, message=80)  # async: PyMongo's
    if failure:
        return {"outcome": f"seek(0) {failure}"}
    got, failure = await settle(lambda: grid_out.read(MIB), 15, message=80)
    rest, failure_rest = await settle(grid_out.read, 15, message=80)
    return {"outcome": f"seek(0)+read(1 MiB): {failure or compare(got, data, 0, MIB)}; then read(): "
                       f"{failure_rest or compare(rest, data, MIB, 2 * MIB) + f' ({len(rest)} B)'}"}

async def stop_iteration(run: Run) -> dict:
    bucket = run.bucket_cls(run.cls(run.uri, serverSelectionTimeoutMS=5000)[DB], bucket_name=run.name)
    source = types.SimpleNamespace(read=lambda size=-1: next(iter(())))  # raises StopIteration, as a generator might
    started = time.perf_counter()
    _, failure = await settle(lambda: bucket.upload_from_stream("x", source), 10, message=60)
    return {"outcome": failure or "returned", "after_s": round(time.perf_counter() - started, 2)}

async def abandoned_2100(run: Run) -> dict:
    client_a = run.cls(FaultServer("stall_ops").start().uri)  # default options: no socketTimeoutMS, maxPoolSize 100
    client_b = run.cls(FaultServer(docs=DOCS[:1]).start().uri)
    a_outcomes, started = await abandon(client_a, 2100, 1), time.perf_counter()
    _, failure = await settle(client_b[DB][COLL].find_one, 60)
    b = "never answered (60 s)" if failure == "hangs" else failure or f"{time.perf_counter() - started:.2f} s"
    t = thread_counts()
    return {"outcome": f"B: {b}; threading.active_count() {t['active_count']} (OS threads {t['os']}, "
                       f"{t['fault_server']} of them FaultServer's)", "a_outcomes": a_outcomes, "threads": t}

async def busy_threads(run: Run) -> dict:
    client = run.cls(FaultServer(docs=DOCS[:1]).start().uri, serverSelectionTimeoutMS=5000)
    await client[DB][COLL].find_one()
    most, over = collections.Counter[str](), 0  # the most threads seen; runs with more workers than the default
    for _run in range(11):  # each sampled from just before 300 calls start, every 1 ms, to their end
        peak, deadline = collections.Counter(thread_counts()), time.monotonic() + 30
        calls = asyncio.gather(*(client[DB][COLL].find_one() for _ in range(300)))
        while not calls.done() and time.monotonic() < deadline:
            await asyncio.wait([calls], timeout=0.001)
            peak |= collections.Counter(thread_counts())
        calls.result()  # raises the calls' error, if any, or as they are not done within 30 s
        most, over = most | peak, over + (peak["workers"] > DEFAULT_WORKERS)
    return {"outcome": f"max active_count {most['active_count']} ({most['own']} without FaultServer's), max worker "
                       f"threads (OS count) {most['workers']}; {over}/11 runs over {DEFAULT_WORKERS}"}

async def close_after_break(run: Run) -> dict:
    server = FaultServer(docs=DOCS[:300], stall_get_more_after=0).start()  # no getMore is ever answered
    client = run.cls(server.uri, socketTimeoutMS=15000, serverSelectionTimeoutMS=5000)
    cursor = client[DB][COLL].find().batch_size(100)
    for _ in range(60):  # as ``async for`` leaves it with ``break`` at the 60th document
        await anext(cursor)
    started, (_, failure) = time.perf_counter(), await settle(lambda: harness.maybe_await(cursor.close()), 20)
    close_s = time.perf_counter() - started
    while "killCursors" not in server.commands and time.perf_counter() - started < 17:  # later, if not at once?
        await asyncio.sleep(0.05)
    killed = (f"killCursors at {time.perf_counter() - started:.2f} s" if "killCursors" in server.commands
              else "no killCursors within 17 s")
    prefetched = "getMore sent, " * ("getMore" in server.commands)
    return {"outcome": f"{failure or f'{close_s:.2f} s'} ({prefetched}{killed})", "sent": server.commands}

async def tornado_with_timeout(run: Run) -> dict:
    from tornado import gen  # on asyncio's loop, as Tornado 6 runs
    if run.driver not in ("motorlike_tornado", "motor"):  # the Tornado clients only
        return {"outcome": "n/a"}
    client_class = importlib.import_module("motor.motor_tornado").MotorClient if run.driver == "motor" else run.cls
    uri, deadline = FaultServer(docs=DOCS[:2000], get_more_delay=0.002).start().uri, time.monotonic() + 40
    ids, timeouts, failures = await read_retrying(  # with_timeout cancels nothing: the to_list goes on
        client_class(uri, serverSelectionTimeoutMS=5000)[DB][COLL].find().batch_size(100),
        lambda aw: gen.with_timeout(timedelta(milliseconds=1), aw), deadline)
    r = order_report(ids, 2000)
    return {**r, "outcome": f"{r['outcome']} ({timeouts} timeouts" + (f", errors {counted(failures)}" if failures
            else "") + (", stopped at 40 s" if time.monotonic() >= deadline else "") + ")"}

async def fork_child(run: Run) -> dict:
    client = run.cls(FaultServer(docs=DOCS[:300]).start().uri, serverSelectionTimeoutMS=3000)
    await client[DB][COLL].find_one()  # used before the fork, as an application would be
    cursor, (reader, writer) = client[DB][COLL].find().batch_size(100), os.pipe()
    async def read() -> str:
        got, failure = await settle(lambda: cursor.to_list(None), 5, message=70)
        return failure or f"read {len(got)}"
    if (pid := os.fork()) == 0:  # in the loop that made the cursor, where the parent reads it after: the control
        asyncio._set_running_loop(None)  # Python < 3.12 leaves the parent's loop marked running in the child
        try:
            answer = asyncio.run(read())
        except BaseException as exc:  # noqa: BLE001  (the child must never report as the worker)
            answer = f"raised {fault_type(exc)} outside the read"
        os.write(writer, answer.encode())
        os._exit(0)
    os.close(writer)
    try:  # the child's own wait is 5 s; os.read returns once it has written or exited
        child = (await asyncio.wait_for(asyncio.to_thread(os.read, reader, 1000), 15)).decode()
    except asyncio.TimeoutError:
        os.kill(pid, signal.SIGKILL)
        child = "stuck, no answer in 15 s (killed)"
    return {"outcome": f"child: {child or 'exited without an answer'}; parent: {await read()}"}

async def close_not_awaited(run: Run) -> dict:
    server = FaultServer(docs=DOCS[:1]).start()
    client = run.cls(server.uri, serverSelectionTimeoutMS=3000)
    await client[DB][COLL].find_one()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.close()  # not awaited: the mistake under test
        _, failure = await settle(client[DB][COLL].find_one, 10)
        second = run.cls(server.uri, serverSelectionTimeoutMS=3000)  # closed without await, then garbage at once:
        await second[DB][COLL].find_one()  # a warning about it only counts once it is collected
        gc.collect()  # the first client's garbage: its warnings are not the second's
        second_ref, seen = weakref.ref(second), len(caught)
        second.close()
        del second
        for pause in (0, 0.2):  # a close still running on a worker ends, and what it held is freed
            await asyncio.sleep(pause)
            gc.collect()
    resource = [f"ResourceWarning: {str(w.message)[:90]}" for w in caught[seen:] if w.category is ResourceWarning]
    others = collections.Counter(f"{w.category.__name__}: {str(w.message)[:90]}" for w in caught
                                 if w.category is not ResourceWarning)
    return {"outcome": f"find_one after close(): {failure or 'succeeded'}; gc ({'NOT ' * bool(second_ref())}"
                       f"collected): {'; '.join(resource) or 'no ResourceWarning'}"
                       + (f"; also {counted(others)}" if others else "")}

async def watched(scenario) -> None:  # reports from inside the loop, with what its exception handler was given
    errors: collections.Counter = collections.Counter()
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.update([
        f"{context.get('message', '')[:50]}: {fault_type(context['exception']) if 'exception' in context else '-'}"]))
    try:
        emit({**await scenario, "loop_errors": errors})
    except Exception as exc:  # noqa: BLE001
        emit(harness.failed(exc, 200))

def run_child(scenario: str, driver: str, uri: str | None) -> None:
    try:  # motorlike's and Motor's Tornado classes run under asyncio.run() too: Tornado 6 runs on asyncio
        cls, bucket_cls, _version = harness.import_driver(driver)
        result = globals()["errors_on_time" if scenario.startswith("errors_") else scenario](
            Run(scenario, driver, cls, bucket_cls, uri, f"{scenario}_{driver}_{os.getpid()}"))
        if asyncio.iscoroutine(result):
            asyncio.run(watched(result))  # which reports from inside the loop
        emit(result)
    except BaseException as exc:  # noqa: BLE001
        emit(harness.failed(exc, 200))

def summary(scenario: str, r: dict) -> str:  # one table cell; round two's with what the loop's handler was given
    loop = f"; loop: {counted(r['loop_errors'])}" if r.get("loop_errors") and scenario in ROUND_TWO else ""
    return f"error: {r['error']}" if "error" in r else (r["outcome"] + loop).replace("|", "/")

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--uri", help="a real server for the GridFS rows (default: the embedded server)")
    parser.add_argument("--drivers", nargs="+", default=list(COLUMNS), choices=list(COLUMNS))
    parser.add_argument("--scenarios", nargs="+", default=[*ROUND_ONE, *ROUND_TWO], choices=[*ROUND_ONE, *ROUND_TWO])
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "DRIVER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run_child(args.child[0], args.child[1], args.uri)
    from motorlike.testserver import server_uri
    started, date, results = time.perf_counter(), harness.now(), collections.defaultdict[str, dict](dict)
    # One embedded server for the GridFS rows (FaultServer speaks no GridFS), only if one of them runs.
    with server_uri() if GRIDFS & set(args.scenarios) and not args.uri else contextlib.nullcontext(args.uri) as uri:
        if uri and harness.refuse_remote(uri):
            return 2
        for scenario, driver in [(scenario, driver) for scenario in args.scenarios for driver in args.drivers]:
            at, child = time.perf_counter(), ["--child", scenario, driver] + ["--uri", uri] * bool(uri)
            result = harness.run_worker(__file__, child, CHILD_TIMEOUT_S)
            results[scenario][driver] = {**result, "wall_s": round(time.perf_counter() - at, 2)}
            print(f"{scenario:>26} {driver:>17}: {str(result)[:600]}", file=sys.stderr, flush=True)
    total_s, python = time.perf_counter() - started, sys.version.split()[0]
    for titles in (ROUND_ONE, ROUND_TWO):
        if rows := [[titles[s], *(summary(s, r) for r in results[s].values())] for s in args.scenarios if s in titles]:
            header = ["scenario", *(COLUMNS[d] for d in args.drivers)]
            print("\n" + "\n".join(harness.markdown_table(header, rows, numeric_from=len(header))))
    versions = {name: harness.module_version(name) for name in ("motorlike", "motor", "pymongo", "tornado")}
    print(f"\n{sum(map(len, results.values()))} subprocesses in {total_s:.0f} s; healthy server: FaultServer; "
          f"Python {python}; {date} on {harness.machine()['os']}, load {harness.loadavg()}; "
          + ", ".join(f"{name} {version}" for name, version in versions.items()))
    if args.json:
        harness.write_json(args.json, {"date": date, "versions": versions, "python": python, "uri": args.uri,
                                       "total_s": round(total_s, 1), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
