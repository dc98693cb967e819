"""The worker pool: threads that run PyMongo's blocking calls, and the
per-client *lanes* that decide which call gets a thread next.

A *job* is one call plus the way its outcome reaches the caller:
``deliver(waiter, result, error)``, run on the caller's event loop (through
``loop.call_soon_threadsafe``), or on the worker itself when there is no
loop. ``waiter`` is anything with ``cancelled()`` and ``done()``; a job whose
waiter was cancelled before it started is skipped. A call that started
always runs to completion on its thread, so sockets go back to PyMongo's
pool in a clean state.

Every job belongs to a :class:`Lane`: one per client (its PyMongo
``MongoClient``), and one default lane for calls of no client. A lane runs
at most a limit of calls at once: the client's ``maxPoolSize`` times its known
servers (calls beyond it would only wait inside PyMongo for a connection,
each holding a thread), or, while no server is known yet, ``lane_cap``
(calls waiting out server selection need no connection, so they are not
bounded by the pool size). Calls beyond the limit wait in the lane, holding
no thread. The policy for threads, all of it:

R1. A job goes to an idle worker at once, else to a new thread while fewer
    than ``max_workers`` exist, else it waits in its lane. Free workers take
    the waiting jobs lane by lane, round robin, each lane in call order.
R2. A lane with nothing running gets a thread at once even when
    ``max_workers`` are busy with other lanes: one client's hanging calls
    never hold up another client's.
R3. A lane is *stalled* when every call it runs has run for ``queue_wait``
    and none of its calls answered in that time (its server went silent, or
    no server can be selected). It stays stalled until one of its calls
    answers: the calls R3 just started wait for the same server, so they
    need not hang ``queue_wait`` again before the next jobs get threads. A
    call that timed out waiting for a reply is no answer (the next ones
    would wait as long): else calls made late fail in waves.
    Each job of a stalled lane that has waited ``queue_wait`` gets a thread
    of its own (within the lane's limit), so a thousand calls waiting out a
    timeout fail together, on time.
R4. ``max_threads`` is the hard ceiling. A job of a lane with nothing
    running that cannot get a thread for ``queue_wait`` because of it fails
    with :class:`WorkerThreadsExhausted`, instead of waiting in silence.

So a healthy pool, however busy, never has more than ``max_workers``
threads for one client (R2 and R3 need a lane with nothing running, or one
whose calls all hang); growth needs no guess from timing but R3's, which
asks for a whole ``queue_wait`` (500 ms) in which not one of the lane's calls
answered. Threads beyond ``max_workers`` end after ``idle_timeout`` idle.

Invariants, kept under ``_lock``:

* a submitted job is in exactly one place: its strand (see _strand), its
  lane's queue, or a worker, which runs it (or skips it, if cancelled) and
  then delivers its outcome exactly once. A job that leaves without running
  (cancelled while queued, refused a thread, failed by R4, or its submit
  raised) goes through ``fail_unstarted`` (motorlike._jobs), which moves its
  strand on first and then delivers its error, if any: a strand is never
  left busy for a job that is nowhere, and it never raises (the watchdog
  survives anything);
* ``lane.running`` counts the lane's jobs on workers; a job starts only
  while ``lane.has_room()`` (the limit may fall later: a server lost);
* a lane is in ``_ready`` at most once; no worker idles while a lane in
  ``_ready`` can run a job (``_dispatch_to_idle`` after anything that may
  give a lane room or a job);
* ``_threads`` counts worker threads alive, never more than ``max_threads``;
  a new thread always starts with a job in hand.
"""

from __future__ import annotations

import _thread
import collections
import os
import threading
import time
from typing import Any, Callable

from motorlike import _affinity
from motorlike._jobs import (  # noqa: F401 - the pool's public names
    Job,
    Lane,
    WorkerThreadsExhausted,
    _deliver_outcome,
    answered,
    Worker,
    _execute,
    _log,
    fail_unstarted,
    deliver_safely,
    deliver_to_future,
)

#: Default for ``MOTORLIKE_MAX_WORKERS``: like Motor, blocking I/O, not CPU
#: work, so more threads than cores.
DEFAULT_MAX_WORKERS = (os.cpu_count() or 1) * 5
#: Default for ``MOTORLIKE_MAX_THREADS``, the hard ceiling.
DEFAULT_MAX_THREADS = 2048
#: Default for ``MOTORLIKE_QUEUE_WAIT_MS``: how long every call of a lane may
#: hang before its waiting calls get threads of their own (R3). Far above a
#: healthy call's time on a busy machine, far below any timeout a user sets.
DEFAULT_QUEUE_WAIT_MS = 500
#: Seconds an extra thread (beyond max_workers) stays idle before it ends.
IDLE_TIMEOUT = 30.0


#: Returned by _finish: the worker is on the idle stack.
_PARKED: Any = object()


class WorkerPool:
    """Daemon threads running jobs; see the module docstring for the policy."""

    def __init__(
        self,
        max_workers: int,
        max_threads: int = DEFAULT_MAX_THREADS,
        queue_wait: float = DEFAULT_QUEUE_WAIT_MS / 1000,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.max_workers = max_workers
        self.max_threads = max(max_threads, max_workers)
        self.queue_wait = queue_wait
        self.idle_timeout = idle_timeout
        #: One client's calls waiting out server selection take at most this
        #: many threads: half the ceiling is always left for the others.
        self.lane_cap = max(1, self.max_threads // 2)
        self._lock = threading.Lock()
        self._ready: collections.deque[Lane] = collections.deque()
        self._waiting: set[Lane] = set()  # lanes with jobs in their queue
        self._idle: list[Worker] = []
        self._threads = 0
        self._workers: set[Worker] = set()
        self._shut_down = False
        self._queued = threading.Condition(self._lock)  # the watchdog sleeps on it
        self._watchdog: threading.Thread | None = None
        #: The most threads alive at once since the last reset_peak().
        self.peak_threads = 0
        #: How many times the watchdog looked (tests wait on it).
        self.looks = 0
        self.default_lane = Lane(None, self.lane_cap)
        mode = _affinity.placement_mode_from_environment()
        read_cpu = _affinity.cpu_reader() if mode != "off" else None
        #: Where workers (and, in ``loop`` mode, callers) run: _affinity; None: off.
        self.placement = _affinity.Placement(read_cpu, mode == "loop") if read_cpu is not None else None

    def new_lane(self, client: Any) -> Lane:
        """A lane for the PyMongo ``client``'s calls."""
        return Lane(client, self.lane_cap)

    # -- submitting --------------------------------------------------------

    def submit(
        self,
        loop: Any,
        waiter: Any,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        deliver: Callable[[Any, Any, BaseException | None], None] = deliver_to_future,
        lane: Lane | None = None,
        strand: Any = None,
        cleanup: bool = False,
    ) -> None:
        """Run ``fn(*args, **kwargs)`` on a worker, then ``deliver(waiter, result, error)``.

        ``deliver`` runs on ``loop`` (anything with ``call_soon_threadsafe``),
        or on the worker if ``loop`` is None. ``lane``: the client's (default:
        the pool's own); raises InvalidOperation if that client was closed,
        unless the call is ``cleanup`` (a close, a kill). ``strand``: runs
        the call after the strand's earlier ones (_strand).
        """
        if lane is None:
            lane = self.default_lane
        elif lane.closed and not cleanup:
            lane.check_open()  # raises
        job = Job(loop, waiter, deliver, fn, args, kwargs, lane, strand)
        placement = self.placement
        if placement is not None and loop is not None:
            # W1: read without the lock; a hint of whether the loop is busy.
            job.cpu = placement.caller_cpu(lane.running > 0)
        if strand is not None and not strand.add(job):
            return  # it runs when the strand's earlier calls are over
        try:
            self.admit(job)
        except BaseException:
            # The caller hears of it from this raise; the strand's later
            # calls (made meanwhile on other threads) must still run.
            if strand is not None:
                fail_unstarted(self, job, None)
            raise

    def admit(self, job: Job) -> None:
        """Give ``job`` a worker, or queue it in its lane (R1, R2)."""
        lane = job.lane
        start_thread = False
        with self._lock:
            if self._shut_down:
                raise RuntimeError("motorlike's worker pool has been shut down")
            if not lane.queue and (lane.running < lane.floor or lane.has_room()):
                if self._idle:
                    lane.running += 1
                    worker = self._idle.pop()
                    worker.job = job
                    worker.wake.release()
                    return
                if self._threads < self.max_workers or (lane.running == 0 and self._threads < self.max_threads):
                    lane.running += 1
                    self._threads += 1
                    start_thread = True
            if not start_thread:
                # The watchdog first: if no thread can be had for it, the
                # job is not queued and the caller alone hears of it.
                self._ensure_watchdog()
                self._enqueue(job)
        if start_thread:
            self._start_thread(job)

    def _enqueue(self, job: Job) -> None:
        # Under _lock.
        lane = job.lane
        job.queued_at = time.monotonic()
        lane.queue.append(job)
        if lane not in self._waiting:
            self._waiting.add(lane)
            self._queued.notify()
        self._mark_ready(lane)
        self._dispatch_to_idle()

    def _mark_ready(self, lane: Lane) -> None:
        # Under _lock: round robin among the lanes that can run a job now.
        if lane.queue and not lane.ready and lane.has_room():
            lane.ready = True
            self._ready.append(lane)

    def _dispatch_to_idle(self) -> None:
        # Under _lock: keeps "no worker idles while a ready lane could run".
        while self._idle:
            job = self._take_ready_job()
            if job is None:
                return
            worker = self._idle.pop()
            worker.job = job
            worker.wake.release()

    def _start_thread(self, job: Job) -> None:
        """Start a thread with ``job`` in hand; _threads and lane.running count it.

        If the OS refuses a thread, the counts are taken back and the error
        raised: the job is not queued, so its caller is the only one to know.
        """
        # A bare thread: threading.Thread.start() waits until the new thread
        # runs, which costs up to a GIL switch interval each.
        worker = Worker(job)
        with self._lock:
            self._workers.add(worker)
            self.peak_threads = max(self.peak_threads, self._threads)
        placement = self.placement
        try:
            if placement is not None:
                placement.starting_worker(True)
            _thread.start_new_thread(self._work, (worker,))
        except BaseException:
            with self._lock:
                self._workers.discard(worker)
                self._threads -= 1
                job.lane.running -= 1
                # Its lane may have room again for calls queued meanwhile.
                self._mark_ready(job.lane)
                self._dispatch_to_idle()
            raise
        finally:
            if placement is not None:
                placement.starting_worker(False)

    # -- the workers -------------------------------------------------------

    def _work(self, me: Worker) -> None:
        job = me.job
        me.job = None
        placement = self.placement
        if placement is not None:
            placement.worker_started()
        while job is not None:
            if job.cpu >= 0 and placement is not None:
                placement.follow(job.cpu)
            # Read by the watchdog as a hint: the time first, then the job.
            me.running_since = time.monotonic()
            me.running = job
            if placement is None:
                outcome = _execute(job)
            else:
                threads_before = placement.threads_before_a_job()
                outcome = _execute(job)
                placement.after_a_job(threads_before)
            # The strand's next call is taken before this one's outcome is
            # delivered: its caller then finds the strand as it left it.
            follow_up = job.strand.next_after(job) if job.strand is not None else None
            job = self._finish(me, job, follow_up, answered(outcome))
            if outcome is not None:
                _deliver_outcome(outcome)
                del outcome
            if job is _PARKED:
                job = self._wait_for_job(me)
        if placement is not None:
            placement.worker_ending()

    def _finish(self, me: Worker, done: Job, follow_up: Job | None, with_answer: bool) -> Any:
        """This worker's next job (``follow_up`` if its lane has room), or _PARKED."""
        with self._lock:
            me.running, me.running_since = None, 0.0
            lane = done.lane
            lane.running -= 1
            if with_answer:
                lane.last_answered = time.monotonic()
            self._mark_ready(lane)
            if follow_up is not None:
                next_lane = follow_up.lane
                if not next_lane.queue and next_lane.has_room():
                    next_lane.running += 1
                    return follow_up
                self._enqueue(follow_up)
                self._ensure_watchdog_quietly()
            job = self._take_ready_job()
            if job is not None:
                return job
            if self._shut_down:
                self._leave(me)
                return None
            self._idle.append(me)
            return _PARKED

    def _take_ready_job(self) -> Job | None:
        # Under _lock: the first job of the next lane in turn.
        ready = self._ready
        while ready:
            lane = ready.popleft()
            lane.ready = False
            if not lane.queue or not lane.has_room():
                continue
            job = lane.queue.popleft()
            lane.running += 1
            if not lane.queue:
                self._waiting.discard(lane)
            self._mark_ready(lane)
            return job
        return None

    def _leave(self, me: Worker) -> None:
        # Under _lock: this worker's thread ends.
        self._threads -= 1
        self._workers.discard(me)

    def _wait_for_job(self, me: Worker) -> Job | None:
        """Sleep until handed a job; None when this thread should end."""
        while True:
            extra = self._threads > self.max_workers
            if me.wake.acquire(timeout=self.idle_timeout if extra else -1):
                job = me.job
                me.job = None
                if job is None:  # shutdown
                    with self._lock:
                        self._leave(me)
                return job
            with self._lock:
                if me in self._idle and self._threads > self.max_workers:
                    self._idle.remove(me)
                    self._leave(me)
                    return None
            # Handed a job just as the wait timed out, or a core thread now:
            # wait again (an already released wake returns at once).

    # -- the watchdog ------------------------------------------------------

    def _ensure_watchdog(self) -> None:
        # Under _lock.
        if self._watchdog is None:
            watchdog = threading.Thread(target=self._watch, name="motorlike-pool-watchdog", daemon=True)
            watchdog.start()  # may raise: then there is none yet, and the next submit tries again
            self._watchdog = watchdog

    def _ensure_watchdog_quietly(self) -> None:
        # Under _lock, on a worker: a job queued here is taken by R1 anyway
        # when its lane has room; the watchdog only adds R2-R4 to that.
        try:
            self._ensure_watchdog()
        except BaseException as exc:  # noqa: BLE001 - retried by the next submit that queues
            _log.error("motorlike: could not start the pool's watchdog", exc_info=exc)

    def _watch(self) -> None:
        """Apply R2-R4 to the lanes with waiting jobs, every quarter of ``queue_wait``."""
        while True:
            with self._lock:
                while not self._shut_down and not self._waiting:
                    self._queued.wait()
                if self._shut_down:
                    return
                to_start, to_fail, cancelled = self._look(time.monotonic())
            try:
                self._start_threads(to_start)
                for job in to_fail:
                    fail_unstarted(self, job, WorkerThreadsExhausted.at(self._threads, self.max_threads))
                for job in cancelled:
                    fail_unstarted(self, job, None)
            except BaseException as exc:  # noqa: BLE001 - the watchdog must outlive anything
                _log.error("motorlike: the pool's watchdog hit an error", exc_info=exc)
            time.sleep(self.queue_wait / 4)

    def _look(self, now: float) -> tuple[list[Job], list[Job], list[Job]]:
        # Under _lock.
        self.looks += 1
        youngest: dict[Lane, float] = {}
        for worker in self._workers:
            job = worker.running
            if job is not None:
                youngest[job.lane] = max(youngest.get(job.lane, 0.0), worker.running_since)
        to_start: list[Job] = []
        to_fail: list[Job] = []
        cancelled: list[Job] = []
        room = self.max_threads - self._threads
        overdue = now - self.queue_wait
        self._dispatch_to_idle()  # a lane's room may have grown (a server became known)
        for lane in list(self._waiting):
            starting, failing, dropped = lane.take_due(now, overdue, youngest.get(lane, now), room)
            room -= len(starting)
            to_start += starting
            to_fail += failing
            cancelled += dropped
            if not lane.queue:
                self._waiting.discard(lane)
            else:
                self._mark_ready(lane)
        self._threads += len(to_start)
        return to_start, to_fail, cancelled

    def _start_threads(self, jobs: list[Job]) -> None:
        """Start a thread for each job. If the OS refuses one (a pids limit
        below MOTORLIKE_MAX_THREADS), the jobs go back to their lanes to be
        tried again at the next look; one still refused ``queue_wait`` after
        its first refusal fails as R4 says."""
        for index, job in enumerate(jobs):
            try:
                self._start_thread(job)
            except BaseException as exc:  # noqa: BLE001 - out of threads
                rest = jobs[index:]
                now = time.monotonic()
                for later in rest:
                    later.refused_at = later.refused_at or now
                to_fail = [later for later in rest if now - later.refused_at >= self.queue_wait]
                with self._lock:
                    # _start_thread took back the counts of the one it failed.
                    self._threads -= len(rest) - 1
                    for later in rest[1:]:
                        later.lane.running -= 1
                    for later in reversed(rest):
                        if later not in to_fail:
                            later.lane.queue.appendleft(later)
                            self._waiting.add(later.lane)
                    for later in rest:
                        self._mark_ready(later.lane)
                    self._dispatch_to_idle()
                _log.error("motorlike: could not start a worker thread", exc_info=exc)
                for later in to_fail:
                    fail_unstarted(self, later, WorkerThreadsExhausted.at(self._threads, self.max_threads, exc))
                return

    # -- inspection and shutdown ---------------------------------------------

    @property
    def thread_count(self) -> int:
        """Worker threads alive now."""
        return self._threads

    @property
    def running(self) -> int:
        """Calls running now."""
        with self._lock:
            return sum(1 for worker in self._workers if worker.running is not None)

    @property
    def queued(self) -> int:
        """Jobs waiting for a thread now."""
        with self._lock:
            return sum(len(lane.queue) for lane in self._waiting)

    def reset_peak(self) -> None:
        with self._lock:
            self.peak_threads = self._threads

    def shutdown(self, wait: bool = True) -> None:
        """Stop the workers once the queued work is done."""
        with self._lock:
            self._shut_down = True
            idle, self._idle = self._idle, []
            self._queued.notify_all()
        for worker in idle:
            worker.job = None
            worker.wake.release()
        if wait:
            deadline = time.monotonic() + 10
            while self._threads and time.monotonic() < deadline:
                time.sleep(0.005)
