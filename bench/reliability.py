"""Reliability under faults: motorlike vs Motor 3.7.1 vs PyMongo's AsyncMongoClient.

Rerun with ``.venv/bin/python bench/reliability.py [--json out.json] [--uri URI]``.

Speed benchmarks miss what hurts in production: a server that stops
answering, a task cancelled at the wrong moment, a client closed while calls
hang. Each scenario below provokes one such fault with
:class:`test.fault_server.FaultServer` and records what the application sees:

1. ``starvation``: 20 ``find_one`` on client A (socketTimeoutMS 30 s) against
   a ``stall_ops`` server, each abandoned by ``wait_for(..., 0.3)``; then 20
   concurrent ``find_one`` of client B on a healthy server: how many finish
   within 5 s.
2. ``close_blocks_loop``: ``client.close()`` while the server stalls the
   killCursors that close() sends for an abandoned cursor (socketTimeoutMS
   3 s): the longest event-loop stall seen by a 1 ms ticker over 4 s.
3. ``errors_N``: N concurrent ``find_one`` against a port nothing listens on
   (serverSelectionTimeoutMS 1 s): when the slowest error arrives (capped).
4. ``cursor_across_runs``: ``cursor.to_list(None)`` started in one
   ``asyncio.run()``, which ends mid-stream, then finished in a second one:
   documents delivered, lost, duplicated, out of order.
5. ``timeout_retries``: 100 passes over a sorted 200-document cursor (batch
   20) read by ``wait_for(cursor.to_list(5), random 0-4 ms)``, retried after
   each timeout: passes out of order, documents lost.

Every (scenario, driver) pair runs in a fresh subprocess with a hard timeout
(``bench/harness.py``), so a stuck pool cannot leak into the next measurement
and the script always ends; a child reports one ``RESULT`` JSON line and
leaves with ``os._exit`` so that worker threads still stuck on the wire cannot
delay it. The ``healthy`` server is a FaultServer unless ``--uri`` names a
real one (then 300 small documents are written to ``reliability_bench.docs``
first).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import inspect
import os
import random
import socket
import sys
import time
from typing import NoReturn

# The repository first: its ``test`` package ahead of the standard library's; bench.*, motorlike from this tree.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import harness  # noqa: E402
from test.fault_server import FaultServer  # noqa: E402

DRIVERS = {
    "motorlike": "motorlike (asyncio)",
    "motorlike-tornado": "motorlike (Tornado)",
    "motor": "Motor 3.7.1",
    "pymongo": "AsyncMongoClient",
}
# this script's driver names -> the harness's: "pymongo" is the async client here
HARNESS_DRIVERS = {"motorlike": "motorlike", "motorlike-tornado": "motorlike_tornado", "motor": "motor",
                   "pymongo": "pymongo_async"}
SCENARIOS = ("starvation", "close_blocks_loop", "errors_50", "errors_100", "errors_1000",
             "cursor_across_runs", "timeout_retries")
DB, COLL = "reliability_bench", "docs"
DOCS = [{"_id": i, "i": i} for i in range(300)]
ERRORS_CAP_S = 20.0  # per errors_N run; the child's own timeout stays above it


# -- in the child process ---------------------------------------------------------------------------------------

def emit(result: dict) -> NoReturn:
    """Report to the parent and leave at once: stuck worker threads must not delay the exit."""
    harness.report(result)
    os._exit(0)


def healthy_uri(uri: str | None, docs: list[dict]) -> str:
    return uri or FaultServer(docs=docs).start().uri


def fault_type(exc: BaseException) -> str:
    return f"{type(exc).__module__.split('.')[0]}.{type(exc).__name__}"


async def await_quietly(awaitable, timeout: float = 5.0) -> None:
    try:
        await asyncio.wait_for(asyncio.ensure_future(awaitable), timeout)
    except BaseException:  # noqa: BLE001 - cleanup only; the measurement is over
        pass


async def starvation(cls, uri: str | None) -> None:
    stalling = FaultServer("stall_ops").start()
    client_a = cls(stalling.uri, socketTimeoutMS=30000, serverSelectionTimeoutMS=5000)
    client_b = cls(healthy_uri(uri, DOCS[:1]), serverSelectionTimeoutMS=5000)

    async def abandoned() -> str:
        try:
            await asyncio.wait_for(client_a[DB][COLL].find_one(), 0.3)
            return "answered"
        except asyncio.TimeoutError:
            return "timeout"
        except Exception as exc:  # noqa: BLE001
            return fault_type(exc)

    outcomes = collections.Counter(await asyncio.gather(*(abandoned() for _ in range(20))))
    started = time.perf_counter()

    async def timed() -> float:
        await client_b[DB][COLL].find_one()
        return time.perf_counter() - started

    tasks = [asyncio.ensure_future(timed()) for _ in range(20)]
    done, _ = await asyncio.wait(tasks, timeout=5)
    ok = [task.result() for task in done if task.exception() is None]
    failed = collections.Counter(type(task.exception()).__name__ for task in done if task.exception() is not None)
    emit({"a_outcomes": outcomes, "a_held_by_server": stalling.stalled, "b_ok_within_5s": len(ok),
          "b_failed": failed, "b_slowest_ok_s": max(ok, default=None)})


async def close_blocks_loop(cls, uri: str | None, driver: str) -> None:
    server = FaultServer(docs=DOCS[:10]).start()
    client = cls(server.uri, socketTimeoutMS=3000, serverSelectionTimeoutMS=5000)
    coll = client[DB][COLL]
    await coll.find_one()  # connects, and leaves an implicit session for close() to end
    cursor = coll.find().batch_size(2)
    await cursor.to_list(1)  # the cursor stays open on the server ...
    del cursor  # ... and, abandoned, is queued for the killCursors that close() sends
    gc.collect()
    server.mode = "stall_ops"
    seen_before = len(server.commands)
    max_gap, stop = 0.0, asyncio.Event()

    async def tick() -> None:
        nonlocal max_gap
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            max_gap, last = max(max_gap, now - last), now

    ticker = asyncio.ensure_future(tick())
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    returned = client.close()
    call_s = time.perf_counter() - started
    awaitable = inspect.isawaitable(returned)
    awaited_s = None
    if awaitable and driver == "pymongo":  # AsyncMongoClient.close() is a coroutine: its work happens when awaited
        await returned
        awaited_s = time.perf_counter() - started
    await asyncio.sleep(max(0.0, started + 4.0 - time.perf_counter()))
    stop.set()
    await ticker
    if awaitable and driver != "pymongo":
        await await_quietly(returned)  # after the 4 s window, only so nothing is left pending
    emit({"max_loop_stall_ms": round(max_gap * 1000, 1), "close_call_ms": round(call_s * 1000, 1),
          "returned_awaitable": awaitable, "awaited_close_s": awaited_s,
          "sent_during_close": server.commands[seen_before:]})


async def errors_on_time(cls, uri: str | None, n: int) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    client = cls(f"mongodb://127.0.0.1:{port}/?directConnection=true", serverSelectionTimeoutMS=1000)
    started = time.perf_counter()

    async def one() -> tuple[float, str]:
        try:
            await client[DB][COLL].find_one()
            outcome = "answered"
        except Exception as exc:  # noqa: BLE001
            outcome = fault_type(exc)
        return time.perf_counter() - started, outcome

    done, pending = await asyncio.wait([asyncio.ensure_future(one()) for _ in range(n)], timeout=ERRORS_CAP_S)
    times = sorted(task.result()[0] for task in done)
    emit({"n": n, "done": len(done), "capped_at_s": ERRORS_CAP_S if pending else None,
          "slowest_s": None if pending else round(times[-1], 3),
          "median_s": round(times[len(times) // 2], 3) if times else None,
          "outcomes": collections.Counter(task.result()[1] for task in done)})


def order_report(ids: list[int], expected: int) -> dict:
    """Lost, duplicated and out-of-order documents in what the application received."""
    return {"delivered": len(ids), "lost": expected - len(set(ids) & set(range(expected))),
            "duplicated": len(ids) - len(set(ids)),
            "out_of_order": sum(1 for before, after in zip(ids, ids[1:]) if after < before)}


def cursor_across_runs(cls, uri: str | None) -> None:
    target = uri or FaultServer(docs=DOCS, get_more_delay=0.02).start().uri  # slow getMores: to_list is mid-way
    state: dict = {"first": []}

    async def first_run() -> None:
        client = cls(target, serverSelectionTimeoutMS=5000)
        await client[DB][COLL].find_one()  # connect first, so 5 ms is enough for the find itself
        state["client"] = client
        state["cursor"] = client[DB][COLL].find().sort("i", 1).batch_size(10)
        task = asyncio.ensure_future(state["cursor"].to_list(None))
        await asyncio.sleep(0.005)
        if task.done() and task.exception() is None:
            state["first"] = task.result()
        # returning now: asyncio.run() cancels the unfinished to_list task

    asyncio.run(first_run())

    async def second_run() -> list:
        return await asyncio.wait_for(state["cursor"].to_list(None), 20)

    try:
        second = asyncio.run(second_run())
    except Exception as exc:  # noqa: BLE001
        emit({"unusable": fault_type(exc), "message": str(exc)[:200], "first_run": len(state["first"])})
    ids = [doc["i"] for doc in state["first"] + second]
    emit({"first_run": len(state["first"]), "second_run": len(second), **order_report(ids, len(DOCS))})


async def timeout_retries(cls, uri: str | None, passes: int = 100, size: int = 200) -> None:
    client = cls(healthy_uri(uri, DOCS[:size]), serverSelectionTimeoutMS=5000)
    coll = client[DB][COLL]
    await coll.find_one()
    rng = random.Random(20240611)
    totals: collections.Counter[str] = collections.Counter()
    errors: collections.Counter = collections.Counter()
    deadline = time.monotonic() + 40
    for _ in range(passes):
        if time.monotonic() > deadline:
            break
        cursor = coll.find({"i": {"$lt": size}}).sort("i", 1).batch_size(20)
        ids: list[int] = []
        for _attempt in range(5000):
            try:
                chunk = await asyncio.wait_for(cursor.to_list(5), rng.uniform(0, 0.004))
            except asyncio.TimeoutError:
                totals["timeouts"] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - the pass ends; what it missed counts as lost
                errors[fault_type(exc)] += 1
                break
            if not chunk:
                break
            ids.extend(doc["i"] for doc in chunk)
        report = order_report(ids, size)
        totals["passes"] += 1
        totals["passes_out_of_order"] += report["out_of_order"] > 0
        totals["passes_with_loss"] += report["lost"] > 0
        for key in ("lost", "duplicated", "delivered"):
            totals[key] += report[key]
        closing = cursor.close()
        if inspect.isawaitable(closing):
            await await_quietly(closing, 2)
    emit({**totals, "errors": errors, "hit_deadline": totals["passes"] < passes})


def run_child(scenario: str, driver: str, uri: str | None) -> None:
    try:
        # motorlike's Tornado classes are used from asyncio.run() too: Tornado 6 runs on asyncio.
        cls = harness.import_driver(HARNESS_DRIVERS[driver])[0]
        if scenario == "cursor_across_runs":
            cursor_across_runs(cls, uri)
        elif scenario.startswith("errors_"):
            asyncio.run(errors_on_time(cls, uri, int(scenario.split("_")[1])))
        elif scenario == "close_blocks_loop":
            asyncio.run(close_blocks_loop(cls, uri, driver))
        else:
            asyncio.run({"starvation": starvation, "timeout_retries": timeout_retries}[scenario](cls, uri))
    except BaseException as exc:  # noqa: BLE001
        emit({"error": f"{fault_type(exc)}: {str(exc)[:200]}"})
    emit({"error": "the scenario reported nothing"})


# -- in the parent process --------------------------------------------------------------------------------------

def measure(scenario: str, driver: str, uri: str | None, timeout: float) -> dict:
    started = time.perf_counter()
    result = harness.run_worker(__file__, ["--child", scenario, driver] + (["--uri", uri] if uri else []), timeout)
    result["wall_s"] = round(time.perf_counter() - started, 2)
    return result


def summary(scenario: str, r: dict) -> str:
    """One table cell."""
    if "error" in r:
        return f"error: {r['error']}"
    if scenario == "starvation":
        return f"{r['b_ok_within_5s']}/20"
    if scenario == "close_blocks_loop":
        how = f"awaited, done in {r['awaited_close_s']:.2f} s" if r["awaited_close_s"] is not None else (
            "returned an awaitable" if r["returned_awaitable"] else "returned None")
        return f"{r['max_loop_stall_ms']:.0f} ms ({how})"
    if scenario.startswith("errors_"):
        if r["capped_at_s"]:
            return f"> {r['capped_at_s']:.0f} s ({r['done']}/{r['n']} errors by then)"
        return f"{r['slowest_s']:.2f} s"
    if scenario == "cursor_across_runs":
        if "unusable" in r:
            return f"unusable ({r['unusable']})"
        return f"{r['delivered']} delivered, {r['lost']} lost, {r['duplicated']} dup, {r['out_of_order']} out of order"
    extra = f", errors {dict(r['errors'])}" if r["errors"] else ""
    return (f"{r.get('passes_out_of_order', 0)}/{r.get('passes', 0)} passes out of order, "
            f"{r.get('lost', 0)} docs lost in {r.get('passes_with_loss', 0)} passes, {r.get('duplicated', 0)} dup "
            f"({r.get('timeouts', 0)} timeouts){extra}")


ROW_TITLES = {
    "starvation": "1. B's find_one done within 5 s after 20 abandoned calls on A",
    "close_blocks_loop": "2. longest event-loop stall in close() (server stalls)",
    "errors_50": "3. slowest error, 50 ops, no server (SSTO 1 s)",
    "errors_100": "3. slowest error, 100 ops",
    "errors_1000": "3. slowest error, 1000 ops",
    "cursor_across_runs": "4. to_list across two asyncio.run() (300 docs)",
    "timeout_retries": "5. to_list(5) under random 0-4 ms timeouts (100 x 200 docs)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="also write every measurement to this file")
    parser.add_argument("--uri", help="a real server for the healthy-server parts (default: a FaultServer)")
    parser.add_argument("--timeout", type=float, default=60.0, help="hard limit per subprocess, seconds")
    parser.add_argument("--drivers", nargs="+", default=list(DRIVERS), choices=list(DRIVERS))
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "DRIVER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.uri and harness.refuse_remote(args.uri):
        sys.exit(2)
    if args.child:
        scenario, driver = args.child
        run_child(scenario, driver, args.uri)
    if args.uri:
        import pymongo
        seeding: pymongo.MongoClient = pymongo.MongoClient(args.uri, serverSelectionTimeoutMS=5000)
        with seeding:
            seeding[DB].drop_collection(COLL)
            seeding[DB][COLL].insert_many(DOCS)
    started = time.perf_counter()
    results: dict = {scenario: {} for scenario in args.scenarios}
    for scenario in args.scenarios:
        for driver in args.drivers:
            results[scenario][driver] = measure(scenario, driver, args.uri, args.timeout)
            print(f"{scenario:>20} {driver:>10}: {results[scenario][driver]}", file=sys.stderr, flush=True)
    print(f"\n| scenario | {' | '.join(DRIVERS[d] for d in args.drivers)} |")
    print(f"|---|{'---|' * len(args.drivers)}")
    for scenario in args.scenarios:
        cells = " | ".join(summary(scenario, results[scenario][driver]) for driver in args.drivers)
        print(f"| {ROW_TITLES[scenario]} | {cells} |")
    print(f"\n{len(args.scenarios) * len(args.drivers)} subprocesses in {time.perf_counter() - started:.0f} s; "
          f"healthy server: {args.uri or 'FaultServer'}; Python {sys.version.split()[0]}")
    if args.json:
        versions = {name: harness.module_version(name) for name in ("motorlike", "motor", "pymongo")}
        harness.write_json(args.json, {"versions": versions, "python": sys.version.split()[0], "uri": args.uri,
                                       "results": results})


if __name__ == "__main__":
    main()
