"""The thread bridge under faults: what doc/reliability.md promises, tested.

A server that stops answering, nothing listening, callers that give up at
random moments, loops that end mid-call, readers on four threads: no call
may starve the others, block the event loop, or lose, double or reorder a
document. Servers are :class:`test.fault_server.FaultServer` instances
(loopback only) or the embedded test server; every case is bounded in time.

Each test gets a pool of its own (``fresh_pool``), so threads left stuck
by one case cannot help or hurt the next.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import socket
import threading
import time
import warnings
from typing import Any, AsyncIterator

import bson
import pytest
from pymongo import monitoring
from pymongo.errors import AutoReconnect, PyMongoError, ServerSelectionTimeoutError

from motorlike import _bridge, _pool
from test.fault_server import FaultServer
from test.test_mockupdb import client_for

DOCS = [{"_id": n, "i": n} for n in range(300)]
#: No assertion here waits on a fixed wall-clock limit: a busy machine may
#: slow anything. Where a promise is about time, the bound comes from the
#: timeout the test configures and what breaking the promise would cost:
#: calls run ten at a time would fail in waves, one timeout apart (errors
#: spread over several timeouts), and a call run on the loop would stall it
#: for a whole timeout. So errors must all arrive together, as plain threads'
#: errors do on the same machine at the same time (measured in the test) with
#: two timeouts to spare, and the loop must never stall for half of one.


def stall_limit(blocking: float) -> float:
    """Half of what a call blocking the loop would stall it for."""
    return blocking / 2


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch: pytest.MonkeyPatch) -> _bridge.WorkerPool:
    pool = _bridge.WorkerPool(10)
    monkeypatch.setattr(_bridge, "_pool", pool)
    yield pool
    # Calls finishing late (servers stopped, clients closed) would compete
    # for the GIL with the next test's loop.
    deadline = time.monotonic() + 5
    while pool.running and time.monotonic() < deadline:
        time.sleep(0.01)
    pool.shutdown(wait=False)


@pytest.fixture(params=["asyncio", "tornado"])
def framework(request: pytest.FixtureRequest) -> str:
    return request.param


@contextlib.contextmanager
def serving(mode: str = "healthy", **options: Any) -> Any:
    server = FaultServer(mode, **options).start()
    try:
        yield server
    finally:
        server.stop()


def dead_uri() -> str:
    """A loopback address nothing listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"mongodb://127.0.0.1:{port}/?directConnection=true"


class LoopWatch:
    """A 1 ms ticker on the running loop; ``worst`` is the longest gap seen."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task | None = None

    async def _tick(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.001)
            last = now

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.ensure_future(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def no_loop_errors() -> AsyncIterator[list]:
    """Collects whatever reaches the loop's exception handler (InvalidStateError ...)."""
    loop = asyncio.get_running_loop()
    contexts: list = []
    loop.set_exception_handler(lambda _, context: contexts.append(context))
    try:
        yield contexts
    finally:
        loop.set_exception_handler(None)
    assert contexts == []


# ---------------------------------------------------------------------------
# 1. Abandoned calls do not starve other work


async def test_abandoned_calls_do_not_starve_other_clients(framework: str) -> None:
    with serving("stall_ops") as stalled, serving(docs=DOCS) as healthy:
        stuck_client = client_for(framework, stalled.uri, socketTimeoutMS=30000)
        other_client = client_for(framework, healthy.uri)
        try:
            abandoned = [asyncio.wait_for(stuck_client.db.coll.find_one(), 0.3) for _ in range(20)]
            outcomes = await asyncio.gather(*abandoned, return_exceptions=True)
            assert all(isinstance(outcome, asyncio.TimeoutError) for outcome in outcomes)
            # More calls than workers hang on the wire now ...
            assert stalled.stalled >= 10
            found = await asyncio.gather(*(other_client.db.coll.find_one() for _ in range(20)))
            assert found == [DOCS[0]] * 20
            # ... and other work, of this client too, still gets through,
            # while they still hang (their socket timeout is 30 s away).
            assert await stuck_client.admin.command("ping") == {"ok": 1}
            assert stalled.stalled >= 10
        finally:
            stuck_client.close()
            other_client.close()


async def test_stuck_workers_leave_the_loop_free(framework: str) -> None:
    """Worker exhaustion: 200 calls hang, the loop ticks on, other calls finish."""
    with serving("stall_ops") as stalled, serving(docs=DOCS) as healthy:
        stuck_client = client_for(framework, stalled.uri, socketTimeoutMS=30000, maxPoolSize=300)
        other_client = client_for(framework, healthy.uri)
        try:
            async with LoopWatch() as watch:
                hanging = [asyncio.ensure_future(stuck_client.db.coll.find_one()) for _ in range(200)]
                while stalled.stalled < 10:  # every core worker hangs now
                    await asyncio.sleep(0.005)
                found = await asyncio.gather(*(other_client.db.coll.find_one() for _ in range(50)))
                assert found == [DOCS[0]] * 50
                assert not any(task.done() for task in hanging)  # done while those still hang
                for task in hanging:
                    task.cancel()
                await asyncio.gather(*hanging, return_exceptions=True)
            assert watch.worst < stall_limit(30), f"the loop stalled for {watch.worst * 1000:.0f} ms"
        finally:
            stuck_client.close()
            other_client.close()


# ---------------------------------------------------------------------------
# 2. Errors on time


def plain_threads_fail_after(count: int, uri: str, error: type[Exception], **options: Any) -> float:
    """The control: ``count`` failing ``find_one`` of sync PyMongo (a client made with
    ``options``), one plain thread each, all started at once. Seconds from the first start
    to the last error: what this machine, as busy as it is now, takes to start that many
    threads and raise that many errors, with no bridge in between."""
    import pymongo

    client = pymongo.MongoClient(uri, **options)
    failed: list[float] = []

    def one() -> None:
        with contextlib.suppress(error):
            client.db.coll.find_one()
        failed.append(time.monotonic())

    threads = [threading.Thread(target=one) for _ in range(count)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    assert len(failed) == count
    return max(failed) - started


class WorkerClock:
    """When each call started and ended on its worker thread, to tell a late
    thread (the pool), a late error (PyMongo) and a late delivery (the loop)
    apart when calls do not fail together, and how many garbage collections
    of each generation ran meanwhile (a full one stops every thread). Only
    records, until ``stop()`` (before ``client.close()``, whose own call
    would count otherwise)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started: list[float] = []
        self.ended: list[float] = []
        self.recording = True
        self.collections_before = [generation["collections"] for generation in gc.get_stats()]
        self.collections: list[int] | None = None  # by generation, from start to stop()
        execute = _pool._execute

        def timed(job: Any) -> Any:
            recording = self.recording
            if recording:
                self.started.append(time.monotonic())  # list.append: safe from any thread
            try:
                return execute(job)
            finally:
                if recording:
                    self.ended.append(time.monotonic())

        monkeypatch.setattr(_pool, "_execute", timed)

    def stop(self) -> None:
        self.recording = False
        counts = zip(gc.get_stats(), self.collections_before)
        self.collections = [after["collections"] - before for after, before in counts]

    def spans(self, first: float) -> str:
        def span(times: list[float]) -> str:
            return f"{min(times) - first:.2f}-{max(times) - first:.2f} s" if times else "none"

        return (
            f"on workers: started {span(self.started)}, ended {span(self.ended)};"
            f" garbage collections by generation {self.collections}"
        )


@pytest.fixture
def worker_clock(monkeypatch: pytest.MonkeyPatch) -> WorkerClock:
    return WorkerClock(monkeypatch)


def assert_together(
    calls: list[tuple[float, float]], control: float, timeout: float, clock: WorkerClock, loop_gap: float | None = None
) -> None:
    """(made, failed) of each call: all failed within what plain threads took (``control``)
    and two timeouts more (the pool's R3 wait, and room for a busy machine's noise); in
    waves of ten they would take (count / 10 - 1) timeouts more."""
    first = min(made for made, _ in calls)
    all_failed = max(failed for _, failed in calls) - first
    made_over = max(made for made, _ in calls) - first
    earliest = min(failed for _, failed in calls) - first
    assert all_failed < control + 2 * timeout, (
        f"motorlike: {all_failed:.2f} s (calls made over {made_over:.2f} s, the first failed at {earliest:.2f} s;"
        f" {clock.spans(first)}; the loop's longest gap {'-' if loop_gap is None else f'{loop_gap:.2f} s'}),"
        f" plain threads: {control:.2f} s"
    )


@pytest.mark.parametrize("count", [50, 100, 1000])
async def test_every_call_fails_on_time_when_nothing_listens(framework: str, count: int, worker_clock) -> None:
    timeout = 2.0
    client = client_for(framework, dead_uri(), serverSelectionTimeoutMS=int(timeout * 1000))

    async def one() -> tuple[float, float]:
        made = time.monotonic()
        with pytest.raises(ServerSelectionTimeoutError):
            await client.db.coll.find_one()
        return made, time.monotonic()

    try:
        async with LoopWatch() as watch:
            calls = await asyncio.gather(*(one() for _ in range(count)))
    finally:
        worker_clock.stop()
        client.close()
    assert min(failed - made for made, failed in calls) >= timeout * 0.9
    # On time means together, as plain threads would fail on this machine now: started
    # and raised all at once, a thousand of them take their time on a busy machine (2 s
    # beyond the timeout with both CPUs loaded, for motorlike and the control alike).
    # In waves of max_workers (ten here) they would take count / 10 timeouts.
    control = plain_threads_fail_after(
        count, dead_uri(), ServerSelectionTimeoutError, serverSelectionTimeoutMS=int(timeout * 1000)
    )
    assert_together(calls, control, timeout, worker_clock, watch.worst)
    # Threads raising all at once make the loop wait for the GIL a while,
    # never for the whole timeout, as a call on the loop would.
    assert watch.worst < stall_limit(timeout)


async def test_every_call_times_out_on_time_on_a_silent_server(framework: str, worker_clock) -> None:
    with serving("stall_ops") as stalled:
        # (No retry: a retried read would wait out a second socket timeout.)
        client = client_for(framework, stalled.uri, socketTimeoutMS=1500, retryReads=False)

        async def one() -> tuple[float, float]:
            made = time.monotonic()
            with pytest.raises(AutoReconnect):  # NetworkTimeout
                await client.db.coll.find_one()
            return made, time.monotonic()

        try:
            calls = await asyncio.gather(*(one() for _ in range(50)))
        finally:
            worker_clock.stop()
            client.close()
        control = plain_threads_fail_after(50, stalled.uri, AutoReconnect, socketTimeoutMS=1500, retryReads=False)
    # Ten workers taking them in turn: five waves, 1.5 s apart.
    assert_together(calls, control, 1.5, worker_clock)


async def test_every_call_meets_timeout_ms_on_a_silent_server(framework: str, worker_clock) -> None:
    # More calls than maxPoolSize: timeoutMS covers the wait for a connection too.
    with serving("stall_ops") as stalled:
        client = client_for(framework, stalled.uri, timeoutMS=1500, maxPoolSize=20)

        async def one() -> tuple[float, float]:
            made = time.monotonic()
            with pytest.raises(PyMongoError) as raised:
                await client.db.coll.find_one()
            assert raised.value.timeout
            return made, time.monotonic()

        try:
            calls = await asyncio.gather(*(one() for _ in range(200)))
        finally:
            worker_clock.stop()
            client.close()
        control = plain_threads_fail_after(200, stalled.uri, PyMongoError, timeoutMS=1500, maxPoolSize=20)
    # Twenty connections taking them in turn: ten waves, 1.5 s apart.
    assert_together(calls, control, 1.5, worker_clock)


# ---------------------------------------------------------------------------
# 3. close() never blocks the loop


async def _open_cursor_on(client: Any) -> Any:
    """A cursor still open on the server (to_list: no prefetch runs ahead)."""
    cursor = client.db.coll.find().batch_size(2)
    assert await cursor.to_list(1) == DOCS[:1]
    return cursor


async def test_close_never_blocks_the_loop(framework: str) -> None:
    with serving(docs=DOCS) as server:
        client = client_for(framework, server.uri, socketTimeoutMS=2000)
        cursor = await _open_cursor_on(client)
        del cursor  # PyMongo kills an abandoned cursor's server side in close()
        gc.collect()
        server.mode = "stall_ops"  # so killCursors hangs until the socket timeout
        async with LoopWatch() as watch:
            closing = client.close()
            assert not closing.done()  # returned while killCursors hangs
            while "killCursors" not in server.commands:
                await asyncio.sleep(0.005)
            assert not closing.done()
            await closing  # awaitable, for code that wants to wait
    assert watch.worst < stall_limit(2), f"the loop stalled for {watch.worst * 1000:.0f} ms"
    assert "killCursors" in server.commands


def test_close_without_await_warns_nothing(framework: str) -> None:
    with serving(docs=DOCS) as server:

        async def use_and_close() -> Any:
            client = client_for(framework, server.uri)
            await client.db.coll.find_one()
            return client.close()  # as Motor code calls it: no await

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            closing = asyncio.run(use_and_close())
            closing.result(timeout=5)  # done on its thread, loop or no loop
            del closing
            gc.collect()
    assert [str(w.message) for w in caught] == []


async def test_close_with_operations_in_flight(framework: str) -> None:
    with serving("stall_ops") as stalled:
        client = client_for(framework, stalled.uri, socketTimeoutMS=2000)
        in_flight = [asyncio.ensure_future(client.db.coll.find_one()) for _ in range(10)]
        while stalled.stalled < 10:
            await asyncio.sleep(0.005)
        async with LoopWatch() as watch:
            closing = client.close()
            outcomes = await asyncio.gather(*in_flight, return_exceptions=True)
            await closing
    assert all(isinstance(outcome, PyMongoError) for outcome in outcomes), outcomes
    assert watch.worst < stall_limit(2)


async def test_cursor_rewind_never_blocks_the_loop(framework: str) -> None:
    with serving(docs=DOCS) as server:
        client = client_for(framework, server.uri, socketTimeoutMS=1000)
        try:
            cursor = await _open_cursor_on(client)
            server.mode = "stall_ops"
            cursor.rewind()  # the old server cursor is killed on a worker ...
            while "killCursors" not in server.commands:  # ... where it hangs now
                await asyncio.sleep(0.005)
            server.mode = "healthy"
            # The new cursor's reads need not wait for that kill to time out.
            assert [doc["i"] for doc in await cursor.to_list(5)] == [0, 1, 2, 3, 4]
            assert server.stalled == 1
        finally:
            await client.close()


# ---------------------------------------------------------------------------
# 4. Cursors: one worker call at a time, nothing lost, doubled or reordered


class GetMoreOverlap(monitoring.CommandListener):
    """The most getMores ever in flight at once (each test here reads one cursor)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()  # request ids
        self.worst = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "getMore":
            with self._lock:
                self._in_flight.add(event.request_id)
                self.worst = max(self.worst, len(self._in_flight))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self._lock:
            self._in_flight.discard(event.request_id)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self._lock:
            self._in_flight.discard(event.request_id)


def test_cursor_read_on_after_its_loop_ended(framework: str) -> None:
    with serving(docs=DOCS, get_more_delay=0.01) as server:
        overlap = GetMoreOverlap()
        client = client_for(framework, server.uri, event_listeners=[overlap])
        cursor = client.db.coll.find().sort("i").batch_size(10)

        async def first_run() -> None:
            # Ends with the to_list still fetching batches on a worker.
            asyncio.ensure_future(cursor.to_list(None))
            await asyncio.sleep(0.05)

        async def second_run() -> list:
            return await asyncio.wait_for(cursor.to_list(None), 10)

        asyncio.run(first_run())
        rest = asyncio.run(second_run())
        client.close()
    assert [doc["i"] for doc in rest] == list(range(300))
    assert overlap.worst == 1


def test_async_for_read_on_after_its_loop_ended(framework: str) -> None:
    with serving(docs=DOCS, get_more_delay=0.01) as server:
        client = client_for(framework, server.uri)
        cursor = client.db.coll.find().sort("i").batch_size(10)
        seen: list[int] = []

        async def first_run() -> None:
            async def read() -> None:
                async for doc in cursor:
                    seen.append(doc["i"])

            asyncio.ensure_future(read())
            await asyncio.sleep(0.06)

        async def second_run() -> None:
            async for doc in cursor:
                seen.append(doc["i"])

        asyncio.run(first_run())
        assert 0 < len(seen) < 300
        asyncio.run(second_run())
        client.close()
    assert seen == list(range(300))


async def test_to_list_under_random_timeouts_keeps_every_document_in_order(framework: str) -> None:
    rng = random.Random(9)
    docs = DOCS[:200]
    with serving(docs=docs, get_more_delay=0.002) as server:
        client = client_for(framework, server.uri)
        timeouts = 0
        try:
            async with no_loop_errors():
                for _ in range(100):
                    cursor = client.db.coll.find().sort("i").batch_size(20)
                    received: list[int] = []
                    while True:
                        try:
                            batch = await asyncio.wait_for(cursor.to_list(5), rng.uniform(0, 0.004))
                        except asyncio.TimeoutError:
                            timeouts += 1
                            continue
                        if not batch:
                            break
                        received.extend(doc["i"] for doc in batch)
                    assert received == list(range(200))
        finally:
            client.close()
    assert timeouts > 20  # the test did cancel calls in flight


CURSOR_KINDS = {
    "find": lambda coll: coll.find().sort("i").batch_size(10),
    "aggregate": lambda coll: coll.aggregate([{"$sort": {"i": 1}}]).batch_size(10),
    "find_raw_batches": lambda coll: coll.find_raw_batches().sort("i").batch_size(10),
}


def _numbers(items: list) -> list[int]:
    """Document numbers from documents or raw BSON batches."""
    if items and isinstance(items[0], bytes):
        return [doc["i"] for batch in items for doc in bson.decode_all(batch)]
    return [doc["i"] for doc in items]


@pytest.mark.parametrize("kind", list(CURSOR_KINDS))
def test_every_cursor_kind_survives_abandoned_reads_across_loops(framework: str, kind: str) -> None:
    rng = random.Random(kind)
    with serving(docs=DOCS, get_more_delay=0.003) as server:
        client = client_for(framework, server.uri)
        cursor = CURSOR_KINDS[kind](client.db.coll)
        received: list[int] = []

        async def read_some(passes: int) -> bool:
            for _ in range(passes):
                try:
                    batch = await asyncio.wait_for(cursor.to_list(7), rng.uniform(0, 0.006))
                except asyncio.TimeoutError:
                    continue
                if not batch:
                    return False
                received.extend(_numbers(batch))
            return True

        # Each asyncio.run() ends with reads abandoned in flight.
        while asyncio.run(read_some(5)):
            pass
        client.close()
    assert received == list(range(300))


async def test_a_command_cursor_with_nothing_new_frees_its_thread_and_closes(framework: str) -> None:
    """next() on a command cursor goes on through empty batches, as PyMongo's,
    but one worker call per batch: a reader that gives up leaves nothing
    fetching, and close() does not wait for the server to have something."""
    with serving(docs=DOCS[:3], tailing=True, get_more_delay=0.02) as server:
        client = client_for(framework, server.uri)
        try:
            cursor = client.db.coll.aggregate([]).batch_size(3)
            assert [doc["i"] async for doc in _first(cursor, 3)] == [0, 1, 2]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(cursor.next(), 0.3)
            await asyncio.sleep(0.1)
            get_mores = server.commands.count("getMore")
            await asyncio.sleep(0.3)
            assert server.commands.count("getMore") == get_mores  # nobody asks any more
            await asyncio.wait_for(cursor.close(), 2)
            assert "killCursors" in server.commands
        finally:
            client.close()


async def _first(cursor: Any, count: int) -> AsyncIterator[Any]:
    for _ in range(count):
        yield await cursor.next()


def _awaiting(future: Any) -> asyncio.Task:
    """A task doing nothing but ``await future``."""

    async def wait() -> Any:
        return await future

    return asyncio.ensure_future(wait())


async def _cancel_as_soon_as_done(future: Any, task: asyncio.Task) -> None:
    """Cancel ``task`` in the loop iteration after ``future`` got its result,
    before ``task`` ran again: its wake-up is queued behind this one."""
    while not future.done():
        await asyncio.sleep(0)
    assert not task.done()
    task.cancel()


async def test_a_to_list_future_with_two_awaiters_gives_nothing_back(framework: str) -> None:
    """One awaiter cancelled, the other receives: the documents must not come twice."""
    with serving(docs=DOCS) as server:
        client = client_for(framework, server.uri)
        cursor = client.db.coll.find().sort("i").batch_size(10)
        try:
            future = cursor.to_list(4)
            first, second = _awaiting(future), _awaiting(future)
            await _cancel_as_soon_as_done(future, second)
            assert [doc["i"] for doc in await first] == [0, 1, 2, 3]
            with pytest.raises(asyncio.CancelledError):
                await second
            assert [doc["i"] for doc in await cursor.to_list(3)] == [4, 5, 6]
        finally:
            client.close()


@pytest.mark.filterwarnings("ignore:next_object is deprecated:DeprecationWarning")  # one of the methods it draws
async def test_random_cancellation_of_every_read_method(framework: str) -> None:
    """Many tasks share one cursor; each read is cancelled at a random moment.

    Every document reaches exactly one read, and each read's documents come
    in cursor order. (Reads running at once may finish in any order.)
    """
    rng = random.Random(4)
    with serving(docs=DOCS, get_more_delay=0.001) as server:
        client = client_for(framework, server.uri)
        cursor = client.db.coll.find().sort("i").batch_size(7)
        reads: list[list[int]] = []

        async def read_once() -> None:
            method = rng.choice(["anext", "to_list", "next", "fetch_next", "try_next"])
            if method == "anext":
                got = [await cursor.__anext__()]
            elif method == "next":
                got = [await cursor.next()]
            elif method == "try_next":
                got = [await cursor.try_next()]
            elif method == "to_list":
                got = await cursor.to_list(rng.randint(1, 12))
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    got = [cursor.next_object()] if await cursor.fetch_next else []
            reads.append([doc["i"] for doc in got if doc is not None])

        try:
            async with no_loop_errors():
                cancelled = 0
                while sum(map(len, reads)) < len(DOCS):
                    tasks = [asyncio.ensure_future(read_once()) for _ in range(rng.randint(1, 5))]
                    await asyncio.sleep(rng.uniform(0, 0.003))
                    for task in tasks:
                        if rng.random() < 0.5:
                            cancelled += task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            client.close()
    assert sorted(i for read in reads for i in read) == list(range(300))
    for read in reads:
        assert read == sorted(read)
    # The scenario happened: reads were cancelled in flight. (How many depends
    # on timing; with prefetch more reads finish before their cancellation.)
    assert cancelled > 0


async def test_to_list_gives_documents_back_when_cancelled_after_they_arrived(framework: str) -> None:
    """The narrowest window: the result is set, the task is cancelled before it runs again."""
    with serving(docs=DOCS) as server:
        client = client_for(framework, server.uri)
        cursor = client.db.coll.find().sort("i").batch_size(10)
        try:
            future = cursor.to_list(4)
            task = _awaiting(future)
            await _cancel_as_soon_as_done(future, task)
            with pytest.raises(asyncio.CancelledError):
                await task
            assert [doc["i"] for doc in await cursor.to_list(6)] == [0, 1, 2, 3, 4, 5]
            # A future dropped unread gives its documents back too.
            dropped = cursor.to_list(2)
            while not dropped.done():
                await asyncio.sleep(0.001)
            del dropped
            gc.collect()
            assert [doc["i"] for doc in await cursor.to_list(3)] == [6, 7, 8]
        finally:
            client.close()


def test_one_cursor_read_from_four_threads_loops_at_once(framework: str) -> None:
    with serving(docs=DOCS, get_more_delay=0.001) as server:
        overlap = GetMoreOverlap()
        client = client_for(framework, server.uri, event_listeners=[overlap])
        cursor = client.db.coll.find().sort("i").batch_size(7)
        per_thread: list[list[int]] = [[] for _ in range(4)]
        errors: list[BaseException] = []

        def reader(seen: list[int], how: int) -> None:
            async def read() -> None:
                if how % 2:
                    async for doc in cursor:
                        seen.append(doc["i"])
                else:
                    while batch := await cursor.to_list(3):
                        seen.extend(doc["i"] for doc in batch)

            try:
                asyncio.run(asyncio.wait_for(read(), 20))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=reader, args=(seen, n)) for n, seen in enumerate(per_thread)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        client.close()
    assert errors == []
    assert sorted(i for seen in per_thread for i in seen) == list(range(300))
    for seen in per_thread:
        assert seen == sorted(seen)
    assert overlap.worst == 1


# ---------------------------------------------------------------------------
# 5. Storms and restarts


async def test_cancellation_storm_keeps_every_acknowledged_write(framework: str) -> None:
    """10,000 inserts, half of them cancelled at random moments."""
    rng = random.Random(1)
    acknowledged: list[int] = []
    with serving() as server:
        client = client_for(framework, server.uri)
        collection = client.db.storm

        async def insert(n: int) -> None:
            await collection.insert_one({"_id": n})
            acknowledged.append(n)

        try:
            async with no_loop_errors():
                tasks = [asyncio.ensure_future(insert(n)) for n in range(10_000)]
                loop = asyncio.get_running_loop()
                for task in tasks:
                    if rng.random() < 0.5:
                        loop.call_later(rng.uniform(0, 0.5), task.cancel)
                outcomes = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        finally:
            await client.close()
        inserted = [doc["_id"] for doc in server.inserted]
    assert all(o is None or isinstance(o, asyncio.CancelledError) for o in outcomes)
    assert sum(isinstance(o, asyncio.CancelledError) for o in outcomes) > 1000
    assert len(acknowledged) > 1000
    # Every acknowledged write reached the server, once; nothing was sent twice.
    assert set(acknowledged) <= set(inserted)
    assert len(inserted) == len(set(inserted))


async def test_recovery_after_the_server_restarts(framework: str) -> None:
    server = FaultServer(docs=DOCS).start()
    port = server.port
    client = client_for(framework, server.uri, serverSelectionTimeoutMS=3000, heartbeatFrequencyMS=500)
    failures = 0
    try:
        async with LoopWatch() as watch:
            assert await client.db.coll.find_one() == DOCS[0]
            await asyncio.to_thread(server.stop)
            for _ in range(3):
                with contextlib.suppress(PyMongoError):
                    await client.db.coll.find_one()
                    continue
                failures += 1
            server = await asyncio.to_thread(FaultServer(docs=DOCS, port=port).start)
            # Within a server selection timeout of the restart (3 s), every call succeeds.
            results = await asyncio.gather(*(client.db.coll.find_one() for _ in range(20)))
        assert results == [DOCS[0]] * 20
        assert failures >= 1
        assert watch.worst < stall_limit(3)
    finally:
        await client.close()
        await asyncio.to_thread(server.stop)
