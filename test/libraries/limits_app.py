"""A small limits 5 application (its async MongoDB storage), run unchanged on motorlike.

limits' ``async+mongodb://`` storage builds a ``motor.motor_asyncio.AsyncIOMotorClient``
and keeps its rate-limit counters and windows in MongoDB: TTL indexes made with
asyncio.gather, pipeline-style find_one_and_update with upserts, update_one upserts
whose DuplicateKeyError means "limit reached", an aggregation cursor, count_documents,
find_one_and_delete, drop and server_info.

Usage: python limits_app.py URI. Prints one line per check; the test compares them.
One storage (one client) serves two asyncio.run() calls, as a module-level limiter
in a web application or a test suite would.
"""

import asyncio
import sys
import time
import warnings

warnings.simplefilter("error", RuntimeWarning)

import motorlike  # noqa: E402

motorlike.install_motor_alias()

import motor  # noqa: E402
from limits import parse  # noqa: E402
from limits.aio.storage import MongoDBStorage  # noqa: E402
from limits.aio.strategies import (  # noqa: E402
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.storage import storage_from_string  # noqa: E402

assert motor is motorlike


def _resets_within(stats, seconds: int) -> bool:
    """Whether a window's reset time lies in the next `seconds` seconds."""
    return 0 < stats.reset_time - time.time() <= seconds


async def main(storage: MongoDBStorage, run: int) -> None:
    # Whatever an earlier run left behind goes (reset() drops both collections).
    await storage.reset()
    print(run, "check", await storage.check())

    per_minute = parse("3/minute")
    fixed = FixedWindowRateLimiter(storage)
    print(run, "fixed", [await fixed.hit(per_minute, "api", "alice") for _ in range(4)], await fixed.test(per_minute, "api", "alice"))
    print(run, "cost", await fixed.hit(per_minute, "api", "bob", cost=2), await fixed.hit(per_minute, "api", "bob", cost=2))
    alice, bob = await fixed.get_window_stats(per_minute, "api", "alice"), await fixed.get_window_stats(per_minute, "api", "bob")
    print(run, "stats", alice.remaining, bob.remaining, _resets_within(alice, 60), _resets_within(bob, 60))
    if run == 1:
        # limits creates its TTL indexes once per storage object; reset() drops
        # the collections with them, so the second run has none to show.
        database = storage.database
        print(run, "indexes", sorted(await database.counters.index_information()), sorted(await database.windows.index_information()))
    await fixed.clear(per_minute, "api", "alice")
    print(run, "cleared", await fixed.test(per_minute, "api", "alice"), (await fixed.get_window_stats(per_minute, "api", "alice")).remaining)

    per_hour = parse("2/hour")
    moving = MovingWindowRateLimiter(storage)
    print(run, "moving", [await moving.hit(per_hour, "upload", "carol") for _ in range(3)], await moving.test(per_hour, "upload", "carol"))
    window = await moving.get_window_stats(per_hour, "upload", "carol")
    print(run, "moving stats", window.remaining, _resets_within(window, 3600))

    burst = parse("5/hour")
    sliding = SlidingWindowCounterRateLimiter(storage)
    hits = [await sliding.hit(burst, "login", "dave", cost=cost) for cost in (2, 3, 1)]
    print(run, "sliding", hits, (await sliding.get_window_stats(burst, "login", "dave")).remaining)
    await sliding.clear(burst, "login", "dave")
    print(run, "sliding cleared", await sliding.test(burst, "login", "dave", cost=5))

    # What limits stored, read back with the same (motor) client.
    keys = [document["_id"] async for document in storage.database.counters.find({}, sort=[("_id", 1)])]
    print(run, "stored", keys, await storage.database.windows.count_documents({}))
    print(run, "reset", await storage.reset(), type(storage.storage).__module__)


if __name__ == "__main__":
    # The documented way to get a storage: a URI with the async+ scheme.
    shared_storage = storage_from_string("async+" + sys.argv[1], database_name="limits_app", serverSelectionTimeoutMS=5000)
    assert isinstance(shared_storage, MongoDBStorage)
    try:
        asyncio.run(main(shared_storage, 1))
        asyncio.run(main(shared_storage, 2))
    finally:
        del shared_storage  # MongoDBStorage.__del__ closes its client
