"""The process-wide worker pool that runs blocking PyMongo calls.

Both frameworks share one pool. It is leaner than ``loop.run_in_executor``:
a worker takes ``(loop, future, context, fn, args, kwargs)`` from a plain
queue, runs ``fn`` inside the caller's copied ``contextvars`` context and
posts the outcome back with a single ``call_soon_threadsafe``. There is no
``concurrent.futures.Future`` in between and no second callback chain.

A caller that stops waiting (its task was cancelled, its loop closed) is
simply not told: the PyMongo call always runs to completion on its thread,
so sockets go back to PyMongo's pool in a clean state.
"""

from __future__ import annotations

import contextvars
import os
import queue
import threading
from typing import Any, Callable

#: Default worker count when neither environment variable is set. Like
#: Motor: blocking I/O, not CPU work, so many more threads than cores.
DEFAULT_MAX_WORKERS = (os.cpu_count() or 1) * 5


def max_workers_from_environment() -> int:
    """Read ``MOTORLIKE_MAX_WORKERS``, falling back to ``MOTOR_MAX_WORKERS``."""
    for variable in ("MOTORLIKE_MAX_WORKERS", "MOTOR_MAX_WORKERS"):
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
    return DEFAULT_MAX_WORKERS


def _deliver(future: Any, result: Any, error: BaseException | None) -> None:
    # Runs on the event loop's thread. The waiter may have been cancelled
    # meanwhile: then the outcome is dropped, never InvalidStateError.
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class WorkerPool:
    """A growable set of daemon threads fed from one queue."""

    def __init__(self, max_workers: int) -> None:
        self.max_workers = max_workers
        self._work: queue.SimpleQueue = queue.SimpleQueue()
        # Counts idle workers; a submit that finds none may start a thread.
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shut_down = False

    def submit(self, loop: Any, future: Any, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        """Run ``fn(*args, **kwargs)`` on a worker; resolve ``future`` on ``loop``."""
        if self._shut_down:
            raise RuntimeError("motorlike's worker pool has been shut down")
        self._work.put((loop, future, contextvars.copy_context(), fn, args, kwargs))
        if not self._idle.acquire(blocking=False):
            self._maybe_add_worker()

    def _maybe_add_worker(self) -> None:
        with self._lock:
            if len(self._threads) >= self.max_workers:
                return
            thread = threading.Thread(
                target=_worker_main,
                args=(self._work, self._idle),
                name=f"motorlike-worker-{len(self._threads)}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)

    @property
    def thread_count(self) -> int:
        return len(self._threads)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the workers after the queued work is done."""
        with self._lock:
            self._shut_down = True
            threads = list(self._threads)
        for _ in threads:
            self._work.put(None)
        if wait:
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join()


def _worker_main(work: queue.SimpleQueue, idle: threading.Semaphore) -> None:
    while True:
        item = work.get()
        if item is None:
            return
        loop, future, context, fn, args, kwargs = item
        del item
        if future.cancelled():
            # Cancelled before it started (reading the state from this
            # thread is racy only towards running it anyway): skip the call,
            # as an executor skips a cancelled job that has not started.
            idle.release()
            del loop, future, context, fn, args, kwargs
            continue
        try:
            result, error = context.run(fn, *args, **kwargs), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            result, error = None, exc
        # Count as idle before waking the caller: a caller that submits its
        # next call at once must reuse this thread, not start another.
        idle.release()
        try:
            loop.call_soon_threadsafe(_deliver, future, result, error)
        except RuntimeError:
            # The loop was closed while we worked: nobody is waiting.
            pass
        # Drop references before blocking again, so results are not kept alive.
        del loop, future, context, fn, args, kwargs, result, error


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def get_pool() -> WorkerPool:
    """The process's pool, created on first use."""
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = WorkerPool(max_workers_from_environment())
            pool = _pool
    return pool


def _reset_after_fork() -> None:
    # Threads do not survive fork(); a child must start a fresh pool.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
