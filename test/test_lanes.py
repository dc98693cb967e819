"""Lanes: the worker threads shared out among clients, and never exhausted by one.

What motorlike._pool promises (R1-R4 in its docstring): one client's calls
beyond its connection pool wait in that client's lane, not as threads; a
client with nothing running always gets a thread; a healthy pool however
busy stays at ``max_workers``; the thread ceiling fails a call with a clear
error instead of a silent stall; ``client.close()`` refuses new calls at
once. Servers are :class:`test.fault_server.FaultServer` instances (loopback).
Waiting is on counters the server or the pool keeps, never on elapsed time.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings
from typing import Callable

import pytest
from pymongo.errors import ExecutionTimeout, InvalidOperation, NetworkTimeout, OperationFailure, ServerSelectionTimeoutError

from motorlike import _bridge
from motorlike._jobs import Job, Lane
from test.fault_server import FaultServer
from test.test_mockupdb import client_for
from test.test_strands import NeverCancelled

DOCS = [{"_id": n} for n in range(10)]


@pytest.fixture(params=["asyncio", "tornado"])
def framework(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> _bridge.WorkerPool:
    pool = _bridge.WorkerPool(10, queue_wait=0.1)
    monkeypatch.setattr(_bridge, "_pool", pool)
    yield pool
    pool.shutdown(wait=False)


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll a counter until it says so (the test's own timeout bounds it)."""
    while not predicate():
        await asyncio.sleep(0.005)


async def test_five_thousand_abandoned_calls_do_not_delay_another_client(framework, pool) -> None:
    with FaultServer("stall_ops") as silent, FaultServer(docs=DOCS) as healthy:
        stuck_client = client_for(framework, silent.uri, maxPoolSize=20)  # no socket timeout: hangs for good
        other_client = client_for(framework, healthy.uri)
        try:
            await stuck_client.admin.command("ping")  # a known server: its lane is bounded by maxPoolSize
            abandoned = [stuck_client.db.coll.find_one() for _ in range(5000)]
            await wait_until(lambda: silent.stalled == 20)
            for future in abandoned:
                future.cancel()
            assert await other_client.db.coll.find_one() == DOCS[0]
            assert await asyncio.gather(*(other_client.db.coll.find_one() for _ in range(50))) == [DOCS[0]] * 50
            # The silent client holds as many threads as its pool has connections, no more.
            assert silent.stalled == 20
            assert pool.running <= 20
            assert pool.thread_count <= 20 + pool.max_workers
            await wait_until(lambda: pool.queued == 0)  # the watchdog dropped the cancelled calls
        finally:
            stuck_client.close()
            other_client.close()


async def test_calls_beyond_the_connection_pool_wait_without_threads(framework, pool) -> None:
    with FaultServer("stall_ops") as silent:
        client = client_for(framework, silent.uri, maxPoolSize=5, socketTimeoutMS=60000)
        try:
            await client.admin.command("ping")
            calls = [client.db.coll.find_one() for _ in range(50)]
            await wait_until(lambda: silent.stalled == 5)
            # However long they hang, the lane is stalled and its waiting
            # calls get threads only within maxPoolSize: the rest hold none.
            looks = pool.looks
            await wait_until(lambda: pool.looks >= looks + 3)
            assert silent.stalled == 5
            assert pool.running == 5
            assert pool.queued == 45
            for future in calls:
                future.cancel()
        finally:
            client.close()


@pytest.mark.parametrize("run", range(20))
async def test_a_healthy_busy_pool_never_grows_past_max_workers(framework, monkeypatch, run: int) -> None:
    pool = _bridge.WorkerPool(10)  # the default settings (a cold connection pool included)
    monkeypatch.setattr(_bridge, "_pool", pool)
    with FaultServer(docs=DOCS) as healthy:
        client = client_for(framework, healthy.uri)
        try:
            await client.db.coll.find_one()
            pool.reset_peak()
            found = await asyncio.gather(*(client.db.coll.find_one() for _ in range(300)))
            assert found == [DOCS[0]] * 300
            assert pool.peak_threads <= pool.max_workers
        finally:
            client.close()
            pool.shutdown(wait=False)


async def test_the_thread_ceiling_fails_a_call_with_a_clear_error(monkeypatch) -> None:
    pool = _bridge.WorkerPool(2, max_threads=4, queue_wait=0.05)
    monkeypatch.setattr(_bridge, "_pool", pool)
    loop = asyncio.get_running_loop()
    release = threading.Event()
    try:
        hanging = []
        for _ in range(4):  # four clients, each with a call that hangs: every thread taken
            future = loop.create_future()
            pool.submit(loop, future, release.wait, (30,), {}, lane=pool.new_lane(None))
            hanging.append(future)
        assert pool.thread_count == 4
        starved = loop.create_future()
        pool.submit(loop, starved, lambda: "never", (), {}, lane=pool.new_lane(None))
        with pytest.raises(_bridge.WorkerThreadsExhausted, match="MOTORLIKE_MAX_THREADS"):
            await starved
        release.set()
        await asyncio.gather(*hanging)
        # Threads free again: the next call runs.
        again = loop.create_future()
        pool.submit(loop, again, lambda: "ran", (), {}, lane=pool.new_lane(None))
        assert await again == "ran"
    finally:
        release.set()
        pool.shutdown(wait=False)


async def test_close_refuses_new_calls_at_once_and_collecting_warns_nothing(framework, pool) -> None:
    with FaultServer(docs=DOCS) as healthy:
        client = client_for(framework, healthy.uri)
        assert await client.db.coll.find_one() == DOCS[0]
        cursor = client.db.coll.find()
        client.close()  # not awaited
        with pytest.raises(InvalidOperation, match="after close"):
            await client.db.coll.find_one()
        with pytest.raises(InvalidOperation, match="after close"):
            await cursor.to_list(None)
        await cursor.close()  # cleaning up after close() is fine
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            other = client_for(framework, healthy.uri)
            assert await other.db.coll.find_one() == DOCS[0]
            other.close()
            del other
            gc.collect()
        assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_a_client_with_nothing_running_gets_a_thread_at_once(framework, pool) -> None:
    """R2, without waiting for the watchdog: the healthy client's first call
    starts a thread of its own while every core worker hangs."""
    with FaultServer("stall_ops") as silent, FaultServer(docs=DOCS) as healthy:
        stuck_client = client_for(framework, silent.uri, socketTimeoutMS=60000)
        other_client = client_for(framework, healthy.uri)
        try:
            await stuck_client.admin.command("ping")
            await other_client.admin.command("ping")
            hanging = [stuck_client.db.coll.find_one() for _ in range(pool.max_workers)]
            await wait_until(lambda: silent.stalled == pool.max_workers)
            assert pool.thread_count == pool.max_workers
            finding = other_client.db.coll.find_one()
            assert pool.thread_count == pool.max_workers + 1  # started by the call itself
            assert await finding == DOCS[0]
            for future in hanging:
                future.cancel()
        finally:
            stuck_client.close()
            other_client.close()



async def test_calls_failed_by_the_ceiling_move_their_strand_on(monkeypatch) -> None:
    """A strand whose call fails without ever running must not stay busy:
    its later calls fail the same way, then run once threads are free."""
    from motorlike._strand import Strand

    pool = _bridge.WorkerPool(1, max_threads=2, queue_wait=0.05)
    monkeypatch.setattr(_bridge, "_pool", pool)
    loop = asyncio.get_running_loop()
    release = threading.Event()
    try:
        hanging = []
        for _ in range(2):
            future = loop.create_future()
            pool.submit(loop, future, release.wait, (30,), {}, lane=pool.new_lane(None))
            hanging.append(future)
        strand, lane = Strand(), pool.new_lane(None)
        first, second = loop.create_future(), loop.create_future()
        pool.submit(loop, first, lambda: "first", (), {}, lane=lane, strand=strand)
        pool.submit(loop, second, lambda: "second", (), {}, lane=lane, strand=strand)
        for future in (first, second):
            with pytest.raises(_bridge.WorkerThreadsExhausted):
                await future
        assert strand.idle
        release.set()
        await asyncio.gather(*hanging)
        third = loop.create_future()
        pool.submit(loop, third, lambda: "third", (), {}, lane=lane, strand=strand)
        assert await third == "third"
    finally:
        release.set()
        pool.shutdown(wait=False)


class HandTimedLane:
    """One lane of a one-worker pool whose looks the test makes by hand.

    The watchdog waits ``queue_wait / 4`` (250 s) between looks, far longer
    than a test: after its first look, which :meth:`after_first_look` waits
    for, every look is the test's own, on a timeline the test sets. Calls
    submitted by :meth:`submit_hanging` block until the test ends.
    """

    queue_wait = 1000.0

    def __init__(self) -> None:
        self.pool = _bridge.WorkerPool(1, queue_wait=self.queue_wait)
        self.lane = self.pool.new_lane(None)
        self.release = threading.Event()
        self.running: dict[str, threading.Event] = {}

    def submit(self, fn: Callable[..., None], *args: object) -> None:
        self.pool.submit(None, NeverCancelled(), fn, args, {}, lambda *_: None, lane=self.lane)

    def submit_hanging(self, name: str) -> None:
        self.running[name] = threading.Event()  # made here, before a worker can look for it
        self.submit(self._hang, name)

    def _hang(self, name: str) -> None:
        self.running[name].set()
        self.release.wait()

    def started(self, name: str) -> bool:
        return self.running[name].wait(60)

    def after_first_look(self) -> None:
        """The watchdog's first look is on the real clock: let it pass first."""
        while self.pool.looks < 1:
            time.sleep(0.001)

    def look(self, now: float) -> list:
        """Start what a look at ``now`` finds due; return what it started."""
        with self.pool._lock:
            to_start, _to_fail, _cancelled = self.pool._look(now)
        self.pool._start_threads(to_start)  # counted as running already: run them
        return to_start

    def worker_running(self, job: object):
        (worker,) = [worker for worker in self.pool._workers if worker.running is job]
        return worker


@pytest.fixture
def hand_timed() -> HandTimedLane:
    lane = HandTimedLane()
    yield lane
    lane.release.set()
    lane.pool.shutdown(wait=False)


def test_a_stalled_lane_stays_stalled_until_one_of_its_calls_answers(hand_timed) -> None:
    """R3 without a staircase: calls started for a stalled lane wait for the
    same silent server, so the next overdue call gets its thread at the next
    look, not after those have hung a whole ``queue_wait`` again (with 1,000
    calls on a busy machine, the last ones missed their timeout by a whole
    timeout)."""
    queue_wait, lane = hand_timed.queue_wait, hand_timed.lane
    for name in ("hang", "a", "b"):
        hand_timed.submit_hanging(name)
    assert hand_timed.started("hang")
    hand_timed.after_first_look()
    start = time.monotonic()
    with hand_timed.pool._lock:
        job_a, job_b = lane.queue
        job_a.queued_at, job_b.queued_at = start, start + 100  # b was made 100 s after a
    first_look = start + queue_wait + 0.5  # a is overdue, b not yet
    assert hand_timed.look(first_look) == [job_a]
    assert hand_timed.started("a")
    with hand_timed.pool._lock:  # a started at the first look, on that timeline
        hand_timed.worker_running(job_a).running_since = first_look
    # b is overdue now; a has run for far less than queue_wait.
    assert hand_timed.look(start + 100 + queue_wait + 0.5) == [job_b]
    assert hand_timed.started("b")


def fail_with(error: BaseException | None) -> Callable[[], None]:
    def call() -> None:
        if error is not None:
            raise error

    return call


@pytest.mark.parametrize(
    ("outcome", "still_stalled"),
    [
        (ServerSelectionTimeoutError("no server"), True),
        (NetworkTimeout("silent socket"), True),
        (None, False),  # a result: the server answers
        (OperationFailure("refused"), False),  # an error, but the server's answer
        (ExecutionTimeout("maxTimeMS"), False),  # a timeout, but the server's answer
    ],
    ids=["selection-timeout", "network-timeout", "result", "server-error", "max-time"],
)
def test_a_call_that_fails_on_a_timeout_does_not_end_a_stall(hand_timed, outcome, still_stalled) -> None:
    """R3: a stall ends when one of the lane's calls answers, not when one
    times out. Else, with a thousand calls failing server selection on a
    loaded machine, the first failure ended the stall and the calls that
    became overdue after it waited for threads freed by later failures.
    The timeline is set in the past, so the real finish of ``a`` comes after
    every look but the last."""
    queue_wait, lane = hand_timed.queue_wait, hand_timed.lane
    hand_timed.submit_hanging("first")
    assert hand_timed.started("first")
    hand_timed.submit(fail_with(outcome))
    hand_timed.submit_hanging("b")
    hand_timed.submit_hanging("c")
    hand_timed.after_first_look()
    now = time.monotonic()
    with hand_timed.pool._lock:
        (first,) = [worker for worker in hand_timed.pool._workers if worker.running is not None]
        first.running_since = now - 3 * queue_wait
        # The lane's past on this timeline (the clock may have started
        # less than queue_wait ago): its last answer long before.
        lane.last_answered, lane.stalled_since = now - 6 * queue_wait, now - 7 * queue_wait
        job_a, job_b, job_c = lane.queue
        # a is overdue at the first look; b and c only at the second
        job_a.queued_at = now - 3 * queue_wait
        job_b.queued_at = job_c.queued_at = now - queue_wait - 0.5
    assert hand_timed.look(now - 1) == [job_a]
    # a's worker, freed, took b (R1): c is left to the watchdog.
    assert hand_timed.started("b")
    # Less than queue_wait after a finished: only a stall that outlived a's
    # end starts c now.
    assert hand_timed.look(time.monotonic()) == ([job_c] if still_stalled else [])


class CancelledAfterOneLook:
    """A waiter that gives up just after the watchdog first asks whether it has."""

    def __init__(self) -> None:
        self.looks = 0

    def cancelled(self) -> bool:
        self.looks += 1
        return self.looks > 1

    def done(self) -> bool:
        return self.cancelled()


def test_a_call_cancelled_during_the_watchdogs_look_is_kept_or_dropped_never_lost() -> None:
    """The watchdog drops cancelled calls from a lane's queue (their strands
    move on). A call cancelled while it looks must end up either dropped (and
    failed, so its strand moves on) or still queued: asking its waiter twice
    lost it, and its strand waited for it forever."""
    lane = Lane(None, lane_cap=10)
    gone = NeverCancelled()
    gone.cancelled = lambda: True  # type: ignore[method-assign]
    flipping = CancelledAfterOneLook()
    jobs = [Job(None, waiter, lambda *_: None, print, (), {}, lane, None) for waiter in (gone, flipping)]
    lane.queue.extend(jobs)
    lane.running, lane.last_answered = 1, 1.0  # a call runs and answers: no rule starts or fails anything
    to_start, to_fail, cancelled = lane.take_due(now=1.0, overdue=0.0, youngest_start=1.0, room=5)
    assert (to_start, to_fail) == ([], [])
    assert jobs[0] in cancelled
    assert (jobs[1] in cancelled) != (jobs[1] in lane.queue)
