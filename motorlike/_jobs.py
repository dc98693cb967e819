"""Jobs and lanes: what the worker pool (motorlike._pool) runs, and for whom.

A *job* is one call plus the way its outcome reaches the caller:
``deliver(waiter, result, error)``, run on the caller's event loop (through
``loop.call_soon_threadsafe``), or on the worker itself when there is no
loop. A *lane* holds one client's jobs that wait for a thread, and counts
those running; the pool's policy (its docstring) decides between lanes.
"""

from __future__ import annotations

import collections
import contextvars
import logging
import sys
import threading
import time
from typing import Any, Callable

import pymongo
from pymongo.errors import (
    InvalidOperation,
    NetworkTimeout,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from motorlike._internals import _caller_timeout

_UNLIMITED = sys.maxsize
#: A call that waited for a thread at least this share of its client's
#: timeoutMS gets only what is left of it, for the whole call: so it fails at
#: most this share of timeoutMS late. One that waited less (a busy pool)
#: keeps PyMongo's timeoutMS per operation.
LATE_SHARE = 0.1
#: Errors of a call that waited for a reply and got none (see answered()).
_NO_REPLY = (ServerSelectionTimeoutError, NetworkTimeout, WaitQueueTimeoutError)
_log = logging.getLogger("motorlike")


class WorkerThreadsExhausted(PyMongoError):
    """No worker thread could be had for a call: ``MOTORLIKE_MAX_THREADS``
    threads are all busy with calls that do not finish (R4)."""

    @classmethod
    def at(cls, threads: int, max_threads: int, cause: BaseException | None = None) -> WorkerThreadsExhausted:
        error = cls(
            f"no worker thread for this call: all {threads} threads are busy with calls that do not "
            f"finish, and no more could be started (MOTORLIKE_MAX_THREADS is {max_threads})"
        )
        error.__cause__ = cause
        return error


def deliver_to_future(future: Any, result: Any, error: BaseException | None) -> None:
    """The usual ``deliver``: resolve a future, unless its waiter gave up.

    Runs on the future's loop. A cancelled waiter's outcome is dropped,
    never an InvalidStateError.
    """
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def deliver_safely(deliver: Callable[..., None], waiter: Any, result: Any, error: BaseException | None) -> None:
    """``deliver(waiter, result, error)``; if that raises, the waiter gets the
    error: an outcome that cannot be delivered fails the call, never only a log line."""
    try:
        deliver(waiter, result, error)
    except Exception as exc:  # noqa: BLE001 - handed to the waiter
        if waiter.done():
            raise
        waiter.set_exception(exc)


class Job:
    """One call and where its outcome goes."""

    __slots__ = (
        "loop", "waiter", "deliver", "context", "fn", "args", "kwargs", "lane", "strand", "cpu", "queued_at", "refused_at"
    )

    def __init__(
        self, loop: Any, waiter: Any, deliver: Callable[..., None], fn: Callable[..., Any],
        args: tuple, kwargs: dict, lane: Lane, strand: Any,
    ) -> None:
        self.loop = loop
        self.waiter = waiter
        self.deliver = deliver
        self.context = contextvars.copy_context()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.lane = lane
        self.strand = strand
        self.cpu = -1  # the caller's CPU, with worker affinity
        self.queued_at = 0.0  # set when it waits in its lane
        self.refused_at = 0.0  # when the OS first refused a thread for it


class Worker:
    """One pool thread's parking spot: it sleeps on ``wake`` until handed a job."""

    __slots__ = ("job", "wake", "running", "running_since")

    def __init__(self, job: Job) -> None:
        self.job: Job | None = job
        self.wake = threading.Lock()
        self.wake.acquire()  # held while there is nothing to do
        # What the watchdog reads, under the pool's lock.
        self.running: Job | None = None
        self.running_since = 0.0


class Lane:
    """One client's calls: how many run, and those waiting for a thread.

    Made by the pool (:meth:`WorkerPool.new_lane`); all state but ``closed``
    is read and written under the pool's lock.
    """

    __slots__ = (
        "client", "queue", "running", "floor", "cap", "ready", "last_answered", "stalled_since", "closed", "timeout"
    )

    def __init__(self, client: Any, lane_cap: int) -> None:
        #: The PyMongo MongoClient, or None for the default lane.
        self.client = client
        self.queue: collections.deque[Job] = collections.deque()
        self.running = 0
        self.ready = False
        #: When one of its calls last finished with an answer (see answered()).
        self.last_answered = 0.0
        #: When R3 last found it stalled; it stays so until a call answers after that.
        self.stalled_since = -1.0
        #: Set by ``client.close()``: new calls raise InvalidOperation at once.
        self.closed = False
        #: The client's timeoutMS in seconds (never changes: read without the
        #: lock); see LATE_SHARE.
        self.timeout: float | None = None
        self.cap = lane_cap
        #: Calls it may always run: the client's pool size (a connection each).
        self.floor = _UNLIMITED
        if client is not None:
            self.timeout = client.options.timeout
            size = client.options.pool_options.max_pool_size
            self.floor = min(size, lane_cap) if size else lane_cap

    def has_room(self) -> bool:
        """Whether one more of its calls may run: below the pool size times
        the known servers, or, while no server is known, below ``cap``
        (calls waiting out server selection hold no connection)."""
        running = self.running
        if running < self.floor:
            return True
        try:  # past the floor only: the topology is read on this rare path
            known = len(self.client.topology_description.known_servers)
        except Exception:  # noqa: BLE001 - a client torn down: no better bound than the cap
            known = 0
        return running < (self.cap if not known else min(self.cap, self.floor * known))

    def take_due(self, now: float, overdue: float, youngest_start: float, room: int) -> tuple[list, list, list]:
        """The watchdog's look at this lane, which has jobs waiting: R2-R4 of the pool's policy.

        Under the pool's lock. ``overdue``: what was queued (or started)
        before it has waited ``queue_wait``; ``youngest_start``: when its
        latest running call started (``now`` if none runs); ``room``: threads
        the pool may still start. Returns the jobs to start (counted in
        ``running`` already), those to fail for want of a thread (R4), and
        cancelled ones to drop now (their strands move on), not when a thread
        would have reached them.
        """
        to_start: list[Job] = []
        to_fail: list[Job] = []
        # One look at each waiter: one cancelled between two looks would be
        # neither kept nor dropped, and its strand would wait for it forever.
        kept: collections.deque[Job] = collections.deque()
        cancelled: list[Job] = []
        for job in self.queue:
            (cancelled if job.waiter.cancelled() else kept).append(job)
        if cancelled:
            self.queue = kept
        stalled = bool(self.running) and self.last_answered <= overdue and (
            self.stalled_since > self.last_answered or youngest_start <= overdue
        )
        if stalled and self.stalled_since <= self.last_answered:
            self.stalled_since = now
        if stalled:  # R3: each job that waited queue_wait gets a thread
            while self.queue and self.has_room() and len(to_start) < room and self.queue[0].queued_at <= overdue:
                self.running += 1
                to_start.append(self.queue.popleft())
        elif self.queue and not self.running and room:  # R2
            self.running += 1
            to_start.append(self.queue.popleft())
        if self.queue and not self.running and not room:
            while self.queue and self.queue[0].queued_at <= overdue:  # R4
                to_fail.append(self.queue.popleft())
        return to_start, to_fail, cancelled

    def check_open(self) -> None:
        if self.closed:
            raise InvalidOperation("Cannot use MongoClient after close")


def _execute(job: Job) -> tuple | None:
    """Run a job's call; what to deliver, or None if its waiter had given up."""
    if job.waiter.cancelled():
        # Cancelled before it started (reading the state from this thread is
        # racy only towards running it anyway): skipped, as an executor does.
        return None
    try:
        lane = job.lane
        waited = time.monotonic() - job.queued_at if job.queued_at else 0.0
        if lane.timeout and waited >= lane.timeout * LATE_SHARE and job.context.run(_caller_timeout) is None:
            # It waited long for a thread (the client's calls before it hang,
            # or the pool is overloaded): PyMongo's timeoutMS counts from the
            # call, as for a call that waited for a connection. (Inside
            # pymongo.timeout(), PyMongo's own deadline, set before the call
            # was made, decides anyway.)
            result = job.context.run(_within, lane.timeout - waited, job.fn, job.args, job.kwargs)
        else:
            result = job.context.run(job.fn, *job.args, **job.kwargs)
        return job.loop, job.deliver, job.waiter, result, None
    except (StopIteration, StopAsyncIteration) as exc:
        # No future takes these (asyncio refuses them): as PyMongo's async API.
        error = RuntimeError(f"a call on a worker thread raised {type(exc).__name__}")
        error.__cause__ = exc
        return job.loop, job.deliver, job.waiter, None, error
    except BaseException as exc:  # noqa: BLE001 - handed to the caller
        return job.loop, job.deliver, job.waiter, None, exc


def answered(outcome: tuple | None) -> bool:
    """Whether a finished job shows its lane's server answering (R3 of the
    pool's policy ends a stall only then): it ran, and did not time out
    waiting for a reply (no server selectable, a silent socket, no
    connection). A maxTimeMS or wtimeout error is the server's answer; a job
    skipped (cancelled before it started) says nothing."""
    if outcome is None:
        return False
    return not isinstance(outcome[4], _NO_REPLY)


def _within(left: float, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``fn(*args, **kwargs)`` with ``left`` seconds of the client's timeoutMS
    as one deadline for the whole call; WaitQueueTimeoutError if none is left."""
    if left <= 0:
        raise WaitQueueTimeoutError(
            "timed out waiting for a worker thread (timeoutMS): the client's calls before this one are still running"
        )
    with pymongo.timeout(left):
        return fn(*args, **kwargs)


def _deliver_outcome(outcome: tuple) -> None:
    loop, deliver, waiter, result, error = outcome
    if loop is None:
        try:
            deliver_safely(deliver, waiter, result, error)
        except BaseException as exc:  # noqa: BLE001 - a worker must never die of it
            _log.error("motorlike: a background call's outcome could not be delivered", exc_info=exc)
        return
    try:
        loop.call_soon_threadsafe(deliver, waiter, result, error)
    except RuntimeError:
        # The loop was closed while we worked: nobody is waiting there.
        pass
    except BaseException as exc:  # noqa: BLE001 - a worker must never die of it (it may be parked already)
        _log.error("motorlike: an outcome could not be handed to its event loop", exc_info=exc)


def fail_unstarted(pool: Any, job: Job, error: BaseException | None) -> None:
    """Outside the pool's lock: a job that never ran ends with ``error`` (None: its
    caller knows already, or gave up). Its strand moves on first, as after a
    call that ran; each following call is admitted, or fails with the reason
    it cannot be. Never raises."""
    while True:
        follow_up = job.strand.next_after(job) if job.strand is not None else None
        if error is not None:
            _deliver_outcome((job.loop, job.deliver, job.waiter, None, error))
        if follow_up is None:
            return
        try:
            pool.admit(follow_up)
            return
        except BaseException as exc:  # noqa: BLE001 - handed to that call's caller
            job, error = follow_up, exc
