"""The pool when the OS refuses threads, a loop refuses callbacks, or a
caller's own timeout is set: every call still ends, with its result or an
error, and no strand, lane or watchdog is left stuck.

Thread starts are refused by standing in for ``_thread.start_new_thread``
(what a pids limit below MOTORLIKE_MAX_THREADS does). Found by an
independent review of the strands and lanes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import types
from typing import Any

import pymongo
import pytest

from motorlike import _bridge, _jobs, _pool
from motorlike.frameworks import asyncio as asyncio_framework
from motorlike._strand import Strand
from test.fault_server import FaultServer
from test.test_mockupdb import client_for


def refuse_threads(*_: Any, **__: Any) -> None:
    raise RuntimeError("can't start new thread")


@pytest.fixture
def refusing(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Call ``refusing(True)`` to make the OS refuse threads, ``refusing(False)`` to stop."""
    real = _pool._thread

    def switch(on: bool) -> None:
        monkeypatch.setattr(_pool, "_thread", types.SimpleNamespace(start_new_thread=refuse_threads) if on else real)

    yield switch
    monkeypatch.setattr(_pool, "_thread", real)


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> _bridge.WorkerPool:
    pool = _bridge.WorkerPool(1, max_threads=8, queue_wait=0.05)
    monkeypatch.setattr(_bridge, "_pool", pool)
    yield pool
    pool.shutdown(wait=False)


async def test_a_refused_first_call_leaves_its_strand_free(pool, refusing) -> None:
    loop = asyncio.get_running_loop()
    strand = Strand()
    refusing(True)
    with pytest.raises(RuntimeError, match="can't start"):
        pool.submit(loop, loop.create_future(), lambda: "first", (), {}, strand=strand)
    refusing(False)
    assert strand.idle
    second = loop.create_future()
    pool.submit(loop, second, lambda: "second", (), {}, strand=strand)
    assert await second == "second"


async def test_a_prefetch_that_gets_no_thread_leaves_the_cursor_readable(pool, refusing) -> None:
    docs = [{"_id": n} for n in range(30)]
    loop = asyncio.get_running_loop()
    with FaultServer(docs=docs) as server:
        client = client_for("asyncio", server.uri)
        try:
            cursor = client.db.coll.find().batch_size(10)
            seen = [await cursor.__anext__()]
            release = threading.Event()
            busy = loop.create_future()  # another client's call holds the only worker
            pool.submit(loop, busy, release.wait, (30,), {}, lane=pool.new_lane(None))
            refusing(True)
            seen += [await cursor.__anext__() for _ in range(5)]  # the prefetch starts here: no thread
            refusing(False)
            release.set()
            await busy
            seen += [document async for document in cursor]
            assert seen == docs
        finally:
            client.close()


async def test_threads_refused_for_good_fail_the_call_instead_of_retrying_forever(pool, refusing) -> None:
    loop = asyncio.get_running_loop()
    release = threading.Event()
    try:
        lane = pool.new_lane(None)
        hanging = loop.create_future()
        pool.submit(loop, hanging, release.wait, (30,), {}, lane=lane)
        refusing(True)
        waiting = loop.create_future()
        # Queued behind the hanging call; once the lane stalls, the watchdog
        # asks for a thread for it (R3), and keeps being refused.
        pool.submit(loop, waiting, lambda: "never", (), {}, lane=lane)
        with pytest.raises(_bridge.WorkerThreadsExhausted) as raised:
            await waiting
        assert isinstance(raised.value.__cause__, RuntimeError)
    finally:
        refusing(False)
        release.set()


async def test_the_watchdog_survives_a_follow_up_that_cannot_start(pool, refusing) -> None:
    loop = asyncio.get_running_loop()
    release = threading.Event()
    try:
        lane = pool.new_lane(None)
        lane.floor = lane.cap = 1  # a client whose pool holds one call
        hanging = loop.create_future()
        pool.submit(loop, hanging, release.wait, (30,), {}, lane=lane)
        strand = Strand()
        read = loop.create_future()
        pool.submit(loop, read, lambda: "read", (), {}, lane=lane, strand=strand)  # waits in the lane
        closing = _bridge.BackgroundCall(lambda: "closed", strand=strand, framework=asyncio_framework)
        refusing(True)
        read.cancel()  # the watchdog drops it; the close is next, and gets no thread
        with pytest.raises(RuntimeError, match="can't start"):
            await closing
        assert strand.idle
        assert pool._watchdog.is_alive()
        refusing(False)
        # It goes on: a call queued behind the hanging one gets a thread
        # once the lane is seen stalled (R3), which only the watchdog does.
        lane.floor = lane.cap = 2
        behind = loop.create_future()
        pool.submit(loop, behind, lambda: "ran", (), {}, lane=lane)
        assert await behind == "ran"
    finally:
        refusing(False)
        release.set()


def test_a_loop_that_refuses_a_callback_loses_no_worker() -> None:
    class RefusingLoop:
        def call_soon_threadsafe(self, *_: Any) -> None:
            raise ValueError("this loop refuses callbacks")

    class InlineLoop:
        def call_soon_threadsafe(self, deliver: Any, *args: Any) -> None:
            deliver(*args)

    pool = _bridge.WorkerPool(1)
    try:
        refused: concurrent.futures.Future = concurrent.futures.Future()
        refused.set_running_or_notify_cancel()
        pool.submit(RefusingLoop(), refused, lambda: 1, (), {})
        delivered: concurrent.futures.Future = concurrent.futures.Future()
        delivered.set_running_or_notify_cancel()
        pool.submit(InlineLoop(), delivered, lambda: 2, (), {}, _bridge.deliver_to_future)
        assert delivered.result(timeout=30) == 2  # the worker lived on
        assert pool.thread_count == 1
    finally:
        pool.shutdown(wait=False)


def test_a_call_that_waited_keeps_its_callers_own_timeout() -> None:
    lane = _jobs.Lane(None, 10)
    lane.timeout = 1.0
    seen: list = []

    def probe() -> None:
        seen.append(_jobs._caller_timeout())

    context_job: Any = None

    def make_job() -> Any:
        return _jobs.Job(None, concurrent.futures.Future(), _bridge.deliver_to_future, probe, (), {}, lane, None)

    with pymongo.timeout(30):
        context_job = make_job()
    plain_job = make_job()
    for job in (context_job, plain_job):
        job.queued_at = 1.0  # it waited long (monotonic time 1.0 was long ago)
    _jobs._execute(context_job)
    outcome = _jobs._execute(plain_job)
    assert seen == [30]  # the caller's pymongo.timeout() decides: not shortened
    assert isinstance(outcome[4], pymongo.errors.WaitQueueTimeoutError)  # none of timeoutMS left


async def test_prefetches_count_in_their_clients_lane(pool) -> None:
    docs = [{"_id": n} for n in range(40)]
    with FaultServer(docs=docs, get_more_delay=0.01) as server:
        client = client_for("asyncio", server.uri, maxPoolSize=1)
        try:
            await client.db.coll.find_one()
            lane = client._lane()
            peak = 0

            async def watch() -> None:
                nonlocal peak
                while True:
                    peak = max(peak, lane.running)
                    await asyncio.sleep(0)

            watcher = asyncio.ensure_future(watch())

            async def read_all() -> list:
                return [document async for document in client.db.coll.find().batch_size(5)]

            results = await asyncio.gather(*(read_all() for _ in range(8)))
            watcher.cancel()
            assert all(result == docs for result in results)
            assert peak <= 1  # prefetches too wait for the one connection in the lane
        finally:
            client.close()
