"""The cost of one hop: the loop inbox and worker affinity, A/B against the canned server.

    python bench/hop.py [--repeat 7] [--pin]

Variants of motorlike asyncio, each measurement in a fresh process:

``plain``      one ``call_soon_threadsafe`` per finished call (no inbox), no affinity
``inbox``      finished calls reach the loop through its inbox (the default)
``affinity``   the inbox, and ``MOTORLIKE_WORKER_AFFINITY=1``
``one_cpu``    the inbox, the client process alone pinned to the CPU it starts on
               (``taskset`` for the client only; the server keeps both CPUs)

and, for reference, sync PyMongo and AsyncMongoClient. Workloads: sequential
``find_one`` and 100 concurrent ``find_one`` (``asyncio.gather``; sync PyMongo:
100 threads). Variants take turns within a repetition, in an order rotated
each time; figures are medians (ops/s), with the spread (max - min) / median.
``--pin`` pins this script, its workers and the server to CPU 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.canned_server import CannedServer  # noqa: E402

VARIANTS = ("inbox", "workers", "affinity", "pymongo", "pymongo_async")
WORKLOADS = {"find_one": 3000, "concurrent_find_one": 40}  # operations / rounds of 100


async def _async_workload(client, workload: str, count: int) -> float:
    collection = client.benchdb.small
    for _ in range(100):
        await collection.find_one({"_id": 1})
    started = time.perf_counter()
    if workload == "find_one":
        for _ in range(count):
            await collection.find_one({"_id": 1})
        operations = count
    else:
        for _ in range(count):
            await asyncio.gather(*[collection.find_one({"_id": 1}) for _ in range(100)])
        operations = count * 100
    return operations / (time.perf_counter() - started)


def _sync_workload(port: int, workload: str, count: int) -> float:
    from concurrent.futures import ThreadPoolExecutor

    from pymongo import MongoClient

    with MongoClient("127.0.0.1", port, maxPoolSize=100) as client:
        collection = client.benchdb.small
        for _ in range(100):
            collection.find_one({"_id": 1})
        started = time.perf_counter()
        if workload == "find_one":
            for _ in range(count):
                collection.find_one({"_id": 1})
            operations = count
        else:
            with ThreadPoolExecutor(100) as executor:
                for _ in range(count):
                    list(executor.map(lambda _: collection.find_one({"_id": 1}), range(100)))
            operations = count * 100
        return operations / (time.perf_counter() - started)


def _current_cpu() -> int:
    with open("/proc/thread-self/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[36])


def worker(variant: str, workload: str, port: int) -> float:
    count = WORKLOADS[workload]
    if variant == "one_cpu":
        os.sched_setaffinity(0, {os.sched_getaffinity(0).pop() if len(os.sched_getaffinity(0)) == 1 else _current_cpu()})
    if variant == "pymongo":
        return _sync_workload(port, workload, count)

    async def main() -> float:
        if variant == "pymongo_async":
            from pymongo import AsyncMongoClient

            client = AsyncMongoClient("127.0.0.1", port)
            try:
                return await _async_workload(client, workload, count)
            finally:
                await client.close()
        from motorlike.frameworks import asyncio as asyncio_framework
        from motorlike.motor_asyncio import AsyncIOMotorClient

        if variant == "plain":
            asyncio_framework.inbox_for = lambda loop: loop  # type: ignore[assignment]
        client = AsyncIOMotorClient("127.0.0.1", port)
        try:
            return await _async_workload(client, workload, count)
        finally:
            client.close()

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pin", action="store_true")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        variant, workload, port = options.worker
        print(json.dumps(worker(variant, workload, int(port))))
        return
    if options.pin:
        os.sched_setaffinity(0, {0})  # inherited by the server and the workers
    results: dict = {(v, w): [] for v in VARIANTS for w in WORKLOADS}
    with CannedServer() as server:
        for repetition in range(options.repeat):
            order = VARIANTS[repetition % len(VARIANTS):] + VARIANTS[: repetition % len(VARIANTS)]
            for workload in WORKLOADS:
                for variant in order:
                    env = dict(os.environ)
                    env["MOTORLIKE_WORKER_AFFINITY"] = {"affinity": "1", "workers": "workers"}.get(variant, "0")
                    command = [sys.executable, __file__, "--worker", variant, workload, str(server.port)]
                    output = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=True)
                    results[(variant, workload)].append(json.loads(output.stdout.strip().splitlines()[-1]))
            print(f"repetition {repetition + 1}/{options.repeat} done", file=sys.stderr)
    placement = "pinned to CPU 0" if options.pin else f"unpinned, CPUs {sorted(os.sched_getaffinity(0))}"
    print(f"canned server, {placement}, {options.repeat} interleaved repetitions, medians (ops/s)")
    print(f"{'variant':16s}" + "".join(f"{w:>28s}" for w in WORKLOADS))
    for variant in VARIANTS:
        cells = []
        for workload in WORKLOADS:
            values = results[(variant, workload)]
            median = statistics.median(values)
            spread = (max(values) - min(values)) / median * 100
            cells.append(f"{median:14,.0f} ±{spread / 2:3.0f}%")
        print(f"{variant:16s}" + "".join(f"{cell:>28s}" for cell in cells))


if __name__ == "__main__":
    main()
