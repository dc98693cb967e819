"""The thread bridge: blocking PyMongo calls run on worker threads, their
outcomes delivered to the caller's event loop.

Three parts, all here: the process-wide :class:`WorkerPool` (below), the
per-object ordering of calls on PyMongo objects that are not thread-safe
(:class:`SerializedWorkerCalls`, :func:`run_locked`), and calls nobody has
to wait for (:class:`BackgroundCall`). Each framework (motorlike.frameworks)
says how a result reaches its loop; the pool only calls
``call_soon_threadsafe`` on what the framework gives it.

All frameworks share one pool. A *job* is one PyMongo call plus the way its
outcome reaches the caller: ``deliver(waiter, result, error)``, run on the
caller's event loop (through ``call_soon_threadsafe``), or on the worker
thread itself when there is no loop. ``waiter`` is anything with a
``cancelled()`` method (an asyncio future, a ``concurrent.futures.Future``);
a job whose waiter was cancelled before it started is skipped.

A call whose caller stops waiting always runs to completion on its thread,
so sockets go back to PyMongo's pool in a clean state. Such a call may hang
for as long as the server does (a socket timeout, or forever without one),
so the pool must not let it starve everything else. The policy, all of it:

1. A job goes to an idle worker at once (the most recently idle one: its
   stack and caches are warm).
2. Otherwise, while fewer than ``max_workers`` threads exist, a new one is
   started for it at once.
3. Otherwise it waits in the queue. The pool's watchdog looks again once the
   oldest job has waited ``queue_wait`` seconds, and every ``queue_wait``
   while jobs wait:

   * a worker is *stuck* when its caller has given up, or its call has
     run longer than ``queue_wait``. Stuck workers do not count against
     ``max_workers``: new threads replace them, unless the process used
     most of a CPU meanwhile (then calls are slow because they compute or
     wait for the GIL, and more threads would only slow them down more);
   * if no call at all finished during the last ``queue_wait`` (every
     worker stuck: a server down, a server that stopped answering), every
     job that has waited ``queue_wait`` gets a thread of its own, so a
     thousand calls waiting out server selection fail together, on time.

   Both are bounded by the hard ceiling ``max_threads``.

So a burst of quick calls runs on ``max_workers`` threads, as in Motor, a
busy but healthy pool does not grow, and calls that block cannot hold up
the others for much longer than ``queue_wait``. Threads beyond
``max_workers`` end after ``idle_timeout`` seconds idle.

Invariants, kept under ``_lock``:

* every submitted job is in exactly one place: the queue, or handed to one
  worker (which runs it, then delivers it exactly once);
* a worker is on the idle stack only while the queue is empty (a worker
  parks only after finding the queue empty, and a submit hands a job to an
  idle worker before it would queue it);
* ``_threads`` counts the worker threads alive, and never exceeds
  ``max_threads``; a new thread is always started with a job in hand.
"""

from __future__ import annotations

import _thread
import atexit
import collections
import concurrent.futures
import contextvars
import os
import threading
import time
from typing import Any, Callable

#: Default for ``MOTORLIKE_MAX_WORKERS``: like Motor, blocking I/O, not CPU
#: work, so more threads than cores.
DEFAULT_MAX_WORKERS = (os.cpu_count() or 1) * 5
#: Default for ``MOTORLIKE_MAX_THREADS``, the hard ceiling. Room for a
#: thousand calls waiting out server selection at once; such threads sleep.
DEFAULT_MAX_THREADS = 2048
#: Default for ``MOTORLIKE_QUEUE_WAIT_MS``: far above a healthy call's time
#: in the queue, far below any timeout a user would set.
DEFAULT_QUEUE_WAIT_MS = 25
#: Share of one CPU the process may use while the watchdog still replaces
#: slow workers; above it, slowness is computing, not waiting.
CPU_SATURATED = 0.8
#: Seconds an extra thread (beyond max_workers) stays idle before it ends.
IDLE_TIMEOUT = 30.0


def _positive_int_from_environment(names: tuple[str, ...], default: int) -> int:
    for variable in names:
        raw = os.environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{variable} must be a positive integer, not {raw!r}") from None
        if value < 1:
            raise ValueError(f"{variable} must be a positive integer, not {raw!r}")
        return value
    return default


def max_workers_from_environment() -> int:
    """Read ``MOTORLIKE_MAX_WORKERS``, falling back to ``MOTOR_MAX_WORKERS``."""
    return _positive_int_from_environment(("MOTORLIKE_MAX_WORKERS", "MOTOR_MAX_WORKERS"), DEFAULT_MAX_WORKERS)


def max_threads_from_environment() -> int:
    """Read ``MOTORLIKE_MAX_THREADS``, the pool's hard ceiling on threads."""
    return _positive_int_from_environment(("MOTORLIKE_MAX_THREADS",), DEFAULT_MAX_THREADS)


def queue_wait_from_environment() -> float:
    """Read ``MOTORLIKE_QUEUE_WAIT_MS``; returns seconds."""
    return _positive_int_from_environment(("MOTORLIKE_QUEUE_WAIT_MS",), DEFAULT_QUEUE_WAIT_MS) / 1000


def worker_affinity_from_environment() -> bool:
    """Read ``MOTORLIKE_WORKER_AFFINITY`` (``1``: on; Linux only).

    On, each thread that starts motorlike calls (an event loop's) is pinned
    to the CPU it is on at its first call, and its calls run on workers
    pinned to that CPU: no wake-up between a loop and its workers crosses
    cores. Threads started inside a call (PyMongo's monitors) inherit the
    CPU. Off by default: it changes the application's own thread placement.
    """
    raw = os.environ.get("MOTORLIKE_WORKER_AFFINITY", "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"MOTORLIKE_WORKER_AFFINITY must be 1 or 0, not {raw!r}")


def _cpu_reader() -> Callable[[], int] | None:
    """glibc's ``sched_getcpu`` (a vDSO read, no system call), if there is one."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        import ctypes

        # PyDLL keeps the GIL across the call: CDLL would release and take
        # it back on every submit, a stall of up to a switch interval when
        # workers are busy.
        function = ctypes.PyDLL(None).sched_getcpu
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_int
    function.argtypes = []
    return function


def deliver_to_future(future: Any, result: Any, error: BaseException | None) -> None:
    """The usual ``deliver``: resolve an asyncio future, unless its waiter gave up.

    Runs on the future's loop. A cancelled waiter's outcome is dropped,
    never an InvalidStateError.
    """
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class _Worker:
    """One thread's parking spot: it sleeps on ``wake`` until handed a job."""

    __slots__ = ("job", "wake", "running_since", "waiter", "cpu")

    def __init__(self, job: tuple) -> None:
        self.job: tuple | None = job
        self.cpu = -1  # the CPU this thread is pinned to, with worker affinity
        self.wake = threading.Lock()
        self.wake.acquire()  # held while there is nothing to do
        # What the watchdog reads (without the lock: a hint, not a promise).
        self.running_since = 0.0  # 0.0 while idle
        self.waiter: Any = None

    def stuck(self, now: float, queue_wait: float) -> bool:
        """See the module docstring; read by the watchdog without the lock."""
        since, waiter = self.running_since, self.waiter
        if not since:
            return False
        if waiter is not None and waiter.cancelled():
            return True
        return now - since >= queue_wait


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
        self._lock = threading.Lock()
        self._queue: collections.deque = collections.deque()
        self._idle: list[_Worker] = []
        self._threads = 0
        self._workers: set[_Worker] = set()
        self._completed = 0
        self._shut_down = False
        # The watchdog sleeps on this until work is queued.
        self._queued = threading.Condition(self._lock)
        self._watchdog: threading.Thread | None = None
        # _completed when the queue last became non-empty, or at the
        # watchdog's last look: tells whether any call finished since.
        self._completed_mark = 0
        # (monotonic, process CPU seconds) at the same moments.
        self._cpu_mark = (0.0, 0.0)
        # With worker affinity, each job carries its caller's CPU.
        self._read_cpu = _cpu_reader() if worker_affinity_from_environment() else None

    # -- submitting --------------------------------------------------------

    def submit(
        self,
        loop: Any,
        waiter: Any,
        fn: Callable[..., Any],
        args: tuple,
        kwargs: dict,
        deliver: Callable[[Any, Any, BaseException | None], None] = deliver_to_future,
    ) -> None:
        """Run ``fn(*args, **kwargs)`` on a worker, then ``deliver(waiter, result, error)``.

        ``deliver`` runs on ``loop`` (any object with ``call_soon_threadsafe``),
        or on the worker thread if ``loop`` is None. It runs once, unless the
        loop was closed meanwhile.
        """
        read_cpu = self._read_cpu
        cpu = -1 if read_cpu is None else _caller_cpu(read_cpu)
        job = (loop, waiter, deliver, contextvars.copy_context(), fn, args, kwargs, cpu, time.monotonic())
        with self._lock:
            if self._shut_down:
                raise RuntimeError("motorlike's worker pool has been shut down")
            if self._idle:
                worker = self._idle.pop()
                worker.job = job
                worker.wake.release()
                return
            if self._threads < self.max_workers:
                self._threads += 1
                start_now = True
            else:
                # The watchdog first: if no thread can be had for it, the
                # job is not queued and the caller alone hears of it.
                self._ensure_watchdog()
                self._queue.append(job)
                start_now = False
                if len(self._queue) == 1:
                    self._completed_mark = self._completed
                    self._cpu_mark = (job[-1], time.process_time())
                    self._queued.notify()
        if start_now:
            self._start_thread(job)

    def _start_thread(self, job: tuple) -> None:
        """Start a thread with ``job`` in hand; _threads already counts it.

        If the OS refuses a thread, the count is taken back and the error
        raised: the job is not queued, so its caller is the only one to know.
        """
        # A bare thread, like a daemon one: threading.Thread.start() waits
        # until the new thread runs, which costs up to a GIL switch interval
        # each when the watchdog starts hundreds at once.
        worker = _Worker(job)
        with self._lock:
            self._workers.add(worker)
        try:
            _thread.start_new_thread(self._work, (worker,))
        except BaseException:
            with self._lock:
                self._workers.discard(worker)
                self._threads -= 1
            raise

    def _put_back(self, jobs: list[tuple]) -> None:
        # Under _lock: jobs the watchdog popped but could not start go back
        # to the front, in order; idle workers (none should be, but a worker
        # may have parked meanwhile) take the first ones.
        jobs = list(jobs)
        while jobs and self._idle:
            worker = self._idle.pop()
            worker.job = jobs.pop(0)
            worker.wake.release()
        self._queue.extendleft(reversed(jobs))

    # -- the workers -------------------------------------------------------

    def _work(self, me: _Worker) -> None:
        job = me.job
        me.job = None
        while job is not None:
            if job[7] != me.cpu and job[7] >= 0:
                _run_on_cpu(me, job[7])
            me.waiter = job[1]
            me.running_since = time.monotonic()
            outcome = _execute(job)
            me.running_since = 0.0
            me.waiter = None
            del job
            # Idle (or holding the next job) *before* the caller hears back:
            # a caller that submits its next call at once reuses this thread.
            job = self._next_job_or_park(me)
            if outcome is not None:
                _deliver_outcome(outcome)
                del outcome
            if job is _PARKED:
                job = self._wait_for_job(me)

    def _next_job_or_park(self, me: _Worker) -> Any:
        with self._lock:
            self._completed += 1
            if self._queue:
                return self._queue.popleft()
            if self._shut_down:
                self._leave(me)
                return None
            self._idle.append(me)
            return _PARKED

    def _leave(self, me: _Worker) -> None:
        # Under _lock: this worker's thread ends.
        self._threads -= 1
        self._workers.discard(me)

    def _wait_for_job(self, me: _Worker) -> tuple | None:
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

    def _watch(self) -> None:
        """Start threads for jobs that waited ``queue_wait`` (see the module docstring)."""
        to_start: list[tuple] = []
        while True:
            with self._lock:
                self._wait_for_overdue_job()
                if self._shut_down:
                    return
                # Look again one queue_wait later, whatever happens now.
                next_look = time.monotonic() + self.queue_wait
                self._take_jobs_to_start(to_start)
                self._completed_mark = self._completed
                self._cpu_mark = (time.monotonic(), time.process_time())
            for started, job in enumerate(to_start):
                try:
                    self._start_thread(job)
                except BaseException as exc:  # noqa: BLE001 - out of threads: retry at the next look
                    with self._lock:
                        self._threads -= len(to_start) - started - 1
                        self._put_back(to_start[started:])
                    _log_background_error("could not start a worker thread", exc)
                    break
            to_start.clear()
            with self._lock:
                while not self._shut_down and time.monotonic() < next_look:
                    self._queued.wait(max(0.0, next_look - time.monotonic()))

    def _wait_for_overdue_job(self) -> None:
        # Under _lock: until the oldest queued job has waited queue_wait.
        while not self._shut_down:
            if not self._queue:
                self._queued.wait()
                continue
            due = self._queue[0][-1] + self.queue_wait
            now = time.monotonic()
            if now >= due:
                return
            self._queued.wait(due - now)

    def _cpu_saturated(self, now: float) -> bool:
        # Under _lock: did the process use most of a CPU since the last look?
        cpu = time.process_time()
        then, cpu_then = self._cpu_mark  # _watch moves the mark after each look
        return now > then and (cpu - cpu_then) / (now - then) > CPU_SATURATED

    def _take_jobs_to_start(self, to_start: list[tuple]) -> None:
        # Under _lock: pop the queued jobs that get a new thread now.
        now = time.monotonic()
        room = self.max_threads - self._threads
        if self._completed == self._completed_mark:
            # No call finished since the last look: everything is stuck.
            wanted = len(self._queue)
        elif self._cpu_saturated(now):
            wanted = 0
        else:
            # Calls are finishing: replace the stuck workers.
            working = sum(1 for worker in self._workers if worker.running_since and not worker.stuck(now, self.queue_wait))
            wanted = self.max_workers - working
        queue = self._queue
        while queue and len(to_start) < min(wanted, room) and queue[0][-1] + self.queue_wait <= now:
            job = queue.popleft()
            if job[1].cancelled():
                continue  # nobody waits; it would be skipped anyway
            to_start.append(job)
        self._threads += len(to_start)

    # -- inspection and shutdown ---------------------------------------------

    @property
    def thread_count(self) -> int:
        """Worker threads alive now."""
        return self._threads

    @property
    def running(self) -> int:
        """Calls running now (stuck ones included)."""
        with self._lock:
            return sum(1 for worker in self._workers if worker.running_since)

    @property
    def queued(self) -> int:
        """Jobs waiting for a worker now."""
        return len(self._queue)

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


#: Returned by _next_job_or_park: the worker is on the idle stack.
_PARKED: Any = object()


_callers = threading.local()


def _caller_cpu(read_cpu: Callable[[], int]) -> int:
    """With worker affinity: the CPU of the calling thread (an event loop's),
    which is pinned there at its first call, so that it and its workers stay
    together instead of chasing each other across cores."""
    cpu = getattr(_callers, "cpu", None)
    if cpu is None:
        cpu = read_cpu()
        _pin_this_thread(cpu)  # if not allowed, its workers still go where it is now
        _callers.cpu = cpu
    return cpu


def _run_on_cpu(me: _Worker, cpu: int) -> None:
    """Pin the calling worker thread to ``cpu``, its caller's: the caller
    sleeps while the call runs, so one core serves both and no wake-up has
    to cross cores."""
    me.cpu = cpu  # tried once per CPU, whatever the outcome
    _pin_this_thread(cpu)


def _pin_this_thread(cpu: int) -> None:
    try:
        os.sched_setaffinity(0, {cpu})  # 0: this thread, on Linux
    except OSError:
        pass  # not allowed (a cgroup's cpuset): the thread runs where it is


def _execute(job: tuple) -> tuple | None:
    """Run a job's call; what to deliver, or None if its waiter had given up."""
    loop, waiter, deliver, context, fn, args, kwargs, _cpu, _ = job
    if waiter.cancelled():
        # Cancelled before it started (reading the state from this thread
        # is racy only towards running it anyway): skip the call, as an
        # executor skips a cancelled job that has not started.
        return None
    try:
        return loop, deliver, waiter, context.run(fn, *args, **kwargs), None
    except BaseException as exc:  # noqa: BLE001 - handed to the caller
        return loop, deliver, waiter, None, exc


def _deliver_outcome(outcome: tuple) -> None:
    loop, deliver, waiter, result, error = outcome
    if loop is None:
        try:
            deliver(waiter, result, error)
        except BaseException as exc:  # noqa: BLE001 - a worker must never die of it
            _log_background_error("a background call's outcome could not be delivered", exc)
        return
    try:
        loop.call_soon_threadsafe(deliver, waiter, result, error)
    except RuntimeError:
        # The loop was closed while we worked: nobody is waiting there.
        pass


def _log_background_error(what: str, error: BaseException) -> None:
    import logging

    logging.getLogger("motorlike").error("motorlike: %s", what, exc_info=error)


def run_locked(lock: threading.Lock, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``fn(*args, **kwargs)`` holding ``lock``: taken on the worker thread, never on a loop."""
    with lock:
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------------
# One thread at a time per PyMongo object


class SerializedWorkerCalls:
    """Mixin for declarations whose PyMongo delegate is not thread-safe.

    Invariant: a worker call that touches ``self.delegate`` holds
    ``self._worker_lock`` for as long as it runs. The lock is taken on the
    worker thread, never on an event loop (which must not block), so it
    holds across loops and threads; and a call whose caller gave up keeps
    it until the call is really over. So at most one thread at a time ever
    drives the PyMongo object.
    """

    _worker_lock: threading.Lock

    def _init_worker_lock(self) -> None:
        self._worker_lock = threading.Lock()

    def _run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        loop: Any = None,
        deliver: Callable[[Any, Any, BaseException | None], None] = deliver_to_future,
        future: Any = None,
    ) -> Any:
        """A future on ``loop`` (default: this object's) of ``fn(*args)`` run holding the lock.

        ``deliver(future, result, error)`` runs on the loop when the call is
        over; the default resolves the future unless its waiter gave up.
        ``future``: one made by the caller on ``loop`` (to_list's returnable one).
        """
        if loop is None:
            loop = self.get_io_loop()  # type: ignore[attr-defined]
        return self._framework.submit(  # type: ignore[attr-defined]
            loop, run_locked, (self._worker_lock, fn, args, {}), {}, deliver, future
        )


# ---------------------------------------------------------------------------
# Calls nobody has to wait for

#: Seconds the interpreter waits at exit for background calls (a
#: ``client.close()`` nobody awaited) still running.
EXIT_WAIT = 5.0
_pending: set[concurrent.futures.Future] = set()


class BackgroundCall:
    """A PyMongo call running on the pool that its caller may await, or not.

    ``client.close()`` returns one: Motor code calls ``close()`` without
    ``await`` and goes on at once, while ``await client.close()`` waits for
    the server-side cleanup. Awaitable, any number of times, with the
    framework it was made for; it is not a coroutine, so leaving it
    unawaited warns nothing.
    """

    __slots__ = ("_future", "_framework")

    def __init__(
        self, fn: Callable[..., Any], *args: Any, lock: threading.Lock | None = None, framework: Any = None
    ) -> None:
        #: How to await it (see motorlike.frameworks); None: not awaitable.
        self._framework = framework
        self._future: concurrent.futures.Future = concurrent.futures.Future()
        # Running from the start: nobody can cancel it, so the call always
        # runs, and an awaiter that gives up cancels only its own wait.
        self._future.set_running_or_notify_cancel()
        _pending.add(self._future)
        self._future.add_done_callback(_pending.discard)
        if lock is not None:
            fn, args = run_locked, (lock, fn, args, {})
        try:
            get_pool().submit(None, self._future, fn, args, {}, _resolve_concurrent_future)
        except BaseException:
            _pending.discard(self._future)
            raise

    def done(self) -> bool:
        return self._future.done()

    def result(self, timeout: float | None = None) -> Any:
        """Block until done (not on an event loop!); the call's result or exception."""
        return self._future.result(timeout)

    def __await__(self) -> Any:
        if not self._future.done():
            if self._framework is None:
                raise TypeError("this BackgroundCall was made without a framework to await it with")
            # Giving up this wait leaves the call running.
            yield from self._framework.wait_concurrent(self._future).__await__()
        return self._future.result()

    def __repr__(self) -> str:
        return f"<BackgroundCall {'done' if self._future.done() else 'running'}>"


def _resolve_concurrent_future(future: concurrent.futures.Future, result: Any, error: BaseException | None) -> None:
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


def _wait_for_background_calls() -> None:
    if _pending:
        concurrent.futures.wait(list(_pending), timeout=EXIT_WAIT)


atexit.register(_wait_for_background_calls)


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> WorkerPool:
    """The process's pool, created on first use from the environment."""
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = WorkerPool(
                    max_workers_from_environment(), max_threads_from_environment(), queue_wait_from_environment()
                )
            pool = _pool
    return pool


def _reset_after_fork() -> None:
    # Threads do not survive fork(); a child must start a fresh pool.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()
    _pending.clear()  # their threads are gone


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
