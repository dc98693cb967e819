"""What cursor prefetch buys ``async for`` when each getMore costs a round trip.

A loopback fault server answers every getMore after ``--delay`` ms (a
server's per-request latency); the consumer waits ``--io`` microseconds per
document (as if it wrote each somewhere: ``asyncio.sleep``, ``time.sleep``
for PyMongo), in steps of ten documents, and spends ``--work`` microseconds
of CPU on each. motorlike with prefetch on and off, interleaved,
``--repeat`` times; medians. Sync PyMongo's ``for`` for reference.

    python -m bench.prefetch --delay 2 --io 20 --work 2 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from test.fault_server import FaultServer  # noqa: E402


def _spin(microseconds: float) -> None:
    end = time.perf_counter() + microseconds / 1e6
    while time.perf_counter() < end:
        pass


async def _motorlike(uri: str, batch: int, work: float, io: float, prefetch: bool) -> float:
    from motorlike._cursor import AgnosticBaseCursor
    from motorlike.motor_asyncio import AsyncIOMotorClient

    AgnosticBaseCursor._prefetches = prefetch
    client = AsyncIOMotorClient(uri)
    try:
        await client.db.coll.find_one()
        started = time.perf_counter()
        count = 0
        async for _ in client.db.coll.find().batch_size(batch):
            _spin(work)
            count += 1
            if io and count % 10 == 0:
                await asyncio.sleep(io * 10 / 1e6)
        return time.perf_counter() - started
    finally:
        client.close()
        AgnosticBaseCursor._prefetches = True


def _pymongo(uri: str, batch: int, work: float, io: float) -> float:
    from pymongo import MongoClient

    client = MongoClient(uri)
    try:
        client.db.coll.find_one()
        started = time.perf_counter()
        count = 0
        for _ in client.db.coll.find().batch_size(batch):
            _spin(work)
            count += 1
            if io and count % 10 == 0:
                time.sleep(io * 10 / 1e6)
        return time.perf_counter() - started
    finally:
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--delay", type=float, default=2.0, help="ms per getMore")
    parser.add_argument("--work", type=float, default=2.0, help="CPU microseconds per document")
    parser.add_argument("--io", type=float, default=20.0, help="microseconds waited per document")
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    docs = [{"_id": i, "payload": "x" * 100} for i in range(options.docs)]
    times: dict[str, list[float]] = {"motorlike, prefetch": [], "motorlike, no prefetch": [], "PyMongo sync": []}
    with FaultServer(docs=docs, get_more_delay=options.delay / 1000) as server:
        for _ in range(options.repeat):
            times["motorlike, prefetch"].append(asyncio.run(_motorlike(server.uri, options.batch, options.work, options.io, True)))
            times["motorlike, no prefetch"].append(asyncio.run(_motorlike(server.uri, options.batch, options.work, options.io, False)))
            times["PyMongo sync"].append(_pymongo(server.uri, options.batch, options.work, options.io))
    print(f"{options.docs} documents, batches of {options.batch}, getMore +{options.delay} ms, "
          f"{options.io} us waited and {options.work} us of work per document, {options.repeat} interleaved runs (medians)")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:24s} {median * 1000:8.1f} ms   {options.docs / median:10.0f} docs/s")


if __name__ == "__main__":
    main()
