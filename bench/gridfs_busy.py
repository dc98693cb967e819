"""GridFS with 30 busy tasks: the upload's speed and the background tasks' together.

    python bench/gridfs_busy.py [--server mongoeco|canned] [--repeat 5] [--size-mib 16]

While one task uploads (or downloads) a file, 30 others run ``find_one`` one
after another on the same client. On a server that is itself the bottleneck
(the embedded mongoeco), the upload's speed alone says how the server's time
was shared, not how much work got done; this prints both: the transfer's
MiB/s and the background ``find_one`` per second during it, for Motor 3.7
and motorlike asyncio, each run in a fresh process, drivers interleaved,
medians.
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

BUSY_TASKS = 30
DRIVERS = ("motor", "motorlike")


async def _measure(driver: str, uri: str, direction: str, size: int) -> dict:
    if driver == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorGridFSBucket
    else:
        from motorlike.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorGridFSBucket
    client = AsyncIOMotorClient(uri)
    db = client.motorlike_bench_busy
    bucket_name = f"busy_{driver}_{os.getpid()}"
    bucket = AsyncIOMotorGridFSBucket(db, bucket_name=bucket_name)
    data = os.urandom(size)
    try:
        await db.small.replace_one({"_id": 0}, {"_id": 0, "x": 1}, upsert=True)
        file_id = await bucket.upload_from_stream("warm", data)
        state = {"on": True, "calls": 0}

        async def background() -> None:
            while state["on"]:
                await db.small.find_one({"_id": 0})
                state["calls"] += 1

        tasks = [asyncio.ensure_future(background()) for _ in range(BUSY_TASKS)]
        await asyncio.sleep(0.05)
        calls_before, started = state["calls"], time.perf_counter()
        if direction == "upload":
            await bucket.upload_from_stream("timed", data)
        else:
            grid_out = await bucket.open_download_stream(file_id)
            if len(await grid_out.read()) != size:
                raise RuntimeError("short read")
        elapsed = time.perf_counter() - started
        calls = state["calls"] - calls_before
        state["on"] = False
        await asyncio.gather(*tasks)
        return {"mib_s": size / 2**20 / elapsed, "background_ops_s": calls / elapsed}
    finally:
        for suffix in (".files", ".chunks"):
            await db.drop_collection(bucket_name + suffix)
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="mongoeco")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size-mib", type=int, default=16)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.worker:
        driver, uri, direction, size = options.worker
        print(json.dumps(asyncio.run(_measure(driver, uri, direction, int(size)))))
        return
    size = options.size_mib * 2**20
    results: dict = {(d, w): [] for d in DRIVERS for w in ("upload", "download")}

    def run_all(uri: str) -> None:
        for repetition in range(options.repeat):
            order = DRIVERS if repetition % 2 == 0 else DRIVERS[::-1]
            for direction in ("upload", "download"):
                for driver in order:
                    command = [sys.executable, __file__, "--worker", driver, uri, direction, str(size)]
                    output = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
                    results[(driver, direction)].append(json.loads(output.stdout.strip().splitlines()[-1]))
            print(f"repetition {repetition + 1}/{options.repeat} done", file=sys.stderr)

    if options.server == "canned":
        from bench.canned_server import CannedServer

        with CannedServer() as server:
            run_all(server.uri)
    else:
        from motorlike import testserver

        with testserver.server_uri() as uri:
            run_all(uri)
    print(f"{options.server} server, {options.size_mib} MiB, {BUSY_TASKS} busy tasks, "
          f"{options.repeat} interleaved repetitions, medians")
    print(f"{'':10s} {'':10s} {'MiB/s':>8s} {'background find_one/s':>22s}")
    for direction in ("upload", "download"):
        for driver in DRIVERS:
            runs = results[(driver, direction)]
            print(f"{direction:10s} {driver:10s} {statistics.median(r['mib_s'] for r in runs):8.1f} "
                  f"{statistics.median(r['background_ops_s'] for r in runs):22.0f}")


if __name__ == "__main__":
    main()
