"""What the operating system charges per operation: thread switches and page faults.

    python bench/os_costs.py [switches|faults|both] [--rounds N]

Two measurements against the canned server (``bench/canned_server.py``, its
own process), each alternating its contenders in one process, medians over
the rounds; doc/performance.md quotes them.

``switches``
    Sequential ``find_one`` by ``_id``: operations per second, client CPU per
    operation, and voluntary / involuntary context switches per operation
    (summed over the process's threads from ``/proc/self/task/*/status``),
    for sync PyMongo, motorlike asyncio and Motor 3.7 (if installed).
``faults``
    ``GridOut.read()`` of the canned 16 MiB file: client CPU and minor page
    faults (``ru_minflt``) per MiB, the same read run on motorlike's worker
    pool and through ``loop.run_in_executor`` (Motor's bridge). Run it again
    with ``MALLOC_MMAP_THRESHOLD_=67108864 MALLOC_TRIM_THRESHOLD_=268435456``
    to see what glibc's thresholds do to it.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # bench.*, motorlike: this tree

from bench import harness  # noqa: E402
from bench.canned_server import CannedServer  # noqa: E402
from bench.harness import Measured, median  # noqa: E402

FIND_ONES = 2000
READS = 6
MiB = 1 << 20


def find_one_sync(client_class: type, port: int) -> Measured:
    with client_class("127.0.0.1", port) as client:
        collection = client.benchdb.small
        for _ in range(200):
            collection.find_one({"_id": 1})
        with Measured() as measured:
            for _ in range(FIND_ONES):
                collection.find_one({"_id": 1})
    return measured


def find_one_async(client_class: type, port: int) -> Measured:
    async def main() -> Measured:
        client = client_class("127.0.0.1", port)
        try:
            collection = client.benchdb.small
            for _ in range(200):
                await collection.find_one({"_id": 1})
            with Measured() as measured:
                for _ in range(FIND_ONES):
                    await collection.find_one({"_id": 1})
            return measured
        finally:
            client.close()

    return asyncio.run(main())


def switches(port: int, rounds: int) -> None:
    contenders = {}
    for driver in ("pymongo", "motorlike", "motor"):
        try:
            client_class = harness.import_driver(driver)[0]
        except ImportError:
            if driver == "motor":  # optional here
                continue
            raise
        find_one = find_one_sync if driver == "pymongo" else find_one_async
        contenders[harness.DRIVER_LABELS[driver]] = functools.partial(find_one, client_class)
    results: dict[str, list[Measured]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            results[name].append(run(port))
    print(f"sequential find_one, {FIND_ONES} per round, median of {rounds} rounds")
    print(f"{'driver':20s} {'ops/s':>8s} {'CPU us/op':>10s} {'voluntary/op':>13s} {'involuntary/op':>15s}")
    for name, runs in results.items():
        print(
            f"{name:20s} {median(FIND_ONES / m.wall for m in runs):8.0f}"
            f" {median(m.cpu / FIND_ONES * 1e6 for m in runs):10.0f}"
            f" {median(m.voluntary / FIND_ONES for m in runs):13.2f}"
            f" {median(m.involuntary / FIND_ONES for m in runs):15.2f}"
        )


def faults(port: int, rounds: int) -> None:
    from motorlike import _gridfs_windows
    from motorlike.frameworks import asyncio as asyncio_framework
    from motorlike.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorGridFSBucket

    async def main() -> dict[str, list[Measured]]:
        client = AsyncIOMotorClient("127.0.0.1", port)
        bucket = AsyncIOMotorGridFSBucket(client.benchdb, bucket_name="fs_costs")
        loop = asyncio.get_running_loop()
        file_id = await bucket.upload_from_stream("f", b"x")  # the canned server answers any id

        async def on_pool():
            grid_out = bucket.delegate.open_download_stream(file_id)
            return await asyncio_framework.submit(loop, _gridfs_windows.read_into_one_buffer, (grid_out,), {})

        async def in_executor():
            grid_out = bucket.delegate.open_download_stream(file_id)
            return await loop.run_in_executor(None, _gridfs_windows.read_into_one_buffer, grid_out)

        contenders = {"motorlike's worker pool": on_pool, "loop.run_in_executor": in_executor}
        results: dict[str, list[Measured]] = {name: [] for name in contenders}
        try:
            for _ in range(rounds):
                for name, read in contenders.items():
                    await read()
                    with Measured() as measured:
                        for _ in range(READS):
                            if len(await read()) != 16 * MiB:
                                raise RuntimeError("the canned file is 16 MiB")
                    results[name].append(measured)
        finally:
            client.close()
        return results

    results = asyncio.run(main())
    thresholds = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    print(f"GridOut.read() of 16 MiB, {READS} per round, median of {rounds} rounds; {thresholds or 'default malloc'}")
    print(f"{'run on':25s} {'CPU us/MiB':>11s} {'faults/MiB':>11s}")
    for name, runs in results.items():
        mib = READS * 16
        print(
            f"{name:25s} {median(m.cpu / mib * 1e6 for m in runs):11.0f}"
            f" {median(m.faults / mib for m in runs):11.0f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", default="both", choices=("switches", "faults", "both"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    with CannedServer(extra_args=["--quiet"]) as server:
        if args.what in ("switches", "both"):
            switches(server.port, args.rounds)
        if args.what in ("faults", "both"):
            faults(server.port, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
